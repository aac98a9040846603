"""The suspect list's GeoJSON, built straight from table rows in one JSON pass.

The list is the server's busiest request: the map asks for it on every pan and the review
queue on every page. Loading ORM objects, building a pydantic model per plot and then
validating and encoding the whole collection again cost 15-20 ms of CPU per page of 100
plots (``benchmarks/api_load.py``). Here a page is one Core ``SELECT`` of the columns a
feature shows; the outline, stored as GeoJSON text, is spliced in as it is; the properties
go through pydantic-core's JSON encoder; ``allowed_moves`` is encoded once per (status,
unit) pair. The bytes are a :class:`serving.schemas.plots.SuspectsPublic`, the model the
OpenAPI document shows (``tests/serving/test_suspects.py`` holds them to it and to the
feature the detail endpoint builds with :func:`serving.exports.plot_feature`).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, Final

from pydantic_core import to_json
from sqlalchemy import Row, Select, select
from sqlalchemy.orm import Session

from serving import lifecycle
from serving.exports import PROPERTY_COLUMNS, chip_url_of
from serving.models import Plot, User
from serving.plot_counts import PlotCounts
from serving.plot_queries import count_plots, select_plots
from serving.schemas.plots import SuspectPage, as_utc
from serving.view_ranking import ranked_view

# The columns one feature needs, in the order the row tuples hold them.
FEATURE_COLUMNS: Final = (
    *(getattr(Plot, name) for name in PROPERTY_COLUMNS),
    Plot.geometry_geojson,
    Plot.chip_path,
)
_GEOMETRY, _CHIP = len(PROPERTY_COLUMNS), len(PROPERTY_COLUMNS) + 1
_STATUS, _UNIT = PROPERTY_COLUMNS.index("status"), PROPERTY_COLUMNS.index("assigned_unit")


# The properties that are date-times, which the response model holds in UTC
# (``UtcDatetime``); the others are encoded as the row holds them.
_TIMES: Final = tuple(
    name for name in PROPERTY_COLUMNS if getattr(Plot, name).type.python_type is datetime
)


class _MovesJson:
    """``allowed_moves`` of one user, as JSON, encoded once per (status, unit) pair."""

    def __init__(self, user: User) -> None:
        self._role, self._unit = user.role, user.unit
        self._encoded: dict[tuple[str, str], bytes] = {}

    def __call__(self, status: str, assigned_unit: str) -> bytes:
        key = (status, assigned_unit)
        encoded = self._encoded.get(key)
        if encoded is None:
            rules = lifecycle.allowed_moves(status, assigned_unit, self._role, self._unit)
            moves = [{"to_status": r.target, "requires": sorted(r.requires)} for r in rules]
            encoded = self._encoded[key] = to_json(moves)
        return encoded


def feature_json(row: Row[Any] | Sequence[Any], moves: bytes) -> bytes:
    """One plot (a row of :data:`FEATURE_COLUMNS`) as an RFC 7946 Feature with
    ``allowed_moves``."""
    properties = dict(zip(PROPERTY_COLUMNS, row, strict=False))  # the row has more columns
    for name in _TIMES:
        if (value := properties[name]) is not None:
            properties[name] = as_utc(value)
    plot_id = properties["id"]
    properties["chip_url"] = chip_url_of(plot_id, row[_CHIP])
    return b"".join(
        (
            b'{"type":"Feature","id":',
            str(plot_id).encode(),
            b',"geometry":',
            row[_GEOMETRY].encode(),
            b',"properties":',
            to_json(properties),
            b',"allowed_moves":',
            moves,
            b"}",
        )
    )


def page_statement(user: User, query: SuspectPage, dialect: str) -> Select[Any]:
    """The statement of one page of the plots ``user`` may see that match ``query``, most
    confident first, on a ``dialect`` database: rows of :data:`FEATURE_COLUMNS`, and for a
    map view (a ``bbox`` query) the view's total as one more column.

    Map views are never asked twice alike, so a cached total would not be used again. Their
    statement ranks the view's plots as narrow rows (:func:`serving.view_ranking.ranked_view`,
    not whole features), takes the page's ids with the view's total as a window count, and
    only then reads those plots' rows.
    """
    if query.bounds() is None:
        page = select_plots(user, query, *FEATURE_COLUMNS)
        return page.limit(query.limit).offset(query.offset)
    ranked = ranked_view(user, query, dialect).limit(query.limit).offset(query.offset)
    ranks = ranked.subquery("page")
    return (
        select(*FEATURE_COLUMNS, ranks.c.total)
        .join_from(Plot, ranks, Plot.id == ranks.c.id)
        .order_by(ranks.c.rank.desc(), ranks.c.id)
    )


def page_json(
    session: Session, user: User, query: SuspectPage, counts: PlotCounts, revision: int | None
) -> bytes:
    """One page of the plots ``user`` may see that match ``query``, most confident first,
    as the JSON of a :class:`serving.schemas.plots.SuspectsPublic`.

    The page's statement (:func:`page_statement`) runs on the session's connection as Core:
    plain tuples, no ORM result processing. ``total`` comes from ``counts`` (the plots
    being at ``revision``), or for a map view from the page's own rows; a view's page past
    the end has no row to carry it, and is counted.
    """
    connection = session.connection()
    rows = connection.execute(page_statement(user, query, connection.dialect.name)).all()
    if query.bounds() is None:
        total = counts.total(session, user, query, revision)
    elif rows:
        total = int(rows[0][-1])
    else:
        total = count_plots(session, user, query)
    moves = _MovesJson(user)
    features = b",".join(feature_json(row, moves(row[_STATUS], row[_UNIT])) for row in rows)
    tail = f'],"count":{len(rows)},"total":{total},"limit":{query.limit},"offset":{query.offset}}}'
    return b'{"type":"FeatureCollection","features":[' + features + tail.encode()
