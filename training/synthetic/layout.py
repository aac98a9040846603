"""Placing things in a flight's scene: the occupancy grid and the placement primitives.

:class:`Occupancy` keeps, per half-metre cell, what already stands there (house, road, plot,
tree, bed bits) and whether the cell is inside the flight; every placement asks it first,
so plots do not overlap houses and labelled plants stay inside the valid area.
:class:`Layout` is the state of one flight's layout: the scene being filled, the seeded
generator that makes every draw (in order), the flight's ground palette, and primitives that
add solids, trees, plant sprites and labelled plots. The parts of the scene are laid out by
:mod:`~training.synthetic.land`, :mod:`~training.synthetic.village` and
:mod:`~training.synthetic.fields`.
"""

from __future__ import annotations

import math

import cv2
import numpy as np
from numpy.typing import ArrayLike
from shapely.geometry import Polygon

from training.synthetic.ellipses import parts_box
from training.synthetic.geometry import bbox_of, exterior_ring, rotated_rect
from training.synthetic.outline import draw_flight_outline
from training.synthetic.plants import plant_parts
from training.synthetic.scene import RGB, Box, PlantLabel, PlotLabel, Scene, Solid, Sprite, Tree

HOUSE, ROAD, PLOT, TREE, BED = 1, 2, 4, 8, 16  # occupancy bits


class Occupancy:
    """What stands where, on a grid of cells of half a metre (at least one pixel)."""

    def __init__(self, width_px: int, height_px: int, ppm: float) -> None:
        self.width_px, self.height_px = width_px, height_px
        self.cell = max(0.5 * ppm, 1.0)  # cell edge, px
        self.gshape = (math.ceil(height_px / self.cell) + 1, math.ceil(width_px / self.cell) + 1)
        self.occ = np.zeros(self.gshape, np.uint8)  # bits of what stands in each cell
        self.valid = np.zeros(self.gshape, np.uint8)  # 1 where a cell is inside the flight

    def _cells(self, poly: np.ndarray) -> tuple[tuple[slice, slice], np.ndarray] | None:
        """Cells the polygon touches, edges included: (slices, bool mask), or None."""
        pts = poly / self.cell
        r0 = max(math.floor(pts[:, 1].min()) - 1, 0)
        c0 = max(math.floor(pts[:, 0].min()) - 1, 0)
        r1 = min(math.ceil(pts[:, 1].max()) + 2, self.gshape[0])
        c1 = min(math.ceil(pts[:, 0].max()) + 2, self.gshape[1])
        if r0 >= r1 or c0 >= c1:
            return None
        m = np.zeros((r1 - r0, c1 - c0), np.uint8)
        p = np.round((pts - [c0, r0]) * 16 - 8).astype(np.int32)
        cv2.fillPoly(m, [p], 1, cv2.LINE_8, 4)
        cv2.polylines(m, [p], True, 1, 1, cv2.LINE_8, 4)
        return (slice(r0, r1), slice(c0, c1)), m.astype(bool)

    def free(self, poly: np.ndarray, bits: int, inside: bool = True) -> bool:
        """Whether ``poly`` touches no cell holding any of ``bits``; with ``inside``, also
        whether it lies on the raster and inside the flight outline."""
        got = self._cells(poly)
        if got is None:
            return not inside
        sl, m = got
        if inside and not (self.valid[sl][m].all() and self._within(poly)):
            return False
        return not (self.occ[sl][m] & bits).any()

    def _within(self, poly: np.ndarray) -> bool:
        """Whether ``poly`` lies on the raster, one pixel in from its edges."""
        return bool(
            poly[:, 0].min() >= 1
            and poly[:, 1].min() >= 1
            and poly[:, 0].max() <= self.width_px - 1
            and poly[:, 1].max() <= self.height_px - 1
        )

    def mark(self, poly: np.ndarray, bit: int) -> None:
        """Record that ``poly`` holds ``bit``."""
        got = self._cells(poly)
        if got is not None:
            sl, m = got
            self.occ[sl][m] |= np.uint8(bit)

    def _cells_strict(self, poly: np.ndarray) -> tuple[tuple[slice, slice], np.ndarray] | None:
        """Cells whose centres are inside ``poly``: (slices, uint8 mask), or None."""
        got = self._cells(poly)
        if got is None:
            return None
        (rs, cs), m = got
        inner = np.zeros(m.shape, np.uint8)
        p = np.round((poly / self.cell - [cs.start, rs.start]) * 16 - 8).astype(np.int32)
        cv2.fillPoly(inner, [p], 1, cv2.LINE_8, 4)
        return (rs, cs), inner

    def allow_all(self) -> None:
        """Make every cell placeable (a flight without an outline)."""
        self.valid[:] = 1

    def allow(self, poly: np.ndarray) -> None:
        """Make the cells whose centres are inside ``poly`` placeable."""
        got = self._cells_strict(poly)
        if got is not None:
            self.valid[got[0]] |= got[1]


class Layout:
    """Lays out one flight's scene; every draw comes from one seeded generator, in order."""

    def __init__(self, scene: Scene, rng: np.random.Generator, nodata_border: bool) -> None:
        self.sc, self.rng, self.ppm = scene, rng, scene.ppm
        self.space = Occupancy(scene.width_px, scene.height_px, scene.ppm)
        la = math.atan2(scene.light[1], scene.light[0])
        self.sun = (la, scene.shadow_vec)
        j = rng.uniform(0.9, 1.1)
        soils = ((176, 158, 124), (150, 132, 102), (156, 130, 100), (164, 152, 130))
        self.soil = np.array(soils[int(rng.integers(len(soils)))], float) * j
        self.grass = np.array([98.0, 118.0, 68.0]) * rng.uniform(0.9, 1.12)
        self.dry = np.array([150.0, 144.0, 106.0]) * rng.uniform(0.92, 1.08)
        weights = np.full(3, 0.2)
        weights[int(rng.integers(3))] = 0.6
        self.poppy_stages = weights  # probabilities of seedling, flowering, capsule
        placeable = draw_flight_outline(scene, rng, nodata_border)
        if placeable is None:
            self.space.allow_all()
        for ring in placeable or ():
            self.space.allow(ring)

    # -- draws
    def seed(self) -> int:
        """A fresh seed for an element's own generator."""
        return int(self.rng.integers(2**31 - 1))

    def m(self, lo: float, hi: float) -> float:
        """A uniform length in metres, returned in pixels."""
        return float(self.rng.uniform(lo, hi)) * self.ppm

    def col(self, c: ArrayLike, amt: float = 0.05) -> RGB:
        """Colour ``c`` with brightness jittered by ``amt`` and each band by ``amt / 3``."""
        v = np.asarray(c, float) * self.rng.uniform(1 - amt, 1 + amt)
        v = v * (1 + self.rng.normal(0, amt / 3, 3))
        return (float(v[0]), float(v[1]), float(v[2]))

    def free(self, poly: np.ndarray, bits: int, inside: bool = True) -> bool:
        """See :meth:`Occupancy.free`."""
        return self.space.free(poly, bits, inside)

    def mark(self, poly: np.ndarray, bit: int) -> None:
        """See :meth:`Occupancy.mark`."""
        self.space.mark(poly, bit)

    # -- things standing on the ground
    def solid(
        self,
        cx: float,
        cy: float,
        hl: float,
        hw: float,
        ang: float,
        height: float,
        style: str,
        colour: RGB,
        bit: int,
    ) -> None:
        """Add a box-shaped thing (see :class:`Solid`; a ``tank`` is round, radius ``hl``)
        and mark its footprint with ``bit``; sizes and ``height`` in px."""
        if style == "tank":
            t = np.linspace(0, 2 * np.pi, 20, endpoint=False)
            poly = np.column_stack([cx + np.cos(t) * hl, cy + np.sin(t) * hl])
        else:
            poly = rotated_rect(cx, cy, hl, hw, ang)
        sv = self.sc.shadow_vec
        both = np.vstack([poly, poly + np.array(sv) * height])
        self.sc.solids.append(
            Solid(cx, cy, hl, hw, ang, height, style, colour, self.seed(), poly, bbox_of(both, 2))
        )
        self.mark(poly, bit)

    def tree(self, x: float, y: float, radius: float, bits: int = 0) -> bool:
        """Add a tree of crown ``radius`` px at (x, y) unless the spot is taken (by plots,
        trees, houses, roads or ``bits``); returns whether it was added."""
        rng = self.rng
        t = np.linspace(0, 2 * np.pi, 8, endpoint=False)
        octo = np.column_stack([x + np.cos(t) * radius, y + np.sin(t) * radius])
        if not self.free(octo, bits | PLOT | TREE | HOUSE | ROAD, inside=False):
            return False
        k = int(rng.integers(1, 6))
        la, ld = rng.uniform(0, 2 * np.pi, k), rng.uniform(0.2, 0.5, k) * radius
        lr = rng.uniform(0.45, 0.7, k) * radius
        lobes = np.column_stack([x + np.cos(la) * ld, y + np.sin(la) * ld, lr])
        lobes = np.vstack([[x, y, radius * rng.uniform(0.75, 0.9)], lobes])
        height = radius * rng.uniform(1.4, 2.4)
        greens = ((60, 86, 44), (44, 66, 38), (84, 110, 56), (78, 100, 66))
        sv = np.array(self.sc.shadow_vec) * height
        ext = np.vstack(
            [
                lobes[:, :2] - radius,
                lobes[:, :2] + radius,
                lobes[:, :2] + sv - radius,
                lobes[:, :2] + sv + radius,
            ]
        )
        self.sc.trees.append(
            Tree(
                lobes,
                height,
                self.col(greens[int(rng.integers(4))], 0.08),
                self.seed(),
                bbox_of(ext, 2),
            )
        )
        self.mark(octo, TREE)
        return True

    def sprite(
        self, kind: str, stage: str, x: float, y: float, r: float, h: float, tone: int
    ) -> tuple[Sprite, Box]:
        """A plant sprite of radius ``r`` and height ``h`` px at (x, y), not yet added, and
        the box of its visible ellipses in raster pixels (its label box)."""
        sp = Sprite(kind, stage, float(x), float(y), float(r), float(h), self.seed(), tone)
        parts, shadows, _ = plant_parts(sp, self.ppm, *self.sun)
        b, s = parts_box(parts), parts_box(shadows)
        full = (
            x + min(b[0], s[0]) - 2,
            y + min(b[1], s[1]) - 2,
            x + max(b[2], s[2]) + 2,
            y + max(b[3], s[3]) + 2,
        )
        return Sprite(
            kind, stage, sp.col, sp.row, sp.radius_px, sp.height_px, sp.seed, tone, full
        ), (x + b[0], y + b[1], x + b[2], y + b[3])

    def lookalike(
        self, kind: str, x: float, y: float, r: float, h: float, tone: int, bits: int = PLOT | HOUSE
    ) -> None:
        """Add an unlabelled look-alike plant unless its square is taken by ``bits``."""
        if self.free(rotated_rect(x, y, r, r, 0.0), bits, inside=False):
            self.sc.sprites.append(self.sprite(kind, "", x, y, r, h, tone)[0])

    # -- labelled plantings
    def stage_for(self, cls: str) -> str:
        """A growth stage for a new plot of ``cls``."""
        if cls == "poppy":
            return ("seedling", "flowering", "capsule")[
                int(self.rng.choice(3, p=self.poppy_stages))
            ]
        return "vegetative" if self.rng.random() < 0.5 else "flowering"

    def plant_dims(self, cls: str, stage: str) -> tuple[float, tuple[float, float]]:
        """Mean plant radius (m) of a plot and its height range (m)."""
        u = self.rng.uniform
        if cls == "cannabis":
            return (
                (u(0.3, 0.6), (0.8, 2.0)) if stage == "vegetative" else (u(0.4, 0.75), (1.5, 3.0))
            )
        if stage == "seedling":
            return u(0.05, 0.14), (0.08, 0.2)
        return u(0.15, 0.29), (0.6, 1.3)

    def plot(
        self,
        cls: str,
        stage: str,
        pts: np.ndarray,
        ring: np.ndarray | None,
        r_m: float | None = None,
    ) -> None:
        """Add a labelled plot: one plant per free point of ``pts`` (px).

        Args:
            cls: ``poppy`` or ``cannabis``.
            stage: Growth stage of every plant of the plot.
            pts: Plant centres (N, 2), raster pixels.
            ring: The plot's outline (M, 2) px; None: the hull of the plants' boxes.
            r_m: Mean plant radius, metres; None: drawn for ``cls`` and ``stage``.
        """
        sc, rng, ppm = self.sc, self.rng, self.ppm
        if len(pts) == 0:
            return
        plot_id = len(sc.plots)
        mean_r, (h_lo, h_hi) = self.plant_dims(cls, stage)
        mean_r = r_m or mean_r
        tone = int(rng.choice(6, p=(0.38, 0.2, 0.15, 0.12, 0.06, 0.09)))
        boxes = []
        for x, y in pts:
            r = float(np.clip(mean_r * rng.lognormal(0, 0.15), mean_r * 0.7, mean_r * 1.35))
            sp, bx = self.sprite(cls, stage, x, y, r * ppm, rng.uniform(h_lo, h_hi) * ppm, tone)
            if not self.free(
                rotated_rect(
                    (bx[0] + bx[2]) / 2,
                    (bx[1] + bx[3]) / 2,
                    (bx[2] - bx[0]) / 2,
                    (bx[3] - bx[1]) / 2,
                    0.0,
                ),
                0,
            ):
                continue  # outside the raster or the flight outline
            sc.sprites.append(sp)
            sc.plants.append(PlantLabel(*bx, cls=cls, stage=stage, plot_id=plot_id))
            boxes.append(bx)
        if not boxes:
            return
        if ring is None:
            corners = [(b[i], b[j]) for b in boxes for i, j in ((0, 1), (2, 1), (2, 3), (0, 3))]
            hull = Polygon(corners).convex_hull if len(boxes) > 1 else Polygon(corners)
            ring = exterior_ring(hull)[:-1]
        sc.plots.append(
            PlotLabel(plot_id, cls, stage, tuple((float(c), float(r)) for c, r in ring), len(boxes))
        )
        grown = Polygon(ring).buffer(0.3 * ppm)
        self.mark(exterior_ring(grown), PLOT)

    def grid(
        self,
        cx: float,
        cy: float,
        hl: float,
        hw: float,
        ang: float,
        spacing: float,
        dropout: float = 0.08,
    ) -> np.ndarray:
        """Jittered staggered grid of points (N, 2) inside a rotated rectangle; about
        ``spacing`` px apart, a fraction ``dropout`` of them left out."""
        rng = self.rng
        na, nb = max(1, int(2 * hl / spacing)), max(1, int(2 * hw / spacing * 1.15))
        a = (np.arange(na) + 0.5) / na * 2 * hl - hl
        b = (np.arange(nb) + 0.5) / nb * 2 * hw - hw
        aa, bb = np.meshgrid(a, b)
        aa = aa + (np.arange(nb)[:, None] % 2) * spacing * 0.5
        aa = np.clip(aa + rng.normal(0, 0.18 * spacing, aa.shape), -hl, hl)
        bb = np.clip(bb + rng.normal(0, 0.18 * spacing, bb.shape), -hw, hw)
        keep = rng.random(aa.shape) >= dropout
        aa, bb = aa[keep], bb[keep]
        c, s = math.cos(ang), math.sin(ang)
        return np.column_stack([cx + aa * c - bb * s, cy + aa * s + bb * c])

    def spacing_for(self, cls: str, stage: str, r_m: float, area_px: float) -> float:
        """Plant spacing (px) in a plot of ``area_px`` square pixels."""
        ppm = self.ppm
        if cls == "cannabis":
            sp = max(self.rng.uniform(0.9, 1.5), 1.6 * r_m) * ppm
        else:
            sp = self.rng.uniform(1.5, 2.2) * r_m * ppm + (0.1 * ppm if stage == "seedling" else 0)
        return max(sp, math.sqrt(area_px / 5000.0))  # a field holds at most ~5000 plants
