"""`poppyscan serve` — run the API (and, by default, the scan worker) on this machine."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

HELP = "run the poppyscan server: API, web UI and scan worker"
DESCRIPTION = """\
Start the poppyscan server. With no options it keeps everything under ./poppyscan-data: a
SQLite database, uploaded flights, evidence chips and photos, and runs scan jobs on a worker
inside the server. Set DATABASE_URL=postgresql://user@host/db to use PostgreSQL instead, and
run more workers on other machines with `poppyscan worker`.

Create the first admin before logging in:
  poppyscan user create admin --role admin

examples:
  poppyscan serve
  poppyscan serve --host 0.0.0.0 --port 8080 --data-dir /srv/poppyscan
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
    parser.add_argument(
        "--no-worker", action="store_true", help="do not run scan jobs in this process"
    )
    parser.set_defaults(run=run)


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
    """Serve until interrupted."""
    import uvicorn

    from serving.app import create_app

    settings = settings_from(args, **({"embedded_worker": False} if args.no_worker else {}))
    app = create_app(settings)
    print(
        f"poppyscan: web UI at http://{args.host}:{args.port}/ (API docs at /docs); "
        f"data in {settings.data_dir.resolve()} ({app.state.engine.dialect.name})"
    )
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning")
    return 0
