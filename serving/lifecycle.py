"""The plot lifecycle as data: which status may follow which, who may make the move, and
what evidence it needs (DESIGN.md, "The plot lifecycle").

``new -> suspect | dismissed -> dispatched -> positive | false_alarm -> eradicated -> closed``

:data:`RULES` is the whole lifecycle; nothing else in the server decides whether a move is
allowed. :func:`allowed_moves` lists the moves one user may make on a plot now (the API
sends them with every suspect, so clients never mirror the table); :func:`check` validates
a move without touching the database; :func:`apply` makes it with a conditional
``UPDATE ... WHERE status = :from`` and writes its audit record in the same transaction, so
of two concurrent reports on one plot exactly one applies and the other is refused (on
SQLite and PostgreSQL alike).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Final, Literal

from sqlalchemy import select, update
from sqlalchemy.engine import CursorResult
from sqlalchemy.orm import Session

from detector.errors import PoppyscanError
from serving.audit import record
from serving.auth import ADMIN, ANALYST, PATROL
from serving.models import AuditEvent, Photo, Plot, User, utcnow

Evidence = Literal["assigned_unit", "plant_count", "position"]

_REVIEWERS: Final = frozenset({ADMIN, ANALYST})
_FIELD: Final = frozenset({ADMIN, PATROL})
# Roles that act only on plots dispatched to their own unit.
UNIT_BOUND_ROLES: Final = frozenset({PATROL})
# Evidence a move takes only when its rule asks for it (a note, a position and photos are
# welcome on any move).
_ONLY_WHEN_REQUIRED: Final = frozenset({"assigned_unit", "plant_count"})


@dataclass(frozen=True)
class Rule:
    """One allowed move.

    Attributes:
        source: Status the plot must be in.
        target: Status it moves to.
        roles: Roles that may make the move.
        requires: Evidence the move must carry.
        revisit: Schedule a revisit (``revisit_due``) from the day of the move.
    """

    source: str
    target: str
    roles: frozenset[str]
    requires: frozenset[Evidence] = field(default_factory=frozenset)
    revisit: bool = False


RULES: Final = (
    Rule("new", "suspect", _REVIEWERS),
    Rule("new", "dismissed", _REVIEWERS),
    Rule("suspect", "dismissed", _REVIEWERS),
    Rule("dismissed", "suspect", _REVIEWERS),
    Rule("suspect", "dispatched", _REVIEWERS, frozenset({"assigned_unit"})),
    Rule("dispatched", "positive", _FIELD, frozenset({"position", "plant_count"})),
    Rule("dispatched", "false_alarm", _FIELD, frozenset({"position"})),
    Rule("positive", "eradicated", _FIELD, frozenset({"position", "plant_count"}), revisit=True),
    Rule("eradicated", "closed", _REVIEWERS),
    Rule("false_alarm", "closed", _REVIEWERS),
    Rule("dismissed", "closed", _REVIEWERS),
)
TRANSITIONS: Final = {(rule.source, rule.target): rule for rule in RULES}
# Statuses in which a plot waits on its patrol unit in the field — every status a unit-bound
# role may move a plot out of: ``dispatched`` (to verify) and ``positive`` (to eradicate).
FIELD_STATUSES: Final = tuple(
    dict.fromkeys(rule.source for rule in RULES if rule.roles & UNIT_BOUND_ROLES)
)
STATUSES: Final = (
    "new",
    "suspect",
    "dismissed",
    "dispatched",
    "positive",
    "false_alarm",
    "eradicated",
    "closed",
)


class LifecycleError(PoppyscanError):
    """A move that is refused; ``http_status`` is how the API answers it."""

    http_status = 422


class InvalidTransitionError(LifecycleError):
    """The plot's status does not allow the move (or it changed meanwhile)."""

    http_status = 409


class NotPermittedError(LifecycleError):
    """The user's role or unit may not make the move."""

    http_status = 403


class MissingEvidenceError(LifecycleError):
    """The move lacks evidence it requires, or carries evidence it does not take."""

    http_status = 422


@dataclass(frozen=True)
class Change:
    """A requested move and its evidence.

    Attributes:
        to_status: Target status.
        note: Free text.
        plant_count: Plants counted on the ground.
        lon: Where the user was, WGS84 longitude, degrees.
        lat: WGS84 latitude, degrees.
        assigned_unit: Patrol unit a dispatch sends the plot to.
        photo_ids: Field photos of this plot already uploaded as evidence.
    """

    to_status: str
    note: str = ""
    plant_count: int | None = None
    lon: float | None = None
    lat: float | None = None
    assigned_unit: str | None = None
    photo_ids: tuple[int, ...] = ()

    def evidence(self) -> frozenset[Evidence]:
        """The kinds of evidence given."""
        given: set[Evidence] = set()
        if self.assigned_unit:
            given.add("assigned_unit")
        if self.plant_count is not None:
            given.add("plant_count")
        if self.lon is not None and self.lat is not None:
            given.add("position")
        return frozenset(given)


def next_statuses(status: str) -> tuple[str, ...]:
    """Statuses a plot in ``status`` may move to, in table order."""
    return tuple(rule.target for rule in RULES if rule.source == status)


def _refusal(rule: Rule, assigned_unit: str, role: str, unit: str) -> NotPermittedError | None:
    """Why a user with ``role`` and ``unit`` may not make ``rule``'s move on a plot
    assigned to ``assigned_unit``; None when they may."""
    if role not in rule.roles:
        return NotPermittedError(
            f"role {role!r} may not move a plot from {rule.source} to {rule.target} "
            f"(needs {' or '.join(sorted(rule.roles))})"
        )
    if role in UNIT_BOUND_ROLES and (not unit or unit != assigned_unit):
        return NotPermittedError(f"the plot is not dispatched to your unit ({unit or 'none'})")
    return None


def allowed_moves(status: str, assigned_unit: str, role: str, unit: str) -> tuple[Rule, ...]:
    """The moves a user may make now on a plot, in table order.

    These are exactly the moves :func:`check` accepts from this user when given the
    evidence each rule ``requires`` (``position`` is ``lon`` and ``lat``).

    Args:
        status: The plot's current status.
        assigned_unit: The plot's patrol unit ("" when not dispatched).
        role: The user's role.
        unit: The user's unit.
    """
    return tuple(
        rule
        for rule in RULES
        if rule.source == status and _refusal(rule, assigned_unit, role, unit) is None
    )


def check(status: str, assigned_unit: str, role: str, unit: str, change: Change) -> Rule:
    """Validate a move of a plot without touching the database.

    Args:
        status: The plot's current status.
        assigned_unit: The plot's patrol unit ("" when not dispatched).
        role: The user's role.
        unit: The user's unit.
        change: The move and its evidence.

    Returns:
        The rule that allows the move.

    Raises:
        InvalidTransitionError: no rule leads from ``status`` to ``change.to_status``.
        NotPermittedError: the role may not make it, or a patrol is not the plot's unit.
        MissingEvidenceError: evidence the rule requires is missing, or unasked-for evidence given.
    """
    rule = TRANSITIONS.get((status, change.to_status))
    if rule is None:
        allowed = ", ".join(next_statuses(status)) or "none (final)"
        raise InvalidTransitionError(
            f"a {status} plot cannot become {change.to_status}; allowed: {allowed}"
        )
    refusal = _refusal(rule, assigned_unit, role, unit)
    if refusal is not None:
        raise refusal
    given = change.evidence()
    missing = sorted(rule.requires - given)
    if missing:
        raise MissingEvidenceError(
            f"{status} -> {change.to_status} needs {', '.join(_NAMES[m] for m in missing)}"
        )
    unexpected = sorted((given & _ONLY_WHEN_REQUIRED) - rule.requires)
    if unexpected:
        raise MissingEvidenceError(
            f"{status} -> {change.to_status} does not take {', '.join(unexpected)}"
        )
    return rule


_NAMES: Final = {
    "assigned_unit": "assigned_unit (the patrol unit)",
    "plant_count": "plant_count",
    "position": "lon and lat (where the report was made)",
}


def _check_unit_exists(session: Session, unit: str) -> None:
    exists = session.scalar(
        select(User.id).where(User.role == PATROL, User.unit == unit, User.active).limit(1)
    )
    if exists is None:
        raise MissingEvidenceError(f"no active patrol belongs to unit {unit!r}")


def _check_photos(session: Session, plot_id: int, photo_ids: tuple[int, ...]) -> None:
    if not photo_ids:
        return
    found = set(
        session.scalars(select(Photo.id).where(Photo.plot_id == plot_id, Photo.id.in_(photo_ids)))
    )
    strangers = sorted(set(photo_ids) - found)
    if strangers:
        raise MissingEvidenceError(
            f"photo(s) {', '.join(map(str, strangers))} are not photos of plot {plot_id}"
        )


def apply(
    session: Session,
    plot: Plot,
    user: User,
    change: Change,
    *,
    revisit_after_days: int,
    now: datetime | None = None,
) -> AuditEvent:
    """Make a move and record it; the caller commits (or rolls back on an error).

    The update only applies if the plot is still in the status (and unit) it was read in,
    so a concurrent move that got there first makes this one fail with
    :class:`InvalidTransitionError` instead of both applying.

    Args:
        session: The request's session; ``plot`` was read through it.
        plot: The plot as read (its status is the move's source).
        user: Who makes the move.
        change: The move and its evidence.
        revisit_after_days: Days from an eradication to its revisit.
        now: Time of the move (UTC); the current time when None.

    Returns:
        The audit record (flushed with the change).

    Raises:
        LifecycleError: the move is refused; nothing was changed or recorded.
    """
    rule = check(plot.status, plot.assigned_unit, user.role, user.unit, change)
    if change.assigned_unit:
        _check_unit_exists(session, change.assigned_unit)
    _check_photos(session, plot.id, change.photo_ids)
    now = now or utcnow()
    values: dict[str, object] = {"status": rule.target, "updated_at": now}
    if "assigned_unit" in rule.requires:
        values["assigned_unit"] = change.assigned_unit
    if "plant_count" in rule.requires:
        values["reported_plant_count"] = change.plant_count
    revisit_due = now.date() + timedelta(days=revisit_after_days) if rule.revisit else None
    if revisit_due is not None:
        values["revisit_due"] = revisit_due
    source, unit = plot.status, plot.assigned_unit
    result = session.execute(
        update(Plot)
        .where(Plot.id == plot.id, Plot.status == source, Plot.assigned_unit == unit)
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    if not isinstance(result, CursorResult) or result.rowcount != 1:
        raise InvalidTransitionError(
            f"plot {plot.id} changed meanwhile (it is no longer {source}); reload and retry"
        )
    details: dict[str, object] = {"note": change.note, "photo_ids": list(change.photo_ids)}
    if change.plant_count is not None:
        details["plant_count"] = change.plant_count
    if change.assigned_unit:
        details["assigned_unit"] = change.assigned_unit
    if revisit_due is not None:
        details["revisit_due"] = revisit_due.isoformat()
    event = record(
        session,
        user,
        "plot.transition",
        plot_id=plot.id,
        flight_id=plot.flight_id,
        job_id=plot.job_id,
        from_status=source,
        to_status=rule.target,
        lon=change.lon,
        lat=change.lat,
        details=details,
    )
    event.at = now
    session.flush()
    session.expire(plot)
    return event
