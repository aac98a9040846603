"""Flights through the HTTP API: resumable and one-shot uploads, registration, roles, delete.

Real files on a real storage folder, a real database (SQLite and PostgreSQL), validation by
``detector.raster``; no scan runs here (the server has no worker), see test_jobs_worker.py.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import anyio
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from rasters import squares, truncate, write_raster
from servers import Server, add_people, make_settings
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from serving.app import create_app
from serving.db import make_engine, session_factory
from serving.models import AuditEvent, Flight, Job, Plot, Upload

LIMIT_BYTES = 600_000


@pytest.fixture
def tif(make_raster: Callable[..., Path]) -> Path:
    """A small valid GeoTIFF (512 x 512 px, 2 cm/px, UTM 48N), about 0.8 MB."""
    return make_raster(compress=None, paint=squares((100, 100, 24)))


@pytest.fixture
def small_server(tmp_path: Path, db_url: str) -> Iterator[Server]:
    """A server whose upload limit is :data:`LIMIT_BYTES` and chunk limit 256 KiB."""
    settings = make_settings(
        tmp_path, db_url, max_upload_bytes=LIMIT_BYTES, max_chunk_bytes=256 * 1024
    )
    app = create_app(settings)
    add_people(settings)
    with TestClient(app) as client:
        yield Server(client, settings)


@contextmanager
def database(server: Server) -> Iterator[Session]:
    """A session on the server's database (for looking behind the API)."""
    engine = make_engine(server.settings.resolved_database_url())
    try:
        with session_factory(engine)() as session:
            yield session
    finally:
        engine.dispose()


def stored_files(server: Server, folder: str) -> list[Path]:
    """Files under ``<storage>/<folder>``."""
    root = server.settings.storage_root() / folder
    return sorted(p for p in root.rglob("*") if p.is_file()) if root.exists() else []


def upload_multipart(
    server: Server, headers: dict[str, str], path: Path, name: str | None = None, **fields: str
) -> Any:
    """``POST /api/flights`` with ``path`` as the form file."""
    with path.open("rb") as handle:
        return server.client.post(
            "/api/flights",
            files={"file": (name or path.name, handle, "image/tiff")},
            data=fields,
            headers=headers,
        )


def put_chunk(
    server: Server, headers: dict[str, str], upload_id: str, data: bytes, start: int, total: int
) -> Any:
    """Send ``data`` as the chunk starting at byte ``start`` of a ``total``-byte file."""
    content_range = f"bytes {start}-{start + len(data) - 1}/{total}"
    return server.client.put(
        f"/api/uploads/{upload_id}",
        content=data,
        headers={**headers, "Content-Range": content_range},
    )


def test_resumable_upload_survives_a_wrong_offset_and_a_dropped_connection(
    server: Server, tif: Path
) -> None:
    pilot = server.headers("pia")
    data = tif.read_bytes()
    total = len(data)
    meta = {
        "area_name": "North ridge",
        "captured_on": "2024-03-02",
        "pilot": "Pia",
        "altitude_m": 80,
        "camera": "DJI M3M",
    }
    started = server.client.post(
        "/api/uploads",
        json={"filename": "flight.tif", "size_bytes": total, "metadata": meta},
        headers=pilot,
    )
    assert started.status_code == 201, started.text
    upload_id = started.json()["id"]
    assert started.json()["offset"] == 0
    third = total // 3

    first = put_chunk(server, pilot, upload_id, data[:third], 0, total)
    assert first.status_code == 200 and first.json()["offset"] == third
    # The connection dropped; the client lost track and sends the third chunk next.
    skipped = put_chunk(server, pilot, upload_id, data[2 * third :], 2 * third, total)
    assert skipped.status_code == 409
    assert skipped.json()["offset"] == third
    assert skipped.headers["Upload-Offset"] == str(third)
    head = server.client.head(f"/api/uploads/{upload_id}", headers=pilot)
    assert head.status_code == 200 and head.headers["Upload-Offset"] == str(third)
    assert server.client.get(f"/api/uploads/{upload_id}", headers=pilot).json()["offset"] == third

    # The second chunk's connection drops after 10 000 bytes: they are kept.
    headers = {
        **pilot,
        "Content-Range": f"bytes {third}-{2 * third - 1}/{total}",
        "Content-Length": str(third),
    }
    _put_then_disconnect(
        server.client.app, f"/api/uploads/{upload_id}", headers, data[third : third + 10_000]
    )
    head = server.client.head(f"/api/uploads/{upload_id}", headers=pilot)
    assert head.headers["Upload-Offset"] == str(third + 10_000)
    second = server.client.put(
        f"/api/uploads/{upload_id}",
        content=data[third + 10_000 : 2 * third],
        headers={**pilot, "Upload-Offset": str(third + 10_000)},
    )
    assert second.status_code == 200 and second.json()["offset"] == 2 * third
    last = put_chunk(server, pilot, upload_id, data[2 * third :], 2 * third, total)
    assert last.status_code == 201, last.text
    body = last.json()
    assert body["complete"] is True
    flight, job = body["flight"], body["job"]
    assert job["status"] == "queued" and job["flight_id"] == flight["id"]
    assert flight["sha256"] == hashlib.sha256(data).hexdigest()
    assert flight["area_name"] == "North ridge" and flight["captured_on"] == "2024-03-02"
    assert flight["altitude_m"] == 80 and flight["camera"] == "DJI M3M"
    assert flight["crs"] == "EPSG:32648" and flight["gsd_m"] == pytest.approx(0.02, rel=0.01)
    assert (flight["width_px"], flight["height_px"]) == (512, 512)
    assert flight["footprint"]["type"] == "Polygon"
    min_lon, min_lat, max_lon, max_lat = flight["bbox"]
    assert min_lon < 104.5 + 1e-6 < max_lon and min_lat < 20.5 < max_lat + 1e-6
    assert flight["area_ha"] == pytest.approx(512 * 512 * 0.02**2 / 10_000, rel=0.01)

    on_disk = server.settings.storage_root() / flight["storage_path"]
    assert flight["storage_path"] == f"flights/{flight['id']}/flight.tif"
    assert hashlib.sha256(on_disk.read_bytes()).hexdigest() == flight["sha256"]
    assert stored_files(server, "uploads") == []
    again = put_chunk(server, pilot, upload_id, data[:10], 0, total)
    assert again.status_code == 409
    with database(server) as session:
        actions = session.scalars(select(AuditEvent.action)).all()
        assert "flight.upload" in actions
        assert session.scalar(select(func.count()).select_from(Job)) == 1


def _put_then_disconnect(app: FastAPI, path: str, headers: dict[str, str], piece: bytes) -> None:
    """Call the app as a server would when the client vanishes after sending ``piece``."""
    messages: list[dict[str, Any]] = [
        {"type": "http.request", "body": piece, "more_body": True},
        {"type": "http.disconnect"},
    ]
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "PUT",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(k.lower().encode(), v.encode()) for k, v in headers.items()],
        "client": ("10.0.0.7", 50000),
        "server": ("testserver", 80),
    }

    async def receive() -> dict[str, Any]:
        if messages:
            return messages.pop(0)
        await anyio.sleep_forever()
        raise AssertionError("unreachable")

    async def send(_message: dict[str, Any]) -> None:
        return None

    anyio.run(app, scope, receive, send)


def _not_a_raster(folder: Path) -> Path:
    path = folder / "notes.tif"
    path.write_text("these are the pilot's notes, not an orthomosaic\n" * 100)
    return path


def _truncated(folder: Path) -> Path:
    return truncate(write_raster(folder / "cut.tif", width=1024, height=1024, block=256), 0.6)


def test_bad_files_get_422_and_leave_nothing_behind(server: Server, tmp_path: Path) -> None:
    pilot = server.headers("pia")
    for bad, message in (
        (_not_a_raster(tmp_path), "not a GeoTIFF"),
        (_truncated(tmp_path), "corrupt or truncated"),
    ):
        one_shot = upload_multipart(server, pilot, bad)
        assert one_shot.status_code == 422
        assert message in one_shot.json()["detail"]
        assert bad.name in one_shot.json()["detail"]
        assert str(server.settings.storage_root()) not in one_shot.json()["detail"]

        data = bad.read_bytes()
        upload_id = server.client.post(
            "/api/uploads", json={"filename": bad.name, "size_bytes": len(data)}, headers=pilot
        ).json()["id"]
        resumable = put_chunk(server, pilot, upload_id, data, 0, len(data))
        assert resumable.status_code == 422
        assert message in resumable.json()["detail"]
        for folder in ("uploads", "flights", "tmp"):
            assert stored_files(server, folder) == [], folder
        assert server.client.get(f"/api/uploads/{upload_id}", headers=pilot).status_code == 404
    with database(server) as session:
        assert session.scalar(select(func.count()).select_from(Flight)) == 0
        assert session.scalar(select(func.count()).select_from(Upload)) == 0
        assert session.scalar(select(func.count()).select_from(Job)) == 0


def test_over_the_limit_gets_413_and_stores_nothing(small_server: Server, tmp_path: Path) -> None:
    server = small_server
    pilot = server.headers("pia")
    big = write_raster(tmp_path / "big.tif", width=600, height=600, compress=None)
    assert big.stat().st_size > LIMIT_BYTES
    one_shot = upload_multipart(server, pilot, big)
    assert one_shot.status_code == 413
    announced = server.client.post(
        "/api/uploads",
        json={"filename": "big.tif", "size_bytes": LIMIT_BYTES + 1},
        headers=pilot,
    )
    assert announced.status_code == 413
    upload_id = server.client.post(
        "/api/uploads", json={"filename": "small.tif", "size_bytes": 1000}, headers=pilot
    ).json()["id"]
    past_end = server.client.put(
        f"/api/uploads/{upload_id}", content=b"x" * 2000, headers={**pilot, "Upload-Offset": "0"}
    )
    assert past_end.status_code == 413
    upload_id = server.client.post(
        "/api/uploads", json={"filename": "mid.tif", "size_bytes": LIMIT_BYTES}, headers=pilot
    ).json()["id"]
    huge_chunk = put_chunk(server, pilot, upload_id, b"x" * (300 * 1024), 0, LIMIT_BYTES)
    assert huge_chunk.status_code == 413
    assert server.client.get(f"/api/uploads/{upload_id}", headers=pilot).json()["offset"] == 0
    part = server.settings.storage_root() / "uploads" / f"{upload_id}.part"
    assert part.exists()
    abandoned = server.client.delete(f"/api/uploads/{upload_id}", headers=pilot)
    assert abandoned.status_code == 204 and not part.exists()
    assert server.client.get(f"/api/uploads/{upload_id}", headers=pilot).status_code == 404
    for folder in ("flights", "tmp"):
        assert stored_files(server, folder) == [], folder
    assert all(p.stat().st_size == 0 for p in stored_files(server, "uploads"))
    with database(server) as session:
        assert session.scalar(select(func.count()).select_from(Flight)) == 0


def test_register_in_place_and_refuse_unsafe_names_and_paths(
    server: Server, tif: Path, tmp_path: Path
) -> None:
    pilot = server.headers("pia")
    for name in ("../../etc/cron.d/evil.tif", "a/b.tif", "..", ".hidden.tif", "c:\\x.tif", ""):
        started = server.client.post(
            "/api/uploads", json={"filename": name, "size_bytes": 10}, headers=pilot
        )
        assert started.status_code == 422, name
    sneaky = upload_multipart(server, pilot, tif, name="../../evil.tif")
    assert sneaky.status_code == 422
    assert stored_files(server, "flights") == [] and stored_files(server, "tmp") == []
    assert not (server.settings.storage_root().parent / "evil.tif").exists()

    root = server.settings.storage_root()
    incoming = root / "incoming" / "2024-03-02"
    incoming.mkdir(parents=True)
    placed = incoming / "north.tif"
    placed.write_bytes(tif.read_bytes())
    outside = tmp_path / "secret.tif"
    outside.write_bytes(tif.read_bytes())
    (root / "incoming" / "link.tif").symlink_to(outside)
    (root / "uploads").mkdir(exist_ok=True)
    (root / "uploads" / "x.tif").write_bytes(tif.read_bytes())

    for path, expected in (
        ("../in/flight.tif", 400),
        ("incoming/../../in/flight.tif", 400),
        (str(outside), 400),
        ("/etc/passwd", 400),
        ("incoming/link.tif", 400),
        ("uploads/x.tif", 400),
        (".", 400),
        ("incoming/missing.tif", 404),
    ):
        response = server.client.post("/api/flights/register", json={"path": path}, headers=pilot)
        assert response.status_code == expected, (path, response.text)

    registered = server.client.post(
        "/api/flights/register",
        json={"path": "incoming/2024-03-02/north.tif", "metadata": {"name": "North 1"}},
        headers=pilot,
    )
    assert registered.status_code == 201, registered.text
    flight = registered.json()["flight"]
    assert flight["storage_path"] == "incoming/2024-03-02/north.tif"
    assert flight["name"] == "North 1"
    assert registered.json()["job"]["status"] == "queued"
    assert placed.exists()
    by_absolute = server.client.post(
        "/api/flights/register", json={"path": str(placed)}, headers=pilot
    )
    assert by_absolute.status_code == 409  # same file, already a flight
    with database(server) as session:
        assert "flight.register" in session.scalars(select(AuditEvent.action)).all()


def test_duplicates_roles_tokens_unknown_ids_and_openapi(server: Server, tif: Path) -> None:
    pilot, patrol, analyst, rita = (server.headers(u) for u in ("pia", "pat", "ana", "rita"))
    created = upload_multipart(server, pilot, tif, area_name="North")
    assert created.status_code == 201, created.text
    flight_id = created.json()["flight"]["id"]
    again = upload_multipart(server, pilot, tif, name="renamed.tif")
    assert again.status_code == 409
    assert again.json()["flight_id"] == flight_id
    data = tif.read_bytes()
    upload_id = server.client.post(
        "/api/uploads", json={"filename": "copy.tif", "size_bytes": len(data)}, headers=pilot
    ).json()["id"]
    resumed = put_chunk(server, pilot, upload_id, data, 0, len(data))
    assert resumed.status_code == 409 and resumed.json()["flight_id"] == flight_id
    assert len(stored_files(server, "flights")) == 1
    assert stored_files(server, "uploads") == [] and stored_files(server, "tmp") == []

    assert server.client.get("/api/flights").status_code == 401
    assert (
        server.client.post("/api/uploads", json={"filename": "a.tif", "size_bytes": 9}).status_code
        == 401
    )
    assert server.client.get("/api/flights", headers=patrol).status_code == 403
    assert server.client.get(f"/api/flights/{flight_id}", headers=patrol).status_code == 403
    assert server.client.get("/api/jobs", headers=patrol).status_code == 403
    assert upload_multipart(server, analyst, tif).status_code == 403
    assert (
        server.client.post(
            "/api/uploads", json={"filename": "a.tif", "size_bytes": 9}, headers=rita
        ).status_code
        == 403
    )
    for who in (analyst, rita, pilot):
        listed = server.client.get("/api/flights", headers=who)
        assert listed.status_code == 200 and listed.json()["count"] == 1
        assert listed.json()["data"][0]["latest_job"]["status"] == "queued"
    assert server.client.get("/api/flights/999", headers=analyst).status_code == 404
    assert (
        server.client.delete("/api/flights/999", headers=server.headers("admin")).status_code == 404
    )
    assert server.client.get("/api/uploads/" + "0" * 32, headers=pilot).status_code == 404
    assert server.client.get("/api/uploads/..%2F..%2Fetc", headers=pilot).status_code == 404
    assert (
        server.client.put(
            "/api/uploads/" + "0" * 32, content=b"x", headers={**pilot, "Upload-Offset": "0"}
        ).status_code
        == 404
    )
    paths = server.client.get("/openapi.json").json()["paths"]
    for path in (
        "/api/uploads",
        "/api/uploads/{upload_id}",
        "/api/flights",
        "/api/flights/register",
        "/api/flights/{flight_id}",
    ):
        assert path in paths, path
    assert "Content-Range" in paths["/api/uploads/{upload_id}"]["put"]["description"]
    assert "multipart/form-data" in paths["/api/flights"]["post"]["requestBody"]["content"]


def test_flights_show_their_campaign_and_season(server: Server, tif: Path) -> None:
    pilot, analyst = server.headers("pia"), server.headers("ana")
    created = upload_multipart(server, pilot, tif, captured_on="2024-03-02")
    assert created.status_code == 201, created.text
    flight = created.json()["flight"]
    assert (flight["campaign_id"], flight["season_id"]) == (None, None)
    seasons = [
        {"name": "winter", "stage": "seedling", "starts_on": "2024-01-01", "ends_on": "2024-02-29"},
        {
            "name": "spring",
            "stage": "flowering",
            "starts_on": "2024-03-01",
            "ends_on": "2024-04-30",
        },
    ]
    campaign = server.client.post(
        "/api/campaigns", json={"name": "2024", "year": 2024, "seasons": seasons}, headers=analyst
    ).json()
    spring = next(s["id"] for s in campaign["seasons"] if s["name"] == "spring")
    url = f"/api/campaigns/{campaign['id']}/flights/{flight['id']}"
    assert server.client.post(url, json={}, headers=pilot).status_code == 200
    for who in (pilot, analyst):
        one = server.client.get(f"/api/flights/{flight['id']}", headers=who).json()
        assert (one["campaign_id"], one["season_id"]) == (campaign["id"], spring)
        listed = server.client.get("/api/flights", headers=who).json()["data"]
        assert [(f["campaign_id"], f["season_id"]) for f in listed] == [(campaign["id"], spring)]
    # A flight whose capture date falls in no season is in the campaign, in no season.
    other = server.client.post(
        "/api/campaigns",
        json={"name": "2023", "year": 2023, "seasons": seasons[:1]},
        headers=analyst,
    ).json()
    moved = f"/api/campaigns/{other['id']}/flights/{flight['id']}"
    assert server.client.post(moved, json={}, headers=analyst).status_code == 200
    one = server.client.get(f"/api/flights/{flight['id']}", headers=analyst).json()
    assert (one["campaign_id"], one["season_id"]) == (other["id"], None)


def test_only_admins_delete_and_never_a_flight_under_review(server: Server, tif: Path) -> None:
    pilot, admin = server.headers("pia"), server.headers("admin")
    created = upload_multipart(server, pilot, tif).json()
    flight_id, job_id = created["flight"]["id"], created["job"]["id"]
    stored = server.settings.storage_root() / created["flight"]["storage_path"]
    assert server.client.delete(f"/api/flights/{flight_id}", headers=pilot).status_code == 403
    with database(server) as session:
        session.add(_plot(flight_id, job_id, status="reviewed"))
        session.commit()
    refused = server.client.delete(f"/api/flights/{flight_id}", headers=admin)
    assert refused.status_code == 409 and "review" in refused.json()["detail"]
    assert stored.exists()
    with database(server) as session:
        plot = session.scalars(select(Plot)).one()
        plot.status = "new"
        session.commit()
    assert server.client.delete(f"/api/flights/{flight_id}", headers=admin).status_code == 204
    assert not stored.exists()
    assert server.client.get(f"/api/flights/{flight_id}", headers=admin).status_code == 404
    assert server.client.get(f"/api/jobs/{job_id}", headers=admin).status_code == 404
    with database(server) as session:
        assert session.scalar(select(func.count()).select_from(Plot)) == 0
        assert "flight.delete" in session.scalars(select(AuditEvent.action)).all()
    # The same file can come again once its flight is gone.
    assert upload_multipart(server, pilot, tif).status_code == 201


def _plot(flight_id: int, job_id: int, status: str) -> Plot:
    ring = '{"type": "Polygon", "coordinates": [[[104.5, 20.5], [104.5001, 20.5], [104.5, 20.5]]]}'
    return Plot(
        flight_id=flight_id,
        job_id=job_id,
        seq=1,
        class_name="poppy",
        status=status,
        confidence=0.9,
        mean_confidence=0.8,
        plant_count=12,
        area_m2=30.0,
        centroid_lon=104.50005,
        centroid_lat=20.5,
        min_lon=104.5,
        min_lat=20.5,
        max_lon=104.5001,
        max_lat=20.5001,
        geometry_geojson=ring,
    )
