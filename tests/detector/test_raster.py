"""Opening rasters: validation, band choice, masks, 16-bit stretch and windowed reads."""

from __future__ import annotations

import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import rasterio
from affine import Affine
from rasterio.enums import ColorInterp
from rasters import MAGENTA, MAGENTA_12BIT, square, truncate

from detector.errors import RasterError
from detector.raster import (
    RasterReader,
    coarse_valid_mask,
    inspect_raster,
    window_may_be_valid,
)
from detector.tiling import TileWindow, plan_windows

MULTISPECTRAL = [
    ColorInterp.blue,
    ColorInterp.green,
    ColorInterp.red,
    ColorInterp.undefined,  # near infrared
    ColorInterp.undefined,  # red edge
]


def _full_window(size: int) -> TileWindow:
    return TileWindow(0, 0, 0, size, size, size, size)


def test_rgb_tiled(make_raster: Callable[..., Path]) -> None:
    info = inspect_raster(make_raster(width=600, height=400, block=128))
    assert (info.width_px, info.height_px, info.band_count) == (600, 400, 3)
    assert info.is_tiled and info.block_shape_px == (128, 128)
    assert info.rgb_bands == (1, 2, 3) and info.alpha_band is None
    assert info.mask_kind == "all_valid" and info.dtype == "uint8"
    assert info.stretch_low == () and info.stretch_high == ()
    assert info.area_ha == pytest.approx(600 * 400 * 0.02**2 / 10_000, rel=1e-3)


def test_striped(make_raster: Callable[..., Path]) -> None:
    info = inspect_raster(make_raster(width=600, height=400, striped=True, rows_per_strip=8))
    assert not info.is_tiled
    assert info.block_shape_px == (8, 600)


def test_rgba_alpha_is_the_mask(make_raster: Callable[..., Path]) -> None:
    info = inspect_raster(make_raster(count=4, alpha=True))
    assert info.rgb_bands == (1, 2, 3)
    assert info.alpha_band == 4
    assert info.mask_kind == "alpha"


def test_nodata_and_internal_mask_kinds(make_raster: Callable[..., Path]) -> None:
    assert inspect_raster(make_raster("nodata.tif", nodata=0)).mask_kind == "nodata"
    mask = np.ones((512, 512), dtype=bool)
    mask[:, :100] = False
    assert inspect_raster(make_raster("masked.tif", valid_mask=mask)).mask_kind == "mask"


def test_uint16_gets_a_percentile_stretch(make_raster: Callable[..., Path]) -> None:
    path = make_raster(dtype="uint16", paint=lambda d: square(d, 100, 100, 20, rgb=MAGENTA_12BIT))
    info = inspect_raster(path)
    assert info.dtype == "uint16"
    assert len(info.stretch_low) == len(info.stretch_high) == 3
    # The field spans roughly 0.35..0.75 of 4095 in green: the stretch sits inside it.
    assert 0.3 * 4095 < info.stretch_low[1] < info.stretch_high[1] < 0.8 * 4095
    with RasterReader(info, 512) as reader:
        tile = reader.read_tile(_full_window(512))
    assert tile is not None and tile.rgb.dtype == np.uint8
    # The marker survives the stretch as exact magenta; no field pixel comes near it.
    assert tuple(tile.rgb[110, 110]) == MAGENTA
    field = tile.rgb[300:, 300:].reshape(-1, 3).astype(int)
    assert np.abs(field - np.array(MAGENTA)).max(axis=1).min() > 100
    assert field.max() > 200 and field.min() < 50, "the stretch spreads the field over 0..255"


def test_multispectral_labelled_bands(make_raster: Callable[..., Path]) -> None:
    path = make_raster(count=5, photometric="MINISBLACK", colorinterp=MULTISPECTRAL)
    assert inspect_raster(path).rgb_bands == (3, 2, 1)


def test_multispectral_unlabelled_needs_bands(make_raster: Callable[..., Path]) -> None:
    path = make_raster(count=5, photometric="MINISBLACK")
    with pytest.raises(RasterError, match="--bands"):
        inspect_raster(path)
    assert inspect_raster(path, bands=(3, 2, 1)).rgb_bands == (3, 2, 1)
    with pytest.raises(RasterError, match="--bands 1,2,9"):
        inspect_raster(path, bands=(1, 2, 9))


def test_bands_override_reads_the_named_bands(make_raster: Callable[..., Path]) -> None:
    # Magenta in bands 3 (red), 2 (green), 1 (blue) of a B, G, R, NIR, RE raster.
    def paint(data: np.ndarray) -> None:
        square(data, 50, 60, 10, rgb=(255, 0, 255), bands=(2, 1, 0))
        data[3, 50:60, 60:70] = 7

    path = make_raster(count=5, photometric="MINISBLACK", paint=paint, width=128, height=128)
    info = inspect_raster(path, bands=(3, 2, 1))
    with RasterReader(info, 128) as reader:
        tile = reader.read_tile(_full_window(128))
    assert tile is not None
    assert tuple(tile.rgb[55, 65]) == MAGENTA
    with rasterio.open(path) as ds:
        want = ds.read([3, 2, 1]).transpose(1, 2, 0)
    np.testing.assert_array_equal(tile.rgb, want)


def test_single_band_is_refused(make_raster: Callable[..., Path]) -> None:
    with pytest.raises(RasterError, match="colour band"):
        inspect_raster(make_raster(count=1, photometric="MINISBLACK"))


@pytest.mark.parametrize("kind", ["nodata", "alpha", "mask"])
def test_invalid_pixels_are_blanked_in_partly_valid_windows(
    kind: str, make_raster: Callable[..., Path]
) -> None:
    valid = np.ones((128, 128), dtype=bool)
    valid[:, :50] = False

    def paint(data: np.ndarray) -> None:
        # Under the invalid part: nodata everywhere (255 so it is not already 0), or a marker
        # that a transparent alpha / the mask must hide.
        if kind == "nodata":
            data[:3, :, :50] = 255
        else:
            square(data, 10, 10, 20)
        if kind == "alpha":
            data[3][~valid] = 0

    path = make_raster(
        width=128,
        height=128,
        count=4 if kind == "alpha" else 3,
        alpha=kind == "alpha",
        nodata=255 if kind == "nodata" else None,
        valid_mask=valid if kind == "mask" else None,
        paint=paint,
    )
    info = inspect_raster(path)
    assert info.mask_kind == kind
    with RasterReader(info, 128) as reader:
        tile = reader.read_tile(_full_window(128))
    assert tile is not None
    assert tile.valid_fraction == pytest.approx(78 / 128)
    assert not tile.rgb[:, :50].any(), "invalid pixels must be 0 in every band"
    with rasterio.open(path) as ds:
        raw = ds.read([1, 2, 3]).transpose(1, 2, 0)
    np.testing.assert_array_equal(tile.rgb[:, 50:], raw[:, 50:])


@pytest.mark.parametrize("kind", ["nodata", "alpha", "mask"])
def test_fully_invalid_window_reads_as_none(kind: str, make_raster: Callable[..., Path]) -> None:
    valid = np.zeros((256, 256), dtype=bool)
    valid[:, 128:] = True

    def paint(data: np.ndarray) -> None:
        if kind == "nodata":
            data[:3, :, :128] = 0
        if kind == "alpha":
            data[3][~valid] = 0

    path = make_raster(
        width=256,
        height=256,
        count=4 if kind == "alpha" else 3,
        alpha=kind == "alpha",
        nodata=0 if kind == "nodata" else None,
        valid_mask=valid if kind == "mask" else None,
        paint=paint,
    )
    info = inspect_raster(path)
    with RasterReader(info, 128) as reader:
        assert reader.read_tile(TileWindow(0, 0, 0, 128, 128, 128, 128)) is None
        right = reader.read_tile(TileWindow(1, 0, 128, 128, 128, 128, 128))
    assert right is not None and right.valid_fraction == 1.0
    coarse = coarse_valid_mask(info)
    assert coarse is not None
    plan = plan_windows(256, 256, tile_size_px=64, overlap_px=0)
    assert [window_may_be_valid(w, coarse) for w in plan][:4] == [False, True, True, True]


def test_resampled_read_has_the_model_tile_shape(make_raster: Callable[..., Path]) -> None:
    path = make_raster(width=300, height=300, paint=lambda d: square(d, 100, 100, 40))
    info = inspect_raster(path)
    # 256 source px read as 128 model px (a 1 cm raster under a 2 cm model), padded to 160.
    with RasterReader(info, 160) as reader:
        tile = reader.read_tile(TileWindow(0, 0, 0, 256, 256, 128, 128))
    assert tile is not None and tile.rgb.shape == (160, 160, 3)
    assert not tile.rgb[128:].any() and not tile.rgb[:, 128:].any(), "padding is 0"
    assert tuple(tile.rgb[60, 60]) == MAGENTA  # source pixel (120, 120)


# --- bad rasters ------------------------------------------------------------------------


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(RasterError, match="no such file"):
        inspect_raster(tmp_path / "nope.tif")


def test_not_a_raster(tmp_path: Path) -> None:
    path = tmp_path / "notes.tif"
    path.write_text("flight notes, not an image\n")
    with pytest.raises(RasterError, match="not a raster"):
        inspect_raster(path)


def test_no_georeferencing(tmp_path: Path) -> None:
    path = tmp_path / "plain.tif"
    profile = {"driver": "GTiff", "width": 64, "height": 64, "count": 3, "dtype": "uint8"}
    with (
        pytest.warns(rasterio.errors.NotGeoreferencedWarning),
        rasterio.open(path, "w", **profile) as dst,
    ):
        dst.write(np.full((3, 64, 64), 100, dtype=np.uint8))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with pytest.raises(RasterError, match="no georeferencing"):
            inspect_raster(path)
    assert caught == [], "the RasterError says it all; no warning on top (the CLI prints both)"


def test_crs_without_transform(make_raster: Callable[..., Path]) -> None:
    with pytest.warns(rasterio.errors.NotGeoreferencedWarning):
        path = make_raster(transform=Affine.identity())
    with pytest.raises(RasterError, match="no georeferencing"):
        inspect_raster(path)


@pytest.mark.parametrize("keep", [0.05, 0.5, 0.95])
def test_truncated_tiled_geotiff(keep: float, make_raster: Callable[..., Path]) -> None:
    path = truncate(make_raster(width=1024, height=1024, block=256), keep)
    with pytest.raises(RasterError, match=r"corrupt or truncated|not a raster"):
        inspect_raster(path)


def test_all_nodata_has_no_valid_pixels(make_raster: Callable[..., Path]) -> None:
    path = make_raster(nodata=0, paint=lambda d: d.fill(0))
    info = inspect_raster(path)
    with pytest.raises(RasterError, match="no valid pixels"):
        coarse_valid_mask(info)
