"""Which plots a user may see, and the filters of the suspect list and exports.

The campaign and season filters go through the plot's flight (``Flight.campaign_id`` and
``Flight.season_id``): a plot belongs to the campaign its flight was assigned to.

A patrol sees only the plots dispatched to its own unit; to a patrol every other plot does
not exist (404, not 403, so the API does not reveal what other units are sent to).
Admins, analysts and researchers see every plot.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

from fastapi import HTTPException, status
from sqlalchemy import ColumnElement, Select, and_, false, func, or_, select, true
from sqlalchemy.orm import Session

from serving.auth import ADMIN, ANALYST, PATROL, RESEARCHER
from serving.models import Flight, Plot, User
from serving.schemas.plots import SuspectFilter

READER_ROLES = (ADMIN, ANALYST, RESEARCHER, PATROL)


def visible_to(user: User) -> ColumnElement[bool]:
    """SQL condition: the plot is one ``user`` may see."""
    if user.role == PATROL:
        return Plot.assigned_unit == user.unit if user.unit else false()
    return true()


def get_visible_plot(session: Session, user: User, plot_id: int) -> Plot:
    """The plot ``plot_id`` if ``user`` may see it (404 otherwise, existing or not)."""
    plot = session.scalar(select(Plot).where(Plot.id == plot_id, visible_to(user)))
    if plot is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no suspect {plot_id}")
    return plot


def _day_start(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=UTC)


def filter_conditions(query: SuspectFilter) -> list[ColumnElement[bool]]:
    """SQL conditions for every filter that is set."""
    conditions: list[ColumnElement[bool]] = []
    if query.flight_id is not None:
        conditions.append(Plot.flight_id == query.flight_id)
    if query.campaign_id is not None:
        flights = select(Flight.id).where(Flight.campaign_id == query.campaign_id)
        conditions.append(Plot.flight_id.in_(flights))
    if query.season_id is not None:
        flights = select(Flight.id).where(Flight.season_id == query.season_id)
        conditions.append(Plot.flight_id.in_(flights))
    if query.status:
        conditions.append(Plot.status.in_(query.status))
    if query.class_name is not None:
        conditions.append(Plot.class_name == query.class_name)
    if query.min_confidence is not None:
        conditions.append(Plot.confidence >= query.min_confidence)
    if query.assigned_unit is not None:
        conditions.append(Plot.assigned_unit == query.assigned_unit)
    if query.since is not None:
        conditions.append(Plot.created_at >= _day_start(query.since))
    if query.until is not None:
        conditions.append(Plot.created_at < _day_start(query.until + timedelta(days=1)))
    bounds = query.bounds()
    if bounds is not None:
        west, south, east, north = bounds
        conditions.append(and_(Plot.max_lat >= south, Plot.min_lat <= north))
        if west <= east:
            conditions.append(and_(Plot.max_lon >= west, Plot.min_lon <= east))
        else:  # across the antimeridian: west..180 or -180..east
            conditions.append(or_(Plot.max_lon >= west, Plot.min_lon <= east))
    return conditions


def select_plots(user: User, query: SuspectFilter) -> Select[Plot]:
    """Plots ``user`` may see that match ``query``, most confident first."""
    return (
        select(Plot)
        .where(visible_to(user), *filter_conditions(query))
        .order_by(Plot.confidence.desc(), Plot.id)
    )


def count_plots(session: Session, user: User, query: SuspectFilter) -> int:
    """How many plots ``user`` may see match ``query``."""
    counted = select(func.count(Plot.id)).where(visible_to(user), *filter_conditions(query))
    return session.scalar(counted) or 0
