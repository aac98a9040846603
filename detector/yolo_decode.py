"""Decode a YOLO detection head's raw output into boxes, with class-aware NMS, in numpy.

The exported YOLO graph ends in ``(batch, 4 + classes, anchors)``: box centre x, centre y,
width, height in input pixels, then one sigmoid score per class. This reproduces
Ultralytics' post-processing (score > threshold, class-aware greedy non-maximum suppression,
at most ``max_det`` boxes) without PyTorch, so the scanning process never has to import it.
"""

from __future__ import annotations

import numpy as np

# Offset separating classes for class-aware NMS in one pass, pixels (as Ultralytics' max_wh).
_CLASS_OFFSET_PX = 7680.0


def box_iou(box: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """IoU of one ``x0, y0, x1, y1`` box with each row of ``boxes``."""
    x0 = np.maximum(box[0], boxes[:, 0])
    y0 = np.maximum(box[1], boxes[:, 1])
    x1 = np.minimum(box[2], boxes[:, 2])
    y1 = np.minimum(box[3], boxes[:, 3])
    inter = np.clip(x1 - x0, 0, None) * np.clip(y1 - y0, 0, None)
    area = (box[2] - box[0]) * (box[3] - box[1])
    areas = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    return inter / np.maximum(area + areas - inter, 1e-9)


def nms(boxes: np.ndarray, scores: np.ndarray, iou_threshold: float) -> np.ndarray:
    """Greedy non-maximum suppression.

    Args:
        boxes: ``(n, 4)`` x0, y0, x1, y1.
        scores: ``(n,)`` scores.
        iou_threshold: Boxes overlapping a kept box by more than this IoU are dropped.

    Returns:
        Indexes of kept boxes, highest score first.
    """
    order = np.argsort(-scores, kind="stable")
    areas = np.maximum(boxes[:, 2] - boxes[:, 0], 0) * np.maximum(boxes[:, 3] - boxes[:, 1], 0)
    keep = []
    while order.size:
        best = order[0]
        keep.append(best)
        rest = order[1:]
        x0 = np.maximum(boxes[best, 0], boxes[rest, 0])
        y0 = np.maximum(boxes[best, 1], boxes[rest, 1])
        x1 = np.minimum(boxes[best, 2], boxes[rest, 2])
        y1 = np.minimum(boxes[best, 3], boxes[rest, 3])
        inter = np.maximum(x1 - x0, 0) * np.maximum(y1 - y0, 0)
        iou = inter / np.maximum(areas[best] + areas[rest] - inter, 1e-9)
        order = rest[iou <= iou_threshold]
    return np.asarray(keep, dtype=np.int64)


def decode(
    raw: np.ndarray,
    conf_threshold: float,
    iou_threshold: float,
    image_size_px: tuple[int, int],
    max_det: int = 1000,
) -> np.ndarray:
    """Turn one image's head output ``(4 + classes, anchors)`` into detections.

    Args:
        raw: Head output for one image.
        conf_threshold: Keep boxes scoring above this.
        iou_threshold: NMS IoU threshold.
        image_size_px: ``(width, height)`` of the input; kept boxes are clipped to it after
            NMS, as Ultralytics does.
        max_det: Most boxes returned.

    Returns:
        float32 ``(n, 6)``: x0, y0, x1, y1 (input pixels), confidence, class index.
    """
    scores = raw[4:]
    class_ids = scores.argmax(axis=0)
    conf = scores[class_ids, np.arange(scores.shape[1])]
    hit = conf > conf_threshold
    if not hit.any():
        return np.zeros((0, 6), np.float32)
    cx, cy, w, h = raw[:4, hit]
    boxes = np.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], axis=1)
    conf, class_ids = conf[hit], class_ids[hit]
    shifted = boxes + (class_ids[:, None] * _CLASS_OFFSET_PX)
    keep = nms(shifted, conf, iou_threshold)[:max_det]
    kept = boxes[keep]
    width, height = image_size_px
    kept[:, [0, 2]] = kept[:, [0, 2]].clip(0, width)
    kept[:, [1, 3]] = kept[:, [1, 3]].clip(0, height)
    return np.column_stack([kept, conf[keep], class_ids[keep]]).astype(np.float32)
