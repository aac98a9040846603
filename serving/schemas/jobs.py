"""Scan job bodies: status, progress with percent and estimated time left."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Literal

from pydantic import BaseModel, Field

from serving.models import Job

JobStatus = Literal["queued", "running", "done", "failed", "cancelled"]
TERMINAL: tuple[str, ...] = ("done", "failed", "cancelled")


def as_utc(value: datetime | None) -> datetime | None:
    """A database time as aware UTC (SQLite hands back naive UTC times)."""
    if value is None:
        return None
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


class JobPublic(BaseModel):
    """A scan job as clients see it.

    Attributes:
        tiles_done: Tiles scanned or skipped so far, of ``tiles_total`` (0 until the worker
            has planned the scan).
        percent: ``tiles_done / tiles_total`` in percent; 100 when done.
        eta_s: Estimated seconds left, from the rate since the job started; None until the
            first tiles are done or when the job is not running.
        attempts: How many times a worker has started the job (a lost worker's job is
            started again).
        error: Why the job failed, for people.
    """

    id: int
    flight_id: int
    status: JobStatus
    tiles_done: int
    tiles_total: int
    percent: float = Field(ge=0, le=100)
    eta_s: float | None
    attempts: int
    cancel_requested: bool
    error: str
    plots_found: int
    model_name: str
    model_version: str
    model_sha256: str
    created_at: datetime
    started_at: datetime | None
    heartbeat_at: datetime | None
    finished_at: datetime | None

    @classmethod
    def from_job(cls, job: Job, now: datetime | None = None) -> JobPublic:
        """Describe ``job`` with its progress and estimated time left at ``now`` (UTC)."""
        now = now or datetime.now(UTC)
        started = as_utc(job.started_at)
        total, done = job.tiles_total, job.tiles_done
        if job.status == "done":
            percent = 100.0
        else:
            percent = round(100.0 * min(done, total) / total, 1) if total else 0.0
        eta_s = None
        if job.status == "running" and started is not None and 0 < done < total:
            elapsed_s = max((now - started).total_seconds(), 1e-3)
            eta_s = round((total - done) * elapsed_s / done, 1)
        return cls(
            id=job.id,
            flight_id=job.flight_id,
            status=job.status,  # type: ignore[arg-type]
            tiles_done=done,
            tiles_total=total,
            percent=percent,
            eta_s=eta_s,
            attempts=job.attempts,
            cancel_requested=job.cancel_requested,
            error=job.error,
            plots_found=job.plots_found,
            model_name=job.model_name,
            model_version=job.model_version,
            model_sha256=job.model_sha256,
            created_at=as_utc(job.created_at) or now,
            started_at=started,
            heartbeat_at=as_utc(job.heartbeat_at),
            finished_at=as_utc(job.finished_at),
        )


class JobsPublic(BaseModel):
    """A page of jobs, newest first."""

    data: list[JobPublic]
    count: int = Field(description="jobs matching the filter, all pages")
