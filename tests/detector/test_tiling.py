"""Tile windows cover the raster with no gaps, overlap enough and start on block boundaries."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest

from detector.tiling import TilePlan, axis_starts, plan_windows


def _random_cases(count: int, seed: int) -> list[dict[str, Any]]:
    """Random plans: raster sizes, model tiles, overlaps, GSD scales and file blocks."""
    rng = np.random.default_rng(seed)
    scales = [0.25, 0.5, 1.0, 1.37, 2.0, 3.3]
    cases = []
    for _ in range(count):
        tile = int(rng.choice([32, 64, 128, 256, 640]))
        scale_row = float(rng.choice([*scales, rng.uniform(0.3, 6)]))
        scale_col = float(rng.choice([*scales, rng.uniform(0.3, 6)]))
        # Up to ~40 windows per axis: enough seams, and the plan stays small.
        cases.append(
            {
                "raster_height_px": int(rng.integers(1, int(min(6000, 40 * tile * scale_row)))),
                "raster_width_px": int(rng.integers(1, int(min(6000, 40 * tile * scale_col)))),
                "tile_size_px": tile,
                "overlap_px": int(rng.integers(0, tile // 2 + 1)),
                "scale_row": scale_row,
                "scale_col": scale_col,
                "block_shape_px": (
                    int(rng.choice([0, 1, 16, 64, 128, 256, 512, 1024])),
                    int(rng.choice([0, 16, 64, 256, 512, 1024, 4096])),
                ),
            }
        )
    return cases


def _axis(plan: TilePlan, axis: str) -> tuple[list[int], int]:
    if axis == "row":
        return sorted({w.row_px for w in plan}), plan.windows[0].height_px
    return sorted({w.col_px for w in plan}), plan.windows[0].width_px


def _check_plan(plan: TilePlan, case: dict[str, Any]) -> None:
    height = int(case["raster_height_px"])
    width = int(case["raster_width_px"])
    overlap = int(case["overlap_px"])
    blocks = case["block_shape_px"]
    assert isinstance(blocks, tuple)
    # The windows are the full grid of row starts x column starts, so per-axis coverage
    # below is 2-D coverage.
    rows, _ = _axis(plan, "row")
    cols, _ = _axis(plan, "col")
    assert {(w.row_px, w.col_px) for w in plan} == {(r, c) for r in rows for c in cols}
    assert len(plan) == len(rows) * len(cols)
    for axis, length, scale, block in (
        ("row", height, float(case["scale_row"]), blocks[0]),
        ("col", width, float(case["scale_col"]), blocks[1]),
    ):
        starts, size = _axis(plan, axis)
        assert starts[0] == 0, f"{axis}: first window must start at the edge"
        assert starts[-1] + size == length, f"{axis}: last window must sit flush with the edge"
        assert all(s >= 0 and s + size <= length for s in starts), f"{axis}: outside the raster"
        want_window = max(1, round(plan.tile_size_px * scale))
        assert size == min(want_window, length)
        steps = np.diff(starts)
        assert (steps > 0).all()
        # No gap, and at least the requested overlap (in source pixels) between neighbours.
        assert (steps <= size).all(), f"{axis}: gap between windows"
        assert (size - steps >= overlap * scale - 1e-9).all(), f"{axis}: overlap too small"
        stride = want_window - math.ceil(overlap * scale)
        if 0 < block <= stride and len(starts) > 1:
            assert all(s % block == 0 for s in starts[:-1]), f"{axis}: starts not block-aligned"


@pytest.mark.parametrize("seed", range(4))
def test_random_plans_cover_the_raster_without_gaps(seed: int) -> None:
    for case in _random_cases(250, seed):
        plan = plan_windows(**case)
        _check_plan(plan, case)


@pytest.mark.parametrize(
    ("height", "width", "tile", "overlap", "scale", "block"),
    [
        (1000, 1000, 128, 32, 1.0, (256, 256)),
        (777, 1290, 128, 40, 1.0, (64, 64)),
        (333, 4001, 64, 16, 2.0, (16, 4001)),  # striped: full-width rows
        (2048, 2048, 256, 64, 0.5, (512, 512)),
        (130, 129, 128, 32, 1.0, (0, 0)),  # one window plus a sliver
        (50, 70, 128, 32, 1.0, (256, 256)),  # smaller than one tile
        (999, 1001, 100, 50, 3.3, (128, 128)),
    ],
)
def test_union_of_windows_is_the_full_raster(
    height: int, width: int, tile: int, overlap: int, scale: float, block: tuple[int, int]
) -> None:
    plan = plan_windows(
        height,
        width,
        tile_size_px=tile,
        overlap_px=overlap,
        scale_row=scale,
        scale_col=scale,
        block_shape_px=block,
    )
    covered = np.zeros((height, width), dtype=np.int32)
    for window in plan:
        assert window.row_px >= 0 and window.col_px >= 0
        assert window.row_px + window.height_px <= height
        assert window.col_px + window.width_px <= width
        covered[
            window.row_px : window.row_px + window.height_px,
            window.col_px : window.col_px + window.width_px,
        ] += 1
    assert covered.min() >= 1, "some pixels are in no window"
    assert covered[-1, -1] >= 1 and covered[0, 0] >= 1


def test_indexes_are_row_major_and_unique() -> None:
    plan = plan_windows(1000, 700, tile_size_px=128, overlap_px=32, block_shape_px=(256, 256))
    assert [w.index for w in plan] == list(range(len(plan)))
    keys = [(w.row_px, w.col_px) for w in plan]
    assert keys == sorted(keys)
    assert len(set(keys)) == len(keys)


def test_block_aligned_starts_at_native_gsd() -> None:
    # 512 px windows, 64 px overlap: the 448 px stride rounds down to a whole 256 px block.
    starts = axis_starts(4000, 512, 448, 256)
    assert starts[:-1] == list(range(0, 4000 - 512, 256))
    assert starts[-1] == 4000 - 512
    # Blocks larger than the stride (a striped file's full-width rows): plain stride.
    assert axis_starts(1000, 128, 96, 1000) == [*range(0, 872, 96), 872]


def test_windows_scale_with_gsd() -> None:
    # A 1 cm raster under a 2 cm model: windows are 2x the tile in source pixels.
    plan = plan_windows(2000, 2000, tile_size_px=128, overlap_px=32, scale_row=2.0, scale_col=2.0)
    for window in plan:
        assert (window.height_px, window.width_px) == (256, 256)
        assert (window.out_height_px, window.out_width_px) == (128, 128)
        assert window.row_scale == window.col_scale == 2.0
        assert window.tile_to_raster(10, 20) == (window.col_px + 20, window.row_px + 40)


def test_raster_smaller_than_a_tile_is_one_window_at_model_scale() -> None:
    plan = plan_windows(100, 60, tile_size_px=128, overlap_px=32, scale_row=2.0, scale_col=2.0)
    assert len(plan) == 1
    (window,) = plan.windows
    assert (window.row_px, window.col_px, window.height_px, window.width_px) == (0, 0, 100, 60)
    assert (window.out_height_px, window.out_width_px) == (50, 30)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"tile_size_px": 128, "overlap_px": 128},
        {"tile_size_px": 128, "overlap_px": -1},
    ],
)
def test_bad_overlap_is_refused(kwargs: dict[str, int]) -> None:
    with pytest.raises(ValueError, match="overlap"):
        plan_windows(500, 500, **kwargs)


def test_empty_raster_is_refused() -> None:
    with pytest.raises(ValueError, match="no pixels"):
        plan_windows(0, 500, tile_size_px=128, overlap_px=32)
