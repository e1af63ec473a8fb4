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
# A practising-certificate code (CCHN) as QĐ 130 carries it: letters, digits, "/" and "-".
PRACTICE_CODE_RE = re.compile(r"[0-9A-Za-z][0-9A-Za-z/-]{0,29}")


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


def check_profile(display_name: str | None, practice_code: str | None) -> None:
    """Raise ValueError for a display name or practising-certificate code that cannot be used."""
    if display_name is not None and (len(display_name) > 200 or any(
            ord(c) < 32 for c in display_name)):
        raise ValueError("a display name is at most 200 printable characters")
    if practice_code and not PRACTICE_CODE_RE.fullmatch(practice_code):
        raise ValueError("a practising-certificate code is 1-30 letters, digits, '/' or '-'")


def create_user(
    session: Session, username: str, role: Role | str, password: str | None, *,
    passwords: Passwords, min_length: int, display_name: str = "", practice_code: str = "",
) -> User:
    """Add a user. Raises ValueError for a bad or taken name, an unknown role, a weak password,
    or an unusable display name / practising-certificate code."""
    username = check_username(username)
    role = Role(role)
    check_profile(display_name, practice_code)
    if session.scalar(select(User.id).where(User.username == username)) is not None:
        raise ValueError(f"user {username!r} already exists")
    password_hash = None
    if password is not None:
        password_hash = passwords.hash(check_password(password, min_length))
    user = User(username=username, role=str(role), password_hash=password_hash, disabled=False,
                display_name=display_name.strip(), practice_code=practice_code)
    session.add(user)
    session.flush()
    return user


def set_profile(session: Session, username: str, *, display_name: str | None = None,
                practice_code: str | None = None) -> User | None:
    """Change the fields given of a user's profile; None if there is no such user.
    Raises ValueError for unusable values. Signed reports keep the values they were signed
    with."""
    check_profile(display_name, practice_code)
    user = find_user(session, username) if USERNAME_RE.fullmatch(username) else None
    if user is None:
        return None
    if display_name is not None:
        user.display_name = display_name.strip()
    if practice_code is not None:
        user.practice_code = practice_code
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
