"""Patrol routes: order a unit's open field work from a start point; GPX, KML, dispatch sheet.

A route holds the plots a patrol still has to act on: ``dispatched`` (to verify) and
``positive`` (to eradicate); every stop says which. Analysts and admins plan routes for any
unit; a patrol only for its own unit (other units are answered 404, as if they did not
exist); pilots and researchers get 403. A unit with nothing to do gets an empty route, not
an error.
"""

from __future__ import annotations

import re
from typing import Annotated, Any
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Depends, HTTPException, Query, status
from fastapi.responses import HTMLResponse, Response

from serving.auth import ADMIN, ANALYST, PATROL
from serving.campaigns.dispatch import (
    DispatchError,
    NotDispatchedError,
    PatrolRoute,
    UnknownPlotsError,
    plan_dispatch,
)
from serving.campaigns.route_exports import render_dispatch_sheet, render_gpx, render_kml
from serving.deps import SessionDep, SettingsDep, require_roles
from serving.models import User
from serving.schemas.routes import RoutePublic, RouteRequest

router = APIRouter(prefix="/api/routes", tags=["patrol routes"])
RouteUser = Annotated[User, Depends(require_roles(ADMIN, ANALYST, PATROL))]

GPX_TYPE = "application/gpx+xml"
KML_TYPE = "application/vnd.google-earth.kml+xml"


def _visible_unit(user: User) -> str | None:
    """The only unit ``user`` may route (a patrol's own); None for analysts and admins."""
    if user.role != PATROL:
        return None
    if not user.unit:
        raise HTTPException(
            status.HTTP_403_FORBIDDEN, "your patrol account has no unit: ask an admin"
        )
    return user.unit


def _check_unit(user: User, unit: str) -> None:
    """404 for a patrol asking about another unit (its existence is not revealed)."""
    visible = _visible_unit(user)
    if visible is not None and unit != visible:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no route for unit {unit!r}")


def _plan(
    session: SessionDep,
    user: User,
    start_lon: float,
    start_lat: float,
    plot_ids: list[int] | None,
    unit: str | None,
) -> PatrolRoute:
    """Plan the route, translating library errors into HTTP statuses."""
    try:
        return plan_dispatch(
            session,
            start_lon,
            start_lat,
            plot_ids=plot_ids,
            unit=unit,
            visible_unit=_visible_unit(user),
        )
    except UnknownPlotsError as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, str(exc)) from exc
    except NotDispatchedError as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from exc
    except DispatchError as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(exc)) from exc


def _export_links(
    unit: str, start_lon: float, start_lat: float, plot_ids: list[int] | None
) -> dict[str, str]:
    """Download links of the same route in every format."""
    query: list[tuple[str, Any]] = [("start_lon", start_lon), ("start_lat", start_lat)]
    query += [("plot_id", pid) for pid in plot_ids or []]
    base = f"{router.prefix}/{quote(unit, safe='')}"
    return {fmt: f"{base}.{fmt}?{urlencode(query)}" for fmt in ("gpx", "kml", "html")}


@router.post("", response_model=RoutePublic, summary="Plan a patrol route")
def plan_patrol_route(body: RouteRequest, session: SessionDep, user: RouteUser) -> RoutePublic:
    """Order a unit's plots to verify or eradicate into a short route from the start point.

    Give ``plot_ids`` (each must be dispatched or positive), ``unit`` (all its dispatched
    and positive plots) or both; a patrol that gives neither gets its own unit's route.
    Each stop's ``task`` says what to do there: ``verify`` or ``eradicate``. The order is
    nearest neighbour plus 2-opt on geodesic distance; ``total_m`` and each stop's
    ``leg_m`` / ``cumulative_m`` are metres along the route (open: it ends at the last
    stop).
    """
    unit = body.unit
    if unit is not None:
        _check_unit(user, unit)
    elif body.plot_ids is None:
        unit = _visible_unit(user)
        if unit is None:
            raise HTTPException(
                status.HTTP_422_UNPROCESSABLE_CONTENT,
                "name the plots (plot_ids) or the patrol unit (unit) to route",
            )
    route = _plan(session, user, body.start_lon, body.start_lat, body.plot_ids, unit)
    units = {stop.site.unit for stop in route.stops}
    link_unit = unit or (units.pop() if len(units) == 1 else None)
    links = (
        _export_links(link_unit, body.start_lon, body.start_lat, body.plot_ids) if link_unit else {}
    )
    return RoutePublic.from_route(route, links)


def unit_route(
    unit: str,
    session: SessionDep,
    user: RouteUser,
    start_lon: Annotated[
        float, Query(ge=-180, le=180, description="start point, WGS84 longitude, degrees")
    ],
    start_lat: Annotated[
        float, Query(ge=-90, le=90, description="start point, WGS84 latitude, degrees")
    ],
    plot_id: Annotated[
        list[int] | None,
        Query(description="only these plots (repeat the parameter); all open ones if none"),
    ] = None,
) -> PatrolRoute:
    """The route of a unit's plots to verify or eradicate (or of some of them) from the
    start point."""
    _check_unit(user, unit)
    return _plan(session, user, start_lon, start_lat, plot_id, unit)


UnitRoute = Annotated[PatrolRoute, Depends(unit_route)]


def _filename(route: PatrolRoute, suffix: str) -> str:
    slug = re.sub(r"[^A-Za-z0-9._-]+", "-", route.unit).strip("-.") or "route"
    return f"route-{slug}-{route.planned_at:%Y%m%d}.{suffix}"


def _download(content: str, media_type: str, filename: str) -> Response:
    return Response(
        content,
        media_type=media_type,
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


def _doc(media_type: str) -> dict[int | str, dict[str, Any]]:
    return {200: {"content": {media_type: {}}}}


@router.get(
    "/{unit}.gpx",
    response_class=Response,
    responses=_doc(GPX_TYPE),
    summary="A unit's route as GPX",
)
def unit_route_gpx(route: UnitRoute) -> Response:
    """GPX 1.1: a waypoint per suspect and a route from the start through them in order."""
    return _download(render_gpx(route), GPX_TYPE, _filename(route, "gpx"))


@router.get(
    "/{unit}.kml",
    response_class=Response,
    responses=_doc(KML_TYPE),
    summary="A unit's route as KML",
)
def unit_route_kml(route: UnitRoute) -> Response:
    """KML 2.2: the route as a line from the start through the stops, a placemark each."""
    return _download(render_kml(route), KML_TYPE, _filename(route, "kml"))


@router.get(
    "/{unit}.html",
    response_class=HTMLResponse,
    summary="A unit's printable dispatch sheet",
)
def unit_dispatch_sheet(route: UnitRoute, settings: SettingsDep) -> HTMLResponse:
    """A self-contained, printable HTML page: summary, then each stop with its chip."""
    return HTMLResponse(render_dispatch_sheet(route, settings.storage_root()))
