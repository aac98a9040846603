"""`poppyscan grid import` — load the campaign grid (cells and who answers for them)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from serving.commands.serve import add_data_dir_argument, settings_from

HELP = "import the campaign grid: county > town > village > cell polygons"
DESCRIPTION = """\
Import (or update, by code) the territory's grid into the server's database. The file is a
GeoJSON, GeoPackage or shapefile in any CRS with one polygon per unit and the attributes
code (unique), name, level (county, town, village or cell), parent (the code one level up;
found by containment when absent) and the responsible people: police_station,
township_cadre, village_cadre, grid_worker, phone. Every stored suspect is assigned to the
cell that holds it.

Problems are listed together and nothing is imported: no CRS, self-intersecting polygons,
overlapping cells of one level, duplicate codes, unknown parents. --repair fixes what can be
fixed: invalid polygons are made valid, and where two cells overlap the overlap stays with
the cell listed first.

examples:
  poppyscan grid import cells.gpkg
  poppyscan grid import county.shp --repair --data-dir /srv/poppyscan
"""


def add_parser(verbs: Any) -> None:
    """Register ``grid`` on the ``poppyscan`` parser."""
    parser = verbs.add_parser(
        "grid",
        help=HELP,
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    load = actions.add_parser(
        "import",
        help=HELP,
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    load.add_argument("path", type=Path, help="GeoJSON, GeoPackage or shapefile")
    load.add_argument("--repair", action="store_true", help="fix invalid polygons and overlaps")
    add_data_dir_argument(load)
    load.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Read, check and import the grid; print what changed."""
    from collections import Counter

    from serving.audit import record
    from serving.campaigns.grid import read_grid
    from serving.campaigns.grid_store import import_grid
    from serving.db import make_engine, migrate, session_factory, transaction

    units = read_grid(args.path, repair=args.repair)
    settings = settings_from(args)
    engine = make_engine(settings.resolved_database_url())
    try:
        migrate(engine)
        with transaction(session_factory(engine)) as session:
            result = import_grid(session, units)
            record(
                session,
                None,
                "grid.import",
                details={
                    "file": args.path.name,
                    "added": result.added,
                    "updated": result.updated,
                    "via": "cli",
                },
            )
    finally:
        engine.dispose()
    levels = Counter(u.level for u in units)
    counts = ", ".join(
        f"{levels[level]} {level}"
        for level in ("county", "town", "village", "cell")
        if levels[level]
    )
    print(f"imported {len(units)} units ({counts}): {result.added} new, {result.updated} updated")
    print(f"{result.plots_assigned} suspect(s) assigned to their cell")
    for code, note in sorted(result.repaired.items()):
        print(f"repaired {code}: {note}")
    return 0
