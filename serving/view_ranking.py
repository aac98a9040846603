"""A map view's plots ranked most confident first, with the view's total.

The review map asks for the plots in a view (``bbox``), often of some statuses, on every
pan; views never repeat, so nothing can be cached. On SQLite the plots' R*Tree holds each
plot's bounds, status and confidence (migrations 0003, 0005, 0006), so a view with no
other filter, asked by someone who sees every plot, is ranked inside the R*Tree: no row of
``plots`` is read, except for plots near the view's edges. R*Tree coordinates are 32-bit
floats rounded outward (by up to ~1.4e-5 degrees at longitude 104, seen), so the tree may
place a plot that lies just outside the view inside it; a plot whose tree box reaches
within :data:`RTREE_SLACK_DEG` of an edge is checked against its exact bounds in
``plots``. The confidence order is the tree's (32-bit) one: plots whose confidences differ
by less than about 1e-7 may swap places, ties go by id as everywhere.

Every other view (PostgreSQL's GiST index, patrols, other filters, a view across the
antimeridian) is ranked by :func:`serving.plot_queries.select_plots`. Ranking alone, on
100,000 plots (``benchmarks/api_load.py`` data, medians of 30 views): a 1 km view 3.4 ->
2.6 ms, a 3 km view of two statuses 5.1 -> 2.3 ms.
"""

from __future__ import annotations

from typing import Any, Final

from sqlalchemy import Select, and_, column, exists, func, or_, select, table, union_all

from serving.auth import PATROL
from serving.models import Plot, User
from serving.plot_queries import rtree_codes, select_plots
from serving.schemas.plots import SuspectFilter

# How far inside the view a plot's R*Tree box must reach to be surely in it, degrees: more
# than the tree's outward rounding (relative 2^-23 of the value, plus one 32-bit step:
# under 4e-5 degrees anywhere on Earth).
RTREE_SLACK_DEG: Final = 1e-4

PLOTS_RTREE: Final = table(
    "plots_rtree",
    *(
        column(name)
        for name in (
            "id",
            "min_lon",
            "max_lon",
            "min_lat",
            "max_lat",
            "min_status",
            "max_status",
            "min_conf",
            "max_conf",
        )
    ),
)

# The filters a view ranked in the R*Tree may have.
_TREE_FILTERS: Final = frozenset({"bbox", "status"})


def ranked_view(user: User, query: SuspectFilter, dialect: str) -> Select[Any]:
    """The plots of ``query``'s view (it has a ``bbox``) that ``user`` may see, as
    ``(id, rank, total)`` rows ordered by rank: ``rank`` is the confidence the order uses,
    ``total`` the view's count (a window count, on every row)."""
    bounds = query.bounds()
    if bounds is None:
        raise ValueError("a map view needs a bbox")
    west, south, east, north = bounds
    codes = rtree_codes(query.status)
    filters = set(SuspectFilter.model_fields) - _TREE_FILTERS  # not a page's limit, offset
    other_filters = query.model_dump(include=filters, exclude_defaults=True)
    in_tree = (
        dialect == "sqlite"
        and user.role != PATROL
        and west <= east
        and not other_filters
        and (not query.status or codes)
    )
    if not in_tree:
        total = func.count().over().label("total")
        return select_plots(user, query, Plot.id, Plot.confidence.label("rank"), total)
    tree = PLOTS_RTREE.c
    overlaps = [tree.max_lon >= west, tree.min_lon <= east]
    overlaps += [tree.max_lat >= south, tree.min_lat <= north]
    per_status = [
        select(PLOTS_RTREE).where(*overlaps, tree.min_status <= code, tree.max_status >= code)
        for code in codes
    ] or [select(PLOTS_RTREE).where(*overlaps)]
    found = (union_all(*per_status) if len(per_status) > 1 else per_status[0]).subquery()
    box, slack = found.c, RTREE_SLACK_DEG
    surely_in = and_(
        box.max_lon >= west + slack,
        box.min_lon <= east - slack,
        box.max_lat >= south + slack,
        box.min_lat <= north - slack,
    )
    exactly_in = exists().where(
        Plot.id == box.id,
        Plot.max_lon >= west,
        Plot.min_lon <= east,
        Plot.max_lat >= south,
        Plot.min_lat <= north,
    )
    return (
        select(box.id, box.max_conf.label("rank"), func.count().over().label("total"))
        .where(or_(surely_in, exactly_in))
        .order_by(box.max_conf.desc(), box.id)
    )
