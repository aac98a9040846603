"""Synthetic orthomosaics for the scan speed benchmark, rendered once and cached.

Two scenes, both RGB GeoTIFFs tiled in ``BLOCK_PX`` blocks with overviews, in UTM 41N at the
model's ground sample distance:

- ``flight``: ``training.synthetic.generate_flight`` (villages, fields, poppy and cannabis
  plots), without its nodata outline so every system sees the same tiles. A 16384 px square
  takes about 3 minutes to render on 2 cores, the 2x-area one about 5.
- ``texture``: this module's own textured fields, in seconds, with a choice of compression.

Builds are bounded in memory (strip by strip) and written under a temporary name, so an
interrupted build is never mistaken for a cached raster.
"""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path
from typing import Any

import numpy as np
import rasterio
from affine import Affine
from rasterio.enums import ColorInterp, Resampling
from rasterio.windows import Window

log = logging.getLogger(__name__)

BLOCK_PX = 512  # GeoTIFF block edge, pixels
# Synthetic scene: UTM 41N (Helmand), about 130 km east of the central meridian.
SCENE_CRS = "EPSG:32641"
SCENE_ORIGIN_M = (630_000.0, 3_500_000.0)  # upper-left corner, easting / northing in metres
SCENES = ("flight", "texture")
COMPRESSIONS = ("deflate", "jpeg", "lzw", "none")

FIELD_PX = 1024  # side of one synthetic field, pixels
SHADE_PX = 64  # cell of the smooth brightness variation, pixels
FIELD_PALETTE = np.array(
    [
        [150, 128, 100],  # bare soil
        [170, 150, 120],  # dry soil
        [90, 120, 60],  # wheat
        [70, 110, 50],  # green crop
        [120, 135, 80],  # sparse crop
        [110, 100, 90],  # track / compound
    ],
    dtype=np.int16,
)
PLANT_COLOURS = np.array([[60, 120, 50], [200, 90, 140], [210, 60, 60], [80, 150, 70]], np.uint8)


def raster_path(workdir: Path, height_px: int, width_px: int, gsd_m: float, compress: str) -> Path:
    """Return the cache path of a synthetic raster with these parameters."""
    return workdir / f"ortho_{height_px}x{width_px}_{gsd_m * 100:.2f}cm_{compress}_v2.tif"


def _scene_grids(height_px: int, width_px: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Return the coarse field-colour grid and the coarse shading grid of a scene."""
    rng = np.random.default_rng(seed)
    fields_shape = (height_px // FIELD_PX + 2, width_px // FIELD_PX + 2)
    fields = FIELD_PALETTE[rng.integers(0, len(FIELD_PALETTE), fields_shape)]
    shade_shape = (height_px // SHADE_PX + 3, width_px // SHADE_PX + 3)
    shade = rng.normal(0.0, 12.0, shade_shape).astype(np.float32)
    return fields, shade


def _texture_strip(
    fields: np.ndarray, shade: np.ndarray, row_px: int, height_px: int, width_px: int, seed: int
) -> np.ndarray:
    """Render rows ``[row_px, row_px + height_px)`` of the scene as uint8 ``(3, h, w)``.

    Fields of flat colour, a smooth brightness variation, per-pixel noise and scattered
    plant-sized discs: enough texture that compression and decoding cost what they would on a
    real orthomosaic. Deterministic for a given seed and strip.
    """
    import cv2

    rows = np.arange(row_px, row_px + height_px)
    cols = np.arange(width_px)
    colour = fields[(rows // FIELD_PX)[:, None], (cols // FIELD_PX)[None, :]]  # (h, w, 3)
    # Smooth shading: resize a coarse slice with a one-cell margin so strips join seamlessly.
    c0 = max(0, row_px // SHADE_PX - 1)
    c1 = (row_px + height_px) // SHADE_PX + 2
    coarse = shade[c0:c1, : width_px // SHADE_PX + 2]
    size = (coarse.shape[1] * SHADE_PX, coarse.shape[0] * SHADE_PX)
    fine = cv2.resize(coarse, size, interpolation=cv2.INTER_LINEAR)
    offset = row_px - c0 * SHADE_PX
    smooth = fine[offset : offset + height_px, :width_px]
    rng = np.random.default_rng([seed, row_px])
    noise = rng.integers(-10, 11, (height_px, width_px, 3), dtype=np.int16)
    img = colour + noise + smooth[..., None].astype(np.int16)
    strip = np.clip(img, 0, 255).astype(np.uint8)
    # Plants are seeded per block row; neighbours' plants are drawn too so discs cross seams.
    for block_row in range(row_px - BLOCK_PX, row_px + height_px + 1, BLOCK_PX):
        if block_row < 0:
            continue
        plants = np.random.default_rng([seed, block_row, 1])
        count = BLOCK_PX * width_px // 3000
        centres = plants.integers(0, [width_px, BLOCK_PX], (count, 2))
        centres[:, 1] += block_row - row_px
        radii = plants.integers(3, 14, count)
        colours = PLANT_COLOURS[plants.integers(0, len(PLANT_COLOURS), count)]
        for (x, y), radius, rgb in zip(centres, radii, colours, strict=True):
            cv2.circle(strip, (int(x), int(y)), int(radius), tuple(int(v) for v in rgb), -1)
    return np.ascontiguousarray(strip.transpose(2, 0, 1))


def _creation_options(compress: str) -> dict[str, Any]:
    """GeoTIFF creation options for a tiled, compressed orthomosaic."""
    options: dict[str, Any] = {
        "tiled": True,
        "blockxsize": BLOCK_PX,
        "blockysize": BLOCK_PX,
        "interleave": "pixel",
        "BIGTIFF": "IF_SAFER",
        "NUM_THREADS": "ALL_CPUS",
    }
    if compress == "deflate":
        options.update(compress="deflate", predictor=2)
    elif compress == "jpeg":
        options.update(compress="jpeg", photometric="ycbcr", jpeg_quality=90)
    elif compress == "lzw":
        options.update(compress="lzw", predictor=2)
    return options


def build_raster(
    path: Path, height_px: int, width_px: int, gsd_m: float, compress: str, seed: int = 7
) -> Path:
    """Write a synthetic RGB orthomosaic strip by strip, then add overviews (bounded memory).

    Written to a temporary name and renamed when complete, so an interrupted build is never
    mistaken for a cached raster.

    Args:
        path: Destination GeoTIFF.
        height_px: Raster height, pixels.
        width_px: Raster width, pixels.
        gsd_m: Pixel size, metres (projected CRS units).
        compress: ``deflate``, ``jpeg``, ``lzw`` or ``none``.
        seed: Scene seed.
    """
    if path.exists():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".partial.tif")
    fields, shade = _scene_grids(height_px, width_px, seed)
    x0, y0 = SCENE_ORIGIN_M
    profile = {
        "driver": "GTiff",
        "height": height_px,
        "width": width_px,
        "count": 3,
        "dtype": "uint8",
        "crs": SCENE_CRS,
        "transform": Affine(gsd_m, 0.0, x0, 0.0, -gsd_m, y0),
        **_creation_options(compress),
    }
    started = time.perf_counter()
    with rasterio.Env(GDAL_NUM_THREADS="ALL_CPUS"), rasterio.open(tmp, "w", **profile) as ds:
        ds.colorinterp = [ColorInterp.red, ColorInterp.green, ColorInterp.blue]
        for row in range(0, height_px, BLOCK_PX):
            rows = min(BLOCK_PX, height_px - row)
            strip = _texture_strip(fields, shade, row, rows, width_px, seed)
            ds.write(strip, window=Window(0, row, width_px, rows))
    overview_env = {"COMPRESS_OVERVIEW": "DEFLATE", "GDAL_NUM_THREADS": "ALL_CPUS"}
    if compress == "jpeg":
        overview_env = {"COMPRESS_OVERVIEW": "JPEG", "PHOTOMETRIC_OVERVIEW": "YCBCR"}
    with rasterio.Env(**overview_env), rasterio.open(tmp, "r+") as ds:
        factors = [2**k for k in range(1, 12) if max(height_px, width_px) >> k >= 256]
        ds.build_overviews(factors, Resampling.average)
    os.replace(tmp, path)
    size_mb = path.stat().st_size / 1e6
    log.info(f"built {path.name} ({size_mb:.0f} MB) in {time.perf_counter() - started:.0f} s")
    return path


def build_flight(path: Path, height_px: int, width_px: int, gsd_m: float) -> Path:
    """Render a flight with ``training.synthetic.generate_flight`` (villages, fields, plots).

    No nodata outline, so every system sees the same tiles (a scan skips empty tiles, the
    others do not). Cached like :func:`build_raster`.
    """
    if path.exists():
        return path
    from training.synthetic import generate_flight

    started = time.perf_counter()
    flight = generate_flight(
        path.parent,
        seed=7,
        width_px=width_px,
        height_px=height_px,
        gsd_m=gsd_m,
        crs=SCENE_CRS,
        origin_xy=SCENE_ORIGIN_M,
        name=path.stem,
        nodata_border=False,
        block_px=BLOCK_PX,
    )
    log.info(
        f"rendered {path.name} ({len(flight.plants)} labelled plants, "
        f"{path.stat().st_size / 1e6:.0f} MB) in {time.perf_counter() - started:.0f} s"
    )
    return flight.raster_path


def default_scene() -> str:
    """``flight`` when ``training.synthetic.generate_flight`` exists, else ``texture``."""
    try:
        from training.synthetic import generate_flight  # noqa: F401
    except ImportError:
        return "texture"
    return "flight"


def warm_page_cache(path: Path) -> None:
    """Read a file once so every system starts from the same (warm) page cache."""
    with path.open("rb") as handle:
        while handle.read(16 << 20):
            pass


def scene_raster(
    workdir: Path, scene: str, height_px: int, width_px: int, gsd_m: float, compress: str
) -> Path:
    """Return the cached raster of a scene, building it first if needed.

    Args:
        workdir: Cache directory.
        scene: ``flight`` or ``texture`` (see the module docstring).
        height_px: Raster height, pixels.
        width_px: Raster width, pixels.
        gsd_m: Pixel size, metres.
        compress: Encoding of the ``texture`` scene (flights are always DEFLATE).
    """
    if scene == "flight":
        path = workdir / f"flight_{height_px}x{width_px}_{gsd_m * 100:.2f}cm.tif"
        return build_flight(path, height_px, width_px, gsd_m)
    path = raster_path(workdir, height_px, width_px, gsd_m, compress)
    return build_raster(path, height_px, width_px, gsd_m, compress)
