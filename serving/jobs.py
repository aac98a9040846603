"""The durable scan job queue: enqueue, claim, heartbeat, finish, recover, cancel, retry.

A job's row is the only truth about it; workers hold no state the database does not. Every
change a worker makes is a conditional UPDATE on ``(id, status, worker_id)``, so a worker
that lost its job (requeued after its heartbeat went stale, or the job was deleted) can
never overwrite what another worker did:

- claim: the oldest queued job, ``SELECT ... FOR UPDATE SKIP LOCKED`` on PostgreSQL (many
  workers claim in parallel without waiting on each other), then ``UPDATE ... WHERE
  status = 'queued'`` (on SQLite, where writers are serialised, that UPDATE alone decides).
- heartbeat: progress and ``heartbeat_at`` every second or so; it also reports whether
  the job is still the worker's and whether someone asked to cancel it.
- finish: the results and ``status = 'done'`` commit in ONE transaction whose first
  statement takes the job (row lock on PostgreSQL, the write lock on SQLite), so the
  database holds all of a job's plots or none, once.
- recover: a running job whose heartbeat is older than the lease was lost with its worker
  (killed, machine gone) and goes back to the queue, or fails after :data:`MAX_ATTEMPTS`.
  Jobs of worker processes of this very machine that no longer exist are recovered at
  once, so a restarted server does not wait out the lease.
"""

from __future__ import annotations

import enum
import logging
import os
import socket
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import ColumnElement, and_, case, func, or_, select, update
from sqlalchemy.orm import Session, sessionmaker

from detector.scan import ScanResult
from serving.audit import record
from serving.db import transaction
from serving.models import Flight, Job, Plot, User, utcnow
from serving.results import store_scan_result
from serving.storage import chips_rel_dir

log = logging.getLogger(__name__)

QUEUED, RUNNING, DONE, FAILED, CANCELLED = "queued", "running", "done", "failed", "cancelled"
ACTIVE = (QUEUED, RUNNING)
# A job whose worker was lost this many times is failed instead of requeued.
MAX_ATTEMPTS = 3


class JobStateError(Exception):
    """The job is not in a state that allows what was asked (HTTP 409)."""


class Signal(enum.Enum):
    """What a heartbeat learned about the job."""

    KEEP_GOING = "keep going"
    CANCEL = "cancel requested"
    LOST = "job no longer held by this worker"


def new_worker_id() -> str:
    """``<host>:<pid namespace>:<pid>:<random>``: unique per worker, says where a job ran."""
    return f"{_process_space()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


def _process_space() -> str:
    """``<host>:<pid namespace>``: processes with the same one can see each other's pids.

    Containers may share a host name but never a pid namespace; without ``/proc`` the
    namespace is unknown and no pid is ever taken for dead.
    """
    try:
        namespace = os.readlink("/proc/self/ns/pid").strip("pid:[]")
    except OSError:
        namespace = "?"
    return f"{socket.gethostname()}:{namespace}"


def enqueue(session: Session, flight_id: int, user: User | None) -> Job:
    """Add a queued scan job for a flight to ``session`` (flushed: it has an id)."""
    job = Job(flight_id=flight_id, status=QUEUED, created_by=user.id if user else None)
    session.add(job)
    session.flush()
    return job


def claim_next(sessions: sessionmaker[Session], worker_id: str) -> int | None:
    """Take the oldest queued job for ``worker_id``; None when the queue is empty.

    The job becomes ``running`` with ``attempts + 1``, its progress reset and a fresh
    heartbeat, in a transaction of its own.
    """
    now = utcnow()
    with transaction(sessions) as session:
        candidate = session.scalar(
            select(Job.id)
            .where(Job.status == QUEUED)
            .order_by(Job.id)
            .limit(1)
            .with_for_update(skip_locked=True)
        )
        if candidate is None:
            return None
        claimed = session.execute(
            update(Job)
            .where(Job.id == candidate, Job.status == QUEUED)
            .values(
                status=RUNNING,
                worker_id=worker_id,
                attempts=Job.attempts + 1,
                tiles_done=0,
                cancel_requested=False,
                error="",
                started_at=now,
                heartbeat_at=now,
                finished_at=None,
            )
            .execution_options(synchronize_session=False)
        )
    return candidate if _changed(claimed) else None


def heartbeat(
    sessions: sessionmaker[Session], job_id: int, worker_id: str, tiles_done: int, tiles_total: int
) -> Signal:
    """Record progress and liveness of a running job; say whether to go on.

    Args:
        tiles_done: Tiles scanned or skipped so far.
        tiles_total: Tiles planned over the raster.
    """
    with transaction(sessions) as session:
        updated = session.execute(
            update(Job)
            .where(_held_by(job_id, worker_id))
            .values(tiles_done=tiles_done, tiles_total=tiles_total, heartbeat_at=utcnow())
            .execution_options(synchronize_session=False)
        )
        if not _changed(updated):
            return Signal.LOST
        cancel = session.scalar(select(Job.cancel_requested).where(Job.id == job_id))
    return Signal.CANCEL if cancel else Signal.KEEP_GOING


def complete(
    sessions: sessionmaker[Session],
    job_id: int,
    worker_id: str,
    result: ScanResult,
    storage_root: Path,
) -> bool:
    """Store a finished scan's plots and mark the job done, all in one transaction.

    Returns:
        False (and nothing stored) when the job is no longer this worker's.
    """
    model: dict[str, Any] = result.provenance.get("model", {})
    with transaction(sessions) as session:
        taken = session.execute(
            update(Job)
            .where(_held_by(job_id, worker_id))
            .values(
                status=DONE,
                tiles_done=result.stats.tiles_total,
                tiles_total=result.stats.tiles_total,
                plots_found=len(result.plots),
                model_name=str(model.get("name", result.card.name))[:200],
                model_version=str(model.get("version", result.card.version))[:100],
                model_sha256=str(model.get("sha256", ""))[:64],
                heartbeat_at=utcnow(),
                finished_at=utcnow(),
                error="",
            )
            .execution_options(synchronize_session=False)
        )
        if not _changed(taken):
            return False
        job = session.get_one(Job, job_id)
        store_scan_result(session, job, result, storage_root, chips_rel_dir(job.flight_id, job.id))
    return True


def finish(
    sessions: sessionmaker[Session], job_id: int, worker_id: str, status: str, error: str = ""
) -> bool:
    """End a job this worker holds as ``failed`` or ``cancelled`` (with the reason).

    Returns:
        False when the job is no longer this worker's (nothing changed).
    """
    with transaction(sessions) as session:
        ended = session.execute(
            update(Job)
            .where(_held_by(job_id, worker_id))
            .values(status=status, error=error[:4000], finished_at=utcnow())
            .execution_options(synchronize_session=False)
        )
    return _changed(ended)


def release(sessions: sessionmaker[Session], job_id: int, worker_id: str) -> bool:
    """Put a job back in the queue because its worker is shutting down (not a failure)."""
    with transaction(sessions) as session:
        released = session.execute(
            update(Job)
            .where(_held_by(job_id, worker_id))
            .values(
                status=QUEUED,
                worker_id="",
                tiles_done=0,
                attempts=case((Job.attempts > 0, Job.attempts - 1), else_=0),
            )
            .execution_options(synchronize_session=False)
        )
    return _changed(released)


def recover_stale(sessions: sessionmaker[Session], lease_s: float) -> list[int]:
    """Recover running jobs whose heartbeat is older than ``lease_s`` seconds.

    Returns:
        Ids of the jobs recovered (requeued, failed or cancelled).
    """
    cutoff = utcnow() - timedelta(seconds=lease_s)
    return _recover(
        sessions,
        or_(Job.heartbeat_at.is_(None), Job.heartbeat_at < cutoff),
        f"no heartbeat for over {lease_s:g} s",
    )


def recover_dead_local(sessions: sessionmaker[Session]) -> list[int]:
    """Recover running jobs held by worker processes of this machine that no longer exist.

    A restarted server does not wait a whole lease for the job its previous process was
    running. Jobs of other machines (or containers) are left to :func:`recover_stale`.
    """
    space = _process_space()
    if space.endswith(":?"):
        return []
    with sessions() as session:
        held = session.scalars(
            select(Job.worker_id).where(Job.status == RUNNING, Job.worker_id.like(f"{space}:%"))
        ).all()
    dead = sorted({w for w in held if w.startswith(f"{space}:") and _process_gone(w)})
    if not dead:
        return []
    return _recover(sessions, Job.worker_id.in_(dead), "its worker process is gone")


def request_cancel(session: Session, job: Job, user: User) -> Job:
    """Cancel a queued job at once, or ask the worker of a running job to stop.

    The worker notices within about a second and marks the job ``cancelled``; until then
    it stays ``running`` with ``cancel_requested``. Committed with its audit record.

    Raises:
        JobStateError: the job already ended.
    """
    before = job.status
    stopped = session.execute(
        update(Job)
        .where(Job.id == job.id, Job.status == QUEUED)
        .values(status=CANCELLED, cancel_requested=True, finished_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    if not _changed(stopped):
        flagged = session.execute(
            update(Job)
            .where(Job.id == job.id, Job.status == RUNNING)
            .values(cancel_requested=True)
            .execution_options(synchronize_session=False)
        )
        if not _changed(flagged):
            session.rollback()
            session.refresh(job)
            raise JobStateError(
                f"job {job.id} is {job.status}: only queued or running jobs can be cancelled"
            )
    record(
        session,
        user,
        "job.cancel",
        flight_id=job.flight_id,
        job_id=job.id,
        from_status=before,
        to_status=CANCELLED if _changed(stopped) else RUNNING,
    )
    session.commit()
    session.refresh(job)
    return job


def retry(session: Session, job: Job, user: User) -> Job:
    """Queue a new scan job for the flight of a failed or cancelled job.

    The old job stays as it was (with its reason), so the history is kept. Refused while
    the flight has a queued, running or done job, which also means no plot is ever stored
    twice for a flight. Committed with its audit record.

    Raises:
        JobStateError: the job did not fail and was not cancelled, it stored plots, or the
            flight has another active or finished job.
    """
    if job.status not in (FAILED, CANCELLED):
        raise JobStateError(f"job {job.id} is {job.status}: only failed or cancelled jobs retry")
    session.scalar(select(Flight.id).where(Flight.id == job.flight_id).with_for_update())
    stored = session.scalar(select(func.count()).select_from(Plot).where(Plot.job_id == job.id))
    if stored:
        raise JobStateError(f"job {job.id} stored {stored} plots; it cannot be run again")
    other = session.scalars(
        select(Job)
        .where(Job.flight_id == job.flight_id, Job.status.in_((*ACTIVE, DONE)))
        .order_by(Job.id.desc())
        .limit(1)
    ).first()
    if other is not None:
        raise JobStateError(
            f"flight {job.flight_id} already has job {other.id} ({other.status}); nothing to retry"
        )
    new = enqueue(session, job.flight_id, user)
    record(
        session,
        user,
        "job.retry",
        flight_id=job.flight_id,
        job_id=new.id,
        from_status=job.status,
        to_status=QUEUED,
        details={"retry_of": job.id},
    )
    session.commit()
    return new


def _held_by(job_id: int, worker_id: str) -> ColumnElement[bool]:
    return and_(Job.id == job_id, Job.status == RUNNING, Job.worker_id == worker_id)


def _changed(result: Any) -> bool:
    return bool(getattr(result, "rowcount", 0) == 1)


def _recover(sessions: sessionmaker[Session], lost: ColumnElement[bool], why: str) -> list[int]:
    """Requeue, fail or cancel the running jobs matching ``lost`` (one conditional UPDATE
    per outcome, so a job a live worker just heartbeat is never touched twice)."""
    running_and_lost = and_(Job.status == RUNNING, lost)
    with sessions() as session:
        found = session.scalars(select(Job.id).where(running_and_lost)).all()
    if not found:
        return []
    now = utcnow()
    outcomes: list[tuple[ColumnElement[bool], dict[str, Any]]] = [
        (
            Job.cancel_requested.is_(True),
            {"status": CANCELLED, "finished_at": now, "error": f"cancelled; worker lost ({why})"},
        ),
        (
            Job.attempts >= MAX_ATTEMPTS,
            {
                "status": FAILED,
                "finished_at": now,
                "error": f"the scan was interrupted {MAX_ATTEMPTS} times (worker lost: {why}); "
                "giving up — retry it once the cause is fixed",
            },
        ),
        (
            Job.attempts < MAX_ATTEMPTS,
            {"status": QUEUED, "worker_id": "", "error": "", "tiles_done": 0},
        ),
    ]
    with transaction(sessions) as session:
        for condition, values in outcomes:
            session.execute(
                update(Job)
                .where(running_and_lost, condition)
                .values(**values)
                .execution_options(synchronize_session=False)
            )
    log.warning("recovered scan jobs %s: %s", list(found), why)
    return list(found)


def _process_gone(worker_id: str) -> bool:
    """Whether the process of a worker id of this process space has exited."""
    pid = worker_id.split(":")[-2]
    if not pid.isdigit() or int(pid) == os.getpid():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:  # alive, another user's
        return False
    return False
