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

The modules, by what changes together: :mod:`~analysis.calibration.rule` (the rule and its
parameters), :mod:`~analysis.calibration.kappa`, :mod:`~analysis.calibration.panel`
(consensus scores of the panel and of resamples), :mod:`~analysis.calibration.search`
(the exhaustive threshold search), :mod:`~analysis.calibration.bootstrap` (tier
probabilities), :mod:`~analysis.calibration.weights` (how much each expert counts),
:mod:`~analysis.calibration.fit` and :mod:`~analysis.calibration.results`.
"""

from analysis.calibration.bootstrap import FEW_EXPERTS, Resampling, tier_probabilities
from analysis.calibration.fit import HOLISTIC_CONSENSUS, fit_thresholds
from analysis.calibration.kappa import quadratic_weighted_kappa
from analysis.calibration.panel import consensus_scores
from analysis.calibration.results import (
    BORDERLINE_SHARE,
    CalibratedItem,
    Calibration,
    TierAgreement,
    TierProbabilities,
)
from analysis.calibration.rule import AGGREGATES, CENTERS, TierRule, apply_rule
from analysis.calibration.search import TIE_BREAK
from analysis.calibration.weights import WEIGHTED_ESTIMATOR, CaseWeights

__all__ = [
    "AGGREGATES",
    "BORDERLINE_SHARE",
    "CENTERS",
    "FEW_EXPERTS",
    "HOLISTIC_CONSENSUS",
    "TIE_BREAK",
    "WEIGHTED_ESTIMATOR",
    "CalibratedItem",
    "Calibration",
    "CaseWeights",
    "Resampling",
    "TierAgreement",
    "TierProbabilities",
    "TierRule",
    "apply_rule",
    "consensus_scores",
    "fit_thresholds",
    "quadratic_weighted_kappa",
    "tier_probabilities",
]
