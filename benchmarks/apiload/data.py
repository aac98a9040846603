"""The benchmark's database: 20 flights in one valley and 100,000 plots, bulk-inserted.

The schema comes from the server's own migrations. Flights are 1.6 km x 1.6 km squares
(5 per row, 2 km apart) in a local metre grid from :data:`ORIGIN_LON`, :data:`ORIGIN_LAT`,
each with a finished scan job. Plots are irregular hexagons of 2-20 m (70 % in village
clusters, 30 % scattered) whose bounding box and centroid columns come from the stored
geometry, in every lifecycle status, each with 1-3 plant detections. Rows go in with
SQLAlchemy Core ``executemany`` in batches; PostgreSQL is then ``ANALYZE``d, SQLite is not
(the server never runs ``ANALYZE`` on it).
"""

from __future__ import annotations

import hashlib
import math
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import numpy as np
from sqlalchemy import Engine, create_engine, insert, text
from sqlalchemy.engine import make_url

from serving.config import Settings
from serving.db import migrate
from serving.models import Detection, Flight, Job, Plot

# South-west corner of the surveyed valley, WGS84 degrees.
ORIGIN_LON, ORIGIN_LAT = 104.30, 20.40
METRES_PER_DEG_LAT = 110_574.0
METRES_PER_DEG_LON = 111_320.0 * math.cos(math.radians(ORIGIN_LAT))
FLIGHT_COLS = 5
FLIGHT_SIZE_M = 1_600.0
FLIGHT_PITCH_M = 2_000.0
GSD_M = 0.04
VERTICES = 6
CLUSTERS_PER_FLIGHT = 8
UNITS = tuple(f"Unit {n}" for n in range(1, 9))
# Share of plots in each lifecycle status (a season some weeks into review).
STATUS_SHARES = {
    "new": 0.50,
    "suspect": 0.12,
    "dismissed": 0.16,
    "dispatched": 0.06,
    "positive": 0.03,
    "false_alarm": 0.04,
    "eradicated": 0.05,
    "closed": 0.04,
}
FIELD_STATUSES = {"dispatched", "positive", "false_alarm", "eradicated"}
BATCH_ROWS = 5_000
SEASON_START = date(2026, 3, 1)


@dataclass(frozen=True)
class Area:
    """The surveyed area: flight squares in a local metre grid from :data:`ORIGIN_LON`."""

    flights: int

    def flight_origin_m(self, index: int) -> tuple[float, float]:
        """South-west corner of flight ``index`` (0-based), metres east and north."""
        row, col = divmod(index, FLIGHT_COLS)
        return col * FLIGHT_PITCH_M, row * FLIGHT_PITCH_M

    def extent_m(self) -> tuple[float, float]:
        """Width and height of the area covered by flights, metres."""
        rows = math.ceil(self.flights / FLIGHT_COLS)
        cols = min(self.flights, FLIGHT_COLS)
        return (
            (cols - 1) * FLIGHT_PITCH_M + FLIGHT_SIZE_M,
            (rows - 1) * FLIGHT_PITCH_M + FLIGHT_SIZE_M,
        )


def to_lon(x_m: Any) -> Any:
    """Metres east of the origin to WGS84 longitude, degrees (scalars or arrays)."""
    return ORIGIN_LON + np.asarray(x_m) / METRES_PER_DEG_LON


def to_lat(y_m: Any) -> Any:
    """Metres north of the origin to WGS84 latitude, degrees (scalars or arrays)."""
    return ORIGIN_LAT + np.asarray(y_m) / METRES_PER_DEG_LAT


def polygon_json(lons: Sequence[float], lats: Sequence[float]) -> str:
    """A closed GeoJSON Polygon from open rings of longitudes and latitudes, degrees."""
    ring = [f"[{lo:.7f}, {la:.7f}]" for lo, la in zip(lons, lats, strict=True)]
    ring.append(ring[0])
    return '{"type": "Polygon", "coordinates": [[' + ", ".join(ring) + "]]}"


def flight_rows(area: Area, plots_per_flight: list[int]) -> tuple[list[dict], list[dict]]:
    """Rows of the ``flights`` and ``jobs`` tables: one finished scan per flight."""
    flights: list[dict] = []
    jobs: list[dict] = []
    for i, count in enumerate(plots_per_flight):
        x0, y0 = area.flight_origin_m(i)
        lon0, lon1 = float(to_lon(x0)), float(to_lon(x0 + FLIGHT_SIZE_M))
        lat0, lat1 = float(to_lat(y0)), float(to_lat(y0 + FLIGHT_SIZE_M))
        captured = SEASON_START + timedelta(days=2 * i)
        finished = datetime.combine(captured + timedelta(days=1), datetime.min.time(), UTC)
        finished += timedelta(hours=10, minutes=i)
        size_px = round(FLIGHT_SIZE_M / GSD_M)
        flights.append(
            {
                "id": i + 1,
                "name": f"bench-{i:02d}",
                "filename": f"bench-{i:02d}.tif",
                "storage_path": f"flights/bench-{i:02d}.tif",
                "size_bytes": 3 * size_px * size_px // 4,
                "sha256": hashlib.sha256(f"api-load-flight-{i}".encode()).hexdigest(),
                "captured_on": captured,
                "area_name": "Bench valley",
                "pilot": "bench",
                "altitude_m": 80.0,
                "camera": "bench",
                "crs": "EPSG:32648",
                "gsd_m": GSD_M,
                "width_px": size_px,
                "height_px": size_px,
                "area_ha": FLIGHT_SIZE_M**2 / 1e4,
                "footprint_geojson": polygon_json(
                    [lon0, lon1, lon1, lon0], [lat0, lat0, lat1, lat1]
                ),
                "min_lon": lon0,
                "min_lat": lat0,
                "max_lon": lon1,
                "max_lat": lat1,
                "created_at": finished - timedelta(hours=2),
            }
        )
        tiles = (size_px // 512) ** 2
        jobs.append(
            {
                "id": i + 1,
                "flight_id": i + 1,
                "status": "done",
                "tiles_done": tiles,
                "tiles_total": tiles,
                "attempts": 1,
                "worker_id": "bench",
                "model_name": "poppyscan-default",
                "model_version": "0.1.0",
                "plots_found": count,
                "created_at": finished - timedelta(hours=2),
                "started_at": finished - timedelta(hours=1),
                "heartbeat_at": finished,
                "finished_at": finished,
            }
        )
    return flights, jobs


def plot_rows(
    area: Area,
    flight: int,
    count: int,
    first_id: int,
    first_detection: int,
    rng: np.random.Generator,
) -> tuple[list[dict], list[dict]]:
    """Rows of ``count`` plots of flight ``flight`` (0-based) and of their detections.

    Geometry is built in metres on the flight's square and converted to degrees; the bbox
    and centroid columns come from the same vertices as the GeoJSON.
    """
    x0, y0 = area.flight_origin_m(flight)
    radius = np.clip(rng.lognormal(math.log(5.0), 0.4, count), 2.0, 20.0)
    centres = rng.uniform(200, FLIGHT_SIZE_M - 200, (CLUSTERS_PER_FLIGHT, 2))
    clustered = rng.random(count) < 0.7
    near = centres[rng.integers(0, CLUSTERS_PER_FLIGHT, count)] + rng.normal(0, 120, (count, 2))
    scattered = rng.uniform(0, FLIGHT_SIZE_M, (count, 2))
    cxy = np.where(clustered[:, None], near, scattered)
    cxy = np.clip(cxy, radius[:, None] + 1, FLIGHT_SIZE_M - radius[:, None] - 1)
    angles = (
        rng.uniform(0, 2 * np.pi, (count, 1))
        + np.arange(VERTICES) * 2 * np.pi / VERTICES
        + rng.uniform(-0.3, 0.3, (count, VERTICES))
    )
    radii = radius[:, None] * rng.uniform(0.7, 1.2, (count, VERTICES))
    xs = x0 + cxy[:, :1] + radii * np.cos(angles)
    ys = y0 + cxy[:, 1:] + radii * np.sin(angles)
    area_m2 = 0.5 * np.abs(
        np.sum(xs * np.roll(ys, -1, axis=1) - np.roll(xs, -1, axis=1) * ys, axis=1)
    )
    lons, lats = to_lon(xs), to_lat(ys)
    cls = np.where(rng.random(count) < 0.8, "poppy", "cannabis")
    conf = 0.25 + 0.74 * rng.beta(2.0, 3.0, count)
    plants = rng.choice([1, 2, 3], count, p=[0.5, 0.3, 0.2])
    statuses = rng.choice(list(STATUS_SHARES), count, p=list(STATUS_SHARES.values()))
    units = rng.choice(UNITS, count)
    created = datetime.combine(SEASON_START + timedelta(days=2 * flight + 1), datetime.min.time())
    created = created.replace(tzinfo=UTC) + timedelta(hours=10, minutes=flight)
    ages = rng.uniform(0, 20 * 86_400, count)
    plots: list[dict] = []
    detections: list[dict] = []
    det_id = first_detection
    for k in range(count):
        status = str(statuses[k])
        in_field = status in FIELD_STATUSES or (status == "closed" and k % 2 == 0)
        plant_conf = [float(conf[k])] + [
            float(conf[k]) * float(rng.uniform(0.6, 1.0)) for _ in range(plants[k] - 1)
        ]
        plot_id = first_id + k
        updated = created + timedelta(seconds=float(ages[k])) if status != "new" else created
        plots.append(
            {
                "id": plot_id,
                "flight_id": flight + 1,
                "job_id": flight + 1,
                "seq": k + 1,
                "class_name": str(cls[k]),
                "status": status,
                "confidence": plant_conf[0],
                "mean_confidence": sum(plant_conf) / len(plant_conf),
                "plant_count": int(plants[k]),
                "area_m2": float(area_m2[k]),
                "centroid_lon": float(lons[k].mean()),
                "centroid_lat": float(lats[k].mean()),
                "min_lon": float(lons[k].min()),
                "min_lat": float(lats[k].min()),
                "max_lon": float(lons[k].max()),
                "max_lat": float(lats[k].max()),
                "geometry_geojson": polygon_json(lons[k].tolist(), lats[k].tolist()),
                "chip_path": f"chips/job-{flight + 1}/plot-{k + 1:05d}.jpg",
                "model_version": "0.1.0",
                "assigned_unit": str(units[k]) if in_field else "",
                "reported_plant_count": (
                    int(plants[k]) + k % 3 if status in {"positive", "eradicated"} else None
                ),
                "revisit_due": (
                    (updated + timedelta(days=30)).date() if status == "eradicated" else None
                ),
                "created_at": created,
                "updated_at": updated,
            }
        )
        cx, cy = float(cxy[k, 0]), float(cxy[k, 1])
        for c in plant_conf:
            px = x0 + cx + float(rng.uniform(-0.5, 0.5)) * float(radius[k])
            py = y0 + cy + float(rng.uniform(-0.5, 0.5)) * float(radius[k])
            half = 0.25
            box_x = [px - half, px + half, px + half, px - half]
            box_y = [py - half, py - half, py + half, py + half]
            col0 = (px - half - x0) / GSD_M
            row0 = (y0 + FLIGHT_SIZE_M - (py + half)) / GSD_M
            detections.append(
                {
                    "id": det_id,
                    "plot_id": plot_id,
                    "class_name": str(cls[k]),
                    "confidence": c,
                    "lon": float(to_lon(px)),
                    "lat": float(to_lat(py)),
                    "geometry_geojson": polygon_json(
                        to_lon(box_x).tolist(), to_lat(box_y).tolist()
                    ),
                    "col0_px": col0,
                    "row0_px": row0,
                    "col1_px": col0 + 2 * half / GSD_M,
                    "row1_px": row0 + 2 * half / GSD_M,
                }
            )
            det_id += 1
    return plots, detections


@dataclass(frozen=True)
class Built:
    """What :func:`build_database` put in the database."""

    plots: int
    detections: int
    flights: int
    seconds: float


def build_database(engine: Engine, area: Area, plots: int, seed: int) -> Built:
    """Migrate ``engine``'s database and bulk-insert the flights, jobs, plots, detections.

    Returns counts and the wall time of the whole build, seconds.
    """
    started = time.perf_counter()
    migrate(engine)
    rng = np.random.default_rng(seed)
    per_flight = [plots // area.flights] * area.flights
    per_flight[-1] += plots - sum(per_flight)
    flights, jobs = flight_rows(area, per_flight)
    detections_total = 0
    with engine.begin() as conn:
        conn.execute(insert(Flight), flights)
        conn.execute(insert(Job), jobs)
        next_plot, next_detection = 1, 1
        for flight, count in enumerate(per_flight):
            for start in range(0, count, BATCH_ROWS):
                n = min(BATCH_ROWS, count - start)
                plot_batch, det_batch = plot_rows(area, flight, n, next_plot, next_detection, rng)
                conn.execute(insert(Plot), plot_batch)
                conn.execute(insert(Detection), det_batch)
                next_plot += n
                next_detection += len(det_batch)
                detections_total += len(det_batch)
        if engine.dialect.name == "postgresql":  # explicit ids: move the sequences past them
            for table in ("flights", "jobs", "plots", "detections"):
                conn.execute(
                    text(
                        f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                        f"(SELECT max(id) FROM {table}))"
                    )
                )
    if engine.dialect.name == "postgresql":
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("ANALYZE"))
    return Built(plots, detections_total, area.flights, time.perf_counter() - started)


@contextmanager
def postgres_database(url: str) -> Iterator[str]:
    """Create the PostgreSQL database named in ``url``, yield ``url``, then drop it.

    Refuses a database that already exists: this script only drops what it created.
    """
    target = make_url(Settings(database_url=url).resolved_database_url())
    name = target.database
    if not name or not name.replace("_", "").isalnum():
        raise SystemExit(f"api_load: give a plain database name in the URL, not {name!r}")
    admin = create_engine(target.set(database="postgres"), isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            exists = conn.scalar(text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": name})
            if exists:
                raise SystemExit(
                    f"api_load: database {name!r} exists; drop it or name another one "
                    "(this script only drops databases it created)"
                )
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        try:
            yield url
        finally:
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        admin.dispose()
