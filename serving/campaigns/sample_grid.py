"""A regular sample grid (county > towns > villages > cells) for demos, tests and benchmarks.

Square cells of ``cell_m`` metres in a projected CRS, grouped 2x2 into villages, villages 2x2
into towns, all towns into one county, each unit with a code, a name and made-up responsible
people. Written as GeoJSON in the grid's own CRS (with the CRS recorded) through pyogrio.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import shapely
from shapely.geometry import Polygon

CELLS_PER_VILLAGE_SIDE = 2
VILLAGES_PER_TOWN_SIDE = 2


@dataclass(frozen=True)
class SampleUnit:
    """One unit of the sample grid; ``geometry`` is in the grid's projected CRS (metres)."""

    code: str
    name: str
    level: str
    parent: str
    geometry: Polygon
    police_station: str = ""
    grid_worker: str = ""


FIELDS = ("code", "name", "level", "parent", "police_station", "grid_worker")


def grid_units(
    rows: int, cols: int, cell_m: float, origin_xy: tuple[float, float]
) -> list[SampleUnit]:
    """Units of a ``rows x cols`` cell grid whose top-left corner is ``origin_xy`` (metres)."""
    x0, y0 = origin_xy
    county = shapely.box(x0, y0 - rows * cell_m, x0 + cols * cell_m, y0)
    units = [SampleUnit("C1", "Sample county", "county", "", county)]
    village_side = CELLS_PER_VILLAGE_SIDE * cell_m
    town_side = VILLAGES_PER_TOWN_SIDE * village_side
    for kind, side, parent_side, parent_prefix, level in (
        ("T", town_side, None, "C1", "town"),
        ("V", village_side, town_side, "T", "village"),
        ("", cell_m, village_side, "V", "cell"),
    ):
        n_rows, n_cols = int(np.ceil(rows * cell_m / side)), int(np.ceil(cols * cell_m / side))
        for r in range(n_rows):
            for c in range(n_cols):
                left, top = x0 + c * side, y0 - r * side
                right = min(left + side, x0 + cols * cell_m)
                bottom = max(top - side, y0 - rows * cell_m)
                if parent_side is None:
                    parent = parent_prefix
                else:
                    ratio = round(parent_side / side)
                    parent = f"{parent_prefix}{r // ratio:02d}-{c // ratio:02d}"
                code = f"{kind or 'G'}{r:02d}-{c:02d}"
                units.append(
                    SampleUnit(
                        code=code,
                        name=f"{level} {code}",
                        level=level,
                        parent=parent,
                        geometry=shapely.box(left, bottom, right, top),
                        police_station=f"Station {parent}",
                        grid_worker=f"Worker {code}",
                    )
                )
    return units


def write_grid(path: Path, units: list[SampleUnit], crs: str) -> Path:
    """Write ``units`` (from :func:`grid_units`) as a GeoJSON file in ``crs``."""
    from pyogrio.raw import write

    geometry = np.array([shapely.to_wkb(u.geometry) for u in units], dtype=np.object_)
    columns = [np.array([getattr(u, f) for u in units], dtype=np.object_) for f in FIELDS]
    path.parent.mkdir(parents=True, exist_ok=True)
    write(
        str(path),
        geometry,
        columns,
        fields=list(FIELDS),
        geometry_type="Polygon",
        crs=crs,
        driver="GeoJSON",
    )
    return path
