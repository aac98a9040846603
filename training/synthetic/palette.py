"""What each kind of ground looks like in one flight: land-cover texture parameters.

Colours derive from the flight's palette (soil, grass and dry vegetation drawn once per
flight in :class:`~training.synthetic.layout.Layout`), jittered per parcel; crop rows use
real spacings (wheat 0.17 m, maize 0.75 m, vegetables 0.3-0.6 m, plough furrows). The
texture is painted by :func:`~training.synthetic.noise.texture_colour`.
"""

from __future__ import annotations

import numpy as np

from training.synthetic.layout import Layout
from training.synthetic.scene import Texture


def cover_texture(lay: Layout, kind: str, angle: float) -> Texture:
    """Ground texture of one land-cover kind, drawn from the layout's generator.

    Args:
        lay: The flight's layout (generator, pixels per metre, palette).
        kind: grass | fallow | plowed | wheat | maize | vegetable | yard | bed | tilled |
            road | path; anything else is an earth bund.
        angle: Direction of crop rows, radians in image axes.

    Returns:
        The texture's parameters, sizes in pixels.
    """
    rng, ppm, col = lay.rng, lay.ppm, lay.col
    s, g, d = lay.soil, lay.grass, lay.dry
    u = rng.uniform
    if kind == "grass":
        bare = col((s + d) / 2) if rng.random() < 0.5 else None
        return Texture(
            col(g),
            col(d),
            low_px=lay.m(4, 10),
            clump_px=0.25 * ppm,
            clump_amp=0.09,
            grain=0.12,
            patch_col=bare,
            patch_px=2 * ppm,
            patch_cut=u(0.4, 0.7),
        )
    if kind == "fallow":
        return Texture(
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
        return Texture(
            col(s * 0.95),
            col(s * 0.8),
            low_px=10 * ppm,
            clump_px=0.2 * ppm,
            clump_amp=0.07,
            grain=0.1,
            row_px=lay.m(0.3, 0.45),
            row_angle=angle,
            row_duty=0.55,
            row_col=col(s * 0.74),
        )
    if kind == "wheat":
        green = rng.random() < 0.75
        a = np.array([92.0, 122.0, 62.0]) if green else np.array([190.0, 172.0, 120.0])
        b = np.array([112.0, 136.0, 72.0]) if green else np.array([172.0, 150.0, 102.0])
        return Texture(
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
        return Texture(
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
        return Texture(
            col(c),
            col(c * 1.1),
            low_px=4 * ppm,
            clump_px=0.2 * ppm,
            clump_amp=0.05,
            grain=0.09,
            row_px=lay.m(0.3, 0.6),
            row_angle=angle,
            row_duty=u(0.3, 0.6),
            row_col=col(s * 0.75),
            along_px=lay.m(0.25, 0.4) * (rng.random() < 0.6),
        )
    if kind == "yard":  # packed earth with darker stains
        return Texture(
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
        return Texture(
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
        return Texture(
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
        return Texture(
            col(s * light),
            col(s * (light - 0.12)),
            low_px=5 * ppm,
            clump_px=0.3 * ppm,
            clump_amp=0.03,
            grain=0.06,
        )
    return Texture(
        col(d * 0.95), col(g), low_px=3 * ppm, clump_px=0.2 * ppm, clump_amp=0.06, grain=0.1
    )  # bund
