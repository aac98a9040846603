"""Passwords, login tokens and roles.

Passwords are hashed with argon2id. A login returns a signed JWT (HS256, the server's signing
key) carrying the user's id; every request re-reads the user, so deactivating an account or
changing a role takes effect at once, not when the token expires.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Final

import jwt
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerifyMismatchError

ADMIN: Final = "admin"
ANALYST: Final = "analyst"
PILOT: Final = "pilot"
PATROL: Final = "patrol"
RESEARCHER: Final = "researcher"
ROLES: Final = (ADMIN, ANALYST, PILOT, PATROL, RESEARCHER)

MIN_PASSWORD_LENGTH: Final = 8
_ALGORITHM: Final = "HS256"
_hasher = PasswordHasher()


def hash_password(password: str) -> str:
    """An argon2id hash of ``password`` (salted; safe to store)."""
    return _hasher.hash(password)


def verify_password(password: str, password_hash: str) -> bool:
    """Whether ``password`` matches the stored hash."""
    try:
        return _hasher.verify(password_hash, password)
    except (VerifyMismatchError, InvalidHashError):
        return False


def create_token(user_id: int, key: str, ttl_min: int) -> tuple[str, datetime]:
    """A signed login token for ``user_id`` and its expiry time (UTC)."""
    expires = datetime.now(UTC) + timedelta(minutes=ttl_min)
    token = jwt.encode({"sub": str(user_id), "exp": expires}, key, algorithm=_ALGORITHM)
    return token, expires


def user_id_from_token(token: str, key: str) -> int | None:
    """The user id a valid, unexpired token was issued to; None for anything else."""
    try:
        claims = jwt.decode(token, key, algorithms=[_ALGORITHM], options={"require": ["exp"]})
        return int(claims["sub"])
    except (jwt.PyJWTError, KeyError, ValueError):
        return None
