"""Seamless procedural noise and the ground textures built from it.

Every value is a pure function of a salt and a global pixel position (a hash lattice
interpolated bicubically), so render windows join without seams and can be rendered in any
order, in any process. A ground texture (:class:`~training.synthetic.scene.Texture`) becomes
colours here: two base colours mixed by low-frequency noise, clumps, patches and crop rows.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

from training.synthetic.scene import Texture

_M32 = np.uint64(0xFFFFFFFF)  # 32-bit mask of the hash


def hash_lattice(salt: int, i0: int, j0: int, n_i: int, n_j: int) -> np.ndarray:
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


def value_noise(salt: int, r0: int, c0: int, h: int, w: int, scale_px: float) -> np.ndarray:
    """Bicubic value noise with features ``scale_px`` apart, for global pixels r0.., c0..

    The value at a pixel depends only on its global position, so windows join seamlessly.
    """
    s = max(1, round(scale_px))
    if s == 1:
        return hash_lattice(salt, r0, c0, h, w)
    i0, j0 = r0 // s - 2, c0 // s - 2
    n_i, n_j = (r0 + h) // s + 4 - i0, (c0 + w) // s + 4 - j0
    lat = hash_lattice(salt, i0, j0, n_i, n_j)
    if s < 96:  # upsample the whole lattice patch, then crop
        big = cv2.resize(lat, (n_j * s, n_i * s), interpolation=cv2.INTER_CUBIC)
        oy, ox = r0 - i0 * s, c0 - j0 * s
        return big[oy : oy + h, ox : ox + w]
    # coarse noise: separable interpolation as two small matrix products
    return _cubic_weights(r0, h, s, i0, n_i) @ lat @ _cubic_weights(c0, w, s, j0, n_j).T


def fbm(
    salt: int, r0: int, c0: int, h: int, w: int, scale_px: float, octaves: int = 3
) -> np.ndarray:
    """Fractal sum of value noise, roughly zero-mean with standard deviation ~0.3."""
    out = value_noise(salt, r0, c0, h, w, scale_px)
    amp, total = 0.5, 1.0
    for k in range(1, octaves):
        if scale_px / 2**k < 1.0:
            break
        out = out + amp * value_noise(salt + 7919 * k, r0, c0, h, w, scale_px / 2**k)
        total += amp
        amp *= 0.5
    return out / total


def texture_colour(
    tex: Texture,
    seed: int,
    r0: int,
    c0: int,
    h: int,
    w: int,
    grain: np.ndarray,
    fine_px: float = 2.0,
) -> np.ndarray:
    """Colour (h, w, 3) float32 of ``tex`` over global pixels r0.., c0..; grain is (h, w)
    per-pixel noise, ``fine_px`` the size of clods and grass tufts in pixels."""
    # few full-size temporaries: every (h, w, 3) allocation costs as much as the arithmetic
    t = np.clip(0.5 + 1.6 * fbm(seed, r0, c0, h, w, tex.low_px, 2), 0.0, 1.0)
    a, b = np.asarray(tex.col_a, np.float32), np.asarray(tex.col_b, np.float32)
    col = np.multiply.outer(t, b - a)
    col += a
    fine = value_noise(seed + 4, r0, c0, h, w, max(1.0, fine_px))
    shade = 1.0 + tex.grain * (1.2 * fine + 0.8 * grain)
    if tex.clump_amp:
        shade = shade + tex.clump_amp * 2.5 * fbm(seed + 1, r0, c0, h, w, tex.clump_px, 3)
    if tex.patch_col is not None:
        p = fbm(seed + 2, r0, c0, h, w, tex.patch_px, 4)
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
        wobble = value_noise(seed + 3, r0, c0, h, w, max(4 * tex.row_px, 8.0))
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
