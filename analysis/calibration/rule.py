"""The tier rule: how consensus scores aggregate and which tier a score reaches."""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from analysis._types import FloatArray

__all__ = ["AGGREGATES", "CENTERS", "TierRule", "apply_rule"]

AGGREGATES = ("max", "min", "mean")
CENTERS = ("median", "mean")
# Scores closer than this count as equal, and a score this close to a threshold reaches it.
_TOLERANCE = 1e-9


@dataclass(frozen=True)
class TierRule:
    """A tier rule as a survey declares it: what :func:`~analysis.calibration.fit_thresholds`
    fits and :func:`~analysis.calibration.tier_probabilities` resamples.

    Parameters
    ----------
    dimensions : sequence of labels
        The rule dimensions.
    aggregate : {"max", "min", "mean"}
        How the consensus scores of the rule dimensions combine into the item's score.
    n_tiers : int
        Number of tiers K + 1 (at least 2).
    initial_thresholds : sequence of float
        The declared thresholds c_1 < ... < c_K (K = n_tiers - 1).
    scale : (float, float), optional
        Minimum and maximum of the rule dimensions' scale (default: the smallest and
        largest value given). Values outside raise ValueError.
    tier_dimension : label
        Dimension of the holistic tier judgements.
    center : {"median", "mean"}
        Consensus score of an item on a dimension: the panel median (default) or mean
        of the non-missing values.
    tier_names : sequence of str, optional
        Names of the tiers, lowest first (default: "0", "1", ...).

    Notes
    -----
    The fields are checked against the ratings when the rule is used (a ValueError names
    the field), since whether the dimensions exist and the scale holds every value
    depends on the ratings.

    Examples
    --------
    >>> TierRule(dimensions=["misuse"], aggregate="max", n_tiers=2, initial_thresholds=[3.0])
    TierRule(dimensions=['misuse'], aggregate='max', n_tiers=2, initial_thresholds=[3.0], \
scale=None, tier_dimension='tier', center='median', tier_names=None)
    """

    dimensions: Sequence[Hashable]
    aggregate: str
    n_tiers: int
    initial_thresholds: Sequence[float]
    scale: tuple[float, float] | None = None
    tier_dimension: Hashable = "tier"
    center: str = "median"
    tier_names: Sequence[str] | None = None


def _check_thresholds(thresholds: object, name: str) -> FloatArray:
    try:
        values = np.asarray(thresholds, dtype=float)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a sequence of numbers, not {thresholds!r}") from None
    if values.ndim != 1 or values.size < 1:
        raise ValueError(f"{name} must be a non-empty sequence of numbers, not {thresholds!r}")
    if not np.isfinite(values).all():
        raise ValueError(f"{name} must be finite, not {thresholds!r}")
    if (np.diff(values) <= 0).any():
        raise ValueError(f"{name} must be strictly increasing, not {values.tolist()}")
    return values


def _check_aggregate(aggregate: str) -> str:
    if aggregate not in AGGREGATES:
        raise ValueError(f"aggregate must be one of {', '.join(AGGREGATES)}, not {aggregate!r}")
    return aggregate


def _aggregate(values: FloatArray, aggregate: str) -> FloatArray:
    """Aggregate over the first axis (dimensions); NaN if any dimension is NaN."""
    combined: FloatArray
    if aggregate == "max":
        combined = np.max(values, axis=0)
    elif aggregate == "min":
        combined = np.min(values, axis=0)
    else:
        combined = np.mean(values, axis=0)
    return combined


def _assign(score: FloatArray, thresholds: FloatArray) -> FloatArray:
    """Tier positions (float, NaN where the score is NaN)."""
    reached = score[..., None] >= thresholds - _TOLERANCE
    tiers = reached.sum(axis=-1).astype(float)
    return np.where(np.isnan(score), np.nan, tiers)


def apply_rule(
    scores: pd.DataFrame,
    *,
    dimensions: Sequence[Hashable],
    aggregate: str,
    thresholds: Sequence[float],
) -> pd.Series:
    """Tier of each item by the tier rule: the highest k with score >= c_k, else tier 0.

    Parameters
    ----------
    scores : pandas.DataFrame
        One row per item (the index) and one column per dimension, holding the consensus
        scores (for example from :func:`consensus_scores`).
    dimensions : sequence of labels
        The rule dimensions (columns of ``scores``).
    aggregate : {"max", "min", "mean"}
        How the dimension scores combine into the item's score.
    thresholds : sequence of float
        c_1 < ... < c_K, the lowest score of tiers 1..K.

    Returns
    -------
    pandas.Series
        Tier positions (0 = lowest tier) as pandas' nullable ``Int64``, indexed like
        ``scores``; ``<NA>`` where a rule dimension has no score.

    Notes
    -----
    A score equal to a threshold reaches it (goes to the higher tier); scores within
    1e-9 of a threshold count as equal, so that e.g. a mean of 2.5 computed as
    2.4999999999999996 still reaches 2.5.

    References
    ----------
    Thurnherr, L. (2025). Which information should the UK and US AISI share with an
    International Network of AISIs? Opportunities, risks, and a tentative proposal.
    arXiv:2503.04741 (the No Brainer / Gray Area / High Trust tiers).

    Examples
    --------
    >>> scores = pd.DataFrame({"proprietary": [1, 3, 5], "misuse": [2, 2, 4.0]},
    ...                       index=["learnings", "methods", "weights"])
    >>> apply_rule(scores, dimensions=["proprietary", "misuse"], aggregate="max",
    ...            thresholds=[2.5, 4.0]).tolist()
    [0, 1, 2]
    """
    if not isinstance(scores, pd.DataFrame):
        raise ValueError(f"scores must be a pandas DataFrame, not {type(scores).__name__}")
    dimensions = _check_dimensions(dimensions)
    missing = [d for d in dimensions if d not in scores.columns]
    if missing:
        raise ValueError(f"dimensions: {missing[0]!r} is not a column of scores")
    _check_aggregate(aggregate)
    cuts = _check_thresholds(thresholds, "thresholds")
    try:
        values = scores[list(dimensions)].to_numpy(dtype=float).T
    except (TypeError, ValueError):
        raise ValueError("scores must hold numbers in the rule dimensions") from None
    if np.isinf(values).any():
        raise ValueError("scores must be finite or NaN")
    tiers = _assign(_aggregate(values, aggregate), cuts)
    result = pd.Series(tiers, index=scores.index, name="tier")
    return result.astype("Int64")


def _check_dimensions(dimensions: object) -> tuple[Hashable, ...]:
    if isinstance(dimensions, str) or not isinstance(dimensions, Sequence | np.ndarray):
        raise ValueError(f"dimensions must be a sequence of dimension labels, not {dimensions!r}")
    result = tuple(dimensions)
    if not result:
        raise ValueError("dimensions must name at least one dimension")
    if len(set(result)) != len(result):
        raise ValueError(f"dimensions must not repeat a label: {list(result)}")
    return result


def _check_names(tier_names: object, n_tiers: int) -> tuple[str, ...]:
    if tier_names is None:
        return tuple(str(position) for position in range(n_tiers))
    if isinstance(tier_names, str) or not isinstance(tier_names, Sequence):
        raise ValueError(f"tier_names must be a sequence of names, not {tier_names!r}")
    names = tuple(str(name) for name in tier_names)
    if len(names) != n_tiers or len(set(names)) != n_tiers:
        raise ValueError(f"tier_names must hold n_tiers = {n_tiers} distinct names, not {names}")
    return names
