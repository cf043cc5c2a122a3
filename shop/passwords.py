"""Password hashes: argon2id (argon2-cffi's ``PasswordHasher``, RFC 9106 parameters).

Hashes written before argon2 (Werkzeug's ``scrypt:…`` / ``pbkdf2:…``) still verify, and say that
they need rehashing: the log-in that proves the password stores an argon2id hash in their place
(``shop.web.staff.auth.authenticate``). So does an argon2 hash made with weaker parameters than
the hasher's current ones (``check_needs_rehash``).
"""

from __future__ import annotations

from functools import cache
from typing import NamedTuple

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from werkzeug.security import check_password_hash

hasher = PasswordHasher()  # argon2id; time, memory and parallelism as argon2-cffi recommends
WERKZEUG_METHODS = ("scrypt:", "pbkdf2:")


class Verified(NamedTuple):
    ok: bool
    needs_rehash: bool = False


def hash_password(password: str) -> str:
    return hasher.hash(password)


def verify_password(stored: str, password: str) -> Verified:
    """Whether ``password`` matches ``stored``, and whether ``stored`` should be replaced."""
    if stored.startswith("$argon2"):
        try:
            hasher.verify(stored, password)
        except (VerificationError, InvalidHashError):
            return Verified(False)
        return Verified(True, hasher.check_needs_rehash(stored))
    if stored.startswith(WERKZEUG_METHODS):
        return Verified(check_password_hash(stored, password), needs_rehash=True)
    return Verified(False)  # "!" and anything else: no password logs in


@cache
def _dummy_hash() -> str:
    return hash_password("not a real password")


def waste_a_check(password: str) -> None:
    """As long as a real check: an unknown address must not answer faster than a known one."""
    verify_password(_dummy_hash(), password)
