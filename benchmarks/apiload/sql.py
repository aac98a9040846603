"""SQL alone: each request kind's page and count queries timed straight on the database.

The queries are the server's own: the page statement of
:func:`serving.suspect_list.page_statement` (the feature columns; for a map view, ranked ids
joined back to their rows) and the count of :func:`serving.plot_queries.count_plots`, built
from the parameters the clients send (parsed as the server parses them), timed without HTTP
(median of 5); the database's plan of the page statement is kept in one line.
"""

from __future__ import annotations

import random
import statistics
import time
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine, text
from sqlalchemy.orm import Session

from apiload.clients import Kind, Params
from serving.models import User
from serving.plot_queries import count_plots
from serving.schemas.plots import SuspectPage
from serving.suspect_list import page_statement


def as_page(params: Params) -> SuspectPage:
    """The server's parsed form of ``params`` (repeated ``status`` becomes a list)."""
    fields: dict[str, Any] = {}
    for key, value in params:
        if key == "status":
            fields.setdefault("status", []).append(value)
        else:
            fields[key] = value
    return SuspectPage.model_validate(fields)


@dataclass(frozen=True)
class SqlProfile:
    """One request kind on the database alone.

    Attributes:
        page_ms: Median time of the page query (rows fetched), milliseconds.
        count_ms: Median time of the total count query, milliseconds.
        plan: The database's plan of the page query, in one line.
    """

    page_ms: float
    count_ms: float
    plan: str


def _plan(session: Session, sql: str) -> str:
    """The page query's plan, one line (SQLite ``EXPLAIN QUERY PLAN``, PostgreSQL
    ``EXPLAIN``)."""
    bind = session.get_bind()
    if bind.dialect.name == "sqlite":
        rows = session.execute(text("EXPLAIN QUERY PLAN " + sql)).all()
        return "; ".join(str(r[3]) for r in rows)
    lines = [str(r[0]) for r in session.execute(text("EXPLAIN " + sql)).all()]
    nodes = [ln for i, ln in enumerate(lines) if i == 0 or ln.strip().startswith("->")]
    return " > ".join(n.strip().removeprefix("->").strip().split("  (cost")[0] for n in nodes)


def profile_sql(
    engine: Engine, kinds: list[Kind], seed: int, repeat: int = 5
) -> dict[str, SqlProfile]:
    """Time each kind's page and count queries straight on the database, no HTTP."""
    analyst = User(username="analyst", role="analyst", unit="")
    dialect = engine.dialect.name
    out: dict[str, SqlProfile] = {}
    with Session(engine) as session:
        for kind in kinds:
            rng = random.Random(seed)
            pages = [as_page(kind.make(rng)) for _ in range(repeat)]
            page_ms, count_ms = [], []
            for query in pages:
                started = time.perf_counter()
                session.connection().execute(page_statement(analyst, query, dialect)).all()
                page_ms.append(1e3 * (time.perf_counter() - started))
                started = time.perf_counter()
                count_plots(session, analyst, query)
                count_ms.append(1e3 * (time.perf_counter() - started))
            first = pages[0]
            statement = page_statement(analyst, first, dialect)
            sql = str(statement.compile(engine, compile_kwargs={"literal_binds": True}))
            out[kind.name] = SqlProfile(
                statistics.median(page_ms), statistics.median(count_ms), _plan(session, sql)
            )
    return out
