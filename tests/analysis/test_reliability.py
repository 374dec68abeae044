"""Reliability coefficients against independent implementations and the formulas.

Oracles: the ``krippendorff`` package (reliability-matrix input) and a from-the-formula
reference of Krippendorff (2011) written below; irrCAC (Gwet's R package irrCAC ported
to Python) for Fleiss, Gwet AC1/AC2, Brennan-Prediger and percent agreement with
missing ratings; statsmodels ``fleiss_kappa``; pingouin ``intraclass_corr`` (validated
against R psych::ICC); scipy ``friedmanchisquare`` for Kendall's W; a naive
per-replicate loop for the vectorised bootstrap.
"""

from __future__ import annotations

import itertools

import krippendorff
import numpy as np
import pandas as pd
import pingouin
import pytest
import scipy.stats
from irrCAC.raw import CAC
from statsmodels.stats.inter_rater import aggregate_raters, fleiss_kappa

from analysis.reliability import (
    ICC_FORMS,
    Bootstrap,
    agreement_coefficients,
    complete_block,
    dimension_reliability,
    intraclass_correlations,
    kendall_w,
    krippendorff_alpha,
    read_alpha,
    resolve_levels,
)
from tests.analysis.factories import frame_from_matrix, matrix_from_frame, random_panel

LEVELS = ("nominal", "ordinal", "interval", "ratio")


def reference_alpha(matrix: np.ndarray, level: str, origin=None) -> float:
    """Krippendorff (2011) alpha by the book: coincidences from explicit value pairs.

    ``origin`` labels the rows (raters) of a rater-resampled matrix: two copies of one
    rater are two raters but never a pair; a unit's m values then share their weight m
    over its P remaining ordered pairs (m / P = 1 / (m - 1) without copies).
    """
    matrix = np.asarray(matrix, dtype=float)
    origin = np.arange(matrix.shape[0]) if origin is None else np.asarray(origin)
    units = []
    for column in matrix.T:
        present = ~np.isnan(column)
        values, owners = column[present], origin[present]
        pairs = [
            (i, j)
            for i, j in itertools.permutations(range(values.size), 2)
            if owners[i] != owners[j]
        ]
        if pairs:
            units.append((values, pairs))
    if len(units) < 2:
        return float("nan")
    domain = sorted({v for values, _ in units for v in values})
    if len(domain) < 2:
        return float("nan")
    index = {v: i for i, v in enumerate(domain)}
    o = np.zeros((len(domain), len(domain)))
    for values, pairs in units:
        for i, j in pairs:
            o[index[values[i]], index[values[j]]] += values.size / len(pairs)
    n_c = o.sum(axis=1)
    n = n_c.sum()

    def delta(c: int, k: int) -> float:
        a, b = domain[c], domain[k]
        if level == "nominal":
            return float(a != b)
        if level == "ordinal":
            low, high = min(c, k), max(c, k)
            return (n_c[low : high + 1].sum() - (n_c[c] + n_c[k]) / 2) ** 2
        if level == "interval":
            return (a - b) ** 2
        return ((a - b) / (a + b)) ** 2 if a + b else 0.0

    pairs = list(itertools.product(range(len(domain)), repeat=2))
    observed = sum(o[c, k] * delta(c, k) for c, k in pairs) / n
    expected = sum(n_c[c] * n_c[k] * delta(c, k) for c, k in pairs) / (n * (n - 1))
    return 1 - observed / expected


def reference_bca(estimate, replicates, jackknife, minimum):
    """Efron (1987) BCa 95% interval and the BCa confidence of lying below ``minimum``."""
    replicates = np.sort(np.asarray(replicates))
    n = replicates.size
    share = (np.sum(replicates < estimate) + 0.5 * np.sum(replicates == estimate)) / n
    z0 = scipy.stats.norm.ppf(min(max(share, 0.5 / n), 1 - 0.5 / n))
    third = second = 0.0
    for values in jackknife:
        values = np.asarray([v for v in values if np.isfinite(v)])
        influence = (values.size - 1) * (values.mean() - values)
        third += (influence**3).sum() / values.size**3
        second += (influence**2).sum() / values.size**2
    a = third / (6 * second**1.5)
    bounds = []
    for z in scipy.stats.norm.ppf([0.025, 0.975]):
        level = scipy.stats.norm.cdf(z0 + (z0 + z) / (1 - a * (z0 + z)))
        bounds.append(np.quantile(replicates, level))
    g = np.interp(minimum, replicates, np.linspace(0, 1, n))  # inverse of np.quantile
    y = scipy.stats.norm.ppf(g) - z0
    p_below = g if g in (0.0, 1.0) else scipy.stats.norm.cdf(y / (1 + a * y) - z0)
    return bounds, p_below


@pytest.fixture(params=[0, 1, 2])
def panel(request) -> pd.DataFrame:
    rng = np.random.default_rng(100 + request.param)
    return random_panel(rng, n_raters=6 + request.param, n_items=25, missing=0.25)


# ----------------------------------------------------------------------------- alpha


@pytest.mark.parametrize("level", LEVELS)
def test_alpha_matches_krippendorff_package_and_reference(panel, level):
    # Oracles: krippendorff.alpha on the reliability matrix; reference_alpha above.
    matrix = matrix_from_frame(panel)
    ours = krippendorff_alpha(panel, level=level, bootstrap=Bootstrap(0)).value
    assert ours == pytest.approx(
        krippendorff.alpha(reliability_data=matrix, level_of_measurement=level), abs=1e-12
    )
    assert ours == pytest.approx(reference_alpha(matrix, level), abs=1e-12)


def reference_pair_part(pairs: dict[tuple[int, int], float], n_raters: int) -> float:
    """The raters' pair part G from alpha leaving out raters r and s (every pair), by the
    U-centring formula written out element by element (Szekely & Rizzo 2014)."""
    n = n_raters

    def a(r: int, s: int) -> float:
        return 0.0 if r == s else pairs[min(r, s), max(r, s)]

    row = [sum(a(r, s) for s in range(n)) for r in range(n)]
    total = sum(row)
    squares = 0.0
    for r in range(n):
        for s in range(n):
            if r != s:
                u = a(r, s) - row[r] / (n - 2) - row[s] / (n - 2) + total / ((n - 1) * (n - 2))
                squares += u * u
    left = (n - 2) * (n - 3) / 2
    return squares * left**2 / (n * (n - 3)) / (n * (n - 1) / 2)


def reference_two_way_interval(
    estimate, item_replicates, rater_replicates, table, minimum, pair_part
):
    """The bias-corrected interval with the two-way variance, from its definition.

    ``table`` holds alpha leaving out item i and rater r (items x raters): double-centred,
    sum D^2 (N - 1)(n - 1) / (N n) is the rater x item variance E, counted by both
    facets' deviations and taken out once (capped at min(V_I + G, V_R), G the raters'
    pair part). The interval is centre +- t sqrt(V), t Student's with Satterthwaite's
    degrees of freedom of V = A + B + E (A = V_I - E on N - 1, B = V_R - E on n - 1,
    each at least 0, E on (N - 1)(n - 1)).
    """
    n_items, n_raters = table.shape
    c_items, c_raters = np.sqrt(n_items / (n_items - 1)), np.sqrt(n_raters / (n_raters - 1))
    pairs = [
        (c_items * (i - estimate), c_raters * (r - estimate))
        for i, r in zip(item_replicates, rater_replicates, strict=True)
        if np.isfinite(i) and np.isfinite(r)
    ]
    item_part, rater_part = (np.array(part) for part in zip(*pairs, strict=True))
    centred = table - table.mean(axis=0) - table.mean(axis=1)[:, None] + table.mean()
    e = (centred**2).sum() * (n_items - 1) * (n_raters - 1) / (n_items * n_raters)
    v_items, v_raters = item_part.var(), rater_part.var()
    e = min(max(e, 0.0), v_items + pair_part, v_raters)
    variance = v_items + v_raters - e
    df = variance**2 / (
        max(v_items - e, 0.0) ** 2 / (n_items - 1)
        + max(v_raters - e, 0.0) ** 2 / (n_raters - 1)
        + e**2 / ((n_items - 1) * (n_raters - 1))
    )
    centre = estimate - (item_part + rater_part).mean()
    half = scipy.stats.t.ppf(0.975, df) * np.sqrt(variance)
    p_below = scipy.stats.t.cdf((minimum - centre) / np.sqrt(variance), df)
    return (centre - half, min(centre + half, 1.0)), p_below, len(pairs)


@pytest.mark.parametrize("level", LEVELS)
def test_vectorised_bootstrap_equals_naive_loop(panel, level):
    # Oracle: resample the items and, independently, the raters in a Python loop with the
    # same draws, compute each replicate with reference_alpha (copies of a rater never
    # paired), add the two deviations, take alpha leaving out each item and rater pair
    # and each pair of raters, and form the bias-corrected t interval with the two-way
    # variance; interval, P below the minimum and the count of replicates must agree.
    n_bootstrap = 40
    result = krippendorff_alpha(panel, level=level, bootstrap=Bootstrap(n_bootstrap, rng=7))
    matrix = matrix_from_frame(panel)
    matrix = matrix[:, ~np.isnan(matrix).all(axis=0)]
    matrix = matrix[~np.isnan(matrix).all(axis=1)]
    n_raters, n_items = matrix.shape
    rng = np.random.default_rng(7)
    item_draws = rng.integers(0, n_items, size=(n_bootstrap, n_items))
    rater_draws = rng.integers(0, n_raters, size=(n_bootstrap, n_raters))
    estimate = reference_alpha(matrix, level)
    by_items = [reference_alpha(matrix[:, items], level) for items in item_draws]
    by_raters = [reference_alpha(matrix[raters], level, origin=raters) for raters in rater_draws]
    table = np.array(
        [
            [
                reference_alpha(np.delete(np.delete(matrix, i, axis=1), r, axis=0), level)
                for r in range(n_raters)
            ]
            for i in range(n_items)
        ]
    )
    kept = np.ones(n_raters, dtype=bool)
    pairs = {}
    for r in range(n_raters):
        for s in range(r + 1, n_raters):
            kept[:] = True
            kept[[r, s]] = False
            pairs[r, s] = reference_alpha(matrix[kept], level)
    (low, high), p_below, used = reference_two_way_interval(
        estimate, by_items, by_raters, table, 0.667, reference_pair_part(pairs, n_raters)
    )
    assert result.n_bootstrap == used
    assert result.ci_low == pytest.approx(low, abs=1e-10)
    assert result.ci_high == pytest.approx(high, abs=1e-10)
    assert result.p_below_minimum == pytest.approx(p_below, abs=1e-10)


@pytest.mark.parametrize("level", ["nominal", "interval"])
def test_vectorised_bootstrap_with_fixed_raters_equals_naive_loop(panel, level):
    # Oracle: the items resampled in a Python loop with the same draws and Efron's BCa
    # interval with the jackknife over items (reference_bca).
    n_bootstrap = 40
    result = krippendorff_alpha(
        panel, level=level, bootstrap=Bootstrap(n_bootstrap, rng=7, raters="fixed")
    )
    matrix = matrix_from_frame(panel)
    matrix = matrix[:, ~np.isnan(matrix).all(axis=0)]
    matrix = matrix[~np.isnan(matrix).all(axis=1)]
    n_items = matrix.shape[1]
    rng = np.random.default_rng(7)
    item_draws = rng.integers(0, n_items, size=(n_bootstrap, n_items))
    estimate = reference_alpha(matrix, level)
    c_items = np.sqrt(n_items / (n_items - 1))
    replicates = [
        estimate + c_items * (reference_alpha(matrix[:, items], level) - estimate)
        for items in item_draws
    ]
    replicates = [value for value in replicates if np.isfinite(value)]
    jackknife = ([reference_alpha(np.delete(matrix, j, axis=1), level) for j in range(n_items)],)
    (low, high), p_below = reference_bca(estimate, replicates, jackknife, 0.667)
    assert result.n_bootstrap == len(replicates)
    assert result.ci_low == pytest.approx(low, abs=1e-10)
    assert result.ci_high == pytest.approx(high, abs=1e-10)
    assert result.p_below_minimum == pytest.approx(p_below, abs=1e-10)


def test_alpha_bootstrap_is_reproducible_and_seed_dependent(panel):
    # Oracle: determinism of numpy.random.Generator streams.
    first = krippendorff_alpha(panel, bootstrap=Bootstrap(100, rng=np.random.default_rng(3)))
    again = krippendorff_alpha(panel, bootstrap=Bootstrap(100, rng=3))
    other = krippendorff_alpha(panel, bootstrap=Bootstrap(100, rng=4))
    assert (first.ci_low, first.ci_high) == (again.ci_low, again.ci_high)
    assert (first.ci_low, first.ci_high) != (other.ci_low, other.ci_high)


def test_alpha_with_many_distinct_values_uses_sparse_path():
    # Oracle: krippendorff package on continuous-ish (0-100) ratings, V large.
    rng = np.random.default_rng(5)
    truth = rng.uniform(0, 100, size=300)
    matrix = np.rint(truth[None, :] + rng.normal(0, 8, size=(12, 300)))
    matrix[rng.random(matrix.shape) < 0.3] = np.nan
    frame = frame_from_matrix(matrix)
    import analysis._coincidence as coincidence

    limit = coincidence._DENSE_LIMIT
    coincidence._DENSE_LIMIT = 0
    try:
        sparse = krippendorff_alpha(frame, level="interval", bootstrap=Bootstrap(20, rng=0))
    finally:
        coincidence._DENSE_LIMIT = limit
    dense = krippendorff_alpha(frame, level="interval", bootstrap=Bootstrap(20, rng=0))
    expected = krippendorff.alpha(reliability_data=matrix, level_of_measurement="interval")
    assert sparse.value == pytest.approx(expected, abs=1e-12)
    assert (sparse.ci_low, sparse.ci_high) == pytest.approx((dense.ci_low, dense.ci_high))


def test_read_alpha_thresholds():
    # Oracle: Krippendorff (2004) 0.800 / 0.667 conventions.
    assert [read_alpha(v) for v in (0.8, 0.7999, 0.667, 0.6669, None)] == [
        "acceptable",
        "tentative",
        "tentative",
        "unacceptable",
        None,
    ]


# -------------------------------------------------------------- kappa-type coefficients


def irr_table(frame: pd.DataFrame) -> pd.DataFrame:
    """Units x raters table in irrCAC's layout."""
    return pd.DataFrame(matrix_from_frame(frame).T)


@pytest.mark.parametrize(
    ("ours", "method", "weights", "field"),
    [
        ("fleiss_kappa", "fleiss", "identity", "coefficient_value"),
        ("gwet_ac1", "gwet", "identity", "coefficient_value"),
        ("gwet_ac2_ordinal", "gwet", "ordinal", "coefficient_value"),
        ("gwet_ac2_quadratic", "gwet", "quadratic", "coefficient_value"),
        ("brennan_prediger", "bp", "identity", "coefficient_value"),
        ("percent_agreement", "gwet", "identity", "pa"),
    ],
)
def test_agreement_matches_irrcac(panel, ours, method, weights, field):
    # Oracle: irrCAC.raw.CAC (Gwet 2014 formulas with missing ratings), 5 digits.
    result = agreement_coefficients(panel, bootstrap=Bootstrap(0))
    expected = getattr(CAC(irr_table(panel), weights=weights), method)()["est"][field]
    assert getattr(result, ours).value == pytest.approx(expected, abs=6e-6)


def test_agreement_with_declared_scale_matches_irrcac():
    # Oracle: irrCAC with categories= (unused categories count in q for BP and Gwet).
    rng = np.random.default_rng(11)
    frame = random_panel(rng, n_raters=5, n_items=20, categories=4, missing=0.1)
    scale = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0]
    result = agreement_coefficients(frame, categories=scale, bootstrap=Bootstrap(0))
    table = irr_table(frame)
    for ours, method, weights in [
        ("brennan_prediger", "bp", "identity"),
        ("gwet_ac1", "gwet", "identity"),
        ("gwet_ac2_quadratic", "gwet", "quadratic"),
        ("fleiss_kappa", "fleiss", "identity"),
    ]:
        cac = CAC(table, weights=weights, categories=scale)
        expected = getattr(cac, method)()["est"]["coefficient_value"]
        assert getattr(result, ours).value == pytest.approx(expected, abs=6e-6), ours


def test_fleiss_matches_statsmodels_on_complete_data():
    # Oracle: statsmodels.stats.inter_rater.fleiss_kappa (Fleiss 1971, complete data).
    rng = np.random.default_rng(21)
    frame = random_panel(rng, n_raters=7, n_items=40, missing=0.0)
    counts, _ = aggregate_raters(matrix_from_frame(frame).T)
    result = agreement_coefficients(frame, bootstrap=Bootstrap(0))
    assert result.fleiss_kappa.value == pytest.approx(fleiss_kappa(counts), abs=1e-12)


def test_agreement_interval_contains_estimate(panel):
    # Oracle: a percentile bootstrap interval of a smooth statistic covers its estimate.
    result = agreement_coefficients(panel, bootstrap=Bootstrap(300, rng=0))
    for coefficient in result.by_name().values():
        assert coefficient.ci_low <= coefficient.value <= coefficient.ci_high


# -------------------------------------------------------------------------------- ICC


def test_icc_matches_pingouin_on_complete_data():
    # Oracle: pingouin.intraclass_corr (validated against R psych::ICC), with CIs.
    rng = np.random.default_rng(31)
    frame = random_panel(rng, n_raters=5, n_items=30, missing=0.0, categories=7)
    table = intraclass_correlations(frame)
    rounding = pingouin.options["round.column.CI95"]
    pingouin.options["round.column.CI95"] = None  # pingouin rounds its CIs by default
    try:
        expected = pingouin.intraclass_corr(
            data=frame, targets="item", raters="rater", ratings="value"
        ).set_index("Type")
    finally:
        pingouin.options["round.column.CI95"] = rounding
    names = dict(
        zip(
            ICC_FORMS,
            ["ICC(1,1)", "ICC(A,1)", "ICC(C,1)", "ICC(1,k)", "ICC(A,k)", "ICC(C,k)"],
            strict=True,
        )
    )
    for form, name in names.items():
        ours = table.forms[form]
        row = expected.loc[name]
        assert ours.value == pytest.approx(row["ICC"], abs=1e-10), form
        assert ours.f == pytest.approx(row["F"], rel=1e-10), form
        assert (ours.df1, ours.df2) == (row["df1"], row["df2"]), form
        assert ours.p_value == pytest.approx(row["pval"], abs=1e-12), form
        assert [ours.ci_low, ours.ci_high] == pytest.approx(list(row["CI95"]), abs=1e-10), form


def test_icc_with_missing_ratings_uses_every_rating():
    # Oracle: the count of non-missing ratings; pingouin would drop the two items
    # (listwise), the REML fit keeps them (values checked in tests/analysis/test_icc.py).
    rng = np.random.default_rng(32)
    frame = random_panel(rng, n_raters=4, n_items=30, missing=0.0)
    drop = frame["item"].isin(["i003", "i010"]) & (frame["rater"] == "r01")
    frame.loc[drop, "value"] = np.nan
    table = intraclass_correlations(frame)
    assert (table.n_items, table.n_raters, table.n_ratings) == (30, 4, 118)
    assert table.method == "REML (all 118 ratings)" and table.k == pytest.approx(118 / 30)


def test_complete_block_drops_the_sparse_rater_first():
    # Oracle: hand-worked example; rater 2 rated 1 of 5 items, so dropping it keeps 10 cells.
    matrix = [[1, 2, 3, 4, 5], [1, 2, 3, 5, 5], [1, None, None, None, None]]
    values, raters, items = complete_block(frame_from_matrix(matrix))
    assert raters.tolist() == [0, 1] and items.tolist() == [0, 1, 2, 3, 4]
    assert values.shape == (5, 2)


def share_greedy_block(missing: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The greedy deletion written out with shares, as the docstring of complete_block
    states it: delete the rater or item with the largest share of missing cells among
    the remaining ones (an item on ties), until no cell is missing."""
    keep_rater = np.ones(missing.shape[0], dtype=bool)
    keep_item = np.ones(missing.shape[1], dtype=bool)
    while keep_rater.any() and keep_item.any():
        block = missing[np.ix_(keep_rater, keep_item)]
        row_share = np.full(missing.shape[0], -1.0)
        row_share[keep_rater] = block.sum(axis=1) / keep_item.sum()
        column_share = np.full(missing.shape[1], -1.0)
        column_share[keep_item] = block.sum(axis=0) / keep_rater.sum()
        worst_row, worst_column = int(np.argmax(row_share)), int(np.argmax(column_share))
        if row_share[worst_row] <= 0 and column_share[worst_column] <= 0:
            break
        if row_share[worst_row] > column_share[worst_column]:
            keep_rater[worst_row] = False
        else:
            keep_item[worst_column] = False
    return keep_rater, keep_item


@pytest.mark.parametrize("seed", range(6))
def test_complete_block_is_the_greedy_deletion_by_shares(seed):
    # Oracle: the greedy deletion recomputed from the remaining block at every step.
    rng = np.random.default_rng(seed)
    n_raters, n_items = rng.integers(3, 40), rng.integers(3, 60)
    # Raters of very different diligence, items of different popularity, some exact ties.
    diligence = rng.choice([0.3, 0.6, 0.9, 1.0], size=n_raters)
    popularity = rng.choice([0.5, 0.8, 1.0], size=n_items)
    rated = rng.random((n_raters, n_items)) < diligence[:, None] * popularity[None, :]
    rated[rng.integers(n_raters), :] = True  # a rater who rated everything
    rater, item = np.nonzero(rated)
    frame = pd.DataFrame(
        {"rater": rater, "item": item, "dimension": "d", "value": rng.integers(1, 6, rater.size)}
    )
    keep_rater, keep_item = share_greedy_block(~rated)
    values, raters, items = complete_block(frame)
    assert raters.tolist() == np.flatnonzero(keep_rater).tolist()
    assert items.tolist() == np.flatnonzero(keep_item).tolist()
    assert values.shape == (int(keep_item.sum()), int(keep_rater.sum()))
    assert not np.isnan(values).any()


# ------------------------------------------------------------------------- Kendall W


def test_kendall_w_matches_friedman_with_ties():
    # Oracle: W = Friedman's tie-corrected chi-square / (m (n - 1)), scipy.stats.
    rng = np.random.default_rng(41)
    frame = random_panel(rng, n_raters=6, n_items=12, missing=0.0, categories=4)
    result = kendall_w(frame)
    matrix = matrix_from_frame(frame)  # raters x items, plenty of ties
    friedman = scipy.stats.friedmanchisquare(*matrix.T)
    assert result.value == pytest.approx(friedman.statistic / (6 * 11), rel=1e-12)
    assert result.p_value == pytest.approx(friedman.pvalue, rel=1e-10)


def test_kendall_w_siegel_castellan_form_without_ties():
    # Oracle: W = 12 S / (m^2 (n^3 - n)) computed directly on a tie-free example.
    matrix = np.array([[1, 2, 3, 4, 5], [2, 1, 3, 5, 4], [1, 3, 2, 4, 5]], dtype=float)
    totals = matrix.sum(axis=0)
    s = ((totals - totals.mean()) ** 2).sum()
    assert kendall_w(frame_from_matrix(matrix)).value == pytest.approx(12 * s / (9 * 120))


# ------------------------------------------------------------------------- degenerate


def test_one_rater_is_undefined_with_reason():
    # Oracle: Krippendorff (2011), alpha needs pairable values from two coders.
    result = dimension_reliability(
        frame_from_matrix([[1, 2, 3, 4]]), bootstrap=Bootstrap(10, rng=0)
    )
    assert all(a.value is None and "rater" in a.reason for a in result.alpha.values())
    assert result.fleiss_kappa.value is None and result.fleiss_kappa.reason
    assert result.icc.value("ICC2") is None and result.icc.reason
    assert result.kendall_w.value is None and result.kendall_w.reason


def test_no_unit_with_two_values_is_undefined():
    # Oracle: Krippendorff (2011), units with one value are not pairable.
    matrix = [[1, None, None], [None, 2, None], [None, None, 3]]
    result = dimension_reliability(frame_from_matrix(matrix), bootstrap=Bootstrap(10, rng=0))
    assert result.alpha["ordinal"].value is None
    assert "pairable" in result.alpha["ordinal"].reason
    assert result.percent_agreement.value is None


def test_single_value_used_is_undefined():
    # Oracle: Krippendorff (2011), D_e = 0 when all pairable values are equal.
    matrix = [[3, 3, 3], [3, 3, 3]]
    result = dimension_reliability(frame_from_matrix(matrix), bootstrap=Bootstrap(10, rng=0))
    assert result.alpha["nominal"].value is None
    assert "same" in result.alpha["nominal"].reason
    assert result.fleiss_kappa.value is None
    assert result.percent_agreement.value == 1.0
    assert result.icc.value("ICC1") is None


def test_icc_without_residual_degrees_of_freedom_is_undefined():
    # Oracle: 3 ratings fit exactly by mu + item + rater (3 parameters), so no residual.
    table = intraclass_correlations(frame_from_matrix([[1, 2], [3, None]]))
    assert table.value("ICC1") is None and "residual degrees of freedom" in table.reason
    # A sparse design that is still connected keeps one residual degree of freedom.
    matrix = [[1, None, 3], [2, 4, None], [None, 5, 1]]
    assert intraclass_correlations(frame_from_matrix(matrix)).value("ICC3") is not None


def test_icc_with_no_item_rated_twice_is_undefined():
    # Oracle: the within-item variance needs an item with two ratings.
    table = intraclass_correlations(frame_from_matrix([[1, None], [None, 2]]))
    assert table.value("ICC2") is None and "rated twice" in table.reason


def test_invalid_arguments_name_the_parameter(panel):
    # Oracle: the style rule "raise ValueError naming the parameter".
    with pytest.raises(ValueError, match="level"):
        krippendorff_alpha(panel, level="cardinal")
    with pytest.raises(ValueError, match="n_bootstrap"):
        krippendorff_alpha(panel, bootstrap=Bootstrap(-1))
    with pytest.raises(ValueError, match="rng"):
        krippendorff_alpha(panel, bootstrap=Bootstrap(rng="seed"))
    with pytest.raises(ValueError, match="dimension"):
        krippendorff_alpha(random_panel(np.random.default_rng(0), dimensions=("a", "b")))
    with pytest.raises(ValueError, match=r"levels\['x'\]"):
        resolve_levels({"x": "metric"}, ["x"])
