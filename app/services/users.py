"""Staff accounts (admins and researchers)."""

from __future__ import annotations

from email_validator import EmailNotValidError, validate_email
from sqlmodel import Session, col, delete, select

from app.db import first_or_not_found
from app.errors import Conflict, InvalidInput
from app.models import User, WebSession
from app.security import hash_password, verify_password

# Verifying against a fixed hash when the account does not exist keeps the timing of a
# failed login the same whether or not the e-mail is known. A literal (made with the same
# parameters) rather than hashed at import: hashing costs half a second of start-up.
_DUMMY_HASH = (
    "$argon2id$v=19$m=19456,t=2,p=1$oU8H+/X7LmpyKmN6ik5yUA$"
    "uLZBNFA4piUOGQcNIG6sxn+2A3XHyJM452j/ubYhnmY"
)


def create_user(session: Session, *, email: str, password: str, role: str) -> User:
    """Create a staff account; e-mails are unique, case-insensitively."""
    if role not in ("admin", "researcher"):
        raise InvalidInput("role must be 'admin' or 'researcher'", field="role")
    if len(password) < 12:
        raise InvalidInput("password must have at least 12 characters", field="password")
    email = _checked_email(email)
    if session.exec(select(User).where(User.email == email)).first():
        raise Conflict(f"an account for {email} already exists", field="email")
    user = User(email=email, password_hash=hash_password(password), role=role)
    session.add(user)
    session.flush()
    return user


def _checked_email(email: str) -> str:
    email = email.strip()
    try:
        validate_email(email, check_deliverability=False)
    except EmailNotValidError as exc:
        raise InvalidInput(
            f"{email!r} is not a valid e-mail address: {exc}", field="email"
        ) from exc
    return email.lower()


def set_password(session: Session, *, email: str, password: str) -> User:
    """Replace an account's password and end all of its sessions."""
    if len(password) < 12:
        raise InvalidInput("password must have at least 12 characters", field="password")
    user = _locked_user(session, email=email)
    user.password_hash = hash_password(password)
    session.add(user)
    end_sessions_of(session, user=user)
    return user


def deactivate_user(session: Session, *, email: str) -> User:
    """Stop an account from signing in and end all of its sessions (its records stay)."""
    return _set_active(session, email=email, active=False)


def activate_user(session: Session, *, email: str) -> User:
    """Let a deactivated account sign in again (with its current password)."""
    return _set_active(session, email=email, active=True)


def _set_active(session: Session, *, email: str, active: bool) -> User:
    user = _locked_user(session, email=email)
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


def list_users(session: Session) -> list[User]:
    """Every staff account, by e-mail."""
    return list(session.exec(select(User).order_by(col(User.email))).all())


def _locked_user(session: Session, *, email: str) -> User:
    # FOR UPDATE: a sign-in that re-reads the account with a lock waits for this change.
    query = select(User).where(User.email == email.strip().lower()).with_for_update()
    return first_or_not_found(session, query, f"no account for {email}", field="email")


def check_password(password_hash: str | None, password: str) -> bool:
    """Whether ``password`` matches; with no account (None) the check takes as long."""
    if password_hash is None:
        verify_password(_DUMMY_HASH, password)
        return False
    return verify_password(password_hash, password)


def get_user_by_email(session: Session, *, email: str) -> User | None:
    """The account with this e-mail, if any."""
    return session.exec(select(User).where(User.email == email.strip().lower())).first()
