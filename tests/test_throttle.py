"""Guessing is slowed down: passwords per account and per address, invitation tokens per
address; the counts live in the database, so every worker and replica enforces them."""

from __future__ import annotations

from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlmodel import delete, func, select

from app.errors import TooManyAttempts
from app.models import AuthFailure, utcnow
from app.services import throttle
from tests.factories import PASSWORD, make_user


def _failures(session) -> int:  # type: ignore[no-untyped-def]
    session.rollback()  # a fresh snapshot: the app wrote through its own connections
    return int(session.exec(select(func.count()).select_from(AuthFailure)).one())


def _login(client: TestClient, email: str, password: str):  # type: ignore[no-untyped-def]
    return client.post("/api/auth/login", json={"email": email, "password": password})


def test_backoff_then_lockout_per_account(session):
    account, address = throttle.sign_in_keys(email="a@example.org", address="192.0.2.1")
    now = utcnow()
    for _ in range(throttle.BACKOFF_AFTER):
        throttle.check_allowed(session, keys=[account, address], now=now)
        throttle.record_failure(session, keys=[account, address], now=now)
    session.flush()
    # The third failure starts the backoff: 1 s, then 2, 4, ... (capped at 60 s).
    with pytest.raises(TooManyAttempts) as refused:
        throttle.check_allowed(session, keys=[account], now=now + timedelta(seconds=0.5))
    assert refused.value.retry_after == 1
    throttle.check_allowed(session, keys=[account], now=now + timedelta(seconds=1.1))
    for n in range(throttle.ACCOUNT_LIMIT - throttle.BACKOFF_AFTER):
        throttle.record_failure(session, keys=[account], now=now + timedelta(seconds=n))
    session.flush()
    later = now + timedelta(minutes=2)
    with pytest.raises(TooManyAttempts) as locked:
        throttle.check_allowed(session, keys=[account], now=later)
    # Locked until the oldest failure leaves the 15-minute window.
    assert locked.value.retry_after == 13 * 60
    throttle.check_allowed(session, keys=[account], now=now + throttle.WINDOW + timedelta(1))
    # Another account and another address are not affected.
    other, _ = throttle.sign_in_keys(email="b@example.org", address="192.0.2.1")
    throttle.check_allowed(session, keys=[other], now=later)


def test_a_flood_against_a_blocked_key_is_refused_without_a_query(session, engine):
    from sqlalchemy import event

    account, address = throttle.sign_in_keys(email="a@example.org", address="192.0.2.1")
    now = utcnow()
    for _ in range(throttle.ACCOUNT_LIMIT):
        throttle.record_failure(session, keys=[account], now=now)
    session.commit()
    with pytest.raises(TooManyAttempts):
        throttle.check_allowed(session, keys=[account, address], now=now)
    queries: list[str] = []
    listener = lambda *args: queries.append(args[2])  # noqa: E731
    event.listen(engine, "before_cursor_execute", listener)
    try:
        for _ in range(5):
            with pytest.raises(TooManyAttempts) as refused:
                throttle.check_allowed(session, keys=[account, address], now=now)
            assert refused.value.retry_after == 15 * 60
    finally:
        event.remove(engine, "before_cursor_execute", listener)
    assert queries == []
    # Only the blocked key is remembered: another account from the same address is fine.
    other, _ = throttle.sign_in_keys(email="b@example.org", address="192.0.2.1")
    throttle.check_allowed(session, keys=[other, address], now=now)
    # Remembered for at most REMEMBER_BLOCK: failures removed by hand count soon after.
    session.exec(delete(AuthFailure))
    session.commit()
    with pytest.raises(TooManyAttempts):
        throttle.check_allowed(session, keys=[account], now=now + timedelta(seconds=5))
    later = now + throttle.REMEMBER_BLOCK + timedelta(seconds=1)
    throttle.check_allowed(session, keys=[account], now=later)


def test_keys_store_no_email_or_address_in_clear(session):
    keys = throttle.sign_in_keys(email="Someone@Example.org", address="192.0.2.7")
    throttle.record_failure(session, keys=keys)
    session.flush()
    stored = list(session.exec(select(AuthFailure.key)).all())
    assert len(stored) == 2 and all(len(k) == 64 for k in stored)
    assert not any("example" in k or "192" in k for k in stored)


def _lock_out(session, email: str) -> None:  # type: ignore[no-untyped-def]
    # The limit reached as a burst of wrong passwords would reach it (the backoff makes that
    # take a while through the API).
    keys = throttle.sign_in_keys(email=email, address="testclient")
    for _ in range(throttle.ACCOUNT_LIMIT):
        throttle.record_failure(session, keys=keys[:1])
    session.commit()


def test_wrong_passwords_are_refused_with_429_and_retry_after(session, client):
    make_user(session)
    session.commit()
    statuses = [_login(client, "admin@example.org", f"wrong-{n}").status_code for n in range(2)]
    assert statuses == [401, 401]
    _lock_out(session, "admin@example.org")
    # Refused without checking the password, even the right one.
    refused = _login(client, "admin@example.org", PASSWORD)
    assert refused.status_code == 429
    assert 14 * 60 <= int(refused.headers["Retry-After"]) <= 15 * 60
    assert "too many failed attempts" in refused.json()["detail"]


def test_a_successful_sign_in_clears_the_account_count(session, client):
    make_user(session)
    session.commit()
    assert _login(client, "admin@example.org", "wrong-1").status_code == 401
    assert _login(client, "admin@example.org", PASSWORD).status_code == 200
    assert _failures(session) == 1  # only the address key remains


def test_login_page_shows_the_wait(session, client):
    make_user(session)
    _lock_out(session, "admin@example.org")
    page = client.get("/login")
    token = page.text.split('name="csrf_token" value="')[1].split('"')[0]
    reply = client.post(
        "/login", data={"email": "admin@example.org", "password": PASSWORD, "csrf_token": token}
    )
    assert reply.status_code == 429
    assert "try again in" in reply.text and reply.headers["Retry-After"]


def test_many_accounts_from_one_address_are_limited(session, client):
    for n in range(throttle.ADDRESS_LIMIT):
        assert _login(client, f"nobody{n}@example.org", "guess").status_code == 401
    assert _login(client, "someone-else@example.org", "guess").status_code == 429


def test_invitation_token_guessing_is_limited_per_address(session, client):
    for n in range(throttle.TOKEN_LIMIT):
        fake = f"{n:043d}"
        assert client.get(f"/i/{fake}").status_code == 404
    assert client.get("/i/" + "x" * 43).status_code == 429
    bearer = {"Authorization": "Bearer " + "y" * 43}
    assert client.get("/api/expert/response", headers=bearer).status_code == 429


def test_bearer_token_guessing_on_writes_is_counted_without_deadlock(session, client):
    # A POST begins a writing transaction; counting the failure must use that same
    # transaction, not wait for a second one (which would wait for the first).
    bearer = {"Authorization": "Bearer " + "z" * 43}
    for _ in range(3):
        assert client.post("/api/expert/consent", headers=bearer).status_code == 401
    assert _failures(session) == 3


def test_counts_hold_across_workers(session, settings):
    """Two app instances on one database (two workers or replicas) share the counts."""
    from app.main import create_app

    make_user(session)
    session.commit()
    first, second = create_app(settings), create_app(settings)
    with TestClient(first) as a, TestClient(second) as b:
        assert _login(a, "admin@example.org", "wrong").status_code == 401
        _lock_out(session, "admin@example.org")
        assert _login(a, "admin@example.org", PASSWORD).status_code == 429
        throttle.forget_blocks()  # what another process knows: only the database
        assert _login(b, "admin@example.org", PASSWORD).status_code == 429
        assert _failures(session) == throttle.ACCOUNT_LIMIT + 2
    first.state.engine.dispose()
    second.state.engine.dispose()


def test_login_form_from_another_site_is_refused(session, client):
    """Login CSRF: a form posted from another origin cannot sign the browser in."""
    make_user(session)
    session.commit()
    page = client.get("/login")
    token = page.text.split('name="csrf_token" value="')[1].split('"')[0]
    form = {"email": "admin@example.org", "password": PASSWORD, "csrf_token": token}
    for origin in ("https://evil.example", "http://testserver.evil.example"):
        reply = client.post("/login", data=form, headers={"Origin": origin})
        assert reply.status_code == 403 and "elicit_session" not in reply.cookies
    referer = client.post("/login", data=form, headers={"Referer": "https://evil.example/x"})
    assert referer.status_code == 403
    same = client.post("/login", data=form, headers={"Origin": "http://testserver"})
    assert same.status_code == 303 and same.headers["location"] == "/admin"
