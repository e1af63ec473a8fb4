"""Password hashing with argon2id (argon2-cffi).

The cost comes from the settings (``auth.password_hash_memory_kib``, ``..._time_cost``);
the defaults are RFC 9106's second recommended option (64 MiB, 3 passes, 4 lanes) and the
floor is OWASP's minimum (19 MiB, 2 passes). Verification reads the cost from the stored hash,
so raising it later applies to each user at their next login (``needs_rehash``).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from lienthong.settings import AuthSettings


@dataclass(frozen=True)
class Passwords:
    """Hashes and checks passwords at one argon2id cost."""

    hasher: PasswordHasher
    dummy_hash: str  # checked for unknown accounts, so the answer takes as long either way

    def hash(self, password: str) -> str:
        return self.hasher.hash(password)

    def verify(self, password_hash: str | None, password: str) -> bool:
        """Whether the password matches; a missing hash costs the same time and fails."""
        try:
            ok = self.hasher.verify(password_hash or self.dummy_hash, password)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False
        return ok and password_hash is not None

    def needs_rehash(self, password_hash: str) -> bool:
        return self.hasher.check_needs_rehash(password_hash)


@lru_cache(maxsize=4)
def _passwords(memory_kib: int, time_cost: int, parallelism: int) -> Passwords:
    hasher = PasswordHasher(time_cost=time_cost, memory_cost=memory_kib,
                            parallelism=parallelism, type=Type.ID)
    return Passwords(hasher, hasher.hash("not the password of anyone"))


def passwords_for(auth: AuthSettings) -> Passwords:
    return _passwords(auth.password_hash_memory_kib, auth.password_hash_time_cost, 4)
