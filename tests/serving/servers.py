"""Test servers: settings under a temporary directory, the people who use them, logins."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from fastapi.testclient import TestClient

from serving.config import Settings
from serving.db import make_engine, session_factory, transaction
from serving.users import create_user

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

    def headers(self, username: str) -> dict[str, str]:
        """Authorization header for one of :data:`PEOPLE` (logs in through the API)."""
        response = self.client.post(
            "/api/auth/token", data={"username": username, "password": PASSWORD}
        )
        assert response.status_code == 200, response.text
        return {"Authorization": f"Bearer {response.json()['access_token']}"}


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


def add_people(settings: Settings) -> None:
    """Create every account in :data:`PEOPLE` with :data:`PASSWORD`."""
    engine = make_engine(settings.resolved_database_url())
    try:
        with transaction(session_factory(engine)) as session:
            for username, (role, unit) in PEOPLE.items():
                create_user(session, username, PASSWORD, role, unit=unit)
    finally:
        engine.dispose()
