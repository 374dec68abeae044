"""Shortcuts of the analysis give the numbers of the general computation they replace.

Oracles: numpy's lexsort, scipy's average ranks and a direct count of each rater's
values, on random panels chosen to reach the cases a shortcut has to get right (keys
wider than 16 bits, tied values, two left-out raters who gave a unit the same value).
"""

from __future__ import annotations

import numpy as np
import pytest
import scipy.stats

from analysis.reliability import _column_ranks, _rated_values
from analysis.tidy import dimension_data, grouped_order
from tests.analysis.factories import random_panel


@pytest.mark.parametrize("n_groups", [3, 300, 3000])
@pytest.mark.parametrize("n_values", [2, 40, 4000])
def test_grouped_order_is_lexsort(n_groups, n_values):
    # n_groups x n_values beyond 2^16 takes the two radix passes, below it the one key.
    rng = np.random.default_rng(n_groups * n_values)
    group = rng.integers(0, n_groups, 20_000)
    values = rng.integers(0, n_values, 20_000) / 7.0
    np.testing.assert_array_equal(grouped_order(group, values), np.lexsort((values, group)))


@pytest.mark.parametrize("categories", [1, 2, 5, 40])
def test_column_ranks_are_average_ranks_with_their_ties(categories):
    rng = np.random.default_rng(categories)
    y = rng.integers(0, categories, size=(60, 25)) * 0.5 + 1.0
    ranks, ties = _column_ranks(y)
    np.testing.assert_array_equal(ranks, scipy.stats.rankdata(y, axis=0))
    sizes = np.concatenate([np.unique(column, return_counts=True)[1] for column in y.T])
    assert ties == float((sizes.astype(float) ** 3 - sizes).sum())


def test_rows_leaving_out_raters_count_the_values_of_the_others():
    # Two values only, so two left-out raters often gave a unit the same value.
    rng = np.random.default_rng(5)
    data = dimension_data(random_panel(rng, n_raters=9, n_items=20, categories=2))["d"]
    table = _rated_values(data)
    weights = np.ones((40, table.n_raters))
    for row in range(1, 40):
        weights[row, rng.choice(table.n_raters, size=1 + row % 2, replace=False)] = 0.0
    counts, squares = table.weighted_counts(weights)
    expected = np.zeros((40, table.n_units, table.width))
    for unit, rater, value in zip(table.unit, table.rater, table.value, strict=True):
        expected[:, unit, value] += weights[:, rater]
    np.testing.assert_array_equal(counts, expected)
    np.testing.assert_array_equal(squares, expected)
