"""Rater diagnostics against naive per-rater computations.

Oracles: leave-one-out medians and means with numpy per cell; scipy.stats.spearmanr;
the ``krippendorff`` package on the reliability matrix without the rater;
scipy.stats.kruskal for the group comparison.
"""

from __future__ import annotations

import krippendorff
import numpy as np
import pandas as pd
import pytest
import scipy.stats

from analysis.raters import compare_groups, grouped_average_ranks, rater_diagnostics
from tests.analysis.factories import frame_from_matrix, matrix_from_frame, random_panel


@pytest.fixture
def panel() -> pd.DataFrame:
    frame = random_panel(
        np.random.default_rng(17), n_raters=7, n_items=20, missing=0.3, dimensions=("a", "b")
    )
    return frame


def naive(frame: pd.DataFrame, rater, dimension):
    part = frame[frame["dimension"] == dimension].dropna(subset=["value"])
    mine = part[part["rater"] == rater]
    deviations, xs, ys = [], [], []
    for _, row in mine.iterrows():
        others = part[(part["item"] == row["item"]) & (part["rater"] != rater)]["value"]
        if others.empty:
            continue
        deviations.append(row["value"] - others.median())
        xs.append(row["value"])
        ys.append(others.mean())
    return deviations, xs, ys


def test_deviation_and_spearman_match_naive(panel):
    # Oracle: per-cell leave-one-out median/mean with pandas, scipy.stats.spearmanr.
    results = {r.rater: r for r in rater_diagnostics(panel)}
    for rater, result in results.items():
        pooled = []
        for dimension in ("a", "b"):
            deviations, xs, ys = naive(panel, rater, dimension)
            pooled += deviations
            entry = result.dimensions[dimension]
            assert entry.mean_signed_deviation == pytest.approx(np.mean(deviations))
            rho = scipy.stats.spearmanr(xs, ys).statistic
            if np.isfinite(rho):
                assert entry.spearman == pytest.approx(rho)
            else:
                assert entry.spearman is None and entry.reasons["spearman"]
        assert result.mean_signed_deviation == pytest.approx(np.mean(pooled))


@pytest.mark.parametrize("level", ["nominal", "ordinal", "interval", "ratio"])
def test_alpha_without_rater_matches_refitting(panel, level):
    # Oracle: krippendorff.alpha on the reliability matrix with the rater's row removed.
    results = rater_diagnostics(panel, levels=level)
    for dimension in ("a", "b"):
        matrix = matrix_from_frame(panel[panel["dimension"] == dimension])
        full = krippendorff.alpha(reliability_data=matrix, level_of_measurement=level)
        for index, result in enumerate(results):
            rest = np.delete(matrix, index, axis=0)
            expected = krippendorff.alpha(reliability_data=rest, level_of_measurement=level)
            entry = result.dimensions[dimension]
            assert entry.alpha_without == pytest.approx(expected, abs=1e-10)
            assert entry.alpha_delta == pytest.approx(expected - full, abs=1e-10)


def test_completion_and_abstention_rates():
    # Oracle: counting by hand.
    frame = pd.DataFrame(
        {
            "rater": ["a", "a", "a", "a", "b", "b", "b", "b"],
            "item": [1, 2, 1, 2] * 2,
            "dimension": ["x", "x", "y", "y"] * 2,
            "value": [1, np.nan, 2, np.nan, 1, 2, 2, 3],
            "status": ["value", "cant_judge", "value", "outside_expertise"] + ["value"] * 4,
        }
    )
    a, b = rater_diagnostics(frame)
    assert (a.completion, a.cant_judge_rate, a.outside_expertise_rate) == (0.5, 0.25, 0.25)
    assert (b.completion, b.cant_judge_rate, b.n_cells) == (1.0, 0.0, 4)


def test_grouped_average_ranks_match_scipy():
    # Oracle: scipy.stats.rankdata(method="average") per group.
    rng = np.random.default_rng(3)
    group = rng.integers(0, 5, 200)
    x = rng.integers(0, 6, 200).astype(float)
    ranks = grouped_average_ranks(group, x)
    for g in range(5):
        assert ranks[group == g] == pytest.approx(scipy.stats.rankdata(x[group == g]))


def test_compare_groups_matches_kruskal():
    # Oracle: scipy.stats.kruskal on the rater mean deviations.
    rng = np.random.default_rng(23)
    frame = random_panel(rng, n_raters=12, n_items=15, missing=0.1)
    organisation = {f"r{i:02d}": "aisi-" + "abc"[i % 3] for i in range(12)}
    frame["organisation"] = frame["rater"].map(organisation)
    diagnostics = rater_diagnostics(frame)
    result = compare_groups(frame, by="organisation", diagnostics=diagnostics)["d"]
    samples = {}
    for rater in diagnostics:
        samples.setdefault(organisation[rater.rater], []).append(rater.mean_signed_deviation)
    expected = scipy.stats.kruskal(*[samples[g] for g in sorted(samples)])
    assert result.statistic == pytest.approx(expected.statistic)
    assert result.p_value == pytest.approx(expected.pvalue)
    assert result.df == 2 and result.n_raters == {"aisi-a": 4, "aisi-b": 4, "aisi-c": 4}


def test_compare_groups_degenerate_and_invalid():
    # Oracle: definition; one group cannot be compared.
    frame = frame_from_matrix([[1, 2, 3], [2, 2, 3], [1, 3, 3]], organisation="same")
    (result,) = compare_groups(frame, by="organisation").values()
    assert result.p_value is None and "two groups" in result.reason
    with pytest.raises(ValueError, match="group_by"):
        compare_groups(frame, by="department")
    frame.loc[0, "organisation"] = "other"
    with pytest.raises(ValueError, match="more than one value"):
        compare_groups(frame, by="organisation")
