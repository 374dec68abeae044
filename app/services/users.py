"""Staff accounts (admins and researchers)."""

from __future__ import annotations

from sqlmodel import Session, select

from app.errors import Conflict, InvalidInput
from app.models import User
from app.security import hash_password, verify_password

# Verifying against a fixed hash when the account does not exist keeps the timing of a
# failed login the same whether or not the e-mail is known. A literal (made with the same
# parameters) rather than hashed at import: hashing costs half a second of start-up.
_DUMMY_HASH = (
    "$argon2id$v=19$m=65536,t=3,p=4$AZJ7/vBnFP0HCsgSRt6X0g$"
    "BGUI6D/6EJtbzZrDdlgP6/zQYk7HsMQUoOL4gYOJuFQ"
)


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


def check_password(password_hash: str | None, password: str) -> bool:
    """Whether ``password`` matches; with no account (None) the check takes as long."""
    if password_hash is None:
        verify_password(_DUMMY_HASH, password)
        return False
    return verify_password(password_hash, password)


def get_user_by_email(session: Session, *, email: str) -> User | None:
    """The account with this e-mail, if any."""
    return session.exec(select(User).where(User.email == email.strip().lower())).first()
