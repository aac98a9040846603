"""Campaigns, grid import, coverage, revisits and rebound alerts through the HTTP API.

The synthetic campaign: 200 cells of 500 m (10 rows x 20 columns, UTM 48N) and 20 flights,
each covering one half-row of cells, except the last, which stops half-way through cell
G09-15. Flights over rows 8 and 9 belong to the flowering season, the rest to seedling.
By hand: for the campaign, 195 cells are surveyed and G09-15..G09-19 are not (G09-15 at 50 %);
for the seedling season only rows 0-7 (160 cells) are.
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
import shapely
from pyproj import Transformer
from servers import Server
from shapely.geometry import mapping
from sqlalchemy.orm import Session

from serving.campaigns.sample_grid import grid_units, write_grid
from serving.campaigns.survey import check_rebounds
from serving.db import make_engine, session_factory, transaction
from serving.models import AuditEvent, Flight, Job, Plot

UTM48N = "EPSG:32648"
ORIGIN = (500_000.0, 2_500_000.0)
CELL_M = 500.0
ROWS, COLS = 10, 20
_to_wgs84 = Transformer.from_crs(UTM48N, 4326, always_xy=True)


def _wgs84(geometry: shapely.Geometry) -> shapely.Geometry:
    return shapely.transform(
        geometry, lambda xy: np.column_stack(_to_wgs84.transform(xy[:, 0], xy[:, 1]))
    )


def _cell_box(row: int, col0: int, col1: float) -> shapely.Geometry:
    """Rows of cells from column ``col0`` to ``col1`` (exclusive, may be fractional), UTM."""
    x0, y0 = ORIGIN
    return shapely.box(
        x0 + col0 * CELL_M, y0 - (row + 1) * CELL_M, x0 + col1 * CELL_M, y0 - row * CELL_M
    )


def _add_flight(
    session: Session,
    footprint: shapely.Geometry,
    campaign_id: int | None,
    season_id: int | None,
    captured_on: date,
    name: str,
) -> Flight:
    # Real footprints trace the raster's mask with many vertices; a bare 5 km box edge would
    # become a chord in lon/lat, off the true edge by ~0.2 m.
    wgs = _wgs84(footprint.segmentize(10.0))
    min_lon, min_lat, max_lon, max_lat = wgs.bounds
    flight = Flight(
        name=name,
        filename=f"{name}.tif",
        storage_path=f"flights/{name}.tif",
        size_bytes=1,
        sha256=name.ljust(64, "0")[:64],
        captured_on=captured_on,
        crs=UTM48N,
        gsd_m=0.02,
        width_px=1,
        height_px=1,
        area_ha=wgs.area,
        footprint_geojson=json.dumps(mapping(wgs)),
        min_lon=min_lon,
        min_lat=min_lat,
        max_lon=max_lon,
        max_lat=max_lat,
        campaign_id=campaign_id,
        season_id=season_id,
    )
    session.add(flight)
    session.flush()
    session.add(Job(flight_id=flight.id, status="done"))
    return flight


def _sessions(server: Server):
    return session_factory(make_engine(server.settings.resolved_database_url()))


def _campaign(server: Server) -> dict:
    body = {
        "name": "Spring 2026",
        "year": 2026,
        "seasons": [
            {
                "name": "seedling",
                "stage": "seedling",
                "starts_on": "2026-03-01",
                "ends_on": "2026-04-15",
            },
            {
                "name": "flowering",
                "stage": "flowering",
                "starts_on": "2026-04-16",
                "ends_on": "2026-05-31",
            },
        ],
    }
    response = server.client.post("/api/campaigns", json=body, headers=server.headers("ana"))
    assert response.status_code == 201, response.text
    return response.json()


def _import_grid(server: Server, tmp_path: Path) -> dict:
    path = write_grid(tmp_path / "grid.geojson", grid_units(ROWS, COLS, CELL_M, ORIGIN), UTM48N)
    with path.open("rb") as f:
        response = server.client.post(
            "/api/grid", files={"file": ("grid.geojson", f)}, headers=server.headers("admin")
        )
    assert response.status_code == 200, response.text
    return response.json()


def test_campaign_coverage_matches_the_hand_computed_survey(server: Server, tmp_path: Path) -> None:
    campaign = _campaign(server)
    seedling, flowering = (s["id"] for s in campaign["seasons"])
    imported = _import_grid(server, tmp_path)
    assert imported["added"] == 1 + 15 + 50 + 200  # county, towns, villages, cells
    with transaction(_sessions(server)) as session:
        for row in range(ROWS):
            season = flowering if row >= 8 else seedling
            day = date(2026, 5, 1) if row >= 8 else date(2026, 3, 20)
            _add_flight(session, _cell_box(row, 0, 10), campaign["id"], season, day, f"r{row}a")
            right = 15.5 if row == ROWS - 1 else 20
            _add_flight(session, _cell_box(row, 10, right), campaign["id"], season, day, f"r{row}b")
        # A flight of no campaign over the gap does not count for this campaign.
        _add_flight(session, _cell_box(9, 15, 20), None, None, date(2026, 5, 2), "other")

    headers = server.headers("pia")  # pilots plan flights from the gaps
    got = server.client.get(f"/api/coverage?campaign_id={campaign['id']}", headers=headers).json()
    assert len(got["cells"]) == 200
    assert got["surveyed"] == 195
    assert got["unsurveyed"] == ["G09-15", "G09-16", "G09-17", "G09-18", "G09-19"]
    cells = {c["code"]: c for c in got["cells"]}
    assert cells["G09-15"]["share"] == pytest.approx(0.5, abs=1e-3)
    assert cells["G09-16"]["share"] == pytest.approx(0.0, abs=1e-4)
    assert cells["G04-07"]["share"] == pytest.approx(1.0, abs=1e-4)
    assert cells["G04-07"]["responsible"]["grid_worker"] == "Worker G04-07"
    assert cells["G04-07"]["parent_code"] == "V02-03"

    season = server.client.get(
        f"/api/coverage?campaign_id={campaign['id']}&season_id={seedling}", headers=headers
    ).json()
    assert season["surveyed"] == 160

    everything = server.client.get("/api/coverage", headers=headers).json()
    assert everything["surveyed"] == 200  # the campaign-less flight fills the gap

    gaps = server.client.get(f"/api/coverage/gaps?campaign_id={campaign['id']}", headers=headers)
    features = gaps.json()["features"]
    assert [f["id"] for f in features] == ["G09-15", "G09-16", "G09-17", "G09-18", "G09-19"]
    half = shapely.geometry.shape(features[0]["geometry"])
    cell = _wgs84(_cell_box(9, 15, 16))
    assert half.area == pytest.approx(cell.area / 2, rel=1e-3)


def test_flight_joins_the_season_of_its_capture_date(server: Server) -> None:
    campaign = _campaign(server)
    with transaction(_sessions(server)) as session:
        flight = _add_flight(session, _cell_box(0, 0, 1), None, None, date(2026, 5, 3), "f1")
        flight_id = flight.id
    response = server.client.post(
        f"/api/campaigns/{campaign['id']}/flights/{flight_id}",
        json={},
        headers=server.headers("pia"),
    )
    assert response.status_code == 200
    assert response.json()["season_id"] == campaign["seasons"][1]["id"]  # flowering
    wrong = server.client.post(
        f"/api/campaigns/{campaign['id']}/flights/{flight_id}",
        json={"season_id": 999},
        headers=server.headers("pia"),
    )
    assert wrong.status_code == 422


def test_roles_and_bad_input(server: Server, tmp_path: Path) -> None:
    body = {"name": "x", "year": 2026}
    assert (
        server.client.post("/api/campaigns", json=body, headers=server.headers("pia")).status_code
        == 403
    )
    assert server.client.get("/api/coverage", headers=server.headers("pat")).status_code == 403
    assert server.client.get("/api/coverage").status_code == 401
    assert server.client.get("/api/campaigns/999", headers=server.headers("ana")).status_code == 404
    backwards = {
        "name": "y",
        "year": 2026,
        "seasons": [
            {"name": "s", "stage": "seedling", "starts_on": "2026-05-01", "ends_on": "2026-04-01"}
        ],
    }
    assert (
        server.client.post(
            "/api/campaigns", json=backwards, headers=server.headers("ana")
        ).status_code
        == 422
    )
    # A grid with overlapping cells is refused as a whole, naming the cells; nothing imported.
    overlapping = {
        "type": "FeatureCollection",
        "features": [
            {
                "type": "Feature",
                "properties": {"code": code},
                "geometry": {
                    "type": "Polygon",
                    "coordinates": [[[x, 0], [x + 0.01, 0], [x + 0.01, 0.01], [x, 0.01], [x, 0]]],
                },
            }
            for code, x in (("a", 0.0), ("b", 0.005))
        ],
    }
    path = tmp_path / "bad.geojson"
    path.write_text(json.dumps(overlapping))
    with path.open("rb") as f:
        response = server.client.post(
            "/api/grid", files={"file": ("bad.geojson", f)}, headers=server.headers("admin")
        )
    assert response.status_code == 422
    assert "cells a and b overlap" in response.json()["detail"]
    assert server.client.get("/api/grid", headers=server.headers("ana")).json()["features"] == []
    with path.open("rb") as f:
        repaired = server.client.post(
            "/api/grid?repair=true",
            files={"file": ("bad.geojson", f)},
            headers=server.headers("admin"),
        )
    assert repaired.status_code == 200
    assert "overlap with a" in repaired.json()["repaired"]["b"]
    with path.open("rb") as f:
        wrong_type = server.client.post(
            "/api/grid", files={"file": ("grid.txt", f)}, headers=server.headers("admin")
        )
    assert wrong_type.status_code == 422


def _plot(
    session: Session, flight: Flight, job_id: int, seq: int, lon: float, lat: float, status: str
) -> Plot:
    ring = [[lon, lat], [lon + 1e-5, lat], [lon + 1e-5, lat + 1e-5], [lon, lat + 1e-5], [lon, lat]]
    plot = Plot(
        flight_id=flight.id,
        job_id=job_id,
        seq=seq,
        class_name="poppy",
        status=status,
        confidence=0.9,
        mean_confidence=0.8,
        plant_count=3,
        area_m2=1.0,
        centroid_lon=lon,
        centroid_lat=lat,
        min_lon=lon,
        min_lat=lat,
        max_lon=lon + 1e-5,
        max_lat=lat + 1e-5,
        geometry_geojson=json.dumps({"type": "Polygon", "coordinates": [ring]}),
        revisit_due=date(2026, 4, 20) if status == "eradicated" else None,
    )
    session.add(plot)
    session.flush()
    return plot


def test_revisits_and_rebound_alerts(server: Server) -> None:
    sessions = _sessions(server)
    lon, lat = _to_wgs84.transform(ORIGIN[0] + 250, ORIGIN[1] - 250)
    with transaction(sessions) as session:
        first = _add_flight(session, _cell_box(0, 0, 2), None, None, date(2026, 3, 10), "first")
        job = session.query(Job).filter_by(flight_id=first.id).one()
        erased = _plot(session, first, job.id, 1, lon, lat, "eradicated")
        session.add(
            AuditEvent(
                action="plot.transition",
                plot_id=erased.id,
                from_status="positive",
                to_status="eradicated",
                username="pat",
                at=datetime(2026, 3, 15, 9, tzinfo=UTC),
            )
        )
        erased_id = erased.id
    headers = server.headers("ana")
    due = server.client.get(
        "/api/revisits?due_by=2026-04-30&not_flown=true", headers=headers
    ).json()
    assert [r["plot_id"] for r in due] == [erased_id]
    assert due[0]["flown_by_flight_id"] is None

    with transaction(sessions) as session:
        later = _add_flight(session, _cell_box(0, 0, 1), None, None, date(2026, 4, 25), "later")
        job = session.query(Job).filter_by(flight_id=later.id).one()
        near = _plot(session, later, job.id, 1, lon, lat + 10 / 110_760, "new")  # ~10 m north
        far = _plot(session, later, job.id, 2, lon, lat + 200 / 110_760, "new")  # ~200 m
        alerts = check_rebounds(session, later, [near, far])
        assert [(a.plot_id, a.new_plot_id) for a in alerts] == [(erased_id, near.id)]
        later_id = later.id
    flown = server.client.get("/api/revisits", headers=headers).json()
    assert flown[0]["flown_by_flight_id"] == later_id
    assert server.client.get("/api/revisits?not_flown=true", headers=headers).json() == []
    rebounds = server.client.get("/api/rebounds?status=open", headers=headers).json()
    assert len(rebounds) == 1 and rebounds[0]["distance_m"] == pytest.approx(10, rel=0.02)
    checked = server.client.post(f"/api/rebounds/{rebounds[0]['id']}/check", headers=headers)
    assert checked.status_code == 200
    assert (
        server.client.post(f"/api/rebounds/{rebounds[0]['id']}/check", headers=headers).status_code
        == 409
    )
    assert server.client.get("/api/rebounds?status=open", headers=headers).json() == []


def test_revisit_due_date_follows_the_season_stage(server: Server) -> None:
    campaign = _campaign(server)
    seedling = campaign["seasons"][0]["id"]
    sessions = _sessions(server)
    lon, lat = _to_wgs84.transform(ORIGIN[0] + 250, ORIGIN[1] - 250)
    with transaction(sessions) as session:
        flight = _add_flight(
            session, _cell_box(0, 0, 1), campaign["id"], seedling, date(2026, 3, 9), "s"
        )
        job = session.query(Job).filter_by(flight_id=flight.id).one()
        plot_id = _plot(session, flight, job.id, 1, lon, lat, "new").id
    ana, pat = server.headers("ana"), server.headers("pat")
    here = {"lon": lon, "lat": lat}
    for headers, body in (
        (ana, {"to_status": "suspect"}),
        (ana, {"to_status": "dispatched", "assigned_unit": "Unit 7"}),
        (pat, {"to_status": "positive", "plant_count": 40, **here}),
        (pat, {"to_status": "eradicated", "plant_count": 40, **here}),
    ):
        response = server.client.post(
            f"/api/suspects/{plot_id}/transitions", json=body, headers=headers
        )
        assert response.status_code == 200, response.text
    due = server.client.get("/api/revisits", headers=ana).json()
    assert [r["plot_id"] for r in due] == [plot_id]
    eradicated_on = datetime.fromisoformat(due[0]["eradicated_at"]).date()
    # Seedling-stage plots are revisited after 21 days by default (settings.revisit_days).
    assert date.fromisoformat(due[0]["due"]) == eradicated_on + timedelta(days=21)


def test_cli_grid_import_and_its_errors(tmp_path: Path) -> None:
    import subprocess
    import sys

    grid = write_grid(tmp_path / "grid.geojson", grid_units(4, 4, CELL_M, ORIGIN), UTM48N)
    cmd = [sys.executable, "-m", "serving.cli", "grid", "import", "--data-dir", str(tmp_path / "d")]
    done = subprocess.run([*cmd, str(grid)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert (
        "imported 22 units (1 county, 1 town, 4 village, 16 cell): 22 new, 0 updated" in done.stdout
    )
    bowtie = tmp_path / "bad.geojson"
    bowtie.write_text(
        json.dumps(
            {
                "type": "FeatureCollection",
                "features": [
                    {
                        "type": "Feature",
                        "properties": {"code": "x"},
                        "geometry": {
                            "type": "Polygon",
                            "coordinates": [[[0, 0], [1, 1], [1, 0], [0, 1], [0, 0]]],
                        },
                    }
                ],
            }
        )
    )
    bad = subprocess.run([*cmd, str(bowtie)], capture_output=True, text=True, timeout=120)
    assert bad.returncode == 2
    assert bad.stderr.startswith("poppyscan: error:") and "Self-intersection" in bad.stderr
    assert "Traceback" not in bad.stderr
