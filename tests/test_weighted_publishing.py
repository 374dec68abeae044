"""Publishing a rubric with performance (Cooke) or severity weighting: API, admin form,
CLI, the public page; refused with a clear message when the weights are not available."""

from __future__ import annotations

import json
import re

import pytest
from sqlmodel import select
from typer.testing import CliRunner

from analysis.calibration import CaseWeights, Resampling, fit_thresholds
from app.cli import cli
from app.config import get_settings
from app.models import QuantileAnswer, Response
from app.services import rubrics
from app.services.demo import simulate_panel
from app.services.reports import calibration_rule
from tests.factories import login, make_round, make_survey, make_user, sign_in_page
from tests.test_quantities import QUANTITY_QUESTIONS

runner = CliRunner()


@pytest.fixture
def admin(session, client):  # type: ignore[no-untyped-def]
    make_user(session)
    return login(client)


def _closed_round(session, client, admin, *, with_quantiles: bool, n_experts: int = 8):  # type: ignore[no-untyped-def]
    make_survey(session, quantities=QUANTITY_QUESTIONS)
    round_ = make_round(session)
    simulate_panel(session, round_id=round_.id, n_experts=n_experts, seed=3)
    if with_quantiles:
        # Stored as the service stores them (the simulated responses are already
        # submitted): experts 0-3 put the true values near their medians, 4-7 far off.
        truths = {"evals_2025": 42.0, "share_open": 30.0, "evals_2027": 60.0}
        ids = session.exec(select(Response.id).order_by(Response.id)).all()
        for number, response_id in enumerate(ids):
            shift = 0 if number < 4 else 25
            for key, truth in truths.items():
                centre = truth + shift + number
                session.add(
                    QuantileAnswer(
                        response_id=response_id,
                        question_key=key,
                        q05=max(centre - 15, 0),
                        q50=centre,
                        q95=centre + 15,
                    )
                )
    session.commit()
    assert client.post(f"/api/rounds/{round_.id}/close", headers=admin).status_code == 200
    return round_


@pytest.mark.slow  # a simulated panel calibrated and published
def _performance_oracle(session, client, admin, round_id: int, *, n_bootstrap: int):  # type: ignore[no-untyped-def]
    """The round's report, its Cooke's weights, the calibration inputs, and the thresholds
    fitted directly on the round's ratings with those weights and with equal weights."""
    report = client.get(
        f"/api/rounds/{round_id}/report", params={"n_bootstrap": n_bootstrap}, headers=admin
    ).json()
    cooke = {e["expert"]: e["weight"] for e in report["seed_questions"]["experts"]}
    inputs = rubrics.calibration_inputs(
        session, round_id=round_id, options=rubrics.CalibrationOptions(n_bootstrap=0)
    )
    frame = inputs.frame
    rule = calibration_rule(inputs.definition, keys=True)
    weights = CaseWeights({r: cooke.get(str(r), 0.0) for r in frame["rater"].unique()})
    oracle = fit_thresholds(frame, rule, Resampling(n_bootstrap=0), weights)
    equal = fit_thresholds(frame, rule, Resampling(0))
    return report, cooke, inputs, oracle, equal


def test_publish_with_performance_weighting(session, client, admin) -> None:
    round_ = _closed_round(session, client, admin, with_quantiles=True)
    body = {"n_bootstrap": 100, "justification": "pilot", "weighting": "performance"}
    reply = client.post(f"/api/rounds/{round_.id}/publish", headers=admin, json=body)
    assert reply.status_code == 201, reply.text
    record = client.get("/rubrics/small/v1.json").json()["record"]
    weighting = record["evidence"]["weighting"]
    assert weighting["used"] == "performance"
    assert "performance" in weighting["compared"]
    assert weighting["basis"]["seed_questions"] == 2
    assert 1 <= weighting["basis"]["experts_with_weight"] <= 8
    assert all("tier_equal_weights" in item for item in record["items"])
    # The thresholds are fitted with Cooke's weights. Oracle: the analysis run directly on
    # the round's ratings with the report's performance weights.
    assert "Cooke's global weight" in weighting["thresholds_fitted_with"]
    report, _, inputs, oracle, equal = _performance_oracle(
        session, client, admin, round_.id, n_bootstrap=40
    )
    keys = [t.key for t in inputs.definition.tiers]
    assert list(record["rule"]["thresholds"].values()) == list(oracle.fitted_thresholds)
    by_key = {str(i.item): i for i in oracle.items}
    for item in record["items"]:
        tier = by_key[item["key"]].rule_tier
        assert item["tier"] == (keys[tier] if tier is not None else None)
    assert list(weighting["thresholds_equal_weights"].values()) == list(equal.fitted_thresholds)
    # The report sets the thresholds of each weighting side by side.
    compared = report["weighting"]
    assert compared["fitted"] is True
    assert list(compared["thresholds"]["performance"]) == list(oracle.fitted_thresholds)
    assert list(compared["thresholds"]["equal"]) == list(equal.fitted_thresholds)
    page = client.get("/rubrics/small/v1").text
    assert "The experts count by performance in this rubric" in page
    assert "the thresholds were fitted and the tiers computed with these weights" in page
    # The admin form offers the choice; an unknown one is refused before any work.
    sign_in_page(client)
    form_page = client.get(f"/admin/rounds/{round_.id}/calibration").text
    assert 'name="weighting" value="performance"' in form_page
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', form_page).group(1)
    refused = client.post(
        f"/admin/rounds/{round_.id}/publish",
        data={"csrf_token": csrf, "justification": "pilot", "weighting": "loudest"},
    )
    assert refused.status_code == 422
    assert "weighting must be one of equal, performance, severity" in refused.text
    bad = client.post(
        f"/api/rounds/{round_.id}/publish", headers=admin, json={**body, "weighting": "loudest"}
    )
    assert bad.status_code == 422


def test_cli_refuses_performance_weighting_without_seed_answers(
    session, client, admin, database_url, monkeypatch
) -> None:
    round_ = _closed_round(session, client, admin, with_quantiles=False)
    monkeypatch.setenv("DATABASE_URL", database_url)
    get_settings.cache_clear()
    try:
        args = ["publish", str(round_.id), "--publisher", "admin@example.org"]
        args += ["--bootstrap", "100", "--justification", "pilot"]
        refused = runner.invoke(cli, [*args, "--weighting", "performance"])
        assert refused.exit_code == 1
        assert "performance weighting needs Cooke's weights from the seed questions" in (
            refused.output
        )
        assert "0 experts answered every quantity question" in refused.output
        published = runner.invoke(cli, [*args, "--weighting", "equal"])
        assert published.exit_code == 0, published.output
        assert "weighting equal" in published.output
    finally:
        get_settings.cache_clear()
    record = client.get("/rubrics/small/v1.json").json()["record"]
    assert record["evidence"]["weighting"]["used"] == "equal"


@pytest.mark.slow  # a simulated panel of twelve on the thirteen items, calibrated, published
def test_cli_publishes_with_severity_weighting(
    session, client, admin, database_url, monkeypatch
) -> None:
    """Severity-adjusted tiers (the rater severity model fitted on the panel) make the
    published rubric, and the record says so."""
    from app.services import rounds, surveys
    from app.survey_files import builtin_surveys_dir, load_survey_file

    definition = load_survey_file(builtin_surveys_dir() / "aisi-information-sharing.yaml")
    surveys.load_survey(session, definition=definition, source_name="aisi.yaml")
    round_ = rounds.create_round(session, slug=definition.slug, name="Panel")
    rounds.open_round(session, round_id=round_.id)
    simulate_panel(session, round_id=round_.id, n_experts=12, seed=1)
    session.commit()
    assert client.post(f"/api/rounds/{round_.id}/close", headers=admin).status_code == 200
    monkeypatch.setenv("DATABASE_URL", database_url)
    get_settings.cache_clear()
    try:
        args = ["publish", str(round_.id), "--publisher", "admin@example.org"]
        args += ["--bootstrap", "100", "--justification", "pilot", "--weighting", "severity"]
        done = runner.invoke(cli, args)
        assert done.exit_code == 0, done.output
    finally:
        get_settings.cache_clear()
    record = client.get(f"/rubrics/{definition.slug}/v1.json").json()["record"]
    weighting = record["evidence"]["weighting"]
    assert weighting["used"] == "severity"
    tiers = {item["key"]: item["tier"] for item in record["items"]}
    assert set(tiers.values()) <= set(definition.tier_keys) and len(tiers) == 13
    assert all("tier_equal_weights" in item for item in record["items"])
    assert "severity-adjusted ratings" in weighting["thresholds_fitted_with"]
    # Oracle: the analysis fitted directly on the severity-adjusted ratings.
    from analysis.severity import fit_severity, severity_adjusted_ratings

    inputs = rubrics.calibration_inputs(
        session, round_id=round_.id, options=rubrics.CalibrationOptions(n_bootstrap=0)
    )
    rule = calibration_rule(definition, keys=True)
    model = fit_severity(inputs.frame, dimensions=list(rule.dimensions))
    adjusted = fit_thresholds(
        severity_adjusted_ratings(inputs.frame, model), rule, Resampling(n_bootstrap=0)
    )
    assert list(record["rule"]["thresholds"].values()) == list(adjusted.fitted_thresholds)
    page = client.get(f"/rubrics/{definition.slug}/v1").text
    assert "were fitted on severity-adjusted ratings" in page
    assert "With every expert counting the same, the thresholds would be" in page


def _invoke(database_url, monkeypatch, args):  # type: ignore[no-untyped-def]
    monkeypatch.setenv("DATABASE_URL", database_url)
    get_settings.cache_clear()
    try:
        return runner.invoke(cli, args)
    finally:
        get_settings.cache_clear()


def _csrf(text: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', text)
    assert found is not None
    return found.group(1)


@pytest.mark.slow  # a simulated panel calibrated three ways and published from the form
def test_calibration_with_performance_weighting_is_what_publishing_fits(
    session, client, admin, database_url, monkeypatch
) -> None:
    round_ = _closed_round(session, client, admin, with_quantiles=True)
    # Oracle: the analysis run directly on the round's ratings, weighted by the Cooke's
    # weights of the report's seed question section.
    _, cooke, inputs, oracle, equal = _performance_oracle(
        session, client, admin, round_.id, n_bootstrap=0
    )
    by_item = {str(i.item): i for i in oracle.items}
    # The API.
    reply = client.post(
        f"/api/rounds/{round_.id}/calibration",
        params={"weighting": "performance", "n_bootstrap": 0},
        headers=admin,
    )
    assert reply.status_code == 200, reply.text
    api = reply.json()
    assert api["weighting"] == "performance"
    assert api["fitted_thresholds"] == list(oracle.fitted_thresholds)
    assert api["settings"]["weights"]["experts"] == {
        r: pytest.approx(w / max(cooke.values())) for r, w in cooke.items()
    }
    for item in api["items"]:
        expected = by_item[str(item["item"])]
        assert item["scores"] == pytest.approx(dict(expected.scores))
        assert item["panel_tier"] == expected.panel_tier
    unweighted = client.post(
        f"/api/rounds/{round_.id}/calibration", params={"n_bootstrap": 0}, headers=admin
    ).json()
    assert unweighted["weighting"] == "equal"
    assert unweighted["fitted_thresholds"] == list(equal.fitted_thresholds)
    # The CLI.
    base = ["calibrate", str(round_.id), "--bootstrap", "0", "--weighting", "performance"]
    done = _invoke(database_url, monkeypatch, [*base, "--json"])
    assert done.exit_code == 0, done.output
    assert json.loads(done.output)["fitted_thresholds"] == list(oracle.fitted_thresholds)
    text = _invoke(database_url, monkeypatch, base).output
    assert "weighting performance (Cooke's global weights)" in text
    assert "the weighted medians of" in text
    # The staff page shows the weighted calibration and offers to publish it.
    sign_in_page(client)
    page = client.get(f"/admin/rounds/{round_.id}/calibration", params={"weighting": "performance"})
    assert page.status_code == 200
    assert "Experts weighted by performance (Cooke's weights" in page.text
    assert "Weighted median: sensitivity" in page.text
    assert 'id="weighting_performance" name="weighting" value="performance" checked' in page.text
    # Published through the admin form: the record's thresholds are the calibration's.
    done = client.post(
        f"/admin/rounds/{round_.id}/publish",
        data={"csrf_token": _csrf(page.text), "justification": "pilot", "weighting": "performance"},
    )
    assert done.status_code == 303, done.text
    assert done.headers["location"] == "/rubrics/small/v1"
    record = client.get("/rubrics/small/v1.json").json()["record"]
    weighting = record["evidence"]["weighting"]
    assert weighting["used"] == "performance"
    assert list(record["rule"]["thresholds"].values()) == api["fitted_thresholds"]
    assert list(weighting["thresholds_equal_weights"].values()) == list(equal.fitted_thresholds)
    keys = [t.key for t in inputs.definition.tiers]
    for item in record["items"]:
        tier = by_item[item["key"]].rule_tier
        assert item["tier"] == (keys[tier] if tier is not None else None)
    public = client.get("/rubrics/small/v1").text
    assert "The experts count by performance in this rubric" in public


def test_weighted_calibration_is_refused_when_the_weights_cannot_be_computed(
    session, client, admin, database_url, monkeypatch
) -> None:
    # No quantile answers: no Cooke's weights. One expert: no severities to compare.
    round_ = _closed_round(session, client, admin, with_quantiles=False, n_experts=1)
    url = f"/api/rounds/{round_.id}/calibration"
    performance = client.post(url, params={"weighting": "performance"}, headers=admin)
    assert performance.status_code == 409
    assert "performance weighting needs Cooke's weights from the seed questions" in (
        performance.text
    )
    assert "0 experts answered every quantity question" in performance.text
    severity = client.post(url, params={"weighting": "severity"}, headers=admin)
    assert severity.status_code == 409
    assert "severity weighting needs the rater severity model" in severity.text
    assert "fewer than two raters" in severity.text
    assert client.post(url, params={"weighting": "loudest"}, headers=admin).status_code == 422
    assert client.post(url, params={"n_bootstrap": 0}, headers=admin).status_code == 200
    refused = _invoke(
        database_url, monkeypatch, ["calibrate", str(round_.id), "--weighting", "severity"]
    )
    assert refused.exit_code == 1
    assert "severity weighting needs the rater severity model" in refused.output
    unknown = _invoke(
        database_url, monkeypatch, ["calibrate", str(round_.id), "--weighting", "loudest"]
    )
    assert unknown.exit_code == 1
    assert "weighting must be one of equal, performance, severity" in unknown.output
    # The page says why and shows the calibration with equal weights instead.
    sign_in_page(client)
    page = client.get(f"/admin/rounds/{round_.id}/calibration", params={"weighting": "performance"})
    assert page.status_code == 409
    assert "This weighting cannot be computed: performance weighting needs" in page.text
    assert "The calibration below counts every expert the same." in page.text
    assert "Fitted threshold" in page.text and "Median: sensitivity" in page.text
    assert 'id="weighting_equal" name="weighting" value="equal" checked' in page.text


@pytest.mark.slow  # a simulated panel of twelve on the thirteen items, calibrated, published
def test_calibration_with_severity_weighting_is_what_publishing_fits(
    session, client, admin, database_url, monkeypatch
) -> None:
    from analysis.severity import fit_severity, severity_adjusted_ratings
    from app.services import rounds, surveys
    from app.survey_files import builtin_surveys_dir, load_survey_file

    definition = load_survey_file(builtin_surveys_dir() / "aisi-information-sharing.yaml")
    surveys.load_survey(session, definition=definition, source_name="aisi.yaml")
    round_ = rounds.create_round(session, slug=definition.slug, name="Panel")
    rounds.open_round(session, round_id=round_.id)
    simulate_panel(session, round_id=round_.id, n_experts=12, seed=1)
    session.commit()
    assert client.post(f"/api/rounds/{round_.id}/close", headers=admin).status_code == 200
    # Oracle: the analysis fitted directly on the severity-adjusted ratings.
    inputs = rubrics.calibration_inputs(
        session, round_id=round_.id, options=rubrics.CalibrationOptions(n_bootstrap=0)
    )
    rule = calibration_rule(definition, keys=True)
    adjusted = severity_adjusted_ratings(
        inputs.frame, fit_severity(inputs.frame, dimensions=list(rule.dimensions))
    )
    oracle = fit_thresholds(adjusted, rule, Resampling(n_bootstrap=0))
    by_item = {str(i.item): i for i in oracle.items}
    api = client.post(
        f"/api/rounds/{round_.id}/calibration",
        params={"weighting": "severity", "n_bootstrap": 0},
        headers=admin,
    ).json()
    assert api["weighting"] == "severity"
    assert api["fitted_thresholds"] == list(oracle.fitted_thresholds)
    for item in api["items"]:
        assert item["scores"] == pytest.approx(dict(by_item[str(item["item"])].scores))
    args = ["calibrate", str(round_.id), "--bootstrap", "0", "--weighting", "severity", "--json"]
    done = _invoke(database_url, monkeypatch, args)
    assert done.exit_code == 0, done.output
    assert json.loads(done.output)["fitted_thresholds"] == list(oracle.fitted_thresholds)
    sign_in_page(client)
    page = client.get(f"/admin/rounds/{round_.id}/calibration", params={"weighting": "severity"})
    assert page.status_code == 200
    assert "Fitted on the severity-adjusted ratings" in page.text
    assert "Adjusted median: " in page.text
    done = client.post(
        f"/admin/rounds/{round_.id}/publish",
        data={"csrf_token": _csrf(page.text), "justification": "pilot", "weighting": "severity"},
    )
    assert done.status_code == 303, done.text
    record = client.get(f"/rubrics/{definition.slug}/v1.json").json()["record"]
    assert record["evidence"]["weighting"]["used"] == "severity"
    assert list(record["rule"]["thresholds"].values()) == list(oracle.fitted_thresholds)
    public = client.get(f"/rubrics/{definition.slug}/v1").text
    assert "were fitted on severity-adjusted ratings" in public
