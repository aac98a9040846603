"""`poppyscan serve` as a user starts it: API processes, and scans in a worker process.

Scans must not share an interpreter with the API (their Python work would stall requests),
and must yield the CPU to it: the job is run by a process other than the server's, at the
lower priority ``POPPYSCAN_SCAN_NICE`` asks for.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import threading
import time
from contextlib import closing
from pathlib import Path

import httpx
from e2e_helpers import PASSWORD, create_accounts, live_server
from test_jobs_worker import synth

from serving.worker import lower_thread_priority


def _nice(pid: int) -> int:
    """The nice value of process ``pid``'s main thread (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return int(fields[16])


def _token(client: httpx.Client, username: str) -> dict[str, str]:
    response = client.post("/api/auth/token", data={"username": username, "password": PASSWORD})
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


def test_serve_scans_in_a_worker_process_at_lower_priority(tmp_path: Path) -> None:
    flight = synth(tmp_path / "flight", 3, 1024, 0.04)
    data_dir = tmp_path / "data"
    create_accounts(data_dir)
    with (
        live_server(data_dir, api_workers=2, env={"POPPYSCAN_SCAN_NICE": "7"}) as server,
        httpx.Client(base_url=server.url, timeout=30) as client,
    ):
        pilot, analyst = _token(client, "pia"), _token(client, "ana")
        with flight.open("rb") as handle:
            files = {"file": ("flight.tif", handle, "image/tiff")}
            created = client.post("/api/flights", files=files, headers=pilot)
        assert created.status_code == 201, created.text
        job_id = created.json()["job"]["id"]
        deadline, job = time.monotonic() + 180, {}
        while time.monotonic() < deadline:
            job = client.get(f"/api/jobs/{job_id}", headers=pilot).json()
            if job["status"] not in ("queued", "running"):
                break
            time.sleep(0.3)
        assert job["status"] == "done", (job, server.log_tail())
        with closing(sqlite3.connect(data_dir / "poppyscan.db")) as db:
            row = db.execute("SELECT worker_id FROM jobs WHERE id = ?", (job_id,)).fetchone()
        worker_id = row[0]
        worker_pid = int(worker_id.split(":")[-2])  # <host>:<pid space>:<pid>:<random>
        assert worker_pid != server.process.pid
        assert _nice(worker_pid) == _nice(os.getpid()) + 7 or _nice(worker_pid) == 19
        params = {"flight_id": job["flight_id"]}
        listed = client.get("/api/suspects", params=params, headers=analyst)
        assert listed.status_code == 200 and listed.json()["total"] == job["plots_found"] >= 1
        server.process.send_signal(signal.SIGINT)
        server.process.wait(timeout=60)
    assert not Path(f"/proc/{worker_pid}").exists(), "the worker stops with the server"


def test_lower_thread_priority_changes_only_the_calling_thread() -> None:
    seen: dict[str, int] = {}

    def lowered() -> None:
        lower_thread_priority(3)
        seen["thread"] = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())

    before = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
    worker = threading.Thread(target=lowered)
    worker.start()
    worker.join()
    assert seen["thread"] == min(19, before + 3)
    assert os.getpriority(os.PRIO_PROCESS, threading.get_native_id()) == before
