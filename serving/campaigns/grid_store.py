"""Grid units in the database: import (upsert by code) and assigning plots to their cell."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass

import shapely
from shapely.geometry import mapping, shape
from shapely.geometry.base import BaseGeometry
from sqlalchemy import select
from sqlalchemy.orm import Session

from serving.campaigns.grid import GridUnit
from serving.models import GridUnit as GridUnitRow
from serving.models import Plot

_DECIMALS = 7


@dataclass(frozen=True)
class GridImport:
    """What an import changed: units added and updated, repairs made, plots (re)assigned."""

    added: int
    updated: int
    repaired: dict[str, str]
    plots_assigned: int


def geometry_of(row: GridUnitRow) -> BaseGeometry:
    """A stored unit's outline as a shapely geometry, WGS84."""
    return shape(json.loads(row.geometry_geojson))


def _geojson(geometry: BaseGeometry) -> str:
    rounded = shapely.set_precision(geometry, 10**-_DECIMALS)
    return json.dumps(mapping(rounded))


def import_grid(session: Session, units: Sequence[GridUnit]) -> GridImport:
    """Insert or update ``units`` by code, link parents, and assign every plot to its cell.

    Units not in ``units`` are kept (a partial file updates part of the territory).
    """
    existing = {row.code: row for row in session.scalars(select(GridUnitRow))}
    added = updated = 0
    for unit in units:
        row = existing.get(unit.code)
        if row is None:
            row = GridUnitRow(code=unit.code)
            session.add(row)
            existing[unit.code] = row
            added += 1
        else:
            updated += 1
        min_lon, min_lat, max_lon, max_lat = unit.geometry.bounds
        row.name = unit.name
        row.level = unit.level
        row.geometry_geojson = _geojson(unit.geometry)
        row.area_m2 = unit.area_m2
        row.min_lon, row.min_lat, row.max_lon, row.max_lat = min_lon, min_lat, max_lon, max_lat
        row.responsible = dict(unit.responsible)
        row.repaired = unit.repaired
    session.flush()
    for unit in units:
        parent = existing.get(unit.parent_code) if unit.parent_code else None
        existing[unit.code].parent_id = parent.id if parent is not None else None
    plots = list(session.scalars(select(Plot)))
    assigned = assign_cells(session, plots)
    session.flush()
    return GridImport(added, updated, {u.code: u.repaired for u in units if u.repaired}, assigned)


def assign_cells(session: Session, plots: Sequence[Plot]) -> int:
    """Set each plot's ``cell_id`` to the cell containing its centroid; return how many got one.

    Plots outside every cell keep ``cell_id = None`` (they show up in the ledger as
    "outside the grid", never silently dropped).
    """
    cells = list(session.scalars(select(GridUnitRow).where(GridUnitRow.level == "cell")))
    if not cells or not plots:
        return 0
    geometries = [geometry_of(c) for c in cells]
    tree = shapely.STRtree(geometries)
    points = shapely.points([(p.centroid_lon, p.centroid_lat) for p in plots])
    plot_index, cell_index = tree.query(points, predicate="intersects")
    chosen: dict[int, int] = {}
    for p, c in zip(plot_index.tolist(), cell_index.tolist(), strict=True):
        chosen.setdefault(p, c)  # on a shared edge, the first cell wins, deterministically
    for i, plot in enumerate(plots):
        plot.cell_id = cells[chosen[i]].id if i in chosen else None
    return len(chosen)
