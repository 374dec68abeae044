"""Whose judgement moves a tier: each item's tier under equal and other expert weightings.

Each scheme gives every expert a weight; an item's score on a rule dimension is the
**weighted median** of its ratings, and the survey's tier rule turns the scores into a tier.
Items whose tier differs between schemes *depend on the choice of weighting* and are listed.

Weighted median: the value where the cumulative weight of the sorted ratings first reaches
half the total weight; when it reaches exactly half at a value, the mean of that value and
the next (with equal weights this is the ordinary sample median, as the report's medians).

:func:`compare_calibrations` goes further: under each scheme it **fits the thresholds**
to the panel's holistic tiers with those weights (:func:`analysis.calibration.fit_thresholds`
with :class:`~analysis.calibration.CaseWeights`, or on severity-adjusted ratings), so the
thresholds, the scores and the tiers all follow the weighting; this is what the report
shows side by side and a rubric published with a weighting uses.

Schemes (:func:`compare_weightings` takes any; :func:`reference_weights` and
:func:`confidence_weights` build two):

* ``equal``: every expert 1 (what the rubric uses);
* ``reference``: an expert's weighted kappa against the calibration items' references,
  floored at 0 (:mod:`analysis.reference`); experts without a defined kappa get the mean
  weight of those with one (neither rewarded nor penalised);
* severity-adjusted scores come from :mod:`analysis.severity` (fair averages), not weights;
  the report lists them beside these;
* ``confidence``: a **sensitivity analysis only**: each rating weighted by the expert's own
  stated confidence (low 1, medium 2, high 3). Self-rated confidence is never used as a
  weight in any published figure.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from analysis._types import FloatArray
from analysis.calibration import CaseWeights
from analysis.calibration.fit import _point_fit, _PointFit
from analysis.calibration.rule import TierRule, apply_rule
from analysis.results import Record
from analysis.tidy import validate_ratings

__all__ = [
    "CONFIDENCE_WEIGHTS",
    "ItemWeighting",
    "WeightingComparison",
    "compare_calibrations",
    "compare_weightings",
    "confidence_weights",
    "reference_weights",
    "weighted_median",
]

#: The sensitivity analysis' weight of a rating by its stated confidence.
CONFIDENCE_WEIGHTS = {"low": 1.0, "medium": 2.0, "high": 3.0}


@dataclass(frozen=True)
class ItemWeighting(Record):
    """One item's score and tier under each scheme; ``depends`` when the tiers differ."""

    item: Hashable
    scores: dict[str, float | None]
    tiers: dict[str, str | None]
    depends: bool


@dataclass(frozen=True)
class WeightingComparison(Record):
    """Every item under every scheme, and the items whose tier depends on the scheme.

    ``thresholds``: each scheme's thresholds (lowest first); ``fitted`` whether they were
    fitted to the panel's holistic tiers under each scheme (:func:`compare_calibrations`)
    rather than the same declared ones for all; ``reasons``: why a scheme is missing.
    """

    schemes: list[str]
    items: list[ItemWeighting]
    depending: list[Hashable]
    thresholds: dict[str, list[float]] = field(default_factory=dict)
    fitted: bool = False
    reasons: dict[str, str] = field(default_factory=dict)


#: A scheme for :func:`compare_calibrations`: the ratings it is fitted on (severity-adjusted
#: ones, or None for the panel's own) and how much each expert or rating counts.
Scheme = tuple[pd.DataFrame | None, CaseWeights | None]


def compare_calibrations(
    ratings: pd.DataFrame,
    *,
    rule: TierRule,
    schemes: Mapping[str, Scheme],
    validated: bool = False,
) -> WeightingComparison:
    """Each item's tier under each scheme, the thresholds fitted under that scheme.

    Parameters
    ----------
    ratings : DataFrame
        Tidy ratings with the rule dimensions and the holistic tiers (the rule's
        ``tier_dimension``).
    rule : TierRule
        The survey's tier rule (declared thresholds, scale, tier names).
    schemes : mapping name -> (ratings or None, CaseWeights or None)
        The first is the reference (normally equal weights). A scheme's own ratings
        replace ``ratings`` (severity-adjusted ones); its weights say how much each
        expert, or each rating, counts.
    validated : bool
        Whether ``ratings`` and every scheme's own ratings went through
        :func:`analysis.tidy.validate_ratings` already (as the report's do), so they are
        not checked again.

    Returns
    -------
    WeightingComparison
        With each scheme's thresholds; a scheme that cannot be fitted is left out, with
        the reason in ``reasons``.

    Notes
    -----
    Each scheme gives the thresholds :func:`analysis.calibration.fit_thresholds` fits
    without a bootstrap: the weighted consensus scores and panel tiers, the thresholds
    maximising quadratic kappa between them (the declared ones without holistic tiers),
    and each item's tier by the rule. Only these are computed: not the fit's agreement
    checks, leave-one-out refits or tier probabilities, which the comparison does not
    show. An item *depends on the weighting* when its tier differs between schemes.

    Examples
    --------
    >>> rows = [(r, i, d, v) for r in "abc"
    ...         for i, values in {"x": (5, 2), "y": (2, 0), "z": (4, 1)}.items()
    ...         for d, v in zip(("d", "tier"), values)]
    >>> frame = pd.DataFrame(rows, columns=["rater", "item", "dimension", "value"])
    >>> rule = TierRule(dimensions=["d"], aggregate="max", n_tiers=3,
    ...                 initial_thresholds=[2.5, 4.5], scale=(1, 5))
    >>> compare_calibrations(frame, rule=rule, schemes={"equal": (None, None)}).thresholds
    {'equal': [2.5, 4.5]}
    """
    fits, reasons = _fit_schemes(ratings, rule, schemes, validated=validated)
    items = _compared_items(fits, rule)
    return WeightingComparison(
        list(fits),
        items,
        [i.item for i in items if i.depends],
        thresholds={n: [float(t) for t in f.thresholds] for n, f in fits.items()},
        fitted=any(f.has_holistic_tiers for f in fits.values()),
        reasons=reasons,
    )


def _fit_schemes(
    ratings: pd.DataFrame, rule: TierRule, schemes: Mapping[str, Scheme], *, validated: bool
) -> tuple[dict[str, _PointFit], dict[str, str]]:
    """Each scheme's thresholds and tiers, and why a scheme could not be fitted."""
    fits: dict[str, _PointFit] = {}
    reasons: dict[str, str] = {}
    # Schemes that share a table (equal, calibration-item and performance weights all
    # weigh the panel's own ratings) validate it once; a table that fails is tried again
    # by each scheme, so each carries the reason as before.
    checked: dict[int, pd.DataFrame] = {}
    for name, (own, weights) in schemes.items():
        table = ratings if own is None else own
        try:
            if id(table) not in checked:
                checked[id(table)] = table if validated else validate_ratings(table)
            fits[name] = _point_fit(checked[id(table)], rule, weights, validated=True)
        except ValueError as exc:
            reasons[name] = str(exc)
    return fits, reasons


def _compared_items(fits: Mapping[str, _PointFit], rule: TierRule) -> list[ItemWeighting]:
    """Every item any scheme scored (sorted), with its score and tier under each scheme."""
    names = list(rule.tier_names) if rule.tier_names else None
    found: dict[Hashable, ItemWeighting] = {}
    for name, fit in fits.items():
        for item, score, position in zip(fit.items, fit.score, fit.rule_tier, strict=True):
            row = found.setdefault(item, ItemWeighting(item, {}, {}, False))
            tier = int(position) if np.isfinite(position) else None
            row.scores[name] = float(score) if np.isfinite(score) else None
            row.tiers[name] = None if tier is None else (names[tier] if names else str(tier))
    return [
        ItemWeighting(
            row.item,
            {n: row.scores.get(n) for n in fits},
            {n: row.tiers.get(n) for n in fits},
            len({row.tiers.get(n) for n in fits}) > 1,
        )
        for row in sorted(found.values(), key=lambda r: str(r.item))
    ]


def weighted_median(values: FloatArray, weights: FloatArray) -> float | None:
    """The weighted median (see the module's notes); None without positive weight."""
    keep = weights > 0
    values, weights = values[keep], weights[keep]
    if len(values) == 0:
        return None
    order = np.argsort(values, kind="stable")
    values, weights = values[order], weights[order]
    cumulative = np.cumsum(weights)
    half = cumulative[-1] / 2
    index = int(np.searchsorted(cumulative, half - 1e-12 * cumulative[-1]))
    if abs(cumulative[index] - half) <= 1e-12 * cumulative[-1] and index + 1 < len(values):
        return float((values[index] + values[index + 1]) / 2)
    return float(values[index])


def reference_weights(
    kappas: Mapping[Hashable, float | None], raters: Sequence[Hashable]
) -> dict[Hashable, float]:
    """Weights from agreement with the references: kappa floored at 0; raters without a
    kappa get the mean weight of those with one (all 1 when nobody has one)."""
    known = {r: max(k, 0.0) for r, k in kappas.items() if k is not None}
    fill = float(np.mean(list(known.values()))) if known else 1.0
    return {r: known.get(r, fill) for r in raters}


def confidence_weights(ratings: pd.DataFrame) -> pd.Series:
    """Each rating's weight by its stated confidence, given as the word or as its number
    (low 1, medium 2, high 3, as :mod:`analysis.tidy` codes it); 1 where none was stated."""
    if "confidence" not in ratings:
        return pd.Series(1.0, index=ratings.index)
    stated = ratings["confidence"]
    by_number = {weight: weight for weight in CONFIDENCE_WEIGHTS.values()}
    words = stated.map(CONFIDENCE_WEIGHTS)
    numbers = pd.to_numeric(stated, errors="coerce").map(by_number)
    return words.fillna(numbers).fillna(1.0).astype(float)


def compare_weightings(
    ratings: pd.DataFrame,
    *,
    rule: TierRule,
    thresholds: Sequence[float],
    rater_weights: Mapping[str, Mapping[Hashable, float]],
    rating_weights: Mapping[str, pd.Series] | None = None,
    changed_tiers: Mapping[str, Mapping[Hashable, str]] | None = None,
) -> WeightingComparison:
    """Each item's tier under each scheme.

    Parameters
    ----------
    ratings : DataFrame
        Tidy ratings (``rater``, ``item``, ``dimension``, ``value``; missing values left out).
    rule : TierRule
        The tier rule (dimensions, aggregate, tier names).
    thresholds : sequence of float
        The thresholds to apply (declared or calibrated).
    rater_weights : mapping scheme -> (rater -> weight)
        Schemes weighting experts.
    rating_weights : mapping scheme -> Series aligned with ``ratings``
        Schemes weighting single ratings (the confidence sensitivity analysis).
    changed_tiers : mapping scheme -> (item -> tier name)
        Schemes computed elsewhere (severity-adjusted scores), given by the items whose
        tier they change; every other item keeps its tier under the first scheme.
    """
    rated = ratings.dropna(subset=["value"])
    rated = rated[rated["dimension"].isin(list(rule.dimensions))]
    schemes = _scheme_weights(rated, rater_weights, rating_weights or {})
    changed = changed_tiers or {}
    if rated.empty:
        return WeightingComparison([*schemes, *changed], [], [])
    scores = {name: _weighted_scores(rated, weight, rule) for name, weight in schemes.items()}
    tiers = {
        name: apply_rule(
            table, dimensions=rule.dimensions, aggregate=rule.aggregate, thresholds=thresholds
        )
        for name, table in scores.items()
    }
    items = sorted(set().union(*(t.index for t in tiers.values())), key=str)
    out = [_item_weighting(item, rule, scores, tiers, changed) for item in items]
    return WeightingComparison([*schemes, *changed], out, [i.item for i in out if i.depends])


def _scheme_weights(
    rated: pd.DataFrame,
    rater_weights: Mapping[str, Mapping[Hashable, float]],
    rating_weights: Mapping[str, pd.Series],
) -> dict[str, pd.Series]:
    """Each scheme's weight of each rating: its rater's (0 for a rater not weighted), or
    the rating's own (1 where none is given)."""
    schemes: dict[str, pd.Series] = {
        name: rated["rater"].map(dict(weights)).fillna(0.0).astype(float)
        for name, weights in rater_weights.items()
    }
    for name, series in rating_weights.items():
        schemes[name] = series.reindex(rated.index).fillna(1.0).astype(float)
    return schemes


def _weighted_scores(rated: pd.DataFrame, weight: pd.Series, rule: TierRule) -> pd.DataFrame:
    """The weighted median of each item on each rule dimension (items x dimensions)."""
    medians = {
        key: weighted_median(group["value"].to_numpy(float), weight[group.index].to_numpy())
        for key, group in rated.groupby(["item", "dimension"], observed=True, sort=True)
    }
    return (
        pd.Series(medians, dtype=float)
        .unstack()
        .reindex(columns=list(rule.dimensions))
        .astype(float)
    )


def _item_weighting(
    item: Hashable,
    rule: TierRule,
    scores: Mapping[str, pd.DataFrame],
    tiers: Mapping[str, pd.Series],
    changed_tiers: Mapping[str, Mapping[Hashable, str]],
) -> ItemWeighting:
    """One item's score and tier under each scheme; a scheme given by its changed tiers
    has no score, and the first scheme's tier where it changes nothing."""
    names = list(rule.tier_names) if rule.tier_names else None
    item_tiers: dict[str, str | None] = {}
    item_scores: dict[str, float | None] = {}
    for name, table in scores.items():
        position = tiers[name].get(item)
        item_tiers[name] = None
        if position is not None and not pd.isna(position):
            index = int(position)
            item_tiers[name] = names[index] if names else str(index)
        row = table.loc[[item]].iloc[0] if item in table.index else None
        item_scores[name] = _aggregate(row, rule.aggregate)
    first = next(iter(item_tiers.values()), None)
    for name, changed in changed_tiers.items():
        item_tiers[name] = changed.get(item, first)
        item_scores[name] = None
    return ItemWeighting(item, item_scores, item_tiers, len(set(item_tiers.values())) > 1)


def _aggregate(row: pd.Series | None, aggregate: str) -> float | None:
    if row is None or row.isna().any():
        return None
    values = row.to_numpy(float)
    if aggregate == "max":
        return float(values.max())
    if aggregate == "min":
        return float(values.min())
    return float(values.mean())
