"""The village: walled compounds with houses, yards, gardens, trees, clutter and plots.

Compounds cluster round the village centre, aligned with the nearby road. A compound has a
packed-earth yard, usually a wall with a gate, a house (flat mud, concrete, corrugated
metal, tile or thatch roof) and sometimes a second wing; inside, garden beds (ornamental
flowers, lettuce and cabbage: look-alikes), trees, clutter (tarps, tanks, buckets, cars,
motorbikes, hay, washing) and, in most compounds, a planting of poppy or cannabis: a single
plant (the common case), a small cluster or a garden patch.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from training.synthetic.geometry import bbox_of, rotated_rect
from training.synthetic.land import Land
from training.synthetic.layout import BED, HOUSE, PLOT, ROAD, TREE, Layout
from training.synthetic.palette import cover_texture
from training.synthetic.plants import ORNAMENTAL_COLOURS
from training.synthetic.scene import RGB, Cover

# A free spot inside a compound: (radius px, occupancy bits to avoid) -> (col, row) or None.
Spot = Callable[[float, int], tuple[float, float] | None]


def build_village(lay: Layout, land: Land) -> None:
    """Place compounds round the village centre, if the flight has a village."""
    if land.village is None:
        return
    sc, rng, ppm = lay.sc, lay.rng, lay.ppm
    road = land.road
    centre, radius = land.village
    base = rng.uniform(0, np.pi)
    for _ in range(int(min(400, 5 + 3 * np.pi * radius**2 / (250 * ppm**2)))):
        pos = centre + rng.normal(0, radius / 1.6, 2)
        hl, hw = lay.m(6, 13), lay.m(5, 11)
        if not (-hl < pos[0] < sc.width_px + hl and -hl < pos[1] < sc.height_px + hl):
            continue
        ang = base
        if road is not None:
            k = int(np.argmin(np.hypot(*(road - pos).T)))
            if np.hypot(*(road[k] - pos)) < 40 * ppm:
                d = road[min(k + 1, len(road) - 1)] - road[max(k - 1, 0)]
                ang = math.atan2(d[1], d[0])
        ang += rng.normal(0, 0.06)
        if lay.free(
            rotated_rect(pos[0], pos[1], hl + 1.5 * ppm, hw + 1.5 * ppm, ang), HOUSE | ROAD, False
        ):
            _compound(lay, float(pos[0]), float(pos[1]), hl, hw, ang)


def _compound(lay: Layout, cx: float, cy: float, hl: float, hw: float, ang: float) -> None:
    """One compound centred on (cx, cy), half sizes (hl, hw) px, turned by ``ang`` rad."""
    sc, rng, ppm = lay.sc, lay.rng, lay.ppm
    c, s = math.cos(ang), math.sin(ang)

    def at(a: float, b: float) -> tuple[float, float]:
        return cx + a * c - b * s, cy + a * s + b * c

    yard = rotated_rect(cx, cy, hl, hw, ang)
    sc.yards.append(Cover(yard, cover_texture(lay, "yard", ang), lay.seed(), bbox_of(yard)))
    t = lay.m(0.35, 0.55) if rng.random() < 0.7 else 0.0
    if t:
        wall_h, wall_col = lay.m(1.8, 2.6), lay.col(lay.soil * 1.06)
        corners = [(-hl, -hw), (hl, -hw), (hl, hw), (-hl, hw)]
        gate = int(rng.integers(4))
        for k in range(4):
            (a0, b0), (a1, b1) = corners[k], corners[(k + 1) % 4]
            segs = [(0.0, 1.0)]
            if k == gate:
                g, gw = rng.uniform(0.25, 0.75), lay.m(2, 3.5) / (2 * max(hl, hw))
                segs = [(0.0, g - gw), (g + gw, 1.0)]
            for f0, f1 in segs:
                pa, pb = (
                    (a0 + (a1 - a0) * f0, b0 + (b1 - b0) * f0),
                    (a0 + (a1 - a0) * f1, b0 + (b1 - b0) * f1),
                )
                length = math.hypot(pb[0] - pa[0], pb[1] - pa[1])
                mid = at((pa[0] + pb[0]) / 2, (pa[1] + pb[1]) / 2)
                seg_ang = ang + math.atan2(pb[1] - pa[1], pb[0] - pa[0])
                lay.solid(*mid, length / 2 + t / 2, t / 2, seg_ang, wall_h, "wall", wall_col, HOUSE)
    style = str(
        rng.choice(["flat", "gable", "hip", "thatch", "concrete"], p=(0.33, 0.32, 0.15, 0.1, 0.1))
    )
    colour: RGB
    if style == "flat":
        colour = lay.col(lay.soil * np.array([1.12, 1.14, 1.18]))  # lime-washed mud
    elif style == "concrete":
        style, colour = "flat", lay.col((176, 176, 170))
    elif style == "gable":
        metals = ((168, 170, 172), (150, 108, 80), (70, 110, 160), (172, 48, 44), (70, 122, 92))
        colour = lay.col(metals[int(rng.integers(len(metals)))])
    elif style == "hip":
        colour = lay.col((176, 88, 62) if rng.random() < 0.7 else (96, 96, 102))
    else:
        colour = lay.col((146, 128, 96))
    depth = min(lay.m(4, 6.5), hw)
    length = min(rng.uniform(0.45, 0.9) * 2 * hl, lay.m(7, 16))
    a_c = rng.uniform(-(hl - length / 2 - t), hl - length / 2 - t)
    house_h = lay.m(2.8, 5)
    lay.solid(
        *at(a_c, hw - t - depth / 2), length / 2, depth / 2, ang, house_h, style, colour, HOUSE
    )
    if rng.random() < 0.5:
        d2 = lay.m(3.5, 5.5)
        room = 2 * hw - 2 * t - depth - 0.3 * ppm
        if room > 3 * ppm:
            l2 = rng.uniform(0.4, 0.9) * room
            side = 1 if rng.random() < 0.5 else -1
            lay.solid(
                *at(side * (hl - t - d2 / 2), hw - t - depth - 0.3 * ppm - l2 / 2),
                l2 / 2,
                d2 / 2,
                ang + np.pi / 2,
                lay.m(2.5, 4),
                style,
                colour,
                HOUSE,
            )
    inner = (hl - t - 0.3 * ppm, hw - t - 0.3 * ppm)

    def spot(radius: float, bits: int) -> tuple[float, float] | None:
        for _ in range(40):
            a = rng.uniform(-inner[0] + radius, inner[0] - radius)
            b = rng.uniform(-inner[1] + radius, inner[1] - radius)
            x, y = at(a, b)
            if lay.free(rotated_rect(x, y, radius, radius, ang), bits):
                return x, y
        return None

    busy = HOUSE | PLOT | BED | TREE
    if rng.random() < 0.6:
        _compound_plot(lay, spot, ang, busy)
    for _ in range(int(rng.choice(3, p=(0.4, 0.4, 0.2)))):
        bl, bw = lay.m(1, 3), lay.m(0.75, 2)
        got = spot(max(bl, bw), busy)
        if got:
            _bed(lay, got[0], got[1], bl, bw, ang)
    for _ in range(int(rng.integers(0, 4))):
        got = spot(lay.m(0.5, 1.5), HOUSE | PLOT)
        if got:
            lay.tree(got[0], got[1], lay.m(1.5, 3.5))
    for _ in range(int(rng.integers(0, 5))):
        _clutter(lay, spot, ang)


def _compound_plot(lay: Layout, spot: Spot, ang: float, busy: int) -> None:
    """A planting in a compound: one plant, a small cluster or a garden patch."""
    rng, ppm = lay.rng, lay.ppm
    cls = "cannabis" if rng.random() < 0.25 else "poppy"
    stage = lay.stage_for(cls)
    r_m = lay.plant_dims(cls, stage)[0]
    kind = rng.choice(3, p=(0.45, 0.3, 0.25))
    if kind == 0:
        got = spot(r_m * ppm * 1.5, busy)
        if got:
            lay.plot(cls, stage, np.array([got]), None, r_m)
    elif kind == 1:
        got = spot(max(1.2, 3 * r_m) * ppm, busy)
        if got:
            n = int(rng.integers(2, 6 if cls == "cannabis" else 10))
            spread = max(0.5, 2.5 * r_m) * ppm
            pts = np.asarray(got) + rng.uniform(-spread, spread, (n, 2)) * 0.6
            keep = [
                p
                for i, p in enumerate(pts)
                if all(np.hypot(*(p - q)) > 1.6 * r_m * ppm for q in pts[:i])
            ]
            lay.plot(cls, stage, np.array(keep), None, r_m)
    else:
        pl, pw = lay.m(0.75, 3), lay.m(0.6, 2)
        got = spot(max(pl, pw), busy)
        if got:
            poly = rotated_rect(got[0], got[1], pl, pw, ang)
            lay.sc.yards.append(
                Cover(poly, cover_texture(lay, "bed", ang), lay.seed(), bbox_of(poly))
            )
            inset = r_m * ppm
            pts = lay.grid(
                got[0],
                got[1],
                max(pl - inset, 1),
                max(pw - inset, 1),
                ang,
                lay.spacing_for(cls, stage, r_m, 4 * pl * pw),
            )
            lay.plot(cls, stage, pts, poly, r_m)


def _bed(lay: Layout, x: float, y: float, hl: float, hw: float, ang: float) -> None:
    """A garden bed: ornamental flowers, lettuce, cabbage (look-alikes) or plain rows."""
    rng = lay.rng
    poly = rotated_rect(x, y, hl, hw, ang)
    flowers = rng.random() < 0.45
    crop = str(rng.choice(["lettuce", "cabbage", "rows"]))
    tex = cover_texture(lay, "vegetable" if crop == "rows" and not flowers else "bed", ang)
    lay.sc.yards.append(Cover(poly, tex, lay.seed(), bbox_of(poly)))
    lay.mark(poly, BED)
    if flowers:
        r = lay.m(0.15, 0.4)
        tone = int(rng.integers(len(ORNAMENTAL_COLOURS)))
        for px, py in lay.grid(x, y, max(hl - r, 1), max(hw - r, 1), ang, 1.9 * r, 0.2):
            t = tone if rng.random() < 0.6 else int(rng.integers(len(ORNAMENTAL_COLOURS)))
            lay.lookalike("ornamental", px, py, r * rng.uniform(0.8, 1.2), lay.m(0.4, 1.0), t, PLOT)
    elif crop != "rows":
        r = lay.m(0.1, 0.17) if crop == "lettuce" else lay.m(0.18, 0.3)
        tone = int(rng.integers(3))
        for px, py in lay.grid(x, y, max(hl - r, 1), max(hw - r, 1), ang, 2.1 * r, 0.1):
            lay.lookalike(crop, px, py, r * rng.uniform(0.85, 1.15), lay.m(0.1, 0.3), tone, PLOT)


def _clutter(lay: Layout, spot: Spot, ang: float) -> None:
    """One thing left in a yard: tarp, tank, bucket, car, motorbike, hay or washing."""
    rng, ppm = lay.rng, lay.ppm
    kind = str(rng.choice(["tarp", "tank", "bucket", "car", "moto", "hay", "clothes"]))
    bright = (
        (182, 40, 40),
        (40, 80, 170),
        (222, 122, 40),
        (60, 130, 70),
        (222, 222, 216),
        (200, 30, 60),
        (236, 200, 50),
    )
    pick = bright[int(rng.integers(len(bright)))]
    bits = HOUSE | PLOT | BED | TREE
    if kind == "tarp":
        hl, hw = lay.m(0.75, 2), lay.m(0.5, 1.5)
        got = spot(max(hl, hw), bits)
        if got:
            lay.solid(
                got[0],
                got[1],
                hl,
                hw,
                ang + rng.normal(0, 0.4),
                0.05 * ppm,
                "object",
                lay.col(pick),
                BED,
            )
    elif kind in ("tank", "bucket", "hay"):
        r = {"tank": lay.m(0.5, 1.0), "bucket": lay.m(0.15, 0.3), "hay": lay.m(0.8, 1.6)}
        colours = {
            "tank": ((40, 40, 45), (60, 90, 160), (210, 210, 205)),
            "bucket": bright,
            "hay": ((200, 180, 120),),
        }[kind]
        got = spot(r[kind], bits)
        if got:
            lay.solid(
                got[0],
                got[1],
                r[kind],
                r[kind],
                0.0,
                lay.m(0.3, 2.0),
                "tank",
                lay.col(colours[int(rng.integers(len(colours)))]),
                BED,
            )
    elif kind in ("car", "moto"):
        hl, hw = (2.15 * ppm, 0.9 * ppm) if kind == "car" else (0.95 * ppm, 0.35 * ppm)
        got = spot(hl, bits)
        if got:
            paint = ((230, 230, 228), (130, 132, 136), (30, 30, 34), (170, 30, 34))
            lay.solid(
                got[0],
                got[1],
                hl,
                hw,
                ang + rng.normal(0, 0.5),
                lay.m(1.0, 1.5),
                "car" if kind == "car" else "object",
                lay.col(paint[int(rng.integers(4))]),
                BED,
            )
    else:  # washing on a line
        got = spot(lay.m(1.5, 3), bits)
        if got:
            n, a = int(rng.integers(3, 9)), ang + rng.normal(0, 0.3)
            for i in range(n):
                d = (i - n / 2) * 0.7 * ppm
                lay.solid(
                    got[0] + d * math.cos(a),
                    got[1] + d * math.sin(a),
                    lay.m(0.2, 0.35),
                    lay.m(0.25, 0.5),
                    a,
                    1.5 * ppm,
                    "object",
                    lay.col(bright[int(rng.integers(len(bright)))]),
                    BED,
                )
