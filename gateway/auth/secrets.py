"""The server's secret key and the random tokens derived from it.

The key has no default anywhere in the repository. If ``auth.secret_key`` is not set, a random
one is generated into ``<data_dir>/secret_key`` (mode 0600) on first start and read from there
afterwards; a configured key that is short or repetitive is refused. The key is used to hash
tokens and API keys before they are stored (HMAC-SHA256: a copy of the database alone does not
let anyone test guesses) and to derive per-session CSRF tokens.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import stat
from pathlib import Path

from gateway.auth.errors import WeakSecret
from lienthong.settings import Settings

SECRET_FILE = "secret_key"  # noqa: S105 - a file name, not a secret
MIN_SECRET_CHARS = 32
MIN_DISTINCT_CHARS = 12
TOKEN_BYTES = 32  # 256 bits from the CSPRNG (OWASP ASVS 5.0 7.2.3 asks for at least 128)

API_KEY_PREFIX = "lt_"
ACCESS_TOKEN_PREFIX = "ltat_"  # noqa: S105 - a type prefix
REFRESH_TOKEN_PREFIX = "ltrt_"  # noqa: S105 - a type prefix
SESSION_TOKEN_PREFIX = "ltss_"  # noqa: S105 - a type prefix


def check_secret_strength(secret: str) -> str:
    """Return the secret, or raise WeakSecret if it is too short or too repetitive."""
    if len(secret) < MIN_SECRET_CHARS:
        raise WeakSecret(f"auth.secret_key must be at least {MIN_SECRET_CHARS} characters")
    if len(set(secret)) < MIN_DISTINCT_CHARS:
        raise WeakSecret("auth.secret_key is too repetitive; generate a random one")
    return secret


def load_secret_key(settings: Settings) -> bytes:
    """The configured key, else the one in the data folder, generated there on first use."""
    configured = settings.auth.secret_key
    if configured is not None:
        return check_secret_strength(configured).encode("utf-8")
    path = settings.data_dir / SECRET_FILE
    try:
        return _read_key_file(path)
    except FileNotFoundError:
        pass
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another process created it first
        return _read_key_file(path)
    with os.fdopen(fd, "w", encoding="ascii") as handle:
        handle.write(secrets.token_urlsafe(48))
        handle.flush()
        os.fsync(handle.fileno())
    return _read_key_file(path)


def _read_key_file(path: Path) -> bytes:
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        raise WeakSecret(f"{path.name} is readable by others (mode {mode:o}); chmod 600 it")
    return check_secret_strength(path.read_text(encoding="ascii").strip()).encode("utf-8")


def new_token(prefix: str) -> str:
    """A fresh random token: a type prefix (so leaked tokens are recognisable) + 256 bits."""
    return prefix + secrets.token_urlsafe(TOKEN_BYTES)


def token_digest(key: bytes, token: str) -> str:
    """The keyed hash under which a token is stored and looked up."""
    return hmac.new(key, token.encode("utf-8"), hashlib.sha256).hexdigest()


def csrf_token(key: bytes, session_token: str) -> str:
    """The CSRF token bound to a browser session (synchroniser token, derived not stored)."""
    return hmac.new(key, b"csrf:" + session_token.encode("utf-8"), hashlib.sha256).hexdigest()


def same_secret(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode("utf-8"), b.encode("utf-8"))
