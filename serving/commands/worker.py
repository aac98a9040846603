"""`poppyscan worker` — run scan jobs in a process of their own (scale-out, or beside
``poppyscan serve --no-worker``)."""

from __future__ import annotations

import argparse
import signal
import threading
from types import FrameType
from typing import Any

from serving.commands.serve import add_data_dir_argument, settings_from

HELP = "run queued scan jobs (a worker process beside the server)"
DESCRIPTION = """\
Run the server's queued scan jobs in this process, one at a time, until stopped. Start as
many workers as the machines have cores for: each needs the server's database
(DATABASE_URL, or the SQLite file in --data-dir on the same machine) and its storage
(--data-dir, or POPPYSCAN_STORAGE_DIR on a shared file system).

A worker that is killed loses nothing: its job's heartbeat stops, and after
POPPYSCAN_JOB_LEASE_S seconds (default 60) another worker starts the job again; the
database never holds half a job's results. Ctrl-C or SIGTERM stops a worker cleanly: the
scan halts and its job goes back to the queue at once.

examples:
  poppyscan worker --data-dir /srv/poppyscan
  DATABASE_URL=postgresql://poppyscan@db/poppyscan POPPYSCAN_STORAGE_DIR=/mnt/flights \\
      poppyscan worker
  poppyscan worker --exit-when-idle        # drain the queue, then exit
"""


def add_parser(verbs: Any) -> None:
    """Register ``worker`` on the ``poppyscan`` parser."""
    parser = verbs.add_parser(
        "worker",
        help=HELP,
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_data_dir_argument(parser)
    parser.add_argument(
        "--exit-when-idle",
        action="store_true",
        help="exit once no job is queued instead of waiting for more",
    )
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Run jobs until stopped; a signal stops the worker cleanly."""
    from serving.worker import run_worker

    settings = settings_from(args)
    stopping = threading.Event()

    def stop(_signum: int, _frame: FrameType | None) -> None:
        stopping.set()

    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, stop)
    print("poppyscan: scan worker running (Ctrl-C to stop)", flush=True)
    count = run_worker(settings, stopping, exit_when_idle=args.exit_when_idle)
    print(f"poppyscan: scan worker stopped after {count} job(s)", flush=True)
    return 0
