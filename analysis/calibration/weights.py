"""Case weights of the experts (and of single ratings) in the calibration."""

from __future__ import annotations

import math
from collections.abc import Hashable, Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from analysis._types import FloatArray, IntArray, LabelArray

__all__ = ["WEIGHTED_ESTIMATOR", "CaseWeights"]

WEIGHTED_ESTIMATOR = (
    "each rating counts with its expert's weight (times its own weight, if any) as a case "
    "weight in the panel's consensus: the weighted median minimises the weighted sum of "
    "absolute deviations (the midpoint where several values do), the weighted mean the "
    "weighted sum of squares; weights are divided by the largest, so equal weights are "
    "all 1 and give the unweighted fit; the bootstrap resamples the experts with positive "
    "weight, each keeping its weight (weights are held fixed, not re-estimated)"
)


@dataclass(frozen=True)
class CaseWeights:
    """How much each expert's judgement counts in the calibration.

    Parameters
    ----------
    experts : mapping rater -> weight, optional
        A weight >= 0 for every rater in the ratings (None: every expert 1). An expert
        with weight 0 moves nothing: not the consensus, not the bootstrap.
    column : str, optional
        A column of the ratings holding a weight >= 0 per rating, multiplied with the
        expert's (None: every rating 1); for sensitivity analyses such as weighting by
        stated confidence.
    name : str
        What the weights are, as the results report it.
    """

    experts: Mapping[Hashable, float] | None = None
    column: str | None = None
    name: str = "equal"


def _check_weight(value: object, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float | np.integer | np.floating):
        raise ValueError(f"weights: {what} must be a number >= 0, not {value!r}")
    number = float(value)
    if not math.isfinite(number) or number < 0:
        raise ValueError(f"weights: {what} must be a finite number >= 0, not {value!r}")
    return number


def _expert_weights(weights: CaseWeights, raters: LabelArray) -> FloatArray:
    """Each rater's weight (by rater code), checked: every rater weighted, one positive."""
    if weights.experts is None:
        return np.ones(raters.size)
    if not isinstance(weights.experts, Mapping):
        raise ValueError(
            f"weights.experts must map each rater to a weight, not {type(weights.experts)}"
        )
    out = np.empty(raters.size)
    for code, rater in enumerate(raters):
        if rater not in weights.experts:
            raise ValueError(f"weights.experts has no weight for rater {rater!r}")
        out[code] = _check_weight(weights.experts[rater], f"the weight of rater {rater!r}")
    return out


def _rating_weights(weights: CaseWeights, frame: pd.DataFrame) -> FloatArray | None:
    """Each row's own weight from ``weights.column`` (None: no column named)."""
    if weights.column is None:
        return None
    if weights.column not in frame.columns:
        raise ValueError(f"weights.column: the ratings have no column {weights.column!r}")
    values = pd.to_numeric(frame[weights.column], errors="coerce").to_numpy(dtype=float)
    bad = ~np.isfinite(values) | (values < 0)
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        raise ValueError(
            f"weights.column {weights.column!r} has {frame[weights.column].iloc[row]!r} in "
            f"row {row}; expected a finite number >= 0"
        )
    return values


def _case_weights(
    weights: CaseWeights | None, frame: pd.DataFrame, rater_code: IntArray, raters: LabelArray
) -> tuple[FloatArray | None, FloatArray]:
    """(each row's case weight, or None when every one is 1; each rater's weight), both
    divided by the largest so that equal weights are exactly 1."""
    if weights is None:
        return None, np.ones(raters.size)
    if not isinstance(weights, CaseWeights):
        raise ValueError(f"weights must be CaseWeights, not {type(weights).__name__}")
    experts = _expert_weights(weights, raters)
    own = _rating_weights(weights, frame)
    case = experts[rater_code] if own is None else experts[rater_code] * own
    valued = frame["value"].notna().to_numpy()
    largest = float(case[valued].max()) if valued.any() else 0.0
    if largest <= 0:
        raise ValueError("weights: every rating has weight 0, so nothing can be calibrated")
    top = float(experts.max())
    return case / largest, experts / top


def _effective_experts(experts: FloatArray) -> float:
    """Kish's effective number of experts, (sum w)^2 / sum w^2 (n for equal weights)."""
    total = float(experts.sum())
    return total * total / float((experts * experts).sum())
