"""User and login bodies."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from serving.auth import MIN_PASSWORD_LENGTH

Role = Literal["admin", "analyst", "pilot", "patrol", "researcher"]


class Token(BaseModel):
    """A bearer token returned by the login form."""

    access_token: str
    token_type: str = "bearer"
    expires_at: datetime


class UserCreate(BaseModel):
    """A new account (admins only)."""

    username: str = Field(min_length=2, max_length=64, pattern=r"^[A-Za-z0-9_.@-]+$")
    password: str = Field(min_length=MIN_PASSWORD_LENGTH, max_length=200)
    role: Role
    full_name: str = Field(default="", max_length=200)
    unit: str = Field(default="", max_length=100, description="patrol or pilot unit")


class UserUpdate(BaseModel):
    """Changes to an account; omitted fields stay as they are."""

    password: str | None = Field(default=None, min_length=MIN_PASSWORD_LENGTH, max_length=200)
    role: Role | None = None
    full_name: str | None = Field(default=None, max_length=200)
    unit: str | None = Field(default=None, max_length=100)
    active: bool | None = None


class UserPublic(BaseModel):
    """An account as others see it (never the password hash)."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    username: str
    full_name: str
    role: Role
    unit: str
    active: bool
    created_at: datetime


class UsersPublic(BaseModel):
    """A list of accounts."""

    data: list[UserPublic]
    count: int


class UnitPublic(BaseModel):
    """A patrol unit: a name that active patrol accounts share.

    Attributes:
        name: The unit, as plots are dispatched to it (``assigned_unit``).
        members: Active patrol accounts in the unit.
    """

    name: str
    members: int


class UnitsPublic(BaseModel):
    """Patrol units, by name."""

    data: list[UnitPublic]
    count: int
