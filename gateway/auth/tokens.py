"""Login sessions: bearer access + refresh tokens for API clients, cookie sessions for browsers.

Why opaque tokens stored hashed, not signed JWTs: every request that touches patient data
already writes an audit row to the database, so one more indexed lookup costs nothing, while a
JWT cannot be taken back before it expires. With a row per session, logout, disabling a user and
refresh-token theft detection take effect on the very next request; no claim inside a token can
be stale (a changed role applies at once); and there is no algorithm or key-confusion surface.
Tokens are 256-bit CSPRNG values with a type prefix (``ltat_`` access, ``ltrt_`` refresh,
``ltss_`` browser session), stored only as HMAC-SHA256 digests under the server's secret key.

Refresh tokens rotate on every use; presenting a refresh token that was already rotated out
revokes the whole session (RFC 6819 5.2.2.3, OAuth 2.0 Security BCP 4.14).
Functions take a Session and never commit.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import bindparam, or_, select
from sqlalchemy.orm import Session

from gateway.auth.models import LoginSession, User, as_utc
from gateway.auth.secrets import (
    ACCESS_TOKEN_PREFIX,
    REFRESH_TOKEN_PREFIX,
    SESSION_TOKEN_PREFIX,
    new_token,
    token_digest,
)
from lienthong.settings import AuthSettings

BEARER = "bearer"
BROWSER = "browser"


@dataclass(frozen=True)
class IssuedTokens:
    access_token: str
    refresh_token: str | None
    expires_in: int
    session: LoginSession


def issue_bearer(
    session: Session, key: bytes, user: User, *, address: str, now: dt.datetime,
    auth: AuthSettings,
) -> IssuedTokens:
    """Open a bearer session: a short-lived access token and a rotating refresh token."""
    access, refresh = new_token(ACCESS_TOKEN_PREFIX), new_token(REFRESH_TOKEN_PREFIX)
    row = LoginSession(
        user_id=user.id,
        kind=BEARER,
        access_digest=token_digest(key, access),
        access_expires_at=now + dt.timedelta(seconds=auth.access_token_ttl),
        refresh_digest=token_digest(key, refresh),
        expires_at=now + dt.timedelta(seconds=auth.refresh_token_ttl),
        address=address[:64],
        created_at=now,
    )
    session.add(row)
    session.flush()
    return IssuedTokens(access, refresh, auth.access_token_ttl, row)


def open_browser_session(
    session: Session, key: bytes, user: User, *, address: str, now: dt.datetime,
    auth: AuthSettings,
) -> IssuedTokens:
    """Open a cookie session; the one token is both the access token and the session id."""
    token = new_token(SESSION_TOKEN_PREFIX)
    expires = now + dt.timedelta(seconds=auth.session_ttl)
    row = LoginSession(
        user_id=user.id,
        kind=BROWSER,
        access_digest=token_digest(key, token),
        access_expires_at=expires,
        refresh_digest=None,
        expires_at=expires,
        address=address[:64],
        created_at=now,
    )
    session.add(row)
    session.flush()
    return IssuedTokens(token, None, auth.session_ttl, row)


def _live(row: LoginSession | None, now: dt.datetime) -> LoginSession | None:
    if row is None or row.revoked_at is not None or row.user.disabled:
        return None
    if as_utc(row.expires_at) <= now:
        return None
    return row


@dataclass(frozen=True)
class Access:
    """The live login session an access token (or cookie) belongs to, and its user."""

    session_id: int
    username: str
    role: str


# Every authenticated request runs this: built once, the user in the same query, and columns
# only (no ORM objects to build for a lookup whose rows are never changed).
_BY_ACCESS_DIGEST = (
    select(
        LoginSession.id,
        LoginSession.revoked_at,
        LoginSession.expires_at,
        LoginSession.access_expires_at,
        User.username,
        User.role,
        User.disabled,
    )
    .join(User, LoginSession.user_id == User.id)
    .where(LoginSession.access_digest == bindparam("digest"))
    .where(LoginSession.kind == bindparam("kind"))
)


def resolve_access(
    session: Session, key: bytes, token: str, *, kind: str, now: dt.datetime
) -> Access | None:
    """The live session whose access token (or cookie) this is, else None.

    Live as in ``_live``: not revoked, its user not disabled, neither the session nor the
    access token expired.
    """
    prefix = ACCESS_TOKEN_PREFIX if kind == BEARER else SESSION_TOKEN_PREFIX
    if not token.startswith(prefix):
        return None
    row = session.execute(
        _BY_ACCESS_DIGEST, {"digest": token_digest(key, token), "kind": kind}
    ).first()
    if row is None or row.revoked_at is not None or row.disabled:
        return None
    if as_utc(row.expires_at) <= now or as_utc(row.access_expires_at) <= now:
        return None
    return Access(row.id, row.username, row.role)


def refresh_bearer(
    session: Session, key: bytes, refresh_token: str, *, now: dt.datetime, auth: AuthSettings
) -> IssuedTokens | None:
    """Rotate: a new access and refresh token for a live refresh token, else None.

    A refresh token that was already used revokes its session (it must have been copied).
    """
    if not refresh_token.startswith(REFRESH_TOKEN_PREFIX):
        return None
    digest = token_digest(key, refresh_token)
    row = session.scalar(
        select(LoginSession).where(
            LoginSession.kind == BEARER,
            or_(
                LoginSession.refresh_digest == digest,
                LoginSession.previous_refresh_digest == digest,
            ),
        )
    )
    if row is None:
        return None
    if row.refresh_digest != digest:  # replay of a rotated-out token
        row.revoked_at = row.revoked_at or now
        session.flush()
        return None
    if _live(row, now) is None:
        return None
    access, refresh = new_token(ACCESS_TOKEN_PREFIX), new_token(REFRESH_TOKEN_PREFIX)
    row.previous_refresh_digest = row.refresh_digest
    row.refresh_digest = token_digest(key, refresh)
    row.access_digest = token_digest(key, access)
    row.access_expires_at = min(
        now + dt.timedelta(seconds=auth.access_token_ttl), as_utc(row.expires_at)
    )
    session.flush()
    expires_in = int((as_utc(row.access_expires_at) - now).total_seconds())
    return IssuedTokens(access, refresh, expires_in, row)


def revoke_session(session: Session, row: LoginSession, *, now: dt.datetime) -> None:
    if row.revoked_at is None:
        row.revoked_at = now
    session.flush()
