"""Authentication and authorisation errors; ``gateway.errors`` maps them to HTTP statuses."""

from __future__ import annotations


class AuthError(Exception):
    """Base class: ``http_status`` and a short reason that is safe to show to the caller."""

    http_status: int = 401

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class NotAuthenticated(AuthError):
    """No credentials, or credentials that are unknown, expired, revoked or disabled (401)."""

    http_status = 401


class Forbidden(AuthError):
    """Authenticated, but the role or API key scope does not allow this request (403)."""

    http_status = 403


class CsrfRejected(Forbidden):
    """A cookie-authenticated state change without the matching CSRF token (403)."""


class TooManyAttempts(AuthError):
    """Login throttled after too many failures for the account or the address (429)."""

    http_status = 429

    def __init__(self, reason: str, retry_after: int) -> None:
        super().__init__(reason)
        self.retry_after = retry_after


class AuditUnavailable(AuthError):
    """The audit row could not be written, so the request must not proceed (503)."""

    http_status = 503


class WeakSecret(ValueError):
    """A configured secret is too short or too simple to be used."""
