"""Staff accounts (admins and researchers): creating them, roles, passwords, reset links
and the optional second factor (TOTP)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta

import pyotp
from email_validator import EmailNotValidError, validate_email
from sqlmodel import Session, col, delete, select, update

from app import i18n
from app.db import first_or_not_found
from app.errors import Conflict, InvalidInput, Message, NotFound
from app.i18n import N_
from app.models import PasswordReset, User, WebSession, utcnow
from app.security import hash_password, hash_token, looks_like_token, new_token, verify_password
from app.services import mail

ROLES = ("admin", "researcher")
#: How long a password-reset link works.
RESET_VALID_FOR = timedelta(hours=2)
MIN_PASSWORD = 12

# Verifying against a fixed hash when the account does not exist keeps the timing of a
# failed login the same whether or not the e-mail is known. A literal (made with the same
# parameters) rather than hashed at import: hashing costs half a second of start-up.
_DUMMY_HASH = (
    "$argon2id$v=19$m=19456,t=2,p=1$oU8H+/X7LmpyKmN6ik5yUA$"
    "uLZBNFA4piUOGQcNIG6sxn+2A3XHyJM452j/ubYhnmY"
)


def create_user(session: Session, *, email: str, password: str, role: str) -> User:
    """Create a staff account; e-mails are unique, case-insensitively."""
    _check_role(role)
    _check_new_password(password)
    email = _checked_email(email)
    if session.exec(select(User).where(User.email == email)).first():
        raise Conflict(
            N_("an account for %(email)s already exists"), field="email", values={"email": email}
        )
    user = User(email=email, password_hash=hash_password(password), role=role)
    session.add(user)
    session.flush()
    return user


def _check_role(role: str) -> None:
    if role not in ROLES:
        raise InvalidInput(N_("role must be 'admin' or 'researcher'"), field="role")


def _check_new_password(password: str, *, field: str = "password") -> None:
    if len(password) < MIN_PASSWORD:
        raise InvalidInput(
            N_("password must have at least %(least)s characters"),
            field=field,
            values={"least": MIN_PASSWORD},
        )


def _checked_email(email: str) -> str:
    email = email.strip()
    try:
        validate_email(email, check_deliverability=False)
    except EmailNotValidError as exc:
        raise InvalidInput(
            N_("%(email)s is not a valid e-mail address: %(problem)s"),
            field="email",
            values={"email": repr(email), "problem": str(exc)},
        ) from exc
    return email.lower()


def set_password(session: Session, *, email: str, password: str) -> User:
    """Replace an account's password and end all of its sessions."""
    _check_new_password(password)
    user = _locked_user(session, email=email)
    _replace_password(session, user, password)
    return user


def _replace_password(session: Session, user: User, password: str) -> None:
    """The one way a password changes: every session ends and every reset link dies."""
    user.password_hash = hash_password(password)
    user.password_changed_at = utcnow()
    session.add(user)
    end_sessions_of(session, user=user)
    _void_reset_links(session, user_id=_id(user))


def deactivate_user(session: Session, *, email: str) -> User:
    """Stop an account from signing in and end all of its sessions (its records stay)."""
    return _set_active(session, email=email, active=False)


def activate_user(session: Session, *, email: str) -> User:
    """Let a deactivated account sign in again (with its current password)."""
    return _set_active(session, email=email, active=True)


def _set_active(session: Session, *, email: str, active: bool) -> User:
    admins = _locked_active_admins(session)
    user = _locked_user(session, email=email)
    if not active:
        _keep_an_admin(user, admins, doing="deactivate")
    user.is_active = active
    session.add(user)
    if active:
        session.flush()
    else:
        end_sessions_of(session, user=user)
    return user


def end_sessions_of(session: Session, *, user: User) -> int:
    """Sign an account out everywhere; returns how many sessions ended."""
    result = session.exec(delete(WebSession).where(col(WebSession.user_id) == user.id))
    return int(result.rowcount or 0)


def set_role(session: Session, *, email: str, role: str) -> User:
    """Make an account an admin or a researcher; the last active admin stays one (409)."""
    _check_role(role)
    admins = _locked_active_admins(session)
    user = _locked_user(session, email=email)
    if role != "admin":
        _keep_an_admin(user, admins, doing="demote")
    user.role = role
    session.add(user)
    session.flush()
    return user


def _locked_active_admins(session: Session) -> list[User]:
    # Locked first, in id order, by every change that could remove an admin: two admins
    # demoting each other at once wait for one another instead of leaving none.
    query = (
        select(User)
        .where(User.role == "admin", col(User.is_active).is_(True))
        .order_by(col(User.id))
        .with_for_update()
    )
    return list(session.exec(query).all())


#: Refusing to take away the last active admin, by what was being done to it.
_LAST_ADMIN = {
    "deactivate": N_(
        "cannot deactivate %(email)s: it is the last active admin; make another account an "
        "admin first"
    ),
    "demote": N_(
        "cannot demote %(email)s: it is the last active admin; make another account an admin first"
    ),
}


def _keep_an_admin(user: User, admins: list[User], *, doing: str) -> None:
    if [a.id for a in admins] == [user.id]:
        raise Conflict(_LAST_ADMIN[doing], field="email", values={"email": user.email})


def list_users(session: Session) -> list[User]:
    """Every staff account, by e-mail."""
    return list(session.exec(select(User).order_by(col(User.email))).all())


@dataclass(frozen=True)
class StaffAccount:
    """A staff account as the admin pages and the API show it (never a secret)."""

    id: int
    email: str
    role: str
    is_active: bool
    totp_enabled: bool
    created_at: datetime
    password_changed_at: datetime | None
    #: When its newest live session began (sessions are deleted when they end: "if known").
    last_signed_in_at: datetime | None


def list_accounts(session: Session) -> list[StaffAccount]:
    """Every staff account, by e-mail, with its second factor and latest sign-in."""
    latest: dict[int, datetime] = {}
    # Staff sessions are few; an aggregate would lose the column's time zone on SQLite.
    started = select(WebSession.user_id, WebSession.created_at).where(
        col(WebSession.user_id).is_not(None)
    )
    for user_id, created_at in session.exec(started).all():
        if user_id is not None and (user_id not in latest or created_at > latest[user_id]):
            latest[user_id] = created_at
    return [
        account_of(user, last_signed_in_at=latest.get(_id(user))) for user in list_users(session)
    ]


def account_of(user: User, *, last_signed_in_at: datetime | None = None) -> StaffAccount:
    """The read model of one account."""
    return StaffAccount(
        id=_id(user),
        email=user.email,
        role=user.role,
        is_active=user.is_active,
        totp_enabled=user.totp_secret is not None,
        created_at=user.created_at,
        password_changed_at=user.password_changed_at,
        last_signed_in_at=last_signed_in_at,
    )


def get_user(session: Session, *, user_id: int) -> User:
    """One account by id, or NotFound."""
    user = session.get(User, user_id)
    if user is None:
        raise NotFound(N_("no account %(id)s"), values={"id": user_id})
    return user


def find_user(session: Session, *, email: str) -> User:
    """One account by e-mail, or NotFound."""
    user = get_user_by_email(session, email=email)
    if user is None:
        raise NotFound(_no_account(email), field="email")
    return user


# --- one's own password ------------------------------------------------------------------


def set_language(session: Session, *, user_id: int, language: str | None) -> User:
    """A staff member's choice of language for their pages: one the interface is shipped
    in, or None to follow the browser's (Accept-Language)."""
    if language is not None and language not in i18n.INTERFACE_LANGUAGES:
        raise InvalidInput(
            N_(
                "the pages are not given in %(language)s; choose one of %(languages)s, or none "
                "for the browser's"
            ),
            field="language",
            values={"language": repr(language), "languages": ", ".join(i18n.INTERFACE_LANGUAGES)},
        )
    user = get_user(session, user_id=user_id)
    user.language = language
    session.add(user)
    session.flush()
    return user


def change_own_password(
    session: Session, *, user_id: int, current_password: str, new_password: str
) -> User:
    """A signed-in user replaces their password, proving the current one; every session of
    the account ends (this one too: the user signs in again with the new password)."""
    _check_new_password(new_password, field="new_password")
    user = session.exec(select(User).where(User.id == user_id).with_for_update()).first()
    if user is None or not verify_password(user.password_hash, current_password):
        raise InvalidInput(N_("the current password is not right"), field="current_password")
    if current_password == new_password:
        raise InvalidInput(
            N_("choose a password different from the current one"), field="new_password"
        )
    _replace_password(session, user, new_password)
    return user


# --- password-reset links ----------------------------------------------------------------


@dataclass(frozen=True)
class ResetSent:
    """A reset link was queued by e-mail (the link itself is never shown or kept)."""

    email: str
    expires_at: datetime


def request_password_reset(session: Session, *, email: str, sender: mail.Sender) -> ResetSent:
    """Queue an e-mail with a one-time link to set a new password; it works for
    :data:`RESET_VALID_FOR`, and any earlier unused link of the account stops working."""
    user = _locked_user(session, email=email)
    if not user.is_active:
        raise Conflict(
            N_("%(email)s is deactivated: activate it first"),
            field="email",
            values={"email": user.email},
        )
    _void_reset_links(session, user_id=_id(user))
    token = new_token()
    expires_at = utcnow() + RESET_VALID_FOR
    session.add(
        PasswordReset(user_id=_id(user), token_hash=hash_token(token), expires_at=expires_at)
    )
    mail.queue_password_reset(session, user=user, token=token, expires_at=expires_at, sender=sender)
    session.flush()
    return ResetSent(user.email, expires_at)


def _void_reset_links(session: Session, *, user_id: int) -> None:
    now = utcnow()
    session.exec(
        update(PasswordReset)
        .where(
            col(PasswordReset.user_id) == user_id,
            col(PasswordReset.used_at).is_(None),
            col(PasswordReset.expires_at) > now,
        )
        .values(expires_at=now)
    )


def check_reset_link(session: Session, *, token: str) -> str:
    """The e-mail of the account a reset link is for; NotFound when the link is unknown,
    used, expired or replaced. Reading it does not use it up."""
    reset = _usable_reset(session, token=token)
    return get_user(session, user_id=reset.user_id).email


def reset_password(session: Session, *, token: str, password: str) -> User:
    """Set a new password with a reset link: the link is used up, every session ends."""
    _check_new_password(password)
    reset = _usable_reset(session, token=token, lock=True)
    user = session.exec(select(User).where(User.id == reset.user_id).with_for_update()).one()
    if not user.is_active:
        raise NotFound(N_("this link is for a deactivated account"))
    reset.used_at = utcnow()
    session.add(reset)
    _replace_password(session, user, password)
    return user


def _usable_reset(session: Session, *, token: str, lock: bool = False) -> PasswordReset:
    unusable = N_("this link is not valid: ask an admin for a new one")
    if not looks_like_token(token):
        raise NotFound(unusable)
    query = select(PasswordReset).where(PasswordReset.token_hash == hash_token(token))
    reset = session.exec(query.with_for_update() if lock else query).first()
    if reset is None:
        raise NotFound(unusable)
    if reset.used_at is not None:
        raise NotFound(N_("this link has been used already: ask an admin for a new one"))
    if reset.expires_at <= utcnow():
        raise NotFound(
            N_("this link has expired or was replaced by a newer one: ask an admin for a new one")
        )
    return reset


# --- second factor (TOTP) ----------------------------------------------------------------

TOTP_ISSUER = "elicit"


@dataclass(frozen=True)
class TotpEnrolment:
    """A new secret to add to an authenticator app, by hand or through its ``otpauth:`` URI.
    Nothing is stored until a code made from it is confirmed."""

    secret: str
    uri: str


def begin_totp(user: User) -> TotpEnrolment:
    """A fresh TOTP secret for the account (stored only by :func:`confirm_totp`)."""
    secret = pyotp.random_base32()
    return TotpEnrolment(secret, totp_uri(user, secret))


def totp_uri(user: User, secret: str) -> str:
    """The ``otpauth:`` URI an authenticator app reads (as a QR code, or pasted)."""
    return pyotp.TOTP(secret).provisioning_uri(name=user.email, issuer_name=TOTP_ISSUER)


_SECRET = re.compile(r"^[A-Z2-7]{16,64}$")
_CODE = re.compile(r"^[0-9]{6}$")


def totp_code_matches(secret: str, code: str) -> bool:
    """Whether ``code`` is the current 6-digit code of ``secret`` (or the one just before
    or after it: clocks drift)."""
    code = re.sub(r"\s", "", code)
    return bool(_CODE.match(code)) and pyotp.TOTP(secret).verify(code, valid_window=1)


def confirm_totp(session: Session, *, user_id: int, secret: str, code: str) -> User:
    """Store the second factor once a code made from ``secret`` proves the app has it."""
    if not _SECRET.match(secret):
        raise InvalidInput(N_("start the set-up again"), field="code")
    if not totp_code_matches(secret, code):
        raise InvalidInput(
            N_("that is not the current code: check the app's clock and try again"), field="code"
        )
    user = session.exec(select(User).where(User.id == user_id).with_for_update()).one()
    user.totp_secret = secret
    session.add(user)
    session.flush()
    return user


def disable_totp(session: Session, *, user_id: int, code: str, required_for_admins: bool) -> User:
    """Remove the second factor, proven with a current code; refused (409) to an admin
    while the setting requires admins to have one."""
    user = session.exec(select(User).where(User.id == user_id).with_for_update()).one()
    if user.totp_secret is None:
        raise Conflict(N_("this account has no second factor"), field="code")
    if required_for_admins and user.role == "admin":
        raise Conflict(N_("admins must keep a second factor on this server"), field="code")
    if not totp_code_matches(user.totp_secret, code):
        raise InvalidInput(N_("that is not the current code"), field="code")
    user.totp_secret = None
    session.add(user)
    session.flush()
    return user


def _id(user: User) -> int:
    assert user.id is not None
    return user.id


def _locked_user(session: Session, *, email: str) -> User:
    # FOR UPDATE: a sign-in that re-reads the account with a lock waits for this change.
    query = select(User).where(User.email == email.strip().lower()).with_for_update()
    return first_or_not_found(session, query, _no_account(email), field="email")


def _no_account(email: str) -> Message:
    return Message(N_("no account for %(email)s"), {"email": email})


def check_password(password_hash: str | None, password: str) -> bool:
    """Whether ``password`` matches; with no account (None) the check takes as long."""
    if password_hash is None:
        verify_password(_DUMMY_HASH, password)
        return False
    return verify_password(password_hash, password)


def get_user_by_email(session: Session, *, email: str) -> User | None:
    """The account with this e-mail, if any."""
    return session.exec(select(User).where(User.email == email.strip().lower())).first()
