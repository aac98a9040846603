"""The spatial train/val split of a dataset: which split each tile window goes to.

The split is spatial — whole flights go to validation (:func:`constant_splitter` per flight),
or whole ground blocks with a guard band between them (:func:`block_splitter`) — never random
tiles of one area in both sets. A splitter is asked about every window of the scanner's plan
and answers ``"train"``, ``"val"`` or None for a guard window left out.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np
from pyproj import CRS

from detector.georef import Georeferencer, transformer
from detector.raster import RasterInfo
from detector.tiling import TileWindow
from training.errors import DatasetError
from training.yolo_tiles import SPLITS

if TYPE_CHECKING:
    from training.yolo_tiles import DatasetCounts

# Square ground blocks of the spatial split, metres, and the share of blocks sent to val.
DEFAULT_BLOCK_M = 100.0
DEFAULT_VAL_FRACTION = 0.2

# Decides the split of one tile window: "train", "val", or None for a guard tile left out.
WindowSplitter = Callable[[TileWindow], str | None]


def constant_splitter(split: str) -> WindowSplitter:
    """A splitter sending every window of a raster to ``split``."""

    def split_of(_window: TileWindow) -> str | None:
        return split

    return split_of


def utm_epsg(info: RasterInfo) -> int:
    """EPSG code of the WGS84 UTM zone holding the raster's centre."""
    lon, lat = Georeferencer(info).pixel_to_lonlat(
        np.array([info.width_px / 2]), np.array([info.height_px / 2])
    )
    zone = min(60, max(1, int((float(lon[0]) + 180) // 6) + 1))
    return (32600 if float(lat[0]) >= 0 else 32700) + zone


def block_is_val(epsg: int, ix: int, iy: int, val_fraction: float, seed: int) -> bool:
    """Whether ground block ``(ix, iy)`` of UTM zone ``epsg`` goes to val (a seeded hash)."""
    digest = hashlib.sha256(f"{seed}/{epsg}/{ix}/{iy}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64 < val_fraction


def _block_range(values: np.ndarray, block_m: float) -> range:
    """Indexes of the blocks an extent ``[min, max]`` (metres) covers with positive length."""
    # Rounded to the micrometre so an edge lying on a block line does not reach across it.
    low, high = round(float(values.min()), 6), round(float(values.max()), 6)
    first = math.floor(low / block_m)
    return range(first, max(first, math.ceil(high / block_m) - 1) + 1)


def block_splitter(
    info: RasterInfo,
    *,
    block_m: float = DEFAULT_BLOCK_M,
    val_fraction: float = DEFAULT_VAL_FRACTION,
    seed: int = 0,
) -> WindowSplitter:
    """Split windows by square ground blocks, leaving out windows that straddle both splits.

    The ground is cut into ``block_m`` squares on the UTM grid of the raster's zone (so
    flights that overlap share blocks, whatever their own CRS), and each block goes to train
    or val by a seeded hash of its position. A window goes to the split of the blocks its
    footprint (overlap included) covers; a window over blocks of both splits is left out.
    Those left-out windows form a guard band about one tile wide along every train/val
    border, so no train tile shares any ground with a val tile.

    Args:
        info: The raster.
        block_m: Block edge on the ground, metres.
        val_fraction: Share of blocks sent to val (0..1).
        seed: Seeds which blocks go to val.
    """
    if block_m <= 0 or not 0 < val_fraction < 1:
        raise DatasetError(
            f"block split needs block_m > 0 and 0 < val_fraction < 1, got {block_m} m and "
            f"{val_fraction}"
        )
    epsg = utm_epsg(info)
    geo = Georeferencer(info)
    to_utm = transformer(info.crs_wkt, CRS.from_epsg(epsg).to_wkt())

    def split_of(window: TileWindow) -> str | None:
        col0, row0 = window.col_px, window.row_px
        col1, row1 = col0 + window.width_px, row0 + window.height_px
        xs, ys = geo.pixel_to_map([col0, col1, col0, col1], [row0, row0, row1, row1])
        east, north = (np.asarray(v) for v in to_utm.transform(xs, ys))
        splits = {
            "val" if block_is_val(epsg, ix, iy, val_fraction, seed) else "train"
            for ix in _block_range(east, block_m)
            for iy in _block_range(north, block_m)
        }
        return splits.pop() if len(splits) == 1 else None

    return split_of


def require_both_splits(counts: DatasetCounts, hint: str) -> None:
    """Refuse a dataset whose train or val split holds no tile."""
    for split in SPLITS:
        if counts.tiles(split) == 0:
            raise DatasetError(f"the split put no tile in {split}; {hint}")
