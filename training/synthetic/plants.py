"""What each plant looks like from above, as a table of ellipses (see ``ellipses``).

Labelled plants: opium poppy (glaucous leaf rosettes as seedlings; 4-petal flowers of one
variety or mixed, and buds, when flowering; pale pods over yellowing foliage at capsule
stage) and cannabis (a dense bush of palmate fan leaves with a dark interior, pale colas when
flowering, a long cone shadow). Unlabelled look-alikes: ornamental flower bushes, lettuce,
glaucous cabbage and corn-poppy weeds. A shape is a pure function of its sprite's fields
(its seed included), so layout and every render window rebuild the same plant.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import ArrayLike

from training.synthetic.ellipses import ellipse_rows
from training.synthetic.scene import RGB, Sprite

Shape = tuple[list[np.ndarray], list[np.ndarray], float]  # colour parts, shadows, opacity

_PETALS: tuple[tuple[RGB, RGB], ...] = (  # (petal, centre blotch) per poppy variety
    ((236.0, 234.0, 226.0), (150.0, 120.0, 150.0)),  # white, purple basal spots
    ((198.0, 34.0, 40.0), (45.0, 30.0, 35.0)),  # red, black blotch
    ((232.0, 146.0, 172.0), (120.0, 60.0, 90.0)),  # pink
    ((150.0, 82.0, 150.0), (60.0, 35.0, 60.0)),  # purple
    ((206.0, 166.0, 212.0), (110.0, 80.0, 120.0)),  # lilac
)
ORNAMENTAL_COLOURS: tuple[RGB, ...] = (  # flowers of ornamental bushes
    (205.0, 32.0, 42.0),
    (232.0, 120.0, 160.0),
    (238.0, 140.0, 30.0),
    (236.0, 204.0, 46.0),
    (240.0, 238.0, 232.0),
    (190.0, 40.0, 120.0),
)


def _leaf_ring(
    rng: np.random.Generator,
    n: int | np.integer,
    radius: float,
    dist: tuple[float, float],
    length: tuple[float, float],
    aspect: tuple[float, float],
    base: ArrayLike,
    light_ang: float,
) -> np.ndarray:
    """``n`` leaves pointing away from the centre, lit on the sun's side.

    ``dist`` (centre distance), ``length`` (semi-major axis) are ranges as fractions of
    ``radius`` (px); ``aspect`` is the range of minor / major; ``light_ang`` the sun's azimuth
    in image axes (radians).
    """
    ang = rng.uniform(0.0, 2 * np.pi, n)
    d = rng.uniform(*dist, n) * radius
    a = rng.uniform(*length, n) * radius
    b = a * rng.uniform(*aspect, n)
    rot = np.degrees(ang + rng.normal(0.0, 0.25, n))
    bright = rng.uniform(0.86, 1.1, n) * (1.0 + 0.1 * np.cos(ang - light_ang))
    cols = np.asarray(base)[None, :] * bright[:, None] * (1 + rng.normal(0.0, 0.03, (n, 3)))
    return ellipse_rows(np.cos(ang) * d, np.sin(ang) * d, a, b, rot, cols)


def _cone_shadow(
    rng: np.random.Generator, radius: float, sv: tuple[float, float], height: float
) -> np.ndarray:
    """Shadow of a roughly conical bush: discs shrinking with height, sliding along ``sv``."""
    n = int(np.clip(math.hypot(*sv) * height / (0.2 * radius), 8, 40))
    t = np.linspace(0.0, 0.95, n)
    r = radius * np.maximum((1.0 - t) ** 0.5 * 0.85, 0.12)
    r = r * rng.uniform(0.85, 1.1, n)
    return np.column_stack([sv[0] * height * t, sv[1] * height * t, r, r, np.zeros(n)])


def _shift(parts: np.ndarray, dx: float, dy: float) -> np.ndarray:
    """Shadow rows of ``parts`` moved by (dx, dy) px."""
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


def _poppy(
    rng: np.random.Generator, sp: Sprite, ppm: float, la: float, sv: tuple[float, float]
) -> Shape:
    """Opium poppy at its stage: seedling rosette, flowering plant or capsule plant."""
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
            parts.append(
                ellipse_rows(x - hx, y - hy, rc * 1.05, rc, 0.0, pod * 0.62)
            )  # shaded side
            parts.append(ellipse_rows(x, y, rc, rc * 0.9, rng.uniform(0, 180), pod))
            parts.append(ellipse_rows(x + hx, y + hy, rc * 0.45, rc * 0.45, 0.0, pod * 1.12))
            parts.append(ellipse_rows(x, y, rc * 0.35, rc * 0.35, 0.0, [150.0, 150.0, 112.0]))
            head = rc
        elif rng.random() < 0.8:  # open flower: four broad petals round a dark or pale centre
            rf = rng.uniform(0.04, 0.065) * ppm
            tone = sp.tone if sp.tone < len(_PETALS) else int(rng.integers(len(_PETALS)))
            petal, blotch = (np.asarray(c) for c in _PETALS[tone])
            petal = petal * rng.uniform(0.93, 1.04)
            pa = rng.uniform(0, np.pi / 2) + np.arange(4) * np.pi / 2
            lit = 1.0 + 0.08 * np.cos(pa - la)
            parts.append(
                ellipse_rows(
                    x + np.cos(pa) * rf * 0.4,
                    y + np.sin(pa) * rf * 0.4,
                    rf * 0.6,
                    rf * 0.55,
                    np.degrees(pa),
                    np.clip(petal[None, :] * lit[:, None], 0, 255),
                )
            )
            parts.append(ellipse_rows(x, y, rf * 0.24, rf * 0.24, 0.0, blotch))
            parts.append(ellipse_rows(x, y, rf * 0.1, rf * 0.1, 0.0, [190.0, 186.0, 120.0]))
            head = rf * 0.9
        else:  # drooping bud
            head = rng.uniform(0.012, 0.018) * ppm
            parts.append(ellipse_rows(x, y, head * 1.5, head, rng.uniform(0, 180), glauc * 1.05))
        shadows.append(np.array([[x + sv[0] * h, y + sv[1] * h, head, head, 0.0]]))
    return parts, shadows, 0.38


def _cannabis(
    rng: np.random.Generator, sp: Sprite, ppm: float, la: float, sv: tuple[float, float]
) -> Shape:
    """Cannabis bush of palmate fan leaves; frosty colas when flowering."""
    r, h = sp.radius_px, sp.height_px
    flowering = sp.stage == "flowering"
    base = np.array([72.0, 118.0, 48.0]) * rng.uniform(0.85, 1.1) * (1 + rng.normal(0, 0.03, 3))
    if flowering:
        base = base * 0.93
    lobes = rng.integers(3, 6)
    la_ = rng.uniform(0, 2 * np.pi, lobes)
    parts = [
        ellipse_rows(0.0, 0.0, r * 0.6, r * 0.6, 0.0, base * 0.42),
        ellipse_rows(
            np.cos(la_) * r * 0.4, np.sin(la_) * r * 0.4, r * 0.35, r * 0.35, 0.0, base * 0.5
        ),
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
        ellipse_rows(
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
            ellipse_rows(
                np.cos(ca) * cr,
                np.sin(ca) * cr,
                a,
                a * rng.uniform(0.5, 0.75, m),
                np.degrees(ca),
                cc,
            )
        )
        parts.append(
            ellipse_rows(0.0, 0.0, 0.08 * ppm, 0.05 * ppm, rng.uniform(0, 180), cc[0] * 1.05)
        )
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


def _lookalike(
    rng: np.random.Generator, sp: Sprite, ppm: float, la: float, sv: tuple[float, float]
) -> Shape:
    """Unlabelled look-alike: ornamental bush, lettuce, cabbage or corn-poppy weed."""
    r, h = sp.radius_px, sp.height_px
    if sp.kind == "ornamental":  # dense glossy bush covered in small flowers
        base = np.array([48.0, 88.0, 40.0]) * rng.uniform(0.85, 1.15)
        n = int(min(60, 14 + 30 * (r / (0.3 * ppm)) ** 2))
        parts = [
            ellipse_rows(0.0, 0.0, r * 0.7, r * 0.7, 0.0, base * 0.6),
            _leaf_ring(rng, n, r, (0.0, 0.72), (0.22, 0.34), (0.5, 0.75), base, la),
        ]
        m = int(min(70, 6 + 45 * (r / (0.4 * ppm)) ** 2))
        fa, fr = rng.uniform(0, 2 * np.pi, m), r * 0.85 * np.sqrt(rng.random(m))
        rf = rng.uniform(0.018, 0.04, m) * ppm
        fc = np.asarray(ORNAMENTAL_COLOURS[sp.tone % len(ORNAMENTAL_COLOURS)])[
            None, :
        ] * rng.uniform(0.85, 1.05, (m, 1))
        parts.append(
            ellipse_rows(np.cos(fa) * fr, np.sin(fa) * fr, rf, rf, 0.0, np.clip(fc, 0, 255))
        )
        return parts, [_cone_shadow(rng, r, sv, h)], 0.45
    if sp.kind == "lettuce":
        base = np.array([130.0, 174.0, 66.0]) if sp.tone % 3 else np.array([128.0, 62.0, 74.0])
        base = base * rng.uniform(0.9, 1.08)
        leaves = _leaf_ring(
            rng, rng.integers(8, 13), r, (0.25, 0.5), (0.38, 0.5), (0.6, 0.8), base, la
        )
        parts = [leaves, ellipse_rows(0.0, 0.0, r * 0.3, r * 0.3, 0.0, base * 1.12)]
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
            ellipse_rows(0.0, 0.0, r * 0.42, r * 0.42, 0.0, head),
            ellipse_rows(lit_x, lit_y, r * 0.25, r * 0.25, 0.0, head * 1.08),
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
        ellipse_rows(fx, fy, rf, rf, 0.0, red),
        ellipse_rows(fx, fy, rf * 0.25, rf * 0.25, 0.0, [40.0, 30.0, 30.0]),
    ]
    shadow = np.column_stack([fx + sv[0] * h, fy + sv[1] * h, rf, rf, np.zeros(m)])
    return parts, [shadow], 0.35


def plant_parts(
    sp: Sprite, ppm: float, la: float, sv: tuple[float, float]
) -> tuple[np.ndarray, np.ndarray, float]:
    """Ellipses of a sprite; a pure function of its fields.

    Args:
        sp: The plant or look-alike.
        ppm: Pixels per metre.
        la: Sun azimuth in image axes, radians.
        sv: Ground shadow offset (col, row) per pixel of height.

    Returns:
        Colour part rows (n, 8), shadow rows (m, 5), shadow opacity (0-1).
    """
    rng = np.random.default_rng(sp.seed)
    make = {"poppy": _poppy, "cannabis": _cannabis}.get(sp.kind, _lookalike)
    parts, shadows, opacity = make(rng, sp, ppm, la, sv)
    return np.concatenate(parts).astype(np.float64), np.concatenate(shadows), opacity
