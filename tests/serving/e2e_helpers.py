"""End-to-end helpers: a real ``poppyscan serve`` process and a browser that stays offline.

The server runs as a subprocess exactly as an operator starts it (``python -m serving.cli
serve``), with accounts made by ``poppyscan user create --password-stdin``; its embedded
worker scans uploads with the shipped default model. The browser is Debian's chromium driven
by Playwright; :class:`OffsiteGuard` aborts and records every request whose host is not this
machine, so a test can assert that the UI never reached the internet. Used by
``test_ui_e2e.py`` and ``benchmarks/review_latency.py``.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

REPO = Path(__file__).resolve().parents[2]
CHROMIUM = Path(os.environ.get("POPPYSCAN_CHROMIUM", "/usr/bin/chromium"))
PASSWORD = "correct-horse-7"
LOCAL_HOSTS = frozenset({"127.0.0.1", "localhost", "::1", "[::1]"})
# Schemes that never leave the machine (inline images, object URLs of picked photos).
LOCAL_SCHEMES = frozenset({"data", "blob", "about"})

# username -> (role, unit)
ACCOUNTS: dict[str, tuple[str, str]] = {
    "admin": ("admin", ""),
    "ana": ("analyst", ""),
    "pia": ("pilot", "Drone team 1"),
    "pat": ("patrol", "Unit 7"),
}


def chromium_problem() -> str | None:
    """Why the browser tests cannot run here, or None when Debian's chromium is installed."""
    if CHROMIUM.exists():
        return None
    return f"{CHROMIUM} is missing: apt-get install -y chromium"


def in_ci() -> bool:
    """Whether this is the CI run (``.ci/run`` sets ``POPPYSCAN_REQUIRE_POSTGRES=1``)."""
    return os.environ.get("POPPYSCAN_REQUIRE_POSTGRES") == "1"


def free_port() -> int:
    """A TCP port on 127.0.0.1 nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "serving.cli", *args]


def server_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment of a server subprocess: this one, with a fast worker poll and no
    database URL from outside (the data directory's SQLite file is used)."""
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL",)}
    env.pop("POPPYSCAN_DATABASE_URL", None)
    env["POPPYSCAN_WORKER_POLL_S"] = "0.2"
    env["PYTHONUNBUFFERED"] = "1"
    env.update(extra or {})
    return env


def run_cli(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    """Run ``python -m serving.cli ARGS`` from the repository to its end (120 s at most),
    in :func:`server_env`; its exit code, stdout and stderr."""
    return subprocess.run(
        _cli(*args),
        input=stdin,
        capture_output=True,
        text=True,
        cwd=REPO,
        env=server_env(),
        timeout=120,
        check=False,
    )


def create_accounts(
    data_dir: Path, accounts: Mapping[str, tuple[str, str]] = ACCOUNTS, password: str = PASSWORD
) -> None:
    """Create each account with ``poppyscan user create ... --password-stdin``."""
    for username, (role, unit) in accounts.items():
        args = ["user", "create", username, "--role", role, "--password-stdin"]
        args += ["--data-dir", str(data_dir)]
        if unit:
            args += ["--unit", unit]
        done = run_cli(*args, stdin=password + "\n")
        if done.returncode != 0:
            raise RuntimeError(f"user create {username} failed: {done.stderr.strip()}")


@dataclass
class LiveServer:
    """A running ``poppyscan serve`` process.

    Attributes:
        url: Base URL, e.g. ``http://127.0.0.1:43127``.
        data_dir: Its data directory.
        log: File holding its stdout and stderr.
    """

    url: str
    data_dir: Path
    log: Path
    process: subprocess.Popen[bytes]

    def log_tail(self, chars: int = 4000) -> str:
        """The end of the server's output (for assertion messages)."""
        return self.log.read_text(errors="replace")[-chars:] if self.log.exists() else ""


def _wait_healthy(server: LiveServer, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(f"the server exited early:\n{server.log_tail()}")
        try:
            with urllib.request.urlopen(f"{server.url}/api/health", timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"the server did not answer within {timeout_s} s:\n{server.log_tail()}")


@contextmanager
def live_server(
    data_dir: Path,
    *,
    worker: bool = True,
    api_workers: int = 1,
    env: Mapping[str, str] | None = None,
    sigint_ignored: bool = False,
) -> Iterator[LiveServer]:
    """Run ``python -m serving.cli serve --workers API_WORKERS`` on a free port until the
    block ends. ``sigint_ignored`` starts it with SIGINT ignored, as a background job of a
    non-interactive shell is (``poppyscan serve ... &`` in a script)."""
    port = free_port()
    log = data_dir.parent / f"server-{port}.log"
    args = ["serve", "--port", str(port), "--data-dir", str(data_dir)]
    args += ["--workers", str(api_workers)]
    if not worker:
        args.append("--no-worker")
    with log.open("wb") as out:
        process = subprocess.Popen(
            _cli(*args),
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd=REPO,
            env=server_env(env),
            preexec_fn=(lambda: signal.signal(signal.SIGINT, signal.SIG_IGN))
            if sigint_ignored
            else None,
        )
    server = LiveServer(f"http://127.0.0.1:{port}", data_dir, log, process)
    try:
        _wait_healthy(server, timeout_s=90)
        yield server
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGINT)
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=15)


@dataclass
class OffsiteGuard:
    """Aborts and records every browser request that would leave this machine.

    Install it on each browser context (``guard.install(context)``); ``attempts`` lists the
    URLs that were refused.
    """

    attempts: list[str] = field(default_factory=list)

    def is_local(self, url: str) -> bool:
        """Whether ``url`` stays on this machine."""
        parsed = urlparse(url)
        if parsed.scheme in LOCAL_SCHEMES:
            return True
        return (parsed.hostname or "") in LOCAL_HOSTS

    def install(self, context: Any) -> None:
        """Route every request of ``context`` (a Playwright BrowserContext) through the guard."""

        def handle(route: Any) -> None:
            url = route.request.url
            if self.is_local(url):
                route.fallback()
            else:
                self.attempts.append(url)
                route.abort("blockedbyclient")

        context.route("**/*", handle)


def launch_chromium(playwright: Any, **kwargs: Any) -> Any:
    """Debian's headless chromium through Playwright (its own browser download is not used)."""
    return playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, **kwargs)


def log_in(page: Any, base_url: str, username: str, password: str = PASSWORD) -> None:
    """Open the UI and log in through its form; returns once the page shell is shown."""
    page.goto(f"{base_url}/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_selector("#topbar:not([hidden])")
    page.wait_for_selector("main[data-page]")
