"""Read sessions (the suspect list's) and write sessions share one connection pool.

A read session on a database server runs each statement on its own, with no transaction
round trips around them; a write session must still get a real transaction afterwards, on
the same pooled connection, or a lifecycle move and its audit record could be half-written.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from fastapi.testclient import TestClient
from servers import Server, add_people, make_settings
from sqlalchemy import Engine, event, func, select, text

from serving.app import create_app
from serving.db import make_engine, read_session_factory, session_factory


def test_read_sessions_skip_transactions_and_leave_none_behind(db_url: str) -> None:
    engine = make_engine(db_url)
    try:
        if engine.dialect.name == "sqlite":  # the driver opens no transaction for reads
            assert read_session_factory(engine).kw["bind"] is engine
            return
        reads, writes = read_session_factory(engine), session_factory(engine)
        # PostgreSQL's now() is the start of the transaction: two readings 10 ms apart are
        # equal inside one, and differ when each statement runs on its own.
        for _ in range(3):  # the pool hands the same connection back and forth
            with reads() as session:
                first = session.scalar(select(func.now()))
                session.execute(text("SELECT pg_sleep(0.01)"))
                second = session.scalar(select(func.now()))
                assert first < second, "each read runs on its own"
                assert session.scalar(text("SELECT txid_current_if_assigned()")) is None
            with writes() as session:
                first = session.scalar(select(func.now()))
                session.execute(text("SELECT pg_sleep(0.01)"))
                second = session.scalar(select(func.now()))
                assert first == second, "a write session is a transaction"
                session.rollback()
        assert engine.pool.checkedout() == 0
    finally:
        engine.dispose()


def test_busy_api_reuses_its_pooled_connections(tmp_path: Path, db_url: str) -> None:
    """Concurrent requests beyond ``db_pool_size`` wait for a pooled connection: a database
    server never sees a connection opened (a process forked, on PostgreSQL) per request."""
    settings = make_settings(tmp_path, db_url, db_pool_size=3)
    app = create_app(settings)
    add_people(settings)
    engine: Engine = app.state.engine
    opened: list[int] = []
    event.listen(engine, "connect", lambda *_: opened.append(1))
    with TestClient(app) as client:
        server = Server(client, settings)
        headers = server.headers("ana")

        def list_suspects(offset: int) -> int:
            params = {"limit": 5, "offset": offset}
            return client.get("/api/suspects", params=params, headers=headers).status_code

        with ThreadPoolExecutor(max_workers=12) as pool:
            answers = list(pool.map(list_suspects, range(120)))
    assert answers == [200] * 120
    if engine.dialect.name != "sqlite":
        assert len(opened) <= 3, f"{len(opened)} connections opened for a pool of 3"
