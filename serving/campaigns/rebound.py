"""Rebound: plants found again near a plot that was eradicated ("zero new planting").

When a later flight is scanned, each new plot within ``max_distance_m`` of an eradicated plot
(centroid to centroid, geodesic) and seen after the eradication raises a rebound alert on the
eradicated plot. Candidates are prefiltered by a lon/lat box, so the cost is one box query per
eradicated plot, not all pairs.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import shapely

from serving.campaigns.geodesy import WGS84

DEFAULT_REBOUND_DISTANCE_M = 30.0
_M_PER_DEG_LAT = 110_574.0  # smallest length of a degree of latitude, metres


@dataclass(frozen=True)
class Site:
    """A plot reduced to what rebound matching needs: id and WGS84 centroid (degrees)."""

    plot_id: int
    lon: float
    lat: float


@dataclass(frozen=True)
class Rebound:
    """A new plot close to an eradicated one.

    Attributes:
        eradicated_plot_id: The plot that was eradicated.
        new_plot_id: The later plot found near it.
        distance_m: Centroid-to-centroid geodesic distance, metres.
    """

    eradicated_plot_id: int
    new_plot_id: int
    distance_m: float


def find_rebounds(
    eradicated: Sequence[Site],
    new: Sequence[Site],
    max_distance_m: float = DEFAULT_REBOUND_DISTANCE_M,
) -> list[Rebound]:
    """Every (eradicated, new) pair closer than ``max_distance_m``, nearest first per site."""
    if not eradicated or not new:
        return []
    tree = shapely.STRtree(shapely.points([(s.lon, s.lat) for s in new]))
    found: list[Rebound] = []
    for site in eradicated:
        dlat = max_distance_m / _M_PER_DEG_LAT
        dlon = dlat / max(math.cos(math.radians(site.lat)), 1e-6)
        box = shapely.box(site.lon - dlon, site.lat - dlat, site.lon + dlon, site.lat + dlat)
        hits = tree.query(box)
        if len(hits) == 0:
            continue
        lons = np.array([new[i].lon for i in hits])
        lats = np.array([new[i].lat for i in hits])
        _f, _b, dist = WGS84.inv(
            np.full(len(hits), site.lon), np.full(len(hits), site.lat), lons, lats
        )
        pairs = sorted(zip(np.atleast_1d(dist).tolist(), hits.tolist(), strict=True))
        found.extend(
            Rebound(site.plot_id, new[i].plot_id, d) for d, i in pairs if d <= max_distance_m
        )
    return found
