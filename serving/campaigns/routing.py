"""Order a patrol's stops into a short route: nearest neighbour, then 2-opt.

Distances are geodesic (metres on WGS84). For the tens to a few hundred stops of one patrol
day this finds routes within a few percent of optimal in milliseconds. The route starts at
the patrol's start point and does not return to it (patrols end where the last site is).
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from serving.campaigns.geodesy import distance_matrix_m


@dataclass(frozen=True)
class Stop:
    """A place to visit: an id and its WGS84 position (degrees)."""

    stop_id: int
    lon: float
    lat: float


@dataclass(frozen=True)
class Route:
    """Stops in visiting order, with the leg lengths from the start point.

    Attributes:
        stops: In visiting order.
        legs_m: Distance of each leg, metres; ``legs_m[0]`` is start -> first stop.
    """

    stops: tuple[Stop, ...]
    legs_m: tuple[float, ...]

    @property
    def total_m(self) -> float:
        """Length of the whole route, metres."""
        return float(sum(self.legs_m))


def _path_length(order: list[int], dist: np.ndarray) -> float:
    return float(sum(dist[a, b] for a, b in itertools.pairwise(order)))


def _nearest_neighbour(dist: np.ndarray) -> list[int]:
    n = len(dist)
    order, left = [0], set(range(1, n))
    while left:
        here = order[-1]
        nearest = min(left, key=lambda j: dist[here, j])
        order.append(nearest)
        left.remove(nearest)
    return order


def _two_opt(order: list[int], dist: np.ndarray, max_rounds: int = 50) -> list[int]:
    """Reverse segments while that shortens the open path (node 0, the start, stays first)."""
    best = list(order)
    n = len(best)
    for _ in range(max_rounds):
        improved = False
        for i in range(1, n - 1):
            for k in range(i + 1, n):
                a, b = best[i - 1], best[i]
                c = best[k]
                d = best[k + 1] if k + 1 < n else None
                before = dist[a, b] + (dist[c, d] if d is not None else 0.0)
                after = dist[a, c] + (dist[b, d] if d is not None else 0.0)
                if after < before - 1e-9:
                    best[i : k + 1] = reversed(best[i : k + 1])
                    improved = True
        if not improved:
            break
    return best


def plan_route(start_lon: float, start_lat: float, stops: Sequence[Stop]) -> Route:
    """The visiting order of ``stops`` from the start point (degrees), and its legs."""
    if not stops:
        return Route((), ())
    lons = np.array([start_lon, *(s.lon for s in stops)])
    lats = np.array([start_lat, *(s.lat for s in stops)])
    dist = distance_matrix_m(lons, lats)
    order = _two_opt(_nearest_neighbour(dist), dist)
    legs = tuple(float(dist[a, b]) for a, b in itertools.pairwise(order))
    return Route(tuple(stops[i - 1] for i in order[1:]), legs)


def route_length_m(start_lon: float, start_lat: float, stops: Sequence[Stop]) -> float:
    """Length of visiting ``stops`` in the given order from the start point, metres."""
    lons = np.array([start_lon, *(s.lon for s in stops)])
    lats = np.array([start_lat, *(s.lat for s in stops)])
    return _path_length(list(range(len(lons))), distance_matrix_m(lons, lats))
