"""How well each expert reproduces known answers: agreement with the reference values of
calibration items.

A survey may mark some items as calibration items, each with a reference value per
dimension (from a reference panel or a settled case); experts rate them as ordinary items.
For each expert, over the calibration item x dimension cells they rated:

* **weighted kappa** against the references: Cohen's kappa with quadratic weights, in
  its equivalent form as the concordance of positions (Fleiss & Cohen 1973):
  ``2 cov(x, r) / (var x + var r + (mean x - mean r)^2)`` with each value placed on
  [0, 1] by its dimension's scale, so dimensions with different scales pool;
* **mean signed bias**: the mean of (rating - reference) in scale points; positive = the
  expert rates higher than the reference.

Intervals (95%) come from the jackknife over calibration items, the unit that varies (the
cells of one item share the expert's reading of it): the leave-one-item-out estimates give
a standard error and the interval is estimate +/- t(0.975, n - 1) x SE. For the bias this is
the t interval of the per-item mean differences (exactly, when every item has the same
number of cells); for kappa, the jackknife interval of a smooth statistic (Efron & Tibshirani
1993, ch. 11). With fewer than three calibration items rated the expert gets no value, with
the reason; kappa is undefined when neither the expert's nor the references' values vary.
``bench/reference.py`` checks coverage by simulation.

References
----------
Cohen, J. (1968). Weighted kappa. Psychological Bulletin 70(4), 213-220.
Fleiss, J. L., & Cohen, J. (1973). The equivalence of weighted kappa and the intraclass
correlation coefficient as measures of reliability. Educational and Psychological
Measurement 33, 613-619.
Efron, B., & Tibshirani, R. J. (1993). An Introduction to the Bootstrap, ch. 11.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from analysis._types import FloatArray
from analysis.results import Record

__all__ = ["MIN_ITEMS", "ExpertAccuracy", "ReferenceAgreement", "reference_agreement"]

#: Fewest calibration items an expert must have rated to get a value (and an interval).
MIN_ITEMS = 3
_T975 = {2: 4.303, 3: 3.182, 4: 2.776, 5: 2.571, 6: 2.447, 7: 2.365, 8: 2.306, 9: 2.262}


@dataclass(frozen=True)
class ExpertAccuracy(Record):
    """One expert's agreement with the references (``reason`` when there is no value)."""

    rater: Hashable
    n_items: int
    n_ratings: int
    kappa: float | None
    kappa_ci: tuple[float, float] | None
    bias: float | None
    bias_ci: tuple[float, float] | None
    reason: str | None


@dataclass(frozen=True)
class ReferenceAgreement(Record):
    """Every expert's agreement with the reference values of the calibration items."""

    items: list[Hashable]
    experts: list[ExpertAccuracy]
    panel_kappa: float | None
    panel_bias: float | None


def _t975(df: int) -> float:
    if df in _T975:
        return _T975[df]
    from scipy.stats import t  # (only for ten or more items)

    return float(t.ppf(0.975, df))


def _kappa(x: FloatArray, r: FloatArray) -> float | None:
    """Quadratic-weighted kappa as the concordance of positions; None when 0/0."""
    denominator = x.var() + r.var() + (x.mean() - r.mean()) ** 2
    if denominator <= 1e-15:
        return None
    return float(2 * ((x - x.mean()) * (r - r.mean())).mean() / denominator)


def _jackknife_interval(
    estimate: float, leave_one_out: list[float | None], *, fisher_z: bool = False
) -> tuple[float, float] | None:
    """estimate +/- t(0.975, n-1) x the jackknife standard error; with ``fisher_z`` on
    atanh(estimate) and back (for a correlation-like statistic in (-1, 1))."""
    values = np.array([v for v in leave_one_out if v is not None], dtype=float)
    n = len(leave_one_out)
    if len(values) != n or n < MIN_ITEMS:
        return None  # a left-out item made the statistic undefined: no honest interval
    if fisher_z:
        if abs(estimate) >= 1 or np.any(np.abs(values) >= 1):
            return None  # on the boundary: the interval is not defined on this scale
        estimate, values = float(np.arctanh(estimate)), np.arctanh(values)
    se = float(np.sqrt((n - 1) / n * ((values - values.mean()) ** 2).sum()))
    half = _t975(n - 1) * se
    low, high = estimate - half, estimate + half
    if fisher_z:
        return (float(np.tanh(low)), float(np.tanh(high)))
    return (low, high)


def _expert(
    rater: Hashable, cells: pd.DataFrame, scales: Mapping[Hashable, tuple[float, float]]
) -> ExpertAccuracy:
    items = list(dict.fromkeys(cells["item"]))
    n_items, n_ratings = len(items), len(cells)
    if n_items < MIN_ITEMS:
        reason = (
            f"rated {n_items} calibration item{'s' if n_items != 1 else ''}; "
            f"at least {MIN_ITEMS} are needed"
        )
        return ExpertAccuracy(rater, n_items, n_ratings, None, None, None, None, reason)
    low = cells["dimension"].map(lambda d: scales[d][0]).to_numpy(float)
    span = cells["dimension"].map(lambda d: scales[d][1] - scales[d][0]).to_numpy(float)
    x = cells["value"].to_numpy(float)
    r = cells["reference"].to_numpy(float)
    item_of = cells["item"].to_numpy()
    px, pr = (x - low) / span, (r - low) / span
    kappa = _kappa(px, pr)
    bias = float((x - r).mean())
    kappa_loo: list[float | None] = []
    bias_loo: list[float | None] = []
    for item in items:
        keep = item_of != item
        kappa_loo.append(_kappa(px[keep], pr[keep]))
        bias_loo.append(float((x[keep] - r[keep]).mean()))
    return ExpertAccuracy(
        rater,
        n_items,
        n_ratings,
        kappa,
        _jackknife_interval(kappa, kappa_loo, fisher_z=True) if kappa is not None else None,
        bias,
        _jackknife_interval(bias, bias_loo),
        None if kappa is not None else "no variation: kappa is 0/0",
    )


def reference_agreement(
    ratings: pd.DataFrame,
    references: Mapping[tuple[Hashable, Hashable], float],
    scales: Mapping[Hashable, tuple[float, float]],
) -> ReferenceAgreement:
    """Each expert's weighted kappa and mean signed bias against ``references``.

    Parameters
    ----------
    ratings : DataFrame
        Tidy ratings with columns ``rater``, ``item``, ``dimension``, ``value`` (rows
        whose value is missing, e.g. "can't judge", are left out).
    references : mapping (item, dimension) -> reference value
        The calibration items' reference values.
    scales : mapping dimension -> (min, max)
        Each dimension's scale (to place values on [0, 1] for kappa).
    """
    table = pd.DataFrame(
        [(item, dim, value) for (item, dim), value in references.items()],
        columns=["item", "dimension", "reference"],
    )
    rated = ratings.dropna(subset=["value"])[["rater", "item", "dimension", "value"]]
    cells = rated.merge(table, on=["item", "dimension"], how="inner")
    experts = [
        _expert(rater, group, scales)
        for rater, group in cells.groupby("rater", sort=True, observed=True)
    ]
    kappas = [e.kappa for e in experts if e.kappa is not None]
    biases = [e.bias for e in experts if e.bias is not None]
    return ReferenceAgreement(
        items=list(dict.fromkeys(table["item"])),
        experts=experts,
        panel_kappa=float(np.mean(kappas)) if kappas else None,
        panel_bias=float(np.mean(biases)) if biases else None,
    )
