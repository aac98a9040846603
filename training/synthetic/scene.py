"""The data one synthetic flight is made of: its labels and the elements of its scene.

The public labels (:class:`PlantLabel`, :class:`PlotLabel`) and the result of
:func:`~training.synthetic.generate_flight` (:class:`SyntheticFlight`) live here beside the
internal scene: parametric ground textures, land-cover polygons, textured lines, solids,
trees, plant sprites, the camera look and the :class:`Scene` that holds them all together
with the index of which elements touch which render window. Every coordinate is in raster
pixels (col, row) with pixel corners on integers; sizes are pixels unless named ``*_m``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

RGB = tuple[float, float, float]
Box = tuple[float, float, float, float]

WINDOW_PX = 1024  # render window edge; rounded to a multiple of the file's block size
PAD_PX = 24  # extra rendered margin so blur and shadows join across windows


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


# ---------------------------------------------------------------- scene elements


@dataclass(frozen=True, slots=True)
class Texture:
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
class Cover:
    """A ground polygon filled with a texture: a field parcel, a yard, a garden bed."""

    poly: np.ndarray  # (N, 2) col, row
    tex: Texture
    seed: int
    bbox: Box


@dataclass(frozen=True, slots=True)
class Line:
    """A textured polyline of some width: a road (with ruts), a path or an earth bund."""

    pts: np.ndarray  # (N, 2) col, row
    width_px: float
    tex: Texture
    seed: int
    closed: bool
    ruts: tuple[np.ndarray, ...]
    bbox: Box


@dataclass(frozen=True, slots=True)
class Solid:
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
class Tree:
    """A tree crown seen from above: overlapping round lobes, one height and colour."""

    lobes: np.ndarray  # (k, 3) col, row, radius px
    height_px: float
    colour: RGB
    seed: int
    bbox: Box


@dataclass(frozen=True, slots=True)
class Sprite:
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
class Look:
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
class Scene:
    """A composed flight: its elements in drawing order per layer, its labels, and per render
    window (row, col index) the indices of the elements of each layer that touch it."""

    width_px: int
    height_px: int
    ppm: float  # pixels per metre
    seed: int
    shadow_vec: tuple[float, float]  # ground shadow offset (col, row) per unit of height
    light: tuple[float, float, float]  # unit vector to the sun (col, row, up)
    look: Look
    outline: np.ndarray | None  # valid flight area (N, 2), or None when all valid
    photo_xy: np.ndarray  # (K, 2) source photo centres
    photo_gain: np.ndarray  # (K, 3) per-photo exposure gain per band
    photo_px: float  # spacing of flight lines, px
    win: int = WINDOW_PX
    covers: list[Cover] = field(default_factory=list)
    lines: list[Line] = field(default_factory=list)
    yards: list[Cover] = field(default_factory=list)
    sprites: list[Sprite] = field(default_factory=list)
    solids: list[Solid] = field(default_factory=list)
    trees: list[Tree] = field(default_factory=list)
    plants: list[PlantLabel] = field(default_factory=list)
    plots: list[PlotLabel] = field(default_factory=list)
    index: dict[tuple[int, int], dict[str, list[int]]] = field(default_factory=dict)
