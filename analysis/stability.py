"""Stability between two Delphi rounds, and whether to stop.

:func:`compare_rounds` compares one round of the panel with the next: how many experts
and answers changed and by how much, how spread and reliability moved per item and
dimension, how many items meet the consensus criterion, and it suggests whether another
round is worth running ("consensus reached", "stable" or "continue").
"""

from __future__ import annotations

import warnings
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd
from scipy import stats

from analysis._types import BoolArray, FloatArray
from analysis.consensus import QUANTILE_METHODS, ConsensusCriterion, ConsensusOptions
from analysis.reliability import Bootstrap, krippendorff_alpha, resolve_levels
from analysis.results import ItemConsensus, Record, label
from analysis.tidy import sorted_codes, validate_ratings

__all__ = [
    "DELPHI_CONSENSUS",
    "SUGGESTIONS",
    "CellStability",
    "DimensionStability",
    "ExpertStability",
    "Stability",
    "compare_rounds",
]

#: The consensus criterion of the shipped surveys: IQR <= 1, >= 70% within one point, n >= 3.
DELPHI_CONSENSUS = ConsensusCriterion(max_iqr=1.0, min_share_within_one=0.7, min_n=3)
SUGGESTIONS = ("consensus reached", "stable", "continue")

_TOLERANCE = 1e-9


@dataclass(frozen=True)
class CellStability(Record):
    """One item x dimension in both rounds: median, IQR and consensus before and after,
    and whether the experts who answered both times moved.

    ``n_paired``: experts with a value in both rounds. ``wilcoxon_p``: two-sided
    Wilcoxon signed-rank test of their paired changes (Pratt's treatment of zero
    changes: they enter the ranking and are then dropped, so a panel where most kept
    their answer is not read as one that moved; the exact distribution up to 50 pairs
    without zero or tied changes, else the normal approximation with a tie correction,
    rough below 10 pairs; None with fewer than two pairs or when nobody changed).
    ``wilcoxon_p_holm``: the same, Holm-adjusted over every cell with a test, since a
    round compares many cells at once.
    """

    item: Hashable
    dimension: Hashable
    n_before: int
    n_after: int
    median_before: float | None
    median_after: float | None
    iqr_before: float | None
    iqr_after: float | None
    iqr_change: float | None
    consensus_before: bool | None
    consensus_after: bool | None
    n_paired: int = 0
    wilcoxon_p: float | None = None
    wilcoxon_p_holm: float | None = None
    #: Coefficient of variation (SD / mean, the consensus SD) in each round, and after -
    #: before; None with ``cv_reason`` when fewer than two values or the mean is not > 0.
    cv_before: float | None = None
    cv_after: float | None = None
    cv_change: float | None = None
    cv_reason: str | None = None


@dataclass(frozen=True)
class ExpertStability(Record):
    """How one expert's answers moved between the rounds.

    ``weighted_kappa``: Cohen's kappa with quadratic weights between the expert's
    answers in the previous and in the current round, over the cells valued in both,
    all dimensions together: each dimension's values placed on [0, 1] by its range over
    both rounds, kappa computed as the concordance 2 cov(x, y) / (var x + var y +
    (mean x - mean y)^2), which equals quadratic-weighted kappa (Fleiss & Cohen 1973;
    scikit-learn's ``cohen_kappa_score(weights="quadratic")`` on one dimension). 1: the
    expert kept every answer; near 0: the second answers relate to the first no better
    than chance. None with ``reason`` for fewer than two cells valued in both rounds or
    one value throughout.
    """

    rater: Hashable
    n_matched: int
    n_changed: int
    weighted_kappa: float | None
    reason: str | None = None


@dataclass(frozen=True)
class DimensionStability(Record):
    """Change of one dimension between the rounds: answers, alpha and consensus share."""

    dimension: Hashable
    level: str
    n_cells_matched: int
    share_cells_changed: float | None
    mean_absolute_change: float | None
    alpha_before: float | None
    alpha_after: float | None
    alpha_change: float | None
    consensus_share_before: float | None
    consensus_share_after: float | None
    reasons: Mapping[str, str] = field(default_factory=dict)
    #: Spearman's rank correlation of the item medians of the two rounds (items with a
    #: median in both): near 1 when the panel kept the items' order, whatever moved.
    median_rank_correlation: float | None = None
    #: Cells of this dimension whose Holm-adjusted Wilcoxon p-value is below 0.05.
    n_cells_moved: int = 0


@dataclass(frozen=True)
class Stability(Record):
    """Everything :func:`compare_rounds` finds, with the stopping suggestion."""

    suggestion: str
    explanation: str
    n_raters_before: int
    n_raters_after: int
    n_raters_matched: int
    share_raters_changed: float | None
    n_cells_matched: int
    share_cells_changed: float | None
    consensus_share_before: float | None
    consensus_share_after: float | None
    items_in_consensus_share_before: float | None
    items_in_consensus_share_after: float | None
    dimensions: Mapping[Hashable, DimensionStability]
    cells: tuple[CellStability, ...]
    settings: Mapping[str, object]
    reasons: Mapping[str, str] = field(default_factory=dict)
    #: Per expert present in both rounds: weighted kappa between their two rounds.
    experts: tuple[ExpertStability, ...] = ()


def _one_round(ratings: pd.DataFrame, name: str) -> pd.DataFrame:
    frame = validate_ratings(ratings, name=name)
    if "round" in frame.columns:
        rounds = frame["round"].dropna().unique()
        if rounds.size > 1:
            raise ValueError(
                f"{name} holds several rounds ({', '.join(f'{r:g}' for r in sorted(rounds))}); "
                "pass the ratings of one round"
            )
    return frame


def _check_fraction(value: object, name: str, upper: float | None) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float | np.number):
        raise ValueError(f"{name} must be a number, not {value!r}")
    if not np.isfinite(value) or value < 0 or (upper is not None and value > upper):
        bound = f"in [0, {upper:g}]" if upper is not None else ">= 0"
        raise ValueError(f"{name} must be a number {bound}, not {value!r}")
    return float(value)


def _dimensions(
    dimensions: Sequence[Hashable] | None, previous: pd.DataFrame, current: pd.DataFrame
) -> list[Hashable]:
    before, after = set(previous["dimension"]), set(current["dimension"])
    if dimensions is None:
        common = pd.Series([d for d in before if d in after], dtype=object)
        if common.empty:
            raise ValueError("previous and current have no dimension in common")
        return list(sorted_codes(common)[1])
    if isinstance(dimensions, str) or not isinstance(dimensions, Sequence) or not dimensions:
        raise ValueError(f"dimensions must be a non-empty sequence of labels, not {dimensions!r}")
    for dimension in dimensions:
        if dimension not in before or dimension not in after:
            where = "previous" if dimension not in before else "current"
            raise ValueError(f"dimensions: {dimension!r} does not occur in {where}")
    return list(dict.fromkeys(dimensions))


def _matched(previous: pd.DataFrame, current: pd.DataFrame) -> pd.DataFrame:
    """Cells (rater x item x dimension) answered in both rounds, with the change."""
    keys = ["rater", "item", "dimension"]
    both = previous[[*keys, "value", "status"]].merge(
        current[[*keys, "value", "status"]], on=keys, suffixes=("_before", "_after")
    )
    before, after = both["value_before"].to_numpy(), both["value_after"].to_numpy()
    valued = ~np.isnan(before) & ~np.isnan(after)
    difference = np.abs(np.where(valued, after - before, 0.0))
    status_changed = (both["status_before"] != both["status_after"]).to_numpy()
    both["valued"] = valued
    both["absolute_change"] = np.where(valued, difference, np.nan)
    both["changed"] = status_changed | (difference > _TOLERANCE)
    return both


def _share(values: BoolArray) -> float | None:
    return float(np.mean(values)) if values.size else None


def _consensus_share(cells: Sequence[ItemConsensus]) -> float | None:
    judged = [cell.consensus for cell in cells if cell.consensus is not None]
    return float(np.mean(judged)) if judged else None


def _items_share(cells: Sequence[ItemConsensus], dimensions: Sequence[Hashable]) -> float | None:
    by_item: dict[Hashable, list[bool]] = {}
    for cell in cells:
        if cell.consensus is not None:
            by_item.setdefault(cell.item, []).append(cell.consensus)
    if not by_item:
        return None
    return float(np.mean([len(v) == len(dimensions) and all(v) for v in by_item.values()]))


def _alpha(frame: pd.DataFrame, dimension: Hashable, level: str) -> tuple[float | None, str]:
    result = krippendorff_alpha(
        frame[frame["dimension"] == dimension], level=level, bootstrap=Bootstrap(0)
    )
    return result.value, result.reason or ""


def compare_rounds(
    previous: pd.DataFrame,
    current: pd.DataFrame,
    *,
    dimensions: Sequence[Hashable] | None = None,
    levels: str | Mapping[Hashable, str] | None = None,
    consensus: ConsensusCriterion | Mapping[str, object] | None = DELPHI_CONSENSUS,
    stable_change: float = 0.15,
    stable_alpha: float = 0.05,
    quantile_method: str = "linear",
) -> Stability:
    """Compare two Delphi rounds of the same panel and suggest whether to stop.

    Parameters
    ----------
    previous, current : pandas.DataFrame
        Tidy ratings (see :mod:`analysis.tidy`) of one round each; experts are matched by
        their ``rater`` code.
    dimensions : sequence of labels, optional
        Dimensions to compare (default: every dimension present in both rounds).
    levels : str or mapping, optional
        Level of measurement for alpha, one for all or per dimension (default ordinal).
    consensus : ConsensusCriterion or mapping, optional
        ``max_iqr``, ``min_share_within_one``, ``min_n`` per item x dimension. Default:
        IQR <= 1, at least 70% within one point of the median, at least 3 values.
        ``None`` means the package default (IQR <= 1 only).
    stable_change : float
        Largest share of changed answers for the panel to count as stable.
    stable_alpha : float
        Largest absolute change of alpha on every dimension for the panel to count as
        stable.
    quantile_method : {"linear", "weibull"}
        Quartile convention for the IQR (see :func:`analysis.consensus.item_consensus`).

    Returns
    -------
    Stability
        ``suggestion`` is "consensus reached", "stable" or "continue" and
        ``explanation`` says why in one or two sentences.

    Notes
    -----
    *Change* is measured on matched answers only: a cell (expert x item x dimension)
    answered, or abstained on, in both rounds by an expert present in both. A cell
    changed when its value differs or when it went from a value to an abstention or
    back (a change of status). ``share_raters_changed`` is the share of experts present
    in both rounds who changed at least one matched cell; ``mean_absolute_change`` is
    the mean |after - before| over cells valued in both rounds.

    *Spread, alpha and consensus* describe each round's whole panel as it is (experts
    who joined or left included): median and IQR per item x dimension as in
    :func:`analysis.consensus.item_consensus`, Krippendorff's alpha (``krippendorff``
    package) per dimension, and the share of item x dimension cells (overall and per
    dimension) and of items (on every dimension) meeting the consensus criterion.
    Changes are after - before, so a narrowing IQR has a negative ``iqr_change``.

    *Did the panel move?* Per item x dimension, the experts' paired answers are tested
    with the Wilcoxon signed-rank test (Pratt's zeros; p-values Holm-adjusted over the
    round's cells), and per dimension Spearman's correlation of the item medians says
    whether the panel kept the items' order (see :class:`CellStability`,
    :class:`DimensionStability`). Per cell the coefficient of variation (SD / mean)
    before and after, and per expert the quadratic-weighted kappa between their two
    rounds' answers (:class:`ExpertStability`). They inform; the suggestion below does
    not use them.

    *Suggestion.* "consensus reached" when every item x dimension of the current round
    meets the criterion; otherwise "stable" when the share of changed answers is at
    most ``stable_change`` and alpha moved by at most ``stable_alpha`` on every
    dimension (an undefined alpha change is not stable); otherwise "continue". Stability
    of responses, not only consensus, is the customary stopping rule in Delphi studies:
    a panel that no longer moves will not reach consensus by another round.

    References
    ----------
    von der Gracht, H. A. (2012). Consensus measurement in Delphi studies. Technological
    Forecasting and Social Change, 79(8), 1525-1536.
    Dajani, J. S., Sincoff, M. Z., & Talley, W. K. (1979). Stability and agreement
    criteria for the termination of Delphi studies. Technological Forecasting and
    Social Change, 13(1), 83-90.
    Krippendorff, K. (2011). Computing Krippendorff's Alpha-Reliability.
    Wilcoxon, F. (1945). Individual comparisons by ranking methods. Biometrics Bulletin,
    1(6), 80-83. Pratt, J. W. (1959). Remarks on zeros and ties in the Wilcoxon signed rank
    procedures. JASA, 54(287), 655-667. Holm, S. (1979). A simple sequentially rejective
    multiple test procedure. Scandinavian Journal of Statistics, 6(2), 65-70.

    Examples
    --------
    >>> before = pd.DataFrame({"rater": list("abc"), "item": "x", "dimension": "d",
    ...                        "value": [1.0, 3.0, 5.0]})
    >>> after = before.assign(value=[2.0, 3.0, 4.0])
    >>> result = compare_rounds(before, after)
    >>> result.share_cells_changed, result.cells[0].iqr_before, result.cells[0].iqr_after
    (0.6666666666666666, 2.0, 1.0)
    >>> result.suggestion
    'consensus reached'
    """
    before = _one_round(previous, "previous")
    after = _one_round(current, "current")
    names = _dimensions(dimensions, before, after)
    level_of = resolve_levels(levels, names)
    criterion = ConsensusCriterion.from_value(consensus)
    stable_change = _check_fraction(stable_change, "stable_change", 1.0)
    stable_alpha = _check_fraction(stable_alpha, "stable_alpha", None)
    if quantile_method not in QUANTILE_METHODS:
        raise ValueError(
            f"quantile_method must be one of {', '.join(QUANTILE_METHODS)}, not {quantile_method!r}"
        )
    before = before[before["dimension"].isin(names)]
    after = after[after["dimension"].isin(names)]

    raters_before, raters_after = set(before["rater"]), set(after["rater"])
    common_raters = raters_before & raters_after
    matched = _matched(before, after)
    changed_raters = set(matched.loc[matched["changed"], "rater"])
    reasons: dict[str, str] = {}
    share_raters = len(changed_raters) / len(common_raters) if common_raters else None
    if not common_raters:
        reasons["share_raters_changed"] = "no expert rated in both rounds"
    share_cells = _share(matched["changed"].to_numpy())
    if share_cells is None:
        reasons["share_cells_changed"] = "no answer was given in both rounds by the same expert"

    options = ConsensusOptions(criterion, quantile_method=quantile_method)
    consensus_before, consensus_after = options.of(before), options.of(after)
    cells = _with_paired_tests(_cells(consensus_before, consensus_after, names), matched)

    per_dimension = {
        dimension: _dimension_stability(
            dimension,
            level_of[dimension],
            matched=matched,
            before=before,
            after=after,
            consensus_before=consensus_before,
            consensus_after=consensus_after,
            cells=[cell for cell in cells if cell.dimension == dimension],
        )
        for dimension in names
    }

    suggestion, explanation = _suggest(
        consensus_after,
        per_dimension,
        share_cells=share_cells,
        stable_change=stable_change,
        stable_alpha=stable_alpha,
        criterion=criterion,
    )
    settings = {
        "dimensions": [label(d) for d in names],
        "levels": {str(label(d)): level for d, level in level_of.items()},
        "consensus": criterion.to_dict(),
        "stable_change": stable_change,
        "stable_alpha": stable_alpha,
        "quantile_method": quantile_method,
    }
    return Stability(
        n_raters_before=len(raters_before),
        n_raters_after=len(raters_after),
        n_raters_matched=len(common_raters),
        share_raters_changed=share_raters,
        n_cells_matched=len(matched),
        share_cells_changed=share_cells,
        dimensions=per_dimension,
        cells=cells,
        consensus_share_before=_consensus_share(consensus_before),
        consensus_share_after=_consensus_share(consensus_after),
        items_in_consensus_share_before=_items_share(consensus_before, names),
        items_in_consensus_share_after=_items_share(consensus_after, names),
        suggestion=suggestion,
        explanation=explanation,
        settings=settings,
        reasons=reasons,
        experts=_experts(matched),
    )


def _experts(matched: pd.DataFrame) -> tuple[ExpertStability, ...]:
    """Weighted kappa of each expert between the rounds (see :class:`ExpertStability`)."""
    valued = matched[matched["valued"].to_numpy()]
    before = valued["value_before"].to_numpy(dtype=float)
    after = valued["value_after"].to_numpy(dtype=float)
    # Each dimension on [0, 1] by its range over both rounds, so dimensions pool.
    dimension = pd.factorize(valued["dimension"])[0]
    low = np.full(dimension.max() + 1 if dimension.size else 0, np.inf)
    high = np.full(low.size, -np.inf)
    np.minimum.at(low, dimension, np.minimum(before, after))
    np.maximum.at(high, dimension, np.maximum(before, after))
    span = np.where(high > low, high - low, 1.0)
    x = (before - low[dimension]) / span[dimension]
    y = (after - low[dimension]) / span[dimension]
    rater_of_valued = valued["rater"].to_numpy()
    experts = []
    for rater, rows in matched.groupby("rater", sort=True):
        own = rater_of_valued == rater
        kappa, reason = None, None
        if own.sum() < 2:
            reason = "fewer than two answers valued in both rounds"
        else:
            a, b = x[own], y[own]
            denominator = a.var() + b.var() + (a.mean() - b.mean()) ** 2
            if denominator <= 1e-15:
                reason = "one value throughout both rounds, so no agreement beyond chance"
            else:
                kappa = float(2 * ((a - a.mean()) * (b - b.mean())).mean() / denominator)
        experts.append(
            ExpertStability(
                rater=rater,
                n_matched=len(rows),
                n_changed=int(rows["changed"].sum()),
                weighted_kappa=kappa,
                reason=reason,
            )
        )
    return tuple(experts)


def _cv(cell: ItemConsensus | None) -> tuple[float | None, str | None]:
    """SD / mean of a cell, or None with the reason."""
    if cell is None or cell.n < 2 or cell.sd is None or cell.mean is None:
        return None, "fewer than two values in a round"
    if cell.mean <= 0:
        return None, "the mean is not above 0, so SD / mean is not a spread"
    return cell.sd / cell.mean, None


def _dimension_stability(
    dimension: Hashable,
    level: str,
    *,
    matched: pd.DataFrame,
    before: pd.DataFrame,
    after: pd.DataFrame,
    consensus_before: Sequence[ItemConsensus],
    consensus_after: Sequence[ItemConsensus],
    cells: Sequence[CellStability],
) -> DimensionStability:
    rows = matched[matched["dimension"] == dimension]
    valued = rows.loc[rows["valued"], "absolute_change"].to_numpy()
    alpha_before, why_before = _alpha(before, dimension, level)
    alpha_after, why_after = _alpha(after, dimension, level)
    notes: dict[str, str] = {}
    if alpha_before is None:
        notes["alpha_before"] = why_before
    if alpha_after is None:
        notes["alpha_after"] = why_after
    alpha_change = None
    if alpha_before is not None and alpha_after is not None:
        alpha_change = alpha_after - alpha_before
    else:
        notes["alpha_change"] = "alpha is undefined in " + (
            "both rounds"
            if alpha_before is None and alpha_after is None
            else ("the previous round" if alpha_before is None else "the current round")
        )
    if rows.empty:
        notes["share_cells_changed"] = "no matched answers"
    if valued.size == 0:
        notes["mean_absolute_change"] = "no answer valued in both rounds"
    rho, why_rho = _median_correlation(cells)
    if rho is None:
        notes["median_rank_correlation"] = why_rho
    return DimensionStability(
        dimension=dimension,
        level=level,
        n_cells_matched=len(rows),
        share_cells_changed=_share(rows["changed"].to_numpy()),
        mean_absolute_change=float(valued.mean()) if valued.size else None,
        alpha_before=alpha_before,
        alpha_after=alpha_after,
        alpha_change=alpha_change,
        consensus_share_before=_consensus_share(
            [c for c in consensus_before if c.dimension == dimension]
        ),
        consensus_share_after=_consensus_share(
            [c for c in consensus_after if c.dimension == dimension]
        ),
        reasons=notes,
        median_rank_correlation=rho,
        n_cells_moved=sum(
            cell.wilcoxon_p_holm is not None and cell.wilcoxon_p_holm < 0.05 for cell in cells
        ),
    )


def _median_correlation(cells: Sequence[CellStability]) -> tuple[float | None, str]:
    pairs = [
        (cell.median_before, cell.median_after)
        for cell in cells
        if cell.median_before is not None and cell.median_after is not None
    ]
    if len(pairs) < 3:
        return None, f"{len(pairs)} item(s) with a median in both rounds; it needs 3"
    before, after = (np.array(side, dtype=float) for side in zip(*pairs, strict=True))
    if np.ptp(before) == 0 or np.ptp(after) == 0:
        return None, "every item has the same median in one of the rounds"
    rho = stats.spearmanr(before, after).statistic
    return float(rho), ""


def _with_paired_tests(
    cells: tuple[CellStability, ...], matched: pd.DataFrame
) -> tuple[CellStability, ...]:
    """The cells with their experts' paired changes tested (see :class:`CellStability`)."""
    valued = matched[matched["valued"]]
    groups = {
        key: (group["value_before"].to_numpy(), group["value_after"].to_numpy())
        for key, group in valued.groupby(["dimension", "item"], sort=False)
    }
    p_values: list[float | None] = []
    counts: list[int] = []
    for cell in cells:
        before, after = groups.get((cell.dimension, cell.item), (np.empty(0), np.empty(0)))
        counts.append(int(before.size))
        moved = np.abs(after - before) > _TOLERANCE
        if before.size < 2 or not moved.any():
            p_values.append(None)
            continue
        p_values.append(_signed_rank_p(after - before))
    holm = _holm([p for p in p_values if p is not None])
    adjusted = iter(holm)
    return tuple(
        replace(
            cell,
            n_paired=n,
            wilcoxon_p=p,
            wilcoxon_p_holm=None if p is None else next(adjusted),
        )
        for cell, n, p in zip(cells, counts, p_values, strict=True)
    )


def _signed_rank_p(differences: FloatArray) -> float:
    """Two-sided Wilcoxon signed-rank p-value with Pratt's zeros: the exact distribution
    when it applies (at most 50 pairs, no zero and no tied change), else the normal
    approximation with scipy's tie correction (rating scales nearly always have ties;
    with fewer than 10 pairs that approximation is rough, which scipy's warning says and
    the docstring of :class:`CellStability` repeats)."""
    magnitudes = np.abs(differences)
    exact = (
        differences.size <= 50
        and not np.any(magnitudes == 0)
        and np.unique(magnitudes).size == magnitudes.size
    )
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "Sample size too small", UserWarning)
        test = stats.wilcoxon(
            differences,
            zero_method="pratt",
            alternative="two-sided",
            method="exact" if exact else "approx",
        )
    return float(test.pvalue)


def _holm(p_values: Sequence[float]) -> list[float]:
    """Holm's step-down adjustment (Holm 1979), in the order given."""
    m = len(p_values)
    order = np.argsort(p_values, kind="stable")
    adjusted = np.empty(m)
    running = 0.0
    for rank, index in enumerate(order):
        running = max(running, min(1.0, (m - rank) * p_values[index]))
        adjusted[index] = running
    return [float(p) for p in adjusted]


def _cells(
    before: Sequence[ItemConsensus], after: Sequence[ItemConsensus], names: Sequence[Hashable]
) -> tuple[CellStability, ...]:
    old = {(c.dimension, c.item): c for c in before}
    new = {(c.dimension, c.item): c for c in after}
    order = {dimension: position for position, dimension in enumerate(names)}
    keys = list(dict.fromkeys([*old, *new]))
    items = pd.Series([key[1] for key in keys], dtype=object)
    item_rank = np.empty(len(keys), dtype=np.int64)
    if keys:
        item_rank = sorted_codes(items)[0]
    ranked = sorted(zip(keys, item_rank, strict=True), key=lambda k: (order[k[0][0]], k[1]))
    result = []
    for key, _ in ranked:
        a, b = old.get(key), new.get(key)
        iqr_before = None if a is None else a.iqr
        iqr_after = None if b is None else b.iqr
        (cv_before, why_before), (cv_after, why_after) = _cv(a), _cv(b)
        result.append(
            CellStability(
                item=key[1],
                dimension=key[0],
                n_before=0 if a is None else a.n,
                n_after=0 if b is None else b.n,
                median_before=None if a is None else a.median,
                median_after=None if b is None else b.median,
                iqr_before=iqr_before,
                iqr_after=iqr_after,
                iqr_change=None
                if iqr_before is None or iqr_after is None
                else iqr_after - iqr_before,
                consensus_before=None if a is None else a.consensus,
                consensus_after=None if b is None else b.consensus,
                cv_before=cv_before,
                cv_after=cv_after,
                cv_change=None if cv_before is None or cv_after is None else cv_after - cv_before,
                cv_reason=why_before or why_after,
            )
        )
    return tuple(result)


def _describe(criterion: ConsensusCriterion) -> str:
    parts = []
    if criterion.max_iqr is not None:
        parts.append(f"IQR <= {criterion.max_iqr:g}")
    if criterion.min_share_within_one is not None:
        parts.append(f">= {criterion.min_share_within_one:.0%} within one point")
    if criterion.min_n is not None:
        parts.append(f"n >= {criterion.min_n}")
    return ", ".join(parts) or "no condition"


def _suggest(
    consensus_after: Sequence[ItemConsensus],
    dimensions: Mapping[Hashable, DimensionStability],
    *,
    share_cells: float | None,
    stable_change: float,
    stable_alpha: float,
    criterion: ConsensusCriterion,
) -> tuple[str, str]:
    n_cells = len(consensus_after)
    n_met = sum(cell.consensus is True for cell in consensus_after)
    rule = _describe(criterion)
    if n_cells and n_met == n_cells:
        return (
            "consensus reached",
            f"Every item x dimension ({n_cells}) meets the consensus criterion ({rule}) "
            "in the current round.",
        )
    lacking = f"{n_cells - n_met} of {n_cells} item x dimension cells lack consensus ({rule})"
    problems = []
    if share_cells is None:
        problems.append("no expert answered the same question in both rounds")
    elif share_cells > stable_change + _TOLERANCE:
        problems.append(f"{share_cells:.0%} of matched answers changed (> {stable_change:.0%})")
    for dimension, result in dimensions.items():
        if result.alpha_change is None:
            why = result.reasons.get("alpha_change", "undefined")
            problems.append(f"alpha on {dimension} cannot be compared ({why})")
        elif abs(result.alpha_change) > stable_alpha + _TOLERANCE:
            problems.append(
                f"alpha on {dimension} moved by {result.alpha_change:+.3f} "
                f"(more than {stable_alpha:g})"
            )
    if not problems:
        largest = max(abs(r.alpha_change or 0.0) for r in dimensions.values())
        return (
            "stable",
            f"Only {share_cells:.0%} of matched answers changed (<= {stable_change:.0%}) and "
            f"alpha moved by at most {largest:.3f} (<= {stable_alpha:g}) on every dimension, "
            f"so another round is unlikely to change the picture; {lacking}.",
        )
    return "continue", f"The panel is still moving: {'; '.join(problems)}; {lacking}."
