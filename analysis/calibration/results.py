"""Result types of the calibration: one item, the tier probabilities, the whole fit."""

from __future__ import annotations

from collections.abc import Hashable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from analysis.calibration.rule import _TOLERANCE
from analysis.results import Record, json_object, label

__all__ = [
    "BORDERLINE_SHARE",
    "ESTIMAND",
    "PLUG_IN",
    "CalibratedItem",
    "Calibration",
    "TierAgreement",
    "TierProbabilities",
]

BORDERLINE_SHARE = 0.8
#: What an item's tier probabilities estimate (``predictive=True``, the default).
ESTIMAND = (
    "P(tier t) is the probability that a fresh panel of as many experts from the same "
    "population, rating the same items and analysed the same way (consensus scores, panel "
    "tiers, thresholds refitted), puts the item in tier t: estimated by the bootstrap "
    "predictive distribution (each replicate resamples the experts, then resamples that "
    "resample, and refits)"
)
#: What they estimate with ``predictive=False``.
PLUG_IN = (
    "P(tier t) is the share of resamples of the observed panel's experts that put the item "
    "in tier t (plug-in: how stable the tier is under resampling of this panel; it "
    "overstates how often a fresh panel would agree)"
)


@dataclass(frozen=True)
class CalibratedItem(Record):
    """One item: its consensus scores, its tier by the rule and by the panel, and how sure.

    Tiers are 0-based positions. ``probabilities`` is, per tier, the probability that a
    fresh panel would place the item there (see :func:`tier_probabilities`; None without a
    bootstrap, when the panel is too small or places no threshold, or when the item's
    score is undefined in every replicate).
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


@dataclass(frozen=True)
class TierProbabilities:
    """Per item, the probability that a fresh panel puts it in each tier.

    ``predictive`` False: the plug-in shares of single resamples of the observed panel
    instead (see :func:`tier_probabilities`).
    """

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
    predictive: bool = True
    #: What a reader must know before trusting probabilities that are defined.
    warnings: tuple[str, ...] = ()

    @property
    def estimand(self) -> str:
        """What the probabilities estimate, in words."""
        return ESTIMAND if self.predictive else PLUG_IN

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
        return json_object(
            {
                "tiers": list(self.tiers),
                "n_bootstrap": self.n_bootstrap,
                "seed": self.seed,
                "refit": self.refit,
                "predictive": self.predictive,
                "estimand": self.estimand,
                "borderline_share": self.borderline_share,
                "thresholds": list(self.thresholds),
                "items": items,
                "reasons": dict(self.reasons),
                "warnings": list(self.warnings),
            }
        )


@dataclass(frozen=True)
class TierAgreement:
    """How well one way of assigning tiers (declared thresholds, fitted thresholds, or
    leave-one-item-out refits) agrees with the panel's consensus holistic tiers, over the
    items having both a score and a panel tier.

    ``kappa`` is Cohen's kappa with quadratic weights (:func:`quadratic_weighted_kappa`:
    a disagreement of d tiers costs d^2), ``accuracy`` the share of items the rule puts in
    the panel's own tier. None: undefined (0/0, or nothing identified) or not checked; the
    calibration's ``reasons`` say why.
    """

    kappa: float | None = None
    accuracy: float | None = None


@dataclass(frozen=True)
class Calibration:
    """Fitted tier thresholds with their agreement, out-of-sample check and uncertainty.

    The agreement of the rule's tiers with the panel's (:class:`TierAgreement`) is checked
    three times: ``initial_agreement`` with the declared thresholds, ``fitted_agreement``
    with the fitted ones, both in sample, and ``loo_agreement`` refitting without each
    item in turn and predicting it (leave-one-item-out). ``to_dict`` flattens them to
    ``kappa_initial``, ``kappa_fitted``, ``accuracy_initial``, ``accuracy_fitted``,
    ``loo_kappa`` and ``loo_accuracy``, the keys ``reasons`` also uses. ``confusion``
    counts items by rule tier (rows) and panel tier (columns) under the fitted
    thresholds. ``None`` fields have their reason in ``reasons``; ``warnings`` says what a
    reader must know before trusting figures that are defined (tier probabilities from a
    small panel).

    ``threshold_intervals``: what the data identify of each fitted threshold. Every value
    in (lower, upper] puts every scored item in the same tier as the fitted one (which is
    only a representative: see ``CANDIDATES``); ``lower`` is the highest item score below
    the threshold and ``upper`` the lowest at or above it (None: no item score on that
    side). None without holistic tiers, where nothing is fitted.
    """

    dimensions: tuple[Hashable, ...]
    tiers: tuple[str, ...]
    initial_thresholds: tuple[float, ...]
    initial_agreement: TierAgreement
    fitted_thresholds: tuple[float, ...]
    fitted_agreement: TierAgreement
    loo_agreement: TierAgreement
    confusion: tuple[tuple[int, ...], ...] | None
    items: tuple[CalibratedItem, ...]
    n_items_fitted: int
    n_raters: int
    settings: Mapping[str, object]
    reasons: Mapping[str, str] = field(default_factory=dict)
    threshold_intervals: tuple[tuple[float | None, float | None], ...] | None = None
    warnings: tuple[str, ...] = ()

    @property
    def has_holistic_tiers(self) -> bool:
        return self.confusion is not None

    def to_dict(self) -> dict[str, Any]:
        names = self.tiers[1:]
        return json_object(
            {
                "dimensions": [label(d) for d in self.dimensions],
                "tiers": list(self.tiers),
                "initial_thresholds": list(self.initial_thresholds),
                "fitted_thresholds": list(self.fitted_thresholds),
                "fitted_threshold_intervals": None
                if self.threshold_intervals is None
                else [list(pair) for pair in self.threshold_intervals],
                "thresholds_by_tier": {
                    "initial": dict(zip(names, self.initial_thresholds, strict=True)),
                    "fitted": dict(zip(names, self.fitted_thresholds, strict=True)),
                },
                "kappa_initial": self.initial_agreement.kappa,
                "kappa_fitted": self.fitted_agreement.kappa,
                "accuracy_initial": self.initial_agreement.accuracy,
                "accuracy_fitted": self.fitted_agreement.accuracy,
                "loo_kappa": self.loo_agreement.kappa,
                "loo_accuracy": self.loo_agreement.accuracy,
                "confusion": None if self.confusion is None else [list(r) for r in self.confusion],
                "confusion_axes": {"rows": "rule tier", "columns": "panel tier"},
                "n_items": len(self.items),
                "n_items_fitted": self.n_items_fitted,
                "n_raters": self.n_raters,
                "items": [item.to_dict() for item in self.items],
                "settings": dict(self.settings),
                "reasons": dict(self.reasons),
                "warnings": list(self.warnings),
            }
        )
