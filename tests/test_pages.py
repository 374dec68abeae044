"""The server-rendered questionnaire and admin console, through an in-process client."""

from __future__ import annotations

import re

import pytest
from sqlmodel import select

from app.models import Rating
from tests.factories import PASSWORD, make_invitations, make_round, make_user, sign_in_page

HOSTILE = 'He said "no" & <script>alert(1)</script> 🙂 — مرحبا بالعالم שלום'


def csrf(html: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert match, "page has no CSRF field"
    return match.group(1)


@pytest.fixture
def expert(session, client):
    round_ = make_round(session)
    issued = make_invitations(session, round_, 2)
    reply = client.get(f"/i/{issued[0].token}")
    assert reply.status_code == 303
    return {"round": round_, "issued": issued, "reply": reply}


def test_invitation_link_sets_a_safe_cookie_and_drops_the_token(expert, client):
    reply = expert["reply"]
    assert reply.headers["location"] == "/survey"
    cookie = reply.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie and "Path=/" in cookie
    assert expert["issued"][0].token not in cookie
    page = client.get("/survey")
    assert page.status_code == 200
    assert expert["issued"][0].token not in page.text
    assert page.headers["referrer-policy"] == "no-referrer"
    assert "Cache-Control" in page.headers or "cache-control" in page.headers


def test_welcome_page_shows_introduction_rubric_and_consent(expert, client):
    page = client.get("/survey").text
    assert "<em>each</em>" in page  # Markdown introduction
    for level in range(1, 6):
        assert f"level {level}" in page and f"misuse {level}" in page
    assert 'name="consent"' in page
    assert expert["issued"][0].expert_code in page


def test_consent_needs_the_box_and_a_csrf_token(expert, client):
    token = csrf(client.get("/survey").text)
    assert client.post("/survey/consent", data={"consent": "yes"}).status_code == 403
    assert (
        client.post("/survey/consent", data={"consent": "yes", "csrf_token": "x"}).status_code
        == 403
    )
    refused = client.post("/survey/consent", data={"csrf_token": token})
    assert refused.status_code == 422 and "Tick the box" in refused.text
    accepted = client.post("/survey/consent", data={"consent": "yes", "csrf_token": token})
    assert accepted.status_code == 303 and accepted.headers["location"] == "/survey/items/1"


def _answer(client, number: int, values: dict[str, str], action: str = "next", **extra: str):
    page = client.get(f"/survey/items/{number}").text
    data = {"csrf_token": csrf(page), "action": action, **extra}
    for key, value in values.items():
        data[f"{key}__answer"] = value
    return client.post(f"/survey/items/{number}", data=data)


def test_item_page_saves_resumes_and_reviews(session, expert, client):
    token = csrf(client.get("/survey").text)
    client.post("/survey/consent", data={"consent": "yes", "csrf_token": token})
    page = client.get("/survey/items/1")
    assert "Item 1 of 3" in page.text and "0 of 9 answers" in page.text
    saved = _answer(
        client,
        1,
        {"sensitivity": "4", "misuse": "cant_judge", "tier": "2"},
        sensitivity__confidence="high",
        sensitivity__rationale=HOSTILE,
        share_rationale="yes",
    )
    assert saved.status_code == 303 and saved.headers["location"] == "/survey/items/2"
    again = client.get("/survey/items/1").text
    assert (
        'id="sensitivity__4" name="sensitivity__answer" value="4"\n               checked' in again
    )
    assert 'value="cant_judge" checked' in again
    assert "<script>alert(1)</script>" not in again
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in again and "🙂" in again and "שלום" in again
    stored = session.exec(select(Rating).where(Rating.dimension_key == "sensitivity")).one()
    assert stored.rationale == HOSTILE and stored.share_rationale is True
    assert stored.confidence == "high"
    misuse = session.exec(select(Rating).where(Rating.dimension_key == "misuse")).one()
    assert (misuse.status, misuse.value) == ("cant_judge", None)
    review = client.get("/survey/review").text
    assert "Still missing" in review and "Evaluation results" in review
    assert "3 of 9 answers" in review


def test_a_note_without_an_answer_is_refused_and_kept(expert, client):
    reply = _answer(client, 1, {}, sensitivity__rationale="my careful reasoning")
    assert reply.status_code == 422
    assert "Choose a level" in reply.text and "my careful reasoning" in reply.text


def test_resume_on_another_device_with_the_same_link(session, expert, client, app):
    from fastapi.testclient import TestClient

    _answer(client, 1, {"sensitivity": "2"})
    with TestClient(app, follow_redirects=False) as other:
        other.get(f"/i/{expert['issued'][0].token}")
        page = other.get("/survey/items/1").text
        assert 'value="2"\n               checked' in page


def test_submit_locks_and_thanks(session, expert, client):
    token = csrf(client.get("/survey").text)
    client.post("/survey/consent", data={"consent": "yes", "csrf_token": token})
    for number in (1, 2, 3):
        _answer(
            client,
            number,
            {"sensitivity": "outside_expertise", "misuse": "cant_judge", "tier": "0"},
        )
    review = client.get("/survey/review").text
    assert "Every question has an answer" in review
    done = client.post("/survey/submit", data={"csrf_token": csrf(review)})
    assert done.headers["location"] == "/survey/thanks"
    assert "Thank you" in client.get("/survey/thanks").text
    page = client.get("/survey/items/1").text
    assert "disabled" in page and "can no longer be changed" in page
    late = _answer(client, 1, {"sensitivity": "5"})
    assert late.status_code == 409 and "submitted" in late.text
    assert client.post("/survey/submit", data={"csrf_token": csrf(review)}).status_code == 409


def test_no_such_item_is_404(expert, client):
    reply = client.get("/survey/items/99")
    assert reply.status_code == 404 and "items 1 to 3" in reply.text


def test_pages_need_a_session(client):
    assert client.get("/survey").status_code == 401
    assert client.get("/admin").headers["location"] == "/login"


# --- admin console ---------------------------------------------------------------------------


def _sign_in(client, email="admin@example.org"):
    sign_in_page(client, email)
    return client.get("/admin")


def test_login_form_needs_its_csrf_token_and_the_right_password(session, client):
    make_user(session)
    client.get("/login")
    assert (
        client.post(
            "/login",
            data={"email": "admin@example.org", "password": PASSWORD, "csrf_token": "forged"},
        ).status_code
        == 403
    )
    page = client.get("/login")
    wrong = client.post(
        "/login",
        data={"email": "admin@example.org", "password": "nope" * 3, "csrf_token": csrf(page.text)},
    )
    assert wrong.status_code == 401 and "wrong e-mail or password" in wrong.text


def test_admin_runs_a_round_from_the_pages(session, client):
    make_user(session)
    round_ = make_round(session, status="draft", name='Round <b>"1"</b>')
    home = _sign_in(client)
    assert "&lt;b&gt;" in home.text and "<b>" not in home.text.split("<main")[1]
    page = client.get(f"/admin/rounds/{round_.id}").text
    opened = client.post(f"/admin/rounds/{round_.id}/open", data={"csrf_token": csrf(page)})
    assert opened.status_code == 303
    page = client.get(f"/admin/rounds/{round_.id}").text
    invited = client.post(
        f"/admin/rounds/{round_.id}/invite",
        data={
            "csrf_token": csrf(page),
            "csv": "name,email,organisation\nAda <i>L</i>,ada@example.org,=cmd()\n",
        },
    )
    assert invited.status_code == 200
    assert "shown only now" in invited.text and "Ada &lt;i&gt;L&lt;/i&gt;" in invited.text
    link = re.search(r'value="(http://testserver/i/[^"]+)"', invited.text).group(1)
    assert "data:text/csv;base64," in invited.text
    page = client.get(f"/admin/rounds/{round_.id}").text
    assert "ada@example.org" in page and "1</strong> invited" in page
    page = client.get(f"/admin/rounds/{round_.id}").text
    deadline = client.post(
        f"/admin/rounds/{round_.id}/deadline",
        data={"csrf_token": csrf(page), "closes_at": "2099-05-01T17:30"},
    )
    assert deadline.status_code == 303
    assert 'value="2099-05-01T17:30"' in client.get(f"/admin/rounds/{round_.id}").text
    bad = client.post(
        f"/admin/rounds/{round_.id}/deadline", data={"csrf_token": csrf(page), "closes_at": "soon"}
    )
    assert bad.status_code == 422 and "closing time" in bad.text
    export = client.get(f"/admin/rounds/{round_.id}/export.csv")
    assert export.status_code == 200 and export.text.startswith("round_id,survey,")
    assert link.startswith("http://testserver/i/")


def test_researchers_see_progress_but_cannot_change_anything(session, client):
    make_user(session, email="res@example.org", role="researcher")
    round_ = make_round(session)
    make_invitations(session, round_, 1)
    _sign_in(client, "res@example.org")
    page = client.get(f"/admin/rounds/{round_.id}").text
    assert "Export ratings" in page and "@example.org" not in page.split("<main")[1]
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    for action in ("close", "open", "invite"):
        reply = client.post(f"/admin/rounds/{round_.id}/{action}", data={"csrf_token": token})
        assert reply.status_code == 403


def test_admin_forms_refuse_missing_csrf(session, client):
    make_user(session)
    round_ = make_round(session, status="draft")
    _sign_in(client)
    assert client.post(f"/admin/rounds/{round_.id}/open", data={}).status_code == 403
    assert client.post("/api/rounds/1/open").status_code == 403  # cookie without header


def test_a_closed_round_is_reopened_from_its_page_unless_a_rubric_rests_on_it(session, client):
    from app.services import rounds, rubrics
    from app.services.demo import simulate_panel

    admin = make_user(session)
    round_ = make_round(session)
    simulate_panel(session, round_id=round_.id, n_experts=8, seed=4)
    rounds.close_round(session, round_id=round_.id)
    session.commit()
    _sign_in(client)
    page = client.get(f"/admin/rounds/{round_.id}").text
    assert "Reopen round" in page and "Open round" not in page
    reopened = client.post(f"/admin/rounds/{round_.id}/open", data={"csrf_token": csrf(page)})
    assert reopened.status_code == 303
    assert "Close round" in client.get(f"/admin/rounds/{round_.id}").text

    session.expire_all()
    rounds.close_round(session, round_id=round_.id)
    rubrics.publish_rubric(
        session, round_id=round_.id, publisher=admin, justification="test", n_bootstrap=20
    )
    session.commit()
    # Published: no button that could only fail; the page says why instead.
    page = client.get(f"/admin/rounds/{round_.id}").text
    assert "Reopen round" not in page and "Open round" not in page
    assert "cannot be re-opened: its calibration was published as rubric small v1" in page
    french = client.get(f"/admin/rounds/{round_.id}", headers={"Accept-Language": "fr"}).text
    assert "Rouvrir le tour" not in french and "ne peut pas être rouvert" in french
