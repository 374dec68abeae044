"""Admission control in one worker: at most `limit` requests run at once, the rest wait
their turn, a queue that cannot drain in time is refused at once with 503 and Retry-After,
and a client that leaves while it waits costs nothing."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from app.web.admission import AdmissionControl


def _scope(path: str = "/api/expert/ratings", method: str = "PUT") -> dict[str, Any]:
    return {"type": "http", "path": path, "method": method, "headers": []}


class SlowApp:
    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.running = 0
        self.most = 0
        self.calls = 0

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        self.calls += 1
        self.running += 1
        self.most = max(self.most, self.running)
        await asyncio.sleep(self.seconds)
        self.running -= 1
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})


async def _call(app: Any, *, leave_after: float | None = None) -> tuple[int, dict, float]:
    sent: list[dict[str, Any]] = []
    body_sent = False

    async def receive() -> dict[str, Any]:
        nonlocal body_sent
        if not body_sent:
            body_sent = True
            return {"type": "http.request", "body": b"{}", "more_body": False}
        if leave_after is not None:
            await asyncio.sleep(leave_after)
            return {"type": "http.disconnect"}
        await asyncio.sleep(3600)
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    started = time.monotonic()
    await app(_scope(), receive, send)
    if not sent:
        return 0, {}, time.monotonic() - started
    headers = {k.decode(): v.decode() for k, v in sent[0].get("headers", [])}
    return sent[0]["status"], headers, time.monotonic() - started


def test_at_most_limit_run_at_once_and_the_rest_wait_their_turn():
    inner = SlowApp(0.05)
    app = AdmissionControl(inner, limit=3, max_queue=100, timeout=5)

    async def main() -> list[tuple[int, dict, float]]:
        return await asyncio.gather(*(_call(app) for _ in range(12)))

    results = asyncio.run(main())
    assert [status for status, _, _ in results] == [200] * 12
    assert inner.most == 3 and inner.calls == 12


def test_a_queue_that_cannot_drain_in_time_is_refused_at_once():
    inner = SlowApp(0.3)
    app = AdmissionControl(inner, limit=1, max_queue=100, timeout=0.5)
    app.lanes["default"].service_seconds = 1.0  # learnt from earlier requests

    async def main() -> list[tuple[int, dict, float]]:
        return await asyncio.gather(*(_call(app) for _ in range(3)))

    first, *others = asyncio.run(main())
    assert first[0] == 200
    for status, headers, seconds in others:
        assert status == 503 and seconds < 0.2
        assert int(headers["retry-after"]) >= 1
        assert headers["content-type"] == "application/json"


def test_waiting_past_the_time_out_is_a_503():
    inner = SlowApp(0.6)
    app = AdmissionControl(inner, limit=1, max_queue=100, timeout=0.2)

    async def main() -> list[tuple[int, dict, float]]:
        return await asyncio.gather(_call(app), _call(app))

    (first, _, _), (second, _headers, seconds) = asyncio.run(main())
    assert first == 200 and second == 503 and 0.15 < seconds < 0.5
    assert inner.calls == 1


def test_a_client_that_leaves_while_waiting_is_dropped_unserved():
    inner = SlowApp(0.3)
    app = AdmissionControl(inner, limit=1, max_queue=100, timeout=5)

    async def main() -> list[tuple[int, dict, float]]:
        return await asyncio.gather(_call(app), _call(app, leave_after=0.05))

    (first, _, _), (second, _, _) = asyncio.run(main())
    assert first == 200 and second == 0  # nothing sent to a client that is gone
    assert inner.calls == 1


def test_sign_in_and_long_analyses_have_lanes_of_their_own():
    inner = SlowApp(0.2)
    app = AdmissionControl(inner, limit=1, max_queue=100, timeout=5)

    async def call(path: str, method: str) -> int:
        sent: list[dict[str, Any]] = []

        async def receive() -> dict[str, Any]:
            return {"type": "http.request", "body": b"", "more_body": False}

        async def send(message: dict[str, Any]) -> None:
            sent.append(message)

        await app(_scope(path, method), receive, send)
        return int(sent[0]["status"])

    async def main() -> float:
        started = time.monotonic()
        await asyncio.gather(
            call("/api/expert/ratings", "PUT"),
            call("/api/auth/login", "POST"),
            call("/api/rounds/1/report", "GET"),
        )
        return time.monotonic() - started

    # One turn in the default lane, yet the three ran side by side.
    assert asyncio.run(main()) < 0.35
    assert inner.most == 3


async def _refused_page(headers: list[tuple[bytes, bytes]], path: str) -> tuple[dict, str]:
    inner = SlowApp(0.3)
    app = AdmissionControl(inner, limit=1, max_queue=0, timeout=5)
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {"type": "http", "path": path, "method": "GET", "headers": headers}
    first = asyncio.ensure_future(app(dict(scope, headers=[]), receive, lambda m: _ignore(m)))
    await asyncio.sleep(0.05)  # the first request holds the only turn
    await app(scope, receive, send)
    await first
    assert sent[0]["status"] == 503
    found = {k.decode(): v.decode() for k, v in sent[0]["headers"]}
    return found, sent[1]["body"].decode()


async def _ignore(message: Any) -> None:
    return None


def test_the_busy_page_is_in_the_reader_s_language():
    # The language the reader's pages last used (their cookie) wins over the browser's.
    cookie = [(b"cookie", b"a=b; elicit_language=fr"), (b"accept-language", b"ar")]
    headers, page = asyncio.run(_refused_page(cookie, "/survey/items/1"))
    assert headers["content-type"].startswith("text/html")
    assert '<html lang="fr" dir="ltr">' in page
    assert "Service occupé : veuillez réessayer" in page
    assert "Le service est occupé ; veuillez réessayer dans un instant." in page
    assert "busy" not in page
    # No cookie: the browser's language; Arabic is written right to left.
    browser = [(b"accept-language", b"de;q=0.9, ar;q=0.8")]
    _, page = asyncio.run(_refused_page(browser, "/admin/rounds/1"))
    assert '<html lang="ar" dir="rtl">' in page and "الخدمة مشغولة" in page
    # A language the interface is not given in: English.
    _, page = asyncio.run(_refused_page([(b"accept-language", b"de")], "/login"))
    assert '<html lang="en"' in page and "Busy: please try again" in page
    # The API: the English, as JSON, whatever the reader's language.
    headers, body = asyncio.run(_refused_page(cookie, "/api/expert/ratings"))
    assert headers["content-type"] == "application/json"
    assert body == '{"detail": "the service is busy; please try again in a moment"}'


def test_a_body_too_large_is_refused_in_the_reader_s_language(client):
    big = "x" * (1024 * 1024 + 10)
    page = client.post("/login", data={"email": big}, headers={"Accept-Language": "fr"})
    assert page.status_code == 413
    assert page.headers["content-type"].startswith("text/html")
    assert '<html lang="fr" dir="ltr">' in page.text
    assert "Trop volumineux pour être envoyé" in page.text
    assert (
        "Corps de la requête trop volumineux : 1048576 octets au plus sont acceptés." in page.text
    )
    client.cookies.set("elicit_language", "ar")
    page = client.post("/login", data={"email": big})
    assert '<html lang="ar" dir="rtl">' in page.text and "بايت" in page.text
    reply = client.post("/api/surveys", json={"filename": "a", "content": big})
    assert reply.status_code == 413
    assert reply.json() == {"detail": "request body too large: at most 1048576 bytes are accepted"}
