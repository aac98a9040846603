"""Tests for the synthetic flight generator: determinism, georeferencing, labels, rendering."""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import rasterio
from pyproj import Transformer
from rasterio.windows import Window

from training.synthetic import SyntheticFlight, generate_flight
from training.synthetic.compose import compose_scene
from training.synthetic.render import render_window

SIZE_PX = 768
GSD_M = 0.02
ORIGIN = (612_000.0, 2_301_000.0)


@pytest.fixture(scope="module")
def flight(tmp_path_factory: pytest.TempPathFactory) -> SyntheticFlight:
    out = tmp_path_factory.mktemp("synth")
    return generate_flight(
        out,
        seed=7,
        width_px=SIZE_PX,
        height_px=SIZE_PX,
        gsd_m=GSD_M,
        origin_xy=ORIGIN,
        name="f7",
        block_px=256,
    )


def _pixels(path: Path) -> np.ndarray:
    with rasterio.open(path) as ds:
        return ds.read()


def test_same_seed_same_pixels_and_labels(flight: SyntheticFlight, tmp_path: Path) -> None:
    again = generate_flight(
        tmp_path,
        seed=7,
        width_px=SIZE_PX,
        height_px=SIZE_PX,
        gsd_m=GSD_M,
        origin_xy=ORIGIN,
        name="f7",
        block_px=256,
    )
    assert np.array_equal(_pixels(flight.raster_path), _pixels(again.raster_path))
    assert again.plants == flight.plants
    assert again.plots == flight.plots
    assert again.labels_path.read_text() == flight.labels_path.read_text()
    other = generate_flight(
        tmp_path,
        seed=8,
        width_px=SIZE_PX,
        height_px=SIZE_PX,
        gsd_m=GSD_M,
        origin_xy=ORIGIN,
        name="f8",
        block_px=256,
    )
    assert not np.array_equal(_pixels(flight.raster_path), _pixels(other.raster_path))


def test_raster_is_tiled_georeferenced_geotiff(flight: SyntheticFlight) -> None:
    with rasterio.open(flight.raster_path) as ds:
        assert ds.driver == "GTiff"
        assert (ds.width, ds.height, ds.count) == (SIZE_PX, SIZE_PX, 3)
        assert ds.dtypes == ("uint8", "uint8", "uint8")
        assert ds.crs.to_epsg() == 32648
        assert ds.transform.a == pytest.approx(GSD_M)
        assert ds.transform.e == pytest.approx(-GSD_M)
        assert (ds.transform.b, ds.transform.d) == (0.0, 0.0)
        assert (ds.transform.c, ds.transform.f) == ORIGIN
        assert ds.res == pytest.approx((GSD_M, GSD_M))
        assert ds.block_shapes == [(256, 256)] * 3
        assert ds.compression.name.lower() == "deflate"
        assert ds.overviews(1)[:2] == [2, 4]
    assert flight.gsd_m == GSD_M and flight.crs == "EPSG:32648"
    assert not list(flight.raster_path.parent.glob("*.tmp"))


def test_nodata_border_only_when_asked(flight: SyntheticFlight, tmp_path: Path) -> None:
    with rasterio.open(flight.raster_path) as ds:
        assert ds.nodata == 0
        mask = ds.dataset_mask()
        px = ds.read()
    empty = (px == 0).all(axis=0)
    assert np.array_equal(mask == 0, empty)
    assert 0.01 < empty.mean() < 0.5  # an irregular outline, most of the flight valid
    assert not ((px == 0).any(axis=0) & ~empty).any()  # valid pixels are never 0 in a band
    edge = np.concatenate([empty[0], empty[-1], empty[:, 0], empty[:, -1]])
    assert edge.any() and not edge.all()
    full = generate_flight(
        tmp_path,
        seed=7,
        width_px=256,
        height_px=256,
        gsd_m=GSD_M,
        nodata_border=False,
        block_px=256,
    )
    with rasterio.open(full.raster_path) as ds:
        assert ds.nodata is None
        assert (ds.read() > 0).any(axis=0).all()


def test_plant_boxes_inside_raster_and_sized_in_metres(tmp_path: Path) -> None:
    flights = [
        generate_flight(
            tmp_path,
            seed=s,
            width_px=SIZE_PX,
            height_px=SIZE_PX,
            gsd_m=gsd,
            name=f"s{s}",
            block_px=256,
        )
        for s, gsd in ((3, 0.05), (4, 0.01), (5, 0.03))
    ]
    seen = set()
    for f in flights:
        assert f.plants and f.plots
        for p in f.plants:
            assert 0 <= p.col0_px < p.col1_px <= SIZE_PX
            assert 0 <= p.row0_px < p.row1_px <= SIZE_PX
            size_m = max(p.col1_px - p.col0_px, p.row1_px - p.row0_px) * f.gsd_m
            seen.add((p.cls, p.stage))
            if p.cls == "cannabis":
                assert p.stage in ("vegetative", "flowering")
                assert 0.4 <= size_m <= 2.2, p
            elif p.stage == "seedling":
                assert 0.05 <= size_m <= 0.45, p
            else:
                assert p.stage in ("flowering", "capsule")
                assert 0.2 <= size_m <= 0.9, p
    assert seen


def test_plot_counts_match_plants(flight: SyntheticFlight) -> None:
    counts = Counter(p.plot_id for p in flight.plants)
    assert set(counts) == {q.plot_id for q in flight.plots}
    for q in flight.plots:
        assert q.plant_count == counts[q.plot_id] >= 1
        assert len(q.polygon_px) >= 4
        members = [p for p in flight.plants if p.plot_id == q.plot_id]
        assert {(p.cls, p.stage) for p in members} == {(q.cls, q.stage)}


def test_geojson_is_rfc7946_wgs84(flight: SyntheticFlight) -> None:
    doc = json.loads(flight.labels_path.read_text())
    assert doc["type"] == "FeatureCollection"
    kinds = Counter(f["properties"]["kind"] for f in doc["features"])
    assert kinds == {"plant": len(flight.plants), "plot": len(flight.plots)}
    to_wgs = Transformer.from_crs("EPSG:32648", "EPSG:4326", always_xy=True)
    for feat, plant in zip(doc["features"], flight.plants, strict=False):
        ring = np.asarray(feat["geometry"]["coordinates"][0])
        assert feat["geometry"]["type"] == "Polygon"
        assert ring[0].tolist() == ring[-1].tolist()
        assert (np.abs(ring[:, 0]) <= 180).all() and (np.abs(ring[:, 1]) <= 90).all()
        x, y = np.diff(ring[:, 0]), ring[:-1, 1] + ring[1:, 1]
        assert (x * y).sum() < 0  # counterclockwise exterior ring
        props = feat["properties"]
        assert props["class"] == plant.cls and props["stage"] == plant.stage
        assert props["bbox_px"] == pytest.approx(
            [plant.col0_px, plant.row0_px, plant.col1_px, plant.row1_px], abs=1e-3
        )
        lon, lat = to_wgs.transform(
            ORIGIN[0] + plant.col0_px * GSD_M, ORIGIN[1] - plant.row0_px * GSD_M
        )
        assert np.hypot(ring[:, 0] - lon, ring[:, 1] - lat).min() < 1e-8  # top-left corner
    plots = [f for f in doc["features"] if f["properties"]["kind"] == "plot"]
    assert [f["properties"]["plant_count"] for f in plots] == [q.plant_count for q in flight.plots]


def test_plant_boxes_hold_the_rendered_plants() -> None:
    """Rendering with and without the labelled plants differs inside every plant box."""
    scene = compose_scene(11, 512, 512, 0.01, True, 512)
    assert scene.plants
    with_plants = render_window(scene, 0, 0, 512, 512).astype(np.float32)
    # the same scene with every labelled plant moved far off the raster
    away = [
        replace(sp, col=-1e6, row=-1e6) if sp.kind in ("poppy", "cannabis") else sp
        for sp in scene.sprites
    ]
    without = render_window(replace(scene, sprites=away), 0, 0, 512, 512)
    without = without.astype(np.float32)
    diff = np.abs(with_plants - without).sum(axis=2)
    for p in scene.plants:
        c0, r0 = int(p.col0_px), int(p.row0_px)
        c1, r1 = int(np.ceil(p.col1_px)), int(np.ceil(p.row1_px))
        inside = diff[r0:r1, c0:c1]
        assert (inside > 30).mean() > 0.25, p
        rgb = with_plants[r0:r1, c0:c1].reshape(-1, 3)
        green = (rgb[:, 1] > rgb[:, 0]).mean()
        flower = ((rgb[:, 0] > rgb[:, 1] + 40) | (rgb.min(axis=1) > 200)).mean()
        assert green + flower > 0.25, p  # foliage (G > R) or petals over the box


def test_file_matches_renderer(flight: SyntheticFlight) -> None:
    scene = compose_scene(7, SIZE_PX, SIZE_PX, GSD_M, True, 256 * (1024 // 256))
    expect = render_window(scene, 0, 0, SIZE_PX, SIZE_PX)
    with rasterio.open(flight.raster_path) as ds:
        got = ds.read(window=Window(0, 0, SIZE_PX, SIZE_PX)).transpose(1, 2, 0)
    assert np.array_equal(got, expect)


def test_rejects_bad_arguments(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="projected"):
        generate_flight(tmp_path, seed=1, width_px=128, height_px=128, crs="EPSG:4326")
    with pytest.raises(ValueError, match="block_px"):
        generate_flight(tmp_path, seed=1, width_px=128, height_px=128, block_px=100)


def test_a_crown_cut_to_a_one_pixel_sliver_renders() -> None:
    """Seed 3006's window at row 3072 holds a crown cut to one pixel column by the window
    edge: its shading gradient used to fail (``np.gradient`` needs two pixels)."""
    scene = compose_scene(3006, 4096, 4096, 0.02, True, 1024)
    rgb = render_window(scene, 3072, 0, 1024, 1024)
    assert rgb.shape == (1024, 1024, 3) and rgb.any()
