"""Ground truth of a held-out flight: labelled plants and plots from a vector label file.

A label file (GeoJSON, GeoPackage or shapefile, any CRS) holds features with a ``class``
property and optionally ``kind`` (``"plant"`` or ``"plot"``; features without one are
plants, as in :func:`training.dataset.read_vector_labels`) and ``stage`` (growth stage, e.g.
``"seedling"``; :mod:`training.synthetic` writes all three). Plants become boxes in raster
pixel-corner coordinates, plots become outlines in the raster's CRS.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import shapely
from pyproj import CRS

from detector.errors import PoppyscanError
from detector.georef import Georeferencer, transformer
from detector.raster import RasterInfo
from training.dataset import DEFAULT_POINT_SIZE_M

# Growth stage recorded for labels that carry none.
UNKNOWN_STAGE = "unknown"


class EvaluationError(PoppyscanError):
    """Labels or flights cannot be evaluated (unreadable, no class attribute, mismatched)."""


@dataclass(frozen=True)
class TruthPlot:
    """A labelled plot: class, growth stage and outline ``(x, y)`` in the raster's CRS."""

    cls: str
    stage: str
    ring_map: tuple[tuple[float, float], ...]


@dataclass(frozen=True)
class TruthPlant:
    """A labelled plant: class, growth stage and box ``(col0, row0, col1, row1)``, raster px."""

    cls: str
    stage: str
    box_px: tuple[float, float, float, float]


@dataclass(frozen=True)
class Truth:
    """Everything labelled on one flight."""

    plants: tuple[TruthPlant, ...]
    plots: tuple[TruthPlot, ...]


def _column(fields: list[np.ndarray], names: list[str], name: str, size: int) -> list[object]:
    return list(fields[names.index(name)]) if name in names else [None] * size


def _plot_ring(geom: shapely.Geometry) -> tuple[tuple[float, float], ...]:
    """Outline of a plot geometry: a polygon's exterior, else the convex hull's (or points)."""
    hull = geom if isinstance(geom, shapely.Polygon) else shapely.convex_hull(geom)
    ring = hull.exterior if isinstance(hull, shapely.Polygon) else hull
    return tuple((float(x), float(y)) for x, y in shapely.get_coordinates(ring))


def read_truth(
    labels_path: Path, info: RasterInfo, point_size_m: float = DEFAULT_POINT_SIZE_M
) -> Truth:
    """Read the plants and plots labelled on the raster described by ``info``.

    Args:
        labels_path: Vector label file; features need a ``class`` property.
        info: The raster the labels belong to (its CRS and transform).
        point_size_m: Edge of the square box given to a plant labelled as a point, metres.

    Raises:
        EvaluationError: if the file cannot be read or has no ``class`` property.
    """
    from pyogrio.raw import read

    try:
        meta, _, geometries, fields = read(str(labels_path))
    except Exception as exc:  # pyogrio raises DataSourceError and friends
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise EvaluationError(f"cannot read labels {labels_path}: {reason}") from exc
    names = [str(n) for n in meta["fields"]]
    if "class" not in names:
        raise EvaluationError(f"{labels_path} has no 'class' attribute on its features")
    size = len(geometries)
    classes = _column(fields, names, "class", size)
    kinds = _column(fields, names, "kind", size)
    stages = _column(fields, names, "stage", size)
    source = CRS.from_user_input(meta["crs"]) if meta.get("crs") else CRS.from_epsg(4326)
    to_raster = transformer(source.to_wkt(), info.crs_wkt)
    geo = Georeferencer(info)
    half_px = point_size_m / info.gsd_m / 2
    plants: list[TruthPlant] = []
    plots: list[TruthPlot] = []
    for wkb, cls, kind, stage in zip(geometries, classes, kinds, stages, strict=True):
        if wkb is None or kind not in (None, "plant", "plot"):
            continue
        geom = shapely.transform(
            shapely.from_wkb(wkb),
            lambda xy: np.column_stack(to_raster.transform(xy[:, 0], xy[:, 1])),
        )
        stage_name = str(stage) if stage not in (None, "") else UNKNOWN_STAGE
        if kind == "plot":
            plots.append(TruthPlot(str(cls), stage_name, _plot_ring(geom)))
            continue
        xs, ys = shapely.get_coordinates(geom).T
        cols, rows = geo.map_to_pixel(xs, ys)
        if isinstance(geom, shapely.Point):
            c, r = float(cols[0]), float(rows[0])
            box = (c - half_px, r - half_px, c + half_px, r + half_px)
        else:
            box = (float(cols.min()), float(rows.min()), float(cols.max()), float(rows.max()))
        plants.append(TruthPlant(str(cls), stage_name, box))
    return Truth(tuple(plants), tuple(plots))
