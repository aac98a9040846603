"""Pixel -> map -> WGS84 is exact in every CRS a flight comes in, with no half-pixel shift."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import rasterio
import rasterio.transform
from doubles import RecordingDetector
from pyproj import CRS, Geod, Transformer
from rasters import SITE_LAT, SITE_LON, squares

from detector.georef import Georeferencer
from detector.outputs import render_geojson
from detector.raster import inspect_raster
from detector.scan import scan

GSD_M = 0.02
GEOD = Geod(ellps="WGS84")
# UTM 48N (metres), WGS84 and CGCS2000 (degrees; CGCS2000's axis order is lat, lon) and
# Web Mercator (metres that are not ground metres).
CRSS = ["EPSG:32648", "EPSG:4326", "EPSG:4490", "EPSG:3857"]


def _independent_lonlat(path: Path, cols: np.ndarray, rows: np.ndarray) -> tuple[np.ndarray, ...]:
    """Lon/lat of pixel corners computed with rasterio and pyproj directly."""
    with rasterio.open(path) as ds:
        xs, ys = rasterio.transform.xy(ds.transform, rows, cols, offset="ul")
        to_wgs84 = Transformer.from_crs(CRS.from_wkt(ds.crs.to_wkt()), 4326, always_xy=True)
    lon, lat = to_wgs84.transform(np.asarray(xs), np.asarray(ys))
    return np.asarray(lon), np.asarray(lat)


def _ground_distance_m(lon1: np.ndarray, lat1: np.ndarray, lon2: np.ndarray, lat2: np.ndarray):
    _, _, dist = GEOD.inv(lon1, lat1, lon2, lat2)
    return np.asarray(dist)


@pytest.fixture(params=CRSS)
def flight(request: pytest.FixtureRequest, make_raster: Callable[..., Path]) -> Path:
    """A 512 px flight at 2 cm/px in the CRS under test, with a 20 px plant at (200, 300)."""
    return make_raster(
        f"flight-{request.param.replace(':', '')}.tif",
        crs=request.param,
        gsd_m=GSD_M,
        width=512,
        height=512,
        paint=squares((200, 300, 20)),
    )


def test_crs_and_gsd_are_read(flight: Path) -> None:
    info = inspect_raster(flight)
    with rasterio.open(flight) as ds:
        assert info.crs_label == f"EPSG:{ds.crs.to_epsg()}"
    assert info.gsd_col_m == pytest.approx(GSD_M, rel=1e-3)
    assert info.gsd_row_m == pytest.approx(GSD_M, rel=1e-3)


def test_box_corners_map_to_exact_affine_corners(flight: Path) -> None:
    geo = Georeferencer(inspect_raster(flight))
    with rasterio.open(flight) as ds:
        transform = ds.transform
    x, y = geo.pixel_to_map([0.0], [0.0])
    assert (x[0], y[0]) == (transform.c, transform.f), "pixel (0, 0) is the top-left corner"
    cols = np.array([0.0, 1.0, 300.0, 320.0, 512.0])
    rows = np.array([0.0, 1.0, 200.0, 220.0, 512.0])
    xs, ys = geo.pixel_to_map(cols, rows)
    want_x, want_y = rasterio.transform.xy(transform, rows, cols, offset="ul")
    np.testing.assert_allclose(xs, want_x, rtol=0, atol=1e-9 * abs(transform.a) + 1e-12)
    np.testing.assert_allclose(ys, want_y, rtol=0, atol=1e-9 * abs(transform.e) + 1e-12)
    # The centre convention would be half a pixel off: make sure that is not what we get.
    centre_x, _ = rasterio.transform.xy(transform, [0], [0], offset="center")
    assert abs(xs[0] - centre_x[0]) == pytest.approx(abs(transform.a) / 2)


def test_pixel_map_wgs84_round_trip_within_half_a_pixel(flight: Path) -> None:
    info = inspect_raster(flight)
    geo = Georeferencer(info)
    rng = np.random.default_rng(1)
    cols = rng.uniform(0, info.width_px, 200)
    rows = rng.uniform(0, info.height_px, 200)
    lon, lat = geo.pixel_to_lonlat(cols, rows)
    back_cols, back_rows = geo.map_to_pixel(*geo.lonlat_to_map(lon, lat))
    assert np.abs(back_cols - cols).max() < 0.5
    assert np.abs(back_rows - rows).max() < 0.5
    # In fact the round trip is exact to far below a pixel.
    assert np.abs(back_cols - cols).max() < 1e-4 and np.abs(back_rows - rows).max() < 1e-4
    # And the lon/lat agree with rasterio + pyproj computed independently.
    want_lon, want_lat = _independent_lonlat(flight, cols, rows)
    assert _ground_distance_m(lon, lat, want_lon, want_lat).max() < 0.5 * GSD_M


def test_lon_lat_are_in_the_right_order_and_place(flight: Path) -> None:
    geo = Georeferencer(inspect_raster(flight))
    lon, lat = geo.pixel_to_lonlat(np.array([0.0]), np.array([0.0]))
    assert lon[0] == pytest.approx(SITE_LON, abs=1e-7)
    assert lat[0] == pytest.approx(SITE_LAT, abs=1e-7)


def test_metric_frame_measures_ground_metres(flight: Path) -> None:
    geo = Georeferencer(inspect_raster(flight))
    # 100 px east and 100 px south of the corner are 2 m on the ground in every CRS.
    xs, ys = geo.map_to_metric(*geo.pixel_to_map([0.0, 100.0, 0.0], [0.0, 0.0, 100.0]))
    east = np.hypot(xs[1] - xs[0], ys[1] - ys[0])
    south = np.hypot(xs[2] - xs[0], ys[2] - ys[0])
    assert east == pytest.approx(2.0, abs=2e-3)
    assert south == pytest.approx(2.0, abs=2e-3)
    # metric -> lon/lat and metric -> map agree with map -> lon/lat.
    lon_a, lat_a = geo.metric_to_lonlat(xs, ys)
    lon_b, lat_b = geo.map_to_lonlat(*geo.metric_to_map(xs, ys))
    assert _ground_distance_m(lon_a, lat_a, lon_b, lat_b).max() < 1e-3


def test_scanned_plant_is_where_it_was_painted(
    flight: Path, fake: RecordingDetector, out_dir: Path
) -> None:
    result = scan(flight, fake)
    assert len(result.detections) == 1
    painted_cols = np.array([300.0, 320.0, 320.0, 300.0, 310.0])
    painted_rows = np.array([200.0, 200.0, 220.0, 220.0, 210.0])
    want_lon, want_lat = _independent_lonlat(flight, painted_cols, painted_rows)

    # The plant's centre as the GeoJSON reports it.
    collection = json.loads(render_geojson(result, out_dir))
    (feature,) = collection["features"]
    (plant,) = feature["properties"]["plants"]
    assert _ground_distance_m(plant["lon"], plant["lat"], want_lon[4], want_lat[4]) < 0.5 * GSD_M

    # The plot's centroid and its outline's corners.
    (plot,) = result.plots
    centre = _ground_distance_m(plot.centroid_lon, plot.centroid_lat, want_lon[4], want_lat[4])
    assert centre < 0.5 * GSD_M
    ring = np.array(plot.ring_lonlat[:-1])
    for lon, lat in zip(want_lon[:4], want_lat[:4], strict=True):
        nearest = _ground_distance_m(
            ring[:, 0], ring[:, 1], np.full(len(ring), lon), np.full(len(ring), lat)
        )
        assert nearest.min() < 0.5 * GSD_M
    # The outline in the raster CRS lands on the painted pixels too.
    geo = Georeferencer(result.info)
    cols, rows = geo.map_to_pixel(*np.array(plot.ring_map).T)
    assert (cols.min(), rows.min(), cols.max(), rows.max()) == pytest.approx(
        (300, 200, 320, 220), abs=0.5
    )
    assert result.provenance["raster"]["crs"] == result.info.crs_label
