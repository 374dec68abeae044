"""Calibration of tier thresholds: the rule, the kappa, the search, LOO and the bootstrap.

Oracles: statsmodels' ``cohens_kappa`` (quadratic weights) for the kappa; a brute-force
search over explicit candidate threshold values (scored with statsmodels) for the fit;
``numpy.median`` of explicitly repeated values for the resampled medians; refitting
through the public API for leave-one-out; hand-made rules; and synthetic panels drawn
from a known rule and known thresholds.
"""

from __future__ import annotations

import doctest
import importlib
import itertools
import json
import pkgutil

import numpy as np
import pandas as pd
import pytest
from statsmodels.stats.inter_rater import cohens_kappa

import analysis.calibration
from analysis.calibration import (
    Resampling,
    TierRule,
    apply_rule,
    consensus_scores,
    fit_thresholds,
    quadratic_weighted_kappa,
    tier_probabilities,
)
from analysis.calibration.bootstrap import _resample_weights
from analysis.calibration.panel import _Cells, _centers
from analysis.calibration.rule import _assign

DIMENSIONS = ["proprietary", "misuse"]


def rule(**fields) -> TierRule:
    """The two-dimension, three-tier rule of the synthetic panels, with ``fields``."""
    return TierRule(**{"dimensions": DIMENSIONS, "aggregate": "max", "n_tiers": 3, **fields})


def synthetic_panel(
    rng: np.random.Generator,
    *,
    noise: float,
    truth=(2.5, 4.0),
    n_raters: int = 30,
    n_items: int = 20,
    severity: float = 0.3,
) -> tuple[pd.DataFrame, np.ndarray]:
    """Ratings 1-5 and holistic tiers from a known max-rule; returns (ratings, latent max).

    Each expert perceives latent item score + own severity + noise on each dimension,
    rates the rounded, clipped perception, and gives the tier that the true rule assigns
    to the (unrounded) perception.
    """
    latent = rng.uniform(1, 5, size=(2, n_items))
    shift = rng.normal(0, severity, size=n_raters)
    perceived = latent[:, None, :] + shift[None, :, None]
    perceived = perceived + rng.normal(0, noise, size=(2, n_raters, n_items))
    values = np.clip(np.rint(perceived), 1, 5)
    tiers = (perceived.max(axis=0)[..., None] >= np.asarray(truth)).sum(axis=-1)
    raters = np.repeat([f"r{i:02d}" for i in range(n_raters)], n_items)
    items = np.tile([f"i{j:02d}" for j in range(n_items)], n_raters)
    frames = [
        pd.DataFrame({"rater": raters, "item": items, "dimension": name, "value": v.ravel()})
        for name, v in zip(("proprietary", "misuse"), values, strict=True)
    ]
    frames.append(
        pd.DataFrame(
            {"rater": raters, "item": items, "dimension": "tier", "value": tiers.ravel() * 1.0}
        )
    )
    return pd.concat(frames, ignore_index=True), latent.max(axis=0)


def one_dimension_panel(scores, tiers, *, raters=("a",)) -> pd.DataFrame:
    """Every rater gives item i the value scores[i] on "d" and the tier tiers[i]."""
    rows = []
    for rater in raters:
        for index, (score, tier) in enumerate(zip(scores, tiers, strict=True)):
            rows.append((rater, f"i{index}", "d", float(score)))
            if tier is not None:
                rows.append((rater, f"i{index}", "tier", float(tier)))
    return pd.DataFrame(rows, columns=["rater", "item", "dimension", "value"])


@pytest.mark.parametrize(
    "name", [m.name for m in pkgutil.iter_modules(analysis.calibration.__path__)]
)
def test_docstring_examples(name):
    module = importlib.import_module(f"analysis.calibration.{name}")
    failures, _ = doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert failures == 0


# ----------------------------------------------------------------------------- kappa


@pytest.mark.parametrize("seed", range(20))
def test_kappa_matches_statsmodels(seed):
    # Oracle: statsmodels.stats.inter_rater.cohens_kappa(table, wt="quadratic").
    rng = np.random.default_rng(seed)
    k = int(rng.integers(2, 6))
    table = rng.integers(0, 12, size=(k, k)) + np.diag(rng.integers(0, 20, size=k))
    expected = cohens_kappa(table, wt="quadratic", return_results=False)
    assert quadratic_weighted_kappa(table) == pytest.approx(expected, abs=1e-12)


def test_kappa_undefined_when_both_use_one_tier():
    assert quadratic_weighted_kappa([[0, 0], [0, 7]]) is None
    with pytest.raises(ValueError, match="table"):
        quadratic_weighted_kappa([[1, 2, 3]])


# ------------------------------------------------------------------------------ rule


def test_apply_rule_by_hand():
    # Oracle: the rule worked out by hand for each aggregate.
    scores = pd.DataFrame(
        {"a": [1.0, 2.5, 4.0, 2.0, np.nan], "b": [2.0, 1.0, 1.0, 4.5, 3.0]},
        index=list("vwxyz"),
    )
    cuts = [2.5, 4.0]
    by_max = apply_rule(scores, dimensions=["a", "b"], aggregate="max", thresholds=cuts)
    by_min = apply_rule(scores, dimensions=["a", "b"], aggregate="min", thresholds=cuts)
    by_mean = apply_rule(scores, dimensions=["a", "b"], aggregate="mean", thresholds=cuts)
    # max: 2, 2.5, 4, 4.5, NaN; min: 1, 1, 1, 2, NaN; mean: 1.5, 1.75, 2.5, 3.25, NaN
    assert by_max.tolist()[:4] == [0, 1, 2, 2]
    assert by_min.tolist()[:4] == [0, 0, 0, 0]
    assert by_mean.tolist()[:4] == [0, 0, 1, 1]
    assert by_max.isna().tolist() == [False] * 4 + [True]
    assert str(by_max.dtype) == "Int64" and list(by_max.index) == list("vwxyz")


def test_apply_rule_boundary_goes_up_even_with_rounding_error():
    scores = pd.DataFrame({"a": [0.1 + 0.2, 3.9999999999999996, 3.99]})
    tiers = apply_rule(scores, dimensions=["a"], aggregate="mean", thresholds=[0.3, 4.0])
    assert tiers.tolist() == [1, 2, 1]


def test_apply_rule_rejects_bad_thresholds():
    scores = pd.DataFrame({"a": [1.0]})
    with pytest.raises(ValueError, match="thresholds"):
        apply_rule(scores, dimensions=["a"], aggregate="max", thresholds=[3.0, 2.0])
    with pytest.raises(ValueError, match="aggregate"):
        apply_rule(scores, dimensions=["a"], aggregate="median", thresholds=[3.0])
    with pytest.raises(ValueError, match="dimensions"):
        apply_rule(scores, dimensions=["b"], aggregate="max", thresholds=[3.0])


# ------------------------------------------------------------------- consensus inputs


def test_consensus_scores_match_pandas():
    # Oracle: pandas groupby median / mean over the non-missing values.
    frame, _ = synthetic_panel(np.random.default_rng(3), noise=0.9, n_raters=7, n_items=9)
    frame.loc[frame.index % 5 == 0, "value"] = np.nan
    for center in ("median", "mean"):
        ours = consensus_scores(frame, dimensions=["proprietary", "misuse"], center=center)
        reference = frame.groupby(["item", "dimension"])["value"].agg(center).unstack()
        pd.testing.assert_frame_equal(
            ours, reference[["proprietary", "misuse"]], check_names=False, check_freq=False
        )


@pytest.mark.parametrize("seed", range(5))
def test_resampled_medians_match_numpy(seed):
    # Oracle: numpy.median / mean of each cell's values repeated as often as each rater
    # was drawn.
    rng = np.random.default_rng(seed)
    n_raters, n_items = 6, 5
    rows = [
        (r, i, float(rng.integers(1, 6)))
        for r in range(n_raters)
        for i in range(n_items)
        if rng.random() < 0.8
    ]
    rater, item, value = (np.array(column) for column in zip(*rows, strict=True))
    order = np.lexsort((value, item))
    size = np.bincount(item, minlength=n_items)
    cells = _Cells(rater=rater[order], value=value[order], start=np.cumsum(size) - size, size=size)
    weights = rng.integers(0, 3, size=(40, n_raters)).astype(float)
    for center, function in (("median", np.median), ("mean", np.mean)):
        ours = _centers(cells, weights, center)
        for b in range(weights.shape[0]):
            for i in range(n_items):
                mine = (item == i) & (weights[b, rater] > 0)
                repeated = np.repeat(value[mine], weights[b, rater[mine]].astype(int))
                expected = function(repeated) if repeated.size else np.nan
                np.testing.assert_allclose(ours[b, i], expected, equal_nan=True)


def test_panel_tier_is_the_median_rounded_half_up():
    frame = one_dimension_panel([1, 5], [0, 2], raters=("a",))
    other = one_dimension_panel([1, 5], [1, 1], raters=("b",))
    result = fit_thresholds(
        pd.concat([frame, other]),
        TierRule(dimensions=["d"], aggregate="max", n_tiers=3, initial_thresholds=[2.0, 4.0]),
        Resampling(n_bootstrap=0),
    )
    # medians 0.5 -> 1 and 1.5 -> 2
    assert [item.panel_tier for item in result.items] == [1, 2]


# ------------------------------------------------------------------------- the search


def _brute_force_best_kappa(scores, panel, n_thresholds):
    """Best quadratic kappa over strictly increasing thresholds from an explicit grid."""
    distinct = np.unique(scores)
    values = [distinct[0] - 0.5 * (j + 1) for j in range(n_thresholds)]
    values += [distinct[-1] + 0.5 * (j + 1) for j in range(n_thresholds)]
    for low, high in itertools.pairwise(distinct):
        values += [low + (high - low) * (j + 1) / (n_thresholds + 1) for j in range(n_thresholds)]
    best = -np.inf
    n_tiers = n_thresholds + 1
    for cuts in itertools.combinations(sorted(values), n_thresholds):
        rule = (scores[:, None] >= np.asarray(cuts)).sum(axis=1)
        table = np.zeros((n_tiers, n_tiers))
        np.add.at(table, (rule, panel), 1)
        kappa = cohens_kappa(table, wt="quadratic", return_results=False)
        best = max(best, kappa)
    return best


@pytest.mark.parametrize("seed", range(12))
def test_fit_reaches_the_brute_force_optimum(seed):
    # Oracle: exhaustive search over an explicit grid of threshold values that covers
    # every split of the items (several thresholds per gap, several beyond the ends),
    # each scored with statsmodels.
    rng = np.random.default_rng(seed)
    n_thresholds = 2 if seed % 2 else 3
    n_items = int(rng.integers(5, 9))
    scores = rng.integers(1, 6, size=n_items).astype(float) + 0.5 * rng.integers(0, 2, n_items)
    scores = np.minimum(scores, 5.0)
    panel = rng.integers(0, n_thresholds + 1, size=n_items)
    if np.unique(panel).size == 1:
        panel[0] = (panel[0] + 1) % (n_thresholds + 1)
    frame = one_dimension_panel(scores, panel)
    initial = np.sort(rng.choice(np.arange(1.0, 5.5, 0.5), size=n_thresholds, replace=False))
    result = fit_thresholds(
        frame,
        TierRule(
            dimensions=["d"],
            aggregate="max",
            n_tiers=n_thresholds + 1,
            initial_thresholds=initial,
            scale=(1, 5),
        ),
        Resampling(n_bootstrap=0),
    )
    expected = _brute_force_best_kappa(scores, panel, n_thresholds)
    assert result.fitted_agreement.kappa == pytest.approx(expected, abs=1e-12)
    assert result.fitted_agreement.kappa >= result.initial_agreement.kappa - 1e-12
    assert np.all(np.diff(result.fitted_thresholds) > 0)
    # The reported rule tiers are apply_rule's, and the confusion table counts them.
    rule = [item.rule_tier for item in result.items]
    table = np.zeros((n_thresholds + 1,) * 2, dtype=int)
    np.add.at(table, (rule, [item.panel_tier for item in result.items]), 1)
    assert np.array_equal(table, np.array(result.confusion))


def test_declared_thresholds_survive_when_optimal():
    frame = one_dimension_panel([1, 2, 3, 4, 5], [0, 0, 1, 1, 2])
    result = fit_thresholds(
        frame,
        TierRule(dimensions=["d"], aggregate="max", n_tiers=3, initial_thresholds=[2.2, 4.9]),
        Resampling(n_bootstrap=0),
    )
    assert result.fitted_thresholds == (2.2, 4.9)
    assert result.fitted_agreement.kappa == result.initial_agreement.kappa == 1.0


def test_empty_middle_tier_is_a_candidate():
    # The panel never uses the middle tier: the best rule leaves it empty.
    frame = one_dimension_panel([1, 2, 4, 5], [0, 0, 2, 2])
    result = fit_thresholds(
        frame,
        TierRule(dimensions=["d"], aggregate="max", n_tiers=3, initial_thresholds=[1.5, 2.5]),
        Resampling(n_bootstrap=0),
    )
    assert result.fitted_agreement.kappa == 1.0
    assert [item.rule_tier for item in result.items] == [0, 0, 2, 2]
    assert 2 < result.fitted_thresholds[0] < result.fitted_thresholds[1] <= 4


@pytest.mark.parametrize(
    ("initial", "expected"),
    [
        (3.0, 3.5),  # closer to the gap (3, 4] than to (1, 2]
        (2.0, 2.0),  # lies in the gap (1, 2]: kept as declared
        (1.2, 1.2),
        (2.5, 1.5),  # equally far from 1.5 and 3.5: the smaller wins
    ],
)
def test_tie_resolves_towards_initial_thresholds(initial, expected):
    # Scores 1, 2, 3, 4 with panel tiers 0, 1, 0, 1: a threshold in (1, 2] and one in
    # (3, 4] both give kappa 0.5 (worked by hand), every other split less.
    frame = one_dimension_panel([1, 2, 3, 4], [0, 1, 0, 1])
    fits = [
        fit_thresholds(
            frame,
            TierRule(dimensions=["d"], aggregate="max", n_tiers=2, initial_thresholds=[initial]),
            Resampling(n_bootstrap=0),
        )
        for _ in range(2)
    ]
    assert fits[0].fitted_agreement.kappa == pytest.approx(0.5)
    assert fits[0].fitted_thresholds == fits[1].fitted_thresholds == (expected,)
    shuffled = frame.sample(frac=1.0, random_state=1)
    again = fit_thresholds(
        shuffled,
        TierRule(dimensions=["d"], aggregate="max", n_tiers=2, initial_thresholds=[initial]),
        Resampling(n_bootstrap=0),
    )
    assert again.fitted_thresholds == (expected,)


def test_leave_one_out_matches_refitting_through_the_api():
    # Oracle: fit_thresholds on the panel without each item, then apply_rule to it.
    frame, _ = synthetic_panel(np.random.default_rng(11), noise=0.9, n_raters=9, n_items=12)
    declared = rule(initial_thresholds=[2.0, 3.0], scale=(1, 5))
    full = fit_thresholds(frame, declared, Resampling(n_bootstrap=0))
    scores = consensus_scores(frame, dimensions=DIMENSIONS)
    predicted, panel = [], []
    for item in full.items:
        without = fit_thresholds(
            frame[frame["item"] != item.item], declared, Resampling(n_bootstrap=0)
        )
        tier = apply_rule(
            scores.loc[[item.item]],
            dimensions=DIMENSIONS,
            aggregate="max",
            thresholds=without.fitted_thresholds,
        ).iloc[0]
        predicted.append(int(tier))
        panel.append(item.panel_tier)
    table = np.zeros((3, 3))
    np.add.at(table, (predicted, panel), 1)
    assert full.loo_agreement.kappa == pytest.approx(cohens_kappa(table, wt="quadratic").kappa)
    assert full.loo_agreement.accuracy == pytest.approx(np.mean(np.equal(predicted, panel)))


# ------------------------------------------------------------------- synthetic panels


@pytest.mark.parametrize("truth", [(2.5, 3.5), (2.5, 4.0)])
@pytest.mark.parametrize("seed", range(4))
def test_recovers_true_thresholds_at_low_noise(seed, truth):
    # Oracle: the rule and thresholds the panel was generated from.
    frame, latent = synthetic_panel(np.random.default_rng(seed), noise=0.3, truth=truth)
    result = fit_thresholds(
        frame, rule(initial_thresholds=[2.0, 3.0], scale=(1, 5)), Resampling(n_bootstrap=0)
    )
    fitted, true = np.array(result.fitted_thresholds), np.array(truth)
    same = np.array_equal(_assign(latent, fitted), _assign(latent, true))
    assert same or np.abs(fitted - true).max() <= 0.5
    assert result.fitted_agreement.kappa > result.initial_agreement.kappa


@pytest.mark.parametrize("noise", [0.6, 0.9])
@pytest.mark.parametrize("seed", range(3))
def test_beats_a_trivial_rule_at_higher_noise(noise, seed):
    # Oracle: the trivial rule (every item in the panel's most common tier) has kappa 0.
    frame, _ = synthetic_panel(np.random.default_rng(100 + seed), noise=noise)
    result = fit_thresholds(
        frame, rule(initial_thresholds=[2.0, 3.0], scale=(1, 5)), Resampling(n_bootstrap=0)
    )
    panel = np.array([item.panel_tier for item in result.items])
    trivial = np.full(panel.size, np.bincount(panel).argmax())
    table = np.zeros((3, 3))
    np.add.at(table, (trivial, panel), 1)
    trivial_kappa = cohens_kappa(table, wt="quadratic", return_results=False)
    assert result.fitted_agreement.kappa > trivial_kappa + 0.5
    assert result.loo_agreement.kappa > trivial_kappa


# ----------------------------------------------------------------------- bootstrap


def test_without_holistic_tiers_thresholds_stay_and_only_probabilities_are_computed():
    rows = []
    for rater in range(20):
        rows.append((rater, "far", "d", 1.0))
        rows.append((rater, "edge", "d", 2.0 if rater % 2 else 4.0))
        rows.append((rater, "high", "d", 5.0))
    frame = pd.DataFrame(rows, columns=["rater", "item", "dimension", "value"])
    result = fit_thresholds(
        frame,
        TierRule(dimensions=["d"], aggregate="max", n_tiers=2, initial_thresholds=[3.0]),
        Resampling(n_bootstrap=400, seed=5),
    )
    assert result.fitted_thresholds == result.initial_thresholds == (3.0,)
    assert (
        result.fitted_agreement.kappa is None
        and result.reasons["kappa_fitted"] == "no holistic tiers"
    )
    assert result.loo_agreement.kappa is None and result.confusion is None
    by_item = {item.item: item for item in result.items}
    for item in by_item.values():
        assert sum(item.probabilities) == pytest.approx(1.0)
        assert item.n_resamples == 400
    assert by_item["far"].probabilities == (1.0, 0.0) and not by_item["far"].borderline
    assert by_item["high"].probabilities == (0.0, 1.0) and not by_item["high"].borderline
    assert by_item["edge"].borderline and 0.3 < by_item["edge"].probabilities[1] < 0.8
    json.dumps(result.to_dict(), allow_nan=False)


@pytest.mark.parametrize("n_raters", [3, 10, 15])
def test_predictive_draws_resample_a_resample(n_raters):
    # Oracle: the moments of a two-stage multinomial. A single resample draws each expert
    # C ~ Binomial(n, 1/n) times: mean 1, variance (n - 1)/n. Drawing n again from that
    # resample gives E[C'] = 1 and Var C' = E[C] - E[C^2]/n + Var C
    # = 1 - (Var C + 1)/n + Var C.
    rng = np.random.default_rng(n_raters)
    single = _resample_weights(rng, 40_000, n_raters)
    double = _resample_weights(rng, 40_000, n_raters, predictive=True)
    first = (n_raters - 1) / n_raters
    second = 1 - (first + 1) / n_raters + first
    for weights, variance in ((single, first), (double, second)):
        assert np.all(weights.sum(axis=1) == n_raters)
        assert weights.mean() == pytest.approx(1.0)
        # Standard error of a sample variance of 40,000 x n counts: under 0.01.
        assert weights.var() == pytest.approx(variance, abs=0.03)


def test_predictive_probabilities_are_less_sure_than_plug_in_shares():
    # The predictive probabilities spread more than the plug-in shares of the same panel
    # (the uncertainty about the population is added to the fresh panel's own), and the
    # result says which it holds.
    frame, _ = synthetic_panel(np.random.default_rng(8), noise=0.9, n_raters=10, n_items=13)
    declared = rule(initial_thresholds=[2.5, 4.0], scale=(1, 5))
    predictive = tier_probabilities(frame, declared, Resampling(n_bootstrap=2000, seed=1))
    plug_in = tier_probabilities(
        frame, declared, Resampling(n_bootstrap=2000, seed=1, predictive=False)
    )
    sure = [max(row) for row in predictive.probabilities]
    surer = [max(row) for row in plug_in.probabilities]
    assert np.mean(sure) < np.mean(surer) - 0.02
    assert predictive.to_dict()["predictive"] and not plug_in.to_dict()["predictive"]
    assert "fresh panel" in predictive.to_dict()["estimand"]
    assert "plug-in" in plug_in.to_dict()["estimand"]
    settings = fit_thresholds(frame, declared, Resampling(n_bootstrap=10, seed=1)).settings
    assert settings["predictive"] is True and settings["probability"] == predictive.estimand


def test_bootstrap_is_reproducible_and_sums_to_one():
    frame, _ = synthetic_panel(np.random.default_rng(21), noise=0.9)
    declared = rule(initial_thresholds=[2.5, 4.0], scale=(1, 5))
    first = tier_probabilities(frame, declared, Resampling(n_bootstrap=300, seed=9))
    second = tier_probabilities(
        frame, declared, Resampling(n_bootstrap=300, seed=np.random.default_rng(9))
    )
    other = tier_probabilities(frame, declared, Resampling(n_bootstrap=300, seed=10))
    assert first.probabilities == second.probabilities
    assert first.probabilities != other.probabilities
    for row in first.probabilities:
        assert sum(row) == pytest.approx(1.0)
    fixed = tier_probabilities(frame, declared, Resampling(n_bootstrap=300, seed=9, refit=False))
    assert not fixed.refit and first.refit
    assert json.dumps(first.to_dict(), allow_nan=False)


def test_calibration_probabilities_agree_with_tier_probabilities():
    frame, _ = synthetic_panel(np.random.default_rng(22), noise=0.6, n_raters=12, n_items=8)
    declared = rule(initial_thresholds=[2.5, 4.0], scale=(1, 5))
    calibration = fit_thresholds(frame, declared, Resampling(n_bootstrap=100, seed=3))
    probabilities = tier_probabilities(frame, declared, Resampling(n_bootstrap=100, seed=3))
    assert [item.probabilities for item in calibration.items] == list(probabilities.probabilities)
    data = calibration.to_dict()
    json.dumps(data, allow_nan=False)
    assert data["settings"]["tie_break"].startswith("among thresholds")
    assert set(data["items"][0]) >= {
        "item",
        "scores",
        "score",
        "rule_tier",
        "panel_tier",
        "probabilities",
        "modal_tier",
        "modal_share",
        "borderline",
    }


def test_bootstrap_is_fast_enough():
    # 1000 resamples x 20 items x 30 raters with refitting, plus the fit and LOO.
    import time

    frame, _ = synthetic_panel(np.random.default_rng(0), noise=0.9)
    start = time.perf_counter()
    fit_thresholds(frame, rule(initial_thresholds=[2.5, 4.0]), Resampling(n_bootstrap=1000, seed=0))
    assert time.perf_counter() - start < 5.0


def test_items_missing_a_dimension_have_no_score():
    frame = one_dimension_panel([1, 3, 5], [0, 1, 1], raters=("a", "b"))
    frame.loc[(frame["item"] == "i1") & (frame["dimension"] == "d"), "value"] = np.nan
    result = fit_thresholds(
        frame,
        TierRule(dimensions=["d"], aggregate="max", n_tiers=2, initial_thresholds=[2.0]),
        Resampling(n_bootstrap=20, seed=1),
    )
    missing = result.items[1]
    assert missing.score is None and missing.rule_tier is None and missing.probabilities is None
    assert "no value on d" in missing.reason
    assert result.n_items_fitted == 2
    json.dumps(result.to_dict(), allow_nan=False)


@pytest.mark.parametrize(
    ("override", "parameter"),
    [
        ({"aggregate": "sum"}, "aggregate"),
        ({"center": "mode"}, "center"),
        ({"n_tiers": 1}, "n_tiers"),
        ({"initial_thresholds": [3.0]}, "initial_thresholds"),
        ({"initial_thresholds": [3.0, 2.0]}, "initial_thresholds"),
        ({"dimensions": ["nope"]}, "dimensions"),
        ({"scale": (2, 4)}, "scale"),
        ({"n_bootstrap": -1}, "n_bootstrap"),
        ({"seed": "x"}, "seed"),
        ({"tier_names": ["a", "b"]}, "tier_names"),
        ({"borderline_share": 1.5}, "borderline_share"),
    ],
)
def test_invalid_arguments_name_the_parameter(override, parameter):
    frame = one_dimension_panel([1, 3, 5], [0, 1, 2])
    fields = {
        "dimensions": ["d"],
        "aggregate": "max",
        "n_tiers": 3,
        "initial_thresholds": [2.0, 4.0],
    }
    settings = {"n_bootstrap": 0}
    for key, value in override.items():
        (fields if key in TierRule.__dataclass_fields__ else settings)[key] = value
    with pytest.raises(ValueError, match=parameter):
        fit_thresholds(frame, TierRule(**fields), Resampling(**settings))


def test_tier_values_must_be_positions():
    frame = one_dimension_panel([1, 3, 5], [0, 1, 3])
    with pytest.raises(ValueError, match="tier positions"):
        fit_thresholds(
            frame, TierRule(dimensions=["d"], aggregate="max", n_tiers=3, initial_thresholds=[2, 4])
        )


def test_fitted_thresholds_come_with_the_interval_the_data_identify():
    rows = [
        (r, i, d, v)
        for r in "abc"
        for i, values in {
            "weights": (5, 4, 2),
            "standards": (1, 2, 0),
            "methods": (3, 3, 1),
            "estimates": (4, 3, 1),
        }.items()
        for d, v in zip(("proprietary", "misuse", "tier"), values, strict=True)
    ]
    frame = pd.DataFrame(rows, columns=["rater", "item", "dimension", "value"])
    declared = TierRule(
        dimensions=["proprietary", "misuse"],
        aggregate="max",
        n_tiers=3,
        initial_thresholds=[2.5, 4.0],
        scale=(1, 5),
    )
    result = fit_thresholds(frame, declared, Resampling(n_bootstrap=0))
    scores = sorted({item.score for item in result.items})
    assert result.threshold_intervals == ((2.0, 3.0), (4.0, 5.0))
    for fitted, (lower, upper) in zip(
        result.fitted_thresholds, result.threshold_intervals, strict=True
    ):
        assert lower < fitted <= upper and lower in scores and upper in scores

    def tiers(thresholds):
        return [sum(item.score >= t for t in thresholds) for item in result.items]

    fitted = tiers(result.fitted_thresholds)
    (low0, up0), (low1, up1) = result.threshold_intervals
    # Any thresholds inside the intervals give the same tiers; leaving one changes a tier.
    assert tiers([up0, up1]) == fitted and tiers([low0 + 1e-6, low1 + 1e-6]) == fitted
    assert tiers([low0, up1]) != fitted and tiers([up0, up1 + 1e-6]) != fitted
    assert result.to_dict()["fitted_threshold_intervals"] == [[2.0, 3.0], [4.0, 5.0]]
    without = fit_thresholds(frame[frame["dimension"] != "tier"], declared, Resampling(0))
    assert without.threshold_intervals is None
    assert without.to_dict()["fitted_threshold_intervals"] is None
