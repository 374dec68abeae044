"""The exhaustive search for the thresholds that maximise quadratic-weighted kappa."""

from __future__ import annotations

import itertools
import math
from fractions import Fraction
from functools import lru_cache

import numpy as np

from analysis._types import FloatArray, IntArray
from analysis.calibration.panel import _CHUNK_CELLS, _Rule
from analysis.calibration.rule import _TOLERANCE

__all__ = ["CANDIDATES", "TIE_BREAK"]

TIE_BREAK = (
    "among thresholds with the same maximal quadratic-weighted kappa: (1) the smallest sum "
    "of absolute distances to the initial thresholds, (2) then the lexicographically "
    "smallest thresholds"
)
CANDIDATES = (
    "every way of splitting the sorted distinct item scores into consecutive tiers "
    "(empty tiers allowed); a threshold inside the gap between two distinct scores sits at "
    "the midpoint (several thresholds in one gap: evenly spaced), below all scores at "
    "scale minimum - 0.5, above all scores at scale maximum + 0.5 (further ones 0.5 "
    "apart), unless the initial thresholds fall in those gaps, in which case they are kept"
)
# Distinct scores are merged when closer than this (so gaps between them dwarf _TOLERANCE).
_MERGE = 1e-6
# Beyond this many candidate splits the exhaustive search is refused.
_MAX_CANDIDATES = 20_000_000


@lru_cache(maxsize=64)
def _splits(m: int, k: int) -> IntArray:
    """All non-decreasing (p_1, ..., p_k) in 0..m: p = how many distinct scores lie below."""
    count = math.comb(m + k, k)
    if count > _MAX_CANDIDATES:
        raise ValueError(
            f"{m} distinct item scores and {k} thresholds give {count:,} candidate rules, "
            "too many for an exhaustive search; use center='median' or fewer tiers"
        )
    flat = np.fromiter(
        itertools.chain.from_iterable(itertools.combinations(range(m + k), k)),
        dtype=np.int64,
        count=count * k,
    )
    splits = flat.reshape(count, k) - np.arange(k)
    splits.flags.writeable = False
    return splits


def _distinct(score: FloatArray) -> tuple[FloatArray, FloatArray, IntArray]:
    """(lowest, highest, code): groups of scores closer than _MERGE, and each score's group."""
    order = np.argsort(score, kind="stable")
    ordered = score[order]
    new = np.ones(ordered.size, dtype=bool)
    new[1:] = np.diff(ordered) > _MERGE
    group = np.cumsum(new) - 1
    code = np.empty(score.size, dtype=np.int64)
    code[order] = group
    starts = np.flatnonzero(new)
    ends = np.append(starts[1:], ordered.size) - 1
    return ordered[starts], ordered[ends], code


def _placements(
    splits: IntArray,
    lowest: FloatArray,
    highest: FloatArray,
    initial: FloatArray,
    scale: tuple[float, float],
) -> FloatArray:
    """Threshold values representing each split (rows of ``splits``); see CANDIDATES."""
    m = lowest.size
    n_rows, k = splits.shape
    # Threshold j of a split with p_j = p lies in (highest[p - 1], lowest[p]].
    below = np.concatenate(([scale[0] - 1.0], highest))[splits]
    above = np.concatenate((lowest, [scale[1] + 1.0]))[splits]
    same = np.zeros((n_rows, k), dtype=bool)
    same[:, 1:] = splits[:, 1:] == splits[:, :-1]
    position = np.ones((n_rows, k))
    for j in range(1, k):
        position[:, j] = np.where(same[:, j], position[:, j - 1] + 1, 1)
    size = position.copy()
    for j in range(k - 2, -1, -1):
        size[:, j] = np.where(same[:, j + 1], size[:, j + 1], position[:, j])
    bottom, top = splits == 0, splits == m
    inside = (initial > below + _TOLERANCE) | bottom
    inside &= (initial <= above + _TOLERANCE) | top
    for j in range(1, k):
        inside[:, j] &= np.where(same[:, j], inside[:, j - 1], True)
    for j in range(k - 2, -1, -1):
        inside[:, j] = np.where(same[:, j + 1], inside[:, j + 1], inside[:, j])
    placed = below + (above - below) * position / (size + 1)
    placed = np.where(bottom, scale[0] - 0.5 * (size - position + 1), placed)
    placed = np.where(top, scale[1] + 0.5 * position, placed)
    return np.where(inside, initial, placed)


def _fit(score: FloatArray, panel: FloatArray, rule: _Rule) -> FloatArray | None:
    """Thresholds maximising quadratic kappa on the items having a score and a panel tier.

    None when no item has both, or when the panel puts them all in one tier: then no
    threshold is identified (any placement outside the scores fits perfectly).
    """
    use = ~np.isnan(score) & ~np.isnan(panel)
    if np.unique(panel[use]).size < 2:
        return None
    lowest, highest, code = _distinct(score[use])
    y = panel[use].astype(np.int64)
    m, k = lowest.size, rule.initial.size
    splits = _splits(m, k)
    # Suffix sums over distinct scores: items (and their panel tiers) at or above each.
    n_at = np.zeros(m + 1, dtype=np.int64)
    y_at = np.zeros(m + 1, dtype=np.int64)
    n_at[:m] = np.bincount(code, minlength=m)[::-1].cumsum()[::-1]
    y_at[:m] = np.bincount(code, weights=y, minlength=m).astype(np.int64)[::-1].cumsum()[::-1]
    n, sy, syy = y.size, int(y.sum()), int((y * y).sum())
    # x_i = #{j: item i reaches threshold j}; sum x = sum_j N(p_j), sum x y = sum_j Y(p_j),
    # sum x^2 = sum_j (2j - 1) N(p_j) for sorted p.
    odd = 2 * np.arange(1, k + 1) - 1
    disagreement = np.empty(splits.shape[0], dtype=np.int64)
    expected = np.empty(splits.shape[0], dtype=np.int64)
    step = max(1, _CHUNK_CELLS // k)
    for first in range(0, splits.shape[0], step):
        p = splits[first : first + step]
        at = n_at[p]
        sx, sxx, sxy = at.sum(axis=1), at @ odd, y_at[p].sum(axis=1)
        d = sxx - 2 * sxy + syy
        disagreement[first : first + step] = n * d
        expected[first : first + step] = n * sxx - 2 * sx * sy + n * syy
    # 1 - kappa = disagreement / expected; expected = 0 only when rule and panel put every
    # item in the same single tier, which is perfect agreement (ratio 0).
    degenerate = expected == 0
    ratio = np.where(degenerate, 0.0, disagreement / np.where(degenerate, 1, expected))
    near = np.flatnonzero(ratio <= ratio.min() + 1e-9)
    if near.size > 1:
        exact = [
            Fraction(0) if degenerate[i] else Fraction(int(disagreement[i]), int(expected[i]))
            for i in near
        ]
        best = min(exact)
        near = near[[value == best for value in exact]]
    values = _placements(splits[near], lowest, highest, rule.initial, rule.scale)
    if near.size == 1:
        only: FloatArray = values[0]
        return only
    distance = np.abs(values - rule.initial).sum(axis=1)
    values = values[distance <= distance.min() + _TOLERANCE]
    lowest_first: FloatArray = values[np.lexsort(values.T[::-1])[0]]
    return lowest_first
