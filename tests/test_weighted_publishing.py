"""Publishing a rubric with performance (Cooke) or severity weighting: API, admin form,
CLI, the public page; refused with a clear message when the weights are not available."""

from __future__ import annotations

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


def _closed_round(session, client, admin, *, with_quantiles: bool):  # type: ignore[no-untyped-def]
    make_survey(session, quantities=QUANTITY_QUESTIONS)
    round_ = make_round(session)
    simulate_panel(session, round_id=round_.id, n_experts=8, seed=3)
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
    report = client.get(
        f"/api/rounds/{round_.id}/report", params={"n_bootstrap": 40}, headers=admin
    ).json()
    cooke = {e["expert"]: e["weight"] for e in report["seed_questions"]["experts"]}
    inputs = rubrics.calibration_inputs(session, round_id=round_.id, n_bootstrap=0)
    frame = inputs.frame
    weights = CaseWeights({r: cooke.get(str(r), 0.0) for r in frame["rater"].unique()})
    oracle = fit_thresholds(
        frame, calibration_rule(inputs.definition, keys=True), Resampling(n_bootstrap=0), weights
    )
    keys = [t.key for t in inputs.definition.tiers]
    assert list(record["rule"]["thresholds"].values()) == list(oracle.fitted_thresholds)
    by_key = {str(i.item): i for i in oracle.items}
    for item in record["items"]:
        tier = by_key[item["key"]].rule_tier
        assert item["tier"] == (keys[tier] if tier is not None else None)
    equal = fit_thresholds(frame, calibration_rule(inputs.definition, keys=True), Resampling(0))
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

    inputs = rubrics.calibration_inputs(session, round_id=round_.id, n_bootstrap=0)
    rule = calibration_rule(definition, keys=True)
    model = fit_severity(inputs.frame, dimensions=list(rule.dimensions))
    adjusted = fit_thresholds(
        severity_adjusted_ratings(inputs.frame, model), rule, Resampling(n_bootstrap=0)
    )
    assert list(record["rule"]["thresholds"].values()) == list(adjusted.fitted_thresholds)
    page = client.get(f"/rubrics/{definition.slug}/v1").text
    assert "were fitted on severity-adjusted ratings" in page
    assert "With every expert counting the same, the thresholds would be" in page
