"""Tables of the auth package: users, API keys, login sessions and login attempts.

Secrets (passwords, API keys, access/refresh/session tokens) are never stored: passwords as
argon2id hashes, tokens as keyed hashes (``gateway.auth.secrets.token_digest``).
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Boolean, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from lienthong.db import Base, Timestamp, utcnow


class User(Base):
    __tablename__ = "auth_user"

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    role: Mapped[str] = mapped_column(String(32))
    # The person: the name printed on signed reports, and the practising-certificate code
    # (chứng chỉ hành nghề, CCHN) that identifies a reader in claims (QĐ 130 XML4 MA_BS_DOC_KQ).
    display_name: Mapped[str] = mapped_column(String(200), default="", server_default="")
    practice_code: Mapped[str] = mapped_column(String(30), default="", server_default="")
    # None for accounts that only log in through the hospital's identity provider (OIDC).
    password_hash: Mapped[str | None] = mapped_column(String(200))
    disabled: Mapped[bool] = mapped_column(Boolean, default=False)
    # Second factor (gateway.auth.mfa): the TOTP secret encrypted under the server key, and
    # the time step of the last accepted code (a code works once).
    totp_secret: Mapped[str | None] = mapped_column(String(200))
    totp_last_step: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[Timestamp] = mapped_column(default=utcnow)
    disabled_at: Mapped[Timestamp | None] = mapped_column()

    sessions: Mapped[list[LoginSession]] = relationship(back_populates="user")


class ApiKey(Base):
    """A key for a system (HIS, modality integration, Prometheus), limited to its scopes."""

    __tablename__ = "auth_api_key"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    key_digest: Mapped[str] = mapped_column(String(64), unique=True)
    key_prefix: Mapped[str] = mapped_column(String(16))  # shown in listings to tell keys apart
    scopes: Mapped[str] = mapped_column(String(400))  # space-separated
    created_at: Mapped[Timestamp] = mapped_column(default=utcnow)
    revoked_at: Mapped[Timestamp | None] = mapped_column()
    last_used_at: Mapped[Timestamp | None] = mapped_column()

    @property
    def scope_set(self) -> frozenset[str]:
        return frozenset(self.scopes.split())


class LoginSession(Base):
    """One login: a bearer access token + refresh token, or a browser cookie session."""

    __tablename__ = "auth_session"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("auth_user.id"), index=True)
    kind: Mapped[str] = mapped_column(String(16))  # "bearer" or "browser"
    access_digest: Mapped[str] = mapped_column(String(64), unique=True)
    access_expires_at: Mapped[Timestamp] = mapped_column()
    refresh_digest: Mapped[str | None] = mapped_column(String(64), unique=True)
    # The refresh token this one replaced: presenting it again means it was stolen (RFC 6819
    # 5.2.2.3), and the whole session is revoked.
    previous_refresh_digest: Mapped[str | None] = mapped_column(String(64), index=True)
    expires_at: Mapped[Timestamp] = mapped_column()  # absolute end of the session
    created_at: Mapped[Timestamp] = mapped_column(default=utcnow)
    revoked_at: Mapped[Timestamp | None] = mapped_column()
    address: Mapped[str] = mapped_column(String(64), default="")

    user: Mapped[User] = relationship(back_populates="sessions")


class LoginAttempt(Base):
    """One password check, kept for throttling (per account and per address)."""

    __tablename__ = "auth_login_attempt"

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(64), index=True)
    address: Mapped[str] = mapped_column(String(64), index=True)
    succeeded: Mapped[bool] = mapped_column(Boolean)
    attempted_at: Mapped[Timestamp] = mapped_column(index=True)


def as_utc(moment: dt.datetime) -> dt.datetime:
    """SQLite returns naive datetimes for timezone-aware columns; they were stored as UTC."""
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=dt.UTC)

