"""Map tiles rendered from a flight's GeoTIFF, authorised by bearer token or the UI cookie."""

from __future__ import annotations

import cv2
import morecantile
import numpy as np
import rasterio
import rasterio.warp
from rasters import write_raster
from servers import PASSWORD, Server
from sqlalchemy.orm import Session

from serving.db import make_engine, session_factory, transaction
from serving.models import Flight


def _flight(server: Server, dtype: str = "uint8") -> tuple[int, float, float]:
    """A stored flight (a real 16- or 8-bit GeoTIFF); returns its id and centre lon/lat."""
    root = server.settings.storage_root()
    (root / "flights" / "1").mkdir(parents=True)
    path = write_raster(
        root / "flights" / "1" / "flight.tif",
        width=1024,
        height=1024,
        dtype=dtype,
        value_max=4000 if dtype == "uint16" else None,
        overviews=(2, 4),
    )
    with rasterio.open(path) as ds:
        lon0, lat0, lon1, lat1 = rasterio.warp.transform_bounds(ds.crs, "EPSG:4326", *ds.bounds)
    engine = make_engine(server.settings.resolved_database_url())
    with transaction(session_factory(engine)) as session:
        flight = _row(session, lon0, lat0, lon1, lat1)
        flight_id = flight.id
    engine.dispose()
    return flight_id, (lon0 + lon1) / 2, (lat0 + lat1) / 2


def _row(session: Session, lon0: float, lat0: float, lon1: float, lat1: float) -> Flight:
    ring = [[lon0, lat0], [lon1, lat0], [lon1, lat1], [lon0, lat1], [lon0, lat0]]
    flight = Flight(
        name="f",
        filename="flight.tif",
        storage_path="flights/1/flight.tif",
        size_bytes=1,
        sha256="a" * 64,
        crs="EPSG:32648",
        gsd_m=0.02,
        width_px=1024,
        height_px=1024,
        area_ha=0.04,
        footprint_geojson=f'{{"type":"Polygon","coordinates":[{ring}]}}',
        min_lon=lon0,
        min_lat=lat0,
        max_lon=lon1,
        max_lat=lat1,
    )
    session.add(flight)
    session.flush()
    return flight


def _decode(png: bytes) -> np.ndarray:
    image = cv2.imdecode(np.frombuffer(png, np.uint8), cv2.IMREAD_UNCHANGED)
    assert image is not None
    return image


def test_tiles_show_the_flight_and_nothing_elsewhere(server: Server) -> None:
    flight_id, lon, lat = _flight(server, dtype="uint16")
    tms = morecantile.tms.get("WebMercatorQuad")
    headers = server.headers("pat")  # patrols see the imagery around their sites
    for zoom in (18, 21):
        t = tms.tile(lon, lat, zoom)
        response = server.client.get(
            f"/api/flights/{flight_id}/tiles/{zoom}/{t.x}/{t.y}.png", headers=headers
        )
        assert response.status_code == 200
        assert response.headers["content-type"] == "image/png"
        image = _decode(response.content)
        assert image.shape == (256, 256, 4)  # RGB + alpha
        assert image[..., 3].max() == 255  # the data is drawn
        assert image[..., :3].std() > 5  # 16-bit input stretched to visible 8-bit texture
    far = tms.tile(lon + 1, lat, 18)
    empty = server.client.get(
        f"/api/flights/{flight_id}/tiles/18/{far.x}/{far.y}.png", headers=headers
    )
    assert empty.status_code == 204


def test_tiles_need_a_login_and_accept_the_ui_cookie(server: Server) -> None:
    flight_id, lon, lat = _flight(server)
    t = morecantile.tms.get("WebMercatorQuad").tile(lon, lat, 19)
    url = f"/api/flights/{flight_id}/tiles/19/{t.x}/{t.y}.png"
    assert server.client.get(url).status_code == 401
    login = server.client.post("/api/auth/session", data={"username": "ana", "password": PASSWORD})
    assert login.status_code == 200
    assert "httponly" in login.headers["set-cookie"].lower()
    assert "samesite=strict" in login.headers["set-cookie"].lower()
    assert server.client.get(url).status_code == 200  # the client now carries the cookie
    assert server.client.post("/api/auth/logout").status_code == 204
    assert server.client.get(url).status_code == 401
    assert (
        server.client.get(
            f"/api/flights/999/tiles/19/{t.x}/{t.y}.png", headers=server.headers("ana")
        ).status_code
        == 404
    )
    assert (
        server.client.get(
            f"/api/flights/{flight_id}/tiles/2/9/0.png", headers=server.headers("ana")
        ).status_code
        == 404
    )
