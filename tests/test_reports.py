"""Round reports through the service, the API and the CLI, and `elicit analyze` on files."""

from __future__ import annotations

import csv
import io
import json
import re

import pandas as pd
import pytest
from typer.testing import CliRunner

from app.cli import cli
from app.config import get_settings
from app.services import reports
from app.services.demo import simulate_panel
from tests.factories import login, make_round, make_user

runner = CliRunner()

# Krippendorff (2011), "Computing Krippendorff's Alpha-Reliability": 4 coders x 12 units.
KRIPPENDORFF_2011 = {
    "A": [1, 2, 3, 3, 2, 1, 4, 1, 2, None, None, None],
    "B": [1, 2, 3, 3, 2, 2, 4, 1, 2, 5, None, 3],
    "C": [None, 3, 3, 3, 2, 3, 4, 2, 2, 5, 1, None],
    "D": [1, 2, 3, 3, 2, 4, 4, 1, 2, 5, 1, None],
}


@pytest.fixture
def simulated_round(session):
    round_ = make_round(session)
    simulate_panel(session, round_id=round_.id, n_experts=8, seed=3)
    session.commit()
    return round_


def test_report_uses_the_surveys_settings(session, simulated_round):
    report = reports.build_report(
        session, round_id=simulated_round.id, options=reports.ReportOptions(n_bootstrap=50)
    )
    data = report.to_dict()
    assert set(data["dimensions"]) == {"sensitivity", "misuse", "tier"}
    misuse = data["dimensions"]["misuse"]
    assert misuse["n_raters"] == 8 and misuse["n_items"] == 3
    assert misuse["level"] == "ordinal"
    assert data["settings"]["consensus"]["min_share_within_one"] == 0.7
    assert len(data["raters"]) == 8 and all(r["rater"].startswith("E-") for r in data["raters"])
    assert set(data["item_groups"]) == {"e"}  # the small survey groups one item
    tiers = [i for i in data["items"] if i["dimension"] == "tier"]
    assert all(i["modal_tier"] in {"No Brainer", "Gray Area", "High Trust"} for i in tiers)
    json.dumps(data)  # serialisable as it is


def test_report_of_an_empty_round_is_a_clear_conflict(session, client):
    make_user(session)
    round_ = make_round(session)
    reply = client.get(f"/api/rounds/{round_.id}/report", headers=login(client))
    assert reply.status_code == 409 and "no submitted ratings" in reply.json()["detail"]


def test_report_api_formats_and_roles(session, client, simulated_round):
    make_user(session, email="res@example.org", role="researcher")
    headers = login(client, "res@example.org")
    url = f"/api/rounds/{simulated_round.id}/report"
    as_json = client.get(url, params={"n_bootstrap": 40}, headers=headers)
    assert as_json.status_code == 200 and "krippendorff_alpha" in as_json.text
    html = client.get(url, params={"format": "html", "n_bootstrap": 40}, headers=headers)
    assert html.headers["content-type"].startswith("text/html")
    assert html.text.count("<svg") >= 5 and "Krippendorff" in html.text
    assert "<script" not in html.text and 'src="http' not in html.text  # self-contained
    table = list(
        csv.DictReader(
            io.StringIO(
                client.get(url, params={"format": "csv", "n_bootstrap": 40}, headers=headers).text
            )
        )
    )
    assert {"dimensions", "items", "raters"} <= {row["section"] for row in table}
    alpha = [
        r
        for r in table
        if r["subject"] == "misuse" and r["statistic"] == "krippendorff_alpha.ordinal"
    ]
    assert float(alpha[0]["value"]) == pytest.approx(
        as_json.json()["dimensions"]["misuse"]["krippendorff_alpha"]["ordinal"], abs=1e-6
    )
    assert client.get(url, params={"format": "pdf"}, headers=headers).status_code == 422
    assert client.get(url, params={"n_bootstrap": -1}, headers=headers).status_code == 422
    assert client.get(url).status_code == 401


def test_same_seed_same_report(session, simulated_round):
    options = reports.ReportOptions(n_bootstrap=60, seed=7)
    a = reports.build_report(session, round_id=simulated_round.id, options=options)
    b = reports.build_report(session, round_id=simulated_round.id, options=options)
    assert a.to_dict()["dimensions"] == b.to_dict()["dimensions"]


def test_report_cli_writes_html(session, simulated_round, database_url, monkeypatch, tmp_path):
    monkeypatch.setenv("DATABASE_URL", database_url)
    get_settings.cache_clear()
    target = tmp_path / "report.html"
    result = runner.invoke(
        cli,
        [
            "report",
            str(simulated_round.id),
            "--format",
            "html",
            "--bootstrap",
            "30",
            "-o",
            str(target),
        ],
    )
    assert result.exit_code == 0, result.output
    assert target.read_text().startswith("<!doctype html>")
    result = runner.invoke(
        cli,
        [
            "report",
            str(simulated_round.id),
            "--format",
            "json",
            "--bootstrap",
            "30",
            "--group-by",
            "group",
        ],
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["subgroups"]["attribute"] == "group"
    get_settings.cache_clear()


def _write_krippendorff_csv(path, *, empty="") -> None:
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["coder", "unit", "scale", "score"])
        for coder, values in KRIPPENDORFF_2011.items():
            for unit, value in enumerate(values, start=1):
                writer.writerow([coder, unit, "d", empty if value is None else value])


COLUMNS = ["--rater", "coder", "--item", "unit", "--dimension", "scale", "--value", "score"]


def test_analyze_reproduces_krippendorff_2011(tmp_path):
    path = tmp_path / "k.csv"
    _write_krippendorff_csv(path)
    result = runner.invoke(
        cli,
        ["analyze", str(path), "--json", "--bootstrap", "200", "--seed", "1", *COLUMNS],
    )
    assert result.exit_code == 0, result.output
    alpha = json.loads(result.output)["dimensions"]["d"]["krippendorff_alpha"]
    assert {k: round(v, 3) for k, v in alpha.items()} == {
        "nominal": 0.743,
        "ordinal": 0.815,
        "interval": 0.849,
        "ratio": 0.797,
    }
    again = runner.invoke(
        cli,
        ["analyze", str(path), "--json", "--bootstrap", "200", "--seed", "1", *COLUMNS],
    )
    assert again.output == result.output
    text = runner.invoke(
        cli,
        ["analyze", str(path), *COLUMNS, "--bootstrap", "50"],
    )
    assert text.exit_code == 0 and "0.815" in text.output


def test_analyze_reads_a_round_export(
    session, simulated_round, database_url, monkeypatch, tmp_path
):
    monkeypatch.setenv("DATABASE_URL", database_url)
    get_settings.cache_clear()
    export = runner.invoke(cli, ["export", str(simulated_round.id), "--format", "csv"])
    get_settings.cache_clear()
    path = tmp_path / "export.csv"
    path.write_text(export.output)
    result = runner.invoke(cli, ["analyze", str(path), "--json", "--bootstrap", "20"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert set(data["dimensions"]) == {"sensitivity", "misuse", "tier"}
    assert data["dimensions"]["misuse"]["n_raters"] == 8


def test_analyze_by_item_group_column(tmp_path):
    path = tmp_path / "g.csv"
    rows = ["rater,item,dimension,value,family"]
    for rater, shift in (("a", 0), ("b", 0), ("c", 1)):
        for item in range(6):
            rows.append(
                f"{rater},i{item},d,{1 + item % 5 + (shift if item < 3 else 0)},"
                f"{'x' if item < 3 else 'y'}"
            )
    path.write_text("\n".join(rows) + "\n")
    result = runner.invoke(
        cli, ["analyze", str(path), "--json", "--bootstrap", "0", "--item-group", "family"]
    )
    assert result.exit_code == 0, result.output
    groups = json.loads(result.output)["item_groups"]
    assert groups["y"]["d"]["krippendorff_alpha"]["interval"] == 1.0
    assert groups["x"]["d"]["krippendorff_alpha"]["interval"] < 1.0
    missing = runner.invoke(cli, ["analyze", str(path), "--item-group", "nope"])
    assert missing.exit_code == 1 and "--item-group" in missing.output


def test_analyze_bad_file_names_line_and_column(tmp_path):
    path = tmp_path / "bad.csv"
    path.write_text("rater,item,dimension,value\nA,1,d,3\nB,1,d,three\n")
    result = runner.invoke(cli, ["analyze", str(path)])
    assert result.exit_code == 1
    assert re.search(r"bad\.csv.*3", result.output) and "value" in result.output


def test_analyze_takes_the_scale_so_its_coefficients_match_the_report(tmp_path):
    from analysis.reliability import Bootstrap, agreement_coefficients

    # Values 2-4 on a 1-5 scale: Brennan-Prediger's chance agreement is 1/5, not 1/3.
    frame = pd.DataFrame(
        [(r, i, "d", float(2 + (i + (r == "c")) % 3)) for r in "abcd" for i in range(8)],
        columns=["rater", "item", "dimension", "value"],
    )
    path = tmp_path / "r.csv"
    frame.to_csv(path, index=False)

    def brennan_prediger(*options):
        result = runner.invoke(cli, ["analyze", str(path), "--json", "--bootstrap", "0", *options])
        assert result.exit_code == 0, result.output
        return json.loads(result.output)["dimensions"]["d"]["brennan_prediger"]

    on_scale = agreement_coefficients(frame, categories=[1, 2, 3, 4, 5], bootstrap=Bootstrap(0))
    observed = agreement_coefficients(frame, bootstrap=Bootstrap(0))
    assert brennan_prediger("--scale", "1-5") == pytest.approx(on_scale.brennan_prediger.value)
    assert brennan_prediger("--scale", "d=1,2,3,4,5") == brennan_prediger("--scale", "1-5")
    assert brennan_prediger() == pytest.approx(observed.brennan_prediger.value)
    assert brennan_prediger("--scale", "1-5") != pytest.approx(brennan_prediger())
    for bad, message in [
        ("5-1", "give a range like 1-5"),
        ("x=1-5", "no dimension 'x'"),
        ("3", "at least two values"),
        ("a,b", "give a range like 1-5"),
    ]:
        result = runner.invoke(cli, ["analyze", str(path), "--scale", bad])
        assert result.exit_code != 0 and message in result.output, result.output


def test_report_has_a_rater_severity_section(session, simulated_round):
    import numpy as np

    from analysis.severity import simulate_ratings

    report = reports.build_report(
        session, round_id=simulated_round.id, options=reports.ReportOptions(n_bootstrap=20)
    )
    severity = report.to_dict()["severity"]
    assert severity["dimensions"] == ["sensitivity", "misuse"]  # the tier rule's
    page = reports.render_report(report, "html")
    assert "<h2>Rater severity</h2>" in page and severity["raters"]
    if severity["reason"]:  # three items are often too few: the section says why
        assert f"could not be fitted: {severity['reason']}." in page
    else:
        assert 'id="fig-wright-' in page
    # Ratings that separate (each expert gives one value to everything) cannot be fitted,
    # and the section says so instead of showing numbers.
    separated = pd.DataFrame(
        [
            (rater, item, dimension, value)
            for rater, value in (("a", 1.0), ("b", 3.0), ("c", 5.0))
            for item in ("weights", "evals", "methods")
            for dimension in ("sensitivity", "misuse")
        ],
        columns=["rater", "item", "dimension", "value"],
    )
    unfit = reports.severity_section(separated, report.definition)
    assert unfit.result is None or not unfit.result.fitted
    shown = reports.RoundReport(
        report.round, report.definition, report.analysis, report.settings, severity=unfit
    )
    assert "could not be fitted: " in reports.render_report(shown, "html")
    # A panel of ten experts on thirteen items: the map, the experts, the tier changes.
    frame, _ = simulate_ratings(
        np.random.default_rng(2), n_raters=10, n_items=13, dimensions=("sensitivity", "misuse")
    )
    section = reports.severity_section(frame, report.definition)
    assert section.result is not None and section.result.fitted
    fitted = reports.RoundReport(
        report.round, report.definition, report.analysis, report.settings, severity=section
    )
    page = reports.render_report(fitted, "html")
    assert "Expert separation reliability" in page and 'id="fig-wright-' in page
    assert page.count("<code>E") >= 10 and "Items whose tier changes" in page
    assert ("<td>High Trust</td>" in page) == any(
        "High Trust" in (c.tier_before, c.tier_after) for c in section.tier_changes
    )
    data = json.loads(reports.render_report(fitted, "json"))["severity"]
    assert data["reason"] is None and len(data["raters"]) == 10


# --- the split by language ------------------------------------------------------------------


@pytest.fixture
def multilingual_round(session):
    from app.services import surveys
    from app.survey_files import builtin_surveys_dir, load_survey_file

    path = builtin_surveys_dir() / "aisi-information-sharing.yaml"
    surveys.load_survey(session, definition=load_survey_file(path), source_name=path.name)
    round_ = make_round(session, slug="aisi-information-sharing")
    simulate_panel(session, round_id=round_.id, n_experts=9, seed=5)
    session.commit()
    return round_


def test_report_splits_reliability_and_consensus_by_language(session, multilingual_round):
    report = reports.build_report(
        session, round_id=multilingual_round.id, options=reports.ReportOptions(n_bootstrap=0)
    )
    data = report.to_dict()
    split = data["by_language"]
    assert sorted(split["groups"]) == ["ar", "en", "fr"]
    assert [split["groups"][k]["n_raters"] for k in ("ar", "en", "fr")] == [3, 3, 3]
    assert set(split["groups"]["fr"]["dimensions"]) == {"proprietary", "misuse", "tier"}
    # One test per item and dimension asked, Holm-adjusted over those defined.
    assert len(split["differences"]) == 13 * 3
    defined = [d for d in split["differences"] if d["p_value"] is not None]
    assert defined and all(d["p_holm"] >= d["p_value"] for d in defined)
    assert all(d["reason"] for d in split["differences"] if d["p_value"] is None)
    assert split["correction"] == "holm"
    json.dumps(data)
    rows = list(csv.DictReader(io.StringIO(reports.render_report(report, "csv"))))
    sections = {row["section"] for row in rows}
    assert {"by_language", "language_differences"} <= sections
    subjects = {row["subject"] for row in rows if row["section"] == "language_differences"}
    assert "model_weights/proprietary" in subjects
    page = reports.render_report(report, "html")
    assert "<h2>By language</h2>" in page
    assert "French (fr)" in page and "Arabic (ar)" in page
    assert "Holm-adjusted" in page


def test_a_survey_in_one_language_has_no_split(session, simulated_round):
    report = reports.build_report(
        session, round_id=simulated_round.id, options=reports.ReportOptions(n_bootstrap=0)
    )
    assert report.to_dict()["by_language"] is None
    assert "By language" not in reports.render_report(report, "html")


def test_the_rating_export_carries_each_answer_s_language(session, multilingual_round):
    from app.services import exports

    rows = list(
        csv.DictReader(
            io.StringIO(exports.export_ratings_csv(session, round_id=multilingual_round.id))
        )
    )
    assert list(rows[0])[-1] == "language"
    assert {row["language"] for row in rows} == {"en", "fr", "ar"}


def test_analyze_splits_an_exported_file_by_language(session, multilingual_round, tmp_path):
    from app.services import exports

    path = tmp_path / "export.csv"
    path.write_text(exports.export_ratings_csv(session, round_id=multilingual_round.id))
    shown = runner.invoke(cli, ["analyze", str(path), "--bootstrap", "0", "--by-language"])
    assert shown.exit_code == 0, shown.output
    assert "By language (Kruskal-Wallis permutation tests, Holm-adjusted at 0.05)" in shown.output
    assert re.search(r"^  fr: 3 raters, \d+ ratings; alpha: ", shown.output, re.M)
    as_json = runner.invoke(
        cli, ["analyze", str(path), "--bootstrap", "0", "--by-language", "--json"]
    )
    document = json.loads(as_json.output)
    assert sorted(document["by_language"]["groups"]) == ["ar", "en", "fr"]
    plain = tmp_path / "plain.csv"
    pd.read_csv(path).drop(columns="language").to_csv(plain, index=False)
    refused = runner.invoke(cli, ["analyze", str(plain), "--by-language"])
    assert refused.exit_code != 0
    assert "no column 'language' for --by-language" in refused.output


def test_a_report_without_an_item_rated_on_both_rule_dimensions_leaves_the_plane_out(
    session, client
):
    """Every expert abstained on one rule dimension: the tier plane has nothing to draw,
    and the report says so by leaving it out instead of failing."""
    from tests.factories import bearer, make_invitations

    round_ = make_round(session)
    for n, link in enumerate(make_invitations(session, round_, 3)):
        client.post("/api/expert/consent", headers=bearer(link))
        ratings = [
            {"item": item, "dimension": "sensitivity", "value": 2 + n % 2}
            for item in ("weights", "evals", "methods")
        ] + [
            {"item": item, "dimension": "misuse", "status": "cant_judge"}
            for item in ("weights", "evals", "methods")
        ]
        reply = client.put("/api/expert/ratings", headers=bearer(link), json={"ratings": ratings})
        assert reply.status_code == 200, reply.text
        assert client.post("/api/expert/submit", headers=bearer(link)).status_code == 200
    make_user(session)
    url = f"/api/rounds/{round_.id}/report"
    html = client.get(url, params={"format": "html", "n_bootstrap": 20}, headers=login(client))
    assert html.status_code == 200, html.text
    assert "Median rating per item" in html.text and "fig-plane" not in html.text


def test_analyze_and_report_offer_the_hayes_krippendorff_interval(
    session, client, simulated_round, tmp_path
):
    path = tmp_path / "k.csv"
    _write_krippendorff_csv(path)
    args = ["analyze", str(path), "--json", "--bootstrap", "2000", *COLUMNS, "--level", "interval"]
    result = runner.invoke(cli, [*args, "--interval", "hk"])
    assert result.exit_code == 0, result.output
    d = json.loads(result.output)["dimensions"]["d"]
    assert d["krippendorff_alpha_interval"].startswith("Hayes-Krippendorff")
    # KALPHA on this example (interval): about [0.71, 0.95]; n = 40 values, 60 draws.
    low, high = d["krippendorff_alpha_ci"]["interval"]
    assert 0.68 < low < 0.74 and 0.93 < high < 0.97
    text = runner.invoke(cli, ["analyze", str(path), *COLUMNS, "--interval", "hk"])
    assert "Hayes-Krippendorff q" in text.output
    bad = runner.invoke(cli, [*args, "--interval", "bca"])
    assert bad.exit_code == 1 and "alpha_interval must be one of" in bad.output

    make_user(session, email="res@example.org", role="researcher")
    headers = login(client, "res@example.org")
    url = f"/api/rounds/{simulated_round.id}/report"
    params = {"n_bootstrap": 40, "alpha_interval": "hk"}
    data = client.get(url, params=params, headers=headers).json()
    assert data["settings"]["alpha_interval"] == "hayes-krippendorff"
    method = data["dimensions"]["misuse"]["details"]["krippendorff_alpha"]["ordinal"]
    assert method["interval_method"] == "hayes-krippendorff"
    text = client.get(url, params={**params, "format": "csv"}, headers=headers).text
    labels = [
        row["value"]
        for row in csv.DictReader(io.StringIO(text))
        if row["statistic"] == "krippendorff_alpha_interval"
    ]
    assert labels and all(label.startswith("Hayes-Krippendorff bootstrap") for label in labels)
    html = client.get(url, params={**params, "format": "html"}, headers=headers).text
    assert "Hayes–Krippendorff bootstrap" in html and "q: P(α &lt; min)" in html
    default = client.get(url, params={"n_bootstrap": 40, "format": "html"}, headers=headers)
    assert "Below min" in default.text and "q: P(" not in default.text
    wrong = client.get(url, params={"alpha_interval": "bca"}, headers=headers)
    assert wrong.status_code == 422
