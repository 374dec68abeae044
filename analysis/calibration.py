"""Calibration of a survey's tier rule against the panel's own holistic tier judgements.

A tier rule (declared in a survey file) maps an item's consensus scores on the rule
dimensions to one of the ordered tiers t_0 < t_1 < ... < t_K::

    score(item) = aggregate(consensus score of each rule dimension)   # max, min or mean
    tier(item)  = the highest k with score >= c_k, or 0 when there is none

with thresholds c_1 < ... < c_K. :func:`fit_thresholds` chooses the thresholds that
make the rule agree best (quadratic-weighted kappa) with the tier the panel itself gave
each item, reports how well they do in and out of sample, and how certain each item's
tier is under resampling of the experts (:func:`tier_probabilities`).

Tier judgements are the rows whose dimension is the tier dimension (``"tier"`` by
default) with value = the 0-based tier position (0 = lowest tier).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from functools import lru_cache
from typing import Any

import numpy as np
import pandas as pd

from analysis._checks import check_bootstrap, make_generator
from analysis.results import jsonable, label
from analysis.tidy import select_round, sorted_codes, validate_ratings

__all__ = [
    "AGGREGATES",
    "BORDERLINE_SHARE",
    "CENTERS",
    "HOLISTIC_CONSENSUS",
    "TIE_BREAK",
    "CalibratedItem",
    "Calibration",
    "TierProbabilities",
    "apply_rule",
    "consensus_scores",
    "fit_thresholds",
    "quadratic_weighted_kappa",
    "tier_probabilities",
]

AGGREGATES = ("max", "min", "mean")
CENTERS = ("median", "mean")
BORDERLINE_SHARE = 0.8
TIE_BREAK = (
    "among thresholds with the same maximal quadratic-weighted kappa: (1) the smallest sum "
    "of absolute distances to the initial thresholds, (2) then the lexicographically "
    "smallest thresholds"
)
HOLISTIC_CONSENSUS = (
    "median of the experts' tier positions, rounded half up (an even split between two "
    "adjacent tiers goes to the higher tier)"
)
CANDIDATES = (
    "every way of splitting the sorted distinct item scores into consecutive tiers "
    "(empty tiers allowed); a threshold inside the gap between two distinct scores sits at "
    "the midpoint (several thresholds in one gap: evenly spaced), below all scores at "
    "scale minimum - 0.5, above all scores at scale maximum + 0.5 (further ones 0.5 "
    "apart), unless the initial thresholds fall in those gaps, in which case they are kept"
)
NO_HOLISTIC = "no holistic tiers"

# Scores closer than this count as equal, and a score this close to a threshold reaches it.
_TOLERANCE = 1e-9
# Distinct scores are merged when closer than this (so gaps between them dwarf _TOLERANCE).
_MERGE = 1e-6
# Bootstrap weights are processed in chunks of at most this many cells.
_CHUNK_CELLS = 4_000_000
# Beyond this many candidate splits the exhaustive search is refused.
_MAX_CANDIDATES = 20_000_000


# ----------------------------------------------------------------------------- results


@dataclass(frozen=True)
class CalibratedItem:
    """One item: its consensus scores, its tier by the rule and by the panel, and how sure.

    Tiers are 0-based positions. ``probabilities`` is the share of bootstrap resamples
    placing the item in each tier (None without a bootstrap or when the item's score is
    undefined in every resample).
    """

    item: Hashable
    scores: Mapping[Hashable, float | None]
    score: float | None
    rule_tier: int | None
    panel_tier: int | None
    probabilities: tuple[float, ...] | None = None
    modal_tier: int | None = None
    modal_share: float | None = None
    borderline: bool | None = None
    n_resamples: int = 0
    reason: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return jsonable(
            {
                "item": label(self.item),
                "scores": {str(label(k)): v for k, v in self.scores.items()},
                "score": self.score,
                "rule_tier": self.rule_tier,
                "panel_tier": self.panel_tier,
                "probabilities": None if self.probabilities is None else list(self.probabilities),
                "modal_tier": self.modal_tier,
                "modal_share": self.modal_share,
                "borderline": self.borderline,
                "n_resamples": self.n_resamples,
                "reason": self.reason,
            }
        )


@dataclass(frozen=True)
class TierProbabilities:
    """Per item, the share of expert-bootstrap resamples that put it in each tier."""

    tiers: tuple[str, ...]
    items: tuple[Hashable, ...]
    probabilities: tuple[tuple[float, ...] | None, ...]
    n_resamples: tuple[int, ...]
    n_bootstrap: int
    seed: int | None
    refit: bool
    borderline_share: float = BORDERLINE_SHARE
    thresholds: tuple[float, ...] = ()
    reasons: Mapping[str, str] = field(default_factory=dict)

    def modal(self, index: int) -> tuple[int | None, float | None, bool | None]:
        """(modal tier, its share, borderline) of the item at ``index``; ties go lowest."""
        row = self.probabilities[index]
        if row is None:
            return None, None, None
        tier = int(np.argmax(row))
        share = float(row[tier])
        return tier, share, share < self.borderline_share - _TOLERANCE

    def to_dict(self) -> dict[str, Any]:
        items = []
        for index, item in enumerate(self.items):
            tier, share, borderline = self.modal(index)
            row = self.probabilities[index]
            items.append(
                {
                    "item": label(item),
                    "probabilities": None if row is None else list(row),
                    "modal_tier": tier,
                    "modal_share": share,
                    "borderline": borderline,
                    "n_resamples": self.n_resamples[index],
                }
            )
        return jsonable(
            {
                "tiers": list(self.tiers),
                "n_bootstrap": self.n_bootstrap,
                "seed": self.seed,
                "refit": self.refit,
                "borderline_share": self.borderline_share,
                "thresholds": list(self.thresholds),
                "items": items,
                "reasons": dict(self.reasons),
            }
        )


@dataclass(frozen=True)
class Calibration:
    """Fitted tier thresholds with their agreement, out-of-sample check and uncertainty.

    Kappas are quadratic-weighted (:func:`quadratic_weighted_kappa`) between the rule's
    tier and the panel's consensus holistic tier over the items having both. ``confusion``
    counts items by rule tier (rows) and panel tier (columns) under the fitted
    thresholds. ``None`` fields have their reason in ``reasons``.
    """

    dimensions: tuple[Hashable, ...]
    tiers: tuple[str, ...]
    initial_thresholds: tuple[float, ...]
    fitted_thresholds: tuple[float, ...]
    kappa_initial: float | None
    kappa_fitted: float | None
    accuracy_initial: float | None
    accuracy_fitted: float | None
    loo_kappa: float | None
    loo_accuracy: float | None
    confusion: tuple[tuple[int, ...], ...] | None
    items: tuple[CalibratedItem, ...]
    n_items_fitted: int
    n_raters: int
    settings: Mapping[str, Any]
    reasons: Mapping[str, str] = field(default_factory=dict)

    @property
    def has_holistic_tiers(self) -> bool:
        return self.confusion is not None

    def to_dict(self) -> dict[str, Any]:
        names = self.tiers[1:]
        return jsonable(
            {
                "dimensions": [label(d) for d in self.dimensions],
                "tiers": list(self.tiers),
                "initial_thresholds": list(self.initial_thresholds),
                "fitted_thresholds": list(self.fitted_thresholds),
                "thresholds_by_tier": {
                    "initial": dict(zip(names, self.initial_thresholds, strict=True)),
                    "fitted": dict(zip(names, self.fitted_thresholds, strict=True)),
                },
                "kappa_initial": self.kappa_initial,
                "kappa_fitted": self.kappa_fitted,
                "accuracy_initial": self.accuracy_initial,
                "accuracy_fitted": self.accuracy_fitted,
                "loo_kappa": self.loo_kappa,
                "loo_accuracy": self.loo_accuracy,
                "confusion": None if self.confusion is None else [list(r) for r in self.confusion],
                "confusion_axes": {"rows": "rule tier", "columns": "panel tier"},
                "n_items": len(self.items),
                "n_items_fitted": self.n_items_fitted,
                "n_raters": self.n_raters,
                "items": [item.to_dict() for item in self.items],
                "settings": dict(self.settings),
                "reasons": dict(self.reasons),
            }
        )


# ------------------------------------------------------------------------------ kappa


def quadratic_weighted_kappa(table: Any) -> float | None:
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
    rule: np.ndarray, panel: np.ndarray, n_tiers: int
) -> tuple[float | None, float | None, np.ndarray]:
    table = np.zeros((n_tiers, n_tiers), dtype=np.int64)
    np.add.at(table, (rule.astype(np.int64), panel.astype(np.int64)), 1)
    if rule.size == 0:
        return None, None, table
    return quadratic_weighted_kappa(table), float(np.mean(rule == panel)), table


# -------------------------------------------------------------------------- the rule


def _check_thresholds(thresholds: Any, name: str) -> np.ndarray:
    try:
        values = np.asarray(thresholds, dtype=float)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a sequence of numbers, not {thresholds!r}") from None
    if values.ndim != 1 or values.size < 1:
        raise ValueError(f"{name} must be a non-empty sequence of numbers, not {thresholds!r}")
    if not np.isfinite(values).all():
        raise ValueError(f"{name} must be finite, not {thresholds!r}")
    if (np.diff(values) <= 0).any():
        raise ValueError(f"{name} must be strictly increasing, not {values.tolist()}")
    return values


def _check_aggregate(aggregate: str) -> str:
    if aggregate not in AGGREGATES:
        raise ValueError(f"aggregate must be one of {', '.join(AGGREGATES)}, not {aggregate!r}")
    return aggregate


def _aggregate(values: np.ndarray, aggregate: str) -> np.ndarray:
    """Aggregate over the first axis (dimensions); NaN if any dimension is NaN."""
    if aggregate == "max":
        return np.max(values, axis=0)
    if aggregate == "min":
        return np.min(values, axis=0)
    return np.mean(values, axis=0)


def _assign(score: np.ndarray, thresholds: np.ndarray) -> np.ndarray:
    """Tier positions (float, NaN where the score is NaN)."""
    reached = score[..., None] >= thresholds - _TOLERANCE
    tiers = reached.sum(axis=-1).astype(float)
    return np.where(np.isnan(score), np.nan, tiers)


def apply_rule(
    scores: pd.DataFrame,
    *,
    dimensions: Sequence[Hashable],
    aggregate: str,
    thresholds: Sequence[float],
) -> pd.Series:
    """Tier of each item by the tier rule: the highest k with score >= c_k, else tier 0.

    Parameters
    ----------
    scores : pandas.DataFrame
        One row per item (the index) and one column per dimension, holding the consensus
        scores (for example from :func:`consensus_scores`).
    dimensions : sequence of labels
        The rule dimensions (columns of ``scores``).
    aggregate : {"max", "min", "mean"}
        How the dimension scores combine into the item's score.
    thresholds : sequence of float
        c_1 < ... < c_K, the lowest score of tiers 1..K.

    Returns
    -------
    pandas.Series
        Tier positions (0 = lowest tier) as pandas' nullable ``Int64``, indexed like
        ``scores``; ``<NA>`` where a rule dimension has no score.

    Notes
    -----
    A score equal to a threshold reaches it (goes to the higher tier); scores within
    1e-9 of a threshold count as equal, so that e.g. a mean of 2.5 computed as
    2.4999999999999996 still reaches 2.5.

    References
    ----------
    Thurnherr, L. (2025). Which information should the UK and US AISI share with an
    International Network of AISIs? Opportunities, risks, and a tentative proposal.
    arXiv:2503.04741 (the No Brainer / Gray Area / High Trust tiers).

    Examples
    --------
    >>> scores = pd.DataFrame({"proprietary": [1, 3, 5], "misuse": [2, 2, 4.0]},
    ...                       index=["learnings", "methods", "weights"])
    >>> apply_rule(scores, dimensions=["proprietary", "misuse"], aggregate="max",
    ...            thresholds=[2.5, 4.0]).tolist()
    [0, 1, 2]
    """
    if not isinstance(scores, pd.DataFrame):
        raise ValueError(f"scores must be a pandas DataFrame, not {type(scores).__name__}")
    dimensions = _check_dimensions(dimensions)
    missing = [d for d in dimensions if d not in scores.columns]
    if missing:
        raise ValueError(f"dimensions: {missing[0]!r} is not a column of scores")
    _check_aggregate(aggregate)
    cuts = _check_thresholds(thresholds, "thresholds")
    try:
        values = scores[list(dimensions)].to_numpy(dtype=float).T
    except (TypeError, ValueError):
        raise ValueError("scores must hold numbers in the rule dimensions") from None
    if np.isinf(values).any():
        raise ValueError("scores must be finite or NaN")
    tiers = _assign(_aggregate(values, aggregate), cuts)
    result = pd.Series(tiers, index=scores.index, name="tier")
    return result.astype("Int64")


def _check_dimensions(dimensions: Any) -> tuple[Hashable, ...]:
    if isinstance(dimensions, str) or not isinstance(dimensions, Sequence | np.ndarray):
        raise ValueError(f"dimensions must be a sequence of dimension labels, not {dimensions!r}")
    result = tuple(dimensions)
    if not result:
        raise ValueError("dimensions must name at least one dimension")
    if len(set(result)) != len(result):
        raise ValueError(f"dimensions must not repeat a label: {list(result)}")
    return result


# ------------------------------------------------------------ weighted panel centres


@dataclass(frozen=True)
class _Cells:
    """One dimension's values sorted by (item, value), with the rater of each value."""

    rater: np.ndarray
    value: np.ndarray
    start: np.ndarray  # per item (all panel items), start in rater/value
    size: np.ndarray  # per item, number of values


def _cells(frame: pd.DataFrame, item_code: np.ndarray, rater_code: np.ndarray, n_items: int):
    values = frame["value"].to_numpy(dtype=float)
    has = ~np.isnan(values)
    item, value, rater = item_code[has], values[has], rater_code[has]
    order = np.lexsort((value, item))
    size = np.bincount(item, minlength=n_items)
    return _Cells(rater=rater[order], value=value[order], start=np.cumsum(size) - size, size=size)


def _centers(cells: _Cells, weights: np.ndarray, center: str) -> np.ndarray:
    """(B, items) panel centre per item for each row of rater weights (B, raters).

    A weight is how often a rater was drawn; the median is the type 7 median of the
    multiset in which every value appears that often (NaN where nothing was drawn).
    """
    n_rows = weights.shape[0]
    out = np.full((n_rows, cells.size.size), np.nan)
    rated = cells.size > 0
    if not rated.any():
        return out
    starts, sizes = cells.start[rated], cells.size[rated]
    chunk = max(1, _CHUNK_CELLS // max(1, cells.value.size))
    for first in range(0, n_rows, chunk):
        w = weights[first : first + chunk][:, cells.rater]
        total = np.add.reduceat(w, starts, axis=1)
        if center == "mean":
            sums = np.add.reduceat(w * cells.value, starts, axis=1)
            value = np.divide(sums, total, out=np.full(total.shape, np.nan), where=total > 0)
        else:
            cumulative = np.cumsum(w, axis=1)
            before = cumulative[:, starts] - w[:, starts]
            within = cumulative - np.repeat(before, sizes, axis=1)
            # 1-based positions of the two middle values of N: (N + 1) // 2 and N // 2 + 1.
            low = np.floor((total + 1) / 2)
            high = np.floor(total / 2) + 1
            below_low = within < np.repeat(low, sizes, axis=1)
            below_high = within < np.repeat(high, sizes, axis=1)
            index_low = np.minimum(np.add.reduceat(below_low, starts, axis=1), sizes - 1)
            index_high = np.minimum(np.add.reduceat(below_high, starts, axis=1), sizes - 1)
            value = (cells.value[starts + index_low] + cells.value[starts + index_high]) / 2
            value[total <= 0] = np.nan
        out[first : first + chunk, rated] = value
    return out


def _round_half_up(median: np.ndarray) -> np.ndarray:
    return np.floor(median + 0.5)


# ------------------------------------------------------------------------ the inputs


@dataclass(frozen=True)
class _Panel:
    items: np.ndarray
    raters: np.ndarray
    dimensions: tuple[Hashable, ...]
    cells: tuple[_Cells, ...]
    tier_cells: _Cells | None
    scale: tuple[float, float]


@dataclass(frozen=True)
class _Rule:
    aggregate: str
    center: str
    n_tiers: int
    initial: np.ndarray
    scale: tuple[float, float]

    def scores(self, panel: _Panel, weights: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(dims, B, items) consensus scores and (B, items) aggregated scores."""
        per_dimension = np.stack([_centers(c, weights, self.center) for c in panel.cells])
        return per_dimension, _aggregate(per_dimension, self.aggregate)


def _prepare(
    ratings: pd.DataFrame,
    *,
    dimensions: Any,
    aggregate: str,
    n_tiers: Any,
    scale: Any,
    initial_thresholds: Any,
    tier_dimension: Hashable,
    center: str,
) -> tuple[_Panel, _Rule]:
    frame = select_round(validate_ratings(ratings))
    dimensions = _check_dimensions(dimensions)
    _check_aggregate(aggregate)
    if center not in CENTERS:
        raise ValueError(f"center must be one of {', '.join(CENTERS)}, not {center!r}")
    if isinstance(n_tiers, bool) or not isinstance(n_tiers, int | np.integer) or n_tiers < 2:
        raise ValueError(f"n_tiers must be an int >= 2, not {n_tiers!r}")
    n_tiers = int(n_tiers)
    initial = _check_thresholds(initial_thresholds, "initial_thresholds")
    if initial.size != n_tiers - 1:
        raise ValueError(
            f"initial_thresholds must hold n_tiers - 1 = {n_tiers - 1} values, not {initial.size}"
        )
    if tier_dimension in dimensions:
        raise ValueError(f"tier_dimension {tier_dimension!r} must not be a rule dimension")
    present = set(frame["dimension"].unique())
    for dimension in dimensions:
        if dimension not in present:
            raise ValueError(f"dimensions: {dimension!r} does not occur in ratings")
    use = frame[frame["dimension"].isin([*dimensions, tier_dimension])]
    rule_values = use.loc[use["dimension"].isin(dimensions), "value"].dropna().to_numpy()
    if rule_values.size == 0:
        raise ValueError("ratings hold no value on the rule dimensions")
    if scale is None:
        low, high = float(rule_values.min()), float(rule_values.max())
    else:
        try:
            low, high = (float(v) for v in scale)
        except (TypeError, ValueError):
            raise ValueError(f"scale must be (minimum, maximum), not {scale!r}") from None
        if not (math.isfinite(low) and math.isfinite(high) and low < high):
            raise ValueError(f"scale must be finite with minimum < maximum, not {scale!r}")
        outside = (rule_values < low) | (rule_values > high)
        if outside.any():
            raise ValueError(
                f"ratings: the value {rule_values[outside][0]!r} lies outside scale {scale!r}"
            )
    tiers = use.loc[use["dimension"] == tier_dimension, "value"].dropna().to_numpy()
    bad = (tiers != np.round(tiers)) | (tiers < 0) | (tiers > n_tiers - 1)
    if bad.any():
        raise ValueError(
            f"ratings: tier dimension {tier_dimension!r} has the value {tiers[bad][0]!r}; "
            f"tier positions are the integers 0 to {n_tiers - 1}"
        )
    item_code, items = sorted_codes(use["item"])
    rater_code, raters = sorted_codes(use["rater"])
    dimension_of = use["dimension"].to_numpy()
    cells = tuple(
        _cells(
            use[dimension_of == d],
            item_code[dimension_of == d],
            rater_code[dimension_of == d],
            items.size,
        )
        for d in dimensions
    )
    tier_cells = None
    if tiers.size:
        rows = dimension_of == tier_dimension
        tier_cells = _cells(use[rows], item_code[rows], rater_code[rows], items.size)
    panel = _Panel(
        items=items,
        raters=raters,
        dimensions=dimensions,
        cells=cells,
        tier_cells=tier_cells,
        scale=(low, high),
    )
    rule = _Rule(
        aggregate=aggregate, center=center, n_tiers=n_tiers, initial=initial, scale=(low, high)
    )
    return panel, rule


def consensus_scores(
    ratings: pd.DataFrame, *, dimensions: Sequence[Hashable], center: str = "median"
) -> pd.DataFrame:
    """The panel's consensus score per item (rows) and rule dimension (columns).

    Parameters
    ----------
    ratings : pandas.DataFrame
        Tidy ratings (see :mod:`analysis.tidy`); with a ``round`` column, the last round.
    dimensions : sequence of labels
        The dimensions to score.
    center : {"median", "mean"}
        The panel's central score over the experts' non-missing values.

    Returns
    -------
    pandas.DataFrame
        Items sorted; NaN where nobody gave a value.

    Notes
    -----
    The median is the ordinary sample median (the mean of the two middle values for an
    even count, Hyndman & Fan type 7), as in :mod:`analysis.consensus`.

    References
    ----------
    Hyndman, R. J., & Fan, Y. (1996). Sample quantiles in statistical packages. The
    American Statistician, 50(4), 361-365.

    Examples
    --------
    >>> frame = pd.DataFrame({"rater": list("abcd"), "item": "x", "dimension": "d",
    ...                       "value": [1.0, 2.0, 4.0, None]})
    >>> consensus_scores(frame, dimensions=["d"]).loc["x", "d"]
    2.0
    """
    frame = select_round(validate_ratings(ratings))
    dimensions = _check_dimensions(dimensions)
    if center not in CENTERS:
        raise ValueError(f"center must be one of {', '.join(CENTERS)}, not {center!r}")
    present = set(frame["dimension"].unique())
    for dimension in dimensions:
        if dimension not in present:
            raise ValueError(f"dimensions: {dimension!r} does not occur in ratings")
    use = frame[frame["dimension"].isin(dimensions)]
    item_code, items = sorted_codes(use["item"])
    rater_code, raters = sorted_codes(use["rater"])
    dimension_of = use["dimension"].to_numpy()
    ones = np.ones((1, raters.size))
    columns = {}
    for d in dimensions:
        rows = dimension_of == d
        cells = _cells(use[rows], item_code[rows], rater_code[rows], items.size)
        columns[d] = _centers(cells, ones, center)[0]
    return pd.DataFrame(columns, index=pd.Index(items, name="item"))


# ---------------------------------------------------------------------- the search


@lru_cache(maxsize=64)
def _splits(m: int, k: int) -> np.ndarray:
    """All non-decreasing (p_1, ..., p_k) in 0..m: p = how many distinct scores lie below."""
    count = math.comb(m + k, k)
    if count > _MAX_CANDIDATES:
        raise ValueError(
            f"{m} distinct item scores and {k} thresholds give {count:,} candidate rules, "
            "too many for an exhaustive search; use center='median' or fewer tiers"
        )
    flat = np.fromiter(
        itertools.chain.from_iterable(itertools.combinations(range(m + k), k)),
        dtype=np.int64,
        count=count * k,
    )
    splits = flat.reshape(count, k) - np.arange(k)
    splits.flags.writeable = False
    return splits


def _distinct(score: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(lowest, highest, code): groups of scores closer than _MERGE, and each score's group."""
    order = np.argsort(score, kind="stable")
    ordered = score[order]
    new = np.ones(ordered.size, dtype=bool)
    new[1:] = np.diff(ordered) > _MERGE
    group = np.cumsum(new) - 1
    code = np.empty(score.size, dtype=np.int64)
    code[order] = group
    starts = np.flatnonzero(new)
    ends = np.append(starts[1:], ordered.size) - 1
    return ordered[starts], ordered[ends], code


def _placements(
    splits: np.ndarray,
    lowest: np.ndarray,
    highest: np.ndarray,
    initial: np.ndarray,
    scale: tuple[float, float],
) -> np.ndarray:
    """Threshold values representing each split (rows of ``splits``); see CANDIDATES."""
    m = lowest.size
    n_rows, k = splits.shape
    # Threshold j of a split with p_j = p lies in (highest[p - 1], lowest[p]].
    below = np.concatenate(([scale[0] - 1.0], highest))[splits]
    above = np.concatenate((lowest, [scale[1] + 1.0]))[splits]
    same = np.zeros((n_rows, k), dtype=bool)
    same[:, 1:] = splits[:, 1:] == splits[:, :-1]
    position = np.ones((n_rows, k))
    for j in range(1, k):
        position[:, j] = np.where(same[:, j], position[:, j - 1] + 1, 1)
    size = position.copy()
    for j in range(k - 2, -1, -1):
        size[:, j] = np.where(same[:, j + 1], size[:, j + 1], position[:, j])
    bottom, top = splits == 0, splits == m
    inside = (initial > below + _TOLERANCE) | bottom
    inside &= (initial <= above + _TOLERANCE) | top
    for j in range(1, k):
        inside[:, j] &= np.where(same[:, j], inside[:, j - 1], True)
    for j in range(k - 2, -1, -1):
        inside[:, j] = np.where(same[:, j + 1], inside[:, j + 1], inside[:, j])
    placed = below + (above - below) * position / (size + 1)
    placed = np.where(bottom, scale[0] - 0.5 * (size - position + 1), placed)
    placed = np.where(top, scale[1] + 0.5 * position, placed)
    return np.where(inside, initial, placed)


def _fit(score: np.ndarray, panel: np.ndarray, rule: _Rule) -> np.ndarray | None:
    """Thresholds maximising quadratic kappa on the items having a score and a panel tier."""
    use = ~np.isnan(score) & ~np.isnan(panel)
    if not use.any():
        return None
    lowest, highest, code = _distinct(score[use])
    y = panel[use].astype(np.int64)
    m, k = lowest.size, rule.initial.size
    splits = _splits(m, k)
    # Suffix sums over distinct scores: items (and their panel tiers) at or above each.
    n_at = np.zeros(m + 1, dtype=np.int64)
    y_at = np.zeros(m + 1, dtype=np.int64)
    n_at[:m] = np.bincount(code, minlength=m)[::-1].cumsum()[::-1]
    y_at[:m] = np.bincount(code, weights=y, minlength=m).astype(np.int64)[::-1].cumsum()[::-1]
    n, sy, syy = y.size, int(y.sum()), int((y * y).sum())
    # x_i = #{j: item i reaches threshold j}; sum x = sum_j N(p_j), sum x y = sum_j Y(p_j),
    # sum x^2 = sum_j (2j - 1) N(p_j) for sorted p.
    odd = 2 * np.arange(1, k + 1) - 1
    disagreement = np.empty(splits.shape[0], dtype=np.int64)
    expected = np.empty(splits.shape[0], dtype=np.int64)
    step = max(1, _CHUNK_CELLS // k)
    for first in range(0, splits.shape[0], step):
        p = splits[first : first + step]
        at = n_at[p]
        sx, sxx, sxy = at.sum(axis=1), at @ odd, y_at[p].sum(axis=1)
        d = sxx - 2 * sxy + syy
        disagreement[first : first + step] = n * d
        expected[first : first + step] = n * sxx - 2 * sx * sy + n * syy
    # 1 - kappa = disagreement / expected; expected = 0 only when rule and panel put every
    # item in the same single tier, which is perfect agreement (ratio 0).
    degenerate = expected == 0
    ratio = np.where(degenerate, 0.0, disagreement / np.where(degenerate, 1, expected))
    near = np.flatnonzero(ratio <= ratio.min() + 1e-9)
    if near.size > 1:
        exact = [
            Fraction(0) if degenerate[i] else Fraction(int(disagreement[i]), int(expected[i]))
            for i in near
        ]
        best = min(exact)
        near = near[[value == best for value in exact]]
    values = _placements(splits[near], lowest, highest, rule.initial, rule.scale)
    if near.size == 1:
        return values[0]
    distance = np.abs(values - rule.initial).sum(axis=1)
    values = values[distance <= distance.min() + _TOLERANCE]
    return values[np.lexsort(values.T[::-1])[0]]


# ------------------------------------------------------------------------- bootstrap


def _check_share(borderline_share: Any) -> float:
    if isinstance(borderline_share, bool) or not isinstance(borderline_share, int | float):
        raise ValueError(f"borderline_share must be a number in (0, 1], not {borderline_share!r}")
    if not 0 < borderline_share <= 1:
        raise ValueError(f"borderline_share must be a number in (0, 1], not {borderline_share!r}")
    return float(borderline_share)


def _check_names(tier_names: Any, n_tiers: int) -> tuple[str, ...]:
    if tier_names is None:
        return tuple(str(position) for position in range(n_tiers))
    if isinstance(tier_names, str) or not isinstance(tier_names, Sequence):
        raise ValueError(f"tier_names must be a sequence of names, not {tier_names!r}")
    names = tuple(str(name) for name in tier_names)
    if len(names) != n_tiers or len(set(names)) != n_tiers:
        raise ValueError(f"tier_names must hold n_tiers = {n_tiers} distinct names, not {names}")
    return names


def _bootstrap_counts(
    panel: _Panel,
    rule: _Rule,
    *,
    thresholds: np.ndarray,
    n_bootstrap: int,
    generator: np.random.Generator,
    refit: bool,
) -> tuple[np.ndarray, np.ndarray]:
    """(items, tiers) resample counts per tier and (items,) resamples with a tier."""
    n_items, n_raters = panel.items.size, panel.raters.size
    counts = np.zeros((n_items, rule.n_tiers), dtype=np.int64)
    if n_bootstrap == 0:
        return counts, np.zeros(n_items, dtype=np.int64)
    drawn = generator.integers(0, n_raters, size=(n_bootstrap, n_raters))
    drawn += np.arange(n_bootstrap)[:, None] * n_raters
    weights = np.bincount(drawn.ravel(), minlength=n_bootstrap * n_raters)
    weights = weights.reshape(n_bootstrap, n_raters).astype(float)
    _, scores = rule.scores(panel, weights)
    refit = refit and panel.tier_cells is not None
    if refit:
        panel_tiers = _round_half_up(_centers(panel.tier_cells, weights, "median"))
        tiers = np.empty_like(scores)
        for b in range(n_bootstrap):
            fitted = _fit(scores[b], panel_tiers[b], rule)
            tiers[b] = _assign(scores[b], thresholds if fitted is None else fitted)
    else:
        tiers = _assign(scores, thresholds)
    defined = ~np.isnan(tiers)
    item = np.broadcast_to(np.arange(n_items), tiers.shape)[defined]
    flat = item * rule.n_tiers + tiers[defined].astype(np.int64)
    counts += np.bincount(flat, minlength=n_items * rule.n_tiers).reshape(n_items, -1)
    return counts, defined.sum(axis=0)


def _probabilities(
    counts: np.ndarray, n_resamples: np.ndarray
) -> tuple[tuple[float, ...] | None, ...]:
    rows = []
    for row, n in zip(counts, n_resamples, strict=True):
        rows.append(None if n == 0 else tuple(float(c / n) for c in row))
    return tuple(rows)


def _seed_setting(seed: Any) -> int | None:
    return int(seed) if isinstance(seed, int | np.integer) else None


def tier_probabilities(
    ratings: pd.DataFrame,
    *,
    dimensions: Sequence[Hashable],
    aggregate: str,
    n_tiers: int,
    initial_thresholds: Sequence[float],
    scale: tuple[float, float] | None = None,
    tier_dimension: Hashable = "tier",
    center: str = "median",
    tier_names: Sequence[str] | None = None,
    n_bootstrap: int = 1000,
    seed: int | np.random.Generator | None = None,
    refit: bool = True,
    borderline_share: float = BORDERLINE_SHARE,
) -> TierProbabilities:
    """How often each item lands in each tier when the panel of experts is resampled.

    Parameters
    ----------
    ratings, dimensions, aggregate, n_tiers, initial_thresholds, scale, tier_dimension,
    center, tier_names
        As in :func:`fit_thresholds`.
    n_bootstrap : int
        Number of resamples of the experts.
    seed : int or numpy.random.Generator, optional
        Source of randomness.
    refit : bool
        Refit the thresholds in each resample (when holistic tiers exist); otherwise the
        thresholds stay fixed at the full-panel fit (or the initial thresholds without
        holistic tiers).
    borderline_share : float
        An item whose modal tier has a smaller share of the resamples is borderline.

    Returns
    -------
    TierProbabilities

    Notes
    -----
    Cluster bootstrap over experts: each resample draws as many experts as the panel
    has, with replacement, and takes all of a drawn expert's ratings (holistic tiers
    included) as many times as the expert was drawn, so the dependence between one
    expert's answers is kept. In each resample the consensus scores (and panel tiers)
    are recomputed, the thresholds refitted if ``refit``, and every item's tier recorded.
    An item's probabilities are the shares of resamples per tier among the resamples in
    which its score is defined (``n_resamples``); they sum to 1. The modal tier is the
    most frequent (ties: the lowest). A resample in which no item has both a score and a
    panel tier keeps the full-panel thresholds.

    The medians of all resamples are computed at once: each item x dimension's values
    are sorted once, and a resample's median is located from the cumulative counts of
    the drawn experts along that order.

    References
    ----------
    Davison, A. C., & Hinkley, D. V. (1997). Bootstrap Methods and their Application,
    section 3.8 (hierarchical data). Cambridge University Press.
    Field, C. A., & Welsh, A. H. (2007). Bootstrapping clustered data. Journal of the
    Royal Statistical Society B, 69(3), 369-390.

    Examples
    --------
    >>> frame = pd.DataFrame([(r, i, "d", v) for r in range(5)
    ...                       for i, v in (("low", 1.0), ("high", 5.0))],
    ...                      columns=["rater", "item", "dimension", "value"])
    >>> result = tier_probabilities(frame, dimensions=["d"], aggregate="max", n_tiers=2,
    ...                             initial_thresholds=[3.0], n_bootstrap=50, seed=1)
    >>> result.to_dict()["items"][0]["probabilities"], result.modal(0)
    ([0.0, 1.0], (1, 1.0, False))
    """
    panel, rule = _prepare(
        ratings,
        dimensions=dimensions,
        aggregate=aggregate,
        n_tiers=n_tiers,
        scale=scale,
        initial_thresholds=initial_thresholds,
        tier_dimension=tier_dimension,
        center=center,
    )
    names = _check_names(tier_names, rule.n_tiers)
    n_bootstrap = check_bootstrap(n_bootstrap)
    generator = make_generator(seed, "seed")
    share = _check_share(borderline_share)
    thresholds = rule.initial
    if panel.tier_cells is not None:
        ones = np.ones((1, panel.raters.size))
        _, score = rule.scores(panel, ones)
        panel_tier = _round_half_up(_centers(panel.tier_cells, ones, "median"))[0]
        fitted = _fit(score[0], panel_tier, rule)
        thresholds = thresholds if fitted is None else fitted
    return _tier_probabilities(
        panel,
        rule,
        names=names,
        thresholds=thresholds,
        n_bootstrap=n_bootstrap,
        generator=generator,
        seed=_seed_setting(seed),
        refit=bool(refit),
        borderline_share=share,
    )


def _tier_probabilities(
    panel: _Panel,
    rule: _Rule,
    *,
    names: tuple[str, ...],
    thresholds: np.ndarray,
    n_bootstrap: int,
    generator: np.random.Generator,
    seed: int | None,
    refit: bool,
    borderline_share: float,
) -> TierProbabilities:
    counts, n_resamples = _bootstrap_counts(
        panel,
        rule,
        thresholds=thresholds,
        n_bootstrap=n_bootstrap,
        generator=generator,
        refit=refit,
    )
    reasons = {}
    if n_bootstrap == 0:
        reasons["probabilities"] = "no bootstrap requested (n_bootstrap = 0)"
    elif panel.tier_cells is None and refit:
        reasons["refit"] = f"{NO_HOLISTIC}: thresholds stay as declared in every resample"
    missing = [label(item) for item, n in zip(panel.items, n_resamples, strict=True) if n == 0]
    if n_bootstrap and missing:
        reasons["items"] = f"no score in any resample for: {', '.join(map(str, missing))}"
    return TierProbabilities(
        tiers=names,
        items=tuple(panel.items),
        probabilities=_probabilities(counts, n_resamples),
        n_resamples=tuple(int(n) for n in n_resamples),
        n_bootstrap=n_bootstrap,
        seed=seed,
        refit=refit and panel.tier_cells is not None,
        borderline_share=borderline_share,
        thresholds=tuple(float(t) for t in thresholds),
        reasons=reasons,
    )


# ------------------------------------------------------------------------- the fit


def fit_thresholds(
    ratings: pd.DataFrame,
    *,
    dimensions: Sequence[Hashable],
    aggregate: str,
    n_tiers: int,
    initial_thresholds: Sequence[float],
    scale: tuple[float, float] | None = None,
    tier_dimension: Hashable = "tier",
    center: str = "median",
    tier_names: Sequence[str] | None = None,
    n_bootstrap: int = 1000,
    seed: int | np.random.Generator | None = None,
    refit: bool = True,
    borderline_share: float = BORDERLINE_SHARE,
) -> Calibration:
    """Fit the tier rule's thresholds to the panel's holistic tier judgements.

    Parameters
    ----------
    ratings : pandas.DataFrame
        Tidy ratings (see :mod:`analysis.tidy`) with the rule dimensions and, optionally,
        the holistic tier rows (``dimension == tier_dimension``, value = 0-based tier
        position). With a ``round`` column, the last round is used.
    dimensions : sequence of labels
        The rule dimensions.
    aggregate : {"max", "min", "mean"}
        How the consensus scores of the rule dimensions combine into the item's score.
    n_tiers : int
        Number of tiers K + 1 (at least 2).
    initial_thresholds : sequence of float
        The declared thresholds c_1 < ... < c_K (K = n_tiers - 1).
    scale : (float, float), optional
        Minimum and maximum of the rule dimensions' scale (default: the smallest and
        largest value given). Values outside raise ValueError.
    tier_dimension : label
        Dimension of the holistic tier judgements.
    center : {"median", "mean"}
        Consensus score of an item on a dimension: the panel median (default) or mean
        of the non-missing values.
    tier_names : sequence of str, optional
        Names of the tiers, lowest first (default: "0", "1", ...).
    n_bootstrap : int
        Resamples of the experts for the tier probabilities (0: none).
    seed : int or numpy.random.Generator, optional
        Source of randomness for the bootstrap.
    refit : bool
        Refit the thresholds in every resample (see :func:`tier_probabilities`).
    borderline_share : float
        An item whose modal tier has a smaller share of the resamples is borderline.

    Returns
    -------
    Calibration

    Notes
    -----
    *Panel tier.* An item's consensus holistic tier is the median of the experts' tier
    positions, rounded half up: an even split between two adjacent tiers goes to the
    higher, more cautious tier.

    *Search.* The rule's tiers depend on the thresholds only through which distinct item
    scores reach each threshold, so the search runs over every assignment of the K
    thresholds to the m + 1 gaps around the m sorted distinct scores (C(m + K, K)
    candidates: exhaustive, with empty tiers allowed). Each candidate is represented by
    threshold values: the midpoint of its gap (several thresholds in one gap are evenly
    spaced in it), scale minimum - 0.5 below every score, scale maximum + 0.5 above
    every score (further ones 0.5 apart); but where the initial thresholds fall in the
    very gaps a candidate uses, the initial values represent it, so a declared
    threshold survives whenever moving it would not change any item's tier. Quadratic
    kappa of all candidates is computed at once from suffix sums (see
    :func:`quadratic_weighted_kappa`); when the panel places every item in one tier, the
    rule doing the same counts as perfect agreement. Ties: (1) smallest sum of absolute
    distances to the initial thresholds, (2) then lexicographically smallest thresholds.
    Cost: C(m + K, K) candidates per fit. Medians of a 1-5 scale have at most 9 distinct
    values, so fits are instant; with ``center="mean"`` m approaches the number of
    items, and 4 tiers x 300 items (about 4.5 million candidates) take about a second
    per fit, so leave-one-out and a refitting bootstrap then take minutes
    (``refit=False`` avoids the latter).

    *Checks.* ``kappa_initial``/``accuracy_initial`` use the declared thresholds on the
    same items; ``loo_kappa``/``loo_accuracy`` refit without each item in turn and
    predict it (leave-one-item-out, Stone 1974), an honest estimate of how the fitted
    rule would place an item it has not seen. Only items with a score on every rule
    dimension and a panel tier enter the fit. Without holistic tiers the thresholds stay
    as declared and only the tier probabilities are computed.

    References
    ----------
    Cohen, J. (1968). Weighted kappa. Psychological Bulletin, 70(4), 213-220.
    Stone, M. (1974). Cross-validatory choice and assessment of statistical predictions.
    Journal of the Royal Statistical Society B, 36(2), 111-147.
    Davison, A. C., & Hinkley, D. V. (1997). Bootstrap Methods and their Application.
    Cambridge University Press.

    Examples
    --------
    >>> rows = [(r, i, d, v) for r in "abc"
    ...         for i, values in {"weights": (5, 4, 2), "standards": (1, 2, 0),
    ...                           "methods": (3, 3, 1), "estimates": (4, 3, 1)}.items()
    ...         for d, v in zip(("proprietary", "misuse", "tier"), values)]
    >>> frame = pd.DataFrame(rows, columns=["rater", "item", "dimension", "value"])
    >>> result = fit_thresholds(frame, dimensions=["proprietary", "misuse"],
    ...                         aggregate="max", n_tiers=3, initial_thresholds=[2.5, 4.0],
    ...                         scale=(1, 5), n_bootstrap=0)
    >>> result.kappa_initial, result.fitted_thresholds, result.kappa_fitted
    (0.8, (2.5, 4.5), 1.0)
    """
    panel, rule = _prepare(
        ratings,
        dimensions=dimensions,
        aggregate=aggregate,
        n_tiers=n_tiers,
        scale=scale,
        initial_thresholds=initial_thresholds,
        tier_dimension=tier_dimension,
        center=center,
    )
    names = _check_names(tier_names, rule.n_tiers)
    n_bootstrap = check_bootstrap(n_bootstrap)
    generator = make_generator(seed, "seed")
    share = _check_share(borderline_share)

    ones = np.ones((1, panel.raters.size))
    per_dimension, score = rule.scores(panel, ones)
    per_dimension, score = per_dimension[:, 0], score[0]
    reasons: dict[str, str] = {}
    if panel.tier_cells is None:
        panel_tier = np.full(score.shape, np.nan)
    else:
        panel_tier = _round_half_up(_centers(panel.tier_cells, ones, "median"))[0]
    use = ~np.isnan(score) & ~np.isnan(panel_tier)
    fitted = rule.initial
    kappa_initial = kappa_fitted = accuracy_initial = accuracy_fitted = None
    loo_kappa = loo_accuracy = None
    confusion = None
    if panel.tier_cells is None:
        for key in (
            "kappa_initial",
            "kappa_fitted",
            "accuracy_initial",
            "accuracy_fitted",
            "loo_kappa",
            "loo_accuracy",
            "confusion",
        ):
            reasons[key] = NO_HOLISTIC
        reasons["fitted_thresholds"] = f"{NO_HOLISTIC}: the initial thresholds are kept"
    elif not use.any():
        reason = "no item has both a score on every rule dimension and a panel tier"
        for key in (
            "kappa_initial",
            "kappa_fitted",
            "accuracy_initial",
            "accuracy_fitted",
            "loo_kappa",
            "loo_accuracy",
        ):
            reasons[key] = reason
        reasons["fitted_thresholds"] = f"{reason}: the initial thresholds are kept"
        confusion = np.zeros((rule.n_tiers, rule.n_tiers), dtype=np.int64)
    else:
        result = _fit(score, panel_tier, rule)
        assert result is not None  # use.any() guarantees a fit
        fitted = result
        y = panel_tier[use]
        kappa_initial, accuracy_initial, _ = _kappa_and_accuracy(
            _assign(score[use], rule.initial), y, rule.n_tiers
        )
        kappa_fitted, accuracy_fitted, confusion = _kappa_and_accuracy(
            _assign(score[use], fitted), y, rule.n_tiers
        )
        undefined = "0/0: the rule and the panel put every item in one and the same tier"
        if kappa_initial is None:
            reasons["kappa_initial"] = undefined
        if kappa_fitted is None:
            reasons["kappa_fitted"] = undefined
        loo_kappa, loo_accuracy, loo_reason = _leave_one_out(score, panel_tier, use, rule)
        if loo_reason:
            reasons["loo_kappa"] = reasons["loo_accuracy"] = loo_reason
        elif loo_kappa is None:
            reasons["loo_kappa"] = "0/0: predictions and panel put every item in one same tier"

    probabilities = _tier_probabilities(
        panel,
        rule,
        names=names,
        thresholds=fitted,
        n_bootstrap=n_bootstrap,
        generator=generator,
        seed=_seed_setting(seed),
        refit=bool(refit),
        borderline_share=share,
    )
    for key, reason in probabilities.reasons.items():
        reasons[key] = reason
    rule_tier = _assign(score, fitted)
    items = []
    for index, item in enumerate(panel.items):
        tier, modal_share, borderline = probabilities.modal(index)
        missing = [
            d for d, s in zip(panel.dimensions, per_dimension[:, index], strict=True) if np.isnan(s)
        ]
        reason = None
        if missing:
            reason = f"no value on {', '.join(map(str, missing))}, so no score"
        elif np.isnan(panel_tier[index]) and panel.tier_cells is not None:
            reason = "no holistic tier given, so not used in the fit"
        items.append(
            CalibratedItem(
                item=item,
                scores={
                    d: _number(s)
                    for d, s in zip(panel.dimensions, per_dimension[:, index], strict=True)
                },
                score=_number(score[index]),
                rule_tier=_integer(rule_tier[index]),
                panel_tier=_integer(panel_tier[index]),
                probabilities=probabilities.probabilities[index],
                modal_tier=tier,
                modal_share=modal_share,
                borderline=borderline,
                n_resamples=probabilities.n_resamples[index],
                reason=reason,
            )
        )
    settings = {
        "dimensions": [label(d) for d in panel.dimensions],
        "aggregate": rule.aggregate,
        "center": rule.center,
        "tier_dimension": label(tier_dimension),
        "scale": list(rule.scale),
        "n_bootstrap": n_bootstrap,
        "seed": _seed_setting(seed),
        "refit": probabilities.refit,
        "borderline_share": share,
        "objective": "quadratic-weighted kappa (Cohen 1968)",
        "panel_tier": HOLISTIC_CONSENSUS,
        "candidates": CANDIDATES,
        "tie_break": TIE_BREAK,
    }
    return Calibration(
        dimensions=panel.dimensions,
        tiers=names,
        initial_thresholds=tuple(float(t) for t in rule.initial),
        fitted_thresholds=tuple(float(t) for t in fitted),
        kappa_initial=kappa_initial,
        kappa_fitted=kappa_fitted,
        accuracy_initial=accuracy_initial,
        accuracy_fitted=accuracy_fitted,
        loo_kappa=loo_kappa,
        loo_accuracy=loo_accuracy,
        confusion=None if confusion is None else tuple(tuple(int(c) for c in r) for r in confusion),
        items=tuple(items),
        n_items_fitted=int(use.sum()),
        n_raters=int(panel.raters.size),
        settings=settings,
        reasons=reasons,
    )


def _leave_one_out(
    score: np.ndarray, panel_tier: np.ndarray, use: np.ndarray, rule: _Rule
) -> tuple[float | None, float | None, str | None]:
    indices = np.flatnonzero(use)
    if indices.size < 2:
        return None, None, "leave-one-out needs at least 2 items with a score and a panel tier"
    predicted = np.empty(indices.size)
    # Leaving out either of two items with the same score and panel tier leaves the same
    # data, so one refit serves both.
    done: dict[tuple[float, float], float] = {}
    for position, index in enumerate(indices):
        key = (float(score[index]), float(panel_tier[index]))
        if key not in done:
            kept = score.copy()
            kept[index] = np.nan
            thresholds = _fit(kept, panel_tier, rule)
            assert thresholds is not None  # at least one other item remains
            done[key] = _assign(score[index : index + 1], thresholds)[0]
        predicted[position] = done[key]
    kappa, accuracy, _ = _kappa_and_accuracy(predicted, panel_tier[indices], rule.n_tiers)
    return kappa, accuracy, None


def _number(value: float) -> float | None:
    return float(value) if np.isfinite(value) else None


def _integer(value: float) -> int | None:
    return int(value) if np.isfinite(value) else None
