"""Running one measured process: wall time, peak memory, and a guard against the network.

Every system runs in its own process, so its peak resident memory is its own. Peak memory is
the larger of the kernel's ``ru_maxrss`` (from ``wait4``: the exact peak RSS of the largest
process in the tree) and a sampled peak of the tree's summed PSS (counts worker processes
without double-counting pages shared after a fork). Every child runs behind a network guard
(a ``sitecustomize`` on ``PYTHONPATH``) that refuses, and logs, any outbound connection.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil

REPO = Path(__file__).resolve().parents[2]
BENCH_DIR = REPO / "benchmarks"
PSS_SAMPLE_S = 0.2  # seconds between PSS samples

# Loaded through PYTHONPATH into every child: refuses and logs outbound connections.
NETWORK_GUARD = '''"""poppyscan benchmark network guard (written by benchmarks/bench/measure.py)."""
import os
import socket
import sys

_LOG = os.environ.get("POPPYSCAN_BENCH_NETLOG", os.devnull)
_LOCAL = ("127.", "::1", "localhost", "0.0.0.0")
_connect = socket.socket.connect
_getaddrinfo = socket.getaddrinfo


def _refuse(what):
    with open(_LOG, "a", encoding="utf-8") as handle:
        who = " ".join(os.path.basename(arg) for arg in sys.argv[:3])
        handle.write(f"{what!r}\\t{who}\\n")
    raise OSError(101, f"network disabled by the benchmark guard: {what!r}")


def _is_remote(sock, address):
    if sock.family not in (socket.AF_INET, socket.AF_INET6):
        return False
    return not str(address[0]).startswith(_LOCAL)


def connect(self, address):
    if _is_remote(self, address):
        _refuse(address)
    return _connect(self, address)


def getaddrinfo(host, *args, **kwargs):
    if host and not str(host).startswith(_LOCAL):
        _refuse(host)
    return _getaddrinfo(host, *args, **kwargs)


socket.socket.connect = connect
socket.getaddrinfo = getaddrinfo
'''


@dataclass
class ProcessRun:
    """Wall time and peak memory of one child process.

    Attributes:
        wall_s: From start to exit, seconds.
        peak_rss_bytes: Peak resident memory of the process tree, bytes.
        returncode: Exit status.
        log_path: Where its stdout and stderr went.
    """

    wall_s: float
    peak_rss_bytes: int
    returncode: int
    log_path: Path


class TreePssSampler(threading.Thread):
    """Samples the summed proportional set size (PSS, bytes) of a process tree until stopped."""

    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.pid = pid
        self.peak_bytes = 0
        self._stop_event = threading.Event()

    def _tree_pss(self, root: psutil.Process) -> int:
        total = 0
        for proc in [root, *root.children(recursive=True)]:
            try:
                total += proc.memory_full_info().pss
            except (psutil.NoSuchProcess, psutil.AccessDenied):
                continue
        return total

    def run(self) -> None:
        try:
            root = psutil.Process(self.pid)
            while not self._stop_event.is_set():
                self.peak_bytes = max(self.peak_bytes, self._tree_pss(root))
                self._stop_event.wait(PSS_SAMPLE_S)
        except psutil.NoSuchProcess:
            return

    def stop(self) -> None:
        """Stop sampling and wait for the thread."""
        self._stop_event.set()
        self.join()


def run_measured(cmd: list[str], env: dict[str, str], log_path: Path) -> ProcessRun:
    """Run a command to completion in the repository root; return wall time and peak memory."""
    with log_path.open("w", encoding="utf-8") as out:
        started = time.perf_counter()
        proc = subprocess.Popen(cmd, env=env, cwd=REPO, stdout=out, stderr=subprocess.STDOUT)
        sampler = TreePssSampler(proc.pid)
        sampler.start()
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - started
        sampler.stop()
    proc.returncode = os.waitstatus_to_exitcode(status)
    peak = max(usage.ru_maxrss * 1024, sampler.peak_bytes)
    return ProcessRun(wall, peak, proc.returncode, log_path)


def child_env(workdir: Path) -> dict[str, str]:
    """Environment of every child: guard loaded, repo and ``bench`` importable, offline."""
    guard_dir = workdir / "netguard"
    guard_dir.mkdir(parents=True, exist_ok=True)
    (guard_dir / "sitecustomize.py").write_text(NETWORK_GUARD, encoding="utf-8")
    env = dict(os.environ)
    paths = [str(guard_dir), str(REPO), str(BENCH_DIR), env.get("PYTHONPATH", "")]
    env["PYTHONPATH"] = os.pathsep.join(p for p in paths if p)
    env["POPPYSCAN_BENCH_NETLOG"] = str(network_log(workdir))
    env.update(YOLO_OFFLINE="1", YOLO_AUTOINSTALL="False")
    return env


def network_log(workdir: Path) -> Path:
    """Where the guard logs refused connections (one ``target<TAB>process`` line each)."""
    return workdir / "network-attempts.log"


def network_attempts(workdir: Path) -> list[str]:
    """Outbound connections the guard refused during the run."""
    path = network_log(workdir)
    return path.read_text(encoding="utf-8").splitlines() if path.exists() else []


def run_dir(workdir: Path) -> Path:
    """Directory for child configs, results, logs and outputs."""
    runs = workdir / "runs"
    runs.mkdir(parents=True, exist_ok=True)
    return runs


def run_child(
    name: str, cfg: dict[str, Any], workdir: Path, env: dict[str, str], tag: str | None = None
) -> tuple[ProcessRun, dict[str, Any]]:
    """Run ``python -m bench.children NAME``; exit loudly if it fails; return run and result."""
    tag = tag or name
    runs = run_dir(workdir)
    config_path, result_path = runs / f"{tag}.config.json", runs / f"{tag}.result.json"
    config_path.write_text(json.dumps(cfg, indent=2), encoding="utf-8")
    result_path.unlink(missing_ok=True)
    cmd = [sys.executable, "-m", "bench.children", name, str(config_path), str(result_path)]
    run = run_measured(cmd, env, runs / f"{tag}.log")
    check_run(tag, run)
    return run, json.loads(result_path.read_text(encoding="utf-8"))


def check_run(tag: str, run: ProcessRun) -> None:
    """Exit with the tail of the child's log if it failed."""
    if run.returncode == 0:
        return
    tail = run.log_path.read_text(encoding="utf-8", errors="replace").splitlines()[-30:]
    sys.exit(f"{tag} failed (exit {run.returncode}); log {run.log_path}:\n" + "\n".join(tail))


def import_floor_bytes(env: dict[str, str], workdir: Path) -> int:
    """Peak RSS, bytes, of a Python process that only imports torch (context for memory)."""
    cmd = [sys.executable, "-c", "import torch"]
    run = run_measured(cmd, env, run_dir(workdir) / "import-torch.log")
    check_run("import torch", run)
    return run.peak_rss_bytes


def cli_command(raster: str, output: Path, model: str, precision: str | None) -> list[str]:
    """The real CLI, ``poppyscan scan`` with default settings; ``--precision`` only when
    ``precision`` is given (None: the scanner's default)."""
    script = Path(sys.executable).with_name("poppyscan")
    base = [str(script)] if script.exists() else [sys.executable, "-m", "serving.cli"]
    cmd = [*base, "scan", raster, "-o", str(output), "--model", model]
    return cmd if precision is None else [*cmd, "--precision", precision]


def cli_summary(log_path: Path, output: Path) -> dict[str, Any]:
    """What a CLI run reported: tiles, plants, its own seconds and the runtime it used.

    ``tiles``, ``plants`` and ``inner_s`` (seconds) come from the text summary; ``runtime``
    from the GeoJSON output's provenance.
    """
    text = log_path.read_text(encoding="utf-8", errors="replace")
    patterns = {
        "tiles": r"(\d+) tiles scanned",
        "plants": r"(\d+) plant\(s\)",
        "inner_s": r"empty skipped, ([\d.]+) s",
    }
    found = {key: re.findall(pattern, text) for key, pattern in patterns.items()}
    summary: dict[str, Any] = {key: float(vals[-1]) for key, vals in found.items() if vals}
    try:
        provenance = json.loads(output.read_text(encoding="utf-8"))["provenance"]
        summary["runtime"] = provenance["model"]["runtime"]
    except (OSError, KeyError, ValueError):
        pass
    return summary
