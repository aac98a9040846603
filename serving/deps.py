"""Request dependencies as ``Annotated`` aliases: settings, database session, current user.

Routes declare what they need — ``session: SessionDep``, ``user: CurrentUser`` or
``user: Annotated[User, Depends(require_roles(ADMIN))]`` — and nothing else.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine, Iterator
from typing import Annotated

from fastapi import Depends, HTTPException, Request, status
from fastapi.security import OAuth2PasswordBearer
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from serving.auth import user_id_from_token
from serving.config import Settings
from serving.models import User
from serving.plot_counts import PlotCounts, SuspectPages
from serving.revision_cache import revision_value

TOKEN_URL = "/api/auth/token"
# The web UI keeps its token in this HttpOnly, SameSite=Strict cookie, so map tiles and chip
# images (which browsers fetch without an Authorization header) are authorised too.
SESSION_COOKIE = "poppyscan_session"
oauth2_scheme = OAuth2PasswordBearer(tokenUrl=TOKEN_URL, auto_error=False)


async def get_settings(request: Request) -> Settings:
    """The settings the app was created with.

    Dependencies that do no I/O are ``async``: FastAPI runs a sync one on its thread pool,
    and each such hop costs a thread switch on every request.
    """
    settings: Settings = request.app.state.settings
    return settings


def get_session(request: Request) -> Iterator[Session]:
    """A database session for one request, closed afterwards."""
    factory: sessionmaker[Session] = request.app.state.sessions
    with factory() as session:
        yield session


async def get_plot_counts(request: Request) -> PlotCounts:
    """This process's cache of suspect-list totals."""
    counts: PlotCounts = request.app.state.plot_counts
    return counts


async def get_suspect_pages(request: Request) -> SuspectPages:
    """This process's cache of encoded suspect-list pages."""
    pages: SuspectPages = request.app.state.suspect_pages
    return pages


SettingsDep = Annotated[Settings, Depends(get_settings)]
PlotCountsDep = Annotated[PlotCounts, Depends(get_plot_counts)]
SuspectPagesDep = Annotated[SuspectPages, Depends(get_suspect_pages)]
SessionDep = Annotated[Session, Depends(get_session)]


def get_current_user(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    token: Annotated[str | None, Depends(oauth2_scheme)],
) -> User:
    """The active user the bearer token (or the web UI's session cookie) belongs to (401
    otherwise)."""
    return authenticate(request, session, settings, token)


def authenticate(request: Request, session: Session, settings: Settings, token: str | None) -> User:
    """The active user ``token`` (or else the web UI's session cookie) belongs to; 401 for
    no token, a bad or expired one, or an unknown or deactivated user."""
    return _active(session.get(User, _token_user_id(request, settings, token)))


def authenticate_at_revision(
    request: Request, session: Session, settings: Settings, token: str | None
) -> tuple[User, int | None]:
    """:func:`authenticate`'s user and the plots' revision
    (:func:`serving.revision_cache.revision_value`), read by one statement: the suspect
    list needs both on every pan of the map, and a database server's round trip costs both
    ends CPU."""
    user_id = _token_user_id(request, settings, token)
    found = session.execute(select(User, revision_value()).where(User.id == user_id)).one_or_none()
    if found is None:
        raise _unauthorized()
    user, revision = found
    return _active(user), revision


def _unauthorized() -> HTTPException:
    return HTTPException(
        status.HTTP_401_UNAUTHORIZED,
        "not logged in or the token has expired: log in at " + TOKEN_URL,
        headers={"WWW-Authenticate": "Bearer"},
    )


def _token_user_id(request: Request, settings: Settings, token: str | None) -> int:
    """The user id of ``token`` (else of the session cookie); 401 for no token or a bad or
    expired one."""
    token = token or request.cookies.get(SESSION_COOKIE)
    user_id = user_id_from_token(token, settings.signing_key()) if token else None
    if user_id is None:
        raise _unauthorized()
    return user_id


def _active(user: User | None) -> User:
    """``user`` if it exists and is active (401 otherwise)."""
    if user is None or not user.active:
        raise _unauthorized()
    return user


def check_role(user: User, roles: tuple[str, ...]) -> User:
    """``user`` if their role is one of ``roles`` (403 otherwise)."""
    if user.role not in roles:
        raise HTTPException(
            status.HTTP_403_FORBIDDEN,
            f"role {user.role!r} may not do this (needs {' or '.join(roles)})",
        )
    return user


CurrentUser = Annotated[User, Depends(get_current_user)]


def require_roles(*roles: str) -> Callable[[User], Coroutine[None, None, User]]:
    """A dependency admitting only users with one of ``roles`` (403 for anyone else)."""

    async def check(user: CurrentUser) -> User:
        return check_role(user, roles)

    return check
