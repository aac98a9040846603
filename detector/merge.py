"""Merge the detections of overlapping tiles so a plant cut by a seam is reported once.

Tiles overlap by more than the largest plant, so a plant on a seam is seen whole by one tile
and cut (or whole again) by its neighbours. Boxes of the same class from *different* tiles are
the same plant when the intersection covers most of the smaller box; within one tile the
model's own non-maximum suppression has already decided. Candidate pairs come from an R-tree
(shapely's STRtree), so the cost is O(n log n) in detections, never all pairs of the flight.
"""

from __future__ import annotations

import numpy as np
import shapely

from detector.detections import Detection

# Intersection over the smaller box above which two boxes from different tiles are one plant.
DEFAULT_MIN_OVERLAP = 0.5


class _UnionFind:
    def __init__(self, size: int) -> None:
        self.parent = list(range(size))

    def find(self, i: int) -> int:
        while self.parent[i] != i:
            self.parent[i] = self.parent[self.parent[i]]
            i = self.parent[i]
        return i

    def union(self, a: int, b: int) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            self.parent[max(ra, rb)] = min(ra, rb)


def clusters_from_pairs(size: int, left: np.ndarray, right: np.ndarray) -> list[list[int]]:
    """Group ``range(size)`` into connected components of the given index pairs.

    Returns:
        Components as sorted index lists, ordered by their smallest index.
    """
    forest = _UnionFind(size)
    for a, b in zip(left.tolist(), right.tolist(), strict=True):
        forest.union(a, b)
    groups: dict[int, list[int]] = {}
    for i in range(size):
        groups.setdefault(forest.find(i), []).append(i)
    return list(groups.values())


def _one_per_tile_clusters(
    tiles: np.ndarray, left: np.ndarray, right: np.ndarray, overlap: np.ndarray
) -> list[list[int]]:
    """Cluster duplicate pairs, strongest overlap first, never two boxes of one tile together.

    A tile's own non-maximum suppression already separated the plants it saw, so a plant
    has at most one box per tile; this stops two neighbouring plants of one tile from being
    chained into one through a box of the next tile that overlaps both.
    """
    forest = _UnionFind(len(tiles))
    members: dict[int, set[int]] = {i: {int(t)} for i, t in enumerate(tiles)}
    for k in np.argsort(-overlap, kind="stable"):
        ra, rb = forest.find(int(left[k])), forest.find(int(right[k]))
        if ra == rb or members[ra] & members[rb]:
            continue
        forest.union(ra, rb)
        root = forest.find(ra)
        absorbed = rb if root == ra else ra
        members[root] |= members.pop(absorbed)
    groups: dict[int, list[int]] = {}
    for i in range(len(tiles)):
        groups.setdefault(forest.find(i), []).append(i)
    return list(groups.values())


def merge_detections(
    detections: list[Detection], min_overlap: float = DEFAULT_MIN_OVERLAP
) -> list[Detection]:
    """Collapse duplicates across tile seams.

    Args:
        detections: Boxes in raster pixels from every tile.
        min_overlap: Intersection over the smaller box's area at which two boxes from
            different tiles are the same plant.

    Returns:
        One detection per plant: the union of the duplicates' boxes (a plant cut by a seam
        becomes whole again) with the highest confidence among them.
    """
    if len(detections) < 2:
        return list(detections)
    bounds = np.array([(d.col0_px, d.row0_px, d.col1_px, d.row1_px) for d in detections])
    boxes = shapely.box(bounds[:, 0], bounds[:, 1], bounds[:, 2], bounds[:, 3])
    left, right = shapely.STRtree(boxes).query(boxes, predicate="intersects")
    keep = left < right
    left, right = left[keep], right[keep]
    tiles = np.array([d.tile_index for d in detections])
    names = np.array([d.class_name for d in detections])
    keep = (tiles[left] != tiles[right]) & (names[left] == names[right])
    left, right = left[keep], right[keep]
    overlap = np.zeros(0)
    if len(left):
        inter = shapely.area(shapely.intersection(boxes[left], boxes[right]))
        smaller = np.minimum(shapely.area(boxes[left]), shapely.area(boxes[right]))
        overlap = inter / np.maximum(smaller, 1e-9)
        keep = overlap >= min_overlap
        left, right, overlap = left[keep], right[keep], overlap[keep]
    merged = []
    for group in _one_per_tile_clusters(tiles, left, right, overlap):
        best = max((detections[i] for i in group), key=lambda d: d.confidence)
        if len(group) > 1:
            sub = bounds[group]
            best = best.with_box(
                float(sub[:, 0].min()),
                float(sub[:, 1].min()),
                float(sub[:, 2].max()),
                float(sub[:, 3].max()),
            )
        merged.append(best)
    return merged
