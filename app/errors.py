"""Domain exceptions raised by the service layer; the web layer maps them to HTTP once
(``app.web.errors.http_status``)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime


class Message(str):
    """A sentence the product writes, in English (the string itself), that keeps what it
    was made of: ``template``, a gettext message id with ``%(name)s`` placeholders (marked
    with ``N_`` where it is written), and the ``values`` filled in. The API sends the
    English; a page shows it in the reader's language (``i18n.translate_message``)."""

    template: str
    values: dict[str, object]

    def __new__(cls, template: str, values: Mapping[str, object] | None = None) -> Message:
        filled = dict(values or {})
        text = template % {k: _english(v) for k, v in filled.items()} if filled else template
        message = super().__new__(cls, text)
        message.template = template
        message.values = filled
        return message


def _english(value: object) -> str:
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, datetime):
        return f"{value:%Y-%m-%d %H:%M} UTC"
    return str(value)


class DomainError(Exception):
    """Base class: ``message`` says what went wrong and what to do about it. A message
    with ``%(name)s`` placeholders takes them from ``values`` (see :class:`Message`)."""

    def __init__(
        self,
        message: str,
        *,
        field: str | None = None,
        values: Mapping[str, object] | None = None,
    ) -> None:
        text = message if isinstance(message, Message) else Message(message, values)
        super().__init__(text)
        #: A :class:`Message` (typed as the text it is).
        self.message: str = text
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

    def __init__(
        self,
        message: str,
        *,
        retry_after: int,
        field: str | None = None,
        values: Mapping[str, object] | None = None,
    ) -> None:
        super().__init__(message, field=field, values=values)
        self.retry_after = retry_after
