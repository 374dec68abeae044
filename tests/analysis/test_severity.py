"""The many-facet Rasch model of rater severity (analysis.severity).

Oracles: statsmodels' Logit with item and rater fixed effects, which for dichotomous
ratings maximises the same joint likelihood (estimates and standard errors must agree to
rounding); statsmodels' OrderedModel (cumulative logit, a different link) with item and
rater dummies for polytomous ratings (severities must correlate and rank alike); planted
severities in simulations (bench/severity.py has the full figures).
"""

from __future__ import annotations

import doctest
import json
import warnings

import numpy as np
import pandas as pd
import pytest
import scipy.stats
import statsmodels.api as sm
from statsmodels.miscmodels.ordinal_model import OrderedModel

from analysis.calibration import TierRule, apply_rule, consensus_scores
from analysis.datasets import krippendorff_2011
from analysis.severity import (
    FIT_HIGH,
    SeverityResult,
    TierChange,
    adjusted_tier_changes,
    fit_severity,
    format_text,
    severity_adjusted_ratings,
    simulate_ratings,
)


def _fitted_rows(frame: pd.DataFrame, result: SeverityResult) -> pd.DataFrame:
    """The valued ratings whose rater and item both have an estimate."""
    raters = {r.rater for r in result.raters if r.severity is not None}
    cells = {(i.item, i.dimension) for i in result.items if i.location is not None}
    rows = frame[frame["value"].notna()].copy()
    keep = [
        rater in raters and (item, dimension) in cells
        for rater, item, dimension in zip(
            rows["rater"], rows["item"], rows["dimension"], strict=True
        )
    ]
    rows = rows[np.asarray(keep)]
    rows["cell"] = rows["item"].astype(str) + "|" + rows["dimension"].astype(str)
    return rows


def _centred(coefficients: np.ndarray) -> np.ndarray:
    centred: np.ndarray = coefficients - coefficients.mean()
    return centred


# ------------------------------------------------------------------ independent checks


def test_dichotomous_ratings_match_logistic_regression_with_fixed_effects():
    frame, _ = simulate_ratings(
        np.random.default_rng(5), n_raters=12, n_items=15, thresholds=(0.0,), missing=0.1
    )
    result = fit_severity(frame, bias_correction=False)
    assert result.fitted and result.n_excluded > 0  # some items everyone put at one end
    rows = _fitted_rows(frame, result)
    raters = sorted(rows["rater"].unique())
    cells = sorted(rows["cell"].unique())
    design = pd.concat(
        [
            pd.get_dummies(rows["cell"], dtype=float)[cells],
            pd.get_dummies(rows["rater"], dtype=float)[raters[1:]],
        ],
        axis=1,
    )
    logit = sm.Logit((rows["value"] == 2.0).astype(float), design).fit(disp=0, method="newton")
    coefficients = np.r_[0.0, logit.params[raters[1:]].to_numpy()]
    severities = _centred(coefficients)
    ours = np.array([result.rater(r).severity for r in raters])
    np.testing.assert_allclose(ours, severities, atol=1e-8)
    # The same contrast of the fixed-effect covariance gives the severities' SEs.
    names = list(design.columns)
    contrast = np.zeros((len(raters), len(names)))
    for k, rater in enumerate(raters[1:], start=1):
        contrast[k, names.index(rater)] = 1.0
    contrast -= contrast.mean(axis=0)
    se = np.sqrt(np.diag(contrast @ logit.cov_params().to_numpy() @ contrast.T))
    np.testing.assert_allclose([result.rater(r).se for r in raters], se, atol=1e-8)
    locations = logit.params[cells].to_numpy() + coefficients.mean()
    ours_locations = [result.item(*cell.split("|")).location for cell in cells]
    np.testing.assert_allclose(ours_locations, locations, atol=1e-8)
    dichotomous = result.scales[0]
    assert dichotomous.values == (1.0, 2.0) and dichotomous.thresholds == (0.0,)


def test_polytomous_severities_agree_with_a_cumulative_logit_model():
    frame, _ = simulate_ratings(
        np.random.default_rng(7), n_raters=15, n_items=12, dimensions=("risk",)
    )
    result = fit_severity(frame, bias_correction=False)
    rows = _fitted_rows(frame, result)
    raters = sorted(rows["rater"].unique())
    design = pd.concat(
        [
            pd.get_dummies(rows["cell"], dtype=float).iloc[:, 1:],
            pd.get_dummies(rows["rater"], dtype=float)[raters[1:]],
        ],
        axis=1,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # statsmodels' optimiser chatter
        cumulative = OrderedModel(rows["value"].astype(int), design, distr="logit").fit(
            method="bfgs", disp=0, maxiter=5000
        )
    assert cumulative.mle_retvals["converged"]
    theirs = _centred(np.r_[0.0, cumulative.params[raters[1:]].to_numpy()])
    ours = np.array([result.rater(r).severity for r in raters])
    assert np.corrcoef(ours, theirs)[0, 1] > 0.95
    assert scipy.stats.spearmanr(ours, theirs).statistic > 0.95
    assert np.argmax(ours) == np.argmax(theirs) and np.argmin(ours) == np.argmin(theirs)


def test_fit_statistics_follow_from_the_estimates():
    frame = krippendorff_2011()
    result = fit_severity(frame, bias_correction=False)
    scale = result.scales[0]
    cumulative = np.r_[0.0, np.cumsum(scale.thresholds)]
    k = np.arange(len(scale.values))
    residuals: dict[str, list[tuple[float, float]]] = {}
    for row in _fitted_rows(frame, result).itertuples():
        logit = result.item(row.item, row.dimension).location + result.rater(row.rater).severity
        p = np.exp(logit * k - cumulative)
        p /= p.sum()
        expected = p @ k
        variance = p @ (k - expected) ** 2
        x = scale.values.index(row.value)
        residuals.setdefault(row.rater, []).append(((x - expected) ** 2, variance))
    for rater, pairs in residuals.items():
        squares, variances = np.array(pairs).T
        entry = result.rater(rater)
        assert entry.outfit == pytest.approx(np.mean(squares / variances))
        assert entry.infit == pytest.approx(squares.sum() / variances.sum())


# -------------------------------------------------------------------------- recovery


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_recovers_planted_severities_at_30_experts_by_40_items(seed):
    frame, planted = simulate_ratings(
        np.random.default_rng(seed), n_raters=30, n_items=40, missing=0.05
    )
    result = fit_severity(frame)
    estimated = np.array([r.severity for r in result.raters])
    truth = np.array([planted[r.rater] for r in result.raters])
    assert np.corrcoef(estimated, truth)[0, 1] >= 0.9
    assert np.sqrt(np.mean((estimated - truth) ** 2)) < 0.25
    se = np.array([r.se for r in result.raters])
    assert np.mean(np.abs(estimated - truth) <= 1.96 * se) >= 0.8


def test_panels_of_ten_experts_by_thirteen_items_recover_less():
    """The shipped panel size: the correlation averages about 0.87 (bench: 0.869 over
    200 panels; under half the panels reach 0.9), coverage stays near 95%."""
    correlations, covered = [], []
    for seed in range(20):
        frame, planted = simulate_ratings(
            np.random.default_rng(100 + seed), n_raters=10, n_items=13, missing=0.05
        )
        result = fit_severity(frame)
        raters = [r for r in result.raters if r.severity is not None]
        estimated = np.array([r.severity for r in raters])
        truth = np.array([planted[r.rater] for r in raters])
        truth -= truth.mean()
        correlations.append(np.corrcoef(estimated, truth)[0, 1])
        covered.append(
            np.mean(np.abs(estimated - truth) <= 1.96 * np.array([r.se for r in raters]))
        )
    assert 0.75 < np.mean(correlations) < 0.95
    assert 0.85 < np.mean(covered) <= 1.0


def test_bias_correction_scales_the_severities_only():
    frame, _ = simulate_ratings(np.random.default_rng(3), n_raters=10, n_items=13)
    plain = fit_severity(frame, bias_correction=False)
    corrected = fit_severity(frame)
    per_item = corrected.n_ratings / sum(i.location is not None for i in corrected.items)
    assert corrected.severity_correction == pytest.approx((per_item - 1) / per_item)
    assert plain.severity_correction == 1.0
    for a, b in zip(plain.raters, corrected.raters, strict=True):
        assert b.severity == pytest.approx(a.severity * corrected.severity_correction)
        assert b.se == a.se and b.infit == a.infit
    assert plain.items == corrected.items


def test_a_rater_answering_at_random_is_flagged_noisy():
    rng = np.random.default_rng(11)
    frame, _ = simulate_ratings(rng, n_raters=12, n_items=20, severity_sd=0.3)
    erratic = frame["rater"] == "E01"
    frame.loc[erratic, "value"] = rng.integers(1, 6, int(erratic.sum())).astype(float)
    result = fit_severity(frame)
    assert result.rater("E01").flag == "noisy"
    assert result.rater("E01").outfit > FIT_HIGH and result.rater("E01").outfit_z > 2
    assert all(r.flag != "noisy" for r in result.raters if r.rater != "E01")


# --------------------------------------------------------------- undefined and missing


def test_extreme_raters_and_items_are_undefined_with_the_reason():
    frame, _ = simulate_ratings(np.random.default_rng(4), n_raters=8, n_items=10)
    frame.loc[frame["rater"] == "E03", "value"] = 5.0  # always the highest value
    frame.loc[frame["item"] == "item07", "value"] = 1.0  # everyone: the lowest
    result = fit_severity(frame)
    assert result.fitted
    e03 = result.rater("E03")
    assert e03.severity is None and e03.se is None and e03.infit is None
    assert "highest value" in e03.reason and "+infinite" in e03.reason
    for dimension in ("proprietary", "misuse"):
        item = result.item("item07", dimension)
        assert item.location is None and item.fair_average is None
        assert "lowest value" in item.reason
        assert item.observed_average == 1.0
    others = [r for r in result.raters if r.rater != "E03"]
    assert all(r.severity is not None and r.reason is None for r in others)
    assert sum(r.severity for r in others) == pytest.approx(0.0, abs=1e-9)
    assert result.n_ratings + result.n_excluded == int(frame["value"].notna().sum())
    json.dumps(result.to_dict(), allow_nan=False)


def test_abstentions_and_missing_values_are_left_out():
    frame, _ = simulate_ratings(np.random.default_rng(6), n_raters=10, n_items=13, missing=0.15)
    assert (frame["status"] == "cant_judge").any()
    valued = frame[frame["status"] == "value"]
    assert fit_severity(frame) == fit_severity(valued)
    without_status = frame.drop(columns="status")  # a NaN value reads as "can't judge"
    assert fit_severity(without_status) == fit_severity(valued)


def test_same_input_same_result_whatever_the_row_order():
    frame, _ = simulate_ratings(np.random.default_rng(8), n_raters=10, n_items=13)
    first = fit_severity(frame)
    shuffled = fit_severity(frame.sample(frac=1.0, random_state=1))
    assert json.dumps(first.to_dict()) == json.dumps(shuffled.to_dict())


def test_json_form_is_the_fields():
    result = fit_severity(krippendorff_2011())
    data = json.loads(json.dumps(result.to_dict(), allow_nan=False))
    assert data["dimensions"] == ["d"] and data["converged"] is True
    assert [r["rater"] for r in data["raters"]] == ["A", "B", "C", "D"]
    assert set(data["raters"][0]) == {
        "rater", "n_ratings", "severity", "se", "infit", "outfit", "infit_z", "outfit_z",
        "flag", "reason",
    }  # fmt: skip
    item = next(i for i in data["items"] if i["item"] == 10)
    assert item["location"] is None and item["reason"].startswith("extreme score")
    assert data["scales"][0]["values"] == [1.0, 2.0, 3.0, 4.0]
    assert len(data["scales"][0]["thresholds"]) == 3
    assert "undefined" in format_text(result)


def test_perfectly_ordered_raters_have_no_estimate():
    frame = pd.DataFrame(
        {
            "rater": list("abc") * 4,
            "item": [i for i in "wxyz" for _ in "abc"],
            "dimension": "risk",
            "value": [1, 2, 2, 2, 2, 3, 3, 3, 4, 3, 4, 4.0],
        }
    )
    result = fit_severity(frame)
    assert not result.fitted and "grow without bound" in result.reason
    assert all(r.severity is None and r.reason == result.reason for r in result.raters)
    json.dumps(result.to_dict(), allow_nan=False)
    assert "not fitted" in format_text(result)


def test_raters_who_share_no_item_cannot_be_compared():
    one, _ = simulate_ratings(np.random.default_rng(9), n_raters=4, n_items=6)
    two, _ = simulate_ratings(np.random.default_rng(10), n_raters=4, n_items=6)
    two["rater"] = "F" + two["rater"]
    two["item"] = "other" + two["item"]
    result = fit_severity(pd.concat([one, two], ignore_index=True))
    assert not result.fitted and "2 groups" in result.reason


def test_one_rater_is_not_enough():
    frame = pd.DataFrame(
        {"rater": "a", "item": list("xyz"), "dimension": "d", "value": [1.0, 2.0, 3.0]}
    )
    assert "fewer than two raters" in fit_severity(frame).reason


def test_dimensions_are_chosen_and_checked():
    frame, _ = simulate_ratings(np.random.default_rng(12), n_raters=8, n_items=10)
    result = fit_severity(frame, dimensions=["misuse"])
    assert result.dimensions == ("misuse",)
    assert {i.dimension for i in result.items} == {"misuse"}
    with pytest.raises(ValueError, match="dimensions: 'nope'"):
        fit_severity(frame, dimensions=["nope"])
    with pytest.raises(ValueError, match="max_iterations"):
        fit_severity(frame, max_iterations=0)
    with pytest.raises(ValueError, match="bias_correction"):
        fit_severity(frame, bias_correction="yes")  # type: ignore[arg-type]


# ----------------------------------------------------------------- adjusted consensus


def _tiers(scores: pd.DataFrame, rule: TierRule) -> pd.Series:
    return apply_rule(
        scores, dimensions=rule.dimensions, aggregate=rule.aggregate,
        thresholds=rule.initial_thresholds,
    )  # fmt: skip


def test_tier_changes_compare_medians_with_medians_of_adjusted_ratings():
    rng = np.random.default_rng(13)
    frame, planted = simulate_ratings(rng, n_raters=10, n_items=13, severity_sd=1.0)
    # The most lenient half of the panel does not rate item01: its median is inflated.
    lenient = sorted(planted, key=planted.get)[:5]
    gone = (frame["item"] == "item01") & frame["rater"].isin(lenient)
    frame.loc[gone, "value"] = np.nan
    frame.loc[gone, "status"] = "cant_judge"
    result = fit_severity(frame)
    rule = TierRule(
        dimensions=["proprietary", "misuse"],
        aggregate="max",
        n_tiers=3,
        initial_thresholds=[2.5, 4.0],
        tier_names=["no_brainer", "gray_area", "high_trust"],
    )
    changes = adjusted_tier_changes(frame, result, rule=rule)
    # Oracle: the rule applied by hand to the medians before and after the adjustment.
    before = consensus_scores(frame, dimensions=rule.dimensions)
    after = consensus_scores(severity_adjusted_ratings(frame, result), dimensions=rule.dimensions)
    tiers_before, tiers_after = _tiers(before, rule), _tiers(after, rule)
    expected = [item for item in before.index if tiers_before[item] != tiers_after[item]]
    assert [c.item for c in changes] == expected and expected
    assert "item01" in expected  # the inflated median comes down
    names = rule.tier_names
    for change in changes:
        assert isinstance(change, TierChange)
        assert change.tier_before == names[tiers_before[change.item]]
        assert change.tier_after == names[tiers_after[change.item]]
        assert change.score_after == pytest.approx(after.loc[change.item].max())
    json.dumps([c.to_dict() for c in changes], allow_nan=False)


def test_equally_severe_raters_change_no_tier():
    """Three raters each giving the items 1, 2 and 5 in turn are equally severe (equal
    totals: every severity 0). Nothing is adjusted, so no tier changes, although the fair
    averages (2.67, a mean) lie across the threshold from the medians (2)."""
    turns = [(1, 2, 5), (2, 5, 1), (5, 1, 2), (1, 5, 2), (2, 1, 5), (5, 2, 1)]
    frame = pd.DataFrame(
        [
            (rater, f"i{i}", "d", float(value))
            for i, turn in enumerate(turns)
            for rater, value in zip("abc", turn, strict=True)
        ],
        columns=["rater", "item", "dimension", "value"],
    )
    result = fit_severity(frame)
    assert [r.severity for r in result.raters] == pytest.approx([0.0, 0.0, 0.0], abs=1e-9)
    assert all(e.fair_average == pytest.approx(8 / 3, abs=1e-6) for e in result.items)
    rule = TierRule(dimensions=["d"], aggregate="max", n_tiers=2, initial_thresholds=[2.5])
    assert adjusted_tier_changes(frame, result, rule=rule) == ()


def test_tier_changes_agree_with_the_severity_adjusted_comparison():
    """The severity section's list and the weighting comparison's severity-adjusted column
    share their adjusted scores; without holistic tiers both hold the declared thresholds,
    so they list the same items."""
    from analysis.calibration import CaseWeights
    from analysis.weighting import compare_calibrations

    frame, _ = simulate_ratings(np.random.default_rng(5), n_raters=12, n_items=30)
    result = fit_severity(frame)
    rule = TierRule(
        dimensions=["proprietary", "misuse"],
        aggregate="max",
        n_tiers=3,
        initial_thresholds=[2.5, 4.0],
        scale=(1, 5),
    )
    changes = adjusted_tier_changes(frame, result, rule=rule)
    compared = compare_calibrations(
        frame,
        rule=rule,
        schemes={
            "equal": (None, None),
            "severity-adjusted": (severity_adjusted_ratings(frame, result), CaseWeights()),
        },
    )
    assert compared.fitted is False
    assert [c.item for c in changes] == compared.depending and changes
    by_item = {i.item: i for i in compared.items}
    for change in changes:
        row = by_item[change.item]
        assert change.score_before == pytest.approx(row.scores["equal"])
        assert change.score_after == pytest.approx(row.scores["severity-adjusted"])
        assert (change.tier_before, change.tier_after) == (
            row.tiers["equal"],
            row.tiers["severity-adjusted"],
        )


def test_tier_changes_need_a_fitted_model_with_the_rule_dimensions():
    frame = krippendorff_2011()
    rule = TierRule(dimensions=["d"], aggregate="max", n_tiers=2, initial_thresholds=[2.5])
    unfitted = fit_severity(frame.assign(value=np.where(frame["rater"] == "A", 1.0, 5.0)))
    with pytest.raises(ValueError, match="not fitted"):
        adjusted_tier_changes(frame, unfitted, rule=rule)
    other = TierRule(dimensions=["x"], aggregate="max", n_tiers=2, initial_thresholds=[2.5])
    with pytest.raises(ValueError, match="'x' is not in the severity model"):
        adjusted_tier_changes(frame, fit_severity(frame), rule=other)


def test_doctests():
    import analysis.severity

    failures, _ = doctest.testmod(analysis.severity, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert failures == 0


# ---------------------------------------------------------------------------- Wright map


def test_wright_map_is_a_deterministic_svg():
    import xml.etree.ElementTree as ElementTree

    from analysis.plots import plot_wright_map

    frame, _ = simulate_ratings(np.random.default_rng(14), n_raters=10, n_items=13)
    frame.loc[frame["item"] == "item07", "value"] = 1.0  # listed under the map
    result = fit_severity(frame)
    svg = plot_wright_map(result)
    assert svg == plot_wright_map(fit_severity(frame.sample(frac=1.0, random_state=2)))
    ElementTree.fromstring(svg.encode())  # well-formed
    with pytest.raises(ValueError, match="not fitted"):
        plot_wright_map(fit_severity(frame.assign(value=1.0)))
    with pytest.raises(ValueError, match="SeverityResult"):
        plot_wright_map(frame)  # type: ignore[arg-type]


def test_a_large_panel_s_wright_map_names_the_raters_farthest_from_the_average():
    # Every rater is drawn; of more than NAMED_RATERS only the farthest from the average
    # rater are named (a thousand names made a figure 200 inches tall), and the heading
    # says so. A small panel keeps every name.
    import re

    from analysis.plots import NAMED_RATERS, _wright_columns, plot_wright_map

    frame, _ = simulate_ratings(np.random.default_rng(15), n_raters=NAMED_RATERS + 20, n_items=9)
    result = fit_severity(frame)
    (heading, raters), *_ = _wright_columns(result)
    fitted = [r for r in result.raters if r.severity is not None]
    assert len(raters) == len(fitted) > NAMED_RATERS
    named = {label for label, _, _ in raters if label}
    assert len(named) == NAMED_RATERS
    farthest = sorted(fitted, key=lambda r: -abs(float(r.severity or 0.0)))[:NAMED_RATERS]
    assert named == {r.rater for r in farthest}
    assert f"{NAMED_RATERS} named" in heading and f"of {len(fitted)}" in heading
    height = float(re.search(r'height="([0-9.]+)pt"', plot_wright_map(result)).group(1))
    assert height < 72 * (2.0 + 0.2 * NAMED_RATERS) + 1  # sized for the names shown

    small, _ = simulate_ratings(np.random.default_rng(16), n_raters=12, n_items=9)
    (heading, raters), *_ = _wright_columns(fit_severity(small))
    assert all(label for label, _, _ in raters) and "named" not in heading
