"""Exceptions raised while turning labelled imagery into training data.

Kept apart from :mod:`training.dataset` so that the modules it builds on (the spatial split in
:mod:`training.split`) can raise the same error without importing the tile cutter.
"""

from __future__ import annotations

from detector.errors import PoppyscanError


class DatasetError(PoppyscanError):
    """Labels or rasters cannot be turned into a training set."""
