"""Personal data of the panel: versioned consent, withdrawal, export, erasure, retention and
the privacy page, on SQLite and PostgreSQL.

The oracle for erasure is the database itself: every text and JSON column of every table
is searched for the person's address and name afterwards."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from sqlalchemy import JSON, String, Text, text
from sqlalchemy import select as select_columns
from sqlmodel import SQLModel, select
from typer.testing import CliRunner

from app.cli import cli
from app.config import get_settings
from app.errors import NotFound
from app.models import (
    ConsentText,
    Expert,
    OutboxMessage,
    Rating,
    RatingChange,
    Response,
    RubricVersion,
    utcnow,
)
from app.schemas import InviteeCreate
from app.services import delphi, invitations, mail, privacy, responses, rounds
from app.services.answer_store import Saving
from app.services.demo import simulate_panel
from app.services.mail import Sender
from app.services.privacy import CONSENT_STATEMENT
from tests.factories import (
    bearer,
    form_token,
    full_ratings,
    login,
    make_invitations,
    make_response,
    make_round,
    make_survey,
    make_user,
    rating,
    sign_in_page,
)

NAME = "Ada Lovelace"
EMAIL = "ada.lovelace@example.org"
OTHER_NAME = "Grace Hopper"
OTHER_EMAIL = "grace.hopper@example.org"
SENDER = Sender(base_url="http://testserver", mail_from="panel@example.org")


def _invite(session, round_, name=NAME, email=EMAIL):
    issued = mail.invite(
        session,
        round_id=round_.id,
        invitees=[InviteeCreate(name=name, email=email, organisation="Institute A")],
        sender=SENDER,
    )[0]
    session.commit()
    return issued


def _answer(session, issued, *, note: str, submit: bool = True):
    """Consent, answer every question with a shared rationale ``note``, and submit."""
    response = make_response(session, issued)
    answers = [
        rating(r["item"], r["dimension"], r["value"], rationale=note, share_rationale=True)
        for r in full_ratings()
    ]
    responses.save_ratings(session, Saving(response.id), ratings=answers)
    # A second state of one answer, so the history holds more than the current rows.
    responses.save_ratings(
        session,
        Saving(response.id),
        ratings=[rating(value=4, rationale=note + " (revised)", share_rationale=True)],
    )
    if submit:
        responses.submit_response(session, response_id=response.id)
    session.commit()
    return response


def _occurrences(engine, *needles: str, ignore_case: bool = True) -> list[str]:
    """Every table.column whose text (JSON included) contains one of ``needles``."""
    found = []
    fold = str.lower if ignore_case else str
    wanted = [fold(n) for n in needles]
    with engine.connect() as connection:
        for table in SQLModel.metadata.sorted_tables:
            columns = [
                c
                for c in table.columns
                if isinstance(getattr(c.type, "impl_instance", c.type), String | Text | JSON)
            ]
            if not columns:
                continue
            for row in connection.execute(select_columns(*columns)):
                for column, value in zip(columns, row, strict=True):
                    if value is None:
                        continue
                    shown = (
                        json.dumps(value, ensure_ascii=False)
                        if isinstance(column.type, JSON)
                        else str(value)
                    )
                    if any(n in fold(shown) for n in wanted):
                        found.append(f"{table.name}.{column.name}")
    return sorted(set(found))


def _fresh(session) -> None:
    """Read what the app wrote since: a new snapshot, no row kept from before."""
    session.rollback()
    session.expire_all()


def _open_link(client, token: str) -> None:
    client.cookies.clear()
    assert client.get(f"/i/{token}").status_code == 303


# --- consent ------------------------------------------------------------------------------


def test_consent_is_stored_with_the_text_agreed_to(session):
    round_ = make_round(session)
    response = make_response(session, make_invitations(session, round_, 1)[0])
    session.refresh(response)
    stored = session.get(ConsentText, response.consent_sha256)
    assert stored is not None and response.consent_at is not None
    assert privacy.text_digest(stored.text) == response.consent_sha256
    assert stored.text.startswith("A small survey\n\nRate *each* item.")
    assert stored.text.endswith(CONSENT_STATEMENT)
    # Agreeing again to the same text keeps the first time and stores no second text.
    first = response.consent_at
    responses.give_consent(session, response_id=response.id)
    session.commit()
    assert session.get(Response, response.id).consent_at == first
    assert len(session.exec(select(ConsentText)).all()) == 1


def test_a_changed_text_asks_again_before_going_on_or_submitting(session, client, monkeypatch):
    round_ = make_round(session)
    issued = make_invitations(session, round_, 1)[0]
    _open_link(client, issued.token)
    page = client.get("/survey").text
    assert CONSENT_STATEMENT in page
    agreed = client.post("/survey/consent", data={"consent": "yes", "csrf_token": form_token(page)})
    assert agreed.status_code == 303
    assert 'name="consent"' not in client.get("/survey").text
    client.put("/api/expert/ratings", headers=bearer(issued), json={"ratings": full_ratings()})
    first = session.exec(select(Response)).one().consent_sha256

    monkeypatch.setattr(privacy, "CONSENT_STATEMENT", "I agree to a new text.")
    page = client.get("/survey").text
    assert 'name="consent"' in page and "has changed since" in page
    assert client.post("/api/expert/submit", headers=bearer(issued)).status_code == 409
    assert (
        client.get("/api/expert/response", headers=bearer(issued)).json()["consent_given"] is False
    )
    again = client.post("/survey/consent", data={"consent": "yes", "csrf_token": form_token(page)})
    assert again.status_code == 303, again.text
    _fresh(session)
    again = session.exec(select(Response)).one()
    assert again.consent_sha256 != first
    assert session.get(ConsentText, again.consent_sha256).text.endswith("I agree to a new text.")
    assert client.post("/api/expert/submit", headers=bearer(issued)).status_code == 200


def test_a_later_survey_version_with_another_introduction_asks_again(session):
    first = make_round(session)
    response = make_response(session, make_invitations(session, first, 1)[0])
    make_survey(session, version="2.0", introduction="A different introduction.")
    later = rounds.create_round(session, slug="small", name="Later", version=2)
    rounds.open_round(session, round_id=later.id)
    session.commit()
    issued = make_invitations(session, later, 1, prefix="later")[0]
    state_before = make_response(session, issued, consent=False)
    state = responses.load_response_state(session, response_id=state_before.id)
    assert not state.consented
    assert "A different introduction." in state.consent_text
    responses.give_consent(session, response_id=state_before.id)
    session.commit()
    session.refresh(response)
    session.refresh(state_before)
    assert state_before.consent_sha256 != response.consent_sha256


# --- withdrawal ---------------------------------------------------------------------------


def test_an_expert_withdraws_through_the_page(session, client):
    admin = make_user(session)
    round_ = make_round(session)
    issued = _invite(session, round_)
    other = _invite(session, round_, OTHER_NAME, OTHER_EMAIL)
    response = _answer(session, issued, note="my reasons", submit=False)
    _answer(session, other, note="her reasons")
    _open_link(client, issued.token)
    welcome = client.get("/survey").text
    assert 'href="/survey/withdraw"' in welcome and 'href="/privacy"' in welcome
    page = client.get("/survey/withdraw").text
    assert "Your answers in this round are deleted" in page
    assert "rubric already published" in page and "immutable" in page
    # The form needs its CSRF token and the box ticked.
    assert client.post("/survey/withdraw", data={"confirm": "yes"}).status_code == 403
    unticked = client.post("/survey/withdraw", data={"csrf_token": form_token(page)})
    assert unticked.status_code == 422
    assert session.exec(select(Rating).where(Rating.response_id == response.id)).first()

    done = client.post("/survey/withdraw", data={"csrf_token": form_token(page), "confirm": "yes"})
    assert done.status_code == 200 and "You have withdrawn" in done.text
    assert "elicit_session" in done.headers.get("set-cookie", "")
    # The session and the link no longer work.
    assert client.get("/survey").status_code in (401, 303)
    client.cookies.clear()
    assert client.get(f"/i/{issued.token}").status_code == 404
    _fresh(session)
    for table in (Rating, RatingChange):
        assert session.exec(select(table).where(table.response_id == response.id)).all() == []
    assert session.get(Response, response.id).withdrawn_at is not None
    # The other expert's answers are untouched; progress says "withdrawn".
    progress = rounds.round_progress(session, round_id=round_.id)
    assert sorted(e.status for e in progress.experts) == ["submitted", "withdrawn"]
    assert {
        i.response_status for i in invitations.list_invitations(session, round_id=round_.id)
    } == {
        "submitted",
        "withdrawn",
    }
    assert session.exec(select(Rating)).all()
    # Its unsent invitation e-mail is dropped; the audit trail names the code only.
    mine = session.exec(select(OutboxMessage).where(OutboxMessage.to_address == EMAIL)).one()
    assert mine.status == "failed"
    assert _occurrences(session.get_bind(), "my reasons") == []
    headers = login(client, admin.email)
    entries = client.get("/api/audit", headers=headers).json()
    withdrawn = [e for e in entries["entries"] if e["action"] == "response.withdrawn"]
    assert withdrawn and withdrawn[0]["target_id"] == issued.expert_code
    assert NAME not in json.dumps(entries) and EMAIL not in json.dumps(entries)
    # The round's report leaves the withdrawn answers out and says how many withdrew.
    report = client.get(f"/api/rounds/{round_.id}/report?n_bootstrap=0", headers=headers)
    assert report.status_code == 200, report.text
    data = report.json()
    assert data["n_withdrawn"] == 1 and len(data["raters"]) == 1
    page = client.get(f"/api/rounds/{round_.id}/report?format=html&n_bootstrap=0", headers=headers)
    assert "1 expert withdrew: their answers were deleted" in page.text


# --- export -------------------------------------------------------------------------------


def test_the_expert_downloads_their_own_data_and_nobody_elses(session, client):
    round_ = make_round(session)
    issued = _invite(session, round_)
    other = _invite(session, round_, OTHER_NAME, OTHER_EMAIL)
    _answer(session, issued, note="mine alone")
    _answer(session, other, note="hers alone")
    _open_link(client, issued.token)
    reply = client.get("/survey/my-data.json")
    assert reply.status_code == 200
    assert "attachment" in reply.headers["content-disposition"]
    assert reply.headers["cache-control"] == "no-store"
    data = reply.json()
    assert data["contact"] == {"name": NAME, "email": EMAIL}
    assert data["expert_code"] == issued.expert_code
    assert [i["round_id"] for i in data["invitations"]] == [round_.id]
    (response,) = data["responses"]
    assert response["consent_text"].endswith(CONSENT_STATEMENT)
    assert len(response["ratings"]) == 9 and len(response["history"]) == 10
    assert {e["to_address"] for e in data["emails"]} == {EMAIL}
    assert NAME in data["emails"][0]["body"]
    body = reply.text
    for foreign in (OTHER_NAME, OTHER_EMAIL, other.expert_code, "hers alone"):
        assert foreign not in body


def test_admins_export_by_address_on_the_page_and_researchers_may_not(session, client):
    make_user(session)
    make_user(session, email="researcher@example.org", role="researcher")
    round_ = make_round(session)
    issued = _invite(session, round_)
    _invite(session, round_, OTHER_NAME, OTHER_EMAIL)
    _answer(session, issued, note="noted")

    sign_in_page(client, "researcher@example.org")
    token = form_token(client.get("/account").text)
    assert client.get("/admin/people").status_code == 403
    for action in ("find", "export", "erase"):
        reply = client.post(
            f"/admin/people/{action}",
            data={"csrf_token": token, "email": EMAIL, "confirm_email": EMAIL},
        )
        assert reply.status_code == 403, action
    client.cookies.clear()

    sign_in_page(client)
    page = client.get("/admin/people").text
    assert 'href="/admin/people"' in page
    found = client.post("/admin/people/find", data={"csrf_token": form_token(page), "email": EMAIL})
    assert found.status_code == 200 and NAME in found.text and issued.expert_code in found.text
    assert "SHA-256" in found.text  # the consent text agreed to, by its hash
    unknown = client.post(
        "/admin/people/find", data={"csrf_token": form_token(page), "email": "nobody@example.org"}
    )
    assert unknown.status_code == 404
    exported = client.post(
        "/admin/people/export", data={"csrf_token": form_token(page), "email": EMAIL.upper()}
    )
    assert exported.status_code == 200
    data = exported.json()
    assert data["contact"]["email"] == EMAIL and OTHER_EMAIL not in exported.text
    assert len(data["responses"][0]["ratings"]) == 9


# --- erasure ------------------------------------------------------------------------------


def _panel_with_a_published_rubric(session, client, tmp_path):
    """Ada in round 1 (closed, rubric published) with a shared rationale naming her, round 2
    made from it (her rationale in its feedback), e-mails to her in the outbox and on disk."""
    admin = make_user(session)
    headers = login(client, admin.email)
    round_ = make_round(session)
    issued = _invite(session, round_)
    other = _invite(session, round_, OTHER_NAME, OTHER_EMAIL)
    mine = f"As {NAME} ({EMAIL}) I would share it"
    _answer(session, issued, note=mine)
    _answer(session, other, note="Grace's view")
    simulate_panel(session, round_id=round_.id, n_experts=8, seed=3)
    session.commit()
    mail.deliver_due(session.get_bind(), mail.FolderTransport(tmp_path), mail_from="p@example.org")
    assert client.post(f"/api/rounds/{round_.id}/close", headers=headers).status_code == 200
    published = client.post(
        f"/api/rounds/{round_.id}/publish",
        headers=headers,
        json={"n_bootstrap": 100, "justification": "pilot"},
    )
    assert published.status_code in (200, 201), published.text
    _fresh(session)
    next_round, _ = delphi.create_next_round(session, round_id=round_.id)
    session.commit()
    assert mine in json.dumps(next_round.feedback)
    return issued, other, admin


@pytest.mark.parametrize("keep", [True, False], ids=["keep-ratings", "delete-ratings"])
def test_erasure_removes_the_person_from_every_table(session, client, engine, tmp_path, keep):
    issued, other, admin = _panel_with_a_published_rubric(session, client, tmp_path)
    assert set(_occurrences(engine, EMAIL, NAME)) >= {
        "expert_contacts.email",
        "expert_contacts.name",
        "outbox.to_address",
        "outbox.body",
        "ratings.rationale",
        "rating_changes.rationale",
        "rounds.feedback",
    }
    files = len(list(tmp_path.glob("*.eml")))
    assert files == 2  # the two invitations
    record_before = session.exec(select(RubricVersion.record, RubricVersion.digest)).one()
    # A published record holds no personal data: no name, address or code of anyone.
    shown = json.dumps(record_before[0])
    for needle in (NAME, EMAIL, issued.expert_code, OTHER_NAME, other.expert_code):
        assert needle not in shown
    my_ratings = _ratings_of(session, issued.expert_code)
    assert len(my_ratings) == 9

    erasing = privacy.Erasing(admin.email, keep_ratings=keep, mail_dir=tmp_path)
    done = privacy.erase_person(session, email=EMAIL, erasing=erasing)
    session.commit()

    assert _occurrences(engine, EMAIL, NAME) == []
    assert done.mail_files_removed == 1 and len(list(tmp_path.glob("*.eml"))) == files - 1
    _fresh(session)
    assert session.exec(select(RubricVersion.record, RubricVersion.digest)).one() == record_before
    if keep:
        kept = _ratings_of(session, issued.expert_code)
        assert [(r.item_key, r.dimension_key, r.value) for r in kept] == [
            (r.item_key, r.dimension_key, r.value) for r in my_ratings
        ]
        assert all(r.rationale == "" for r in kept)
        expert = session.exec(select(Expert).where(Expert.code == issued.expert_code)).one()
        assert expert.erased_at is not None
        assert done.expert_code == issued.expert_code
    else:
        assert session.exec(select(Expert).where(Expert.code == issued.expert_code)).all() == []
        assert done.expert_code is None and done.ratings_deleted == 9
        assert _occurrences(engine, issued.expert_code, ignore_case=False) == []
    # The other expert is untouched.
    assert {r.rationale for r in _ratings_of(session, other.expert_code)} == {
        "Grace's view",
        "Grace's view (revised)",
    }
    assert len(_occurrences(engine, OTHER_EMAIL)) >= 2
    # The audit entry holds no personal data.
    with engine.connect() as connection:
        details = connection.execute(
            text("SELECT target_id, details FROM audit_log WHERE action = 'person.erased'")
        ).all()
    assert len(details) == 1
    assert NAME not in str(details) and EMAIL not in str(details)
    # A second erasure finds nobody.
    with pytest.raises(NotFound):
        privacy.erase_person(session, email=EMAIL, erasing=privacy.Erasing(admin.email))


def _ratings_of(session, code: str) -> list[Rating]:
    return list(
        session.exec(
            select(Rating)
            .join(Response, Response.id == Rating.response_id)
            .join(Expert, Expert.id == Response.expert_id)
            .where(Expert.code == code)
            .order_by(Rating.item_key, Rating.dimension_key)
        ).all()
    )


def test_erasure_on_the_admin_page_asks_for_the_address_again(session, client):
    make_user(session)
    round_ = make_round(session)
    issued = _invite(session, round_)
    _answer(session, issued, note=f"signed {NAME}")
    sign_in_page(client)
    page = client.get("/admin/people").text
    token = form_token(page)
    typo = client.post(
        "/admin/people/erase",
        data={"csrf_token": token, "email": EMAIL, "confirm_email": "ada@example.org"},
    )
    assert typo.status_code == 422 and "type the same address again" in typo.text
    assert len(_occurrences(session.get_bind(), EMAIL)) >= 2
    done = client.post(
        "/admin/people/erase",
        data={"csrf_token": token, "email": EMAIL, "confirm_email": EMAIL, "ratings": "keep"},
    )
    assert done.status_code == 200 and "Erased" in done.text
    assert issued.expert_code in done.text
    assert _occurrences(session.get_bind(), EMAIL, NAME) == []
    _fresh(session)
    assert len(_ratings_of(session, issued.expert_code)) == 9


# --- retention ----------------------------------------------------------------------------


def test_the_worker_erases_contact_details_after_the_retention_period(session, engine):
    closed, old = _closed_round_with_ada(session)
    still_open = make_round(session, name="Open round")
    current = _invite(session, still_open, OTHER_NAME, OTHER_EMAIL)
    session.refresh(closed)
    closed_at = closed.closed_at
    now = closed_at + timedelta(days=31)

    assert privacy.purge_due(engine, days=None, now=now) == []
    assert privacy.purge_due(engine, days=60, now=now) == []
    assert privacy.purge_due(engine, days=30, now=now) == [old.expert_code]
    assert _occurrences(engine, EMAIL, NAME) == []
    assert len(_occurrences(engine, OTHER_EMAIL)) >= 2  # invited to a round still open
    assert privacy.purge_due(engine, days=30, now=now) == []  # done once
    _fresh(session)
    assert current.expert_code not in privacy.purge_expired(
        session, days=30, now=now, actor="test", dry_run=True
    )


def test_the_mail_worker_pass_runs_the_retention_step(session, engine, monkeypatch, tmp_path):
    _, old = _closed_round_with_ada(session)
    monkeypatch.setenv("RETENTION_DAYS", "1")
    monkeypatch.setenv("ELICIT_MAIL_DIR", str(tmp_path))
    get_settings.cache_clear()
    try:
        worker = mail.MailWorker(engine, mail.FolderTransport(tmp_path), mail_from="p@example.org")
        assert worker.run_retention() == []  # closed just now
        monkeypatch.setattr(mail, "utcnow", lambda: utcnow() + timedelta(days=2))
        assert worker.run_retention() == [old.expert_code]
    finally:
        get_settings.cache_clear()


def _closed_round_with_ada(session):
    """A round Ada was invited to, closed just now."""
    round_ = make_round(session, name="Old round")
    issued = _invite(session, round_)
    rounds.close_round(session, round_id=round_.id)
    session.commit()
    return round_, issued


# --- command line -------------------------------------------------------------------------


def test_person_commands(session, elicit, engine, tmp_path):
    _, issued = _closed_round_with_ada(session)
    other_round = make_round(session, name="Open round")
    other = _invite(session, other_round, OTHER_NAME, OTHER_EMAIL)

    shown = elicit("person", "export", EMAIL.upper())
    data = json.loads(shown.stdout)
    assert data["contact"]["name"] == NAME and OTHER_EMAIL not in shown.stdout
    out = tmp_path / "ada.json"
    elicit("person", "export", EMAIL, "-o", str(out))
    assert json.loads(out.read_text())["expert_code"] == issued.expert_code
    assert (
        "no expert has this e-mail address"
        in elicit("person", "export", "nobody@example.org", ok=False).output
    )

    assert "no retention period" in elicit("person", "purge", ok=False).output
    dry = elicit("person", "purge", "--days", "1", "--dry-run")
    assert "would erase 0" in dry.output  # closed just now

    runner = CliRunner()
    refused = runner.invoke(cli, ["person", "erase", OTHER_EMAIL], input="n\n")
    assert refused.exit_code == 1 and len(_occurrences(engine, OTHER_EMAIL)) >= 2
    erased = elicit("person", "erase", OTHER_EMAIL, "--delete-ratings", "--yes")
    assert "deleted with the code" in erased.output
    assert _occurrences(engine, OTHER_EMAIL, OTHER_NAME) == []
    assert other.expert_code not in str(_occurrences(engine, other.expert_code))
    agreed = runner.invoke(cli, ["person", "erase", EMAIL], input="y\n")
    assert agreed.exit_code == 0, agreed.output
    assert "ratings kept under code" in agreed.output
    assert _occurrences(engine, EMAIL, NAME) == []


# --- the privacy page ---------------------------------------------------------------------


def test_the_privacy_page_renders_and_is_linked(client, app):
    page = client.get("/privacy")
    assert page.status_code == 200
    assert "Researchers" in page.text and "never names" in page.text
    assert "kept until the survey team erases them" in page.text
    assert 'href="/privacy"' in client.get("/").text  # the footer of every page
    app.state.settings = app.state.settings.model_copy(
        update={"retention_days": 180, "privacy_contact": "dpo@institute.example"}
    )
    page = client.get("/privacy").text
    assert "erased 180 days after" in page and "dpo@institute.example" in page


def test_each_survey_has_a_privacy_notice_from_its_settings(session, client):
    from tests.factories import make_survey

    round_ = make_round(session)
    make_survey(session, slug="quiet", mail={"send_receipts": False})
    notice = client.get("/privacy/small")
    assert notice.status_code == 200
    text = notice.text
    assert "In this survey: A small survey" in text and "rate 3 items on" in text
    assert "<em>Sensitivity</em>, <em>Misuse</em>, and to give each an overall tier" in text
    assert "a receipt is e-mailed to you" in text and "What is stored" in text
    assert "No receipt is e-mailed" in client.get("/privacy/quiet").text
    assert client.get("/privacy/nothing-here").status_code == 404
    issued = _invite(session, round_)
    _open_link(client, issued.token)
    assert 'href="/privacy/small"' in client.get("/survey").text


def test_many_experts_consenting_at_once_store_the_new_text_once(session, engine):
    import threading

    from sqlmodel import Session as DbSession

    from app.db import session_scope
    from app.models import ConsentText, Response
    from tests.factories import make_invitations, make_round

    round_ = make_round(session)
    issued = make_invitations(session, round_, 6)
    ids = []
    for one in issued:
        invitation = invitations.find_invitation(session, token=one.token)
        ids.append(responses.start_response(session, invitation=invitation).id)
    session.commit()
    barrier = threading.Barrier(len(ids))
    failures: list[BaseException] = []

    def consent(response_id: int) -> None:
        try:
            barrier.wait()
            with session_scope(engine) as own:
                responses.give_consent(own, response_id=response_id)
        except BaseException as exc:
            failures.append(exc)

    threads = [threading.Thread(target=consent, args=(i,)) for i in ids]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []
    with DbSession(engine) as fresh:
        assert len(fresh.exec(select(ConsentText)).all()) == 1
        given = fresh.exec(select(Response).where(Response.round_id == round_.id)).all()
        assert all(r.consent_sha256 and r.consent_at for r in given)
