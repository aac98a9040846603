"""Server fixtures: an app per test on SQLite and, when a server is reachable, PostgreSQL.

Every test that takes ``db_url`` (directly or through ``server``) runs once per database.
PostgreSQL tests get a fresh database on 127.0.0.1:5432 (trust auth, as on the CI machine)
and drop it afterwards. They are skipped when no server answers, unless
``POPPYSCAN_REQUIRE_POSTGRES=1`` (set by ``.ci/run``) makes that a failure.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from servers import Server, add_people, make_settings, postgres_database

from serving.app import create_app


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh, empty database URL of each kind."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'db' / 'poppyscan.db'}"
    else:
        yield from postgres_database()


@pytest.fixture
def server(tmp_path: Path, db_url: str) -> Iterator[Server]:
    """A fresh server (migrated database, the people of :data:`PEOPLE`), no worker."""
    settings = make_settings(tmp_path, db_url)
    app = create_app(settings)
    add_people(settings)
    with TestClient(app) as client:
        yield Server(client, settings)
