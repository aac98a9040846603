"""A synthetic campaign placed so coverage, ledger and statistics can be worked out by hand.

Grid: the sample grid (``serving.campaigns.sample_grid``) of 10 rows x 20 columns of 500 m
cells in UTM 48N — 200 cells ``Grr-cc``, 50 villages, 15 towns ``Tr-c`` of 4 x 4 cells
(``T02-*`` has only rows 8-9), one county — written to GeoJSON, read back with
``read_grid`` and imported with ``import_grid``, as a campaign leader would.

Flights (20), each a WGS84 lon/lat rectangle with one finished scan job per model version
that found plots in it:

- Campaign ``Spring 2026`` (16 flights). Flight ``k`` (0..15) covers the 2-row x 5-column
  block of rows ``2*(k//4)..+1`` and columns ``5*(k%4)..+4``, padded by 20 m, so rows 0-7
  (160 cells) are flown — except that flight 15 stops halfway across column 19, leaving
  cells G06-19 and G07-19 half flown. Rows 8-9 (40 cells) are not flown (row 8 gets the 20 m
  pad, 4 %). Flights 0-7 belong to season ``Flowering 2026`` and were captured on
  2026-03-10 + k days; flights 8-15 to ``Capsule 2026``, captured on 2026-05-04 + (k - 8).
- Campaign ``Spring 2025`` (4 flights, season ``Flowering 2025``): flights 16-19 cover rows
  0-1 / 0-1 / 2-3 / 2-3 and columns 0-4 / 5-9 / 0-4 / 5-9, captured 2025-03-12 + (k - 16).

Plots: :data:`PLOTS` (label, cell, flight, model, lifecycle path, area, plant counts). Each
lifecycle step is an audit row like the lifecycle writes (``plot.transition``), the i-th step
of a plot at 09:00 UTC on its flight's capture date + i days (i = 1, 2, ...).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path

import numpy as np
import shapely
from pyproj import Transformer
from shapely.geometry import mapping
from sqlalchemy import select
from sqlalchemy.orm import Session

from serving.campaigns.grid import read_grid
from serving.campaigns.grid_store import assign_cells, import_grid
from serving.campaigns.sample_grid import grid_units, write_grid
from serving.config import Settings
from serving.db import make_engine, session_factory, transaction
from serving.models import AuditEvent, Campaign, Flight, Job, Plot, Season, User

UTM48N = "EPSG:32648"
ORIGIN = (500_000.0, 2_500_000.0)  # top-left corner of the grid, UTM 48N metres
CELL_M = 500.0
ROWS, COLS = 10, 20
PAD_M = 20.0

# Lifecycle paths: the statuses a plot went through after ``new``, in order.
PATHS: dict[str, tuple[str, ...]] = {
    "new": (),
    "suspect": ("suspect",),
    "dispatched": ("suspect", "dispatched"),
    "positive": ("suspect", "dispatched", "positive"),
    "false_alarm": ("suspect", "dispatched", "false_alarm"),
    "false_alarm_closed": ("suspect", "dispatched", "false_alarm", "closed"),
    "dismissed_closed": ("dismissed", "closed"),
    "eradicated": ("suspect", "dispatched", "positive", "eradicated"),
    "eradicated_closed": ("suspect", "dispatched", "positive", "eradicated", "closed"),
}
# Who makes each step: analysts review, dispatch and close; patrols report from the field.
BY = {
    "suspect": "ana",
    "dismissed": "ana",
    "dispatched": "ana",
    "closed": "ana",
    "positive": "pat",
    "false_alarm": "pat",
    "eradicated": "pat",
}
# Evidence chip of P1 (any bytes do: the report embeds the file, it does not decode it); P2's
# chip path points outside the storage root and must never be read.
CHIP_BYTES = b"\xff\xd8\xff\xe0 chip of P1 \xff\xd9"
CHIP_PATHS = {"P1": "chips/p1.jpg", "P2": "../outside-storage.jpg"}
# A note a patrol typed that must stay text in spreadsheets and HTML.
HOSTILE_NOTE = '=HYPERLINK("x") <b>rapeseed</b> & beans'


@dataclass(frozen=True)
class PlotSpec:
    """One plot of the synthetic campaign.

    Attributes:
        cell: Cell holding its centroid, or None for a plot west of the grid.
        flight: Flight index (0..19).
        dx_m: East offset of the centroid from the cell centre, metres.
        area_m2: Outline area, square metres (a square of that area).
        plants: Plants the scan found.
        reported: Plants the patrol counted at the positive verdict (None: no report).
        eradicated_plants: Plants reported at eradication (None: not eradicated).
    """

    label: str
    cell: str | None
    flight: int
    model: str
    path: str
    area_m2: float
    plants: int
    reported: int | None = None
    eradicated_plants: int | None = None
    dx_m: float = 0.0


PLOTS: tuple[PlotSpec, ...] = (
    # 2026 (campaign Spring 2026)
    PlotSpec("P1", "G00-00", 0, "poppy:2", "eradicated_closed", 400, 120, 115, 110, -100),
    PlotSpec("P2", "G00-00", 0, "poppy:2", "false_alarm_closed", 150, 30, dx_m=100),
    PlotSpec("P3", "G00-01", 0, "poppy:2", "dismissed_closed", 80, 10),
    PlotSpec("P4", "G00-02", 0, "poppy:3", "eradicated", 300, 90, 100, 95),
    PlotSpec("P5", "G01-00", 0, "poppy:3", "positive", 200, 60, 58),
    PlotSpec("P6", "G06-19", 15, "poppy:3", "eradicated_closed", 250, 70, 66, 64),
    PlotSpec("P7", "G04-04", 8, "poppy:3", "dispatched", 100, 25, dx_m=-150),
    PlotSpec("P8", "G04-04", 8, "poppy:3", "suspect", 120, 20, dx_m=-50),
    PlotSpec("P9", "G04-04", 8, "poppy:3", "new", 50, 8, dx_m=50),
    PlotSpec("P10", "G04-04", 8, "poppy:2", "false_alarm", 60, 12, dx_m=150),
    PlotSpec("P11", None, 0, "poppy:2", "new", 70, 15),
    # 2025 (campaign Spring 2025)
    PlotSpec("Q1", "G00-00", 16, "poppy:1", "eradicated_closed", 500, 150, 150, 140),
    PlotSpec("Q2", "G00-05", 17, "poppy:1", "false_alarm_closed", 90, 20),
    PlotSpec("Q3", "G02-02", 18, "poppy:1", "eradicated_closed", 220, 40, 38, 35),
    PlotSpec("Q4", "G02-06", 19, "poppy:1", "false_alarm", 40, 5),
)


@dataclass(frozen=True)
class CampaignData:
    """Database ids of what :func:`build_campaign` made."""

    campaign_2026: int
    campaign_2025: int
    flowering_2026: int
    capsule_2026: int
    flowering_2025: int
    flights: list[int]
    plots: dict[str, int]


_to_wgs84 = Transformer.from_crs(UTM48N, 4326, always_xy=True)


def _wgs84(geometry: shapely.Geometry) -> shapely.Geometry:
    return shapely.transform(
        geometry, lambda xy: np.column_stack(_to_wgs84.transform(xy[:, 0], xy[:, 1]))
    )


def flight_block(k: int) -> tuple[float, float, float, float]:
    """Flight ``k``'s rectangle in UTM 48N metres: (west, south, east, north), padded."""
    x0, y0 = ORIGIN
    if k < 16:
        row, col, rows, cols = 2 * (k // 4), 5 * (k % 4), 2, 5
    else:
        row, col, rows, cols = 2 * ((k - 16) // 2), 5 * ((k - 16) % 2), 2, 5
    west, east = x0 + col * CELL_M - PAD_M, x0 + (col + cols) * CELL_M + PAD_M
    north, south = y0 - row * CELL_M + PAD_M, y0 - (row + rows) * CELL_M - PAD_M
    if k == 15:  # stops halfway across column 19
        east = x0 + 19.5 * CELL_M
    return west, south, east, north


def flight_date(k: int) -> date:
    """Capture date of flight ``k``."""
    if k < 8:
        return date(2026, 3, 10) + timedelta(days=k)
    if k < 16:
        return date(2026, 5, 4) + timedelta(days=k - 8)
    return date(2025, 3, 12) + timedelta(days=k - 16)


def cell_centre(code: str | None) -> tuple[float, float]:
    """Centre of cell ``Grr-cc`` in UTM 48N metres; a point 300 m west of the grid for None."""
    x0, y0 = ORIGIN
    if code is None:
        return x0 - 300.0, y0 - 250.0
    row, col = int(code[1:3]), int(code[4:6])
    return x0 + (col + 0.5) * CELL_M, y0 - (row + 0.5) * CELL_M


def _campaigns(session: Session) -> dict[str, int]:
    c26 = Campaign(name="Spring 2026", year=2026)
    c25 = Campaign(name="Spring 2025", year=2025)
    session.add_all([c26, c25])
    session.flush()
    seasons = {
        "flowering_2026": Season(
            campaign_id=c26.id,
            name="Flowering 2026",
            stage="flowering",
            starts_on=date(2026, 3, 1),
            ends_on=date(2026, 4, 30),
        ),
        "capsule_2026": Season(
            campaign_id=c26.id,
            name="Capsule 2026",
            stage="capsule",
            starts_on=date(2026, 5, 1),
            ends_on=date(2026, 6, 30),
        ),
        "flowering_2025": Season(
            campaign_id=c25.id,
            name="Flowering 2025",
            stage="flowering",
            starts_on=date(2025, 3, 1),
            ends_on=date(2025, 4, 30),
        ),
    }
    session.add_all(seasons.values())
    session.flush()
    return {"2026": c26.id, "2025": c25.id} | {k: s.id for k, s in seasons.items()}


def _flight(k: int, ids: dict[str, int]) -> Flight:
    footprint = shapely.box(*_wgs84(shapely.box(*flight_block(k))).bounds)
    day = flight_date(k)
    if k < 16:
        campaign, season = ids["2026"], ids["flowering_2026" if k < 8 else "capsule_2026"]
    else:
        campaign, season = ids["2025"], ids["flowering_2025"]
    min_lon, min_lat, max_lon, max_lat = footprint.bounds
    return Flight(
        name=f"flight {k:02d}",
        filename=f"flight-{k:02d}.tif",
        storage_path=f"flights/flight-{k:02d}.tif",
        size_bytes=1_000_000,
        sha256=f"{k + 1:064x}",
        captured_on=day,
        pilot="pia",
        crs=UTM48N,
        gsd_m=0.03,
        width_px=10_000,
        height_px=10_000,
        area_ha=250.0,
        footprint_geojson=json.dumps(mapping(footprint)),
        min_lon=min_lon,
        min_lat=min_lat,
        max_lon=max_lon,
        max_lat=max_lat,
        campaign_id=campaign,
        season_id=season,
        created_at=datetime.combine(day, time(12), UTC),
    )


def _plot(spec: PlotSpec, flight: Flight, job: Job, seq: int) -> Plot:
    cx, cy = cell_centre(spec.cell)
    half = spec.area_m2**0.5 / 2
    outline = _wgs84(
        shapely.box(cx + spec.dx_m - half, cy - half, cx + spec.dx_m + half, cy + half)
    )
    centre = outline.centroid
    steps = PATHS[spec.path]
    min_lon, min_lat, max_lon, max_lat = outline.bounds
    return Plot(
        flight_id=flight.id,
        job_id=job.id,
        seq=seq,
        class_name="poppy",
        status=steps[-1] if steps else "new",
        confidence=0.9,
        mean_confidence=0.8,
        plant_count=spec.plants,
        area_m2=spec.area_m2,
        centroid_lon=round(centre.x, 7),
        centroid_lat=round(centre.y, 7),
        min_lon=min_lon,
        min_lat=min_lat,
        max_lon=max_lon,
        max_lat=max_lat,
        geometry_geojson=json.dumps(mapping(outline)),
        model_version=spec.model,
        assigned_unit="Unit 7" if "dispatched" in steps else "",
        reported_plant_count=(
            spec.eradicated_plants if spec.eradicated_plants is not None else spec.reported
        ),
        chip_path=CHIP_PATHS.get(spec.label, ""),
        created_at=flight.created_at,
    )


def _transitions(spec: PlotSpec, plot: Plot, day: date, users: dict[str, User]) -> list[AuditEvent]:
    events = []
    previous = "new"
    for i, status in enumerate(PATHS[spec.path], start=1):
        user = users[BY[status]]
        details: dict[str, object] = {"note": f"{status} ({spec.label})"}
        if status == "positive" and spec.reported is not None:
            details["plant_count"] = spec.reported
        if status == "eradicated" and spec.eradicated_plants is not None:
            details["plant_count"] = spec.eradicated_plants
            details["note"] = "cut and burnt"
        if status == "false_alarm" and spec.label == "P2":
            details["note"] = HOSTILE_NOTE
        in_field = user.role == "patrol"
        events.append(
            AuditEvent(
                at=datetime.combine(day + timedelta(days=i), time(9), UTC),
                user_id=user.id,
                username=user.username,
                action="plot.transition",
                plot_id=plot.id,
                flight_id=plot.flight_id,
                from_status=previous,
                to_status=status,
                lon=plot.centroid_lon if in_field else None,
                lat=plot.centroid_lat if in_field else None,
                details=details,
            )
        )
        if status == "eradicated":
            plot.revisit_due = day + timedelta(days=i + 30)
        previous = status
    return events


def build_campaign(settings: Settings, workdir: Path) -> CampaignData:
    """Write the grid, campaigns, flights, jobs, plots and their audit trail into the database
    of ``settings`` (which must already hold the people of ``servers.PEOPLE``), and P1's
    evidence chip (and a decoy beside the storage root) onto disk."""
    chip = settings.storage_root() / CHIP_PATHS["P1"]
    chip.parent.mkdir(parents=True, exist_ok=True)
    chip.write_bytes(CHIP_BYTES)
    (settings.storage_root() / CHIP_PATHS["P2"]).resolve().write_bytes(CHIP_BYTES)
    grid = write_grid(workdir / "grid.geojson", grid_units(ROWS, COLS, CELL_M, ORIGIN), UTM48N)
    engine = make_engine(settings.resolved_database_url())
    try:
        with transaction(session_factory(engine)) as session:
            import_grid(session, read_grid(grid))
            ids = _campaigns(session)
            flights = [_flight(k, ids) for k in range(20)]
            session.add_all(flights)
            session.flush()
            users = {u.username: u for u in session.scalars(select(User))}
            jobs: dict[tuple[int, str], Job] = {}
            plots: dict[str, Plot] = {}
            for spec in PLOTS:
                flight = flights[spec.flight]
                job = jobs.get((spec.flight, spec.model))
                if job is None:
                    job = Job(
                        flight_id=flight.id,
                        status="done",
                        model_name="poppy",
                        model_version=spec.model,
                        finished_at=flight.created_at,
                    )
                    session.add(job)
                    session.flush()
                    jobs[(spec.flight, spec.model)] = job
                seq = 1 + sum(1 for key in plots if plots[key].job_id == job.id)
                plot = _plot(spec, flight, job, seq)
                session.add(plot)
                session.flush()
                plots[spec.label] = plot
            for k, flight in enumerate(flights):  # flights whose plots all came later: a job too
                if not any(key[0] == k for key in jobs):
                    session.add(
                        Job(
                            flight_id=flight.id,
                            status="done",
                            model_name="poppy",
                            model_version="poppy:3",
                            finished_at=flight.created_at,
                        )
                    )
            assign_cells(session, list(plots.values()))
            for spec in PLOTS:
                day = flight_date(spec.flight)
                session.add_all(_transitions(spec, plots[spec.label], day, users))
            return CampaignData(
                campaign_2026=ids["2026"],
                campaign_2025=ids["2025"],
                flowering_2026=ids["flowering_2026"],
                capsule_2026=ids["capsule_2026"],
                flowering_2025=ids["flowering_2025"],
                flights=[f.id for f in flights],
                plots={label: p.id for label, p in plots.items()},
            )
    finally:
        engine.dispose()
