"""Read campaign grids: cell polygons with a hierarchy and named responsible people.

A grid file (GeoJSON, GeoPackage or shapefile, any CRS) holds one polygon per unit of the
hierarchy county > town > village > cell. Attributes, by name:

- ``code`` (required, unique): the unit's code, e.g. ``530102-03-07``.
- ``name``: a readable name.
- ``level``: ``county``, ``town``, ``village`` or ``cell`` (default ``cell``).
- ``parent``: the parent unit's code; when absent the parent is the unit one level up that
  contains the polygon's representative point.
- responsible people, each optional: ``police_station``, ``township_cadre``,
  ``village_cadre``, ``grid_worker``, ``phone``.

Problems are reported together, naming the cells: a file without a CRS, a self-intersecting
polygon, overlapping cells of one level, unknown parents. ``repair=True`` fixes what can be
fixed in a documented way: invalid polygons go through ``shapely.make_valid`` (keeping the
polygonal part), and where two cells of one level overlap the overlap stays with the cell
listed first and is cut from the later one.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import shapely
from pyproj import CRS, Transformer
from shapely.geometry.base import BaseGeometry

from detector.errors import PoppyscanError
from serving.campaigns.geodesy import area_m2

LEVELS = ("county", "town", "village", "cell")
RESPONSIBLE_FIELDS = ("police_station", "township_cadre", "village_cadre", "grid_worker", "phone")
# Overlaps smaller than this share of the smaller cell are digitising noise, not an error.
OVERLAP_TOLERANCE = 0.001


class GridError(PoppyscanError):
    """A grid file cannot be used as given; the message lists every problem found."""


@dataclass(frozen=True)
class GridUnit:
    """One unit of the grid hierarchy, in WGS84.

    Attributes:
        code: Unique code.
        level: ``county``, ``town``, ``village`` or ``cell``.
        geometry: Polygon or multipolygon, lon/lat degrees.
        area_m2: Geodesic area, square metres.
        parent_code: Code of the unit one level up ('' at the top).
        responsible: Named people / units by role (keys of :data:`RESPONSIBLE_FIELDS`).
        repaired: What ``repair=True`` changed, for the import report.
    """

    code: str
    name: str
    level: str
    geometry: BaseGeometry
    area_m2: float
    parent_code: str = ""
    responsible: dict[str, str] = field(default_factory=dict)
    repaired: str = ""


@dataclass(frozen=True)
class _Raw:
    code: str
    name: str
    level: str
    parent: str
    geometry: BaseGeometry
    responsible: dict[str, str]


def _read_features(path: Path) -> tuple[list[_Raw], CRS]:
    from pyogrio.raw import read

    try:
        meta, _fids, geometries, columns = read(str(path))
    except Exception as exc:  # pyogrio's DataSourceError and friends
        raise GridError(f"cannot read grid {path}: {exc}") from exc
    if not meta.get("crs"):
        raise GridError(
            f"{path} has no coordinate reference system: save it with one (for example "
            "EPSG:4326 or EPSG:4490) so the cells can be placed on the ground"
        )
    names = list(meta["fields"])
    if "code" not in names:
        raise GridError(f"{path} has no 'code' attribute: every cell needs a unique code")

    def column(name: str) -> list[Any]:
        return list(columns[names.index(name)]) if name in names else [None] * len(geometries)

    codes, labels, levels, parents = (
        column("code"),
        column("name"),
        column("level"),
        column("parent"),
    )
    people = {f: column(f) for f in RESPONSIBLE_FIELDS}
    raws = []
    for i, wkb in enumerate(geometries):
        code = "" if codes[i] is None else str(codes[i]).strip()
        geometry = shapely.from_wkb(wkb) if wkb is not None else None
        raws.append(
            _Raw(
                code=code,
                name=str(labels[i] or code),
                level=str(levels[i] or "cell").strip().lower(),
                parent="" if parents[i] is None else str(parents[i]).strip(),
                geometry=geometry if geometry is not None else shapely.Polygon(),
                responsible={f: str(v[i]) for f, v in people.items() if v[i] not in (None, "")},
            )
        )
    return raws, CRS.from_user_input(meta["crs"])


def _to_wgs84(geometry: BaseGeometry, crs: CRS) -> BaseGeometry:
    if crs.equals(CRS.from_epsg(4326)):
        return geometry
    to_wgs84 = Transformer.from_crs(crs, 4326, always_xy=True)
    return shapely.transform(
        geometry, lambda xy: np.column_stack(to_wgs84.transform(xy[:, 0], xy[:, 1]))
    )


def _polygonal(geometry: BaseGeometry) -> BaseGeometry:
    """The polygonal part of a ``make_valid`` result (drops stray lines and points)."""
    if geometry.geom_type in ("Polygon", "MultiPolygon"):
        return geometry
    parts = [
        g for g in getattr(geometry, "geoms", []) if g.geom_type in ("Polygon", "MultiPolygon")
    ]
    return shapely.union_all(parts) if parts else shapely.Polygon()


def _check_geometries(raws: list[_Raw], repair: bool, problems: list[str]) -> dict[str, str]:
    repaired: dict[str, str] = {}
    seen: set[str] = set()
    for i, raw in enumerate(raws):
        where = f"feature {i + 1} ({raw.code or 'no code'})"
        if not raw.code:
            problems.append(f"{where}: empty 'code'")
        elif raw.code in seen:
            problems.append(f"{where}: code {raw.code!r} used twice")
        seen.add(raw.code)
        if raw.level not in LEVELS:
            problems.append(f"{where}: level {raw.level!r} is not one of {', '.join(LEVELS)}")
        if raw.geometry.geom_type not in ("Polygon", "MultiPolygon") or raw.geometry.is_empty:
            problems.append(f"{where}: not a polygon ({raw.geometry.geom_type})")
        elif not raw.geometry.is_valid:
            reason = shapely.is_valid_reason(raw.geometry)
            if repair:
                repaired[raw.code] = f"made valid ({reason})"
            else:
                problems.append(f"{where}: invalid polygon: {reason} (import with repair to fix)")
    return repaired


def _resolve_overlaps(units: list[GridUnit], repair: bool, problems: list[str]) -> list[GridUnit]:
    out = list(units)
    for level in LEVELS:
        index = [i for i, u in enumerate(out) if u.level == level]
        if len(index) < 2:
            continue
        tree = shapely.STRtree([out[i].geometry for i in index])
        pairs = tree.query([out[i].geometry for i in index], predicate="intersects")
        for a, b in zip(*pairs, strict=True):
            if a >= b:
                continue
            first, later = out[index[a]], out[index[b]]
            overlap = first.geometry.intersection(later.geometry)
            smaller = min(first.geometry.area, later.geometry.area)
            if overlap.area <= OVERLAP_TOLERANCE * smaller:
                continue
            share = overlap.area / smaller
            if not repair:
                problems.append(
                    f"{level} cells {first.code} and {later.code} overlap ({share:.1%} of the "
                    "smaller): every place must belong to one cell (import with repair to cut "
                    "the overlap from the later cell)"
                )
                continue
            trimmed = _polygonal(later.geometry.difference(first.geometry))
            note = f"overlap with {first.code} ({share:.1%}) removed"
            out[index[b]] = GridUnit(
                later.code,
                later.name,
                later.level,
                trimmed,
                area_m2(trimmed),
                later.parent_code,
                later.responsible,
                "; ".join(filter(None, [later.repaired, note])),
            )
    return out


def _assign_parents(units: list[GridUnit], problems: list[str]) -> list[GridUnit]:
    by_code = {u.code: u for u in units}
    out = []
    for unit in units:
        parent = unit.parent_code
        depth = LEVELS.index(unit.level)
        if parent:
            if parent not in by_code:
                problems.append(f"{unit.code}: parent {parent!r} is not in the file")
            elif LEVELS.index(by_code[parent].level) >= depth:
                problems.append(f"{unit.code}: parent {parent} is not a higher level")
        elif depth > 0:
            point = unit.geometry.representative_point()
            ups = [u for u in units if LEVELS.index(u.level) < depth and u.geometry.contains(point)]
            if ups:  # the nearest level up that contains it
                parent = max(ups, key=lambda u: LEVELS.index(u.level)).code
        out.append(
            GridUnit(
                unit.code,
                unit.name,
                unit.level,
                unit.geometry,
                unit.area_m2,
                parent,
                unit.responsible,
                unit.repaired,
            )
        )
    return out


def read_grid(path: str | Path, *, repair: bool = False) -> list[GridUnit]:
    """Read and check a grid file; return its units in WGS84.

    Args:
        path: GeoJSON, GeoPackage or shapefile with polygons in any CRS.
        repair: Fix invalid polygons and overlaps as described in the module docstring
            instead of refusing the file.

    Raises:
        GridError: listing every problem (or the first few hundred) at once.
    """
    path = Path(path)
    raws, crs = _read_features(path)
    if not raws:
        raise GridError(f"{path} holds no features")
    problems: list[str] = []
    repaired = _check_geometries(raws, repair, problems)
    if problems:
        raise GridError(_summary(path, problems))
    units = []
    for raw in raws:
        geometry = raw.geometry
        if raw.code in repaired:
            geometry = _polygonal(shapely.make_valid(geometry))
        geometry = _to_wgs84(geometry, crs)
        units.append(
            GridUnit(
                raw.code,
                raw.name,
                raw.level,
                geometry,
                area_m2(geometry),
                raw.parent,
                raw.responsible,
                repaired.get(raw.code, ""),
            )
        )
    units = _resolve_overlaps(units, repair, problems)
    units = _assign_parents(units, problems)
    if problems:
        raise GridError(_summary(path, problems))
    return units


def _summary(path: Path, problems: Sequence[str], shown: int = 20) -> str:
    more = f"; and {len(problems) - shown} more" if len(problems) > shown else ""
    return f"{path}: {len(problems)} problem(s): " + "; ".join(problems[:shown]) + more
