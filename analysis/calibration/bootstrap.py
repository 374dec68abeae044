"""Tier probabilities: the cluster bootstrap over experts."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from analysis._checks import check_bootstrap, make_generator
from analysis._types import FloatArray, IntArray
from analysis.calibration.panel import _full_panel, _Panel, _prepare, _Rule
from analysis.calibration.results import BORDERLINE_SHARE, TierProbabilities
from analysis.calibration.rule import TierRule, _assign
from analysis.calibration.search import _fit
from analysis.results import label

__all__ = ["MIN_EXPERTS", "NO_HOLISTIC", "Resampling", "tier_probabilities"]

NO_HOLISTIC = "no holistic tiers"
#: The cluster bootstrap over experts needs at least this many: with one, every resample
#: is the same panel and each item's modal share would be 1 (certainty from no evidence).
MIN_EXPERTS = 2


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
        An item whose modal tier has a smaller share of the resamples is borderline.
    """

    n_bootstrap: int = 1000
    seed: int | np.random.Generator | None = None
    refit: bool = True
    borderline_share: float = BORDERLINE_SHARE

    def checked(self) -> _Resampling:
        """The settings validated, with a fresh generator from ``seed``."""
        return _check_resampling(self.n_bootstrap, self.seed, self.refit, self.borderline_share)


@dataclass(frozen=True)
class _Resampling:
    """The bootstrap's checked settings."""

    n_bootstrap: int
    generator: np.random.Generator
    seed: int | None  # as the results report it (None for a Generator)
    refit: bool
    borderline_share: float


def _check_resampling(
    n_bootstrap: object, seed: object, refit: object, borderline_share: object
) -> _Resampling:
    return _Resampling(
        n_bootstrap=check_bootstrap(n_bootstrap),
        generator=make_generator(seed, "seed"),
        seed=int(seed) if isinstance(seed, int | np.integer) else None,
        refit=bool(refit),
        borderline_share=_check_share(borderline_share),
    )


def _check_share(borderline_share: object) -> float:
    if isinstance(borderline_share, bool) or not isinstance(borderline_share, int | float):
        raise ValueError(f"borderline_share must be a number in (0, 1], not {borderline_share!r}")
    if not 0 < borderline_share <= 1:
        raise ValueError(f"borderline_share must be a number in (0, 1], not {borderline_share!r}")
    return float(borderline_share)


def _resample_weights(
    generator: np.random.Generator, n_bootstrap: int, n_raters: int
) -> FloatArray:
    """(B, raters) how often each expert is drawn in each resample."""
    drawn = generator.integers(0, n_raters, size=(n_bootstrap, n_raters))
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
    weights = _resample_weights(resampling.generator, n_bootstrap, n_raters)
    _, scores = rule.scores(panel, weights)
    panel_tiers = panel.panel_tiers(weights) if resampling.refit else None
    if panel_tiers is not None:
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


def _probabilities(counts: IntArray, n_resamples: IntArray) -> tuple[tuple[float, ...] | None, ...]:
    rows: list[tuple[float, ...] | None] = []
    for row, n in zip(counts, n_resamples, strict=True):
        rows.append(None if n == 0 else tuple(float(c / n) for c in row))
    return tuple(rows)


def tier_probabilities(
    ratings: pd.DataFrame, rule: TierRule, resampling: Resampling = Resampling()
) -> TierProbabilities:
    """How often each item lands in each tier when the panel of experts is resampled.

    Parameters
    ----------
    ratings : pandas.DataFrame
        Tidy ratings, as in :func:`~analysis.calibration.fit_thresholds`.
    rule : TierRule
        The declared tier rule.
    resampling : Resampling
        How many resamples, their seed, whether thresholds are refitted in each, and the
        share below which an item is borderline.

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
    panel tier, or in which the panel puts them all in one tier (no threshold
    identified), keeps the full-panel thresholds. With fewer than :data:`MIN_EXPERTS`
    experts every probability is None, with the reason.

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
    >>> rule = TierRule(dimensions=["d"], aggregate="max", n_tiers=2, initial_thresholds=[3.0])
    >>> result = tier_probabilities(frame, rule, Resampling(n_bootstrap=50, seed=1))
    >>> result.to_dict()["items"][0]["probabilities"], result.modal(0)
    ([0.0, 1.0], (1, 1.0, False))
    """
    panel, checked = _prepare(ratings, rule)
    _, score, panel_tier = _full_panel(panel, checked)
    fitted = _fit(score, panel_tier, checked)
    thresholds = checked.initial if fitted is None else fitted
    return _tier_probabilities(panel, checked, thresholds, resampling.checked())


def _tier_probabilities(
    panel: _Panel, rule: _Rule, thresholds: FloatArray, resampling: _Resampling
) -> TierProbabilities:
    counts, n_resamples = _bootstrap_counts(panel, rule, thresholds, resampling)
    n_bootstrap, refit = resampling.n_bootstrap, resampling.refit
    reasons = {}
    if n_bootstrap == 0:
        reasons["probabilities"] = "no bootstrap requested (n_bootstrap = 0)"
    elif panel.raters.size < MIN_EXPERTS:
        # Every resample of one expert is that expert: the shares would all be 1.
        reasons["probabilities"] = (
            f"{panel.raters.size} expert(s): resampling the panel needs at least "
            f"{MIN_EXPERTS} experts, so there are no tier probabilities"
        )
        counts = np.zeros_like(counts)
        n_resamples = np.zeros_like(n_resamples)
    elif panel.tier_cells is None and refit:
        reasons["refit"] = f"{NO_HOLISTIC}: thresholds stay as declared in every resample"
    missing = [label(item) for item, n in zip(panel.items, n_resamples, strict=True) if n == 0]
    if n_bootstrap and missing:
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
    )
