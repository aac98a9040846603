"""Patrol routes and dispatch sheets: order, distances, GPX/KML/HTML, access and errors.

Plots go into the database directly (Flight + Job + Plot rows). Unit 7's open field work —
four dispatched plots to verify at 100, 250, 400 and 600 m and one positive plot to
eradicate at 800 m — lies on the parallel 22° N east of the start point (105° E), inserted
out of order, so the best open route visits them west to east and its length is the sum of
the five geodesic legs between neighbours. Plots the unit has finished with (a false alarm,
an eradicated plot) and plots not yet dispatched are never on a route.
"""

from __future__ import annotations

import itertools
import math
import re
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from html import escape
from pathlib import Path

import cv2
import numpy as np
import pytest
from fastapi.testclient import TestClient
from pyproj import Geod
from servers import Server, add_people, database, make_settings

from serving.app import create_app
from serving.campaigns.dispatch import TASKS, BadStartPointError, Site, build_route
from serving.campaigns.route_exports import chip_data_uri, dms, render_dispatch_sheet
from serving.lifecycle import FIELD_STATUSES
from serving.models import Flight, Job, Plot

GEOD = Geod(ellps="WGS84")
GPX = "{http://www.topografix.com/GPX/1/1}"
KML = "{http://www.opengis.net/kml/2.2}"
START = (105.0, 22.0)  # lon, lat
# name -> (metres east of the start, unit, status, has chip); insertion (id) order.
PLOTS = {
    "c": (400.0, "Unit 7", "dispatched", True),
    "a": (100.0, "Unit 7", "dispatched", True),
    "e": (800.0, "Unit 7", "positive", False),
    "d": (600.0, "Unit 7", "dispatched", False),
    "b": (250.0, "Unit 7", "dispatched", False),
    "reviewed": (50.0, "", "suspect", False),
    "verified": (20.0, "Unit 7", "false_alarm", False),
    "done": (700.0, "Unit 7", "eradicated", False),
    "other": (300.0, "Unit 9", "dispatched", False),
}
ROUTE = ["a", "b", "c", "d", "e"]
TO_ERADICATE = "e"


def _east(metres: float) -> tuple[float, float]:
    lon, lat, _ = GEOD.fwd(START[0], START[1], 90.0, metres)
    return round(float(lon), 7), round(float(lat), 7)


def _path_m(points: list[tuple[float, float]]) -> float:
    return sum(GEOD.inv(*p, *q)[2] for p, q in itertools.pairwise(points))


def _seed(server: Server) -> dict[str, int]:
    """Insert a flight, a job and :data:`PLOTS` (chips as real JPEGs); name -> plot id."""
    root = server.settings.storage_root()
    chips = root / "chips" / "flight-1" / "job-1"
    chips.mkdir(parents=True, exist_ok=True)
    ids = {}
    with server.client.app.state.sessions() as session:  # type: ignore[attr-defined]
        flight = Flight(
            name="f",
            filename="f.tif",
            storage_path="flights/1/f.tif",
            size_bytes=1,
            sha256="0" * 64,
            gsd_m=0.03,
            width_px=100,
            height_px=100,
            area_ha=1.0,
            footprint_geojson="{}",
            min_lon=104.9,
            min_lat=21.9,
            max_lon=105.1,
            max_lat=22.1,
        )
        session.add(flight)
        session.flush()
        job = Job(flight_id=flight.id, status="done")
        session.add(job)
        session.flush()
        for seq, (name, (east_m, unit, status, chip)) in enumerate(PLOTS.items(), 1):
            lon, lat = _east(east_m)
            chip_path = ""
            if chip:
                image = np.full((48, 64, 3), (40, 160 + seq, 60), np.uint8)
                assert cv2.imwrite(str(chips / f"plot-{seq}.jpg"), image)
                chip_path = f"chips/flight-1/job-1/plot-{seq}.jpg"
            plot = Plot(
                flight_id=flight.id,
                job_id=job.id,
                seq=seq,
                class_name="poppy" if seq % 2 else "cannabis",
                status=status,
                confidence=0.5 + seq / 20,
                mean_confidence=0.5,
                plant_count=10 * seq,
                area_m2=12.5 * seq,
                centroid_lon=lon,
                centroid_lat=lat,
                min_lon=lon,
                min_lat=lat,
                max_lon=lon,
                max_lat=lat,
                geometry_geojson="{}",
                chip_path=chip_path,
                assigned_unit=unit,
                reported_plant_count=7 if status == "positive" else None,
            )
            session.add(plot)
            session.flush()
            ids[name] = plot.id
        session.commit()
    return ids


@dataclass
class Seeded:
    """One server per database for the whole module (the routes only read), its plots."""

    server: Server
    ids: dict[str, int]
    logins: dict[str, dict[str, str]]

    @property
    def client(self) -> TestClient:
        """The server's test client."""
        return self.server.client

    def headers(self, username: str) -> dict[str, str]:
        """Authorization header of one of the test people (each logs in once)."""
        if username not in self.logins:
            self.logins[username] = self.server.headers(username)
        return self.logins[username]


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def seeded(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Seeded]:
    """A server on each database with :data:`PLOTS` stored (built once: migrations are slow)."""
    tmp_path = tmp_path_factory.mktemp(f"routes-{request.param}")
    with database(request.param, tmp_path) as url:
        settings = make_settings(tmp_path, url)
        app = create_app(settings)
        add_people(settings)
        with TestClient(app) as client:
            server = Server(client, settings)
            yield Seeded(server, _seed(server), {})


def _query(**extra: object) -> dict[str, object]:
    return {"start_lon": START[0], "start_lat": START[1], **extra}


def _stop_html(sheet: str, plot_id: int) -> str:
    """The dispatch sheet's block of one stop."""
    start = sheet.index(f'id="plot-{plot_id}"')
    return sheet[start : sheet.index("</section>", start)]


def test_route_visits_unit_plots_in_the_shortest_order(seeded: Seeded) -> None:
    ids = seeded.ids
    response = seeded.client.post(
        "/api/routes", json={**_query(), "unit": "Unit 7"}, headers=seeded.headers("ana")
    )
    assert response.status_code == 200, response.text
    route = response.json()
    assert [s["plot_id"] for s in route["stops"]] == [ids[n] for n in ROUTE]
    assert [s["number"] for s in route["stops"]] == [1, 2, 3, 4, 5]
    points = [START, *(_east(PLOTS[n][0]) for n in ROUTE)]
    legs = [GEOD.inv(*p, *q)[2] for p, q in itertools.pairwise(points)]
    assert [s["leg_m"] for s in route["stops"]] == pytest.approx(legs, abs=0.01)
    assert [s["cumulative_m"] for s in route["stops"]] == pytest.approx(
        list(itertools.accumulate(legs)), abs=0.01
    )
    assert route["total_m"] == pytest.approx(_path_m(points), abs=0.01)
    assert route["total_m"] == pytest.approx(800.0, abs=0.05)  # all on one line
    best = min(
        _path_m([START, *(_east(PLOTS[n][0]) for n in p)]) for p in itertools.permutations(ROUTE)
    )
    assert route["total_m"] == pytest.approx(best, abs=0.01)
    assert route["count"] == 5 and route["unit"] == "Unit 7"
    assert [s["has_chip"] for s in route["stops"]] == [True, False, True, False, False]
    # Plots to verify and the positive plot to eradicate share one route.
    assert [s["status"] for s in route["stops"]] == [PLOTS[n][2] for n in ROUTE]
    assert [s["task"] for s in route["stops"]] == ["verify"] * 4 + ["eradicate"]
    assert route["exports"]["gpx"].startswith("/api/routes/Unit%207.gpx?start_lon=105.0")

    # A patrol routes its own unit without naming it; explicit ids route just those.
    own = seeded.client.post("/api/routes", json=_query(), headers=seeded.headers("pat"))
    assert [s["plot_id"] for s in own.json()["stops"]] == [ids[n] for n in ROUTE]
    some = seeded.client.post(
        "/api/routes",
        json={**_query(), "plot_ids": [ids["d"], ids["a"], ids["d"]]},
        headers=seeded.headers("admin"),
    )
    assert some.status_code == 200, some.text
    assert [s["plot_id"] for s in some.json()["stops"]] == [ids["a"], ids["d"]]
    assert some.json()["total_m"] == pytest.approx(_path_m([START, _east(100), _east(600)]))
    positive = seeded.client.post(
        "/api/routes",
        json={**_query(), "plot_ids": [ids[TO_ERADICATE]], "unit": "Unit 7"},
        headers=seeded.headers("pat"),
    )
    assert positive.status_code == 200, positive.text
    assert [s["task"] for s in positive.json()["stops"]] == ["eradicate"]


def test_a_route_holds_every_status_a_patrol_acts_on() -> None:
    assert set(FIELD_STATUSES) == {"dispatched", "positive"} == set(TASKS)


def test_gpx_kml_and_dispatch_sheet_follow_the_route(seeded: Seeded) -> None:
    ids = seeded.ids
    order = [ids[n] for n in ROUTE]
    points = [_east(PLOTS[n][0]) for n in ROUTE]
    headers = seeded.headers("pat")

    gpx = seeded.client.get("/api/routes/Unit 7.gpx", params=_query(), headers=headers)
    assert gpx.status_code == 200, gpx.text
    assert gpx.headers["content-type"].startswith("application/gpx+xml")
    assert "attachment" in gpx.headers["content-disposition"]
    root = ET.fromstring(gpx.content)
    assert root.tag == f"{GPX}gpx" and root.get("version") == "1.1"
    rtepts = root.findall(f"{GPX}rte/{GPX}rtept")
    assert [p.findtext(f"{GPX}name") for p in rtepts] == [
        "Start",
        *(f"{i:02d} Plot {pid}" for i, pid in enumerate(order, 1)),
    ]
    got = [float(p.get(axis, "nan")) for p in rtepts for axis in ("lon", "lat")]
    assert got == pytest.approx([v for point in (START, *points) for v in point])
    wpts = root.findall(f"{GPX}wpt")
    assert len(wpts) == 5
    by_name = {w.findtext(f"{GPX}name"): w for w in wpts}
    for i, (pid, (lon, lat)) in enumerate(zip(order, points, strict=True), 1):
        wpt = by_name[f"{i:02d} Plot {pid}"]
        assert float(wpt.get("lon", "nan")) == pytest.approx(lon)
        assert float(wpt.get("lat", "nan")) == pytest.approx(lat)
        assert "plant(s)" in (wpt.findtext(f"{GPX}desc") or "")
    tasks = [(w.findtext(f"{GPX}desc") or "").split(":")[0] for w in wpts]
    assert tasks == ["to verify"] * 4 + ["to eradicate"]
    # GPX 1.1 puts every wpt before the rte.
    assert [c.tag for c in root][-1] == f"{GPX}rte"
    subset = seeded.client.get(
        "/api/routes/Unit 7.gpx", params=_query(plot_id=[ids["d"], ids["a"]]), headers=headers
    )
    names = [w.findtext(f"{GPX}name") for w in ET.fromstring(subset.content).iter(f"{GPX}wpt")]
    assert names == [f"01 Plot {ids['a']}", f"02 Plot {ids['d']}"]

    kml = seeded.client.get("/api/routes/Unit 7.kml", params=_query(), headers=headers)
    assert kml.status_code == 200, kml.text
    doc = ET.fromstring(kml.content)
    coords = doc.findtext(f".//{KML}LineString/{KML}coordinates") or ""
    line = [float(v) for c in coords.split() for v in c.split(",")]
    assert line == pytest.approx([v for point in (START, *points) for v in point])
    names = [p.findtext(f"{KML}name") for p in doc.iter(f"{KML}Placemark")]
    assert names[2:] == [f"{i:02d} Plot {pid}" for i, pid in enumerate(order, 1)]
    kml_tasks = [
        d.findtext(f"{KML}value") for d in doc.iter(f"{KML}Data") if d.get("name") == "task"
    ]
    assert kml_tasks == ["verify"] * 4 + ["eradicate"]

    sheet = seeded.client.get("/api/routes/Unit 7.html", params=_query(), headers=headers)
    assert sheet.status_code == 200, sheet.text
    assert sheet.headers["content-type"].startswith("text/html")
    html = sheet.text
    positions = [html.index(f'id="plot-{pid}"') for pid in order]
    assert positions == sorted(positions)
    assert html.count('src="data:image/jpeg;base64,') == 2
    assert html.count("no evidence chip") == 3
    # Each stop offers the outcomes a patrol may report there.
    verify, eradicate = _stop_html(html, ids["a"]), _stop_html(html, ids[TO_ERADICATE])
    assert "Positive" in verify and "False alarm" in verify and "Eradicated" not in verify
    assert "Eradicated" in eradicate and "False alarm" not in eradicate
    assert "eradicate (confirmed positive)" in eradicate and "Plants (counted)" in eradicate
    assert "http://" not in html and "https://" not in html
    assert "@media print" in html and "Unit 7" in html
    assert f"{points[0][1]:.6f}, {points[0][0]:.6f}" in html
    assert escape(dms(START[1], "N", "S")) in html  # the start point in DMS


def test_only_analysts_admins_and_the_units_own_patrol_see_routes(seeded: Seeded) -> None:
    ids = seeded.ids
    url = "/api/routes/Unit 7.gpx"
    assert seeded.client.get(url, params=_query()).status_code == 401
    assert seeded.client.post("/api/routes", json={**_query(), "unit": "Unit 7"}).status_code == 401
    for who in ("pia", "rita"):
        assert (
            seeded.client.get(url, params=_query(), headers=seeded.headers(who)).status_code == 403
        )
    pete = seeded.headers("pete")  # patrol of Unit 9
    for suffix in ("gpx", "kml", "html"):
        other = seeded.client.get(f"/api/routes/Unit 7.{suffix}", params=_query(), headers=pete)
        assert other.status_code == 404, suffix
    by_ids = seeded.client.post(
        "/api/routes", json={**_query(), "plot_ids": [ids["a"]]}, headers=pete
    )
    assert by_ids.status_code == 404
    by_unit = seeded.client.post("/api/routes", json={**_query(), "unit": "Unit 7"}, headers=pete)
    assert by_unit.status_code == 404
    own = seeded.client.post("/api/routes", json=_query(), headers=pete)
    assert [s["plot_id"] for s in own.json()["stops"]] == [ids["other"]]
    for who in ("admin", "ana", "pat"):
        assert (
            seeded.client.get(url, params=_query(), headers=seeded.headers(who)).status_code == 200
        )


def test_bad_requests_are_refused_and_empty_units_get_empty_routes(seeded: Seeded) -> None:
    ids = seeded.ids
    ana = seeded.headers("ana")
    mixed = seeded.client.post(
        "/api/routes", json={**_query(), "plot_ids": [ids["a"], ids["reviewed"]]}, headers=ana
    )
    assert mixed.status_code == 409
    assert f"plot {ids['reviewed']} is suspect" in mixed.json()["detail"]
    for finished, status in (("verified", "false_alarm"), ("done", "eradicated")):
        visited = seeded.client.post(
            "/api/routes",
            json={**_query(), "plot_ids": [ids[finished]]},
            headers=seeded.headers("pat"),
        )
        assert visited.status_code == 409
        assert f"plot {ids[finished]} is {status}" in visited.json()["detail"]
    wrong_unit = seeded.client.post(
        "/api/routes", json={**_query(), "plot_ids": [ids["other"]], "unit": "Unit 7"}, headers=ana
    )
    assert wrong_unit.status_code == 409
    assert str(ids["other"]) in wrong_unit.json()["detail"]
    missing = seeded.client.post("/api/routes", json={**_query(), "plot_ids": [99999]}, headers=ana)
    assert missing.status_code == 404 and "99999" in missing.json()["detail"]
    nothing = seeded.client.post("/api/routes", json=_query(), headers=ana)
    assert nothing.status_code == 422

    for bad in ({"start_lon": 181.0}, {"start_lat": -90.5}, {"start_lon": "east"}):
        body = {**_query(), "unit": "Unit 7", **bad}
        assert seeded.client.post("/api/routes", json=body, headers=ana).status_code == 422
        get = seeded.client.get("/api/routes/Unit 7.kml", params={**_query(), **bad}, headers=ana)
        assert get.status_code == 422
    no_start = seeded.client.get("/api/routes/Unit 7.gpx", params={"start_lon": 105}, headers=ana)
    assert no_start.status_code == 422

    empty = seeded.client.post("/api/routes", json={**_query(), "unit": "Unit 3"}, headers=ana)
    assert empty.status_code == 200
    assert empty.json()["stops"] == [] and empty.json()["total_m"] == 0.0
    gpx = seeded.client.get("/api/routes/Unit 3.gpx", params=_query(), headers=ana)
    assert gpx.status_code == 200
    root = ET.fromstring(gpx.content)
    assert root.findall(f"{GPX}wpt") == [] and len(root.findall(f"{GPX}rte/{GPX}rtept")) == 1
    sheet = seeded.client.get("/api/routes/Unit 3.html", params=_query(), headers=ana)
    assert sheet.status_code == 200 and "No plots to verify or eradicate" in sheet.text


def _site(plot_id: int, lon: float, lat: float, **extra: object) -> Site:
    values: dict[str, object] = {
        "plot_id": plot_id,
        "flight_id": 1,
        "seq": plot_id,
        "class_name": "poppy",
        "unit": "Unit 7",
        "status": "dispatched",
        "lon": lon,
        "lat": lat,
        "area_m2": 10.0,
        "plant_count": 3,
        "confidence": 0.9,
        "chip_path": "",
    }
    values.update(extra)
    return Site(**values)  # type: ignore[arg-type]


def test_dms_rounds_and_names_hemispheres() -> None:
    assert dms(22.5042361, "N", "S") == "22°30'15.25\" N"
    assert dms(-105.9999999, "E", "W") == "106°00'00.00\" W"
    assert dms(0.0, "N", "S") == "0°00'00.00\" N"


def test_sheet_escapes_values_and_chips_stay_inside_storage(tmp_path: Path) -> None:
    (tmp_path / "secret.jpg").write_bytes(b"\xff\xd8\xff")
    storage = tmp_path / "storage"
    storage.mkdir()
    site = _site(1, 105.001, 22.0, class_name="<script>x</script>", chip_path="../secret.jpg")
    route = build_route(
        [site], 105.0, 22.0, unit="Unit <7> & co", planned_at=datetime(2025, 3, 1, tzinfo=UTC)
    )
    html = render_dispatch_sheet(route, storage)
    assert "<script>" not in html and "&lt;script&gt;" in html
    assert "Unit &lt;7&gt; &amp; co" in html and "2025-03-01" in html
    assert "chip file missing" in html and "data:image" not in html
    assert chip_data_uri(storage, "../secret.jpg") is None
    assert re.search(r"https?://", html) is None


def test_build_route_refuses_a_start_point_that_is_not_lon_lat() -> None:
    for lon, lat in ((200.0, 22.0), (105.0, 91.0), (math.nan, 22.0), (105.0, math.inf)):
        with pytest.raises(BadStartPointError):
            build_route([_site(1, 105.0, 22.0)], lon, lat)
    assert build_route([], 105.0, 22.0).total_m == 0.0
