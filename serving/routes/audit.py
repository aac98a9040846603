"""The audit log: who did what, when and where (admins and analysts)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query
from sqlalchemy import select

from serving.auth import ADMIN, ANALYST
from serving.deps import SessionDep, require_roles
from serving.models import AuditEvent, User
from serving.schemas.plots import AuditEventPublic, AuditEventsPublic, AuditFilter

router = APIRouter(prefix="/api/audit", tags=["audit"])
Auditor = Annotated[User, Depends(require_roles(ADMIN, ANALYST))]


@router.get("", response_model=AuditEventsPublic, summary="The audit log")
def list_audit(
    query: Annotated[AuditFilter, Query()], session: SessionDep, _user: Auditor
) -> AuditEventsPublic:
    """Audit records matching every given filter, oldest first (the log is append-only)."""
    stmt = select(AuditEvent).order_by(AuditEvent.id)
    if query.username is not None:
        stmt = stmt.where(AuditEvent.username == query.username)
    if query.action is not None:
        stmt = stmt.where(AuditEvent.action == query.action)
    if query.plot_id is not None:
        stmt = stmt.where(AuditEvent.plot_id == query.plot_id)
    if query.since is not None:
        stmt = stmt.where(AuditEvent.at >= query.since)
    events = session.scalars(stmt.limit(query.limit).offset(query.offset))
    data = [AuditEventPublic.model_validate(e) for e in events]
    return AuditEventsPublic(data=data, count=len(data))
