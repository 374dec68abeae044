"""Staff accounts (admins and researchers)."""

from __future__ import annotations

from sqlmodel import Session, select

from app.errors import Conflict, InvalidInput, NotAuthenticated
from app.models import User
from app.security import hash_password, verify_password

# Verifying against a fixed hash when the account does not exist keeps the timing of a
# failed login the same whether or not the e-mail is known.
_DUMMY_HASH = hash_password("not a real password")


def create_user(session: Session, *, email: str, password: str, role: str) -> User:
    """Create a staff account; e-mails are unique, case-insensitively."""
    if role not in ("admin", "researcher"):
        raise InvalidInput("role must be 'admin' or 'researcher'", field="role")
    if len(password) < 12:
        raise InvalidInput("password must have at least 12 characters", field="password")
    email = email.strip().lower()
    if session.exec(select(User).where(User.email == email)).first():
        raise Conflict(f"an account for {email} already exists", field="email")
    user = User(email=email, password_hash=hash_password(password), role=role)
    session.add(user)
    session.flush()
    return user


def set_password(session: Session, *, email: str, password: str) -> User:
    """Replace an account's password."""
    user = session.exec(select(User).where(User.email == email.strip().lower())).first()
    if user is None:
        raise InvalidInput(f"no account for {email}", field="email")
    if len(password) < 12:
        raise InvalidInput("password must have at least 12 characters", field="password")
    user.password_hash = hash_password(password)
    session.add(user)
    return user


def authenticate(session: Session, *, email: str, password: str) -> User:
    """Return the active user with these credentials or raise NotAuthenticated."""
    user = session.exec(select(User).where(User.email == email.strip().lower())).first()
    if user is None:
        verify_password(_DUMMY_HASH, password)
        raise NotAuthenticated("wrong e-mail or password")
    if not verify_password(user.password_hash, password) or not user.is_active:
        raise NotAuthenticated("wrong e-mail or password")
    return user


def get_user_by_email(session: Session, *, email: str) -> User | None:
    """The account with this e-mail, if any."""
    return session.exec(select(User).where(User.email == email.strip().lower())).first()
