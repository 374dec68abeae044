"""The panel says, per item, which context factors would change their rating: the survey
file asks it (``context.sensitivity_question``), the item page and the API take the answer,
the report compares it with the dependences the file declares; translations of the factors,
decisions and categories come with the survey file."""

from __future__ import annotations

import copy
import csv
import io
import re

import pytest
import yaml
from sqlmodel import func, select

from app.models import FactorSensitivity
from app.services import privacy, reports
from app.survey_files import (
    SurveyDefinition,
    SurveyFileError,
    builtin_surveys_dir,
    load_survey_file,
    parse_survey_text,
)
from tests.factories import (
    form_token,
    login,
    make_invitations,
    make_round,
    make_survey,
    make_user,
    survey_dict,
)

ASKED = {"question": "Which of these would change your rating?"}


def _asking(**context_overrides):
    context = copy.deepcopy(survey_dict()["context"])
    context["sensitivity_question"] = ASKED
    context.update(context_overrides)
    return {"context": context}


@pytest.fixture
def asked_round(session):
    make_survey(session, **_asking())
    return make_round(session)


def _stored(session) -> int:
    """How many answers are stored now (the test's own read transaction ended first)."""
    session.rollback()
    return session.exec(select(func.count()).select_from(FactorSensitivity)).one()


def _bearer(link):
    return {"Authorization": f"Bearer {link.token}"}


# --- the survey file -----------------------------------------------------------------------


def test_a_survey_that_does_not_ask_keeps_its_digest():
    plain = SurveyDefinition.model_validate(survey_dict())
    assert "sensitivity_question" not in plain.canonical_json()
    asking = SurveyDefinition.model_validate(survey_dict(**_asking()))
    assert asking.content_sha256() != plain.content_sha256()
    assert [f.key for f in asking.factors_offered("weights")] == [
        "company_relations",
        "legal_powers",
    ]
    assert plain.factors_offered("weights") == []


def test_linked_offers_only_the_factors_an_item_depends_on():
    data = survey_dict(**_asking())
    data["context"]["sensitivity_question"] = {**ASKED, "offer": "linked"}
    data["items"][0]["factors"] = ["legal_powers"]
    definition = SurveyDefinition.model_validate(data)
    # legal_powers is named by one item only; company_relations by none: it bears on all.
    assert [f.key for f in definition.factors_offered("weights")] == [
        "company_relations",
        "legal_powers",
    ]
    assert [f.key for f in definition.factors_offered("evals")] == ["company_relations"]


def test_asking_without_factors_is_refused_with_the_line():
    data = survey_dict()
    data["context"] = {"sensitivity_question": ASKED}
    text = yaml.safe_dump(data, sort_keys=False)
    with pytest.raises(SurveyFileError) as caught:
        parse_survey_text(text, filename="ask.yaml")
    message = str(caught.value)
    line = next(i for i, t in enumerate(text.splitlines(), 1) if t.startswith("context:"))
    assert f"ask.yaml:{line}" in message or "ask.yaml:" in message
    assert "sensitivity_question needs context factors" in message


def test_every_context_text_must_be_translated_and_stale_ones_are_named():
    data = survey_dict(**_asking())
    data["decisions"] = {
        "no_brainer": {"label": "Share"},
        "gray_area": {"label": "Decide"},
        "high_trust": {"label": "Bilateral", "description": "Only with close partners."},
    }
    data["languages"] = ["en", "fr"]
    data["translations"] = {"fr": _french_of(data)}
    complete = yaml.safe_dump(data, sort_keys=False, allow_unicode=True)
    definition = parse_survey_text(complete, filename="fr.yaml")
    french = definition.localized("fr")
    assert french.context.factors[1].label == "Pouvoirs légaux"
    assert french.context.sensitivity_question.question == "Lesquels changeraient votre note ?"
    assert french.decisions["high_trust"].description == "Seulement avec des proches."
    assert definition.context.factors[1].label == "Legal powers"  # the source is unchanged

    del data["translations"]["fr"]["context"]["factors"]["legal_powers"]["question"]
    data["translations"]["fr"]["decisions"]["nowhere"] = {"label": "Nulle part"}
    text = yaml.safe_dump(data, sort_keys=False, allow_unicode=True)
    with pytest.raises(SurveyFileError) as caught:
        parse_survey_text(text, filename="fr.yaml")
    message = str(caught.value)
    question_line = next(
        i for i, t in enumerate(text.splitlines(), 1) if "What powers do the institutes" in t
    )
    assert f"fr.yaml:{question_line} context.factors[1].question: missing translation into fr" in (
        message
    )
    assert "translations.fr.context.factors.legal_powers.question" in message
    assert "translations.fr.decisions.nowhere.label: the survey has no such text" in message


def _french_of(data):
    return {
        "title": "Une petite enquête",
        "introduction": "Évaluez chaque élément.",
        "dimensions": {
            d["key"]: {
                "label": d["label"] + " (fr)",
                "question": d["question"] + " (fr)",
                "scale": {"levels": {v: f"{t} (fr)" for v, t in d["scale"]["levels"].items()}},
            }
            for d in data["dimensions"]
        },
        "items": {
            i["key"]: {"label": i["label"] + " (fr)", "description": "(fr)"} for i in data["items"]
        },
        "groups": {"e": "é"},
        "tiers": {
            t["key"]: {"label": t["label"] + " (fr)", "description": "(fr)"} for t in data["tiers"]
        },
        "holistic_tier": {"question": "Quel niveau ?"},
        "context": {
            "sensitivity_question": {"question": "Lesquels changeraient votre note ?"},
            "factors": {
                "company_relations": {"label": "Relations", "question": "Quel accès ?"},
                "legal_powers": {"label": "Pouvoirs légaux", "question": "Quels pouvoirs ?"},
            },
        },
        "decisions": {
            "no_brainer": {"label": "Partager"},
            "gray_area": {"label": "Décider"},
            "high_trust": {"label": "Bilatéral", "description": "Seulement avec des proches."},
        },
    }


def test_the_shipped_surveys_ask_and_translate_their_factors():
    for path in sorted(builtin_surveys_dir().glob("*.yaml")):
        definition = load_survey_file(path)
        assert definition.context.sensitivity_question is not None, path.name
        for language in ("fr", "ar"):
            local = definition.localized(language)
            for source, translated in zip(
                definition.context.factors, local.context.factors, strict=True
            ):
                assert translated.label != source.label, (path.name, language, source.key)
                assert set(translated.options or {}) == set(source.options or {})
            for tier, decision in definition.decisions.items():
                assert local.decisions[tier].label != decision.label
            given = definition.translations[language].categories
            for category in local.categories:
                assert category.label == given[category.key].label  # "Incidents" in French


# --- the expert's answer -------------------------------------------------------------------


def test_the_api_takes_names_none_and_takes_back(session, client, asked_round):
    link = make_invitations(session, asked_round, 1)[0]
    url = "/api/expert/factors"
    saved = client.put(
        url, headers=_bearer(link), json={"item": "weights", "factors": ["legal_powers"]}
    )
    assert saved.status_code == 200, saved.text
    assert saved.json()["factors"] == ["legal_powers"]
    # Named in any order, kept in the survey's order.
    both = client.put(
        url,
        headers=_bearer(link),
        json={"item": "weights", "factors": ["legal_powers", "company_relations"]},
    )
    assert both.json()["factors"] == ["company_relations", "legal_powers"]
    none = client.put(url, headers=_bearer(link), json={"item": "evals", "factors": []})
    assert none.status_code == 200 and none.json()["factors"] == []
    mine = client.get("/api/expert/response", headers=_bearer(link)).json()
    assert {(s["item"], tuple(s["factors"])) for s in mine["factor_sensitivities"]} == {
        ("weights", ("company_relations", "legal_powers")),
        ("evals", ()),
    }
    back = client.put(url, headers=_bearer(link), json={"item": "evals", "factors": None})
    assert back.status_code == 200 and back.json() is None
    assert _stored(session) == 1


@pytest.mark.parametrize(
    ("body", "field", "words"),
    [
        ({"item": "weights", "factors": ["weather"]}, "factors[0]", "not asked about"),
        (
            {"item": "weights", "factors": ["legal_powers", "legal_powers"]},
            "factors[1]",
            "named twice",
        ),
        ({"item": "nothing", "factors": []}, "item", "not asked in this round"),
    ],
)
def test_a_bad_answer_is_refused_naming_the_field(session, client, asked_round, body, field, words):
    link = make_invitations(session, asked_round, 1)[0]
    reply = client.put("/api/expert/factors", headers=_bearer(link), json=body)
    assert reply.status_code == 422, reply.text
    assert reply.json()["field"] == field and words in reply.json()["detail"]
    assert _stored(session) == 0


def test_a_survey_that_does_not_ask_refuses_the_answer(session, client):
    round_ = make_round(session)
    link = make_invitations(session, round_, 1)[0]
    reply = client.put(
        "/api/expert/factors", headers=_bearer(link), json={"item": "weights", "factors": []}
    )
    assert reply.status_code == 422 and "does not ask" in reply.json()["detail"]


def test_a_submitted_response_cannot_change_its_answer(session, client, asked_round):
    link = make_invitations(session, asked_round, 1)[0]
    headers = _bearer(link)
    client.post("/api/expert/consent", headers=headers)
    ratings = [
        {"item": i, "dimension": d, "value": 2}
        for i in ("weights", "evals", "methods")
        for d in ("sensitivity", "misuse", "tier")
    ]
    assert client.put("/api/expert/ratings", headers=headers, json={"ratings": ratings}).is_success
    assert client.post("/api/expert/submit", headers=headers).is_success
    reply = client.put(
        "/api/expert/factors", headers=headers, json={"item": "weights", "factors": []}
    )
    assert reply.status_code == 409 and "submitted" in reply.json()["detail"]


def _open(client, link):
    client.cookies.clear()
    assert client.get(f"/i/{link.token}").status_code == 303


def test_the_item_page_asks_and_keeps_the_answer(session, client, asked_round):
    link = make_invitations(session, asked_round, 1)[0]
    _open(client, link)
    page = client.get("/survey/items/1").text
    assert "Which of these would change your rating?" in page
    assert 'name="sensitive__legal_powers"' in page and 'name="sensitive_none"' in page
    # Each factor's own question is its description, for screen readers too.
    assert 'aria-describedby="sensitive__legal_powers__hint"' in page
    reply = client.post(
        "/survey/items/1",
        data={
            "csrf_token": form_token(page),
            "sensitivity__answer": "3",
            "sensitive_asked": "yes",
            "sensitive__legal_powers": "yes",
            "action": "stay",
        },
    )
    assert reply.status_code == 303, reply.text
    again = client.get("/survey/items/1").text
    assert re.search(r'name="sensitive__legal_powers" value="yes"[^>]*checked', again)
    assert not re.search(r'name="sensitive__company_relations" value="yes"[^>]*checked', again)
    # Unticking everything takes the answer back.
    client.post(
        "/survey/items/1",
        data={"csrf_token": form_token(again), "sensitive_asked": "yes", "action": "stay"},
    )
    assert _stored(session) == 0


def test_ticking_a_factor_and_none_is_refused_and_the_ticks_are_kept(session, client, asked_round):
    link = make_invitations(session, asked_round, 1)[0]
    _open(client, link)
    page = client.get("/survey/items/2").text
    reply = client.post(
        "/survey/items/2",
        data={
            "csrf_token": form_token(page),
            "misuse__answer": "2",
            "sensitive_asked": "yes",
            "sensitive__company_relations": "yes",
            "sensitive_none": "yes",
        },
    )
    assert reply.status_code == 422
    assert "not both" in reply.text and 'href="#_factors__fieldset">Conditions</a>' in reply.text
    assert re.search(r'name="sensitive__company_relations" value="yes"[^>]*checked', reply.text)
    assert _stored(session) == 0
    # The valid rating on the page was saved all the same.
    assert "Saved: Misuse." in reply.text


def test_a_survey_that_does_not_ask_shows_no_question(session, client):
    round_ = make_round(session)
    link = make_invitations(session, round_, 1)[0]
    _open(client, link)
    page = client.get("/survey/items/1").text
    assert "sensitive_asked" not in page and "_factors__fieldset" not in page


# --- the report and personal data ----------------------------------------------------------


def _answer_all(client, link, factors_by_item):
    headers = _bearer(link)
    client.post("/api/expert/consent", headers=headers)
    ratings = [
        {"item": i, "dimension": d, "value": 3}
        for i in ("weights", "evals", "methods")
        for d in ("sensitivity", "misuse")
    ]
    assert client.put("/api/expert/ratings", headers=headers, json={"ratings": ratings}).is_success
    for item, factors in factors_by_item.items():
        reply = client.put(
            "/api/expert/factors", headers=headers, json={"item": item, "factors": factors}
        )
        assert reply.status_code == 200, reply.text
    assert client.post("/api/expert/submit", headers=headers).is_success


def test_the_report_counts_the_answers_and_flags_where_panel_and_file_differ(session, client):
    data = _asking()
    items = copy.deepcopy(survey_dict()["items"])
    items[0]["factors"] = ["company_relations"]  # weights: company relations only
    items[1]["factors"] = ["company_relations"]
    items[2]["factors"] = ["legal_powers"]  # else it would bear on every item
    make_survey(session, items=items, **data)
    round_ = make_round(session)
    links = make_invitations(session, round_, 4)
    answers = [
        {"weights": ["legal_powers"], "evals": [], "methods": ["legal_powers"]},
        {"weights": ["legal_powers"], "evals": []},
        {"weights": ["legal_powers", "company_relations"], "evals": []},
        {"weights": [], "evals": []},
    ]
    for link, factors in zip(links, answers, strict=True):
        _answer_all(client, link, factors)
    # A draft's answers are not counted.
    late = make_invitations(session, round_, 1, prefix="late")[0]
    client.put(
        "/api/expert/factors", headers=_bearer(late), json={"item": "weights", "factors": []}
    )
    report = reports.build_report(
        session, round_id=round_.id, options=reports.ReportOptions(n_bootstrap=20)
    ).to_dict()["factor_sensitivity"]
    weights = report["items"]["weights"]
    assert (weights["answered"], weights["none"]) == (4, 1)
    legal = weights["factors"]["legal_powers"]
    assert (legal["named"], legal["share"], legal["declared"]) == (3, 0.75, False)
    assert legal["undeclared"] and not legal["unnamed"]
    company = weights["factors"]["company_relations"]
    assert (company["named"], company["declared"], company["undeclared"]) == (1, True, False)
    evals = report["items"]["evals"]
    assert evals["none"] == 4 and evals["factors"]["company_relations"]["unnamed"]
    methods = report["items"]["methods"]  # one answer: too few to flag anything
    assert methods["answered"] == 1 and not any(
        f["undeclared"] or f["unnamed"] for f in methods["factors"].values()
    )
    make_user(session, email="res@example.org", role="researcher")
    headers = login(client, "res@example.org")
    url = f"/api/rounds/{round_.id}/report"
    html = client.get(url, params={"format": "html", "n_bootstrap": 20}, headers=headers).text
    assert "Which factors would change the ratings" in html
    assert "named by 3 of 4, not declared" in html and "declared, named by no one" in html
    table = csv.DictReader(
        io.StringIO(
            client.get(url, params={"format": "csv", "n_bootstrap": 20}, headers=headers).text
        )
    )
    rows = {
        (r["subject"], r["statistic"]): r["value"]
        for r in table
        if r["section"] == "factor_sensitivity"
    }
    assert float(rows[("weights", "factors.legal_powers.share")]) == 0.75


def test_withdrawing_deletes_the_answers_and_the_export_lists_them(session, client, asked_round):
    link = make_invitations(session, asked_round, 1)[0]
    client.put(
        "/api/expert/factors",
        headers=_bearer(link),
        json={"item": "weights", "factors": ["legal_powers"]},
    )
    session.rollback()
    row = session.exec(select(FactorSensitivity)).one()
    response_id = row.response_id
    from app.models import Response

    expert_id = session.get(Response, response_id).expert_id
    exported = privacy.personal_data(session, expert_id=expert_id)
    assert [(s.item_key, s.factors) for s in exported.responses[0].factor_sensitivities] == [
        ("weights", ["legal_powers"])
    ]
    privacy.withdraw_from_round(session, response_id=response_id)
    session.commit()
    assert _stored(session) == 0


def test_a_review_also_covers_the_items_the_panel_tied_to_the_factor(session, client):
    """The file ties legal powers to "methods" alone; the panel named it for "weights": a
    changed observation of legal powers puts both under review."""
    from app.models import Response, RubricReview
    from app.services.demo import simulate_panel
    from tests.test_context_reviews import TODAY

    items = copy.deepcopy(survey_dict()["items"])
    items[0]["factors"] = ["company_relations"]
    items[1]["factors"] = ["company_relations"]
    items[2]["factors"] = ["legal_powers"]
    make_survey(session, items=items, **_asking())
    make_user(session)
    admin = login(client)
    round_ = make_round(session)
    simulate_panel(session, round_id=round_.id, n_experts=8, seed=3)
    session.commit()
    for response in session.exec(select(Response).where(Response.round_id == round_.id)):
        row = session.exec(
            select(FactorSensitivity).where(
                FactorSensitivity.response_id == response.id,
                FactorSensitivity.item_key == "weights",
            )
        ).first() or FactorSensitivity(response_id=response.id, item_key="weights", factors=[])
        row.factors = ["legal_powers"]
        session.add(row)
    session.commit()
    assert client.post(f"/api/rounds/{round_.id}/close", headers=admin).status_code == 200
    context = {"company_relations": "voluntary", "legal_powers": "none"}
    body = {"context": context, "justification": "pilot", "n_bootstrap": 100}
    done = client.post(f"/api/rounds/{round_.id}/publish", headers=admin, json=body)
    assert done.status_code == 201, done.text
    observed = {"factor": "legal_powers", "value": "statutory", "observed_on": TODAY}
    reply = client.post("/api/surveys/small/observations", headers=admin, json=observed)
    assert reply.status_code == 201, reply.text
    session.rollback()
    review = session.exec(select(RubricReview)).one()
    assert review.item_keys == ["weights", "methods"]
