"""Render one window of a composed scene to uint8 RGB, bit-identical whoever renders it.

Drawing order, bottom to top: land-cover parcels, roads / paths / bunds, yards and beds,
plant shadows and plants (sprites), the shadows of tall things (walls, roofs, clutter,
trees; bluish, since shade is lit by the sky), then solids shaded per roof facet by the sun,
then tree crowns. Last comes the camera: per-photo exposure with jagged seamlines, haze,
white balance and saturation, blur, sensor noise, gamma and JPEG artefacts on the 8 x 8
grid. A window is rendered with a margin of ``PAD_PX`` so blur and shadows join across
windows, and pixels outside the flight outline are 0 (valid pixels never are).
"""

from __future__ import annotations

import math

import cv2
import numpy as np

from training.synthetic.ellipses import raster_parts
from training.synthetic.geometry import bbox_of, cv_points, polygon_mask, window_region
from training.synthetic.noise import fbm, hash_lattice, texture_colour, value_noise
from training.synthetic.plants import plant_parts
from training.synthetic.scene import PAD_PX, Cover, Line, Scene, Solid, Tree

Region = tuple[int, int, int, int]  # window-relative rows ra:rb, cols ca:cb
WindowIndex = dict[str, list[int]]  # per layer, the elements that touch a window

_SHADOW_LIGHT = np.array([0.46, 0.48, 0.52], np.float32)  # light left in full shadow, per band


def _grids(r0: int, c0: int, h: int, w: int) -> tuple[np.ndarray, np.ndarray]:
    """Pixel-centre row (h, 1) and column (1, w) coordinates of a window."""
    rows = np.arange(r0, r0 + h, dtype=np.float32)[:, None] + 0.5
    return rows, np.arange(c0, c0 + w, dtype=np.float32)[None, :] + 0.5


def _blend(img: np.ndarray, reg: Region, col: np.ndarray, alpha: np.ndarray) -> None:
    """img[reg] = lerp(img[reg], col, alpha); ``col`` is consumed."""
    ra, rb, ca, cb = reg
    view = img[ra:rb, ca:cb]
    col -= view
    col *= alpha[..., None]
    view += col


def _paint_cover(
    img: np.ndarray, cv: Cover, r0: int, c0: int, grain: np.ndarray, fine_px: float
) -> None:
    """Paint a textured polygon into ``img``, whose corner is raster pixel (r0, c0)."""
    reg = window_region(cv.bbox, r0, c0, *img.shape[:2])
    if reg is None:
        return
    ra, rb, ca, cb = reg
    m = polygon_mask(cv.poly, r0 + ra, c0 + ca, (rb - ra, cb - ca))
    rr, cc = np.nonzero(m.any(axis=1))[0], np.nonzero(m.any(axis=0))[0]
    if not len(rr):
        return
    m = m[rr[0] : rr[-1] + 1, cc[0] : cc[-1] + 1]
    ra, rb, ca, cb = ra + int(rr[0]), ra + int(rr[-1]) + 1, ca + int(cc[0]), ca + int(cc[-1]) + 1
    tex = texture_colour(
        cv.tex, cv.seed, r0 + ra, c0 + ca, rb - ra, cb - ca, grain[ra:rb, ca:cb], fine_px
    )
    _blend(img, (ra, rb, ca, cb), tex, m.astype(np.float32) * np.float32(1 / 255))


def _paint_line(
    img: np.ndarray, ln: Line, r0: int, c0: int, grain: np.ndarray, fine_px: float
) -> None:
    """Paint a textured polyline (with its ruts) into ``img``."""
    reg = window_region(ln.bbox, r0, c0, *img.shape[:2])
    if reg is None:
        return
    ra, rb, ca, cb = reg
    shape = (rb - ra, cb - ca)
    m = np.zeros(shape, np.uint8)
    width = max(1, round(ln.width_px))
    cv2.polylines(m, [cv_points(ln.pts, c0 + ca, r0 + ra)], ln.closed, 255, width, cv2.LINE_AA, 4)
    if not m.any():
        return
    mf = m.astype(np.float32) * np.float32(1 / 255)
    if ln.width_px > 6:
        mf = np.asarray(cv2.GaussianBlur(mf, (0, 0), ln.width_px * 0.08))
    tex = texture_colour(ln.tex, ln.seed, r0 + ra, c0 + ca, *shape, grain[ra:rb, ca:cb], fine_px)
    for rut in ln.ruts:
        rm = np.zeros(shape, np.uint8)
        cv2.polylines(
            rm,
            [cv_points(rut, c0 + ca, r0 + ra)],
            False,
            255,
            max(1, round(ln.width_px * 0.1)),
            cv2.LINE_AA,
            4,
        )
        tex *= (1.0 - 0.1 * rm.astype(np.float32) / 255)[..., None]
    _blend(img, reg, tex, mf)


def _paint_solid(
    img: np.ndarray,
    so: Solid,
    r0: int,
    c0: int,
    grain: np.ndarray,
    light: tuple[float, float, float],
    ppm: float,
) -> None:
    """Paint a roof, wall, tank, car or object, shaded by its facets' angle to the sun."""
    reg = window_region(bbox_of(so.poly, 1), r0, c0, *img.shape[:2])
    if reg is None:
        return
    ra, rb, ca, cb = reg
    h, w = rb - ra, cb - ca
    m = polygon_mask(so.poly, r0 + ra, c0 + ca, (h, w)).astype(np.float32) / 255
    rows, cols = _grids(r0 + ra, c0 + ca, h, w)
    dx, dy = cols - so.cx, rows - so.cy
    cs, sn = math.cos(so.angle), math.sin(so.angle)
    a, b = dx * cs + dy * sn, dy * cs - dx * sn  # along / across the long axis
    shade = (
        1.0 + 0.12 * fbm(so.seed, r0 + ra, c0 + ca, h, w, 0.6 * ppm) + 0.03 * grain[ra:rb, ca:cb]
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
            shade = shade * (1 + 0.25 * fbm(so.seed + 5, r0 + ra, c0 + ca, h, w, 0.08 * ppm, 2))
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


def _paint_tree(
    img: np.ndarray,
    tr: Tree,
    r0: int,
    c0: int,
    grain: np.ndarray,
    light: tuple[float, float, float],
    ppm: float,
) -> None:
    """Paint a tree crown: lumpy sunlit domes with dark gaps between clumps."""
    rad = tr.lobes[:, 2].max()
    ext = np.vstack(
        [tr.lobes[:, :2] - tr.lobes[:, 2:] * 1.2, tr.lobes[:, :2] + tr.lobes[:, 2:] * 1.2]
    )
    reg = window_region(bbox_of(ext), r0, c0, *img.shape[:2])
    if reg is None:
        return
    ra, rb, ca, cb = reg
    h, w = rb - ra, cb - ca
    rows, cols = _grids(r0 + ra, c0 + ca, h, w)
    f = np.full((h, w), -2.0, np.float32)
    for x, y, r in tr.lobes:
        np.maximum(f, 1 - np.sqrt((cols - x) ** 2 + (rows - y) ** 2) / r, out=f)
    edge = f + 0.3 * fbm(tr.seed, r0 + ra, c0 + ca, h, w, 0.6 * ppm, 4)
    mask = np.clip(edge * rad + 0.5, 0, 1)
    if not mask.any():
        return
    clumps = fbm(tr.seed + 1, r0 + ra, c0 + ca, h, w, 0.3 * ppm)
    leaf = value_noise(tr.seed + 2, r0 + ra, c0 + ca, h, w, max(1.0, 0.05 * ppm))
    fc = np.clip(f, 0, 1)
    hgt = np.sqrt(1 - (1 - fc) ** 2) * rad * 0.7 + clumps * rad * 0.12
    # A crown cut to a one-pixel sliver by the window edge has no gradient across it.
    gy = np.gradient(hgt, axis=0) if h > 1 else np.zeros_like(hgt)
    gx = np.gradient(hgt, axis=1) if w > 1 else np.zeros_like(hgt)
    norm = np.sqrt(gx * gx + gy * gy + 1)
    shade = np.clip((-gx * light[0] - gy * light[1] + light[2]) / (norm * light[2]), 0.1, 1.5)
    shade = (0.25 + 0.75 * shade) * (1 + 0.2 * leaf + 0.05 * grain[ra:rb, ca:cb])
    shade *= np.where(clumps < -0.35, 0.55, 1.0)
    col = np.asarray(tr.colour, np.float32) * shade[..., None]
    _blend(img, reg, col, mask)


def _tall_shadows(
    sc: Scene, idx: WindowIndex, r0: int, c0: int, shape: tuple[int, int]
) -> np.ndarray:
    """Shadow strength (0-1) of walls, roofs, clutter and trees on the ground."""
    sh = np.zeros(shape, np.uint8)
    sv = np.array(sc.shadow_vec)
    for i in idx.get("trees", []):  # canopies let some light through: 215 of 255
        tr = sc.trees[i]
        for t in (0.45, 0.65, 0.85, 1.0):
            off = sv * tr.height_px * t
            for x, y, r in tr.lobes:
                c = cv_points(np.array([[x + off[0] + 0.5, y + off[1] + 0.5]]), c0, r0)[0]
                cv2.circle(sh, (int(c[0]), int(c[1])), int(r * 0.95 * 16), 215, -1, cv2.LINE_AA, 4)
        x, y = tr.lobes[0, :2]
        a = cv_points(
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
        cv2.fillPoly(sh, [cv_points(hull, c0, r0)], 255, cv2.LINE_AA, 4)
    out = sh.astype(np.float32) / 255
    return cv2.GaussianBlur(out, (0, 0), 0.6 + 0.05 * sc.ppm)


def _darken(img: np.ndarray, strength: np.ndarray) -> None:
    """Multiply in shadows (strength 0-1), bluish because shade is lit by the sky."""
    rows, cols = np.nonzero(strength.any(axis=1))[0], np.nonzero(strength.any(axis=0))[0]
    if not len(rows):
        return
    ys, xs = slice(rows[0], rows[-1] + 1), slice(cols[0], cols[-1] + 1)
    img[ys, xs] *= 1.0 - strength[ys, xs, None] * (1.0 - _SHADOW_LIGHT)


def _paint_sprites(img: np.ndarray, sc: Scene, idx: WindowIndex, r0: int, c0: int) -> None:
    """Plant shadows first, then the plants themselves, in scene order."""
    la = math.atan2(sc.light[1], sc.light[0])
    shape = img.shape[:2]
    drawn, sh = [], np.zeros(shape, np.float32)
    for i in idx.get("sprites", []):
        sp = sc.sprites[i]
        parts, shadows, opacity = plant_parts(sp, sc.ppm, la, sc.shadow_vec)
        _, alpha, sc0, sr0 = raster_parts(shadows, sp.col, sp.row, colour=False)
        reg = window_region(
            (sc0, sr0, sc0 + alpha.shape[1] - 1, sr0 + alpha.shape[0] - 1), r0, c0, *shape
        )
        if reg is not None:
            ra, rb, ca, cb = reg
            src = alpha[r0 + ra - sr0 : r0 + rb - sr0, c0 + ca - sc0 : c0 + cb - sc0]
            np.maximum(sh[ra:rb, ca:cb], src * opacity, out=sh[ra:rb, ca:cb])
        drawn.append((sp, parts))
    _darken(img, sh)
    for sp, parts in drawn:
        rgb, alpha, sc0, sr0 = raster_parts(parts, sp.col, sp.row, colour=True)
        reg = window_region(
            (sc0, sr0, sc0 + alpha.shape[1] - 1, sr0 + alpha.shape[0] - 1), r0, c0, *shape
        )
        if reg is None or rgb is None:
            continue
        ra, rb, ca, cb = reg
        ys, xs = slice(r0 + ra - sr0, r0 + rb - sr0), slice(c0 + ca - sc0, c0 + cb - sc0)
        view = img[ra:rb, ca:cb]
        view *= (1.0 - alpha[ys, xs])[..., None]
        view += rgb[ys, xs]


def _camera(
    img: np.ndarray, sc: Scene, r0: int, c0: int, pad: int, grain: np.ndarray
) -> np.ndarray:
    """Mosaic seams, haze, colour, blur, noise, gamma, JPEG; returns the unpadded uint8 RGB."""
    look, (hh, ww) = sc.look, img.shape[:2]
    h8, w8 = -(-hh // 8), -(-ww // 8)
    ys = (r0 + 8 * np.arange(h8) + 4.0)[:, None]
    xs = (c0 + 8 * np.arange(w8) + 4.0)[None, :]
    gap = np.maximum(np.abs(sc.photo_xy - [c0 + ww / 2, r0 + hh / 2]) - [ww / 2, hh / 2], 0)
    near = np.nonzero(np.hypot(*gap.T) < 2.5 * sc.photo_px)[0]
    jag = value_noise(sc.seed + 11, r0 // 8, c0 // 8, h8, w8, max(sc.photo_px / 60, 1.0))
    d2 = np.stack([(xs - sc.photo_xy[k, 0]) ** 2 + (ys - sc.photo_xy[k, 1]) ** 2 for k in near])
    pick = near[np.argmin(d2 + jag[None] * (0.25 * sc.photo_px) ** 2, axis=0)]
    gain = cv2.resize(sc.photo_gain[pick], (w8 * 8, h8 * 8), interpolation=cv2.INTER_NEAREST)
    img *= gain[:hh, :ww]
    if look.haze > 0:
        hz = value_noise(sc.seed + 12, r0 // 8, c0 // 8, h8, w8, 40 * sc.ppm / 8)
        hz = cv2.resize(np.clip(look.haze * (1 + 0.8 * hz), 0, 0.6), (w8 * 8, h8 * 8))[:hh, :ww]
        img += (np.asarray(look.air, np.float32) - img) * hz[..., None]
    sat = look.saturation
    mix = np.full((3, 3), (1 - sat) / 3) + np.eye(3) * sat  # saturation about the grey axis
    img = np.asarray(cv2.transform(img, (np.diag(look.gain) @ mix).astype(np.float32)))
    img = np.asarray(cv2.GaussianBlur(img, (0, 0), look.blur_px))
    out = img[pad:-pad, pad:-pad]
    out += (grain[pad:-pad, pad:-pad] * np.float32(1.7 * look.noise) + np.float32(0.5))[..., None]
    u8 = np.clip(out, 0, 255).astype(np.uint8)
    lut = np.clip(np.round((np.arange(256) / 255.0) ** look.gamma * 255), 0, 255).astype(np.uint8)
    u8 = np.asarray(cv2.LUT(u8, lut))
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


def render_window(sc: Scene, r0: int, c0: int, h: int, w: int) -> np.ndarray:
    """Render raster rows r0..r0+h, cols c0..c0+w as uint8 RGB (h, w, 3); 0 outside the flight."""
    idx = sc.index.get((r0 // sc.win, c0 // sc.win), {})
    pr, pc, ph, pw = r0 - PAD_PX, c0 - PAD_PX, h + 2 * PAD_PX, w + 2 * PAD_PX
    grain = hash_lattice(sc.seed + 1, pr, pc, ph, pw)
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
        cv2.fillPoly(valid, [cv_points(sc.outline, c0, r0)], 1, cv2.LINE_8, 4)
        np.maximum(out, 1, out=out)
        out[valid == 0] = 0
    return out
