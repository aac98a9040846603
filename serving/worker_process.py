"""The scan worker of ``poppyscan serve``, in a child process of its own.

Scans and API requests in one process share one interpreter lock: each batch of a scan's
Python work stalls every request waiting behind it. ``poppyscan serve`` therefore runs the
API (one or more uvicorn processes) and starts ``poppyscan worker`` beside it, with the
same environment and data directory. The worker scans at a lower CPU priority
(``POPPYSCAN_SCAN_NICE``), so requests come first and scans use the CPU left over. It stops
with the server: on Ctrl-C (the terminal signals the whole process group), when the server
exits, and on Linux also when the server dies without cleaning up (parent-death signal).
"""

from __future__ import annotations

import ctypes
import signal
import subprocess
import sys
from pathlib import Path

_PR_SET_PDEATHSIG = 1  # <linux/prctl.h>


def die_with_parent() -> None:
    """In a child process (before exec, or as its first step): ask Linux to send SIGTERM
    when the parent dies."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


def start_worker_process(data_dir: Path | None) -> subprocess.Popen[bytes]:
    """Start ``python -m serving.cli worker`` on ``data_dir`` (the server's settings come
    through the inherited environment)."""
    command = [sys.executable, "-m", "serving.cli", "worker"]
    if data_dir is not None:
        command += ["--data-dir", str(data_dir)]
    return subprocess.Popen(
        command, preexec_fn=die_with_parent if sys.platform == "linux" else None
    )


def stop_worker_process(process: subprocess.Popen[bytes], timeout_s: float = 60.0) -> None:
    """Stop the worker cleanly (its running job goes back to the queue), or kill it after
    ``timeout_s`` seconds."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout_s)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
