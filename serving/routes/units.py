"""Patrol units: the units plots can be dispatched to, for the dispatch form's unit box.

A unit exists while at least one active patrol account belongs to it (the same rule a
dispatch is checked against). Admins and analysts list every unit; a patrol sees only its
own (none when its account has no unit); pilots and researchers get 403.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends
from sqlalchemy import func, select

from serving.auth import ADMIN, ANALYST, PATROL
from serving.deps import SessionDep, require_roles
from serving.models import User
from serving.schemas.users import UnitPublic, UnitsPublic

router = APIRouter(prefix="/api/units", tags=["users"])
UnitReader = Annotated[User, Depends(require_roles(ADMIN, ANALYST, PATROL))]


@router.get("", response_model=UnitsPublic, summary="List patrol units")
def list_units(session: SessionDep, user: UnitReader) -> UnitsPublic:
    """Every patrol unit with its number of active members, by name (a patrol: its own)."""
    where = [User.role == PATROL, User.active, User.unit != ""]
    if user.role == PATROL:
        where.append(User.unit == user.unit)
    rows = session.execute(
        select(User.unit, func.count(User.id)).where(*where).group_by(User.unit).order_by(User.unit)
    ).all()
    units = [UnitPublic(name=name, members=members) for name, members in rows]
    return UnitsPublic(data=units, count=len(units))
