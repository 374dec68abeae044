"""Signed webhooks for rubric events: a real HTTP receiver on this machine gets each
delivery, checks its signature as a subscriber would, and answers as told (200, 500, 410,
a redirect, nothing in time); addresses inside the network are refused."""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from sqlmodel import select

from app.errors import InvalidInput
from app.inputs import ObservationInput
from app.models import RubricVersion, WebhookDelivery, WebhookSubscription, utcnow
from app.services import audit, outbox, reviews, rubrics, webhooks
from app.services.demo import simulate_panel
from app.services.mail import FolderTransport, MailWorker
from tests.factories import make_round, make_user

CONTEXT = {"company_relations": "Voluntary access as of 2026", "legal_powers": "none"}
BASE_URL = "http://panel.example.org"


# --- a subscriber --------------------------------------------------------------------------


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Receiver:
    """A webhook subscriber: answers each POST with the next status of ``statuses`` (the
    last one repeats), keeping what it received."""

    url: str
    statuses: list[int] = field(default_factory=lambda: [200])
    received: list[Received] = field(default_factory=list)
    delay: float = 0.0
    location: str = ""


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    state = Receiver(url="")

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            state.received.append(Received(self.path, dict(self.headers.items()), body))
            if state.delay:
                time.sleep(state.delay)
            status = state.statuses[min(len(state.received), len(state.statuses)) - 1]
            self.send_response(status)
            if state.location:
                self.send_header("Location", state.location)
            answer = b"gone for good" if status == 410 else b"ok"
            self.send_header("Content-Length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    state.url = f"http://127.0.0.1:{server.server_port}/hooks/elicit?team=a"
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()


def verified(secret: str, request: Received, *, tolerance: int = 300) -> dict[str, object]:
    """What a subscriber does: recompute the signature over the timestamp and the raw body,
    compare in constant time, refuse a stale timestamp, then read the JSON."""
    stamp = request.headers["X-Elicit-Timestamp"]
    assert abs(time.time() - int(stamp)) <= tolerance
    expected = hmac.new(
        secret.encode(), stamp.encode() + b"." + request.body, hashlib.sha256
    ).hexdigest()
    assert hmac.compare_digest(request.headers["X-Elicit-Signature"], f"sha256={expected}")
    return json.loads(request.body)  # type: ignore[no-any-return]


# --- a published rubric ---------------------------------------------------------------------


def publish_small(session, *, n_experts: int = 8) -> RubricVersion:
    """The small survey's rubric v1, published from a simulated panel."""
    admin = make_user(session)
    round_ = make_round(session)
    simulate_panel(session, round_id=round_.id, n_experts=n_experts, seed=1)
    from app.services import rounds

    rounds.close_round(session, round_id=round_.id)
    version = rubrics.publish_rubric(
        session,
        round_id=round_.id,
        publisher=admin,
        context=CONTEXT,
        justification="a small simulated panel",
        n_bootstrap=100,
    )
    session.commit()
    return version


def observe(session, value: str = "Companies refuse voluntary access") -> int:
    """Staff record that company relations changed; returns the review opened."""
    observation = ObservationInput(
        factor="company_relations",
        value=value,
        observed_on=date.today(),
        source_url="https://news.example.org/a?b=1&c=2",
    )
    _, opened = reviews.record_observation(
        session, slug="small", observation=observation, actor="admin@example.org"
    )
    session.commit()
    assert len(opened) == 1
    return opened[0].id  # type: ignore[return-value]


def subscribe(session, url: str, survey: str | None = "small") -> webhooks.CreatedSubscription:
    created = webhooks.create_subscription(
        session, url=url, survey=survey, actor="admin@example.org", allow_private=True
    )
    session.commit()
    return created


def deliver(engine, *, later: timedelta = timedelta(0), timeout: float = 5.0, private=True):
    return webhooks.deliver_due(
        engine,
        base_url=BASE_URL,
        allow_private=private,
        batch=outbox.Batch(now=lambda: utcnow() + later),
        timeout=timeout,
    )


def deliveries(session) -> list[WebhookDelivery]:
    session.rollback()
    return list(session.exec(select(WebhookDelivery).order_by(WebhookDelivery.id)).all())


# --- delivery -------------------------------------------------------------------------------


def test_an_observation_that_opens_a_review_reaches_the_subscriber_signed(
    session, engine, receiver, tmp_path, monkeypatch
):
    publish_small(session)
    created = subscribe(session, receiver.url)
    assert len(created.secret) >= 40
    review_id = observe(session)

    # The worker's pass (as in `elicit worker` and the web workers) delivers it.
    from app.config import get_settings

    monkeypatch.setenv("ELICIT_WEBHOOK_ALLOW_PRIVATE", "true")
    get_settings.cache_clear()
    try:
        worker = MailWorker(
            engine, FolderTransport(tmp_path), mail_from="x@example.org", base_url=BASE_URL
        )
        worker.run_once()
    finally:
        get_settings.cache_clear()
    assert worker.webhooks == webhooks.Delivered(sent=1, retried=0, failed=0)

    (request,) = receiver.received
    assert request.path == "/hooks/elicit?team=a"
    assert request.headers["Content-Type"] == "application/json"
    assert request.headers["X-Elicit-Event"] == "under_review"
    (row,) = deliveries(session)
    assert request.headers["X-Elicit-Delivery"] == str(row.id)
    body = verified(created.secret, request)
    assert body["kind"] == "under_review" and body["survey"] == "small" and body["version"] == 1
    assert body["url"] == f"{BASE_URL}/rubrics/small/v1"
    assert body["title"] == "A small survey v1 is under review"
    assert "Companies refuse voluntary access" in str(body["summary"])
    assert "Voluntary access as of 2026" in str(body["summary"])
    assert str(body["created_at"]).endswith("Z") and isinstance(body["id"], int)
    assert set(body) == {"id", "kind", "survey", "version", "title", "summary", "url", "created_at"}
    # A tampered body, or another secret, fails the subscriber's check.
    with pytest.raises(AssertionError):
        verified(created.secret, Received(request.path, request.headers, request.body + b" "))
    with pytest.raises(AssertionError):
        verified("another secret", request)

    assert (row.status, row.attempts, row.response_status, row.last_error) == ("sent", 1, 200, "")
    assert row.sent_at is not None
    # Sent once: the next pass has nothing to do.
    assert deliver(engine) == webhooks.Delivered(0, 0, 0)

    # Closing the review tells the subscriber too.
    reviews.close_review(
        session, review_id=review_id, actor="admin@example.org", resolution="still holds"
    )
    session.commit()
    assert deliver(engine) == webhooks.Delivered(1, 0, 0)
    closed = verified(created.secret, receiver.received[-1])
    assert closed["kind"] == "review_closed"
    assert closed["summary"] == "Review closed by staff: still holds"


def test_a_server_error_is_retried_with_backoff_until_the_subscriber_takes_it(
    session, engine, receiver
):
    receiver.statuses = [500, 503, 200]
    publish_small(session)
    created = subscribe(session, receiver.url)
    observe(session)

    assert deliver(engine) == webhooks.Delivered(0, 1, 0)
    (row,) = deliveries(session)
    assert (row.status, row.attempts, row.response_status) == ("queued", 1, 500)
    assert row.last_error.startswith("HTTP 500")
    first_wait = row.next_attempt_at - utcnow()
    assert timedelta(seconds=50) < first_wait <= timedelta(minutes=1)
    # Not due yet: nothing is sent.
    assert deliver(engine) == webhooks.Delivered(0, 0, 0)
    assert len(receiver.received) == 1

    assert deliver(engine, later=timedelta(minutes=1, seconds=1)) == webhooks.Delivered(0, 1, 0)
    (row,) = deliveries(session)
    assert (row.attempts, row.response_status) == (2, 503)
    assert row.next_attempt_at - utcnow() > timedelta(minutes=2, seconds=50)  # 1, 2, 4 ...

    assert deliver(engine, later=timedelta(minutes=4)) == webhooks.Delivered(1, 0, 0)
    (row,) = deliveries(session)
    assert (row.status, row.attempts, row.response_status, row.last_error) == ("sent", 3, 200, "")
    # The same delivery each time: one id for the subscriber to recognise a repeat by, each
    # request signed anew with its own timestamp.
    assert {r.headers["X-Elicit-Delivery"] for r in receiver.received} == {str(row.id)}
    assert [verified(created.secret, r)["id"] for r in receiver.received] == [
        json.loads(receiver.received[0].body)["id"]
    ] * 3


def test_retries_end_in_failure_after_the_last_attempt(session, engine, receiver):
    receiver.statuses = [502]
    publish_small(session)
    subscribe(session, receiver.url)
    observe(session)
    later = timedelta(0)
    for _ in range(webhooks.QUEUE.retry.max_attempts):
        deliver(engine, later=later)
        later += webhooks.QUEUE.retry.backoff_max
    (row,) = deliveries(session)
    attempts = webhooks.QUEUE.retry.max_attempts
    assert (row.status, row.attempts, row.response_status) == ("failed", attempts, 502)
    assert len(receiver.received) == attempts
    assert deliver(engine, later=later) == webhooks.Delivered(0, 0, 0)


def test_gone_fails_for_good_at_once_and_so_does_a_redirect(session, engine, receiver):
    receiver.statuses = [410]
    publish_small(session)
    subscribe(session, receiver.url)
    observe(session)
    assert deliver(engine) == webhooks.Delivered(0, 0, 1)
    (row,) = deliveries(session)
    assert (row.status, row.attempts, row.response_status) == ("failed", 1, 410)
    assert row.last_error == "HTTP 410 Gone: gone for good"
    assert deliver(engine, later=timedelta(hours=2)) == webhooks.Delivered(0, 0, 0)
    assert len(receiver.received) == 1

    # A redirect is not followed (it could lead anywhere, the network inside included).
    receiver.statuses, receiver.location = [307], "http://127.0.0.1:9/elsewhere"
    observe(session, "Companies share again")
    assert deliver(engine) == webhooks.Delivered(0, 0, 1)
    last = deliveries(session)[-1]
    assert last.response_status == 307 and "redirects are not followed" in last.last_error
    assert len(receiver.received) == 2


def test_too_many_requests_and_a_slow_subscriber_are_retried(session, engine, receiver):
    receiver.statuses = [429]
    publish_small(session)
    subscribe(session, receiver.url)
    observe(session)
    assert deliver(engine) == webhooks.Delivered(0, 1, 0)
    assert deliveries(session)[0].response_status == 429

    receiver.statuses, receiver.delay = [200], 1.0
    assert deliver(engine, later=timedelta(minutes=2), timeout=0.3) == webhooks.Delivered(0, 1, 0)
    (row,) = deliveries(session)
    assert row.status == "queued" and row.response_status is None
    assert "timed out" in row.last_error


def test_nobody_listening_is_retried(session, engine):
    from tests.live_server import free_port

    publish_small(session)
    subscribe(session, f"http://127.0.0.1:{free_port()}/hook")
    observe(session)
    assert deliver(engine) == webhooks.Delivered(0, 1, 0)
    (row,) = deliveries(session)
    assert row.status == "queued" and "Connection refused" in row.last_error


# --- whom to tell ---------------------------------------------------------------------------


def test_subscriptions_to_one_survey_or_to_all_and_what_deactivating_withdraws(
    session, engine, receiver
):
    publish_small(session)
    one = subscribe(session, receiver.url)
    every = subscribe(session, receiver.url + "&all=1", survey=None)
    assert (one.survey, every.survey) == ("small", None)
    listed = webhooks.list_subscriptions(session)
    assert [s.id for s in listed] == [every.id, one.id]
    assert not any(hasattr(s, "secret") for s in listed)

    observe(session)
    assert {d.subscription_id for d in deliveries(session)} == {one.id, every.id}
    webhooks.deactivate_subscription(session, subscription_id=one.id, actor="admin@example.org")
    session.commit()
    assert deliver(engine) == webhooks.Delivered(1, 0, 0)
    assert receiver.received[0].path.endswith("&all=1")
    withdrawn = next(d for d in deliveries(session) if d.subscription_id == one.id)
    assert (withdrawn.status, withdrawn.last_error) == ("failed", webhooks.WITHDRAWN)
    shown = {d.id: d for d in webhooks.list_deliveries(session)}
    assert shown[withdrawn.id].status == "failed" and shown[withdrawn.id].survey == "small"

    # Inactive: told nothing more. Deleted: gone with its deliveries.
    observe(session, "Companies share again")
    assert {d.subscription_id for d in deliveries(session) if d.status == "queued"} == {every.id}
    webhooks.delete_subscription(session, subscription_id=one.id, actor="admin@example.org")
    session.commit()
    assert {d.subscription_id for d in deliveries(session)} == {every.id}
    assert [s.id for s in webhooks.list_subscriptions(session)] == [every.id]

    actions = [e.action for e in reversed(audit.entries(session, limit=50).entries)]
    assert actions.count("webhook.created") == 2
    assert "webhook.deactivated" in actions and "webhook.deleted" in actions


def test_an_unknown_survey_or_subscription_is_named(session):
    make_round(session)
    with pytest.raises(Exception, match="no survey 'nope'"):
        webhooks.create_subscription(
            session, url="https://hooks.example.org/", survey="nope", actor="a", allow_private=False
        )
    with pytest.raises(Exception, match="no webhook subscription 99"):
        webhooks.deactivate_subscription(session, subscription_id=99, actor="a")


# --- addresses inside the network are refused -----------------------------------------------

REFUSED = {
    "http://127.0.0.1:8000/hook": "not a public address",
    "http://localhost/hook": "local name",
    "https://api.internal/hook": "local name",
    "http://10.1.2.3/hook": "not a public address",
    "http://192.168.0.10/hook": "not a public address",
    "http://172.16.5.4/hook": "not a public address",
    "http://169.254.169.254/latest/meta-data": "not a public address",
    "http://100.64.0.1/": "not a public address",
    "http://0.0.0.0/": "not a public address",
    "http://[::1]/hook": "not a public address",
    "http://[fe80::1]/hook": "not a public address",
    "http://[fd00::1]/hook": "not a public address",
    "http://[::ffff:127.0.0.1]/hook": "not a public address",
    "http://2130706433/hook": "not a public address",  # 127.0.0.1 as one number
    "ftp://hooks.example.org/": "https://",
    "javascript:alert(1)": "https://",
    "https:///no-host": "https://",
    "https://user:pw@hooks.example.org/": "user or password",
    "https://hooks.example.org/a b": "spaces",
    "https://hooks.example.org:99999/": "valid",
    "": "http(s) address",
    "https://hooks.example.org/" + "a" * 2000: "2000",
}


@pytest.mark.parametrize("url", list(REFUSED))
def test_addresses_that_are_not_public_http_are_refused(url):
    with pytest.raises(InvalidInput, match=re.escape(REFUSED[url])) as e:
        webhooks.checked_url(url, allow_private=False)
    assert e.value.field == "url"


def test_public_addresses_pass_and_the_setting_lets_private_ones_through():
    for url in ("https://hooks.example.org/elicit", "http://93.184.215.14:8080/x?y=1"):
        assert webhooks.checked_url(f"  {url} ", allow_private=False) == url
    assert (
        webhooks.checked_url("http://127.0.0.1:9/h", allow_private=True) == "http://127.0.0.1:9/h"
    )
    # The scheme and the credentials rules hold whatever the setting.
    with pytest.raises(InvalidInput):
        webhooks.checked_url("file:///etc/passwd", allow_private=True)


def test_a_private_target_is_refused_again_at_delivery(session, engine, receiver):
    """Made while private addresses were allowed (or a name that now resolves inside): the
    delivery checks the address it would connect to, and sends nothing there."""
    publish_small(session)
    subscribe(session, receiver.url)
    subscribe(session, receiver.url.replace("127.0.0.1", "localhost"))
    observe(session)
    assert deliver(engine, private=False) == webhooks.Delivered(0, 0, 2)
    assert receiver.received == []
    rows = deliveries(session)
    assert all(r.status == "failed" and r.response_status is None for r in rows)
    assert "refused: 127.0.0.1 is not a public address" in rows[0].last_error
    assert "refused: localhost is a local name" in rows[1].last_error


def test_the_secret_never_reaches_the_audit_trail(session):
    make_round(session)
    created = subscribe(session, "https://hooks.example.org/x", survey=None)
    rows = audit.entries(session, limit=10).entries
    assert created.secret not in json.dumps([r.details for r in rows])
    with pytest.raises(ValueError, match="secret"):
        audit.record(session, "a", "webhook.created", "webhook", 1, secret=created.secret)


# --- the API --------------------------------------------------------------------------------


def test_admins_manage_subscriptions_through_the_api_and_see_the_secret_once(
    session, client, engine, receiver
):
    from tests.factories import login

    publish_small(session)
    make_user(session, email="res@example.org", role="researcher")
    admin, researcher = login(client), login(client, "res@example.org")

    made = client.post(
        "/api/webhooks", headers=admin, json={"url": receiver.url, "survey": "small"}
    )
    # Private addresses are refused here (the test server has the default settings).
    assert made.status_code == 422, made.text
    assert made.json()["field"] == "url" and "not a public address" in made.json()["detail"]
    made = client.post(
        "/api/webhooks",
        headers=admin,
        json={"url": "https://hooks.example.org/elicit", "survey": "small"},
    )
    assert made.status_code == 201 and made.headers["cache-control"] == "no-store"
    created = made.json()
    assert created["survey"] == "small" and created["active"] is True
    assert created["created_by"] == "admin@example.org" and len(created["secret"]) >= 40
    listed = client.get("/api/webhooks", headers=admin)
    assert [s["id"] for s in listed.json()] == [created["id"]]
    assert "secret" not in listed.json()[0] and created["secret"] not in listed.text

    unknown = client.post(
        "/api/webhooks", headers=admin, json={"url": "https://h.example.org/", "survey": "x"}
    )
    assert unknown.status_code == 404 and unknown.json()["field"] == "survey"
    extra = client.post(
        "/api/webhooks", headers=admin, json={"url": "https://h.example.org/", "secret": "mine"}
    )
    assert extra.status_code == 422 and extra.json()["field"] == "secret"
    for method, path in (
        ("GET", "/api/webhooks"),
        ("POST", "/api/webhooks"),
        ("GET", "/api/webhooks/deliveries"),
        ("POST", f"/api/webhooks/{created['id']}/deactivate"),
        ("DELETE", f"/api/webhooks/{created['id']}"),
    ):
        assert client.request(method, path, headers=researcher).status_code == 403, path

    observe(session)
    shown = client.get("/api/webhooks/deliveries", headers=admin).json()
    assert [(d["kind"], d["status"], d["url"]) for d in shown] == [
        ("under_review", "queued", "https://hooks.example.org/elicit")
    ]
    assert (
        client.get(
            f"/api/webhooks/deliveries?subscription={created['id'] + 1}", headers=admin
        ).json()
        == []
    )

    off = client.post(f"/api/webhooks/{created['id']}/deactivate", headers=admin)
    assert off.status_code == 200 and off.json()["active"] is False
    (withdrawn,) = client.get("/api/webhooks/deliveries", headers=admin).json()
    assert withdrawn["status"] == "failed" and withdrawn["last_error"] == webhooks.WITHDRAWN
    assert client.delete(f"/api/webhooks/{created['id']}", headers=admin).status_code == 204
    assert client.get("/api/webhooks", headers=admin).json() == []
    gone = client.delete(f"/api/webhooks/{created['id']}", headers=admin)
    assert gone.status_code == 404 and "no webhook subscription" in gone.json()["detail"]
    assert client.post("/api/webhooks/0/deactivate", headers=admin).status_code == 422


# --- the command line -----------------------------------------------------------------------


def test_the_command_line_adds_lists_delivers_and_removes(session, elicit, receiver, monkeypatch):
    publish_small(session)
    refused = elicit("webhook", "add", receiver.url, ok=False)
    assert refused.exit_code == 1 and "not a public address" in refused.output
    assert "ELICIT_WEBHOOK_ALLOW_PRIVATE" in refused.output

    from app.config import get_settings

    monkeypatch.setenv("ELICIT_WEBHOOK_ALLOW_PRIVATE", "true")
    get_settings.cache_clear()
    added = elicit("webhook", "add", receiver.url, "--survey", "small").output
    assert "subscription 1:" in added and "(small)" in added
    secret = added.split("shown this once; the subscriber checks signatures with it): ")[1].strip()
    listed = elicit("webhook", "list").output
    assert "1\tactive\tsmall\t" + receiver.url in listed and secret not in listed
    assert "no webhook deliveries yet" in elicit("webhook", "deliveries").output

    observe(session)
    done = elicit("worker", "--once").output
    assert "webhooks: sent 1, to retry 0, failed 0" in done
    body = verified(secret, receiver.received[0])
    assert body["url"] == "http://panel.example.org/rubrics/small/v1"  # the BASE_URL setting
    shown = elicit("webhook", "deliveries").output
    assert "small v1 under_review" in shown and "sent" in shown and "HTTP 200" in shown
    (row,) = json.loads(elicit("webhook", "deliveries", "--json").output)
    assert row["status"] == "sent" and row["response_status"] == 200 and row["attempts"] == 1

    assert "is inactive" in elicit("webhook", "deactivate", "1").output
    assert "1\tinactive\tsmall" in elicit("webhook", "list").output
    assert "removed" in elicit("webhook", "remove", "1").output
    missing = elicit("webhook", "remove", "1", ok=False)
    assert missing.exit_code == 1 and "no webhook subscription 1" in missing.output
    hooks = [e for e in audit.entries(session, limit=20).entries if e.action.startswith("webhook")]
    assert [(e.action, e.actor) for e in hooks] == [
        ("webhook.deleted", "cli"),
        ("webhook.deactivated", "cli"),
        ("webhook.created", "cli"),
    ]


# --- the admin page -------------------------------------------------------------------------


def test_admins_subscribe_on_the_webhooks_page(session, client, app, receiver):
    import html as html_text

    from fastapi.testclient import TestClient

    from tests.factories import form_token, sign_in_page

    publish_small(session)
    sign_in_page(client)
    home = client.get("/admin").text
    assert '<a href="/admin/webhooks">Webhooks</a>' in home
    page = client.get("/admin/webhooks")
    assert page.status_code == 200 and "No subscriptions yet." in page.text
    assert '<option value="small">small</option>' in page.text
    token = form_token(page.text)

    # A mistake: the page again, what was typed kept, the message beside the field.
    refused = client.post(
        "/admin/webhooks", data={"csrf_token": token, "url": receiver.url, "survey": "small"}
    )
    assert refused.status_code == 422
    assert 'aria-describedby="url-error"' in refused.text and "not a public address" in refused.text
    assert f'value="{html_text.escape(receiver.url)}"' in refused.text
    assert '<option value="small" selected>' in refused.text

    made = client.post(
        "/admin/webhooks",
        data={"csrf_token": token, "url": "https://hooks.example.org/x?a=1&b=<2>", "survey": ""},
    )
    assert made.status_code == 200 and made.headers["cache-control"] == "no-store"
    (created,) = webhooks.list_subscriptions(session)
    secret = session.get(WebhookSubscription, created.id).secret
    assert f'value="{secret}"' in made.text and "shown this once" in made.text
    assert "https://hooks.example.org/x?a=1&amp;b=&lt;2&gt;" in made.text  # escaped
    # Never again: the page after shows the subscription, not its secret.
    again = client.get("/admin/webhooks").text
    assert secret not in again and f'id="webhook-{created.id}"' in again
    assert created.survey is None and "every survey" in again

    observe(session)
    listed = client.get("/admin/webhooks").text
    assert "small v1</a>: A small survey v1 is under review" in listed and "queued" in listed

    # Forms need the page's token; researchers may not use them.
    for path in ("/admin/webhooks", f"/admin/webhooks/{created.id}/deactivate"):
        assert client.post(path, data={"url": "https://h.example.org/"}).status_code == 403
        forged = {"csrf_token": "forged", "url": "https://h.example.org/"}
        assert client.post(path, data=forged).status_code == 403
    make_user(session, email="res@example.org", role="researcher")
    other = TestClient(app, base_url="http://testserver", follow_redirects=False)
    sign_in_page(other, "res@example.org")
    assert other.get("/admin/webhooks").status_code == 403
    assert "/admin/webhooks" not in other.get("/admin").text
    res_token = form_token(other.get("/admin").text)
    denied = other.post(f"/admin/webhooks/{created.id}/delete", data={"csrf_token": res_token})
    assert denied.status_code == 403

    off = client.post(f"/admin/webhooks/{created.id}/deactivate", data={"csrf_token": token})
    assert off.status_code == 303 and off.headers["location"].endswith(f"#webhook-{created.id}")
    after = client.get("/admin/webhooks").text
    assert "inactive" in after and webhooks.WITHDRAWN in after
    gone = client.post(f"/admin/webhooks/{created.id}/delete", data={"csrf_token": token})
    assert gone.status_code == 303 and "No subscriptions yet." in client.get("/admin/webhooks").text
    assert client.post("/admin/webhooks/99/delete", data={"csrf_token": token}).status_code == 404


def test_the_worker_opens_overdue_reviews_and_tells_subscribers_in_the_same_pass(
    session, engine, receiver, tmp_path, monkeypatch
):
    from app.config import get_settings

    publish_small(session)
    created = subscribe(session, receiver.url)
    # A year on, nobody has checked the factors: their review dates have passed.
    year_on = utcnow() + timedelta(days=400)
    monkeypatch.setattr(reviews, "utcnow", lambda: year_on)
    monkeypatch.setenv("ELICIT_WEBHOOK_ALLOW_PRIVATE", "true")
    get_settings.cache_clear()
    checks = []
    original = reviews.check_all
    monkeypatch.setattr(reviews, "check_all", lambda e: checks.append(1) or original(e))
    try:
        worker = MailWorker(
            engine, FolderTransport(tmp_path), mail_from="x@example.org", base_url=BASE_URL
        )
        worker.run_once()
        worker.run_once()  # a minute has not passed: the review dates are not checked again
    finally:
        get_settings.cache_clear()
    assert len(checks) == 1
    assert worker.webhooks == webhooks.Delivered(0, 0, 0)  # the first pass sent both
    bodies = [verified(created.secret, r) for r in receiver.received]
    assert [b["kind"] for b in bodies] == ["under_review", "under_review"]
    reasons = sorted(str(b["summary"]) for b in bodies)
    assert reasons[0].startswith("Legal powers: last checked") and "review was due" in reasons[0]
    assert reasons[1].startswith("Relations with AI companies: last checked")
