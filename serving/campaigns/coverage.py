"""Survey coverage: how much of each grid cell the scanned flights have seen.

"Zero omission" means every cell surveyed. A cell's coverage is the share of its area inside
the union of the valid-data footprints of the flights that were scanned in the period asked
about; a cell under the threshold is a gap, and the unflown part of it is the gap layer a
pilot plans the next flight from. All areas are geodesic (square metres on WGS84).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import shapely
from shapely.geometry.base import BaseGeometry

from serving.campaigns.geodesy import area_m2

# A cell counts as surveyed when this share of it was flown and scanned.
DEFAULT_SURVEYED_SHARE = 0.95


@dataclass(frozen=True)
class CellArea:
    """A cell to measure: its code, WGS84 outline and geodesic area (m²)."""

    code: str
    geometry: BaseGeometry
    area_m2: float


@dataclass(frozen=True)
class Footprint:
    """The valid-data outline of one scanned flight, WGS84."""

    flight_id: int
    geometry: BaseGeometry


@dataclass(frozen=True)
class CellCoverage:
    """How much of one cell was flown and scanned.

    Attributes:
        code: The cell.
        area_m2: The cell's area, square metres.
        covered_m2: Area inside at least one footprint, square metres (overlaps count once).
        flight_ids: Flights that touch the cell.
        gap: The unflown part of the cell, WGS84 (empty when fully covered).
    """

    code: str
    area_m2: float
    covered_m2: float
    flight_ids: tuple[int, ...]
    gap: BaseGeometry

    @property
    def share(self) -> float:
        """Covered fraction of the cell, 0..1."""
        return min(1.0, self.covered_m2 / self.area_m2) if self.area_m2 > 0 else 0.0

    def surveyed(self, threshold: float = DEFAULT_SURVEYED_SHARE) -> bool:
        """Whether the cell counts as surveyed at ``threshold`` (share, 0..1)."""
        return self.share >= threshold


def cell_coverage(cells: Sequence[CellArea], footprints: Sequence[Footprint]) -> list[CellCoverage]:
    """Coverage of every cell by the union of ``footprints``, in the order of ``cells``.

    Footprints are indexed once in an STRtree, so the cost grows with cells x the few
    footprints each cell touches, not cells x all flights.
    """
    geometries = [f.geometry for f in footprints]
    tree = shapely.STRtree(geometries)
    out = []
    for cell in cells:
        hits = sorted(tree.query(cell.geometry, predicate="intersects").tolist())
        if not hits:
            out.append(CellCoverage(cell.code, cell.area_m2, 0.0, (), cell.geometry))
            continue
        # Clip each footprint to the cell first: unioning a few small pieces is far cheaper
        # than unioning whole flight outlines of thousands of vertices for every cell.
        pieces = shapely.intersection(cell.geometry, [geometries[i] for i in hits])
        covered = shapely.union_all(pieces)
        out.append(
            CellCoverage(
                code=cell.code,
                area_m2=cell.area_m2,
                covered_m2=area_m2(covered),
                flight_ids=tuple(footprints[i].flight_id for i in hits),
                gap=shapely.difference(cell.geometry, covered),
            )
        )
    return out
