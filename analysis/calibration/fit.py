"""Fitting the thresholds, with the in-sample and leave-one-out checks."""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from analysis._types import BoolArray, FloatArray, IntArray, LabelArray
from analysis.calibration.bootstrap import (
    NO_HOLISTIC,
    Resampling,
    _Resampling,
    _tier_probabilities,
)
from analysis.calibration.kappa import _kappa_and_accuracy
from analysis.calibration.panel import _full_panel, _Panel, _prepare, _Rule
from analysis.calibration.results import (
    CalibratedItem,
    Calibration,
    TierAgreement,
    TierProbabilities,
)
from analysis.calibration.rule import _TOLERANCE, TierRule, _assign
from analysis.calibration.search import CANDIDATES, TIE_BREAK, _fit
from analysis.calibration.weights import WEIGHTED_ESTIMATOR, CaseWeights, _effective_experts
from analysis.results import label

__all__ = ["HOLISTIC_CONSENSUS", "fit_thresholds"]

HOLISTIC_CONSENSUS = (
    "median of the experts' tier positions, rounded half up (an even split between two "
    "adjacent tiers goes to the higher tier)"
)
_AGREEMENT = ("kappa_initial", "kappa_fitted", "accuracy_initial", "accuracy_fitted")
_LOO = ("loo_kappa", "loo_accuracy")


def fit_thresholds(
    ratings: pd.DataFrame,
    rule: TierRule,
    resampling: Resampling = Resampling(),
    weights: CaseWeights | None = None,
) -> Calibration:
    """Fit the tier rule's thresholds to the panel's holistic tier judgements.

    Parameters
    ----------
    ratings : pandas.DataFrame
        Tidy ratings (see :mod:`analysis.tidy`) with the rule dimensions and, optionally,
        the holistic tier rows (``dimension == rule.tier_dimension``, value = 0-based tier
        position). With a ``round`` column, the last round is used.
    rule : TierRule
        The declared tier rule: dimensions, aggregate, number of tiers, initial
        thresholds, scale, tier dimension, centre and tier names.
    resampling : Resampling
        The resampling of the experts for the tier probabilities, the probability that a
        fresh panel puts each item in each tier (``n_bootstrap=0``: none); see
        :func:`tier_probabilities`.
    weights : CaseWeights, optional
        How much each expert (and, with ``weights.column``, each rating) counts in the
        panel's consensus scores and tiers, and so in the fit (default: equally).

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

    *Checks* (:class:`TierAgreement`). ``initial_agreement`` uses the declared thresholds
    on the same items; ``loo_agreement`` refits without each item in turn and
    predicts it (leave-one-item-out, Stone 1974), an honest estimate of how the fitted
    rule would place an item it has not seen. Only items with a score on every rule
    dimension and a panel tier enter the fit. Without holistic tiers the thresholds stay
    as declared and only the tier probabilities are computed.

    *Weights* (:data:`WEIGHTED_ESTIMATOR`). The experts enter the fit only through the
    panel's consensus: each item's score on each rule dimension and its panel tier. With
    weights, each rating is a case with its expert's weight in those estimators: the
    weighted median minimises sum w |x - m| (where a whole interval does, its midpoint:
    the first value whose cumulative weight reaches half the total, averaged with the
    first that exceeds it), the weighted mean sum w (x - m)^2. Weights are divided by the
    largest, so equal weights are exactly 1 and reproduce the unweighted fit; with
    integer weights the weighted median is the median of each value repeated that often.
    The search and its objective are unchanged: kappa over items, each item once. An
    expert of weight 0 changes no consensus (a value of weight 0 is never the median),
    and the bootstrap draws only from the experts with positive weight, each keeping its
    weight, so adding one changes nothing. The weights are held fixed across replicates:
    the probabilities do not include the uncertainty of the weights themselves. The
    small-panel warning uses Kish's effective number of experts (sum w)^2 / sum w^2.

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
    >>> rule = TierRule(dimensions=["proprietary", "misuse"], aggregate="max", n_tiers=3,
    ...                 initial_thresholds=[2.5, 4.0], scale=(1, 5))
    >>> result = fit_thresholds(frame, rule, Resampling(n_bootstrap=0))
    >>> result.initial_agreement.kappa, result.fitted_thresholds, result.fitted_agreement.kappa
    (0.8, (2.5, 4.5), 1.0)
    """
    panel, checked = _prepare(ratings, rule, weights)
    drawing = resampling.checked()
    per_dimension, score, panel_tier = _full_panel(panel, checked)
    agreement = _agreement(panel, checked, score, panel_tier)
    probabilities = _tier_probabilities(
        panel, checked, agreement.fitted, drawing, identified=agreement.identified
    )
    reasons = {**agreement.reasons, **probabilities.reasons}
    items = _calibrated_items(
        panel,
        per_dimension=per_dimension,
        score=score,
        rule_tier=_assign(score, agreement.fitted),
        panel_tier=panel_tier,
        probabilities=probabilities,
    )
    confusion = agreement.confusion
    return Calibration(
        dimensions=panel.dimensions,
        tiers=checked.names,
        initial_thresholds=tuple(float(t) for t in checked.initial),
        initial_agreement=agreement.initial_check,
        fitted_thresholds=tuple(float(t) for t in agreement.fitted),
        fitted_agreement=agreement.fitted_check,
        loo_agreement=agreement.loo_check,
        confusion=None if confusion is None else tuple(tuple(int(c) for c in r) for r in confusion),
        items=items,
        n_items_fitted=agreement.n_items_fitted,
        n_raters=int(panel.raters.size),
        settings=_settings(panel, checked, drawing, probabilities, weights),
        reasons=reasons,
        threshold_intervals=None
        if panel.tier_cells is None
        else _identified_intervals(score, agreement.fitted),
        warnings=probabilities.warnings,
    )


@dataclass(frozen=True)
class _PointFit:
    """The thresholds :func:`fit_thresholds` fits and each item's score and rule tier by
    them (NaN: no score), without the checks, the leave-one-out refits and the tier
    probabilities; ``has_holistic_tiers`` as :attr:`Calibration.has_holistic_tiers`."""

    items: LabelArray
    score: FloatArray
    rule_tier: FloatArray
    thresholds: FloatArray
    has_holistic_tiers: bool


def _point_fit(
    ratings: pd.DataFrame,
    rule: TierRule,
    weights: CaseWeights | None = None,
    *,
    validated: bool = False,
) -> _PointFit:
    """The thresholds and tiers of ``fit_thresholds(ratings, rule, Resampling(0), weights)``,
    the same numbers, for a caller that shows nothing else (the weighting comparison):
    the leave-one-out refits and the agreement checks are most of a fit's work.
    ``validated``: ``ratings`` already went through :func:`analysis.tidy.validate_ratings`.
    """
    panel, checked = _prepare(ratings, rule, weights, validated=validated)
    _, score, panel_tier = _full_panel(panel, checked)
    # As _agreement: the declared thresholds stay when the panel gives no tiers or its
    # tiers place no threshold.
    fitted = None if panel.tier_cells is None else _fit(score, panel_tier, checked)
    thresholds = checked.initial if fitted is None else fitted
    return _PointFit(
        items=panel.items,
        score=score,
        rule_tier=_assign(score, thresholds),
        thresholds=thresholds,
        has_holistic_tiers=panel.tier_cells is not None,
    )


def _identified_intervals(
    score: FloatArray, thresholds: FloatArray
) -> tuple[tuple[float | None, float | None], ...]:
    """Per threshold c, (highest score below c, lowest score at or above c): any value in
    that half-open interval assigns every scored item the same tier (tier >= k iff
    score >= c_k)."""
    scores = np.unique(score[~np.isnan(score)])
    out: list[tuple[float | None, float | None]] = []
    for c in thresholds:
        below = scores[scores < c - _TOLERANCE]
        above = scores[scores >= c - _TOLERANCE]
        out.append(
            (float(below[-1]) if below.size else None, float(above[0]) if above.size else None)
        )
    return tuple(out)


def _check(
    rule_tier: FloatArray, panel_tier: FloatArray, n_tiers: int
) -> tuple[TierAgreement, IntArray]:
    """The agreement of ``rule_tier`` with ``panel_tier``, and their confusion table."""
    kappa, accuracy, confusion = _kappa_and_accuracy(rule_tier, panel_tier, n_tiers)
    return TierAgreement(kappa, accuracy), confusion


@dataclass(frozen=True)
class _Agreement:
    """The fitted thresholds and how well they and the initial ones agree with the panel:
    in sample (``initial_check``, ``fitted_check``) and refitted without each item in turn
    (``loo_check``); ``confusion`` is the fitted rule's tiers against the panel's."""

    fitted: FloatArray
    n_items_fitted: int
    initial_check: TierAgreement = field(default_factory=TierAgreement)
    fitted_check: TierAgreement = field(default_factory=TierAgreement)
    loo_check: TierAgreement = field(default_factory=TierAgreement)
    confusion: IntArray | None = None
    reasons: dict[str, str] = field(default_factory=dict)
    # False when the panel's tiers place no threshold (the declared ones are kept).
    identified: bool = True


def _agreement(panel: _Panel, rule: _Rule, score: FloatArray, panel_tier: FloatArray) -> _Agreement:
    use = ~np.isnan(score) & ~np.isnan(panel_tier)
    n_used = int(use.sum())
    if panel.tier_cells is None:
        reasons = dict.fromkeys((*_AGREEMENT, *_LOO, "confusion"), NO_HOLISTIC)
        reasons["fitted_thresholds"] = f"{NO_HOLISTIC}: the initial thresholds are kept"
        return _Agreement(fitted=rule.initial, n_items_fitted=n_used, reasons=reasons)
    fitted = _fit(score, panel_tier, rule)
    if fitted is None and n_used:
        return _not_identified(score, panel_tier, use, rule)
    if fitted is None:  # no item has both a score and a panel tier
        reason = "no item has both a score on every rule dimension and a panel tier"
        reasons = dict.fromkeys((*_AGREEMENT, *_LOO), reason)
        reasons["fitted_thresholds"] = f"{reason}: the initial thresholds are kept"
        confusion = np.zeros((rule.n_tiers, rule.n_tiers), dtype=np.int64)
        return _Agreement(
            fitted=rule.initial,
            n_items_fitted=n_used,
            confusion=confusion,
            reasons=reasons,
            identified=False,
        )
    y = panel_tier[use]
    initial, _ = _check(_assign(score[use], rule.initial), y, rule.n_tiers)
    checked, confusion = _check(_assign(score[use], fitted), y, rule.n_tiers)
    reasons = {}
    undefined = "0/0: the rule and the panel put every item in one and the same tier"
    if initial.kappa is None:
        reasons["kappa_initial"] = undefined
    if checked.kappa is None:
        reasons["kappa_fitted"] = undefined
    loo_kappa, loo_accuracy, loo_reason = _leave_one_out(score, panel_tier, use, rule)
    if loo_reason:
        reasons["loo_kappa"] = reasons["loo_accuracy"] = loo_reason
    elif loo_kappa is None:
        reasons["loo_kappa"] = "0/0: predictions and panel put every item in one same tier"
    return _Agreement(
        fitted=fitted,
        n_items_fitted=n_used,
        initial_check=initial,
        fitted_check=checked,
        loo_check=TierAgreement(loo_kappa, loo_accuracy),
        confusion=confusion,
        reasons=reasons,
    )


def _not_identified(
    score: FloatArray, panel_tier: FloatArray, use: BoolArray, rule: _Rule
) -> _Agreement:
    """Every fitted item in one panel tier: the declared rule is checked, nothing is fitted."""
    tier = rule.names[int(panel_tier[use][0])]
    reason = (
        f"not identified: the panel puts every item with a score in {tier}, so the data "
        "place no threshold between tiers"
    )
    initial, confusion = _check(_assign(score[use], rule.initial), panel_tier[use], rule.n_tiers)
    reasons = dict.fromkeys(("kappa_fitted", "accuracy_fitted", *_LOO), reason)
    reasons["fitted_thresholds"] = f"{reason}: the initial thresholds are kept"
    if initial.kappa is None:
        reasons["kappa_initial"] = "0/0: the rule and the panel put every item in one tier"
    return _Agreement(
        fitted=rule.initial,
        n_items_fitted=int(use.sum()),
        initial_check=initial,
        confusion=confusion,
        reasons=reasons,
        identified=False,
    )


def _calibrated_items(
    panel: _Panel,
    *,
    per_dimension: FloatArray,
    score: FloatArray,
    rule_tier: FloatArray,
    panel_tier: FloatArray,
    probabilities: TierProbabilities,
) -> tuple[CalibratedItem, ...]:
    items = []
    for index, item in enumerate(panel.items):
        tier, modal_share, borderline = probabilities.modal(index)
        scores: dict[Hashable, float | None] = {
            d: _number(s) for d, s in zip(panel.dimensions, per_dimension[:, index], strict=True)
        }
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
                scores=scores,
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
    return tuple(items)


def _settings(
    panel: _Panel,
    rule: _Rule,
    resampling: _Resampling,
    probabilities: TierProbabilities,
    weights: CaseWeights | None,
) -> dict[str, object]:
    return {
        "weights": _weights_settings(panel, weights),
        "dimensions": [label(d) for d in panel.dimensions],
        "aggregate": rule.aggregate,
        "center": rule.center,
        "tier_dimension": label(rule.tier_dimension),
        "scale": list(rule.scale),
        "n_bootstrap": resampling.n_bootstrap,
        "seed": resampling.seed,
        "refit": probabilities.refit,
        "predictive": probabilities.predictive,
        "probability": probabilities.estimand,
        "borderline_share": resampling.borderline_share,
        "objective": "quadratic-weighted kappa (Cohen 1968)",
        "panel_tier": HOLISTIC_CONSENSUS,
        "candidates": CANDIDATES,
        "tie_break": TIE_BREAK,
    }


def _weights_settings(panel: _Panel, weights: CaseWeights | None) -> dict[str, object]:
    """What the experts' weights were: their name, how many carry weight, Kish's effective
    number of experts, each expert's weight (divided by the largest) and the estimator."""
    if weights is None or panel.expert_weights is None:
        return {"name": "equal", "estimator": "every rating counts once"}
    experts = panel.expert_weights
    return {
        "name": weights.name,
        "experts_with_weight": int(panel.weighted.size),
        "effective_experts": _effective_experts(experts),
        "experts": {str(label(r)): float(w) for r, w in zip(panel.raters, experts, strict=True)},
        "rating_weights": weights.column,
        "estimator": WEIGHTED_ESTIMATOR,
    }


def _leave_one_out(
    score: FloatArray, panel_tier: FloatArray, use: BoolArray, rule: _Rule
) -> tuple[float | None, float | None, str | None]:
    indices = np.flatnonzero(use)
    if indices.size < 2:
        return None, None, "leave-one-out needs at least 2 items with a score and a panel tier"
    predicted = np.empty(indices.size)
    # Leaving out either of two items with the same score and panel tier leaves the same
    # data, so one refit serves both.
    done: dict[tuple[float, float], np.float64] = {}
    for position, index in enumerate(indices):
        key = (float(score[index]), float(panel_tier[index]))
        if key not in done:
            kept = score.copy()
            kept[index] = np.nan
            thresholds = _fit(kept, panel_tier, rule)
            if thresholds is None:
                return (
                    None,
                    None,
                    (
                        "not identified: without one of the items the others lie in one panel "
                        "tier, so the refit places no threshold"
                    ),
                )
            done[key] = _assign(score[index : index + 1], thresholds)[0]
        predicted[position] = done[key]
    kappa, accuracy, _ = _kappa_and_accuracy(predicted, panel_tier[indices], rule.n_tiers)
    return kappa, accuracy, None


def _number(value: np.float64) -> float | None:
    return float(value) if np.isfinite(value) else None


def _integer(value: np.float64) -> int | None:
    return int(value) if np.isfinite(value) else None
