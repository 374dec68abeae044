"""Calibration items in a survey file: reference values are checked when the file loads
(file, line, field), and the round report shows each expert's agreement with them in
JSON, HTML and CSV."""

from __future__ import annotations

import csv
import io

import pytest

from app.services.demo import simulate_panel
from app.survey_files import SurveyFileError, parse_survey_text
from tests.factories import SMALL_SURVEY, login, make_round, make_survey, make_user, survey_yaml

ITEMS = [
    {
        **SMALL_SURVEY["items"][0],
        "reference": {"sensitivity": 5, "misuse": 4, "tier": "high_trust"},
    },
    {**SMALL_SURVEY["items"][1], "reference": {"sensitivity": 2, "misuse": 2}},
    {**SMALL_SURVEY["items"][2], "reference": {"sensitivity": 3, "misuse": 1}},
]


@pytest.mark.parametrize(
    ("reference", "message"),
    [
        ({"sensitivity": 9}, "reference 9 lies outside 1..5"),
        ({"weather": 1}, "which is not a dimension"),
        ({"tier": "sky_high"}, "must be a tier key"),
        ({"misuse": "high"}, "must be a number"),
    ],
)
def test_a_reference_off_its_scale_is_refused_with_file_line_and_field(reference, message):
    items = [{**ITEMS[0], "reference": reference}, *ITEMS[1:]]
    with pytest.raises(SurveyFileError) as caught:
        parse_survey_text(survey_yaml(items=items), filename="ref.yaml")
    (problem,) = caught.value.errors
    assert problem.file == "ref.yaml" and problem.line is not None
    assert problem.path.startswith("items[0].reference") and message in problem.message


def _panel(session, client, *, n_experts, seed):
    """A round of the survey with calibration items, simulated; an admin's headers."""
    make_survey(session, items=ITEMS)
    round_ = make_round(session)
    simulate_panel(session, round_id=round_.id, n_experts=n_experts, seed=seed)
    session.commit()
    make_user(session)
    return round_, login(client)


def test_the_report_shows_each_experts_agreement_with_the_references(session, client):
    round_, headers = _panel(session, client, n_experts=6, seed=2)
    url = f"/api/rounds/{round_.id}/report"
    data = client.get(url, params={"n_bootstrap": 40}, headers=headers).json()
    reference = data["reference"]
    assert reference["items"] == ["weights", "evals", "methods"]
    assert len(reference["experts"]) == 6
    for expert in reference["experts"]:
        assert expert["n_items"] == 3 and expert["bias"] is not None
        assert expert["kappa"] is None or -1 <= expert["kappa"] <= 1
    html = client.get(url, params={"format": "html", "n_bootstrap": 40}, headers=headers).text
    assert "Calibration items" in html and "Weighted κ" in html
    rows = list(
        csv.DictReader(
            io.StringIO(
                client.get(url, params={"format": "csv", "n_bootstrap": 40}, headers=headers).text
            )
        )
    )
    bias = [r for r in rows if r["section"] == "reference" and r["statistic"] == "bias"]
    assert len(bias) == 6
    first = reference["experts"][0]
    assert float(bias[0]["value"]) == pytest.approx(first["bias"], abs=1e-3)
    assert any(r["section"] == "severity" for r in rows)


def test_a_survey_without_references_has_no_such_section(session, client):
    round_ = make_round(session)
    simulate_panel(session, round_id=round_.id, n_experts=4, seed=2)
    session.commit()
    make_user(session)
    data = client.get(
        f"/api/rounds/{round_.id}/report", params={"n_bootstrap": 40}, headers=login(client)
    ).json()
    assert data["reference"] is None


def test_the_report_compares_tiers_under_each_weighting(session, client):
    round_, headers = _panel(session, client, n_experts=8, seed=5)
    url = f"/api/rounds/{round_.id}/report"
    weighting = client.get(url, params={"n_bootstrap": 40}, headers=headers).json()["weighting"]
    assert weighting["schemes"][:2] == ["equal", "calibration items"]
    assert "confidence (sensitivity only)" in weighting["schemes"]
    assert {i["item"] for i in weighting["items"]} == {"weights", "evals", "methods"}
    for item in weighting["items"]:
        assert item["depends"] == (len(set(item["tiers"].values())) > 1)
        assert set(item["tiers"].values()) <= {"No Brainer", "Gray Area", "High Trust", None}
    # Each weighting's thresholds, fitted to the panel's holistic tiers under it.
    assert set(weighting["thresholds"]) == set(weighting["schemes"])
    assert all(len(t) == 2 for t in weighting["thresholds"].values())
    html = client.get(url, params={"format": "html", "n_bootstrap": 40}, headers=headers).text
    assert "Tiers under other weightings" in html and "sensitivity analysis only" in html
    heading = "Fitted thresholds" if weighting["fitted"] else "Declared thresholds"
    assert f"{heading} (lowest first)" in html


def test_a_published_version_records_its_weighting_and_the_items_that_depend_on_it(session, client):
    round_, headers = _panel(session, client, n_experts=8, seed=5)
    client.post(f"/api/rounds/{round_.id}/close", headers=headers)
    body = {"justification": "pilot", "n_bootstrap": 100}
    assert client.post(f"/api/rounds/{round_.id}/publish", headers=headers, json=body).is_success
    record = client.get("/rubrics/small/v1.json").json()["record"]
    weighting = record["evidence"]["weighting"]
    assert weighting["used"] == "equal" and weighting["compared"][0] == "equal"
    report = client.get(
        f"/api/rounds/{round_.id}/report", params={"n_bootstrap": 100}, headers=headers
    ).json()
    assert weighting["items_depending"] == report["weighting"]["depending"]
    assert "Every expert counts the same in this rubric." in client.get("/rubrics/small/v1").text
