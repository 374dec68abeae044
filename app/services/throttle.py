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
from app.i18n import N_
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
    database = str(session.get_bind().engine.url)
    remembered = [_blocked.get((database, key.digest)) for key in keys]
    known = [until for until, recheck in filter(None, remembered) if recheck > now]
    if known and max(known) > now:
        _refuse((max(known) - now).total_seconds())
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
        key_wait = 0.0
        if count and count >= key.limit:
            key_wait = (_aware(oldest) + WINDOW - now).total_seconds()
        elif count and key.backoff and count >= BACKOFF_AFTER:
            delay = min(2.0 ** (count - BACKOFF_AFTER), BACKOFF_MAX_SECONDS)
            key_wait = (_aware(latest) + timedelta(seconds=delay) - now).total_seconds()
        if key_wait > 0:  # remembered for this key only: the others may still be fine
            remember = min(timedelta(seconds=key_wait), REMEMBER_BLOCK)
            _blocked[(database, key.digest)] = (now + timedelta(seconds=key_wait), now + remember)
            wait = max(wait, key_wait)
    if wait > 0:
        _refuse(wait)


#: A flood of attempts against a blocked key is refused from memory, without a query: each
#: worker remembers a block it has seen (at most this long, so rows deleted by hand take
#: effect soon). A block can only end by time passing: a blocked key cannot sign in.
REMEMBER_BLOCK = timedelta(seconds=30)
#: (database, key) -> (blocked until, ask the database again from).
_blocked: dict[tuple[str, str], tuple[datetime, datetime]] = {}


def _refuse(wait: float) -> None:
    if len(_blocked) > 10_000:  # many keys (a distributed guess): drop the expired ones
        current = utcnow()
        for entry in [k for k, (_, recheck) in _blocked.items() if recheck <= current]:
            _blocked.pop(entry, None)
    seconds = max(1, math.ceil(wait))
    raise TooManyAttempts(
        N_("too many failed attempts; try again in %(seconds)s s"),
        retry_after=seconds,
        values={"seconds": seconds},
    )


def forget_blocks() -> None:
    """Forget the blocks this process remembers (tests that reuse one database)."""
    _blocked.clear()


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
