"""Undefined statistics come back as None with a reason; unsuitable levels are refused.

Oracles: the ``krippendorff`` package (which returns a number in the degenerate cases, so
the tests show which number we withhold), statsmodels' Fleiss' kappa and hand counts.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import krippendorff
import numpy as np
import pandas as pd
import pytest
from statsmodels.stats.inter_rater import aggregate_raters, fleiss_kappa

from analysis.calibration import Resampling, TierRule, fit_thresholds, tier_probabilities
from analysis.options import Columns
from analysis.reliability import (
    MIN_PAIRABLE_ITEMS,
    Bootstrap,
    _draw_counts,
    dimension_reliability,
    krippendorff_alpha,
)
from analysis.summary import analyze, format_text
from analysis.tidy import read_ratings_csv
from tests.analysis.factories import frame_from_matrix

ONE_ITEM = "fewer than two items with two or more ratings"
ONE_ITEM_INTERVAL = (
    "one item with two or more ratings: the spread over items, which the interval needs, "
    "cannot be estimated"
)


def test_one_item_alpha_is_undefined_where_the_package_says_zero() -> None:
    matrix = [[1], [2], [3], [4]]
    # The package's number is 0 by construction (expected = observed disagreement).
    assert (
        krippendorff.alpha(
            reliability_data=np.asarray(matrix, float), level_of_measurement="ordinal"
        )
        == 0
    )
    result = dimension_reliability(frame_from_matrix(matrix), bootstrap=Bootstrap(50, rng=0))
    for alpha in result.alpha.values():
        assert alpha.value is None
        assert alpha.reason is not None and alpha.reason.startswith(ONE_ITEM)
        assert alpha.ci is None and alpha.p_below_minimum is None
    for name in ("fleiss_kappa", "gwet_ac1", "gwet_ac2_ordinal", "brennan_prediger"):
        coefficient = getattr(result, name)
        assert coefficient.value is None
        assert coefficient.reason is not None and coefficient.reason.startswith(ONE_ITEM)
    # Percent agreement is not chance-corrected, so one item gives it: 4 values, no match.
    # Its interval is another matter: one item shows no spread over items, and the
    # replicates would make a zero-width interval [0, 0] of it.
    assert result.percent_agreement.value == 0.0
    assert result.percent_agreement.ci is None
    assert result.percent_agreement.ci_reason == ONE_ITEM_INTERVAL
    as_json = json.loads(json.dumps(result.to_dict(), allow_nan=False))
    assert as_json["krippendorff_alpha"]["ordinal"] is None
    assert as_json["reasons"]["krippendorff_alpha.ordinal"].startswith(ONE_ITEM)
    assert as_json["reasons"]["fleiss_kappa"].startswith(ONE_ITEM)
    assert as_json["ci"]["percent_agreement"] is None
    assert as_json["reasons"]["ci.percent_agreement"] == ONE_ITEM_INTERVAL
    text = format_text(analyze(frame_from_matrix(matrix), n_bootstrap=50))
    assert f"agreement: no interval: {ONE_ITEM_INTERVAL}" in text


def test_one_pairable_item_among_singletons_is_still_undefined() -> None:
    # Item 0 rated by all; items 1 and 2 by one rater each (no pairable values there).
    matrix = [[1, 2, None], [2, None, 3], [3, None, None]]
    result = krippendorff_alpha(frame_from_matrix(matrix), bootstrap=Bootstrap(0))
    assert result.value is None and result.reason is not None
    assert result.n_pairable_units == 1


def test_two_items_are_enough_and_match_the_package_and_statsmodels() -> None:
    assert MIN_PAIRABLE_ITEMS == 2
    matrix = [[1, 3], [2, 3], [1, 2]]
    frame = frame_from_matrix(matrix)
    data = np.asarray(matrix, float)
    for level in ("nominal", "ordinal", "interval", "ratio"):
        ours = krippendorff_alpha(frame, level=level, bootstrap=Bootstrap(0)).value
        assert ours == pytest.approx(krippendorff.alpha(data, level_of_measurement=level))
    table, _ = aggregate_raters(data.T.astype(int))
    kappa = dimension_reliability(frame, bootstrap=Bootstrap(0)).fleiss_kappa.value
    assert kappa == pytest.approx(fleiss_kappa(table, method="fleiss"))


def test_bootstrap_drops_replicates_that_drew_one_item_only() -> None:
    # Two pairable items: a replicate that drew one of them twice is alpha = 0 by
    # construction and must not enter the interval (before: CI [0, 1], q inflated). A
    # rater replicate that drew one rater only has no pairable values and is dropped too.
    frame = frame_from_matrix([[1, 3], [1, 3], [1, 3], [2, 3]])
    result = krippendorff_alpha(frame, level="interval", bootstrap=Bootstrap(400, rng=7))
    rng = np.random.default_rng(7)
    items, raters = _draw_counts(2, 400, rng), _draw_counts(4, 400, rng)
    both_items = (items > 0).sum(axis=1) == 2
    usable = int((both_items & ((raters > 0).sum(axis=1) >= 2)).sum())
    assert 0 < result.n_bootstrap == usable < int(both_items.sum()) < 400
    fixed = krippendorff_alpha(
        frame, level="interval", bootstrap=Bootstrap(400, rng=7, raters="fixed")
    )
    assert fixed.n_bootstrap == int(both_items.sum())
    kappa = dimension_reliability(frame, bootstrap=Bootstrap(400, rng=7)).fleiss_kappa
    assert kappa.n_bootstrap <= usable


def test_ratio_refuses_negative_values_naming_the_dimension() -> None:
    frame = frame_from_matrix([[-2, -1, 1, 2], [2, 1, -1, -2]], dimension="gain")
    # The package computes a number (1.0 here, for raters of opposite sign).
    with pytest.raises(ValueError, match=r"'gain'.*ratio level needs values >= 0"):
        krippendorff_alpha(frame, level="ratio", bootstrap=Bootstrap(0))
    with pytest.raises(ValueError, match="'gain'"):
        dimension_reliability(frame, level="ratio", bootstrap=Bootstrap(0))
    # At another level the ratio alpha is reported undefined, with the same reason.
    result = dimension_reliability(frame, level="interval", bootstrap=Bootstrap(0))
    assert result.alpha["ratio"].value is None
    assert "values >= 0" in (result.alpha["ratio"].reason or "")
    assert result.alpha["interval"].value == pytest.approx(
        krippendorff.alpha(
            reliability_data=np.asarray([[-2, -1, 1, 2], [2, 1, -1, -2]], float),
            level_of_measurement="interval",
        )
    )


def test_ratio_accepts_zero() -> None:
    matrix = [[0, 1, 2, 4], [0, 1, 3, 4]]
    result = krippendorff_alpha(frame_from_matrix(matrix), level="ratio", bootstrap=Bootstrap(0))
    assert result.value == pytest.approx(
        krippendorff.alpha(np.asarray(matrix, float), level_of_measurement="ratio")
    )


@pytest.mark.parametrize("level", ["nominal", "ordinal"])
def test_categorical_levels_refuse_fractions_unless_a_scale_lists_them(level: str) -> None:
    matrix = [[1.5, 2, 3, 4], [1.5, 2.5, 3, 4], [2, 2.5, 3, 3.5]]
    frame = frame_from_matrix(matrix, dimension="risk")
    with pytest.raises(ValueError, match=rf"'risk'.*{level} level.*1.5 is not a whole"):
        krippendorff_alpha(frame, level=level, bootstrap=Bootstrap(0))
    scale = [1, 1.5, 2, 2.5, 3, 3.5, 4]
    declared = krippendorff_alpha(frame, level=level, scale=scale, bootstrap=Bootstrap(0))
    assert declared.value == pytest.approx(
        krippendorff.alpha(np.asarray(matrix, float), level_of_measurement=level)
    )


def test_interval_dimension_with_fractions_reports_categorical_coefficients_undefined() -> None:
    matrix = [[1.25, 2, 3, 4], [1.5, 2.5, 3, 4], [2, 2.5, 3, 3.75]]
    result = dimension_reliability(
        frame_from_matrix(matrix), level="interval", bootstrap=Bootstrap(0)
    )
    assert result.alpha["interval"].value == pytest.approx(
        krippendorff.alpha(np.asarray(matrix, float), level_of_measurement="interval")
    )
    for undefined in (result.alpha["nominal"], result.alpha["ordinal"], result.fleiss_kappa):
        assert undefined.value is None
        assert "not a whole number" in (undefined.reason or "")
    assert result.percent_agreement.value is not None


# ----------------------------------------------------------------------- calibration


def _calibration_frame(tiers_by_item: dict[str, tuple[float, int]], raters: str) -> pd.DataFrame:
    rows = [
        (r, item, dimension, value)
        for r in raters
        for item, (score, tier) in tiers_by_item.items()
        for dimension, value in (("d", score), ("tier", tier))
    ]
    return pd.DataFrame(rows, columns=["rater", "item", "dimension", "value"])


RULE = TierRule(dimensions=["d"], aggregate="max", n_tiers=3, initial_thresholds=[2.5, 4.0])


def test_one_expert_gives_no_tier_probabilities() -> None:
    frame = _calibration_frame({"a": (1, 0), "b": (3, 1), "c": (5, 2)}, "x")
    result = fit_thresholds(frame, RULE, Resampling(n_bootstrap=50, seed=0))
    assert all(item.probabilities is None and item.modal_share is None for item in result.items)
    assert "at least 2 experts" in result.reasons["probabilities"]
    probabilities = tier_probabilities(frame, RULE, Resampling(n_bootstrap=50, seed=0))
    assert probabilities.probabilities == (None, None, None)
    # Two experts are enough to resample.
    two = fit_thresholds(
        _calibration_frame({"a": (1, 0), "b": (5, 2)}, "xy"), RULE, Resampling(seed=0)
    )
    assert all(item.probabilities is not None for item in two.items)


def test_few_experts_are_warned_about_though_the_probabilities_are_defined() -> None:
    # Oracle: bench/calibration.py --reliability, where probabilities from fewer than
    # FEW_EXPERTS experts were overconfident against fresh panels.
    from analysis.calibration import FEW_EXPERTS

    assert FEW_EXPERTS == 10
    items = {"a": (1, 0), "b": (3, 1), "c": (5, 2)}
    few = fit_thresholds(_calibration_frame(items, "abcdefghi"), RULE, Resampling(50, seed=0))
    assert all(item.probabilities is not None for item in few.items)
    (warning,) = few.warnings
    assert warning.startswith("only 9 experts") and "upper bounds" in warning
    assert few.to_dict()["warnings"] == [warning]
    alone = tier_probabilities(_calibration_frame(items, "abcdefghi"), RULE, Resampling(50))
    assert alone.warnings == (warning,) and alone.to_dict()["warnings"] == [warning]
    enough = fit_thresholds(_calibration_frame(items, "abcdefghij"), RULE, Resampling(50))
    assert enough.warnings == () and enough.to_dict()["warnings"] == []
    # No probabilities, nothing to warn about: the reason says why.
    none = fit_thresholds(_calibration_frame(items, "abc"), RULE, Resampling(n_bootstrap=0))
    assert none.warnings == ()


def test_all_items_in_one_tier_fit_no_threshold() -> None:
    frame = _calibration_frame({"a": (1, 1), "b": (3, 1), "c": (5, 1)}, "xyz")
    result = fit_thresholds(frame, RULE, Resampling(n_bootstrap=0))
    # Before: thresholds moved off the scale (below 1 and above 5) and kappa 1.0.
    assert result.fitted_thresholds == (2.5, 4.0)
    assert result.fitted_agreement.kappa is None and result.loo_agreement.kappa is None
    assert result.reasons["kappa_fitted"].startswith("not identified")
    assert result.reasons["fitted_thresholds"].endswith("the initial thresholds are kept")
    # Only b is gray_area by 2.5/4.0.
    assert result.initial_agreement.accuracy == pytest.approx(1 / 3)
    json.dumps(result.to_dict(), allow_nan=False)


def test_all_items_in_one_tier_give_no_tier_probabilities() -> None:
    # Experts disagree on the scores but put every item in the middle tier: nothing says
    # where a fresh panel's thresholds would lie.
    frame = pd.concat(
        [
            _calibration_frame({"a": (1, 1), "b": (3, 1), "c": (5, 1)}, "xyz"),
            _calibration_frame({"a": (2, 1), "b": (4, 1), "c": (4, 1)}, "uv"),
        ]
    )
    result = fit_thresholds(frame, RULE, Resampling(n_bootstrap=50, seed=0))
    assert all(item.probabilities is None and item.borderline is None for item in result.items)
    assert result.reasons["probabilities"].startswith("not identified")
    alone = tier_probabilities(frame, RULE, Resampling(n_bootstrap=50, seed=0))
    assert alone.probabilities == (None, None, None)
    assert alone.reasons["probabilities"] == result.reasons["probabilities"]
    assert "items" not in alone.reasons
    json.dumps(result.to_dict(), allow_nan=False)
    # With the thresholds held at the declared values the probabilities are defined
    # (conditional on those thresholds).
    fixed = tier_probabilities(frame, RULE, Resampling(n_bootstrap=50, seed=0, refit=False))
    assert all(row is not None for row in fixed.probabilities)


def test_two_items_leave_one_out_is_not_identified() -> None:
    frame = _calibration_frame({"a": (1, 0), "b": (5, 2)}, "xyz")
    result = fit_thresholds(frame, RULE, Resampling(n_bootstrap=0))
    assert result.loo_agreement.kappa is None and result.loo_agreement.accuracy is None
    assert result.reasons["loo_kappa"].startswith("not identified")


# ---------------------------------------------------------------------- text and CSV


def test_text_and_csv_say_undefined_with_the_reason() -> None:
    from app.services.reports import report_csv

    frame = frame_from_matrix([[1], [2], [3]])
    result = analyze(frame, n_bootstrap=20, seed=0)
    text = format_text(result)
    assert f"alpha (ordinal): undefined: {ONE_ITEM}" in text
    assert "Fleiss kappa, Gwet AC1" in text and f"undefined: {ONE_ITEM}" in text
    assert "P(alpha" not in text

    class Report:
        def to_dict(self) -> dict[str, object]:
            return result.to_dict()

    cells = {
        (row[2], row[3])
        for row in csv.reader(io.StringIO(report_csv(Report())))  # type: ignore[arg-type]
    }
    assert any(
        s == "krippendorff_alpha.ordinal" and v.startswith(f"undefined: {ONE_ITEM}")
        for s, v in cells
    )
    assert any(s == "details.fleiss_kappa.value" and v.startswith("undefined: ") for s, v in cells)


# ----------------------------------------------------------------- nominal text labels

# Krippendorff (2011), 4 coders x 12 units, with the values written as words.
WORDS = {1: "very low", 2: "low", 3: "mid", 4: "high", 5: "very high"}
K2011 = {
    "A": [1, 2, 3, 3, 2, 1, 4, 1, 2, None, None, None],
    "B": [1, 2, 3, 3, 2, 2, 4, 1, 2, 5, None, 3],
    "C": [None, 3, 3, 3, 2, 3, 4, 2, 2, 5, 1, None],
    "D": [1, 2, 3, 3, 2, 4, 4, 1, 2, 5, 1, None],
}


def _words_csv(tmp_path: Path) -> Path:
    lines = ["rater,item,dimension,value"]
    for rater, values in K2011.items():
        for unit, v in enumerate(values):
            lines.append(f"{rater},{unit + 1},d,{'' if v is None else WORDS[v]}")
    path = tmp_path / "words.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_nominal_text_labels_reproduce_the_published_alpha(tmp_path: Path) -> None:
    path = _words_csv(tmp_path)
    with pytest.raises(ValueError, match=r"'very low' is not a number.*nominal level"):
        read_ratings_csv(path)
    frame = read_ratings_csv(path, columns=Columns(text_values=True))
    assert frame.attrs["value_labels"]["d"] == {
        float(i): w for i, w in enumerate(sorted(WORDS.values()), 1)
    }
    result = analyze(frame, levels="nominal", n_bootstrap=0)
    alpha = result.dimensions["d"].alpha["nominal"].value
    words = [[np.nan if v is None else WORDS[v] for v in vs] for vs in K2011.values()]
    package = krippendorff.alpha(reliability_data=words, level_of_measurement="nominal")
    assert alpha == pytest.approx(package) and round(alpha, 3) == 0.743  # published
    assert result.settings["value_labels"] == {
        "d": {"1": "high", "2": "low", "3": "mid", "4": "very high", "5": "very low"}
    }
    assert "d: text labels coded 1 = high" in format_text(result)
    with pytest.raises(ValueError, match=r"'d' holds text labels.*only the nominal level"):
        analyze(frame, levels="ordinal", n_bootstrap=0)


def test_cli_analyze_nominal_reads_text_labels(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from app.cli import cli

    path = _words_csv(tmp_path)
    runner = CliRunner()
    nominal = runner.invoke(cli, ["analyze", str(path), "--level", "nominal", "--bootstrap", "0"])
    assert nominal.exit_code == 0, nominal.output
    assert "alpha (nominal) = 0.743" in nominal.output
    ordinal = runner.invoke(cli, ["analyze", str(path), "--bootstrap", "0"])
    assert ordinal.exit_code != 0 and "is not a number" in ordinal.output


def test_alpha_without_a_rater_is_undefined_when_one_pairable_item_remains() -> None:
    from analysis.raters import rater_diagnostics

    # Without rater 0 only item 0 keeps two values; without rater 1 items 0 and 2 do.
    matrix = [[1, 2, 4], [2, 3, None], [1, None, 5]]
    reduced = np.asarray(matrix, float)
    assert krippendorff.alpha(reliability_data=reduced[1:], level_of_measurement="ordinal") == 0
    diagnostics = {d.rater: d.dimensions["d"] for d in rater_diagnostics(frame_from_matrix(matrix))}
    assert diagnostics[0].alpha_without is None and diagnostics[0].alpha_delta is None
    assert "alpha_without" in diagnostics[0].reasons
    assert diagnostics[1].alpha_without == pytest.approx(
        krippendorff.alpha(reliability_data=reduced[[0, 2]], level_of_measurement="ordinal")
    )


def test_few_items_are_warned_about_though_the_coefficients_are_defined():
    from analysis.reliability import dimension_reliability
    from analysis.results import FEW_ITEMS

    two = pd.DataFrame(
        [(r, i, "d", v) for r in "abcd" for i, v in (("x", 1.0), ("y", 4.0))],
        columns=["rater", "item", "dimension", "value"],
    )
    result = dimension_reliability(two, bootstrap=Bootstrap(0))
    assert result.fleiss_kappa.value == 1.0  # perfect by the letter ...
    (warning,) = result.warnings()  # ... and said to rest on two items
    assert warning.startswith("only 2 items with two or more values")
    assert result.to_dict()["warnings"] == [warning]
    many = pd.DataFrame(
        [(r, i, "d", float((i + (r == "a")) % 5 + 1)) for r in "abcd" for i in range(FEW_ITEMS)],
        columns=["rater", "item", "dimension", "value"],
    )
    assert dimension_reliability(many, bootstrap=Bootstrap(0)).warnings() == []
