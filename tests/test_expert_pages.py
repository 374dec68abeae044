"""What an expert sees in every state: a returning expert continues first, a later Delphi
round names the earlier answers (tiers by their names) and counts them as what they are,
and a round that is not open yet says so in words."""

from __future__ import annotations

import re

import pytest

from tests.factories import login, make_invitations, make_round, make_user


@pytest.fixture
def admin(session, client):
    make_user(session)
    return login(client)


def _open_link(client, token: str) -> None:
    client.cookies.clear()
    assert client.get(f"/i/{token}").status_code == 303


def _save_item_1(client, **fields: str):
    """Send the first item's form as the page would, with its CSRF token."""
    page = client.get("/survey/items/1").text
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    return client.post("/survey/items/1", data={"csrf_token": csrf, **fields})


def _text(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


def test_a_returning_expert_sees_continue_and_progress_first(session, client):
    round_ = make_round(session)
    link = make_invitations(session, round_, 1)[0]
    headers = {"Authorization": f"Bearer {link.token}"}
    client.post("/api/expert/consent", headers=headers)
    rating = {"item": "weights", "dimension": "sensitivity", "value": 3}
    client.put("/api/expert/ratings", headers=headers, json={"ratings": [rating]})
    _open_link(client, link.token)
    page = client.get("/survey").text
    assert "Welcome back" in page
    # Continue comes before the introduction (which is folded away), with the progress.
    assert page.index("Continue where you left off") < page.index("Rate <em>each</em> item")
    assert "1 of 9 answers" in _text(page)
    assert "<details" in page and "Read the introduction and the rubric again" in page


def test_a_first_visit_shows_the_introduction_and_the_consent(session, client):
    round_ = make_round(session)
    link = make_invitations(session, round_, 1)[0]
    _open_link(client, link.token)
    page = client.get("/survey").text
    assert "Welcome back" not in page
    assert "Rate <em>each</em> item" in page and 'name="consent"' in page


def _second_round(session, client, admin) -> str:
    """Round 1 answered by three experts (tiers included), round 2 open; the first
    expert's round-2 link token."""
    round_ = make_round(session)
    issued = make_invitations(session, round_, 3)
    for n, link in enumerate(issued):
        headers = {"Authorization": f"Bearer {link.token}"}
        client.post("/api/expert/consent", headers=headers)
        ratings = [
            {"item": item, "dimension": dim, "value": 2 + n % 2}
            for item in ("weights", "evals", "methods")
            for dim in ("sensitivity", "misuse")
        ] + [{"item": item, "dimension": "tier", "value": 2} for item in ("weights", "evals")]
        reply = client.put("/api/expert/ratings", headers=headers, json={"ratings": ratings})
        assert reply.status_code == 200, reply.text
        client.post("/api/expert/submit", headers=headers)
    client.post(f"/api/rounds/{round_.id}/close", headers=admin)
    body = client.post(f"/api/rounds/{round_.id}/next", headers=admin, json={}).json()
    client.post(f"/api/rounds/{body['round']['id']}/open", headers=admin)
    return body["invitations"][0]["url"].rsplit("/i/", 1)[1]


def test_a_later_round_names_earlier_tiers_and_counts_carried_answers(session, client, admin):
    token = _second_round(session, client, admin)
    _open_link(client, token)
    item = _text(client.get("/survey/items/1").text)
    # The earlier tier by its name, not its index; a level by its number and text.
    assert "Your answer then: High Trust" in item
    assert "Your answer then: 2 (level 2)" in item
    review = _text(client.get("/survey/review").text)
    assert "Your answers from round 1, to keep or revise" in review
    assert "0 of 9 answers (0%); 8 more shown from your previous round" in review
    # Carried answers are shown as such, not as missing; only the unanswered tier is.
    assert review.count("(round 1, not yet saved)") == 8
    assert review.count("missing") == 2  # "Still missing" heading + the methods tier
    assert re.search(r"Still missing .* Evaluation methods ?: Overall tier", review)
    assert "High Trust (round 1, not yet saved)" in review


def test_saving_an_item_makes_its_carried_answers_count(session, client, admin):
    token = _second_round(session, client, admin)
    _open_link(client, token)
    reply = _save_item_1(
        client, action="stay", sensitivity__answer="2", misuse__answer="2", tier__answer="2"
    )
    assert reply.status_code in (200, 303), reply.text
    review = _text(client.get("/survey/review").text)
    assert "3 of 9 answers" in review and "5 more shown from your previous round" in review


def test_a_round_not_open_yet_says_so(session, client):
    round_ = make_round(session, status="draft")
    link = make_invitations(session, round_, 1)[0]
    _open_link(client, link.token)
    for path in ("/survey", "/survey/items/1", "/survey/review"):
        reply = client.get(path)
        assert reply.status_code == 200 and reply.headers["content-type"].startswith("text/html")
        text = _text(reply.text)
        assert "has not opened yet" in text, path
        assert "can no longer be changed" not in text, path


def test_valid_answers_on_a_page_are_saved_when_another_needs_a_level(session, client):
    from sqlmodel import select

    from app.models import Rating

    round_ = make_round(session)
    link = make_invitations(session, round_, 1)[0]
    _open_link(client, link.token)
    reply = _save_item_1(
        client,
        action="next",
        sensitivity__answer="4",
        sensitivity__rationale="kept and saved",
        misuse__rationale="a note typed before choosing a level",
        misuse__confidence="low",
        tier__answer="1",
    )
    assert reply.status_code == 422
    text = _text(reply.text)
    # Said next to the question that needs a level; the rest saved; every character kept.
    assert 'id="misuse__error"' in reply.text and "Choose a level" in reply.text
    assert "Saved: Sensitivity, Overall tier." in text
    assert "a note typed before choosing a level" in reply.text
    assert 'id="misuse__conf_low" name="misuse__confidence" value="low" checked' in reply.text
    session.rollback()
    stored = {r.dimension_key: (r.value, r.rationale) for r in session.exec(select(Rating)).all()}
    assert stored == {"sensitivity": (4, "kept and saved"), "tier": (1, "")}


def test_the_api_says_a_round_has_not_opened_yet(session, client):
    round_ = make_round(session, status="draft")
    link = make_invitations(session, round_, 1)[0]
    rating = {"item": "weights", "dimension": "sensitivity", "value": 3}
    reply = client.put(
        "/api/expert/ratings",
        headers={"Authorization": f"Bearer {link.token}"},
        json={"ratings": [rating]},
    )
    assert reply.status_code == 409
    assert "has not opened yet" in reply.json()["detail"]
