"""Agreement of each expert with the calibration items' reference values: weighted kappa
equals scikit-learn's Cohen's kappa with quadratic weights, the bias is the mean
difference, the undefined cases say why, and the jackknife intervals cover as claimed."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import cohen_kappa_score

from analysis.reference import MIN_ITEMS, reference_agreement


def _frame(rows):
    return pd.DataFrame(rows, columns=["rater", "item", "dimension", "value"])


def test_kappa_equals_cohens_quadratic_kappa_and_bias_the_mean_difference():
    rng = np.random.default_rng(4)
    refs = rng.integers(1, 6, size=12)
    ratings = np.clip(refs + rng.integers(-1, 2, size=12), 1, 5)
    frame = _frame([("e1", f"i{i}", "d", float(v)) for i, v in enumerate(ratings)])
    result = reference_agreement(
        frame, {(f"i{i}", "d"): float(r) for i, r in enumerate(refs)}, {"d": (1, 5)}
    )
    (expert,) = result.experts
    expected = cohen_kappa_score(ratings, refs, weights="quadratic", labels=[1, 2, 3, 4, 5])
    assert expert.kappa == pytest.approx(expected, abs=1e-12)
    assert expert.bias == pytest.approx(float(np.mean(ratings - refs)), abs=1e-12)
    assert expert.n_items == 12 and expert.reason is None
    low, high = expert.bias_ci
    assert low < expert.bias < high
    # The bias interval is the t interval of the item differences (one cell per item).
    diffs = ratings - refs
    half = 2.201 * diffs.std(ddof=1) / np.sqrt(12)  # t(0.975, 11)
    assert (low, high) == pytest.approx((diffs.mean() - half, diffs.mean() + half), abs=1e-3)


def test_scales_of_different_length_pool_on_positions():
    frame = _frame(
        [("e", i, "short", v) for i, v in zip("abcd", (1, 2, 3, 3), strict=True)]
        + [("e", i, "long", v) for i, v in zip("abcd", (1, 4, 7, 9), strict=True)]
    )
    refs = {(i, "short"): v for i, v in zip("abcd", (1, 2, 3, 3), strict=True)}
    refs |= {(i, "long"): v for i, v in zip("abcd", (1, 4, 7, 9), strict=True)}
    result = reference_agreement(frame, refs, {"short": (1, 3), "long": (1, 9)})
    assert result.experts[0].kappa == pytest.approx(1.0) and result.experts[0].bias == 0.0


def test_too_few_items_and_no_variation_are_undefined_with_the_reason():
    refs = {(f"i{i}", "d"): 3.0 for i in range(4)}
    few = _frame([("e", "i0", "d", 3.0), ("e", "i1", "d", 4.0)])
    (expert,) = reference_agreement(few, refs, {"d": (1, 5)}).experts
    assert expert.kappa is None and expert.bias is None
    assert expert.reason == f"rated 2 calibration items; at least {MIN_ITEMS} are needed"
    flat = _frame([("e", f"i{i}", "d", 3.0) for i in range(4)])
    (expert,) = reference_agreement(flat, refs, {"d": (1, 5)}).experts
    assert expert.kappa is None and expert.bias == 0.0
    assert expert.reason == "no variation: kappa is 0/0"


def test_missing_values_and_other_items_are_left_out():
    frame = _frame(
        [
            ("e", "i0", "d", 1.0),
            ("e", "i1", "d", None),
            ("e", "i2", "d", 5.0),
            ("e", "other", "d", 2.0),
            ("e", "i3", "d", 4.0),
        ]
    )
    refs = {(f"i{i}", "d"): float(v) for i, v in enumerate((1, 2, 5, 4))}
    (expert,) = reference_agreement(frame, refs, {"d": (1, 5)}).experts
    assert expert.n_items == 3 and expert.n_ratings == 3 and expert.kappa == pytest.approx(1.0)


@pytest.mark.parametrize("n_items", [5, 10])
def test_intervals_cover_the_population_values(n_items):
    """A seeded simulation (small: Monte-Carlo SE about 1.5 points): experts with a bias of
    half a point and noise; truth from 200,000 items of the same population."""
    dims, reps, bias, noise = 3, 200, 0.5, 1.0

    def draw(n, rng):
        ref = rng.integers(1, 6, size=(n, dims))
        return ref, np.clip(np.rint(ref + bias + rng.normal(0, noise, size=ref.shape)), 1, 5)

    ref, x = draw(200_000, np.random.default_rng(99))
    px, pr = ((x - 1) / 4).ravel(), ((ref - 1) / 4).ravel()
    true_kappa = (
        2
        * np.mean((px - px.mean()) * (pr - pr.mean()))
        / (px.var() + pr.var() + (px.mean() - pr.mean()) ** 2)
    )
    true_bias = float((x - ref).mean())
    rng = np.random.default_rng(7)
    hits = {"kappa": [], "bias": []}
    scales = {f"d{d}": (1, 5) for d in range(dims)}
    for _ in range(reps):
        ref, x = draw(n_items, rng)
        cells = [(i, d) for i in range(n_items) for d in range(dims)]
        frame = _frame([("e", f"i{i}", f"d{d}", x[i, d]) for i, d in cells])
        refs = {(f"i{i}", f"d{d}"): float(ref[i, d]) for i, d in cells}
        (e,) = reference_agreement(frame, refs, scales).experts
        if e.kappa_ci:
            hits["kappa"].append(e.kappa_ci[0] <= true_kappa <= e.kappa_ci[1])
        hits["bias"].append(e.bias_ci[0] <= true_bias <= e.bias_ci[1])
    assert 0.9 <= np.mean(hits["bias"]) <= 0.99
    assert 0.89 <= np.mean(hits["kappa"]) <= 0.99 and len(hits["kappa"]) >= 0.9 * reps
