"""Match predictions to labels, at plant level (boxes) and plot level (outlines).

Plants: greedy one-to-one matching, highest confidence first; each prediction takes the
unmatched true plant of its class that it overlaps most, when their IoU is at least
``PLANT_MIN_IOU`` (0.4). IoU is computed on raster pixel boxes: an affine map scales every
area by the same factor, so the ratio equals the IoU on the map (and on the ground, to the
precision of the flight's local metric frame).

Plots: a predicted plot matches a true plot of its class when their outlines overlap or
their centroids are within ``PLOT_MAX_CENTROID_M`` (2 m). Several predicted plots may match
one true plot (a field the model split in two is still found, not a false alarm), and a
predicted plot covering two true plots finds both.

Centroid errors are ground distances in metres, measured in the flight's azimuthal
equidistant frame (:class:`detector.georef.Georeferencer`): for a plant, between the centres
of the true and the matched box; for a plot, between the true outline's centroid and the
nearest matching predicted plot's (the coordinate a patrol would be given).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import shapely

from detector.detections import Detection
from detector.georef import Georeferencer
from detector.plots import Plot
from training.evaluation.counts import LevelScore
from training.evaluation.truth import TruthPlant, TruthPlot

# IoU at or above which a predicted box is the true plant it overlaps.
PLANT_MIN_IOU = 0.4
# Centroid distance at or under which a predicted and a true plot are one plot, metres.
PLOT_MAX_CENTROID_M = 2.0
# Radius given to degenerate (point or line) plot outlines so they can overlap, metres.
_DEGENERATE_RADIUS_M = 0.05


@dataclass(frozen=True)
class PlantMatch:
    """What became of one predicted plant.

    Attributes:
        confidence: The prediction's confidence, 0..1.
        class_name: The predicted class.
        truth: Index of the matched true plant, -1 for a false detection.
        iou: IoU with the matched true plant (0 when false).
        error_m: Distance between the two box centres on the ground, metres (None when false).
    """

    confidence: float
    class_name: str
    truth: int
    iou: float
    error_m: float | None


def _boxes(rows: Sequence[tuple[float, float, float, float]]) -> np.ndarray:
    return np.asarray(rows, dtype=float).reshape(-1, 4)


def _centres_m(boxes: np.ndarray, geo: Georeferencer) -> np.ndarray:
    """Box centres in the metric frame, ``(n, 2)`` metres."""
    cols = (boxes[:, 0] + boxes[:, 2]) / 2
    rows = (boxes[:, 1] + boxes[:, 3]) / 2
    xs, ys = geo.map_to_metric(*geo.pixel_to_map(cols, rows))
    return np.column_stack([xs, ys]).reshape(-1, 2)


def _pair_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU of ``a[i]`` with ``b[i]`` for paired ``(n, 4)`` box arrays."""
    width = np.clip(np.minimum(a[:, 2], b[:, 2]) - np.maximum(a[:, 0], b[:, 0]), 0, None)
    height = np.clip(np.minimum(a[:, 3], b[:, 3]) - np.maximum(a[:, 1], b[:, 1]), 0, None)
    inter = width * height
    area_a = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    return inter / np.maximum(area_a + area_b - inter, 1e-12)


def match_plants(
    truth: Sequence[TruthPlant],
    detections: Sequence[Detection],
    geo: Georeferencer,
    min_iou: float = PLANT_MIN_IOU,
) -> list[PlantMatch]:
    """Match predicted plants to true plants, one to one, highest confidence first.

    Because the matching is greedy in confidence order, the matches of the predictions at or
    above any threshold are a prefix of this list: one matching serves a whole PR curve.

    Args:
        truth: Labelled plants (boxes in raster pixels).
        detections: Predicted plants (boxes in raster pixels), any order.
        geo: Coordinate conversions of the raster, for centroid errors in metres.
        min_iou: Lowest IoU of a match.

    Returns:
        One match per detection, in descending confidence (ties keep the input order).
    """
    ordered = sorted(detections, key=lambda d: -d.confidence)
    det_boxes = _boxes([(d.col0_px, d.row0_px, d.col1_px, d.row1_px) for d in ordered])
    truth_boxes = _boxes([p.box_px for p in truth])
    candidates: dict[int, list[tuple[float, int]]] = {}
    if len(det_boxes) and len(truth_boxes):
        tree = shapely.STRtree(shapely.box(*truth_boxes.T))
        d_idx, t_idx = tree.query(shapely.box(*det_boxes.T), predicate="intersects")
        ious = _pair_iou(det_boxes[d_idx], truth_boxes[t_idx])
        for d, t, iou in zip(d_idx.tolist(), t_idx.tolist(), ious.tolist(), strict=True):
            if iou >= min_iou and ordered[d].class_name == truth[t].cls:
                candidates.setdefault(d, []).append((iou, t))
    det_centres = _centres_m(det_boxes, geo)
    truth_centres = _centres_m(truth_boxes, geo)
    taken: set[int] = set()
    matches = []
    for d, det in enumerate(ordered):
        options = sorted(candidates.get(d, []), key=lambda c: (-c[0], c[1]))
        best = next(((iou, t) for iou, t in options if t not in taken), None)
        if best is None:
            matches.append(PlantMatch(det.confidence, det.class_name, -1, 0.0, None))
            continue
        iou, t = best
        taken.add(t)
        error = float(np.hypot(*(det_centres[d] - truth_centres[t])))
        matches.append(PlantMatch(det.confidence, det.class_name, t, iou, error))
    return matches


def score_plant_matches(
    truth: Sequence[TruthPlant],
    matches: Sequence[PlantMatch],
    area_ha: float,
    threshold: float = 0.0,
) -> LevelScore:
    """Plant-level score of the predictions at or above ``threshold``.

    Args:
        truth: Labelled plants of the flight.
        matches: :func:`match_plants` output (descending confidence).
        area_ha: Scanned area, hectares.
        threshold: Lowest confidence counted, 0..1.
    """
    score = LevelScore(area_ha=area_ha)
    errors: dict[int, float] = {}
    for match in matches:
        if match.confidence < threshold:
            break
        score.count_prediction(match.class_name, false=match.truth < 0)
        if match.truth >= 0 and match.error_m is not None:
            errors[match.truth] = match.error_m
    for index, plant in enumerate(truth):
        score.count_truth(plant.cls, plant.stage, errors.get(index))
    return score


def _metric_shape(ring_map: Sequence[tuple[float, float]], geo: Georeferencer) -> shapely.Geometry:
    """An outline in the raster's CRS as a valid shape in the metric frame."""
    xy = np.asarray(ring_map, dtype=float).reshape(-1, 2)
    xs, ys = geo.map_to_metric(xy[:, 0], xy[:, 1])
    points = np.column_stack([xs, ys])
    if len(points) >= 4:
        shape = shapely.make_valid(shapely.Polygon(points))
        if shape.area > 0:
            return shape
    return shapely.MultiPoint(points).convex_hull.buffer(_DEGENERATE_RADIUS_M)


def score_plot_matches(
    truth: Sequence[TruthPlot],
    predicted: Sequence[Plot],
    geo: Georeferencer,
    area_ha: float,
    max_centroid_m: float = PLOT_MAX_CENTROID_M,
) -> LevelScore:
    """Plot-level score: match predicted plots to true plots of the same class.

    Args:
        truth: Labelled plots (outlines in the raster's CRS).
        predicted: Plots grouped from the predictions (:func:`detector.plots.group_into_plots`).
        geo: Coordinate conversions of the raster.
        area_ha: Scanned area, hectares.
        max_centroid_m: Centroid distance under which plots match without overlapping, metres.
    """
    score = LevelScore(area_ha=area_ha)
    shapes = np.asarray([_metric_shape(p.ring_map, geo) for p in predicted], dtype=object)
    centroids = shapely.get_coordinates(shapely.centroid(shapes)).reshape(-1, 2)
    classes = np.asarray([p.class_name for p in predicted], dtype=object)
    matched = np.zeros(len(predicted), dtype=bool)
    for true_plot in truth:
        shape = _metric_shape(true_plot.ring_map, geo)
        centre = shapely.get_coordinates(shapely.centroid(shape))[0]
        distance = np.hypot(centroids[:, 0] - centre[0], centroids[:, 1] - centre[1])
        overlaps = np.asarray(shapely.intersects(shape, shapes), dtype=bool)
        hit = (classes == true_plot.cls) & ((distance <= max_centroid_m) | overlaps)
        matched |= hit
        error = float(distance[hit].min()) if hit.any() else None
        score.count_truth(true_plot.cls, true_plot.stage, error)
    for predicted_plot, is_real in zip(predicted, matched.tolist(), strict=True):
        score.count_prediction(predicted_plot.class_name, false=not is_real)
    return score
