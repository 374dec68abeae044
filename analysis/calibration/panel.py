"""The panel's consensus scores, for the full panel and for weighted resamples of it."""

from __future__ import annotations

import math
from collections.abc import Hashable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from analysis._types import BoolArray, FloatArray, IntArray, LabelArray
from analysis.calibration.rule import (
    CENTERS,
    TierRule,
    _aggregate,
    _check_aggregate,
    _check_dimensions,
    _check_names,
    _check_thresholds,
)
from analysis.calibration.weights import CaseWeights, _case_weights
from analysis.tidy import select_round, sorted_codes, validate_ratings

__all__ = ["consensus_scores"]

# Bootstrap weights are processed in chunks of at most this many cells.
_CHUNK_CELLS = 4_000_000


@dataclass(frozen=True)
class _Cells:
    """One dimension's values sorted by (item, value), with the rater of each value."""

    rater: IntArray
    value: FloatArray
    start: IntArray  # per item (all panel items), start in rater/value
    size: IntArray  # per item, number of values
    # per value, its case weight (expert's weight times the rating's; None: every one 1)
    case: FloatArray | None = None


def _cells(
    frame: pd.DataFrame,
    item_code: IntArray,
    rater_code: IntArray,
    n_items: int,
    case: FloatArray | None = None,
) -> _Cells:
    values = frame["value"].to_numpy(dtype=float)
    has = ~np.isnan(values)
    item, value, rater = item_code[has], values[has], rater_code[has]
    order = np.lexsort((value, item))
    size = np.bincount(item, minlength=n_items).astype(np.int64)
    return _Cells(
        rater=rater[order],
        value=value[order],
        start=np.cumsum(size) - size,
        size=size,
        case=None if case is None else case[has][order],
    )


def _centers(cells: _Cells, weights: FloatArray, center: str) -> FloatArray:
    """(B, items) panel centre per item for each row of rater weights (B, raters).

    A weight is how often a rater was drawn, times the value's case weight when the
    cells have them. The median is the weighted median (see :func:`_weighted_medians`):
    with integer weights the type 7 median of the multiset in which every value appears
    that often (NaN where the weights sum to 0).
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
        if cells.case is not None:
            w = w * cells.case
        if center == "mean":
            value = _weighted_means(w, cells.value, starts)
        else:
            value = _weighted_medians(w, cells.value, starts, sizes)
        out[first : first + chunk, rated] = value
    return out


def _weighted_means(w: FloatArray, values: FloatArray, starts: IntArray) -> FloatArray:
    total = np.add.reduceat(w, starts, axis=1)
    sums = np.add.reduceat(w * values, starts, axis=1)
    return np.divide(sums, total, out=np.full(total.shape, np.nan), where=total > 0)


def _weighted_medians(
    w: FloatArray, values: FloatArray, starts: IntArray, sizes: IntArray
) -> FloatArray:
    """Per row and item, the midpoint of the values minimising sum w |x - m|: the first
    sorted value whose cumulative weight reaches half the total, averaged with the first
    whose cumulative weight exceeds it. With weights 1 this is the sample median; with
    integer weights the median of each value repeated that often; a value of weight 0
    is never chosen."""
    total = np.add.reduceat(w, starts, axis=1)
    cumulative = np.cumsum(w, axis=1)
    before = cumulative[:, starts] - w[:, starts]
    within = cumulative - np.repeat(before, sizes, axis=1)
    half = np.repeat(total / 2, sizes, axis=1)
    # Rounding of the running sums; far below 1/2, so integer weights compare exactly.
    slack = 1e-9 * np.repeat(total, sizes, axis=1) + 1e-12 * cumulative[:, -1:]
    below_low = within < half - slack
    below_high = within <= half + slack
    index_low = np.minimum(np.add.reduceat(below_low, starts, axis=1), sizes - 1)
    index_high = np.minimum(np.add.reduceat(below_high, starts, axis=1), sizes - 1)
    value: FloatArray = (values[starts + index_low] + values[starts + index_high]) / 2
    value[total <= 0] = np.nan
    return value


def _round_half_up(median: FloatArray) -> FloatArray:
    rounded: FloatArray = np.floor(median + 0.5)
    return rounded


# ------------------------------------------------------------------------ the inputs


@dataclass(frozen=True)
class _Panel:
    items: LabelArray
    raters: LabelArray
    dimensions: tuple[Hashable, ...]
    cells: tuple[_Cells, ...]
    tier_cells: _Cells | None
    scale: tuple[float, float]
    # Each rater's weight, divided by the largest (None: every expert 1).
    expert_weights: FloatArray | None = None

    @property
    def weighted(self) -> IntArray:
        """The codes of the raters with positive weight (the ones the bootstrap draws)."""
        if self.expert_weights is None:
            return np.arange(self.raters.size)
        return np.flatnonzero(self.expert_weights > 0)

    def panel_tiers(self, weights: FloatArray) -> FloatArray | None:
        """(B, items) consensus holistic tier per resample; None without holistic tiers."""
        if self.tier_cells is None:
            return None
        return _round_half_up(_centers(self.tier_cells, weights, "median"))


@dataclass(frozen=True)
class _Rule:
    """A :class:`TierRule` checked against the ratings."""

    aggregate: str
    center: str
    n_tiers: int
    initial: FloatArray
    scale: tuple[float, float]
    names: tuple[str, ...]
    tier_dimension: Hashable

    def scores(self, panel: _Panel, weights: FloatArray) -> tuple[FloatArray, FloatArray]:
        """(dims, B, items) consensus scores and (B, items) aggregated scores."""
        per_dimension = np.stack([_centers(c, weights, self.center) for c in panel.cells])
        return per_dimension, _aggregate(per_dimension, self.aggregate)


def _full_panel(panel: _Panel, rule: _Rule) -> tuple[FloatArray, FloatArray, FloatArray]:
    """The whole panel's (dims, items) consensus scores, (items,) aggregated scores and
    (items,) consensus holistic tiers (NaN without holistic tiers)."""
    ones = np.ones((1, panel.raters.size))
    per_dimension, score = rule.scores(panel, ones)
    tiers = panel.panel_tiers(ones)
    panel_tier = np.full(score.shape[1], np.nan) if tiers is None else tiers[0]
    return per_dimension[:, 0], score[0], panel_tier


def _check_center(center: str) -> str:
    if center not in CENTERS:
        raise ValueError(f"center must be one of {', '.join(CENTERS)}, not {center!r}")
    return center


def _check_n_tiers(n_tiers: object) -> int:
    if isinstance(n_tiers, bool) or not isinstance(n_tiers, int | np.integer) or n_tiers < 2:
        raise ValueError(f"n_tiers must be an int >= 2, not {n_tiers!r}")
    return int(n_tiers)


def _check_present(frame: pd.DataFrame, dimensions: tuple[Hashable, ...]) -> None:
    present = set(frame["dimension"].unique())
    for dimension in dimensions:
        if dimension not in present:
            raise ValueError(f"dimensions: {dimension!r} does not occur in ratings")


def _check_scale(scale: tuple[float, float] | None, rule_values: FloatArray) -> tuple[float, float]:
    """(minimum, maximum) of the rule dimensions' scale, by default the values' range."""
    if scale is None:
        return float(rule_values.min()), float(rule_values.max())
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
    return low, high


def _check_tier_positions(tiers: FloatArray, tier_dimension: Hashable, n_tiers: int) -> None:
    bad = (tiers != np.round(tiers)) | (tiers < 0) | (tiers > n_tiers - 1)
    if bad.any():
        raise ValueError(
            f"ratings: tier dimension {tier_dimension!r} has the value {tiers[bad][0]!r}; "
            f"tier positions are the integers 0 to {n_tiers - 1}"
        )


def _prepare(
    ratings: pd.DataFrame,
    declared: TierRule,
    weights: CaseWeights | None = None,
    *,
    validated: bool = False,
) -> tuple[_Panel, _Rule]:
    """The panel's cells (with their case weights) and the checked rule; a ValueError
    names the field at fault. ``validated``: ``ratings`` went through
    :func:`analysis.tidy.validate_ratings` already (several fits on one table)."""
    frame = select_round(ratings if validated else validate_ratings(ratings))
    dimensions = _check_dimensions(declared.dimensions)
    aggregate = _check_aggregate(declared.aggregate)
    center = _check_center(declared.center)
    n_tiers = _check_n_tiers(declared.n_tiers)
    initial = _check_thresholds(declared.initial_thresholds, "initial_thresholds")
    if initial.size != n_tiers - 1:
        raise ValueError(
            f"initial_thresholds must hold n_tiers - 1 = {n_tiers - 1} values, not {initial.size}"
        )
    tier_dimension = declared.tier_dimension
    if tier_dimension in dimensions:
        raise ValueError(f"tier_dimension {tier_dimension!r} must not be a rule dimension")
    _check_present(frame, dimensions)
    use = frame[frame["dimension"].isin([*dimensions, tier_dimension])]
    rule_values = use.loc[use["dimension"].isin(dimensions), "value"].dropna().to_numpy()
    if rule_values.size == 0:
        raise ValueError("ratings hold no value on the rule dimensions")
    scale = _check_scale(declared.scale, rule_values)
    tiers = use.loc[use["dimension"] == tier_dimension, "value"].dropna().to_numpy()
    _check_tier_positions(tiers, tier_dimension, n_tiers)
    names = _check_names(declared.tier_names, n_tiers)
    items, raters, cells, experts = _dimension_cells(use, (*dimensions, tier_dimension), weights)
    tier_cells = cells[-1] if tiers.size else None
    panel = _Panel(
        items=items,
        raters=raters,
        dimensions=dimensions,
        cells=cells[:-1],
        tier_cells=tier_cells,
        scale=scale,
        expert_weights=experts,
    )
    rule = _Rule(
        aggregate=aggregate,
        center=center,
        n_tiers=n_tiers,
        initial=initial,
        scale=scale,
        names=names,
        tier_dimension=tier_dimension,
    )
    return panel, rule


def _dimension_cells(
    use: pd.DataFrame, dimensions: tuple[Hashable, ...], weights: CaseWeights | None = None
) -> tuple[LabelArray, LabelArray, tuple[_Cells, ...], FloatArray | None]:
    """(items, raters, cells of each dimension, each rater's weight or None when
    unweighted), items and raters over all of ``use``."""
    item_code, items = sorted_codes(use["item"])
    rater_code, raters = sorted_codes(use["rater"])
    case, experts = _case_weights(weights, use, rater_code, raters)
    dimension_of = use["dimension"].to_numpy()
    rows: list[BoolArray] = [dimension_of == d for d in dimensions]
    cells = tuple(
        _cells(use[r], item_code[r], rater_code[r], items.size, None if case is None else case[r])
        for r in rows
    )
    return items, raters, cells, None if weights is None else experts


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
    checked = _check_dimensions(dimensions)
    _check_center(center)
    _check_present(frame, checked)
    items, raters, cells, _ = _dimension_cells(frame[frame["dimension"].isin(checked)], checked)
    ones = np.ones((1, raters.size))
    columns = {d: _centers(c, ones, center)[0] for d, c in zip(checked, cells, strict=True)}
    return pd.DataFrame(columns, index=pd.Index(items, name="item"))
