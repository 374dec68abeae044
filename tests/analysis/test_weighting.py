"""Tiers under other expert weightings: the weighted median equals the median of the
sample with each value repeated by its (integer) weight, equal weights reproduce the
panel's medians and the rule's tiers, and an item whose tier turns on the weighting is
listed."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from analysis.calibration import TierRule, apply_rule, consensus_scores
from analysis.weighting import (
    compare_weightings,
    confidence_weights,
    reference_weights,
    weighted_median,
)

RULE = TierRule(
    dimensions=["a", "b"],
    aggregate="max",
    n_tiers=3,
    initial_thresholds=[2.5, 4.0],
    tier_names=["low", "mid", "high"],
)


@pytest.mark.parametrize("seed", range(20))
def test_weighted_median_equals_the_median_of_the_repeated_sample(seed):
    rng = np.random.default_rng(seed)
    values = rng.integers(1, 6, size=rng.integers(1, 9)).astype(float)
    weights = rng.integers(1, 4, size=len(values)).astype(float)
    assert weighted_median(values, weights) == np.median(np.repeat(values, weights.astype(int)))


def test_weighted_median_without_weight_is_undefined():
    assert weighted_median(np.array([1.0, 2.0]), np.array([0.0, 0.0])) is None


def _panel(seed=0, n_raters=7, n_items=6):
    rng = np.random.default_rng(seed)
    rows = [
        (f"r{r}", f"i{i}", dim, float(np.clip(rng.integers(1, 6) + (i % 3) - 1, 1, 5)), "medium")
        for r in range(n_raters)
        for i in range(n_items)
        for dim in ("a", "b")
    ]
    return pd.DataFrame(rows, columns=["rater", "item", "dimension", "value", "confidence"])


def test_equal_weights_reproduce_the_medians_and_the_rules_tiers():
    frame = _panel()
    raters = sorted(frame["rater"].unique())
    result = compare_weightings(
        frame,
        rule=RULE,
        thresholds=[2.5, 4.0],
        rater_weights={"equal": dict.fromkeys(raters, 1.0)},
    )
    scores = consensus_scores(frame.drop(columns="confidence"), dimensions=["a", "b"])
    tiers = apply_rule(scores, dimensions=["a", "b"], aggregate="max", thresholds=[2.5, 4.0])
    for entry in result.items:
        assert entry.scores["equal"] == pytest.approx(scores.loc[entry.item].max())
        assert entry.tiers["equal"] == RULE.tier_names[int(tiers[entry.item])]
    assert result.depending == []


def test_an_item_whose_tier_turns_on_the_weighting_is_listed():
    # Three experts say 5, four say 1 on item x: the median is 1 (low); weighting the
    # three by 3 moves it to 5 (high). Item y is 3 for everyone (mid) either way.
    rows = [(f"r{r}", "x", d, 5.0 if r < 3 else 1.0) for r in range(7) for d in ("a", "b")]
    rows += [(f"r{r}", "y", d, 3.0) for r in range(7) for d in ("a", "b")]
    frame = pd.DataFrame(rows, columns=["rater", "item", "dimension", "value"])
    weights = {f"r{r}": 3.0 if r < 3 else 1.0 for r in range(7)}
    result = compare_weightings(
        frame,
        rule=RULE,
        thresholds=[2.5, 4.0],
        rater_weights={"equal": dict.fromkeys(weights, 1.0), "skilled": weights},
        changed_tiers={"severity-adjusted": {"y": "high"}},
    )
    by_item = {e.item: e for e in result.items}
    assert by_item["x"].tiers == {"equal": "low", "skilled": "high", "severity-adjusted": "low"}
    assert by_item["y"].tiers["severity-adjusted"] == "high"
    assert result.depending == ["x", "y"]
    assert result.schemes == ["equal", "skilled", "severity-adjusted"]


def test_reference_and_confidence_weights():
    weights = reference_weights({"a": 0.8, "b": -0.2, "c": None}, ["a", "b", "c", "d"])
    assert weights == {"a": 0.8, "b": 0.0, "c": 0.4, "d": 0.4}
    assert reference_weights({}, ["a"]) == {"a": 1.0}
    frame = pd.DataFrame({"confidence": ["low", "high", None, "medium"]})
    assert confidence_weights(frame).tolist() == [1.0, 3.0, 1.0, 2.0]
