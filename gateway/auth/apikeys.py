"""API keys for systems (HIS, modality integration, Prometheus): shown once, stored as hashes."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable, Sequence

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from gateway.auth.models import ApiKey
from gateway.auth.roles import Scope
from gateway.auth.secrets import API_KEY_PREFIX, new_token, token_digest
from lienthong.db import utcnow

KEY_NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")


def create_api_key(
    session: Session, key: bytes, name: str, scopes: Iterable[Scope | str]
) -> tuple[ApiKey, str]:
    """Create a key; returns the row and the plaintext key, which is never available again.

    Raises ValueError for a bad or taken name, no scope, or an unknown scope.
    """
    if not KEY_NAME_RE.fullmatch(name):
        raise ValueError("an API key name is 1-64 characters: letters, digits and . _ -")
    scope_set = sorted({str(Scope(s)) for s in scopes})
    if not scope_set:
        raise ValueError("an API key needs at least one scope")
    if session.scalar(select(ApiKey.id).where(ApiKey.name == name)) is not None:
        raise ValueError(f"API key {name!r} already exists")
    plaintext = new_token(API_KEY_PREFIX)
    row = ApiKey(
        name=name,
        key_digest=token_digest(key, plaintext),
        key_prefix=plaintext[:10],
        scopes=" ".join(scope_set),
    )
    session.add(row)
    session.flush()
    return row, plaintext


def list_api_keys(session: Session) -> Sequence[ApiKey]:
    return session.scalars(select(ApiKey).order_by(ApiKey.name)).all()


def revoke_api_key(session: Session, name: str) -> bool:
    """Revoke a key (effective on the next request); returns whether it existed."""
    row = session.scalar(select(ApiKey).where(ApiKey.name == name))
    if row is None:
        return False
    if row.revoked_at is None:
        row.revoked_at = utcnow()
    session.flush()
    return True


def mark_api_key_used(session: Session, name: str, *, now: dt.datetime) -> None:
    """Note when a key was last let through (to find keys nobody uses any more)."""
    session.execute(update(ApiKey).where(ApiKey.name == name).values(last_used_at=now))


def find_api_key(session: Session, key: bytes, plaintext: str) -> ApiKey | None:
    """The unrevoked key matching the plaintext, else None."""
    if not plaintext.startswith(API_KEY_PREFIX):
        return None
    row = session.scalar(select(ApiKey).where(ApiKey.key_digest == token_digest(key, plaintext)))
    if row is None or row.revoked_at is not None:
        return None
    return row
