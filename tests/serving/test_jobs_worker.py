"""Durable scan jobs with real workers: progress, events, cancel, retry, recovery after a kill.

Everything is real: the database (SQLite and PostgreSQL), synthetic flights on disk, the
shipped default model through ``detector.scan``, the embedded worker thread, and worker
processes started with ``python -m serving.cli worker`` and killed with SIGKILL.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from servers import Server, add_people, make_settings
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session, sessionmaker

from serving import jobs
from serving.app import create_app
from serving.cli import main
from serving.db import make_engine, session_factory
from serving.models import AuditEvent, Job, Plot, utcnow
from serving.worker import EmbeddedWorker, Worker

REPO = Path(__file__).resolve().parents[2]


def synth(out: Path, seed: int, size_px: int, gsd_m: float) -> Path:
    """A synthetic flight made by ``poppyscan synth`` in a child process.

    A child process keeps this test process free of the synthetic writer's render pool.
    """
    command = [sys.executable, "-m", "serving.cli", "synth", str(out), "--seed", str(seed)]
    command += ["--size", str(size_px), "--gsd", str(gsd_m)]
    done = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    return out / "flight.tif"


@pytest.fixture(scope="module")
def small_flight(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A synthetic 1024 px flight at the default model's 4 cm/px: 16 tiles, 2 plots found."""
    return synth(tmp_path_factory.mktemp("small-flight"), 3, 1024, 0.04)


@pytest.fixture(scope="module")
def big_flight(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A synthetic 2048 px flight at 8 cm/px, read at 4 cm/px: 256 tiles, a scan of seconds."""
    return synth(tmp_path_factory.mktemp("big-flight"), 3, 2048, 0.08)


@pytest.fixture(scope="module")
def long_flight(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A synthetic 2048 px flight at 16 cm/px, read at 4 cm/px: 1024 tiles, a scan that
    outlasts a cancel's round trip (about 1.5 s: heartbeat 1 s, events 0.5 s) even on a
    fast machine, where :func:`big_flight`'s 256 tiles took about 1 s."""
    return synth(tmp_path_factory.mktemp("long-flight"), 3, 2048, 0.16)


@pytest.fixture
def worker_server(tmp_path: Path, db_url: str) -> Iterator[Server]:
    """A server running scan jobs on its embedded worker thread."""
    settings = make_settings(tmp_path, db_url, embedded_worker=True, worker_poll_s=0.2)
    app = create_app(settings)
    add_people(settings)
    with TestClient(app) as client:
        yield Server(client, settings)


@contextmanager
def database(server: Server) -> Iterator[sessionmaker[Session]]:
    """Sessions on the server's database, for looking behind the API."""
    engine = make_engine(server.settings.resolved_database_url())
    try:
        yield session_factory(engine)
    finally:
        engine.dispose()


def upload(server: Server, headers: dict[str, str], path: Path) -> tuple[int, int]:
    """Upload a flight in one request; return ``(flight id, job id)``."""
    with path.open("rb") as handle:
        response = server.client.post(
            "/api/flights", files={"file": (path.name, handle, "image/tiff")}, headers=headers
        )
    assert response.status_code == 201, response.text
    return response.json()["flight"]["id"], response.json()["job"]["id"]


def wait_for(check: Callable[[], Any], timeout_s: float, what: str) -> Any:
    """Poll ``check`` every 0.1 s until it returns something truthy."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")


def job_row(sessions: sessionmaker[Session], job_id: int) -> Job:
    """The job as the database holds it now."""
    with sessions() as session:
        return session.get_one(Job, job_id)


def plots_per_seq(sessions: sessionmaker[Session], job_id: int) -> list[int]:
    """How many plot rows each ``(job_id, seq)`` has."""
    with sessions() as session:
        rows = session.execute(
            select(Plot.seq, func.count()).where(Plot.job_id == job_id).group_by(Plot.seq)
        ).all()
    return [count for _seq, count in rows]


@pytest.fixture(scope="module")
def uninterrupted_plots(big_flight: Path) -> list[tuple[int, str, int, float, float]]:
    """The big flight's plots from one uninterrupted ``detector.scan`` (the shipped model)."""
    from detector.scan import scan

    result = scan(big_flight)
    return [
        (p.plot_id, p.class_name, p.plant_count, round(p.centroid_lon, 7), round(p.centroid_lat, 7))
        for p in result.plots
    ]


def stored_plots(
    sessions: sessionmaker[Session], job_id: int
) -> list[tuple[int, str, int, float, float]]:
    """A job's stored plots in the same form as :func:`uninterrupted_plots`."""
    with sessions() as session:
        rows = session.scalars(select(Plot).where(Plot.job_id == job_id).order_by(Plot.seq))
        return [(p.seq, p.class_name, p.plant_count, p.centroid_lon, p.centroid_lat) for p in rows]


def test_embedded_worker_streams_progress_and_stores_plots_once(
    worker_server: Server, small_flight: Path
) -> None:
    server = worker_server
    pilot = server.headers("pia")
    flight_id, job_id = upload(server, pilot, small_flight)

    events = []
    with server.client.stream("GET", f"/api/jobs/{job_id}/events", headers=pilot) as stream:
        assert stream.headers["content-type"].startswith("text/event-stream")
        for line in stream.iter_lines():
            if line.startswith("data: "):
                events.append(json.loads(line.removeprefix("data: ")))
    assert events[0]["status"] in ("queued", "running")
    assert [e["status"] for e in events].count("done") == 1
    assert events[-1]["status"] == "done" and events[-1]["tiles_done"] == 16
    done_counts = [e["tiles_done"] for e in events]
    assert done_counts == sorted(done_counts)

    job = server.client.get(f"/api/jobs/{job_id}", headers=server.headers("ana")).json()
    assert job["status"] == "done" and job["percent"] == 100.0
    assert (job["tiles_done"], job["tiles_total"], job["attempts"]) == (16, 16, 1)
    assert job["plots_found"] >= 1
    assert job["model_name"] == "poppyscan-default" and len(job["model_sha256"]) == 64
    with database(server) as sessions:
        assert plots_per_seq(sessions, job_id) == [1] * job["plots_found"]
        with sessions() as session:
            chips = session.scalars(select(Plot.chip_path).where(Plot.job_id == job_id)).all()
    root = server.settings.storage_root()
    assert all(c.startswith(f"chips/flight-{flight_id}/job-{job_id}/") for c in chips)
    assert all((root / c).is_file() for c in chips)
    assert not any((root / "tmp").iterdir())

    listed = server.client.get(f"/api/jobs?flight_id={flight_id}&status=done", headers=pilot)
    assert [j["id"] for j in listed.json()["data"]] == [job_id]
    assert server.client.post(f"/api/jobs/{job_id}/retry", headers=pilot).status_code == 409
    assert server.client.post(f"/api/jobs/{job_id}/cancel", headers=pilot).status_code == 409


def test_worker_scans_with_the_registry_default_model(
    tmp_path: Path, small_flight: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from detector.backends import default_model_path
    from training.registry import Registry

    registry = Registry(tmp_path / "registry")
    registry.register(default_model_path(), name="field-model", version="7.1")
    registry.set_default("field-model", "7.1")
    monkeypatch.setenv("POPPYSCAN_MODELS", str(registry.root))
    settings = make_settings(tmp_path, f"sqlite:///{tmp_path / 'db.sqlite'}", embedded_worker=True)
    settings.worker_poll_s = 0.2
    app = create_app(settings)
    add_people(settings)
    with TestClient(app) as client:
        server = Server(client, settings)
        _flight_id, job_id = upload(server, server.headers("pia"), small_flight)
        headers = server.headers("ana")

        def finished() -> dict[str, Any] | None:
            job = client.get(f"/api/jobs/{job_id}", headers=headers).json()
            return job if job["status"] in ("done", "failed") else None

        job = wait_for(finished, 120, "the scan with the registered model")
    assert job["status"] == "done", job["error"]
    assert (job["model_name"], job["model_version"]) == ("field-model", "7.1")


def test_cancel_and_retry_of_a_queued_job_then_a_real_worker_runs_it(
    server: Server, make_raster: Callable[..., Path]
) -> None:
    pilot, analyst = server.headers("pia"), server.headers("ana")
    flight_id, job_id = upload(server, pilot, make_raster(width=640, height=640))
    assert server.client.post(f"/api/jobs/{job_id}/cancel", headers=analyst).status_code == 403
    assert server.client.post(f"/api/jobs/{job_id}/cancel").status_code == 401
    assert server.client.post("/api/jobs/999/cancel", headers=pilot).status_code == 404
    assert server.client.get("/api/jobs/999", headers=pilot).status_code == 404
    assert server.client.get("/api/jobs/999/events", headers=pilot).status_code == 404

    cancelled = server.client.post(f"/api/jobs/{job_id}/cancel", headers=pilot)
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
    assert server.client.post(f"/api/jobs/{job_id}/cancel", headers=pilot).status_code == 409
    with server.client.stream("GET", f"/api/jobs/{job_id}/events", headers=pilot) as stream:
        lines = [line for line in stream.iter_lines() if line.startswith("data: ")]
    assert len(lines) == 1 and json.loads(lines[0][6:])["status"] == "cancelled"

    assert server.client.post(f"/api/jobs/{job_id}/retry", headers=analyst).status_code == 403
    retried = server.client.post(f"/api/jobs/{job_id}/retry", headers=pilot)
    assert retried.status_code == 201, retried.text
    new_id = retried.json()["id"]
    assert retried.json()["status"] == "queued" and new_id != job_id
    assert server.client.post(f"/api/jobs/{job_id}/retry", headers=pilot).status_code == 409
    queued = server.client.get("/api/jobs?status=queued", headers=analyst).json()
    assert [j["id"] for j in queued["data"]] == [new_id] and queued["count"] == 1

    with database(server) as sessions:
        worker = Worker(server.settings, sessions)
        assert worker.run_once() is True
        assert worker.run_once() is False
        finished = job_row(sessions, new_id)
        assert finished.status == "done", finished.error
        assert finished.worker_id == worker.worker_id and finished.attempts == 1
        with sessions() as session:
            audit = session.scalars(select(AuditEvent.action)).all()
    assert {"flight.upload", "job.cancel", "job.retry"} <= set(audit)
    flight = server.client.get(f"/api/flights/{flight_id}", headers=analyst).json()
    assert flight["latest_job"]["id"] == new_id and flight["latest_job"]["status"] == "done"


def test_failures_lost_workers_and_exclusive_claims(
    server: Server, make_raster: Callable[..., Path]
) -> None:
    pilot = server.headers("pia")
    flight_id, job_id = upload(server, pilot, make_raster(width=320, height=320))
    stored = server.settings.storage_root() / f"flights/{flight_id}/flight.tif"
    stored.rename(stored.with_suffix(".moved"))
    with database(server) as sessions:
        assert Worker(server.settings, sessions).run_once()
        failed = job_row(sessions, job_id)
        assert failed.status == "failed" and "no such file" in failed.error
        stored.with_suffix(".moved").rename(stored)

        # A worker on another machine took a job and went silent.
        with sessions() as session:
            extra = [jobs.enqueue(session, flight_id, None).id for _ in range(3)]
            session.commit()
        lost = "elsewhere:1:1:aaaaaa"
        assert jobs.claim_next(sessions, lost) == extra[0]
        assert jobs.recover_stale(sessions, lease_s=60) == []  # heartbeat is fresh
        _age_heartbeat(sessions, extra[0], seconds=120)
        assert jobs.recover_dead_local(sessions) == []  # not this machine's
        assert jobs.recover_stale(sessions, lease_s=60) == [extra[0]]
        requeued = job_row(sessions, extra[0])
        assert (requeued.status, requeued.attempts, requeued.worker_id) == ("queued", 1, "")
        assert jobs.heartbeat(sessions, extra[0], lost, 5, 10) is jobs.Signal.LOST

        # Lost for the third time: failed, not requeued.
        with sessions() as session:
            session.execute(update(Job).where(Job.id == extra[0]).values(attempts=2))
            session.commit()
        assert jobs.claim_next(sessions, lost) == extra[0]
        _age_heartbeat(sessions, extra[0], seconds=120)
        jobs.recover_stale(sessions, lease_s=60)
        gave_up = job_row(sessions, extra[0])
        assert gave_up.status == "failed" and "interrupted 3 times" in gave_up.error

        # Many workers, two queued jobs: each is claimed exactly once.
        claims: list[int | None] = []
        barrier = threading.Barrier(4)

        def claim(i: int) -> None:
            barrier.wait()
            claims.append(jobs.claim_next(sessions, f"racer:{i}:{i}:r"))

        racers = [threading.Thread(target=claim, args=(i,)) for i in range(4)]
        for racer in racers:
            racer.start()
        for racer in racers:
            racer.join()
        won = sorted(c for c in claims if c is not None)
        assert len(won) == len(set(won)) and set(won) <= set(extra[1:])
        while (claimed := jobs.claim_next(sessions, "racer:9:9:r")) is not None:
            won.append(claimed)
        assert sorted(won) == extra[1:]
        with sessions() as session:
            attempts = session.scalars(select(Job.attempts).where(Job.id.in_(extra[1:]))).all()
        assert attempts == [1, 1]


def _age_heartbeat(sessions: sessionmaker[Session], job_id: int, seconds: float) -> None:
    with sessions() as session:
        old = utcnow() - timedelta(seconds=seconds)
        session.execute(update(Job).where(Job.id == job_id).values(heartbeat_at=old))
        session.commit()


def test_progress_events_of_a_running_scan_and_its_cancel(
    worker_server: Server, long_flight: Path
) -> None:
    server = worker_server
    pilot = server.headers("pia")
    _flight_id, job_id = upload(server, pilot, long_flight)

    events: list[dict[str, Any]] = []
    asked_at = 0.0
    with server.client.stream("GET", f"/api/jobs/{job_id}/events", headers=pilot) as stream:
        for line in stream.iter_lines():
            if not line.startswith("data: "):
                continue
            events.append(json.loads(line.removeprefix("data: ")))
            if not asked_at and events[-1]["tiles_done"] > 0:
                asked = server.client.post(f"/api/jobs/{job_id}/cancel", headers=pilot)
                assert asked.status_code == 200, asked.text
                assert asked.json()["cancel_requested"] is True
                assert asked.json()["status"] == "running"
                asked_at = time.monotonic()
    stopped_after_s = time.monotonic() - asked_at
    running = [e for e in events if e["status"] == "running" and e["tiles_done"] > 0]
    assert running, events
    assert running[0]["tiles_total"] == 1024
    assert 0 < running[0]["percent"] < 100 and running[0]["eta_s"] > 0
    last = events[-1]
    assert last["status"] == "cancelled" and last["error"] == "cancelled"
    assert last["tiles_done"] < last["tiles_total"]
    assert stopped_after_s < 10
    with database(server) as sessions:
        assert plots_per_seq(sessions, job_id) == []


def _start_worker(server: Server, log: Path, **env: str) -> subprocess.Popen[bytes]:
    environment = {
        **os.environ,
        "DATABASE_URL": server.settings.resolved_database_url(),
        "PYTHONPATH": str(REPO),
        **env,
    }
    data_dir = str(server.settings.data_dir)
    with log.open("ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "serving.cli", "worker", "--data-dir", data_dir],
            cwd=REPO,
            env=environment,
            stdout=out,
            stderr=subprocess.STDOUT,
        )


def test_a_stopped_or_killed_worker_s_job_restarts_and_stores_its_plots_once(
    server: Server,
    big_flight: Path,
    tmp_path: Path,
    uninterrupted_plots: list[tuple[int, str, int, float, float]],
) -> None:
    _flight_id, job_id = upload(server, server.headers("pia"), big_flight)
    log = tmp_path / "workers.log"
    first: subprocess.Popen[bytes] | None = None
    second: subprocess.Popen[bytes] | None = None
    try:
        with database(server) as sessions:

            def scanning() -> bool:
                job = job_row(sessions, job_id)
                return job.status == "running" and job.tiles_done > 0

            # A worker that is stopped cleanly hands its job back at once.
            embedded = EmbeddedWorker(server.settings, sessions)
            embedded.start()
            wait_for(scanning, 60, "the embedded worker to scan")
            embedded.stop()
            handed_back = job_row(sessions, job_id)
            assert (handed_back.status, handed_back.attempts) == ("queued", 0)

            first = _start_worker(server, log)
            wait_for(scanning, 90, "the first worker process to scan")
            first.send_signal(signal.SIGKILL)
            first.wait(10)
            killed = job_row(sessions, job_id)
            assert killed.status == "running", log.read_text()
            assert killed.tiles_done < killed.tiles_total
            assert plots_per_seq(sessions, job_id) == []

            second = _start_worker(server, log, POPPYSCAN_JOB_LEASE_S="2")
            # One read per poll: two reads could see "queued" then "running" (the
            # requeue and the claim happening in between) and stop the wait too early.
            done = wait_for(
                lambda: (
                    job
                    if (job := job_row(sessions, job_id)).status not in ("running", "queued")
                    else None
                ),
                120,
                "the second worker to finish",
            )
            assert done.status == "done", (done.error, log.read_text())
            assert done.attempts == 2
            assert done.worker_id != killed.worker_id
            assert done.plots_found > 0
            assert plots_per_seq(sessions, job_id) == [1] * done.plots_found
            # The recovered scan stored exactly what an uninterrupted scan finds.
            assert stored_plots(sessions, job_id) == uninterrupted_plots
            second.send_signal(signal.SIGTERM)
            assert second.wait(30) == 0, log.read_text()
    finally:
        for process in (first, second):
            if process is not None and process.poll() is None:
                process.kill()
                process.wait(10)


def test_worker_verb_is_documented(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["worker", "--help"])
    assert exited.value.code == 0
    text = capsys.readouterr().out
    assert "POPPYSCAN_JOB_LEASE_S" in text and "--exit-when-idle" in text
