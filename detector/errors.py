"""Exceptions raised by the scanning library.

The libraries raise these; the CLI and the API translate them into one clear message and an
exit code or HTTP status. Every message is written for the person who ran the scan.
"""

from __future__ import annotations


class PoppyscanError(Exception):
    """Base class of every error poppyscan reports to a user."""


class RasterError(PoppyscanError):
    """The input raster cannot be scanned: unreadable, corrupt, not georeferenced, no data."""


class ModelError(PoppyscanError):
    """The model file or its card is missing, unreadable or inconsistent."""


class OutputError(PoppyscanError):
    """An output cannot be written (unknown format, unwritable directory)."""


class ScanCancelled(PoppyscanError):  # noqa: N818 - a cancellation is not an error
    """The scan was cancelled by its caller before it finished."""
