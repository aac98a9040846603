"""Spatial index on the plots' bounding boxes, and confidence order for the unfiltered list.

The map asks for the plots in its view (``bbox``). A B-tree on ``(min_lon, ...)`` can only
use the first column, so a view in the east of the area scanned about half the table. Each
database gets a real spatial index instead:

- SQLite: an R*Tree virtual table ``plots_rtree(id, min_lon, max_lon, min_lat, max_lat)``
  kept in step with ``plots`` by three triggers (insert, bounds update, delete). R*Tree
  stores 32-bit floats rounded outward, so it can only over-select; the suspect list keeps
  the exact comparison on the plot's own columns (:mod:`serving.plot_queries`).
- PostgreSQL: a GiST index on ``box(point(min_lon, min_lat), point(max_lon, max_lat))``,
  searched with the ``&&`` (overlaps) operator.

A later SQLite migration that recreates ``plots`` (Alembic batch mode) drops the triggers
with the table and must create them again.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-22
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

_SQLITE_UP = [
    "CREATE VIRTUAL TABLE plots_rtree USING rtree(id, min_lon, max_lon, min_lat, max_lat)",
    "INSERT INTO plots_rtree (id, min_lon, max_lon, min_lat, max_lat) "
    "SELECT id, min_lon, max_lon, min_lat, max_lat FROM plots",
    "CREATE TRIGGER plots_rtree_insert AFTER INSERT ON plots BEGIN "
    "INSERT INTO plots_rtree (id, min_lon, max_lon, min_lat, max_lat) "
    "VALUES (new.id, new.min_lon, new.max_lon, new.min_lat, new.max_lat); END",
    "CREATE TRIGGER plots_rtree_update AFTER UPDATE OF min_lon, max_lon, min_lat, max_lat "
    "ON plots BEGIN UPDATE plots_rtree SET min_lon = new.min_lon, max_lon = new.max_lon, "
    "min_lat = new.min_lat, max_lat = new.max_lat WHERE id = new.id; END",
    "CREATE TRIGGER plots_rtree_delete AFTER DELETE ON plots BEGIN "
    "DELETE FROM plots_rtree WHERE id = old.id; END",
]
_SQLITE_DOWN = [
    "DROP TRIGGER IF EXISTS plots_rtree_delete",
    "DROP TRIGGER IF EXISTS plots_rtree_update",
    "DROP TRIGGER IF EXISTS plots_rtree_insert",
    "DROP TABLE IF EXISTS plots_rtree",
]
_POSTGRESQL_UP = [
    "CREATE INDEX ix_plots_box ON plots USING gist "
    "(box(point(min_lon, min_lat), point(max_lon, max_lat)))",
]
_POSTGRESQL_DOWN = ["DROP INDEX IF EXISTS ix_plots_box"]


def upgrade() -> None:
    dialect = op.get_bind().dialect.name
    statements = {"sqlite": _SQLITE_UP, "postgresql": _POSTGRESQL_UP}.get(dialect, [])
    for statement in statements:
        op.execute(statement)
    op.drop_index("ix_plots_bbox", table_name="plots")
    op.create_index("ix_plots_conf", "plots", [sa.text("confidence DESC"), "id"])


def downgrade() -> None:
    op.drop_index("ix_plots_conf", table_name="plots")
    op.create_index("ix_plots_bbox", "plots", ["min_lon", "min_lat", "max_lon", "max_lat"])
    dialect = op.get_bind().dialect.name
    statements = {"sqlite": _SQLITE_DOWN, "postgresql": _POSTGRESQL_DOWN}.get(dialect, [])
    for statement in statements:
        op.execute(statement)
