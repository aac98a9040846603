"""The clients: the request mix, one client on the idle server, and the concurrent load.

Every request is a ``GET /api/suspects`` of one :class:`Kind`, drawn by weight: ``status``
(one or two statuses, limit 50, offsets 0-500), ``bbox`` (a 1 km x 0.8 km map view, limit
100), ``class+conf`` (class and min_confidence, limit 50), ``flight`` (flight_id, limit 100,
offsets 0-1900), ``status+bbox`` (suspect/dispatched in a 3 km view, limit 100) and ``page``
(no filter, limit 50, offsets 0-2000). Under load each client has its own keep-alive
connection (:class:`apiload.wire.WireClient`, a lean client, so that the load takes little of
the CPU the server is measured on) and bearer token; a latency is the time
from sending the request to having read the whole body, milliseconds, and any non-2xx
answer or exception is an error.
"""

from __future__ import annotations

import asyncio
import json
import random
import statistics
import time
from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass, field

import httpx

from apiload.data import Area, to_lat, to_lon
from apiload.wire import WireClient

Params = list[tuple[str, str | int | float | bool | None]]


@dataclass(frozen=True)
class Kind:
    """One kind of suspect-list request and how often clients send it.

    Attributes:
        name: Short label for the tables.
        weight: Relative frequency in the mix.
        make: Query parameters of one request, from a random generator.
    """

    name: str
    weight: float
    make: Callable[[random.Random], Params]


def _view(rng: random.Random, area: Area, width_m: float, height_m: float) -> str:
    """A random map view inside the area as a ``bbox`` parameter, WGS84 degrees."""
    ext_w, ext_h = area.extent_m()
    x = rng.uniform(0, max(0.0, ext_w - width_m))
    y = rng.uniform(0, max(0.0, ext_h - height_m))
    w, s = float(to_lon(x)), float(to_lat(y))
    e, n = float(to_lon(x + width_m)), float(to_lat(y + height_m))
    return f"{w:.6f},{s:.6f},{e:.6f},{n:.6f}"


def request_kinds(area: Area) -> list[Kind]:
    """The request mix of an analyst's map and review list."""

    def status(rng: random.Random) -> Params:
        chosen = rng.choice([["new"], ["suspect"], ["new", "suspect"], ["dispatched"]])
        params: Params = [("status", s) for s in chosen]
        return [*params, ("limit", 50), ("offset", 50 * rng.randrange(11))]

    def bbox(rng: random.Random) -> Params:
        return [("bbox", _view(rng, area, 1_000, 800)), ("limit", 100)]

    def class_conf(rng: random.Random) -> Params:
        return [
            ("class_name", rng.choice(["poppy", "cannabis"])),
            ("min_confidence", rng.choice([0.5, 0.7, 0.9])),
            ("limit", 50),
        ]

    def flight(rng: random.Random) -> Params:
        return [
            ("flight_id", rng.randint(1, area.flights)),
            ("limit", 100),
            ("offset", 100 * rng.randrange(20)),
        ]

    def status_bbox(rng: random.Random) -> Params:
        return [
            ("status", "suspect"),
            ("status", "dispatched"),
            ("bbox", _view(rng, area, 3_000, 2_400)),
            ("limit", 100),
        ]

    def page(rng: random.Random) -> Params:
        return [("limit", 50), ("offset", 50 * rng.randrange(41))]

    return [
        Kind("status", 25, status),
        Kind("bbox", 25, bbox),
        Kind("class+conf", 15, class_conf),
        Kind("flight", 15, flight),
        Kind("status+bbox", 10, status_bbox),
        Kind("page", 10, page),
    ]


@dataclass(frozen=True)
class Idle:
    """One client on the idle server (no scan, no other client).

    Attributes:
        ms: Median latency of each request kind, milliseconds.
        kb: Median response body of each request kind, kilobytes (1000 bytes).
        floor_ms: Median latency of ``GET /api/auth/me`` (token check and user lookup,
            no plots): what every request pays before its own work, milliseconds.
    """

    ms: dict[str, float]
    kb: dict[str, float]
    floor_ms: float


def idle_service(url: str, token: str, kinds: list[Kind], seed: int, n: int = 10) -> Idle:
    """Time each request kind ``n`` times from one client on the idle server."""
    ms: dict[str, float] = {}
    kb: dict[str, float] = {}
    with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"}) as client:
        client.get("/api/suspects", params={"limit": 1}).raise_for_status()  # warm up
        floor = []
        for _ in range(n):
            started = time.perf_counter()
            client.get("/api/auth/me").raise_for_status()
            floor.append(1e3 * (time.perf_counter() - started))
        for kind in kinds:
            rng = random.Random(seed + 1)
            times, sizes = [], []
            for _ in range(n):
                params = kind.make(rng)
                started = time.perf_counter()
                answer = client.get("/api/suspects", params=params)
                times.append(1e3 * (time.perf_counter() - started))
                answer.raise_for_status()
                sizes.append(len(answer.content) / 1e3)
            ms[kind.name], kb[kind.name] = statistics.median(times), statistics.median(sizes)
    return Idle(ms, kb, statistics.median(floor))


@dataclass(frozen=True)
class Sample:
    """One request under load.

    Attributes:
        kind: Request kind name.
        at_s: When it was sent, seconds from the start of the load.
        ms: Latency, send to whole body read, milliseconds.
        error: Empty for a 2xx answer; else the status code or the exception.
    """

    kind: str
    at_s: float
    ms: float
    error: str = ""


@dataclass
class Load:
    """The outcome of :func:`run_load`.

    Attributes:
        samples: Every request sent.
        seconds: Wall time from the first request to the last answer, seconds.
        job_log: ``(seconds from the start, status, tiles_done, tiles_total)`` of the scan
            job, polled every 0.5 s from just before the load until just after it.
    """

    samples: list[Sample] = field(default_factory=list)
    seconds: float = 0.0
    job_log: list[tuple[float, str, int, int]] = field(default_factory=list)


async def _client(
    index: int,
    url: str,
    token: str,
    kinds: list[Kind],
    seed: int,
    deadline: float,
    tickets: list[int],
    think_s: float,
    t0: float,
    samples: list[Sample],
) -> None:
    """One client: send requests from the mix until the deadline or the tickets run out."""
    rng = random.Random(seed * 1000 + index)
    weights = [k.weight for k in kinds]
    async with WireClient(url, {"Authorization": f"Bearer {token}"}) as client:
        while time.perf_counter() < deadline and tickets[0] > 0:
            tickets[0] -= 1
            kind = rng.choices(kinds, weights)[0]
            params = kind.make(rng)
            started = time.perf_counter()
            error = ""
            try:
                answer = await client.get("/api/suspects", params=params)
                if not answer.is_success:
                    error = f"HTTP {answer.status_code}"
            except Exception as exc:  # every failure is a measured error, not a crash
                error = f"{type(exc).__name__}: {exc}"
            ended = time.perf_counter()
            samples.append(Sample(kind.name, started - t0, 1e3 * (ended - started), error))
            if think_s:
                await asyncio.sleep(think_s)


async def _monitor(
    url: str,
    token: str,
    job_id: int,
    t0: float,
    stop: asyncio.Event,
    log: list[tuple[float, str, int, int]],
) -> None:
    """Poll the scan job every 0.5 s until ``stop`` is set, and once more after."""
    async with WireClient(url, {"Authorization": f"Bearer {token}"}) as client:
        while True:
            stopping = stop.is_set()
            try:
                job = json.loads((await client.get(f"/api/jobs/{job_id}")).body)
                entry = (
                    time.perf_counter() - t0,
                    job["status"],
                    job["tiles_done"],
                    job["tiles_total"],
                )
            except Exception as exc:  # a missed poll says nothing about the job
                entry = (time.perf_counter() - t0, f"poll failed: {type(exc).__name__}", -1, -1)
            log.append(entry)
            if stopping:
                return
            with suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), 0.5)


async def run_load(
    url: str,
    token: str,
    job_id: int | None,
    kinds: list[Kind],
    clients: int,
    seconds: float,
    requests: int,
    think_ms: float,
    seed: int,
) -> Load:
    """``clients`` concurrent clients for ``seconds`` (or ``requests`` in all), with the
    scan job ``job_id`` (None: no scan) polled alongside."""
    load = Load()
    stop = asyncio.Event()
    t0 = time.perf_counter()
    monitor = None
    if job_id is not None:
        monitor = asyncio.create_task(_monitor(url, token, job_id, t0, stop, load.job_log))
    tickets = [requests if requests > 0 else 1 << 62]
    deadline = t0 + seconds
    await asyncio.gather(
        *(
            _client(i, url, token, kinds, seed, deadline, tickets, think_ms / 1e3, t0, load.samples)
            for i in range(clients)
        )
    )
    load.seconds = time.perf_counter() - t0
    stop.set()
    if monitor is not None:
        await monitor
    return load
