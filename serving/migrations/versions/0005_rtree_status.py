"""SQLite: the plots' R*Tree also holds each plot's status, as a third dimension.

The review map asks for plots of some statuses in a view (``status=suspect&status=
dispatched&bbox=...``). With only the bounding box in the R*Tree, SQLite found every plot
in the view and then looked each one up in ``plots`` to test its status: a 3 km view over
100,000 plots held about 9,600 plots of every status, 1,700 of them suspect or dispatched,
and cost 20-30 ms for the page and as much again for its total
(``benchmarks/api_load.py``). With the status as a dimension ``[code, code]``, the R*Tree
hands back only the plots of the asked statuses (about 1 ms for that count).

The codes are the positions in :data:`STATUS_CODES` below, frozen here;
``serving.plot_queries.RTREE_STATUS_CODES`` must hold the same (a test checks). A status
missing from it gets -1 and is still found by queries without a status filter. The
insert, update (now also of ``status``) and delete triggers of migration 0003 are replaced.
PostgreSQL is unchanged.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-04
"""

from __future__ import annotations

from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

STATUS_CODES = (
    "new",
    "suspect",
    "dismissed",
    "dispatched",
    "positive",
    "false_alarm",
    "eradicated",
    "closed",
)
_BOUNDS = "min_lon, max_lon, min_lat, max_lat"


def _code(row: str) -> str:
    """SQL: the status code of ``row`` (``new`` or a table), -1 for an unknown status."""
    whens = " ".join(f"WHEN '{status}' THEN {i}" for i, status in enumerate(STATUS_CODES))
    return f"CASE {row}.status {whens} ELSE -1 END"


def _triggers(columns: str, values: str, update: str, update_of: str) -> list[str]:
    return [
        "CREATE TRIGGER plots_rtree_insert AFTER INSERT ON plots BEGIN "
        f"INSERT INTO plots_rtree (id, {columns}) VALUES (new.id, {values}); END",
        f"CREATE TRIGGER plots_rtree_update AFTER UPDATE OF {update_of} ON plots BEGIN "
        f"UPDATE plots_rtree SET {update} WHERE id = new.id; END",
        "CREATE TRIGGER plots_rtree_delete AFTER DELETE ON plots BEGIN "
        "DELETE FROM plots_rtree WHERE id = old.id; END",
    ]


_DROP = [
    "DROP TRIGGER IF EXISTS plots_rtree_delete",
    "DROP TRIGGER IF EXISTS plots_rtree_update",
    "DROP TRIGGER IF EXISTS plots_rtree_insert",
    "DROP TABLE IF EXISTS plots_rtree",
]
_NEW_BOUNDS = "new.min_lon, new.max_lon, new.min_lat, new.max_lat"
_SET_BOUNDS = (
    "min_lon = new.min_lon, max_lon = new.max_lon, min_lat = new.min_lat, max_lat = new.max_lat"
)
_UP = [
    *_DROP,
    f"CREATE VIRTUAL TABLE plots_rtree USING rtree(id, {_BOUNDS}, min_status, max_status)",
    f"INSERT INTO plots_rtree (id, {_BOUNDS}, min_status, max_status) "
    f"SELECT id, {_BOUNDS}, {_code('plots')}, {_code('plots')} FROM plots",
    *_triggers(
        f"{_BOUNDS}, min_status, max_status",
        f"{_NEW_BOUNDS}, {_code('new')}, {_code('new')}",
        f"{_SET_BOUNDS}, min_status = {_code('new')}, max_status = {_code('new')}",
        f"{_BOUNDS}, status",
    ),
]
_DOWN = [  # migration 0003's index
    *_DROP,
    f"CREATE VIRTUAL TABLE plots_rtree USING rtree(id, {_BOUNDS})",
    f"INSERT INTO plots_rtree (id, {_BOUNDS}) SELECT id, {_BOUNDS} FROM plots",
    *_triggers(_BOUNDS, _NEW_BOUNDS, _SET_BOUNDS, _BOUNDS),
]


def upgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        for statement in _UP:
            op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        for statement in _DOWN:
            op.execute(statement)
