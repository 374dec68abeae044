"""Staff accounts on the web, end to end through the test client: admins manage accounts,
reset links work once and expire, everyone changes their own password and may add a second
factor (TOTP) that sign-in then asks for; the last admin stays; roles and CSRF hold."""

from __future__ import annotations

import html
import re
import time
from datetime import timedelta

import pyotp
import pytest
from fastapi.testclient import TestClient
from sqlmodel import select

from app.models import OutboxMessage, PasswordReset, User, utcnow
from app.services import throttle
from tests.factories import PASSWORD, form_token, login, make_user, sign_in_page

NEW_PASSWORD = "a brand new passphrase"


def _browser(app) -> TestClient:
    """Another browser: its own cookies."""
    return TestClient(app, base_url="http://testserver", follow_redirects=False)


def _post(client: TestClient, path: str, page: str = "/admin/users", **data: str):
    token = form_token(client.get(page).text)
    return client.post(path, data={"csrf_token": token, **data})


def _user(session, email: str) -> User:
    session.rollback()  # a new snapshot
    return session.exec(select(User).where(User.email == email)).one()


def _reset_link(session, email: str) -> str:
    session.rollback()
    message = session.exec(
        select(OutboxMessage)
        .where(OutboxMessage.to_address == email, OutboxMessage.kind == "password_reset")
        .order_by(OutboxMessage.id.desc())  # type: ignore[union-attr]
    ).first()
    assert message is not None, f"no reset e-mail to {email}"
    found = re.search(r"https?://[^/\s]+(/reset/[A-Za-z0-9_-]{43})\s", message.body)
    assert found is not None, message.body
    return found.group(1)


def _api_status(client: TestClient, headers: dict[str, str]) -> int:
    return client.get("/api/me", headers=headers).status_code


def totp_now(secret: str) -> str:
    return pyotp.TOTP(secret).now()


def _wrong_code(secret: str) -> str:
    totp, now = pyotp.TOTP(secret), time.time()
    near = {totp.at(now + shift) for shift in (-60, -30, 0, 30, 60)}
    return next(c for c in (f"{n:06d}" for n in range(0, 10**6, 7919)) if c not in near)


@pytest.fixture
def admin(session, client):
    make_user(session)
    sign_in_page(client)
    return client


# --- an admin manages accounts --------------------------------------------------------------


def test_an_admin_creates_an_account_and_the_colleague_sets_the_password(
    session, admin, app, backend
):
    reply = _post(admin, "/admin/users", email="New.Colleague@Example.org", role="researcher")
    assert reply.status_code == 303
    page = admin.get(reply.headers["location"]).text
    assert "a link to set a password was queued for new.colleague@example.org" in page.lower()
    assert "new.colleague@example.org" in page and "researcher" in page

    link = _reset_link(session, "new.colleague@example.org")
    colleague = _browser(app)
    assert (
        colleague.post(
            link, data={"password": NEW_PASSWORD, "password_again": NEW_PASSWORD}
        ).status_code
        == 303
    )
    assert (
        colleague.post(
            "/api/auth/login", json={"email": "new.colleague@example.org", "password": NEW_PASSWORD}
        ).status_code
        == 200
    )


def test_a_mistyped_account_is_shown_again_with_the_message_beside_the_field(session, admin):
    reply = _post(admin, "/admin/users", email="not-an-address", role="admin")
    assert reply.status_code == 422
    assert 'value="not-an-address"' in reply.text
    assert re.search(r'id="email-error">[^<]*not a valid e-mail address', reply.text)
    assert '<option value="admin" selected>' in reply.text  # the role chosen is kept
    taken = _post(admin, "/admin/users", email="admin@example.org", role="admin")
    assert taken.status_code == 409 and "already exists" in taken.text


def test_role_changes_and_deactivation_end_sessions_and_keep_the_last_admin(
    session, admin, client, backend
):
    res = make_user(session, email="res@example.org", role="researcher")
    res_token = login(client, "res@example.org")
    me = _user(session, "admin@example.org")

    # The only admin cannot demote or deactivate themselves: 409, said in their row.
    demoted = _post(admin, f"/admin/users/{me.id}/role", role="researcher")
    assert demoted.status_code == 409
    assert re.search(rf'id="row-{me.id}-error">[^<]*last active admin', demoted.text)
    assert _post(admin, f"/admin/users/{me.id}/deactivate").status_code == 409
    assert _user(session, "admin@example.org").role == "admin"

    assert _post(admin, f"/admin/users/{res.id}/role", role="admin").status_code == 303
    assert _user(session, "res@example.org").role == "admin"
    assert _api_status(client, res_token) == 200  # a role change keeps the sessions

    assert _post(admin, f"/admin/users/{res.id}/deactivate").status_code == 303
    assert _api_status(client, res_token) == 401
    assert not _user(session, "res@example.org").is_active
    # With the colleague deactivated, the signed-in admin is again the last one.
    assert _post(admin, f"/admin/users/{me.id}/role", role="researcher").status_code == 409
    assert _post(admin, f"/admin/users/{res.id}/activate").status_code == 303
    assert _api_status(client, login(client, "res@example.org")) == 200

    # Now two admins: one may step down.
    assert _post(admin, f"/admin/users/{me.id}/role", role="researcher").status_code == 303
    assert admin.get("/admin/users").status_code == 403


def test_the_api_manages_accounts_with_the_same_rules(session, client, backend):
    make_user(session)
    headers = login(client)
    created = client.post(
        "/api/users", headers=headers, json={"email": "r@example.org", "role": "researcher"}
    )
    assert created.status_code == 201, created.text
    account = created.json()
    assert account["role"] == "researcher" and account["totp_enabled"] is False
    _reset_link(session, "r@example.org")  # e-mailed a link to set the password

    me = client.get("/api/me", headers=headers).json()
    refused = client.patch(f"/api/users/{me['id']}", headers=headers, json={"role": "researcher"})
    assert refused.status_code == 409 and "last active admin" in refused.json()["detail"]
    assert (
        client.patch(
            f"/api/users/{me['id']}", headers=headers, json={"is_active": False}
        ).status_code
        == 409
    )

    changed = client.patch(
        f"/api/users/{account['id']}", headers=headers, json={"role": "admin", "is_active": False}
    )
    assert changed.status_code == 200 and changed.json()["is_active"] is False
    listed = {u["email"]: u for u in client.get("/api/users", headers=headers).json()}
    assert listed["r@example.org"]["role"] == "admin"
    assert listed["admin@example.org"]["last_signed_in_at"] is not None

    invalid = client.post("/api/users", headers=headers, json={"email": "nope", "role": "admin"})
    assert invalid.status_code == 422
    sent = client.post(f"/api/users/{me['id']}/password-reset", headers=headers)
    assert sent.status_code == 200 and sent.json()["email"] == "admin@example.org"
    assert "token" not in sent.text and "/reset/" not in sent.text
    assert client.post("/api/users/999/password-reset", headers=headers).status_code == 404


# --- reset links ------------------------------------------------------------------------------


def test_a_reset_link_works_once_ends_every_session_and_expires(
    session, admin, client, app, backend
):
    res = make_user(session, email="res@example.org", role="researcher")
    res_tokens = [login(client, "res@example.org"), login(client, "res@example.org")]
    assert _post(admin, f"/admin/users/{res.id}/reset").status_code == 303
    link = _reset_link(session, "res@example.org")

    visitor = _browser(app)
    shown = visitor.get(link)
    assert shown.status_code == 200 and "res@example.org" in shown.text
    assert visitor.get(link).status_code == 200  # looking does not use it up
    assert all(_api_status(client, t) == 200 for t in res_tokens)

    short = visitor.post(link, data={"password": "short", "password_again": "short"})
    assert short.status_code == 422 and 'id="password-error"' in short.text
    differ = visitor.post(link, data={"password": NEW_PASSWORD, "password_again": "x" * 20})
    assert differ.status_code == 422 and 'id="password_again-error"' in differ.text

    done = visitor.post(link, data={"password": NEW_PASSWORD, "password_again": NEW_PASSWORD})
    assert done.status_code == 303 and done.headers["location"] == "/login?done=reset"
    assert [_api_status(client, t) for t in res_tokens] == [401, 401]
    assert _user(session, "res@example.org").password_changed_at is not None
    again = visitor.post(link, data={"password": PASSWORD, "password_again": PASSWORD})
    assert again.status_code == 404 and "used already" in again.text
    assert visitor.get(link).status_code == 404
    assert (
        client.post(
            "/api/auth/login", json={"email": "res@example.org", "password": NEW_PASSWORD}
        ).status_code
        == 200
    )

    # A newer link replaces the older one; a link past its time is refused.
    _post(admin, f"/admin/users/{res.id}/reset")
    older = _reset_link(session, "res@example.org")
    _post(admin, f"/admin/users/{res.id}/reset")
    newer = _reset_link(session, "res@example.org")
    assert older != newer
    assert "replaced" in visitor.get(older).text
    session.rollback()
    row = session.exec(select(PasswordReset).where(PasswordReset.used_at == None)).all()  # noqa: E711
    live = [r for r in row if r.expires_at > utcnow()]
    assert len(live) == 1
    live[0].expires_at = utcnow() - timedelta(seconds=1)
    session.add(live[0])
    session.commit()
    expired = visitor.post(newer, data={"password": PASSWORD, "password_again": PASSWORD})
    assert expired.status_code == 404 and "expired" in expired.text
    assert visitor.get("/reset/not-a-token").status_code == 404


# --- one's own password -----------------------------------------------------------------------


def test_everyone_changes_their_own_password(session, client, app, backend):
    make_user(session, email="res@example.org", role="researcher")
    sign_in_page(client, "res@example.org")
    other_device = login(client, "res@example.org")

    wrong = _post(
        client,
        "/account/password",
        "/account",
        current_password="not the password",
        new_password=NEW_PASSWORD,
        new_password_again=NEW_PASSWORD,
    )
    assert wrong.status_code == 422
    assert re.search(r'id="current_password-error">[^<]*not right', wrong.text)
    differ = _post(
        client,
        "/account/password",
        "/account",
        current_password=PASSWORD,
        new_password=NEW_PASSWORD,
        new_password_again=NEW_PASSWORD + "!",
    )
    assert differ.status_code == 422 and 'id="new_password_again-error"' in differ.text

    done = _post(
        client,
        "/account/password",
        "/account",
        current_password=PASSWORD,
        new_password=NEW_PASSWORD,
        new_password_again=NEW_PASSWORD,
    )
    assert done.status_code == 303 and done.headers["location"] == "/login?done=password"
    assert _api_status(client, other_device) == 401
    assert client.get("/account").status_code in (303, 401)
    assert "sign in with the new one" in client.get("/login?done=password").text

    api = client.post(
        "/api/auth/login", json={"email": "res@example.org", "password": NEW_PASSWORD}
    )
    headers = {"Authorization": f"Bearer {api.json()['token']}"}
    bad = client.post(
        "/api/account/password",
        headers=headers,
        json={"current_password": PASSWORD, "new_password": "yet another passphrase"},
    )
    assert bad.status_code == 422 and bad.json()["field"] == "current_password"
    good = client.post(
        "/api/account/password",
        headers=headers,
        json={"current_password": NEW_PASSWORD, "new_password": "yet another passphrase"},
    )
    assert good.status_code == 204
    assert _api_status(client, headers) == 401


# --- the second factor ------------------------------------------------------------------------


def _enrol(client: TestClient) -> str:
    """Turn on TOTP on /account for the signed-in browser; returns the secret."""
    begun = _post(client, "/account/totp/begin", "/account")
    assert begun.status_code == 200
    secret = re.search(r'name="secret" value="([A-Z2-7]+)"', begun.text).group(1)
    assert "otpauth://totp/" in html.unescape(begun.text)
    wrong = client.post(
        "/account/totp/confirm",
        data={"csrf_token": form_token(begun.text), "secret": secret, "code": _wrong_code(secret)},
    )
    assert wrong.status_code == 422 and 'id="code-error"' in wrong.text
    assert secret in wrong.text  # the same key, to try again
    done = client.post(
        "/account/totp/confirm",
        data={
            "csrf_token": form_token(begun.text),
            "secret": secret,
            "code": totp_now(secret),
        },
    )
    assert done.status_code == 303 and done.headers["location"] == "/account?done=totp-on"
    return secret


def _first_step(client: TestClient, email: str = "admin@example.org"):
    page = client.get("/login").text
    return client.post(
        "/login", data={"email": email, "password": PASSWORD, "csrf_token": form_token(page)}
    )


def _second_step(client: TestClient, step_page: str, code: str):
    pending = re.search(r'name="pending" value="([^"]+)"', step_page).group(1)
    return client.post(
        "/login",
        data={
            "csrf_token": form_token(step_page),
            "pending": pending,
            "email": "admin@example.org",
            "code": code,
        },
    )


def test_with_a_second_factor_sign_in_asks_for_the_code_and_counts_wrong_ones(
    session, admin, app, client, backend
):
    secret = _enrol(admin)
    assert _user(session, "admin@example.org").totp_secret == secret
    assert "second factor is on" in admin.get("/account?done=totp-on").text.lower()

    browser = _browser(app)
    step = _first_step(browser)
    assert step.status_code == 200 and 'name="code"' in step.text
    assert "elicit_session" not in browser.cookies  # no session before the code
    for _ in range(throttle.BACKOFF_AFTER):
        wrong = _second_step(browser, step.text, _wrong_code(secret))
        assert wrong.status_code == 401 and 'id="code-error"' in wrong.text
        assert 'name="pending"' in wrong.text  # the second step is kept
    blocked = _second_step(browser, step.text, totp_now(secret))
    assert blocked.status_code == 429 and int(blocked.headers["Retry-After"]) >= 1
    throttle.forget_blocks()
    time.sleep(1.1)  # the first back-off is one second
    done = _second_step(browser, step.text, totp_now(secret))
    assert done.status_code == 303 and done.headers["location"] == "/admin"
    assert browser.get("/admin").status_code == 200
    # The proof of the password cannot be stretched or forged.
    other = _browser(app)
    again = _first_step(other).text
    found = re.search(r'name="pending" value="((\d+)\.(\d+))\.', again)
    stretched = again.replace(found.group(1), f"{found.group(2)}.{int(found.group(3)) + 3600}")
    forged = _second_step(other, stretched, totp_now(secret))
    assert forged.status_code == 401 and "start again" in forged.text

    # The API: without the code 401 naming the field; with it a token.
    asked = client.post(
        "/api/auth/login", json={"email": "admin@example.org", "password": PASSWORD}
    )
    assert asked.status_code == 401 and asked.json()["field"] == "code"
    ok = client.post(
        "/api/auth/login",
        json={"email": "admin@example.org", "password": PASSWORD, "code": totp_now(secret)},
    )
    assert ok.status_code == 200

    # Turning it off needs a current code.
    account = admin.get("/account").text
    refused = admin.post(
        "/account/totp/disable",
        data={"csrf_token": form_token(account), "code": _wrong_code(secret)},
    )
    assert refused.status_code == 422 and 'id="disable_code-error"' in refused.text
    off = admin.post(
        "/account/totp/disable",
        data={"csrf_token": form_token(account), "code": totp_now(secret)},
    )
    assert off.status_code == 303 and _user(session, "admin@example.org").totp_secret is None


def test_when_required_an_admin_without_a_second_factor_must_set_it_up_first(
    session, settings, backend
):
    from app.main import create_app

    admin = make_user(session)
    make_user(session, email="res@example.org", role="researcher")
    strict = create_app(settings.model_copy(update={"require_admin_totp": True}))
    try:
        with _browser(strict) as browser:
            signed = _first_step(browser)
            assert signed.status_code == 303 and signed.headers["location"] == "/account"
            assert browser.get("/admin").status_code == 403
            assert "/account" in browser.get("/admin/users").text
            assert "before anything else" in browser.get("/account").text
            refused = browser.post(
                "/api/auth/login", json={"email": "admin@example.org", "password": PASSWORD}
            )
            assert refused.status_code == 403 and "/account" in refused.json()["detail"]
            # A token issued before the setting was switched on opens no API route either.
            from app.services import sessions

            token, _ = sessions.start_session(session, user_id=admin.id, hours=1)
            session.commit()
            earlier = {"Authorization": f"Bearer {token}"}
            blocked = browser.get("/api/rounds", headers=earlier)
            assert blocked.status_code == 403 and "/account" in blocked.json()["detail"]
            secret = _enrol(browser)
            assert browser.get("/api/rounds", headers=earlier).status_code == 200
            assert browser.get("/admin").status_code == 200
            page = browser.get("/account").text
            kept = browser.post(
                "/account/totp/disable",
                data={"csrf_token": form_token(page), "code": totp_now(secret)},
            )
            assert kept.status_code == 409 and "must keep" in kept.text
        with _browser(strict) as researcher:  # the setting is for admins only
            assert _first_step(researcher, "res@example.org").headers["location"] == "/admin"
            assert researcher.get("/admin").status_code == 200
    finally:
        strict.state.engine.dispose()


# --- roles and CSRF -----------------------------------------------------------------------------


def test_researchers_get_403_on_admin_pages_and_forms(session, client, backend):
    admin = make_user(session)
    make_user(session, email="res@example.org", role="researcher")
    sign_in_page(client, "res@example.org")
    for path in ("/admin/users", "/admin/audit"):
        assert client.get(path).status_code == 403, path
    token = form_token(client.get("/account").text)
    for path in (
        "/admin/users",
        f"/admin/users/{admin.id}/role",
        f"/admin/users/{admin.id}/deactivate",
        f"/admin/users/{admin.id}/reset",
    ):
        reply = client.post(path, data={"csrf_token": token, "role": "researcher"})
        assert reply.status_code == 403, path
    assert _user(session, "admin@example.org").role == "admin"
    nav = client.get("/account").text
    assert 'href="/account"' in nav and 'href="/admin/users"' not in nav


def test_account_forms_refuse_a_missing_or_foreign_csrf_token(session, admin, backend):
    other = make_user(session, email="res@example.org", role="researcher")
    for path, data in (
        ("/admin/users", {"email": "x@example.org", "role": "admin"}),
        (f"/admin/users/{other.id}/deactivate", {}),
        ("/account/password", {"current_password": PASSWORD, "new_password": NEW_PASSWORD}),
        ("/account/totp/begin", {}),
    ):
        for token in (None, "forged"):
            sent = data if token is None else {**data, "csrf_token": token}
            assert admin.post(path, data=sent).status_code == 403, path
    assert _user(session, "res@example.org").is_active


def test_anonymous_visitors_are_sent_to_sign_in(client):
    assert client.get("/admin/users").status_code == 303
    assert client.get("/account").status_code in (303, 401)
    assert client.post("/api/account/password", json={}).status_code == 401


# --- the command line ---------------------------------------------------------------------------


def test_user_role_and_reset_commands(session, elicit, backend):
    make_user(session)
    make_user(session, email="res@example.org", role="researcher")
    assert (
        "res@example.org is now admin" in elicit("user", "role", "res@example.org", "admin").output
    )
    last = elicit("user", "role", "admin@example.org", "researcher").output
    assert "is now researcher" in last
    refused = elicit("user", "role", "res@example.org", "researcher", ok=False)
    assert refused.exit_code == 1 and "last active admin" in refused.output
    bad = elicit("user", "role", "res@example.org", "owner", ok=False)
    assert bad.exit_code == 1 and "role must be" in bad.output

    sent = elicit("user", "reset", "RES@example.org").output
    assert "res@example.org" in sent and "e-mail is written as .eml files" in sent
    assert "/reset/" not in sent  # the link goes by e-mail only
    _reset_link(session, "res@example.org")
    invalid = elicit("user", "create", "no-at-sign", "--password", PASSWORD, ok=False)
    assert invalid.exit_code == 1 and "not a valid e-mail address" in invalid.output
