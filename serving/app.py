"""The FastAPI application factory.

``create_app(settings)`` builds one self-contained server: it migrates the database to the
latest schema on start, mounts the routes, and (by default) runs scan jobs on an embedded
worker thread. Tests create as many independent apps as they like, each with its own data
directory and database.
"""

from __future__ import annotations

import inspect
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from detector.errors import PoppyscanError
from serving.config import Settings
from serving.db import make_engine, migrate, read_session_factory, session_factory
from serving.plot_counts import PlotCounts, SuspectPages
from serving.routes import (
    audit,
    auth,
    campaigns,
    exports,
    flights,
    jobs,
    ledger,
    patrol_routes,
    plots,
    stats,
    tiles,
    ui,
    units,
    uploads,
    users,
)

DESCRIPTION = """\
Drone teams upload orthomosaics; scan jobs find suspected opium poppy and cannabis plots;
analysts review them; patrols verify and report eradication; everyone sees who did what.

Log in at `POST /api/auth/token` (username and password form) and send the token as
`Authorization: Bearer <token>`. Roles: admin, analyst, pilot, patrol, researcher.
"""

TAGS = [
    {"name": "login", "description": "Tokens and the current user."},
    {"name": "users", "description": "Accounts and roles (admins); patrol units."},
    {"name": "audit", "description": "The append-only log of who did what, when and where."},
    {"name": "uploads", "description": "Resumable, chunked flight uploads."},
    {"name": "flights", "description": "Orthomosaics on the server and their metadata."},
    {"name": "jobs", "description": "Durable scan jobs: progress, cancel, retry."},
    {"name": "suspects", "description": "Suspected plots, review, dispatch, patrol reports."},
    {"name": "exports", "description": "GeoJSON, KML, GPX and CSV for any filtered set."},
    {"name": "campaigns", "description": "Campaigns, seasons, grid cells, coverage, revisits."},
    {"name": "ledger", "description": "Close-out ledger per cell and town (CSV, XLSX, HTML)."},
    {"name": "statistics", "description": "Counts per cell, town, period and model version."},
    {"name": "patrol routes", "description": "Route planning and printable dispatch sheets."},
]


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the poppyscan server for ``settings`` (environment variables when None)."""
    settings = settings or Settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        worker = None
        if settings.embedded_worker:
            from serving.worker import EmbeddedWorker

            worker = EmbeddedWorker(settings, app.state.sessions)
            worker.start()
        try:
            yield
        finally:
            if worker is not None:
                worker.stop()
            app.state.engine.dispose()

    app = FastAPI(
        **_no_telemetry(),
        title="poppyscan",
        description=DESCRIPTION,
        version=_version(),
        openapi_tags=TAGS,
        lifespan=lifespan,
    )
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    settings.storage_root().mkdir(parents=True, exist_ok=True)
    engine = make_engine(settings.resolved_database_url(), pool_size=settings.db_pool_size)
    migrate(engine)
    app.state.settings = settings
    app.state.engine = engine
    app.state.sessions = session_factory(engine)
    app.state.read_sessions = read_session_factory(engine)
    app.state.plot_counts = PlotCounts()
    app.state.suspect_pages = SuspectPages()

    for module in (
        auth,
        users,
        units,
        uploads,
        flights,
        jobs,
        plots,
        exports,
        campaigns,
        ledger,
        stats,
        patrol_routes,
        tiles,
        audit,
        ui,
    ):
        app.include_router(module.router)

    @app.exception_handler(PoppyscanError)
    async def _bad_input(_request: Request, exc: PoppyscanError) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=422)

    @app.get("/api/health", tags=["login"], summary="Liveness and versions")
    def health() -> dict[str, str]:
        return {"status": "ok", "version": _version(), "database": engine.dialect.name}

    return app


def _no_telemetry() -> dict[str, Any]:
    """Turn FastAPI's native OpenTelemetry off where it exists: nothing leaves the machine,
    whatever ``FASTAPI_OTEL_AUTO_CONFIGURE`` says."""
    if "telemetry" not in inspect.signature(FastAPI).parameters:
        return {}
    off = {"tracing": False, "metrics": False, "logs": False, "operation_spans": False}
    return {"telemetry": {**off, "auto_configure": False}}


def _version() -> str:
    from detector.provenance import software_version

    return software_version()
