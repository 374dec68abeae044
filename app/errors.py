"""Domain exceptions raised by the service layer; the web layer maps them to HTTP once
(``app.web.errors.http_status``)."""

from __future__ import annotations


class DomainError(Exception):
    """Base class: ``message`` says what went wrong and what to do about it."""

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


class NotFound(DomainError):
    """What was asked for does not exist."""


class InvalidInput(DomainError):
    """The input is not valid; ``field`` names where."""


class Conflict(DomainError):
    """The request does not fit the state things are in."""


class RoundNotOpen(Conflict):
    pass


class ResponseLocked(Conflict):
    pass


class NotAuthenticated(DomainError):
    """No one, or not the right one, is signed in."""


class Forbidden(DomainError):
    """The one signed in may not do this."""


class TooManyAttempts(DomainError):
    """Too many failed attempts; ``retry_after`` says how many seconds to wait."""

    def __init__(self, message: str, *, retry_after: int, field: str | None = None) -> None:
        super().__init__(message, field=field)
        self.retry_after = retry_after
