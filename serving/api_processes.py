"""Several API processes on one port, each accepting on a socket of its own (Linux).

uvicorn's ``--workers`` processes accept from one shared listening socket. Whichever process
wakes first drains the whole backlog, so a burst of new keep-alive connections sticks to
one process: 50 clients split 38 to 13 over two processes (``ss -tnp``), and the 38 waited
three times as long as the 13 while the other process had CPU to spare
(``benchmarks/api_load.py``). Here every process listens on a socket of its own bound to
the same port with ``SO_REUSEPORT``, and the kernel hashes each new connection to one of
them, so connections spread about evenly however they arrive.

A supervisor (:func:`run_api_processes`) starts the processes, restarts one that dies,
gives up with a clear message when one keeps dying as it starts, and stops them all on
SIGINT or SIGTERM. Each process builds its app from the environment (``POPPYSCAN_*``,
``DATABASE_URL``), as uvicorn's factory mode does, and dies with the supervisor.
"""

from __future__ import annotations

import errno
import multiprocessing
import signal
import socket
import sys
import time
from dataclasses import dataclass
from multiprocessing.connection import wait
from multiprocessing.process import BaseProcess
from types import FrameType
from typing import Any

from detector.errors import PoppyscanError

# Pending connections per process socket (uvicorn's default).
BACKLOG = 2048
# A process that exits sooner than this after its start has failed to start, seconds.
STARTUP_GRACE_S = 10.0
# Failed starts in a row of one process after which the supervisor gives up.
MAX_FAILED_STARTS = 3
# How long processes get to finish their requests when stopped, seconds.
STOP_TIMEOUT_S = 30.0
# Exit code of a process that could not listen on the port.
EXIT_CANNOT_LISTEN = 3


class PortInUseError(PoppyscanError):
    """Something already listens on the port the server was to listen on."""


def balanced_sockets_supported() -> bool:
    """Whether the kernel spreads connections over ``SO_REUSEPORT`` sockets (Linux does;
    BSD and macOS give them all to one socket, and Windows has no such option)."""
    return sys.platform.startswith("linux") and hasattr(socket, "SO_REUSEPORT")


def _address(host: str, port: int) -> tuple[socket.AddressFamily, tuple[Any, ...]]:
    """The address family and socket address of ``host:port`` (the first that resolves)."""
    family, _, _, _, address = socket.getaddrinfo(
        host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
    )[0]
    return family, address


def check_port_free(host: str, port: int) -> None:
    """Raise :class:`PortInUseError` if anything listens on ``host:port``.

    The probe binds without ``SO_REUSEPORT``, so it also fails on another server's
    ``SO_REUSEPORT`` sockets: a second ``poppyscan serve`` on the same port would otherwise
    bind beside the first and silently take half of its connections.
    """
    family, address = _address(host, port)
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # TIME_WAIT is no owner
        try:
            probe.bind(address)
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise PortInUseError(f"port {port} on {host} is already in use") from exc
            raise


def shared_port_socket(host: str, port: int) -> socket.socket:
    """A socket listening on ``host:port`` beside the other API processes' (``SO_REUSEPORT``)."""
    family, address = _address(host, port)
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind(address)
        sock.listen(BACKLOG)
    except BaseException:
        sock.close()
        raise
    return sock


def _serve_one(host: str, port: int) -> None:
    """One API process: its app from the environment, served on a socket of its own."""
    import uvicorn

    from serving.app import create_app
    from serving.config import Settings
    from serving.worker_process import die_with_parent

    die_with_parent()
    try:
        sock = shared_port_socket(host, port)
    except OSError as exc:
        print(f"poppyscan: cannot listen on {host}:{port}: {exc.strerror}", file=sys.stderr)
        sys.exit(EXIT_CANNOT_LISTEN)
    config = uvicorn.Config(create_app(Settings()), log_level="warning")
    uvicorn.Server(config).run(sockets=[sock])


@dataclass
class _Slot:
    """One API process the supervisor keeps running."""

    index: int
    process: BaseProcess
    started_at: float
    failed_starts: int = 0


class _StopRequestedError(Exception):
    """SIGINT or SIGTERM reached the supervisor."""


def _raise_stop(signum: int, frame: FrameType | None) -> None:
    raise _StopRequestedError


def run_api_processes(count: int, host: str, port: int) -> int:
    """Serve the API from ``count`` processes on ``host:port`` until SIGINT or SIGTERM;
    0 then, 1 if a process kept failing to start (its own message says why)."""
    check_port_free(host, port)
    context = multiprocessing.get_context("spawn")

    def start(index: int) -> tuple[BaseProcess, float]:
        process = context.Process(
            target=_serve_one, args=(host, port), name=f"poppyscan-api-{index}"
        )
        process.start()
        return process, time.monotonic()

    slots = [_Slot(i, *start(i)) for i in range(count)]
    # Both signals are caught explicitly, as uvicorn does for a single process: a server
    # started from a non-interactive shell's background job inherits SIGINT ignored, and
    # would otherwise outlive its SIGINT (seen in a CI run started with `&`).
    previous = {sig: signal.signal(sig, _raise_stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        while True:
            wait([slot.process.sentinel for slot in slots])
            for slot in slots:
                if slot.process.is_alive():
                    continue
                code = slot.process.exitcode
                slot.process.join()
                quick = time.monotonic() - slot.started_at < STARTUP_GRACE_S
                slot.failed_starts = slot.failed_starts + 1 if quick else 0
                if slot.failed_starts >= MAX_FAILED_STARTS:
                    print(
                        f"poppyscan: API process {slot.index} exited {slot.failed_starts} "
                        f"times as it started (last exit code {code}); stopping",
                        file=sys.stderr,
                    )
                    return 1
                print(
                    f"poppyscan: API process {slot.index} exited (code {code}); restarting it",
                    file=sys.stderr,
                )
                slot.process, slot.started_at = start(slot.index)
    except (KeyboardInterrupt, _StopRequestedError):
        return 0
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        _stop_all([slot.process for slot in slots])


def _stop_all(processes: list[BaseProcess]) -> None:
    """SIGTERM every live process (uvicorn then finishes its requests), SIGKILL those still
    running after :data:`STOP_TIMEOUT_S`."""
    for process in processes:
        if process.is_alive():
            process.terminate()
    deadline = time.monotonic() + STOP_TIMEOUT_S
    for process in processes:
        process.join(max(0.0, deadline - time.monotonic()))
        if process.is_alive():
            process.kill()
            process.join()
