"""Calibration, publishing and the public rubric pages (API, CLI, database guards)."""

from __future__ import annotations

import csv
import io
import json

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DatabaseError
from typer.testing import CliRunner

from app.cli import cli
from app.config import get_settings
from app.services import rubrics
from app.services.demo import simulate_panel
from tests.factories import login, make_round, make_user, sign_in_page

runner = CliRunner()
CONTEXT = {
    "company_relations": "Voluntary access as of 2026",
    "legal_powers": "none",
    "notes": '<b>bold</b> & "quoted"',
}


@pytest.fixture
def admin(session, client):
    make_user(session)
    return login(client)


def _closed_round(session, client, admin, *, n=10, seed=1, name="Round 1"):
    round_ = make_round(session, name=name)
    simulate_panel(session, round_id=round_.id, n_experts=n, seed=seed)
    session.commit()
    assert client.post(f"/api/rounds/{round_.id}/close", headers=admin).status_code == 200
    return round_


def _publish(client, admin, round_id, **body):
    body.setdefault("context", CONTEXT)
    body.setdefault("n_bootstrap", 200)
    body.setdefault("justification", "pilot panel")
    return client.post(f"/api/rounds/{round_id}/publish", headers=admin, json=body)


def test_calibration_api_for_researchers(session, client, admin):
    round_ = _closed_round(session, client, admin)
    make_user(session, email="res@example.org", role="researcher")
    researcher = login(client, "res@example.org")
    reply = client.post(f"/api/rounds/{round_.id}/calibration?n_bootstrap=100", headers=researcher)
    assert reply.status_code == 200, reply.text
    data = reply.json()
    assert data["initial_thresholds"] == [2.5, 4.0]
    assert len(data["fitted_thresholds"]) == 2 and data["kappa_fitted"] is not None
    assert data["kappa_fitted"] >= data["kappa_initial"]
    assert all(abs(sum(i["probabilities"]) - 1) < 1e-9 for i in data["items"])
    assert _publish(client, researcher, round_.id).status_code == 403
    # The typed document lists exactly the keys the calibration has (no key read by a
    # name the analysis does not write, none written that the type does not declare).
    assert set(data) == rubrics.CalibrationDocument.__required_keys__
    assert set(data["items"][0]) == rubrics.CalibratedItemDocument.__required_keys__


def test_publish_needs_a_closed_round_and_a_justification_below_the_minimum(session, client, admin):
    round_ = make_round(session)
    simulate_panel(session, round_id=round_.id, n_experts=3, seed=9)
    session.commit()
    refused = _publish(client, admin, round_.id)
    assert refused.status_code == 409 and "close it" in refused.json()["detail"]
    client.post(f"/api/rounds/{round_.id}/close", headers=admin)
    data = client.post(f"/api/rounds/{round_.id}/calibration?n_bootstrap=50", headers=admin).json()
    assert data["items"]
    # These three experts put every item in one tier: no threshold, no probabilities.
    assert data["reasons"]["probabilities"].startswith("not identified")
    assert all(item["probabilities"] is None for item in data["items"])
    assert data["warnings"] == []
    report = client.get(f"/api/rounds/{round_.id}/report?n_bootstrap=50", headers=admin).json()
    low = [
        k
        for k in ("sensitivity", "misuse")
        if (report["dimensions"][k]["krippendorff_alpha"]["ordinal"] or 0) < 0.667
    ]
    if low:
        no_reason = _publish(client, admin, round_.id, justification=None)
        assert no_reason.status_code == 409
        assert no_reason.json()["field"] == "justification"
        assert low[0] in no_reason.json()["detail"]
    published = _publish(client, admin, round_.id, justification="pilot with 3 experts")
    assert published.status_code == 201, published.text
    record = client.get("/rubrics/small/v1.json").json()["record"]
    assert record["justification"] == ("pilot with 3 experts" if low else record["justification"])


def test_publish_show_diff_and_verify(session, client, admin, tmp_path):
    first = _closed_round(session, client, admin, seed=1)
    v1 = _publish(client, admin, first.id)
    assert v1.status_code == 201, v1.text
    assert v1.json()["url"] == "http://testserver/rubrics/small/v1"
    second = _closed_round(session, client, admin, seed=2, name="Round 2")
    v2 = _publish(client, admin, second.id, context={"notes": "after new members joined"})
    assert v2.json()["number"] == 2

    # Public pages need no sign-in.
    anonymous = client
    anonymous.cookies.clear()
    index = anonymous.get("/rubrics/")
    assert index.status_code == 200 and "A small survey" in index.text
    versions = anonymous.get("/rubrics/small/")
    assert "v1" in versions.text and "v2" in versions.text
    page = anonymous.get("/rubrics/small/v1")
    assert page.status_code == 200
    assert "Model weights" in page.text and "No Brainer" in page.text
    assert "&lt;b&gt;bold&lt;/b&gt; &amp; &#34;quoted&#34;" in page.text
    assert v1.json()["digest"] in page.text
    document = anonymous.get("/rubrics/small/v1.json").json()
    assert rubrics.verify_record(document)
    record = document["record"]
    assert record["context"]["legal_powers"] == "none"
    assert record["rounds"][0]["id"] == first.id
    assert set(record["evidence"]["reliability"]) >= {"sensitivity", "misuse"}
    assert {i["key"] for i in record["items"]} == {"weights", "evals", "methods"}
    table = list(csv.DictReader(io.StringIO(anonymous.get("/rubrics/small/v1.csv").text)))
    assert len(table) == 3 and {"p_no_brainer", "p_gray_area", "p_high_trust"} <= set(table[0])
    diff = anonymous.get("/rubrics/small/diff/1/2?format=json").json()
    assert diff["from_version"] == 1 and diff["to_version"] == 2
    assert len(diff["tier_changes"]) + len(diff["unchanged"]) == 3
    assert anonymous.get("/rubrics/small/diff/1/2").status_code == 200
    assert anonymous.get("/rubrics/small/v9").status_code == 404
    assert anonymous.get("/rubrics/small/latest").status_code == 404

    # A downloaded record verifies; one changed byte does not.
    path = tmp_path / "v1.json"
    path.write_text(json.dumps(document))
    assert runner.invoke(cli, ["rubric", "verify", str(path)]).exit_code == 0
    tampered = json.loads(path.read_text())
    tampered["record"]["items"][0]["tier"] = (
        "no_brainer" if tampered["record"]["items"][0]["tier"] != "no_brainer" else "high_trust"
    )
    path.write_text(json.dumps(tampered))
    result = runner.invoke(cli, ["rubric", "verify", str(path)])
    assert result.exit_code == 1 and "altered" in result.output
    text_changed = json.dumps(document).replace('"none"', '"nonf"')
    assert not rubrics.verify_record(json.loads(text_changed))


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE rubric_versions SET digest = 'x'",
        "UPDATE rubric_versions SET record = '{}'",
        "DELETE FROM rubric_versions",
    ],
)
def test_published_versions_cannot_be_altered_in_the_database(
    session, client, admin, engine, statement
):
    round_ = _closed_round(session, client, admin)
    assert _publish(client, admin, round_.id).status_code == 201
    with pytest.raises(DatabaseError, match="append-only"), engine.begin() as connection:
        connection.execute(text(statement))
    with engine.connect() as connection:
        assert connection.execute(text("SELECT count(*) FROM rubric_versions")).scalar() == 1


def test_no_migration_deletes_published_versions(session, client, admin, database_url):
    from alembic import command

    from app.migrate import alembic_config

    round_ = _closed_round(session, client, admin)
    assert _publish(client, admin, round_.id).status_code == 201
    with pytest.raises(RuntimeError, match="immutable"):
        command.downgrade(alembic_config(database_url), "base")


def test_no_route_changes_a_published_version(client, app):
    # The only routes under /rubrics are GETs; no API route takes a rubric version to change.
    for route in app.routes:
        path = getattr(route, "path", "")
        if path.startswith("/rubrics"):
            assert route.methods <= {"GET", "HEAD"}, path
    spec = app.openapi()["paths"]
    writes = [p for p, ops in spec.items() if "rubric" in p and set(ops) - {"get"}]
    assert writes == []


def test_cli_calibrate_publish_and_rubric_commands(
    session, client, admin, database_url, monkeypatch
):
    round_ = _closed_round(session, client, admin)
    monkeypatch.setenv("DATABASE_URL", database_url)
    get_settings.cache_clear()
    try:
        shown = runner.invoke(cli, ["calibrate", str(round_.id), "--bootstrap", "100"])
        assert shown.exit_code == 0, shown.output
        assert "fitted >=" in shown.output and "Model weights" in shown.output
        assert "no tier probabilities" not in shown.output
        assert "warning:" not in shown.output  # ten experts
        none = runner.invoke(cli, ["calibrate", str(round_.id), "--bootstrap", "0"])
        assert "no tier probabilities: no bootstrap requested" in none.output
        as_json = runner.invoke(cli, ["calibrate", str(round_.id), "--json", "--bootstrap", "50"])
        assert json.loads(as_json.output)["round_id"] == round_.id
        published = runner.invoke(
            cli,
            [
                "publish",
                str(round_.id),
                "--publisher",
                "admin@example.org",
                "--bootstrap",
                "100",
                "--justification",
                "pilot",
                "--context",
                "legal_powers=none",
            ],
        )
        assert published.exit_code == 0, published.output
        assert "published small v1" in published.output
        assert "small\tv1" in runner.invoke(cli, ["rubric", "list"]).output
        shown = runner.invoke(cli, ["rubric", "show", "small", "1"])
        assert rubrics.verify_record(json.loads(shown.output))
        assert runner.invoke(
            cli, ["rubric", "show", "small", "1", "--format", "csv"]
        ).output.startswith("survey,rubric_version,item")
        not_admin = runner.invoke(cli, ["publish", str(round_.id), "--publisher", "x@y.org"])
        assert not_admin.exit_code == 1 and "not an admin" in not_admin.output
    finally:
        get_settings.cache_clear()


def test_admin_calibrates_and_publishes_from_the_pages(session, client, admin):
    import re

    round_ = _closed_round(session, client, admin)
    sign_in_page(client)
    calibration = client.get(f"/admin/rounds/{round_.id}/calibration")
    assert calibration.status_code == 200
    assert "Fitted threshold" in calibration.text and "Model weights" in calibration.text
    assert "the probability that a fresh panel of as many experts" in calibration.text
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', calibration.text).group(1)
    form = {"csrf_token": csrf, "legal_powers": "no statutory powers", "justification": ""}
    report = client.get(f"/api/rounds/{round_.id}/report?n_bootstrap=50").json()
    alphas = [
        report["dimensions"][d]["krippendorff_alpha"]["ordinal"] for d in ("sensitivity", "misuse")
    ]
    if any(a is None or a < 0.667 for a in alphas):
        refused = client.post(f"/admin/rounds/{round_.id}/publish", data=form)
        assert refused.status_code == 409 and "justification" in refused.text
        assert "no statutory powers" in refused.text  # nothing typed is lost
        form["justification"] = "pilot"
    done = client.post(f"/admin/rounds/{round_.id}/publish", data=form)
    assert done.status_code == 303 and done.headers["location"] == "/rubrics/small/v1"
    assert "no statutory powers" in client.get("/rubrics/small/v1").text


def test_calibration_page_without_tier_probabilities_says_why(session, client, admin):
    round_ = _closed_round(session, client, admin, n=1)
    sign_in_page(client)
    page = client.get(f"/admin/rounds/{round_.id}/calibration")
    assert page.status_code == 200
    assert "No probabilities: 1 expert(s): resampling the panel needs at least 2" in page.text
    assert "upper bounds" not in page.text  # no probabilities, no warning about them
    # Every item row keeps one cell per tier, shown as a dash.
    rows = page.text.split("<tbody>")[-1].split("</tbody>")[0].split("<tr")[1:]
    assert rows and all(row.count('<td class="num">—</td>') == 3 for row in rows)


def test_calibration_page_warns_about_probabilities_from_few_experts(session, client, admin):
    round_ = _closed_round(session, client, admin, n=6, seed=2)
    sign_in_page(client)
    page = client.get(f"/admin/rounds/{round_.id}/calibration")
    assert page.status_code == 200 and "No probabilities" not in page.text
    assert '<p class="notice">only 6 experts: the tier probabilities' in page.text


def test_the_publish_gate_reads_the_interval_and_the_holistic_tier():
    from app.survey_files import parse_survey_text
    from tests.factories import survey_yaml

    definition = parse_survey_text(survey_yaml(), filename="small.yaml")

    def dimension(alpha, ci):
        return {
            "level": "ordinal",
            "krippendorff_alpha": {"ordinal": alpha},
            "krippendorff_alpha_ci": {"ordinal": ci},
            "n_raters": 10,
            "n_items": 3,
        }

    analysed = {
        "dimensions": {
            # A point estimate above the minimum whose interval reaches below it fails.
            "sensitivity": dimension(0.72, [0.41, 0.86]),
            "misuse": dimension(0.90, [0.81, 0.95]),
            # The holistic tier the thresholds are fitted to is gated too.
            "tier": dimension(None, None),
        }
    }
    evidence, failing = rubrics._reliability_evidence(analysed, definition, 0.667)
    assert failing == [
        "sensitivity (alpha 0.720, 95% interval 0.410 to 0.860)",
        "tier (alpha undefined)",
    ]
    assert evidence["sensitivity"]["ci"] == [0.41, 0.86]
    analysed["dimensions"]["sensitivity"] = dimension(0.72, [0.70, 0.86])
    analysed["dimensions"]["tier"] = dimension(0.80, None)
    _, failing = rubrics._reliability_evidence(analysed, definition, 0.667)
    assert failing == ["tier (alpha 0.800 without an interval)"]
    analysed["dimensions"]["tier"] = dimension(0.80, [0.7, 0.9])
    assert rubrics._reliability_evidence(analysed, definition, 0.667)[1] == []
