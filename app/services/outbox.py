"""What the e-mail outbox and the webhook deliveries share: a worker claims the rows that
are due (queued and due, or sending with an expired lease) with ``FOR UPDATE SKIP LOCKED``,
so many workers never take the same row, and holds each under a lease while it sends.
:func:`deliver_due` is one pass of either worker; each says only how its rows are read and
sent (``mail.deliver_due``, ``webhooks.deliver_due``)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Generic, TypeVar, cast

from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from app.db import session_scope
from app.models import OutboxMessage, WebhookDelivery, id_of, utcnow

Outgoing = type[OutboxMessage] | type[WebhookDelivery]

#: Attempts before a row is marked failed for good (e-mail and webhooks alike).
MAX_ATTEMPTS = 8
#: How long a claimed row is reserved for the worker that claimed it.
LEASE = timedelta(minutes=5)
#: The longest wait between two attempts.
BACKOFF_MAX = timedelta(hours=1)


@dataclass(frozen=True)
class Batch:
    """How much one pass of a worker claims at the most, and the clock it goes by (tests
    move it to see retries and leases come due)."""

    limit: int = 50
    now: Callable[[], datetime] = utcnow


@dataclass(frozen=True)
class Delivery:
    """What one pass of a worker's delivery did."""

    sent: int
    retried: int
    failed: int


@dataclass
class Tally:
    """The outcomes of one pass of a worker, counted as each is recorded."""

    sent: int = 0
    retried: int = 0
    failed: int = 0

    def count(self, outcome: str, status: str) -> None:
        """Count one attempt: ``outcome`` as the sender saw it (sent, failed, retry) and
        ``status`` the row's after it was recorded (a retry out of attempts has failed)."""
        if outcome == "sent":
            self.sent += 1
        elif outcome == "failed":
            self.failed += 1
        else:
            self.failed += status == "failed"
            self.retried += status == "queued"

    def delivery(self) -> Delivery:
        return Delivery(self.sent, self.retried, self.failed)


def claim(
    engine: Engine, table: Outgoing, *, now: datetime, limit: int, lease: timedelta
) -> list[tuple[int, datetime]]:
    """:func:`claim_due` in a transaction of its own, committed before anything is sent."""
    with session_scope(engine) as session:
        return claim_due(session, table, now=now, limit=limit, lease=lease)


def claim_due(
    session: Session, table: Outgoing, *, now: datetime, limit: int, lease: timedelta
) -> list[tuple[int, datetime]]:
    """Mark up to ``limit`` due rows of ``table`` as being sent by this worker until
    ``now + lease``; (id, lease end) each, oldest first."""
    due = (
        select(table)
        .where(
            (col(table.status) == "queued") & (col(table.next_attempt_at) <= now)
            | (col(table.status) == "sending") & (col(table.lease_until) <= now)
        )
        .order_by(col(table.id))
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    until = now + lease
    claimed = []
    rows = cast("list[OutboxMessage | WebhookDelivery]", session.exec(due).all())
    for row in rows:
        row.status, row.lease_until = "sending", until
        row.attempts += 1
        session.add(row)
        claimed.append((id_of(row), until))
    return claimed


@dataclass(frozen=True)
class Retry:
    """How a table's rows are tried again: ``max_attempts`` before a row fails for good,
    waiting 1, 2, 4 ... minutes between two, at most ``backoff_max``."""

    max_attempts: int
    backoff_max: timedelta


@dataclass(frozen=True)
class Queue:
    """One table of outgoing rows and how its worker treats them: a claimed row is held
    for ``lease``; an attempt that did not go through is tried again as ``retry`` says."""

    table: Outgoing
    lease: timedelta = LEASE
    retry: Retry = Retry(max_attempts=MAX_ATTEMPTS, backoff_max=BACKOFF_MAX)


_Item = TypeVar("_Item")


@dataclass(frozen=True)
class Claimed(Generic[_Item]):
    """A row this worker claimed until ``lease``, with what is to be sent for it."""

    row_id: int
    lease: datetime
    item: _Item


@dataclass(frozen=True)
class Attempt:
    """How sending one claimed row went, as the sender saw it: ``outcome`` sent, failed
    (for good) or retry, with the error; ``answer`` the HTTP status a webhook's subscriber
    replied with (None for e-mail, or when no answer came)."""

    outcome: str
    error: str = ""
    answer: int | None = None


def deliver_due(
    engine: Engine,
    queue: Queue,
    *,
    ready: Callable[[list[tuple[int, datetime]]], list[Claimed[_Item]]],
    send: Callable[[_Item], Attempt],
    batch: Batch,
) -> Delivery:
    """One pass of a worker: claim what is due, have ``ready`` read the claimed rows (in one
    query) into what ``send`` sends, send each, and record each outcome at once, in a
    transaction of its own, so a worker stopped midway has recorded all it sent before."""
    claimed = claim(engine, queue.table, now=batch.now(), limit=batch.limit, lease=queue.lease)
    tally = Tally()
    for one in ready(claimed):
        attempt = send(one.item)
        status = record(engine, queue, one.row_id, one.lease, attempt, now=batch.now())
        tally.count(attempt.outcome, status)
    return tally.delivery()


def record(
    engine: Engine, queue: Queue, row_id: int, lease: datetime, attempt: Attempt, *, now: datetime
) -> str:
    """:func:`settle` a row claimed until ``lease``, in a transaction of its own; its new
    status, or "deleted" when the row went meanwhile (its subscription deleted, its person
    erased)."""
    table = queue.table
    with session_scope(engine) as session:
        query = select(table).where(col(table.id) == row_id).with_for_update()
        row = cast("OutboxMessage | WebhookDelivery | None", session.exec(query).first())
        if row is None:
            return "deleted"
        status = settle(row, lease=lease, attempt=attempt, now=now, retry=queue.retry)
        session.add(row)
        return status


def settle(
    row: OutboxMessage | WebhookDelivery,
    *,
    lease: datetime,
    attempt: Attempt,
    now: datetime,
    retry: Retry,
) -> str:
    """Record how sending a claimed row went: ``sent``; ``failed`` for good (or after
    ``retry.max_attempts``); else queued again after 1, 2, 4 ... minutes (at most
    ``retry.backoff_max``). A webhook delivery keeps the subscriber's answer. Returns the
    row's new status; the caller holds its lock. A row whose lease is no longer ``lease``
    was taken over by another worker: left as it is."""
    if row.status != "sending" or row.lease_until != lease:
        return row.status
    if isinstance(row, WebhookDelivery):
        row.response_status = attempt.answer
    row.lease_until = None
    outcome, error = attempt.outcome, attempt.error
    if outcome == "sent":
        row.status, row.sent_at, row.last_error = "sent", now, ""
    elif outcome == "failed" or row.attempts >= retry.max_attempts:
        row.status, row.last_error = "failed", error[:2000]
    else:
        row.status, row.last_error = "queued", error[:2000]
        row.next_attempt_at = now + min(
            timedelta(minutes=2 ** (row.attempts - 1)), retry.backoff_max
        )
    return row.status
