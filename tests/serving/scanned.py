"""Real scan results in a test server's database.

Two small synthetic flights (``training.synthetic``) are scanned with the shipped default
model once per test session; each test that needs suspects stores them in its own
database the way the worker does — a flight, a finished job, and the plots, plants and
evidence chips of :func:`serving.results.store_scan_result`. Nothing here makes up a plot:
every plot, outline and chip comes from ``detector.scan``.

:func:`scanned_server` is a server with the flights stored that a test module's read-only
tests share (one per database kind), so they do not each pay for a fresh database.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient
from servers import Server, add_people, database, make_settings

from detector.card import sha256_of
from detector.georef import Georeferencer
from detector.scan import ScanResult, scan
from serving.app import create_app
from serving.config import Settings
from serving.db import make_engine, session_factory, transaction
from serving.models import Flight, Job
from serving.results import store_scan_result
from training.synthetic import generate_flight

# The default model's ground sample distance, metres per pixel: tiles are read unresampled.
GSD_M = 0.04


@dataclass(frozen=True)
class FlightSpec:
    """A synthetic flight: seed and size (pixels). These two hold plots of both classes."""

    name: str
    seed: int
    size_px: int


SPECS = (FlightSpec("north-field", 1, 1536), FlightSpec("river-bend", 3, 1536))


@dataclass(frozen=True)
class ScannedFlight:
    """A synthetic flight and what the default model found in it."""

    name: str
    raster: Path
    result: ScanResult


@dataclass(frozen=True)
class StoredFlight:
    """A scanned flight as stored in one test database.

    Attributes:
        flight_id: The ``flights`` row.
        job_id: The finished ``jobs`` row.
        scanned: The scan it came from.
        plot_ids: Database plot id by the scan's plot id (``Plot.seq``).
    """

    flight_id: int
    job_id: int
    scanned: ScannedFlight
    plot_ids: dict[int, int]


_scanned: list[ScannedFlight] = []


def scanned_flights(factory: pytest.TempPathFactory) -> list[ScannedFlight]:
    """The session's scanned flights, generated and scanned on first use (a few seconds)."""
    if not _scanned:
        base = factory.mktemp("scanned")
        for spec in SPECS:
            folder = base / spec.name
            flight = generate_flight(
                folder, seed=spec.seed, width_px=spec.size_px, height_px=spec.size_px, gsd_m=GSD_M
            )
            result = scan(flight.raster_path, chips_dir=folder / "chips")
            assert len(result.plots) >= 3, f"the default model found too little in {spec}"
            _scanned.append(ScannedFlight(spec.name, flight.raster_path, result))
    return _scanned


def _footprint(result: ScanResult) -> tuple[str, tuple[float, float, float, float]]:
    """The raster's outline as a WGS84 GeoJSON polygon, and its (w, s, e, n) bounds."""
    info = result.info
    cols = np.array([0, info.width_px, info.width_px, 0, 0], dtype=float)
    rows = np.array([0, 0, info.height_px, info.height_px, 0], dtype=float)
    lons, lats = Georeferencer(info).pixel_to_lonlat(cols[::-1], rows[::-1])
    ring = [[round(x, 7), round(y, 7)] for x, y in zip(lons.tolist(), lats.tolist(), strict=True)]
    geometry = json.dumps({"type": "Polygon", "coordinates": [ring]})
    return geometry, (min(lons), min(lats), max(lons), max(lats))


def store_flight(
    settings: Settings, scanned: ScannedFlight, found_at: datetime | None = None
) -> StoredFlight:
    """Store one scanned flight in ``settings``' database and storage, as a finished job.

    Args:
        settings: The test server's settings.
        scanned: The flight and its scan.
        found_at: When the job finished (the plots' ``created_at``), UTC; now when None.
    """
    result, info = scanned.result, scanned.result.info
    found_at = found_at or datetime.now(UTC)
    root = settings.storage_root()
    geometry, (west, south, east, north) = _footprint(result)
    engine = make_engine(settings.resolved_database_url())
    try:
        with transaction(session_factory(engine)) as session:
            flight = Flight(
                name=scanned.name,
                filename=scanned.raster.name,
                storage_path="",
                size_bytes=scanned.raster.stat().st_size,
                sha256=sha256_of(scanned.raster),
                captured_on=found_at.date(),
                area_name="synthetic",
                crs=info.crs_label,
                gsd_m=info.gsd_m,
                width_px=info.width_px,
                height_px=info.height_px,
                area_ha=info.width_px * info.height_px * info.gsd_m**2 / 1e4,
                footprint_geojson=geometry,
                min_lon=west,
                min_lat=south,
                max_lon=east,
                max_lat=north,
            )
            session.add(flight)
            session.flush()
            flight.storage_path = f"flights/{flight.id}/{scanned.raster.name}"
            _link(scanned.raster, root / flight.storage_path)
            prov = result.provenance
            job = Job(
                flight_id=flight.id,
                status="done",
                tiles_done=result.stats.tiles_total,
                tiles_total=result.stats.tiles_total,
                attempts=1,
                model_name=prov["model"]["name"],
                model_version=prov["model"]["version"],
                model_sha256=prov["model"]["sha256"],
                plots_found=len(result.plots),
                started_at=found_at,
                finished_at=found_at,
            )
            session.add(job)
            session.flush()
            chips = f"chips/flight-{flight.id}/job-{job.id}"
            plots = store_scan_result(session, job, result, root, chips)
            for plot in plots:
                plot.created_at = plot.updated_at = found_at
            stored = StoredFlight(flight.id, job.id, scanned, {p.seq: p.id for p in plots})
    finally:
        engine.dispose()
    return stored


def store_all(
    settings: Settings, factory: pytest.TempPathFactory, found_at: list[datetime] | None = None
) -> list[StoredFlight]:
    """Store every scanned flight (scanning them first if this session has not)."""
    flights = scanned_flights(factory)
    times = found_at or [datetime.now(UTC)] * len(flights)
    return [store_flight(settings, f, t) for f, t in zip(flights, times, strict=True)]


def _link(source: Path, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.link(source, target)
    except OSError:  # another file system
        shutil.copyfile(source, target)


@contextmanager
def scanned_server(
    kind: str, factory: pytest.TempPathFactory, found_at: list[datetime] | None = None
) -> Iterator[tuple[Server, list[StoredFlight]]]:
    """A server on a fresh ``kind`` database with the people and the scanned flights."""
    folder = factory.mktemp(f"server-{kind}")
    with database(kind, folder) as url:
        settings = make_settings(folder, url)
        app = create_app(settings)
        add_people(settings)
        stored = store_all(settings, factory, found_at)
        with TestClient(app) as client:
            yield Server(client, settings), stored
