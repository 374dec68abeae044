"""Secrets: invitation and session tokens, password hashes."""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

# OWASP's password storage recommendation for argon2id (19 MiB, 2 passes, 1 lane): about
# 25 ms of one core per check. The library's default (RFC 9106's 64 MiB, 3 passes, 4 lanes)
# costs 8 times as much and takes every core at once: a burst of sign-ins would stall every
# expert's save. Hashes made with other parameters still verify; sign-in re-hashes them.
_hasher = PasswordHasher(time_cost=2, memory_cost=19456, parallelism=1)

#: 32 random bytes, URL-safe base64 without padding.
TOKEN_PATTERN = re.compile(r"^[A-Za-z0-9_-]{43}$")


def new_token() -> str:
    """A new unguessable token (256 bits)."""
    return secrets.token_urlsafe(32)


def hash_token(token: str) -> str:
    # Tokens carry 256 random bits, so a fast hash is enough: no dictionary to attack.
    return hashlib.sha256(token.encode()).hexdigest()


def looks_like_token(token: str) -> bool:
    return bool(TOKEN_PATTERN.match(token))


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def password_needs_rehash(password_hash: str) -> bool:
    """Whether a stored hash was made with other parameters than today's."""
    try:
        return _hasher.check_needs_rehash(password_hash)
    except InvalidHashError:
        return True


def constant_time_equal(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode(), b.encode())


def new_password() -> str:
    """A readable random password for generated accounts (about 100 bits)."""
    words = secrets.token_urlsafe(15)
    return words.replace("-", "x").replace("_", "y")
