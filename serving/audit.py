"""The append-only audit log: every change by a person is recorded with who, when and where."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from serving.models import AuditEvent, User


def record(
    session: Session,
    user: User | None,
    action: str,
    *,
    plot_id: int | None = None,
    flight_id: int | None = None,
    job_id: int | None = None,
    from_status: str = "",
    to_status: str = "",
    lon: float | None = None,
    lat: float | None = None,
    details: dict[str, Any] | None = None,
) -> AuditEvent:
    """Add one audit event to ``session`` (committed with the change it describes).

    Args:
        session: The session of the change, so the change and its record commit together.
        user: Who did it; None for the system (the worker).
        action: What happened, dotted: ``plot.transition``, ``flight.upload``, ...
        lon: Where the user was, WGS84 longitude (a patrol's phone GPS), degrees.
        lat: WGS84 latitude, degrees.
        details: Evidence and context (note, plant count, photo ids, ...).
    """
    event = AuditEvent(
        user_id=user.id if user else None,
        username=user.username if user else "system",
        action=action,
        plot_id=plot_id,
        flight_id=flight_id,
        job_id=job_id,
        from_status=from_status,
        to_status=to_status,
        lon=lon,
        lat=lat,
        details=details or {},
    )
    session.add(event)
    return event
