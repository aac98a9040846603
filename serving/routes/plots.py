"""Suspects: the map list, one plot with its evidence, lifecycle moves, field photos.

Admins, analysts and researchers see every plot; a patrol sees the plots dispatched to its
unit and nothing else (404 for the rest); pilots see none (403). Moves follow
:mod:`serving.lifecycle`: 409 for a move the plot's status does not allow, 403 for the
wrong role or unit, 422 for missing evidence — and a refused move changes nothing.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import (
    APIRouter,
    Depends,
    File,
    HTTPException,
    Query,
    Request,
    Response,
    UploadFile,
    status,
)
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import FileResponse, JSONResponse
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from serving import lifecycle
from serving.audit import record
from serving.auth import ADMIN, ANALYST, PATROL
from serving.campaigns.survey import growth_stage
from serving.deps import (
    PlotCountsDep,
    SessionDep,
    SettingsDep,
    SuspectPagesDep,
    authenticate_at_revision,
    check_role,
    oauth2_scheme,
    require_roles,
)
from serving.exports import plot_feature
from serving.models import AuditEvent, Photo, Plot, User
from serving.photos import PhotoError, save_photo, stored_file
from serving.plot_queries import READER_ROLES, get_visible_plot
from serving.schemas.plots import (
    AllowedMove,
    AuditEventPublic,
    AuditEventsPublic,
    DetectionPublic,
    PhotoPublic,
    SuspectPage,
    SuspectPublic,
    SuspectsPublic,
    TransitionCreate,
)
from serving.suspect_list import page_json

router = APIRouter(prefix="/api/suspects", tags=["suspects"])
Reader = Annotated[User, Depends(require_roles(*READER_ROLES))]
# Largest suspect-list page built on the event loop on SQLite, plots (about 13 ms of CPU;
# 5,000 take 130 ms, too long to hold every other request of the process).
INLINE_PAGE_LIMIT = 500
Reporter = Annotated[User, Depends(require_roles(ADMIN, ANALYST, PATROL))]
NOT_FOUND: dict[int | str, dict[str, Any]] = {
    status.HTTP_404_NOT_FOUND: {"description": "no such plot (or not your unit's)"}
}
# Chips and photos are stored under content-derived names and never rewritten, so a browser
# may keep them for a day; "private" because they are only for the logged-in user.
IMMUTABLE_FILE = {"Cache-Control": "private, max-age=86400"}


class GeoJSONResponse(JSONResponse):
    """JSON with the GeoJSON media type (RFC 7946)."""

    media_type = "application/geo+json"

    @classmethod
    def raw(cls, content: bytes) -> Response:
        """A response of GeoJSON already encoded."""
        return Response(content, media_type=cls.media_type)


def _history(session: Session, plot_id: int) -> list[AuditEventPublic]:
    events = session.scalars(
        select(AuditEvent).where(AuditEvent.plot_id == plot_id).order_by(AuditEvent.id)
    )
    return [AuditEventPublic.model_validate(e) for e in events]


def _photo_public(photo: Photo) -> PhotoPublic:
    url = f"/api/suspects/{photo.plot_id}/photos/{photo.id}"
    return PhotoPublic.model_validate(
        {
            "id": photo.id,
            "plot_id": photo.plot_id,
            "content_type": photo.content_type,
            "sha256": photo.sha256,
            "uploaded_by": photo.uploaded_by,
            "created_at": photo.created_at,
            "url": url,
        }
    )


def _allowed_moves(plot: Plot, user: User) -> list[AllowedMove]:
    """The moves ``user`` may make on ``plot`` now, with the evidence each needs."""
    rules = lifecycle.allowed_moves(plot.status, plot.assigned_unit, user.role, user.unit)
    return [
        AllowedMove.model_validate({"to_status": r.target, "requires": sorted(r.requires)})
        for r in rules
    ]


def _suspect_public(session: Session, plot: Plot, user: User) -> SuspectPublic:
    feature = plot_feature(plot)
    photos = session.scalars(select(Photo).where(Photo.plot_id == plot.id).order_by(Photo.id))
    return SuspectPublic(
        id=feature.id,
        geometry=feature.geometry,
        properties=feature.properties,
        allowed_moves=_allowed_moves(plot, user),
        detections=[DetectionPublic.model_validate(d) for d in plot.detections],
        photos=[_photo_public(p) for p in photos],
        history=_history(session, plot.id),
    )


@router.get(
    "",
    response_model=SuspectsPublic,
    response_class=GeoJSONResponse,
    summary="Suspects as a GeoJSON FeatureCollection",
)
async def list_suspects(
    request: Request,
    query: Annotated[SuspectPage, Query()],
    token: Annotated[str | None, Depends(oauth2_scheme)],
    settings: SettingsDep,
    counts: PlotCountsDep,
    pages: SuspectPagesDep,
) -> Response:
    """Plots matching every given filter, most confident first, as RFC 7946 features.

    ``bbox`` is ``minlon,minlat,maxlon,maxlat`` in WGS84 degrees and selects plots whose
    bounding box intersects it; ``since`` and ``until`` are UTC dates the plot was found on;
    ``campaign_id`` and ``season_id`` select plots of flights assigned to them. Each feature
    carries ``allowed_moves``: the statuses you may move it to now, with the evidence each
    move needs. Admins, analysts and researchers see every plot, a patrol its unit's.
    """
    factory: sessionmaker[Session] = request.app.state.read_sessions

    def answer() -> bytes:
        # The map asks for this on every pan: the token check, the revision and the page
        # share one session and one thread, not a session and a thread hop per dependency,
        # and the user and the revision are read by one statement.
        with factory() as session:
            user, revision = authenticate_at_revision(request, session, settings, token)
            check_role(user, READER_ROLES)
            # Built as bytes (serving.suspect_list), kept until the plots change
            # (serving.plot_counts); the response model above documents them.
            return pages.page(
                user, query, revision, lambda: page_json(session, user, query, counts, revision)
            )

    if request.app.state.engine.dialect.name == "sqlite" and query.limit <= INLINE_PAGE_LIMIT:
        # An in-process SQLite read (WAL: never waiting on the scan's writes) is a few ms of
        # CPU under the GIL either way; on the event loop it skips two thread hand-overs,
        # which under 50 clients cut p95 by a third (benchmarks/api_load.py). A database
        # server's round trips would stall the loop, and so would a page of thousands of
        # plots (tens of ms): those wait on a worker thread.
        return GeoJSONResponse.raw(answer())
    return GeoJSONResponse.raw(await run_in_threadpool(answer))


@router.get(
    "/{plot_id}",
    response_model=SuspectPublic,
    response_class=GeoJSONResponse,
    responses=NOT_FOUND,
    summary="One suspect with plants, photos and history",
)
def get_suspect(plot_id: int, session: SessionDep, user: Reader) -> SuspectPublic:
    """The plot as a GeoJSON Feature, with its detected plants, photos, audit history and
    the moves you may make on it now (``allowed_moves``)."""
    return _suspect_public(session, get_visible_plot(session, user, plot_id), user)


@router.get(
    "/{plot_id}/chip",
    response_class=FileResponse,
    responses={200: {"content": {"image/jpeg": {}}}, **NOT_FOUND},
    summary="Evidence chip (JPEG)",
)
def get_chip(plot_id: int, session: SessionDep, settings: SettingsDep, user: Reader) -> Response:
    """The image the scan cut around the plot, as the analyst reviews it (a chip never
    changes once written: browsers may cache it for a day)."""
    plot = get_visible_plot(session, user, plot_id)
    path = stored_file(settings.storage_root(), plot.chip_path)
    if path is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"suspect {plot_id} has no chip")
    return FileResponse(path, media_type="image/jpeg", headers=IMMUTABLE_FILE)


@router.get(
    "/{plot_id}/history",
    response_model=AuditEventsPublic,
    responses=NOT_FOUND,
    summary="Who did what to a suspect",
)
def get_history(plot_id: int, session: SessionDep, user: Reader) -> AuditEventsPublic:
    """Every audit record of the plot, oldest first."""
    plot = get_visible_plot(session, user, plot_id)
    events = _history(session, plot.id)
    return AuditEventsPublic(data=events, count=len(events))


@router.post(
    "/{plot_id}/transitions",
    response_model=SuspectPublic,
    response_class=GeoJSONResponse,
    responses={
        403: {"description": "role or unit may not make this move"},
        409: {"description": "the plot's status does not allow this move; nothing changed"},
        422: {"description": "evidence missing or malformed"},
        **NOT_FOUND,
    },
    summary="Move a suspect along its lifecycle",
)
def transition(
    plot_id: int,
    body: TransitionCreate,
    session: SessionDep,
    settings: SettingsDep,
    user: Reporter,
) -> SuspectPublic:
    """Review, dispatch, report or close a plot, with the evidence the move needs.

    Analysts review (``suspect``/``dismissed``), dispatch to a patrol unit
    (``assigned_unit``) and close; the dispatched unit's patrols report ``positive``
    (``plant_count``) or ``false_alarm`` and then ``eradicated`` (``plant_count``), each with
    ``lon``/``lat`` where they stood. ``photo_ids`` attach photos uploaded first. The move
    and its audit record commit together or not at all.
    """
    plot = get_visible_plot(session, user, plot_id)
    change = lifecycle.Change(
        to_status=body.to_status,
        note=body.note,
        plant_count=body.plant_count,
        lon=body.lon,
        lat=body.lat,
        assigned_unit=body.assigned_unit,
        photo_ids=tuple(body.photo_ids),
    )
    try:
        revisit_days = settings.revisit_days(growth_stage(session, plot))
        lifecycle.apply(session, plot, user, change, revisit_after_days=revisit_days)
    except lifecycle.LifecycleError as exc:
        session.rollback()
        raise HTTPException(exc.http_status, str(exc)) from exc
    session.commit()
    return _suspect_public(session, get_visible_plot(session, user, plot_id), user)


@router.post(
    "/{plot_id}/photos",
    response_model=PhotoPublic,
    status_code=status.HTTP_201_CREATED,
    responses={
        413: {"description": "photo over the size limit"},
        422: {"description": "not a JPEG, PNG or WebP image"},
        **NOT_FOUND,
    },
    summary="Attach a field photo",
)
def add_photo(
    plot_id: int,
    file: Annotated[UploadFile, File(description="JPEG, PNG or WebP")],
    session: SessionDep,
    settings: SettingsDep,
    user: Reporter,
) -> PhotoPublic:
    """Upload a photo of the plot (multipart field ``file``); cite its id in a move.

    The bytes must decode as a JPEG, PNG or WebP image; the client's file name is ignored.
    Uploading the same bytes again returns the photo already stored.
    """
    plot = get_visible_plot(session, user, plot_id)
    root = settings.storage_root()
    try:
        stored = save_photo(file.file, root, plot.id, settings.max_photo_bytes)
    except PhotoError as exc:
        raise HTTPException(exc.http_status, str(exc)) from exc
    existing = session.scalar(
        select(Photo).where(Photo.plot_id == plot.id, Photo.sha256 == stored.sha256)
    )
    if existing is not None:
        return _photo_public(existing)
    photo = Photo(
        plot_id=plot.id,
        storage_path=stored.storage_path,
        content_type=stored.content_type,
        sha256=stored.sha256,
        uploaded_by=user.id,
    )
    session.add(photo)
    try:
        session.flush()
        record(
            session,
            user,
            "plot.photo",
            plot_id=plot.id,
            flight_id=plot.flight_id,
            details={"photo_id": photo.id, "sha256": stored.sha256, "bytes": stored.size_bytes},
        )
        session.commit()
    except Exception:
        session.rollback()
        if stored.created:
            (root / stored.storage_path).unlink(missing_ok=True)
        raise
    return _photo_public(photo)


@router.get(
    "/{plot_id}/photos/{photo_id}",
    response_class=FileResponse,
    responses={200: {"content": {"image/*": {}}}, **NOT_FOUND},
    summary="A field photo",
)
def get_photo(
    plot_id: int, photo_id: int, session: SessionDep, settings: SettingsDep, user: Reader
) -> Response:
    """The photo's bytes as uploaded (stored by content hash, never changed: browsers may
    cache it for a day)."""
    plot = get_visible_plot(session, user, plot_id)
    photo = session.scalar(select(Photo).where(Photo.id == photo_id, Photo.plot_id == plot.id))
    path = stored_file(settings.storage_root(), photo.storage_path) if photo else None
    if photo is None or path is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"suspect {plot_id} has no photo {photo_id}")
    return FileResponse(path, media_type=photo.content_type, headers=IMMUTABLE_FILE)
