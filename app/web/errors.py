"""One place that turns domain errors and bad requests into HTTP responses."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse
from fastapi.templating import Jinja2Templates
from sqlalchemy import exc as sa_exc
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app import i18n
from app.errors import (
    Conflict,
    DomainError,
    Forbidden,
    InvalidInput,
    NotAuthenticated,
    NotFound,
    TooManyAttempts,
)
from app.errors import Message as Sentence
from app.i18n import N_
from app.services.backups import BackupFailed
from app.web.admission import (
    LANGUAGE_COOKIE,
    Overloaded,
    send_refusal,
)

log = logging.getLogger("elicit")

#: The HTTP status answering each kind of domain error (and its subclasses); 400 for any
#: other.
HTTP_STATUS: dict[type[DomainError], int] = {
    NotFound: 404,
    InvalidInput: 422,
    Conflict: 409,
    NotAuthenticated: 401,
    Forbidden: 403,
    TooManyAttempts: 429,
    BackupFailed: 500,
}


def http_status(exc: DomainError) -> int:
    """The HTTP status that answers ``exc``."""
    return next((status for kind, status in HTTP_STATUS.items() if isinstance(exc, kind)), 400)


def wants_json(request: Request) -> bool:
    return request.url.path.startswith("/api/") or request.url.path.startswith("/rubrics/api")


def error_response(
    request: Request,
    status: int,
    message: str,
    *,
    field: str | None = None,
    extra: dict[str, Any] | None = None,
) -> JSONResponse | HTMLResponse:
    if wants_json(request):
        body: dict[str, Any] = {"detail": message}
        if field:
            body["field"] = field
        if extra:
            body.update(extra)
        headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
        return JSONResponse(body, status_code=status, headers=headers)
    if status == 401 and request.url.path.startswith("/admin"):
        return RedirectResponse("/login", status_code=303)  # type: ignore[return-value]
    templates: Jinja2Templates = request.app.state.templates
    context: dict[str, Any] = {"status": status, "message": message}
    # An error page in the reader's language (a staff member's: their pages'; an expert's:
    # the questionnaire's; anyone else's: the browser's); a message the catalogue has is
    # translated, any other stays as the service wrote it.
    chosen = getattr(request.state, "page_language", None)
    if isinstance(chosen, str):
        language = chosen  # a staff page's: the account's choice
    elif request.url.path.startswith(EXPERT_PATHS):
        language = reader_language(request)
    else:
        language = browser_language(request, i18n.INTERFACE_LANGUAGES) or i18n.SOURCE_LANGUAGE
    context.update(language=language, message=i18n.translate_message(language, message))
    return templates.TemplateResponse(request, "error.html", context, status_code=status)


#: Where experts go: their error pages are in their language.
EXPERT_PATHS = ("/survey", "/i/")


def reader_language(request: Request) -> str:
    """The interface language for a reader: the one their questionnaire last used, else
    the best their browser asks for (Accept-Language), else English."""
    remembered = request.cookies.get(LANGUAGE_COOKIE)
    if remembered in i18n.INTERFACE_LANGUAGES:
        return str(remembered)
    return browser_language(request, i18n.INTERFACE_LANGUAGES) or i18n.SOURCE_LANGUAGE


def browser_language(request: Request, offered: Sequence[str]) -> str | None:
    """The best of the ``offered`` languages the browser asks for (Accept-Language, in
    the order of its q-values), None when it asks for none of them."""
    return i18n.accepted_language(request.headers.get("accept-language", ""), offered)


def _field_path(loc: tuple[Any, ...]) -> str:
    parts = [p for p in loc if p not in ("body", "query", "path")]
    out = ""
    for part in parts:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "body"


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(DomainError)
    async def _domain(request: Request, exc: DomainError) -> Any:
        response = error_response(request, http_status(exc), exc.message, field=exc.field)
        if isinstance(exc, TooManyAttempts):
            response.headers["Retry-After"] = str(exc.retry_after)
        return response

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> Any:
        errors = [
            {"field": _field_path(tuple(e["loc"])), "message": e["msg"]} for e in exc.errors()
        ]
        first = errors[0] if errors else {"field": "body", "message": "invalid request"}
        # A person reads a sentence in their language; a program, the validator's details.
        message = (
            f"{first['field']}: {first['message']}"
            if wants_json(request)
            else Sentence(
                N_("This address or form is not valid (%(field)s); go back and try again."),
                {"field": first["field"]},
            )
        )
        return error_response(request, 422, message, field=first["field"], extra={"errors": errors})

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> Any:
        message = exc.detail if isinstance(exc.detail, str) else N_("request failed")
        if exc.status_code == 404 and message == "Not Found":
            message = N_("There is no page at this address.")
        elif exc.status_code == 405 and message == "Method Not Allowed":
            message = N_("This address does not take this kind of request.")
        return error_response(request, exc.status_code, message)

    @app.exception_handler(Overloaded)
    async def _overloaded(request: Request, exc: Overloaded) -> Any:
        return _unavailable(request, exc.message, exc.retry_after)

    @app.exception_handler(sa_exc.OperationalError)
    async def _database_unavailable(request: Request, exc: sa_exc.OperationalError) -> Any:
        # A lock or statement time-out, a full or read-only disk, a restarting server: the
        # transaction was rolled back, so nothing is half-written, and a retry may succeed.
        message, retry_after = describe_database_error(exc)
        log.warning("database unavailable on %s %s: %s", request.method, request.url.path, exc)
        return _unavailable(request, message, retry_after)

    @app.exception_handler(sa_exc.TimeoutError)
    async def _pool_exhausted(request: Request, exc: sa_exc.TimeoutError) -> Any:
        log.warning("no database connection free on %s %s", request.method, request.url.path)
        return _unavailable(request, N_("the service is busy; please try again in a moment"), 2)

    @app.exception_handler(Exception)
    async def _crash(request: Request, exc: Exception) -> Any:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return error_response(
            request, 500, N_("something went wrong on our side; nothing was saved")
        )


def describe_database_error(exc: sa_exc.OperationalError) -> tuple[str, int]:
    """What to tell the client about a database that cannot answer now, and when to retry."""
    text = str(exc.orig if exc.orig is not None else exc).lower()
    if "locked" in text or "busy" in text or "lock timeout" in text:
        return N_("the service is busy; please try again in a moment (nothing was saved)"), 2
    if "readonly" in text or "read-only" in text:
        return (
            N_(
                "the database cannot be written (its file or disk is read-only); nothing was "
                "saved; an administrator must fix the storage"
            ),
            30,
        )
    if ("disk" in text and "full" in text) or "no space" in text:
        return (
            N_("the database's disk is full; nothing was saved; an administrator must free space"),
            30,
        )
    if "statement timeout" in text or "canceling statement" in text:
        return N_("the request took too long and was stopped; nothing was saved"), 5
    return (
        N_(
            "the database is not reachable right now; nothing was saved; please try again in a "
            "few seconds"
        ),
        5,
    )


def _unavailable(request: Request, message: str, retry_after: int) -> Any:
    response = error_response(request, 503, message)
    response.headers["Retry-After"] = str(retry_after)
    return response


class BodySizeLimit:
    """Refuse bodies over ``limit`` bytes with 413, whether or not Content-Length is sent."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        length = headers.get(b"content-length")
        if length is not None and length.isdigit() and int(length) > self.limit:
            await self._refuse(scope, send)
            return
        received = 0
        too_large = False

        async def limited_receive() -> Message:
            nonlocal received, too_large
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.limit:
                    too_large = True
                    raise _TooLarge
            return message

        started = False
        replaced = False

        async def tracking_send(message: Message) -> None:
            # The framework may catch our exception while parsing and answer 400 itself;
            # whatever it answers once the limit was crossed, the client gets 413.
            nonlocal started, replaced
            if replaced:
                return
            if message["type"] == "http.response.start":
                if too_large:
                    replaced = True
                    started = True
                    await self._refuse(scope, send)
                    return
                started = True
            await send(message)

        try:
            await self.app(scope, limited_receive, tracking_send)
        except _TooLarge:
            if not started:
                await self._refuse(scope, send)
        except Exception:
            if too_large and not started:
                await self._refuse(scope, send)
            else:
                raise

    async def _refuse(self, scope: Scope, send: Send) -> None:
        message = Sentence(
            N_("request body too large: at most %(most)s bytes are accepted"),
            {"most": self.limit},
        )
        await send_refusal(scope, send, message, status=413, title=N_("Too large to send"))


class _TooLarge(Exception):
    pass


def content_security_policy(*, style_sources: Iterable[str] = (), scripts: bool = True) -> str:
    """The site's policy: only its own files, no inline script or style. A document that
    carries its own stylesheet (the reliability report, which must also work saved to disk)
    names exactly those styles by hash in ``style_sources``; ``scripts=False`` for a
    document without any script."""
    return "; ".join(
        [
            "default-src 'self'",
            "img-src 'self' data:",
            " ".join(["style-src 'self'", *style_sources]),
            "script-src 'self'" if scripts else "script-src 'none'",
            "object-src 'none'",
            "base-uri 'none'",
            "frame-ancestors 'none'",
            "form-action 'self'",
        ]
    )


_CSP = content_security_policy()


class SecurityHeaders:
    """Security headers on every response (a plain ASGI middleware: Starlette's
    BaseHTTPMiddleware costs a task and two streams per request)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        extra = [
            (b"x-content-type-options", b"nosniff"),
            (b"referrer-policy", b"no-referrer"),
            (b"x-frame-options", b"DENY"),
        ]
        # A response that sets its own policy keeps it (see content_security_policy).
        extra.append((b"content-security-policy", _CSP.encode()))
        if path.startswith(("/survey", "/i/", "/admin", "/api/")):
            extra.append((b"cache-control", b"no-store"))

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers") or [])
                present = {name.lower() for name, _ in headers}
                headers += [(name, value) for name, value in extra if name not in present]
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, with_headers)
