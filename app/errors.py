"""Domain exceptions raised by the service layer; the web layer maps them to HTTP once."""

from __future__ import annotations


class DomainError(Exception):
    """Base class: ``message`` says what went wrong and what to do about it."""

    status_code = 400

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


class NotFound(DomainError):
    status_code = 404


class InvalidInput(DomainError):
    status_code = 422


class Conflict(DomainError):
    status_code = 409


class RoundNotOpen(Conflict):
    pass


class ResponseLocked(Conflict):
    pass


class NotAuthenticated(DomainError):
    status_code = 401


class Forbidden(DomainError):
    status_code = 403


class TooManyAttempts(DomainError):
    """Too many failed attempts; ``retry_after`` says how many seconds to wait."""

    status_code = 429

    def __init__(self, message: str, *, retry_after: int, field: str | None = None) -> None:
        super().__init__(message, field=field)
        self.retry_after = retry_after
