"""Admission control: how many requests one worker lets talk to the database at once.

Why this exists: routes and their dependencies are synchronous and run in a threadpool of
40 threads per worker, while a worker has only ``db_pool_size`` connections (and SQLite
one writer). A request hops between threads (dependencies, then the route), holding its
connection or lock in between; with more requests in flight than connections, every
thread ends up waiting for a connection held by a request that waits for a thread, and
the worker freezes. Admitting at most ``limit`` requests (no more than the connections and
well under the threads) makes that wait impossible; the rest queue here, without a thread
or a connection, for at most ``queue_wait`` seconds (sign-in and reports: ``timeout``, and
three times that), and beyond that or beyond ``max_queue`` they get a prompt 503 with
Retry-After instead of hanging.

Bodies are read before a request queues, so a slow upload holds no turn, and a client that
gives up while queued is dropped without doing its work.
"""

from __future__ import annotations

import asyncio
import html
import json
import math
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app import i18n
from app.errors import Message as Sentence
from app.i18n import N_

#: Paths that never touch the database.
EXEMPT_PREFIXES = ("/static/", "/favicon")


class Overloaded(Exception):
    """The service is too busy or the database unreachable; the client should retry."""

    def __init__(self, message: str, *, retry_after: int = 2) -> None:
        super().__init__(message)
        self.message = message
        self.retry_after = retry_after


def wants_html(scope: Scope) -> bool:
    path: str = scope["path"]
    return not path.startswith(("/api/", "/rubrics/api"))


#: Remembers the reader's language (set by the expert's and the staff's pages) for replies
#: that cannot ask the database: error pages, and the busy and too-large pages answered
#: before the application runs.
LANGUAGE_COOKIE = "elicit_language"


def page_language(scope: Scope) -> str:
    """The interface language of a reply made before the application runs: the one the
    reader's pages last used (their cookie), else the best the browser asks for
    (Accept-Language), else English. Reads two headers; no database."""
    cookie, accept = "", ""
    for name, value in scope.get("headers") or ():
        if name == b"cookie":
            cookie = value.decode("latin-1")
        elif name == b"accept-language":
            accept = value.decode("latin-1")
    for part in cookie.split(";"):
        key, _, value = part.strip().partition("=")
        if key == LANGUAGE_COOKIE and value in i18n.INTERFACE_LANGUAGES:
            return value
    return i18n.accepted_language(accept, i18n.INTERFACE_LANGUAGES) or i18n.SOURCE_LANGUAGE


def refusal_body(
    message: str, *, html_page: bool, language: str = i18n.SOURCE_LANGUAGE, title: str = ""
) -> tuple[bytes, bytes]:
    """The body and content type of a refusal made before the application runs: JSON for
    the API (the English ``message``), a small page in ``language`` for people."""
    if not html_page:
        return json.dumps({"detail": message}).encode(), b"application/json"
    said = i18n.translate_message(language, message)
    text = html.escape(said[:1].upper() + said[1:])
    heading = html.escape(i18n.translate(language, title or N_("Busy: please try again")))
    advice = html.escape(
        i18n.translate(
            language,
            N_(
                "Nothing you saved before is lost. Use your browser's back button and send the "
                "page again in a few seconds."
            ),
        )
    )
    page = (
        f'<!doctype html><html lang="{language}" dir="{i18n.direction(language)}"><head>'
        '<meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{heading}</title></head><body>"
        f"<main><h1>{heading}</h1><p>{text}.</p><p>{advice}</p></main></body></html>"
    )
    return page.encode(), b"text/html; charset=utf-8"


async def send_refusal(
    scope: Scope,
    send: Send,
    message: str,
    *,
    status: int,
    title: str = "",
    headers: Sequence[tuple[bytes, bytes]] = (),
) -> None:
    """Answer ``status`` before the application runs, with :func:`refusal_body` (a page in
    the reader's language, or JSON for the API) and any further ``headers``."""
    html_page = wants_html(scope)
    language = page_language(scope) if html_page else i18n.SOURCE_LANGUAGE
    body, content_type = refusal_body(message, html_page=html_page, language=language, title=title)
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", content_type),
                (b"content-length", str(len(body)).encode()),
                *headers,
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


@dataclass
class Lane:
    """A class of requests with its own number of turns and its own queue."""

    name: str
    limit: int
    max_queue: int
    timeout: float
    waiting: int = 0
    admitted: int = 0
    #: Moving average of how long an admitted request takes, in seconds.
    service_seconds: float = 0.05
    _semaphore: asyncio.Semaphore | None = None
    _loop: asyncio.AbstractEventLoop | None = None

    def expected_wait(self) -> float:
        """Seconds a request joining the queue now can expect to wait for its turn."""
        return (self.waiting + 1) * self.service_seconds / self.limit

    def record(self, seconds: float) -> None:
        self.service_seconds += 0.1 * (seconds - self.service_seconds)

    def semaphore(self) -> asyncio.Semaphore:
        # One per event loop: tests may drive the same app from several loops in turn.
        loop = asyncio.get_running_loop()
        if self._semaphore is None or self._loop is not loop:
            self._semaphore = asyncio.Semaphore(self.limit)
            self._loop = loop
        return self._semaphore


#: Sign-in checks a password (argon2: about 25 ms of one core). One at a time per worker, in
#: its own lane, so a flood of guesses from many addresses (which the per-address limits do
#: not stop) cannot take the turns, threads or processor time that experts' saves need.
SIGN_IN_PATHS = ("/login", "/api/auth/login")
SIGN_IN_LIMIT = 1
#: Reports, calibration and publishing compute for seconds; one at a time per worker.
HEAVY_PATTERN = re.compile(
    r"^/(api/rounds/[^/]+/(report|calibration|publish|stability)|admin/rounds/[^/]+/"
    r"(report|calibration|calibrate|publish))"
)
HEAVY_LIMIT = 1


def lane_for(lanes: dict[str, Lane], scope: Scope) -> Lane:
    path: str = scope["path"]
    if scope["method"] == "POST" and path in SIGN_IN_PATHS:
        return lanes["sign-in"]
    if HEAVY_PATTERN.match(path):
        return lanes["heavy"]
    return lanes["default"]


class AdmissionControl:
    def __init__(
        self,
        app: ASGIApp,
        *,
        limit: int,
        max_queue: int,
        timeout: float,
        queue_wait: float | None = None,
    ) -> None:
        self.app = app
        self.lanes = {
            # People's requests wait briefly: a quick answer, or a prompt 503 to retry.
            "default": Lane("default", limit, max_queue, queue_wait or timeout),
            # Sign-in and reports are worth a longer wait (and are few).
            "sign-in": Lane("sign-in", SIGN_IN_LIMIT, max(10, max_queue // 4), timeout),
            "heavy": Lane("heavy", HEAVY_LIMIT, max(4, max_queue // 20), timeout * 3),
        }

    @property
    def connections_needed(self) -> int:
        """Database connections a worker needs so that no admitted request waits for one."""
        return sum(lane.limit for lane in self.lanes.values())

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].startswith(EXEMPT_PREFIXES):
            await self.app(scope, receive, send)
            return
        body: list[Message] = []
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            body.append(message)
            if not message.get("more_body", False):
                break
        lane = lane_for(self.lanes, scope)
        semaphore = lane.semaphore()
        if semaphore.locked() and (
            lane.waiting >= lane.max_queue or lane.expected_wait() > lane.timeout
        ):
            # A queue that will not drain in time: say so at once rather than after the
            # time-out, and ask the client to come back once it may have drained.
            retry = min(30.0, max(1.0, lane.expected_wait()))
            await _refuse(
                scope, send, N_("the service is busy; please try again in a moment"), retry
            )
            return
        admitted = await self._wait_for_turn(lane, semaphore, receive)
        if admitted is None:
            return  # the client went away while it waited
        if not admitted:
            await _refuse(
                scope,
                send,
                Sentence(
                    N_(
                        "the service is busy (no turn within %(seconds)s s); please try again "
                        "in a moment"
                    ),
                    {"seconds": lane.timeout},
                ),
            )
            return
        lane.admitted += 1
        started = time.monotonic()
        try:
            pending = list(body)

            async def replay() -> Message:
                if pending:
                    return pending.pop(0)
                return await receive()

            await self.app(scope, replay, send)
        finally:
            lane.record(time.monotonic() - started)
            lane.admitted -= 1
            semaphore.release()

    async def _wait_for_turn(
        self, lane: Lane, semaphore: asyncio.Semaphore, receive: Receive
    ) -> bool | None:
        """True once admitted, False on time-out, None if the client disconnected."""
        if not semaphore.locked():
            await semaphore.acquire()
            return True
        lane.waiting += 1
        turn = asyncio.ensure_future(semaphore.acquire())
        gone = asyncio.ensure_future(_disconnected(receive))
        try:
            done, _ = await asyncio.wait(
                {turn, gone}, timeout=lane.timeout, return_when=asyncio.FIRST_COMPLETED
            )
        finally:
            lane.waiting -= 1
            gone.cancel()
        if turn in done:
            if gone in done and gone.result():
                semaphore.release()
                return None
            return True
        turn.cancel()
        try:
            await turn
        except asyncio.CancelledError:
            pass
        else:  # acquired just as it was cancelled
            semaphore.release()
        return None if gone in done else False


async def _disconnected(receive: Receive) -> bool:
    message = await receive()
    return bool(message["type"] == "http.disconnect")


async def _refuse(scope: Scope, send: Send, message: str, retry_after: float = 2) -> None:
    """503, asking the client to come back after ``retry_after`` seconds."""
    retry = (b"retry-after", str(math.ceil(retry_after)).encode())
    await send_refusal(
        scope, send, message, status=503, headers=[retry, (b"cache-control", b"no-store")]
    )
