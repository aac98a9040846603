"""Scan job workers: run queued jobs with ``detector.scan``, outside any request.

:class:`Worker` runs one job at a time: claim it (:mod:`serving.jobs`), scan the flight
while a :class:`JobReporter` thread writes progress and heartbeats and watches for a cancel
request, then store the plots and mark the job done in one transaction. Between jobs it
recovers jobs whose worker died. :class:`EmbeddedWorker` runs a Worker on a thread of the
server process (the default); :func:`run_worker` runs one in its own process
(``poppyscan worker``), as many as wanted, on any machine that sees the database and the
storage.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
import time

from sqlalchemy.orm import Session, sessionmaker

from detector.backends import Detector, load_detector
from detector.errors import PoppyscanError, ScanCancelled
from detector.scan import scan
from serving import jobs
from serving.config import Settings
from serving.db import make_engine, migrate, session_factory
from serving.models import Flight, Job
from serving.storage import remove_tree, scratch_dir
from training.registry import Registry

log = logging.getLogger(__name__)

# Longest gap between two heartbeats of a running job, seconds (shorter when the lease is).
MAX_REPORT_INTERVAL_S = 1.0


class JobReporter:
    """Bridges a running scan and its job row, on a thread of its own.

    The scan calls :meth:`progress` and :meth:`cancelled` after every batch; both only touch
    memory. The thread writes progress with a heartbeat every ``interval_s`` — also while
    the scan is busy elsewhere (loading the model, planning) — and raises the cancel flag
    when someone asked to cancel, the job was taken away, or the worker is stopping.

    Attributes:
        lost: The job is no longer this worker's (requeued or deleted).
        cancel_requested: Someone asked to cancel the job.
    """

    def __init__(
        self,
        sessions: sessionmaker[Session],
        job_id: int,
        worker_id: str,
        interval_s: float,
        stopping: threading.Event,
    ) -> None:
        self._sessions = sessions
        self._job_id = job_id
        self._worker_id = worker_id
        self._interval_s = interval_s
        self._stopping = stopping
        self._done = 0
        self._total = 0
        self._ended = False
        self._wake = threading.Event()
        self._cancel = threading.Event()
        self.lost = False
        self.cancel_requested = False
        self._thread = threading.Thread(
            target=self._run, name=f"job-{job_id}-heartbeat", daemon=True
        )

    def __enter__(self) -> JobReporter:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._ended = True
        self._wake.set()
        self._thread.join()

    def progress(self, tiles_done: int, tiles_total: int) -> None:
        """The scan's progress callback: remember the counts (written by the thread).

        The first call, with the planned total, is written at once: clients see the size
        of the scan as soon as it is known.
        """
        planned = self._total == 0 and tiles_total > 0
        self._done, self._total = tiles_done, tiles_total
        if planned:
            self._wake.set()

    def cancelled(self) -> bool:
        """The scan's cancel callback: whether to stop now."""
        return self._cancel.is_set() or self._stopping.is_set()

    def _run(self) -> None:
        while True:
            try:
                signal = jobs.heartbeat(
                    self._sessions, self._job_id, self._worker_id, self._done, self._total
                )
            except Exception:  # the database hiccuped: try again next beat
                log.exception("heartbeat of job %d failed", self._job_id)
            else:
                if signal is jobs.Signal.LOST:
                    self.lost = True
                    self._cancel.set()
                elif signal is jobs.Signal.CANCEL:
                    self.cancel_requested = True
                    self._cancel.set()
            self._wake.wait(self._interval_s)
            self._wake.clear()
            if self._ended:
                return


def lower_thread_priority(increment: int) -> None:
    """Make the calling thread (and the threads it starts later) ``increment`` nicer.

    Linux keeps a nice value per thread, so an embedded worker's scans yield the CPU to the
    API threads of the same process. Elsewhere this does nothing.
    """
    if increment <= 0 or sys.platform != "linux":
        return
    thread = threading.get_native_id()
    try:
        current = os.getpriority(os.PRIO_PROCESS, thread)
        os.setpriority(os.PRIO_PROCESS, thread, min(19, current + increment))
    except OSError as exc:  # e.g. a container that forbids it: scans just compete
        log.warning("could not lower the scan worker's CPU priority: %s", exc)


class Worker:
    """Runs scan jobs from the queue, one at a time, in the calling thread.

    Args:
        settings: Storage root, model, confidence, lease.
        sessions: Session factory of the server's database.
        stopping: Set to stop: the running scan halts within a batch and its job goes
            back to the queue.
    """

    def __init__(
        self,
        settings: Settings,
        sessions: sessionmaker[Session],
        stopping: threading.Event | None = None,
    ) -> None:
        self.settings = settings
        self.sessions = sessions
        self.stopping = stopping or threading.Event()
        self.worker_id = jobs.new_worker_id()
        self.jobs_run = 0
        self._detector: Detector | None = None
        self._last_recovery = 0.0

    def recover(self, force: bool = False) -> None:
        """Requeue jobs lost with their workers (at most every quarter lease unless forced)."""
        now = time.monotonic()
        if not force and now - self._last_recovery < self.settings.job_lease_s / 4:
            return
        self._last_recovery = now
        jobs.recover_dead_local(self.sessions)
        jobs.recover_stale(self.sessions, self.settings.job_lease_s)

    def run_once(self) -> bool:
        """Recover lost jobs, then claim and run the next queued job.

        Returns:
            Whether a job was run (False: the queue was empty).
        """
        self.recover()
        job_id = jobs.claim_next(self.sessions, self.worker_id)
        if job_id is None:
            return False
        self.run_job(job_id)
        self.jobs_run += 1
        return True

    def serve(self) -> None:
        """Run jobs until :attr:`stopping` is set, polling an empty queue.

        The calling thread first drops to ``settings.scan_nice``; the threads a scan starts
        (tile readers, the inference runtime's pool) inherit that priority.
        """
        lower_thread_priority(self.settings.scan_nice)
        self.recover(force=True)
        while not self.stopping.is_set():
            try:
                ran = self.run_once()
            except Exception:  # keep serving: the next poll may find the database back
                log.exception("scan worker %s: unexpected error", self.worker_id)
                ran = False
            if not ran:
                self.stopping.wait(self.settings.worker_poll_s)

    def run_job(self, job_id: int) -> None:
        """Scan the flight of a claimed job and record how it ended."""
        with self.sessions() as session:
            job = session.get_one(Job, job_id)
            flight = session.get_one(Flight, job.flight_id)
            attempt, relative = job.attempts, flight.storage_path
        root = self.settings.storage_root()
        for old in (root / "tmp").glob(f"job-{job_id}-*"):
            remove_tree(old)
        chips = scratch_dir(root, f"job-{job_id}-{attempt}")
        interval_s = min(MAX_REPORT_INTERVAL_S, self.settings.job_lease_s / 4)
        reporter = JobReporter(self.sessions, job_id, self.worker_id, interval_s, self.stopping)
        try:
            with reporter:
                result = scan(
                    root / relative,
                    model=self._model(),
                    conf=self.settings.scan_conf,
                    chips_dir=chips,
                    progress=reporter.progress,
                    cancel=reporter.cancelled,
                )
            if not jobs.complete(self.sessions, job_id, self.worker_id, result, root):
                log.warning(
                    "job %d was taken from worker %s; result dropped", job_id, self.worker_id
                )
        except ScanCancelled:
            self._stopped(job_id, reporter)
        except PoppyscanError as exc:
            jobs.finish(self.sessions, job_id, self.worker_id, jobs.FAILED, str(exc))
        except Exception as exc:
            log.exception("job %d failed with an unexpected error", job_id)
            message = f"internal error: {type(exc).__name__}: {exc}"
            jobs.finish(self.sessions, job_id, self.worker_id, jobs.FAILED, message)
        finally:
            remove_tree(chips)

    def _stopped(self, job_id: int, reporter: JobReporter) -> None:
        if reporter.lost:
            log.warning("job %d was taken from worker %s; scan stopped", job_id, self.worker_id)
        elif reporter.cancel_requested:
            jobs.finish(self.sessions, job_id, self.worker_id, jobs.CANCELLED, "cancelled")
        else:  # the worker is shutting down: another one takes the job over
            jobs.release(self.sessions, job_id, self.worker_id)

    def _model(self) -> Detector:
        """The detector, loaded once per worker (an OpenVINO model compiles in seconds).

        ``settings.model`` is a path, ``NAME[:VERSION]`` from the model registry, or unset:
        the registry's default model, else the one shipped with poppyscan (as for
        ``poppyscan scan``).
        """
        if self._detector is None:
            weights = Registry().resolve(self.settings.model)
            self._detector = load_detector(weights, conf=self.settings.scan_conf)
        return self._detector


class EmbeddedWorker:
    """A :class:`Worker` on a daemon thread of the server process.

    Args:
        settings: The server's settings.
        sessions: The server's session factory.
    """

    def __init__(self, settings: Settings, sessions: sessionmaker[Session]) -> None:
        self._stopping = threading.Event()
        self.worker = Worker(settings, sessions, self._stopping)
        self._thread = threading.Thread(target=self.worker.serve, name="scan-worker", daemon=True)

    def start(self) -> None:
        """Start running queued jobs."""
        self._thread.start()

    def stop(self, timeout_s: float = 60.0) -> None:
        """Stop: a running scan halts within a batch and goes back to the queue."""
        self._stopping.set()
        if self._thread.is_alive():
            self._thread.join(timeout_s)


def run_worker(
    settings: Settings, stopping: threading.Event | None = None, exit_when_idle: bool = False
) -> int:
    """Run scan jobs in this process until ``stopping`` is set (or the queue is empty).

    Args:
        settings: Database, storage and model settings (the server's).
        stopping: Set it to stop; the running job goes back to the queue.
        exit_when_idle: Return as soon as no job is queued.

    Returns:
        Number of jobs run (whatever their outcome).
    """
    engine = make_engine(settings.resolved_database_url())
    try:
        migrate(engine)
        worker = Worker(settings, session_factory(engine), stopping)
        log.info("scan worker %s started", worker.worker_id)
        if exit_when_idle:
            worker.recover(force=True)
            while not worker.stopping.is_set() and worker.run_once():
                pass
        else:
            worker.serve()
        return worker.jobs_run
    finally:
        engine.dispose()
