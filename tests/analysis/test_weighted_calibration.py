"""Threshold calibration with expert weights (performance weights, or any others) and on
severity-adjusted ratings: equal weights reproduce the unweighted fit, an expert of weight 0
moves nothing, a dominant expert pulls the thresholds to his own, integer weights equal
repeating the expert, and the bootstrap's medians are those of the drawn experts repeated
by count times weight."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from analysis.calibration import CaseWeights, Resampling, fit_thresholds
from analysis.calibration.panel import _Cells, _centers, _prepare
from analysis.severity import fit_severity, severity_adjusted_ratings, simulate_ratings
from analysis.weighting import weighted_median
from tests.analysis.test_calibration import rule, synthetic_panel

RULE = rule(initial_thresholds=[2.5, 4.0], scale=(1, 5))


def _without(document: dict, *keys: str) -> dict:
    return {k: v for k, v in document.items() if k not in keys}


def _panel(seed: int = 0, n_raters: int = 12, noise: float = 0.9) -> pd.DataFrame:
    frame, _ = synthetic_panel(np.random.default_rng(seed), noise=noise, n_raters=n_raters)
    return frame


@pytest.mark.parametrize("seed", range(3))
def test_equal_weights_reproduce_the_unweighted_fit_exactly(seed):
    frame = _panel(seed)
    raters = frame["rater"].unique()
    plain = fit_thresholds(frame, RULE, Resampling(n_bootstrap=200, seed=seed))
    for value in (1.0, 0.37, 250.0):
        weighted = fit_thresholds(
            frame,
            RULE,
            Resampling(n_bootstrap=200, seed=seed),
            CaseWeights(dict.fromkeys(raters, value), name="performance"),
        )
        # Identical to the last bit: thresholds, kappas, scores, tiers, probabilities.
        assert _without(weighted.to_dict(), "settings") == _without(plain.to_dict(), "settings")
        assert weighted.settings["weights"]["effective_experts"] == pytest.approx(len(raters))
    assert plain.settings["weights"]["name"] == "equal"


def _wild(frame: pd.DataFrame) -> pd.DataFrame:
    """The panel plus an expert who rates every item at the top and in the lowest tier."""
    items = frame["item"].unique()
    rows = [("zz_wild", i, d, 5.0) for i in items for d in ("proprietary", "misuse")]
    rows += [("zz_wild", i, "tier", 0.0) for i in items]
    extra = pd.DataFrame(rows, columns=["rater", "item", "dimension", "value"])
    return pd.concat([frame, extra], ignore_index=True)


@pytest.mark.parametrize("seed", range(3))
def test_an_expert_of_weight_zero_changes_nothing(seed):
    frame = _panel(seed, n_raters=6)
    raters = list(frame["rater"].unique())
    plain = fit_thresholds(frame, RULE, Resampling(n_bootstrap=300, seed=seed))
    wild = _wild(frame)
    weights = CaseWeights({**dict.fromkeys(raters, 1.0), "zz_wild": 0.0})
    ignored = fit_thresholds(wild, RULE, Resampling(n_bootstrap=300, seed=seed), weights)
    kept = ("settings", "n_raters")
    assert _without(ignored.to_dict(), *kept) == _without(plain.to_dict(), *kept)
    assert ignored.settings["weights"]["experts_with_weight"] == len(raters)
    # The same expert counted equally does move the panel (the test can fail).
    counted = fit_thresholds(wild, RULE, Resampling(n_bootstrap=300, seed=seed))
    assert [i.score for i in counted.items] != [i.score for i in plain.items]


def test_a_dominant_expert_pulls_the_thresholds_to_his_own():
    # Oracle: the fit on that expert's ratings alone. With a weight above the others'
    # total, every weighted median is his value.
    frame = _panel(4, n_raters=9, noise=1.2)
    raters = sorted(frame["rater"].unique())
    lead = raters[3]
    alone = fit_thresholds(frame[frame["rater"] == lead], RULE, Resampling(n_bootstrap=0))
    panel = fit_thresholds(frame, RULE, Resampling(n_bootstrap=0))
    weights = CaseWeights({r: (20.0 if r == lead else 1.0) for r in raters})
    led = fit_thresholds(frame, RULE, Resampling(n_bootstrap=0), weights)
    assert led.fitted_thresholds == alone.fitted_thresholds
    assert [i.score for i in led.items] == [i.score for i in alone.items]
    assert [i.panel_tier for i in led.items] == [i.panel_tier for i in alone.items]
    # ... and away from the equally weighted panel's.
    assert [i.score for i in led.items] != [i.score for i in panel.items]


@pytest.mark.parametrize("center", ["median", "mean"])
def test_integer_weights_equal_repeating_the_expert(center):
    # Oracle: the unweighted fit on a panel in which each expert appears weight times.
    frame = _panel(7, n_raters=7)
    raters = sorted(frame["rater"].unique())
    times = {r: 1 + index % 3 for index, r in enumerate(raters)}
    repeated = pd.concat(
        [
            frame[frame["rater"] == r].assign(rater=f"{r}#{copy}")
            for r in raters
            for copy in range(times[r])
        ],
        ignore_index=True,
    )
    declared = rule(initial_thresholds=[2.5, 4.0], scale=(1, 5), center=center)
    weighted = fit_thresholds(
        frame,
        declared,
        Resampling(n_bootstrap=0),
        CaseWeights({r: float(t) for r, t in times.items()}),
    )
    oracle = fit_thresholds(repeated, declared, Resampling(n_bootstrap=0))
    assert weighted.fitted_thresholds == oracle.fitted_thresholds
    assert weighted.fitted_agreement.kappa == oracle.fitted_agreement.kappa
    for mine, theirs in zip(weighted.items, oracle.items, strict=True):
        assert mine.scores == pytest.approx(theirs.scores)
        assert mine.panel_tier == theirs.panel_tier


@pytest.mark.parametrize("seed", range(5))
def test_weighted_medians_with_real_weights_match_an_independent_implementation(seed):
    # Oracle: analysis.weighting.weighted_median (sort, cumulative sum, searchsorted), cell
    # by cell, with the drawn counts times real case weights, zeros included.
    rng = np.random.default_rng(seed)
    n_raters, n_items = 7, 6
    rows = [
        (r, i, float(rng.integers(1, 6)))
        for r in range(n_raters)
        for i in range(n_items)
        if rng.random() < 0.85
    ]
    rater, item, value = (np.array(column) for column in zip(*rows, strict=True))
    expert = rng.uniform(0, 3, size=n_raters)
    expert[rng.integers(0, n_raters)] = 0.0
    order = np.lexsort((value, item))
    size = np.bincount(item, minlength=n_items)
    cells = _Cells(
        rater=rater[order],
        value=value[order],
        start=np.cumsum(size) - size,
        size=size,
        case=expert[rater[order]],
    )
    counts = rng.integers(0, 3, size=(30, n_raters)).astype(float)
    ours = _centers(cells, counts, "median")
    for b in range(counts.shape[0]):
        for i in range(n_items):
            mine = item == i
            expected = weighted_median(value[mine], counts[b, rater[mine]] * expert[rater[mine]])
            oracle = np.nan if expected is None else expected
            assert ours[b, i] == pytest.approx(oracle, nan_ok=True)


def test_the_bootstrap_draws_only_experts_with_weight_and_keeps_their_weights():
    frame = _panel(2, n_raters=8)
    raters = sorted(frame["rater"].unique())
    weights = CaseWeights({r: (0.0 if r in raters[:2] else 1.0 + i) for i, r in enumerate(raters)})
    panel, _ = _prepare(frame, RULE, weights)
    assert panel.weighted.tolist() == list(range(2, 8))
    assert panel.expert_weights is not None
    assert panel.expert_weights.max() == 1.0
    one = fit_thresholds(frame, RULE, Resampling(n_bootstrap=0), weights)
    probabilities = fit_thresholds(frame, RULE, Resampling(n_bootstrap=200, seed=1), weights)
    assert one.fitted_thresholds == probabilities.fitted_thresholds
    assert probabilities.settings["weights"]["experts_with_weight"] == 6
    # 6 experts with weight, unequal: fewer than 10 effective ones, so a warning.
    assert any("effective" in w for w in probabilities.warnings)
    assert all(i.probabilities is not None for i in probabilities.items)


def test_one_expert_with_weight_gives_no_tier_probabilities():
    frame = _panel(3, n_raters=5)
    raters = sorted(frame["rater"].unique())
    weights = CaseWeights({r: (1.0 if r == raters[0] else 0.0) for r in raters})
    result = fit_thresholds(frame, RULE, Resampling(n_bootstrap=50, seed=0), weights)
    assert all(i.probabilities is None for i in result.items)
    assert "1 expert(s) with positive weight" in result.reasons["probabilities"]


def test_weights_are_checked():
    frame = _panel(0, n_raters=3)
    raters = sorted(frame["rater"].unique())
    with pytest.raises(ValueError, match="no weight for rater 'r02'"):
        fit_thresholds(frame, RULE, Resampling(n_bootstrap=0), CaseWeights({"r00": 1, "r01": 1}))
    with pytest.raises(ValueError, match="finite number >= 0"):
        fit_thresholds(
            frame, RULE, Resampling(n_bootstrap=0), CaseWeights(dict.fromkeys(raters, -1.0))
        )
    with pytest.raises(ValueError, match="every rating has weight 0"):
        fit_thresholds(
            frame, RULE, Resampling(n_bootstrap=0), CaseWeights(dict.fromkeys(raters, 0.0))
        )
    with pytest.raises(ValueError, match="no column 'confidence_weight'"):
        fit_thresholds(
            frame, RULE, Resampling(n_bootstrap=0), CaseWeights(column="confidence_weight")
        )


def test_rating_weights_from_a_column_multiply_the_experts():
    # Oracle: the same weight given as the expert's (each expert's ratings share one).
    frame = _panel(5, n_raters=6)
    raters = sorted(frame["rater"].unique())
    by_rater = {r: float(1 + i) for i, r in enumerate(raters)}
    as_column = frame.assign(w=frame["rater"].map(by_rater))
    one = fit_thresholds(as_column, RULE, Resampling(n_bootstrap=0), CaseWeights(column="w"))
    other = fit_thresholds(frame, RULE, Resampling(n_bootstrap=0), CaseWeights(by_rater))
    assert one.fitted_thresholds == other.fitted_thresholds
    assert [i.scores for i in one.items] == [i.scores for i in other.items]


# -------------------------------------------------------------------- severity-adjusted


def test_adjusted_ratings_follow_the_formula():
    # Oracle: the expected rating computed from the category probabilities of the rating
    # scale model, written out for one rating.
    frame, _ = simulate_ratings(np.random.default_rng(3), n_raters=8, n_items=12)
    result = fit_severity(frame)
    adjusted = severity_adjusted_ratings(frame, result)
    row = 17
    rater, item, dimension = frame.loc[row, ["rater", "item", "dimension"]]
    alpha = result.rater(rater).severity
    beta = result.item(item, dimension).location
    scale = next(s for s in result.scales if s.dimension == dimension)

    def expected(eta: float) -> float:
        tau = np.concatenate([[0.0], np.cumsum(scale.thresholds)])
        k = np.arange(len(scale.values))
        p = np.exp(eta * k - tau)
        return float((p / p.sum()) @ np.asarray(scale.values))

    value = frame.loc[row, "value"] - expected(beta + alpha) + expected(beta)
    value = min(max(value, scale.values[0]), scale.values[-1])
    assert adjusted.loc[row, "value"] == pytest.approx(value, abs=1e-12)


def test_adjustment_removes_the_planted_severities():
    # Planted severities (30 raters x 40 items): each rater's mean rating above the item
    # means follows the severity before adjustment and hardly at all after.
    frame, planted = simulate_ratings(
        np.random.default_rng(11), n_raters=30, n_items=40, severity_sd=0.8
    )
    adjusted = severity_adjusted_ratings(frame, fit_severity(frame))

    def lean(ratings: pd.DataFrame) -> pd.Series:
        centred = ratings["value"] - ratings.groupby(["item", "dimension"])["value"].transform(
            "mean"
        )
        return centred.groupby(ratings["rater"]).mean()

    severity = pd.Series(planted)
    before, after = lean(frame), lean(adjusted)
    assert np.corrcoef(severity[before.index], before)[0, 1] > 0.9
    assert after.abs().mean() < 0.25 * before.abs().mean()


@pytest.mark.parametrize("seed", range(3))
def test_the_weighting_comparison_has_each_fits_thresholds_scores_and_tiers(seed):
    """The comparison computes only thresholds and tiers (no checks, no leave-one-out
    refits); they are those of the full fit, to the last bit, under every kind of
    scheme, and the same whether or not the ratings come validated."""
    from analysis.tidy import validate_ratings
    from analysis.weighting import compare_calibrations

    frame = validate_ratings(_panel(seed))
    raters = sorted(frame["rater"].unique())
    experts = CaseWeights({r: float(k % 3) for k, r in enumerate(raters)}, name="performance")
    model = fit_severity(frame, dimensions=["proprietary", "misuse"])
    adjusted = severity_adjusted_ratings(frame, model)
    rated = frame.assign(w=np.where(frame.index % 2 == 0, 1.0, 3.0))
    rule_ = rule(initial_thresholds=[2.5, 4.0], scale=(1, 5), tier_names=["low", "mid", "high"])
    schemes = {
        "equal": (None, None),
        "experts": (None, experts),
        "adjusted": (adjusted, CaseWeights(name="adjusted")),
        "ratings": (rated, CaseWeights(column="w", name="ratings")),
    }
    compared = compare_calibrations(frame, rule=rule_, schemes=schemes)
    assert compare_calibrations(frame, rule=rule_, schemes=schemes, validated=True) == compared
    assert compared.schemes == list(schemes) and compared.reasons == {}
    for name, (own, weights) in schemes.items():
        fit = fit_thresholds(frame if own is None else own, rule_, Resampling(0), weights)
        assert compared.thresholds[name] == list(fit.fitted_thresholds)
        by_item = {row.item: row for row in compared.items}
        for entry in fit.items:
            assert by_item[entry.item].scores[name] == entry.score
            tier = None if entry.rule_tier is None else fit.tiers[entry.rule_tier]
            assert by_item[entry.item].tiers[name] == tier
    assert compared.fitted
