"""The suspect list's bounding-box filter through each database's spatial index, and its
cached totals.

A grid of small square plots goes straight into a migrated database; every box query (with
and without a status filter) must return exactly the plots a plain test finds, after
inserts, a plot whose bounds or status change and a deleted plot, so the SQLite R*Tree
(bounds and status, kept by triggers) and PostgreSQL's GiST index can never hide a plot
from the map; a map view's page and total must be those of a plain ranking. The
cached totals must equal a fresh count after every kind of change.
"""

from __future__ import annotations

import importlib
import json
import random
from collections.abc import Iterator

import pytest
from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, delete, func, inspect, select, update
from sqlalchemy.orm import Session

from serving import lifecycle
from serving.auth import PATROL
from serving.db import MIGRATIONS_DIR, make_engine, migrate, session_factory
from serving.models import Campaign, Flight, Job, Plot, User
from serving.plot_counts import PlotCounts
from serving.plot_queries import RTREE_STATUS_CODES, count_plots, select_plots
from serving.revision_cache import revision_value
from serving.schemas.plots import SuspectPage
from serving.suspect_list import page_json

ANALYST = User(username="ana", role="analyst", unit="")
STATUSES = ("new", "suspect", "dispatched")
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
                    status=STATUSES[seq % 3],
                    confidence=0.5 + (seq % 7) / 20, mean_confidence=0.5, plant_count=1,
                    area_m2=100.0, **_square(lon, lat),
                )
            )  # fmt: skip
        db.commit()
        yield db
    engine.dispose()


def _expected(db: Session, box: Box, statuses: tuple[str, ...] = ()) -> set[int]:
    west, south, east, north = box
    return {
        p.id
        for p in db.query(Plot)
        if p.max_lon >= west
        and p.min_lon <= east
        and p.max_lat >= south
        and p.min_lat <= north
        and (not statuses or p.status in statuses)
    }


def _found(db: Session, box: Box, statuses: tuple[str, ...] = ()) -> set[int]:
    query = SuspectPage(bbox=",".join(repr(v) for v in box), status=list(statuses), limit=5000)
    ids = set(db.scalars(select_plots(ANALYST, query).with_only_columns(Plot.id)))
    assert count_plots(db, ANALYST, query) == len(ids)
    return ids


def _check_every_view(db: Session, rng: random.Random) -> None:
    for box in _boxes(rng):
        for statuses in ((), ("suspect",), ("new", "dispatched")):
            assert _found(db, box, statuses) == _expected(db, box, statuses), (box, statuses)


def _boxes(rng: random.Random) -> list[Box]:
    """Random views over the grid, plus views exactly touching one plot's edges."""
    boxes: list[Box] = [(104.0003, 20.0003, 104.0003, 20.0003)]  # a point on a corner
    boxes.append((104.0001, 20.0, 104.0002, 20.0001))  # touches plot 0's east edge only
    for _ in range(40):
        west, south = 103.999 + rng.random() * 0.007, 19.999 + rng.random() * 0.007
        boxes.append((west, south, west + rng.random() * 0.003, south + rng.random() * 0.003))
    return boxes


def test_box_filter_matches_a_plain_interval_test(session: Session) -> None:
    _check_every_view(session, random.Random(7))
    assert len(_found(session, (103.0, 19.0, 105.0, 21.0))) == 400


def test_the_index_follows_changed_and_deleted_plots(session: Session) -> None:
    moved, removed, reviewed = session.scalars(select_plots(ANALYST, SuspectPage()).limit(3))
    old_place = (moved.min_lon, moved.min_lat, moved.max_lon, moved.max_lat)
    session.execute(update(Plot).where(Plot.id == moved.id).values(**_square(110.0, 30.0)))
    session.execute(delete(Plot).where(Plot.id == removed.id))
    new_status = next(s for s in STATUSES if s != reviewed.status)
    session.execute(update(Plot).where(Plot.id == reviewed.id).values(status=new_status))
    session.commit()
    assert moved.id not in _found(session, old_place)
    assert _found(session, (110.0, 30.0, 110.0 + SIDE, 30.0 + SIDE)) == {moved.id}
    assert removed.id not in _found(session, (103.0, 19.0, 105.0, 21.0))
    assert reviewed.id in _found(session, (103.0, 19.0, 105.0, 21.0), (new_status,))
    _check_every_view(session, random.Random(8))


def test_cached_totals_follow_every_change(session: Session) -> None:
    counts = PlotCounts()
    pat = User(username="pat", role="patrol", unit="Unit 7")
    queries = [
        SuspectPage(),
        SuspectPage(status=["suspect"]),
        SuspectPage(bbox="104.0,20.0,104.001,20.001"),
        SuspectPage(campaign_id=1),
    ]

    def agree(expected_hits: int) -> None:
        before = counts.hits
        for user in (ANALYST, pat):
            for query in queries:
                revision = session.scalar(select(revision_value()))
                total = counts.total(session, user, query, revision)
                assert total == count_plots(session, user, query)
        assert counts.hits - before == expected_hits

    agree(0)  # first time: counted
    agree(2 * len(queries))  # nothing changed: every total reused
    plot = session.scalars(select_plots(ANALYST, SuspectPage()).limit(1)).one()
    session.execute(
        update(Plot).where(Plot.id == plot.id).values(status="suspect", assigned_unit="Unit 7")
    )
    session.commit()
    agree(0)
    campaign = Campaign(name="Valley 2026", year=2026)
    session.add(campaign)
    session.flush()
    session.execute(update(Flight).values(campaign_id=campaign.id))
    session.commit()
    agree(0)
    in_campaign = SuspectPage(campaign_id=campaign.id)
    assert (
        counts.total(session, ANALYST, in_campaign, session.scalar(select(revision_value()))) == 400
    )
    session.execute(delete(Plot).where(Plot.id == plot.id))
    session.commit()
    agree(0)
    agree(2 * len(queries))


def _check_view_pages(db: Session, boxes: list[Box], user: User = ANALYST, limit: int = 7) -> None:
    """Every page of every view (with and without status filters), and one past the end,
    holds the plots, order (confidence, then id) and total of a plain sort."""
    for box in boxes:
        for statuses in ((), ("suspect",), ("new", "dispatched")):
            inside = _expected(db, box, statuses)
            want = sorted(
                (p for p in db.query(Plot) if p.id in inside and _sees(user, p)),
                key=lambda p: (-p.confidence, p.id),
            )
            for offset in (*range(0, max(len(want), 1), limit), len(want) + 3):
                query = SuspectPage(
                    bbox=",".join(repr(v) for v in box),
                    status=list(statuses),
                    limit=limit,
                    offset=offset,
                )
                page = json.loads(page_json(db, user, query, PlotCounts(), None))
                assert [f["id"] for f in page["features"]] == [
                    p.id for p in want[offset : offset + limit]
                ], (box, statuses, offset)
                assert page["total"] == len(want) and page["count"] == len(page["features"])


def _sees(user: User, plot: Plot) -> bool:
    return user.role != PATROL or plot.assigned_unit == user.unit


def test_map_view_pages_and_totals_match_a_plain_ranking(session: Session) -> None:
    """A ``bbox`` page comes from one ranked pass with a window count (on SQLite inside the
    R*Tree, serving.view_ranking); its plots, their order and the total must be those of a
    plain sort, for an analyst and for a patrol (who is ranked from ``plots``)."""
    boxes = _boxes(random.Random(11))[:12]
    _check_view_pages(session, boxes)
    session.execute(update(Plot).where(Plot.seq % 5 == 0).values(assigned_unit="Unit 7"))
    session.commit()
    _check_view_pages(session, boxes[:4], User(username="pat", role="patrol", unit="Unit 7"))


def test_map_views_are_exact_where_the_rtree_rounds(session: Session) -> None:
    """The R*Tree keeps 32-bit bounds rounded outward (a box 8e-7 degrees west of a view
    was seen inside it) and 32-bit confidences: views whose edges pass within that rounding
    of a plot, and a confidence that changes, must still give the exact plots and order."""
    flight_id, job_id = session.execute(select(Plot.flight_id, Plot.job_id).limit(1)).one()
    west, east = 104.31095882633906, 104.31107420693539  # the plot seen misplaced
    south, north = 20.456696828093033, 20.456834269061286
    square = {**_square(west, south), "max_lon": east, "max_lat": north}
    for seq, status in ((1000, "suspect"), (1001, "new")):
        session.add(
            Plot(
                flight_id=flight_id, job_id=job_id, seq=seq, class_name="poppy",
                status=status, confidence=0.3, mean_confidence=0.3, plant_count=1,
                area_m2=1.0, **square,
            )
        )  # fmt: skip
    session.commit()
    tiny = 8e-7
    boxes: list[Box] = [
        (east + tiny, south, east + 0.01, north),  # just east of the plots: none
        (east, south, east + 0.01, north),  # touching their east edge: both
        (west - 0.01, north + tiny, west, north + 0.01),  # just north: none
        (west - 0.01, south - 0.01, west - tiny, south),  # just west: none
        (west - 0.01, south - 0.01, west, south),  # their south-west corner: both
    ]
    _check_view_pages(session, boxes, limit=1)
    session.execute(update(Plot).where(Plot.seq == 1001).values(confidence=0.99))
    session.commit()
    _check_view_pages(session, boxes, limit=1)


def test_rtree_status_codes_are_the_migrations() -> None:
    for name in ("0005_rtree_status", "0006_rtree_confidence"):
        migration = importlib.import_module(f"serving.migrations.versions.{name}")
        assert migration.STATUS_CODES == RTREE_STATUS_CODES == lifecycle.STATUSES, name


def _migrate_to(engine: Engine, verb: str, revision: str) -> None:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        getattr(command, verb)(config, revision)


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)  # PostgreSQL's GiST: unchanged
def test_rtree_status_migration_keeps_a_populated_database_whole(session: Session) -> None:
    """Migrations 0005 and 0006 rebuild SQLite's R*Tree from the plots already there, and
    their downgrades give back 0003's index of bounds alone, also whole."""
    engine = session.get_bind()
    assert isinstance(engine, Engine) and engine.dialect.name == "sqlite"
    session.rollback()
    _migrate_to(engine, "downgrade", "0004")
    with engine.connect() as connection:
        columns = [row[1] for row in connection.exec_driver_sql("PRAGMA table_info(plots_rtree)")]
        indexed = connection.exec_driver_sql("SELECT count(*) FROM plots_rtree").scalar()
    assert columns == ["id", "min_lon", "max_lon", "min_lat", "max_lat"] and indexed == 400
    _migrate_to(engine, "upgrade", "head")
    session.execute(update(Plot).where(Plot.seq == 0).values(status="positive"))
    session.commit()
    _check_every_view(session, random.Random(5))
    _check_view_pages(session, _boxes(random.Random(5))[:6])
    assert _found(session, (104.0, 20.0, 104.0001, 20.0001), ("positive",)) == {
        session.scalar(select(Plot.id).where(Plot.seq == 0))
    }


def test_flight_lookups_have_one_index(session: Session) -> None:
    """Migration 0007 leaves ``ix_plots_flight_conf`` alone to serve lookups by flight (a
    plain flight index beside it misled PostgreSQL's planner), and its downgrade restores
    the plain index."""
    engine = session.get_bind()
    assert isinstance(engine, Engine)
    session.rollback()

    def flight_indexes() -> set[str]:
        return {
            str(index["name"])
            for index in inspect(engine).get_indexes("plots")
            if index["column_names"][:1] == ["flight_id"]
        }

    assert flight_indexes() == {"ix_plots_flight_conf"}
    _migrate_to(engine, "downgrade", "0006")
    assert flight_indexes() == {"ix_plots_flight_conf", "ix_plots_flight_id"}
    _migrate_to(engine, "upgrade", "head")
    assert flight_indexes() == {"ix_plots_flight_conf"}
    flight_id = session.scalar(select(Plot.flight_id).limit(1))
    assert session.scalar(select(func.count()).where(Plot.flight_id == flight_id)) == 400
