"""The report: percentiles, the load table, the per-kind table, the notes and the bar.

Printed on stdout. The bar is judged on all load requests together: p95 below
:data:`BAR_P95_MS` and zero errors; a run without a scan (``--no-scan``) fails it, since the
bar's premise is a scan running during the load.
"""

from __future__ import annotations

import math
import os
import statistics
from collections.abc import Sequence

from apiload.clients import Idle, Kind, Load, Sample
from apiload.data import Built
from apiload.sql import SqlProfile

BAR_P95_MS = 200.0


def percentile(values: Sequence[float], share: float) -> float:
    """The ``share`` (0..1) percentile of ``values``, nearest rank (0 for none)."""
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[max(0, math.ceil(share * len(ordered)) - 1)]


def scan_verdict(job_log: list[tuple[float, str, int, int]], seconds: float) -> tuple[bool, str]:
    """Whether the scan ran for the whole load window, and a line saying how it went."""
    if not job_log:
        return False, "no job polls"
    first, last = job_log[0], job_log[-1]
    stopped = next((e for e in job_log if e[1] != "running"), None)
    if stopped is None:
        return True, (
            f"running throughout: tiles {first[2]}/{first[3]} at 0 s, "
            f"{last[2]}/{last[3]} at {last[0]:.1f} s"
        )
    return False, (
        f"running at the start (tiles {first[2]}/{first[3]}), {stopped[1]} at "
        f"{stopped[0]:.1f} s of {seconds:.1f} s (tiles {stopped[2]}/{stopped[3]})"
    )


def stats_row(samples: list[Sample]) -> tuple[int, int, float, float, float, float]:
    """Requests, errors, p50, p95, p99, max latency (ms) of ``samples``."""
    ms = [s.ms for s in samples]
    errors = sum(1 for s in samples if s.error)
    return (
        len(samples),
        errors,
        percentile(ms, 0.50),
        percentile(ms, 0.95),
        percentile(ms, 0.99),
        max(ms, default=0.0),
    )


def print_report(
    *,
    postgresql: bool,
    built: Built,
    clients: int,
    think_ms: float,
    kinds: list[Kind],
    sql: dict[str, SqlProfile],
    idle: Idle,
    load: Load,
    job_id: int | None,
    server_cpu_s: dict[str, float],
    client_cpu_s: float,
    load_before: tuple[float, float, float],
    load_after: tuple[float, float, float],
) -> bool:
    """Print the header, the tables, the notes and the bar; whether the bar passes.

    Args:
        postgresql: The run's database is PostgreSQL (else the embedded SQLite).
        built: What the bulk insert put in the database.
        clients: Concurrent clients of the load.
        think_ms: Pause between a client's requests, milliseconds.
        kinds: The request mix.
        sql: Each kind's queries on the database alone.
        idle: Each kind's service time on the idle server.
        load: The load's samples and the scan job's polls.
        job_id: The scan job during the load (None: a run without a scan).
        server_cpu_s: CPU seconds each part of the server used during the load
            (``apiload.server.CPU_PARTS``; PostgreSQL only on its runs).
        client_cpu_s: CPU seconds this process (the clients) used during the load.
        load_before: Load average before the measurements.
        load_after: Load average after the load.
    """
    dialect = "PostgreSQL" if postgresql else "SQLite (embedded default)"
    n, errors, p50, p95, p99, worst = stats_row(load.samples)
    rate = n / load.seconds if load.seconds else 0.0
    scan_ok, scan_line = scan_verdict(load.job_log, load.seconds)
    ok = n > 0 and errors == 0 and p95 < BAR_P95_MS
    print(
        f"\n{dialect}: {built.plots:,} plots, {built.detections:,} detections, "
        f"{built.flights} flights, built in {built.seconds:.1f} s; {os.cpu_count()} CPUs, "
        f"load average {load_before[0]:.2f} before, {load_after[0]:.2f} after\n"
    )
    print(
        "| clients | s | requests | errors | p50 ms | p95 ms | p99 ms | max ms | req/s "
        f"| scan running throughout | bar (p95 < {BAR_P95_MS:.0f} ms, 0 errors) |"
    )
    print("| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- | --- |")
    print(
        f"| {clients} | {load.seconds:.1f} | {n} | {errors} | {p50:.0f} | {p95:.0f} | "
        f"{p99:.0f} | {worst:.0f} | {rate:.1f} | {'yes' if scan_ok else 'no'} | "
        f"{'PASS' if ok else 'FAIL'} |"
    )
    print(
        "\n| request | share | n | errors | p50 ms | p95 ms | p99 ms | max ms "
        "| idle HTTP ms | KB | SQL page ms | SQL count ms |"
    )
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for kind in kinds:
        mine = [s for s in load.samples if s.kind == kind.name]
        kn, ke, k50, k95, k99, kmax = stats_row(mine)
        share = 100 * kn / n if n else 0.0
        print(
            f"| {kind.name} | {share:.0f} % | {kn} | {ke} | {k50:.0f} | {k95:.0f} | {k99:.0f} "
            f"| {kmax:.0f} | {idle.ms[kind.name]:.1f} | {idle.kb[kind.name]:.0f} "
            f"| {sql[kind.name].page_ms:.1f} "
            f"| {sql[kind.name].count_ms:.1f} |"
        )
    if job_id is None:
        scan_ok, scan_line = False, "none (--no-scan control run)"
        ok = False
    print(f"\nscan job {job_id}: {scan_line}")
    if rate:
        mean_ms = statistics.fmean(s.ms for s in load.samples)
        print(
            f"queueing: {clients} clients / {rate:.1f} req/s = "
            f"{1e3 * clients / rate - think_ms:.0f} ms expected per request "
            f"(Little's law, minus think time); measured mean {mean_ms:.0f} ms"
        )
    print(f"idle floor: GET /api/auth/me (token + user lookup only) {idle.floor_ms:.1f} ms")
    if load.seconds:
        used = {**server_cpu_s, "clients": client_cpu_s}
        shares = ", ".join(
            f"{part} {100 * cpu_s / load.seconds:.0f} %" for part, cpu_s in used.items()
        )
        serving_s = sum(cpu_s for part, cpu_s in server_cpu_s.items() if part != "scan worker")
        print(
            f"CPU during the load, % of one core: {shares}; "
            f"{1e3 * serving_s / max(n, 1):.2f} ms of CPU per request "
            "(API processes, and PostgreSQL on its runs; the scan left out)"
        )
    print("plans of the page queries:")
    for kind in kinds:
        print(f"- {kind.name}: {sql[kind.name].plan}")
    failures = sorted({s.error for s in load.samples if s.error})
    if failures:
        print("errors: " + "; ".join(failures[:5]))
    print(
        f"\nbar: p95 {p95:.0f} ms < {BAR_P95_MS:.0f} ms and {errors} errors = 0: "
        f"{'PASS' if ok else 'FAIL'}"
    )
    return ok
