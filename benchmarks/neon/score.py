"""Box-level scoring: greedy one-to-one matching of predicted to true boxes by IoU.

Predictions are taken highest confidence first; each takes the unmatched true box it
overlaps most when their IoU is at least ``min_iou`` (0.4, the NEON / DeepForest
convention). Boxes are raster pixel-corner ``x0, y0, x1, y1``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from detector.detections import Detection
from detector.yolo_decode import box_iou

MIN_IOU = 0.4


@dataclass
class BoxScore:
    """Counts of one or more images; add them up with :meth:`add`."""

    images: int = 0
    true_boxes: int = 0
    predicted: int = 0
    matched: int = 0
    area_ha: float = 0.0

    def add(self, other: BoxScore) -> None:
        """Accumulate another image's counts."""
        self.images += other.images
        self.true_boxes += other.true_boxes
        self.predicted += other.predicted
        self.matched += other.matched
        self.area_ha += other.area_ha

    @property
    def precision(self) -> float:
        """Share of predicted boxes that match a true box (1.0 when none were predicted)."""
        return self.matched / self.predicted if self.predicted else 1.0

    @property
    def recall(self) -> float:
        """Share of true boxes matched (1.0 when there were none)."""
        return self.matched / self.true_boxes if self.true_boxes else 1.0

    @property
    def f1(self) -> float:
        """Harmonic mean of precision and recall."""
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0

    def to_dict(self) -> dict[str, float | int]:
        """JSON-ready counts and rates."""
        return {
            "images": self.images,
            "area_ha": round(self.area_ha, 3),
            "true_boxes": self.true_boxes,
            "predicted": self.predicted,
            "matched": self.matched,
            "precision": round(self.precision, 4),
            "recall": round(self.recall, 4),
            "f1": round(self.f1, 4),
        }


def match_boxes(
    predicted: Sequence[Detection],
    truth: np.ndarray,
    min_iou: float = MIN_IOU,
    area_ha: float = 0.0,
) -> BoxScore:
    """Score one image's predictions against its true boxes (``(n, 4)`` x0, y0, x1, y1 px)."""
    free = np.ones(len(truth), dtype=bool)
    matched = 0
    for det in sorted(predicted, key=lambda d: -d.confidence):
        if not free.any():
            break
        box = np.array([det.col0_px, det.row0_px, det.col1_px, det.row1_px])
        ious = np.where(free, box_iou(box, truth), -1.0)
        best = int(np.argmax(ious))
        if ious[best] >= min_iou:
            free[best] = False
            matched += 1
    return BoxScore(1, len(truth), len(predicted), matched, area_ha)
