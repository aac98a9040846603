"""Pixel geometry shared by scene layout and rendering.

Vector side: rotated rectangles, smoothed and offset polylines, polygon rings and bounding
boxes. Raster side: clipping a box to a render window, OpenCV's fixed-point coordinates
and anti-aliased polygon masks. Coordinates are raster pixels (col, row), pixel corners on
integers.
"""

from __future__ import annotations

import math

import cv2
import numpy as np
import shapely

from training.synthetic.scene import Box


def window_region(bbox: Box, r0: int, c0: int, h: int, w: int) -> tuple[int, int, int, int] | None:
    """Window-relative (ra, rb, ca, cb) of ``bbox`` clipped to the window, or None."""
    ra, rb = max(math.floor(bbox[1]), r0) - r0, min(math.ceil(bbox[3]) + 1, r0 + h) - r0
    ca, cb = max(math.floor(bbox[0]), c0) - c0, min(math.ceil(bbox[2]) + 1, c0 + w) - c0
    return None if ra >= rb or ca >= cb else (ra, rb, ca, cb)


def cv_points(pts: np.ndarray, col0: float, row0: float, scale: float = 1.0) -> np.ndarray:
    """Pixel-corner coordinates -> OpenCV fixed-point (4 fractional bits) centre coordinates."""
    xy = (pts - np.array([col0, row0])) * scale - 0.5
    return np.round(xy * 16.0).astype(np.int32)


def polygon_mask(
    poly: np.ndarray, r0: int, c0: int, shape: tuple[int, int], aa: bool = True
) -> np.ndarray:
    """uint8 mask (0/255) of ``poly`` over a window of ``shape`` whose corner is (r0, c0)."""
    m = np.zeros(shape, np.uint8)
    cv2.fillPoly(m, [cv_points(poly, c0, r0)], 255, cv2.LINE_AA if aa else cv2.LINE_8, 4)
    return m


def exterior_ring(geom: shapely.Geometry) -> np.ndarray:
    """Exterior ring coordinates (closed) of a shapely polygon."""
    return np.asarray(shapely.get_coordinates(shapely.get_exterior_ring(geom)))


def bbox_of(pts: np.ndarray, grow: float = 0.0) -> Box:
    """(col0, row0, col1, row1) of points (N, 2), grown by ``grow`` pixels on every side."""
    return (
        float(pts[:, 0].min() - grow),
        float(pts[:, 1].min() - grow),
        float(pts[:, 0].max() + grow),
        float(pts[:, 1].max() + grow),
    )


def rotated_rect(cx: float, cy: float, hl: float, hw: float, ang: float) -> np.ndarray:
    """Corners (4, 2) of a rectangle centred on (cx, cy), half sizes (hl, hw) px, turned by
    ``ang`` radians."""
    u, v = np.array([math.cos(ang), math.sin(ang)]), np.array([-math.sin(ang), math.cos(ang)])
    c = np.array([cx, cy])
    return np.array(
        [c - u * hl - v * hw, c + u * hl - v * hw, c + u * hl + v * hw, c - u * hl + v * hw]
    )


def chaikin_smooth(pts: np.ndarray, rounds: int = 2) -> np.ndarray:
    """Polyline rounded by Chaikin corner cutting; the end points stay."""
    for _ in range(rounds):
        q, r = 0.75 * pts[:-1] + 0.25 * pts[1:], 0.25 * pts[:-1] + 0.75 * pts[1:]
        pts = np.vstack([pts[:1], np.column_stack([q, r]).reshape(-1, 2), pts[-1:]])
    return pts


def offset_polyline(pts: np.ndarray, d: float) -> np.ndarray:
    """Polyline shifted sideways by ``d`` pixels (left of travel in image axes)."""
    tang = np.gradient(pts, axis=0)
    tang /= np.maximum(np.linalg.norm(tang, axis=1, keepdims=True), 1e-9)
    return pts + np.column_stack([-tang[:, 1], tang[:, 0]]) * d
