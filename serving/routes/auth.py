"""Login (OAuth2 password flow) and who-am-I."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Response, status
from fastapi.security import OAuth2PasswordRequestForm
from sqlalchemy import select

from serving.auth import create_token, verify_password
from serving.deps import SESSION_COOKIE, CurrentUser, SessionDep, SettingsDep
from serving.models import User
from serving.schemas.users import Token, UserPublic

router = APIRouter(prefix="/api/auth", tags=["login"])


@router.post("/token", response_model=Token, summary="Log in with username and password")
def login(
    form: Annotated[OAuth2PasswordRequestForm, Depends()],
    session: SessionDep,
    settings: SettingsDep,
) -> Token:
    """Exchange a username and password for a bearer token (send it as
    ``Authorization: Bearer <token>``)."""
    user = session.scalar(select(User).where(User.username == form.username))
    if user is None or not user.active or not verify_password(form.password, user.password_hash):
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            "wrong username or password",
            headers={"WWW-Authenticate": "Bearer"},
        )
    token, expires = create_token(user.id, settings.signing_key(), settings.token_ttl_min)
    return Token(access_token=token, expires_at=expires)


@router.post("/session", response_model=Token, summary="Log in the web UI (sets a cookie)")
def login_session(
    form: Annotated[OAuth2PasswordRequestForm, Depends()],
    session: SessionDep,
    settings: SettingsDep,
    response: Response,
) -> Token:
    """As ``/token``, and also set the token as an HttpOnly, SameSite=Strict cookie, which
    the browser sends with map tiles and images."""
    token = login(form, session, settings)
    response.set_cookie(
        SESSION_COOKIE,
        token.access_token,
        max_age=settings.token_ttl_min * 60,
        httponly=True,
        samesite="strict",
        path="/",
    )
    return token


@router.post("/logout", status_code=status.HTTP_204_NO_CONTENT, summary="Log out the web UI")
def logout(response: Response) -> None:
    """Forget the web UI's session cookie."""
    response.delete_cookie(SESSION_COOKIE, path="/")


@router.get("/me", response_model=UserPublic, summary="The logged-in user")
def me(user: CurrentUser) -> User:
    """The account the token belongs to, with its role and unit."""
    return user
