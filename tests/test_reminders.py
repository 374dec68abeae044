"""Reminders to the panel: only those who have not submitted get one, by a real SMTP server
(aiosmtpd), with a new link that works while the old one stops; an expert signed in stays
signed in. The round page shows each invitation's mail and sends reminders; the API too."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest
from sqlmodel import select

from app.models import OutboxMessage
from app.services import invitations, mail, rounds
from tests.factories import bearer, full_ratings, login, make_invitations, make_round, make_user
from tests.test_pages import _sign_in, csrf

FROM = "Panel team <panel@example.org>"


def _body(message) -> str:
    return message.get_payload(decode=True).decode()


def _link(body: str) -> str:
    return next(word for word in body.split() if "/i/" in word)


def test_a_reminder_reaches_only_those_who_have_not_submitted_with_a_new_link(
    session, client, app, elicit, smtp_server, monkeypatch
):
    from fastapi.testclient import TestClient

    url, collector = smtp_server
    monkeypatch.setenv("ELICIT_SMTP_URL", url)
    monkeypatch.setenv("ELICIT_MAIL_FROM", FROM)
    round_ = make_round(session, closes_at=datetime(2099, 5, 1, 17, 30, tzinfo=UTC))
    done, drafting, revoked, silent = make_invitations(session, round_, 4)
    # One submitted everything; one answered two questions and is signed in in a browser.
    assert client.post("/api/expert/consent", headers=bearer(done)).status_code == 200
    client.put("/api/expert/ratings", headers=bearer(done), json={"ratings": full_ratings()})
    assert client.post("/api/expert/submit", headers=bearer(done)).status_code == 200
    client.post("/api/expert/consent", headers=bearer(drafting))
    saved = client.put(
        "/api/expert/ratings", headers=bearer(drafting), json={"ratings": full_ratings()[:2]}
    )
    assert saved.status_code == 200, saved.text
    assert client.get(f"/i/{drafting.token}").status_code == 303  # the browser's session
    invitations.revoke_invitation(session, invitation_id=revoked.invitation_id)
    session.commit()

    reminded = elicit("remind", str(round_.id)).output
    assert "2 reminders queued" in reminded and "sent through smtp://127.0.0.1" in reminded
    assert drafting.expert_code in reminded and silent.expert_code in reminded
    assert "/i/" not in reminded  # the new links go by e-mail only
    # Two reminders, and the receipt of the one who submitted.
    assert "sent 3, to retry 0, failed 0" in elicit("worker", "--once").output

    by_address = {m["To"]: m for m in collector.messages if m["Subject"].startswith("Reminder")}
    assert sorted(by_address) == [drafting.email, silent.email]
    (receipt,) = [m for m in collector.messages if m["To"] == done.email]
    assert receipt["Subject"] == "Received: your answers to A small survey"
    message = by_address[drafting.email]
    assert message["Subject"] == "Reminder: A small survey" and message["From"] == FROM
    body = _body(message)
    assert body.startswith(f"Dear {drafting.name},")
    assert "answered 2 of 9 questions" in body
    assert "closes on 2099-05-01 17:30 UTC" in body
    assert "replaces the one we sent earlier, which no longer works" in body
    assert "answered 0 of 9 questions" in _body(by_address[silent.email])
    link = _link(body).replace("http://panel.example.org", "")

    # The signed-in browser stays in, with its answers; the old link and token do not work.
    page = client.get("/survey")
    assert page.status_code == 200
    assert client.get("/survey/items/1").status_code == 200
    with TestClient(app, base_url="http://testserver", follow_redirects=False) as other:
        assert other.get(f"/i/{drafting.token}").status_code == 404
        assert other.get("/api/expert/response", headers=bearer(drafting)).status_code == 401
        assert other.get(link).status_code == 303
        assert other.get("/survey").status_code == 200
        token = link.rsplit("/", 1)[-1]
        state = other.get("/api/expert/response", headers={"Authorization": f"Bearer {token}"})
        assert state.json()["answered"] == 2
    # The submitted expert's link is untouched.
    assert client.get("/api/expert/response", headers=bearer(done)).status_code == 200

    status = elicit("mail", "status", str(round_.id)).output
    assert status.count(" reminder ") == 2 and status.count(" receipt ") == 1
    assert status.count(" sent ") == 3


@pytest.mark.parametrize("status", ["draft", "closed"])
def test_only_an_open_round_has_reminders(session, elicit, status):
    round_ = make_round(session, status="draft")
    make_invitations(session, round_, 1)
    if status == "closed":
        rounds.open_round(session, round_id=round_.id)
        rounds.close_round(session, round_id=round_.id)
        session.commit()
    refused = elicit("remind", str(round_.id), ok=False)
    assert (
        refused.exit_code == 1 and f"is {status}: reminders go to an open round" in refused.output
    )
    session.rollback()
    assert session.exec(select(OutboxMessage)).all() == []


def test_nobody_to_remind_when_everyone_submitted(session, elicit):
    round_ = make_round(session)
    assert "nobody to remind" in elicit("remind", str(round_.id)).output


def test_the_round_page_mails_invitations_shows_their_state_and_sends_reminders(session, client):
    make_user(session)
    round_ = make_round(session)
    _sign_in(client)
    page = client.get(f"/admin/rounds/{round_.id}").text
    assert "no SMTP server set" in page and "No e-mail has been queued" in page
    assert 'name="delivery" value="email"' in page
    invited = client.post(
        f"/admin/rounds/{round_.id}/invite",
        data={
            "csrf_token": csrf(page),
            "delivery": "email",
            "csv": "name,email,organisation\nAda <i>L</i>,ada@example.org,A\n"
            "Alan,alan@example.org,B\n",
        },
    )
    assert invited.status_code == 303
    assert invited.headers["location"] == f"/admin/rounds/{round_.id}?queued=2&kind=invitation"
    page = client.get(invited.headers["location"]).text
    assert "2 invitation e-mails queued" in page and "/i/" not in page
    rows = session.exec(select(OutboxMessage).order_by(OutboxMessage.id)).all()
    assert [r.kind for r in rows] == ["invitation", "invitation"]
    latest = page.split("<details>")[0]  # each invitation's latest e-mail; the log follows
    codes = re.findall(
        r'<th scope="row"><code>(E-[A-Z0-9]{6})</code></th><td(?: dir="ltr")?>[a-z]+@', latest
    )
    assert len(codes) == 2 and latest.count(">queued</span>") == 2
    # A server's error text is shown, escaped.
    rows[0].status, rows[0].last_error = "failed", "550 <script>no</script>"
    session.add(rows[0])
    session.commit()
    page = client.get(f"/admin/rounds/{round_.id}").text
    assert "550 &lt;script&gt;no&lt;/script&gt;" in page and "<script>no" not in page
    assert "Send a reminder to those who have not submitted" in page
    assert client.post(f"/admin/rounds/{round_.id}/remind", data={}).status_code == 403
    sent = client.post(f"/admin/rounds/{round_.id}/remind", data={"csrf_token": csrf(page)})
    assert sent.status_code == 303
    page = client.get(sent.headers["location"]).text
    assert "2 reminders queued" in page
    assert page.split("<details>")[0].count("<td>reminder</td>") == 2
    session.rollback()
    session.expire_all()  # a new snapshot, and the rows read above read again
    rows = session.exec(select(OutboxMessage).order_by(OutboxMessage.id)).all()
    assert [(r.kind, r.status) for r in rows] == [
        ("invitation", "failed"),
        ("invitation", "failed"),  # still queued: its link is dead, so it is not sent
        ("reminder", "queued"),
        ("reminder", "queued"),
    ]
    assert rows[0].last_error.startswith("550") and rows[1].last_error == mail.SUPERSEDED


def test_researchers_see_no_mail_and_cannot_remind(session, client):
    make_user(session, email="res@example.org", role="researcher")
    round_ = make_round(session)
    make_invitations(session, round_, 1)
    _sign_in(client, "res@example.org")
    page = client.get(f"/admin/rounds/{round_.id}").text
    assert "Send a reminder" not in page and 'id="mail"' not in page
    reply = client.post(f"/admin/rounds/{round_.id}/remind", data={"csrf_token": csrf(page)})
    assert reply.status_code == 403


def test_the_api_reminds_and_shows_mail_to_admins_only(session, client):
    make_user(session)
    make_user(session, email="res@example.org", role="researcher")
    round_ = make_round(session)
    issued = make_invitations(session, round_, 2)
    admin, researcher = login(client), login(client, "res@example.org")
    remind, status = f"/api/rounds/{round_.id}/remind", f"/api/rounds/{round_.id}/mail"
    for headers, code in ((researcher, 403), (bearer(issued[0]), 401), ({}, 401)):
        assert client.post(remind, headers=headers).status_code == code
        assert client.get(status, headers=headers).status_code == code
    assert client.get(status, headers=admin).json() == []
    reply = client.post(remind, headers=admin)
    assert reply.status_code == 200, reply.text
    body = reply.json()
    assert body["round_id"] == round_.id and body["queued"] == 2
    assert sorted(r["expert_code"] for r in body["reminded"]) == sorted(
        i.expert_code for i in issued
    )
    assert "/i/" not in reply.text and issued[0].token not in reply.text
    rows = client.get(status, headers=admin).json()
    assert {(r["kind"], r["status"], r["attempts"]) for r in rows} == {("reminder", "queued", 0)}
    assert client.post("/api/rounds/999999/remind", headers=admin).status_code == 404
