"""The flight's outline and its source photos.

A survey is flown in parallel strips of uneven length; the stitched mosaic's valid area is
the union of those strips (with ragged ends), turned by a small heading and given a wobbly,
noisy edge. The photo centres along the strips and a per-photo exposure gain drive the
mosaic seamlines that :mod:`training.synthetic.render` draws.
"""

from __future__ import annotations

import math

import numpy as np
from shapely.geometry import LineString, MultiPolygon, Polygon, box
from shapely.ops import unary_union

from training.synthetic.geometry import exterior_ring, offset_polyline, rotated_rect
from training.synthetic.scene import Scene


def draw_flight_outline(
    sc: Scene, rng: np.random.Generator, nodata_border: bool
) -> list[np.ndarray] | None:
    """Draw the flight's source photos and, with ``nodata_border``, its outline.

    Sets ``sc.photo_xy``, ``sc.photo_gain``, ``sc.photo_px`` and ``sc.outline``.

    Args:
        sc: The scene being composed.
        rng: The flight's generator; draws continue its sequence.
        nodata_border: Give the flight an irregular outline; without it all pixels are valid.

    Returns:
        Closed rings (N, 2) of the area 0.6 m inside the outline, where things may be
        placed; None when the whole raster is valid.
    """
    theta = rng.uniform(-0.35, 0.35)
    n = int(rng.integers(4, 9))
    strips, centres = [], []
    for i in range(n):
        u0, u1 = rng.uniform(0, 0.1), 1 - rng.uniform(0, 0.1)
        strips.append(box(u0, i / n, u1, (i + 1) / n))
        for u in np.arange(u0 + 0.3 / n, u1, 0.75 / n):
            centres.append((u, (i + 0.5) / n))
        for u in (u0, u1):
            if rng.random() < 0.5:
                tooth = rotated_rect(u, (i + 0.5) / n, 0.04, 0.6 / n, rng.normal(0, 0.08))
                strips.append(Polygon(tooth))
    shape = unary_union(strips)
    cs, sn = math.cos(theta), math.sin(theta)
    rot = np.array([[cs, -sn], [sn, cs]])
    ring = exterior_ring(shape) @ rot.T
    cen = np.asarray(centres) @ rot.T
    lo, hi = ring.min(axis=0), ring.max(axis=0)
    margin = rng.uniform(0, 3, 2)
    size = np.array([sc.width_px, sc.height_px]) - 2 * margin
    scale = size / (hi - lo)
    ring = (ring - lo) * scale + margin
    sc.photo_xy = (cen - lo) * scale + margin
    sc.photo_px = float(np.mean(scale) / n)  # spacing of flight lines, px
    gains = rng.normal(1.0, 0.025, (len(cen), 3)) + rng.normal(0, 0.02, (len(cen), 1))
    sc.photo_gain = gains.astype(np.float32)
    if not nodata_border:
        return None
    line = LineString(np.vstack([ring, ring[:1]])).segmentize(max(size) / 80)
    pts = np.asarray(line.coords)[:-1]
    wob = np.interp(
        np.arange(len(pts)), np.linspace(0, len(pts), 12), rng.normal(0, max(size) * 0.004, 12)
    )
    normals = offset_polyline(pts, 1.0) - pts
    pts = pts + normals * wob[:, None] + rng.normal(0, 0.6, pts.shape)
    poly = Polygon(pts).buffer(0)
    if isinstance(poly, MultiPolygon):
        poly = max(poly.geoms, key=lambda g: g.area)
    out = exterior_ring(poly)[:-1]
    out[:, 0] = np.clip(out[:, 0], 0, sc.width_px)
    out[:, 1] = np.clip(out[:, 1], 0, sc.height_px)
    inner = poly.buffer(-sc.ppm * 0.6)
    sc.outline = out
    return [exterior_ring(g) for g in getattr(inner, "geoms", [inner]) if not g.is_empty]
