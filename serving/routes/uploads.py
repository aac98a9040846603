"""Resumable, chunked flight uploads: a dropped connection continues where it stopped.

The protocol is documented on the routes (and so in the OpenAPI docs): start with
``POST /api/uploads``, send chunks with ``PUT /api/uploads/{id}``, ask for the offset
with ``HEAD /api/uploads/{id}`` after a reconnect. Only the bytes of one chunk network
buffer are in memory at a time; they go straight to ``<storage>/uploads/<id>.part``.
"""

from __future__ import annotations

import os
import re
import shutil
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, HTTPException, Request, Response, status
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from sqlalchemy.orm import Session
from starlette.requests import ClientDisconnect

from detector.card import sha256_of
from detector.errors import RasterError
from serving.auth import ADMIN, PILOT
from serving.config import Settings
from serving.deps import SessionDep, SettingsDep, require_roles
from serving.flights import DuplicateFlightError, IncomingFile, add_flight
from serving.models import Upload, User, utcnow
from serving.schemas.flights import FlightMetadata, UploadCreate, UploadPublic
from serving.storage import is_upload_id, new_upload_id, upload_part_path

router = APIRouter(prefix="/api/uploads", tags=["uploads"])
Uploader = Annotated[User, Depends(require_roles(ADMIN, PILOT))]

_BINARY = {"type": "string", "format": "binary"}
_RANGE = re.compile(r"^bytes (\d+)-(\d+)/(\d+|\*)$")
# Uploads with a chunk being received by this process (one chunk at a time per upload).
_receiving: set[str] = set()

CONFLICT_DOC: dict[int | str, dict[str, Any]] = {
    409: {
        "description": "chunk does not start at the current `offset` (returned), or the "
        "file duplicates an existing flight (`flight_id` returned)"
    },
    413: {"description": "larger than the upload limit or the announced size"},
    422: {"description": "not a GeoTIFF poppyscan can scan (the upload is removed)"},
}


@router.post(
    "",
    response_model=UploadPublic,
    status_code=status.HTTP_201_CREATED,
    summary="Start a resumable upload",
    responses={413: {"description": "size_bytes over the server's upload limit"}},
)
def start_upload(
    body: UploadCreate, session: SessionDep, settings: SettingsDep, user: Uploader
) -> UploadPublic:
    """Start a resumable upload: announce the file name, its exact ``size_bytes`` and the
    flight's metadata; get the upload ``id`` and ``offset`` 0. Then send the file in chunks
    with ``PUT /api/uploads/{id}``. A size over the server's limit gets **413** at once.
    Pilots and admins only.

    ``curl -X POST $API/api/uploads -H "$AUTH" -H 'Content-Type: application/json'
    -d '{"filename": "flight.tif", "size_bytes": 300000000, "metadata": {"area_name":
    "North", "captured_on": "2024-03-02", "pilot": "Pia", "altitude_m": 80}}'``
    """
    if body.size_bytes > settings.max_upload_bytes:
        raise HTTPException(
            status.HTTP_413_CONTENT_TOO_LARGE,
            f"{body.size_bytes} bytes is over the upload limit of "
            f"{settings.max_upload_bytes} bytes",
        )
    root = settings.storage_root()
    part = upload_part_path(root, new_upload_id())
    part.parent.mkdir(parents=True, exist_ok=True)
    if shutil.disk_usage(part.parent).free < body.size_bytes:
        raise HTTPException(
            status.HTTP_507_INSUFFICIENT_STORAGE, "not enough free space on the server"
        )
    part.touch()
    upload = Upload(
        id=part.stem,
        filename=body.filename,
        size_bytes=body.size_bytes,
        received_bytes=0,
        meta=body.metadata.model_dump(mode="json"),
        created_by=user.id,
    )
    session.add(upload)
    session.commit()
    return UploadPublic.from_upload(upload)


@router.get("/{upload_id}", response_model=UploadPublic, summary="Upload progress")
def get_upload(upload_id: str, session: SessionDep, user: Uploader) -> UploadPublic:
    """The upload's ``offset``: bytes the server holds, where the next chunk starts."""
    return UploadPublic.from_upload(_upload(session, upload_id, user))


@router.head("/{upload_id}", summary="Upload offset (headers only)")
def head_upload(upload_id: str, session: SessionDep, user: Uploader) -> Response:
    """The current offset in ``Upload-Offset`` and the file size in ``Upload-Length``
    (what a client asks after a reconnect, before sending the next chunk)."""
    return Response(headers=_offset_headers(_upload(session, upload_id, user)))


@router.put(
    "/{upload_id}",
    response_model=UploadPublic,
    summary="Send the next chunk",
    responses=CONFLICT_DOC,
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/octet-stream": {"schema": {"type": "string", "format": "binary"}}
            },
        }
    },
)
async def put_chunk(
    upload_id: str,
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    user: Uploader,
    content_range: Annotated[
        str | None, Header(description="`bytes START-END/TOTAL`, END inclusive")
    ] = None,
    upload_offset: Annotated[
        int | None, Header(ge=0, description="START, when Content-Range is not sent")
    ] = None,
) -> Response:
    """Append the next chunk of a resumable upload; the last one makes the flight.

    The request body is the raw chunk. Say where it goes with
    ``Content-Range: bytes START-END/TOTAL`` (END inclusive, TOTAL the whole file's
    ``size_bytes``) or with ``Upload-Offset: START``. START must equal the server's
    ``offset``; any other start is refused with **409** and the current ``offset`` (also in
    the ``Upload-Offset`` header), so a client that lost track resumes from there. If the
    connection drops mid-chunk, the bytes that arrived are kept: ``HEAD`` the upload and
    continue from its ``Upload-Offset``.

    The chunk that brings the offset to ``size_bytes`` completes the upload (**201**): the
    server hashes the file, refuses a duplicate of an existing flight (**409** with its
    ``flight_id``) or a file that is not a GeoTIFF poppyscan can scan (**422** with the
    reason; the bytes are removed), and otherwise answers with the new ``flight`` and its
    queued scan ``job``. A chunk over the chunk limit or past ``size_bytes`` gets **413**.

    Example, a 300 MB file in two chunks::

        curl -X PUT $API/api/uploads/$ID -H "$AUTH" --data-binary @part1 \\
             -H 'Content-Range: bytes 0-199999999/300000000'
        curl -X PUT $API/api/uploads/$ID -H "$AUTH" --data-binary @part2 \\
             -H 'Content-Range: bytes 200000000-299999999/300000000'
    """
    upload = _upload(session, upload_id, user)
    if upload.flight_id is not None:
        raise HTTPException(status.HTTP_409_CONFLICT, f"upload {upload_id} is already complete")
    start, length = _chunk_bounds(request, upload, content_range, upload_offset)
    if length is not None and length > settings.max_chunk_bytes:
        raise HTTPException(
            status.HTTP_413_CONTENT_TOO_LARGE,
            f"a chunk may hold at most {settings.max_chunk_bytes} bytes",
        )
    if start != upload.received_bytes:
        return _offset_conflict(upload, start)
    if upload.id in _receiving:
        return _offset_conflict(upload, start, "another chunk of this upload is arriving")
    _receiving.add(upload.id)
    try:
        # End the read transaction: its pooled connection must not sit idle while a chunk
        # arrives over a field link (minutes); the commit below takes one again.
        session.commit()
        received = await _receive(request, upload, settings, start)
        upload.received_bytes = start + received
        upload.updated_at = utcnow()
        session.commit()
        if upload.received_bytes < upload.size_bytes:
            return JSONResponse(
                UploadPublic.from_upload(upload).model_dump(mode="json"),
                headers=_offset_headers(upload),
            )
        return await run_in_threadpool(_complete, session, settings, user, upload)
    finally:
        _receiving.discard(upload.id)


@router.delete("/{upload_id}", status_code=status.HTTP_204_NO_CONTENT, summary="Abandon an upload")
def abandon_upload(
    upload_id: str, session: SessionDep, settings: SettingsDep, user: Uploader
) -> Response:
    """Drop an unfinished upload and the bytes received so far."""
    upload = _upload(session, upload_id, user)
    if upload.flight_id is not None:
        raise HTTPException(
            status.HTTP_409_CONFLICT, f"upload {upload_id} became flight {upload.flight_id}"
        )
    upload_part_path(settings.storage_root(), upload.id).unlink(missing_ok=True)
    session.delete(upload)
    session.commit()
    return Response(status_code=status.HTTP_204_NO_CONTENT)


def _upload(session: Session, upload_id: str, user: User) -> Upload:
    """The upload, if it exists and is the user's (admins see every upload)."""
    upload = session.get(Upload, upload_id) if is_upload_id(upload_id) else None
    if upload is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no upload {upload_id}")
    if user.role != ADMIN and upload.created_by != user.id:
        raise HTTPException(status.HTTP_403_FORBIDDEN, "this upload was started by someone else")
    return upload


def _chunk_bounds(
    request: Request, upload: Upload, content_range: str | None, upload_offset: int | None
) -> tuple[int, int | None]:
    """``(start byte, announced chunk length or None)`` from the request headers."""
    length: int | None = None
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit():
        length = int(declared)
    if content_range is not None:
        match = _RANGE.match(content_range.strip())
        if match is None:
            raise HTTPException(
                status.HTTP_422_UNPROCESSABLE_CONTENT,
                f"Content-Range must read 'bytes START-END/TOTAL', not {content_range!r}",
            )
        start, end, total = int(match[1]), int(match[2]), match[3]
        if total != "*" and int(total) != upload.size_bytes:
            raise HTTPException(
                status.HTTP_422_UNPROCESSABLE_CONTENT,
                f"Content-Range total {total} differs from the announced size {upload.size_bytes}",
            )
        if end < start:
            raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, "empty Content-Range")
        if length is not None and length != end - start + 1:
            raise HTTPException(
                status.HTTP_422_UNPROCESSABLE_CONTENT,
                f"Content-Range covers {end - start + 1} bytes but the body has {length}",
            )
        length = end - start + 1
    elif upload_offset is not None:
        start = upload_offset
    else:
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT,
            "say where the chunk goes with Content-Range or Upload-Offset",
        )
    if length is not None and start + length > upload.size_bytes:
        raise HTTPException(
            status.HTTP_413_CONTENT_TOO_LARGE,
            f"the chunk ends past the announced size of {upload.size_bytes} bytes",
        )
    return start, length


async def _receive(request: Request, upload: Upload, settings: Settings, start: int) -> int:
    """Stream the body to the ``.part`` file at ``start``; return the bytes kept.

    Memory holds one network chunk at a time. Bytes that arrived before the client went
    away are kept (flushed to disk), so it resumes after them. A body running past the
    announced size or the chunk limit is discarded whole (413).
    """
    part = upload_part_path(settings.storage_root(), upload.id)
    if not part.exists():
        raise HTTPException(status.HTTP_410_GONE, f"the bytes of upload {upload.id} are gone")
    room = min(upload.size_bytes - start, settings.max_chunk_bytes)
    written = 0
    with part.open("r+b") as out:
        out.seek(start)
        out.truncate()  # drop what a chunk cut off mid-way left beyond the offset
        try:
            async for piece in request.stream():
                written += len(piece)
                if written > room:
                    out.truncate(start)
                    raise HTTPException(
                        status.HTTP_413_CONTENT_TOO_LARGE,
                        "the chunk runs past the announced size or the chunk limit "
                        f"({settings.max_chunk_bytes} bytes)",
                    )
                out.write(piece)
        except ClientDisconnect:
            pass  # keep what arrived; the client asks for the offset and resumes
        out.flush()
        os.fsync(out.fileno())
    return written


def _complete(session: Session, settings: Settings, user: User, upload: Upload) -> Response:
    """Turn a fully received upload into a flight (runs on a worker thread: it hashes)."""
    root = settings.storage_root()
    part = upload_part_path(root, upload.id)
    incoming = IncomingFile(
        path=part,
        filename=upload.filename,
        size_bytes=upload.size_bytes,
        sha256=sha256_of(part),
        owned=True,
    )
    meta = FlightMetadata.model_validate(upload.meta)
    try:
        flight, job = add_flight(session, root, user, incoming, meta, "resumable", upload)
    except DuplicateFlightError as exc:
        _forget(session, upload)
        return JSONResponse(
            {"detail": str(exc), "flight_id": exc.flight_id}, status.HTTP_409_CONFLICT
        )
    except RasterError as exc:
        _forget(session, upload)
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(exc)) from exc
    body = UploadPublic.from_upload(upload, flight, job).model_dump(mode="json")
    return JSONResponse(body, status.HTTP_201_CREATED, headers=_offset_headers(upload))


def _forget(session: Session, upload: Upload) -> None:
    """Delete a refused upload's row (its file is already gone)."""
    session.delete(upload)
    session.commit()


def _offset_headers(upload: Upload) -> dict[str, str]:
    return {
        "Upload-Offset": str(upload.received_bytes),
        "Upload-Length": str(upload.size_bytes),
        "Cache-Control": "no-store",
    }


def _offset_conflict(upload: Upload, start: int, why: str = "") -> JSONResponse:
    reason = why or (
        f"the chunk starts at byte {start} but the server holds {upload.received_bytes}"
    )
    return JSONResponse(
        {
            "detail": f"{reason}; resume from byte {upload.received_bytes}",
            "offset": upload.received_bytes,
        },
        status.HTTP_409_CONFLICT,
        headers=_offset_headers(upload),
    )
