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
3. **Server.** ``python -m serving.cli serve --workers N`` (``--api-workers``, default 2) as
   a subprocess, with the scan worker process it starts;
   an analyst (who lists) and a pilot (who uploads) made with ``python -m serving.cli user
   create --password-stdin``; each logs in once. Each request kind is timed once more over
   HTTP by a single client on the idle server (median of 10): the service time of one
   request with nothing else running.
4. **Scan.** ``python -m serving.cli synth DIR --seed 3 --size 8192 --gsd 0.04`` (kept in
   ``--cache`` between runs) is uploaded (``POST /api/flights``); the load starts once
   ``/api/jobs/{id}`` says the scan is ``running``, and a monitor polls the job every
   0.5 s until the load ends.
5. **Load.** ``--clients`` (50) asyncio clients, each with its own keep-alive connection
   (``apiload.wire.WireClient``, a lean GET client) and bearer token, loop for
   ``--seconds`` (30) or until ``--requests`` in all, over a weighted mix of
   ``GET /api/suspects`` requests: ``status`` (one or two statuses, limit 50, offsets
   0-500), ``bbox`` (a 1 km x 0.8 km map view, limit 100), ``class+conf`` (class and
   min_confidence, limit 50), ``flight`` (flight_id, limit 100, offsets 0-1900),
   ``status+bbox`` (suspect/dispatched in a 3 km view, limit 100) and ``page`` (no filter,
   limit 50, offsets 0-2000). A latency is the time from sending the request to having read
   the whole body, milliseconds; any non-2xx answer or exception is an error.
   ``--think-ms`` adds a pause between a client's requests (default 0: every client sends
   its next request as soon as it has the last answer).

The bar is judged on all load requests together: p95 < 200 ms and zero errors; the script
exits 1 when it fails. The clients run in this process, on the same two cores as the server,
its scan worker and whatever else runs: the header prints the load average, and the notes
give the CPU the server's processes (API and scan worker) and the clients used during the
load (API processes, scan worker, and with PostgreSQL every postgres process),
the queueing check of Little's law (clients / throughput against the measured mean
latency), the floor every request pays (``GET /api/auth/me``) and each kind's query plan.
Options for experiments: ``--no-scan`` (control: no scan during the load), ``--think-ms``,
``--flight-size`` (default 8192 px, 1024 tiles: the scan outlasts the 30 s window).

Usage::

    python benchmarks/api_load.py                         # SQLite, 50 clients, 30 s
    python benchmarks/api_load.py \
        --database-url postgresql://postgres@127.0.0.1:5432/poppyscan_api_load
    python benchmarks/api_load.py --api-workers 2         # two API processes
    python benchmarks/api_load.py --seconds 10 --clients 10 --plots 20000   # quicker

Measured here on 2026-11-22 (second session), defaults unless named, 0 errors in every
run, bar FAIL in every run; ``API`` is ``--api-workers``, ``scan`` says whether the scan job
was ``running`` for the whole load window::

    | run                   | requests | p50 ms | p95 ms | p99 ms | req/s | scan          |
    | SQLite, API 1, before |      771 |   1914 |   3038 |   3923 |  24.4 | yes           |
    | SQLite, API 1         |     1531 |    877 |   1762 |   2722 |  50.0 | no, to 20.7 s |
    | SQLite, API 2         |     2129 |    596 |   1486 |   2150 |  69.8 | yes           |
    | PostgreSQL 15, API 2  |     1689 |    731 |   1883 |   2627 |  55.1 | yes           |
    | SQLite, API 2, cache  |     2234 |    536 |   1471 |   3022 |  73.5 | yes           |
    | PostgreSQL, API 2, c. |     2244 |    542 |   1418 |   2887 |  73.9 | no, to 27.6 s |

"Before" is the first run of the session, with the schema of migration 0002, the
list built through ORM objects and pydantic models, and the scan on a thread of the API
process. What changed, in order of effect: the list is encoded straight from Core rows
(``serving.suspect_list``: 50-100 features cost ~1-2 ms instead of ~10-20 ms); a spatial
index on the bounding boxes (SQLite R*Tree, PostgreSQL GiST; ``bbox`` SQL 13 -> 5-7 ms) and
an index for the unfiltered confidence order (``page`` SQL 52 -> 2 ms); the scan runs in a
worker process of its own at nice 10, and ``--workers 2`` runs two API processes; last
("cache" rows), the list's ``total`` is cached per filter until the data's revision changes
(``serving.plot_counts``; PostgreSQL's exact counts cost 13-31 ms). This machine was about
3x slower per core than the one earlier sessions measured on (``GET /api/auth/me`` 1.8 ms
then, 5-7 ms now).

Measured again on 2026-12-04 (third session, another 2-core machine), ``--api-workers 2
--flight-size 6144`` (the scan runs for the whole window), 0 errors, bar FAIL::

    | run                    | requests | p50 ms | p95 ms | p99 ms | req/s | scan |
    | SQLite, no page cache  |     4883 |    253 |    679 |   1068 | 161.1 | yes  |
    | SQLite                 |     4978 |    249 |    650 |   1053 | 164.9 | yes  |
    | PostgreSQL, no p. c.   |     3649 |    372 |    720 |   1075 | 120.6 | yes  |
    | PostgreSQL             |     4035 |    334 |    646 |   1113 | 133.5 | yes  |

and with ``--think-ms 1000 --flight-size 12288`` (an analyst's pace): 1393 requests, p50
18 ms, p95 173 ms, p99 1221 ms, 44.9 req/s, scan running throughout, bar PASS. The page
cache (whole encoded pages kept per query, role and unit until the plots' revision changes)
is worth 2 % on SQLite and 11 % on PostgreSQL: the map's random views never repeat.

Latest figures (2026-12-05, fifth session: SQLite p95 82-85 ms at 885-900 req/s, PostgreSQL
196 ms at 533 req/s, bar PASS) are in ``benchmarks/README.md`` and the README.

Measured on 2026-12-05 (fourth session), ``--api-workers 2 --flight-size 6144``, 0 errors,
bar FAIL in every run; this session's clients are ``apiload.wire`` (httpx had taken ~4 ms
of CPU per request from the same two cores)::

    | run                        | requests | p50 ms | p95 ms | p99 ms | req/s | scan |
    | SQLite, best of 5          |    11240 |    127 |    211 |    275 | 372.5 | yes  |
    | SQLite, worst of 5         |     9805 |    108 |    321 |    447 | 323.4 | yes  |
    | PostgreSQL                 |     4641 |    262 |    794 |   1099 | 153.1 | yes  |

and ``--think-ms 1000 --flight-size 12288``: 1500 requests, p50 9 ms, p95 33 ms, p99 75
ms, 48.6 req/s, bar PASS. ``benchmarks/README.md`` has the changes behind these and what is
left. The paragraph below is the third session's analysis (its figures are that session's).

Why it still fails: latency is queueing. With 50 clients that never pause, Little's law
gives latency = 50 / throughput (680 ms at 73.5 req/s; measured mean 642 ms), and the
throughput is capped by CPU: the server (API processes + scan worker) used 1.5-1.7 cores
at 24-30 ms of CPU per request, scan included, and the clients the rest (~0.3 core). On one
idle client a request costs 8-16 ms of wall time (``status+bbox`` 47 ms), of which SQL is
3-12 ms (``status+bbox`` ~60 ms: a 3 km view holds ~10,000 plots and both queries visit
each), and FastAPI's own floor (token check, user lookup, dependency and thread-pool
hops; ``GET /api/auth/me``) 5-7 ms. p95 < 200 ms at this concurrency needs more than 250
req/s, i.e. at most ~5 ms of CPU per request on these 2 cores: less than the framework's
floor alone. On PostgreSQL the exact ``total`` counts are the largest SQL cost (the
unfiltered count 25 ms, per-status 15 ms).
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
    cpu_by_part,
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
        "--api-workers",
        type=int,
        default=2,
        help="API processes, `serve --workers` (2: one per core, as the README advises)",
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
        "--flight-size",
        type=int,
        default=8192,
        help="the live scan's flight, px (8192: 1024 tiles, a scan that outlasts the load)",
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
        cpu_server0, cpu_client0 = cpu_by_part(server.process.pid), time.process_time()
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
        cpu_server1, cpu_client1 = cpu_by_part(server.process.pid), time.process_time()
        load_after = os.getloadavg()

    server_cpu_s = {part: cpu_server1[part] - cpu_server0[part] for part in cpu_server1}
    if database_url is None:
        del server_cpu_s["postgres"]
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
