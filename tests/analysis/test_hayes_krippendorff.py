"""The Hayes-Krippendorff bootstrap of alpha (``alpha_interval="hayes-krippendorff"``).

Oracles: Krippendorff's (2011) worked example, where the nominal replicates are exactly
a binomial variable (so the interval and q have exact values), and a second,
literal implementation of the algorithm as the Stata ``kalpha`` command (Klein &
Reckmann, v1.3.0, a port of the KALPHA macro's algorithm) computes it: uniform draws
located in the cumulative cell probabilities, the count-based correction of replicates
equal to 1, and its order statistics.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import scipy.stats

from analysis._hayes_krippendorff import hayes_krippendorff
from analysis.datasets import krippendorff_2011
from analysis.reliability import (
    Bootstrap,
    agreement_coefficients,
    dimension_reliability,
    krippendorff_alpha,
)
from analysis.summary import analyze, format_text

B = 20_000


def _table(frame: pd.DataFrame) -> np.ndarray:
    """Raters x units, NaN where missing."""
    return frame.pivot(index="rater", columns="item", values="value").to_numpy(dtype=float)


def _coincidences_by_pairs(table: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """o_ck by enumerating each unit's ordered pairs of values (Krippendorff 2011, C.2)."""
    values = np.unique(table[~np.isnan(table)])
    index = {v: i for i, v in enumerate(values)}
    o = np.zeros((values.size, values.size))
    for unit in table.T:
        present = unit[~np.isnan(unit)]
        if present.size < 2:
            continue
        for i, a in enumerate(present):
            for j, b in enumerate(present):
                if i != j:
                    o[index[a], index[b]] += 1.0 / (present.size - 1)
    return o, values


def _stata_kalpha(table: np.ndarray, level: str, reps: int, minimum: float, seed: int):
    """The bootstrap as Stata's kalpha (Mata code, v1.3.0) computes it, step by step."""
    rng = np.random.default_rng(seed)
    o, values = _coincidences_by_pairs(table)
    n_c = o.sum(axis=1)
    n = n_c.sum()
    v = values.size
    if level == "ordinal":
        lower = np.tril(np.tile(n_c[:, None], (1, v)))  # c[i, j] = n_i, i >= j
        running = np.cumsum(lower, axis=0)  # sum_{g=j}^{i} n_g
        half = (n_c[None, :] + n_c[:, None]) / 2.0
        delta = np.tril((running - half) ** 2)
        delta = delta + np.tril(delta, -1).T
    elif level == "interval":
        delta = (values[:, None] - values[None, :]) ** 2
    else:
        delta = 1.0 - np.eye(v)
    np.fill_diagonal(delta, 0.0)
    d_o = (n - 1) * np.tril(o * delta).sum()
    d_e = (np.tril(np.outer(n_c, n_c) * delta)).sum()
    alpha = 1 - d_o / d_e
    m = table.shape[0]
    draws = int(min(25 * (o > 0).sum(), round(n * (m - 1) / 2)))
    de = 2 * d_e / (n * (n - 1))
    pck = np.tril(o) / n + np.tril(o, -1) / n
    # Mata's vech stacks the lower triangle column by column.
    cols, rows = np.triu_indices(v)
    p = pck[rows, cols]
    weight = delta[rows, cols] / (draws * de)
    edges = np.cumsum(p)
    r = rng.random((reps, draws))
    total = (r <= edges[0]).sum(axis=1) * weight[0]
    for j in range(len(p) - 1):
        total = total + ((r >= edges[j]) & (r <= edges[j + 1])).sum(axis=1) * weight[j + 1]
    boot = 1 - total
    boot = np.where(boot < -1, -1.0, boot)
    if (boot == 1).any():
        diagonal = np.diag(pck)
        if (np.diag(o) > 0).sum() == 1:
            boot[boot == 1] = 0.0
        else:
            nx = round(reps * (diagonal**draws).sum())
            if nx >= (boot == 1).sum():
                boot[boot == 1] = 0.0
            else:
                boot = np.sort(boot)
                boot[reps - nx :] = 0.0
    boot = np.sort(boot)
    low = boot[int(max(0.025 * reps, 1)) - 1]
    high = boot[int(np.floor(0.975 * reps) + 1) - 1]
    return alpha, draws, low, high, float((boot < minimum).mean())


def test_coincidences_and_draws_of_the_published_example():
    frame = krippendorff_2011()
    table = _table(frame)
    o, values = _coincidences_by_pairs(table)
    counts = np.stack([(table == value).sum(axis=0) for value in values], axis=1)
    found = hayes_krippendorff(
        counts.astype(float),
        values,
        "nominal",
        n_raters=4,
        n_bootstrap=10,
        rng=np.random.default_rng(0),
        minimum=0.667,
    )
    # n = 40 pairable values, m = 4 coders: M = min(25 Q, 40 * 3 / 2) = 60.
    assert o.sum() == pytest.approx(40.0)
    assert found.n_draws == 60


def test_nominal_interval_and_q_match_the_exact_binomial_distribution():
    """Nominal differences are 0 or 1, so 60 draws give alpha* = 1 - X / (60 D_e) with
    X ~ Binomial(60, share of o off the diagonal): the percentiles and q are exact."""
    frame = krippendorff_2011()
    o, _ = _coincidences_by_pairs(_table(frame))
    n_c, n = o.sum(axis=1), o.sum()
    d_e = (n * n - (n_c**2).sum()) / (n * (n - 1))
    off = 1 - np.trace(o) / n
    x = scipy.stats.binom(60, off)
    step = 1 / (60 * d_e)

    result = krippendorff_alpha(
        frame,
        level="nominal",
        bootstrap=Bootstrap(B, rng=5, alpha_interval="hk", minimum_alpha=0.667),
    )
    assert result.value == pytest.approx(0.743, abs=5e-4)  # published
    # Percentiles of alpha* are 1 - (upper / lower percentiles of X) * step.
    assert result.ci_low == pytest.approx(1 - x.ppf(0.975) * step, abs=step + 1e-9)
    assert result.ci_high == pytest.approx(1 - x.ppf(0.025) * step, abs=step + 1e-9)
    # q = P(alpha* < 0.667) = P(X > (1 - 0.667) / step).
    exact_q = x.sf(np.floor((1 - 0.667) / step))
    assert result.p_below_minimum == pytest.approx(exact_q, abs=4 * np.sqrt(exact_q / B))
    assert result.interval_method == "hayes-krippendorff"
    assert result.n_bootstrap == B


@pytest.mark.parametrize("level", ["ordinal", "interval", "nominal"])
def test_matches_the_stata_kalpha_algorithm(level):
    frame = krippendorff_2011()
    alpha, _, low, high, q = _stata_kalpha(_table(frame), level, B, 0.8, seed=11)
    result = krippendorff_alpha(
        frame,
        level=level,
        bootstrap=Bootstrap(B, rng=3, alpha_interval="hayes-krippendorff", minimum_alpha=0.8),
    )
    assert result.value == pytest.approx(alpha, abs=1e-12)
    assert result.ci_low == pytest.approx(low, abs=0.02)
    assert result.ci_high == pytest.approx(high, abs=0.02)
    assert result.p_below_minimum == pytest.approx(q, abs=0.015)


def test_a_replicate_drawn_from_one_value_is_zero_not_one():
    # Two raters: (1, 1), (1, 1), (2, 2), (1, 2). o_11 = 4, o_22 = 2, o_12 = o_21 = 1,
    # n = 8, M = min(25 * 4, 8 / 2) = 4 draws, alpha = 1 - 7 * 2 / 30.
    counts = np.array([[2.0, 0.0], [2.0, 0.0], [0.0, 2.0], [1.0, 1.0]])
    found = hayes_krippendorff(
        counts,
        np.array([1.0, 2.0]),
        "nominal",
        n_raters=2,
        n_bootstrap=B,
        rng=np.random.default_rng(1),
        minimum=0.667,
    )
    assert found.n_draws == 4
    one_value = (4 / 8) ** 4 + (2 / 8) ** 4  # all four draws on o_11, or all on o_22
    both_values = (6 / 8) ** 4 - one_value  # all on the diagonal, both values: 1
    share_zero = float(np.mean(found.replicates == 0.0))
    share_one = float(np.mean(found.replicates == 1.0))
    assert share_zero == pytest.approx(one_value, abs=4 * np.sqrt(one_value / B))
    assert share_one == pytest.approx(both_values, abs=4 * np.sqrt(both_values / B))
    assert found.replicates.min() >= -1.0


def test_draws_are_capped_at_25_per_non_empty_cell():
    # 30 raters x 6 items, two values: at most 4 non-empty cells, so M = 100, far below
    # n (m - 1) / 2 = 180 * 29 / 2.
    rng = np.random.default_rng(0)
    counts = np.zeros((6, 2))
    counts[:, 0] = rng.integers(5, 25, size=6)
    counts[:, 1] = 30 - counts[:, 0]
    found = hayes_krippendorff(
        counts,
        np.array([0.0, 1.0]),
        "nominal",
        n_raters=30,
        n_bootstrap=10,
        rng=rng,
        minimum=0.667,
    )
    assert found.n_draws == 100


def test_the_other_intervals_and_the_value_do_not_change():
    frame = krippendorff_2011()
    default = dimension_reliability(frame, level="ordinal", bootstrap=Bootstrap(200, rng=4))
    hk = dimension_reliability(
        frame, level="ordinal", bootstrap=Bootstrap(200, rng=4, alpha_interval="hk")
    )
    assert hk.alpha["ordinal"].value == default.alpha["ordinal"].value
    assert hk.fleiss_kappa == default.fleiss_kappa and hk.gwet_ac1 == default.gwet_ac1
    assert hk.alpha["ordinal"].ci != default.alpha["ordinal"].ci
    assert default.alpha["ordinal"].interval_method == "two-way"
    fixed = krippendorff_alpha(frame, bootstrap=Bootstrap(50, rng=0, raters="fixed"))
    assert fixed.interval_method == "items-bca"
    same = dimension_reliability(
        frame, level="ordinal", bootstrap=Bootstrap(200, rng=4, alpha_interval="hk")
    )
    assert same.alpha["ordinal"].ci == hk.alpha["ordinal"].ci  # seeded
    assert agreement_coefficients(frame, bootstrap=Bootstrap(0)).fleiss_kappa.value is not None


def test_analyze_labels_the_method_everywhere():
    result = analyze(krippendorff_2011(), n_bootstrap=100, alpha_interval="hk")
    data = result.to_dict()
    d = data["dimensions"]["d"]
    assert data["settings"]["alpha_interval"] == "hayes-krippendorff"
    assert d["krippendorff_alpha_interval"].startswith("Hayes-Krippendorff bootstrap")
    details = d["details"]["krippendorff_alpha"]["ordinal"]
    assert details["interval_method"] == "hayes-krippendorff"
    assert "Hayes-Krippendorff q = P(alpha* < 0.667)" in format_text(result)
    default = analyze(krippendorff_2011(), n_bootstrap=100).to_dict()
    assert default["settings"]["alpha_interval"] == "two-way"
    assert default["dimensions"]["d"]["krippendorff_alpha_interval"].startswith("two-way")


def test_no_interval_where_there_is_nothing_to_resample():
    perfect = pd.DataFrame(
        [(r, i, "d", float(i % 3)) for r in "ab" for i in range(6)],
        columns=["rater", "item", "dimension", "value"],
    )
    result = krippendorff_alpha(
        perfect, level="nominal", bootstrap=Bootstrap(50, rng=0, alpha_interval="hk")
    )
    assert result.value == 1.0 and result.ci is None and "alpha is 1" in result.ci_reason
    none = krippendorff_alpha(perfect, level="nominal", bootstrap=Bootstrap(0, alpha_interval="hk"))
    assert none.ci is None and none.ci_reason


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"alpha_interval": "bca"}, "alpha_interval must be one of two-way, hayes-krippendorff"),
        ({"alpha_interval": "hk", "raters": "fixed"}, "raters='fixed' does not apply"),
    ],
)
def test_bad_options_are_named(options, message):
    with pytest.raises(ValueError, match=message):
        krippendorff_alpha(krippendorff_2011(), bootstrap=Bootstrap(10, **options))
