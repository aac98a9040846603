"""Coverage, revisits and rebound alerts read from the database.

- Coverage: per cell, the share flown and scanned in a campaign (or one of its seasons), from
  the valid-data footprints of flights whose scan finished.
- Revisits: an eradicated plot is due for a revisit flight on its ``revisit_due`` date; it is
  "flown" once a scanned flight made after the eradication covers its centroid.
- Rebound: when a flight's scan is stored, each new plot near an eradicated one (seen after the
  eradication) raises a :class:`serving.models.ReboundAlert`.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime

import shapely
from shapely.geometry import shape
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from serving.campaigns.coverage import CellArea, CellCoverage, Footprint, cell_coverage
from serving.campaigns.grid_store import geometry_of
from serving.campaigns.rebound import DEFAULT_REBOUND_DISTANCE_M, Site, find_rebounds
from serving.models import AuditEvent, Flight, GridUnit, Job, Plot, ReboundAlert, Season

ERADICATED = "eradicated"


def growth_stage(session: Session, plot: Plot) -> str | None:
    """The growth stage of the season the plot's flight belongs to (None outside seasons)."""
    return session.scalar(
        select(Season.stage)
        .join(Flight, Flight.season_id == Season.id)
        .where(Flight.id == plot.flight_id)
    )


def scanned_flights(
    session: Session, campaign_id: int | None = None, season_id: int | None = None
) -> list[Flight]:
    """Flights with a finished scan, optionally of one campaign / season."""
    query = select(Flight).where(Flight.id.in_(select(Job.flight_id).where(Job.status == "done")))
    if campaign_id is not None:
        query = query.where(Flight.campaign_id == campaign_id)
    if season_id is not None:
        query = query.where(Flight.season_id == season_id)
    return list(session.scalars(query.order_by(Flight.id)))


def footprints(flights: Sequence[Flight]) -> list[Footprint]:
    """The valid-data footprints of ``flights``, WGS84."""
    return [Footprint(f.id, shape(json.loads(f.footprint_geojson))) for f in flights]


def coverage_by_cell(
    session: Session, campaign_id: int | None = None, season_id: int | None = None
) -> tuple[list[GridUnit], list[CellCoverage]]:
    """Every grid cell and its coverage by the campaign's (season's) scanned flights."""
    cells = list(
        session.scalars(select(GridUnit).where(GridUnit.level == "cell").order_by(GridUnit.code))
    )
    areas = [CellArea(c.code, geometry_of(c), c.area_m2) for c in cells]
    flights = scanned_flights(session, campaign_id, season_id)
    return cells, cell_coverage(areas, footprints(flights))


def eradication_times(
    session: Session, plot_ids: Sequence[int] | None = None
) -> dict[int, datetime]:
    """When each eradicated plot was reported eradicated (from the audit log), UTC."""
    query = (
        select(AuditEvent.plot_id, func.max(AuditEvent.at))
        .where(AuditEvent.to_status == ERADICATED, AuditEvent.plot_id.is_not(None))
        .group_by(AuditEvent.plot_id)
    )
    if plot_ids is not None:
        query = query.where(AuditEvent.plot_id.in_(plot_ids))
    return {int(pid): _utc(at) for pid, at in session.execute(query) if pid is not None}


def _utc(at: datetime) -> datetime:
    return at if at.tzinfo else at.replace(tzinfo=UTC)


def flight_time(flight: Flight) -> datetime:
    """When a flight saw the ground: its capture date (noon UTC) or else its upload time."""
    if flight.captured_on is not None:
        return datetime(
            flight.captured_on.year,
            flight.captured_on.month,
            flight.captured_on.day,
            12,
            tzinfo=UTC,
        )
    return _utc(flight.created_at)


def check_rebounds(
    session: Session,
    flight: Flight,
    new_plots: Sequence[Plot],
    max_distance_m: float = DEFAULT_REBOUND_DISTANCE_M,
) -> list[ReboundAlert]:
    """Raise a rebound alert for each new plot of ``flight`` near a plot eradicated before it."""
    seen_at = flight_time(flight)
    erased = eradication_times(session)
    earlier = [pid for pid, at in erased.items() if at < seen_at]
    if not earlier or not new_plots:
        return []
    old = list(session.scalars(select(Plot).where(Plot.id.in_(earlier))))
    pairs = find_rebounds(
        [Site(p.id, p.centroid_lon, p.centroid_lat) for p in old],
        [Site(p.id, p.centroid_lon, p.centroid_lat) for p in new_plots if p.flight_id == flight.id],
        max_distance_m,
    )
    alerts = [
        ReboundAlert(
            plot_id=r.eradicated_plot_id,
            new_plot_id=r.new_plot_id,
            flight_id=flight.id,
            distance_m=round(r.distance_m, 2),
        )
        for r in pairs
    ]
    session.add_all(alerts)
    session.flush()
    return alerts


@dataclass(frozen=True)
class Revisit:
    """An eradicated plot's revisit: when it is due and the first flight that covered it since.

    Attributes:
        flown_by: Id of the first scanned flight after the eradication that covers the plot's
            centroid, or None when no flight has been back yet.
    """

    plot: Plot
    eradicated_at: datetime
    due: date | None
    flown_by: int | None


def revisits(session: Session, due_by: date | None = None) -> list[Revisit]:
    """Eradicated plots with their revisit state, soonest due first.

    Args:
        due_by: Keep only revisits due on or before this date (None: all).
    """
    erased = eradication_times(session)
    plots = list(session.scalars(select(Plot).where(Plot.id.in_(list(erased)))))
    flights = scanned_flights(session)
    shapes = [shape(json.loads(f.footprint_geojson)) for f in flights]
    tree = shapely.STRtree(shapes) if shapes else None
    out = []
    for plot in plots:
        if due_by is not None and (plot.revisit_due is None or plot.revisit_due > due_by):
            continue
        flown_by = None
        if tree is not None:
            point = shapely.Point(plot.centroid_lon, plot.centroid_lat)
            hits = sorted(tree.query(point, predicate="intersects").tolist())
            after = [flights[i] for i in hits if flight_time(flights[i]) > erased[plot.id]]
            flown_by = min(after, key=flight_time).id if after else None
        out.append(Revisit(plot, erased[plot.id], plot.revisit_due, flown_by))
    out.sort(key=lambda r: (r.due or date.max, r.plot.id))
    return out
