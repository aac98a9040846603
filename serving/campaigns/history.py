"""A plot's status history, read from the append-only audit log, and where it got to.

The history of a plot is every audit event on it that changed its status (``to_status``
set), oldest first, with who, when, where and the evidence the person gave (note, plant
count). The lifecycle rules themselves live elsewhere; this module only reads what happened
and sums it up as an :class:`Outcome`. All times are timezone-aware UTC.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from serving.models import AuditEvent, Plot

CLOSED = "closed"
DISMISSED = "dismissed"
DISPATCHED = "dispatched"
ERADICATED = "eradicated"
POSITIVE = "positive"
FALSE_ALARM = "false_alarm"
VERDICTS = (POSITIVE, FALSE_ALARM)
REVIEWS = ("suspect", DISMISSED)

IDS_PER_QUERY = 500  # ids per IN (...) query: far below SQLite's and PostgreSQL's parameter limits


@dataclass(frozen=True)
class StatusEvent:
    """One status change of a plot, from the audit log.

    Attributes:
        at: When, UTC.
        lon, lat: Where the person was (a patrol's phone GPS), WGS84 degrees; None if unknown.
        plant_count: Plants the person counted (patrol reports), or None.
    """

    at: datetime
    username: str
    from_status: str
    to_status: str
    note: str = ""
    plant_count: int | None = None
    lon: float | None = None
    lat: float | None = None


@dataclass(frozen=True)
class Outcome:
    """Where a plot got to, read from its history and its current status.

    Attributes:
        verdict: The latest field verdict, ``positive`` or ``false_alarm`` (an eradicated plot
            without a recorded verdict counts as positive); None before verification.
        dismissed: An analyst dismissed it and it was never verified.
        eradicated: It was reported eradicated.
        closed: Its status is ``closed`` now.
        plants_eradicated: Plants reported at eradication (the eradication report's plant
            count, else the plot's reported count, else the detected count); 0 if not
            eradicated.
    """

    verdict: str | None
    dismissed: bool
    eradicated: bool
    closed: bool
    plants_eradicated: int
    reviewed_at: datetime | None = None
    dispatched_at: datetime | None = None
    verified_at: datetime | None = None
    eradicated_at: datetime | None = None
    closed_at: datetime | None = None


def utc(at: datetime) -> datetime:
    """A database time as aware UTC (SQLite hands back naive UTC times)."""
    return at if at.tzinfo is not None else at.replace(tzinfo=UTC)


def _int_or_none(value: Any) -> int | None:
    try:
        return int(value) if value is not None and value != "" else None
    except (TypeError, ValueError):
        return None


def histories(session: Session, plot_ids: Sequence[int]) -> dict[int, list[StatusEvent]]:
    """Every status change of each plot, oldest first (plots without changes get [])."""
    out: dict[int, list[StatusEvent]] = {pid: [] for pid in plot_ids}
    ids = list(out)
    for start in range(0, len(ids), IDS_PER_QUERY):
        query = (
            select(AuditEvent)
            .where(
                AuditEvent.plot_id.in_(ids[start : start + IDS_PER_QUERY]),
                AuditEvent.to_status != "",
            )
            .order_by(AuditEvent.at, AuditEvent.id)
        )
        for event in session.scalars(query):
            details = event.details or {}
            out[int(event.plot_id or 0)].append(
                StatusEvent(
                    at=utc(event.at),
                    username=event.username,
                    from_status=event.from_status,
                    to_status=event.to_status,
                    note=str(details.get("note") or ""),
                    plant_count=_int_or_none(details.get("plant_count")),
                    lon=event.lon,
                    lat=event.lat,
                )
            )
    return out


def outcome(plot: Plot, history: Sequence[StatusEvent]) -> Outcome:
    """Where ``plot`` got to: verdict, eradication, closure and their times."""

    def first(*statuses: str) -> StatusEvent | None:
        return next((e for e in history if e.to_status in statuses), None)

    def last(*statuses: str) -> StatusEvent | None:
        return next((e for e in reversed(history) if e.to_status in statuses), None)

    verdict_event = last(*VERDICTS)
    verdict = verdict_event.to_status if verdict_event else None
    if plot.status in VERDICTS:
        verdict = plot.status
    erased = last(ERADICATED)
    eradicated = erased is not None or plot.status == ERADICATED
    if verdict is None and eradicated:
        verdict = POSITIVE
    plants = 0
    if eradicated:
        counts = (erased.plant_count if erased else None, plot.reported_plant_count)
        plants = next((c for c in counts if c is not None), plot.plant_count)
    closed = plot.status == CLOSED
    closed_event = last(CLOSED) if closed else None
    reviewed = first(*REVIEWS)
    dispatched = first(DISPATCHED)
    return Outcome(
        verdict=verdict,
        dismissed=verdict is None and (plot.status == DISMISSED or first(DISMISSED) is not None),
        eradicated=eradicated,
        closed=closed,
        plants_eradicated=plants,
        reviewed_at=reviewed.at if reviewed else None,
        dispatched_at=dispatched.at if dispatched else None,
        verified_at=verdict_event.at if verdict_event else None,
        eradicated_at=erased.at if erased else None,
        closed_at=closed_event.at if closed_event else None,
    )
