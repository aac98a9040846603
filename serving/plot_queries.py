"""Which plots a user may see, and the filters of the suspect list and exports.

The campaign and season filters go through the plot's flight (``Flight.campaign_id`` and
``Flight.season_id``): a plot belongs to the campaign its flight was assigned to.

A patrol sees only the plots dispatched to its own unit; to a patrol every other plot does
not exist (404, not 403, so the API does not reveal what other units are sent to).
Admins, analysts and researchers see every plot.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, Final

from fastapi import HTTPException, status
from sqlalchemy import ColumnElement, Select, String, and_, false, func, or_, select, true
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import Session
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement

from serving import lifecycle
from serving.auth import ADMIN, ANALYST, PATROL, RESEARCHER
from serving.models import Flight, Plot, User
from serving.schemas.plots import SuspectFilter

READER_ROLES = (ADMIN, ANALYST, RESEARCHER, PATROL)


def visible_to(user: User) -> ColumnElement[bool]:
    """SQL condition: the plot is one ``user`` may see."""
    if user.role == PATROL:
        return Plot.assigned_unit == user.unit if user.unit else false()
    return true()


def get_visible_plot(session: Session, user: User, plot_id: int) -> Plot:
    """The plot ``plot_id`` if ``user`` may see it (404 otherwise, existing or not)."""
    plot = session.scalar(select(Plot).where(Plot.id == plot_id, visible_to(user)))
    if plot is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no suspect {plot_id}")
    return plot


# Status codes of the SQLite R*Tree's third dimension: a status's position in the lifecycle.
# Migrations 0005 and 0006 froze them; a test holds this to them, so a change to the
# lifecycle's statuses fails until a migration rebuilds the index.
RTREE_STATUS_CODES: Final = lifecycle.STATUSES


class bbox_index_match(FunctionElement[bool]):  # noqa: N801 - an SQL function's name
    """SQL condition: the database's spatial index says the plot's bounding box may
    intersect ``(west, south, east, north)`` (WGS84 degrees, ``west <= east``) and, when
    status codes follow the bounds, that the plot has one of those statuses.

    On SQLite it looks the ids up in the ``plots_rtree`` R*Tree (which rounds outward, so it
    may over-select; the status is its exact third dimension, migration 0005), on
    PostgreSQL it is the GiST-indexed ``box && box``, elsewhere it is true. It narrows the
    rows cheaply; callers keep the exact comparisons on the columns. The indexes come from
    migrations 0003 and 0005.
    """

    # No Boolean type: SQLite would compare the condition with 1, hiding it from the index.
    inherit_cache = True
    name = "bbox_index_match"


@compiles(bbox_index_match)
def _no_spatial_index(_element: bbox_index_match, _compiler: SQLCompiler, **_kw: Any) -> str:
    return "1 = 1"


@compiles(bbox_index_match, "sqlite")
def _sqlite_rtree(element: bbox_index_match, compiler: SQLCompiler, **kw: Any) -> str:
    west, south, east, north, *codes = (compiler.process(arg, **kw) for arg in element.clauses)
    view = (
        f"SELECT id FROM plots_rtree WHERE max_lon >= {west} "
        f"AND min_lon <= {east} AND max_lat >= {south} AND min_lat <= {north}"
    )
    if not codes:
        return f"plots.id IN ({view})"
    per_status = (f"{view} AND min_status <= {c} AND max_status >= {c}" for c in codes)
    return f"plots.id IN ({' UNION ALL '.join(per_status)})"


@compiles(bbox_index_match, "postgresql")
def _postgresql_gist(element: bbox_index_match, compiler: SQLCompiler, **kw: Any) -> str:
    bounds = list(element.clauses)[:4]  # the status codes only narrow SQLite's R*Tree
    west, south, east, north = (compiler.process(arg, **kw) for arg in bounds)
    return (
        "box(point(plots.min_lon, plots.min_lat), point(plots.max_lon, plots.max_lat)) "
        f"&& box(point({west}, {south}), point({east}, {north}))"
    )


class unindexed(FunctionElement[str]):  # noqa: N801 - an SQL expression's name
    """SQL: the column, which SQLite must not look up through an index (``+column``).

    Where the spatial index has already picked the few plots of a view, probing the
    ``status`` index once per plot and status costs more than reading the plot's row.
    """

    type = String()
    inherit_cache = True
    name = "unindexed"


@compiles(unindexed)
def _plain_column(element: unindexed, compiler: SQLCompiler, **kw: Any) -> str:
    return compiler.process(element.clauses, **kw)


@compiles(unindexed, "sqlite")
def _sqlite_unindexed(element: unindexed, compiler: SQLCompiler, **kw: Any) -> str:
    return "+" + compiler.process(element.clauses, **kw)


def _day_start(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=UTC)


def filter_conditions(query: SuspectFilter) -> list[ColumnElement[bool]]:
    """SQL conditions for every filter that is set."""
    conditions: list[ColumnElement[bool]] = []
    if query.flight_id is not None:
        conditions.append(Plot.flight_id == query.flight_id)
    if query.campaign_id is not None:
        flights = select(Flight.id).where(Flight.campaign_id == query.campaign_id)
        conditions.append(Plot.flight_id.in_(flights))
    if query.season_id is not None:
        flights = select(Flight.id).where(Flight.season_id == query.season_id)
        conditions.append(Plot.flight_id.in_(flights))
    bounds = query.bounds()
    if query.status:
        status = Plot.status if bounds is None else unindexed(Plot.status)
        conditions.append(status.in_(query.status))
    if query.class_name is not None:
        conditions.append(Plot.class_name == query.class_name)
    if query.min_confidence is not None:
        conditions.append(Plot.confidence >= query.min_confidence)
    if query.assigned_unit is not None:
        conditions.append(Plot.assigned_unit == query.assigned_unit)
    if query.since is not None:
        conditions.append(Plot.created_at >= _day_start(query.since))
    if query.until is not None:
        conditions.append(Plot.created_at < _day_start(query.until + timedelta(days=1)))
    if bounds is not None:
        west, south, east, north = bounds
        conditions.append(and_(Plot.max_lat >= south, Plot.min_lat <= north))
        if west <= east:
            codes = rtree_codes(query.status)
            conditions.append(bbox_index_match(west, south, east, north, *codes))
            conditions.append(and_(Plot.max_lon >= west, Plot.min_lon <= east))
        else:  # across the antimeridian: west..180 or -180..east
            conditions.append(or_(Plot.max_lon >= west, Plot.min_lon <= east))
    return conditions


def rtree_codes(statuses: Sequence[str] | None) -> list[int]:
    """The R*Tree status codes of ``statuses``; none (no status narrowing) when there is no
    status filter or one of them has no code."""
    if not statuses or any(s not in RTREE_STATUS_CODES for s in statuses):
        return []
    return [RTREE_STATUS_CODES.index(s) for s in dict.fromkeys(statuses)]


def select_plots(user: User, query: SuspectFilter, *columns: Any) -> Select[Any]:
    """Plots ``user`` may see that match ``query``, most confident first: whole ``Plot``
    objects, or just ``columns`` when given."""
    return (
        select(*(columns or (Plot,)))
        .where(visible_to(user), *filter_conditions(query))
        .order_by(Plot.confidence.desc(), Plot.id)
    )


def count_plots(session: Session, user: User, query: SuspectFilter) -> int:
    """How many plots ``user`` may see match ``query``."""
    counted = select(func.count(Plot.id)).where(visible_to(user), *filter_conditions(query))
    return session.scalar(counted) or 0
