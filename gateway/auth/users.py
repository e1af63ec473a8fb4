"""User accounts: create, list, disable, and check a password. Functions never commit."""

from __future__ import annotations

import re
from collections.abc import Sequence

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from gateway.auth.models import LoginSession, User
from gateway.auth.passwords import Passwords
from gateway.auth.roles import Role
from lienthong.db import utcnow

USERNAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@-]{0,63}")


def check_username(username: str) -> str:
    if not USERNAME_RE.fullmatch(username):
        raise ValueError(
            "a user name is 1-64 characters: letters, digits and . _ @ - (not first)"
        )
    return username


def check_password(password: str, min_length: int) -> str:
    if len(password) < min_length:
        raise ValueError(f"the password must be at least {min_length} characters")
    if len(set(password)) < 4:
        raise ValueError("the password is too repetitive")
    return password


def create_user(
    session: Session, username: str, role: Role | str, password: str | None, *,
    passwords: Passwords, min_length: int,
) -> User:
    """Add a user. Raises ValueError for a bad or taken name, an unknown role, a weak password."""
    username = check_username(username)
    role = Role(role)
    if session.scalar(select(User.id).where(User.username == username)) is not None:
        raise ValueError(f"user {username!r} already exists")
    password_hash = None
    if password is not None:
        password_hash = passwords.hash(check_password(password, min_length))
    user = User(username=username, role=str(role), password_hash=password_hash, disabled=False)
    session.add(user)
    session.flush()
    return user


def list_users(session: Session) -> Sequence[User]:
    return session.scalars(select(User).order_by(User.username)).all()


def find_user(session: Session, username: str) -> User | None:
    return session.scalar(select(User).where(User.username == username))


def disable_user(session: Session, username: str) -> bool:
    """Disable an account and end its sessions at once; returns whether it existed."""
    user = find_user(session, username) if USERNAME_RE.fullmatch(username) else None
    if user is None:
        return False
    now = utcnow()
    if not user.disabled:
        user.disabled, user.disabled_at = True, now
    session.execute(
        update(LoginSession)
        .where(LoginSession.user_id == user.id, LoginSession.revoked_at.is_(None))
        .values(revoked_at=now)
    )
    session.flush()
    return True


def check_credentials(
    session: Session, username: str, password: str, *, passwords: Passwords
) -> User | None:
    """The active user with this password, else None (same cost for unknown accounts)."""
    user = find_user(session, username) if USERNAME_RE.fullmatch(username) else None
    ok = passwords.verify(user.password_hash if user else None, password)
    if user is None or not ok or user.disabled:
        return None
    if user.password_hash and passwords.needs_rehash(user.password_hash):
        user.password_hash = passwords.hash(password)
    return user
