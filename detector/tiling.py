"""Geometry of tile windows: where the scanner reads and what the model sees. No I/O.

A window is a rectangle of the source raster (source pixels) that is resampled while reading
to the model's ground sample distance. Windows overlap by at least the model's overlap so
every plant smaller than the overlap lies whole inside one window; they start on the file's
block boundaries where the stride allows it, so each block is decoded by as few reads as
possible; and the last row and column of windows sit flush with the raster's far edge, so
coverage reaches the last pixel without reading outside the raster.

Coordinates: ``row``/``col`` are source-raster pixel-corner coordinates (row 0 is the top
edge of the first pixel row); ``height``/``width`` are sizes in source pixels.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass


@dataclass(frozen=True)
class TileWindow:
    """One read of the raster and the tile it becomes.

    Attributes:
        index: Position in scan order (row-major), unique within a plan.
        row_px: Top edge of the window, source pixels.
        col_px: Left edge of the window, source pixels.
        height_px: Window height, source pixels.
        width_px: Window width, source pixels.
        out_height_px: Height of the resampled tile, model pixels (<= the model's tile size;
            edge windows of a raster smaller than one tile are padded by the caller).
        out_width_px: Width of the resampled tile, model pixels.
    """

    index: int
    row_px: int
    col_px: int
    height_px: int
    width_px: int
    out_height_px: int
    out_width_px: int

    @property
    def row_scale(self) -> float:
        """Source pixels per tile pixel along rows."""
        return self.height_px / self.out_height_px

    @property
    def col_scale(self) -> float:
        """Source pixels per tile pixel along columns."""
        return self.width_px / self.out_width_px

    def tile_to_raster(self, col_tile: float, row_tile: float) -> tuple[float, float]:
        """Map a tile pixel-corner coordinate to a source-raster one: ``(col, row)``."""
        return self.col_px + col_tile * self.col_scale, self.row_px + row_tile * self.row_scale


@dataclass(frozen=True)
class TilePlan:
    """Every window of one scan and the parameters that produced them.

    Attributes:
        windows: The windows, row-major.
        tile_size_px: Model tile edge, model pixels.
        overlap_px: Requested overlap, model pixels (actual overlap may be larger where
            windows were snapped to block boundaries).
        scale_row: Source pixels per model pixel along rows.
        scale_col: Source pixels per model pixel along columns.
    """

    windows: tuple[TileWindow, ...]
    tile_size_px: int
    overlap_px: int
    scale_row: float
    scale_col: float

    def __len__(self) -> int:
        return len(self.windows)

    def __iter__(self) -> Iterator[TileWindow]:
        return iter(self.windows)


def axis_starts(length_px: int, window_px: int, stride_px: int, block_px: int) -> list[int]:
    """Return window start offsets along one axis that cover ``[0, length_px)`` with no gap.

    Args:
        length_px: Raster extent along the axis, source pixels.
        window_px: Window extent, source pixels.
        stride_px: Largest allowed step between window starts (window minus overlap).
        block_px: The file's block extent along the axis; the stride is rounded down to a
            whole number of blocks when at least one block fits, so starts are block-aligned.

    Returns:
        Sorted, distinct start offsets; the last window ends exactly at ``length_px``.
    """
    if length_px <= window_px:
        return [0]
    step = max(1, stride_px)
    if 0 < block_px <= step:
        step = (step // block_px) * block_px
    starts = list(range(0, length_px - window_px, step))
    starts.append(length_px - window_px)
    return starts


def plan_windows(
    raster_height_px: int,
    raster_width_px: int,
    *,
    tile_size_px: int,
    overlap_px: int,
    scale_row: float = 1.0,
    scale_col: float = 1.0,
    block_shape_px: tuple[int, int] = (0, 0),
) -> TilePlan:
    """Cut a raster into overlapping tile windows at the model's ground sample distance.

    Args:
        raster_height_px: Raster height, source pixels.
        raster_width_px: Raster width, source pixels.
        tile_size_px: Square tile edge the model takes, model pixels.
        overlap_px: Minimum overlap between neighbouring tiles, model pixels.
        scale_row: Source pixels per model pixel along rows (model GSD / raster GSD).
        scale_col: Source pixels per model pixel along columns.
        block_shape_px: The file's internal block ``(height, width)``; ``(0, 0)`` if unknown.

    Returns:
        The plan. Every raster pixel lies inside at least one window.
    """
    if raster_height_px <= 0 or raster_width_px <= 0:
        raise ValueError("raster has no pixels")
    if not 0 <= overlap_px < tile_size_px:
        raise ValueError(f"overlap {overlap_px} px must be in [0, tile size {tile_size_px})")
    win_h = max(1, round(tile_size_px * scale_row))
    win_w = max(1, round(tile_size_px * scale_col))
    stride_h = win_h - math.ceil(overlap_px * scale_row)
    stride_w = win_w - math.ceil(overlap_px * scale_col)
    rows = axis_starts(raster_height_px, win_h, stride_h, block_shape_px[0])
    cols = axis_starts(raster_width_px, win_w, stride_w, block_shape_px[1])
    height = min(win_h, raster_height_px)
    width = min(win_w, raster_width_px)
    out_h = (
        tile_size_px if height == win_h else max(1, min(tile_size_px, round(height / scale_row)))
    )
    out_w = tile_size_px if width == win_w else max(1, min(tile_size_px, round(width / scale_col)))
    windows = tuple(
        TileWindow(
            index=i * len(cols) + j,
            row_px=row,
            col_px=col,
            height_px=height,
            width_px=width,
            out_height_px=out_h,
            out_width_px=out_w,
        )
        for i, row in enumerate(rows)
        for j, col in enumerate(cols)
    )
    return TilePlan(windows, tile_size_px, overlap_px, scale_row, scale_col)
