"""Consensus per item x dimension against pandas/numpy computed cell by cell.

Oracles: numpy.percentile (method "linear" = Hyndman & Fan type 7, "weibull" = type 6),
pandas groupby statistics, collections.Counter for modes, and the coincidence matrix
of Krippendorff (2011) for the confused level pairs.
"""

from __future__ import annotations

from collections import Counter

import numpy as np
import pandas as pd
import pytest

from analysis.consensus import ConsensusCriterion, confusion_pairs, item_consensus
from analysis.tidy import dimension_data
from tests.analysis.factories import frame_from_matrix, random_panel


@pytest.fixture
def panel() -> pd.DataFrame:
    frame = random_panel(np.random.default_rng(7), n_raters=9, n_items=15, dimensions=("a", "b"))
    statuses = np.where(
        frame["value"].notna(),
        "value",
        np.where(np.arange(len(frame)) % 2 == 0, "cant_judge", "outside_expertise"),
    )
    frame["status"] = statuses
    frame["confidence"] = np.random.default_rng(8).integers(1, 6, len(frame)).astype(float)
    return frame


@pytest.mark.parametrize("method", ["linear", "weibull"])
def test_statistics_match_cell_by_cell(panel, method):
    # Oracle: numpy.percentile with the same Hyndman & Fan type; pandas mean/std.
    results = item_consensus(panel, quantile_method=method, criterion={"max_iqr": 1.0})
    assert len(results) == 30
    for result in results:
        cell = panel[(panel["item"] == result.item) & (panel["dimension"] == result.dimension)]
        values = cell["value"].dropna().to_numpy()
        assert result.n == values.size
        q1, median, q3 = np.percentile(values, [25, 50, 75], method=method)
        assert result.median == pytest.approx(median)
        assert (result.q1, result.q3) == pytest.approx((q1, q3))
        assert result.iqr == pytest.approx(q3 - q1)
        assert result.mean == pytest.approx(values.mean())
        assert result.sd == pytest.approx(values.std(ddof=1))
        assert result.share_within_one == pytest.approx(np.mean(np.abs(values - median) <= 1))
        counts = Counter(values.tolist())
        top = max(counts.values())
        assert result.modal_value == min(v for v, c in counts.items() if c == top)
        assert result.modal_share == pytest.approx(top / values.size)
        assert result.modal_tied == (sum(c == top for c in counts.values()) > 1)
        assert result.n_cant_judge == (cell["status"] == "cant_judge").sum()
        assert result.n_outside_expertise == (cell["status"] == "outside_expertise").sum()
        assert result.mean_confidence == pytest.approx(cell["confidence"].mean())
        assert result.consensus == (q3 - q1 <= 1)


def test_criterion_conditions_combine():
    # Oracle: hand-worked Delphi criteria on values 1, 3, 3, 3, 5 (median 3, IQR 0,
    # 60% within one point).
    frame = frame_from_matrix([[1], [3], [3], [3], [5]])
    (strict,) = item_consensus(frame, criterion={"max_iqr": 1, "min_share_within_one": 0.7})
    assert strict.consensus is False and "share within one point = 0.60" in strict.consensus_reason
    (loose,) = item_consensus(frame, criterion={"max_iqr": 1, "min_share_within_one": 0.6})
    assert loose.consensus is True and loose.consensus_reason is None
    (few,) = item_consensus(frame, criterion={"max_iqr": None, "min_n": 6})
    assert few.consensus is False and "n = 5 < 6" in few.consensus_reason
    (none,) = item_consensus(frame, criterion=ConsensusCriterion(max_iqr=None))
    assert none.consensus is None


def test_item_without_values_has_no_statistics():
    # Oracle: definition; abstentions only.
    frame = pd.DataFrame(
        {
            "rater": ["a", "b"],
            "item": "x",
            "dimension": "d",
            "value": [np.nan, np.nan],
            "status": ["cant_judge", "outside_expertise"],
        }
    )
    (result,) = item_consensus(frame)
    assert result.n == 0 and result.median is None and result.consensus is False
    assert (result.n_cant_judge, result.n_outside_expertise) == (1, 1)


def test_modal_tier_of_holistic_dimension():
    # Oracle: counting by hand: tiers 2, 2, 3, 1, 2 -> gray_area 60%.
    frame = frame_from_matrix([[2], [2], [3], [1], [2]], dimension="tier")
    labels = {1.0: "no_brainer", 2.0: "gray_area", 3.0: "high_trust"}
    (result,) = item_consensus(frame, tier_dimensions={"tier"}, tier_labels=labels)
    assert (result.modal_tier, result.modal_tier_share) == ("gray_area", 0.6)
    (plain,) = item_consensus(frame)
    assert plain.modal_tier is None


def test_confusion_pairs_from_coincidences():
    # Oracle: Krippendorff (2011) coincidence matrix of the 4 x 12 example: o_12 = o_21
    # = 4/3 + ... ; here a small hand example: units (1,2), (1,2), (3,4) -> pairs 1/2
    # carry 2/3 of the disagreement, 3/4 one third.
    frame = frame_from_matrix([[1, 1, 3], [2, 2, 4]])
    pairs = confusion_pairs(dimension_data(frame)["d"])
    assert [(p.low, p.high) for p in pairs] == [(1.0, 2.0), (3.0, 4.0)]
    assert [p.share for p in pairs] == pytest.approx([2 / 3, 1 / 3])


def test_invalid_arguments_name_the_parameter():
    # Oracle: the style rule "raise ValueError naming the parameter".
    frame = frame_from_matrix([[1, 2]])
    with pytest.raises(ValueError, match="quantile_method"):
        item_consensus(frame, quantile_method="hazen")
    with pytest.raises(ValueError, match="max_iqr"):
        item_consensus(frame, criterion={"max_iqr": -1})
    with pytest.raises(ValueError, match="unknown"):
        item_consensus(frame, criterion={"max_sd": 1})
