"""Slowing down guessing: failed sign-ins and invitation tokens, counted in the database so
the limits hold across workers and replicas.

Per key, within a sliding window of ``WINDOW``:

* an account (the e-mail tried) allows ``ACCOUNT_LIMIT`` failures; from the third one on,
  the next attempt must also wait 1, 2, 4 ... up to 60 seconds after the last failure
  (backoff), so a person who mistypes twice is not slowed but a script is;
* a client address allows ``ADDRESS_LIMIT`` failed sign-ins (guessing many accounts) and,
  separately, ``TOKEN_LIMIT`` unknown invitation tokens.

Past a limit the answer is 429 with Retry-After, whatever the password. A successful
sign-in clears its account's count. Keys are stored as SHA-256 digests.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlmodel import Session, col, delete, func, select

from app.errors import TooManyAttempts
from app.models import AuthFailure, utcnow

WINDOW = timedelta(minutes=15)
ACCOUNT_LIMIT = 10
ADDRESS_LIMIT = 30
TOKEN_LIMIT = 30
#: Failures of one account after which each further attempt waits (1 s, doubling).
BACKOFF_AFTER = 3
BACKOFF_MAX_SECONDS = 60


@dataclass(frozen=True)
class ThrottleKey:
    """One thing whose failures are counted, with its limit."""

    digest: str
    limit: int
    backoff: bool = False


def _key(kind: str, value: str, limit: int, *, backoff: bool = False) -> ThrottleKey:
    digest = hashlib.sha256(f"{kind}:{value}".encode("utf-8", "replace")).hexdigest()
    return ThrottleKey(digest, limit, backoff)


def sign_in_keys(*, email: str, address: str) -> tuple[ThrottleKey, ThrottleKey]:
    """The account key and the client-address key of a sign-in attempt."""
    return (
        _key("account", email.strip().lower(), ACCOUNT_LIMIT, backoff=True),
        _key("address", address, ADDRESS_LIMIT),
    )


def token_key(*, address: str) -> ThrottleKey:
    """The key counting unknown invitation tokens from one client address."""
    return _key("token-address", address, TOKEN_LIMIT)


def check_allowed(
    session: Session, *, keys: Sequence[ThrottleKey], now: datetime | None = None
) -> None:
    """Raise TooManyAttempts (429, with Retry-After) if any key is over its limit."""
    now = now or utcnow()
    since = now - WINDOW
    wait = 0.0
    for key in keys:
        count, oldest, latest = session.exec(
            select(
                func.count(col(AuthFailure.id)),
                func.min(AuthFailure.failed_at),
                func.max(AuthFailure.failed_at),
            ).where(AuthFailure.key == key.digest, col(AuthFailure.failed_at) > since)
        ).one()
        if not count:
            continue
        if count >= key.limit:
            wait = max(wait, (_aware(oldest) + WINDOW - now).total_seconds())
        elif key.backoff and count >= BACKOFF_AFTER:
            delay = min(2.0 ** (count - BACKOFF_AFTER), BACKOFF_MAX_SECONDS)
            wait = max(wait, (_aware(latest) + timedelta(seconds=delay) - now).total_seconds())
    if wait > 0:
        seconds = max(1, math.ceil(wait))
        raise TooManyAttempts(
            f"too many failed attempts; try again in {seconds} s", retry_after=seconds
        )


def record_failure(
    session: Session, *, keys: Sequence[ThrottleKey], now: datetime | None = None
) -> None:
    """Count one failure against each key, and forget failures older than the window."""
    now = now or utcnow()
    session.exec(delete(AuthFailure).where(col(AuthFailure.failed_at) <= now - WINDOW))
    for key in keys:
        session.add(AuthFailure(key=key.digest, failed_at=now))


def clear_failures(session: Session, *, keys: Sequence[ThrottleKey]) -> None:
    """Forget the failures of these keys (after a successful sign-in)."""
    session.exec(delete(AuthFailure).where(col(AuthFailure.key).in_([k.digest for k in keys])))


def _aware(value: datetime) -> datetime:
    # SQL aggregates bypass the column type, so SQLite hands back a naive UTC datetime
    # (or its text): make it comparable with ``now``.
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value if value.tzinfo else value.replace(tzinfo=UTC)
