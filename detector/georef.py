"""Pixel -> map -> WGS84, and a metric frame for distances and areas.

Box edges are pixel *corners*, so they go through the affine transform as they are (no
half-pixel shift; rasterio's ``offset="center"`` would be wrong here). Coordinates leave in
two systems: the raster's own CRS (kept for GeoPackage and GIS work) and WGS84 lon/lat
(``always_xy``: longitude first). Distances and areas are measured in an azimuthal
equidistant frame centred on the flight, which is true to centimetres over a survey area in
any input CRS — including Web Mercator, whose "metres" are not metres on the ground.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

import numpy as np
from affine import Affine
from pyproj import CRS, Transformer

from detector.raster import RasterInfo

WGS84 = CRS.from_epsg(4326)


@functools.lru_cache(maxsize=32)
def transformer(source_wkt: str, target_wkt: str) -> Transformer:
    """A cached ``always_xy`` transformer (building one can take ~0.7 s, e.g. EPSG:4490)."""
    return Transformer.from_crs(CRS.from_wkt(source_wkt), CRS.from_wkt(target_wkt), always_xy=True)


class Georeferencer:
    """Coordinate conversions for one raster.

    Args:
        info: The raster's description (CRS and pixel-corner affine transform).
    """

    def __init__(self, info: RasterInfo) -> None:
        self.crs = CRS.from_wkt(info.crs_wkt)
        self.affine: Affine = info.affine
        self.inverse: Affine = ~self.affine
        wkt, wgs84 = info.crs_wkt, WGS84.to_wkt()
        self._to_wgs84 = transformer(wkt, wgs84)
        self._from_wgs84 = transformer(wgs84, wkt)
        centre_x, centre_y = self.affine @ (info.width_px / 2, info.height_px / 2)
        lon0, lat0 = self._to_wgs84.transform(centre_x, centre_y)
        self.metric_crs = CRS.from_proj4(
            f"+proj=aeqd +lat_0={lat0:.9f} +lon_0={lon0:.9f} +datum=WGS84 +units=m +no_defs"
        )
        metric = self.metric_crs.to_wkt()
        self._map_to_metric = transformer(wkt, metric)
        self._metric_to_map = transformer(metric, wkt)
        self._metric_to_wgs84 = transformer(metric, wgs84)

    def pixel_to_map(
        self, cols: Sequence[float] | np.ndarray, rows: Sequence[float] | np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """Map pixel-corner coordinates to the raster's CRS ``(x, y)``."""
        a, b, c, d, e, f = self.affine[:6]
        cols_a, rows_a = np.asarray(cols, float), np.asarray(rows, float)
        return a * cols_a + b * rows_a + c, d * cols_a + e * rows_a + f

    def map_to_pixel(
        self, xs: Sequence[float] | np.ndarray, ys: Sequence[float] | np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """Map raster-CRS coordinates to pixel-corner coordinates ``(col, row)``."""
        a, b, c, d, e, f = self.inverse[:6]
        xs_a, ys_a = np.asarray(xs, float), np.asarray(ys, float)
        return a * xs_a + b * ys_a + c, d * xs_a + e * ys_a + f

    def map_to_lonlat(self, xs: np.ndarray, ys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Reproject raster-CRS coordinates to WGS84 ``(lon, lat)``, degrees."""
        lon, lat = self._to_wgs84.transform(xs, ys)
        return np.asarray(lon), np.asarray(lat)

    def lonlat_to_map(self, lons: np.ndarray, lats: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Reproject WGS84 ``(lon, lat)`` to the raster's CRS."""
        x, y = self._from_wgs84.transform(lons, lats)
        return np.asarray(x), np.asarray(y)

    def pixel_to_lonlat(self, cols: np.ndarray, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Pixel-corner coordinates straight to WGS84 ``(lon, lat)``."""
        return self.map_to_lonlat(*self.pixel_to_map(cols, rows))

    def map_to_metric(self, xs: np.ndarray, ys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Raster CRS -> local metric frame (metres east/north of the flight centre)."""
        x, y = self._map_to_metric.transform(xs, ys)
        return np.asarray(x), np.asarray(y)

    def metric_to_map(self, xs: np.ndarray, ys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Local metric frame -> raster CRS."""
        x, y = self._metric_to_map.transform(xs, ys)
        return np.asarray(x), np.asarray(y)

    def metric_to_lonlat(self, xs: np.ndarray, ys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Local metric frame -> WGS84 ``(lon, lat)``."""
        lon, lat = self._metric_to_wgs84.transform(xs, ys)
        return np.asarray(lon), np.asarray(lat)
