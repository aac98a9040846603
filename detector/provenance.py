"""What produced a scan output: software, model, raster, thresholds, time."""

from __future__ import annotations

import hashlib
import os
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path

# Bytes hashed from the start and the end of a raster, and from each of the sampled chunks.
_EDGE_BYTES = 4 * 1024 * 1024
_SAMPLE_BYTES = 64 * 1024
_SAMPLES = 32


def software_version() -> str:
    """Installed poppyscan version (``0+unknown`` when run from a source tree)."""
    try:
        return metadata.version("poppyscan")
    except metadata.PackageNotFoundError:
        return "0+unknown"


def raster_fingerprint(path: str | os.PathLike[str]) -> str:
    """A fast fingerprint of a (possibly huge) raster file: ``"sha256s:<hex>"``.

    Hashes the size, the first and last 4 MiB and 32 evenly spaced 64 KiB chunks, so a
    20 GB orthomosaic is fingerprinted in milliseconds. It identifies a file reliably in
    practice (any re-export or edit changes header or tiles) but is not a full-content hash;
    the ``s`` in the prefix says so.
    """
    file = Path(path)
    size = file.stat().st_size
    digest = hashlib.sha256(str(size).encode())
    with file.open("rb") as handle:
        if size <= 2 * _EDGE_BYTES + _SAMPLES * _SAMPLE_BYTES:
            digest.update(handle.read())
        else:
            offsets = [0, size - _EDGE_BYTES]
            step = (size - 2 * _EDGE_BYTES) // (_SAMPLES + 1)
            samples = [_EDGE_BYTES + step * (i + 1) for i in range(_SAMPLES)]
            for offset in offsets[:1] + samples + offsets[1:]:
                handle.seek(offset)
                length = _EDGE_BYTES if offset in offsets else _SAMPLE_BYTES
                digest.update(handle.read(length))
    return "sha256s:" + digest.hexdigest()


def utc_now() -> str:
    """Current UTC time, ISO 8601 with seconds."""
    return datetime.now(UTC).isoformat(timespec="seconds")
