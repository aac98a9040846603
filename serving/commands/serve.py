"""`poppyscan serve` — run the API (and, by default, the scan worker) on this machine."""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import Any

HELP = "run the poppyscan server: API, web UI and scan worker"
DESCRIPTION = """\
Start the poppyscan server. With no options it keeps everything under ./poppyscan-data: a
SQLite database, uploaded flights, evidence chips and photos, and runs scan jobs on a worker
process beside the API, at a lower CPU priority (POPPYSCAN_SCAN_NICE, default 10) so the
map stays quick during a scan. Set DATABASE_URL=postgresql://user@host/db to use PostgreSQL
instead, and run more workers on other machines with `poppyscan worker`. --workers N runs N
API processes (one per core serves most requests on a busy server); on Linux each listens on
a socket of its own, so connections spread evenly over them, and one that dies is restarted.

Create the first admin before logging in:
  poppyscan user create admin --role admin

examples:
  poppyscan serve
  poppyscan serve --host 0.0.0.0 --port 8080 --data-dir /srv/poppyscan --workers 2
  DATABASE_URL=postgresql://poppyscan@db/poppyscan poppyscan serve --no-worker
"""


def add_parser(verbs: Any) -> None:
    """Register ``serve`` on the ``poppyscan`` parser."""
    parser = verbs.add_parser(
        "serve",
        help=HELP,
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)"
    )
    parser.add_argument("--port", type=int, default=8000, help="TCP port (default 8000)")
    add_data_dir_argument(parser)
    parser.add_argument("--workers", type=_positive, default=1, help="API processes (default 1)")
    parser.add_argument(
        "--no-worker",
        action="store_true",
        help="do not start a scan worker (run `poppyscan worker` elsewhere)",
    )
    parser.set_defaults(run=run)


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def add_data_dir_argument(parser: argparse.ArgumentParser) -> None:
    """``--data-dir``, shared by every verb that opens the server's data."""
    parser.add_argument(
        "--data-dir",
        type=Path,
        default=None,
        help="database, storage and signing key (default ./poppyscan-data or $POPPYSCAN_DATA_DIR)",
    )


def settings_from(args: argparse.Namespace, **overrides: Any) -> Any:
    """Server settings from the environment, with ``--data-dir`` and ``overrides`` applied."""
    from serving.config import Settings

    if args.data_dir is not None:
        overrides["data_dir"] = args.data_dir
    return Settings(**overrides)


def run(args: argparse.Namespace) -> int:
    """Migrate the database, start the scan worker process, serve until interrupted."""
    import uvicorn

    from serving.api_processes import (
        balanced_sockets_supported,
        check_port_free,
        run_api_processes,
    )
    from serving.app import create_app
    from serving.db import make_engine, migrate
    from serving.worker_process import start_worker_process, stop_worker_process

    check_port_free(args.host, args.port)  # one clear line now, not a log line after startup
    # Scans run in the worker process, never on a thread of an API process.
    settings = settings_from(args, embedded_worker=False)
    engine = make_engine(settings.resolved_database_url())
    try:  # once, before several processes would race to create the schema
        migrate(engine)
        dialect = engine.dialect.name
    finally:
        engine.dispose()
    worker = None if args.no_worker else start_worker_process(args.data_dir)
    print(
        f"poppyscan: web UI at http://{args.host}:{args.port}/ (API docs at /docs); "
        f"data in {settings.data_dir.resolve()} ({dialect}); {args.workers} API process(es), "
        + ("no scan worker" if worker is None else f"scan worker pid {worker.pid}"),
        flush=True,
    )
    try:
        if args.workers == 1:
            uvicorn.run(create_app(settings), host=args.host, port=args.port, log_level="warning")
            return 0
        # each API process builds its app from the environment
        os.environ["POPPYSCAN_EMBEDDED_WORKER"] = "false"
        os.environ["POPPYSCAN_DATA_DIR"] = str(settings.data_dir)
        if balanced_sockets_supported():  # a socket per process: connections spread evenly
            return run_api_processes(args.workers, args.host, args.port)
        uvicorn.run(
            "serving.app:create_app",
            factory=True,
            workers=args.workers,
            host=args.host,
            port=args.port,
            log_level="warning",
        )
        return 0
    finally:
        if worker is not None:
            stop_worker_process(worker)
