"""Login throttling: too many failures for an account or from an address within a window.

NIST SP 800-63B 5.2.2 caps failed attempts per account at 100; we default to 10 in 15 minutes,
per account AND per address, so that one address cannot spray many accounts either. While the
limit is reached every attempt is refused with 429 before the password is even checked.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from gateway.auth.errors import TooManyAttempts
from gateway.auth.models import LoginAttempt, as_utc


def check_throttle(
    session: Session,
    username: str,
    address: str,
    *,
    now: dt.datetime,
    max_failures: int,
    window: dt.timedelta,
) -> None:
    """Raise TooManyAttempts if the account or the address has reached the failure limit."""
    since = now - window
    failed = (LoginAttempt.succeeded.is_(False), LoginAttempt.attempted_at >= since)
    for column, value in ((LoginAttempt.username, username), (LoginAttempt.address, address)):
        count, oldest = session.execute(
            select(func.count(), func.min(LoginAttempt.attempted_at)).where(
                column == value, *failed
            )
        ).one()
        if count >= max_failures and oldest is not None:
            retry = int((as_utc(oldest) + window - now).total_seconds()) + 1
            raise TooManyAttempts("too many failed logins; try again later", max(retry, 1))


def note_attempt(
    session: Session, username: str, address: str, *, succeeded: bool, now: dt.datetime
) -> None:
    session.add(
        LoginAttempt(
            username=username[:64], address=address[:64], succeeded=succeeded, attempted_at=now
        )
    )
    session.flush()


def forget_old_attempts(session: Session, *, before: dt.datetime) -> int:
    """Drop attempts older than any window (the audit trail keeps the failures)."""
    result = session.execute(delete(LoginAttempt).where(LoginAttempt.attempted_at < before))
    return int(result.rowcount or 0)  # type: ignore[attr-defined]
