"""Tier probabilities: what a fresh panel would do, by the cluster bootstrap over experts."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from analysis._checks import check_bootstrap, make_generator
from analysis._types import FloatArray, IntArray
from analysis.calibration.panel import _full_panel, _Panel, _prepare, _Rule
from analysis.calibration.results import (
    BORDERLINE_SHARE,
    ESTIMAND,
    PLUG_IN,
    TierProbabilities,
)
from analysis.calibration.rule import TierRule, _assign
from analysis.calibration.search import _fit
from analysis.calibration.weights import CaseWeights, _effective_experts
from analysis.results import label

__all__ = [
    "ESTIMAND",
    "FEW_EXPERTS",
    "MIN_EXPERTS",
    "NO_HOLISTIC",
    "PLUG_IN",
    "Resampling",
    "tier_probabilities",
]

NO_HOLISTIC = "no holistic tiers"
#: The cluster bootstrap over experts needs at least this many: with one, every resample
#: is the same panel and each item's modal share would be 1 (certainty from no evidence).
MIN_EXPERTS = 2
#: Below this many experts the probabilities come with a warning: in the simulation of
#: ``bench/calibration.py --reliability`` they were calibrated against fresh panels from
#: 10 experts up (the smallest shipped panel) and overconfident below (at 7 experts by up
#: to 6 points, at 5 by up to 14, at 3 by 22: few experts often agree by chance, and a
#: resample cannot show disagreement the panel has not shown).
FEW_EXPERTS = 10


@dataclass(frozen=True)
class Resampling:
    """How the panel of experts is resampled for the tier probabilities.

    Parameters
    ----------
    n_bootstrap : int
        Number of resamples of the experts (0: no tier probabilities).
    seed : int or numpy.random.Generator, optional
        Source of randomness (an int gives the same resamples on every call).
    refit : bool
        Refit the thresholds in each resample (when holistic tiers exist); otherwise the
        thresholds stay fixed at the full-panel fit (or the initial thresholds without
        holistic tiers).
    borderline_share : float
        An item whose modal tier has a smaller probability is borderline.
    predictive : bool
        Estimate the probability of each tier for a fresh panel (:data:`ESTIMAND`, the
        default); ``False`` gives the plug-in shares of single resamples of the observed
        panel (:data:`PLUG_IN`), which are overconfident for a fresh panel.
    """

    n_bootstrap: int = 1000
    seed: int | np.random.Generator | None = None
    refit: bool = True
    borderline_share: float = BORDERLINE_SHARE
    predictive: bool = True

    def checked(self) -> _Resampling:
        """The settings validated, with a fresh ``rng`` from ``seed``."""
        return _check_resampling(
            self.n_bootstrap, self.seed, self.refit, self.borderline_share, self.predictive
        )


@dataclass(frozen=True)
class _Resampling:
    """The bootstrap's checked settings."""

    n_bootstrap: int
    rng: np.random.Generator
    seed: int | None  # as the results report it (None for a Generator)
    refit: bool
    borderline_share: float
    predictive: bool = True


def _check_resampling(
    n_bootstrap: object, seed: object, refit: object, borderline_share: object, predictive: object
) -> _Resampling:
    return _Resampling(
        n_bootstrap=check_bootstrap(n_bootstrap),
        rng=make_generator(seed, "seed"),
        seed=int(seed) if isinstance(seed, int | np.integer) else None,
        refit=bool(refit),
        borderline_share=_check_share(borderline_share),
        predictive=bool(predictive),
    )


def _check_share(borderline_share: object) -> float:
    if isinstance(borderline_share, bool) or not isinstance(borderline_share, int | float):
        raise ValueError(f"borderline_share must be a number in (0, 1], not {borderline_share!r}")
    if not 0 < borderline_share <= 1:
        raise ValueError(f"borderline_share must be a number in (0, 1], not {borderline_share!r}")
    return float(borderline_share)


def _resample_weights(
    rng: np.random.Generator,
    n_bootstrap: int,
    n_raters: int,
    *,
    predictive: bool = False,
    pool: IntArray | None = None,
) -> FloatArray:
    """(B, raters) how often each expert is drawn in each resample.

    ``predictive``: each row is a resample of a resample (n experts drawn from the n
    drawn from the panel): a fresh panel from a population drawn as the data allow.
    ``pool``: the codes of the experts drawn from (the ones with positive weight; None:
    all), n being their number; the others are never drawn.
    """
    size = n_raters if pool is None else pool.size
    drawn = rng.integers(0, size, size=(n_bootstrap, size))
    if predictive:
        again = rng.integers(0, size, size=(n_bootstrap, size))
        drawn = np.take_along_axis(drawn, again, axis=1)
    if pool is not None:
        drawn = pool[drawn]
    drawn += np.arange(n_bootstrap)[:, None] * n_raters
    weights = np.bincount(drawn.ravel(), minlength=n_bootstrap * n_raters)
    return weights.reshape(n_bootstrap, n_raters).astype(float)


def _bootstrap_counts(
    panel: _Panel, rule: _Rule, thresholds: FloatArray, resampling: _Resampling
) -> tuple[IntArray, IntArray]:
    """(items, tiers) resample counts per tier and (items,) resamples with a tier."""
    n_items, n_raters = panel.items.size, panel.raters.size
    counts = np.zeros((n_items, rule.n_tiers), dtype=np.int64)
    n_bootstrap = resampling.n_bootstrap
    if n_bootstrap == 0:
        return counts, np.zeros(n_items, dtype=np.int64)
    pool = None if panel.expert_weights is None else panel.weighted
    weights = _resample_weights(
        resampling.rng, n_bootstrap, n_raters, predictive=resampling.predictive, pool=pool
    )
    _, scores = rule.scores(panel, weights)
    panel_tiers = panel.panel_tiers(weights) if resampling.refit else None
    if panel_tiers is not None:
        tiers = np.empty_like(scores)
        for b in range(n_bootstrap):
            fitted = _fit(scores[b], panel_tiers[b], rule)
            # As fit_thresholds does for a panel that identifies no threshold.
            tiers[b] = _assign(scores[b], rule.initial if fitted is None else fitted)
    else:
        tiers = _assign(scores, thresholds)
    defined = ~np.isnan(tiers)
    item = np.broadcast_to(np.arange(n_items), tiers.shape)[defined]
    flat = item * rule.n_tiers + tiers[defined].astype(np.int64)
    counts += np.bincount(flat, minlength=n_items * rule.n_tiers).reshape(n_items, -1)
    return counts, defined.sum(axis=0)


def _probabilities(counts: IntArray, n_resamples: IntArray) -> tuple[tuple[float, ...] | None, ...]:
    rows: list[tuple[float, ...] | None] = []
    for row, n in zip(counts, n_resamples, strict=True):
        rows.append(None if n == 0 else tuple(float(c / n) for c in row))
    return tuple(rows)


def tier_probabilities(
    ratings: pd.DataFrame,
    rule: TierRule,
    resampling: Resampling = Resampling(),
    weights: CaseWeights | None = None,
) -> TierProbabilities:
    """The probability that a fresh panel would put each item in each tier.

    Parameters
    ----------
    ratings, rule
        The tidy ratings and the declared tier rule, as in
        :func:`~analysis.calibration.fit_thresholds`.
    resampling : Resampling
        How many replicates, their seed, whether thresholds are refitted in each, the
        probability below which an item is borderline, and whether the probabilities are
        predictive (the default) or plug-in.
    weights : CaseWeights, optional
        How much each expert counts (see :func:`~analysis.calibration.fit_thresholds`);
        the replicates draw from the experts with positive weight, each keeping its
        weight.

    Returns
    -------
    TierProbabilities

    Notes
    -----
    *Estimand* (:data:`ESTIMAND`). P(item i in tier t) is the probability that a fresh
    panel of as many experts, drawn from the population the observed experts come from,
    rating the same items, analysed the same way (consensus scores, panel tiers,
    thresholds refitted to them), places item i in tier t. The items are fixed: they are
    the survey's, not a sample; the thresholds are uncertain because they are fitted to
    the experts' holistic tiers, and they are refitted in every replicate.

    *Estimator.* The bootstrap predictive distribution (Harris 1989; Fushiki, Komaki &
    Aihara 2005) with the cluster bootstrap over experts: each replicate draws as many
    experts as the panel has from the panel, then as many again from that draw, and
    analyses the second draw (a drawn expert's ratings, holistic tiers included, count
    as often as the expert was drawn, so one expert's answers stay together). The first
    draw stands for the uncertainty about the population, the second for the fresh
    panel's own sampling. A single draw (``predictive=False``, :data:`PLUG_IN`) is the
    plug-in estimate: it treats the observed panel as the population, so it ignores that
    the observed panel is itself one draw, and the two panels disagree about twice as
    much as one panel differs from the population (for a mean, the variance of the
    difference is 2 sigma^2 / n). In seeded simulation at the shipped panel sizes the
    plug-in said 0.97 where fresh panels agreed 0.91 of the time; the predictive
    probabilities are within 3.5 points of the observed share in every bin of predicted
    probability holding more than 2% of the items (``bench/calibration.py
    --reliability``; the table is in ``analysis/README.md``).

    An item's probabilities are the shares of replicates per tier among those in which
    its score is defined (``n_resamples``); they sum to 1. The modal tier is the most
    probable (ties: the lowest). A replicate in which the panel tiers identify no
    threshold (every item with a score in one tier, or no item with both a score and a
    panel tier) uses the declared thresholds, as :func:`fit_thresholds` does for such a
    panel.

    *Small panels.* With fewer than :data:`FEW_EXPERTS` experts the probabilities carry a
    warning (``warnings``): in simulation they were overconfident there.

    *Undefined.* With fewer than :data:`MIN_EXPERTS` experts every replicate is the same
    panel, and when the panel's own holistic tiers identify no threshold nothing tells
    where a fresh panel's thresholds would lie: every probability is then None with the
    reason (in ``reasons["probabilities"]``). Without holistic tiers the thresholds stay
    as declared in every replicate and the probabilities are conditional on them.

    The medians of all replicates are computed at once: each item x dimension's values
    are sorted once, and a replicate's median is located from the cumulative counts of
    the drawn experts along that order.

    References
    ----------
    Harris, I. R. (1989). Predictive fit for natural exponential families. Biometrika,
    76(4), 675-684.
    Fushiki, T., Komaki, F., & Aihara, K. (2005). Nonparametric bootstrap prediction.
    Bernoulli, 11(2), 293-307.
    Davison, A. C., & Hinkley, D. V. (1997). Bootstrap Methods and their Application,
    section 3.8 (hierarchical data). Cambridge University Press.
    Field, C. A., & Welsh, A. H. (2007). Bootstrapping clustered data. Journal of the
    Royal Statistical Society B, 69(3), 369-390.

    Examples
    --------
    >>> frame = pd.DataFrame([(r, i, "d", v) for r in range(5)
    ...                       for i, v in (("low", 1.0), ("high", 5.0))],
    ...                      columns=["rater", "item", "dimension", "value"])
    >>> rule = TierRule(dimensions=["d"], aggregate="max", n_tiers=2, initial_thresholds=[3.0])
    >>> result = tier_probabilities(frame, rule, Resampling(n_bootstrap=50, seed=1))
    >>> result.to_dict()["items"][0]["probabilities"], result.modal(0)
    ([0.0, 1.0], (1, 1.0, False))
    """
    panel, checked = _prepare(ratings, rule, weights)
    _, score, panel_tier = _full_panel(panel, checked)
    fitted = _fit(score, panel_tier, checked)
    thresholds = checked.initial if fitted is None else fitted
    identified = fitted is not None or panel.tier_cells is None
    return _tier_probabilities(
        panel, checked, thresholds, resampling.checked(), identified=identified
    )


def _tier_probabilities(
    panel: _Panel,
    rule: _Rule,
    thresholds: FloatArray,
    resampling: _Resampling,
    *,
    identified: bool = True,
) -> TierProbabilities:
    """``identified``: whether the full panel's tiers place the thresholds (trivially so
    without holistic tiers, where they are declared)."""
    n_bootstrap, refit = resampling.n_bootstrap, resampling.refit
    reason = _undefined(panel, n_bootstrap, identified=identified or not refit)
    if reason is None:
        counts, n_resamples = _bootstrap_counts(panel, rule, thresholds, resampling)
    else:
        counts = np.zeros((panel.items.size, rule.n_tiers), dtype=np.int64)
        n_resamples = np.zeros(panel.items.size, dtype=np.int64)
    reasons = {} if reason is None else {"probabilities": reason}
    warnings: tuple[str, ...] = ()
    warnings = _warnings(panel) if reason is None else ()
    if panel.tier_cells is None and refit and n_bootstrap:
        reasons["refit"] = f"{NO_HOLISTIC}: thresholds stay as declared in every resample"
    missing = [label(item) for item, n in zip(panel.items, n_resamples, strict=True) if n == 0]
    if reason is None and missing:
        reasons["items"] = f"no score in any resample for: {', '.join(map(str, missing))}"
    return TierProbabilities(
        tiers=rule.names,
        items=tuple(panel.items),
        probabilities=_probabilities(counts, n_resamples),
        n_resamples=tuple(int(n) for n in n_resamples),
        n_bootstrap=n_bootstrap,
        seed=resampling.seed,
        refit=refit and panel.tier_cells is not None,
        borderline_share=resampling.borderline_share,
        thresholds=tuple(float(t) for t in thresholds),
        reasons=reasons,
        predictive=resampling.predictive,
        warnings=warnings,
    )


def _warnings(panel: _Panel) -> tuple[str, ...]:
    """What a reader must know before trusting defined probabilities: a small panel (by
    Kish's effective number of experts when their weights differ)."""
    n = panel.weighted.size
    weights = panel.expert_weights
    effective = float(n) if weights is None else _effective_experts(weights)
    if effective >= FEW_EXPERTS - 1e-9:
        return ()
    if abs(effective - n) <= 1e-9:
        return (
            f"only {n} experts: the tier probabilities were calibrated "
            f"against fresh panels from {FEW_EXPERTS} experts up in simulation, and with "
            "fewer they overstate how often a fresh panel would agree (by up to 6 points at "
            "7 experts, 14 at 5); read them as upper bounds",
        )
    return (
        f"the weights leave an effective {effective:.1f} experts (Kish's (sum w)^2 / sum "
        f"w^2): the tier probabilities were calibrated against fresh panels from "
        f"{FEW_EXPERTS} equally weighted experts up in simulation, and with fewer they "
        "overstate how often a fresh panel would agree; read them as upper bounds",
    )


def _undefined(panel: _Panel, n_bootstrap: int, *, identified: bool) -> str | None:
    """Why there are no tier probabilities, or None."""
    if n_bootstrap == 0:
        return "no bootstrap requested (n_bootstrap = 0)"
    if panel.expert_weights is not None and panel.weighted.size < MIN_EXPERTS:
        return (
            f"{panel.weighted.size} expert(s) with positive weight: resampling the panel "
            f"needs at least {MIN_EXPERTS}, so there are no tier probabilities"
        )
    if panel.raters.size < MIN_EXPERTS:
        # Every resample of one expert is that expert: the shares would all be 1.
        return (
            f"{panel.raters.size} expert(s): resampling the panel needs at least "
            f"{MIN_EXPERTS} experts, so there are no tier probabilities"
        )
    if not identified:
        return (
            "not identified: the panel's holistic tiers place no threshold (every item with "
            "a score in one tier, or none with both a score and a tier), so nothing tells "
            "where a fresh panel's thresholds would lie and there are no tier probabilities"
        )
    return None
