"""Open country: what grows in the parcels, trees along the road and in groves, and the
top-up of labelled plots.

About one parcel in six away from the village hides a poppy or cannabis field (cannabis
mostly inside maize) of up to ~40 m on weeded soil; vegetable parcels get lettuce and
cabbage look-alikes; grass, fallow and wheat get corn-poppy weeds; orchards get rows of
trees and some parcels a hedgerow. Finally, single plants and small clusters are added
until the flight holds at least one plot per ~1000 m^2.
"""

from __future__ import annotations

import math

import numpy as np
from shapely.geometry import Polygon

from training.synthetic.geometry import bbox_of, exterior_ring, offset_polyline, rotated_rect
from training.synthetic.land import Parcel
from training.synthetic.layout import BED, HOUSE, PLOT, ROAD, TREE, Layout
from training.synthetic.palette import cover_texture
from training.synthetic.scene import Cover


def _inside_parcel(
    lay: Layout, p: Polygon, hl: float, hw: float, ang: float, bits: int
) -> tuple[float, float, np.ndarray] | None:
    """A free rectangle of half sizes (hl, hw) at least 0.8 m inside parcel ``p``."""
    inner = p.buffer(-0.8 * lay.ppm)
    if inner.is_empty:
        return None
    x0, y0, x1, y1 = inner.bounds
    for _ in range(25):
        x, y = lay.rng.uniform(x0, x1), lay.rng.uniform(y0, y1)
        poly = rotated_rect(x, y, hl, hw, ang)
        if inner.contains(Polygon(poly)) and lay.free(poly, bits):
            return x, y, poly
    return None


def fill_fields(lay: Layout, parcels: list[Parcel]) -> None:
    """Plant the parcels: hidden fields, look-alike beds, weeds, orchards and hedgerows."""
    rng, ppm, sc = lay.rng, lay.ppm, lay.sc
    for p, kind, ang, near in parcels:
        if kind == "orchard":
            inner = p.buffer(-1.5 * ppm)
            span = math.sqrt(p.minimum_rotated_rectangle.area)
            cx, cy = p.centroid.x, p.centroid.y
            for px, py in lay.grid(cx, cy, span, span, ang, lay.m(5, 7), 0.1):
                if inner.contains(Polygon(rotated_rect(px, py, 1, 1, 0))):
                    lay.tree(px, py, lay.m(1.2, 2.5))
            continue
        crop_ok = kind in ("wheat", "maize", "vegetable", "fallow", "plowed", "grass")
        if crop_ok and not near and rng.random() < 0.16:
            cls = "cannabis" if rng.random() < (0.6 if kind == "maize" else 0.12) else "poppy"
            stage = lay.stage_for(cls)
            r_m = lay.plant_dims(cls, stage)[0]
            hl, hw = lay.m(3, 20), lay.m(2.5, 15)
            for _ in range(4):
                got = _inside_parcel(lay, p, hl, hw, ang, ROAD | HOUSE | PLOT | TREE)
                if got:
                    x, y, poly = got
                    sc.yards.append(
                        Cover(poly, cover_texture(lay, "tilled", ang), lay.seed(), bbox_of(poly))
                    )
                    spacing = lay.spacing_for(cls, stage, r_m, 4 * hl * hw)
                    inset = r_m * ppm * 1.2
                    pts = lay.grid(
                        x,
                        y,
                        max(hl - inset, 1),
                        max(hw - inset, 1),
                        ang,
                        spacing,
                        rng.uniform(0.03, 0.2),
                    )
                    lay.plot(cls, stage, pts, poly, r_m)
                    break
                hl, hw = hl * 0.6, hw * 0.6
        elif kind == "vegetable" and rng.random() < 0.4:  # lettuce / cabbage look-alikes
            crop = "cabbage" if rng.random() < 0.6 else "lettuce"
            r = lay.m(0.18, 0.3) if crop == "cabbage" else lay.m(0.1, 0.17)
            hl, hw = lay.m(2, 10), lay.m(1.5, 7)
            got = _inside_parcel(lay, p, hl, hw, ang, ROAD | HOUSE | PLOT | TREE)
            if got:
                x, y, poly = got
                sc.yards.append(
                    Cover(poly, cover_texture(lay, "bed", ang), lay.seed(), bbox_of(poly))
                )
                lay.mark(poly, BED)
                spacing = max(2.2 * r, math.sqrt(4 * hl * hw / 2500))
                tone = int(rng.integers(3))
                for px, py in lay.grid(x, y, hl - r, hw - r, ang, spacing, 0.05):
                    lay.lookalike(
                        crop, px, py, r * rng.uniform(0.85, 1.15), lay.m(0.1, 0.3), tone, PLOT
                    )
        if kind in ("grass", "fallow", "wheat") and rng.random() < 0.35:
            _weeds(lay, p)
        if not near and rng.random() < 0.15:  # hedgerow along one edge
            ring = exterior_ring(p)
            k = int(rng.integers(len(ring) - 1))
            a, b = ring[k], ring[k + 1]
            n = int(np.hypot(*(b - a)) / lay.m(3, 7))
            for f in np.linspace(0, 1, max(n, 1)):
                q = a + (b - a) * f + rng.normal(0, 0.5 * ppm, 2)
                lay.tree(q[0], q[1], lay.m(1.5, 3.5))


def _weeds(lay: Layout, p: Polygon) -> None:
    """Corn-poppy clusters: small red flowers in grass and field margins (not labelled)."""
    rng = lay.rng
    x0, y0, x1, y1 = p.bounds
    for _ in range(int(rng.integers(1, 4))):
        cx, cy = rng.uniform(x0, x1), rng.uniform(y0, y1)
        spread = lay.m(0.8, 4)
        for _ in range(int(rng.integers(3, 30))):
            x, y = cx + rng.normal(0, spread), cy + rng.normal(0, spread)
            lay.lookalike(
                "cornpoppy",
                x,
                y,
                lay.m(0.04, 0.1),
                lay.m(0.3, 0.6),
                0,
                PLOT | HOUSE | ROAD | BED,
            )


def plant_trees(lay: Layout, road: np.ndarray | None) -> None:
    """Trees along both sides of the road, then groves scattered over the area.

    A flight without a road gets neither (as the generator has always done).
    """
    if road is None:
        return
    rng, ppm = lay.rng, lay.ppm
    d = np.hypot(*np.diff(road, axis=0).T)
    s = np.concatenate([[0], np.cumsum(d)])
    for side in (1, -1):
        at = rng.uniform(0, 10) * ppm
        while at < s[-1]:
            k = int(np.searchsorted(s, at))
            if 0 < k < len(road) and rng.random() < 0.6:
                p = offset_polyline(road[k - 1 : k + 1], side * lay.m(4, 7))[0]
                lay.tree(p[0], p[1], lay.m(1.5, 4))
            at += lay.m(5, 14)
    w, h = lay.sc.width_px, lay.sc.height_px
    for _ in range(int(w * h / (3000 * ppm**2)) + int(rng.integers(0, 2))):
        c = np.array([rng.uniform(0, w), rng.uniform(0, h)])
        for _ in range(int(rng.integers(2, 8))):
            q = c + rng.normal(0, 5 * ppm, 2)
            lay.tree(q[0], q[1], lay.m(1.5, 4.5))


def top_up_plots(lay: Layout) -> None:
    """Top up with single plants and small clusters: at least one plot per ~1000 m^2."""
    sc, rng, ppm = lay.sc, lay.rng, lay.ppm
    want = 1 + int(sc.width_px * sc.height_px / ppm**2 / 1000)
    tries = (
        (PLOT | HOUSE | TREE | ROAD | BED, 3.0),
        (PLOT | HOUSE | TREE, 2.0),
        (PLOT, 1.2),
    )
    for bits, room in tries:
        for _ in range(100 * want):
            if len(sc.plots) >= want:
                return
            cls = "cannabis" if rng.random() < 0.25 else "poppy"
            stage = lay.stage_for(cls)
            r_m = lay.plant_dims(cls, stage)[0]
            x, y = rng.uniform(0, sc.width_px), rng.uniform(0, sc.height_px)
            if lay.free(rotated_rect(x, y, room * r_m * ppm, room * r_m * ppm, 0.0), bits):
                n = 1 if rng.random() < 0.6 else int(rng.integers(2, 5))
                a = rng.uniform(0, 2 * np.pi) + np.arange(n) * 2 * np.pi / n
                spread = 1.7 * r_m * ppm * (n > 1)
                pts = np.column_stack([x + np.cos(a) * spread, y + np.sin(a) * spread])
                lay.plot(cls, stage, pts, None, r_m)
