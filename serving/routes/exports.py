"""Exports: any filtered set of suspects, or a patrol's assignment, as a file.

``GET /api/exports/suspects.{geojson,kml,gpx,csv}`` takes the suspect list's filters;
``GET /api/exports/assignment.{fmt}`` is the field work of one patrol unit: its plots to
verify (``dispatched``) and to eradicate (``positive``). A patrol gets its own unit's;
analysts and admins name the unit with ``?unit=``.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Query, Response, status
from sqlalchemy import select

from serving.auth import ADMIN, ANALYST, PATROL
from serving.deps import SessionDep, require_roles
from serving.exports import Export, export
from serving.lifecycle import FIELD_STATUSES
from serving.models import Plot, User
from serving.plot_queries import READER_ROLES, select_plots
from serving.schemas.plots import ExportFormat, SuspectFilter

router = APIRouter(prefix="/api/exports", tags=["exports"])
Reader = Annotated[User, Depends(require_roles(*READER_ROLES))]
FieldPlanner = Annotated[User, Depends(require_roles(ADMIN, ANALYST, PATROL))]
_FILE: dict[int | str, dict[str, Any]] = {
    200: {"content": {"application/octet-stream": {}}, "description": "the file"}
}


def _download(rendered: Export) -> Response:
    return Response(
        rendered.content,
        media_type=rendered.media_type,
        headers={"Content-Disposition": f'attachment; filename="{rendered.filename}"'},
    )


def _stamp() -> str:
    return datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")


@router.get("/suspects.{fmt}", responses=_FILE, summary="Export suspects")
def export_suspects(
    fmt: ExportFormat,
    query: Annotated[SuspectFilter, Query()],
    session: SessionDep,
    user: Reader,
) -> Response:
    """Every plot matching the filters (as in ``GET /api/suspects``, unpaged, including
    ``campaign_id`` and ``season_id``) in ``fmt``:
    GeoJSON (RFC 7946), KML 2.2 (placemarks with outlines), GPX 1.1 (one waypoint per plot)
    or CSV (one row per plot)."""
    plots = session.scalars(select_plots(user, query)).all()
    return _download(export(plots, fmt, "poppyscan suspects", f"suspects-{_stamp()}"))


@router.get(
    "/assignment.{fmt}",
    responses={**_FILE, 403: {"description": "a patrol asked for another unit"}},
    summary="Export a patrol unit's assignment",
)
def export_assignment(
    fmt: ExportFormat,
    session: SessionDep,
    user: FieldPlanner,
    unit: Annotated[str | None, Query(max_length=100, description="analysts, admins")] = None,
) -> Response:
    """The unit's plots to verify or eradicate, most confident first.

    A patrol gets its own unit's (``unit`` may only repeat it); analysts and admins must
    name the unit.
    """
    if user.role == PATROL:
        if unit is not None and unit != user.unit:
            raise HTTPException(status.HTTP_403_FORBIDDEN, "patrols export their own unit only")
        unit = user.unit
    if not unit:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, "name the patrol unit: ?unit=")
    plots = session.scalars(
        select(Plot)
        .where(Plot.assigned_unit == unit, Plot.status.in_(FIELD_STATUSES))
        .order_by(Plot.confidence.desc(), Plot.id)
    ).all()
    stem = f"assignment-{_slug(unit)}-{_stamp()}"
    return _download(export(plots, fmt, f"poppyscan assignment — {unit}", stem))


def _slug(text: str) -> str:
    """``text`` reduced to a safe file-name part (letters, digits, dashes)."""
    slug = "".join(c if c.isascii() and c.isalnum() else "-" for c in text.lower())
    return "-".join(part for part in slug.split("-") if part) or "unit"
