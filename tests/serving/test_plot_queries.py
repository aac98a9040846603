"""The suspect list's bounding-box filter through each database's spatial index.

A grid of small square plots goes straight into a migrated database; every box query must
return exactly the plots a plain interval test finds, after inserts, a plot whose bounds
change and a deleted plot, so the SQLite R*Tree (kept by triggers) and PostgreSQL's GiST
index can never hide a plot from the map.
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterator

import pytest
from sqlalchemy import delete, update
from sqlalchemy.orm import Session

from serving.db import make_engine, migrate, session_factory
from serving.models import Flight, Job, Plot, User
from serving.plot_queries import count_plots, select_plots
from serving.schemas.plots import SuspectPage

ANALYST = User(username="ana", role="analyst", unit="")
SIDE = 0.0001  # plot square side, degrees (about 10 m)
Box = tuple[float, float, float, float]


def _square(lon: float, lat: float) -> dict[str, object]:
    ring = [[lon, lat], [lon + SIDE, lat], [lon + SIDE, lat + SIDE], [lon, lat + SIDE]]
    return {
        "geometry_geojson": json.dumps({"type": "Polygon", "coordinates": [[*ring, ring[0]]]}),
        "centroid_lon": lon + SIDE / 2,
        "centroid_lat": lat + SIDE / 2,
        "min_lon": lon,
        "min_lat": lat,
        "max_lon": lon + SIDE,
        "max_lat": lat + SIDE,
    }


@pytest.fixture
def session(db_url: str) -> Iterator[Session]:
    engine = make_engine(db_url)
    migrate(engine)
    with session_factory(engine)() as db:
        flight = Flight(
            name="grid", filename="grid.tif", storage_path="flights/grid.tif", size_bytes=1,
            sha256="0" * 64, gsd_m=0.03, width_px=1, height_px=1, area_ha=1.0,
            footprint_geojson="{}", min_lon=104.0, min_lat=20.0, max_lon=104.1, max_lat=20.1,
        )  # fmt: skip
        db.add(flight)
        db.flush()
        job = Job(flight_id=flight.id, status="done")
        db.add(job)
        db.flush()
        for seq in range(400):  # a 20 x 20 grid, 0.0003 degrees apart
            lon, lat = 104.0 + 0.0003 * (seq % 20), 20.0 + 0.0003 * (seq // 20)
            db.add(
                Plot(
                    flight_id=flight.id, job_id=job.id, seq=seq, class_name="poppy",
                    confidence=0.5 + (seq % 7) / 20, mean_confidence=0.5, plant_count=1,
                    area_m2=100.0, **_square(lon, lat),
                )
            )  # fmt: skip
        db.commit()
        yield db
    engine.dispose()


def _expected(db: Session, box: Box) -> set[int]:
    west, south, east, north = box
    return {
        p.id
        for p in db.query(Plot)
        if p.max_lon >= west and p.min_lon <= east and p.max_lat >= south and p.min_lat <= north
    }


def _found(db: Session, box: Box) -> set[int]:
    query = SuspectPage(bbox=",".join(repr(v) for v in box), limit=5000)
    ids = set(db.scalars(select_plots(ANALYST, query).with_only_columns(Plot.id)))
    assert count_plots(db, ANALYST, query) == len(ids)
    return ids


def _boxes(rng: random.Random) -> list[Box]:
    """Random views over the grid, plus views exactly touching one plot's edges."""
    boxes: list[Box] = [(104.0003, 20.0003, 104.0003, 20.0003)]  # a point on a corner
    boxes.append((104.0001, 20.0, 104.0002, 20.0001))  # touches plot 0's east edge only
    for _ in range(40):
        west, south = 103.999 + rng.random() * 0.007, 19.999 + rng.random() * 0.007
        boxes.append((west, south, west + rng.random() * 0.003, south + rng.random() * 0.003))
    return boxes


def test_box_filter_matches_a_plain_interval_test(session: Session) -> None:
    rng = random.Random(7)
    for box in _boxes(rng):
        assert _found(session, box) == _expected(session, box), box
    assert len(_found(session, (103.0, 19.0, 105.0, 21.0))) == 400


def test_the_index_follows_changed_and_deleted_plots(session: Session) -> None:
    moved, removed = session.scalars(select_plots(ANALYST, SuspectPage()).limit(2)).all()
    old_place = (moved.min_lon, moved.min_lat, moved.max_lon, moved.max_lat)
    session.execute(update(Plot).where(Plot.id == moved.id).values(**_square(110.0, 30.0)))
    session.execute(delete(Plot).where(Plot.id == removed.id))
    session.commit()
    assert moved.id not in _found(session, old_place)
    assert _found(session, (110.0, 30.0, 110.0 + SIDE, 30.0 + SIDE)) == {moved.id}
    assert removed.id not in _found(session, (103.0, 19.0, 105.0, 21.0))
    rng = random.Random(8)
    for box in _boxes(rng):
        assert _found(session, box) == _expected(session, box), box
