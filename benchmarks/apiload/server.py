"""The real server: ``python -m serving.cli serve`` as a subprocess, and what is done to it.

The server runs from the repository on a free loopback port — its API processes
(``--workers``) and the scan worker process ``serve`` starts beside them — and is stopped
with SIGINT. Accounts are made with ``python -m serving.cli user create
--password-stdin``; the live flight is ``python -m serving.cli synth`` (kept in a cache
between runs), uploaded with ``POST /api/flights``, and its scan job is polled through
``GET /api/jobs/{id}``.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from apiload.data import GSD_M

REPO = Path(__file__).resolve().parents[2]
PASSWORD = "load-bench-password"
# The accounts the benchmark makes: who lists suspects and who uploads the flight.
ACCOUNTS = (("ana", "analyst"), ("pia", "pilot"))


def free_port() -> int:
    """A TCP port nobody listens on at the moment, on loopback."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def server_env(database_url: str | None) -> dict[str, str]:
    """This process's environment without poppyscan settings, plus ``DATABASE_URL``."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("POPPYSCAN_") and k != "DATABASE_URL"
    }
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH", "")]))
    if database_url:
        env["DATABASE_URL"] = database_url
    return env


def cli(args: list[str], env: dict[str, str], stdin: str | None = None) -> str:
    """Run ``python -m serving.cli ARGS`` from the repository; its stdout (raises on failure)."""
    done = subprocess.run(
        [sys.executable, "-m", "serving.cli", *args],
        cwd=REPO,
        env=env,
        input=stdin,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"poppyscan {' '.join(args)} failed:\n{done.stdout}{done.stderr}")
    return done.stdout


def create_accounts(data_dir: Path, env: dict[str, str]) -> None:
    """Make the :data:`ACCOUNTS` with :data:`PASSWORD` (``user create --password-stdin``)."""
    for name, role in ACCOUNTS:
        cli(
            [
                "user",
                "create",
                name,
                "--role",
                role,
                "--password-stdin",
                "--data-dir",
                str(data_dir),
            ],
            env,
            stdin=PASSWORD + "\n",
        )


@dataclass
class Server:
    """The server subprocess and how to reach it."""

    process: subprocess.Popen[bytes]
    url: str
    log: Path


@contextmanager
def running_server(
    data_dir: Path, env: dict[str, str], api_workers: int = 1, timeout_s: float = 120.0
) -> Iterator[Server]:
    """Start ``python -m serving.cli serve --workers API_WORKERS`` on a free port; stop it
    (SIGINT) afterwards."""
    port = free_port()
    log = data_dir.parent / "server.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "serving.cli",
                "serve",
                "--port",
                str(port),
                "--data-dir",
                str(data_dir),
                "--workers",
                str(api_workers),
            ],
            cwd=REPO,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    server = Server(process, f"http://127.0.0.1:{port}", log)
    try:
        deadline = time.monotonic() + timeout_s
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"the server exited:\n{log.read_text()[-4000:]}")
            try:
                if httpx.get(f"{server.url}/api/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"the server did not answer in {timeout_s:.0f} s")
            time.sleep(0.25)
        yield server
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGINT)
            try:
                process.wait(60)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def log_in(url: str, username: str) -> str:
    """A bearer token for ``username`` (``POST /api/auth/token``)."""
    answer = httpx.post(
        f"{url}/api/auth/token", data={"username": username, "password": PASSWORD}, timeout=30
    )
    answer.raise_for_status()
    return str(answer.json()["access_token"])


def synthetic_flight(cache: Path, size_px: int, env: dict[str, str]) -> Path:
    """The ``synth --seed 3 --gsd 0.04`` flight of ``size_px``, made once in ``cache``."""
    folder = cache / f"seed-3-{size_px}px-gsd-0.04"
    raster = folder / "flight.tif"
    if not raster.exists():
        tmp = folder.with_name(folder.name + ".part")
        shutil.rmtree(tmp, ignore_errors=True)
        cli(["synth", str(tmp), "--seed", "3", "--size", str(size_px), "--gsd", str(GSD_M)], env)
        shutil.rmtree(folder, ignore_errors=True)
        tmp.rename(folder)
    return raster


def upload(url: str, token: str, raster: Path) -> int:
    """Upload ``raster`` as a flight (``POST /api/flights``); the id of its scan job."""
    with raster.open("rb") as fh:
        answer = httpx.post(
            f"{url}/api/flights",
            headers={"Authorization": f"Bearer {token}"},
            files={"file": (raster.name, fh, "image/tiff")},
            data={"name": "load-bench live flight", "area_name": "Bench valley"},
            timeout=300,
        )
    answer.raise_for_status()
    return int(answer.json()["job"]["id"])


def job_state(url: str, token: str, job_id: int) -> dict[str, Any]:
    """The job as ``GET /api/jobs/{id}`` returns it."""
    answer = httpx.get(
        f"{url}/api/jobs/{job_id}", headers={"Authorization": f"Bearer {token}"}, timeout=30
    )
    answer.raise_for_status()
    body: dict[str, Any] = answer.json()
    return body


def wait_running(url: str, token: str, job_id: int, timeout_s: float = 120.0) -> dict[str, Any]:
    """Poll the job until it is ``running`` (raises if it ends or never starts)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        job = job_state(url, token, job_id)
        if job["status"] == "running":
            return job
        if job["status"] != "queued":
            raise RuntimeError(f"the scan job ended before the load started: {job}")
        time.sleep(0.1)
    raise RuntimeError(f"the scan job did not start within {timeout_s:.0f} s")


# The parts of the machine whose CPU the report gives, in its order.
CPU_PARTS = ("API processes", "scan worker", "postgres")


def cpu_by_part(server_pid: int) -> dict[str, float]:
    """CPU seconds (user + system, all threads) used so far by each of :data:`CPU_PARTS`:
    the server process ``server_pid`` and every process under it except the scan worker
    (``serving.cli worker``), the scan worker, and every PostgreSQL process on the machine
    (the backends run the API's SQL). Processes that have ended are not counted (Linux
    /proc)."""
    ticks = os.sysconf("SC_CLK_TCK")
    stats: dict[int, tuple[int, float, str]] = {}  # pid -> (parent, CPU s, command name)
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            head, tail = (entry / "stat").read_text().rsplit(")", 1)
        except OSError:  # gone meanwhile
            continue
        fields = tail.split()
        cpu_s = (int(fields[11]) + int(fields[12])) / ticks
        stats[int(entry.name)] = (int(fields[1]), cpu_s, head.split("(", 1)[1])
    parts = dict.fromkeys(CPU_PARTS, 0.0)
    parts["postgres"] = sum(cpu for _, cpu, name in stats.values() if name == "postgres")
    tree, frontier = {server_pid}, [server_pid]
    while frontier:
        parent = frontier.pop()
        children = [p for p, (ppid, _, _) in stats.items() if ppid == parent and p not in tree]
        tree.update(children)
        frontier.extend(children)
    for pid in tree & stats.keys():
        parts["scan worker" if _is_scan_worker(pid) else "API processes"] += stats[pid][1]
    return parts


def _is_scan_worker(pid: int) -> bool:
    try:
        command = (Path("/proc") / str(pid) / "cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    return b"serving.cli" in command and b"worker" in command
