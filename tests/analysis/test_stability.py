"""Stability between Delphi rounds.

Oracles: a small example computed by hand (3 experts x 2 items x 1 dimension), the
``krippendorff`` package called directly on the reliability matrix, and numpy
percentiles for the IQRs.
"""

from __future__ import annotations

import doctest
import json

import krippendorff
import numpy as np
import pandas as pd
import pytest

import analysis.stability
from analysis.stability import compare_rounds
from tests.analysis.factories import frame_from_matrix, random_panel

# Experts a, b, c (rows) x items x, y (columns).
ROUND_1 = [[1, 2], [3, 2], [5, 4]]
ROUND_2 = [[2, 2], [3, 2], [4, 3]]  # a and c move towards the median


def rounds(first=ROUND_1, second=ROUND_2):
    return (
        frame_from_matrix(first, raters="abc", items="xy"),
        frame_from_matrix(second, raters="abc", items="xy"),
    )


def test_docstring_examples():
    failures, _ = doctest.testmod(analysis.stability, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert failures == 0


def test_hand_computed_example():
    # Oracle: worked by hand. Changed cells: a-x (1 -> 2), c-x (5 -> 4), c-y (4 -> 3),
    # 3 of 6; experts a and c changed, 2 of 3; |change| = 1, 1, 1, 0, 0, 0 -> 0.5.
    # IQR (type 7): x [1, 3, 5] -> 2, [2, 3, 4] -> 1; y [2, 2, 4] -> 1, [2, 2, 3] -> 0.5.
    # Criterion IQR <= 1, >= 70% within one, n >= 3: before x fails (IQR 2), y fails
    # (2 of 3 within one of 2); after both pass.
    result = compare_rounds(*rounds())
    assert result.n_raters_matched == 3 and result.n_cells_matched == 6
    assert result.share_raters_changed == pytest.approx(2 / 3)
    assert result.share_cells_changed == pytest.approx(0.5)
    dimension = result.dimensions["d"]
    assert dimension.mean_absolute_change == pytest.approx(0.5)
    assert dimension.share_cells_changed == pytest.approx(0.5)
    x, y = result.cells
    assert (x.item, x.median_before, x.median_after) == ("x", 3.0, 3.0)
    assert (x.iqr_before, x.iqr_after, x.iqr_change) == (2.0, 1.0, -1.0)
    assert (y.iqr_before, y.iqr_after, y.iqr_change) == (1.0, 0.5, -0.5)
    assert (x.consensus_before, y.consensus_before) == (False, False)
    assert (x.consensus_after, y.consensus_after) == (True, True)
    assert result.consensus_share_before == 0.0 and result.consensus_share_after == 1.0
    assert result.items_in_consensus_share_after == 1.0
    assert result.suggestion == "consensus reached"
    assert result.explanation == (
        "Every item x dimension (2) meets the consensus criterion "
        "(IQR <= 1, >= 70% within one point, n >= 3) in the current round."
    )
    json.dumps(result.to_dict(), allow_nan=False)


def test_alpha_matches_krippendorff_package():
    # Oracle: krippendorff.alpha on the raters x items matrix, ordinal and interval.
    first, second = rounds()
    for level in ("ordinal", "interval"):
        result = compare_rounds(first, second, levels=level)
        before = krippendorff.alpha(np.array(ROUND_1, float), level_of_measurement=level)
        after = krippendorff.alpha(np.array(ROUND_2, float), level_of_measurement=level)
        dimension = result.dimensions["d"]
        assert dimension.alpha_before == pytest.approx(before)
        assert dimension.alpha_after == pytest.approx(after)
        assert dimension.alpha_change == pytest.approx(after - before)


def test_unchanged_panel_without_consensus_is_stable():
    result = compare_rounds(*rounds(ROUND_1, ROUND_1))
    assert result.share_cells_changed == 0.0 and result.share_raters_changed == 0.0
    assert result.dimensions["d"].alpha_change == pytest.approx(0.0)
    assert result.suggestion == "stable"
    assert result.explanation.startswith("Only 0% of matched answers changed (<= 15%)")
    assert "2 of 2 item x dimension cells lack consensus" in result.explanation


def test_moving_panel_continues():
    # Too many answers change: a-y (2 -> 1) and c-y (4 -> 5), 2 of 6 > 15%.
    result = compare_rounds(*rounds(ROUND_1, [[1, 1], [3, 2], [5, 5]]))
    assert result.suggestion == "continue"
    assert "33% of matched answers changed (> 15%)" in result.explanation
    # Few enough changes for stable_change=0.5, but alpha jumps (-0.238 -> 0.409).
    jump = compare_rounds(*rounds(ROUND_1, [[2, 2], [3, 2], [5, 1]]), stable_change=0.5)
    assert jump.suggestion == "continue"
    assert "alpha on d moved by +0.646 (more than 0.05)" in jump.explanation


def test_only_experts_in_both_rounds_are_matched():
    first, second = rounds()
    newcomer = pd.DataFrame(
        {"rater": "d", "item": ["x", "y"], "dimension": "d", "value": [3.0, 3.0]}
    )
    result = compare_rounds(first, pd.concat([second, newcomer], ignore_index=True))
    assert (result.n_raters_before, result.n_raters_after, result.n_raters_matched) == (3, 4, 3)
    assert result.n_cells_matched == 6
    assert result.cells[0].n_after == 4


def test_abstention_counts_as_a_change():
    first, second = rounds(ROUND_1, ROUND_1)
    second.loc[0, "value"] = np.nan  # a's answer on x becomes "can't judge"
    result = compare_rounds(first, second)
    assert result.share_cells_changed == pytest.approx(1 / 6)
    assert result.dimensions["d"].mean_absolute_change == 0.0


def test_iqr_matches_numpy_on_random_panels():
    # Oracle: numpy.percentile (linear) per item x dimension of each round.
    rng = np.random.default_rng(4)
    first = random_panel(rng, n_raters=7, n_items=6, dimensions=("a", "b"))
    second = random_panel(rng, n_raters=7, n_items=6, dimensions=("a", "b"))
    result = compare_rounds(first, second)
    for cell in result.cells:
        for frame, iqr in ((first, cell.iqr_before), (second, cell.iqr_after)):
            values = frame.loc[
                (frame["item"] == cell.item) & (frame["dimension"] == cell.dimension), "value"
            ].dropna()
            q1, q3 = np.percentile(values, [25, 75])
            assert iqr == pytest.approx(q3 - q1)
    assert set(result.dimensions) == {"a", "b"}
    json.dumps(result.to_dict(), allow_nan=False)


@pytest.mark.parametrize(
    ("override", "parameter"),
    [
        ({"stable_change": 1.5}, "stable_change"),
        ({"stable_alpha": -0.1}, "stable_alpha"),
        ({"dimensions": ["nope"]}, "dimensions"),
        ({"levels": "fuzzy"}, "levels"),
        ({"consensus": {"max_iq": 1}}, "consensus"),
        ({"quantile_method": "type9"}, "quantile_method"),
    ],
)
def test_invalid_arguments_name_the_parameter(override, parameter):
    with pytest.raises(ValueError, match=parameter):
        compare_rounds(*rounds(), **override)


def test_several_rounds_in_one_table_are_refused():
    first, second = rounds()
    both = pd.concat([first.assign(round=1), second.assign(round=2)], ignore_index=True)
    with pytest.raises(ValueError, match="previous holds several rounds"):
        compare_rounds(both, second)


def test_paired_changes_are_tested_per_cell_and_holm_adjusted():
    from scipy import stats
    from statsmodels.stats.multitest import multipletests

    from analysis.stability import compare_rounds

    rng = np.random.default_rng(5)
    raters = [f"r{i}" for i in range(12)]
    items = ["a", "b", "c", "d"]
    before = pd.DataFrame(
        [(r, i, "d", float(rng.integers(1, 6))) for r in raters for i in items],
        columns=["rater", "item", "dimension", "value"],
    )
    after = before.copy()
    moved = after["item"] == "a"  # item a moves up by one for most experts
    after.loc[moved, "value"] = np.minimum(after.loc[moved, "value"] + 1, 5)
    shuffle = after["item"] == "b"  # item b: a few answers change both ways
    after.loc[shuffle, "value"] = after.loc[shuffle, "value"].to_numpy()[::-1]
    result = compare_rounds(before, after)
    cells = {cell.item: cell for cell in result.cells}

    expected = {}
    for item in items:
        x = before[before["item"] == item]["value"].to_numpy()
        y = after[after["item"] == item]["value"].to_numpy()
        assert cells[item].n_paired == 12
        if np.any(x != y):  # ties and zeros: the normal approximation, as scipy gives it
            expected[item] = stats.wilcoxon(y, x, zero_method="pratt", method="approx").pvalue
        else:
            assert cells[item].wilcoxon_p is None and cells[item].wilcoxon_p_holm is None
    for item, p in expected.items():
        assert cells[item].wilcoxon_p == pytest.approx(p, abs=1e-12)
    holm = multipletests(list(expected.values()), method="holm")[1]
    for item, p in zip(expected, holm, strict=True):
        assert cells[item].wilcoxon_p_holm == pytest.approx(p, abs=1e-12)
    assert cells["a"].wilcoxon_p < 0.05

    medians_before = [cells[i].median_before for i in items]
    medians_after = [cells[i].median_after for i in items]
    rho = stats.spearmanr(medians_before, medians_after).statistic
    dimension = result.dimensions["d"]
    assert dimension.median_rank_correlation == pytest.approx(rho, abs=1e-12)
    assert dimension.n_cells_moved == sum(
        cell.wilcoxon_p_holm is not None and cell.wilcoxon_p_holm < 0.05 for cell in result.cells
    )
    assert result.to_dict()["cells"][0]["wilcoxon_p"] == cells["a"].wilcoxon_p


def test_a_panel_that_did_not_move_has_no_test_and_says_why_about_the_order():
    from analysis.stability import compare_rounds

    before = pd.DataFrame(
        {"rater": list("abc"), "item": "x", "dimension": "d", "value": [2.0, 3.0, 4.0]}
    )
    result = compare_rounds(before, before.copy())
    (cell,) = result.cells
    assert cell.n_paired == 3 and cell.wilcoxon_p is None
    dimension = result.dimensions["d"]
    assert dimension.median_rank_correlation is None and dimension.n_cells_moved == 0
    assert "it needs 3" in dimension.reasons["median_rank_correlation"]


def test_expert_weighted_kappa_matches_scikit_learn():
    # Oracle: scikit-learn's quadratic-weighted Cohen's kappa of each expert's two rounds
    # (one dimension using every value 1-5, so label positions and values agree).
    from sklearn.metrics import cohen_kappa_score

    rng = np.random.default_rng(3)
    first = rng.integers(1, 6, size=(4, 12))
    first[:, :5] = np.arange(1, 6)  # every value occurs for every expert
    second = np.clip(first + rng.integers(-1, 2, size=first.shape), 1, 5)
    second[:, :5] = np.arange(1, 6)
    result = compare_rounds(
        frame_from_matrix(first.tolist(), raters="abcd", items=[f"i{j}" for j in range(12)]),
        frame_from_matrix(second.tolist(), raters="abcd", items=[f"i{j}" for j in range(12)]),
    )
    by_rater = {e.rater: e for e in result.experts}
    for row, rater in enumerate("abcd"):
        expected = cohen_kappa_score(first[row], second[row], weights="quadratic")
        assert by_rater[rater].weighted_kappa == pytest.approx(expected, abs=1e-12)
        assert by_rater[rater].n_changed == int((first[row] != second[row]).sum())


def test_expert_kappa_is_one_when_unchanged_and_undefined_with_a_reason():
    before = frame_from_matrix([[1, 3, 5], [2, 2, 2], [1, None, None]], raters="abc", items="xyz")
    after = frame_from_matrix([[1, 3, 5], [2, 2, 2], [2, None, None]], raters="abc", items="xyz")
    experts = {e.rater: e for e in compare_rounds(before, after).experts}
    assert experts["a"].weighted_kappa == pytest.approx(1.0)
    assert experts["b"].weighted_kappa is None and "one value" in experts["b"].reason
    assert experts["c"].weighted_kappa is None and "fewer than two" in experts["c"].reason
    json.dumps(compare_rounds(before, after).to_dict())  # serialisable


def test_coefficient_of_variation_per_cell():
    # Oracle: SD (n - 1) / mean by numpy. Item x: 1, 3, 5 then 2, 3, 4.
    result = compare_rounds(*rounds())
    cell = next(c for c in result.cells if c.item == "x")
    before = np.std([1, 3, 5], ddof=1) / 3
    after = np.std([2, 3, 4], ddof=1) / 3
    assert cell.cv_before == pytest.approx(before)
    assert cell.cv_after == pytest.approx(after)
    assert cell.cv_change == pytest.approx(after - before)
    zero = frame_from_matrix([[0], [0], [0]], raters="abc", items="x")
    flat = compare_rounds(zero, zero).cells[0]
    assert flat.cv_before is None and "mean is not above 0" in flat.cv_reason
