"""Accounts: only admins list, create and change users."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, status
from sqlalchemy import select

from serving.audit import record
from serving.auth import ADMIN, hash_password
from serving.deps import SessionDep, require_roles
from serving.models import User
from serving.schemas.users import UserCreate, UserPublic, UsersPublic, UserUpdate
from serving.users import UserError, create_user

router = APIRouter(prefix="/api/users", tags=["users"])
AdminUser = Annotated[User, Depends(require_roles(ADMIN))]


@router.get("", response_model=UsersPublic, summary="List accounts")
def list_users(session: SessionDep, _admin: AdminUser) -> UsersPublic:
    """Every account, oldest first."""
    users = session.scalars(select(User).order_by(User.id)).all()
    return UsersPublic(data=[UserPublic.model_validate(u) for u in users], count=len(users))


@router.post(
    "", response_model=UserPublic, status_code=status.HTTP_201_CREATED, summary="Create account"
)
def add_user(body: UserCreate, session: SessionDep, admin: AdminUser) -> User:
    """Create an account with a role (and a unit for patrols and pilots)."""
    try:
        user = create_user(
            session, body.username, body.password, body.role, body.full_name, body.unit
        )
    except UserError as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from exc
    record(session, admin, "user.create", details={"user": user.username, "role": user.role})
    session.commit()
    return user


@router.patch("/{user_id}", response_model=UserPublic, summary="Change account")
def update_user(user_id: int, body: UserUpdate, session: SessionDep, admin: AdminUser) -> User:
    """Change role, unit, name, password or deactivate an account."""
    user = session.get(User, user_id)
    if user is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no user {user_id}")
    changes = body.model_dump(exclude_unset=True)
    if user.id == admin.id and (
        changes.get("active") is False or changes.get("role", ADMIN) != ADMIN
    ):
        raise HTTPException(
            status.HTTP_409_CONFLICT, "admins cannot demote or deactivate themselves"
        )
    password = changes.pop("password", None)
    if password is not None:
        user.password_hash = hash_password(password)
    for field, value in changes.items():
        setattr(user, field, value)
    record(
        session,
        admin,
        "user.update",
        details={
            "user": user.username,
            "changed": sorted([*changes, *(["password"] if password else [])]),
        },
    )
    session.commit()
    return user
