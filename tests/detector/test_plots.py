"""Plants group into plots measured in ground metres, whatever the raster's CRS."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import shapely
from pyproj import Geod
from rasters import transform_at, write_raster

from detector.detections import Detection
from detector.georef import Georeferencer
from detector.plots import group_into_plots
from detector.raster import inspect_raster

GSD_M = 0.02
GEOD = Geod(ellps="WGS84")


def plant(
    col: float, row: float, size: float = 50, conf: float = 0.9, cls: str = "poppy"
) -> Detection:
    """A square plant of ``size`` px (50 px = 1 m at 2 cm/px) with top-left at (col, row)."""
    return Detection(col, row, col + size, row + size, conf, cls, 0)


@pytest.fixture(scope="module")
def geo(tmp_path_factory: pytest.TempPathFactory) -> Georeferencer:
    """Coordinates of a 2 cm/px UTM 48N flight, 2000 px (40 m) square."""
    path = tmp_path_factory.mktemp("plots") / "flight.tif"
    return Georeferencer(inspect_raster(write_raster(path, width=2000, height=2000, block=512)))


def _signed_area(ring: tuple[tuple[float, float], ...]) -> float:
    xs, ys = np.array(ring).T
    return 0.5 * float(np.sum(xs[:-1] * ys[1:] - xs[1:] * ys[:-1]))


def test_a_single_isolated_plant_is_a_plot(geo: Georeferencer) -> None:
    (plot,) = group_into_plots([plant(1000, 1000)], geo)
    assert plot.plot_id == 1 and plot.plant_count == 1
    assert plot.area_m2 == pytest.approx(1.0, rel=1e-3)
    assert plot.bbox_px == (1000, 1000, 1050, 1050)
    assert plot.max_confidence == plot.mean_confidence == 0.9


@pytest.mark.parametrize(
    ("gap_px", "plots"),
    [(0, 1), (100, 1), (145, 1), (155, 2), (200, 2)],  # 145 px = 2.9 m, 155 px = 3.1 m
)
def test_plants_within_max_gap_share_a_plot(geo: Georeferencer, gap_px: int, plots: int) -> None:
    detections = [plant(500, 500), plant(550 + gap_px, 500)]
    result = group_into_plots(detections, geo, max_gap_m=3.0)
    assert len(result) == plots
    assert sum(p.plant_count for p in result) == 2


def test_single_linkage_chains_plants(geo: Georeferencer) -> None:
    # A-B and B-C are 2 m apart, A-C 5 m: one plot of three.
    detections = [plant(100, 100), plant(250, 100), plant(400, 100)]
    (plot,) = group_into_plots(detections, geo, max_gap_m=3.0)
    assert plot.plant_count == 3
    # The outline is the convex hull: 7 m x 1 m.
    assert plot.area_m2 == pytest.approx(7.0, rel=1e-3)
    assert plot.bbox_px == (100, 100, 450, 150)


def test_different_classes_never_share_a_plot(geo: Georeferencer) -> None:
    detections = [
        plant(500, 500, cls="poppy"),
        plant(510, 510, cls="cannabis"),  # overlapping the poppy
        plant(600, 500, cls="poppy"),
        plant(610, 600, cls="cannabis"),
    ]
    plots = group_into_plots(detections, geo, max_gap_m=3.0)
    assert sorted((p.class_name, p.plant_count) for p in plots) == [
        ("cannabis", 2),
        ("poppy", 2),
    ]
    for p in plots:
        assert {d.class_name for d in p.detections} == {p.class_name}


def test_ids_follow_confidence_and_rings_are_closed_and_ccw(geo: Georeferencer) -> None:
    detections = [
        plant(100, 100, conf=0.4),
        plant(1000, 1000, conf=0.95),
        plant(1500, 200, conf=0.7),
    ]
    plots = group_into_plots(detections, geo)
    assert [p.plot_id for p in plots] == [1, 2, 3]
    assert [p.max_confidence for p in plots] == [0.95, 0.7, 0.4]
    for p in plots:
        for ring in (p.ring_lonlat, p.ring_map):
            assert ring[0] == ring[-1] and len(ring) >= 4
            assert _signed_area(ring) > 0, "exterior rings run counter-clockwise"
        assert shapely.Polygon(p.ring_map).contains(shapely.Point(p.centroid_x, p.centroid_y))


def test_centroid_is_the_middle_of_the_plant(geo: Georeferencer) -> None:
    (plot,) = group_into_plots([plant(1000, 600)], geo)
    want_lon, want_lat = geo.pixel_to_lonlat(np.array([1025.0]), np.array([625.0]))
    _, _, dist = GEOD.inv(plot.centroid_lon, plot.centroid_lat, want_lon[0], want_lat[0])
    assert dist < 0.5 * GSD_M
    x, y = geo.pixel_to_map([1025.0], [625.0])
    assert (plot.centroid_x, plot.centroid_y) == pytest.approx((x[0], y[0]), abs=0.5 * GSD_M)


def test_empty_input_gives_no_plots(geo: Georeferencer) -> None:
    assert group_into_plots([], geo) == []


@pytest.mark.parametrize("crs", ["EPSG:3857", "EPSG:4326", "EPSG:32648"])
def test_area_is_ground_square_metres_in_any_crs(
    crs: str, make_raster: Callable[..., Path]
) -> None:
    # In Web Mercator at 30 degrees a "metre" of the CRS is about 0.87 m on the ground: a
    # 100 x 100 px box at 2 cm/px is 4 m^2 on the ground but 5.3 "m^2" in CRS units.
    transform = transform_at(crs, GSD_M, lon=104.5, lat=30.0)
    geo = Georeferencer(inspect_raster(make_raster(crs=crs, transform=transform)))
    (plot,) = group_into_plots([plant(200, 200, size=100)], geo)
    # Geodesic area of the same four corners on the ellipsoid, computed independently.
    lons, lats = geo.pixel_to_lonlat(
        np.array([200.0, 300, 300, 200]), np.array([200.0, 200, 300, 300])
    )
    geodesic, _ = GEOD.polygon_area_perimeter(lons, lats)
    assert abs(geodesic) == pytest.approx(4.0, rel=2e-3)
    assert plot.area_m2 == pytest.approx(abs(geodesic), rel=1e-3)
    if crs == "EPSG:3857":
        naive = shapely.Polygon(plot.ring_map).area
        assert naive == pytest.approx(4.0 / np.cos(np.radians(30.0)) ** 2, rel=0.01)
