"""Staff sign-in and invitation-token checks, throttled against guessing.

Unlike other services these take the engine, not a session: a password check costs tens of
milliseconds of CPU (argon2), and it must run with no transaction open, so that a flood of
wrong passwords holds no connection and no lock that experts' saves need. Each step is its
own short unit of work: read, verify outside any transaction, then write the outcome.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import time
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from app.db import begin_writing, session_scope
from app.errors import Forbidden, NotAuthenticated, NotFound
from app.i18n import N_
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
    #: An admin without a second factor on a server that requires one: the pages send
    #: them to set it up before anything else.
    must_enrol: bool = False


@dataclass(frozen=True)
class CodeNeeded:
    """The password was right and the account has a second factor: no session yet. The
    sign-in continues with a code from the app and ``pending``, a short-lived proof that
    the password was right (it stops working when the password or the factor changes)."""

    pending: str
    email: str


@dataclass(frozen=True)
class SignInRules:
    """The server's rules for a staff sign-in: how many hours its session lasts, whether
    admins need a second factor, and whether an admin without one is refused (the API)
    rather than signed in to set it up first (the pages)."""

    hours: int
    require_admin_totp: bool = False
    refuse_unenrolled_admin: bool = False


#: How long the second step of a sign-in may take.
PENDING_SECONDS = 300
_WRONG = N_("wrong e-mail or password")


def sign_in(
    engine: Engine,
    *,
    email: str,
    password: str,
    address: str,
    rules: SignInRules,
    code: str | None = None,
) -> SignedIn | CodeNeeded:
    """Check e-mail and password (and the TOTP ``code`` when the account has a second
    factor) and start a session under the server's ``rules``. Without a code such an
    account gets :class:`CodeNeeded`. A wrong code counts as a wrong password.
    NotAuthenticated, Forbidden (an admin the rules refuse) or TooManyAttempts."""
    keys = throttle.sign_in_keys(email=email, address=address)
    with session_scope(engine, read_only=True) as session:
        throttle.check_allowed(session, keys=keys)
        user = users.get_user_by_email(session, email=email)
        password_hash = user.password_hash if user is not None and user.is_active else None
    ok = users.check_password(password_hash, password)
    if not ok or user is None or password_hash is None:
        _count_failure(engine, keys)
        raise NotAuthenticated(_WRONG)
    if user.totp_secret is not None:
        if code is None:
            return CodeNeeded(_pending_proof(user), user.email)
        if not users.totp_code_matches(user.totp_secret, code):
            _count_failure(engine, keys)
            raise NotAuthenticated(N_("wrong code from the authenticator app"), field="code")
    must_enrol = rules.require_admin_totp and user.role == "admin" and user.totp_secret is None
    if must_enrol and rules.refuse_unenrolled_admin:
        raise Forbidden(
            N_(
                "admins need a second factor on this server: sign in on the web and set it up "
                "on the account page (/account) first"
            )
        )
    # A hash made with older parameters is replaced, computed here, outside the transaction.
    rehashed = hash_password(password) if password_needs_rehash(password_hash) else None

    def still_right(current: User) -> bool:
        # Changed while we checked: a new password fails (without counting the attempt);
        # another sign-in's re-hash of the same password does not.
        if current.password_hash == password_hash:
            if rehashed is not None:
                current.password_hash = rehashed
            return True
        return users.check_password(current.password_hash, password)

    return _start(
        engine, user, keys=keys, hours=rules.hours, still_right=still_right, enrol=must_enrol
    )


def continue_sign_in(
    engine: Engine,
    *,
    pending: str,
    code: str,
    address: str,
    hours: int,
) -> SignedIn:
    """The second step: the proof from :class:`CodeNeeded` and the app's current code. A
    wrong code counts against the account and the address like a wrong password."""
    user_id, expires, mac = _parse_pending(pending)
    with session_scope(engine, read_only=True) as session:
        user = session.get(User, user_id)
        if user is None or not user.is_active or user.totp_secret is None:
            raise NotAuthenticated(N_("the sign-in has expired; please start again"))
        keys = throttle.sign_in_keys(email=user.email, address=address)
        throttle.check_allowed(session, keys=keys)
    expected = _pending_mac(user, expires)
    if expires < time.time() or not hmac.compare_digest(mac, expected):
        raise NotAuthenticated(N_("the sign-in has expired; please start again"))
    if not users.totp_code_matches(user.totp_secret, code):
        _count_failure(engine, keys)
        raise NotAuthenticated(N_("wrong code from the authenticator app"), field="code")
    proven = (user.password_hash, user.totp_secret)

    def still_right(current: User) -> bool:
        return (current.password_hash, current.totp_secret) == proven

    return _start(engine, user, keys=keys, hours=hours, still_right=still_right, enrol=False)


def _start(
    engine: Engine,
    user: User,
    *,
    keys: tuple[throttle.ThrottleKey, throttle.ThrottleKey],
    hours: int,
    still_right: Callable[[User], bool],
    enrol: bool,
) -> SignedIn:
    with session_scope(engine) as session:
        # Locked: a password change or deactivation committing meanwhile either ends this
        # session with the others or makes this check fail.
        current = session.exec(select(User).where(User.id == user.id).with_for_update()).first()
        if current is None or not current.is_active or not still_right(current):
            raise NotAuthenticated(_WRONG)
        session.add(current)
        throttle.clear_failures(session, keys=keys[:1])
        token, _ = sessions.start_session(session, user_id=current.id, hours=hours)
        assert current.id is not None
        return SignedIn(token, current.id, current.email, current.role, enrol)


def _count_failure(engine: Engine, keys: tuple[throttle.ThrottleKey, ...]) -> None:
    with session_scope(engine, durable=False) as session:
        throttle.record_failure(session, keys=keys)


def _pending_mac(user: User, expires: int) -> str:
    # Keyed by the account's own secrets (never sent anywhere): a proof made before a
    # password change, a new factor or by anyone without the database is worthless.
    key = hashlib.sha256(f"{user.password_hash}|{user.totp_secret}".encode()).digest()
    return hmac.new(key, f"{user.id}.{expires}".encode(), hashlib.sha256).hexdigest()


def _pending_proof(user: User) -> str:
    expires = int(time.time()) + PENDING_SECONDS
    return f"{user.id}.{expires}.{_pending_mac(user, expires)}"


_PENDING = re.compile(r"^([0-9]{1,10})\.([0-9]{1,12})\.([0-9a-f]{64})$")


def _parse_pending(pending: str) -> tuple[int, int, str]:
    found = _PENDING.match(pending)
    if found is None or int(found.group(1)) > 2**31 - 1:
        raise NotAuthenticated(N_("the sign-in has expired; please start again"))
    return int(found.group(1)), int(found.group(2)), found.group(3)


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
    "CodeNeeded",
    "SignedIn",
    "continue_sign_in",
    "find_invitation_guarded",
    "sign_in",
]
