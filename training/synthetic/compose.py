"""Compose one flight's scene from a seed: sun, camera look, then the layout, then the index.

Composition is a pure function of its arguments: one seeded generator makes every draw, in
a fixed order (sun and look here; ground palette and flight outline in
:class:`~training.synthetic.layout.Layout`; then land, village, fields, trees and the
top-up of plots). Changing the order of any draw changes every flight, so keep it. The
result is indexed by render window so that a window touches only the elements it shows.
"""

from __future__ import annotations

import math

import numpy as np

from training.synthetic.fields import fill_fields, plant_trees, top_up_plots
from training.synthetic.land import lay_out_land
from training.synthetic.layout import Layout
from training.synthetic.scene import PAD_PX, Look, Scene
from training.synthetic.village import build_village


def compose_scene(
    seed: int, width_px: int, height_px: int, gsd_m: float, nodata_border: bool, win: int
) -> Scene:
    """Lay out a flight's scene (elements and labels) without rendering any pixel.

    Args:
        seed: Flight seed; taken modulo 2**32.
        width_px: Raster width, pixels.
        height_px: Raster height, pixels.
        gsd_m: Ground sample distance, metres per pixel.
        nodata_border: Give the flight an irregular outline (nodata outside).
        win: Render window edge, pixels (a multiple of the file's block size).

    Returns:
        The scene, indexed by render window.
    """
    seed = seed % 2**32
    rng = np.random.default_rng([seed, 0x5EED])
    az, el = rng.uniform(0, 2 * np.pi), math.radians(rng.uniform(40, 75))
    light = (math.sin(az) * math.cos(el), -math.cos(az) * math.cos(el), math.sin(el))
    sv = (-math.sin(az) / math.tan(el), math.cos(az) / math.tan(el))
    haze = float(rng.uniform(0.0, 0.14)) if rng.random() < 0.7 else 0.0
    gain = rng.uniform(0.9, 1.1) * (1 + rng.normal(0, 0.02, 3))
    look = Look(
        haze,
        (200.0, 206.0, 216.0),
        (float(gain[0]), float(gain[1]), float(gain[2])),
        float(rng.uniform(0.8, 1.05)),
        float(rng.uniform(0.88, 1.12)),
        float(rng.uniform(0.35, 0.9)),
        float(rng.uniform(0.8, 2.5)),
        int(rng.integers(80, 96)) if rng.random() < 0.8 else 0,
    )
    sc = Scene(
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
    lay = Layout(sc, rng, nodata_border)
    land = lay_out_land(lay)
    build_village(lay, land)
    fill_fields(lay, land.parcels)
    plant_trees(lay, land.road)
    top_up_plots(lay)
    _index_by_window(sc)
    return sc


def _index_by_window(sc: Scene) -> None:
    """Fill ``sc.index``: per render window, the elements (with their shadows and a margin
    of ``PAD_PX``) of each layer that reach into it."""
    win = sc.win
    layers: dict[str, list] = {
        "covers": sc.covers,
        "lines": sc.lines,
        "yards": sc.yards,
        "sprites": sc.sprites,
        "solids": sc.solids,
        "trees": sc.trees,
    }
    n_r, n_c = -(-sc.height_px // win), -(-sc.width_px // win)
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
