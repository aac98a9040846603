"""Campaigns and seasons, the territory grid, coverage ("zero omission"), revisits, rebounds."""

from __future__ import annotations

import json
import tempfile
from datetime import date
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, File, HTTPException, Query, UploadFile, status
from shapely.geometry import mapping
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from serving.audit import record
from serving.auth import ADMIN, ANALYST, PILOT, RESEARCHER
from serving.campaigns.coverage import DEFAULT_SURVEYED_SHARE
from serving.campaigns.grid import GridError, read_grid
from serving.campaigns.grid_store import import_grid
from serving.campaigns.survey import coverage_by_cell, revisits
from serving.deps import SessionDep, require_roles
from serving.models import Campaign, Flight, GridUnit, ReboundAlert, Season, User
from serving.schemas.campaigns import (
    CampaignCreate,
    CampaignPublic,
    CampaignsPublic,
    CellCoveragePublic,
    CoveragePublic,
    FlightAssignment,
    GridImportPublic,
    ReboundPublic,
    RevisitPublic,
    SeasonCreate,
    SeasonPublic,
)

router = APIRouter(prefix="/api", tags=["campaigns"])
Leader = Annotated[User, Depends(require_roles(ADMIN, ANALYST))]
Reader = Annotated[User, Depends(require_roles(ADMIN, ANALYST, RESEARCHER, PILOT))]
Assigner = Annotated[User, Depends(require_roles(ADMIN, ANALYST, PILOT))]
GRID_SUFFIXES = (".geojson", ".json", ".gpkg", ".zip")
MAX_GRID_BYTES = 200 * 1024 * 1024


def _campaign(session: SessionDep, campaign_id: int) -> Campaign:
    campaign = session.get(Campaign, campaign_id)
    if campaign is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no campaign {campaign_id}")
    return campaign


@router.post(
    "/campaigns",
    response_model=CampaignPublic,
    status_code=status.HTTP_201_CREATED,
    summary="Create a campaign",
)
def create_campaign(body: CampaignCreate, session: SessionDep, user: Leader) -> Campaign:
    """A campaign (one per year and territory, usually) with its growth-stage seasons."""
    campaign = Campaign(name=body.name, year=body.year, description=body.description)
    campaign.seasons = [Season(**s.model_dump()) for s in body.seasons]
    session.add(campaign)
    try:
        session.flush()
    except IntegrityError as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, f"campaign {body.name!r} exists") from exc
    record(session, user, "campaign.create", details={"campaign": campaign.id, "name": body.name})
    session.commit()
    return campaign


@router.get("/campaigns", response_model=CampaignsPublic, summary="List campaigns")
def list_campaigns(session: SessionDep, _user: Reader) -> CampaignsPublic:
    """Every campaign, newest year first, with its seasons."""
    rows = session.scalars(select(Campaign).order_by(Campaign.year.desc(), Campaign.id)).all()
    return CampaignsPublic(data=[CampaignPublic.model_validate(r) for r in rows], count=len(rows))


@router.get("/campaigns/{campaign_id}", response_model=CampaignPublic, summary="One campaign")
def get_campaign(campaign_id: int, session: SessionDep, _user: Reader) -> Campaign:
    """A campaign with its seasons."""
    return _campaign(session, campaign_id)


@router.post(
    "/campaigns/{campaign_id}/seasons",
    response_model=SeasonPublic,
    status_code=status.HTTP_201_CREATED,
    summary="Add a season",
)
def add_season(campaign_id: int, body: SeasonCreate, session: SessionDep, user: Leader) -> Season:
    """A growth-stage period (seedling, flowering, capsule) of a campaign."""
    campaign = _campaign(session, campaign_id)
    season = Season(campaign_id=campaign.id, **body.model_dump())
    session.add(season)
    session.flush()
    record(session, user, "season.create", details={"campaign": campaign.id, "season": season.id})
    session.commit()
    return season


@router.post(
    "/campaigns/{campaign_id}/flights/{flight_id}",
    summary="Put a flight in a campaign",
)
def assign_flight(
    campaign_id: int,
    flight_id: int,
    body: FlightAssignment,
    session: SessionDep,
    user: Assigner,
) -> dict[str, int | None]:
    """Attach a flight to a campaign and season. Without a season id, the season whose dates
    hold the flight's capture date is used (none if no season does)."""
    campaign = _campaign(session, campaign_id)
    flight = session.get(Flight, flight_id)
    if flight is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no flight {flight_id}")
    season_id = body.season_id
    if season_id is not None:
        if all(s.id != season_id for s in campaign.seasons):
            raise HTTPException(
                status.HTTP_422_UNPROCESSABLE_ENTITY,
                f"season {season_id} is not a season of campaign {campaign_id}",
            )
    elif flight.captured_on is not None:
        season_id = next(
            (s.id for s in campaign.seasons if s.starts_on <= flight.captured_on <= s.ends_on),
            None,
        )
    flight.campaign_id, flight.season_id = campaign.id, season_id
    record(
        session,
        user,
        "flight.campaign",
        flight_id=flight.id,
        details={"campaign": campaign.id, "season": season_id},
    )
    session.commit()
    return {"flight_id": flight.id, "campaign_id": campaign.id, "season_id": season_id}


@router.post("/grid", response_model=GridImportPublic, summary="Import grid cells")
async def upload_grid(
    session: SessionDep,
    user: Annotated[User, Depends(require_roles(ADMIN))],
    file: Annotated[UploadFile, File(description="GeoJSON, GeoPackage or zipped shapefile")],
    repair: Annotated[bool, Query(description="make invalid polygons valid, cut overlaps")] = False,
) -> GridImportPublic:
    """Import (or update, by code) the territory's grid: county > town > village > cell
    polygons in any CRS, with responsible people. Every plot is reassigned to its cell.
    Problems (no CRS, self-intersections, overlapping cells, unknown parents) are listed in
    a 422 and nothing is imported; ``repair=true`` fixes what can be fixed and reports it."""
    name = Path(file.filename or "grid").name
    suffix = Path(name).suffix.lower()
    if suffix not in GRID_SUFFIXES:
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_ENTITY,
            f"{name}: send a grid as {', '.join(GRID_SUFFIXES)} (shapefiles zipped)",
        )
    with tempfile.TemporaryDirectory(prefix="poppyscan-grid-") as tmp:
        path = Path(tmp) / f"grid{suffix}"
        size = 0
        with path.open("wb") as out:
            while chunk := await file.read(1024 * 1024):
                size += len(chunk)
                if size > MAX_GRID_BYTES:
                    raise HTTPException(
                        status.HTTP_413_REQUEST_ENTITY_TOO_LARGE, "grid file over 200 MB"
                    )
                out.write(chunk)
        source = f"/vsizip/{path}" if suffix == ".zip" else str(path)
        try:
            units = read_grid(source, repair=repair)
        except GridError as exc:
            raise HTTPException(
                status.HTTP_422_UNPROCESSABLE_ENTITY, str(exc).replace(source, name)
            ) from exc
    result = import_grid(session, units)
    record(
        session,
        user,
        "grid.import",
        details={"file": name, "added": result.added, "updated": result.updated},
    )
    session.commit()
    return GridImportPublic(**result.__dict__)


@router.get("/grid", summary="Grid units as GeoJSON")
def grid_geojson(
    session: SessionDep,
    _user: Reader,
    level: Annotated[str | None, Query(pattern="^(county|town|village|cell)$")] = None,
) -> dict[str, Any]:
    """Grid units (all levels, or one) as a GeoJSON FeatureCollection in WGS84."""
    query = select(GridUnit).order_by(GridUnit.code)
    if level:
        query = query.where(GridUnit.level == level)
    rows = session.scalars(query).all()
    codes = {r.id: r.code for r in session.scalars(select(GridUnit))}
    features = [
        {
            "type": "Feature",
            "id": r.code,
            "geometry": json.loads(r.geometry_geojson),
            "properties": {
                "code": r.code,
                "name": r.name,
                "level": r.level,
                "parent": codes.get(r.parent_id, "") if r.parent_id else "",
                "area_m2": round(r.area_m2, 1),
                "responsible": r.responsible,
            },
        }
        for r in rows
    ]
    return {"type": "FeatureCollection", "features": features}


@router.get("/coverage", response_model=CoveragePublic, summary="Coverage per cell")
def coverage(
    session: SessionDep,
    _user: Reader,
    campaign_id: int | None = None,
    season_id: int | None = None,
    threshold: Annotated[float, Query(gt=0, le=1)] = DEFAULT_SURVEYED_SHARE,
) -> CoveragePublic:
    """Share of each cell flown and scanned in a campaign (or season); cells under
    ``threshold`` are listed in ``unsurveyed`` — the "zero omission" report."""
    cells, shares = coverage_by_cell(session, campaign_id, season_id)
    codes = {r.id: r.code for r in session.scalars(select(GridUnit))}
    out = [
        CellCoveragePublic(
            code=cell.code,
            name=cell.name,
            parent_code=codes.get(cell.parent_id, "") if cell.parent_id else "",
            area_m2=round(cov.area_m2, 1),
            covered_m2=round(cov.covered_m2, 1),
            share=round(cov.share, 4),
            surveyed=cov.surveyed(threshold),
            flight_ids=list(cov.flight_ids),
            responsible=cell.responsible,
        )
        for cell, cov in zip(cells, shares, strict=True)
    ]
    unsurveyed = [c.code for c in out if not c.surveyed]
    return CoveragePublic(
        campaign_id=campaign_id,
        season_id=season_id,
        threshold=threshold,
        cells=out,
        surveyed=len(out) - len(unsurveyed),
        unsurveyed=unsurveyed,
    )


@router.get("/coverage/gaps", summary="Unflown parts of cells as GeoJSON")
def coverage_gaps(
    session: SessionDep,
    _user: Reader,
    campaign_id: int | None = None,
    season_id: int | None = None,
    threshold: Annotated[float, Query(gt=0, le=1)] = DEFAULT_SURVEYED_SHARE,
) -> dict[str, Any]:
    """The map layer a pilot plans the next flight from: for every cell under ``threshold``,
    the part of it no scanned flight has covered, with the cell's responsible people."""
    cells, shares = coverage_by_cell(session, campaign_id, season_id)
    features = [
        {
            "type": "Feature",
            "id": cell.code,
            "geometry": mapping(cov.gap),
            "properties": {
                "code": cell.code,
                "name": cell.name,
                "share": round(cov.share, 4),
                "responsible": cell.responsible,
            },
        }
        for cell, cov in zip(cells, shares, strict=True)
        if not cov.surveyed(threshold) and not cov.gap.is_empty
    ]
    return {"type": "FeatureCollection", "features": features}


@router.get("/revisits", response_model=list[RevisitPublic], summary="Revisits of eradicated plots")
def list_revisits(
    session: SessionDep,
    _user: Reader,
    due_by: date | None = None,
    not_flown: bool = Query(False, description="only revisits no later flight has covered"),
) -> list[RevisitPublic]:
    """Eradicated plots with their revisit due date and the first later flight that covered
    them; ``not_flown=true&due_by=<today>`` is the list of revisits to fly now."""
    today = date.today()
    out = []
    for r in revisits(session, due_by):
        if not_flown and r.flown_by is not None:
            continue
        out.append(
            RevisitPublic(
                plot_id=r.plot.id,
                cell_id=r.plot.cell_id,
                centroid_lon=r.plot.centroid_lon,
                centroid_lat=r.plot.centroid_lat,
                eradicated_at=r.eradicated_at,
                due=r.due,
                overdue=r.due is not None and r.due < today and r.flown_by is None,
                flown_by_flight_id=r.flown_by,
            )
        )
    return out


@router.get("/rebounds", response_model=list[ReboundPublic], summary="Rebound alerts")
def list_rebounds(
    session: SessionDep,
    _user: Reader,
    status_: Annotated[str | None, Query(alias="status", pattern="^(open|checked)$")] = None,
) -> list[ReboundAlert]:
    """New plots found near eradicated ones by later flights ("zero new planting")."""
    query = select(ReboundAlert).order_by(ReboundAlert.id)
    if status_:
        query = query.where(ReboundAlert.status == status_)
    return list(session.scalars(query))


@router.post("/rebounds/{alert_id}/check", response_model=ReboundPublic, summary="Mark checked")
def check_rebound(alert_id: int, session: SessionDep, user: Leader) -> ReboundAlert:
    """Mark a rebound alert as checked (the new plot goes through review as usual)."""
    alert = session.get(ReboundAlert, alert_id)
    if alert is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no rebound alert {alert_id}")
    if alert.status == "checked":
        raise HTTPException(status.HTTP_409_CONFLICT, f"rebound alert {alert_id} already checked")
    alert.status = "checked"
    record(session, user, "rebound.check", plot_id=alert.plot_id, details={"alert": alert.id})
    session.commit()
    return alert
