"""Account management shared by the API and ``poppyscan user create``."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from detector.errors import PoppyscanError
from serving.auth import MIN_PASSWORD_LENGTH, ROLES, hash_password
from serving.models import User


class UserError(PoppyscanError):
    """An account cannot be created or changed as asked."""


def create_user(
    session: Session, username: str, password: str, role: str, full_name: str = "", unit: str = ""
) -> User:
    """Add a user to ``session`` and flush it; refuse duplicates, unknown roles, short passwords."""
    if role not in ROLES:
        raise UserError(f"unknown role {role!r}: choose one of {', '.join(ROLES)}")
    if len(password) < MIN_PASSWORD_LENGTH:
        raise UserError(f"password must be at least {MIN_PASSWORD_LENGTH} characters")
    if session.scalar(select(User.id).where(User.username == username)) is not None:
        raise UserError(f"user {username!r} already exists")
    user = User(
        username=username,
        password_hash=hash_password(password),
        role=role,
        full_name=full_name,
        unit=unit,
    )
    session.add(user)
    try:
        session.flush()
    except IntegrityError as exc:  # a concurrent create of the same name
        raise UserError(f"user {username!r} already exists") from exc
    return user
