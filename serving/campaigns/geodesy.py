"""Areas and distances on the WGS84 ellipsoid, whatever projection the data came in.

Grids and flights can straddle UTM zones; measuring on the ellipsoid (pyproj's Geod, Karney's
algorithms) gives one consistent answer everywhere, with no projection to choose.
"""

from __future__ import annotations

import numpy as np
from pyproj import Geod
from shapely.geometry.base import BaseGeometry

WGS84 = Geod(ellps="WGS84")


def area_m2(geometry: BaseGeometry) -> float:
    """Area of a lon/lat polygon or multipolygon on the ellipsoid, square metres."""
    if geometry.is_empty:
        return 0.0
    area, _perimeter = WGS84.geometry_area_perimeter(geometry)
    return abs(float(area))


def distance_m(lon0: float, lat0: float, lon1: float, lat1: float) -> float:
    """Geodesic distance between two WGS84 points, metres."""
    _fwd, _back, dist = WGS84.inv(lon0, lat0, lon1, lat1)
    return float(dist)


def distance_matrix_m(lons: np.ndarray, lats: np.ndarray) -> np.ndarray:
    """Pairwise geodesic distances between WGS84 points, metres, shape ``(n, n)``."""
    n = len(lons)
    i, j = np.triu_indices(n, k=1)
    _fwd, _back, dist = WGS84.inv(lons[i], lats[i], lons[j], lats[j])
    out = np.zeros((n, n))
    out[i, j] = dist
    out[j, i] = dist
    return out
