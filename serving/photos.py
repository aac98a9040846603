"""Field photos: streamed to storage, checked to be a real image, named by their content.

A photo lands at ``<storage>/photos/<plot_id>/<sha256>.<ext>``. The name comes from the
bytes, never from the client's file name, so no upload can choose where it is written; the
extension comes from the decoded image format, never from the claimed content type. The
bytes go to a temporary file first; anything too large or not decodable is deleted and
nothing is left behind.
"""

from __future__ import annotations

import base64
import os
import uuid
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Final

from PIL import Image

from detector.errors import PoppyscanError
from serving.storage import FileTooLarge, StorageError, copy_hashing, resolve_inside

# Largest photo accepted, pixels: 100 Mpx is beyond any phone or handheld camera, and keeps
# a small file that decodes into gigabytes (a decompression bomb) out.
MAX_PIXELS: Final = 100_000_000
# Decoded format -> (file extension, content type).
FORMATS: Final = {
    "JPEG": ("jpg", "image/jpeg"),
    "PNG": ("png", "image/png"),
    "WEBP": ("webp", "image/webp"),
}


class PhotoError(PoppyscanError):
    """An upload that is not an acceptable photo (HTTP 422)."""

    http_status = 422


class PhotoTooLargeError(PhotoError):
    """An upload over the size limit (HTTP 413)."""

    http_status = 413


@dataclass(frozen=True)
class StoredPhoto:
    """A photo on storage.

    Attributes:
        storage_path: Path relative to the storage root.
        sha256: Hex digest of the bytes.
        content_type: MIME type of the decoded format.
        size_bytes: File size, bytes.
        created: False when the same bytes were already stored for this plot.
    """

    storage_path: str
    sha256: str
    content_type: str
    size_bytes: int
    created: bool


def image_format(path: Path) -> tuple[str, str]:
    """(extension, content type) of the image in ``path``, decoding all of it.

    Raises:
        PhotoError: not an image, a format other than JPEG/PNG/WebP, truncated or corrupt,
            or over :data:`MAX_PIXELS`.
    """
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as image:
                kind = FORMATS.get(image.format or "")
                if kind is None:
                    raise PhotoError(
                        f"photos must be JPEG, PNG or WebP, not {image.format or 'unknown'}"
                    )
                width, height = image.size
                if width * height > MAX_PIXELS:
                    raise PhotoError(f"photo of {width}x{height} px is over {MAX_PIXELS} pixels")
                if image.format == "JPEG":
                    # Decode at 1/8 scale: every byte of the stream is still read (a
                    # truncated or corrupt file fails), at a fraction of the cost.
                    image.draft("RGB", (max(1, width // 8), max(1, height // 8)))
                image.load()
    except PhotoError:
        raise
    except (
        OSError,
        SyntaxError,
        ValueError,
        # Once Ultralytics is imported (the embedded worker scans in this process) it wraps
        # PIL's Image.open to load a HEIF plugin for files Pillow cannot identify; that
        # plugin is not installed (nor installed at run time), so the wrapper raises
        # ImportError for what is simply not an image we take.
        ImportError,
        Image.DecompressionBombError,
        Image.DecompressionBombWarning,
    ) as exc:
        raise PhotoError(f"the upload is not a readable image ({exc})") from exc
    return kind


def save_photo(source: BinaryIO, storage_root: Path, plot_id: int, max_bytes: int) -> StoredPhoto:
    """Stream ``source`` to ``<storage_root>/photos/<plot_id>/<sha256>.<ext>``.

    Args:
        source: The uploaded bytes, read in chunks.
        storage_root: The server's storage root.
        plot_id: The plot the photo is of.
        max_bytes: Largest photo accepted, bytes.

    Raises:
        PhotoTooLargeError: over ``max_bytes``.
        PhotoError: empty or not an acceptable image.
    """
    folder = storage_root / "photos" / str(plot_id)
    folder.mkdir(parents=True, exist_ok=True)
    tmp = folder / f".upload-{uuid.uuid4().hex}.part"
    try:
        try:
            size, sha256 = copy_hashing(source, tmp, max_bytes)
        except FileTooLarge as exc:
            raise PhotoTooLargeError(f"photo is {exc}") from exc
        if size == 0:
            raise PhotoError("the photo is empty")
        extension, content_type = image_format(tmp)
        relative = f"photos/{plot_id}/{sha256}.{extension}"
        target = storage_root / relative
        created = not target.exists()
        if created:
            os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)
    return StoredPhoto(relative, sha256, content_type, size, created)


def stored_file(storage_root: Path, relative: str) -> Path | None:
    """The file at ``relative`` under ``storage_root``, or None if missing or outside it."""
    if not relative:
        return None
    try:
        path = resolve_inside(storage_root, relative)
    except StorageError:
        return None
    return path if path.is_file() else None


_IMAGE_TYPES: Final = {".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".png": "image/png"}


def image_data_uri(storage_root: Path, relative: str, max_bytes: int) -> str | None:
    """A stored JPEG/PNG (a chip) as a ``data:`` URI, for self-contained printable pages.

    Returns None when there is no such file inside ``storage_root``, it is not a JPEG/PNG
    by name, or it is over ``max_bytes``.
    """
    path = stored_file(storage_root, relative)
    media = _IMAGE_TYPES.get(path.suffix.lower()) if path else None
    if path is None or media is None or path.stat().st_size > max_bytes:
        return None
    return f"data:{media};base64,{base64.b64encode(path.read_bytes()).decode('ascii')}"
