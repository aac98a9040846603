"""Footprints: the WGS84 outline and area of a raster's valid data."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from pyproj import Transformer
from rasters import SITE_LAT, SITE_LON, transform_at
from shapely.geometry import Point, shape

from detector.errors import RasterError
from detector.footprint import raster_footprint
from detector.raster import inspect_raster

GSD_M = 0.02


def _area_ha(width_px: int, height_px: int) -> float:
    return width_px * height_px * GSD_M**2 / 10_000


def test_all_valid_raster_is_its_extent(make_raster: Callable[..., Path]) -> None:
    footprint = raster_footprint(inspect_raster(make_raster(width=600, height=400)))
    assert footprint.geometry.geom_type == "Polygon"
    assert footprint.area_ha == pytest.approx(_area_ha(600, 400), rel=1e-3)
    # The raster's top-left corner is the test site; it extends east and south (the
    # UTM grid is not quite north-up in lon/lat: a fraction of a metre over 12 m).
    corners = list(footprint.geometry.exterior.coords)
    assert min(Point(c).distance(Point(SITE_LON, SITE_LAT)) for c in corners) < 1e-8
    min_lon, min_lat, max_lon, max_lat = footprint.bounds
    assert min_lon == pytest.approx(SITE_LON, abs=1e-6)
    assert max_lat == pytest.approx(SITE_LAT, abs=1e-6)
    assert max_lon - SITE_LON > 1e-4 and SITE_LAT - min_lat > 5e-5
    assert footprint.geometry.exterior.is_ccw


def test_nodata_outside_an_irregular_outline_is_left_out(
    make_raster: Callable[..., Path],
) -> None:
    size = 1024

    def west_half_and_a_hole(data: np.ndarray) -> None:
        data[:, :, : size // 2] = 0  # nothing flown west of the middle
        data[:, 400:600, 700:900] = 0  # a gap inside

    path = make_raster(width=size, height=size, nodata=0, paint=west_half_and_a_hole)
    footprint = raster_footprint(inspect_raster(path))
    expected = _area_ha(size // 2, size) - _area_ha(200, 200)
    # Pooled to a coarse grid: generous by at most a few cells along the edges.
    assert footprint.area_ha == pytest.approx(expected, rel=0.03)
    assert footprint.area_ha >= expected * 0.995
    to_lonlat = Transformer.from_crs("EPSG:32648", "EPSG:4326", always_xy=True)
    affine = transform_at("EPSG:32648", GSD_M)

    def lonlat(col: float, row: float) -> Point:
        return Point(*to_lonlat.transform(*(affine @ (col, row))))

    assert footprint.geometry.contains(lonlat(size * 0.75, size * 0.1))
    assert not footprint.geometry.contains(lonlat(size * 0.25, size * 0.5))
    assert not footprint.geometry.contains(lonlat(800, 500))  # inside the gap
    round_trip = shape(footprint.geojson())
    assert round_trip.symmetric_difference(footprint.geometry).area < 0.01 * round_trip.area


def test_separate_patches_give_a_multipolygon(make_raster: Callable[..., Path]) -> None:
    mask = np.zeros((512, 512), dtype=bool)
    mask[:200, :200] = True
    mask[300:, 300:] = True
    footprint = raster_footprint(inspect_raster(make_raster(valid_mask=mask)))
    assert footprint.geometry.geom_type == "MultiPolygon"
    assert len(footprint.geometry.geoms) == 2
    expected = _area_ha(200, 200) + _area_ha(212, 212)
    assert footprint.area_ha == pytest.approx(expected, rel=0.03)


def test_geographic_raster_outline_is_in_degrees(make_raster: Callable[..., Path]) -> None:
    footprint = raster_footprint(inspect_raster(make_raster(crs="EPSG:4326")))
    assert footprint.area_ha == pytest.approx(_area_ha(512, 512), rel=0.01)
    assert footprint.bounds[0] == pytest.approx(SITE_LON, abs=1e-7)


def test_no_valid_pixels_is_a_raster_error(make_raster: Callable[..., Path]) -> None:
    path = make_raster(nodata=0, paint=lambda d: d.fill(0))
    with pytest.raises(RasterError, match="no valid pixels"):
        raster_footprint(inspect_raster(path))
