"""Database engine, sessions and migrations.

The schema is owned by Alembic (``serving/migrations``); :func:`migrate` brings any database
to the latest revision and runs on every server start, so the first start creates it.
SQLite gets foreign keys, WAL and a busy timeout so the server and a worker process can
share the file; PostgreSQL goes through psycopg 3.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.orm import Session, sessionmaker

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
SQLITE_POOL_SIZE = 40  # SQLite connections kept open per process


def make_engine(url: str, pool_size: int | None = None) -> Engine:
    """Create an engine for ``url`` (``sqlite:///...`` or ``postgresql+psycopg://...``).

    ``pool_size`` fixes how many connections a database server's pool keeps, and none
    beyond them: a checkout waits for one instead. An API process passes
    ``Settings.db_pool_size``. SQLite files keep :data:`SQLITE_POOL_SIZE` either way.
    """
    if url.startswith("sqlite"):
        pool: dict[str, int] = {}
        if url.startswith("sqlite:///") and not url.startswith("sqlite:///:memory:"):
            Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
            # One pooled connection per request thread (FastAPI's pool has 40): beyond the
            # pool, a request would open a connection, set its pragmas and read the schema.
            pool = {"pool_size": SQLITE_POOL_SIZE, "max_overflow": SQLITE_POOL_SIZE}
        engine = create_engine(
            url, connect_args={"check_same_thread": False, "timeout": 30}, **pool
        )

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA busy_timeout=30000")
            cursor.close()

        return engine
    if pool_size is None:  # a command or a worker: a few connections, opened as needed
        return create_engine(url, pool_pre_ping=True)
    return create_engine(url, pool_pre_ping=True, pool_size=pool_size, max_overflow=0)


def session_factory(engine: Engine) -> sessionmaker[Session]:
    """Sessions that keep loaded attributes after commit (responses read them afterwards)."""
    return sessionmaker(engine, expire_on_commit=False)


def read_session_factory(engine: Engine) -> sessionmaker[Session]:
    """Sessions for requests that only read, with no transaction around their statements.

    On a database server each statement then runs on its own (autocommit), seeing what was
    committed when it started: no ``BEGIN`` and ``ROLLBACK`` round trips around the busiest
    requests. SQLite's driver opens no transaction for reads anyway, so there these are the
    plain sessions. Such a session must not write.
    """
    if engine.dialect.name == "sqlite":
        return session_factory(engine)
    return session_factory(engine.execution_options(isolation_level="AUTOCOMMIT"))


@contextmanager
def transaction(factory: sessionmaker[Session]) -> Iterator[Session]:
    """A session committed on success and rolled back on any error."""
    with factory() as session, session.begin():
        yield session


def migrate(engine: Engine) -> None:
    """Upgrade the database behind ``engine`` to the latest Alembic revision."""
    from alembic import command
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    sqlite = engine.dialect.name == "sqlite"
    with engine.connect() as connection:
        if sqlite:  # batch migrations recreate tables: cascades must not fire meanwhile
            connection.exec_driver_sql("PRAGMA foreign_keys=OFF")
            connection.commit()
        with connection.begin():
            config.attributes["connection"] = connection
            command.upgrade(config, "head")
        if sqlite:
            connection.exec_driver_sql("PRAGMA foreign_keys=ON")
            connection.commit()
