"""Procedural drone orthomosaics of villages and fields with opium poppy and cannabis labels.

:func:`generate_flight` first composes a scene as a list of vector / parametric elements
(field parcels, bunds, roads, walled compounds, roofs, trees, plants, clutter), then renders it
window by window (1024 px, aligned to the file's blocks) and streams the windows into a tiled,
DEFLATE-compressed GeoTIFF with internal overviews. Memory does not grow with the raster; a
16384 x 16384 flight renders in bounded memory.

Realism choices (what a detector must learn, and what it must learn to ignore):

* Sizes are metres, converted with ``gsd_m``: 1-5 cm per pixel all work. Poppy rosettes are
  0.1-0.3 m across, flowering and capsule plants 0.3-0.6 m, cannabis 0.6-1.5 m.
* Ground: field parcels from recursive splits of the area (straight boundaries, earth bunds),
  with crop rows at real spacings (wheat 0.17 m, maize 0.75 m, vegetables, furrows), grass,
  fallow and bare soil; textures are value noise on a global hash lattice, so windows join
  seamlessly and cost a few resizes rather than per-pixel procedural work.
* Village: walled courtyards of packed earth, flat mud, corrugated metal (grey, blue, red),
  tile and thatch roofs shaded per facet by the sun, walls, water tanks, tarps, vehicles;
  trees are lumpy sunlit domes. Everything tall casts a bluish shadow along one sun azimuth.
* Opium poppy: glaucous blue-green foliage; seedlings are leaf rosettes; flowering plants carry
  4-petal flowers (white, red, pink, purple, lilac; one variety or mixed per plot) and buds;
  capsule plants carry pale grey-green pods over yellowing foliage. Plots range from a single
  plant in a courtyard (the common case) through garden patches to fields of up to ~40 m
  hidden inside legal crops.
* Cannabis: palmate fan leaves (5-9 narrow leaflets) in a dense, darker, yellow-green bush with
  a dark interior, pale colas when flowering, and a long shadow (1-3 m tall).
* Look-alikes, never labelled: ornamental flower bushes in gardens, red roofs, red tarps and
  buckets, lettuce (green and red) and glaucous cabbage rows, corn-poppy weeds (small red
  flowers scattered in grass and field margins).
* Camera and mosaic: sun azimuth / elevation, haze, white balance, exposure, saturation and
  gamma jitter, per-photo exposure differences with jagged seamlines, slight blur, sensor noise
  and JPEG artefacts on the 8 x 8 grid, and an irregular flight outline (nodata) made of flight
  strips of uneven length.
* Labels are exact: a plant's box is the union of the ellipses it was drawn from (pixel-corner
  coordinates), so boxes are tight to what is visible.
"""

from __future__ import annotations

import json
import logging
import math
import multiprocessing
import os
import threading
import time
from collections import deque
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
import rasterio
import shapely
from pyproj import CRS, Transformer
from rasterio.enums import Resampling
from rasterio.transform import Affine
from rasterio.windows import Window
from shapely.geometry import LineString, MultiPolygon, Polygon, box
from shapely.ops import split, unary_union

log = logging.getLogger(__name__)

RGB = tuple[float, float, float]
Box = tuple[float, float, float, float]

WINDOW_PX = 1024  # render window edge; rounded to a multiple of the file's block size
PAD_PX = 24  # extra rendered margin so blur and shadows join across windows
_M32 = np.uint64(0xFFFFFFFF)
_SHADOW_LIGHT = np.array([0.46, 0.48, 0.52], np.float32)  # light left in full shadow, per band
_PETALS: tuple[tuple[RGB, RGB], ...] = (  # (petal, centre blotch) per poppy variety
    ((236.0, 234.0, 226.0), (150.0, 120.0, 150.0)),  # white, purple basal spots
    ((198.0, 34.0, 40.0), (45.0, 30.0, 35.0)),  # red, black blotch
    ((232.0, 146.0, 172.0), (120.0, 60.0, 90.0)),  # pink
    ((150.0, 82.0, 150.0), (60.0, 35.0, 60.0)),  # purple
    ((206.0, 166.0, 212.0), (110.0, 80.0, 120.0)),  # lilac
)
_ORNAMENTAL: tuple[RGB, ...] = (
    (205.0, 32.0, 42.0),
    (232.0, 120.0, 160.0),
    (238.0, 140.0, 30.0),
    (236.0, 204.0, 46.0),
    (240.0, 238.0, 232.0),
    (190.0, 40.0, 120.0),
)


@dataclass(frozen=True)
class PlantLabel:
    """One labelled plant; its box is in raster pixel-corner coordinates (col, row)."""

    col0_px: float
    row0_px: float
    col1_px: float
    row1_px: float
    cls: str  # "poppy" | "cannabis"
    stage: str  # poppy: seedling | flowering | capsule; cannabis: vegetative | flowering
    plot_id: int


@dataclass(frozen=True)
class PlotLabel:
    """One planting: a single plant, a cluster, a garden patch or a field."""

    plot_id: int
    cls: str
    stage: str
    polygon_px: tuple[tuple[float, float], ...]  # (col, row) ring in raster pixels, not closed
    plant_count: int


@dataclass(frozen=True)
class SyntheticFlight:
    """What :func:`generate_flight` wrote."""

    raster_path: Path  # tiled GeoTIFF
    labels_path: Path  # GeoJSON, RFC 7946 (WGS84 lon/lat)
    plants: tuple[PlantLabel, ...]
    plots: tuple[PlotLabel, ...]
    gsd_m: float
    crs: str


# ---------------------------------------------------------------- scene elements (internal)


@dataclass(frozen=True, slots=True)
class _Tex:
    """A parametric ground texture: two colours mixed by noise, clumps, patches, crop rows."""

    col_a: RGB
    col_b: RGB
    low_px: float
    clump_px: float = 0.0
    clump_amp: float = 0.0
    grain: float = 0.05
    patch_col: RGB | None = None
    patch_px: float = 0.0
    patch_cut: float = 0.2
    row_px: float = 0.0
    row_angle: float = 0.0
    row_duty: float = 0.5
    row_col: RGB = (0.0, 0.0, 0.0)
    along_px: float = 0.0


@dataclass(frozen=True, slots=True)
class _Cover:
    poly: np.ndarray  # (N, 2) col, row
    tex: _Tex
    seed: int
    bbox: Box


@dataclass(frozen=True, slots=True)
class _Line:
    pts: np.ndarray  # (N, 2) col, row
    width_px: float
    tex: _Tex
    seed: int
    closed: bool
    ruts: tuple[np.ndarray, ...]
    bbox: Box


@dataclass(frozen=True, slots=True)
class _Solid:
    """A box-shaped thing seen from above: roof, wall segment, tank, tarp, vehicle."""

    cx: float
    cy: float
    hl: float  # half length along ``angle``, px
    hw: float  # half width, px
    angle: float  # radians, image axes
    height_px: float
    style: str  # flat | gable | hip | thatch | wall | object | tank
    colour: RGB
    seed: int
    poly: np.ndarray
    bbox: Box


@dataclass(frozen=True, slots=True)
class _Tree:
    lobes: np.ndarray  # (k, 3) col, row, radius px
    height_px: float
    colour: RGB
    seed: int
    bbox: Box


@dataclass(frozen=True, slots=True)
class _Sprite:
    """A plant drawn from ellipses: poppy, cannabis or an unlabelled look-alike."""

    kind: str  # poppy | cannabis | ornamental | lettuce | cabbage | cornpoppy
    stage: str
    col: float
    row: float
    radius_px: float
    height_px: float
    seed: int
    tone: int  # variety: petal palette, lettuce colour, flower colour
    bbox: Box = (0.0, 0.0, 0.0, 0.0)  # drawing and shadow extent


@dataclass(frozen=True, slots=True)
class _Look:
    """Camera and mosaic parameters of one flight."""

    haze: float
    air: RGB
    gain: RGB
    saturation: float
    gamma: float
    blur_px: float
    noise: float
    jpeg_quality: int  # 0 = none


@dataclass
class _Scene:
    width_px: int
    height_px: int
    ppm: float  # pixels per metre
    seed: int
    shadow_vec: tuple[float, float]  # ground shadow offset (col, row) per unit of height
    light: tuple[float, float, float]  # unit vector to the sun (col, row, up)
    look: _Look
    outline: np.ndarray | None  # valid flight area (N, 2), or None when all valid
    photo_xy: np.ndarray  # (K, 2) source photo centres
    photo_gain: np.ndarray  # (K, 3)
    photo_px: float
    win: int = WINDOW_PX
    covers: list[_Cover] = field(default_factory=list)
    lines: list[_Line] = field(default_factory=list)
    yards: list[_Cover] = field(default_factory=list)
    sprites: list[_Sprite] = field(default_factory=list)
    solids: list[_Solid] = field(default_factory=list)
    trees: list[_Tree] = field(default_factory=list)
    plants: list[PlantLabel] = field(default_factory=list)
    plots: list[PlotLabel] = field(default_factory=list)
    index: dict[tuple[int, int], dict[str, list[int]]] = field(default_factory=dict)


# ---------------------------------------------------------------- noise (seamless by global hash)


def _lattice(salt: int, i0: int, j0: int, n_i: int, n_j: int) -> np.ndarray:
    """Uniform values in [-1, 1) on integer lattice points (i0.., j0..), a pure hash."""
    i = np.arange(i0, i0 + n_i, dtype=np.int64).astype(np.uint64) * np.uint64(0x9E3779B1)
    j = np.arange(j0, j0 + n_j, dtype=np.int64).astype(np.uint64) * np.uint64(0x85EBCA77)
    h = (i[:, None] ^ (j[None, :] + np.uint64((salt * 0xC2B2AE3D) & 0xFFFFFFFF))) & _M32
    h ^= h >> np.uint64(16)
    h = (h * np.uint64(0x7FEB352D)) & _M32
    h ^= h >> np.uint64(15)
    h = (h * np.uint64(0x846CA68B)) & _M32
    h ^= h >> np.uint64(16)
    return h.astype(np.float32) * np.float32(2.0 / 4294967296.0) - np.float32(1.0)


def _cubic_weights(start: int, n: int, s: int, i0: int, n_lat: int) -> np.ndarray:
    """(n, n_lat) Catmull-Rom weights of global pixels start.. on lattice points i0.."""
    t = (np.arange(start, start + n) + 0.5) / s - 0.5
    i = np.floor(t).astype(np.int64)
    f = (t - i).astype(np.float32)
    f2, f3 = f * f, f * f * f
    taps = (
        (-f3 + 2 * f2 - f) / 2,
        (3 * f3 - 5 * f2 + 2) / 2,
        (-3 * f3 + 4 * f2 + f) / 2,
        (f3 - f2) / 2,
    )
    w = np.zeros((n, n_lat), np.float32)
    rows = np.arange(n)
    for k, tap in enumerate(taps):
        w[rows, i - 1 + k - i0] = tap
    return w


def _noise(salt: int, r0: int, c0: int, h: int, w: int, scale_px: float) -> np.ndarray:
    """Bicubic value noise with features ``scale_px`` apart, for global pixels r0.., c0..

    The value at a pixel depends only on its global position, so windows join seamlessly.
    """
    s = max(1, round(scale_px))
    if s == 1:
        return _lattice(salt, r0, c0, h, w)
    i0, j0 = r0 // s - 2, c0 // s - 2
    n_i, n_j = (r0 + h) // s + 4 - i0, (c0 + w) // s + 4 - j0
    lat = _lattice(salt, i0, j0, n_i, n_j)
    if s < 96:  # upsample the whole lattice patch, then crop
        big = cv2.resize(lat, (n_j * s, n_i * s), interpolation=cv2.INTER_CUBIC)
        oy, ox = r0 - i0 * s, c0 - j0 * s
        return big[oy : oy + h, ox : ox + w]
    # coarse noise: separable interpolation as two small matrix products
    return _cubic_weights(r0, h, s, i0, n_i) @ lat @ _cubic_weights(c0, w, s, j0, n_j).T


def _fbm(salt: int, r0: int, c0: int, h: int, w: int, scale_px: float, octaves: int = 3):
    """Fractal sum of value noise, roughly zero-mean with standard deviation ~0.3."""
    out = _noise(salt, r0, c0, h, w, scale_px)
    amp, total = 0.5, 1.0
    for k in range(1, octaves):
        if scale_px / 2**k < 1.0:
            break
        out = out + amp * _noise(salt + 7919 * k, r0, c0, h, w, scale_px / 2**k)
        total += amp
        amp *= 0.5
    return out / total


# ---------------------------------------------------------------- ground textures


def _texture(
    tex: _Tex, seed: int, r0: int, c0: int, h: int, w: int, grain: np.ndarray, fine_px: float = 2.0
):
    """Colour (h, w, 3) float32 of ``tex`` over global pixels r0.., c0..; grain is (h, w)
    per-pixel noise, ``fine_px`` the size of clods and grass tufts in pixels."""
    # few full-size temporaries: every (h, w, 3) allocation costs as much as the arithmetic
    t = np.clip(0.5 + 1.6 * _fbm(seed, r0, c0, h, w, tex.low_px, 2), 0.0, 1.0)
    a, b = np.asarray(tex.col_a, np.float32), np.asarray(tex.col_b, np.float32)
    col = np.multiply.outer(t, b - a)
    col += a
    fine = _noise(seed + 4, r0, c0, h, w, max(1.0, fine_px))
    shade = 1.0 + tex.grain * (1.2 * fine + 0.8 * grain)
    if tex.clump_amp:
        shade = shade + tex.clump_amp * 2.5 * _fbm(seed + 1, r0, c0, h, w, tex.clump_px, 3)
    if tex.patch_col is not None:
        p = _fbm(seed + 2, r0, c0, h, w, tex.patch_px, 4)
        m = np.clip((p - tex.patch_cut) * 5.0 + 0.5, 0.0, 1.0) * np.float32(0.85)
        tmp = np.asarray(tex.patch_col, np.float32) - col
        tmp *= m[..., None]
        col += tmp
    if tex.row_px >= 2.5:
        rows = np.arange(r0, r0 + h, dtype=np.float32)[:, None] + 0.5
        cols = np.arange(c0, c0 + w, dtype=np.float32)[None, :] + 0.5
        ca, sa = math.cos(tex.row_angle), math.sin(tex.row_angle)
        u = (cols * ca + rows * sa) / tex.row_px
        dist = np.abs(u - np.floor(u) - 0.5) * tex.row_px  # px from the row's centre line
        wobble = _noise(seed + 3, r0, c0, h, w, max(4 * tex.row_px, 8.0))
        half = tex.row_duty * tex.row_px * 0.5 * (1.0 + 0.6 * wobble)
        veg = np.clip(half - dist + 0.5, 0.0, 1.0)
        if tex.along_px >= 2.0:
            v = (rows * ca - cols * sa) / tex.along_px
            veg *= np.clip(0.7 + 0.6 * np.cos(2 * np.pi * v + 2.0 * np.floor(u)), 0.0, 1.0)
        row_col = np.multiply.outer(0.85 + 0.3 * t, np.asarray(tex.row_col, np.float32))
        col -= row_col
        col *= veg[..., None]
        col += row_col
    col *= shade[..., None]
    return col


def _region(bbox: Box, r0: int, c0: int, h: int, w: int) -> tuple[int, int, int, int] | None:
    """Window-relative (ra, rb, ca, cb) of ``bbox`` clipped to the window, or None."""
    ra, rb = max(math.floor(bbox[1]), r0) - r0, min(math.ceil(bbox[3]) + 1, r0 + h) - r0
    ca, cb = max(math.floor(bbox[0]), c0) - c0, min(math.ceil(bbox[2]) + 1, c0 + w) - c0
    return None if ra >= rb or ca >= cb else (ra, rb, ca, cb)


def _cv_pts(pts: np.ndarray, col0: float, row0: float, scale: float = 1.0) -> np.ndarray:
    """Pixel-corner coordinates -> OpenCV fixed-point (4 fractional bits) centre coordinates."""
    xy = (pts - np.array([col0, row0])) * scale - 0.5
    return np.round(xy * 16.0).astype(np.int32)


def _poly_mask(poly: np.ndarray, r0: int, c0: int, shape: tuple[int, int], aa: bool = True):
    m = np.zeros(shape, np.uint8)
    cv2.fillPoly(m, [_cv_pts(poly, c0, r0)], 255, cv2.LINE_AA if aa else cv2.LINE_8, 4)
    return m


def _ring(geom) -> np.ndarray:
    """Exterior ring coordinates (closed) of a shapely polygon."""
    return np.asarray(shapely.get_coordinates(shapely.get_exterior_ring(geom)))


def _bbox_of(pts: np.ndarray, grow: float = 0.0) -> Box:
    return (
        float(pts[:, 0].min() - grow),
        float(pts[:, 1].min() - grow),
        float(pts[:, 0].max() + grow),
        float(pts[:, 1].max() + grow),
    )


# ---------------------------------------------------------------- plants as ellipses
# A part row is (cx, cy, a, b, angle_deg, r, g, b) in pixels relative to the plant centre;
# a shadow row is (cx, cy, a, b, angle_deg), already offset along the sun's shadow direction.


def _rows(cx, cy, a, b, ang_deg, cols) -> np.ndarray:
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


def _leaf_ring(rng, n, radius, dist, length, aspect, base, light_ang) -> np.ndarray:
    """``n`` leaves pointing away from the centre, lit on the sun's side."""
    ang = rng.uniform(0.0, 2 * np.pi, n)
    d = rng.uniform(*dist, n) * radius
    a = rng.uniform(*length, n) * radius
    b = a * rng.uniform(*aspect, n)
    rot = np.degrees(ang + rng.normal(0.0, 0.25, n))
    bright = rng.uniform(0.86, 1.1, n) * (1.0 + 0.1 * np.cos(ang - light_ang))
    cols = np.asarray(base)[None, :] * bright[:, None] * (1 + rng.normal(0.0, 0.03, (n, 3)))
    return _rows(np.cos(ang) * d, np.sin(ang) * d, a, b, rot, cols)


def _cone_shadow(rng, radius, sv, height) -> np.ndarray:
    """Shadow of a roughly conical bush: discs shrinking with height, sliding along ``sv``."""
    n = int(np.clip(math.hypot(*sv) * height / (0.2 * radius), 8, 40))
    t = np.linspace(0.0, 0.95, n)
    r = radius * np.maximum((1.0 - t) ** 0.5 * 0.85, 0.12)
    r = r * rng.uniform(0.85, 1.1, n)
    return np.column_stack([sv[0] * height * t, sv[1] * height * t, r, r, np.zeros(n)])


def _shift(parts: np.ndarray, dx: float, dy: float) -> np.ndarray:
    out = parts[:, :5].copy()
    out[:, 0] += dx
    out[:, 1] += dy
    return out


def _midribs(leaves: np.ndarray, lighten: float) -> np.ndarray:
    """A pale midrib along each leaf: visible structure at 1-2 cm GSD."""
    ribs = leaves.copy()
    ribs[:, 2] *= 0.8
    ribs[:, 3] = np.maximum(ribs[:, 2] * 0.07, 0.25)
    ribs[:, 5:8] = np.clip(ribs[:, 5:8] * lighten, 0, 255)
    return ribs


def _poppy(rng, sp: _Sprite, ppm: float, la: float, sv) -> tuple[list, list, float]:
    r, h = sp.radius_px, sp.height_px
    glauc = np.array([134.0, 158.0, 128.0]) * rng.uniform(0.9, 1.08) * (1 + rng.normal(0, 0.025, 3))
    if sp.stage == "seedling":  # rosette of broad, wavy, blue-green leaves flat on the soil
        leaves = _leaf_ring(
            rng,
            rng.integers(5, 11),
            r,
            (0.4, 0.56),
            (0.42, 0.52),
            (0.38, 0.55),
            glauc * [0.97, 1.04, 1.03],
            la,
        )
        inner = _leaf_ring(
            rng, rng.integers(2, 5), r, (0.1, 0.3), (0.2, 0.32), (0.45, 0.6), glauc * 1.1, la
        )
        parts = [leaves, _midribs(leaves, 1.12), inner]
        return parts, [_shift(leaves, sv[0] * h * 0.5, sv[1] * h * 0.5)], 0.3
    capsule = sp.stage == "capsule"
    base = glauc
    if capsule:  # foliage yellowing and thinning as the pods ripen
        base = base + (np.array([172.0, 162.0, 106.0]) - base) * rng.uniform(0.2, 0.55)
    lower = _leaf_ring(
        rng,
        rng.integers(5, 8) if capsule else rng.integers(6, 10),
        r,
        (0.45, 0.58),
        (0.4, 0.5),
        (0.4, 0.55),
        base * 0.9,
        la,
    )
    mid = _leaf_ring(
        rng,
        rng.integers(4, 9) if capsule else rng.integers(7, 13),
        r,
        (0.15, 0.45),
        (0.3, 0.42),
        (0.42, 0.58),
        base,
        la,
    )
    upper = _leaf_ring(
        rng, rng.integers(3, 7), r, (0.05, 0.3), (0.16, 0.26), (0.4, 0.55), base * 1.08, la
    )
    if capsule:
        dead = rng.random(len(lower)) < 0.35
        lower[dead, 5:8] = np.array([150.0, 132.0, 92.0]) * rng.uniform(0.9, 1.1)
    parts = [lower, _midribs(lower, 1.1), mid, _midribs(mid, 1.1), upper]
    shadows = [_shift(np.vstack([lower, mid]), sv[0] * h * 0.3, sv[1] * h * 0.3)]
    n_heads = int(rng.integers(2, 8) if capsule else rng.integers(2, 7))
    ha = rng.uniform(0, 2 * np.pi, n_heads)
    hd = np.sqrt(rng.random(n_heads)) * r * 0.6
    for x, y in zip(np.cos(ha) * hd, np.sin(ha) * hd, strict=True):
        if capsule or rng.random() < 0.12:  # ripe pod: pale glaucous body, highlight, crown
            rc = rng.uniform(0.016, 0.028) * ppm
            pod = np.array([184.0, 198.0, 172.0]) * rng.uniform(0.92, 1.05)
            hx, hy = math.cos(la) * rc * 0.3, math.sin(la) * rc * 0.3
            parts.append(_rows(x - hx, y - hy, rc * 1.05, rc, 0.0, pod * 0.62))  # shaded side
            parts.append(_rows(x, y, rc, rc * 0.9, rng.uniform(0, 180), pod))
            parts.append(_rows(x + hx, y + hy, rc * 0.45, rc * 0.45, 0.0, pod * 1.12))
            parts.append(_rows(x, y, rc * 0.35, rc * 0.35, 0.0, [150.0, 150.0, 112.0]))
            head = rc
        elif rng.random() < 0.8:  # open flower: four broad petals round a dark or pale centre
            rf = rng.uniform(0.04, 0.065) * ppm
            tone = sp.tone if sp.tone < len(_PETALS) else int(rng.integers(len(_PETALS)))
            petal, blotch = (np.asarray(c) for c in _PETALS[tone])
            petal = petal * rng.uniform(0.93, 1.04)
            pa = rng.uniform(0, np.pi / 2) + np.arange(4) * np.pi / 2
            lit = 1.0 + 0.08 * np.cos(pa - la)
            parts.append(
                _rows(
                    x + np.cos(pa) * rf * 0.4,
                    y + np.sin(pa) * rf * 0.4,
                    rf * 0.6,
                    rf * 0.55,
                    np.degrees(pa),
                    np.clip(petal[None, :] * lit[:, None], 0, 255),
                )
            )
            parts.append(_rows(x, y, rf * 0.24, rf * 0.24, 0.0, blotch))
            parts.append(_rows(x, y, rf * 0.1, rf * 0.1, 0.0, [190.0, 186.0, 120.0]))
            head = rf * 0.9
        else:  # drooping bud
            head = rng.uniform(0.012, 0.018) * ppm
            parts.append(_rows(x, y, head * 1.5, head, rng.uniform(0, 180), glauc * 1.05))
        shadows.append(np.array([[x + sv[0] * h, y + sv[1] * h, head, head, 0.0]]))
    return parts, shadows, 0.38


def _cannabis(rng, sp: _Sprite, ppm: float, la: float, sv) -> tuple[list, list, float]:
    r, h = sp.radius_px, sp.height_px
    flowering = sp.stage == "flowering"
    base = np.array([72.0, 118.0, 48.0]) * rng.uniform(0.85, 1.1) * (1 + rng.normal(0, 0.03, 3))
    if flowering:
        base = base * 0.93
    lobes = rng.integers(3, 6)
    la_ = rng.uniform(0, 2 * np.pi, lobes)
    parts = [
        _rows(0.0, 0.0, r * 0.6, r * 0.6, 0.0, base * 0.42),
        _rows(np.cos(la_) * r * 0.4, np.sin(la_) * r * 0.4, r * 0.35, r * 0.35, 0.0, base * 0.5),
    ]
    n = int(min(220, 30 + 110 * (r / (0.6 * ppm)) ** 2))
    pos_r = r * 0.75 * rng.random(n) ** 0.6
    pos_a = rng.uniform(0, 2 * np.pi, n)
    length = rng.uniform(0.07, 0.13, n) * ppm * (0.75 + 0.4 * pos_r / r)
    length = np.maximum(np.minimum(length, 1.04 * r - pos_r), 0.2 * length)
    order = np.argsort(-pos_r)  # lower, outer leaves first; upper, inner leaves on top
    pos_r, pos_a, length = pos_r[order], pos_a[order], length[order]
    k = rng.choice(np.array([5, 7, 7, 9]), n)
    leaf = np.repeat(np.arange(n), k)
    frac = np.concatenate([np.linspace(-0.5, 0.5, m) for m in k])
    phi = np.repeat(pos_a + rng.normal(0, 0.35, n), k) + frac * np.repeat(
        rng.uniform(2.2, 3.0, n), k
    )
    ell = length[leaf] * (1.0 - 0.9 * np.abs(frac) ** 1.5)
    bx, by = np.cos(pos_a) * pos_r, np.sin(pos_a) * pos_r
    shade = (0.8 + 0.38 * (1 - pos_r / r)) * rng.uniform(0.9, 1.08, n)
    cols = base[None, :] * shade[leaf, None] * (1 + 0.08 * np.cos(phi - la))[:, None]
    cols *= 1 + rng.normal(0, 0.03, (len(leaf), 3))
    parts.append(
        _rows(
            bx[leaf] + np.cos(phi) * ell * 0.55,
            by[leaf] + np.sin(phi) * ell * 0.55,
            ell * 0.5,
            np.maximum(ell * 0.1, 0.3),
            np.degrees(phi),
            cols,
        )
    )
    if flowering:  # pale, frosty colas at branch tips and a big top cola
        m = int(rng.integers(6, 16))
        ca, cr = rng.uniform(0, 2 * np.pi, m), r * 0.7 * np.sqrt(rng.random(m))
        a = rng.uniform(0.03, 0.065, m) * ppm
        cc = np.array([168.0, 176.0, 112.0])[None, :] * rng.uniform(0.9, 1.1, (m, 1))
        parts.append(
            _rows(
                np.cos(ca) * cr,
                np.sin(ca) * cr,
                a,
                a * rng.uniform(0.5, 0.75, m),
                np.degrees(ca),
                cc,
            )
        )
        parts.append(_rows(0.0, 0.0, 0.08 * ppm, 0.05 * ppm, rng.uniform(0, 180), cc[0] * 1.05))
    shadow = _cone_shadow(rng, r, sv, h)
    blob_a = rng.uniform(0, 2 * np.pi, 6)
    t = rng.uniform(0.1, 0.4, 6) * h
    blobs = np.column_stack(
        [
            np.cos(blob_a) * r * 0.6 + sv[0] * t,
            np.sin(blob_a) * r * 0.6 + sv[1] * t,
            np.full(6, r * 0.35),
            np.full(6, r * 0.3),
            np.zeros(6),
        ]
    )
    return parts, [shadow, blobs], 0.55


def _lookalike(rng, sp: _Sprite, ppm: float, la: float, sv) -> tuple[list, list, float]:
    r, h = sp.radius_px, sp.height_px
    if sp.kind == "ornamental":  # dense glossy bush covered in small flowers
        base = np.array([48.0, 88.0, 40.0]) * rng.uniform(0.85, 1.15)
        n = int(min(60, 14 + 30 * (r / (0.3 * ppm)) ** 2))
        parts = [
            _rows(0.0, 0.0, r * 0.7, r * 0.7, 0.0, base * 0.6),
            _leaf_ring(rng, n, r, (0.0, 0.72), (0.22, 0.34), (0.5, 0.75), base, la),
        ]
        m = int(min(70, 6 + 45 * (r / (0.4 * ppm)) ** 2))
        fa, fr = rng.uniform(0, 2 * np.pi, m), r * 0.85 * np.sqrt(rng.random(m))
        rf = rng.uniform(0.018, 0.04, m) * ppm
        fc = np.asarray(_ORNAMENTAL[sp.tone % len(_ORNAMENTAL)])[None, :] * rng.uniform(
            0.85, 1.05, (m, 1)
        )
        parts.append(_rows(np.cos(fa) * fr, np.sin(fa) * fr, rf, rf, 0.0, np.clip(fc, 0, 255)))
        return parts, [_cone_shadow(rng, r, sv, h)], 0.45
    if sp.kind == "lettuce":
        base = np.array([130.0, 174.0, 66.0]) if sp.tone % 3 else np.array([128.0, 62.0, 74.0])
        base = base * rng.uniform(0.9, 1.08)
        leaves = _leaf_ring(
            rng, rng.integers(8, 13), r, (0.25, 0.5), (0.38, 0.5), (0.6, 0.8), base, la
        )
        parts = [leaves, _rows(0.0, 0.0, r * 0.3, r * 0.3, 0.0, base * 1.12)]
        return parts, [_shift(leaves, sv[0] * h * 0.4, sv[1] * h * 0.4)], 0.3
    if sp.kind == "cabbage":  # glaucous outer leaves round a pale head: a poppy look-alike
        base = np.array([104.0, 142.0, 126.0]) * rng.uniform(0.9, 1.08)
        leaves = _leaf_ring(
            rng, rng.integers(6, 10), r, (0.42, 0.55), (0.42, 0.52), (0.7, 0.9), base, la
        )
        head = np.array([172.0, 196.0, 162.0]) * rng.uniform(0.92, 1.05)
        lit_x, lit_y = math.cos(la) * r * 0.08, math.sin(la) * r * 0.08
        parts = [
            leaves,
            _rows(0.0, 0.0, r * 0.42, r * 0.42, 0.0, head),
            _rows(lit_x, lit_y, r * 0.25, r * 0.25, 0.0, head * 1.08),
        ]
        return parts, [_shift(leaves, sv[0] * h * 0.4, sv[1] * h * 0.4)], 0.35
    # corn poppy (Papaver rhoeas) weed: a few thin leaves and small scarlet flowers
    leaves = _leaf_ring(
        rng,
        rng.integers(3, 7),
        r,
        (0.3, 0.5),
        (0.4, 0.6),
        (0.15, 0.25),
        np.array([70.0, 110.0, 50.0]),
        la,
    )
    m = int(rng.integers(1, 4))
    fa, fr = rng.uniform(0, 2 * np.pi, m), r * rng.uniform(0.0, 1.4, m)
    rf = rng.uniform(0.02, 0.035, m) * ppm
    red = np.array([214.0, 44.0, 30.0]) * rng.uniform(0.9, 1.05)
    fx, fy = np.cos(fa) * fr, np.sin(fa) * fr
    parts = [
        leaves,
        _rows(fx, fy, rf, rf, 0.0, red),
        _rows(fx, fy, rf * 0.25, rf * 0.25, 0.0, [40.0, 30.0, 30.0]),
    ]
    shadow = np.column_stack([fx + sv[0] * h, fy + sv[1] * h, rf, rf, np.zeros(m)])
    return parts, [shadow], 0.35


def _plant_parts(sp: _Sprite, ppm: float, la: float, sv) -> tuple[np.ndarray, np.ndarray, float]:
    """(colour parts, shadow parts, shadow opacity) of a sprite; pure function of its fields."""
    rng = np.random.default_rng(sp.seed)
    make = {"poppy": _poppy, "cannabis": _cannabis}.get(sp.kind, _lookalike)
    parts, shadows, opacity = make(rng, sp, ppm, la, sv)
    return np.concatenate(parts).astype(np.float64), np.concatenate(shadows), opacity


def _parts_box(parts: np.ndarray) -> Box:
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


def _raster_parts(parts: np.ndarray, col: float, row: float, colour: bool):
    """Anti-aliased raster of ellipses around (col, row): (premultiplied rgb or None, alpha,
    global col0, global row0)."""
    bx = _parts_box(parts)
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


# ---------------------------------------------------------------- scene composition

_HOUSE, _ROAD, _PLOT, _TREE, _BED = 1, 2, 4, 8, 16


def _rect(cx: float, cy: float, hl: float, hw: float, ang: float) -> np.ndarray:
    u, v = np.array([math.cos(ang), math.sin(ang)]), np.array([-math.sin(ang), math.cos(ang)])
    c = np.array([cx, cy])
    return np.array(
        [c - u * hl - v * hw, c + u * hl - v * hw, c + u * hl + v * hw, c - u * hl + v * hw]
    )


def _chaikin(pts: np.ndarray, rounds: int = 2) -> np.ndarray:
    for _ in range(rounds):
        q, r = 0.75 * pts[:-1] + 0.25 * pts[1:], 0.25 * pts[:-1] + 0.75 * pts[1:]
        pts = np.vstack([pts[:1], np.column_stack([q, r]).reshape(-1, 2), pts[-1:]])
    return pts


def _offset(pts: np.ndarray, d: float) -> np.ndarray:
    """Polyline shifted sideways by ``d`` pixels (left of travel in image axes)."""
    tang = np.gradient(pts, axis=0)
    tang /= np.maximum(np.linalg.norm(tang, axis=1, keepdims=True), 1e-9)
    return pts + np.column_stack([-tang[:, 1], tang[:, 0]]) * d


class _Composer:
    """Lays out one flight's scene; every draw comes from one seeded generator, in order."""

    def __init__(self, scene: _Scene, rng: np.random.Generator, nodata_border: bool) -> None:
        self.sc, self.rng, self.ppm = scene, rng, scene.ppm
        self.cell = max(0.5 * scene.ppm, 1.0)  # occupancy cell, px
        self.gshape = (
            math.ceil(scene.height_px / self.cell) + 1,
            math.ceil(scene.width_px / self.cell) + 1,
        )
        self.occ = np.zeros(self.gshape, np.uint8)
        self.valid = np.zeros(self.gshape, np.uint8)
        la = math.atan2(scene.light[1], scene.light[0])
        self.sun = (la, scene.shadow_vec)
        j = rng.uniform(0.9, 1.1)
        soils = ((176, 158, 124), (150, 132, 102), (156, 130, 100), (164, 152, 130))
        self.soil = np.array(soils[int(rng.integers(len(soils)))], float) * j
        self.grass = np.array([98.0, 118.0, 68.0]) * rng.uniform(0.9, 1.12)
        self.dry = np.array([150.0, 144.0, 106.0]) * rng.uniform(0.92, 1.08)
        weights = np.full(3, 0.2)
        weights[int(rng.integers(3))] = 0.6
        self.poppy_stages = weights
        self.outline = self._outline(nodata_border)

    # -- small helpers
    def seed(self) -> int:
        return int(self.rng.integers(2**31 - 1))

    def m(self, lo: float, hi: float) -> float:
        """A uniform length in metres, returned in pixels."""
        return float(self.rng.uniform(lo, hi)) * self.ppm

    def col(self, c, amt: float = 0.05) -> RGB:
        v = np.asarray(c, float) * self.rng.uniform(1 - amt, 1 + amt)
        v = v * (1 + self.rng.normal(0, amt / 3, 3))
        return (float(v[0]), float(v[1]), float(v[2]))

    def _cells(self, poly: np.ndarray):
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
        got = self._cells(poly)
        if got is None:
            return not inside
        sl, m = got
        if inside and not (self.valid[sl][m].all() and self._within(poly)):
            return False
        return not (self.occ[sl][m] & bits).any()

    def _within(self, poly: np.ndarray) -> bool:
        return bool(
            poly[:, 0].min() >= 1
            and poly[:, 1].min() >= 1
            and poly[:, 0].max() <= self.sc.width_px - 1
            and poly[:, 1].max() <= self.sc.height_px - 1
        )

    def mark(self, poly: np.ndarray, bit: int) -> None:
        got = self._cells(poly)
        if got is not None:
            sl, m = got
            self.occ[sl][m] |= np.uint8(bit)

    # -- flight outline and source photos
    def _outline(self, nodata_border: bool) -> np.ndarray | None:
        rng, sc = self.rng, self.sc
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
                    tooth = _rect(u, (i + 0.5) / n, 0.04, 0.6 / n, rng.normal(0, 0.08))
                    strips.append(Polygon(tooth))
        shape = unary_union(strips)
        cs, sn = math.cos(theta), math.sin(theta)
        rot = np.array([[cs, -sn], [sn, cs]])
        ring = _ring(shape) @ rot.T
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
            self.valid[:] = 1
            return None
        line = LineString(np.vstack([ring, ring[:1]])).segmentize(max(size) / 80)
        pts = np.asarray(line.coords)[:-1]
        wob = np.interp(
            np.arange(len(pts)), np.linspace(0, len(pts), 12), rng.normal(0, max(size) * 0.004, 12)
        )
        normals = _offset(pts, 1.0) - pts
        pts = pts + normals * wob[:, None] + rng.normal(0, 0.6, pts.shape)
        poly = Polygon(pts).buffer(0)
        if isinstance(poly, MultiPolygon):
            poly = max(poly.geoms, key=lambda g: g.area)
        out = _ring(poly)[:-1]
        out[:, 0] = np.clip(out[:, 0], 0, sc.width_px)
        out[:, 1] = np.clip(out[:, 1], 0, sc.height_px)
        inner = poly.buffer(-self.ppm * 0.6)
        for g in getattr(inner, "geoms", [inner]):
            if not g.is_empty:
                got = self._cells_strict(_ring(g))
                if got is not None:
                    self.valid[got[0]] |= got[1]
        sc.outline = out
        return out

    def _cells_strict(self, poly: np.ndarray):
        """Cells whose centres are inside ``poly``: (slices, uint8 mask), or None."""
        got = self._cells(poly)
        if got is None:
            return None
        (rs, cs), m = got
        inner = np.zeros(m.shape, np.uint8)
        p = np.round((poly / self.cell - [cs.start, rs.start]) * 16 - 8).astype(np.int32)
        cv2.fillPoly(inner, [p], 1, cv2.LINE_8, 4)
        return (rs, cs), inner

    # -- textures
    def tex(self, kind: str, angle: float) -> _Tex:
        """Ground texture of one land-cover kind; crop rows run along ``angle`` (radians)."""
        rng, ppm, col = self.rng, self.ppm, self.col
        s, g, d = self.soil, self.grass, self.dry
        u = rng.uniform
        if kind == "grass":
            bare = col((s + d) / 2) if rng.random() < 0.5 else None
            return _Tex(
                col(g),
                col(d),
                low_px=self.m(4, 10),
                clump_px=0.25 * ppm,
                clump_amp=0.09,
                grain=0.12,
                patch_col=bare,
                patch_px=2 * ppm,
                patch_cut=u(0.4, 0.7),
            )
        if kind == "fallow":
            return _Tex(
                col(s),
                col(s * 0.85),
                low_px=8 * ppm,
                clump_px=0.4 * ppm,
                clump_amp=0.05,
                grain=0.08,
                patch_col=col((g + d) / 2),
                patch_px=1.0 * ppm,
                patch_cut=u(0.0, 0.45),
            )
        if kind == "plowed":
            return _Tex(
                col(s * 0.95),
                col(s * 0.8),
                low_px=10 * ppm,
                clump_px=0.2 * ppm,
                clump_amp=0.07,
                grain=0.1,
                row_px=self.m(0.3, 0.45),
                row_angle=angle,
                row_duty=0.55,
                row_col=col(s * 0.74),
            )
        if kind == "wheat":
            green = rng.random() < 0.75
            a = np.array([92.0, 122.0, 62.0]) if green else np.array([190.0, 172.0, 120.0])
            b = np.array([112.0, 136.0, 72.0]) if green else np.array([172.0, 150.0, 102.0])
            return _Tex(
                col(a),
                col(b),
                low_px=8 * ppm,
                clump_px=0.3 * ppm,
                clump_amp=0.05,
                grain=0.08,
                row_px=0.17 * ppm,
                row_angle=angle,
                row_duty=u(0.55, 0.85),
                row_col=col(s * 0.72 if green else a * 0.78),
            )
        if kind == "maize":
            return _Tex(
                col((70, 112, 52)),
                col((92, 128, 60)),
                low_px=6 * ppm,
                clump_px=0.4 * ppm,
                clump_amp=0.06,
                grain=0.08,
                row_px=0.75 * ppm,
                row_angle=angle,
                row_duty=u(0.45, 0.8),
                row_col=col(s * 0.8),
                along_px=0.22 * ppm,
            )
        if kind == "vegetable":
            crops = ((76, 118, 62), (66, 104, 54), (104, 136, 100), (100, 130, 72))
            c = np.array(crops[int(rng.integers(len(crops)))], float)
            return _Tex(
                col(c),
                col(c * 1.1),
                low_px=4 * ppm,
                clump_px=0.2 * ppm,
                clump_amp=0.05,
                grain=0.09,
                row_px=self.m(0.3, 0.6),
                row_angle=angle,
                row_duty=u(0.3, 0.6),
                row_col=col(s * 0.75),
                along_px=self.m(0.25, 0.4) * (rng.random() < 0.6),
            )
        if kind == "yard":  # packed earth with darker stains
            return _Tex(
                col(s * 1.1),
                col(s * 0.98),
                low_px=4 * ppm,
                clump_px=0.3 * ppm,
                clump_amp=0.04,
                grain=0.05,
                patch_col=col(s * 0.88),
                patch_px=1.5 * ppm,
                patch_cut=0.35,
            )
        if kind == "bed":  # dark, watered garden soil with a few weeds
            return _Tex(
                col(s * 0.72),
                col(s * 0.62),
                low_px=2 * ppm,
                clump_px=0.15 * ppm,
                clump_amp=0.06,
                grain=0.1,
                patch_col=col(g * 0.9),
                patch_px=0.4 * ppm,
                patch_cut=0.45,
            )
        if kind == "tilled":  # weeded soil under a poppy or cannabis field
            return _Tex(
                col(s * 0.88),
                col(s * 0.76),
                low_px=3 * ppm,
                clump_px=0.2 * ppm,
                clump_amp=0.06,
                grain=0.1,
                patch_col=col(g),
                patch_px=0.35 * ppm,
                patch_cut=u(0.35, 0.65),
            )
        if kind in ("road", "path"):
            light = 1.14 if kind == "road" else 1.08
            return _Tex(
                col(s * light),
                col(s * (light - 0.12)),
                low_px=5 * ppm,
                clump_px=0.3 * ppm,
                clump_amp=0.03,
                grain=0.06,
            )
        return _Tex(
            col(d * 0.95), col(g), low_px=3 * ppm, clump_px=0.2 * ppm, clump_amp=0.06, grain=0.1
        )  # bund

    # -- land: parcels, roads, bunds
    def land(self) -> None:
        sc, rng, ppm = self.sc, self.rng, self.ppm
        w, h = sc.width_px, sc.height_px
        margin = 4 * ppm
        main = rng.uniform(0, np.pi)
        stack: list[Polygon] = [box(-margin, -margin, w + margin, h + margin)]
        parcels: list[tuple[Polygon, float]] = []
        while stack:
            p = stack.pop()
            target = math.exp(rng.uniform(math.log(300), math.log(2500))) * ppm**2
            mrr = _ring(p.minimum_rotated_rectangle)
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
            c = np.asarray(p.centroid.coords[0]) + along * rng.uniform(-0.2, 0.2) * np.hypot(
                *long_e
            )
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
        self.village = None
        if rng.random() < 0.85:
            self.village = (
                np.array([rng.uniform(0.1, 0.9) * w, rng.uniform(0.1, 0.9) * h]),
                self.m(25, 70),
            )
        self.roads(self.village[0] if self.village else None)
        field_kinds = ("wheat", "maize", "plowed", "fallow", "grass", "vegetable", "orchard")
        field_p = (0.27, 0.13, 0.15, 0.1, 0.14, 0.14, 0.07)
        yard_kinds, yard_p = (
            ("grass", "fallow", "vegetable", "plowed", "orchard", "wheat"),
            (0.3, 0.2, 0.2, 0.1, 0.08, 0.12),
        )
        self.parcels: list[tuple[Polygon, str, float, bool]] = []
        bund = self.tex("bund", 0.0)
        for p, ang in parcels:
            centre = np.asarray(p.representative_point().coords[0])
            near = (
                self.village is not None
                and np.hypot(*(centre - self.village[0])) < (self.village[1])
            )
            kinds, probs = (yard_kinds, yard_p) if near else (field_kinds, field_p)
            kind = str(rng.choice(kinds, p=probs))
            poly = _ring(p)[:-1]
            sc.covers.append(
                _Cover(
                    poly,
                    self.tex("grass" if kind == "orchard" else kind, ang),
                    self.seed(),
                    _bbox_of(poly),
                )
            )
            self.parcels.append((p, kind, ang, near))
            if not near or rng.random() < 0.4:
                sc.lines.append(
                    _Line(poly, self.m(0.25, 0.5), bund, self.seed(), True, (), _bbox_of(poly, ppm))
                )

    def roads(self, centre: np.ndarray | None) -> None:
        sc, rng, ppm = self.sc, self.rng, self.ppm
        w, h = sc.width_px, sc.height_px
        self.road: np.ndarray | None = None
        n_paths = int(rng.integers(0, 4))
        if centre is not None or rng.random() < 0.6:
            p0 = centre if centre is not None else np.array([rng.uniform(0, w), rng.uniform(0, h)])
            self.road = self._walk(p0, rng.uniform(0, 2 * np.pi), 25 * ppm, 0.18, 10**9, both=True)
            width = self.m(3, 5.5)
            ruts = (_offset(self.road, width * 0.22), _offset(self.road, -width * 0.22))
            self.add_line(self.road, width, self.tex("road", 0.0), ruts)
        for _ in range(n_paths):
            if self.road is not None and rng.random() < 0.7:
                p0 = self.road[int(rng.integers(len(self.road)))]
            else:
                p0 = np.array([rng.uniform(0, w), rng.uniform(0, h)])
            pts = self._walk(
                p0, rng.uniform(0, 2 * np.pi), 12 * ppm, 0.3, int(rng.integers(4, 20)), both=False
            )
            self.add_line(pts, self.m(0.9, 1.8), self.tex("path", 0.0), ())

    def _walk(self, p0, ang, step, wiggle, n_max, both) -> np.ndarray:
        """A gently bending polyline from p0, running until off the raster or n_max steps."""
        w, h, lim = self.sc.width_px, self.sc.height_px, 30 * self.ppm
        sides = []
        for direction in (1, -1) if both else (1,):
            pts, a, p = [], ang if direction == 1 else ang + np.pi, p0.astype(float)
            for _ in range(min(n_max, 400)):
                a += self.rng.normal(0, wiggle)
                p = p + step * np.array([math.cos(a), math.sin(a)])
                pts.append(p)
                if not (-lim < p[0] < w + lim and -lim < p[1] < h + lim):
                    break
            sides.append(pts)
        seq = sides[1][::-1] + [p0.astype(float)] + sides[0] if both else [p0] + sides[0]
        return _chaikin(np.asarray(seq, float), 3)

    def add_line(self, pts, width, tex, ruts) -> None:
        self.sc.lines.append(_Line(pts, width, tex, self.seed(), False, ruts, _bbox_of(pts, width)))
        outline = LineString(pts).buffer(width / 2 + 0.3 * self.ppm)
        for g in getattr(outline, "geoms", [outline]):
            self.mark(_ring(g), _ROAD)

    # -- things standing on the ground
    def solid(self, cx, cy, hl, hw, ang, height, style, colour, bit) -> None:
        if style == "tank":
            t = np.linspace(0, 2 * np.pi, 20, endpoint=False)
            poly = np.column_stack([cx + np.cos(t) * hl, cy + np.sin(t) * hl])
        else:
            poly = _rect(cx, cy, hl, hw, ang)
        sv = self.sc.shadow_vec
        both = np.vstack([poly, poly + np.array(sv) * height])
        self.sc.solids.append(
            _Solid(cx, cy, hl, hw, ang, height, style, colour, self.seed(), poly, _bbox_of(both, 2))
        )
        self.mark(poly, bit)

    def tree(self, x: float, y: float, radius: float, bits: int = 0) -> bool:
        rng = self.rng
        t = np.linspace(0, 2 * np.pi, 8, endpoint=False)
        octo = np.column_stack([x + np.cos(t) * radius, y + np.sin(t) * radius])
        if not self.free(octo, bits | _PLOT | _TREE | _HOUSE | _ROAD, inside=False):
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
            _Tree(
                lobes,
                height,
                self.col(greens[int(rng.integers(4))], 0.08),
                self.seed(),
                _bbox_of(ext, 2),
            )
        )
        self.mark(octo, _TREE)
        return True

    def sprite(self, kind, stage, x, y, r, h, tone) -> tuple[_Sprite, Box]:
        sp = _Sprite(kind, stage, float(x), float(y), float(r), float(h), self.seed(), tone)
        parts, shadows, _ = _plant_parts(sp, self.ppm, *self.sun)
        b, s = _parts_box(parts), _parts_box(shadows)
        full = (
            x + min(b[0], s[0]) - 2,
            y + min(b[1], s[1]) - 2,
            x + max(b[2], s[2]) + 2,
            y + max(b[3], s[3]) + 2,
        )
        return _Sprite(
            kind, stage, sp.col, sp.row, sp.radius_px, sp.height_px, sp.seed, tone, full
        ), (x + b[0], y + b[1], x + b[2], y + b[3])

    def lookalike(self, kind, x, y, r, h, tone, bits=_PLOT | _HOUSE) -> None:
        if self.free(_rect(x, y, r, r, 0.0), bits, inside=False):
            self.sc.sprites.append(self.sprite(kind, "", x, y, r, h, tone)[0])

    # -- labelled plantings
    def stage_for(self, cls: str) -> str:
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
                _rect(
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
            ring = _ring(hull)[:-1]
        sc.plots.append(
            PlotLabel(plot_id, cls, stage, tuple((float(c), float(r)) for c, r in ring), len(boxes))
        )
        grown = Polygon(ring).buffer(0.3 * ppm)
        self.mark(_ring(grown), _PLOT)

    def grid(self, cx, cy, hl, hw, ang, spacing, dropout=0.08) -> np.ndarray:
        """Jittered staggered grid of points inside a rotated rectangle."""
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
        ppm = self.ppm
        if cls == "cannabis":
            sp = max(self.rng.uniform(0.9, 1.5), 1.6 * r_m) * ppm
        else:
            sp = self.rng.uniform(1.5, 2.2) * r_m * ppm + (0.1 * ppm if stage == "seedling" else 0)
        return max(sp, math.sqrt(area_px / 5000.0))  # a field holds at most ~5000 plants

    # -- village
    def village_compounds(self) -> None:
        if self.village is None:
            return
        sc, rng, ppm = self.sc, self.rng, self.ppm
        centre, radius = self.village
        base = rng.uniform(0, np.pi)
        for _ in range(int(min(400, 5 + 3 * np.pi * radius**2 / (250 * ppm**2)))):
            pos = centre + rng.normal(0, radius / 1.6, 2)
            hl, hw = self.m(6, 13), self.m(5, 11)
            if not (-hl < pos[0] < sc.width_px + hl and -hl < pos[1] < sc.height_px + hl):
                continue
            ang = base
            if self.road is not None:
                k = int(np.argmin(np.hypot(*(self.road - pos).T)))
                if np.hypot(*(self.road[k] - pos)) < 40 * ppm:
                    d = self.road[min(k + 1, len(self.road) - 1)] - self.road[max(k - 1, 0)]
                    ang = math.atan2(d[1], d[0])
            ang += rng.normal(0, 0.06)
            if self.free(
                _rect(pos[0], pos[1], hl + 1.5 * ppm, hw + 1.5 * ppm, ang), _HOUSE | _ROAD, False
            ):
                self.compound(float(pos[0]), float(pos[1]), hl, hw, ang)

    def compound(self, cx: float, cy: float, hl: float, hw: float, ang: float) -> None:
        sc, rng, ppm = self.sc, self.rng, self.ppm
        c, s = math.cos(ang), math.sin(ang)

        def at(a: float, b: float) -> tuple[float, float]:
            return cx + a * c - b * s, cy + a * s + b * c

        yard = _rect(cx, cy, hl, hw, ang)
        sc.yards.append(_Cover(yard, self.tex("yard", ang), self.seed(), _bbox_of(yard)))
        t = self.m(0.35, 0.55) if rng.random() < 0.7 else 0.0
        if t:
            wall_h, wall_col = self.m(1.8, 2.6), self.col(self.soil * 1.06)
            corners = [(-hl, -hw), (hl, -hw), (hl, hw), (-hl, hw)]
            gate = int(rng.integers(4))
            for k in range(4):
                (a0, b0), (a1, b1) = corners[k], corners[(k + 1) % 4]
                segs = [(0.0, 1.0)]
                if k == gate:
                    g, gw = rng.uniform(0.25, 0.75), self.m(2, 3.5) / (2 * max(hl, hw))
                    segs = [(0.0, g - gw), (g + gw, 1.0)]
                for f0, f1 in segs:
                    pa, pb = (
                        (a0 + (a1 - a0) * f0, b0 + (b1 - b0) * f0),
                        (a0 + (a1 - a0) * f1, b0 + (b1 - b0) * f1),
                    )
                    length = math.hypot(pb[0] - pa[0], pb[1] - pa[1])
                    mid = at((pa[0] + pb[0]) / 2, (pa[1] + pb[1]) / 2)
                    seg_ang = ang + math.atan2(pb[1] - pa[1], pb[0] - pa[0])
                    self.solid(
                        *mid, length / 2 + t / 2, t / 2, seg_ang, wall_h, "wall", wall_col, _HOUSE
                    )
        style = str(
            rng.choice(
                ["flat", "gable", "hip", "thatch", "concrete"], p=(0.33, 0.32, 0.15, 0.1, 0.1)
            )
        )
        colour: RGB
        if style == "flat":
            colour = self.col(self.soil * np.array([1.12, 1.14, 1.18]))  # lime-washed mud
        elif style == "concrete":
            style, colour = "flat", self.col((176, 176, 170))
        elif style == "gable":
            metals = ((168, 170, 172), (150, 108, 80), (70, 110, 160), (172, 48, 44), (70, 122, 92))
            colour = self.col(metals[int(rng.integers(len(metals)))])
        elif style == "hip":
            colour = self.col((176, 88, 62) if rng.random() < 0.7 else (96, 96, 102))
        else:
            colour = self.col((146, 128, 96))
        depth = min(self.m(4, 6.5), hw)
        length = min(rng.uniform(0.45, 0.9) * 2 * hl, self.m(7, 16))
        a_c = rng.uniform(-(hl - length / 2 - t), hl - length / 2 - t)
        house_h = self.m(2.8, 5)
        self.solid(
            *at(a_c, hw - t - depth / 2), length / 2, depth / 2, ang, house_h, style, colour, _HOUSE
        )
        if rng.random() < 0.5:
            d2 = self.m(3.5, 5.5)
            room = 2 * hw - 2 * t - depth - 0.3 * ppm
            if room > 3 * ppm:
                l2 = rng.uniform(0.4, 0.9) * room
                side = 1 if rng.random() < 0.5 else -1
                self.solid(
                    *at(side * (hl - t - d2 / 2), hw - t - depth - 0.3 * ppm - l2 / 2),
                    l2 / 2,
                    d2 / 2,
                    ang + np.pi / 2,
                    self.m(2.5, 4),
                    style,
                    colour,
                    _HOUSE,
                )
        inner = (hl - t - 0.3 * ppm, hw - t - 0.3 * ppm)

        def spot(radius: float, bits: int) -> tuple[float, float] | None:
            for _ in range(40):
                a = rng.uniform(-inner[0] + radius, inner[0] - radius)
                b = rng.uniform(-inner[1] + radius, inner[1] - radius)
                x, y = at(a, b)
                if self.free(_rect(x, y, radius, radius, ang), bits):
                    return x, y
            return None

        busy = _HOUSE | _PLOT | _BED | _TREE
        if rng.random() < 0.6:
            self.compound_plot(spot, ang, busy)
        for _ in range(int(rng.choice(3, p=(0.4, 0.4, 0.2)))):
            bl, bw = self.m(1, 3), self.m(0.75, 2)
            got = spot(max(bl, bw), busy)
            if got:
                self.bed(got[0], got[1], bl, bw, ang)
        for _ in range(int(rng.integers(0, 4))):
            got = spot(self.m(0.5, 1.5), _HOUSE | _PLOT)
            if got:
                self.tree(got[0], got[1], self.m(1.5, 3.5))
        for _ in range(int(rng.integers(0, 5))):
            self.clutter(spot, ang)

    def compound_plot(self, spot, ang: float, busy: int) -> None:
        rng, ppm = self.rng, self.ppm
        cls = "cannabis" if rng.random() < 0.25 else "poppy"
        stage = self.stage_for(cls)
        r_m = self.plant_dims(cls, stage)[0]
        kind = rng.choice(3, p=(0.45, 0.3, 0.25))
        if kind == 0:
            got = spot(r_m * ppm * 1.5, busy)
            if got:
                self.plot(cls, stage, np.array([got]), None, r_m)
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
                self.plot(cls, stage, np.array(keep), None, r_m)
        else:
            pl, pw = self.m(0.75, 3), self.m(0.6, 2)
            got = spot(max(pl, pw), busy)
            if got:
                poly = _rect(got[0], got[1], pl, pw, ang)
                self.sc.yards.append(
                    _Cover(poly, self.tex("bed", ang), self.seed(), _bbox_of(poly))
                )
                inset = r_m * ppm
                pts = self.grid(
                    got[0],
                    got[1],
                    max(pl - inset, 1),
                    max(pw - inset, 1),
                    ang,
                    self.spacing_for(cls, stage, r_m, 4 * pl * pw),
                )
                self.plot(cls, stage, pts, poly, r_m)

    def bed(self, x: float, y: float, hl: float, hw: float, ang: float) -> None:
        rng = self.rng
        poly = _rect(x, y, hl, hw, ang)
        flowers = rng.random() < 0.45
        crop = str(rng.choice(["lettuce", "cabbage", "rows"]))
        tex = self.tex("vegetable" if crop == "rows" and not flowers else "bed", ang)
        self.sc.yards.append(_Cover(poly, tex, self.seed(), _bbox_of(poly)))
        self.mark(poly, _BED)
        if flowers:
            r = self.m(0.15, 0.4)
            tone = int(rng.integers(len(_ORNAMENTAL)))
            for px, py in self.grid(x, y, max(hl - r, 1), max(hw - r, 1), ang, 1.9 * r, 0.2):
                t = tone if rng.random() < 0.6 else int(rng.integers(len(_ORNAMENTAL)))
                self.lookalike(
                    "ornamental", px, py, r * rng.uniform(0.8, 1.2), self.m(0.4, 1.0), t, _PLOT
                )
        elif crop != "rows":
            r = self.m(0.1, 0.17) if crop == "lettuce" else self.m(0.18, 0.3)
            tone = int(rng.integers(3))
            for px, py in self.grid(x, y, max(hl - r, 1), max(hw - r, 1), ang, 2.1 * r, 0.1):
                self.lookalike(
                    crop, px, py, r * rng.uniform(0.85, 1.15), self.m(0.1, 0.3), tone, _PLOT
                )

    def clutter(self, spot, ang: float) -> None:
        rng, ppm = self.rng, self.ppm
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
        bits = _HOUSE | _PLOT | _BED | _TREE
        if kind == "tarp":
            hl, hw = self.m(0.75, 2), self.m(0.5, 1.5)
            got = spot(max(hl, hw), bits)
            if got:
                self.solid(
                    got[0],
                    got[1],
                    hl,
                    hw,
                    ang + rng.normal(0, 0.4),
                    0.05 * ppm,
                    "object",
                    self.col(pick),
                    _BED,
                )
        elif kind in ("tank", "bucket", "hay"):
            r = {"tank": self.m(0.5, 1.0), "bucket": self.m(0.15, 0.3), "hay": self.m(0.8, 1.6)}
            colours = {
                "tank": ((40, 40, 45), (60, 90, 160), (210, 210, 205)),
                "bucket": bright,
                "hay": ((200, 180, 120),),
            }[kind]
            got = spot(r[kind], bits)
            if got:
                self.solid(
                    got[0],
                    got[1],
                    r[kind],
                    r[kind],
                    0.0,
                    self.m(0.3, 2.0),
                    "tank",
                    self.col(colours[int(rng.integers(len(colours)))]),
                    _BED,
                )
        elif kind in ("car", "moto"):
            hl, hw = (2.15 * ppm, 0.9 * ppm) if kind == "car" else (0.95 * ppm, 0.35 * ppm)
            got = spot(hl, bits)
            if got:
                paint = ((230, 230, 228), (130, 132, 136), (30, 30, 34), (170, 30, 34))
                self.solid(
                    got[0],
                    got[1],
                    hl,
                    hw,
                    ang + rng.normal(0, 0.5),
                    self.m(1.0, 1.5),
                    "car" if kind == "car" else "object",
                    self.col(paint[int(rng.integers(4))]),
                    _BED,
                )
        else:  # washing on a line
            got = spot(self.m(1.5, 3), bits)
            if got:
                n, a = int(rng.integers(3, 9)), ang + rng.normal(0, 0.3)
                for i in range(n):
                    d = (i - n / 2) * 0.7 * ppm
                    self.solid(
                        got[0] + d * math.cos(a),
                        got[1] + d * math.sin(a),
                        self.m(0.2, 0.35),
                        self.m(0.25, 0.5),
                        a,
                        1.5 * ppm,
                        "object",
                        self.col(bright[int(rng.integers(len(bright)))]),
                        _BED,
                    )

    # -- open country
    def inside_parcel(self, p: Polygon, hl: float, hw: float, ang: float, bits: int):
        """A free rectangle of half sizes (hl, hw) at least 0.8 m inside parcel ``p``."""
        inner = p.buffer(-0.8 * self.ppm)
        if inner.is_empty:
            return None
        x0, y0, x1, y1 = inner.bounds
        for _ in range(25):
            x, y = self.rng.uniform(x0, x1), self.rng.uniform(y0, y1)
            poly = _rect(x, y, hl, hw, ang)
            if inner.contains(Polygon(poly)) and self.free(poly, bits):
                return x, y, poly
        return None

    def fields(self) -> None:
        rng, ppm, sc = self.rng, self.ppm, self.sc
        for p, kind, ang, near in self.parcels:
            if kind == "orchard":
                inner = p.buffer(-1.5 * ppm)
                span = math.sqrt(p.minimum_rotated_rectangle.area)
                cx, cy = p.centroid.x, p.centroid.y
                for px, py in self.grid(cx, cy, span, span, ang, self.m(5, 7), 0.1):
                    if inner.contains(Polygon(_rect(px, py, 1, 1, 0))):
                        self.tree(px, py, self.m(1.2, 2.5))
                continue
            crop_ok = kind in ("wheat", "maize", "vegetable", "fallow", "plowed", "grass")
            if crop_ok and not near and rng.random() < 0.16:
                cls = "cannabis" if rng.random() < (0.6 if kind == "maize" else 0.12) else "poppy"
                stage = self.stage_for(cls)
                r_m = self.plant_dims(cls, stage)[0]
                hl, hw = self.m(3, 20), self.m(2.5, 15)
                for _ in range(4):
                    got = self.inside_parcel(p, hl, hw, ang, _ROAD | _HOUSE | _PLOT | _TREE)
                    if got:
                        x, y, poly = got
                        sc.yards.append(
                            _Cover(poly, self.tex("tilled", ang), self.seed(), _bbox_of(poly))
                        )
                        spacing = self.spacing_for(cls, stage, r_m, 4 * hl * hw)
                        inset = r_m * ppm * 1.2
                        pts = self.grid(
                            x,
                            y,
                            max(hl - inset, 1),
                            max(hw - inset, 1),
                            ang,
                            spacing,
                            rng.uniform(0.03, 0.2),
                        )
                        self.plot(cls, stage, pts, poly, r_m)
                        break
                    hl, hw = hl * 0.6, hw * 0.6
            elif kind == "vegetable" and rng.random() < 0.4:  # lettuce / cabbage look-alikes
                crop = "cabbage" if rng.random() < 0.6 else "lettuce"
                r = self.m(0.18, 0.3) if crop == "cabbage" else self.m(0.1, 0.17)
                hl, hw = self.m(2, 10), self.m(1.5, 7)
                got = self.inside_parcel(p, hl, hw, ang, _ROAD | _HOUSE | _PLOT | _TREE)
                if got:
                    x, y, poly = got
                    sc.yards.append(_Cover(poly, self.tex("bed", ang), self.seed(), _bbox_of(poly)))
                    self.mark(poly, _BED)
                    spacing = max(2.2 * r, math.sqrt(4 * hl * hw / 2500))
                    tone = int(rng.integers(3))
                    for px, py in self.grid(x, y, hl - r, hw - r, ang, spacing, 0.05):
                        self.lookalike(
                            crop, px, py, r * rng.uniform(0.85, 1.15), self.m(0.1, 0.3), tone, _PLOT
                        )
            if kind in ("grass", "fallow", "wheat") and rng.random() < 0.35:
                self.weeds(p)
            if not near and rng.random() < 0.15:  # hedgerow along one edge
                ring = _ring(p)
                k = int(rng.integers(len(ring) - 1))
                a, b = ring[k], ring[k + 1]
                n = int(np.hypot(*(b - a)) / self.m(3, 7))
                for f in np.linspace(0, 1, max(n, 1)):
                    q = a + (b - a) * f + rng.normal(0, 0.5 * ppm, 2)
                    self.tree(q[0], q[1], self.m(1.5, 3.5))

    def weeds(self, p: Polygon) -> None:
        """Corn-poppy clusters: small red flowers in grass and field margins (not labelled)."""
        rng = self.rng
        x0, y0, x1, y1 = p.bounds
        for _ in range(int(rng.integers(1, 4))):
            cx, cy = rng.uniform(x0, x1), rng.uniform(y0, y1)
            spread = self.m(0.8, 4)
            for _ in range(int(rng.integers(3, 30))):
                x, y = cx + rng.normal(0, spread), cy + rng.normal(0, spread)
                self.lookalike(
                    "cornpoppy",
                    x,
                    y,
                    self.m(0.04, 0.1),
                    self.m(0.3, 0.6),
                    0,
                    _PLOT | _HOUSE | _ROAD | _BED,
                )

    def roadside_trees(self) -> None:
        if self.road is None:
            return
        rng, ppm = self.rng, self.ppm
        d = np.hypot(*np.diff(self.road, axis=0).T)
        s = np.concatenate([[0], np.cumsum(d)])
        for side in (1, -1):
            at = rng.uniform(0, 10) * ppm
            while at < s[-1]:
                k = int(np.searchsorted(s, at))
                if 0 < k < len(self.road) and rng.random() < 0.6:
                    p = _offset(self.road[k - 1 : k + 1], side * self.m(4, 7))[0]
                    self.tree(p[0], p[1], self.m(1.5, 4))
                at += self.m(5, 14)
        w, h = self.sc.width_px, self.sc.height_px
        for _ in range(int(w * h / (3000 * ppm**2)) + int(rng.integers(0, 2))):
            c = np.array([rng.uniform(0, w), rng.uniform(0, h)])
            for _ in range(int(rng.integers(2, 8))):
                q = c + rng.normal(0, 5 * ppm, 2)
                self.tree(q[0], q[1], self.m(1.5, 4.5))

    def ensure_plots(self) -> None:
        """Top up with single plants and small clusters: at least one plot per ~1000 m^2."""
        sc, rng, ppm = self.sc, self.rng, self.ppm
        want = 1 + int(sc.width_px * sc.height_px / ppm**2 / 1000)
        tries = (
            (_PLOT | _HOUSE | _TREE | _ROAD | _BED, 3.0),
            (_PLOT | _HOUSE | _TREE, 2.0),
            (_PLOT, 1.2),
        )
        for bits, room in tries:
            for _ in range(100 * want):
                if len(sc.plots) >= want:
                    return
                cls = "cannabis" if rng.random() < 0.25 else "poppy"
                stage = self.stage_for(cls)
                r_m = self.plant_dims(cls, stage)[0]
                x, y = rng.uniform(0, sc.width_px), rng.uniform(0, sc.height_px)
                if self.free(_rect(x, y, room * r_m * ppm, room * r_m * ppm, 0.0), bits):
                    n = 1 if rng.random() < 0.6 else int(rng.integers(2, 5))
                    a = rng.uniform(0, 2 * np.pi) + np.arange(n) * 2 * np.pi / n
                    spread = 1.7 * r_m * ppm * (n > 1)
                    pts = np.column_stack([x + np.cos(a) * spread, y + np.sin(a) * spread])
                    self.plot(cls, stage, pts, None, r_m)

    def run(self) -> None:
        self.land()
        self.village_compounds()
        self.fields()
        self.roadside_trees()
        self.ensure_plots()


# ---------------------------------------------------------------- rendering one window


def _grids(r0: int, c0: int, h: int, w: int) -> tuple[np.ndarray, np.ndarray]:
    rows = np.arange(r0, r0 + h, dtype=np.float32)[:, None] + 0.5
    return rows, np.arange(c0, c0 + w, dtype=np.float32)[None, :] + 0.5


def _blend(img: np.ndarray, reg, col: np.ndarray, alpha: np.ndarray) -> None:
    """img[reg] = lerp(img[reg], col, alpha); ``col`` is consumed."""
    ra, rb, ca, cb = reg
    view = img[ra:rb, ca:cb]
    col -= view
    col *= alpha[..., None]
    view += col


def _paint_cover(img, cv: _Cover, r0: int, c0: int, grain: np.ndarray, fine_px: float) -> None:
    reg = _region(cv.bbox, r0, c0, *img.shape[:2])
    if reg is None:
        return
    ra, rb, ca, cb = reg
    m = _poly_mask(cv.poly, r0 + ra, c0 + ca, (rb - ra, cb - ca))
    rr, cc = np.nonzero(m.any(axis=1))[0], np.nonzero(m.any(axis=0))[0]
    if not len(rr):
        return
    m = m[rr[0] : rr[-1] + 1, cc[0] : cc[-1] + 1]
    ra, rb, ca, cb = ra + int(rr[0]), ra + int(rr[-1]) + 1, ca + int(cc[0]), ca + int(cc[-1]) + 1
    tex = _texture(
        cv.tex, cv.seed, r0 + ra, c0 + ca, rb - ra, cb - ca, grain[ra:rb, ca:cb], fine_px
    )
    _blend(img, (ra, rb, ca, cb), tex, m.astype(np.float32) * np.float32(1 / 255))


def _paint_line(img, ln: _Line, r0: int, c0: int, grain: np.ndarray, fine_px: float) -> None:
    reg = _region(ln.bbox, r0, c0, *img.shape[:2])
    if reg is None:
        return
    ra, rb, ca, cb = reg
    shape = (rb - ra, cb - ca)
    m = np.zeros(shape, np.uint8)
    width = max(1, round(ln.width_px))
    cv2.polylines(m, [_cv_pts(ln.pts, c0 + ca, r0 + ra)], ln.closed, 255, width, cv2.LINE_AA, 4)
    if not m.any():
        return
    mf = m.astype(np.float32) * np.float32(1 / 255)
    if ln.width_px > 6:
        mf = np.asarray(cv2.GaussianBlur(mf, (0, 0), ln.width_px * 0.08))
    tex = _texture(ln.tex, ln.seed, r0 + ra, c0 + ca, *shape, grain[ra:rb, ca:cb], fine_px)
    for rut in ln.ruts:
        rm = np.zeros(shape, np.uint8)
        cv2.polylines(
            rm,
            [_cv_pts(rut, c0 + ca, r0 + ra)],
            False,
            255,
            max(1, round(ln.width_px * 0.1)),
            cv2.LINE_AA,
            4,
        )
        tex *= (1.0 - 0.1 * rm.astype(np.float32) / 255)[..., None]
    _blend(img, reg, tex, mf)


def _paint_solid(img, so: _Solid, r0: int, c0: int, grain, light, ppm: float) -> None:
    reg = _region(_bbox_of(so.poly, 1), r0, c0, *img.shape[:2])
    if reg is None:
        return
    ra, rb, ca, cb = reg
    h, w = rb - ra, cb - ca
    m = _poly_mask(so.poly, r0 + ra, c0 + ca, (h, w)).astype(np.float32) / 255
    rows, cols = _grids(r0 + ra, c0 + ca, h, w)
    dx, dy = cols - so.cx, rows - so.cy
    cs, sn = math.cos(so.angle), math.sin(so.angle)
    a, b = dx * cs + dy * sn, dy * cs - dx * sn  # along / across the long axis
    shade = (
        1.0 + 0.12 * _fbm(so.seed, r0 + ra, c0 + ca, h, w, 0.6 * ppm) + 0.03 * grain[ra:rb, ca:cb]
    )
    lz = light[2]
    if so.style in ("gable", "hip", "thatch"):
        tilt = 0.42 if so.style == "gable" else 0.5
        end = (so.hl - np.abs(a)) < (so.hw - np.abs(b)) if so.style != "gable" else False
        sa, sb = np.sign(a), np.sign(b)
        nx = np.where(end, cs * sa, -sn * sb) * math.sin(tilt)
        ny = np.where(end, sn * sa, cs * sb) * math.sin(tilt)
        shade = shade * np.clip(
            (nx * light[0] + ny * light[1] + math.cos(tilt) * lz) / lz, 0.4, 1.45
        )
        if so.style == "gable":
            pitch = 0.076 * ppm
            if pitch >= 2.5:
                shade = shade * (1 + 0.06 * np.sin(2 * np.pi * a / pitch))
            shade = np.where(np.abs(b) < 0.1 * ppm, shade * 1.1, shade)
        elif so.style == "hip":
            eave = np.minimum(so.hl - np.abs(a), so.hw - np.abs(b))
            shade = shade * (1 + 0.07 * np.sin(2 * np.pi * eave / (0.3 * ppm)))
        else:
            shade = shade * (1 + 0.25 * _fbm(so.seed + 5, r0 + ra, c0 + ca, h, w, 0.08 * ppm, 2))
    elif so.style == "tank":
        q2 = np.clip((dx * dx + dy * dy) / so.hl**2, 0, 1)
        n_z = np.sqrt(1 - q2)
        lateral = 0.6 * (dx * light[0] + dy * light[1]) / so.hl
        shade = shade * np.clip((lateral + n_z * lz) / lz, 0.5, 1.3)
    elif so.style == "car":  # windscreens and a lighter roof
        glass = (np.abs(b) < so.hw * 0.8) & (
            ((a > so.hl * 0.12) & (a < so.hl * 0.42)) | ((a < -so.hl * 0.45) & (a > -so.hl * 0.7))
        )
        shade = np.where(glass, shade * 0.3, shade)
        shade = np.where(
            (np.abs(b) < so.hw * 0.75) & (np.abs(a) <= so.hl * 0.12), shade * 1.1, shade
        )
    elif so.style == "flat":
        rim = np.minimum(so.hl - np.abs(a), so.hw - np.abs(b)) < 0.25 * ppm
        shade = np.where(rim, shade * 1.1, shade * 0.96)
    col = np.asarray(so.colour, np.float32) * shade[..., None]
    _blend(img, reg, col, m)


def _paint_tree(img, tr: _Tree, r0: int, c0: int, grain, light, ppm: float) -> None:
    rad = tr.lobes[:, 2].max()
    ext = np.vstack(
        [tr.lobes[:, :2] - tr.lobes[:, 2:] * 1.2, tr.lobes[:, :2] + tr.lobes[:, 2:] * 1.2]
    )
    reg = _region(_bbox_of(ext), r0, c0, *img.shape[:2])
    if reg is None:
        return
    ra, rb, ca, cb = reg
    h, w = rb - ra, cb - ca
    rows, cols = _grids(r0 + ra, c0 + ca, h, w)
    f = np.full((h, w), -2.0, np.float32)
    for x, y, r in tr.lobes:
        np.maximum(f, 1 - np.sqrt((cols - x) ** 2 + (rows - y) ** 2) / r, out=f)
    edge = f + 0.3 * _fbm(tr.seed, r0 + ra, c0 + ca, h, w, 0.6 * ppm, 4)
    mask = np.clip(edge * rad + 0.5, 0, 1)
    if not mask.any():
        return
    clumps = _fbm(tr.seed + 1, r0 + ra, c0 + ca, h, w, 0.3 * ppm)
    leaf = _noise(tr.seed + 2, r0 + ra, c0 + ca, h, w, max(1.0, 0.05 * ppm))
    fc = np.clip(f, 0, 1)
    hgt = np.sqrt(1 - (1 - fc) ** 2) * rad * 0.7 + clumps * rad * 0.12
    gy, gx = np.gradient(hgt)
    norm = np.sqrt(gx * gx + gy * gy + 1)
    shade = np.clip((-gx * light[0] - gy * light[1] + light[2]) / (norm * light[2]), 0.1, 1.5)
    shade = (0.25 + 0.75 * shade) * (1 + 0.2 * leaf + 0.05 * grain[ra:rb, ca:cb])
    shade *= np.where(clumps < -0.35, 0.55, 1.0)
    col = np.asarray(tr.colour, np.float32) * shade[..., None]
    _blend(img, reg, col, mask)


def _tall_shadows(sc: _Scene, idx, r0: int, c0: int, shape) -> np.ndarray:
    """Shadow strength (0-1) of walls, roofs, clutter and trees on the ground."""
    sh = np.zeros(shape, np.uint8)
    sv = np.array(sc.shadow_vec)
    for i in idx.get("trees", []):  # canopies let some light through: 215 of 255
        tr = sc.trees[i]
        for t in (0.45, 0.65, 0.85, 1.0):
            off = sv * tr.height_px * t
            for x, y, r in tr.lobes:
                c = _cv_pts(np.array([[x + off[0] + 0.5, y + off[1] + 0.5]]), c0, r0)[0]
                cv2.circle(sh, (int(c[0]), int(c[1])), int(r * 0.95 * 16), 215, -1, cv2.LINE_AA, 4)
        x, y = tr.lobes[0, :2]
        a = _cv_pts(
            np.array([[x, y], [x + sv[0] * tr.height_px * 0.45, y + sv[1] * tr.height_px * 0.45]]),
            c0,
            r0,
        )
        cv2.line(
            sh,
            tuple(a[0].tolist()),
            tuple(a[1].tolist()),
            215,
            max(1, round(0.25 * sc.ppm)),
            cv2.LINE_AA,
            4,
        )
    for i in idx.get("solids", []):
        so = sc.solids[i]
        pts = np.vstack([so.poly, so.poly + sv * so.height_px]).astype(np.float32)
        hull = cv2.convexHull(pts)[:, 0, :].astype(np.float64)
        cv2.fillPoly(sh, [_cv_pts(hull, c0, r0)], 255, cv2.LINE_AA, 4)
    out = sh.astype(np.float32) / 255
    return cv2.GaussianBlur(out, (0, 0), 0.6 + 0.05 * sc.ppm)


def _darken(img: np.ndarray, strength: np.ndarray) -> None:
    """Multiply in shadows (strength 0-1), bluish because shade is lit by the sky."""
    rows, cols = np.nonzero(strength.any(axis=1))[0], np.nonzero(strength.any(axis=0))[0]
    if not len(rows):
        return
    ys, xs = slice(rows[0], rows[-1] + 1), slice(cols[0], cols[-1] + 1)
    img[ys, xs] *= 1.0 - strength[ys, xs, None] * (1.0 - _SHADOW_LIGHT)


def _paint_sprites(img, sc: _Scene, idx, r0: int, c0: int) -> None:
    """Plant shadows first, then the plants themselves, in scene order."""
    la = math.atan2(sc.light[1], sc.light[0])
    shape = img.shape[:2]
    drawn, sh = [], np.zeros(shape, np.float32)
    for i in idx.get("sprites", []):
        sp = sc.sprites[i]
        parts, shadows, opacity = _plant_parts(sp, sc.ppm, la, sc.shadow_vec)
        _, alpha, sc0, sr0 = _raster_parts(shadows, sp.col, sp.row, colour=False)
        reg = _region(
            (sc0, sr0, sc0 + alpha.shape[1] - 1, sr0 + alpha.shape[0] - 1), r0, c0, *shape
        )
        if reg is not None:
            ra, rb, ca, cb = reg
            src = alpha[r0 + ra - sr0 : r0 + rb - sr0, c0 + ca - sc0 : c0 + cb - sc0]
            np.maximum(sh[ra:rb, ca:cb], src * opacity, out=sh[ra:rb, ca:cb])
        drawn.append((sp, parts))
    _darken(img, sh)
    for sp, parts in drawn:
        rgb, alpha, sc0, sr0 = _raster_parts(parts, sp.col, sp.row, colour=True)
        reg = _region(
            (sc0, sr0, sc0 + alpha.shape[1] - 1, sr0 + alpha.shape[0] - 1), r0, c0, *shape
        )
        if reg is None or rgb is None:
            continue
        ra, rb, ca, cb = reg
        ys, xs = slice(r0 + ra - sr0, r0 + rb - sr0), slice(c0 + ca - sc0, c0 + cb - sc0)
        view = img[ra:rb, ca:cb]
        view *= (1.0 - alpha[ys, xs])[..., None]
        view += rgb[ys, xs]


def _camera(img, sc: _Scene, r0: int, c0: int, pad: int, grain: np.ndarray) -> np.ndarray:
    """Mosaic seams, haze, colour, blur, noise, gamma, JPEG; returns the unpadded uint8 RGB."""
    look, (hh, ww) = sc.look, img.shape[:2]
    h8, w8 = -(-hh // 8), -(-ww // 8)
    ys = (r0 + 8 * np.arange(h8) + 4.0)[:, None]
    xs = (c0 + 8 * np.arange(w8) + 4.0)[None, :]
    gap = np.maximum(np.abs(sc.photo_xy - [c0 + ww / 2, r0 + hh / 2]) - [ww / 2, hh / 2], 0)
    near = np.nonzero(np.hypot(*gap.T) < 2.5 * sc.photo_px)[0]
    jag = _noise(sc.seed + 11, r0 // 8, c0 // 8, h8, w8, max(sc.photo_px / 60, 1.0))
    d2 = np.stack([(xs - sc.photo_xy[k, 0]) ** 2 + (ys - sc.photo_xy[k, 1]) ** 2 for k in near])
    pick = near[np.argmin(d2 + jag[None] * (0.25 * sc.photo_px) ** 2, axis=0)]
    gain = cv2.resize(sc.photo_gain[pick], (w8 * 8, h8 * 8), interpolation=cv2.INTER_NEAREST)
    img *= gain[:hh, :ww]
    if look.haze > 0:
        hz = _noise(sc.seed + 12, r0 // 8, c0 // 8, h8, w8, 40 * sc.ppm / 8)
        hz = cv2.resize(np.clip(look.haze * (1 + 0.8 * hz), 0, 0.6), (w8 * 8, h8 * 8))[:hh, :ww]
        img += (np.asarray(look.air, np.float32) - img) * hz[..., None]
    sat = look.saturation
    mix = np.full((3, 3), (1 - sat) / 3) + np.eye(3) * sat  # saturation about the grey axis
    img = cv2.transform(img, (np.diag(look.gain) @ mix).astype(np.float32))
    img = cv2.GaussianBlur(img, (0, 0), look.blur_px)
    out = img[pad:-pad, pad:-pad]
    out += (grain[pad:-pad, pad:-pad] * np.float32(1.7 * look.noise) + np.float32(0.5))[..., None]
    u8 = np.clip(out, 0, 255).astype(np.uint8)
    lut = np.clip(np.round((np.arange(256) / 255.0) ** look.gamma * 255), 0, 255).astype(np.uint8)
    u8 = cv2.LUT(u8, lut)
    if look.jpeg_quality:
        ok, buf = cv2.imencode(
            ".jpg",
            cv2.cvtColor(u8, cv2.COLOR_RGB2BGR),
            [cv2.IMWRITE_JPEG_QUALITY, look.jpeg_quality],
        )
        if ok:
            decoded = cv2.imdecode(buf, cv2.IMREAD_COLOR)
            if decoded is not None:
                u8 = np.asarray(cv2.cvtColor(decoded, cv2.COLOR_BGR2RGB))
    return u8


def _render_window(sc: _Scene, r0: int, c0: int, h: int, w: int) -> np.ndarray:
    """Render raster rows r0..r0+h, cols c0..c0+w as uint8 RGB (h, w, 3); 0 outside the flight."""
    idx = sc.index.get((r0 // sc.win, c0 // sc.win), {})
    pr, pc, ph, pw = r0 - PAD_PX, c0 - PAD_PX, h + 2 * PAD_PX, w + 2 * PAD_PX
    grain = _lattice(sc.seed + 1, pr, pc, ph, pw)
    fine_px = 0.04 * sc.ppm  # clods, tufts and leaves of ground cover
    img = np.empty((ph, pw, 3), np.float32)
    img[:] = np.asarray(sc.covers[0].tex.col_a if sc.covers else (128, 128, 128), np.float32)
    for i in idx.get("covers", []):
        _paint_cover(img, sc.covers[i], pr, pc, grain, fine_px)
    for i in idx.get("lines", []):
        _paint_line(img, sc.lines[i], pr, pc, grain, fine_px)
    for i in idx.get("yards", []):
        _paint_cover(img, sc.yards[i], pr, pc, grain, fine_px)
    _paint_sprites(img, sc, idx, pr, pc)
    _darken(img, _tall_shadows(sc, idx, pr, pc, (ph, pw)) * np.float32(0.85))
    for i in idx.get("solids", []):
        _paint_solid(img, sc.solids[i], pr, pc, grain, sc.light, sc.ppm)
    for i in idx.get("trees", []):
        _paint_tree(img, sc.trees[i], pr, pc, grain, sc.light, sc.ppm)
    out = _camera(img, sc, pr, pc, PAD_PX, grain)
    if sc.outline is not None:
        valid = np.zeros((h, w), np.uint8)
        cv2.fillPoly(valid, [_cv_pts(sc.outline, c0, r0)], 1, cv2.LINE_8, 4)
        np.maximum(out, 1, out=out)
        out[valid == 0] = 0
    return out


# ---------------------------------------------------------------- scene, raster and labels


def _compose(
    seed: int, width_px: int, height_px: int, gsd_m: float, nodata_border: bool, win: int
) -> _Scene:
    seed = seed % 2**32
    rng = np.random.default_rng([seed, 0x5EED])
    az, el = rng.uniform(0, 2 * np.pi), math.radians(rng.uniform(40, 75))
    light = (math.sin(az) * math.cos(el), -math.cos(az) * math.cos(el), math.sin(el))
    sv = (-math.sin(az) / math.tan(el), math.cos(az) / math.tan(el))
    haze = float(rng.uniform(0.0, 0.14)) if rng.random() < 0.7 else 0.0
    gain = rng.uniform(0.9, 1.1) * (1 + rng.normal(0, 0.02, 3))
    look = _Look(
        haze,
        (200.0, 206.0, 216.0),
        (float(gain[0]), float(gain[1]), float(gain[2])),
        float(rng.uniform(0.8, 1.05)),
        float(rng.uniform(0.88, 1.12)),
        float(rng.uniform(0.35, 0.9)),
        float(rng.uniform(0.8, 2.5)),
        int(rng.integers(80, 96)) if rng.random() < 0.8 else 0,
    )
    sc = _Scene(
        width_px,
        height_px,
        1.0 / gsd_m,
        seed,
        sv,
        light,
        look,
        None,
        np.zeros((0, 2)),
        np.zeros((0, 3), np.float32),
        1.0,
        win,
    )
    _Composer(sc, rng, nodata_border).run()
    layers: dict[str, list] = {
        "covers": sc.covers,
        "lines": sc.lines,
        "yards": sc.yards,
        "sprites": sc.sprites,
        "solids": sc.solids,
        "trees": sc.trees,
    }
    n_r, n_c = -(-height_px // win), -(-width_px // win)
    for name, items in layers.items():
        for i, it in enumerate(items):
            c0, r0, c1, r1 = it.bbox
            for wr in range(
                max(0, math.floor((r0 - PAD_PX) / win)),
                min(n_r - 1, math.floor((r1 + PAD_PX) / win)) + 1,
            ):
                for wc in range(
                    max(0, math.floor((c0 - PAD_PX) / win)),
                    min(n_c - 1, math.floor((c1 + PAD_PX) / win)) + 1,
                ):
                    sc.index.setdefault((wr, wc), {}).setdefault(name, []).append(i)
    return sc


def _default_origin(crs: CRS, seed: int) -> tuple[float, float]:
    """An upper-left corner inside the CRS's area of use, near 20.5 N where that is inside."""
    lon, lat = 105.0, 20.5
    if crs.area_of_use is not None:
        w, s, e, n = crs.area_of_use.bounds
        lon = (w + e) / 2
        lat = 20.5 if s <= 20.5 <= n else (s + n) / 2
    x, y = Transformer.from_crs(4326, crs, always_xy=True).transform(lon, lat)
    jitter = np.random.default_rng([seed % 2**32, 0x0816]).uniform(-2000, 2000, 2)
    return float(round(x + jitter[0])), float(round(y + jitter[1]))


_SCENE: _Scene | None = None  # the scene a worker process renders (inherited by fork)


def _worker_render(r0: int, c0: int, h: int, w: int) -> np.ndarray:
    assert _SCENE is not None
    return _render_window(_SCENE, r0, c0, h, w)


def _worker_init() -> None:
    cv2.setNumThreads(1)


def _write_raster(
    path: Path,
    sc: _Scene,
    transform: Affine,
    crs: CRS,
    block_px: int,
    nodata_border: bool,
    workers: int,
) -> None:
    global _SCENE
    width, height, win = sc.width_px, sc.height_px, sc.win
    windows = [
        (r, c, min(win, height - r), min(win, width - c))
        for r in range(0, height, win)
        for c in range(0, width, win)
    ]
    factors, f = [], 2
    while True:
        factors.append(f)
        if max(width, height) / f <= block_px:
            break
        f *= 2
    profile = dict(
        driver="GTiff",
        width=width,
        height=height,
        count=3,
        dtype="uint8",
        crs=crs,
        transform=transform,
        tiled=True,
        blockxsize=block_px,
        blockysize=block_px,
        compress="deflate",
        predictor=2,
        interleave="pixel",
        photometric="RGB",
        BIGTIFF="IF_SAFER",
        nodata=0 if nodata_border else None,
    )
    pool = None
    # Forked workers inherit the scene for free; fork is only safe from a single-threaded process.
    can_fork = "fork" in multiprocessing.get_all_start_methods() and threading.active_count() == 1
    if workers > 1 and len(windows) > 2 and can_fork:
        _SCENE = sc
        pool = ProcessPoolExecutor(
            workers, multiprocessing.get_context("fork"), initializer=_worker_init
        )
    t0 = time.perf_counter()
    try:
        pending: deque[Future] = deque()
        with rasterio.Env(
            GDAL_CACHEMAX=256,
            GDAL_NUM_THREADS="ALL_CPUS",
            COMPRESS_OVERVIEW="DEFLATE",
            PREDICTOR_OVERVIEW=2,
            GDAL_TIFF_OVR_BLOCKSIZE=block_px,
        ):
            with rasterio.open(path, "w", **profile) as dst:
                for i, (r, c, h, w) in enumerate(windows):
                    if pool is None:
                        arr = _render_window(sc, r, c, h, w)
                    else:
                        while len(pending) < 2 * workers and i + len(pending) < len(windows):
                            pending.append(pool.submit(_worker_render, *windows[i + len(pending)]))
                        arr = pending.popleft().result()
                    dst.write(arr.transpose(2, 0, 1), window=Window(c, r, w, h))
                dst.update_tags(POPPYSCAN_SYNTHETIC=f"seed={sc.seed}", GSD_M=f"{1 / sc.ppm:g}")
            log.debug("rendered %d windows in %.1f s", len(windows), time.perf_counter() - t0)
            t0 = time.perf_counter()
            with rasterio.open(path, "r+") as dst:
                dst.build_overviews(factors, Resampling.average)
                dst.update_tags(ns="rio_overview", resampling="average")
            log.debug("overviews %s in %.1f s", factors, time.perf_counter() - t0)
    finally:
        if pool is not None:
            pool.shutdown()
        _SCENE = None


def _ring_lonlat(ring_px: np.ndarray, transform: Affine, to_wgs: Transformer) -> list:
    xs = transform.c + ring_px[:, 0] * transform.a
    ys = transform.f + ring_px[:, 1] * transform.e
    lon, lat = to_wgs.transform(xs, ys)
    pts = np.round(np.column_stack([lon, lat]), 9)
    area = np.sum(pts[:, 0] * np.roll(pts[:, 1], -1) - np.roll(pts[:, 0], -1) * pts[:, 1])
    if area < 0:  # RFC 7946: exterior rings counterclockwise
        pts = pts[::-1]
    return [*pts.tolist(), pts[0].tolist()]


def _write_labels(
    path: Path, flight: SyntheticFlight, transform: Affine, crs: CRS, raster_name: str
) -> None:
    to_wgs = Transformer.from_crs(crs, 4326, always_xy=True)
    feats = []
    for p in flight.plants:
        ring = np.array(
            [
                [p.col0_px, p.row0_px],
                [p.col1_px, p.row0_px],
                [p.col1_px, p.row1_px],
                [p.col0_px, p.row1_px],
            ]
        )
        feats.append(
            {
                "type": "Feature",
                "geometry": {
                    "type": "Polygon",
                    "coordinates": [_ring_lonlat(ring, transform, to_wgs)],
                },
                "properties": {
                    "kind": "plant",
                    "class": p.cls,
                    "stage": p.stage,
                    "plot_id": p.plot_id,
                    "bbox_px": [round(v, 3) for v in (p.col0_px, p.row0_px, p.col1_px, p.row1_px)],
                },
            }
        )
    for q in flight.plots:
        ring = np.asarray(q.polygon_px, float)
        feats.append(
            {
                "type": "Feature",
                "geometry": {
                    "type": "Polygon",
                    "coordinates": [_ring_lonlat(ring, transform, to_wgs)],
                },
                "properties": {
                    "kind": "plot",
                    "class": q.cls,
                    "stage": q.stage,
                    "plot_id": q.plot_id,
                    "plant_count": q.plant_count,
                },
            }
        )
    doc = {
        "type": "FeatureCollection",
        "features": feats,
        "poppyscan": {
            "synthetic": True,
            "raster": raster_name,
            "gsd_m": flight.gsd_m,
            "crs": flight.crs,
        },
    }
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(doc, separators=(",", ":")))
    os.replace(tmp, path)


def generate_flight(
    out_dir: Path,
    *,
    seed: int,
    width_px: int = 4096,
    height_px: int = 4096,
    gsd_m: float = 0.02,
    crs: str = "EPSG:32648",
    origin_xy: tuple[float, float] | None = None,
    name: str = "flight",
    nodata_border: bool = True,
    block_px: int = 512,
) -> SyntheticFlight:
    """Compose, render and write one synthetic flight with its labels.

    Args:
        out_dir: Folder for ``<name>.tif`` and ``<name>.labels.geojson`` (created if missing).
        seed: Same seed and arguments give identical pixels and labels.
        width_px: Raster width, pixels.
        height_px: Raster height, pixels.
        gsd_m: Ground sample distance, metres per pixel (square pixels, north up).
        crs: A projected CRS in metres, e.g. ``"EPSG:32648"`` (UTM 48N).
        origin_xy: Upper-left corner (x, y) in ``crs`` units; default: inside the CRS's area
            of use, jittered by seed.
        name: File stem.
        nodata_border: Give the flight an irregular outline; outside it pixels are 0 and the
            file's nodata is 0 (valid pixels are never 0,0,0).
        block_px: Internal tile edge, pixels (a multiple of 16).

    Returns:
        The written paths and the labels (plant boxes and plot rings in raster pixels).

    Raises:
        ValueError: on sizes, block size or a CRS that is not projected in metres.
    """
    if width_px < 64 or height_px < 64:
        raise ValueError("width_px and height_px must be at least 64")
    if block_px < 16 or block_px % 16:
        raise ValueError("block_px must be a positive multiple of 16")
    if not 0.002 <= gsd_m <= 0.5:
        raise ValueError("gsd_m must be between 0.002 and 0.5 metres per pixel")
    crs_obj = CRS.from_user_input(crs)
    unit = crs_obj.axis_info[0].unit_name if crs_obj.axis_info else ""
    if not crs_obj.is_projected or unit not in ("metre", "meter"):
        raise ValueError(f"crs must be a projected CRS in metres, got {crs!r}")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    win = block_px * max(1, WINDOW_PX // block_px)
    t0 = time.perf_counter()
    sc = _compose(seed, width_px, height_px, gsd_m, nodata_border, win)
    log.debug(
        "composed %d plants, %d sprites in %.1f s",
        len(sc.plants),
        len(sc.sprites),
        time.perf_counter() - t0,
    )
    x0, y0 = origin_xy if origin_xy is not None else _default_origin(crs_obj, seed)
    transform = Affine(gsd_m, 0.0, x0, 0.0, -gsd_m, y0)
    raster_path = out_dir / f"{name}.tif"
    labels_path = out_dir / f"{name}.labels.geojson"
    tmp = out_dir / f".{name}.{os.getpid()}.tif.tmp"
    workers = min(os.cpu_count() or 1, 4)
    try:
        _write_raster(tmp, sc, transform, crs_obj, block_px, nodata_border, workers)
        os.replace(tmp, raster_path)
    finally:
        tmp.unlink(missing_ok=True)
    flight = SyntheticFlight(
        raster_path, labels_path, tuple(sc.plants), tuple(sc.plots), gsd_m, crs_obj.to_string()
    )
    _write_labels(labels_path, flight, transform, crs_obj, raster_path.name)
    return flight
