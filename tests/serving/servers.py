"""Test servers: settings under a temporary directory, the people who use them, logins."""

from __future__ import annotations

import functools
import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from fastapi.testclient import TestClient

from serving.auth import hash_password
from serving.config import Settings
from serving.db import make_engine, session_factory, transaction
from serving.models import User

PG_ADMIN_URL = os.environ.get("POPPYSCAN_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")

PASSWORD = "correct-horse-7"
# username -> (role, unit)
PEOPLE = {
    "admin": ("admin", ""),
    "ana": ("analyst", ""),
    "pia": ("pilot", "Drone team 1"),
    "pat": ("patrol", "Unit 7"),
    "pete": ("patrol", "Unit 9"),
    "rita": ("researcher", ""),
}


@dataclass
class Server:
    """A running app, its test client and settings, with one logged-in client per person."""

    client: TestClient
    settings: Settings

    tokens: dict[str, str] = field(default_factory=dict)

    def headers(self, username: str) -> dict[str, str]:
        """Authorization header for one of :data:`PEOPLE` (logged in through the API once per
        server: argon2 makes every login cost ~0.1 s of CPU)."""
        if username not in self.tokens:
            response = self.client.post(
                "/api/auth/token", data={"username": username, "password": PASSWORD}
            )
            assert response.status_code == 200, response.text
            self.tokens[username] = response.json()["access_token"]
        return {"Authorization": f"Bearer {self.tokens[username]}"}


def make_settings(tmp_path: Path, db_url: str, **overrides: object) -> Settings:
    """Settings for a test server under ``tmp_path`` (no worker unless asked for)."""
    values: dict[str, object] = {
        "data_dir": tmp_path / "data",
        "database_url": db_url,
        "embedded_worker": False,
        "secret_key": "test-signing-key-0123456789abcdef",
    }
    values.update(overrides)
    return Settings(**values)  # type: ignore[arg-type]


@functools.cache
def _password_hash() -> str:
    return hash_password(PASSWORD)


def add_people(settings: Settings) -> None:
    """Create every account in :data:`PEOPLE` with :data:`PASSWORD` (hashed once per run)."""
    engine = make_engine(settings.resolved_database_url())
    try:
        with transaction(session_factory(engine)) as session:
            for username, (role, unit) in PEOPLE.items():
                session.add(
                    User(username=username, role=role, unit=unit, password_hash=_password_hash())
                )
    finally:
        engine.dispose()


@contextmanager
def database(kind: str, folder: Path) -> Iterator[str]:
    """A fresh database URL of ``kind`` (``sqlite`` under ``folder``, or ``postgresql``),
    dropped afterwards; for module-scoped servers that build their data once."""
    if kind == "sqlite":
        yield f"sqlite:///{folder / 'db' / 'poppyscan.db'}"
    else:
        yield from postgres_database()


def postgres_database() -> Iterator[str]:
    """Yield the URL of a fresh PostgreSQL database, dropped afterwards.

    Skips when no server answers, unless ``POPPYSCAN_REQUIRE_POSTGRES=1`` (set by
    ``.ci/run``) makes that a failure.
    """
    import psycopg
    import pytest

    name = f"poppyscan_t_{uuid.uuid4().hex[:12]}"
    try:
        admin = psycopg.connect(PG_ADMIN_URL, autocommit=True, connect_timeout=3)
    except psycopg.OperationalError as exc:
        if os.environ.get("POPPYSCAN_REQUIRE_POSTGRES") == "1":
            pytest.fail(f"PostgreSQL required but unreachable at {PG_ADMIN_URL}: {exc}")
        pytest.skip(f"no PostgreSQL server at {PG_ADMIN_URL}")
    with admin:
        admin.execute(f'CREATE DATABASE "{name}"')
        try:
            yield PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
        finally:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
