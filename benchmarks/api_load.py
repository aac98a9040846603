"""API load benchmark: 50 concurrent clients on the suspect list while a scan runs.

The issue's bar (#4): a bounded load on loopback — 50 concurrent clients listing and
filtering suspects over a database of 100,000 plots while a scan runs — answers the suspect
list with a p95 latency under 200 ms and no errors, on this 2-core machine.

What it does, in order:

1. **Database.** A fresh data directory and database: SQLite under the data directory (the
   embedded default) or, with ``--database-url postgresql://USER@HOST:PORT/NAME``, a
   PostgreSQL database NAME that this script creates (it refuses an existing one) and drops
   at the end. The schema comes from the server's own migrations. 20 flights of 1.6 km x
   1.6 km (5 x 4, 2 km apart, in one valley at about 104.3 E 20.4 N), each with a finished
   scan job, and 100,000 plots spread over them (70 % in village clusters, 30 % scattered):
   irregular hexagons of 2-20 m whose bounding box and centroid columns are computed from
   the stored geometry, classes poppy/cannabis (80/20), confidences, and statuses across
   the whole lifecycle (new, suspect, dismissed, dispatched with a unit, positive,
   false_alarm, eradicated with a revisit date, closed). Every plot gets 1-3 plant
   detections (its ``plant_count``), so the detections table holds about twice as many
   rows. Rows go in with SQLAlchemy Core ``executemany`` in batches (seconds, not minutes).
   PostgreSQL is then ``ANALYZE``d (what autovacuum does shortly after a bulk load); SQLite
   is left without ``sqlite_stat1``, as the server never runs ``ANALYZE`` on it.
2. **SQL alone.** Each request kind's page query and count query, built with the server's
   own ``serving.plot_queries``, timed directly on the database (median of 5, no HTTP), with
   the database's query plan in one line.
3. **Server.** ``python -m serving.cli serve`` as a subprocess with its embedded scan worker;
   an analyst (who lists) and a pilot (who uploads) made with ``python -m serving.cli user
   create --password-stdin``; each logs in once. Each request kind is timed once more over
   HTTP by a single client on the idle server (median of 10): the service time of one
   request with nothing else running.
4. **Scan.** ``python -m serving.cli synth DIR --seed 3 --size 4096 --gsd 0.04`` (kept in
   ``--cache`` between runs) is uploaded (``POST /api/flights``); the load starts once
   ``/api/jobs/{id}`` says the scan is ``running``, and a monitor polls the job every
   0.5 s until the load ends.
5. **Load.** ``--clients`` (50) asyncio clients, each with its own ``httpx.AsyncClient``
   (one keep-alive connection) and bearer token, loop for ``--seconds`` (30) or until
   ``--requests`` in all, over a weighted mix of ``GET /api/suspects`` requests:
   ``status`` (one or two statuses, limit 50, offsets 0-500), ``bbox`` (a 1 km x 0.8 km
   map view, limit 100), ``class+conf`` (class and min_confidence, limit 50), ``flight``
   (flight_id, limit 100, offsets 0-1900), ``status+bbox`` (suspect/dispatched in a 3 km
   view, limit 100) and ``page`` (no filter, limit 50, offsets 0-2000). A latency is the
   time from sending the request to having read the whole body, milliseconds; any non-2xx
   answer or exception is an error. ``--think-ms`` adds a pause between a client's requests
   (default 0: every client sends its next request as soon as it has the last answer).

The bar is judged on all load requests together: p95 < 200 ms and zero errors; the script
exits 1 when it fails. The clients run in this process, on the same two cores as the server,
its scan worker and whatever else runs: the header prints the load average, and the notes
give the CPU the server process and the clients used during the load (with PostgreSQL the
SQL runs in postgres backends, which that figure leaves out), the queueing check of
Little's law (clients / throughput against the measured mean latency), the floor every
request pays (``GET /api/auth/me``) and each kind's query plan. Options for experiments:
``--no-scan`` (control: no scan during the load), ``--think-ms``, ``--flight-size`` (a
6144 px flight keeps the scan busy for the whole 30 s window).

Usage::

    python benchmarks/api_load.py                         # SQLite, 50 clients, 30 s
    python benchmarks/api_load.py \
        --database-url postgresql://postgres@127.0.0.1:5432/poppyscan_api_load
    python benchmarks/api_load.py --seconds 10 --clients 10 --plots 20000   # quicker

Measured here on 2026-11-22 with the defaults (100,000 plots, 50 clients, 30 s, 0 think
time), before the schema had the indexes ``(status|class_name|flight_id, confidence DESC,
id)`` on ``plots`` (see the controls below); the 2 cores were shared with a model training
run (about one core until 10:32) and a CI run, load average 3.3-4.7 before each run, so
repeated runs vary by +-30 % in throughput. Setup (bulk insert of 100,000 plots and 169,812
detections): 7.2 s on SQLite, 11.4 s on PostgreSQL; a whole run takes about 50 s.

All three runs: 50 clients for 31-32 s, 0 errors, bar FAIL (``scan`` says whether the scan
job was ``running`` for the whole load window)::

    | run                 | requests | p50 ms | p95 ms | p99 ms | max ms | req/s | scan          |
    | SQLite 10:24 (1)    |      675 |   2207 |   3652 |   4456 |   5467 |  21.0 | yes           |
    | SQLite 10:32 (2)    |     1194 |   1244 |   2071 |   2611 |   3956 |  38.4 | no, to 19.8 s |
    | PostgreSQL 10:33 (3)|      887 |   1625 |   2619 |   3857 |   4387 |  28.3 | no, to 24.3 s |

(1) training using about one core; (2) training just finished; (3) a model export started
mid-run.

Per kind (SQLite, 10:32): median idle single-client latency 15-46 ms (``flight`` 15,
``bbox`` 21, ``status`` 27, ``page`` 34, ``status+bbox`` 44, ``class+conf`` 46), of which
the SQL alone (page + count query) is 7-41 ms and ``GET /api/auth/me`` 1.8 ms. Every
page query sorts all the rows its filter matches (SQLite: ``USE TEMP B-TREE FOR ORDER BY``;
PostgreSQL: ``Sort``, with a ``Seq Scan`` for class+conf and the unfiltered page).

Why it fails: latency is queueing. With 50 clients that never pause, Little's law gives
latency = 50 / throughput (1.30 s at 38.4 req/s; measured mean 1.26 s), and throughput is
capped by CPU: on SQLite the server process used 1.0-1.6 cores (all that the other jobs
left) at 34-47 ms of CPU per request, scan included (38 ms without it). p95 < 200 ms at
this concurrency needs more than 250 req/s (50 clients / 0.2 s, and p95 lies above the
mean), i.e. at most 4-6 ms of CPU per request on those cores.

Controls (SQLite, under the same training load as the 10:24 run): without the scan,
24.2 req/s and p95 3315 ms (the scan is not the limit); with those three indexes added to
the run's database (then an option of this script; the schema's migrations add them now),
29.8 req/s and p95 2656 ms (idle ``status`` 30 -> 10 ms, ``class+conf`` 47 -> 9 ms; the
page SQL of those kinds drops from ~20 ms to ~1 ms, on PostgreSQL too); ``--think-ms 2000``,
18.3 req/s and p95 1914 ms. With ``--flight-size 6144`` (10:31, as the training ended) the
scan ran the whole window: 35.0 req/s, p95 2343 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [p for p in (str(REPO), str(REPO / "benchmarks")) if p not in sys.path]

from apiload.clients import Kind, idle_service, request_kinds, run_load  # noqa: E402
from apiload.data import Area, build_database, postgres_database  # noqa: E402
from apiload.report import print_report  # noqa: E402
from apiload.server import (  # noqa: E402
    cpu_seconds,
    create_accounts,
    log_in,
    running_server,
    server_env,
    synthetic_flight,
    upload,
    wait_running,
)
from apiload.sql import profile_sql  # noqa: E402
from serving.config import Settings  # noqa: E402
from serving.db import make_engine  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    """Build the database, start the server and a scan, load it, print the tables; exit 1
    if the bar fails."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=50, help="concurrent clients (50)")
    parser.add_argument("--seconds", type=float, default=30.0, help="load duration, s (30)")
    parser.add_argument(
        "--requests", type=int, default=0, help="stop after this many requests (0: no limit)"
    )
    parser.add_argument(
        "--think-ms", type=float, default=0.0, help="pause between a client's requests, ms (0)"
    )
    parser.add_argument(
        "--api-workers", type=int, default=1, help="API processes, `serve --workers` (1)"
    )
    parser.add_argument("--plots", type=int, default=100_000, help="plots in the database")
    parser.add_argument("--flights", type=int, default=20, help="flights they belong to (20)")
    parser.add_argument(
        "--database-url",
        default=None,
        help="postgresql://USER@HOST:PORT/NAME: create NAME, run there, drop it "
        "(default: SQLite in the data directory)",
    )
    parser.add_argument(
        "--flight-size", type=int, default=4096, help="the live scan's flight, px (4096)"
    )
    parser.add_argument(
        "--cache",
        type=Path,
        default=Path(tempfile.gettempdir()) / "poppyscan-api-load",
        help="where the synthetic flight is kept between runs",
    )
    parser.add_argument(
        "--no-scan",
        action="store_true",
        help="control run: no flight upload, no scan during the load (fails the bar's premise)",
    )
    parser.add_argument("--seed", type=int, default=1, help="random seed of data and mix")
    parser.add_argument(
        "--keep",
        type=Path,
        default=None,
        help="keep the data directory here (a new or empty folder)",
    )
    args = parser.parse_args(argv)
    if args.database_url and not args.database_url.startswith(("postgresql://", "postgres://")):
        parser.error("--database-url must be a postgresql:// URL (SQLite is the default)")
    if args.keep is not None and args.keep.exists() and any(args.keep.iterdir()):
        parser.error(f"--keep {args.keep} is not empty")

    area = Area(args.flights)
    kinds = request_kinds(area)
    load_before = os.getloadavg()
    tmp = tempfile.mkdtemp(prefix="poppyscan-api-load-")
    try:
        workdir = args.keep or Path(tmp)
        data_dir = workdir / "data"
        data_dir.mkdir(parents=True, exist_ok=True)
        with (
            postgres_database(args.database_url) if args.database_url else _nothing(None)
        ) as database_url:
            return _run(args, area, kinds, data_dir, database_url, load_before)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


@contextmanager
def _nothing(value: str | None) -> Iterator[str | None]:
    yield value


def _run(
    args: argparse.Namespace,
    area: Area,
    kinds: list[Kind],
    data_dir: Path,
    database_url: str | None,
    load_before: tuple[float, float, float],
) -> int:
    """Everything after the data directory (and PostgreSQL database) exist."""
    settings = Settings(data_dir=data_dir, database_url=database_url)
    engine = make_engine(settings.resolved_database_url())
    try:
        print(f"building {args.plots} plots over {args.flights} flights ...", file=sys.stderr)
        built = build_database(engine, area, args.plots, args.seed)
        print(f"built in {built.seconds:.1f} s; timing SQL ...", file=sys.stderr)
        sql = profile_sql(engine, kinds, args.seed)
    finally:
        engine.dispose()
    env = server_env(database_url)
    create_accounts(data_dir, env)
    raster = None if args.no_scan else synthetic_flight(args.cache, args.flight_size, env)
    with running_server(data_dir, env, args.api_workers) as server:
        analyst, pilot = log_in(server.url, "ana"), log_in(server.url, "pia")
        print("server up; idle service times ...", file=sys.stderr)
        idle = idle_service(server.url, analyst, kinds, args.seed)
        job_id = None
        if raster is not None:
            job_id = upload(server.url, pilot, raster)
            started_job = wait_running(server.url, analyst, job_id)
            print(
                f"scan job {job_id} running ({started_job['tiles_done']}/"
                f"{started_job['tiles_total']} tiles); load ...",
                file=sys.stderr,
            )
        cpu_server0, cpu_client0 = cpu_seconds(server.process.pid), time.process_time()
        load = asyncio.run(
            run_load(
                server.url,
                analyst,
                job_id,
                kinds,
                args.clients,
                args.seconds,
                args.requests,
                args.think_ms,
                args.seed,
            )
        )
        cpu_server1, cpu_client1 = cpu_seconds(server.process.pid), time.process_time()
        load_after = os.getloadavg()

    server_cpu_s = None
    if cpu_server0 is not None and cpu_server1 is not None:
        server_cpu_s = cpu_server1 - cpu_server0
    ok = print_report(
        postgresql=database_url is not None,
        built=built,
        clients=args.clients,
        think_ms=args.think_ms,
        kinds=kinds,
        sql=sql,
        idle=idle,
        load=load,
        job_id=job_id,
        server_cpu_s=server_cpu_s,
        client_cpu_s=cpu_client1 - cpu_client0,
        load_before=load_before,
        load_after=load_after,
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
