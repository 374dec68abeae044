"""The survey's own wording of its e-mails (checked when the file is loaded, rendered in a
sandbox), the preview, receipts on submission, and the panel's mail progress."""

from __future__ import annotations

import pytest
import yaml
from sqlmodel import col, select

from app.models import Invitation, OutboxMessage
from app.services import mail
from app.survey_files import SurveyFileError, parse_survey_text
from tests.factories import (
    bearer,
    full_ratings,
    login,
    make_invitations,
    make_round,
    make_survey,
    make_user,
    sign_in_page,
    survey_dict,
)

SENDER = mail.Sender(base_url="https://panel.example.org", mail_from="team@example.org")
OWN_WORDS = {
    "invitation": {
        "subject": "{{ survey_title }}: your view, please",
        "body": "Hello {{ name }},\n\nplease rate the items here: {{ link }}\n",
    },
    "receipt": {
        "subject": "Thank you, {{ name }}",
        "body": "We have your {{ answered }} of {{ expected }} answers ({{ submitted_at }}).\n",
    },
}


def _survey_text(mail_section: object) -> str:
    return yaml.safe_dump(survey_dict(mail=mail_section), sort_keys=False)


def _outbox(session, kind: str) -> list[OutboxMessage]:
    session.rollback()
    return list(
        session.exec(
            select(OutboxMessage).where(OutboxMessage.kind == kind).order_by(col(OutboxMessage.id))
        ).all()
    )


@pytest.mark.parametrize(
    ("section", "message"),
    [
        (
            {"invitation": {"subject": "Hi {{ nmae }}", "body": "x"}},
            "subject uses nmae, which the invitation e-mail does not have; it may use "
            "closes_at, link, name, round_name, survey_title",
        ),
        (
            {"receipt": {"subject": "s", "body": "{{ link }}"}},
            "body uses link, which the receipt e-mail does not have",
        ),
        ({"reminder": {"subject": "s", "body": "{% if name %}unclosed"}}, "body: Unexpected end"),
        (
            {"invitation": {"subject": "s", "body": "{{ name.__class__.__mro__ }}"}},
            "body cannot be rendered",
        ),
        ({"invitation": {"subject": "", "body": "x"}}, "at least 1 character"),
    ],
)
def test_a_template_the_e_mail_cannot_use_is_refused_naming_file_field_and_line(section, message):
    text = _survey_text(section)
    with pytest.raises(SurveyFileError) as caught:
        parse_survey_text(text, filename="mailed.yaml")
    (problem,) = caught.value.errors
    assert problem.file == "mailed.yaml" and problem.path.startswith("mail.")
    key = problem.path.rsplit(".", 1)[-1]  # the line is the one holding that key
    assert problem.line is not None
    assert text.splitlines()[problem.line - 1].strip().startswith(f"{key}:"), problem
    assert message in problem.message, problem.message
    assert f"mailed.yaml:{problem.line} {problem.path}:" in str(caught.value)


def test_invitations_use_the_survey_files_words(session):
    make_survey(session, slug="mailed", mail=OWN_WORDS)
    round_ = make_round(session, slug="mailed")
    issued = invitations_for(session, round_)
    queued = _outbox(session, "invitation")
    assert [m.subject for m in queued] == ["A small survey: your view, please"] * 2
    link = issued[0].url(SENDER.base_url)
    assert queued[0].body == f"Hello {issued[0].name},\n\nplease rate the items here: {link}\n"


def invitations_for(session, round_):
    from app.inputs import InviteeCreate

    people = [InviteeCreate(name=f"Expert {i}", email=f"e{i}@example.org") for i in range(2)]
    issued = mail.invite(session, round_id=round_.id, invitees=people, sender=SENDER)
    session.commit()
    return issued


def test_submitting_queues_a_receipt_unless_the_survey_turns_it_off(session, client):
    make_survey(session, slug="mailed", mail=OWN_WORDS)
    round_ = make_round(session, slug="mailed")
    (issued,) = make_invitations(session, round_, 1)
    headers = bearer(issued)
    client.post("/api/expert/consent", headers=headers)
    client.put("/api/expert/ratings", headers=headers, json={"ratings": full_ratings(4)})
    assert client.post("/api/expert/submit", headers=headers).status_code == 200
    (receipt,) = _outbox(session, "receipt")
    assert receipt.to_address == issued.email and receipt.subject == f"Thank you, {issued.name}"
    assert receipt.body.startswith("We have your 9 of 9 answers (") and "UTC" in receipt.body
    assert "/i/" not in receipt.body  # no link: mailing a new one would end the old one

    quiet = dict(OWN_WORDS, send_receipts=False)
    make_survey(session, slug="quiet", mail=quiet)
    other = make_round(session, slug="quiet")
    (second,) = make_invitations(session, other, 1, prefix="quiet")
    headers = bearer(second)
    client.post("/api/expert/consent", headers=headers)
    client.put("/api/expert/ratings", headers=headers, json={"ratings": full_ratings(4)})
    assert client.post("/api/expert/submit", headers=headers).status_code == 200
    assert len(_outbox(session, "receipt")) == 1


def test_the_built_in_receipt_is_sent_from_the_submit_page(session, client):
    round_ = make_round(session)
    (issued,) = make_invitations(session, round_, 1)
    headers = bearer(issued)
    client.post("/api/expert/consent", headers=headers)
    client.put("/api/expert/ratings", headers=headers, json={"ratings": full_ratings(3)})
    client.get(f"/i/{issued.token}")  # the page's cookie session
    page = client.get("/survey/review").text
    from tests.factories import form_token

    done = client.post("/survey/submit", data={"csrf_token": form_token(page)})
    assert done.status_code == 303, done.text
    (receipt,) = _outbox(session, "receipt")
    assert receipt.subject == "Received: your answers to A small survey"
    assert f"Dear {issued.name}," in receipt.body and "9 of 9 questions answered" in receipt.body


def test_the_preview_shows_the_wording_to_admins_only(session, client, elicit):
    make_user(session)
    make_user(session, email="res@example.org", role="researcher")
    make_survey(session, slug="mailed", mail=OWN_WORDS)
    round_ = make_round(session, slug="mailed")
    make_invitations(session, round_, 1)
    sign_in_page(client)
    page = client.get(f"/admin/rounds/{round_.id}/mail/invitation")
    assert page.status_code == 200
    assert (
        "A small survey: your view, please" in page.text and "Hello Expert expert 0," in page.text
    )
    assert "the survey file&#39;s own" in page.text or "the survey file's own" in page.text
    built_in = client.get(f"/admin/rounds/{round_.id}/mail/reminder").text
    assert "Reminder: A small survey" in built_in and "built-in text" in built_in
    assert client.get(f"/admin/rounds/{round_.id}/mail/nonsense").status_code == 422
    round_page = client.get(f"/admin/rounds/{round_.id}").text
    assert f'href="/admin/rounds/{round_.id}/mail/receipt"' in round_page

    researcher = login(client, "res@example.org")
    url = f"/api/rounds/{round_.id}/mail/preview?kind=receipt"
    assert client.get(url, headers=researcher).status_code == 403
    shown = client.get(url, headers=login(client)).json()
    assert shown["subject"] == "Thank you, Expert expert 0" and shown["from_survey_file"]

    printed = elicit("mail", "preview", str(round_.id), "--kind", "invitation").output
    assert "Subject: A small survey: your view, please" in printed
    assert "(the survey file's wording)" in printed and "Hello Expert expert 0," in printed


def test_progress_counts_the_mailed_and_the_opened(session, client, engine, tmp_path):
    make_user(session)
    round_ = make_round(session)
    issued = invitations_for(session, round_)
    transport = mail.FolderTransport(tmp_path)
    done = mail.deliver_due(engine, transport, mail_from=SENDER.mail_from)
    assert done.sent == 2
    client.get(f"/i/{issued[0].token}")
    client.get("/survey")
    session.rollback()
    opened = session.exec(select(Invitation).where(Invitation.id == issued[0].invitation_id)).one()
    assert opened.last_used_at is not None
    progress = client.get(f"/api/rounds/{round_.id}/progress", headers=login(client)).json()
    assert (progress["invited"], progress["mailed"], progress["opened"]) == (2, 2, 1)
    by_code = {e["expert_code"]: e for e in progress["experts"]}
    assert by_code[issued[0].expert_code]["opened"] and by_code[issued[1].expert_code]["mailed"]
    sign_in_page(client)
    page = client.get(f"/admin/rounds/{round_.id}").text
    assert "<strong>2</strong> mailed" in page and "<strong>1</strong> opened their link" in page
    assert "Everything sent in this round (2 e-mails)" in page
