"""Build a patrol's route from the plots it still has to act on: select, check, order, measure.

A route is planned for plots that wait on a patrol unit in the field
(:data:`serving.lifecycle.FIELD_STATUSES`): ``dispatched`` plots to verify and ``positive``
plots to eradicate — either every such plot of one unit or an explicit list of plot ids.
Plots in any other state (not yet dispatched, or already reported as a false alarm or
eradicated) are refused with an error naming them, never silently dropped or added. The
order comes from :func:`serving.campaigns.routing.plan_route` (nearest neighbour + 2-opt,
geodesic metres on WGS84) starting at the patrol's start point; the result is a plain,
frozen record that the exports (:mod:`serving.campaigns.route_exports`) and the API render
without the database.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Final

from sqlalchemy import select
from sqlalchemy.orm import Session

from detector.errors import PoppyscanError
from serving.campaigns.routing import Stop, plan_route
from serving.lifecycle import FIELD_STATUSES
from serving.models import Plot

# What the patrol does at a stop, by the plot's status (one per FIELD_STATUSES).
TASKS: Final = {"dispatched": "verify", "positive": "eradicate"}
# One patrol day is tens of sites; 2-opt on 500 stops still plans in under a second.
MAX_STOPS: Final = 500


class DispatchError(PoppyscanError):
    """A route cannot be planned for the plots asked for."""


class BadStartPointError(DispatchError):
    """The start point is not a WGS84 longitude/latitude."""


class UnknownPlotsError(DispatchError):
    """Some requested plot ids do not exist (or are not visible to the requester).

    Attributes:
        plot_ids: The missing ids, ascending.
    """

    def __init__(self, plot_ids: Sequence[int]) -> None:
        self.plot_ids = sorted(plot_ids)
        super().__init__(f"no plot(s) {', '.join(map(str, self.plot_ids))}")


class NotDispatchedError(DispatchError):
    """Some requested plots are not out with a patrol (dispatched or positive), or not
    with the requested unit.

    Attributes:
        problems: ``(plot id, why)`` per refused plot, by plot id.
    """

    def __init__(self, problems: Sequence[tuple[int, str]]) -> None:
        self.problems = sorted(problems)
        listed = "; ".join(f"plot {pid} {why}" for pid, why in self.problems)
        super().__init__(
            "only plots to verify (dispatched) or to eradicate (positive) can be put on a "
            f"route: {listed}"
        )


class TooManyStopsError(DispatchError):
    """More plots than one route may hold (:data:`MAX_STOPS`)."""


@dataclass(frozen=True)
class Site:
    """What a patrol needs to know about one suspect plot (a snapshot of its row).

    Attributes:
        plot_id: The plot's database id.
        flight_id: Flight the plot was found on.
        seq: The plot's number within its scan job.
        class_name: ``poppy`` or ``cannabis``.
        unit: Patrol unit the plot is dispatched to.
        status: ``dispatched`` (to verify) or ``positive`` (to eradicate).
        lon: Centroid, WGS84 longitude, degrees.
        lat: Centroid, WGS84 latitude, degrees.
        area_m2: Plot outline area on the ground, square metres.
        plant_count: Plants the model counted in the plot.
        confidence: Highest detection confidence in the plot, 0-1.
        chip_path: Evidence chip relative to the storage root; empty when there is none.
        reported_plant_count: Plants the patrol counted when it verified the plot (None
            before a positive report).
    """

    plot_id: int
    flight_id: int
    seq: int
    class_name: str
    unit: str
    status: str
    lon: float
    lat: float
    area_m2: float
    plant_count: int
    confidence: float
    chip_path: str
    reported_plant_count: int | None = None

    @property
    def task(self) -> str:
        """What the patrol does here: ``verify`` or ``eradicate``."""
        return TASKS.get(self.status, self.status)

    @classmethod
    def from_plot(cls, plot: Plot) -> Site:
        """Snapshot of a ``Plot`` row."""
        return cls(
            plot_id=plot.id,
            flight_id=plot.flight_id,
            seq=plot.seq,
            class_name=plot.class_name,
            unit=plot.assigned_unit,
            status=plot.status,
            lon=plot.centroid_lon,
            lat=plot.centroid_lat,
            area_m2=plot.area_m2,
            plant_count=plot.plant_count,
            confidence=plot.confidence,
            chip_path=plot.chip_path,
            reported_plant_count=plot.reported_plant_count,
        )


@dataclass(frozen=True)
class RouteStop:
    """One stop of a patrol route.

    Attributes:
        number: Position in the route, from 1.
        site: The plot visited.
        leg_m: Geodesic distance from the previous stop (the start point for stop 1), metres.
        cumulative_m: Distance from the start point to this stop along the route, metres.
    """

    number: int
    site: Site
    leg_m: float
    cumulative_m: float


@dataclass(frozen=True)
class PatrolRoute:
    """A planned patrol route: the start point and the stops in visiting order.

    The route is open: it ends at the last stop and does not return to the start.

    Attributes:
        unit: Patrol unit(s) the stops are dispatched to (comma-separated when mixed).
        start_lon: Start point, WGS84 longitude, degrees.
        start_lat: Start point, WGS84 latitude, degrees.
        stops: In visiting order.
        planned_at: When the route was planned, UTC.
    """

    unit: str
    start_lon: float
    start_lat: float
    stops: tuple[RouteStop, ...]
    planned_at: datetime

    @property
    def total_m(self) -> float:
        """Length of the whole route from the start point to the last stop, metres."""
        return self.stops[-1].cumulative_m if self.stops else 0.0


def check_start_point(lon: float, lat: float) -> None:
    """Refuse anything that is not a WGS84 position in degrees.

    Raises:
        BadStartPointError: ``lon`` outside [-180, 180], ``lat`` outside [-90, 90], or
            either not finite.
    """
    if not (math.isfinite(lon) and math.isfinite(lat)):
        raise BadStartPointError("the start point must be finite longitude/latitude degrees")
    if not (-180.0 <= lon <= 180.0 and -90.0 <= lat <= 90.0):
        raise BadStartPointError(
            f"start point ({lon}, {lat}) is not WGS84 lon/lat: longitude must be within "
            "[-180, 180] and latitude within [-90, 90] degrees"
        )


def _check_size(count: int, what: str) -> None:
    if count > MAX_STOPS:
        raise TooManyStopsError(
            f"{what} has {count} plots; a route holds at most {MAX_STOPS}: "
            "plan it in parts by passing plot ids"
        )


def plots_by_ids(
    session: Session, plot_ids: Sequence[int], *, unit: str | None = None, visible_unit: str | None
) -> list[Plot]:
    """The plots ``plot_ids`` (duplicates once), each still to verify or eradicate, by id.

    Args:
        session: Database session.
        plot_ids: Plots asked for.
        unit: When given, every plot must be assigned to this unit.
        visible_unit: When given (a patrol asking), plots assigned to any other unit are
            treated as unknown, so a patrol learns nothing about other units' plots.

    Raises:
        TooManyStopsError: more than :data:`MAX_STOPS` distinct ids.
        UnknownPlotsError: ids that do not exist (or are not visible).
        NotDispatchedError: plots that are not in a :data:`FIELD_STATUSES` status (or not
            assigned to ``unit``).
    """
    wanted = set(plot_ids)
    _check_size(len(wanted), "the request")
    if not wanted:
        return []
    plots = list(session.scalars(select(Plot).where(Plot.id.in_(wanted)).order_by(Plot.id)))
    if visible_unit is not None:
        plots = [p for p in plots if p.assigned_unit == visible_unit]
    missing = wanted - {p.id for p in plots}
    if missing:
        raise UnknownPlotsError(sorted(missing))
    problems = []
    for plot in plots:
        if plot.status not in FIELD_STATUSES:
            problems.append((plot.id, f"is {plot.status}"))
        elif unit is not None and plot.assigned_unit != unit:
            problems.append((plot.id, f"is assigned to {plot.assigned_unit!r}, not {unit!r}"))
    if problems:
        raise NotDispatchedError(problems)
    return plots


def field_plots(session: Session, unit: str) -> list[Plot]:
    """Every plot ``unit`` still has to act on — ``dispatched`` (to verify) and
    ``positive`` (to eradicate) — ordered by id (empty when there are none).

    Raises:
        TooManyStopsError: the unit has more than :data:`MAX_STOPS` such plots.
    """
    plots = list(
        session.scalars(
            select(Plot)
            .where(Plot.status.in_(FIELD_STATUSES), Plot.assigned_unit == unit)
            .order_by(Plot.id)
            .limit(MAX_STOPS + 1)
        )
    )
    _check_size(len(plots), f"unit {unit!r}")
    return plots


def build_route(
    sites: Sequence[Site],
    start_lon: float,
    start_lat: float,
    unit: str = "",
    planned_at: datetime | None = None,
) -> PatrolRoute:
    """Order ``sites`` into a short open route from the start point (degrees).

    Args:
        sites: The plots to visit, any order.
        start_lon: Start point, WGS84 longitude, degrees.
        start_lat: Start point, WGS84 latitude, degrees.
        unit: Unit named on the route; the sites' distinct units when empty.
        planned_at: Time stamped on the route; now (UTC) when None.

    Raises:
        BadStartPointError: the start point is not lon/lat degrees.
    """
    check_start_point(start_lon, start_lat)
    by_id = {site.plot_id: site for site in sites}
    planned = plan_route(
        start_lon, start_lat, [Stop(s.plot_id, s.lon, s.lat) for s in by_id.values()]
    )
    stops = []
    cumulative = 0.0
    for number, (stop, leg) in enumerate(zip(planned.stops, planned.legs_m, strict=True), 1):
        cumulative += leg
        stops.append(RouteStop(number, by_id[stop.stop_id], leg, cumulative))
    return PatrolRoute(
        unit=unit or ", ".join(sorted({s.unit for s in by_id.values()})),
        start_lon=start_lon,
        start_lat=start_lat,
        stops=tuple(stops),
        planned_at=planned_at or datetime.now(UTC),
    )


def plan_dispatch(
    session: Session,
    start_lon: float,
    start_lat: float,
    *,
    plot_ids: Sequence[int] | None = None,
    unit: str | None = None,
    visible_unit: str | None = None,
) -> PatrolRoute:
    """Select the plots a patrol has to act on and plan their route from the start point.

    Args:
        session: Database session.
        start_lon: Start point, WGS84 longitude, degrees.
        start_lat: Start point, WGS84 latitude, degrees.
        plot_ids: Exactly these plots (each dispatched or positive, of ``unit`` if given).
        unit: Without ``plot_ids``: every plot of this unit to verify or eradicate.
        visible_unit: The only unit the requester may see (a patrol's own); None for all.

    Raises:
        DispatchError: bad start point, unknown plots or plots not out with a patrol, too
            many plots, or neither ``plot_ids`` nor ``unit`` given.
    """
    check_start_point(start_lon, start_lat)
    if plot_ids is not None:
        plots = plots_by_ids(session, plot_ids, unit=unit, visible_unit=visible_unit)
    elif unit is not None:
        plots = field_plots(session, unit)
    else:
        raise DispatchError("name the plots (plot_ids) or the patrol unit (unit) to route")
    return build_route([Site.from_plot(p) for p in plots], start_lon, start_lat, unit or "")
