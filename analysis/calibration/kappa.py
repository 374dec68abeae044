"""Quadratic-weighted kappa, the agreement the thresholds are fitted to maximise."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from analysis._types import FloatArray, IntArray

__all__ = ["quadratic_weighted_kappa"]


def quadratic_weighted_kappa(table: npt.ArrayLike) -> float | None:
    """Cohen's weighted kappa with quadratic disagreement weights, from a square table.

    Parameters
    ----------
    table : array-like, shape (k, k)
        Counts of units by category of the first rater (rows) and the second (columns);
        categories are ordered and equally spaced.

    Returns
    -------
    float or None
        ``None`` when the expected disagreement is zero (both raters put every unit in
        one and the same category), where kappa is 0/0.

    Notes
    -----
    kappa_w = 1 - sum_ij w_ij p_ij / sum_ij w_ij e_ij, with p_ij = n_ij / n the observed
    proportions, e_ij = p_i. p_.j the proportions expected from the margins, and
    w_ij = (i - j)^2 / (k - 1)^2 (Cohen 1968; the scale of w cancels). With these
    weights kappa equals the chance-corrected agreement
    2 cov(x, y) / (var x + var y + (mean x - mean y)^2) of the category positions,
    which is how :func:`fit_thresholds` evaluates it for many candidate rules at once
    (Fleiss & Cohen 1973).

    References
    ----------
    Cohen, J. (1968). Weighted kappa: Nominal scale agreement with provision for scaled
    disagreement or partial credit. Psychological Bulletin, 70(4), 213-220.
    Fleiss, J. L., & Cohen, J. (1973). The equivalence of weighted kappa and the
    intraclass correlation coefficient as measures of reliability. Educational and
    Psychological Measurement, 33(3), 613-619.

    Examples
    --------
    >>> round(quadratic_weighted_kappa([[5, 1, 0], [1, 4, 1], [0, 1, 5]]), 4)
    0.8333
    """
    counts = np.asarray(table, dtype=float)
    if counts.ndim != 2 or counts.shape[0] != counts.shape[1] or counts.shape[0] < 1:
        raise ValueError(f"table must be a square 2-D array of counts, not shape {counts.shape}")
    if not np.isfinite(counts).all() or (counts < 0).any():
        raise ValueError("table must hold finite, non-negative counts")
    total = counts.sum()
    if total <= 0:
        raise ValueError("table must hold at least one unit")
    k = counts.shape[0]
    position = np.arange(k, dtype=float)
    w = (position[:, None] - position[None, :]) ** 2
    p = counts / total
    e = np.outer(p.sum(axis=1), p.sum(axis=0))
    expected = float((w * e).sum())
    if expected <= 0:
        return None
    return float(1.0 - (w * p).sum() / expected)


def _kappa_and_accuracy(
    rule: FloatArray, panel: FloatArray, n_tiers: int
) -> tuple[float | None, float | None, IntArray]:
    table = np.zeros((n_tiers, n_tiers), dtype=np.int64)
    np.add.at(table, (rule.astype(np.int64), panel.astype(np.int64)), 1)
    if rule.size == 0:
        return None, None, table
    return quadratic_weighted_kappa(table), float(np.mean(rule == panel)), table
