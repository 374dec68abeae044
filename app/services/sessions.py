"""Signed-in sessions of staff and experts, kept in the database so any replica serves them."""

from __future__ import annotations

import secrets
from datetime import timedelta

from sqlmodel import Session, col, delete, select

from app.models import Invitation, User, WebSession, utcnow
from app.security import hash_token, looks_like_token, new_token


def start_session(
    session: Session,
    *,
    hours: int,
    user_id: int | None = None,
    invitation_id: int | None = None,
) -> tuple[str, WebSession]:
    """Create a session for a user or an invitation; returns (secret token, row)."""
    token = new_token()
    row = WebSession(
        token_hash=hash_token(token),
        user_id=user_id,
        invitation_id=invitation_id,
        csrf_token=secrets.token_urlsafe(24),
        expires_at=utcnow() + timedelta(hours=hours),
    )
    session.add(row)
    session.flush()
    return token, row


def resolve_session(session: Session, *, token: str) -> WebSession | None:
    """The live session for a token, or None (expired, revoked, or unknown)."""
    if not looks_like_token(token):
        return None
    row = session.exec(select(WebSession).where(WebSession.token_hash == hash_token(token))).first()
    if row is None or row.expires_at <= utcnow():
        return None
    if row.invitation_id is not None:
        invitation = session.get(Invitation, row.invitation_id)
        if invitation is None or invitation.revoked_at is not None:
            return None
    if row.user_id is not None:
        user = session.get(User, row.user_id)
        if user is None or not user.is_active:
            return None
    return row


def end_session(session: Session, *, token: str) -> None:
    """Sign out: the token stops working."""
    if looks_like_token(token):
        session.exec(delete(WebSession).where(col(WebSession.token_hash) == hash_token(token)))


def purge_expired_sessions(session: Session) -> int:
    """Delete expired sessions; returns how many."""
    result = session.exec(delete(WebSession).where(col(WebSession.expires_at) <= utcnow()))
    return int(result.rowcount or 0)
