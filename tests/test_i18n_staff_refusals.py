"""The refusals a staff member meets are in the language of their pages: the services'
messages (rounds, surveys, users, webhooks, invitations, schedules, Delphi rounds,
responses, reviews, privacy, mail) keep their message id and values, and a French staff
account's pages show them in French, numbers and moments the French way. Oracle: the
English message ids of the catalogue, none of which may be left on the page."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlmodel import Session

from app.models import Round, User
from tests.factories import form_token, login, make_user, sign_in_page
from tests.test_i18n import aisi_round
from tests.test_i18n_refusals import english_messages_left
from tests.test_i18n_staff import interface_english


def _french_admin(client, session: Session) -> User:
    user = make_user(session)
    user.language = "fr"
    session.add(user)
    session.commit()
    sign_in_page(client)
    return user


def test_staff_refusals_of_every_service_are_in_the_staff_member_s_language(
    client, session: Session
) -> None:
    admin = _french_admin(client, session)
    open_round = aisi_round(session)
    draft = aisi_round(session, status="draft")
    token = form_token(client.get("/admin").text)

    def post(path: str, **fields: str):
        return client.post(path, data={"csrf_token": token, **fields}, follow_redirects=False)

    shown = {
        # services/rounds.py
        "open an open round": (post(f"/admin/rounds/{open_round.id}/open"), 409),
        "close a draft round": (post(f"/admin/rounds/{draft.id}/close"), 409),
        # services/surveys.py
        "round on an unknown survey": (post("/admin/rounds", survey_version="nosuch@1"), 404),
        # services/users.py
        "an account twice": (post("/admin/users", email=admin.email, role="researcher"), 409),
        "the last admin": (post(f"/admin/users/{admin.id}/deactivate"), 409),
        # services/webhooks.py
        "not a web address": (post("/admin/webhooks", url="ftp://example.org/x"), 422),
        # services/invitations.py
        "no invitees": (post(f"/admin/rounds/{open_round.id}/invite", csv="name,email\n"), 422),
        # services/schedule.py
        "reminder days": (
            post(f"/admin/rounds/{draft.id}/schedule", reminder_days="soon"),
            422,
        ),
        # services/delphi.py
        "next round of an open one": (post(f"/admin/rounds/{open_round.id}/next"), 409),
        # services/responses.py
        "reopen nobody's response": (
            post(f"/admin/rounds/{open_round.id}/reopen", expert_code="E-NOBODY"),
            404,
        ),
        # services/mail.py
        "remind a draft round": (post(f"/admin/rounds/{draft.id}/remind"), 409),
        # services/reviews.py
        "an observation without a value": (
            post(
                "/admin/surveys/aisi-information-sharing/observations",
                factor="nosuch",
                value="1",
                observed_on="2026-01-01",
            ),
            422,
        ),
        # services/privacy.py
        "an unknown person": (post("/admin/people/find", email="nobody@example.org"), 404),
        # app/web/params.py
        "no such round": (client.get("/admin/rounds/99999"), 404),
    }
    for name, (reply, status) in shown.items():
        assert reply.status_code == status, (name, reply.status_code, reply.text[:300])
        assert '<html lang="fr"' in reply.text, name
        assert english_messages_left(reply.text) == [], (name, english_messages_left(reply.text))
        assert interface_english(reply.text) == [], (name, interface_english(reply.text))
    said = {name: reply.text for name, (reply, _) in shown.items()}
    assert f"le tour {open_round.id} est déjà ouvert" in said["open an open round"]
    assert f"le tour {draft.id} est à l’état brouillon" in said["close a draft round"]
    assert f"impossible de désactiver {admin.email}" in said["the last admin"]
    assert "l’adresse doit commencer par https://" in said["not a web address"]
    assert "le tour 99999 n’existe pas" in said["no such round"]


def test_the_api_keeps_sending_the_english(client, session: Session) -> None:
    make_user(session)
    round_ = aisi_round(session)
    reply = client.post(f"/api/rounds/{round_.id}/open", headers=login(client))
    assert reply.status_code == 409
    assert reply.json()["detail"] == f"round {round_.id} is already open"


def test_a_moment_in_a_refusal_is_written_the_french_way(client, session: Session) -> None:
    _french_admin(client, session)
    round_ = aisi_round(session, status="draft")
    row = session.get(Round, round_.id)
    assert row is not None
    row.closes_at = datetime(2020, 3, 1, 9, 30, tzinfo=UTC)
    session.add(row)
    session.commit()
    token = form_token(client.get("/admin").text)
    reply = client.post(f"/admin/rounds/{round_.id}/open", data={"csrf_token": token})
    assert reply.status_code == 409
    assert "a une heure de fermeture passée (1 mars 2020, 09:30 UTC)" in reply.text
