"""Whose judgement moves a tier: each item's tier under equal and other expert weightings.

Each scheme gives every expert a weight; an item's score on a rule dimension is the
**weighted median** of its ratings, and the survey's tier rule turns the scores into a tier.
Items whose tier differs between schemes *depend on the choice of weighting* and are listed.

Weighted median: the value where the cumulative weight of the sorted ratings first reaches
half the total weight; when it reaches exactly half at a value, the mean of that value and
the next (with equal weights this is the ordinary sample median, as the report's medians).

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
from dataclasses import dataclass

import numpy as np
import pandas as pd

from analysis._types import FloatArray
from analysis.calibration.rule import TierRule, apply_rule
from analysis.results import Record

__all__ = [
    "CONFIDENCE_WEIGHTS",
    "ItemWeighting",
    "WeightingComparison",
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
    """Every item under every scheme, and the items whose tier depends on the scheme."""

    schemes: list[str]
    items: list[ItemWeighting]
    depending: list[Hashable]


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
    """Each rating's weight by its stated confidence (1 where none was stated)."""
    if "confidence" not in ratings:
        return pd.Series(1.0, index=ratings.index)
    return ratings["confidence"].map(CONFIDENCE_WEIGHTS).fillna(1.0).astype(float)


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
