"""Telling subscribers about rubric events: signed webhooks (and what the Atom feed lists)."""

from __future__ import annotations

from sqlmodel import Session, col, or_, select

from app.models import RubricEvent, WebhookDelivery, WebhookSubscription, id_of


def queue_deliveries(session: Session, event: RubricEvent) -> int:
    """Queue ``event`` for every active subscription to its survey (or to all surveys), in
    the caller's transaction; the worker delivers them. Returns how many were queued."""
    subscriptions = session.exec(
        select(WebhookSubscription).where(
            col(WebhookSubscription.active),
            or_(
                col(WebhookSubscription.survey_id).is_(None),
                col(WebhookSubscription.survey_id) == event.survey_id,
            ),
        )
    ).all()
    for subscription in subscriptions:
        session.add(WebhookDelivery(subscription_id=id_of(subscription), event_id=id_of(event)))
    return len(subscriptions)
