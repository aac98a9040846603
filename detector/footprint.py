"""The outline of a raster's valid data on the ground: a WGS84 polygon and its area.

Built from the same low-resolution validity mask the scanner uses to skip empty windows
(:func:`detector.raster.coarse_valid_mask`, read from the file's overviews), so it costs one
small read whatever the raster's size. The mask is pooled to a coarse grid (a cell is valid
if any pixel under it is), polygonised, simplified by half a cell and reprojected to WGS84
with densified edges. The outline is therefore slightly generous: it may reach up to one
grid cell beyond the valid pixels, never cut into them by more than half a cell.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import shapely
from pyproj import CRS, Geod, Transformer
from rasterio import features
from shapely.geometry import MultiPolygon, Polygon, box, mapping, shape
from shapely.geometry.polygon import orient

from detector.errors import RasterError
from detector.raster import RasterInfo, coarse_valid_mask

# Longest side of the grid the mask is polygonised on, cells. A 20 000 px flight gets
# cells of about 80 px (2 m at 2.5 cm/px): plenty for "where was flown", and a few hundred
# vertices at most.
FOOTPRINT_SIDE_CELLS = 256
# Edges are split into pieces no longer than this on the ground before reprojecting, so a
# long outline follows the curvature between the raster's CRS and WGS84, metres.
DENSIFY_M = 250.0
# Decimals kept in GeoJSON coordinates (about 1 cm).
GEOJSON_DECIMALS = 7

_GEOD = Geod(ellps="WGS84")


@dataclass(frozen=True)
class Footprint:
    """Where a raster holds data.

    Attributes:
        geometry: Polygon or MultiPolygon in WGS84, ``(lon, lat)`` degrees, exteriors
            counter-clockwise.
        area_ha: Geodesic area of ``geometry`` on the WGS84 ellipsoid, hectares.
    """

    geometry: Polygon | MultiPolygon
    area_ha: float

    @property
    def bounds(self) -> tuple[float, float, float, float]:
        """``(min_lon, min_lat, max_lon, max_lat)``, degrees."""
        min_lon, min_lat, max_lon, max_lat = self.geometry.bounds
        return float(min_lon), float(min_lat), float(max_lon), float(max_lat)

    def geojson(self) -> dict[str, Any]:
        """The outline as a GeoJSON geometry, coordinates rounded to about 1 cm."""
        rounded: dict[str, Any] = _round_coords(mapping(self.geometry))
        return rounded


def raster_footprint(info: RasterInfo, max_side_cells: int = FOOTPRINT_SIDE_CELLS) -> Footprint:
    """Outline the valid data of ``info`` in WGS84.

    Args:
        info: A validated raster (:func:`detector.raster.inspect_raster`).
        max_side_cells: Longest side of the polygonising grid, cells.

    Returns:
        The footprint. A raster with every pixel valid, or one too large to decimate cheaply
        (no overviews), gets its full extent.

    Raises:
        RasterError: the raster has no valid pixel, or its mask cannot be read.
    """
    outline = _pixel_outline(info, max_side_cells)
    outline = shapely.segmentize(outline, max_segment_length=DENSIFY_M / info.gsd_m)
    to_wgs84 = Transformer.from_crs(CRS.from_wkt(info.crs_wkt), CRS.from_epsg(4326), always_xy=True)
    affine = info.affine

    def pixel_to_lonlat(cols_rows: np.ndarray) -> np.ndarray:
        cols, rows = cols_rows[:, 0], cols_rows[:, 1]
        xs = affine.a * cols + affine.b * rows + affine.c
        ys = affine.d * cols + affine.e * rows + affine.f
        lons, lats = to_wgs84.transform(xs, ys)
        return np.column_stack([lons, lats])

    lonlat = shapely.transform(outline, pixel_to_lonlat)
    polygons = [orient(p, sign=1.0) for p in _polygons(lonlat) if not p.is_empty]
    if not polygons:
        raise RasterError(f"{info.path} has no valid pixels (all nodata or transparent)")
    geometry: Polygon | MultiPolygon = polygons[0] if len(polygons) == 1 else MultiPolygon(polygons)
    area_m2, _ = _GEOD.geometry_area_perimeter(geometry)
    return Footprint(geometry=geometry, area_ha=abs(area_m2) / 10_000)


def _pixel_outline(info: RasterInfo, max_side_cells: int) -> Polygon | MultiPolygon:
    """Valid-data outline in raster pixel-corner coordinates ``(col, row)``."""
    extent = box(0, 0, info.width_px, info.height_px)
    coarse = coarse_valid_mask(info)
    if coarse is None:
        return extent
    mask, rows_per_cell, cols_per_cell = coarse
    pooled, factor = _pool_any(mask, max_side_cells)
    cell_h, cell_w = rows_per_cell * factor, cols_per_cell * factor
    cells = [
        shape(geom)
        for geom, _value in features.shapes(pooled.astype(np.uint8), mask=pooled, connectivity=8)
    ]
    merged = shapely.union_all(cells).simplify(0.5, preserve_topology=True)
    scaled = shapely.transform(merged, lambda xy: xy * np.array([cell_w, cell_h]))
    clipped = scaled.intersection(extent)
    polygons = _polygons(clipped)
    return polygons[0] if len(polygons) == 1 else MultiPolygon(polygons)


def _pool_any(mask: np.ndarray, max_side_cells: int) -> tuple[np.ndarray, int]:
    """Shrink a bool mask by an integer factor, a cell being True if any pixel under it is."""
    factor = max(1, math.ceil(max(mask.shape) / max_side_cells))
    if factor == 1:
        return mask, 1
    rows = math.ceil(mask.shape[0] / factor) * factor
    cols = math.ceil(mask.shape[1] / factor) * factor
    padded = np.zeros((rows, cols), dtype=bool)
    padded[: mask.shape[0], : mask.shape[1]] = mask
    pooled = padded.reshape(rows // factor, factor, cols // factor, factor).any(axis=(1, 3))
    return np.asarray(pooled, dtype=bool), factor


def _polygons(geometry: shapely.Geometry) -> list[Polygon]:
    """The polygons of any geometry (lines and points from clipping are dropped)."""
    if isinstance(geometry, Polygon):
        return [geometry] if not geometry.is_empty else []
    parts = getattr(geometry, "geoms", ())
    return [p for part in parts for p in _polygons(part)]


def _round_coords(value: Any) -> Any:
    if isinstance(value, float):
        return round(value, GEOJSON_DECIMALS)
    if isinstance(value, list | tuple):
        return [_round_coords(v) for v in value]
    if isinstance(value, dict):
        return {k: _round_coords(v) for k, v in value.items()}
    return value
