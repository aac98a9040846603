"""Scan jobs: progress (polled or streamed as server-sent events), cancel, retry.

A job goes ``queued -> running -> done | failed | cancelled``. While it runs, ``tiles_done``
of ``tiles_total``, ``percent`` and ``eta_s`` (seconds left at the rate so far) change about
once a second. Analysts, pilots, researchers and admins read jobs; pilots and admins cancel
and retry them.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Query, Request, status
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import StreamingResponse
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from serving.auth import ADMIN, ANALYST, PILOT, RESEARCHER
from serving.deps import SessionDep, require_roles
from serving.jobs import JobStateError, request_cancel, retry
from serving.models import Job, User
from serving.schemas.jobs import TERMINAL, JobPublic, JobsPublic, JobStatus

router = APIRouter(prefix="/api/jobs", tags=["jobs"])
Operator = Annotated[User, Depends(require_roles(ADMIN, PILOT))]
Reader = Annotated[User, Depends(require_roles(ADMIN, ANALYST, PILOT, RESEARCHER))]

# How often the event stream looks at the job, seconds.
EVENTS_POLL_S = 0.5
# A comment line keeps idle proxies from closing a quiet stream, seconds.
EVENTS_KEEPALIVE_S = 15.0


@router.get("", response_model=JobsPublic, summary="List jobs")
def list_jobs(
    session: SessionDep,
    _user: Reader,
    flight_id: Annotated[int | None, Query(description="jobs of this flight")] = None,
    job_status: Annotated[JobStatus | None, Query(alias="status")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> JobsPublic:
    """Jobs, newest first, optionally of one flight and/or in one status."""
    where = []
    if flight_id is not None:
        where.append(Job.flight_id == flight_id)
    if job_status is not None:
        where.append(Job.status == job_status)
    count = session.scalar(select(func.count()).select_from(Job).where(*where)) or 0
    rows = session.scalars(
        select(Job).where(*where).order_by(Job.id.desc()).limit(limit).offset(offset)
    ).all()
    return JobsPublic(data=[JobPublic.from_job(j) for j in rows], count=count)


@router.get("/{job_id}", response_model=JobPublic, summary="One job and its progress")
def get_job(job_id: int, session: SessionDep, _user: Reader) -> JobPublic:
    """Status, tiles done of total, percent, estimated seconds left, and the reason of a
    failure."""
    return JobPublic.from_job(_job(session, job_id))


@router.post(
    "/{job_id}/cancel",
    response_model=JobPublic,
    summary="Cancel a job",
    responses={409: {"description": "the job already ended"}},
)
def cancel_job(job_id: int, session: SessionDep, user: Operator) -> JobPublic:
    """Cancel a queued job at once; ask a running job's worker to stop (it does within
    about a second and the job becomes ``cancelled``; until then it shows
    ``cancel_requested``)."""
    job = _job(session, job_id)
    try:
        return JobPublic.from_job(request_cancel(session, job, user))
    except JobStateError as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from exc


@router.post(
    "/{job_id}/retry",
    response_model=JobPublic,
    status_code=status.HTTP_201_CREATED,
    summary="Retry a failed or cancelled job",
    responses={409: {"description": "not failed or cancelled, or the flight has another job"}},
)
def retry_job(job_id: int, session: SessionDep, user: Operator) -> JobPublic:
    """Queue a new scan of the flight of a failed or cancelled job (the old job keeps its
    reason). Refused while the flight has a queued, running or finished job."""
    job = _job(session, job_id)
    try:
        return JobPublic.from_job(retry(session, job, user))
    except JobStateError as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from exc


@router.get(
    "/{job_id}/events",
    summary="Stream progress (server-sent events)",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/event-stream": {}}, "description": "event stream"}},
)
async def job_events(
    job_id: int, request: Request, session: SessionDep, _user: Reader
) -> StreamingResponse:
    """A ``text/event-stream`` with one ``data: {job as JSON}`` event whenever the job's
    status or progress changes, ending after the event that shows it done, failed or
    cancelled. ``curl -N -H "$AUTH" $API/api/jobs/7/events``"""
    _job(session, job_id)
    session.close()  # the stream may last hours: hold no connection meanwhile
    sessions: sessionmaker[Session] = request.app.state.sessions
    return StreamingResponse(
        _events(request, sessions, job_id),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )


async def _events(
    request: Request, sessions: sessionmaker[Session], job_id: int
) -> AsyncIterator[str]:
    """Poll the job and yield an event per change until it ends or the client leaves."""
    last_key: tuple[object, ...] | None = None
    last_sent = time.monotonic()
    while not await request.is_disconnected():
        job = await run_in_threadpool(_load, sessions, job_id)
        if job is None:  # deleted with its flight
            yield 'event: gone\ndata: {"detail": "the job was deleted"}\n\n'
            return
        key = (job.status, job.tiles_done, job.tiles_total, job.cancel_requested, job.error)
        if key != last_key:
            last_key, last_sent = key, time.monotonic()
            yield f"data: {job.model_dump_json()}\n\n"
            if job.status in TERMINAL:
                return
        elif time.monotonic() - last_sent > EVENTS_KEEPALIVE_S:
            last_sent = time.monotonic()
            yield ": keep-alive\n\n"
        await asyncio.sleep(EVENTS_POLL_S)


def _load(sessions: sessionmaker[Session], job_id: int) -> JobPublic | None:
    with sessions() as session:
        job = session.get(Job, job_id)
        return JobPublic.from_job(job) if job is not None else None


def _job(session: Session, job_id: int) -> Job:
    job = session.get(Job, job_id)
    if job is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no job {job_id}")
    return job
