"""Second factor for password logins: TOTP (RFC 6238, 6 digits, 30 s) via pyotp.

Secrets are stored encrypted with a key derived from the server's secret key (Fernet), so a
copy of the database alone does not give the second factor away. A code is accepted once:
the time step of the last accepted code is kept and older or equal steps are refused.
``auth.require_mfa_for_admins`` (default on) makes a password login as admin without an
enrolled second factor fail. Logins through the identity provider (OIDC) leave the second
factor to the provider.
"""

from __future__ import annotations

import base64
import hashlib
import time

import pyotp
from cryptography.fernet import Fernet, InvalidToken

from gateway.auth.models import User

ISSUER = "Lienthong"
STEP_SECONDS = 30


def _fernet(key: bytes) -> Fernet:
    derived = hashlib.sha256(b"totp-secret-encryption:" + key).digest()
    return Fernet(base64.urlsafe_b64encode(derived))


def enroll(user: User, key: bytes) -> str:
    """Give the user a new TOTP secret; returns the otpauth:// URI for an authenticator app."""
    secret = pyotp.random_base32()
    user.totp_secret = _fernet(key).encrypt(secret.encode("ascii")).decode("ascii")
    user.totp_last_step = None
    return pyotp.TOTP(secret).provisioning_uri(name=user.username, issuer_name=ISSUER)


def check_code(user: User, key: bytes, code: str, *, now: float | None = None) -> bool:
    """Whether ``code`` is the user's current (or previous-step) code, not used before."""
    if user.totp_secret is None or not code.isdigit() or len(code) != 6:
        return False
    try:
        secret = _fernet(key).decrypt(user.totp_secret.encode("ascii")).decode("ascii")
    except InvalidToken:
        return False
    moment = time.time() if now is None else now
    totp = pyotp.TOTP(secret)
    step = int(moment // STEP_SECONDS)
    for candidate in (step, step - 1):  # one step of clock drift
        if candidate <= (user.totp_last_step or -1):
            continue
        if totp.verify(code, for_time=candidate * STEP_SECONDS):
            user.totp_last_step = candidate
            return True
    return False
