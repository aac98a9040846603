"""The value every stage passes along: one detected plant in raster pixel coordinates."""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from detector.tiling import TileWindow


@dataclass(frozen=True)
class Detection:
    """One plant, as a box in the source raster.

    Attributes:
        col0_px: Left edge, source-raster pixel-corner coordinate.
        row0_px: Top edge.
        col1_px: Right edge.
        row1_px: Bottom edge.
        confidence: Model confidence, 0..1.
        class_name: Class, e.g. ``"poppy"``.
        tile_index: Index of the tile window that produced it (merged boxes keep the first).
    """

    col0_px: float
    row0_px: float
    col1_px: float
    row1_px: float
    confidence: float
    class_name: str
    tile_index: int

    @property
    def centre_px(self) -> tuple[float, float]:
        """Box centre ``(col, row)``, source pixels."""
        return (self.col0_px + self.col1_px) / 2, (self.row0_px + self.row1_px) / 2

    def with_box(self, col0: float, row0: float, col1: float, row1: float) -> Detection:
        """Return a copy with another box."""
        return replace(self, col0_px=col0, row0_px=row0, col1_px=col1, row1_px=row1)


def tile_boxes_to_detections(
    boxes: np.ndarray,
    window: TileWindow,
    classes: tuple[str, ...],
    min_confidence: float,
) -> list[Detection]:
    """Shift a tile's boxes into raster pixels.

    Boxes are clipped to the part of the tile that holds raster data (edge tiles are padded),
    and boxes that lie wholly in padding, or below ``min_confidence``, are dropped.

    Args:
        boxes: ``(n, 6)`` rows of ``x0, y0, x1, y1, confidence, class`` in tile pixels.
        window: The tile's window.
        classes: Class names by index.
        min_confidence: Lowest confidence kept.
    """
    out: list[Detection] = []
    for x0, y0, x1, y1, conf, cls in boxes.tolist():
        if conf < min_confidence:
            continue
        x0, x1 = max(0.0, x0), min(float(window.out_width_px), x1)
        y0, y1 = max(0.0, y0), min(float(window.out_height_px), y1)
        if x1 <= x0 or y1 <= y0:
            continue
        col0, row0 = window.tile_to_raster(x0, y0)
        col1, row1 = window.tile_to_raster(x1, y1)
        class_id = int(cls)
        name = classes[class_id] if 0 <= class_id < len(classes) else str(class_id)
        out.append(Detection(col0, row0, col1, row1, float(conf), name, window.index))
    return out
