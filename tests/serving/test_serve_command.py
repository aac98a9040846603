"""`poppyscan serve` as a user starts it: API processes, and scans in a worker process.

Scans must not share an interpreter with the API (their Python work would stall requests),
and must yield the CPU to it: the job is run by a process other than the server's, at the
lower priority ``POPPYSCAN_SCAN_NICE`` asks for. Several API processes share the
connections that arrive together, and one that dies is replaced.
"""

from __future__ import annotations

import os
import signal
import socket
import sqlite3
import threading
import time
from contextlib import ExitStack, closing
from pathlib import Path

import httpx
import psutil
import pytest
from e2e_helpers import (
    PASSWORD,
    LiveServer,
    create_accounts,
    free_port,
    live_server,
    run_cli,
)
from test_jobs_worker import synth

from serving.api_processes import balanced_sockets_supported
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


def _port_of(server: LiveServer) -> int:
    return int(server.url.rsplit(":", 1)[1])


def _api_processes(server: LiveServer, count: int, timeout_s: float = 60) -> list[psutil.Process]:
    """The server's ``count`` processes listening on its port, once all of them listen."""
    port, deadline = _port_of(server), time.monotonic() + timeout_s
    while True:
        listening = [
            child
            for child in psutil.Process(server.process.pid).children(recursive=True)
            if any(
                c.status == psutil.CONN_LISTEN and c.laddr.port == port for c in _connections(child)
            )
        ]
        if len(listening) == count:
            return listening
        assert time.monotonic() < deadline, (listening, server.log_tail())
        time.sleep(0.2)


def _connections(process: psutil.Process) -> list[psutil._common.pconn]:
    try:
        return process.net_connections("tcp")
    except psutil.NoSuchProcess:
        return []


def _held_connections(process: psutil.Process, port: int) -> int:
    """Established connections to ``port`` that ``process`` serves."""
    return sum(
        c.status == psutil.CONN_ESTABLISHED and c.laddr.port == port for c in _connections(process)
    )


def _health_over(sock: socket.socket) -> None:
    """One keep-alive ``GET /api/health`` on an open connection (asserts 200)."""
    sock.sendall(b"GET /api/health HTTP/1.1\r\nHost: test\r\n\r\n")
    head = sock.recv(65536)
    assert head.startswith(b"HTTP/1.1 200"), head[:200]


@pytest.mark.skipif(not balanced_sockets_supported(), reason="SO_REUSEPORT balancing is Linux's")
def test_api_processes_share_a_burst_of_connections_and_are_replaced(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    create_accounts(data_dir, {"admin": ("admin", "")})
    # Started with SIGINT ignored, as from a script's background job: SIGINT must still stop
    # it (the supervisor ignored it and outlived the test before it caught SIGINT itself).
    with (
        live_server(data_dir, worker=False, api_workers=2, sigint_ignored=True) as server,
        ExitStack() as stack,
    ):
        port = _port_of(server)
        first, second = _api_processes(server, 2)
        # A burst: 40 connections opened before any is used, as 40 map clients (or a
        # browser's tabs) arrive together. One shared socket gave most of them to whichever
        # process woke first.
        sockets = [
            stack.enter_context(socket.create_connection(("127.0.0.1", port), timeout=30))
            for _ in range(40)
        ]
        for sock in sockets:
            _health_over(sock)
        held = [_held_connections(p, port) for p in (first, second)]
        assert sum(held) == 40
        assert min(held) >= 10, f"connections per API process: {held}"

        first.kill()  # SIGKILL: no clean-up; the supervisor must start another
        first.wait(timeout=30)  # gone once the supervisor has reaped it
        replacement = next(p for p in _api_processes(server, 2) if p.pid != second.pid)
        assert replacement.pid != first.pid
        with httpx.Client(base_url=server.url, timeout=30) as client:
            for _ in range(10):  # new connections are answered, whichever process gets them
                assert client.get("/api/health", headers={"Connection": "close"}).is_success

        everyone = psutil.Process(server.process.pid).children(recursive=True)
        server.process.send_signal(signal.SIGINT)
        assert server.process.wait(timeout=60) == 0, server.log_tail()
    _gone, alive = psutil.wait_procs(everyone, timeout=30)
    assert not alive, f"left running after the server stopped: {alive}"


def test_serve_refuses_a_port_in_use_in_one_line(tmp_path: Path) -> None:
    port = free_port()
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", port))
        holder.listen()
        for workers in ("1", "2"):
            args = ["serve", "--port", str(port), "--workers", workers]
            done = run_cli(*args, "--data-dir", str(tmp_path / "data"))
            assert done.returncode == 2, done.stderr
            assert done.stderr.strip() == (
                f"poppyscan: error: port {port} on 127.0.0.1 is already in use"
            )
    assert not (tmp_path / "data").exists(), "nothing is created for a server that cannot start"
