"""Login, tokens, roles and account management through the HTTP API."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from servers import PASSWORD, Server
from sqlalchemy import text

from serving.auth import create_token
from serving.db import make_engine


def test_login_returns_a_token_that_identifies_the_user(server: Server) -> None:
    me = server.client.get("/api/auth/me", headers=server.headers("pat"))
    assert me.status_code == 200
    assert me.json()["username"] == "pat"
    assert me.json()["role"] == "patrol"
    assert me.json()["unit"] == "Unit 7"
    assert "password_hash" not in me.json()


def test_wrong_password_and_missing_or_forged_token_get_401(server: Server) -> None:
    bad = server.client.post("/api/auth/token", data={"username": "pat", "password": "nope-nope"})
    assert bad.status_code == 401
    assert server.client.get("/api/auth/me").status_code == 401
    forged = {"Authorization": "Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.x"}
    assert server.client.get("/api/auth/me", headers=forged).status_code == 401
    # a well-signed, unexpired token of a user who does not exist
    ghost, _ = create_token(99_999, server.settings.signing_key(), ttl_min=5)
    for path in ("/api/auth/me", "/api/suspects"):
        answer = server.client.get(path, headers={"Authorization": f"Bearer {ghost}"})
        assert answer.status_code == 401, path


def test_only_admins_manage_users(server: Server) -> None:
    body = {"username": "newbie", "password": "long-enough-1", "role": "patrol", "unit": "Unit 9"}
    for who in ("ana", "pat", "rita", "pia"):
        response = server.client.post("/api/users", json=body, headers=server.headers(who))
        assert response.status_code == 403, who
        assert "may not" in response.json()["detail"]
    created = server.client.post("/api/users", json=body, headers=server.headers("admin"))
    assert created.status_code == 201
    listed = server.client.get("/api/users", headers=server.headers("admin")).json()
    assert "newbie" in [u["username"] for u in listed["data"]]
    again = server.client.post("/api/users", json=body, headers=server.headers("admin"))
    assert again.status_code == 409


def test_deactivated_user_is_locked_out_at_once(server: Server) -> None:
    pat_headers = server.headers("pat")
    admin = server.headers("admin")
    users = server.client.get("/api/users", headers=admin).json()["data"]
    pat_id = next(u["id"] for u in users if u["username"] == "pat")
    assert server.client.get("/api/suspects", headers=pat_headers).status_code == 200
    assert (
        server.client.patch(
            f"/api/users/{pat_id}", json={"active": False}, headers=admin
        ).status_code
        == 200
    )
    assert server.client.get("/api/auth/me", headers=pat_headers).status_code == 401
    # the suspect list reads the user with the plots' revision, by a statement of its own
    assert server.client.get("/api/suspects", headers=pat_headers).status_code == 401
    login = server.client.post("/api/auth/token", data={"username": "pat", "password": PASSWORD})
    assert login.status_code == 401


def test_bad_account_bodies_get_422_and_create_nothing(server: Server) -> None:
    admin = server.headers("admin")
    for body in (
        {"username": "x y", "password": "long-enough-1", "role": "patrol"},
        {"username": "shorty", "password": "short", "role": "patrol"},
        {"username": "boss", "password": "long-enough-1", "role": "boss"},
    ):
        assert server.client.post("/api/users", json=body, headers=admin).status_code == 422
    names = [u["username"] for u in server.client.get("/api/users", headers=admin).json()["data"]]
    assert not {"x y", "shorty", "boss"} & set(names)


def test_units_are_the_active_patrols_units_with_their_members(server: Server) -> None:
    admin = server.headers("admin")

    def create(username: str, role: str, unit: str) -> int:
        body = {"username": username, "password": "long-enough-1", "role": role, "unit": unit}
        response = server.client.post("/api/users", json=body, headers=admin)
        assert response.status_code == 201, response.text
        user_id: int = response.json()["id"]
        return user_id

    create("pam", "patrol", "Unit 7")
    gone = create("gus", "patrol", "Unit 9")
    retired = create("ret", "patrol", "Unit 3")  # the only member of Unit 3
    create("nob", "patrol", "")  # a patrol not yet in a unit
    create("pio", "pilot", "Drone team 2")  # pilots' units are not patrol units
    for user_id in (gone, retired):
        off = server.client.patch(f"/api/users/{user_id}", json={"active": False}, headers=admin)
        assert off.status_code == 200
    everyone = [{"name": "Unit 7", "members": 2}, {"name": "Unit 9", "members": 1}]
    for who in ("admin", "ana"):
        response = server.client.get("/api/units", headers=server.headers(who))
        assert response.status_code == 200, response.text
        assert response.json() == {"data": everyone, "count": 2}, who
    # A patrol sees its own unit only; a patrol without a unit sees none.
    own = server.client.get("/api/units", headers=server.headers("pete")).json()
    assert own == {"data": [{"name": "Unit 9", "members": 1}], "count": 1}
    nob = server.client.post(
        "/api/auth/token", data={"username": "nob", "password": "long-enough-1"}
    )
    nob_headers = {"Authorization": f"Bearer {nob.json()['access_token']}"}
    assert server.client.get("/api/units", headers=nob_headers).json() == {"data": [], "count": 0}
    for who in ("pia", "rita"):
        assert server.client.get("/api/units", headers=server.headers(who)).status_code == 403
    assert server.client.get("/api/units").status_code == 401


def test_admin_changes_are_audited_and_the_log_cannot_be_rewritten(server: Server) -> None:
    admin = server.headers("admin")
    body = {"username": "audited", "password": "long-enough-1", "role": "analyst"}
    assert server.client.post("/api/users", json=body, headers=admin).status_code == 201
    engine = make_engine(server.settings.resolved_database_url())
    try:
        with engine.connect() as connection:
            rows = connection.execute(
                text("SELECT username, action FROM audit_events WHERE action = 'user.create'")
            ).all()
        assert ("admin", "user.create") in [tuple(r) for r in rows]
        for statement in (
            "UPDATE audit_events SET username = 'mallory'",
            "DELETE FROM audit_events",
        ):
            try:
                with engine.begin() as connection:
                    connection.execute(text(statement))
            except Exception as exc:  # the database refuses: sqlite3 or psycopg error
                assert "append-only" in str(exc)
            else:
                raise AssertionError(f"{statement!r} was allowed")
    finally:
        engine.dispose()


def test_openapi_documents_every_route(server: Server) -> None:
    schema = server.client.get("/openapi.json").json()
    assert schema["info"]["title"] == "poppyscan"
    for path in ("/api/auth/token", "/api/users", "/api/units"):
        assert path in schema["paths"]
    assert server.client.get("/api/health").json()["status"] == "ok"


def test_cli_user_create_makes_the_first_admin(tmp_path: Path) -> None:
    cmd = [
        sys.executable,
        "-m",
        "serving.cli",
        "user",
        "create",
        "chief",
        "--role",
        "admin",
        "--password-stdin",
        "--data-dir",
        str(tmp_path / "data"),
    ]
    done = subprocess.run(cmd, input="long-enough-1\n", capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "created admin 'chief'" in done.stdout
    again = subprocess.run(
        cmd, input="long-enough-1\n", capture_output=True, text=True, timeout=120
    )
    assert again.returncode == 2
    assert again.stderr.strip() == "poppyscan: error: user 'chief' already exists"
