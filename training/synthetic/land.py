"""The land of a flight: field parcels, earth bunds, a village site, a road and paths.

Parcels come from recursive straight cuts of the area (snapped to one main direction most
of the time) down to 300-2500 m^2; each gets a land cover and crop-row direction, and most
are edged by an earth bund. Near the village, parcels are yards and small plots rather than
fields. A road runs through the village (when there is one); paths branch off it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from shapely.geometry import LineString, Polygon, box
from shapely.ops import split

from training.synthetic.geometry import bbox_of, chaikin_smooth, exterior_ring, offset_polyline
from training.synthetic.layout import ROAD, Layout
from training.synthetic.palette import cover_texture
from training.synthetic.scene import Cover, Line, Texture

Parcel = tuple[Polygon, str, float, bool]  # polygon px, land-cover kind, row angle rad, in village


@dataclass(frozen=True)
class Land:
    """What the rest of the layout builds on."""

    parcels: list[Parcel]
    village: tuple[np.ndarray, float] | None  # centre (col, row) px, radius px
    road: np.ndarray | None  # centre line (N, 2) px


def lay_out_land(lay: Layout) -> Land:
    """Cut the area into parcels, choose the village site, lay the road and paths, and
    cover every parcel (bunds included)."""
    sc, rng, ppm = lay.sc, lay.rng, lay.ppm
    w, h = sc.width_px, sc.height_px
    margin = 4 * ppm
    main = rng.uniform(0, np.pi)
    stack: list[Polygon] = [box(-margin, -margin, w + margin, h + margin)]
    parcels: list[tuple[Polygon, float]] = []
    while stack:
        p = stack.pop()
        target = math.exp(rng.uniform(math.log(300), math.log(2500))) * ppm**2
        mrr = exterior_ring(p.minimum_rotated_rectangle)
        e1, e2 = mrr[1] - mrr[0], mrr[2] - mrr[1]
        long_e, short_e = (e1, e2) if np.hypot(*e1) >= np.hypot(*e2) else (e2, e1)
        ang = math.atan2(long_e[1], long_e[0])
        if p.area < target or len(parcels) > 3000:
            parcels.append((p, ang))
            continue
        cut = ang + np.pi / 2
        if rng.random() < 0.25 and np.hypot(*long_e) < 1.8 * np.hypot(*short_e):
            cut = ang
        for snap in (main, main + np.pi / 2):
            diff = (cut - snap + np.pi / 2) % np.pi - np.pi / 2
            if abs(diff) < 0.3 and rng.random() < 0.7:
                cut = snap + rng.normal(0, 0.02)
        along = np.array([math.cos(ang), math.sin(ang)])
        c = np.asarray(p.centroid.coords[0]) + along * rng.uniform(-0.2, 0.2) * np.hypot(*long_e)
        dvec = np.array([math.cos(cut), math.sin(cut)]) * 4 * (w + h + 2 * margin)
        pieces = [
            g
            for g in split(p, LineString([c - dvec, c + dvec])).geoms
            if isinstance(g, Polygon) and g.area > ppm**2
        ]
        if len(pieces) < 2:
            parcels.append((p, ang))
        else:
            stack.extend(pieces)
    village = None
    if rng.random() < 0.85:
        village = (
            np.array([rng.uniform(0.1, 0.9) * w, rng.uniform(0.1, 0.9) * h]),
            lay.m(25, 70),
        )
    road = _roads(lay, village[0] if village else None)
    field_kinds = ("wheat", "maize", "plowed", "fallow", "grass", "vegetable", "orchard")
    field_p = (0.27, 0.13, 0.15, 0.1, 0.14, 0.14, 0.07)
    yard_kinds, yard_p = (
        ("grass", "fallow", "vegetable", "plowed", "orchard", "wheat"),
        (0.3, 0.2, 0.2, 0.1, 0.08, 0.12),
    )
    covered: list[Parcel] = []
    bund = cover_texture(lay, "bund", 0.0)
    for p, ang in parcels:
        centre = np.asarray(p.representative_point().coords[0])
        near = village is not None and np.hypot(*(centre - village[0])) < (village[1])
        kinds, probs = (yard_kinds, yard_p) if near else (field_kinds, field_p)
        kind = str(rng.choice(kinds, p=probs))
        poly = exterior_ring(p)[:-1]
        sc.covers.append(
            Cover(
                poly,
                cover_texture(lay, "grass" if kind == "orchard" else kind, ang),
                lay.seed(),
                bbox_of(poly),
            )
        )
        covered.append((p, kind, ang, near))
        if not near or rng.random() < 0.4:
            sc.lines.append(
                Line(poly, lay.m(0.25, 0.5), bund, lay.seed(), True, (), bbox_of(poly, ppm))
            )
    return Land(covered, village, road)


def _roads(lay: Layout, centre: np.ndarray | None) -> np.ndarray | None:
    """Lay a road through ``centre`` (or, sometimes, anywhere) and up to three paths;
    returns the road's centre line (N, 2) px, or None."""
    sc, rng, ppm = lay.sc, lay.rng, lay.ppm
    w, h = sc.width_px, sc.height_px
    road: np.ndarray | None = None
    n_paths = int(rng.integers(0, 4))
    if centre is not None or rng.random() < 0.6:
        p0 = centre if centre is not None else np.array([rng.uniform(0, w), rng.uniform(0, h)])
        road = _walk(lay, p0, rng.uniform(0, 2 * np.pi), 25 * ppm, 0.18, 10**9, both=True)
        width = lay.m(3, 5.5)
        ruts = (offset_polyline(road, width * 0.22), offset_polyline(road, -width * 0.22))
        _add_line(lay, road, width, cover_texture(lay, "road", 0.0), ruts)
    for _ in range(n_paths):
        if road is not None and rng.random() < 0.7:
            p0 = road[int(rng.integers(len(road)))]
        else:
            p0 = np.array([rng.uniform(0, w), rng.uniform(0, h)])
        pts = _walk(
            lay, p0, rng.uniform(0, 2 * np.pi), 12 * ppm, 0.3, int(rng.integers(4, 20)), both=False
        )
        _add_line(lay, pts, lay.m(0.9, 1.8), cover_texture(lay, "path", 0.0), ())
    return road


def _walk(
    lay: Layout,
    p0: np.ndarray,
    ang: float,
    step: float,
    wiggle: float,
    n_max: int,
    both: bool,
) -> np.ndarray:
    """A gently bending polyline from p0, running until off the raster or n_max steps.

    ``step`` is in px, ``ang`` and ``wiggle`` (standard deviation per step) in radians; with
    ``both`` it runs both ways from p0.
    """
    w, h, lim = lay.sc.width_px, lay.sc.height_px, 30 * lay.ppm
    sides = []
    for direction in (1, -1) if both else (1,):
        pts, a, p = [], ang if direction == 1 else ang + np.pi, p0.astype(float)
        for _ in range(min(n_max, 400)):
            a += lay.rng.normal(0, wiggle)
            p = p + step * np.array([math.cos(a), math.sin(a)])
            pts.append(p)
            if not (-lim < p[0] < w + lim and -lim < p[1] < h + lim):
                break
        sides.append(pts)
    seq = sides[1][::-1] + [p0.astype(float)] + sides[0] if both else [p0] + sides[0]
    return chaikin_smooth(np.asarray(seq, float), 3)


def _add_line(
    lay: Layout,
    pts: np.ndarray,
    width: float,
    tex: Texture,
    ruts: tuple[np.ndarray, ...],
) -> None:
    """Add a textured polyline ``width`` px wide and mark its footprint as road."""
    lay.sc.lines.append(Line(pts, width, tex, lay.seed(), False, ruts, bbox_of(pts, width)))
    outline = LineString(pts).buffer(width / 2 + 0.3 * lay.ppm)
    for g in getattr(outline, "geoms", [outline]):
        lay.mark(exterior_ring(g), ROAD)
