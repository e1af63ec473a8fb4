"""``/api/auth``: bearer tokens for API clients, cookie sessions for browsers, logout.

``POST /api/auth/token`` follows the OAuth2 password flow of FastAPI's security tutorial (form
fields ``username`` and ``password``); ``POST /api/auth/refresh`` rotates the refresh token;
``POST /api/auth/login`` opens a browser session: an HttpOnly, SameSite=Strict cookie (Secure
over https) plus a CSRF token that every state-changing request must echo in ``X-CSRF-Token``
(given in the response body and in the readable ``lienthong_csrf`` cookie).

Every attempt is audited (DICOM "User Authentication", DCM 110114) and counted for throttling;
while an account or an address has ``auth.login_max_failures`` failures in the window, logins
are refused with 429 before the password is checked.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request, Response
from fastapi.security import OAuth2PasswordRequestForm
from pydantic import BaseModel
from sqlalchemy.orm import Session

from gateway.auth.errors import NotAuthenticated, TooManyAttempts
from gateway.auth.mfa import check_code
from gateway.auth.models import LoginSession, User
from gateway.auth.passwords import passwords_for
from gateway.auth.roles import Role
from gateway.auth.secrets import csrf_token
from gateway.auth.throttle import check_throttle, forget_old_attempts, note_attempt
from gateway.auth.tokens import (
    issue_bearer,
    open_browser_session,
    refresh_bearer,
    revoke_session,
)
from gateway.auth.users import check_credentials
from gateway.deps import (
    CSRF_COOKIE,
    SESSION_COOKIE,
    CurrentPrincipal,
    SettingsDep,
    WriteSessionDep,
    client_address,
)
from lienthong import audit
from lienthong.audit import clean_text
from lienthong.db import utcnow
from lienthong.settings import Settings

router = APIRouter(prefix="/api/auth", tags=["auth"])

LOGIN_ACTION = "login"
LOGIN_FAILED = "wrong user name, password or one-time code"
PasswordForm = Annotated[OAuth2PasswordRequestForm, Depends()]
OneTimeCode = Annotated[str, Form(max_length=16, description="TOTP code, if enrolled")]


class TokenResponse(BaseModel):
    access_token: str
    token_type: str = "bearer"  # noqa: S105 - the OAuth2 token type
    expires_in: int
    refresh_token: str


class BrowserLogin(BaseModel):
    username: str
    role: str
    csrf_token: str
    expires_in: int


class Me(BaseModel):
    name: str
    kind: str
    role: str | None
    scopes: list[str]


def _audit_login(session: Session, request: Request, username: str, role: str | None,
                 outcome: audit.Outcome, detail: str) -> None:
    audit.record(session, actor=username[:64] or "(empty)", actor_kind="user", role=role,
                 action=LOGIN_ACTION, outcome=outcome, address=client_address(request),
                 detail=detail)


def _second_factor_problem(user: User, key: bytes, otp: str, settings: Settings) -> str | None:
    """Why the second factor fails for this user, or None if it passes or is not needed."""
    if user.totp_secret is not None:
        return None if check_code(user, key, otp.strip()) else "wrong or missing one-time code"
    if user.role == Role.ADMIN and settings.auth.require_mfa_for_admins:
        return "admin without an enrolled second factor (lienthong users mfa NAME)"
    return None


def _password_login(
    request: Request, session: Session, settings: Settings, username: str, password: str,
    how: str, otp: str = "",
) -> User:
    """Check a password (and one-time code) under throttling; audit and count the attempt;
    raise on failure. Failures all get the same answer, whichever factor failed."""
    now, address = utcnow(), client_address(request)
    username = clean_text(username)[:64]  # hostile names are still counted and audited
    window = dt.timedelta(seconds=settings.auth.login_window)
    refused: TooManyAttempts | None = None
    with session.begin():
        try:
            check_throttle(session, username, address, now=now,
                           max_failures=settings.auth.login_max_failures, window=window)
            user = check_credentials(session, username, password,
                                     passwords=passwords_for(settings.auth))
        except TooManyAttempts as exc:
            refused, user = exc, None
        why = "wrong user name or password"
        if user is not None:
            problem = _second_factor_problem(user, request.app.state.secret_key, otp, settings)
            if problem is not None:
                user, why = None, problem
        if refused is not None:
            _audit_login(session, request, username, None, audit.Outcome.DENIED,
                         f"{how}: throttled")
        else:
            forget_old_attempts(session, before=now - 2 * window)
            note_attempt(session, username, address, succeeded=user is not None, now=now)
            _audit_login(session, request, username, user.role if user else None,
                         audit.Outcome.SUCCESS if user else audit.Outcome.DENIED,
                         f"{how}: {'ok' if user else why}")
    if refused is not None:
        raise refused
    if user is None:
        raise NotAuthenticated(LOGIN_FAILED)
    return user


@router.post("/token", response_model=TokenResponse)
def token(
    request: Request, form: PasswordForm, session: WriteSessionDep, settings: SettingsDep,
    otp: OneTimeCode = "",
) -> TokenResponse:
    """OAuth2 password grant: a short-lived access token and a refresh token.

    Users with a second factor also send ``otp`` (their current TOTP code)."""
    user = _password_login(request, session, settings, form.username, form.password, "token",
                           otp)
    with session.begin():
        issued = issue_bearer(session, request.app.state.secret_key, user,
                              address=client_address(request), now=utcnow(), auth=settings.auth)
    assert issued.refresh_token is not None
    return TokenResponse(access_token=issued.access_token, expires_in=issued.expires_in,
                         refresh_token=issued.refresh_token)


@router.post("/refresh", response_model=TokenResponse)
def refresh(
    request: Request, refresh_token: Annotated[str, Form(max_length=200)],
    session: WriteSessionDep, settings: SettingsDep,
) -> TokenResponse:
    """Trade a refresh token for a new access token and a new refresh token (rotation)."""
    with session.begin():
        issued = refresh_bearer(session, request.app.state.secret_key, refresh_token,
                                now=utcnow(), auth=settings.auth)
        username = issued.session.user.username if issued else "(unknown)"
        audit.record(session, actor=username, actor_kind="user",
                     role=issued.session.user.role if issued else None, action="refresh",
                     outcome=audit.Outcome.SUCCESS if issued else audit.Outcome.DENIED,
                     address=client_address(request),
                     detail="" if issued else "invalid, expired or reused refresh token")
    if issued is None or issued.refresh_token is None:
        raise NotAuthenticated("the refresh token is invalid or expired")
    return TokenResponse(access_token=issued.access_token, expires_in=issued.expires_in,
                         refresh_token=issued.refresh_token)


@router.post("/login", response_model=BrowserLogin)
def login(
    request: Request, response: Response, form: PasswordForm, session: WriteSessionDep,
    settings: SettingsDep, otp: OneTimeCode = "",
) -> BrowserLogin:
    """Browser login: sets the session cookie and returns the CSRF token."""
    user = _password_login(request, session, settings, form.username, form.password,
                           "browser", otp)
    key: bytes = request.app.state.secret_key
    with session.begin():
        issued = open_browser_session(session, key, user, address=client_address(request),
                                      now=utcnow(), auth=settings.auth)
    csrf = csrf_token(key, issued.access_token)
    secure = request.url.scheme == "https" or settings.auth.secure_cookies
    response.set_cookie(SESSION_COOKIE, issued.access_token, max_age=issued.expires_in,
                        path="/", secure=secure, httponly=True, samesite="strict")
    response.set_cookie(CSRF_COOKIE, csrf, max_age=issued.expires_in, path="/",
                        secure=secure, httponly=False, samesite="strict")
    return BrowserLogin(username=user.username, role=user.role, csrf_token=csrf,
                        expires_in=issued.expires_in)


@router.post("/logout", status_code=204)
def logout(
    request: Request, principal: CurrentPrincipal, session: WriteSessionDep
) -> Response:
    """End the caller's session (bearer or cookie) at once; API keys are revoked by an admin."""
    if principal.login_session_id is None:
        raise NotAuthenticated("only a login session can log out")
    with session.begin():
        row = session.get(LoginSession, principal.login_session_id)
        if row is not None:
            revoke_session(session, row, now=utcnow())
        audit.record(session, actor=principal.name, actor_kind="user",
                     role=str(principal.role) if principal.role else None, action="logout",
                     outcome=audit.Outcome.SUCCESS, address=client_address(request))
    response = Response(status_code=204)
    response.delete_cookie(SESSION_COOKIE, path="/")
    response.delete_cookie(CSRF_COOKIE, path="/")
    return response


@router.get("/me", response_model=Me)
def me(principal: CurrentPrincipal) -> Me:
    """Who the credentials belong to."""
    return Me(name=principal.name, kind=principal.kind,
              role=str(principal.role) if principal.role else None,
              scopes=sorted(principal.scopes))
