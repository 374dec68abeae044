"""Consensus of the panel: per item x dimension central score, spread and criterion.

Also which anchor levels the panel confuses (the off-diagonal mass of Krippendorff's
coincidence matrix), since that is a question about where the panel does not converge.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Hashable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from analysis._coincidence import expected_coincidences, unit_coincidences
from analysis._types import BoolArray, FloatArray, IntArray
from analysis.results import ConfusionPair, ItemConsensus
from analysis.tidy import (
    DimensionData,
    PanelCodes,
    compact_codes,
    grouped_order,
    validate_ratings,
)

__all__ = [
    "QUANTILE_METHODS",
    "ConsensusCriterion",
    "confusion_pairs",
    "grouped_quantile",
    "item_consensus",
]

QUANTILE_METHODS = ("linear", "weibull")
_TOLERANCE = 1e-9


@dataclass(frozen=True)
class ConsensusCriterion:
    """When an item x dimension counts as consensus; ``None`` switches a condition off.

    ``max_iqr``: interquartile range at most this; ``min_share_within_one``: at least
    this share of values within one point of the median; ``min_n``: at least this many
    values. All conditions that are set must hold.
    """

    max_iqr: float | None = 1.0
    min_share_within_one: float | None = None
    min_n: int | None = None

    def __post_init__(self) -> None:
        for name in ("max_iqr", "min_share_within_one", "min_n"):
            value = getattr(self, name)
            if value is None:
                continue
            if isinstance(value, bool) or not isinstance(value, int | float | np.number):
                raise ValueError(f"{name} must be a number or None, not {value!r}")
            if not np.isfinite(value) or value < 0:
                raise ValueError(f"{name} must be a non-negative number or None, not {value!r}")
        if self.min_share_within_one is not None and self.min_share_within_one > 1:
            raise ValueError(
                f"min_share_within_one must be a share in [0, 1], not {self.min_share_within_one!r}"
            )

    @classmethod
    def from_value(
        cls, value: ConsensusCriterion | Mapping[str, object] | None
    ) -> ConsensusCriterion:
        """Accept a criterion, a mapping of its fields, or None (the default criterion)."""
        if value is None:
            return cls()
        if isinstance(value, ConsensusCriterion):
            return value
        if isinstance(value, Mapping):
            unknown = set(value) - {"max_iqr", "min_share_within_one", "min_n"}
            if unknown:
                raise ValueError(f"consensus has unknown key(s): {', '.join(sorted(unknown))}")
            return cls(**value)  # type: ignore[arg-type]
        raise ValueError(f"consensus must be a mapping or ConsensusCriterion, not {value!r}")

    @property
    def is_set(self) -> bool:
        return any(v is not None for v in asdict(self).values())

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


def grouped_quantile(
    ordered: FloatArray,
    start: IntArray,
    size: IntArray,
    p: float,
    method: str = "linear",
) -> FloatArray:
    """Quantile p of each group of a sorted array (groups given by start and size > 0).

    ``linear`` is Hyndman & Fan type 7 (numpy's and R's default), h = (n - 1) p;
    ``weibull`` is type 6 (SPSS, Minitab), h = (n + 1) p - 1, clamped to the data.
    """
    if method == "linear":
        h = (size - 1) * p
    elif method == "weibull":
        h = np.clip((size + 1) * p - 1, 0, size - 1)
    else:
        raise ValueError(f"quantile_method must be one of {', '.join(QUANTILE_METHODS)}")
    low = np.floor(h).astype(np.int64)
    high = np.minimum(low + 1, size - 1)
    fraction = h - low
    below, above = ordered[start + low], ordered[start + high]
    quantile: FloatArray = below + fraction * (above - below)
    return quantile


def item_consensus(
    ratings: pd.DataFrame,
    *,
    criterion: ConsensusCriterion | Mapping[str, object] | None = None,
    tier_dimensions: Collection[Hashable] = (),
    tier_labels: Mapping[float, str] | None = None,
    quantile_method: str = "linear",
) -> tuple[ItemConsensus, ...]:
    """Consensus statistics for every item x dimension in the ratings.

    Parameters
    ----------
    ratings : pandas.DataFrame
        Tidy ratings (see :mod:`analysis.tidy`), already restricted to one round.
    criterion : ConsensusCriterion or mapping, optional
        ``max_iqr``, ``min_share_within_one``, ``min_n`` (None switches one off).
        Default: IQR <= 1.
    tier_dimensions : collection of labels
        Dimensions on which experts give a holistic tier; for these the modal tier and
        its share are reported.
    tier_labels : mapping of value to str, optional
        Names of the tiers by value (e.g. ``{1: "no_brainer", 2: "gray_area",
        3: "high_trust"}``); default: the value itself as text.
    quantile_method : {"linear", "weibull"}
        Quantile convention for the quartiles (see Notes).

    Returns
    -------
    tuple of ItemConsensus
        Sorted by dimension, then item. Items where nobody gave a value have ``n = 0``
        and ``None`` statistics.

    Notes
    -----
    Missing values and abstentions are left out of the statistics;
    ``n_cant_judge`` and ``n_outside_expertise`` count abstentions by status. The
    standard deviation uses n - 1 (``None`` for a single value). Quartiles use
    Hyndman & Fan (1996) type 7 by default (numpy's and R's default, linear
    interpolation between order statistics, h = (n - 1) p); ``"weibull"`` gives type 6
    (h = (n + 1) p - 1), the convention of SPSS, which many Delphi studies use. The
    median is the same under both. "Within one point" means |x - median| <= 1. The
    modal value is the most frequent value; ties are broken towards the smallest
    value and flagged by ``modal_tied``. ``consensus`` is True when every condition
    that is set holds, False when one fails or its statistic is undefined, and None
    when the criterion sets no condition.

    References
    ----------
    von der Gracht, H. A. (2012). Consensus measurement in Delphi studies: Review and
    implications for future quality assurance. Technological Forecasting and Social
    Change, 79(8), 1525-1536.
    Hyndman, R. J., & Fan, Y. (1996). Sample quantiles in statistical packages. The
    American Statistician, 50(4), 361-365.

    Examples
    --------
    >>> frame = pd.DataFrame({"rater": list("abcde"), "item": "weights", "dimension": "d",
    ...                       "value": [4.0, 4.0, 5.0, 3.0, None]})
    >>> result = item_consensus(frame)[0]
    >>> result.median, result.iqr, result.share_within_one, result.n_cant_judge
    (4.0, 0.5, 1.0, 1)
    >>> result.consensus
    True
    """
    options = ConsensusOptions(
        ConsensusCriterion.from_value(criterion), tier_dimensions, tier_labels, quantile_method
    )
    return options.of(validate_ratings(ratings))


@dataclass(frozen=True)
class ConsensusOptions:
    """How :func:`item_consensus` computes (its parameters, checked), for callers that
    hold ratings :func:`validate_ratings` already checked."""

    criterion: ConsensusCriterion = field(default_factory=ConsensusCriterion)
    tier_dimensions: Collection[Hashable] = ()
    tier_labels: Mapping[float, str] | None = None
    quantile_method: str = "linear"

    def of(self, frame: pd.DataFrame, codes: PanelCodes | None = None) -> tuple[ItemConsensus, ...]:
        """The consensus statistics of ``frame`` (already validated)."""
        return _consensus_of_valid(frame, self, codes)


def _consensus_of_valid(
    frame: pd.DataFrame, options: ConsensusOptions, codes: PanelCodes | None
) -> tuple[ItemConsensus, ...]:
    checked = options.criterion
    tier_dimensions, tier_labels = options.tier_dimensions, options.tier_labels
    quantile_method = options.quantile_method
    if quantile_method not in QUANTILE_METHODS:
        raise ValueError(
            f"quantile_method must be one of {', '.join(QUANTILE_METHODS)}, not {quantile_method!r}"
        )
    tiers = set(tier_dimensions)
    codes = PanelCodes.of(frame) if codes is None else codes
    dimension_code, dimensions = codes.dimension_code, codes.dimensions
    item_code, items = codes.item_code, codes.items
    n_items = items.size
    cell = dimension_code * n_items + item_code
    cells, position = compact_codes(cell)
    n_cells = cells.size

    cant = np.bincount(position[codes.status_is("cant_judge")], minlength=n_cells)
    outside = np.bincount(position[codes.status_is("outside_expertise")], minlength=n_cells)

    values = frame["value"].to_numpy(dtype=float)
    has = ~np.isnan(values)
    order = grouped_order(position[has], values[has])
    group = position[has][order]
    ordered = values[has][order]
    n = np.bincount(group, minlength=n_cells)
    start = np.cumsum(n) - n
    rated = n > 0

    def per_cell(function: Callable[[IntArray, IntArray], FloatArray]) -> FloatArray:
        out = np.full(n_cells, np.nan)
        out[rated] = function(start[rated], n[rated])
        return out

    median = per_cell(lambda s, m: grouped_quantile(ordered, s, m, 0.5, quantile_method))
    q1 = per_cell(lambda s, m: grouped_quantile(ordered, s, m, 0.25, quantile_method))
    q3 = per_cell(lambda s, m: grouped_quantile(ordered, s, m, 0.75, quantile_method))
    total = np.bincount(group, weights=ordered, minlength=n_cells)
    mean = np.divide(total, n, out=np.full(n_cells, np.nan), where=rated)
    squares = np.bincount(group, weights=(ordered - mean[group]) ** 2, minlength=n_cells)
    sd = np.divide(squares, n - 1, out=np.full(n_cells, np.nan), where=n > 1)
    sd = np.sqrt(sd)
    close = np.abs(ordered - median[group]) <= 1.0 + _TOLERANCE
    within = np.divide(
        np.bincount(group, weights=close, minlength=n_cells),
        n,
        out=np.full(n_cells, np.nan),
        where=rated,
    )
    modal_value, modal_count, modal_tied = _modes(ordered, group, n_cells)
    modal_share = np.divide(modal_count, n, out=np.full(n_cells, np.nan), where=rated)
    confidence = np.full(n_cells, np.nan)
    if "confidence" in frame.columns:
        given = frame["confidence"].to_numpy(dtype=float)
        use = ~np.isnan(given)
        count = np.bincount(position[use], minlength=n_cells)
        confidence = np.divide(
            np.bincount(position[use], weights=given[use], minlength=n_cells),
            count,
            out=confidence,
            where=count > 0,
        )

    met, reasons = _criterion(checked, n, q3 - q1, within)
    # Each cell's statistics, by their names in ItemConsensus.
    columns: dict[str, list[Any]] = {
        "n": n.tolist(),
        **{
            name: _numbers(array)
            for name, array in (
                ("median", median),
                ("mean", mean),
                ("sd", sd),
                ("q1", q1),
                ("q3", q3),
                ("iqr", q3 - q1),
                ("share_within_one", within),
                ("modal_value", modal_value),
                ("modal_share", modal_share),
                ("mean_confidence", confidence),
            )
        },
        "modal_tied": modal_tied.tolist(),
        "n_cant_judge": cant.tolist(),
        "n_outside_expertise": outside.tolist(),
        "consensus": [None] * n_cells if met is None else met.tolist(),
        "consensus_reason": reasons,
    }
    results = []
    for code, row in zip(cells, zip(*columns.values(), strict=True), strict=True):
        statistics = dict(zip(columns, row, strict=True))
        dimension = dimensions[code // n_items]
        modal = statistics["modal_value"]
        is_tier = dimension in tiers and modal is not None
        results.append(
            ItemConsensus(
                item=items[code % n_items],
                dimension=dimension,
                **statistics,
                modal_tier=_tier_label(modal, tier_labels) if is_tier else None,
                modal_tier_share=statistics["modal_share"] if is_tier else None,
            )
        )
    return tuple(results)


def _numbers(values: FloatArray) -> list[float | None]:
    """Python floats, with None where the statistic is undefined (NaN)."""
    return [None if value != value else value for value in values.astype(float).tolist()]


def _tier_label(value: float | None, labels: Mapping[float, str] | None) -> str | None:
    if value is None:
        return None
    if labels is not None and value in labels:
        return str(labels[value])
    return str(int(value)) if float(value).is_integer() else str(value)


def _modes(
    ordered: FloatArray, group: IntArray, n_cells: int
) -> tuple[FloatArray, IntArray, BoolArray]:
    """Per group of a (group, value)-sorted array: smallest modal value, its count, tie."""
    value = np.full(n_cells, np.nan)
    count = np.zeros(n_cells, dtype=np.int64)
    tied = np.zeros(n_cells, dtype=bool)
    if ordered.size == 0:
        return value, count, tied
    new_run = np.ones(ordered.size, dtype=bool)
    new_run[1:] = (ordered[1:] != ordered[:-1]) | (group[1:] != group[:-1])
    run_start = np.flatnonzero(new_run)
    run_length = np.diff(np.append(run_start, ordered.size))
    run_group = group[run_start]
    # Longest run first, then smallest value (runs are already in value order).
    order = np.lexsort((np.arange(run_start.size), -run_length, run_group))
    first = np.ones(order.size, dtype=bool)
    first[1:] = run_group[order][1:] != run_group[order][:-1]
    best = order[first]
    value[run_group[best]] = ordered[run_start[best]]
    count[run_group[best]] = run_length[best]
    longest = count[run_group]
    n_longest = np.bincount(run_group[run_length == longest], minlength=n_cells)
    tied[:] = n_longest > 1
    return value, count, tied


def _criterion(
    criterion: ConsensusCriterion, n: IntArray, iqr: FloatArray, within: FloatArray
) -> tuple[BoolArray | None, list[str | None]]:
    """Per cell: does it meet every condition that is set, and if not, why not."""
    if not criterion.is_set:
        return None, ["no consensus condition is set"] * n.size
    checks: list[tuple[BoolArray, Callable[[int], str]]] = []
    if criterion.min_n is not None:
        checks.append((n >= criterion.min_n, lambda i: f"n = {n[i]} < {criterion.min_n}"))
    if criterion.max_iqr is not None:
        most = criterion.max_iqr
        ok = np.isfinite(iqr) & (np.nan_to_num(iqr, nan=np.inf) <= most + _TOLERANCE)
        checks.append(_defined_check(iqr, ok, lambda i: f"IQR = {iqr[i]:g} > {most:g}"))
    if criterion.min_share_within_one is not None:
        least = criterion.min_share_within_one
        ok = np.nan_to_num(within, nan=-1.0) + _TOLERANCE >= least
        checks.append(
            _defined_check(
                within, ok, lambda i: f"share within one point = {within[i]:.2f} < {least:g}"
            )
        )
    met = np.logical_and.reduce([ok for ok, _ in checks])
    reasons: list[str | None] = [None] * n.size
    for index in np.flatnonzero(~met):
        failures = [describe(index) for ok, describe in checks if not ok[index]]
        reasons[index] = "; ".join(dict.fromkeys(failures))
    return met, reasons


def _defined_check(
    statistic: FloatArray, ok: BoolArray, describe: Callable[[int], str]
) -> tuple[BoolArray, Callable[[int], str]]:
    """A condition on a statistic that is undefined (NaN) in a cell without values."""
    return ok, lambda i: "no values" if not np.isfinite(statistic[i]) else describe(i)


def confusion_pairs(data: DimensionData, *, limit: int = 5) -> tuple[ConfusionPair, ...]:
    """The pairs of levels the panel confuses most on one dimension.

    Parameters
    ----------
    data : DimensionData
        One dimension's coded values (see :func:`analysis.tidy.dimension_data`).
    limit : int
        How many pairs to return at most.

    Returns
    -------
    tuple of ConfusionPair
        Largest ``share`` first; only pairs that co-occur on some item.

    Notes
    -----
    From Krippendorff's coincidence matrix o (pairable values only): for levels c < k,
    ``share`` = (o_ck + o_kc) / sum of all off-diagonal o, the part of the panel's
    disagreement that is c-versus-k, and ``ratio_to_chance`` = (o_ck + o_kc) /
    (e_ck + e_kc), how much more often than by chance the pair co-occurs (e is the
    matrix expected by chance from the marginals). A high share with a high ratio
    points at two anchor descriptions that experts do not tell apart.

    References
    ----------
    Krippendorff, K. (2011). Computing Krippendorff's Alpha-Reliability.

    Examples
    --------
    >>> from analysis.tidy import dimension_data
    >>> frame = pd.DataFrame({"rater": list("abab"), "item": [1, 1, 2, 2],
    ...                       "dimension": "d", "value": [1.0, 2.0, 3.0, 3.0]})
    >>> pair = confusion_pairs(dimension_data(frame)["d"])[0]
    >>> (pair.low, pair.high, pair.share)
    (1.0, 2.0, 1.0)
    """
    if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
        raise ValueError(f"limit must be a positive int, not {limit!r}")
    _, counts = data.value_counts()
    width = data.domain.size
    if width < 2 or counts.size == 0:
        return ()
    per_unit = unit_coincidences(counts)
    o = np.asarray(per_unit.sum(axis=0)).reshape(width, width)
    e = expected_coincidences(o.sum(axis=1))
    low, high = np.triu_indices(width, k=1)
    mass = o[low, high] + o[high, low]
    total = mass.sum()
    if total <= 0:
        return ()
    chance = e[low, high] + e[high, low]
    order = np.lexsort((low, -mass))
    pairs = []
    for index in order[:limit]:
        if mass[index] <= 0:
            break
        pairs.append(
            ConfusionPair(
                low=float(data.domain[low[index]]),
                high=float(data.domain[high[index]]),
                share=float(mass[index] / total),
                ratio_to_chance=float(mass[index] / chance[index]) if chance[index] > 0 else None,
            )
        )
    return tuple(pairs)
