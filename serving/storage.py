"""The server's file storage: safe names and paths under one root, atomic moves, hashing.

Layout under :meth:`serving.config.Settings.storage_root`::

    uploads/<upload id>.part        resumable uploads in progress
    flights/<flight id>/<filename>  uploaded flights (the server owns them)
    chips/flight-<id>/job-<id>/     evidence chips of a job's plots
    tmp/                            scratch space of running jobs and one-shot uploads

Anything else under the root was put there by an operator and can be registered as a
flight in place. No path that a client sends ever leaves the root: names are checked to be
plain file names and paths are resolved (symlinks included) before use.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import uuid
from pathlib import Path, PurePosixPath
from typing import BinaryIO

UPLOADS = "uploads"
FLIGHTS = "flights"
CHIPS = "chips"
TMP = "tmp"
# Directories of the root the server manages itself; never registered as flights.
RESERVED = (UPLOADS, TMP, CHIPS)

# Bytes read per step when hashing or copying.
COPY_CHUNK_BYTES = 4 * 1024 * 1024
_NAME_OK = re.compile(r"^[^\x00-\x1f/\\:*?\"<>|]{1,255}$")
_UPLOAD_ID = re.compile(r"^[0-9a-f]{32}$")


class StorageError(ValueError):
    """A client-supplied name or path is unsafe or outside the storage root."""


def check_filename(name: str) -> str:
    """Return ``name`` if it is a plain file name, safe to use inside a storage folder.

    Raises:
        StorageError: for empty names, ``.``/``..``, names with a path separator, a drive
            colon, wildcard or control characters, or longer than 255 characters.
    """
    stripped = name.strip()
    if not _NAME_OK.fullmatch(stripped) or stripped in (".", "..") or stripped.startswith("."):
        raise StorageError(
            f"{name!r} is not a plain file name (no folders, '..', leading dot or special "
            "characters)"
        )
    return stripped


def new_upload_id() -> str:
    """A fresh, unguessable upload id (32 hex digits)."""
    return uuid.uuid4().hex


def is_upload_id(value: str) -> bool:
    """Whether ``value`` looks like an id made by :func:`new_upload_id`."""
    return bool(_UPLOAD_ID.fullmatch(value))


def upload_part_path(root: Path, upload_id: str) -> Path:
    """Where the bytes of upload ``upload_id`` accumulate.

    Raises:
        StorageError: ``upload_id`` is not an id made by :func:`new_upload_id`.
    """
    if not is_upload_id(upload_id):
        raise StorageError(f"{upload_id!r} is not an upload id")
    return root / UPLOADS / f"{upload_id}.part"


def flight_path(root: Path, flight_id: int, filename: str) -> Path:
    """Where an uploaded flight's file lives: ``flights/<id>/<filename>``."""
    return root / FLIGHTS / str(int(flight_id)) / check_filename(filename)


def chips_rel_dir(flight_id: int, job_id: int) -> str:
    """Folder of a job's evidence chips, relative to the storage root (POSIX separators)."""
    return f"{CHIPS}/flight-{int(flight_id)}/job-{int(job_id)}"


def scratch_dir(root: Path, name: str) -> Path:
    """A scratch folder ``tmp/<name>`` for work in progress (created, emptied first)."""
    path = root / TMP / check_filename(name)
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(parents=True)
    return path


def resolve_inside(root: Path, path: str) -> Path:
    """Resolve a client-supplied path (relative to ``root``, or absolute) inside ``root``.

    Raises:
        StorageError: the path is empty, or it (or a symlink on the way) leads outside
            ``root``.
    """
    if not path or "\x00" in path:
        raise StorageError("empty path")
    root = root.resolve()
    candidate = Path(path)
    resolved = (candidate if candidate.is_absolute() else root / candidate).resolve()
    if not resolved.is_relative_to(root) or resolved == root:
        raise StorageError(f"{path!r} is outside the server's storage ({root})")
    return resolved


def relative_to_root(root: Path, path: Path) -> str:
    """``path`` relative to ``root`` with POSIX separators (what the database stores)."""
    return PurePosixPath(path.resolve().relative_to(root.resolve())).as_posix()


def is_reserved(root: Path, path: Path) -> bool:
    """Whether ``path`` lies in a folder the server manages (uploads, scratch, chips)."""
    first = Path(relative_to_root(root, path)).parts[0]
    return first in RESERVED


def copy_hashing(source: BinaryIO, target: Path, max_bytes: int) -> tuple[int, str]:
    """Copy a stream to ``target`` in constant memory, hashing it on the way.

    Returns:
        ``(bytes copied, hex sha256)``.

    Raises:
        FileTooLarge: the stream holds more than ``max_bytes``; ``target`` is removed.
    """
    digest = hashlib.sha256()
    size = 0
    try:
        with target.open("wb") as out:
            while chunk := source.read(COPY_CHUNK_BYTES):
                size += len(chunk)
                if size > max_bytes:
                    raise FileTooLarge(max_bytes)
                digest.update(chunk)
                out.write(chunk)
    except BaseException:
        target.unlink(missing_ok=True)
        raise
    return size, digest.hexdigest()


class FileTooLarge(Exception):  # noqa: N818 - reads as the condition it reports
    """More bytes arrived than allowed.

    Attributes:
        limit_bytes: The limit that was exceeded, bytes.
    """

    def __init__(self, limit_bytes: int) -> None:
        super().__init__(f"larger than the limit of {limit_bytes} bytes")
        self.limit_bytes = limit_bytes


def atomic_move(source: Path, target: Path) -> None:
    """Move a file so that ``target`` never exists half-written.

    A rename when both are on one file system; otherwise a copy to a hidden temporary name
    beside ``target``, renamed into place, then the source removed.
    """
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.replace(source, target)
        return
    except OSError:
        pass  # another file system: copy, then rename
    staging = target.with_name(f".{target.name}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        shutil.copyfile(source, staging)
        os.replace(staging, target)
    finally:
        staging.unlink(missing_ok=True)
    source.unlink()


def remove_tree(path: Path) -> None:
    """Delete a folder and everything in it; a missing folder is fine."""
    shutil.rmtree(path, ignore_errors=True)
