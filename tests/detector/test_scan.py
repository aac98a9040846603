"""The scan pipeline end to end with the fake detector: inputs, masks, GSD, progress, cancel."""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import rasterio
from doubles import RecordingDetector
from pyproj import Geod, Transformer
from rasterio.enums import ColorInterp
from rasters import MAGENTA_12BIT, square, squares, transform_at

from detector.errors import RasterError, ScanCancelled
from detector.raster import coarse_valid_mask, window_may_be_valid
from detector.scan import ScanResult, plan_for, scan

PLANTS = ((100, 100, 20), (300, 360, 16), (420, 40, 24))


def found(result: ScanResult) -> list[tuple[float, float, float, float]]:
    return sorted((d.col0_px, d.row0_px, d.col1_px, d.row1_px) for d in result.detections)


def painted(*plants: tuple[int, int, int]) -> list[tuple[float, float, float, float]]:
    return sorted((col, row, col + size, row + size) for row, col, size in plants)


def _reader_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("poppyscan-reader")]


# --- input kinds ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "layout",
    [
        {"tiled": True, "block": 256},
        {"tiled": True, "block": 64},
        {"striped": True, "rows_per_strip": 40},
        {"tiled": False, "compress": None},
    ],
    ids=["tiled-256", "tiled-64", "striped-40", "striped-uncompressed"],
)
def test_tiled_and_striped_inputs(
    layout: dict[str, object], make_raster: Callable[..., Path], fake: RecordingDetector
) -> None:
    path = make_raster(width=512, height=512, paint=squares(*PLANTS), **layout)
    result = scan(path, fake)
    assert found(result) == painted(*PLANTS)
    assert result.stats.tiles_scanned == result.stats.tiles_total == fake.tiles_seen
    plan = plan_for(result.info, result.card, 0.05)
    block_h, block_w = result.info.block_shape_px
    rows = sorted({w.row_px for w in plan})
    cols = sorted({w.col_px for w in plan})
    # Stride is 96 px: starts snap to the block where a block fits in it.
    if block_h <= 96:
        assert all(r % block_h == 0 for r in rows[:-1])
    if block_w <= 96:
        assert all(c % block_w == 0 for c in cols[:-1])


def test_rgba(make_raster: Callable[..., Path], fake: RecordingDetector) -> None:
    path = make_raster(count=4, alpha=True, paint=squares(*PLANTS))
    result = scan(path, fake)
    assert result.info.mask_kind == "alpha"
    assert found(result) == painted(*PLANTS)


def test_uint16_12bit_marker_survives_the_stretch(
    make_raster: Callable[..., Path], fake: RecordingDetector
) -> None:
    path = make_raster(dtype="uint16", paint=squares(*PLANTS, rgb=MAGENTA_12BIT))
    with rasterio.open(path) as ds:
        assert ds.read().max() <= 4095
    result = scan(path, fake)
    assert result.info.dtype == "uint16"
    assert found(result) == painted(*PLANTS)


def _paint_multispectral(data: np.ndarray) -> None:
    # Bands: blue, green, red, NIR, red edge. Magenta: red and blue high, green low.
    for row, col, size in PLANTS:
        square(data, row, col, size, rgb=(255, 0, 255), bands=(2, 1, 0))


def test_multispectral_with_labelled_bands(
    make_raster: Callable[..., Path], fake: RecordingDetector
) -> None:
    interp = [ColorInterp.blue, ColorInterp.green, ColorInterp.red]
    interp += [ColorInterp.undefined, ColorInterp.undefined]
    path = make_raster(
        count=5, photometric="MINISBLACK", colorinterp=interp, paint=_paint_multispectral
    )
    result = scan(path, fake)
    assert result.info.rgb_bands == (3, 2, 1)
    assert result.provenance["raster"]["bands"] == [3, 2, 1]
    assert found(result) == painted(*PLANTS)


def test_multispectral_bands_override(
    make_raster: Callable[..., Path], fake: RecordingDetector
) -> None:
    path = make_raster(count=5, photometric="MINISBLACK", paint=_paint_multispectral)
    with pytest.raises(RasterError, match="--bands"):
        scan(path, fake)
    result = scan(path, fake, bands=(3, 2, 1))
    assert found(result) == painted(*PLANTS)
    # With NIR read as red the marker is not magenta: no detections.
    assert scan(path, fake, bands=(4, 2, 3)).detections == ()


# --- ground sample distance -------------------------------------------------------------


def test_finer_raster_is_downsampled_to_the_model_gsd(
    make_raster: Callable[..., Path], fake: RecordingDetector
) -> None:
    # 1 cm raster, 2 cm model: 128 px tiles cover 256 source px; boxes come back in source px.
    plants = ((300, 500, 40), (700, 120, 30), (100, 820, 60))
    path = make_raster(gsd_m=0.01, width=1024, height=1024, paint=squares(*plants))
    result = scan(path, fake)
    plan = plan_for(result.info, result.card, 0.05)
    assert {(w.height_px, w.width_px) for w in plan} == {(256, 256)}
    assert {(w.out_height_px, w.out_width_px) for w in plan} == {(128, 128)}
    assert set(fake.shapes) == {(128, 128, 3)}
    got = np.array(found(result))
    want = np.array(painted(*plants))
    assert got.shape == want.shape
    # One model pixel is 2 source pixels: boxes are right to within one model pixel.
    np.testing.assert_allclose(got, want, atol=2.0)
    assert result.provenance["raster"]["gsd_m"] == pytest.approx(0.01, rel=1e-3)
    assert result.provenance["model"]["gsd_m"] == 0.02


def test_coarser_raster_is_upsampled_to_the_model_gsd(
    make_raster: Callable[..., Path], fake: RecordingDetector
) -> None:
    plants = ((60, 80, 10), (200, 200, 12))
    path = make_raster(gsd_m=0.04, width=256, height=256, paint=squares(*plants))
    result = scan(path, fake)
    plan = plan_for(result.info, result.card, 0.05)
    assert {(w.height_px, w.width_px) for w in plan} == {(64, 64)}
    np.testing.assert_allclose(np.array(found(result)), np.array(painted(*plants)), atol=1.0)


def test_gsd_within_tolerance_is_read_natively(
    make_raster: Callable[..., Path], fake: RecordingDetector
) -> None:
    path = make_raster(gsd_m=0.0205, width=300, height=300, paint=squares((50, 50, 17)))
    result = scan(path, fake)
    assert {(w.height_px, w.width_px) for w in plan_for(result.info, result.card, 0.05)} == {
        (128, 128)
    }
    assert found(result) == painted((50, 50, 17))


# --- nodata, alpha, masks ---------------------------------------------------------------


def _half_invalid(kind: str, make_raster: Callable[..., Path]) -> Path:
    """1024 px flight whose columns < 608 hold no data; a plant on each side of the edge.

    608 is where a window (480..608) ends: that window has no valid pixel but touches valid
    ones, so it passes the coarse overview mask and must be dropped by the reader.
    """
    valid = np.ones((1024, 1024), dtype=bool)
    valid[:, :608] = False

    def paint(data: np.ndarray) -> None:
        square(data, 500, 700, 20)  # visible
        if kind == "nodata":
            data[:3][:, ~valid] = 0
        else:
            square(data, 500, 560, 20)  # under the invalid part: must not be found
        if kind == "alpha":
            data[3][~valid] = 0

    return make_raster(
        f"{kind}.tif",
        width=1024,
        height=1024,
        count=4 if kind == "alpha" else 3,
        alpha=kind == "alpha",
        nodata=0 if kind == "nodata" else None,
        valid_mask=valid if kind == "mask" else None,
        paint=paint,
    )


@pytest.mark.parametrize("kind", ["nodata", "alpha", "mask"])
def test_invalid_windows_are_skipped(
    kind: str, make_raster: Callable[..., Path], fake: RecordingDetector
) -> None:
    path = _half_invalid(kind, make_raster)
    result = scan(path, fake)
    stats = result.stats
    plan = plan_for(result.info, result.card, 0.05)
    empty = [w for w in plan if w.col_px + w.width_px <= 608]
    assert stats.tiles_skipped == len(empty) > 0
    assert stats.tiles_scanned + stats.tiles_skipped == stats.tiles_total == len(plan)
    # The model saw exactly the scanned tiles, and none of them was blank.
    assert fake.tiles_seen == stats.tiles_scanned
    assert fake.blank_tiles == 0
    assert found(result) == painted((500, 700, 20))
    # Both skip paths ran: the overview mask dropped most empty windows, the reader the rest.
    coarse = coarse_valid_mask(result.info)
    assert coarse is not None
    passed_coarse = [w for w in empty if window_may_be_valid(w, coarse)]
    assert 0 < len(passed_coarse) < len(empty)


def test_all_nodata_is_a_raster_error(
    make_raster: Callable[..., Path], fake: RecordingDetector
) -> None:
    path = make_raster(nodata=0, paint=lambda d: d.fill(0))
    with pytest.raises(RasterError, match="no valid pixels"):
        scan(path, fake)
    assert fake.tiles_seen == 0


def test_corrupt_block_mid_file_fails_cleanly(
    make_raster: Callable[..., Path], fake: RecordingDetector
) -> None:
    path = make_raster(width=1024, height=1024, block=256)
    with rasterio.open(path) as ds:
        offset = int(ds.get_tag_item("BLOCK_OFFSET_1_1", "TIFF", bidx=1))
    with path.open("r+b") as handle:  # garble the deflate stream of an inner block
        handle.seek(offset + 8)
        handle.write(b"\xff" * 2048)
    with pytest.raises(RasterError, match="corrupt or truncated"):
        scan(path, fake)
    assert not _reader_threads(), "reader threads must stop when a read fails"


# --- progress and cancellation ----------------------------------------------------------


def test_progress_is_monotonic_and_ends_at_total(
    make_raster: Callable[..., Path], fake: RecordingDetector
) -> None:
    path = _half_invalid("nodata", make_raster)
    calls: list[tuple[int, int]] = []
    result = scan(
        path, fake, progress=lambda done, total: calls.append((done, total)), batch_size=3
    )
    total = result.stats.tiles_total
    assert len(calls) >= 3
    assert {t for _, t in calls} == {total}
    done = [d for d, _ in calls]
    assert done == sorted(done), "progress never goes back"
    assert done[0] >= 0 and done[-1] == total


def test_cancel_stops_the_scan(make_raster: Callable[..., Path], fake: RecordingDetector) -> None:
    path = make_raster(width=1024, height=1024, paint=squares(*PLANTS))
    polls = []

    def cancel() -> bool:
        polls.append(1)
        return True

    with pytest.raises(ScanCancelled, match="cancelled"):
        scan(path, fake, cancel=cancel, batch_size=2)
    assert len(polls) == 1
    assert fake.tiles_seen == 2, "no batch runs after the cancel"
    assert not _reader_threads(), "reader threads must stop on cancel"


def test_cancel_false_lets_the_scan_finish(
    make_raster: Callable[..., Path], fake: RecordingDetector
) -> None:
    path = make_raster(width=512, height=512, paint=squares(*PLANTS))
    result = scan(path, fake, cancel=lambda: False, batch_size=2)
    assert found(result) == painted(*PLANTS)


# --- result contents --------------------------------------------------------------------


def test_provenance_and_stats(make_raster: Callable[..., Path], fake: RecordingDetector) -> None:
    path = make_raster(width=512, height=512, paint=squares(*PLANTS))
    result = scan(path, fake, conf=0.3)
    prov = result.provenance
    assert prov["software"].startswith("poppyscan ")
    assert prov["created_utc"].endswith("+00:00")
    assert prov["model"]["sha256"] == "fake"
    assert prov["model"]["name"] == "fake-test" and prov["model"]["gsd_m"] == 0.02
    assert prov["raster"]["fingerprint"].startswith("sha256s:")
    assert prov["raster"]["crs"] == "EPSG:32648"
    assert prov["raster"]["gsd_m"] == pytest.approx(0.02, rel=1e-3)
    assert prov["thresholds"]["confidence"] == 0.3
    assert prov["stats"]["tiles_total"] == result.stats.tiles_total == 25
    assert result.stats.detections_raw >= len(result.detections) == 3


def test_fingerprint_changes_with_the_file(
    make_raster: Callable[..., Path], fake: RecordingDetector
) -> None:
    a = scan(make_raster("a.tif", paint=squares((10, 10, 10))), fake)
    b = scan(make_raster("b.tif", paint=squares((10, 12, 10))), fake)
    assert a.provenance["raster"]["fingerprint"] != b.provenance["raster"]["fingerprint"]


# --- real data --------------------------------------------------------------------------


def test_real_tiled_geotiff_in_a_national_crs(
    shared_data: Path, fake_factory: Callable[..., RecordingDetector]
) -> None:
    path = shared_data / "smoke" / "test_tiled.tif"
    if not path.is_file():
        pytest.skip(f"{path} is absent")
    # A 0.25 m card so the 1000 px raster is read at its own resolution; 512 px tiles with
    # 64 px overlap stride 448 px, which snaps to the file's 256 px blocks.
    detector = fake_factory(gsd_m=0.25, tile_size_px=512, overlap_px=64)
    result = scan(path, detector)
    assert result.provenance["raster"]["crs"] == "EPSG:28992"
    assert result.info.gsd_m == pytest.approx(0.25, rel=0.01)
    plan = plan_for(result.info, result.card, 0.05)
    assert sorted({w.row_px for w in plan}) == [0, 256, 488]
    covered = np.zeros((result.info.height_px, result.info.width_px), dtype=bool)
    for w in plan:
        covered[w.row_px : w.row_px + w.height_px, w.col_px : w.col_px + w.width_px] = True
    assert covered.all()
    assert result.stats.tiles_scanned == result.stats.tiles_total == len(plan) == 9
    assert detector.tiles_seen == 9 and detector.blank_tiles == 0


def test_transform_helper_gives_square_ground_pixels() -> None:
    # The generator itself: 2 cm on the ground in Web Mercator at 30 degrees, whose units
    # are about 1/cos(30) ground metres (slightly different east and north on the ellipsoid).
    t = transform_at("EPSG:3857", 0.02, lon=104.5, lat=30.0)
    assert t.a == pytest.approx(0.02 / np.cos(np.radians(30.0)), rel=0.01)
    assert -t.e == pytest.approx(0.02 / np.cos(np.radians(30.0)), rel=0.01)
    lon, lat = 104.5, 30.0
    to_wgs84 = Transformer.from_crs(3857, 4326, always_xy=True)
    x0, y0 = t.c, t.f
    corner = to_wgs84.transform(x0, y0)
    east = to_wgs84.transform(x0 + t.a, y0)
    south = to_wgs84.transform(x0, y0 + t.e)
    assert corner == pytest.approx((lon, lat), abs=1e-9)
    geod = Geod(ellps="WGS84")
    assert geod.inv(*corner, *east)[2] == pytest.approx(0.02, rel=1e-4)
    assert geod.inv(*corner, *south)[2] == pytest.approx(0.02, rel=1e-4)
