"""The Hayes-Krippendorff bootstrap of alpha (the KALPHA macro's algorithm).

Krippendorff's algorithm (Hayes & Krippendorff 2007; Krippendorff 2006, revised 2011,
"Algorithm for bootstrapping a distribution of alpha"), in the notation of Krippendorff
(2011): o_ck the coincidence matrix of the data, n_c its marginals, n its total (the
pairable values), delta_ck the level's squared difference (ordinal: from these n_c),
D_e = sum_ck n_c n_k delta_ck / (n (n - 1)) the expected disagreement.

1. The cells of o's lower triangle (diagonal included) get the probabilities
   p_cc = o_cc / n and p_ck = 2 o_ck / n (c > k); they sum to 1.
2. M draws per replicate: M = min(25 Q, n (m - 1) / 2) rounded, Q the number of
   non-zero cells of o, m the number of observers (raters).
3. A replicate draws M cells with replacement with these probabilities and sets
   alpha* = 1 - sum_draws delta_ck / (M D_e): the observed disagreement is resampled,
   the expected disagreement D_e is held at the data's.
4. alpha* below -1 is set to -1; a replicate whose M draws all fell in one diagonal
   cell (a single value, no variation) is set to 0, not 1.

The interval is the percentile interval of the sorted alpha* (the macro's order
statistics), and q = P(alpha* < minimum), the share of replicates below the minimum.

Step 4's second rule: the macro knows only how many replicates equal 1 and sets
round(B sum_c p_cc^M) of them (the expected number drawn from one diagonal cell) to 0;
here the draws are counts per cell, so the replicates that drew one diagonal cell only
are known and exactly those are set to 0.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from analysis._coincidence import fixed_distances
from analysis._types import FloatArray

#: The name the results and reports give this interval.
METHOD = "hayes-krippendorff"


@dataclass(frozen=True)
class HayesKrippendorff:
    """One Hayes-Krippendorff bootstrap: the percentile interval and q.

    ``low``/``high`` are None with ``reason`` when there is nothing to resample.
    """

    low: float | None
    high: float | None
    q: float | None
    n_draws: int
    n_bootstrap: int
    reason: str | None = None
    #: The replicates alpha*, sorted (empty without an interval).
    replicates: FloatArray = field(default_factory=lambda: np.empty(0))


def coincidences(counts: FloatArray) -> FloatArray:
    """o_ck summed over the units with two or more values, from (units, V) value counts."""
    m = counts.sum(axis=1)
    pairable = counts[m >= 2]
    scale = 1.0 / (pairable.sum(axis=1) - 1.0)
    o: FloatArray = (pairable * scale[:, None]).T @ pairable
    o[np.diag_indices_from(o)] -= (pairable * scale[:, None]).sum(axis=0)
    return o


def squared_differences(n_c: FloatArray, domain: FloatArray, level: str) -> FloatArray:
    """delta_ck of the level; ordinal from the marginals n_c (Krippendorff 2011)."""
    fixed = fixed_distances(domain, level)
    if fixed is not None:
        return fixed
    midrank = np.cumsum(n_c) - n_c / 2.0
    ordinal: FloatArray = (midrank[:, None] - midrank[None, :]) ** 2
    return ordinal


def number_of_draws(o: FloatArray, n_raters: int) -> int:
    """M = min(25 Q, n (m - 1) / 2), Q the non-zero cells of o, m the raters."""
    n = float(o.sum())
    return int(min(25 * int((o > 0).sum()), round(n * (n_raters - 1) / 2.0)))


def _percentile_bounds(ordered: FloatArray) -> tuple[float, float]:
    """The macro's order statistics for 95%: the ceil-free 2.5% and the 97.5% + 1 one."""
    b = ordered.size
    low = max(int(np.floor(0.025 * b)), 1)
    high = min(int(np.floor(0.975 * b)) + 1, b)
    return float(ordered[low - 1]), float(ordered[high - 1])


def hayes_krippendorff(
    counts: FloatArray,
    domain: FloatArray,
    level: str,
    *,
    n_raters: int,
    n_bootstrap: int,
    rng: np.random.Generator,
    minimum: float,
) -> HayesKrippendorff:
    """The Hayes-Krippendorff bootstrap of alpha at ``level`` (see the module's notes).

    ``counts`` are the (units, V) value counts of the values ``domain``; alpha must be
    defined on them (two raters, two pairable units, two values used).
    """
    o = coincidences(counts)
    n_c = o.sum(axis=1)
    n = float(n_c.sum())
    delta = squared_differences(n_c, domain, level)
    expected = float(n_c @ delta @ n_c) / (n * (n - 1.0))
    alpha = 1.0 - float((o * delta).sum()) / n / expected
    draws = number_of_draws(o, n_raters)
    if n_bootstrap == 0:
        reason = "no bootstrap replicates were requested"
        return HayesKrippendorff(None, None, None, draws, 0, reason)
    if alpha >= 1.0 - 1e-12:
        reason = "alpha is 1: every resample of its coincidences is perfect agreement"
        return HayesKrippendorff(None, None, None, draws, 0, reason)
    lower_c, lower_k = np.tril_indices(n_c.size)
    p = np.where(lower_c == lower_k, 1.0, 2.0) * o[lower_c, lower_k] / n
    p = np.clip(p, 0.0, None)
    p /= p.sum()
    drawn = rng.multinomial(draws, p, size=n_bootstrap)
    replicates = 1.0 - drawn @ delta[lower_c, lower_k] / (draws * expected)
    replicates = np.maximum(replicates, -1.0)
    on_diagonal = lower_c == lower_k
    one_value = (drawn[:, on_diagonal] == draws).any(axis=1)
    replicates[one_value] = 0.0
    ordered = np.sort(replicates)
    low, high = _percentile_bounds(ordered)
    q = float(np.mean(replicates < minimum))
    return HayesKrippendorff(low, high, q, draws, n_bootstrap, replicates=ordered)
