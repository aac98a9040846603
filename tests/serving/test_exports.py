"""Exports: GeoJSON, KML, GPX and CSV of any filtered set of suspects and of an assignment.

The plots come from real scans (``scanned.py``); every export is parsed back and checked
against them. All tests read one shared server per database kind.
"""

from __future__ import annotations

import csv
import functools
import io
import json
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np
import pytest
from httpx import Response
from scanned import StoredFlight, scanned_server
from servers import Server

from detector.plots import Plot as ScanPlot

KML = "{http://www.opengis.net/kml/2.2}"
GPX = "{http://www.topografix.com/GPX/1/1}"
HERE = {"lon": 104.99854, "lat": 20.50732}
FORMATS = ("geojson", "kml", "gpx", "csv")
Login = Callable[[str], dict[str, str]]


@dataclass
class Shared:
    """A server with both flights stored and a patrol plan.

    Attributes:
        unit7: Unit 7's field work: one plot dispatched, one reported positive.
        unit9: Unit 9's: one plot dispatched.
        truth: Database plot id -> the scan's plot.
    """

    server: Server
    flights: list[StoredFlight]
    login: Login
    unit7: set[int]
    unit9: set[int]
    truth: dict[int, ScanPlot]


def _move(server: Server, login: Login, who: str, plot_id: int, to: str, **evidence: Any) -> None:
    response = server.client.post(
        f"/api/suspects/{plot_id}/transitions",
        json={"to_status": to, **evidence},
        headers=login(who),
    )
    assert response.status_code == 200, response.text


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def shared(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Shared]:
    with scanned_server(request.param, tmp_path_factory) as (server, flights):
        login = functools.cache(server.headers)
        first = sorted(flights[0].plot_ids.values())
        second = sorted(flights[1].plot_ids.values())
        plan = {first[0]: "Unit 7", first[1]: "Unit 7", second[0]: "Unit 9", second[1]: "Unit 9"}
        for plot_id, unit in plan.items():
            _move(server, login, "ana", plot_id, "suspect")
            _move(server, login, "ana", plot_id, "dispatched", assigned_unit=unit)
        _move(server, login, "pat", first[1], "positive", plant_count=12, **HERE)
        # Unit 9's second plot is done with: no longer field work.
        _move(server, login, "pete", second[1], "false_alarm", **HERE)
        truth = {f.plot_ids[p.plot_id]: p for f in flights for p in f.scanned.result.plots}
        yield Shared(server, flights, login, {first[0], first[1]}, {second[0]}, truth)


def _get(shared: Shared, path: str, who: str = "ana", **params: Any) -> Response:
    response = shared.server.client.get(path, params=params, headers=shared.login(who))
    assert response.status_code == 200, response.text
    return response


def _listed(shared: Shared, who: str = "ana", **params: Any) -> list[int]:
    """Plot ids of the suspect list for the same filters, in order."""
    return [f["id"] for f in _get(shared, "/api/suspects", who, **params).json()["features"]]


def _signed_area(ring: list[list[float]]) -> float:
    xs, ys = np.array(ring).T
    return 0.5 * float(np.sum(xs[:-1] * ys[1:] - xs[1:] * ys[:-1]))


def _ring(text: str) -> list[list[float]]:
    return [[float(v) for v in pos.split(",")] for pos in text.split()]


def test_geojson_export_is_rfc7946(shared: Shared) -> None:
    response = _get(shared, "/api/exports/suspects.geojson")
    assert response.headers["content-type"] == "application/geo+json"
    disposition = response.headers["content-disposition"]
    assert disposition.startswith('attachment; filename="suspects-') and disposition.endswith(
        '.geojson"'
    )
    data = response.json()
    assert data["type"] == "FeatureCollection" and "crs" not in data
    assert [f["id"] for f in data["features"]] == _listed(shared)
    assert {f["id"] for f in data["features"]} == set(shared.truth)
    for feature in data["features"]:
        plot = shared.truth[feature["id"]]
        assert feature["type"] == "Feature" and feature["geometry"]["type"] == "Polygon"
        (ring,) = feature["geometry"]["coordinates"]
        assert len(ring) >= 4 and ring[0] == ring[-1], "closed ring"
        assert all(len(position) == 2 for position in ring)
        assert _signed_area(ring) > 0, "counter-clockwise exterior"
        assert np.allclose(ring, plot.ring_lonlat, atol=1e-7), "lon, lat order"
        assert feature["properties"]["plant_count"] == plot.plant_count


def test_kml_has_one_placemark_per_plot_at_its_coordinates(shared: Shared) -> None:
    response = _get(shared, "/api/exports/suspects.kml")
    assert response.headers["content-type"] == "application/vnd.google-earth.kml+xml"
    root = ET.fromstring(response.content)
    assert root.tag == f"{KML}kml"
    placemarks = root.findall(f"{KML}Document/{KML}Placemark")
    assert len(placemarks) == len(shared.truth)
    listed = _get(shared, "/api/suspects").json()["features"]
    properties = {f["id"]: f["properties"] for f in listed}
    names = []
    for placemark in placemarks:
        names.append(placemark.findtext(f"{KML}name"))
        data = {
            d.get("name"): d.findtext(f"{KML}value")
            for d in placemark.findall(f"{KML}ExtendedData/{KML}Data")
        }
        plot_id = int(data["id"] or 0)
        plot = shared.truth[plot_id]
        point = placemark.findtext(f".//{KML}Point/{KML}coordinates") or ""
        lon, lat = (float(v) for v in point.split(","))
        assert (lon, lat) == pytest.approx((plot.centroid_lon, plot.centroid_lat), abs=1e-7)
        ring = _ring(placemark.findtext(f".//{KML}LinearRing/{KML}coordinates") or "")
        assert ring[0] == ring[-1] and np.allclose(ring, plot.ring_lonlat, atol=1e-7)
        assert placemark.findtext(f"{KML}styleUrl") == f"#{plot.class_name}"
        assert placemark.find(f"{KML}TimeStamp/{KML}when") is not None
        assert data["status"] == properties[plot_id]["status"]
        assert (data["assigned_unit"] or "") == properties[plot_id]["assigned_unit"]
    assert names == [f"Plot {f['id']}" for f in listed]


def test_gpx_has_one_waypoint_per_plot_with_name_desc_and_time(shared: Shared) -> None:
    response = _get(shared, "/api/exports/suspects.gpx")
    assert response.headers["content-type"] == "application/gpx+xml"
    root = ET.fromstring(response.content)
    assert root.tag == f"{GPX}gpx" and root.get("version") == "1.1"
    waypoints = root.findall(f"{GPX}wpt")
    assert len(waypoints) == len(shared.truth)
    for wpt, plot_id in zip(waypoints, _listed(shared), strict=True):
        plot = shared.truth[plot_id]
        assert float(wpt.get("lat", "nan")) == pytest.approx(plot.centroid_lat, abs=1e-7)
        assert float(wpt.get("lon", "nan")) == pytest.approx(plot.centroid_lon, abs=1e-7)
        assert wpt.findtext(f"{GPX}name") == f"Plot {plot_id}"
        desc = wpt.findtext(f"{GPX}desc") or ""
        assert plot.class_name in desc and f"{plot.plant_count} plant(s)" in desc
        when = datetime.fromisoformat(wpt.findtext(f"{GPX}time") or "")
        assert when.utcoffset() is not None and when.utcoffset().total_seconds() == 0
        # GPX 1.1 orders a waypoint's children: time, name, desc, ..., type.
        assert [child.tag.removeprefix(GPX) for child in wpt] == ["time", "name", "desc", "type"]


def test_csv_has_a_header_and_one_row_per_plot(shared: Shared) -> None:
    response = _get(shared, "/api/exports/suspects.csv")
    assert response.headers["content-type"].startswith("text/csv")
    reader = csv.DictReader(io.StringIO(response.text))
    rows = list(reader)
    assert reader.fieldnames is not None
    for column in ("id", "flight_id", "class_name", "status", "confidence", "plant_count"):
        assert column in reader.fieldnames
    assert [int(r["id"]) for r in rows] == _listed(shared)
    for row in rows:
        plot = shared.truth[int(row["id"])]
        assert int(row["plant_count"]) == plot.plant_count
        assert float(row["centroid_lon"]) == pytest.approx(plot.centroid_lon, abs=1e-7)
        assert float(row["centroid_lat"]) == pytest.approx(plot.centroid_lat, abs=1e-7)
        assert float(row["area_m2"]) == pytest.approx(plot.area_m2)
        assert float(row["min_lon"]) == min(x for x, _ in plot.ring_lonlat)


def _count(fmt: str, response: Response) -> int:
    if fmt == "geojson":
        return len(response.json()["features"])
    if fmt == "csv":
        return len(response.text.splitlines()) - 1
    root = ET.fromstring(response.content)
    return len(root.findall(f".//{KML}Placemark")) + len(root.findall(f"{GPX}wpt"))


def test_exports_take_the_suspect_filters(shared: Shared) -> None:
    first = shared.flights[0]
    some = next(iter(shared.unit7))
    west, south = (min(c) for c in zip(*shared.truth[some].ring_lonlat, strict=True))
    filters: list[dict[str, Any]] = [
        {"flight_id": first.flight_id},
        {"status": ["dispatched", "positive"]},
        {"bbox": f"{west},{south},{west + 1e-7},{south + 1e-7}"},
        {"min_confidence": 0.99, "class_name": "poppy"},
    ]
    for params in filters:
        listed = _listed(shared, **params)
        for fmt in FORMATS:
            response = _get(shared, f"/api/exports/suspects.{fmt}", **params)
            assert _count(fmt, response) == len(listed), (fmt, params)
    csv_ids = [
        int(r["id"])
        for r in csv.DictReader(
            io.StringIO(_get(shared, "/api/exports/suspects.csv", flight_id=first.flight_id).text)
        )
    ]
    assert set(csv_ids) == set(first.plot_ids.values())
    client, ana = shared.server.client, shared.login("ana")
    assert client.get("/api/exports/suspects.shp", headers=ana).status_code == 422
    assert client.get("/api/exports/suspects.csv?bbox=1,2,3", headers=ana).status_code == 422
    assert client.get("/api/exports/suspects.csv?bbox=0,91,1,92", headers=ana).status_code == 422
    assert client.get("/api/exports/suspects.gpx").status_code == 401
    assert client.get("/api/exports/suspects.gpx", headers=shared.login("pia")).status_code == 403
    # A patrol's export holds its own unit's plots and nothing else.
    pat = _get(shared, "/api/exports/suspects.geojson", "pat").json()
    assert {f["id"] for f in pat["features"]} == shared.unit7


def _waypoint_ids(response: Response) -> set[int]:
    root = ET.fromstring(response.content)
    return {
        int((w.findtext(f"{GPX}name") or "").removeprefix("Plot ")) for w in root.iter(f"{GPX}wpt")
    }


def test_assignment_is_the_units_open_field_work(shared: Shared) -> None:
    mine = _get(shared, "/api/exports/assignment.gpx", "pat")
    assert _waypoint_ids(mine) == shared.unit7
    assert 'filename="assignment-unit-7-' in mine.headers["content-disposition"]
    assert _waypoint_ids(_get(shared, "/api/exports/assignment.gpx", "pete")) == shared.unit9
    by_analyst = _get(shared, "/api/exports/assignment.gpx", "ana", unit="Unit 7")
    assert _waypoint_ids(by_analyst) == shared.unit7
    for fmt in FORMATS:
        response = _get(shared, f"/api/exports/assignment.{fmt}", "pat")
        assert _count(fmt, response) == len(shared.unit7), fmt
    kml = ET.fromstring(_get(shared, "/api/exports/assignment.kml", "admin", unit="Unit 9").content)
    statuses = [
        d.findtext(f"{KML}value") for d in kml.iter(f"{KML}Data") if d.get("name") == "status"
    ]
    assert statuses == ["dispatched"]
    client = shared.server.client
    assert client.get("/api/exports/assignment.gpx").status_code == 401
    for who in ("rita", "pia"):
        response = client.get("/api/exports/assignment.gpx", headers=shared.login(who))
        assert response.status_code == 403, who
    other = client.get(
        "/api/exports/assignment.gpx", params={"unit": "Unit 9"}, headers=shared.login("pat")
    )
    assert other.status_code == 403
    unnamed = client.get("/api/exports/assignment.gpx", headers=shared.login("ana"))
    assert unnamed.status_code == 422
    # A unit name cannot steer the download's file name anywhere.
    odd = _get(shared, "/api/exports/assignment.csv", "ana", unit='../../etc/"x\r\n')
    assert odd.text.splitlines()[1:] == []
    filename = odd.headers["content-disposition"].split('filename="', 1)[1].rstrip('"')
    assert filename.startswith("assignment-etc-x-") and "/" not in filename


def test_geojson_list_and_export_agree(shared: Shared) -> None:
    listed = _get(shared, "/api/suspects").json()["features"]
    exported = json.loads(_get(shared, "/api/exports/suspects.geojson").text)["features"]
    # The list adds what the asking user may do with each plot; a file carries plot data.
    assert all("allowed_moves" in f for f in listed)
    assert exported == [{k: v for k, v in f.items() if k != "allowed_moves"} for f in listed]
