"""``elicit cooke``: Cooke's classical model on a tidy quantile CSV, no server or database.

Oracle: the INECC study of the TU Delft expert judgment database and its printed results
(see tests/analysis/test_cooke.py), and ANDURYL 1.2.2's optimised decision maker on it.
"""

from __future__ import annotations

import json
import re

import pytest
from typer.testing import CliRunner

from app.cli import cli
from tests.analysis.test_cooke import INECC_PRINTED, inecc_csv_text

runner = CliRunner()


@pytest.fixture
def inecc_csv(tmp_path):
    path = tmp_path / "inecc.csv"
    path.write_text(inecc_csv_text())
    return path


def test_json_reproduces_the_published_case(inecc_csv):
    result = runner.invoke(cli, ["cooke", str(inecc_csv), "--json", "--alpha", "0.05"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["alpha_optimised"] is False and data["overshoot"] == 0.1
    experts = {row["expert"]: row for row in data["experts"]}
    for expert, (calibration, information, information_seeds, score) in INECC_PRINTED.items():
        if expert == "DM":
            continue
        assert experts[expert]["calibration"] == pytest.approx(calibration, rel=6e-6)
        assert experts[expert]["information"] == pytest.approx(information, rel=6e-6)
        assert experts[expert]["information_seeds"] == pytest.approx(information_seeds, rel=6e-6)
        assert experts[expert]["combined_score"] == pytest.approx(score, rel=6e-6, abs=1e-12)
    dm = data["decision_maker"]
    assert dm["alpha"] == 0.05
    assert dm["calibration"] == pytest.approx(INECC_PRINTED["DM"][0], rel=6e-6)
    assert sum(row["weight"] for row in data["experts"]) == pytest.approx(1.0)
    assert len(data["item_robustness"]) == 13 and len(data["expert_robustness"]) == 9


def test_optimised_cutoff_by_default(inecc_csv):
    result = runner.invoke(cli, ["cooke", str(inecc_csv), "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["alpha_optimised"] is True
    assert data["decision_maker"]["alpha"] == pytest.approx(0.0015044508278553304)
    c30 = next(q for q in data["decision_maker"]["quantiles"] if q["question"] == "C30")
    assert [c30["q05"], c30["q50"], c30["q95"]] == pytest.approx(
        [3.133540757, 4.842005902, 5.899565433], abs=1e-8
    )
    assert c30["realisation"] is None


def test_overshoot_changes_the_information(inecc_csv):
    narrow = json.loads(runner.invoke(cli, ["cooke", str(inecc_csv), "--json"]).output)
    wide = json.loads(
        runner.invoke(cli, ["cooke", str(inecc_csv), "--json", "--overshoot", "0.5"]).output
    )
    assert wide["overshoot"] == 0.5
    assert wide["experts"][0]["information"] > narrow["experts"][0]["information"]
    assert wide["experts"][0]["calibration"] == narrow["experts"][0]["calibration"]


def test_human_output_has_the_expert_and_target_tables(inecc_csv):
    result = runner.invoke(cli, ["cooke", str(inecc_csv), "--alpha", "0.05"])
    assert result.exit_code == 0, result.output
    text = result.output
    assert "9 experts, 13 seed and 6 target questions" in text
    assert "alpha 0.05 (fixed)" in text
    assert re.search(r"^F\s+0\.2767\s+1\.0808\s+1\.2849\s+0\.8391$", text, re.MULTILINE)
    assert re.search(r"^DM\s+0\.2650\s+0\.8063\s+0\.9548\s+0\.2531", text, re.MULTILINE)
    assert "Decision maker's quantiles, target questions" in text
    assert re.search(r"^C30\s+\S+\s+\S+\s+5\.9000$", text, re.MULTILINE)
    assert "Robustness: without each seed question" in text
    assert "Robustness: without each expert" in text


def test_a_bad_file_is_a_message_naming_file_line_and_column(tmp_path):
    path = tmp_path / "bad.csv"
    path.write_text("expert,question,q05,q50,q95,realisation\na,s1,1,2,3,2\nb,s1,1,2,lots,2\n")
    result = runner.invoke(cli, ["cooke", str(path)])
    # Exit status 1 and one line, as every data error of the CLI (elicit analyze too).
    assert result.exit_code == 1
    assert re.search(
        r"error: .*bad\.csv, line 3, column 'q95': 'lots' is not a number", result.output
    )
    assert "Traceback" not in result.output


def test_quantiles_out_of_order_name_the_expert_and_question(tmp_path):
    path = tmp_path / "order.csv"
    path.write_text("expert,question,q05,q50,q95,realisation\na,s1,1,2,3,2\nb,s1,3,2,1,2\n")
    result = runner.invoke(cli, ["cooke", str(path)])
    assert result.exit_code == 1
    assert "order.csv, line 3" in result.output and "expert 'b', question 's1'" in result.output


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (["--alpha", "0.9"], "above every expert's calibration score"),
        (["--alpha", "2"], "alpha must be a number from 0 to 1"),
        (["--overshoot", "0"], "overshoot must be a positive number"),
    ],
)
def test_bad_settings_are_messages(inecc_csv, options, message):
    result = runner.invoke(cli, ["cooke", str(inecc_csv), *options])
    assert result.exit_code == 1 and message in result.output


def test_a_missing_file_is_a_message(tmp_path):
    result = runner.invoke(cli, ["cooke", str(tmp_path / "none.csv")])
    assert result.exit_code == 1 and "none.csv" in result.output
