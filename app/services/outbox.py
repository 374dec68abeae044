"""What the e-mail outbox and the webhook deliveries share: a worker claims the rows that
are due (queued and due, or sending with an expired lease) with ``FOR UPDATE SKIP LOCKED``,
so many workers never take the same row, and holds each under a lease while it sends."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import cast

from sqlmodel import Session, col, select

from app.models import OutboxMessage, WebhookDelivery, id_of

Outgoing = type[OutboxMessage] | type[WebhookDelivery]


@dataclass(frozen=True)
class Delivery:
    """What one pass of a worker's delivery did."""

    sent: int
    retried: int
    failed: int


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


def settle(
    row: OutboxMessage | WebhookDelivery,
    *,
    lease: datetime,
    outcome: str,
    error: str,
    now: datetime,
    max_attempts: int,
    backoff_max: timedelta,
) -> str:
    """Record how sending a claimed row went: ``sent``; ``failed`` for good (or after
    ``max_attempts``); else queued again after 1, 2, 4 ... minutes (at most
    ``backoff_max``). Returns the row's new status; the caller holds its lock. A row whose
    lease is no longer ``lease`` was taken over by another worker: left as it is."""
    if row.status != "sending" or row.lease_until != lease:
        return row.status
    row.lease_until = None
    if outcome == "sent":
        row.status, row.sent_at, row.last_error = "sent", now, ""
    elif outcome == "failed" or row.attempts >= max_attempts:
        row.status, row.last_error = "failed", error[:2000]
    else:
        row.status, row.last_error = "queued", error[:2000]
        row.next_attempt_at = now + min(timedelta(minutes=2 ** (row.attempts - 1)), backoff_max)
    return row.status
