"""The JSON API: roles, validation, state conflicts, isolation between experts."""

from __future__ import annotations

import csv
import io
import threading

import pytest
from sqlmodel import select

from app.models import Invitation, Rating, RatingChange, Response
from tests.factories import (
    bearer,
    full_ratings,
    login,
    make_invitations,
    make_round,
    make_user,
    survey_yaml,
)


@pytest.fixture
def admin(session, client):
    make_user(session)
    return login(client)


@pytest.fixture
def researcher(session, client):
    make_user(session, email="res@example.org", role="researcher")
    return login(client, "res@example.org")


@pytest.fixture
def open_round(session):
    return make_round(session)


# --- roles on every route ----------------------------------------------------------------

PUBLIC = {("POST", "/api/auth/login")}
EXPERT_ONLY = "/api/expert/"
ADMIN_ONLY = {
    ("POST", "/api/surveys"),
    ("POST", "/api/rounds"),
    ("POST", "/api/rounds/{round_id}/open"),
    ("POST", "/api/rounds/{round_id}/close"),
    ("GET", "/api/rounds/{round_id}/invitations"),
    ("POST", "/api/rounds/{round_id}/invitations"),
    ("POST", "/api/rounds/{round_id}/invitations.csv"),
    ("POST", "/api/invitations/{invitation_id}/revoke"),
    ("POST", "/api/invitations/{invitation_id}/reissue"),
    ("POST", "/api/rounds/{round_id}/responses/{expert_code}/reopen"),
    ("POST", "/api/rounds/{round_id}/next"),
    ("PATCH", "/api/rounds/{round_id}"),
    ("PUT", "/api/rounds/{round_id}/schedule"),
    ("POST", "/api/rounds/{round_id}/publish"),
    ("POST", "/api/rounds/{round_id}/remind"),
    ("GET", "/api/rounds/{round_id}/mail"),
    ("GET", "/api/rounds/{round_id}/mail/preview"),
    ("GET", "/api/users"),
    ("POST", "/api/users"),
    ("PATCH", "/api/users/{user_id}"),
    ("POST", "/api/users/{user_id}/password-reset"),
    ("GET", "/api/audit"),
    ("POST", "/api/surveys/{slug}/observations"),
    ("POST", "/api/reviews/{review_id}/close"),
    ("POST", "/api/reviews/{review_id}/round"),
    ("GET", "/api/webhooks"),
    ("POST", "/api/webhooks"),
    ("POST", "/api/webhooks/{subscription_id}/deactivate"),
    ("DELETE", "/api/webhooks/{subscription_id}"),
    ("GET", "/api/webhooks/deliveries"),
}
# Researchers may calibrate (it stores nothing) but not publish; everyone sets their password.
STAFF_WRITES = {
    ("POST", "/api/rounds/{round_id}/calibration"),
    ("POST", "/api/account/password"),
    ("PUT", "/api/account/language"),
}


def _api_routes(app):
    for path, operations in app.openapi()["paths"].items():
        if not path.startswith("/api/"):
            continue  # the public rubric pages need no sign-in
        for method in operations:
            yield method.upper(), path


def _fill(path):
    return (
        path.replace("{round_id}", "1")
        .replace("{invitation_id}", "1")
        .replace("{expert_code}", "E-AAAAAA")
        .replace("{slug}", "small")
        .replace("{number}", "1")
        .replace("{user_id}", "1")
        .replace("{subscription_id}", "1")
    )


def test_every_api_route_refuses_anonymous_callers(client, app):
    routes = [r for r in _api_routes(app) if r not in PUBLIC]
    assert len(routes) >= 20
    for method, path in routes:
        reply = client.request(method, _fill(path))
        assert reply.status_code == 401, (method, path, reply.status_code)
        assert reply.json()["detail"]


def test_researchers_cannot_use_admin_routes(client, app, researcher):
    for method, path in _api_routes(app):
        if (method, path) in ADMIN_ONLY:
            reply = client.request(method, _fill(path), headers=researcher)
            assert reply.status_code == 403, (method, path)
            assert "admin" in reply.json()["detail"]


def test_admin_only_set_is_complete(app):
    # Every state-changing staff route must be listed as admin-only above (or be expert/auth).
    for method, path in _api_routes(app):
        if method != "GET" and not path.startswith(EXPERT_ONLY) and "/auth/" not in path:
            assert (method, path) in ADMIN_ONLY | STAFF_WRITES, (method, path)


def test_staff_tokens_do_not_open_the_expert_api(client, admin):
    assert client.get("/api/expert/response", headers=admin).status_code == 401


def test_expert_tokens_do_not_open_staff_routes(session, client, open_round):
    issued = make_invitations(session, open_round, 1)[0]
    assert client.get("/api/rounds", headers=bearer(issued)).status_code == 401


def test_login_with_wrong_password_is_401_without_saying_which_part(session, client):
    make_user(session)
    for email in ("admin@example.org", "nobody@example.org"):
        reply = client.post("/api/auth/login", json={"email": email, "password": "x" * 12})
        assert reply.status_code == 401
        assert reply.json()["detail"] == "wrong e-mail or password"


def test_logout_ends_the_token(client, admin):
    assert client.get("/api/me", headers=admin).status_code == 200
    assert client.post("/api/auth/logout", headers=admin).status_code == 204
    assert client.get("/api/me", headers=admin).status_code == 401


# --- surveys and rounds -------------------------------------------------------------------


def test_load_survey_versions_and_refuse_bad_files(client, admin):
    first = client.post(
        "/api/surveys", headers=admin, json={"filename": "small.yaml", "content": survey_yaml()}
    )
    assert first.status_code == 201 and first.json()["number"] == 1
    same = client.post(
        "/api/surveys", headers=admin, json={"filename": "small.yaml", "content": survey_yaml()}
    )
    assert same.status_code == 200 and same.json()["created"] is False
    changed = client.post(
        "/api/surveys",
        headers=admin,
        json={"filename": "small.yaml", "content": survey_yaml(title="New")},
    )
    assert changed.status_code == 201 and changed.json()["number"] == 2
    bad = client.post(
        "/api/surveys",
        headers=admin,
        json={"filename": "bad.yaml", "content": "slug: x\nversion: 1\n"},
    )
    assert bad.status_code == 422
    assert bad.json()["detail"].startswith("bad.yaml:")
    listing = client.get("/api/surveys", headers=admin).json()
    assert [(v["slug"], v["number"]) for v in listing] == [("small", 2), ("small", 1)]


def test_round_lifecycle(client, admin):
    client.post(
        "/api/surveys", headers=admin, json={"filename": "s.yaml", "content": survey_yaml()}
    )
    created = client.post("/api/rounds", headers=admin, json={"survey": "small", "name": "R1"})
    assert created.status_code == 201
    round_id = created.json()["id"]
    assert created.json()["status"] == "draft" and created.json()["criteria"] is None
    opened = client.post(f"/api/rounds/{round_id}/open", headers=admin).json()
    assert opened["status"] == "open"
    assert opened["criteria"]["consensus"]["max_iqr"] == 1.0
    again = client.post(f"/api/rounds/{round_id}/open", headers=admin)
    assert again.status_code == 409 and "already open" in again.json()["detail"]
    assert client.post(f"/api/rounds/{round_id}/close", headers=admin).json()["status"] == "closed"
    assert client.post(f"/api/rounds/{round_id}/close", headers=admin).status_code == 409
    later = client.patch(
        f"/api/rounds/{round_id}", headers=admin, json={"closes_at": "2099-01-01T00:00:00Z"}
    )
    assert later.status_code == 409 and "closed" in later.json()["detail"]
    missing = client.post("/api/rounds", headers=admin, json={"survey": "nope", "name": "R"})
    assert missing.status_code == 404 and "nope" in missing.json()["detail"]
    extra = client.post("/api/rounds", headers=admin, json={"survey": "small", "name": "R", "x": 1})
    assert extra.status_code == 422 and extra.json()["field"] == "x"


# --- invitations ----------------------------------------------------------------------------


def test_invite_by_csv_returns_links_once_and_stores_only_hashes(
    session, client, admin, open_round
):
    body = "name,email,organisation\nAda,ada@example.org,UK AISI\nBo,bo@example.org,US CAISI\n"
    reply = client.post(
        f"/api/rounds/{open_round.id}/invitations.csv",
        headers=admin,
        content=body.encode(),
        params={},
    )
    assert reply.status_code == 201, reply.text
    links = reply.json()
    assert [link["email"] for link in links] == ["ada@example.org", "bo@example.org"]
    tokens = [link["url"].rsplit("/", 1)[1] for link in links]
    stored = session.exec(select(Invitation.token_hash)).all()
    assert all(len(h) == 64 for h in stored)
    assert not set(tokens) & set(stored)
    listed = client.get(f"/api/rounds/{open_round.id}/invitations", headers=admin).json()
    assert all("token" not in str(row) and tokens[0] not in str(row) for row in listed)
    twice = client.post(
        f"/api/rounds/{open_round.id}/invitations.csv", headers=admin, content=body.encode()
    )
    assert twice.status_code == 409 and "ada@example.org" in twice.json()["detail"]


def test_bad_invitation_csv_names_the_line(client, admin, open_round):
    body = "name,email,organisation\nAda,ada@example.org,X\nBo,not-an-email,Y\n"
    reply = client.post(
        f"/api/rounds/{open_round.id}/invitations.csv", headers=admin, content=body.encode()
    )
    assert reply.status_code == 422
    assert reply.json()["detail"].startswith("request body:3: email:")


def test_unknown_revoked_and_malformed_tokens_look_the_same(session, client, admin, open_round):
    issued = make_invitations(session, open_round, 2)
    client.post(f"/api/invitations/{issued[0].invitation_id}/revoke", headers=admin)
    answers = []
    for token in (issued[0].token, "A" * 43, "short", "x" * 500, issued[1].token[:-1] + "!"):
        page = client.get(f"/i/{token}")
        api = client.get("/api/expert/response", headers={"Authorization": f"Bearer {token}"})
        answers.append(
            (page.status_code, page.text.count("not valid"), api.status_code, api.json())
        )
    assert all(a == answers[0] for a in answers)
    assert answers[0][0] == 404
    assert client.get(f"/i/{issued[1].token}").status_code == 303


def test_revoking_ends_existing_sessions(session, client, admin, open_round):
    issued = make_invitations(session, open_round, 1)[0]
    assert client.get(f"/i/{issued.token}").status_code == 303
    assert client.get("/survey").status_code == 200
    client.post(f"/api/invitations/{issued.invitation_id}/revoke", headers=admin)
    assert client.get("/survey").status_code == 401


def test_reissue_replaces_the_link(session, client, admin, open_round):
    issued = make_invitations(session, open_round, 1)[0]
    new = client.post(f"/api/invitations/{issued.invitation_id}/reissue", headers=admin).json()
    assert client.get(f"/i/{issued.token}").status_code == 404
    assert client.get(new["url"].replace("http://testserver", "")).status_code == 303
    assert new["expert_code"] == issued.expert_code


# --- the expert API ------------------------------------------------------------------------


def test_expert_saves_resumes_and_submits(session, client, open_round):
    issued = make_invitations(session, open_round, 1)[0]
    headers = bearer(issued)
    survey = client.get("/api/expert/survey", headers=headers).json()
    assert survey["survey"]["slug"] == "small"
    assert client.post("/api/expert/consent", headers=headers).status_code == 200
    first = client.put(
        "/api/expert/ratings",
        headers=headers,
        json={
            "ratings": [
                {
                    "item": "weights",
                    "dimension": "sensitivity",
                    "value": 5,
                    "confidence": "high",
                    "rationale": "core IP",
                },
                {"item": "weights", "dimension": "misuse", "status": "cant_judge"},
            ]
        },
    )
    assert first.status_code == 200, first.text
    state = client.get("/api/expert/response", headers=headers).json()
    assert state["answered"] == 2 and state["expected"] == 9
    assert {"item": "evals", "dimension": "tier"} in state["missing"]
    misuse = next(r for r in state["ratings"] if r["dimension"] == "misuse")
    assert misuse["status"] == "cant_judge" and misuse["value"] is None
    client.put("/api/expert/ratings", headers=headers, json={"ratings": full_ratings(4)})
    done = client.post("/api/expert/submit", headers=headers).json()
    assert done["status"] == "submitted" and done["missing"] == []
    history = session.exec(
        select(RatingChange).where(
            RatingChange.item_key == "weights", RatingChange.dimension_key == "sensitivity"
        )
    ).all()
    assert [(h.revision, h.value) for h in history] == [(1, 5), (2, 4)]


@pytest.mark.parametrize(
    ("rating", "field", "words"),
    [
        (
            {"item": "weights", "dimension": "sensitivity", "value": 6},
            "ratings[1].value",
            "off the scale",
        ),
        (
            {"item": "weights", "dimension": "sensitivity", "value": 0},
            "ratings[1].value",
            "off the scale",
        ),
        (
            {"item": "nope", "dimension": "sensitivity", "value": 3},
            "ratings[1].item",
            "unknown item",
        ),
        (
            {"item": "weights", "dimension": "nope", "value": 3},
            "ratings[1].dimension",
            "unknown dimension",
        ),
        (
            {"item": "weights", "dimension": "sensitivity", "value": "three"},
            "ratings[1].value",
            "integer",
        ),
        (
            {"item": "weights", "dimension": "sensitivity", "value": 2.5},
            "ratings[1].value",
            "integer",
        ),
        ({"item": "weights", "dimension": "sensitivity"}, "ratings[1].value", "required"),
        (
            {"item": "weights", "dimension": "sensitivity", "status": "cant_judge", "value": 3},
            "ratings[1].value",
            "no value",
        ),
        (
            {"item": "weights", "dimension": "misuse", "status": "outside_expertise"},
            "ratings[1].status",
            "does not allow",
        ),
        ({"item": "weights", "dimension": "tier", "value": 3}, "ratings[1].value", "off the scale"),
        (
            {"item": "weights", "dimension": "sensitivity", "value": 3, "confidence": "sure"},
            "ratings[1].confidence",
            "low",
        ),
        (
            {"item": "weights", "dimension": "sensitivity", "value": 3, "extra": 1},
            "ratings[1].extra",
            "not permitted",
        ),
    ],
)
def test_bad_ratings_are_422_naming_the_field_and_store_nothing(
    session, client, open_round, rating, field, words
):
    issued = make_invitations(session, open_round, 1)[0]
    good = {"item": "methods", "dimension": "sensitivity", "value": 2}
    reply = client.put(
        "/api/expert/ratings", headers=bearer(issued), json={"ratings": [good, rating]}
    )
    assert reply.status_code == 422, reply.text
    assert reply.json()["field"] == field
    assert words in reply.json()["detail"]
    assert session.exec(select(Rating)).all() == []
    assert session.exec(select(RatingChange)).all() == []


def test_closing_time_can_be_set_and_cleared(session, client, admin, open_round):
    url = f"/api/rounds/{open_round.id}"
    set_ = client.patch(url, headers=admin, json={"closes_at": "2099-01-01T12:00:00Z"})
    assert set_.status_code == 200 and set_.json()["closes_at"].startswith("2099-01-01T12:00")
    past = client.patch(url, headers=admin, json={"closes_at": "2001-01-01T00:00:00Z"})
    assert past.status_code == 422 and past.json()["field"] == "closes_at"
    cleared = client.patch(url, headers=admin, json={"closes_at": None})
    assert cleared.json()["closes_at"] is None
    assert client.patch(url, headers=admin, json={}).status_code == 422


def test_writes_to_a_closed_round_or_submitted_response_are_409(session, client, admin, open_round):
    issued = make_invitations(session, open_round, 2)
    a, b = bearer(issued[0]), bearer(issued[1])
    client.post("/api/expert/consent", headers=a)
    client.put("/api/expert/ratings", headers=a, json={"ratings": full_ratings()})
    client.post("/api/expert/submit", headers=a)
    locked = client.put("/api/expert/ratings", headers=a, json={"ratings": full_ratings(1)})
    assert locked.status_code == 409 and "submitted" in locked.json()["detail"]
    assert client.post("/api/expert/submit", headers=a).status_code == 409
    reopened = client.post(
        f"/api/rounds/{open_round.id}/responses/{issued[0].expert_code}/reopen", headers=admin
    )
    assert reopened.status_code == 200 and reopened.json()["status"] == "draft"
    assert (
        client.put("/api/expert/ratings", headers=a, json={"ratings": full_ratings(2)}).status_code
        == 200
    )
    client.post(f"/api/rounds/{open_round.id}/close", headers=admin)
    closed = client.put("/api/expert/ratings", headers=b, json={"ratings": full_ratings()})
    assert closed.status_code == 409 and "closed" in closed.json()["detail"]
    stored = session.exec(
        select(Rating.value).where(Rating.item_key == "weights", Rating.dimension_key == "misuse")
    ).all()
    assert stored == [2]


def test_an_expert_never_sees_another_experts_answers(session, client, open_round):
    issued = make_invitations(session, open_round, 2)
    a, b = bearer(issued[0]), bearer(issued[1])
    client.put(
        "/api/expert/ratings",
        headers=a,
        json={
            "ratings": [
                {"item": "weights", "dimension": "sensitivity", "value": 5, "rationale": "secret-a"}
            ]
        },
    )
    seen_by_b = client.get("/api/expert/response", headers=b).json()
    assert seen_by_b["ratings"] == [] and seen_by_b["expert_code"] == issued[1].expert_code
    assert "secret-a" not in client.get("/api/expert/survey", headers=b).text
    # B's save touches only B's response.
    client.put(
        "/api/expert/ratings",
        headers=b,
        json={"ratings": [{"item": "weights", "dimension": "sensitivity", "value": 1}]},
    )
    values = sorted(session.exec(select(Rating.value)).all())
    assert values == [1, 5]


def test_simultaneous_submits_make_exactly_one_submission(session, client, open_round, app):
    issued = make_invitations(session, open_round, 1)[0]
    headers = bearer(issued)
    client.post("/api/expert/consent", headers=headers)
    client.put("/api/expert/ratings", headers=headers, json={"ratings": full_ratings()})
    barrier = threading.Barrier(6)
    codes: list[int] = []

    def submit() -> None:
        from fastapi.testclient import TestClient

        with TestClient(app) as own:
            barrier.wait()
            codes.append(own.post("/api/expert/submit", headers=headers).status_code)

    threads = [threading.Thread(target=submit) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(codes) == [200, 409, 409, 409, 409, 409]
    assert len(session.exec(select(Response)).all()) == 1
    assert len(session.exec(select(Rating)).all()) == 9


def test_simultaneous_saves_never_duplicate_a_rating(session, app, open_round):
    issued = make_invitations(session, open_round, 1)[0]
    headers = bearer(issued)
    barrier = threading.Barrier(5)
    codes: list[int] = []

    def save(value: int) -> None:
        from fastapi.testclient import TestClient

        with TestClient(app) as own:
            barrier.wait()
            codes.append(
                own.put(
                    "/api/expert/ratings", headers=headers, json={"ratings": full_ratings(value)}
                ).status_code
            )

    threads = [threading.Thread(target=save, args=(v,)) for v in range(1, 6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert codes == [200] * 5
    assert len(session.exec(select(Rating)).all()) == 9
    # The tier answers are the same in every save, so only the first one records them.
    assert len(session.exec(select(RatingChange)).all()) == 9 + 4 * 6
    revisions = session.exec(select(Rating.dimension_key, Rating.revision)).all()
    assert sorted(set(revisions)) == [("misuse", 5), ("sensitivity", 5), ("tier", 1)]


# --- limits and exports ----------------------------------------------------------------------


def test_bodies_over_one_mebibyte_are_413(session, client, admin, open_round):
    big = "x" * (1024 * 1024 + 10)
    reply = client.post("/api/surveys", headers=admin, json={"filename": "a", "content": big})
    assert reply.status_code == 413
    assert "too large" in reply.json()["detail"]

    def chunks():
        for _ in range(20):
            yield b"y" * 65536

    chunked = client.post(
        f"/api/rounds/{open_round.id}/invitations.csv", headers=admin, content=chunks()
    )
    assert chunked.status_code == 413


def test_progress_and_export(session, client, admin, researcher, open_round):
    issued = make_invitations(session, open_round, 3)
    a = bearer(issued[0])
    client.post("/api/expert/consent", headers=a)
    rows = full_ratings(3)
    rows[0]["rationale"] = '=HYPERLINK("http://evil.example","click")'
    rows[1]["rationale"] = 'ok, "quoted"\nnew line'
    client.put("/api/expert/ratings", headers=a, json={"ratings": rows})
    client.post("/api/expert/submit", headers=a)
    client.put("/api/expert/ratings", headers=bearer(issued[1]), json={"ratings": rows[:2]})
    progress = client.get(f"/api/rounds/{open_round.id}/progress", headers=researcher).json()
    assert (progress["invited"], progress["started"], progress["submitted"]) == (3, 2, 1)
    assert "Expert" not in str(progress)  # codes only, no names
    reply = client.get(f"/api/rounds/{open_round.id}/export.csv", headers=researcher)
    assert reply.status_code == 200 and reply.headers["content-type"].startswith("text/csv")
    table = list(csv.DictReader(io.StringIO(reply.text)))
    assert len(table) == 9 and {r["rater"] for r in table} == {issued[0].expert_code}
    assert "Expert" not in reply.text and "@example.org" not in reply.text
    by_cell = {(r["item"], r["dimension"]): r for r in table}
    assert by_cell[("weights", "sensitivity")]["rationale"].startswith("'=HYPERLINK")
    assert by_cell[("weights", "misuse")]["rationale"] == 'ok, "quoted"\nnew line'
    drafts = client.get(
        f"/api/rounds/{open_round.id}/export.csv?include_drafts=true", headers=researcher
    )
    assert len(list(csv.DictReader(io.StringIO(drafts.text)))) == 11


def test_openapi_documents_examples(client):
    spec = client.get("/openapi.json").json()
    rating = spec["components"]["schemas"]["RatingInput"]
    assert rating["properties"]["item"]["examples"] == ["model_weights"]
    assert "/api/expert/ratings" in spec["paths"]
