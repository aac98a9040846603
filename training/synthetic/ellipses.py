"""Plants as tables of filled ellipses: the table format, its extent and its raster.

A part row is ``(cx, cy, a, b, angle_deg, r, g, b)``: centre, semi-axes (pixels, relative to
the plant centre), rotation (degrees) and colour; a shadow row is ``(cx, cy, a, b,
angle_deg)``, already offset along the sun's shadow direction. Plant shapes are built in
:mod:`training.synthetic.plants`; this module measures them (labels are the union of the
ellipses, so boxes are exact) and draws them anti-aliased by supersampling.
"""

from __future__ import annotations

import math

import cv2
import numpy as np
from numpy.typing import ArrayLike

from training.synthetic.scene import Box


def ellipse_rows(
    cx: ArrayLike, cy: ArrayLike, a: ArrayLike, b: ArrayLike, ang_deg: ArrayLike, cols: ArrayLike
) -> np.ndarray:
    """Part rows (n, 8) from scalars or length-n arrays; ``cols`` is one RGB or (n, 3)."""
    n = max(np.size(v) for v in (cx, cy, a, b, ang_deg))
    cols = np.asarray(cols, float)
    n = max(n, len(cols) if cols.ndim == 2 else 1)
    return np.column_stack(
        [
            np.broadcast_to(cx, n),
            np.broadcast_to(cy, n),
            np.broadcast_to(a, n),
            np.broadcast_to(b, n),
            np.broadcast_to(ang_deg, n),
            np.broadcast_to(cols, (n, 3)),
        ]
    )


def parts_box(parts: np.ndarray) -> Box:
    """Extent of a set of ellipses, relative to the plant centre."""
    t = np.radians(parts[:, 4])
    a, b = parts[:, 2], parts[:, 3]
    ex = np.sqrt((a * np.cos(t)) ** 2 + (b * np.sin(t)) ** 2)
    ey = np.sqrt((a * np.sin(t)) ** 2 + (b * np.cos(t)) ** 2)
    x, y = parts[:, 0], parts[:, 1]
    return (
        float((x - ex).min()),
        float((y - ey).min()),
        float((x + ex).max()),
        float((y + ey).max()),
    )


def _draw_ellipses(canvas: np.ndarray, parts: np.ndarray, ox: float, oy: float, ss: int) -> None:
    """Draw ellipses (plant-local) on ``canvas`` whose corner is at plant offset (-ox, -oy)."""
    cx = np.round(((parts[:, 0] + ox) * ss - 0.5) * 16).astype(np.int64).tolist()
    cy = np.round(((parts[:, 1] + oy) * ss - 0.5) * 16).astype(np.int64).tolist()
    ax = np.maximum(np.round(parts[:, 2] * ss * 16), 6).astype(np.int64).tolist()
    ay = np.maximum(np.round(parts[:, 3] * ss * 16), 6).astype(np.int64).tolist()
    ang = parts[:, 4].tolist()
    if canvas.ndim == 3:
        cols = np.clip(np.round(parts[:, 5:8]), 1, 255).astype(np.int64).tolist()
        for i in range(len(cx)):
            cv2.ellipse(
                canvas, (cx[i], cy[i]), (ax[i], ay[i]), ang[i], 0, 360, cols[i], -1, cv2.LINE_8, 4
            )
    else:
        for i in range(len(cx)):
            cv2.ellipse(
                canvas, (cx[i], cy[i]), (ax[i], ay[i]), ang[i], 0, 360, 255, -1, cv2.LINE_8, 4
            )


def raster_parts(
    parts: np.ndarray, col: float, row: float, colour: bool
) -> tuple[np.ndarray | None, np.ndarray, int, int]:
    """Anti-aliased raster of ellipses around (col, row): (premultiplied rgb or None, alpha,
    global col0, global row0)."""
    bx = parts_box(parts)
    c0, r0 = math.floor(col + bx[0]) - 1, math.floor(row + bx[1]) - 1
    w, h = math.ceil(col + bx[2]) + 1 - c0, math.ceil(row + bx[3]) + 1 - r0
    size = max(w, h)
    ss = 4 if size < 16 else 3 if size < 40 else 2 if size < 120 else 1
    shape = (h * ss, w * ss, 3) if colour else (h * ss, w * ss)
    canvas = np.zeros(shape, np.uint8)
    _draw_ellipses(canvas, parts, col - c0, row - r0, ss)
    rgb: np.ndarray | None = None
    if colour:
        alpha = (canvas.max(axis=2) > 0).astype(np.float32)
        rgb = canvas.astype(np.float32)
    else:
        alpha = canvas.astype(np.float32) / 255.0
    if ss > 1:
        alpha = np.asarray(cv2.resize(alpha, (w, h), interpolation=cv2.INTER_AREA))
        if rgb is not None:
            rgb = np.asarray(cv2.resize(rgb, (w, h), interpolation=cv2.INTER_AREA))
    return rgb, alpha, c0, r0
