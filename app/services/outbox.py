"""What the e-mail outbox and the webhook deliveries share: a worker claims the rows that
are due (queued and due, or sending with an expired lease) with ``FOR UPDATE SKIP LOCKED``,
so many workers never take the same row, and holds each under a lease while it sends."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import cast

from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from app.db import session_scope
from app.models import OutboxMessage, WebhookDelivery, id_of

Outgoing = type[OutboxMessage] | type[WebhookDelivery]


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


def settle(
    row: OutboxMessage | WebhookDelivery,
    *,
    lease: datetime,
    outcome: str,
    error: str,
    now: datetime,
    retry: Retry,
) -> str:
    """Record how sending a claimed row went: ``sent``; ``failed`` for good (or after
    ``retry.max_attempts``); else queued again after 1, 2, 4 ... minutes (at most
    ``retry.backoff_max``). Returns the row's new status; the caller holds its lock. A row whose
    lease is no longer ``lease`` was taken over by another worker: left as it is."""
    if row.status != "sending" or row.lease_until != lease:
        return row.status
    row.lease_until = None
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
