"""``elicit severity``: the many-facet Rasch model on any tidy ratings CSV.

Oracle: the analysis function itself on the same table (tests/analysis/test_severity.py
checks it against statsmodels and planted severities).
"""

from __future__ import annotations

import json

import numpy as np
from typer.testing import CliRunner

from analysis.datasets import krippendorff_2011
from analysis.severity import fit_severity, simulate_ratings
from app.cli import cli

runner = CliRunner()


def test_json_is_the_models_result(tmp_path):
    frame, _ = simulate_ratings(np.random.default_rng(1), n_raters=10, n_items=13, missing=0.1)
    path = tmp_path / "ratings.csv"
    frame.to_csv(path, index=False)
    result = runner.invoke(cli, ["severity", str(path), "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    expected = json.loads(json.dumps(fit_severity(frame).to_dict()))
    assert data == expected
    assert data["dimensions"] == ["misuse", "proprietary"] and len(data["raters"]) == 10


def test_text_names_raters_items_and_undefined_ones(tmp_path):
    path = tmp_path / "k.csv"
    krippendorff_2011().to_csv(path, index=False)
    result = runner.invoke(cli, ["severity", str(path)])
    assert result.exit_code == 0, result.output
    assert "Many-facet Rasch model" in result.output
    assert "severities corrected for JMLE bias" in result.output
    assert "undefined: extreme score" in result.output
    assert "thresholds" in result.output
    plain = runner.invoke(cli, ["severity", str(path), "--no-correction", "--json"])
    assert json.loads(plain.output)["severity_correction"] == 1.0


def test_only_chooses_dimensions_and_other_column_names(tmp_path):
    frame, _ = simulate_ratings(np.random.default_rng(2), n_raters=8, n_items=10)
    path = tmp_path / "renamed.csv"
    frame.rename(columns={"rater": "expert", "value": "score"}).to_csv(path, index=False)
    arguments = ["severity", str(path), "--rater", "expert", "--value", "score", "--json"]
    result = runner.invoke(cli, [*arguments, "--only", "misuse"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["dimensions"] == ["misuse"]
    wrong = runner.invoke(cli, [*arguments, "--only", "nope"])
    assert wrong.exit_code == 1 and "no dimension 'nope'" in wrong.output


def test_a_model_that_cannot_be_fitted_says_why(tmp_path):
    path = tmp_path / "ordered.csv"
    path.write_text(
        "rater,item,dimension,value\n"
        + "".join(
            f"{r},{i},risk,{v}\n"
            for (r, i), v in zip(
                [(r, i) for i in "wxyz" for r in "abc"],
                [1, 2, 2, 2, 2, 3, 3, 3, 4, 3, 4, 4],
                strict=True,
            )
        )
    )
    result = runner.invoke(cli, ["severity", str(path)])
    assert result.exit_code == 0 and "not fitted: the estimates grow without bound" in result.output


def test_a_bad_file_names_the_line(tmp_path):
    path = tmp_path / "bad.csv"
    path.write_text("rater,item,dimension,value\na,x,d,high\n")
    result = runner.invoke(cli, ["severity", str(path)])
    assert result.exit_code == 1 and "line 2" in result.output
