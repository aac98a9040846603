"""Flights: one-shot upload, registration of a file on the server, listing, deletion.

Large files over poor connections should use the resumable protocol of
``/api/uploads``; ``POST /api/flights`` takes a whole file in one multipart request.
Pilots and admins add flights; analysts, pilots, researchers and admins read them;
patrols do not see flights; only admins delete them.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Query, Request, Response, status
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from pydantic import ValidationError
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from starlette.datastructures import UploadFile

from detector.card import sha256_of
from detector.errors import RasterError
from serving.auth import ADMIN, ANALYST, PILOT, RESEARCHER
from serving.config import Settings
from serving.deps import SessionDep, SettingsDep, require_roles
from serving.flights import (
    DuplicateFlightError,
    FlightInUseError,
    IncomingFile,
    add_flight,
    delete_flight,
)
from serving.models import Flight, Job, User
from serving.schemas.flights import (
    FlightCreated,
    FlightMetadata,
    FlightPublic,
    FlightRegister,
    FlightsPublic,
)
from serving.schemas.jobs import JobPublic
from serving.storage import (
    TMP,
    FileTooLarge,
    StorageError,
    check_filename,
    copy_hashing,
    is_reserved,
    resolve_inside,
)

router = APIRouter(prefix="/api/flights", tags=["flights"])
Uploader = Annotated[User, Depends(require_roles(ADMIN, PILOT))]
Reader = Annotated[User, Depends(require_roles(ADMIN, ANALYST, PILOT, RESEARCHER))]
Admin = Annotated[User, Depends(require_roles(ADMIN))]

# Room for the multipart boundaries and the metadata fields around the file, bytes.
FORM_OVERHEAD_BYTES = 64 * 1024
_META_FIELDS = tuple(FlightMetadata.model_fields)

_MULTIPART_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["file"],
                    "properties": {
                        "file": {"type": "string", "format": "binary"},
                        "name": {"type": "string"},
                        "captured_on": {"type": "string", "format": "date"},
                        "area_name": {"type": "string"},
                        "pilot": {"type": "string"},
                        "altitude_m": {"type": "number"},
                        "camera": {"type": "string"},
                    },
                }
            }
        },
    }
}
_ADD_RESPONSES: dict[int | str, dict[str, Any]] = {
    409: {"description": "the same file is already a flight (`flight_id` returned)"},
    413: {"description": "larger than the server's upload limit (nothing is stored)"},
    422: {"description": "not a GeoTIFF poppyscan can scan, or bad metadata"},
}


class _TooLarge(Exception):  # noqa: N818 - internal signal, never leaves this module
    pass


@router.post(
    "",
    response_model=FlightCreated,
    status_code=status.HTTP_201_CREATED,
    summary="Upload a flight in one request",
    responses=_ADD_RESPONSES,
    openapi_extra=_MULTIPART_BODY,
)
async def upload_flight(
    request: Request, session: SessionDep, settings: SettingsDep, user: Uploader
) -> Response:
    """Upload a whole GeoTIFF as multipart form data (``file`` plus optional metadata
    fields) and queue its scan. The body is streamed to disk, never held in memory; a
    body over the upload limit is refused with 413 and nothing is kept. For large files
    on unreliable links use the resumable ``/api/uploads`` instead.

    ``curl -H "$AUTH" -F file=@flight.tif -F area_name=North -F captured_on=2024-03-02
    $API/api/flights``
    """
    limit = settings.max_upload_bytes
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit + FORM_OVERHEAD_BYTES:
        raise _too_large(limit)
    limited = Request(request.scope, _limited_receive(request.receive, limit + FORM_OVERHEAD_BYTES))
    try:
        form = await limited.form(max_files=1, max_fields=len(_META_FIELDS) + 4)
    except _TooLarge:
        raise _too_large(limit) from None
    try:
        upload = form.get("file")
        if not isinstance(upload, UploadFile):
            raise HTTPException(
                status.HTTP_422_UNPROCESSABLE_CONTENT, "send the flight as the form field 'file'"
            )
        filename = _plain_name(upload.filename or "")
        fields = {k: form[k] for k in _META_FIELDS if isinstance(form.get(k), str) and form[k]}
        try:
            meta = FlightMetadata.model_validate(fields)
        except ValidationError as exc:
            raise HTTPException(
                status.HTTP_422_UNPROCESSABLE_CONTENT, exc.errors(include_url=False)
            ) from exc
        return await run_in_threadpool(
            _add_uploaded, session, settings, user, upload, filename, meta
        )
    finally:
        await form.close()


@router.post(
    "/register",
    response_model=FlightCreated,
    status_code=status.HTTP_201_CREATED,
    summary="Register a file already on the server",
    responses={
        **_ADD_RESPONSES,
        400: {"description": "path outside the storage root or in a server folder"},
        404: {"description": "no such file"},
    },
)
def register_flight(
    body: FlightRegister, session: SessionDep, settings: SettingsDep, user: Uploader
) -> Response:
    """Make a GeoTIFF that is already under the server's storage root (copied there by
    the operator, e.g. from a field drive) a flight, in place, and queue its scan. Paths
    are relative to the storage root; absolute paths and ``..`` must stay inside it.

    ``curl -H "$AUTH" -H 'Content-Type: application/json' -d '{"path":
    "incoming/flight.tif", "metadata": {"area_name": "North"}}' $API/api/flights/register``
    """
    root = settings.storage_root()
    try:
        path = resolve_inside(root, body.path)
        if is_reserved(root, path):
            raise StorageError(f"{body.path!r} is in a folder the server manages itself")
    except StorageError as exc:
        raise HTTPException(status.HTTP_400_BAD_REQUEST, str(exc)) from exc
    if not path.is_file():
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no file {body.path!r} on the storage")
    size = path.stat().st_size
    if size > settings.max_upload_bytes:
        raise _too_large(settings.max_upload_bytes)
    incoming = IncomingFile(path, path.name, size, sha256_of(path), owned=False)
    return _add(session, settings, user, incoming, body.metadata, "register")


@router.get("", response_model=FlightsPublic, summary="List flights")
def list_flights(
    session: SessionDep,
    _user: Reader,
    area: Annotated[str | None, Query(description="survey area name contains")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> FlightsPublic:
    """Flights, newest first, each with its latest scan job."""
    where = [Flight.area_name.contains(area)] if area else []
    count = session.scalar(select(func.count()).select_from(Flight).where(*where)) or 0
    flights = session.scalars(
        select(Flight).where(*where).order_by(Flight.id.desc()).limit(limit).offset(offset)
    ).all()
    latest = _latest_jobs(session, [f.id for f in flights])
    return FlightsPublic(
        data=[FlightPublic.from_flight(f, latest.get(f.id)) for f in flights], count=count
    )


@router.get("/{flight_id}", response_model=FlightPublic, summary="One flight")
def get_flight(flight_id: int, session: SessionDep, _user: Reader) -> FlightPublic:
    """A flight with its footprint, raster facts and latest scan job."""
    flight = _flight(session, flight_id)
    return FlightPublic.from_flight(flight, _latest_jobs(session, [flight.id]).get(flight.id))


@router.delete(
    "/{flight_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Delete a flight",
    responses={409: {"description": "plots in review or dispatch, or a scan running"}},
)
def remove_flight(
    flight_id: int, session: SessionDep, settings: SettingsDep, admin: Admin
) -> Response:
    """Delete a flight, its jobs and its untouched (``new``) plots. Refused while any of
    its plots is in review, dispatch or later, or while a scan runs. A file registered in
    place stays on the storage; an uploaded one is removed. Admins only."""
    flight = _flight(session, flight_id)
    try:
        delete_flight(session, settings.storage_root(), flight, admin)
    except FlightInUseError as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from exc
    return Response(status_code=status.HTTP_204_NO_CONTENT)


def _add_uploaded(
    session: Session,
    settings: Settings,
    user: User,
    upload: UploadFile,
    filename: str,
    meta: FlightMetadata,
) -> Response:
    """Copy a spooled form file into the storage (hashing it) and add it as a flight."""
    stage_dir = settings.storage_root() / TMP
    stage_dir.mkdir(parents=True, exist_ok=True)
    stage = stage_dir / f"{uuid.uuid4().hex}.upload"
    try:
        size, digest = copy_hashing(upload.file, stage, settings.max_upload_bytes)
    except FileTooLarge:
        raise _too_large(settings.max_upload_bytes) from None
    incoming = IncomingFile(stage, filename, size, digest, owned=True)
    return _add(session, settings, user, incoming, meta, "multipart")


def _add(
    session: Session,
    settings: Settings,
    user: User,
    incoming: IncomingFile,
    meta: FlightMetadata,
    via: str,
) -> Response:
    """:func:`serving.flights.add_flight`, its outcomes as HTTP responses."""
    try:
        flight, job = add_flight(session, settings.storage_root(), user, incoming, meta, via)
    except DuplicateFlightError as exc:
        return JSONResponse(
            {"detail": str(exc), "flight_id": exc.flight_id}, status.HTTP_409_CONFLICT
        )
    except RasterError as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(exc)) from exc
    created = FlightCreated(
        flight=FlightPublic.from_flight(flight, job), job=JobPublic.from_job(job)
    )
    return JSONResponse(created.model_dump(mode="json"), status.HTTP_201_CREATED)


def _flight(session: Session, flight_id: int) -> Flight:
    flight = session.get(Flight, flight_id)
    if flight is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no flight {flight_id}")
    return flight


def _latest_jobs(session: Session, flight_ids: list[int]) -> dict[int, Job]:
    """The newest job of each flight, by flight id."""
    latest: dict[int, Job] = {}
    if flight_ids:
        rows = session.scalars(
            select(Job).where(Job.flight_id.in_(flight_ids)).order_by(Job.id.desc())
        )
        for job in rows:
            latest.setdefault(job.flight_id, job)
    return latest


def _plain_name(name: str) -> str:
    try:
        return check_filename(name)
    except StorageError as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(exc)) from exc


def _too_large(limit: int) -> HTTPException:
    return HTTPException(
        status.HTTP_413_CONTENT_TOO_LARGE, f"the flight is over the upload limit of {limit} bytes"
    )


Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]


def _limited_receive(receive: Receive, limit: int) -> Receive:
    """Wrap an ASGI ``receive`` to stop a request body at ``limit`` bytes, mid-stream."""
    seen = 0

    async def wrapped() -> MutableMapping[str, Any]:
        nonlocal seen
        message = await receive()
        if message["type"] == "http.request":
            seen += len(message.get("body", b""))
            if seen > limit:
                raise _TooLarge
        return message

    return wrapped
