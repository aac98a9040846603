"""Suspects: the GeoJSON list and its filters, evidence, the lifecycle, photos, the audit log.

Every plot here comes from a real scan of a synthetic flight (``scanned.py``). Read-only
tests share one server per database kind; tests that move plots get a fresh one.
"""

from __future__ import annotations

import functools
import hashlib
import io
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, get_args

import cv2
import numpy as np
import pytest
from httpx import Response
from PIL import Image, UnidentifiedImageError
from scanned import StoredFlight, scanned_server, store_all
from servers import Server
from sqlalchemy import select, text

from detector.plots import Plot as ScanPlot
from serving import lifecycle
from serving.db import make_engine, session_factory
from serving.models import Plot, User
from serving.photos import PhotoError, image_format, stored_file
from serving.routes.plots import INLINE_PAGE_LIMIT
from serving.schemas.plots import Status, SuspectsPublic

NOW = datetime.now(UTC)
# The first flight was scanned now, the second ten days ago.
FOUND_AT = [NOW, NOW - timedelta(days=10)]
HERE = {"lon": 104.99854, "lat": 20.50732}  # where a patrol stands (near the first flight)
Login = Callable[[str], dict[str, str]]


@dataclass
class Shared:
    """A server with both flights stored and a few plots moved along.

    Attributes:
        unit7: Dispatched to Unit 7 (pat's unit).
        unit9: Dispatched to Unit 9 (pete's unit).
        suspect: Reviewed as a suspect, not dispatched.
    """

    server: Server
    flights: list[StoredFlight]
    login: Login
    unit7: int
    unit9: int
    suspect: int


def _by_confidence(flight: StoredFlight) -> list[int]:
    """The flight's plot ids, most confident first (as the list orders them)."""
    plots = sorted(flight.scanned.result.plots, key=lambda p: (-p.max_confidence, p.plot_id))
    return [flight.plot_ids[p.plot_id] for p in plots]


def move(
    server: Server, login: Login, who: str, plot_id: int, to: str, **evidence: Any
) -> Response:
    """POST a transition as ``who``."""
    return server.client.post(
        f"/api/suspects/{plot_id}/transitions",
        json={"to_status": to, **evidence},
        headers=login(who),
    )


def walk(
    server: Server, login: Login, plot_id: int, *steps: tuple[str, str, dict[str, Any]]
) -> None:
    """Make each ``(who, to_status, evidence)`` move and insist it succeeds."""
    for who, to, evidence in steps:
        response = move(server, login, who, plot_id, to, **evidence)
        assert response.status_code == 200, (who, to, response.text)


def _dispatch(unit: str) -> tuple[tuple[str, str, dict[str, Any]], ...]:
    return (("ana", "suspect", {}), ("ana", "dispatched", {"assigned_unit": unit}))


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def shared(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Shared]:
    with scanned_server(request.param, tmp_path_factory, FOUND_AT) as (server, flights):
        login = functools.cache(server.headers)
        first, second = _by_confidence(flights[0]), _by_confidence(flights[1])
        walk(server, login, first[0], *_dispatch("Unit 7"))
        walk(server, login, second[0], *_dispatch("Unit 9"))
        walk(server, login, first[1], ("ana", "suspect", {}))
        yield Shared(server, flights, login, first[0], second[0], first[1])


@pytest.fixture
def login(server: Server) -> Login:
    return functools.cache(server.headers)


def _features(shared: Shared, who: str = "ana", **params: Any) -> dict[str, Any]:
    response = shared.server.client.get("/api/suspects", params=params, headers=shared.login(who))
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def _ids(collection: dict[str, Any]) -> set[int]:
    return {f["id"] for f in collection["features"]}


def _signed_area(ring: list[list[float]]) -> float:
    xs, ys = np.array(ring).T
    return 0.5 * float(np.sum(xs[:-1] * ys[1:] - xs[1:] * ys[:-1]))


def _scan_plots(shared: Shared) -> dict[int, ScanPlot]:
    """Database plot id -> the scan's plot it was stored from."""
    return {
        flight.plot_ids[p.plot_id]: p
        for flight in shared.flights
        for p in flight.scanned.result.plots
    }


# --- the list and its filters ---------------------------------------------------------------


def test_list_is_rfc7946_geojson_of_every_scanned_plot(shared: Shared) -> None:
    response = shared.server.client.get("/api/suspects", headers=shared.login("ana"))
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/geo+json")
    body = response.json()
    truth = _scan_plots(shared)
    assert body["type"] == "FeatureCollection"
    assert "crs" not in body, "RFC 7946: WGS84 lon/lat, no crs member"
    assert body["total"] == body["count"] == len(truth) >= 8
    assert _ids(body) == set(truth)
    confidences = [f["properties"]["confidence"] for f in body["features"]]
    assert confidences == sorted(confidences, reverse=True)
    for feature in body["features"]:
        assert feature["type"] == "Feature"
        scan_plot, props = truth[feature["id"]], feature["properties"]
        (ring,) = feature["geometry"]["coordinates"]
        assert feature["geometry"]["type"] == "Polygon"
        assert len(ring) >= 4 and ring[0] == ring[-1], "closed linear ring"
        assert _signed_area(ring) > 0, "exterior ring counter-clockwise"
        # Longitude first: the scan's own lon/lat ring, to the 7 stored decimals.
        assert np.allclose(ring, scan_plot.ring_lonlat, atol=1e-7)
        assert props["class_name"] == scan_plot.class_name
        assert props["plant_count"] == scan_plot.plant_count
        assert props["confidence"] == pytest.approx(scan_plot.max_confidence)
        assert props["area_m2"] == pytest.approx(scan_plot.area_m2)
        assert props["chip_url"] == f"/api/suspects/{feature['id']}/chip"
        assert props["created_at"].endswith("Z")
    statuses = {f["id"]: f["properties"]["status"] for f in body["features"]}
    assert statuses[shared.unit7] == statuses[shared.unit9] == "dispatched"
    assert statuses[shared.suspect] == "suspect"


def test_list_is_the_documented_model_and_agrees_with_the_detail(shared: Shared) -> None:
    """The list is encoded straight from table rows (serving.suspect_list); it must still be
    exactly the OpenAPI model, with the feature the detail endpoint gives each plot."""
    client, login = shared.server.client, shared.login
    for who in ("ana", "pat"):
        response = client.get("/api/suspects", params={"limit": 7}, headers=login(who))
        page = SuspectsPublic.model_validate_json(response.content)
        assert page.count == len(page.features) <= 7 and page.limit == 7
        for feature in response.json()["features"]:
            detail = client.get(f"/api/suspects/{feature['id']}", headers=login(who)).json()
            for member in ("type", "id", "geometry", "properties", "allowed_moves"):
                assert feature[member] == detail[member], (who, feature["id"], member)
    assert page.count >= 1, "pat sees Unit 7's plot"


def test_large_pages_answer_alike_from_a_worker_thread(shared: Shared) -> None:
    """On SQLite a page of up to INLINE_PAGE_LIMIT plots is built on the event loop and a
    larger one on a worker thread (PostgreSQL: always a thread); both give the same plots
    to the same people and refuse the same people."""
    client, login = shared.server.client, shared.login
    small, large = {"limit": INLINE_PAGE_LIMIT}, {"limit": INLINE_PAGE_LIMIT + 1}
    for who in ("ana", "pat"):
        inline = client.get("/api/suspects", params=small, headers=login(who)).json()
        threaded = client.get("/api/suspects", params=large, headers=login(who)).json()
        assert threaded["features"] == inline["features"], who
        assert threaded["limit"] == INLINE_PAGE_LIMIT + 1
        assert threaded["total"] == inline["total"] < INLINE_PAGE_LIMIT, who
    assert client.get("/api/suspects", params=large).status_code == 401
    assert client.get("/api/suspects", params=large, headers=login("pia")).status_code == 403


def _intersecting(
    truth: dict[int, ScanPlot], west: float, south: float, east: float, north: float
) -> set[int]:
    """Plot ids whose outline's bounding box meets the box (worked out from the scan)."""
    found = set()
    for plot_id, plot in truth.items():
        lons = [x for x, _ in plot.ring_lonlat]
        lats = [y for _, y in plot.ring_lonlat]
        if min(lons) <= east and max(lons) >= west and min(lats) <= north and max(lats) >= south:
            found.add(plot_id)
    return found


def test_filters_select_exactly_the_matching_plots(shared: Shared) -> None:
    truth = _scan_plots(shared)
    first, second = shared.flights
    assert _ids(_features(shared, flight_id=first.flight_id)) == set(first.plot_ids.values())
    for class_name in {p.class_name for p in truth.values()}:
        want = {i for i, p in truth.items() if p.class_name == class_name}
        assert _ids(_features(shared, class_name=class_name)) == want
    threshold = float(np.median([p.max_confidence for p in truth.values()]))
    want = {i for i, p in truth.items() if p.max_confidence >= threshold}
    assert _ids(_features(shared, min_confidence=threshold)) == want
    today, found_second = NOW.date(), FOUND_AT[1].date()
    assert _ids(_features(shared, since=str(today - timedelta(days=1)))) == set(
        first.plot_ids.values()
    )
    assert _ids(_features(shared, until=str(today - timedelta(days=5)))) == set(
        second.plot_ids.values()
    )
    one_day = _features(shared, since=str(found_second), until=str(found_second))
    assert _ids(one_day) == set(second.plot_ids.values())
    assert _ids(_features(shared, status="suspect")) == {shared.suspect}
    both = _features(shared, status=["suspect", "dispatched"])
    assert _ids(both) == {shared.suspect, shared.unit7, shared.unit9}
    assert _ids(_features(shared, assigned_unit="Unit 7")) == {shared.unit7}
    combined = _features(shared, flight_id=first.flight_id, status="dispatched")
    assert _ids(combined) == {shared.unit7}

    # Bounding boxes: a speck inside one plot, exactly touching one, around the first
    # flight, far away, and across the antimeridian.
    target = truth[shared.unit7]
    lon, lat = target.centroid_lon, target.centroid_lat
    speck = (lon - 1e-7, lat - 1e-7, lon + 1e-7, lat + 1e-7)
    east_edge = max(x for x, _ in target.ring_lonlat)
    touching = (east_edge, lat, east_edge + 1e-4, lat + 1e-6)
    lons_a = [x for p in first.scanned.result.plots for x, _ in p.ring_lonlat]
    lats_a = [y for p in first.scanned.result.plots for _, y in p.ring_lonlat]
    around = (min(lons_a), min(lats_a), max(lons_a), max(lats_a))
    for box in (speck, touching, around, (10.0, 10.0, 11.0, 11.0)):
        bbox = ",".join(repr(v) for v in box)
        want = _intersecting(truth, *box)
        assert _ids(_features(shared, bbox=bbox)) == want, bbox
    assert shared.unit7 in _intersecting(truth, *speck) and shared.unit7 in _intersecting(
        truth, *touching
    )
    assert set(first.plot_ids.values()) <= _intersecting(truth, *around)
    assert _ids(_features(shared, bbox="170,-90,-170,90")) == set()
    assert _ids(_features(shared, bbox="100,-90,-170,90")) == set(truth)

    everything = _features(shared)
    page = _features(shared, limit=2, offset=1)
    assert page["total"] == everything["total"] and page["count"] == 2
    assert [f["id"] for f in page["features"]] == [f["id"] for f in everything["features"][1:3]]


def test_campaign_and_season_filters_go_through_the_flights(shared: Shared) -> None:
    client, admin = shared.server.client, shared.login("admin")
    first, second = shared.flights
    seasons = [
        {"name": "early", "stage": "seedling", "starts_on": "2020-01-01", "ends_on": "2020-01-31"},
        {"name": "late", "stage": "capsule", "starts_on": "2020-02-01", "ends_on": "2020-02-28"},
    ]
    made = client.post(
        "/api/campaigns",
        json={"name": "Filter campaign", "year": 2020, "seasons": seasons},
        headers=admin,
    )
    assert made.status_code == 201, made.text
    campaign = made.json()
    early, late = (s["id"] for s in campaign["seasons"])
    empty = client.post(
        "/api/campaigns", json={"name": "Empty campaign", "year": 2020}, headers=admin
    ).json()
    for flight, season in ((first, early), (second, late)):
        url = f"/api/campaigns/{campaign['id']}/flights/{flight.flight_id}"
        assert client.post(url, json={"season_id": season}, headers=admin).status_code == 200
    everything = set(first.plot_ids.values()) | set(second.plot_ids.values())

    assert _ids(_features(shared, campaign_id=campaign["id"])) == everything
    assert _ids(_features(shared, season_id=early)) == set(first.plot_ids.values())
    assert _ids(_features(shared, campaign_id=campaign["id"], season_id=late)) == set(
        second.plot_ids.values()
    )
    assert _ids(
        _features(shared, campaign_id=campaign["id"], season_id=late, status="dispatched")
    ) == {shared.unit9}
    nothing = _features(shared, campaign_id=empty["id"])
    assert nothing["features"] == [] and nothing["total"] == 0
    assert _features(shared, campaign_id=999999)["total"] == 0
    assert _features(shared, campaign_id=empty["id"], season_id=early)["total"] == 0
    # A patrol still sees only its unit's plots within the campaign.
    assert _ids(_features(shared, "pat", campaign_id=campaign["id"])) == {shared.unit7}
    assert _features(shared, "pat", season_id=late)["total"] == 0

    # The exports take the same filters.
    geojson = client.get(
        "/api/exports/suspects.geojson", params={"season_id": early}, headers=admin
    )
    assert geojson.status_code == 200, geojson.text
    assert {f["id"] for f in geojson.json()["features"]} == set(first.plot_ids.values())
    csv_text = client.get(
        "/api/exports/suspects.csv",
        params={"campaign_id": campaign["id"], "season_id": late},
        headers=admin,
    ).text
    rows = csv_text.strip().splitlines()
    assert len(rows) == 1 + len(second.plot_ids)
    none = client.get(
        "/api/exports/suspects.geojson", params={"campaign_id": empty["id"]}, headers=admin
    )
    assert none.status_code == 200 and none.json()["features"] == []
    bad = client.get("/api/exports/suspects.kml", params={"campaign_id": "x"}, headers=admin)
    assert bad.status_code == 422


@pytest.mark.parametrize(
    "params",
    [
        {"bbox": "104,20,105"},
        {"bbox": "a,b,c,d"},
        {"bbox": "104,95,105,96"},
        {"bbox": "200,20,201,21"},
        {"bbox": "104,21,105,20"},
        {"bbox": "nan,20,105,21"},
        {"bbox": "104,20,inf,21"},
        {"min_confidence": "1.5"},
        {"status": "eaten"},
        {"since": "2026-13-01"},
        {"since": "2026-05-02", "until": "2026-05-01"},
        {"limit": "0"},
        {"flight_id": "one"},
        {"campaign_id": "spring"},
        {"season_id": "1.5"},
        {"stauts": "new"},
    ],
)
def test_malformed_filters_get_422(shared: Shared, params: dict[str, str]) -> None:
    response = shared.server.client.get("/api/suspects", params=params, headers=shared.login("ana"))
    assert response.status_code == 422, params


# --- one plot, its chip, who may see it ------------------------------------------------------


def test_detail_has_the_scans_plants_and_the_plots_history(shared: Shared) -> None:
    response = shared.server.client.get(
        f"/api/suspects/{shared.unit7}", headers=shared.login("ana")
    )
    assert response.status_code == 200
    body = response.json()
    scan_plot = _scan_plots(shared)[shared.unit7]
    assert body["type"] == "Feature" and body["id"] == shared.unit7
    assert len(body["detections"]) == scan_plot.plant_count
    assert sorted(d["confidence"] for d in body["detections"]) == pytest.approx(
        sorted(d.confidence for d in scan_plot.detections)
    )
    (ring,) = body["geometry"]["coordinates"]
    lons, lats = np.array(ring).T
    for plant in body["detections"]:
        # Every plant's centre lies within its plot's outline bounds.
        assert lons.min() - 1e-6 <= plant["lon"] <= lons.max() + 1e-6
        assert lats.min() - 1e-6 <= plant["lat"] <= lats.max() + 1e-6
    moves = [e for e in body["history"] if e["action"] == "plot.transition"]
    assert [(e["from_status"], e["to_status"]) for e in moves] == [
        ("new", "suspect"),
        ("suspect", "dispatched"),
    ]
    history = shared.server.client.get(
        f"/api/suspects/{shared.unit7}/history", headers=shared.login("pat")
    )
    assert history.status_code == 200 and history.json()["data"] == body["history"]


def _evidence_for(requires: list[str]) -> dict[str, Any]:
    """Request fields that give exactly the evidence named in ``requires``."""
    given: dict[str, Any] = {}
    if "assigned_unit" in requires:
        given["assigned_unit"] = "Unit 7"
    if "plant_count" in requires:
        given["plant_count"] = 5
    if "position" in requires:
        given |= {"lon": HERE["lon"], "lat": HERE["lat"]}
    return given


def test_allowed_moves_are_what_the_lifecycle_lets_this_user_do(shared: Shared) -> None:
    client, login = shared.server.client, shared.login
    people = {
        who: client.get("/api/auth/me", headers=login(who)).json()
        for who in ("admin", "ana", "pat", "pete", "rita")
    }
    seen = set()
    for who, me in people.items():
        listed = _features(shared, who)
        assert listed["features"] or me["role"] == "patrol"
        for feature in listed["features"]:
            props, moves = feature["properties"], feature["allowed_moves"]
            detail = client.get(f"/api/suspects/{feature['id']}", headers=login(who)).json()
            assert detail["allowed_moves"] == moves, (who, feature["id"])
            # Exactly the targets check() accepts from this user with the evidence named.
            accepted = []
            for target in lifecycle.next_statuses(props["status"]):
                rule = lifecycle.TRANSITIONS[(props["status"], target)]
                change = lifecycle.Change(target, **_evidence_for(sorted(rule.requires)))
                try:
                    lifecycle.check(
                        props["status"], props["assigned_unit"], me["role"], me["unit"], change
                    )
                except lifecycle.NotPermittedError:
                    continue
                accepted.append({"to_status": target, "requires": sorted(rule.requires)})
            assert moves == accepted, (who, props["status"])
            seen.add((who, props["status"], tuple(m["to_status"] for m in moves)))
    # The cases the UI relies on, spelled out.
    assert ("ana", "new", ("suspect", "dismissed")) in seen
    assert ("ana", "suspect", ("dismissed", "dispatched")) in seen
    assert ("ana", "dispatched", ()) in seen
    assert ("admin", "dispatched", ("positive", "false_alarm")) in seen
    assert ("pat", "dispatched", ("positive", "false_alarm")) in seen
    assert ("rita", "new", ()) in seen
    suspect = client.get(f"/api/suspects/{shared.suspect}", headers=login("ana")).json()
    assert suspect["allowed_moves"][1] == {"to_status": "dispatched", "requires": ["assigned_unit"]}
    report = client.get(f"/api/suspects/{shared.unit7}", headers=login("pat")).json()
    assert report["allowed_moves"] == [
        {"to_status": "positive", "requires": ["plant_count", "position"]},
        {"to_status": "false_alarm", "requires": ["position"]},
    ]
    # The suspect exports stay plain plot data: moves belong to whoever asked.
    exported = client.get("/api/exports/suspects.geojson", headers=login("ana")).json()
    assert all("allowed_moves" not in f for f in exported["features"])


def test_chip_is_the_scans_jpeg(shared: Shared) -> None:
    first = shared.flights[0]
    seq = next(s for s, i in first.plot_ids.items() if i == shared.unit7)
    response = shared.server.client.get(
        f"/api/suspects/{shared.unit7}/chip", headers=shared.login("pat")
    )
    assert response.status_code == 200
    assert response.headers["content-type"] == "image/jpeg"
    assert response.headers["cache-control"] == "private, max-age=86400"
    assert response.content[:3] == b"\xff\xd8\xff"
    assert response.content == first.scanned.result.chips[seq].read_bytes()
    image = cv2.imdecode(np.frombuffer(response.content, np.uint8), cv2.IMREAD_COLOR)
    assert image is not None and image.shape[2] == 3
    missing = shared.server.client.get("/api/suspects/999999/chip", headers=shared.login("ana"))
    assert missing.status_code == 404


def test_patrols_see_only_their_units_plots(shared: Shared) -> None:
    client, login = shared.server.client, shared.login
    mine = _features(shared, "pat")
    assert _ids(mine) == {shared.unit7} and mine["total"] == 1
    assert _ids(_features(shared, "pete")) == {shared.unit9}
    # Another unit's plot, an undispatched plot and a plot that does not exist all look alike.
    for plot_id in (shared.unit9, shared.suspect, 999999):
        for path in ("", "/chip", "/history", "/photos/1"):
            response = client.get(f"/api/suspects/{plot_id}{path}", headers=login("pat"))
            assert response.status_code == 404, (plot_id, path)
        report = move(shared.server, login, "pat", plot_id, "false_alarm", **HERE)
        assert report.status_code == 404
        photo = client.post(
            f"/api/suspects/{plot_id}/photos",
            files={"file": ("p.jpg", _jpeg(), "image/jpeg")},
            headers=login("pat"),
        )
        assert photo.status_code == 404
    assert client.get(f"/api/suspects/{shared.unit7}", headers=login("pat")).status_code == 200


def test_roles_and_tokens(shared: Shared) -> None:
    client, login, plot = shared.server.client, shared.login, shared.suspect
    endpoints = [
        ("get", "/api/suspects"),
        ("get", f"/api/suspects/{plot}"),
        ("get", f"/api/suspects/{plot}/chip"),
        ("get", f"/api/suspects/{plot}/history"),
        ("get", f"/api/suspects/{plot}/photos/1"),
        ("post", f"/api/suspects/{plot}/transitions"),
        ("post", f"/api/suspects/{plot}/photos"),
        ("get", "/api/audit"),
    ]
    for method, path in endpoints:
        assert client.request(method, path).status_code == 401, path
        forged = {"Authorization": "Bearer not-a-token"}
        assert client.request(method, path, headers=forged).status_code == 401, path
    # Pilots fly; they do not see suspects.
    for method, path in endpoints:
        assert client.request(method, path, headers=login("pia")).status_code == 403, path
    # Researchers read everything but change nothing; patrols and researchers cannot read
    # the audit log.
    assert client.get(f"/api/suspects/{plot}", headers=login("rita")).status_code == 200
    assert move(shared.server, login, "rita", plot, "dismissed").status_code == 403
    upload = client.post(
        f"/api/suspects/{plot}/photos",
        files={"file": ("p.jpg", _jpeg(), "image/jpeg")},
        headers=login("rita"),
    )
    assert upload.status_code == 403
    for who in ("rita", "pat"):
        assert client.get("/api/audit", headers=login(who)).status_code == 403
    # A valid move by the wrong role: analysts do not report from the field.
    refused = move(shared.server, login, "ana", shared.unit7, "positive", plant_count=3, **HERE)
    assert refused.status_code == 403 and "needs admin or patrol" in refused.json()["detail"]
    # Unknown ids.
    for path in ("/api/suspects/999999", "/api/suspects/999999/history"):
        assert client.get(path, headers=login("admin")).status_code == 404
    assert move(shared.server, login, "admin", 999999, "suspect").status_code == 404
    assert client.get("/api/suspects/not-a-number", headers=login("admin")).status_code == 422


# --- photos ----------------------------------------------------------------------------------


def _jpeg(seed: int = 0, fmt: str = ".jpg") -> bytes:
    pixels = np.random.default_rng(seed).integers(0, 255, (48, 64, 3), dtype=np.uint8)
    ok, encoded = cv2.imencode(fmt, pixels)
    assert ok
    return encoded.tobytes()


def test_photos_are_checked_images_named_by_content(
    shared: Shared, monkeypatch: pytest.MonkeyPatch
) -> None:
    client, login, plot = shared.server.client, shared.login, shared.unit7
    root = shared.server.settings.storage_root()
    folder = root / "photos" / str(plot)
    url = f"/api/suspects/{plot}/photos"

    def upload(data: bytes, name: str = "field.jpg", who: str = "pat") -> Response:
        return client.post(url, files={"file": (name, data, "image/jpeg")}, headers=login(who))

    jpeg, png = _jpeg(1), _jpeg(2, ".png")
    # A client file name that tries to escape is ignored: the name is the content's hash.
    first = upload(jpeg, name="../../../../evil.jpg")
    assert first.status_code == 201, first.text
    photo = first.json()
    sha = hashlib.sha256(jpeg).hexdigest()
    assert photo["sha256"] == sha and photo["content_type"] == "image/jpeg"
    assert (folder / f"{sha}.jpg").read_bytes() == jpeg
    assert not list(root.parent.rglob("*evil*"))
    # The format comes from the bytes, not from the claimed content type.
    second = upload(png, name="no-extension")
    assert second.status_code == 201 and second.json()["content_type"] == "image/png"
    again = upload(jpeg)
    assert again.json()["id"] == photo["id"], "the same bytes are the same photo"
    fetched = client.get(photo["url"], headers=login("ana"))
    assert fetched.status_code == 200 and fetched.content == jpeg
    assert fetched.headers["content-type"] == "image/jpeg"
    assert fetched.headers["cache-control"] == "private, max-age=86400"
    kept = sorted(p.name for p in folder.iterdir())
    assert kept == sorted([f"{sha}.jpg", f"{hashlib.sha256(png).hexdigest()}.png"])

    gif = io.BytesIO()
    Image.new("RGB", (8, 8), (200, 30, 30)).save(gif, format="GIF")
    for bad in (b"these are field notes, not pixels", jpeg[: len(jpeg) // 2], gif.getvalue(), b""):
        response = upload(bad)
        assert response.status_code == 422, response.text
    monkeypatch.setattr(shared.server.settings, "max_photo_bytes", 100)
    assert upload(_jpeg(3)).status_code == 413
    assert sorted(p.name for p in folder.iterdir()) == kept, "nothing left by refused uploads"

    detail = client.get(f"/api/suspects/{plot}", headers=login("pat")).json()
    assert {p["id"] for p in detail["photos"]} == {photo["id"], second.json()["id"]}
    wrong_plot = client.get(
        f"/api/suspects/{shared.unit9}/photos/{photo['id']}", headers=login("ana")
    )
    assert wrong_plot.status_code == 404
    assert client.get(f"{url}/999999", headers=login("ana")).status_code == 404


# --- the lifecycle ---------------------------------------------------------------------------


def test_lifecycle_table_is_consistent() -> None:
    assert set(lifecycle.STATUSES) == set(get_args(Status))
    reachable, frontier = {"new"}, ["new"]
    while frontier:
        for target in lifecycle.next_statuses(frontier.pop()):
            if target not in reachable:
                reachable.add(target)
                frontier.append(target)
    assert reachable == set(lifecycle.STATUSES)
    assert lifecycle.next_statuses("closed") == ()
    report = lifecycle.Change("positive", plant_count=4, lon=104.9, lat=20.5)
    assert lifecycle.check("dispatched", "Unit 7", "patrol", "Unit 7", report).target == "positive"
    assert lifecycle.check("dispatched", "Unit 7", "admin", "", report).target == "positive"
    for role, unit in (("patrol", "Unit 9"), ("patrol", ""), ("analyst", "")):
        with pytest.raises(lifecycle.NotPermittedError):
            lifecycle.check("dispatched", "Unit 7", role, unit, report)
        assert lifecycle.allowed_moves("dispatched", "Unit 7", role, unit) == ()
    assert [
        r.target for r in lifecycle.allowed_moves("dispatched", "Unit 7", "patrol", "Unit 7")
    ] == [
        "positive",
        "false_alarm",
    ]
    assert [r.target for r in lifecycle.allowed_moves("positive", "Unit 7", "admin", "")] == [
        "eradicated"
    ]
    assert lifecycle.allowed_moves("closed", "", "admin", "") == ()
    assert lifecycle.FIELD_STATUSES == ("dispatched", "positive")


def test_lifecycle_walk_by_the_right_roles_is_audited(
    server: Server, login: Login, tmp_path_factory: pytest.TempPathFactory
) -> None:
    flights = store_all(server.settings, tmp_path_factory)
    found, dismissed_one, false_one = _by_confidence(flights[0])[:3]
    client = server.client
    started = datetime.now(UTC)

    walk(server, login, found, ("ana", "suspect", {"note": "rows of rosettes"}))
    walk(server, login, found, ("ana", "dispatched", {"assigned_unit": "Unit 7", "note": "go"}))
    photo_files = {"file": ("a.jpg", _jpeg(5), "image/jpeg")}
    photo = client.post(f"/api/suspects/{found}/photos", files=photo_files, headers=login("pat"))
    assert photo.status_code == 201
    photo_id = photo.json()["id"]
    report = move(
        server,
        login,
        "pat",
        found,
        "positive",
        plant_count=120,
        photo_ids=[photo_id],
        note="poppy",
        **HERE,
    )
    assert report.status_code == 200
    props = report.json()["properties"]
    assert props["status"] == "positive" and props["reported_plant_count"] == 120
    assert report.json()["allowed_moves"] == [
        {"to_status": "eradicated", "requires": ["plant_count", "position"]}
    ]
    erad = move(
        server, login, "pat", found, "eradicated", plant_count=118, lon=104.99855, lat=20.50733
    )
    assert erad.status_code == 200
    walk(server, login, found, ("ana", "closed", {"note": "done"}))
    finished = datetime.now(UTC)

    walk(
        server,
        login,
        dismissed_one,
        ("ana", "dismissed", {"note": "a garden"}),
        ("ana", "suspect", {"note": "second look: poppy"}),
        ("admin", "dismissed", {}),
        ("admin", "closed", {}),
    )
    walk(
        server,
        login,
        false_one,
        ("admin", "suspect", {}),
        ("admin", "dispatched", {"assigned_unit": "Unit 9"}),
        ("pete", "false_alarm", {"note": "tomatoes", **HERE}),
        ("ana", "closed", {}),
    )

    detail = client.get(f"/api/suspects/{found}", headers=login("pat")).json()
    assert detail["properties"]["status"] == "closed"
    assert detail["properties"]["reported_plant_count"] == 118
    history = [e for e in detail["history"] if e["action"] == "plot.transition"]
    assert [(e["username"], e["from_status"], e["to_status"]) for e in history] == [
        ("ana", "new", "suspect"),
        ("ana", "suspect", "dispatched"),
        ("pat", "dispatched", "positive"),
        ("pat", "positive", "eradicated"),
        ("ana", "eradicated", "closed"),
    ]
    for event in history:
        at = datetime.fromisoformat(event["at"])
        assert started - timedelta(seconds=1) <= at <= finished + timedelta(seconds=1)
    assert history[0]["details"]["note"] == "rows of rosettes" and history[0]["lon"] is None
    assert history[1]["details"]["assigned_unit"] == "Unit 7"
    positive, eradicated = history[2], history[3]
    assert (positive["lon"], positive["lat"]) == (HERE["lon"], HERE["lat"])
    assert positive["details"] == {"note": "poppy", "photo_ids": [photo_id], "plant_count": 120}
    assert (eradicated["lon"], eradicated["lat"]) == (104.99855, 20.50733)
    assert eradicated["details"]["plant_count"] == 118
    revisit = datetime.fromisoformat(eradicated["at"]).date() + timedelta(days=30)
    assert eradicated["details"]["revisit_due"] == revisit.isoformat()
    assert detail["properties"]["revisit_due"] == revisit.isoformat()
    photo_events = [e for e in detail["history"] if e["action"] == "plot.photo"]
    assert [(e["username"], e["details"]["photo_id"]) for e in photo_events] == [("pat", photo_id)]

    statuses = {
        i: client.get(f"/api/suspects/{i}", headers=login("ana")).json()["properties"]["status"]
        for i in (dismissed_one, false_one)
    }
    assert statuses == {dismissed_one: "closed", false_one: "closed"}
    audit = client.get(
        "/api/audit",
        params={"username": "pat", "action": "plot.transition"},
        headers=login("admin"),
    ).json()
    assert [(e["plot_id"], e["to_status"]) for e in audit["data"]] == [
        (found, "positive"),
        (found, "eradicated"),
    ]
    pete = client.get("/api/audit", params={"username": "pete"}, headers=login("ana")).json()
    assert [(e["plot_id"], e["to_status"], e["details"]["note"]) for e in pete["data"]] == [
        (false_one, "false_alarm", "tomatoes")
    ]
    later = client.get(
        "/api/audit", params={"since": finished.isoformat()}, headers=login("ana")
    ).json()
    assert {e["plot_id"] for e in later["data"]} <= {dismissed_one, false_one}
    assert later["count"] == 8


def _snapshot(server: Server) -> tuple[list[tuple[Any, ...]], int]:
    """Every plot's lifecycle columns, and the number of audit records."""
    engine = make_engine(server.settings.resolved_database_url())
    try:
        with engine.connect() as connection:
            plots = connection.execute(
                text(
                    "SELECT id, status, assigned_unit, reported_plant_count, revisit_due, "
                    "updated_at FROM plots ORDER BY id"
                )
            ).all()
            events = connection.execute(text("SELECT count(*) FROM audit_events")).scalar_one()
    finally:
        engine.dispose()
    return [tuple(row) for row in plots], int(events)


def test_kept_pages_follow_every_change(
    server: Server, login: Login, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """The list keeps encoded pages per query and user (serving.plot_counts): a repeated
    page comes from the cache, yet every move shows at once, and each role gets its own
    ``allowed_moves``."""
    flights = store_all(server.settings, tmp_path_factory)
    first = _by_confidence(flights[0])[0]
    pages = server.client.app.state.suspect_pages  # type: ignore[attr-defined]
    params = {"flight_id": flights[0].flight_id, "limit": 3}

    def page(who: str) -> dict[str, Any]:
        response = server.client.get("/api/suspects", params=params, headers=login(who))
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    def moves_of_first(who: str) -> list[str]:
        feature = next(f for f in page(who)["features"] if f["id"] == first)
        return [m["to_status"] for m in feature["allowed_moves"]]

    before = page("ana")
    hits = pages.hits
    assert page("ana") == before and pages.hits == hits + 1
    assert before["features"][0]["properties"]["status"] == "new"
    walk(server, login, first, ("ana", "suspect", {"note": "rows of rosettes"}))
    after = page("ana")
    assert after["features"][0]["properties"]["status"] == "suspect"
    assert after["total"] == before["total"]
    # Same query, other people: their own moves, not the analyst's page.
    assert "dispatched" in moves_of_first("ana")
    assert moves_of_first("rita") == []  # a researcher reads, never moves
    walk(server, login, first, ("ana", "dispatched", {"assigned_unit": "Unit 7"}))
    assert page("pat")["total"] >= 1 and page("pete")["total"] == 0


def test_refused_moves_change_nothing(
    server: Server, login: Login, tmp_path_factory: pytest.TempPathFactory
) -> None:
    flights = store_all(server.settings, tmp_path_factory)
    ids = _by_confidence(flights[0]) + _by_confidence(flights[1])
    to_unit7 = (("admin", "suspect", {}), ("admin", "dispatched", {"assigned_unit": "Unit 7"}))
    positive = ("admin", "positive", {"plant_count": 5, **HERE})
    paths: dict[str, tuple[tuple[str, str, dict[str, Any]], ...]] = {
        "new": (),
        "suspect": (("ana", "suspect", {}),),
        "dismissed": (("ana", "dismissed", {}),),
        "dispatched": to_unit7,
        "positive": (*to_unit7, positive),
        "false_alarm": (*to_unit7, ("admin", "false_alarm", HERE)),
        "eradicated": (*to_unit7, positive, ("admin", "eradicated", {"plant_count": 5, **HERE})),
        "closed": (("ana", "dismissed", {}), ("ana", "closed", {})),
    }
    plot_in = dict(zip(paths, ids, strict=False))
    for status, steps in paths.items():
        walk(server, login, plot_in[status], *steps)
    before = _snapshot(server)

    # Every move the table does not have: 409, whoever asks (admins may do anything else).
    for status, plot_id in plot_in.items():
        allowed = set(lifecycle.next_statuses(status))
        for target in lifecycle.STATUSES:
            if target not in allowed:
                response = move(server, login, "admin", plot_id, target)
                assert response.status_code == 409, (status, target, response.text)
                assert f"a {status} plot cannot become {target}" in response.json()["detail"]
    # Moves the table has, refused for the role (403) or the evidence (422).
    suspect, dispatched = plot_in["suspect"], plot_in["dispatched"]
    refused = [
        (403, "rita", suspect, "dismissed", {}),
        (403, "ana", dispatched, "false_alarm", HERE),
        (422, "ana", suspect, "dispatched", {}),
        (422, "ana", suspect, "dispatched", {"assigned_unit": "Unit 42"}),
        (422, "ana", suspect, "dispatched", {"assigned_unit": "Drone team 1"}),
        (422, "ana", suspect, "dismissed", {"plant_count": 3}),
        (422, "ana", suspect, "dismissed", {"assigned_unit": "Unit 7"}),
        (422, "pat", dispatched, "positive", HERE),
        (422, "pat", dispatched, "positive", {"plant_count": 40}),
        (422, "pat", dispatched, "false_alarm", {}),
        (422, "pat", dispatched, "false_alarm", {"plant_count": 0, **HERE}),
        (422, "pat", dispatched, "false_alarm", {"photo_ids": [999999], **HERE}),
        (422, "pat", dispatched, "false_alarm", {"lon": 104.9}),
        (422, "pat", dispatched, "false_alarm", {"lon": 204.9, "lat": 20.5}),
        (422, "pat", dispatched, "false_alarm", {"lon": 104.9, "lat": -91}),
        (422, "pat", dispatched, "positive", {"plant_count": -1, **HERE}),
        (422, "pat", dispatched, "burnt", HERE),
        (404, "pete", dispatched, "false_alarm", HERE),
    ]
    for code, who, plot_id, target, evidence in refused:
        response = move(server, login, who, plot_id, target, **evidence)
        assert response.status_code == code, (who, target, evidence, response.text)
    assert _snapshot(server) == before


def test_concurrent_reports_on_one_plot_apply_exactly_once(
    server: Server, login: Login, tmp_path_factory: pytest.TempPathFactory
) -> None:
    flights = store_all(server.settings, tmp_path_factory)
    first, second = _by_confidence(flights[0])[:2]
    for plot_id in (first, second):
        walk(server, login, plot_id, *_dispatch("Unit 7"))

    # Two phones of unit 7 read the plot as dispatched, then both report: the second
    # report finds the plot no longer dispatched and is refused.
    engine = make_engine(server.settings.resolved_database_url())
    factory = session_factory(engine)
    try:
        with factory() as phone_a, factory() as phone_b:
            pat_a = phone_a.scalars(select(User).where(User.username == "pat")).one()
            pat_b = phone_b.scalars(select(User).where(User.username == "pat")).one()
            seen_a, seen_b = phone_a.get(Plot, first), phone_b.get(Plot, first)
            assert seen_a is not None and seen_b is not None
            assert seen_a.status == seen_b.status == "dispatched"
            yes = lifecycle.Change("positive", plant_count=30, lon=HERE["lon"], lat=HERE["lat"])
            no = lifecycle.Change("false_alarm", lon=HERE["lon"], lat=HERE["lat"])
            lifecycle.apply(phone_a, seen_a, pat_a, yes, revisit_after_days=30)
            phone_a.commit()
            with pytest.raises(lifecycle.InvalidTransitionError, match="changed meanwhile"):
                lifecycle.apply(phone_b, seen_b, pat_b, no, revisit_after_days=30)
            phone_b.rollback()
    finally:
        engine.dispose()

    # The same race through the API, on threads: one 200, one 409, one audit record.
    barrier = threading.Barrier(2)
    codes: list[int] = []
    headers = login("pat")

    def report(evidence: dict[str, Any]) -> None:
        barrier.wait()
        response = server.client.post(
            f"/api/suspects/{second}/transitions", json=evidence, headers=headers
        )
        codes.append(response.status_code)

    threads = [
        threading.Thread(
            target=report, args=({"to_status": "positive", "plant_count": 8, **HERE},)
        ),
        threading.Thread(target=report, args=({"to_status": "false_alarm", **HERE},)),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert sorted(codes) == [200, 409]

    for plot_id, statuses in ((first, {"positive"}), (second, {"positive", "false_alarm"})):
        detail = server.client.get(f"/api/suspects/{plot_id}", headers=login("ana")).json()
        reports = [e for e in detail["history"] if e["from_status"] == "dispatched"]
        assert len(reports) == 1 and reports[0]["to_status"] == detail["properties"]["status"]
        assert detail["properties"]["status"] in statuses


def test_photo_check_survives_a_wrapped_image_open(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Ultralytics, once imported, wraps ``Image.open`` and raises ImportError (no HEIF
    plugin) for files Pillow cannot identify: still a refused photo, not a server error."""
    real_open = Image.open

    def wrapped(path: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return real_open(path, *args, **kwargs)
        except UnidentifiedImageError:
            raise ModuleNotFoundError("No module named 'pi_heif'") from None

    monkeypatch.setattr(Image, "open", wrapped)
    notes = tmp_path / "notes.jpg"
    notes.write_bytes(b"these are field notes, not pixels")
    with pytest.raises(PhotoError, match="not a readable image"):
        image_format(notes)
    good = tmp_path / "good.jpg"
    good.write_bytes(_jpeg(4))
    assert image_format(good) == ("jpg", "image/jpeg")


def test_storage_paths_stay_inside_the_storage_root(tmp_path: Path) -> None:
    root = tmp_path / "storage"
    (root / "chips").mkdir(parents=True)
    (root / "chips" / "a.jpg").write_bytes(b"x")
    (tmp_path / "secret.txt").write_text("no")
    assert stored_file(root, "chips/a.jpg") == (root / "chips" / "a.jpg").resolve()
    for sneaky in (
        "../secret.txt",
        "chips/../../secret.txt",
        str(tmp_path / "secret.txt"),
        "",
        "chips",
    ):
        assert stored_file(root, sneaky) is None, sneaky
