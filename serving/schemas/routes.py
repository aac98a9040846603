"""Patrol route bodies: what to route from where, and the planned route."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

from serving.campaigns.dispatch import MAX_STOPS, PatrolRoute, RouteStop


class RouteRequest(BaseModel):
    """Plan a route from a start point through the plots a patrol has to act on:
    ``dispatched`` (to verify) and ``positive`` (to eradicate).

    Name the plots (``plot_ids``), the unit (``unit``: all its plots to verify or
    eradicate), or both (the plots, each of which must be that unit's). A patrol may leave
    both out to route its own unit.

    Attributes:
        start_lon: Start point, WGS84 longitude, degrees.
        start_lat: Start point, WGS84 latitude, degrees.
    """

    start_lon: float = Field(ge=-180, le=180, description="WGS84 longitude, degrees")
    start_lat: float = Field(ge=-90, le=90, description="WGS84 latitude, degrees")
    plot_ids: list[int] | None = Field(default=None, min_length=1, max_length=MAX_STOPS)
    unit: str | None = Field(default=None, min_length=1, max_length=100)


class RouteStopPublic(BaseModel):
    """One stop of a route, in visiting order.

    Attributes:
        leg_m: Geodesic distance from the previous stop (the start for stop 1), metres.
        cumulative_m: Distance along the route from the start to this stop, metres.
        status: ``dispatched`` (to verify) or ``positive`` (to eradicate).
        task: What the patrol does there: ``verify`` or ``eradicate``.
        lon: Plot centroid, WGS84 longitude, degrees.
        lat: Plot centroid, WGS84 latitude, degrees.
        area_m2: Plot area, square metres.
        confidence: Highest detection confidence in the plot, 0-1.
    """

    number: int
    plot_id: int
    flight_id: int
    class_name: str
    unit: str
    status: str
    task: str
    lon: float
    lat: float
    area_m2: float
    plant_count: int
    confidence: float
    has_chip: bool
    leg_m: float
    cumulative_m: float

    @classmethod
    def from_stop(cls, stop: RouteStop) -> RouteStopPublic:
        """The public view of a planned stop."""
        site = stop.site
        return cls(
            number=stop.number,
            plot_id=site.plot_id,
            flight_id=site.flight_id,
            class_name=site.class_name,
            unit=site.unit,
            status=site.status,
            task=site.task,
            lon=site.lon,
            lat=site.lat,
            area_m2=site.area_m2,
            plant_count=site.plant_count,
            confidence=site.confidence,
            has_chip=bool(site.chip_path),
            leg_m=stop.leg_m,
            cumulative_m=stop.cumulative_m,
        )


class RoutePublic(BaseModel):
    """A planned patrol route: open (no return leg), shortest found by NN + 2-opt.

    Attributes:
        total_m: Length from the start point through every stop, metres.
        exports: Download links (GPX, KML, printable sheet) for a unit's route.
    """

    unit: str
    start_lon: float
    start_lat: float
    planned_at: datetime
    total_m: float
    count: int
    stops: list[RouteStopPublic]
    exports: dict[str, str] = Field(default_factory=dict)

    @classmethod
    def from_route(cls, route: PatrolRoute, exports: dict[str, str] | None = None) -> RoutePublic:
        """The public view of a planned route."""
        return cls(
            unit=route.unit,
            start_lon=route.start_lon,
            start_lat=route.start_lat,
            planned_at=route.planned_at,
            total_m=route.total_m,
            count=len(route.stops),
            stops=[RouteStopPublic.from_stop(s) for s in route.stops],
            exports=exports or {},
        )
