"""The audit trail and the rating history: staff actions on the web, the API and the command
line are recorded with who, what and which round, and nothing secret; admins read the log
and each expert's rating history in the page, the API and the CLI, and export it as CSV."""

from __future__ import annotations

import csv
import io
import json
import re

import pyotp
import pytest
from sqlmodel import select

from app.models import AuditEntry, OutboxMessage
from app.services import audit
from tests.factories import (
    PASSWORD,
    bearer,
    form_token,
    login,
    make_invitations,
    make_round,
    make_user,
    sign_in_page,
)


def _entries(session, **where) -> list[AuditEntry]:
    session.rollback()  # a new snapshot
    query = select(AuditEntry).order_by(AuditEntry.id)  # type: ignore[arg-type]
    for name, value in where.items():
        query = query.where(getattr(AuditEntry, name) == value)
    return list(session.exec(query).all())


def _actions(session, **where) -> list[str]:
    return [e.action for e in _entries(session, **where)]


def _post(client, path: str, page: str, **data: str):
    return client.post(path, data={"csrf_token": form_token(client.get(page).text), **data})


# --- what staff did on the pages ------------------------------------------------------------


def test_round_actions_on_the_pages_are_recorded_with_actor_and_round(session, client, backend):
    make_user(session)
    sign_in_page(client)
    round_ = make_round(session, status="draft")
    page = f"/admin/rounds/{round_.id}"
    _post(client, f"{page}/deadline", page, closes_at="2031-01-02T03:04")
    _post(client, f"{page}/open", page)
    _post(client, f"{page}/invite", page, csv="name,email,organisation\nAda,ada@example.org,X\n")
    _post(client, f"{page}/remind", page)
    invitation_id = int(re.search(r"/admin/invitations/(\d+)/reissue", client.get(page).text)[1])
    _post(client, f"/admin/invitations/{invitation_id}/reissue", page)
    _post(client, f"/admin/invitations/{invitation_id}/revoke", page)
    assert client.get(f"{page}/export.csv").status_code == 200
    _post(client, f"{page}/close", page)

    entries = _entries(session, round_id=round_.id)
    assert [e.action for e in entries] == [
        "round.deadline_set",
        "round.opened",
        "invitations.created",
        "reminders.queued",
        "invitation.reissued",
        "invitation.revoked",
        "export.downloaded",
        "round.closed",
    ]
    assert {e.actor for e in entries} == {"admin@example.org"}
    assert entries[2].details == {"count": 1} and entries[4].target_id == str(invitation_id)
    assert entries[0].details == {"closes_at": "2031-01-02 03:04 UTC", "closes_at_before": ""}

    shown = client.get("/admin/audit").text
    assert "round.closed" in shown and "admin@example.org" in shown
    assert shown.index("round.closed") < shown.index("round.opened")  # newest first
    created = _post(client, "/admin/rounds", "/admin", survey_version="small@1", name="Other")
    other_id = int(created.headers["location"].rsplit("/", 1)[1])
    assert "round.created" in client.get(f"/admin/audit?round={other_id}").text
    assert "round.opened" not in client.get(f"/admin/audit?round={other_id}").text


def test_the_log_pages_older_entries(session, client, backend):
    make_user(session)
    for n in range(55):
        audit.record(session, actor="cli", action="round.opened", target_type="round", target_id=n)
    session.commit()
    headers = login(client)
    first = client.get("/api/audit", headers=headers, params={"limit": 50}).json()
    assert len(first["entries"]) == 50 and first["entries"][0]["target_id"] == "54"
    rest = client.get("/api/audit", headers=headers, params={"before": first["next_before"]}).json()
    assert [e["target_id"] for e in rest["entries"]] == [str(n) for n in range(4, -1, -1)]
    assert rest["next_before"] is None
    sign_in_page(client)
    page = client.get("/admin/audit").text
    assert "Older entries" in page
    assert "Older entries" not in client.get(f"/admin/audit?before={first['next_before']}").text


# --- the API and the command line ------------------------------------------------------------


def test_api_actions_are_recorded(session, client, backend):
    make_user(session)
    headers = login(client)
    round_ = make_round(session, status="draft")
    rid = round_.id
    assert client.post(f"/api/rounds/{rid}/open", headers=headers).status_code == 200
    client.post(
        f"/api/rounds/{rid}/invitations",
        headers=headers,
        json={"invitees": [{"name": "A", "email": "a@example.org", "organisation": "X"}]},
    )
    client.get(f"/api/rounds/{rid}/export.csv", headers=headers)
    client.post(f"/api/rounds/{rid}/close", headers=headers)
    client.post(
        "/api/users", headers=headers, json={"email": "r@example.org", "role": "researcher"}
    )
    entries = _entries(session)
    assert [(e.action, e.round_id) for e in entries] == [
        ("round.opened", rid),
        ("invitations.created", rid),
        ("export.downloaded", rid),
        ("round.closed", rid),
        ("user.created", None),
        ("user.reset_sent", None),
    ]
    assert {e.actor for e in entries} == {"admin@example.org"}
    listed = client.get("/api/audit", headers=headers, params={"round_id": rid}).json()
    assert listed["entries"][0]["action"] == "round.closed"


def test_cli_actions_are_recorded_as_cli_and_listed(session, elicit, backend):
    make_user(session)
    round_ = make_round(session, status="draft")
    elicit("round", "open", str(round_.id))
    elicit("round", "deadline", str(round_.id), "2031-01-01T00:00")
    elicit("user", "create", "r@example.org", "--password", PASSWORD)
    elicit("user", "role", "r@example.org", "admin")
    elicit("user", "reset", "r@example.org")
    elicit("user", "deactivate", "r@example.org")
    assert _actions(session) == [
        "round.opened",
        "round.deadline_set",
        "user.created",
        "user.role_changed",
        "user.reset_sent",
        "user.deactivated",
    ]
    assert {e.actor for e in _entries(session)} == {"cli"}
    listed = elicit("audit", "--round", str(round_.id)).output.splitlines()
    assert [line.split("\t")[2] for line in listed] == ["round.deadline_set", "round.opened"]
    assert len(elicit("audit", "--limit", "2").output.splitlines()) == 2
    as_json = json.loads(elicit("audit", "--json", "--limit", "1").output)
    assert as_json[0]["action"] == "user.deactivated"


def test_nothing_secret_is_recorded(session, client, app, backend):
    make_user(session)
    sign_in_page(client)
    round_ = make_round(session)
    page = f"/admin/rounds/{round_.id}"
    shown = _post(
        client, f"{page}/invite", page, csv="name,email,organisation\nAda,ada@example.org,X\n"
    )
    links = re.findall(r"/i/([A-Za-z0-9_-]{43})", shown.text)
    _post(client, "/admin/users", "/admin/users", email="r@example.org", role="researcher")
    session.rollback()
    body = session.exec(select(OutboxMessage).where(OutboxMessage.kind == "password_reset")).one()
    reset_token = re.search(r"/reset/([A-Za-z0-9_-]{43})", body.body)[1]
    begun = _post(client, "/account/totp/begin", "/account")
    secret = re.search(r'name="secret" value="([A-Z2-7]+)"', begun.text)[1]
    client.post(
        "/account/totp/confirm",
        data={
            "csrf_token": form_token(begun.text),
            "secret": secret,
            "code": pyotp.TOTP(secret).now(),
        },
    )
    _post(
        client,
        "/account/password",
        "/account",
        current_password=PASSWORD,
        new_password="another long passphrase",
        new_password_again="another long passphrase",
    )
    recorded = json.dumps([[e.actor, e.action, e.target_id, e.details] for e in _entries(session)])
    assert {"invitations.created", "user.created", "user.reset_sent"} <= set(_actions(session))
    assert {"user.totp_enabled", "user.password_changed"} <= set(_actions(session))
    for secret_text in [*links, reset_token, secret, PASSWORD, "another long passphrase"]:
        assert secret_text not in recorded
    with pytest.raises(ValueError, match="secrets"):
        audit.record(session, "x", "y", "z", token="t")


# --- the rating history -----------------------------------------------------------------------

FORMULA = '=HYPERLINK("http://evil.example","click")'


@pytest.fixture
def answered(session, client):
    """One expert who changed an answer twice (the last time with a formula as rationale)
    and one who answered once."""
    make_user(session)
    make_user(session, email="res@example.org", role="researcher")
    round_ = make_round(session)
    first, second = make_invitations(session, round_, 2)
    for value, rationale in ((2, "first thought"), (4, FORMULA)):
        reply = client.put(
            "/api/expert/ratings",
            headers=bearer(first),
            json={
                "ratings": [
                    {
                        "item": "weights",
                        "dimension": "sensitivity",
                        "value": value,
                        "rationale": rationale,
                    }
                ]
            },
        )
        assert reply.status_code == 200, reply.text
    client.put(
        "/api/expert/ratings",
        headers=bearer(second),
        json={"ratings": [{"item": "evals", "dimension": "misuse", "value": 1}]},
    )
    return round_, first.expert_code, second.expert_code


def test_rating_history_per_expert_and_item_in_the_api(session, client, answered, backend):
    round_, changed, other = answered
    headers = login(client)
    everything = client.get(f"/api/rounds/{round_.id}/history", headers=headers).json()
    assert len(everything) == 3
    mine = client.get(
        f"/api/rounds/{round_.id}/history", headers=headers, params={"expert": changed}
    ).json()
    assert [(h["revision"], h["value"], h["rationale"]) for h in mine] == [
        (1, 2, "first thought"),
        (2, 4, FORMULA),
    ]
    assert all(h["expert_code"] == changed and h["changed_by"] for h in mine)
    item = client.get(
        f"/api/rounds/{round_.id}/history", headers=headers, params={"item": "evals"}
    ).json()
    assert [h["expert_code"] for h in item] == [other]
    assert client.get("/api/rounds/9999/history", headers=headers).status_code == 404
    researcher = login(client, "res@example.org")
    assert client.get("/api/audit", headers=researcher).status_code == 403  # staff actions
    seen = client.get(f"/api/rounds/{round_.id}/history", headers=researcher)
    assert seen.status_code == 200 and {h["expert_code"] for h in seen.json()} == {changed, other}


def test_rating_history_page_links_and_csv_export_neutralise_formulas(
    session, client, answered, backend
):
    round_, changed, _ = answered
    sign_in_page(client)
    round_page = client.get(f"/admin/rounds/{round_.id}").text
    link = f"/admin/rounds/{round_.id}/history?expert={changed}"
    assert f'href="{link}"' in round_page
    shown = client.get(link).text
    assert "first thought" in shown and "HYPERLINK" in shown and "<script" not in shown
    assert shown.count("<tr>") == 3  # the header and two revisions

    exported = client.get(f"/admin/rounds/{round_.id}/history.csv", params={"expert": changed})
    assert exported.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(exported.text)))
    assert [r["revision"] for r in rows] == ["1", "2"]
    assert rows[1]["rationale"] == "'" + FORMULA
    assert "history.exported" in _actions(session, round_id=round_.id)
    api = client.get(
        f"/api/rounds/{round_.id}/history.csv",
        headers=login(client),
        params={"expert": changed, "item": "weights"},
    )
    assert "'=HYPERLINK" in api.text

    # Researchers read the history too, under the codes: never a name or an address.
    sign_in_page(client, "res@example.org")
    seen = client.get(link)
    assert seen.status_code == 200 and changed in seen.text
    assert "@example.org" not in seen.text.replace("res@example.org", "")
    assert "history?expert=" in client.get(f"/admin/rounds/{round_.id}").text


def test_rating_history_on_the_command_line(session, elicit, answered, tmp_path, backend):
    round_, changed, other = answered
    printed = elicit("round", "history", str(round_.id), "--expert", changed).output
    lines = printed.splitlines()
    assert len(lines) == 2 and lines[0].startswith(f"{changed}\tweights\tsensitivity\tr1\t2")
    assert "evals" in elicit("round", "history", str(round_.id), "--item", "evals").output
    out = tmp_path / "history.csv"
    elicit("round", "history", str(round_.id), "--csv", str(out))
    rows = list(csv.DictReader(io.StringIO(out.read_text())))
    assert len(rows) == 3 and "'" + FORMULA in [r["rationale"] for r in rows]
    assert {r["expert_code"] for r in rows} == {changed, other}
    missing = elicit("round", "history", "9999", ok=False)
    assert missing.exit_code == 1 and "9999" in missing.output


def test_the_trail_downloads_as_csv_with_formulas_neutralised(session, client, backend):
    make_user(session)
    make_user(session, email="res@example.org", role="researcher")
    round_ = make_round(session, status="draft")
    audit.record(
        session, "admin@example.org", "round.opened", "round", round_.id, round_id=round_.id
    )
    audit.record(session, "admin@example.org", "user.created", "user", "=cmd|' /C calc'!A0")
    session.commit()
    sign_in_page(client)
    page = client.get("/admin/audit").text
    assert 'href="/admin/audit.csv"' in page
    everything = list(csv.DictReader(io.StringIO(client.get("/admin/audit.csv").text)))
    assert [row["action"] for row in everything] == ["round.opened", "user.created"]
    assert everything[1]["target_id"].startswith("'=")  # no formula for a spreadsheet
    one = client.get("/admin/audit.csv", params={"round": round_.id})
    assert one.headers["content-disposition"].endswith(f'audit-round-{round_.id}.csv"')
    assert [row["action"] for row in csv.DictReader(io.StringIO(one.text))] == ["round.opened"]
    sign_in_page(client, "res@example.org")
    assert client.get("/admin/audit.csv").status_code == 403
