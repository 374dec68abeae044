"""Staff accounts and the state that must not come back: a changed password, a deactivated
account or a re-run demo ends old sessions; a round that has moved on cannot be re-opened."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from sqlmodel import col, func, select
from typer.testing import CliRunner

from app.cli import cli
from app.config import get_settings
from app.errors import Conflict, NotFound
from app.models import User, WebSession, utcnow
from app.services import delphi, rounds, rubrics, sessions, users
from app.services.demo import simulate_panel
from tests.factories import PASSWORD, login, make_round, make_user

runner = CliRunner()
NEW_PASSWORD = "a brand new passphrase"


@pytest.fixture
def elicit(database_url, monkeypatch):
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.setenv("BASE_URL", "http://panel.example.org")
    # `elicit serve` switches the mail worker on in the environment: undone after the test.
    monkeypatch.setenv("MAIL_WORKER", "false")
    get_settings.cache_clear()

    def run(*args: str, ok: bool = True, input: str | None = None):
        result = runner.invoke(cli, list(args), input=input)
        if ok:
            assert result.exit_code == 0, result.output
        return result

    yield run
    get_settings.cache_clear()


@pytest.fixture
def staff(session, client):
    """Two signed-in admins and a researcher (the admin twice: two devices)."""
    make_user(session)
    make_user(session, email="other@example.org")
    make_user(session, email="res@example.org", role="researcher")
    return {
        "admin": [login(client), login(client)],
        "other": [login(client, "other@example.org")],
        "res": [login(client, "res@example.org")],
    }


def _status(client, headers) -> int:
    return client.get("/api/me", headers=headers).status_code


def _sign_in(client, email: str, password: str) -> int:
    return client.post("/api/auth/login", json={"email": email, "password": password}).status_code


# --- sessions end with the password or the account -----------------------------------------


def test_a_password_change_ends_every_session_of_that_user_only(session, client, staff, backend):
    assert all(_status(client, h) == 200 for tokens in staff.values() for h in tokens)
    users.set_password(session, email="Admin@Example.org ", password=NEW_PASSWORD)
    session.commit()
    assert [_status(client, h) for h in staff["admin"]] == [401, 401]
    assert _status(client, staff["other"][0]) == 200
    assert _status(client, staff["res"][0]) == 200
    assert _sign_in(client, "admin@example.org", PASSWORD) == 401
    assert _sign_in(client, "admin@example.org", NEW_PASSWORD) == 200


def test_deactivation_ends_every_session_and_activation_allows_sign_in(
    session, client, staff, backend
):
    users.deactivate_user(session, email="res@example.org")
    session.commit()
    assert _status(client, staff["res"][0]) == 401
    assert all(_status(client, h) == 200 for h in staff["admin"] + staff["other"])
    left = session.exec(select(func.count()).select_from(WebSession)).one()
    assert left == 3  # the admin's two and the other admin's one
    session.rollback()  # end the read: SQLite would refuse a write from a stale snapshot
    assert _sign_in(client, "res@example.org", PASSWORD) == 401
    users.activate_user(session, email="res@example.org")
    session.commit()
    assert _sign_in(client, "res@example.org", PASSWORD) == 200
    with pytest.raises(NotFound, match=r"no account for nobody@example\.org"):
        users.deactivate_user(session, email="nobody@example.org")


@pytest.mark.parametrize(
    "email", ["not-an-email", "two@@example.org", "a@b", "x\x1b[31m@example.org", "a b@c.org"]
)
def test_accounts_need_a_valid_email(session, email, backend):
    from app.errors import InvalidInput

    with pytest.raises(InvalidInput, match="not a valid e-mail address"):
        users.create_user(session, email=email, password=PASSWORD, role="admin")


def test_user_commands(session, client, staff, elicit, backend):
    changed = elicit("user", "password", "admin@example.org", "--stdin", input=NEW_PASSWORD + "\n")
    assert "password changed for admin@example.org" in changed.output
    assert [_status(client, h) for h in staff["admin"]] == [401, 401]
    assert _status(client, staff["other"][0]) == 200
    assert _sign_in(client, "admin@example.org", NEW_PASSWORD) == 200

    prompted = elicit(
        "user", "password", "other@example.org", input=f"{NEW_PASSWORD}\n{NEW_PASSWORD}\n"
    )
    assert "password changed for other@example.org" in prompted.output
    assert _status(client, staff["other"][0]) == 401
    short = elicit("user", "password", "res@example.org", "--stdin", input="short\n", ok=False)
    assert short.exit_code == 1 and "at least 12 characters" in short.output
    assert _status(client, staff["res"][0]) == 200  # nothing changed

    assert "deactivated res@example.org" in elicit("user", "deactivate", "res@example.org").output
    assert _status(client, staff["res"][0]) == 401
    listing = elicit("user", "list").output.splitlines()
    assert [line.split("\t")[:3] for line in listing] == [
        ["admin@example.org", "admin", "active"],
        ["other@example.org", "admin", "active"],
        ["res@example.org", "researcher", "inactive"],
    ]
    assert "activated res@example.org" in elicit("user", "activate", "res@example.org").output
    assert _sign_in(client, "res@example.org", PASSWORD) == 200

    unknown = elicit("user", "deactivate", "nobody@example.org", ok=False)
    assert unknown.exit_code == 1 and "no account for nobody@example.org" in unknown.output
    invalid = elicit("user", "create", "not-an-email", "--password", PASSWORD, ok=False)
    assert invalid.exit_code == 1 and "not a valid e-mail address" in invalid.output
    hostile = elicit(
        "user", "create", "x\x1b]0;owned\x07@example.org", "--password", PASSWORD, ok=False
    )
    assert hostile.exit_code == 1 and "\x1b" not in hostile.output and "\\x1b" in hostile.output


def test_demo_rerun_ends_the_demo_accounts_sessions(session, client, elicit, backend):
    output = elicit("demo", "--no-serve").output
    password = re.search(r"admin@example.org\s+password: (\S+)", output).group(1)
    reply = client.post(
        "/api/auth/login", json={"email": "admin@example.org", "password": password}
    )
    demo_admin = {"Authorization": f"Bearer {reply.json()['token']}"}
    make_user(session, email="own@example.org")
    own = login(client, "own@example.org")
    assert _status(client, demo_admin) == 200

    elicit("demo", "--no-serve")
    assert _status(client, demo_admin) == 401
    assert _status(client, own) == 200


def test_demo_rerun_after_the_demo_round_moved_on(session, client, elicit, backend):
    first = elicit("demo", "--no-serve").output
    round_id = int(re.search(r"\(id (\d+),", first).group(1))
    rounds.close_round(session, round_id=round_id)
    delphi.create_next_round(session, round_id=round_id)
    session.commit()
    again = elicit("demo", "--no-serve").output
    assert int(re.search(r"\(id (\d+),", again).group(1)) not in (round_id, round_id + 1)


# --- expired sessions ----------------------------------------------------------------------


def test_expired_sessions_are_purged_by_upgrade_and_purge_sessions(session, elicit, backend):
    user = make_user(session)
    for hours in (-1, -2, 5):
        sessions.start_session(session, user_id=user.id, hours=hours)
    session.commit()
    upgraded = elicit("db", "upgrade").output
    assert "2 expired sessions removed" in upgraded
    live = session.exec(select(WebSession)).all()
    assert len(live) == 1 and live[0].expires_at > utcnow()
    assert "0 expired sessions removed" in elicit("db", "purge-sessions").output
    row = session.exec(select(WebSession)).one()
    row.expires_at = utcnow() - timedelta(seconds=1)
    session.add(row)
    session.commit()
    assert "1 expired sessions removed" in elicit("db", "purge-sessions").output
    assert session.exec(select(WebSession).where(col(WebSession.user_id) == user.id)).all() == []
    session.rollback()


def test_serve_purges_expired_sessions_at_start_up(session, elicit, monkeypatch, backend):
    import app.server

    user = make_user(session)
    sessions.start_session(session, user_id=user.id, hours=-1)
    sessions.start_session(session, user_id=user.id, hours=1)
    session.commit()
    started = []
    monkeypatch.setattr(app.server, "serve", lambda **kwargs: started.append(kwargs))
    served = elicit("serve", "--no-upgrade", "--port", "8765")
    assert started and "1 expired sessions removed" in served.output
    assert session.exec(select(func.count()).select_from(WebSession)).one() == 1


# --- rounds that moved on ------------------------------------------------------------------


def test_a_round_followed_by_a_next_round_cannot_be_reopened(session, client, elicit, backend):
    admin = make_user(session)
    headers = login(client)
    first = make_round(session, status="closed", name="Round 1")
    plain = make_round(session, status="closed", name="Unrelated")
    nxt, _ = delphi.create_next_round(session, round_id=first.id, name="Round 2")
    session.commit()
    assert admin.id is not None

    with pytest.raises(Conflict, match=rf"round {nxt.id} \(Round 2\) follows it"):
        rounds.open_round(session, round_id=first.id)
    session.rollback()
    reply = client.post(f"/api/rounds/{first.id}/open", headers=headers)
    assert reply.status_code == 409
    assert f"round {nxt.id} (Round 2) follows it" in reply.json()["detail"]
    refused = elicit("round", "open", str(first.id), ok=False)
    assert refused.exit_code == 1 and f"round {nxt.id} (Round 2) follows it" in refused.output
    assert rounds.get_round(session, round_id=first.id).status == "closed"
    # A closed round that nothing rests on can still be re-opened.
    assert client.post(f"/api/rounds/{plain.id}/open", headers=headers).status_code == 200


def test_a_round_whose_calibration_was_published_cannot_be_reopened(
    session, client, elicit, backend
):
    admin = make_user(session)
    headers = login(client)
    round_ = make_round(session)
    simulate_panel(session, round_id=round_.id, n_experts=8, seed=4)
    rounds.close_round(session, round_id=round_.id)
    rubrics.publish_rubric(
        session, round_id=round_.id, publisher=admin, justification="test", n_bootstrap=20
    )
    session.commit()

    with pytest.raises(Conflict, match="published as rubric small v1"):
        rounds.open_round(session, round_id=round_.id)
    session.rollback()
    reply = client.post(f"/api/rounds/{round_.id}/open", headers=headers)
    assert reply.status_code == 409 and "rubric small v1" in reply.json()["detail"]
    refused = elicit("round", "open", str(round_.id), ok=False)
    assert refused.exit_code == 1 and "published as rubric small v1" in refused.output


def test_a_password_hashed_with_older_parameters_is_upgraded_at_sign_in(session, client):
    from argon2 import PasswordHasher

    user = make_user(session)
    # The library's default parameters, as accounts made before kept them.
    old = PasswordHasher(time_cost=3, memory_cost=65536, parallelism=4).hash(PASSWORD)
    user.password_hash = old
    session.add(user)
    session.commit()
    assert _sign_in(client, user.email, "not the password") == 401
    assert _stored_hash(session, user.id) == old  # a failure changes nothing

    assert _sign_in(client, user.email, PASSWORD) == 200
    upgraded = _stored_hash(session, user.id)
    assert upgraded != old and upgraded.startswith("$argon2id$v=19$m=19456,t=2,p=1$")
    assert _sign_in(client, user.email, PASSWORD) == 200  # and the new hash verifies
    assert _stored_hash(session, user.id) == upgraded  # no needless re-hash


def _stored_hash(session, user_id) -> str:
    session.rollback()  # a new snapshot
    return session.exec(select(User.password_hash).where(User.id == user_id)).one()
