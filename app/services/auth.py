"""Staff sign-in and invitation-token checks, throttled against guessing.

Unlike other services these take the engine, not a session: a password check costs tens of
milliseconds of CPU (argon2), and it must run with no transaction open, so that a flood of
wrong passwords holds no connection and no lock that experts' saves need. Each step is its
own short unit of work: read, verify outside any transaction, then write the outcome.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from app.db import begin_writing, session_scope
from app.errors import NotAuthenticated, NotFound
from app.models import Invitation, User
from app.security import hash_password, password_needs_rehash
from app.services import invitations, sessions, throttle, users


@dataclass(frozen=True)
class SignedIn:
    """A new staff session: its secret token (shown once) and the account."""

    token: str
    user_id: int
    email: str
    role: str


def sign_in(engine: Engine, *, email: str, password: str, address: str, hours: int) -> SignedIn:
    """Check e-mail and password and start a session; NotAuthenticated or TooManyAttempts."""
    keys = throttle.sign_in_keys(email=email, address=address)
    with session_scope(engine, read_only=True) as session:
        throttle.check_allowed(session, keys=keys)
        user = users.get_user_by_email(session, email=email)
        password_hash = user.password_hash if user is not None and user.is_active else None
    ok = users.check_password(password_hash, password)
    if not ok or user is None or password_hash is None:
        with session_scope(engine, durable=False) as session:
            throttle.record_failure(session, keys=keys)
        raise NotAuthenticated("wrong e-mail or password")
    # A hash made with older parameters is replaced, computed here, outside the transaction.
    rehashed = hash_password(password) if password_needs_rehash(password_hash) else None
    with session_scope(engine) as session:
        # Locked: a password change or deactivation committing meanwhile either ends this
        # session with the others or makes this check fail.
        current = session.exec(select(User).where(User.id == user.id).with_for_update()).first()
        if current is None or not current.is_active:
            raise NotAuthenticated("wrong e-mail or password")
        if current.password_hash != password_hash:
            # Changed while we checked: a new password fails (without counting the attempt);
            # another sign-in's re-hash of the same password does not.
            if not users.check_password(current.password_hash, password):
                raise NotAuthenticated("wrong e-mail or password")
        elif rehashed is not None:
            current.password_hash = rehashed
            session.add(current)
        throttle.clear_failures(session, keys=keys[:1])
        token, _ = sessions.start_session(session, user_id=current.id, hours=hours)
        assert current.id is not None
        return SignedIn(token, current.id, current.email, current.role)


def find_invitation_guarded(session: Session, *, token: str, address: str) -> Invitation:
    """The invitation of a token, refused (429) to a client that has guessed too often; an
    unknown token is counted against the client, then NotFound is raised."""
    _check_token_allowed(session, address=address)
    try:
        return invitations.find_invitation(session, token=token)
    except NotFound:
        _record_unknown_token(session, address=address)
        raise


def _check_token_allowed(session: Session, *, address: str) -> None:
    """Refuse (429) a client that has tried too many unknown invitation tokens."""
    throttle.check_allowed(session, keys=[throttle.token_key(address=address)])


def _record_unknown_token(session: Session, *, address: str) -> None:
    """Count an unknown, revoked or malformed invitation token against the client, and
    commit it at once: the request that follows fails, and must not take the count with it.

    Uses the request's own session (one connection, one lock per request, never two).
    """
    begin_writing(session)
    throttle.record_failure(session, keys=[throttle.token_key(address=address)])
    session.commit()


__all__ = [
    "SignedIn",
    "find_invitation_guarded",
    "sign_in",
]
