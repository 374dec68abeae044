"""Rubrics that stay true as the world changes: survey files declare context factors, a
published version records what it assumed, observations and review dates fire triggers
that put the version "under review" publicly (page and JSON) with the reason, and a round
on only the affected items is one step away; through the API, the CLI and the pages."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlmodel import col, select

from app.models import AuditEntry, RubricEvent, RubricReview, RubricVersion
from app.services import reviews
from app.services.demo import simulate_panel
from app.survey_files import SurveyFileError, parse_survey_text
from tests.factories import login, make_round, make_user, sign_in_page, survey_yaml

TODAY = datetime.now(UTC).date().isoformat()

#: A survey whose factors have every type, an indicator on a number and one on a choice;
#: "weights" depends on "powers", the whole rubric on "members".
FACTORS = {
    "whole_rubric": ["members"],
    "factors": [
        {
            "key": "access",
            "label": "Voluntary access",
            "question": "How much access is voluntary?",
            "type": "choice",
            "options": {"low": "Little", "high": "Almost all"},
            "volatility": "high",
        },
        {
            "key": "members",
            "label": "Network members",
            "question": "How many members?",
            "type": "number",
            "unit": "institutes",
        },
        {
            "key": "refusals",
            "label": "Companies refusing",
            "question": "How many refused?",
            "type": "number",
            "indicator": {"above": 0, "signals": "proprietary categories are overshared"},
        },
        {
            "key": "powers",
            "label": "Legal powers",
            "question": "Which powers?",
            "type": "text",
            "volatility": "low",
        },
        {"key": "summit", "label": "Next summit", "question": "When?", "type": "date"},
    ],
}
ITEMS = [
    {"key": "weights", "label": "Model weights", "description": "W.", "factors": ["powers"]},
    {"key": "evals", "label": "Evaluation results", "description": "R.", "parent": "ev"},
    {"key": "methods", "label": "Evaluation methods", "description": "M.", "parent": "ev"},
]
DECISIONS = {
    "no_brainer": {"label": "Share by default"},
    "gray_area": {"label": "Decide case by case"},
    "high_trust": {"label": "Bilateral only"},
}
CONTEXT = {"access": "high", "members": 10, "refusals": 0, "powers": "none", "summit": "2027-02-01"}


def _survey(**overrides):
    fields = {
        "context": FACTORS,
        "items": ITEMS,
        "categories": [{"key": "ev", "label": "Evaluation"}],
        "decisions": DECISIONS,
    }
    return survey_yaml(**{**fields, **overrides})


@pytest.fixture
def admin(session, client):
    make_user(session)
    return login(client)


@pytest.fixture
def published(session, client, admin):
    """v1 of a survey with every kind of factor, published with all assumptions stated."""
    loaded = client.post(
        "/api/surveys", headers=admin, json={"filename": "ctx.yaml", "content": _survey()}
    )
    assert loaded.status_code == 201, loaded.text
    round_ = make_round(session)
    simulate_panel(session, round_id=round_.id, n_experts=8, seed=3)
    session.commit()
    assert client.post(f"/api/rounds/{round_.id}/close", headers=admin).status_code == 200
    body = {"context": CONTEXT, "justification": "pilot", "n_bootstrap": 100}
    done = client.post(f"/api/rounds/{round_.id}/publish", headers=admin, json=body)
    assert done.status_code == 201, done.text
    return round_


def _observe(client, admin, factor, value, **extra):
    body = {"factor": factor, "value": value, "observed_on": TODAY, **extra}
    return client.post("/api/surveys/small/observations", headers=admin, json=body)


# --- the survey file ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"items": [{**ITEMS[0], "factors": ["nope"]}]}, "names factor 'nope'"),
        ({"items": [{**ITEMS[1], "parent": "nowhere"}]}, "names category 'nowhere'"),
        ({"decisions": {"no_brainer": {"label": "x"}}}, "decisions are missing for tiers"),
    ],
)
def test_a_survey_file_naming_what_it_does_not_declare_is_refused_with_the_line(change, message):
    text = _survey(**change)
    with pytest.raises(SurveyFileError) as caught:
        parse_survey_text(text, filename="ctx.yaml")
    problem = caught.value.errors[0]
    assert problem.file == "ctx.yaml" and problem.line is not None and message in problem.message


def test_factor_declarations_are_checked_against_their_type():
    bad = {
        "factors": [
            {"key": "a", "label": "A", "question": "Q?", "type": "choice"},
            {
                "key": "b",
                "label": "B",
                "question": "Q?",
                "type": "choice",
                "options": {"x": "X"},
                "indicator": {"values": ["y"], "signals": "s"},
            },
        ]
    }
    with pytest.raises(SurveyFileError) as caught:
        parse_survey_text(survey_yaml(context=bad), filename="f.yaml")
    text = str(caught.value)
    assert "list its `options`" in text and "indicator values ['y'] are not options" in text


def test_the_shipped_surveys_declare_their_own_factors_and_decisions():
    from app.survey_files import builtin_surveys_dir, load_survey_file

    sharing = load_survey_file(builtin_surveys_dir() / "aisi-information-sharing.yaml")
    cooperation = load_survey_file(builtin_surveys_dir() / "ai-safety-cooperation.yaml")
    assert {"company_relations", "legal_powers", "partners_disengaged"} <= {
        f.key for f in sharing.context.factors
    }
    assert {d.label for d in sharing.decisions.values()} == {
        "Share by default",
        "Decide case by case",
        "Bilateral only",
    }
    assert sharing.affected_items("legal_powers") == [
        "model_weights",
        "algorithmic_details",
        "incident_information",
    ]
    assert len(sharing.affected_items("network_members")) == len(sharing.items)
    assert {f.key for f in cooperation.context.factors}.isdisjoint(
        f.key for f in sharing.context.factors
    )
    assert len(cooperation.decisions) == len(cooperation.tiers)


# --- publishing records the assumptions ----------------------------------------------------


def test_the_published_record_keeps_each_assumption_decision_and_category(client, published):
    document = client.get("/rubrics/small/v1.json").json()
    record = document["record"]
    assert record["context"] == {
        "access": "high",
        "members": 10.0,
        "refusals": 0.0,
        "powers": "none",
        "summit": "2027-02-01",
    }
    assert [f["key"] for f in record["context_factors"]] == [f["key"] for f in FACTORS["factors"]]
    assert record["context_factors"][0]["review_every_days"] == 90  # high volatility
    assert all(i["decision"] in {d["label"] for d in DECISIONS.values()} for i in record["items"])
    (category,) = record["categories"]
    tiers = [t["key"] for t in record["tiers"]]
    members = [i for i in record["items"] if i["parent"] == "ev"]
    assert category["tier"] == max((i["tier"] for i in members), key=tiers.index)
    assert document["status"] == {"state": "current", "superseded_by": None, "reviews": []}
    page = client.get("/rubrics/small/v1").text
    assert "Current." in page and "Almost all" in page and "10 institutes" in page
    assert "Bilateral only" in page or "Share by default" in page or "Decide case" in page


@pytest.mark.parametrize(
    ("context", "field"),
    [
        ({"access": "sometimes"}, "context.access"),
        ({"members": "ten"}, "context.members"),
        ({"summit": "next spring"}, "context.summit"),
        ({"company_relations": "x"}, "context"),
    ],
)
def test_an_assumption_that_does_not_fit_its_factor_is_refused(
    session, client, admin, context, field
):
    client.post("/api/surveys", headers=admin, json={"filename": "c.yaml", "content": _survey()})
    round_ = make_round(session)
    simulate_panel(session, round_id=round_.id, n_experts=4, seed=1)
    session.commit()
    client.post(f"/api/rounds/{round_.id}/close", headers=admin)
    body = {"context": context, "justification": "pilot", "n_bootstrap": 100}
    refused = client.post(f"/api/rounds/{round_.id}/publish", headers=admin, json=body)
    assert refused.status_code == 422 and refused.json()["field"] == field, refused.text
    assert session.exec(select(RubricVersion)).first() is None


# --- observations fire triggers -----------------------------------------------------------


def test_an_observation_that_contradicts_an_assumption_puts_the_version_under_review(
    session, client, admin, published
):
    source = "https://example.org/news?a=1&b=<2>"
    recorded = _observe(client, admin, "access", "low", source_url=source, note="new MoU")
    assert recorded.status_code == 201, recorded.text
    (review,) = recorded.json()["reviews_opened"]
    assert review["kind"] == "assumption" and review["factor_key"] == "access"
    assert "observed Little" in review["reason"] and "assumed Almost all" in review["reason"]
    assert review["item_keys"] == ["weights", "evals", "methods"]  # no item names it: all

    document = client.get("/rubrics/small/v1.json").json()
    assert document["status"]["state"] == "under_review"
    assert document["status"]["reviews"][0]["reason"] == review["reason"]
    from app.services.rubrics import verify_record

    assert verify_record(document)  # the status sits beside the record, not in it
    client.cookies.clear()
    page = client.get("/rubrics/small/v1").text
    assert "Under review." in page and "observed Little" in page
    assert "a=1&amp;b=&lt;2&gt;" in page  # what staff typed is escaped

    # The same value observed again opens nothing new; a value like the assumption neither.
    assert _observe(client, admin, "access", "low").json()["reviews_opened"] == []
    kinds = [e.kind for e in session.exec(select(RubricEvent).order_by(col(RubricEvent.id)))]
    assert kinds == ["published", "under_review"]


def test_an_indicator_fires_whatever_was_assumed_and_only_for_its_items(client, admin, published):
    assert _observe(client, admin, "refusals", 0).json()["reviews_opened"] == []
    opened = _observe(client, admin, "refusals", 2).json()["reviews_opened"]
    by_kind = {r["kind"]: r for r in opened}
    assert set(by_kind) == {"assumption", "indicator"}  # 0 was assumed, and 2 is a warning
    assert "2 is above 0" in by_kind["indicator"]["reason"]
    assert "overshared" in by_kind["indicator"]["reason"]
    opened = _observe(client, admin, "powers", "statutory").json()["reviews_opened"]
    (changed,) = opened
    assert changed["item_keys"] == ["weights"]


def test_a_review_date_passing_opens_a_review_once(session, published):
    version = session.exec(select(RubricVersion)).one()
    survey_id = version.survey_id
    later = version.published_at + timedelta(days=100)
    opened = reviews.check_survey(session, survey_id=survey_id, now=later, actor="worker")
    assert [r.factor_key for r in opened] == ["access"]  # high volatility: every 90 days
    assert "review was due" in opened[0].reason
    assert reviews.check_survey(session, survey_id=survey_id, now=later, actor="worker") == []
    much_later = version.published_at + timedelta(days=400)
    keys = {
        r.factor_key
        for r in reviews.check_survey(session, survey_id=survey_id, now=much_later, actor="w")
    }
    assert keys == {"members", "refusals", "powers", "summit"}  # access: still the same due date
    session.commit()


def test_the_worker_pass_checks_every_published_survey(session, app, published):
    engine = app.state.engine
    version = session.exec(select(RubricVersion)).one()
    session.commit()
    opened = reviews.check_all(engine, now=version.published_at + timedelta(days=100))
    assert [r.kind for r in opened] == ["review_date"]
    assert reviews.check_all(engine, now=version.published_at + timedelta(days=100)) == []
    actors = session.exec(
        select(AuditEntry.actor).where(AuditEntry.action == "rubric.review_opened")
    ).all()
    assert actors == ["worker"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"factor": "weather", "value": "x"}, "factor"),
        ({"factor": "access", "value": "medium"}, "value"),
        ({"factor": "members", "value": "many"}, "value"),
        ({"factor": "access", "value": ""}, "value"),
        ({"factor": "access", "value": "low", "source_url": "javascript:alert(1)"}, "source_url"),
        (
            {"factor": "access", "value": "low", "observed_on": (date.today() + timedelta(days=9))},
            "observed_on",
        ),
    ],
)
def test_a_bad_observation_is_refused_naming_the_field_and_stores_nothing(
    session, client, admin, published, body, field
):
    body = {"observed_on": TODAY, **body}
    body["observed_on"] = str(body["observed_on"])
    refused = client.post("/api/surveys/small/observations", headers=admin, json=body)
    assert refused.status_code == 422 and refused.json()["field"] == field, refused.text
    assert client.get("/api/surveys/small/observations", headers=admin).json() == []
    assert session.exec(select(RubricReview)).first() is None


def test_only_admins_record_observations_and_close_reviews(session, client, admin, published):
    make_user(session, email="r@example.org", role="researcher")
    researcher = login(client, email="r@example.org")
    assert _observe(client, researcher, "access", "low").status_code == 403
    assert client.get("/api/surveys/small/context", headers=researcher).status_code == 200
    review = _observe(client, admin, "access", "low").json()["reviews_opened"][0]
    closing = {"resolution": "fine"}
    denied = client.post(f"/api/reviews/{review['id']}/close", headers=researcher, json=closing)
    assert denied.status_code == 403
    client.headers.clear()
    client.cookies.clear()
    assert _observe(client, {}, "access", "high").status_code == 401


# --- closing a review, re-rating the affected items ----------------------------------------


def test_a_review_ends_with_a_round_on_the_affected_items_and_a_recorded_resolution(
    session, client, admin, published
):
    (review,) = _observe(client, admin, "powers", "statutory").json()["reviews_opened"]
    started = client.post(f"/api/reviews/{review['id']}/round", headers=admin, json={})
    assert started.status_code == 201, started.text
    round_id = started.json()["id"]
    assert started.json()["status"] == "draft"
    questionnaire = client.get(f"/api/rounds/{round_id}", headers=admin).json()
    assert questionnaire["id"] == round_id
    from app.models import Round

    assert session.get(Round, round_id).item_keys == ["weights"]
    assert client.get(f"/api/reviews/{review['id']}", headers=admin).json()["round_id"] == round_id

    empty = client.post(f"/api/reviews/{review['id']}/close", headers=admin, json={})
    assert empty.status_code == 422
    closed = client.post(
        f"/api/reviews/{review['id']}/close",
        headers=admin,
        json={"resolution": "New powers do not change who may see weights."},
    )
    assert closed.status_code == 200 and closed.json()["closed_at"]
    again = client.post(
        f"/api/reviews/{review['id']}/close", headers=admin, json={"resolution": "x"}
    )
    assert again.status_code == 409
    document = client.get("/rubrics/small/v1.json").json()
    assert document["status"]["state"] == "current"
    assert "New powers do not change" in client.get("/rubrics/small/v1").text
    session.rollback()  # a fresh snapshot of what the app wrote
    kinds = [e.kind for e in session.exec(select(RubricEvent).order_by(col(RubricEvent.id)))]
    assert kinds == ["published", "under_review", "review_closed"]


def test_a_newer_version_supersedes_and_the_diff_shows_the_assumptions(
    session, client, admin, published
):
    _observe(client, admin, "access", "low")
    body = {
        "context": {**CONTEXT, "access": "low"},
        "justification": "after the MoU",
        "n_bootstrap": 100,
    }
    assert client.post(f"/api/rounds/{published.id}/publish", headers=admin, json=body).is_success
    old = client.get("/rubrics/small/v1.json").json()["status"]
    assert old["state"] == "superseded" and old["superseded_by"] == 2
    assert "Superseded" in client.get("/rubrics/small/v1").text
    assert client.get("/rubrics/small/v2.json").json()["status"]["state"] == "current"
    diff = client.get("/rubrics/small/diff/1/2?format=json").json()
    (change,) = diff["context_changes"]
    assert change == {
        "field": "access",
        "label": "Voluntary access",
        "from": "Almost all",
        "to": "Little",
    }


# --- the command line and the admin page ---------------------------------------------------


def test_the_command_line_observes_shows_starts_a_round_and_closes(session, elicit, published):
    assert "rubric v1, current" in elicit("context", "show", "small").output
    observed = elicit("context", "observe", "small", "members", "7", "--source", "https://e.org/x")
    match = re.search(
        r"review (\d+) opened: Network members: observed 7 institutes", observed.output
    )
    assert match, observed.output
    review_id = match.group(1)
    assert "under review" in elicit("context", "show", "small").output
    bad = elicit("context", "observe", "small", "members", "seven", ok=False)
    assert bad.exit_code == 1 and "is not a number" in bad.output
    started = elicit("context", "round", review_id)
    assert "weights, evals, methods" in started.output
    elicit("context", "close", review_id, "--resolution", "checked")
    assert '"state": "current"' in elicit("context", "show", "small", "--json").output
    elicit("context", "check")
    session.rollback()
    actors = session.exec(
        select(AuditEntry.actor).where(col(AuditEntry.action).like("%review%"))
    ).all()
    assert set(actors) == {"cli"}


def test_the_admin_page_records_an_observation_and_starts_the_round(session, client, published):
    sign_in_page(client)
    page = client.get("/admin/surveys/small/context")
    assert page.status_code == 200 and "Voluntary access" in page.text
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
    form = {"csrf_token": csrf, "factor": "access", "value": "sometimes", "observed_on": TODAY}
    refused = client.post("/admin/surveys/small/observations", data=form)
    assert refused.status_code == 422 and "is not one of" in refused.text
    assert 'value="sometimes"' in refused.text  # nothing typed is lost
    form["value"] = "low"
    done = client.post("/admin/surveys/small/observations", data=form)
    assert done.status_code == 303 and done.headers["location"].endswith("opened=1")
    shown = client.get(done.headers["location"]).text
    assert "opened 1 review" in shown and "Start a round on the affected items" in shown
    review_id = re.search(r'action="/admin/reviews/(\d+)/round"', shown).group(1)
    started = client.post(f"/admin/reviews/{review_id}/round", data={"csrf_token": csrf})
    assert started.status_code == 303 and started.headers["location"].startswith("/admin/rounds/")
    no_csrf = client.post(f"/admin/reviews/{review_id}/close", data={"resolution": "x"})
    assert no_csrf.status_code == 403
    closing = {"csrf_token": csrf, "resolution": "Still holds."}
    assert client.post(f"/admin/reviews/{review_id}/close", data=closing).status_code == 303
    assert "No review is open." in client.get("/admin/surveys/small/context").text
