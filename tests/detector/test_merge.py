"""A plant cut by a tile seam is reported once; distinct plants are never merged."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from doubles import RecordingDetector
from rasters import squares

from detector.detections import Detection, tile_boxes_to_detections
from detector.merge import merge_detections
from detector.scan import scan
from detector.tiling import TileWindow


def det(
    col0: float,
    row0: float,
    col1: float,
    row1: float,
    tile: int,
    conf: float = 0.9,
    cls: str = "poppy",
) -> Detection:
    return Detection(col0, row0, col1, row1, conf, cls, tile)


def boxes(detections: list[Detection]) -> list[tuple[float, float, float, float]]:
    return sorted((d.col0_px, d.row0_px, d.col1_px, d.row1_px) for d in detections)


# --- merge_detections -------------------------------------------------------------------


def test_cut_and_whole_views_of_one_plant_become_one_whole_box() -> None:
    # Tile 0 ends at col 128 and sees the plant cut; tile 1 (from col 96) sees it whole.
    merged = merge_detections([det(118, 20, 128, 40, 0, 0.6), det(118, 20, 138, 40, 1, 0.8)])
    assert len(merged) == 1
    assert boxes(merged) == [(118, 20, 138, 40)]
    assert merged[0].confidence == 0.8


def test_plant_cut_in_both_tiles_becomes_the_union() -> None:
    # Wider than the overlap: neither tile sees it whole.
    merged = merge_detections([det(80, 10, 128, 60, 0, 0.7), det(96, 10, 130, 60, 1, 0.5)])
    assert boxes(merged) == [(80, 10, 130, 60)]
    assert merged[0].confidence == 0.7


def test_four_tiles_at_a_corner_give_one_plant() -> None:
    pieces = [
        det(110, 110, 128, 128, 0),
        det(110, 110, 130, 128, 1),
        det(110, 110, 128, 130, 5),
        det(110, 110, 130, 130, 6),
    ]
    assert boxes(merge_detections(pieces)) == [(110, 110, 130, 130)]


def test_side_by_side_plants_in_different_tiles_stay_two() -> None:
    # Two plants 2 px apart, each reported by a different tile.
    merged = merge_detections([det(100, 10, 120, 30, 0), det(122, 10, 142, 30, 1)])
    assert len(merged) == 2
    # Touching edges: intersecting but with zero area.
    merged = merge_detections([det(100, 10, 120, 30, 0), det(120, 10, 140, 30, 1)])
    assert len(merged) == 2


def test_small_overlap_between_neighbours_is_not_one_plant() -> None:
    # 5 px of a 20 px plant overlap: 25% of the smaller box, under the 50% rule.
    merged = merge_detections([det(100, 10, 120, 30, 0), det(115, 10, 135, 30, 1)])
    assert len(merged) == 2
    assert len(merge_detections([det(100, 10, 120, 30, 0), det(115, 10, 135, 30, 1)], 0.2)) == 1


def test_boxes_of_one_tile_are_never_merged() -> None:
    # The model's own NMS decided these are two plants; the seam merge must not undo that.
    same_tile = [det(100, 10, 120, 30, 3), det(101, 11, 121, 31, 3)]
    assert len(merge_detections(same_tile)) == 2


def test_different_classes_are_never_merged() -> None:
    merged = merge_detections(
        [det(100, 10, 120, 30, 0, cls="poppy"), det(100, 10, 120, 30, 1, cls="cannabis")]
    )
    assert sorted(d.class_name for d in merged) == ["cannabis", "poppy"]


def test_empty_and_single_inputs() -> None:
    assert merge_detections([]) == []
    one = [det(1, 2, 3, 4, 0)]
    assert merge_detections(one) == one


def test_many_duplicates_merge_to_one_per_plant() -> None:
    # 2500 plants on a grid, each seen whole by one tile and cut by its neighbour.
    plants, views = [], []
    for i in range(50):
        for j in range(50):
            col, row = j * 40.0, i * 40.0
            plants.append((col, row, col + 20, row + 20))
            views.append(det(col, row, col + 20, row + 20, tile=2 * (i * 50 + j)))
            views.append(det(col, row, col + 12, row + 20, tile=2 * (i * 50 + j) + 1))
    merged = merge_detections(views)
    assert boxes(merged) == sorted(plants)


# --- tile boxes -> raster pixels --------------------------------------------------------


def test_tile_boxes_shift_scale_and_clip_to_data() -> None:
    # A 2x downsampled edge window holding 60 x 100 tile px of data in a 128 px tile.
    window = TileWindow(7, 200, 300, 120, 200, 60, 100)
    rows = np.array(
        [
            [10, 5, 20, 15, 0.9, 1],  # inside
            [90, 50, 140, 70, 0.8, 0],  # reaches into padding: clipped to 100 x 60
            [110, 0, 120, 10, 0.9, 0],  # wholly in padding: dropped
            [0, 0, 10, 10, 0.1, 0],  # under the threshold: dropped
        ],
        dtype=np.float32,
    )
    out = tile_boxes_to_detections(rows, window, ("poppy", "cannabis"), 0.25)
    assert [(d.col0_px, d.row0_px, d.col1_px, d.row1_px, d.class_name) for d in out] == [
        (320.0, 210.0, 340.0, 230.0, "cannabis"),
        (480.0, 300.0, 500.0, 320.0, "poppy"),
    ]
    assert {d.tile_index for d in out} == {7}


# --- end to end through scan ------------------------------------------------------------

# With the fake card (128 px tiles, 32 px overlap) a 512 px raster has windows starting at
# 0, 96, 192, 288, 384 along each axis: seams at 96..128, 192..224, ...
SEAM_CASES = {
    "vertical seam": (20, 118, 20),
    "horizontal seam": (118, 20, 20),
    "four-tile corner": (118, 118, 20),
    "wider than the overlap": (300, 80, 50),
    "three times the overlap": (150, 180, 90),
}


@pytest.mark.parametrize("blob", SEAM_CASES.values(), ids=SEAM_CASES.keys())
def test_blob_across_a_seam_is_one_detection(
    blob: tuple[int, int, int],
    make_raster: Callable[..., Path],
    fake: RecordingDetector,
) -> None:
    row, col, size = blob
    path = make_raster(width=512, height=512, paint=squares(blob))
    result = scan(path, fake, reader_threads=2)
    assert result.stats.detections_raw > 1, "the blob should be seen by several tiles"
    assert len(result.detections) == 1
    assert boxes(list(result.detections)) == [(col, row, col + size, row + size)]
    assert len(result.plots) == 1 and result.plots[0].plant_count == 1


def test_neighbouring_plants_across_a_seam_stay_apart(
    make_raster: Callable[..., Path], fake: RecordingDetector
) -> None:
    # Two 14 px plants 2 px apart straddling the seam at cols 96..128.
    painted = [(40, 100, 14), (40, 116, 14)]
    path = make_raster(width=512, height=512, paint=squares(*painted))
    result = scan(path, fake)
    assert boxes(list(result.detections)) == sorted(
        (col, row, col + size, row + size) for row, col, size in painted
    )


def test_blob_at_the_far_edges_is_found_whole(
    make_raster: Callable[..., Path], fake: RecordingDetector
) -> None:
    # 500 px is no multiple of the stride: the last windows sit flush with the edge.
    path = make_raster(width=500, height=470, paint=squares((455, 485, 15)))
    result = scan(path, fake)
    assert boxes(list(result.detections)) == [(485, 455, 500, 470)]


def test_raster_smaller_than_a_tile(
    make_raster: Callable[..., Path], fake: RecordingDetector
) -> None:
    path = make_raster(width=100, height=60, paint=squares((40, 85, 20)))
    result = scan(path, fake)
    assert result.stats.tiles_total == 1
    # The blob is clipped by the raster edge, and the zero padding is no plant.
    assert boxes(list(result.detections)) == [(85, 40, 100, 60)]
    assert fake.shapes == [(128, 128, 3)]


def test_two_plants_of_one_tile_are_not_chained_through_a_neighbour_box() -> None:
    # Tile 1 saw two touching plants; tile 2 saw one box covering most of both. The pair with
    # the strongest overlap wins, and the other plant of tile 1 stays its own detection.
    left_plant = det(0, 0, 10, 10, tile=1)
    right_plant = det(10, 0, 20, 10, tile=1)
    neighbour = det(1, 0, 19, 10, tile=2)
    merged = merge_detections([left_plant, right_plant, neighbour])
    assert len(merged) == 2
