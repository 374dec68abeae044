"""Rater severity: a many-facet Rasch model of the ratings, and the tiers it adjusts.

The model (Linacre 1989) puts raters and items on one logit scale. For rater j rating
item i on dimension d, with the dimension's observed values as categories 0..m_d::

    log P(X = k) / P(X = k - 1) = beta_id + alpha_j - tau_dk        k = 1..m_d

``beta_id`` is the item's location on the dimension, ``alpha_j`` the rater's severity
(one per rater across the dimensions modelled together) and ``tau_d1..tau_dm`` the
dimension's Andrich thresholds, shared by every item and rater of the dimension (the
rating scale model of Andrich 1978, one scale per dimension). :func:`fit_severity`
estimates it; :func:`severity_adjusted_ratings` takes each expert's severity out of their
ratings, and :func:`adjusted_tier_changes` lists the items whose tier under a survey's
tier rule (declared thresholds) changes when the medians of the ratings are replaced by
the medians of the severity-adjusted ratings.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import TypedDict

import numpy as np
import pandas as pd
import scipy.linalg
import scipy.sparse
from scipy.sparse.csgraph import connected_components

from analysis._types import BoolArray, FloatArray, IntArray, LabelArray
from analysis.calibration.panel import consensus_scores
from analysis.calibration.rule import TierRule, apply_rule
from analysis.results import Record
from analysis.tidy import select_round, sorted_codes, validate_ratings

__all__ = [
    "FIT_HIGH",
    "FIT_LOW",
    "ItemLocation",
    "ModelFit",
    "RaterSeverity",
    "RatingScale",
    "SeverityResult",
    "TierChange",
    "adjusted_tier_changes",
    "fit_severity",
    "format_text",
    "severity_adjusted_ratings",
]

#: Mean squares above this are noisy, below FIT_LOW too predictable (Linacre 2002; Eckes
#: 2015, ch. 5: 0.5 to 1.5 is "productive for measurement").
FIT_HIGH = 1.5
FIT_LOW = 0.5
_TOLERANCE = 1e-9
# An estimate this far out (logits) is on its way to infinity: the data separate.
_DIVERGED = 35.0


# ----------------------------------------------------------------------------- results


@dataclass(frozen=True, kw_only=True)
class ModelFit(Record):
    """How well the model fits a rater's or an item's ratings (Linacre 2002).

    ``infit`` and ``outfit`` are the information-weighted and unweighted mean squares of
    the standardised residuals, ``infit_z`` and ``outfit_z`` their Wilson-Hilferty
    standardisations. Undefined figures are None and ``reason`` says why.
    """

    infit: float | None = None
    outfit: float | None = None
    infit_z: float | None = None
    outfit_z: float | None = None
    reason: str | None = None


@dataclass(frozen=True)
class RaterSeverity(ModelFit):
    """One rater's severity on the logit scale, its standard error and fit.

    ``severity`` is positive for a rater who rates higher than the average rater
    (FACETS' severity has the opposite sign). Fit as in :class:`ModelFit` (mean squares
    expected 1); ``flag`` is "noisy" when a mean square exceeds ``FIT_HIGH``, "muted" when
    one is below ``FIT_LOW``. ``n_ratings`` counts the ratings in the fit.
    """

    rater: Hashable
    n_ratings: int
    severity: float | None
    se: float | None
    flag: str | None = None


@dataclass(frozen=True)
class ItemLocation(ModelFit):
    """One item on one dimension: its location, and its severity-adjusted score.

    ``location`` (logits) is where the item sits on the dimension's scale; higher means
    rated higher. ``fair_average`` is the rating the model expects from a rater of
    average severity (FACETS' "fair average"), on the dimension's own values, with its
    delta-method ``fair_average_se``; ``observed_average`` is the plain mean of the
    item's ratings. Fit as in :class:`ModelFit`.
    """

    item: Hashable
    dimension: Hashable
    n_ratings: int
    observed_average: float | None
    location: float | None
    se: float | None
    fair_average: float | None
    fair_average_se: float | None


@dataclass(frozen=True)
class RatingScale(Record):
    """A dimension's rating scale: its categories (the values used) and thresholds.

    ``thresholds[k - 1]`` is tau_k, where categories k - 1 and k are equally probable
    for an item and rater at 0; they sum to zero, ``threshold_se`` are their standard
    errors. Thresholds out of order (disordered) mean a category is never the most
    probable one.
    """

    dimension: Hashable
    values: tuple[float, ...]
    thresholds: tuple[float, ...]
    threshold_se: tuple[float, ...]
    n_ratings: int
    reason: str | None = None

    @property
    def disordered(self) -> bool:
        return any(b < a for a, b in zip(self.thresholds, self.thresholds[1:], strict=False))


@dataclass(frozen=True)
class SeverityResult(Record):
    """The fitted many-facet Rasch model (see :func:`fit_severity`).

    ``reason`` is set, and every estimate None, when the model cannot be fitted.
    ``n_ratings`` counts the ratings the fit used and ``n_excluded`` those left out
    because their rater or item has an extreme score. ``rater_reliability`` is the
    rater separation reliability (the share of the observed variance of severities
    that is not measurement error; near 0: raters are interchangeable, near 1: they
    differ reliably) and ``rater_separation`` the matching separation index;
    ``reasons`` says why either is undefined. ``severity_correction`` is the factor
    (L - 1) / L the JMLE severities were multiplied by (1.0: uncorrected).
    """

    dimensions: tuple[Hashable, ...]
    raters: tuple[RaterSeverity, ...]
    items: tuple[ItemLocation, ...]
    scales: tuple[RatingScale, ...]
    n_ratings: int
    n_excluded: int
    converged: bool
    iterations: int
    log_likelihood: float | None = None
    rater_reliability: float | None = None
    rater_separation: float | None = None
    severity_correction: float = 1.0
    estimation: str = "joint maximum likelihood (JMLE)"
    reason: str | None = None
    reasons: Mapping[str, str] = field(default_factory=dict)

    @property
    def fitted(self) -> bool:
        return self.reason is None

    def rater(self, label: Hashable) -> RaterSeverity:
        for entry in self.raters:
            if entry.rater == label:
                return entry
        raise KeyError(label)

    def item(self, label: Hashable, dimension: Hashable) -> ItemLocation:
        for entry in self.items:
            if entry.item == label and entry.dimension == dimension:
                return entry
        raise KeyError((label, dimension))


@dataclass(frozen=True)
class TierChange(Record):
    """An item whose tier changes when its scores are severity-adjusted."""

    item: Hashable
    tier_before: str
    tier_after: str
    score_before: float
    score_after: float


# ------------------------------------------------------------------------------ inputs


@dataclass(frozen=True)
class _Data:
    """The valued ratings of the modelled dimensions, coded."""

    rater: IntArray  # per rating
    cell: IntArray  # per rating: item x dimension cell
    dim: IntArray  # per rating
    value: FloatArray  # per rating
    raters: LabelArray
    dimensions: tuple[Hashable, ...]
    cell_item: LabelArray  # per cell
    cell_dim: IntArray  # per cell


def _data(ratings: pd.DataFrame, dimensions: Sequence[Hashable] | None) -> _Data:
    frame = select_round(validate_ratings(ratings))
    present = sorted_codes(frame["dimension"])[1]
    if dimensions is None:
        chosen = tuple(present)
    else:
        if isinstance(dimensions, str) or not isinstance(dimensions, Sequence):
            raise ValueError(f"dimensions must be a sequence of labels, not {dimensions!r}")
        chosen = tuple(dimensions)
        if not chosen or len(set(chosen)) != len(chosen):
            raise ValueError(f"dimensions must name distinct dimensions, not {list(chosen)}")
        for dimension in chosen:
            if dimension not in set(present):
                raise ValueError(f"dimensions: {dimension!r} does not occur in ratings")
    frame = frame[frame["dimension"].isin(chosen) & (frame["status"] == "value")]
    rater, raters = sorted_codes(frame["rater"])
    position = {d: i for i, d in enumerate(chosen)}
    dim = np.asarray([position[d] for d in frame["dimension"]], dtype=np.int64)
    item, items = sorted_codes(frame["item"])
    cell_key = dim * max(items.size, 1) + item
    cells, cell = np.unique(cell_key, return_inverse=True)
    order = np.lexsort((rater, cell))  # sums in one order, whatever the rows' order
    return _Data(
        rater=rater[order],
        cell=np.asarray(cell, dtype=np.int64)[order],
        dim=dim[order],
        value=frame["value"].to_numpy(dtype=float)[order],
        raters=raters,
        dimensions=chosen,
        cell_item=items[cells % max(items.size, 1)] if cells.size else items[:0],
        cell_dim=np.asarray(cells // max(items.size, 1), dtype=np.int64),
    )


@dataclass(frozen=True)
class _Active:
    """What the fit uses: ratings whose rater and item both have a finite estimate."""

    keep: BoolArray  # per rating
    rater_reason: list[str | None]
    cell_reason: list[str | None]
    dim_reason: list[str | None]


def _extremes(data: _Data) -> _Active:
    """Leave out, until none is left, raters and items whose ratings are all the lowest
    or all the highest category of the ratings still in: their estimates are infinite,
    and leaving one out can make another extreme (Linacre 1989, ch. 8)."""
    n_raters, n_cells = data.raters.size, data.cell_dim.size
    n_dims = len(data.dimensions)
    keep = np.ones(data.value.size, dtype=bool)
    rater_reason: list[str | None] = [None] * n_raters
    cell_reason: list[str | None] = [None] * n_cells
    while True:
        low = np.full(n_dims, np.inf)
        high = np.full(n_dims, -np.inf)
        np.minimum.at(low, data.dim[keep], data.value[keep])
        np.maximum.at(high, data.dim[keep], data.value[keep])
        at_low = (data.value == low[data.dim]) & keep
        at_high = (data.value == high[data.dim]) & keep
        changed = False
        for codes, size, reasons, noun in (
            (data.cell, n_cells, cell_reason, "item"),
            (data.rater, n_raters, rater_reason, "rater"),
        ):
            n = np.bincount(codes[keep], minlength=size)
            lows = np.bincount(codes[at_low], minlength=size)
            highs = np.bincount(codes[at_high], minlength=size)
            for index in np.flatnonzero((n > 0) & ((lows == n) | (highs == n))):
                where = "lowest" if lows[index] == n[index] else "highest"
                sign = "-" if where == "lowest" else "+"
                reasons[index] = (
                    f"extreme score: every rating of this {noun} still in the model is the "
                    f"{where} value used, so its estimate is {sign}infinite"
                )
                changed = True
        if not changed:
            break
        bad_cell = np.asarray([r is not None for r in cell_reason])
        bad_rater = np.asarray([r is not None for r in rater_reason])
        keep &= ~bad_cell[data.cell] & ~bad_rater[data.rater]
    left_cell = np.bincount(data.cell[keep], minlength=n_cells)
    left_rater = np.bincount(data.rater[keep], minlength=n_raters)
    for index in np.flatnonzero(left_cell == 0):
        cell_reason[index] = cell_reason[index] or (
            "every rating of this item comes from raters with an extreme score"
        )
    for index in np.flatnonzero(left_rater == 0):
        rater_reason[index] = rater_reason[index] or (
            "the rater gave no value on the dimensions modelled"
            if not (data.rater == index).any()
            else "every item this rater rated has an extreme score"
        )
    left_dim = np.bincount(data.dim[keep], minlength=n_dims)
    dim_reason: list[str | None] = [None] * n_dims
    for index in np.flatnonzero(left_dim == 0):
        used = np.unique(data.value[data.dim == index])
        dim_reason[index] = (
            f"only the value {used[0]:g} was used, so the dimension has no rating scale"
            if used.size == 1
            else "every item or rater of this dimension has an extreme score"
        )
    return _Active(keep, rater_reason, cell_reason, dim_reason)


def _components(rater: IntArray, cell: IntArray, n_raters: int, n_cells: int) -> int:
    """Connected groups of raters and items (linked by a rating) among those rated."""
    graph = scipy.sparse.coo_matrix(
        (np.ones(rater.size), (rater, n_raters + cell)), shape=(n_raters + n_cells,) * 2
    )
    _, labels = connected_components(graph, directed=False)
    used = np.unique(np.concatenate([rater, n_raters + cell]))
    return int(np.unique(labels[used]).size)


# ------------------------------------------------------------------------------ the fit


@dataclass(frozen=True)
class _Design:
    """Coded ratings in the fit: categories, and the parameter layout."""

    rater: IntArray
    cell: IntArray
    dim: IntArray
    x: IntArray  # category 0..m_d
    m: IntArray  # per dimension: highest category
    values: tuple[FloatArray, ...]  # per dimension: the value of each category
    cell_dim: IntArray
    offset: IntArray  # per dimension: first threshold in the alpha-tau vector
    n_raters: int
    n_cells: int
    contrast: FloatArray  # (alpha, tau) = contrast @ free parameters

    @property
    def width(self) -> int:
        return int(self.m.max()) + 1


def _sum_to_zero(size: int) -> FloatArray:
    """(size, size - 1) basis of the vectors that sum to zero: the last is minus the rest."""
    if size <= 1:
        return np.zeros((size, 0))
    basis = np.zeros((size, size - 1))
    basis[: size - 1] = np.eye(size - 1)
    basis[size - 1] = -1.0
    return basis


def _design(data: _Data, active: _Active, n_dims: int) -> tuple[_Design, IntArray, IntArray]:
    """The design of the ratings kept, with raters and cells renumbered 0..; also the
    kept raters' and cells' original codes."""
    keep = active.keep
    raters_kept, rater = np.unique(data.rater[keep], return_inverse=True)
    cells_kept, cell = np.unique(data.cell[keep], return_inverse=True)
    dim = data.dim[keep]
    value = data.value[keep]
    x = np.zeros(value.size, dtype=np.int64)
    m = np.zeros(n_dims, dtype=np.int64)
    values = []
    for d in range(n_dims):
        rows = dim == d
        domain = np.unique(value[rows])
        x[rows] = np.searchsorted(domain, value[rows])
        m[d] = max(domain.size - 1, 0)
        values.append(domain)
    offset = np.concatenate([[raters_kept.size], raters_kept.size + np.cumsum(m)[:-1]])
    blocks = [_sum_to_zero(raters_kept.size)] + [_sum_to_zero(int(size)) for size in m]
    contrast = np.asarray(scipy.linalg.block_diag(*blocks), dtype=float)
    design = _Design(
        rater=np.asarray(rater, dtype=np.int64),
        cell=np.asarray(cell, dtype=np.int64),
        dim=dim,
        x=x,
        m=m,
        values=tuple(values),
        cell_dim=data.cell_dim[cells_kept],
        offset=offset.astype(np.int64),
        n_raters=raters_kept.size,
        n_cells=cells_kept.size,
        contrast=contrast,
    )
    return design, raters_kept, cells_kept


@dataclass(frozen=True)
class _Moments:
    """The model's category probabilities for every rating, and what follows from them."""

    log_likelihood: float
    p: FloatArray  # (N, width)
    expected: FloatArray  # E X
    variance: FloatArray  # Var X
    fourth: FloatArray  # E (X - E X)^4
    tail: FloatArray  # (N, width): P(X >= h)
    tail_k: FloatArray  # (N, width): E[X 1(X >= h)]


def _cumulative_thresholds(design: _Design, full: FloatArray) -> FloatArray:
    """(dims, width): 0, tau_1, tau_1 + tau_2, ...; +inf past the dimension's top."""
    out = np.full((design.m.size, design.width), np.inf)
    for d, top in enumerate(design.m.tolist()):
        tau = full[design.offset[d] : design.offset[d] + top]
        out[d, : top + 1] = np.concatenate([[0.0], np.cumsum(tau)])
    return out


def _moments(design: _Design, beta: FloatArray, full: FloatArray) -> _Moments:
    k = np.arange(design.width, dtype=float)
    location = beta[design.cell] + full[: design.n_raters][design.rater]
    eta = location[:, None] * k - _cumulative_thresholds(design, full)[design.dim]
    eta -= eta.max(axis=1, keepdims=True)
    weight = np.exp(eta)
    total = weight.sum(axis=1)
    p = weight / total[:, None]
    log_likelihood = float((eta[np.arange(design.x.size), design.x] - np.log(total)).sum())
    expected = p @ k
    deviation = k - expected[:, None]
    tail = np.cumsum(p[:, ::-1], axis=1)[:, ::-1]
    tail_k = np.cumsum((p * k)[:, ::-1], axis=1)[:, ::-1]
    return _Moments(
        log_likelihood=log_likelihood,
        p=p,
        expected=expected,
        variance=(p * deviation**2).sum(axis=1),
        fourth=(p * deviation**4).sum(axis=1),
        tail=tail,
        tail_k=tail_k,
    )


@dataclass(frozen=True)
class _Information:
    """Score and information of the free parameters, arranged for the Schur complement:
    the item locations (a diagonal block) and the rest (rater and threshold contrasts)."""

    g_beta: FloatArray  # (C,)
    g_rest: FloatArray  # (R,)
    d_beta: FloatArray  # (C,): diagonal information of the locations
    b: FloatArray  # (C, R): information between locations and the rest
    e: FloatArray  # (R, R)


def _information(design: _Design, moments: _Moments) -> _Information:
    """The model is an exponential family, so the information is the covariance of the
    design's sufficient statistics: X for a location or severity, -1(X >= h) for tau_h."""
    n_cells, n_raters = design.n_cells, design.n_raters
    n_full = design.contrast.shape[0]
    residual = design.x - moments.expected
    variance = moments.variance
    g_beta = np.bincount(design.cell, weights=residual, minlength=n_cells).astype(float)
    g_full = np.zeros(n_full)
    g_full[:n_raters] = np.bincount(design.rater, weights=residual, minlength=n_raters)
    b_full = np.zeros((n_cells, n_full))
    np.add.at(b_full, (design.cell, design.rater), variance)
    e_full = np.zeros((n_full, n_full))
    e_full[np.arange(n_raters), np.arange(n_raters)] = np.bincount(
        design.rater, weights=variance, minlength=n_raters
    )
    cov_x = moments.tail_k - moments.expected[:, None] * moments.tail
    for d, top in enumerate(design.m.tolist()):
        rows = design.dim == d
        tail = moments.tail[rows]
        for h in range(1, top + 1):
            column = design.offset[d] + h - 1
            g_full[column] = -((design.x[rows] >= h) - tail[:, h]).sum()
            b_full[:, column] = -np.bincount(
                design.cell[rows], weights=cov_x[rows, h], minlength=n_cells
            )
            e_full[:n_raters, column] = -np.bincount(
                design.rater[rows], weights=cov_x[rows, h], minlength=n_raters
            )
            e_full[column, :n_raters] = e_full[:n_raters, column]
            for h2 in range(1, top + 1):
                e_full[column, design.offset[d] + h2 - 1] = (
                    tail[:, max(h, h2)] - tail[:, h] * tail[:, h2]
                ).sum()
    contrast = design.contrast
    return _Information(
        g_beta=g_beta,
        g_rest=contrast.T @ g_full,
        d_beta=np.bincount(design.cell, weights=variance, minlength=n_cells).astype(float),
        b=b_full @ contrast,
        e=contrast.T @ e_full @ contrast,
    )


def _newton_step(info: _Information) -> tuple[FloatArray, FloatArray]:
    """Solve information x step = score, eliminating the locations (a diagonal block)."""
    w = info.b / info.d_beta[:, None]
    schur = info.e - info.b.T @ w
    rest = np.linalg.solve(schur, info.g_rest - w.T @ info.g_beta)
    beta = (info.g_beta - info.b @ rest) / info.d_beta
    return beta, rest


@dataclass(frozen=True)
class _Fit:
    beta: FloatArray
    full: FloatArray  # alpha then the thresholds
    beta_se: FloatArray
    full_se: FloatArray
    moments: _Moments
    converged: bool
    diverged: bool
    iterations: int


def _initial_locations(design: _Design) -> FloatArray:
    top = design.m[design.dim].astype(float)
    total = np.bincount(design.cell, weights=design.x / top, minlength=design.n_cells)
    share = total.astype(float) / np.bincount(design.cell, minlength=design.n_cells)
    share = np.clip(share, 0.05, 0.95)
    initial: FloatArray = np.log(share / (1.0 - share))
    return initial


def _fit(design: _Design, max_iterations: int) -> _Fit:
    """Joint maximum likelihood by damped Newton-Raphson (the log-likelihood is concave
    in the free parameters, so a halved step that raises it always exists)."""
    beta = _initial_locations(design)
    free = np.zeros(design.contrast.shape[1])
    full = design.contrast @ free
    moments = _moments(design, beta, full)
    converged = diverged = False
    iterations = 0
    for iterations in range(1, max_iterations + 1):  # noqa: B007  # reported after the loop
        try:
            step_beta, step_free = _newton_step(_information(design, moments))
        except np.linalg.LinAlgError:  # the information vanishes along a separating direction
            diverged = True
            break
        size = 1.0
        while True:
            trial_beta = beta + size * step_beta
            trial_free = free + size * step_free
            trial_full = design.contrast @ trial_free
            trial = _moments(design, trial_beta, trial_full)
            if (
                trial.log_likelihood >= moments.log_likelihood - 1e-10 * abs(moments.log_likelihood)
                or size < 1e-4
            ):
                break
            size /= 2.0
        beta, free, full, moments = trial_beta, trial_free, trial_full, trial
        change = size * max(
            float(np.abs(step_beta).max(initial=0.0)), float(np.abs(step_free).max(initial=0.0))
        )
        if change < _TOLERANCE:
            converged = True
            break
        if max(float(np.abs(beta).max()), float(np.abs(full).max(initial=0.0))) > _DIVERGED:
            diverged = True
            break
    if not converged:
        nothing = np.full(beta.size, np.nan)
        return _Fit(
            beta, full, nothing, np.full(full.size, np.nan), moments, False, diverged, iterations
        )
    info = _information(design, moments)
    w = info.b / info.d_beta[:, None]
    try:
        covariance_rest = np.linalg.inv(info.e - info.b.T @ w)
    except np.linalg.LinAlgError:
        nothing = np.full(beta.size, np.nan)
        return _Fit(
            beta, full, nothing, np.full(full.size, np.nan), moments, False, True, iterations
        )
    beta_variance = 1.0 / info.d_beta + np.einsum("cr,rs,cs->c", w, covariance_rest, w)
    full_variance = np.einsum("ar,rs,as->a", design.contrast, covariance_rest, design.contrast)
    return _Fit(
        beta=beta,
        full=full,
        beta_se=np.sqrt(np.maximum(beta_variance, 0.0)),
        full_se=np.sqrt(np.maximum(full_variance, 0.0)),
        moments=moments,
        converged=converged,
        diverged=diverged,
        iterations=iterations,
    )


@dataclass(frozen=True)
class _FitStatistics:
    infit: FloatArray
    outfit: FloatArray
    infit_z: FloatArray
    outfit_z: FloatArray


def _fit_statistics(
    codes: IntArray, size: int, design: _Design, moments: _Moments
) -> _FitStatistics:
    """Infit and outfit mean squares of each element and their Wilson-Hilferty
    standardisations (Wright & Masters 1982, ch. 5)."""
    residual = design.x - moments.expected
    variance = moments.variance
    n = np.bincount(codes, minlength=size).astype(float)
    sum_w = np.bincount(codes, weights=variance, minlength=size)
    with np.errstate(divide="ignore", invalid="ignore"):
        outfit = np.bincount(codes, weights=residual**2 / variance, minlength=size) / n
        infit = np.bincount(codes, weights=residual**2, minlength=size) / sum_w
        q_out = np.sqrt(
            np.bincount(codes, weights=moments.fourth / variance**2, minlength=size) / n**2
            - 1.0 / n
        )
        q_in = np.sqrt(
            np.bincount(codes, weights=moments.fourth - variance**2, minlength=size) / sum_w**2
        )
        outfit_z = (np.cbrt(outfit) - 1.0) * (3.0 / q_out) + q_out / 3.0
        infit_z = (np.cbrt(infit) - 1.0) * (3.0 / q_in) + q_in / 3.0
    return _FitStatistics(infit, outfit, infit_z, outfit_z)


# ------------------------------------------------------------------------ the public API


def fit_severity(
    ratings: pd.DataFrame,
    *,
    dimensions: Sequence[Hashable] | None = None,
    bias_correction: bool = True,
    max_iterations: int = 100,
) -> SeverityResult:
    """Fit a many-facet Rasch model: item locations, rater severities, rating scales.

    Parameters
    ----------
    ratings : pandas.DataFrame
        Tidy ratings (see :mod:`analysis.tidy`); the last round is used when there is a
        ``round`` column. Abstentions and missing values are left out.
    dimensions : sequence of labels, optional
        The dimensions modelled together (default: all). They share the raters'
        severities, so they should run the same way (higher = more of the same kind of
        judgement, such as the risk dimensions of a tier rule).
    bias_correction : bool
        Multiply the severities by (L - 1) / L, L being the mean number of ratings per
        item in the fit (see Notes). False gives the plain JMLE severities.
    max_iterations : int
        Newton-Raphson iterations at most.

    Returns
    -------
    SeverityResult
        Raters sorted by label, items by dimension (in the order modelled) and label.
        When the model cannot be fitted, ``reason`` says why and every estimate is None.

    Notes
    -----
    The model, for rater j rating item i on dimension d in category k = 0..m_d (the
    dimension's values used, in order), is the rating scale model with a rater facet::

        log P(k) / P(k - 1) = beta_id + alpha_j - tau_dk

    Severity ``alpha_j`` is one number per rater across the dimensions; ``beta_id`` is a
    location per item and dimension; the thresholds ``tau_d`` belong to the dimension.
    A positive severity means the rater rates higher than the average rater (in
    FACETS, Linacre's program, severity has the opposite sign: a severe examiner gives
    lower marks). Identification: severities sum to zero and each dimension's
    thresholds sum to zero, so a location of 0 is a rating in the middle of the scale
    from an average rater.

    *Estimation.* Joint maximum likelihood (JMLE, as FACETS), every parameter at once by
    damped Newton-Raphson on the concave log-likelihood. For dichotomous ratings it is
    exactly a logistic regression with item and rater fixed effects. Conditional or
    marginal likelihood would remove the item locations from the severity estimates,
    but an item here is an item on one dimension, rated by the whole panel, and its
    location (with the fair average) is itself a result the report needs; JMLE gives
    all of them on one scale. Its known cost: the estimates of one facet are inflated
    by roughly L / (L - 1), L being how many ratings each element of the other facet
    has (Wright & Douglas 1977). For the severities L is the number of raters per
    item, about 10 in our panels, where ``bench/severity.py`` finds an inflation of 16%
    (slope of estimated on planted severities 1.16; 1.05 at 30 raters x 40 items);
    ``bias_correction`` (the default) multiplies them by (L - 1) / L with L the mean
    number of ratings per item, which brings the slope to 1.04 (1.01) and the coverage
    of severity +- 1.96 SE from 0.92 to 0.95 (0.94 to 0.96). Item locations, fair
    averages and the fit statistics are those of the uncorrected fit (they describe
    the data at its maximum likelihood). Standard errors come from the inverse of the whole
    information matrix (not FACETS' per-element model SE, which treats the other
    estimates as known), and are not scaled by the correction.

    *Extreme scores.* A rater or item whose ratings are all the lowest (or all the
    highest) value has an infinite estimate; it is left out, with its reason, and
    leaving it out is repeated until no element is extreme. A value nobody uses on a
    dimension is not a category of it (the thresholds are between the values used).
    Raters and items must form one connected design (linked by shared ratings), else
    the severities of separate groups cannot be compared and ``reason`` says so.

    *Fair average.* The rating the model expects for the item from a rater of severity 0,
    on the dimension's values; its standard error is the location's by the delta method.

    *Fit.* For each rating, the residual y = x - E and the model variance W. Outfit is
    the mean of y^2 / W, infit is sum(y^2) / sum(W); both are 1 when the data fit. The
    z values are the Wilson-Hilferty cube-root transforms with the model variances of the
    mean squares (Wright & Masters 1982, eqs. 5.4-5.7); they are approximately standard
    normal under the model, so they flag misfit that chance does not explain, and they
    grow with the number of ratings. Mean squares above 1.5 (noisy: erratic ratings) or
    below 0.5 (muted: too predictable, such as a rater who uses only the middle of the
    scale or halo) are flagged (Linacre 2002; Eckes 2015).

    References
    ----------
    Andrich, D. (1978). A rating formulation for ordered response categories.
    Psychometrika, 43(4), 561-573.
    Linacre, J. M. (1989). Many-facet Rasch measurement. Chicago: MESA Press.
    Wright, B. D., & Douglas, G. A. (1977). Best procedures for sample-free item analysis.
    Applied Psychological Measurement, 1(2), 281-295.
    Wright, B. D., & Masters, G. N. (1982). Rating scale analysis. Chicago: MESA Press.
    Linacre, J. M. (2002). What do infit and outfit, mean-square and standardized mean?
    Rasch Measurement Transactions, 16(2), 878.
    Eckes, T. (2015). Introduction to many-facet Rasch measurement (2nd ed.). Frankfurt am
    Main: Peter Lang.

    Examples
    --------
    Krippendorff's (2011) four coders of twelve units (with missing values): coder C
    rates highest, A lowest; five units everyone put at one end of the scale have
    no finite location.

    >>> from analysis.datasets import krippendorff_2011
    >>> result = fit_severity(krippendorff_2011())
    >>> [(r.rater, round(r.severity, 2)) for r in result.raters]
    [('A', -1.32), ('B', -0.63), ('C', 1.24), ('D', 0.72)]
    >>> entry = result.item(12, "d")
    >>> entry.observed_average, round(entry.fair_average, 2)
    (3.0, 3.11)
    >>> result.item(10, "d").reason.startswith("extreme score")
    True
    """
    if isinstance(max_iterations, bool) or not isinstance(max_iterations, int):
        raise ValueError(f"max_iterations must be a positive int, not {max_iterations!r}")
    if max_iterations < 1:
        raise ValueError(f"max_iterations must be a positive int, not {max_iterations!r}")
    if not isinstance(bias_correction, bool):
        raise ValueError(f"bias_correction must be True or False, not {bias_correction!r}")
    data = _data(ratings, dimensions)
    active = _extremes(data)
    n_dims = len(data.dimensions)
    design, raters_kept, cells_kept = _design(data, active, n_dims)
    reason = None
    if data.value.size == 0:
        reason = "no values on the dimensions modelled"
    elif design.n_raters < 2:
        reason = (
            "fewer than two raters without an extreme score, so there are no severities to compare"
        )
    else:
        groups = _components(design.rater, design.cell, design.n_raters, design.n_cells)
        if groups > 1:
            reason = (
                f"the ratings fall into {groups} groups of raters and items that share no "
                "rating, so their severities cannot be put on one scale"
            )
    if reason is not None:
        return _unfitted(data, active, reason)
    fit = _fit(design, max_iterations)
    if fit.diverged:
        return _unfitted(
            data,
            active,
            "the estimates grow without bound: the ratings separate perfectly (a rater "
            "rates every shared item higher than another, or some items alone use the "
            "lowest or highest values of a dimension), so the likelihood has no maximum",
            iterations=fit.iterations,
        )
    if not fit.converged:
        return _unfitted(
            data,
            active,
            f"the estimates did not converge in {max_iterations} iterations",
            iterations=fit.iterations,
        )
    factor = 1.0
    if bias_correction:
        per_item = design.x.size / design.n_cells
        factor = (per_item - 1.0) / per_item
    return _result(data, active, design, fit, raters_kept, cells_kept, factor)


def _observed_averages(data: _Data) -> tuple[IntArray, FloatArray]:
    n_cells = data.cell_dim.size
    n = np.bincount(data.cell, minlength=n_cells)
    total = np.bincount(data.cell, weights=data.value, minlength=n_cells)
    return n, np.divide(total, n, out=np.full(n_cells, np.nan), where=n > 0)


def _number(value: float) -> float | None:
    return float(value) if math.isfinite(value) else None


def _unfitted_raters(data: _Data, active: _Active, reason: str | None) -> list[RaterSeverity]:
    n_raters = np.bincount(data.rater, minlength=data.raters.size)
    return [
        RaterSeverity(
            rater=label,
            n_ratings=int(n_raters[code]),
            severity=None,
            se=None,
            reason=active.rater_reason[code] or reason,
        )
        for code, label in enumerate(data.raters)
    ]


def _unfitted_items(data: _Data, active: _Active, reason: str | None) -> list[ItemLocation]:
    n, observed = _observed_averages(data)
    return [
        ItemLocation(
            item=data.cell_item[code],
            dimension=data.dimensions[data.cell_dim[code]],
            n_ratings=int(n[code]),
            observed_average=_number(observed[code]),
            location=None,
            se=None,
            fair_average=None,
            fair_average_se=None,
            reason=active.cell_reason[code] or reason,
        )
        for code in range(data.cell_dim.size)
    ]


class _FitFields(TypedDict):
    infit: float | None
    outfit: float | None
    infit_z: float | None
    outfit_z: float | None
    reason: None


def _fit_at(statistics: _FitStatistics, index: int) -> _FitFields:
    """One element's fit, as the fields of :class:`ModelFit` (reason cleared)."""
    return {
        "infit": _number(statistics.infit[index]),
        "outfit": _number(statistics.outfit[index]),
        "infit_z": _number(statistics.infit_z[index]),
        "outfit_z": _number(statistics.outfit_z[index]),
        "reason": None,
    }


def _unfitted(data: _Data, active: _Active, reason: str, *, iterations: int = 0) -> SeverityResult:
    return SeverityResult(
        dimensions=data.dimensions,
        raters=tuple(_unfitted_raters(data, active, reason)),
        items=tuple(_unfitted_items(data, active, reason)),
        scales=tuple(
            RatingScale(
                dimension=dimension,
                values=tuple(np.unique(data.value[data.dim == d]).tolist()),
                thresholds=(),
                threshold_se=(),
                n_ratings=int((data.dim == d).sum()),
                reason=active.dim_reason[d] or reason,
            )
            for d, dimension in enumerate(data.dimensions)
        ),
        n_ratings=0,
        n_excluded=int(data.value.size),
        converged=False,
        iterations=iterations,
        reason=reason,
    )


def _flag(infit: float | None, outfit: float | None) -> str | None:
    squares = [v for v in (infit, outfit) if v is not None]
    if any(v > FIT_HIGH for v in squares):
        return "noisy"
    if any(v < FIT_LOW for v in squares):
        return "muted"
    return None


def _separation(
    severity: FloatArray, se: FloatArray
) -> tuple[float | None, float | None, str | None]:
    """Rater separation reliability and index (Wright & Masters 1982, ch. 5)."""
    if severity.size < 2:
        return None, None, "fewer than two raters with a severity"
    observed = float(np.var(severity))
    if observed <= 0:
        return None, None, "every rater has the same severity"
    reliability = max(0.0, (observed - float(np.mean(se**2))) / observed)
    separation = math.sqrt(reliability / (1.0 - reliability)) if reliability < 1 else None
    return reliability, separation, None


def _result(
    data: _Data,
    active: _Active,
    design: _Design,
    fit: _Fit,
    raters_kept: IntArray,
    cells_kept: IntArray,
    factor: float,
) -> SeverityResult:
    moments = fit.moments
    severity = factor * fit.full[: design.n_raters]
    by_rater = _fit_statistics(design.rater, design.n_raters, design, moments)
    by_cell = _fit_statistics(design.cell, design.n_cells, design, moments)
    rater_index = {int(code): index for index, code in enumerate(raters_kept)}
    cell_index = {int(code): index for index, code in enumerate(cells_kept)}
    raters = _unfitted_raters(data, active, None)
    for code, index in rater_index.items():
        fitted = _fit_at(by_rater, index)
        raters[code] = replace(
            raters[code],
            severity=float(severity[index]),
            se=float(fit.full_se[index]),
            flag=_flag(fitted["infit"], fitted["outfit"]),
            **fitted,
        )
    cumulative = _cumulative_thresholds(design, fit.full)
    items = _unfitted_items(data, active, None)
    for code, index in cell_index.items():
        d = int(data.cell_dim[code])
        fair, fair_se = _fair_average(
            float(fit.beta[index]), float(fit.beta_se[index]), cumulative[d], design.values[d]
        )
        items[code] = replace(
            items[code],
            location=float(fit.beta[index]),
            se=float(fit.beta_se[index]),
            fair_average=fair,
            fair_average_se=fair_se,
            **_fit_at(by_cell, index),
        )
    scales = []
    for d, dimension in enumerate(data.dimensions):
        top = int(design.m[d])
        first = int(design.offset[d])
        scales.append(
            RatingScale(
                dimension=dimension,
                values=tuple(design.values[d].tolist()),
                thresholds=tuple(fit.full[first : first + top].tolist()),
                threshold_se=tuple(fit.full_se[first : first + top].tolist()),
                n_ratings=int((design.dim == d).sum()),
                reason=active.dim_reason[d],
            )
        )
    reliability, separation, why = _separation(severity, fit.full_se[: design.n_raters])
    reasons = {} if why is None else {"rater_reliability": why, "rater_separation": why}
    if why is None and separation is None:
        reasons["rater_separation"] = "the reliability is 1, so the separation is infinite"
    return SeverityResult(
        dimensions=data.dimensions,
        raters=tuple(raters),
        items=tuple(items),
        scales=tuple(scales),
        n_ratings=int(design.x.size),
        n_excluded=int(data.value.size - design.x.size),
        converged=fit.converged,
        iterations=fit.iterations,
        log_likelihood=moments.log_likelihood,
        rater_reliability=reliability,
        rater_separation=separation,
        severity_correction=factor,
        reasons=reasons,
    )


def _fair_average(
    location: float, se: float, cumulative: FloatArray, values: FloatArray
) -> tuple[float, float]:
    """Expected value for a rater of severity 0, and its delta-method standard error."""
    k = np.arange(values.size, dtype=float)
    eta = location * k - cumulative[: values.size]
    p = np.exp(eta - eta.max())
    p /= p.sum()
    expected = float(p @ values)
    slope = float(p @ (values * k) - expected * float(p @ k))  # d E / d location
    return expected, abs(slope) * se


def simulate_ratings(
    rng: np.random.Generator,
    *,
    n_raters: int,
    n_items: int,
    dimensions: Sequence[Hashable] = ("proprietary", "misuse"),
    thresholds: Sequence[float] = (-2.0, -0.7, 0.7, 2.0),
    severity_sd: float = 0.5,
    location_sd: float = 1.5,
    missing: float = 0.0,
) -> tuple[pd.DataFrame, dict[Hashable, float]]:
    """Ratings drawn from the model of :func:`fit_severity`, with planted severities.

    Parameters
    ----------
    rng : numpy.random.Generator
    n_raters, n_items : int
        Raters ``E01``, ``E02``, ... and items ``item01``, ... (every rater rates every item
        on every dimension, except the ``missing`` share, which abstains).
    dimensions : sequence of labels
    thresholds : sequence of float
        Andrich thresholds shared by the dimensions; values are 1 .. len(thresholds) + 1.
    severity_sd, location_sd : float
        Standard deviations of the normal severities and item locations (logits).
    missing : float
        Share of ratings replaced by "cant_judge", at random.

    Returns
    -------
    (pandas.DataFrame, dict)
        The tidy ratings and each rater's planted severity (centred to sum to zero, as
        the model is identified).

    Examples
    --------
    >>> frame, planted = simulate_ratings(np.random.default_rng(0), n_raters=3, n_items=2)
    >>> len(frame), sorted(planted) == ["E01", "E02", "E03"]
    (12, True)
    """
    for name, number in (("n_raters", n_raters), ("n_items", n_items)):
        if isinstance(number, bool) or not isinstance(number, int) or number < 1:
            raise ValueError(f"{name} must be a positive int, not {number!r}")
    if not 0.0 <= missing < 1.0:
        raise ValueError(f"missing must be a share in [0, 1), not {missing!r}")
    tau = np.asarray(thresholds, dtype=float)
    severity = rng.normal(0.0, severity_sd, n_raters)
    severity -= severity.mean()
    raters = [f"E{j + 1:02d}" for j in range(n_raters)]
    items = [f"item{i + 1:02d}" for i in range(n_items)]
    cumulative = np.concatenate([[0.0], np.cumsum(tau)])
    k = np.arange(tau.size + 1)
    rows = []
    for dimension in dimensions:
        location = rng.normal(0.0, location_sd, n_items)
        eta = (location[:, None, None] + severity[None, :, None]) * k - cumulative
        p = np.exp(eta - eta.max(axis=2, keepdims=True))
        p /= p.sum(axis=2, keepdims=True)
        draw = rng.random((n_items, n_raters, 1))
        category = (draw > np.cumsum(p, axis=2)).sum(axis=2)
        for i, item in enumerate(items):
            for j, rater in enumerate(raters):
                rows.append((rater, item, dimension, float(min(category[i, j], tau.size) + 1)))
    frame = pd.DataFrame(rows, columns=["rater", "item", "dimension", "value"])
    frame["status"] = "value"
    if missing > 0:
        gone = rng.random(len(frame)) < missing
        frame.loc[gone, "value"] = np.nan
        frame.loc[gone, "status"] = "cant_judge"
    return frame, dict(zip(raters, severity.tolist(), strict=True))


def _expected_rating(eta: FloatArray, cumulative: FloatArray, values: FloatArray) -> FloatArray:
    """The model's expected rating at each linear predictor ``eta`` (logits)."""
    k = np.arange(values.size, dtype=float)
    logits = eta[:, None] * k - cumulative
    p = np.exp(logits - logits.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    expected: FloatArray = p @ values
    return expected


def severity_adjusted_ratings(ratings: pd.DataFrame, result: SeverityResult) -> pd.DataFrame:
    """Each rating with its expert's severity taken out: what calibration fits on.

    Parameters
    ----------
    ratings : pandas.DataFrame
        The tidy ratings ``result`` was fitted to (validated; with a ``round`` column the
        last round, as the model used).
    result : SeverityResult
        A fitted model (:func:`fit_severity`).

    Returns
    -------
    pandas.DataFrame
        The ratings with ``value`` adjusted on the modelled dimensions; other rows as
        they were.

    Raises
    ------
    ValueError
        When the model was not fitted.

    Notes
    -----
    Rater j's rating x of item i on dimension d becomes::

        x - E[X | beta_id + alpha_j] + E[X | beta_id]

    the rating minus the shift the model expects the rater's severity to cause on that
    item: E is the model's expected rating (in the dimension's values) and E[X | beta_id]
    is the item's fair average. An average rater's ratings stay; near the ends of the
    scale, where severity moves the expected rating less, the adjustment is smaller. The
    result is kept within the values used on the dimension (a rating cannot be moved past
    the end of the scale it was given on). A rating whose rater or item has no finite
    estimate (an extreme score) is kept as given: the rater's severity, or the item's
    place, is then unknown, and an item everyone put at one end stays there. The severity
    is the reported one (bias-corrected unless the model was fitted without), the
    location and scale those of the fit.

    Calibrating on these ratings (:func:`analysis.calibration.fit_thresholds`) is the
    severity-adjusted calibration: the consensus scores are the medians of the adjusted
    ratings, and the cluster bootstrap keeps each expert's adjusted ratings together.
    The severities are held fixed at the full panel's estimates, so the tier
    probabilities do not include their estimation error.

    References
    ----------
    Linacre, J. M. (1989). Many-facet Rasch measurement. Chicago: MESA Press (fair
    average).

    Examples
    --------
    >>> from analysis.datasets import krippendorff_2011
    >>> frame = krippendorff_2011()
    >>> adjusted = severity_adjusted_ratings(frame, fit_severity(frame))
    >>> row = (adjusted["rater"] == "C") & (adjusted["item"] == 6)
    >>> given, moved = frame.loc[row, "value"].iloc[0], adjusted.loc[row, "value"].iloc[0]
    >>> float(given), round(float(moved), 2)
    (3.0, 2.71)
    """
    if not isinstance(result, SeverityResult):
        raise ValueError(f"result must be a SeverityResult, not {type(result).__name__}")
    if result.reason is not None:
        raise ValueError(f"result: the severity model was not fitted: {result.reason}")
    frame = select_round(validate_ratings(ratings))
    severity = {r.rater: r.severity for r in result.raters if r.severity is not None}
    values = frame["value"].to_numpy(dtype=float).copy()
    for scale in result.scales:
        located = {e.item: e.location for e in result.items if e.dimension == scale.dimension}
        on = (frame["dimension"] == scale.dimension).to_numpy() & ~np.isnan(values)
        alpha = frame["rater"].map(severity).to_numpy(dtype=float)
        beta = frame["item"].map(located).to_numpy(dtype=float)
        use = np.flatnonzero(on & np.isfinite(alpha) & np.isfinite(beta))
        if use.size == 0:
            continue
        levels = np.asarray(scale.values, dtype=float)
        cumulative = np.concatenate([[0.0], np.cumsum(scale.thresholds)])
        shift = _expected_rating(beta[use] + alpha[use], cumulative, levels)
        shift -= _expected_rating(beta[use], cumulative, levels)
        values[use] = np.clip(values[use] - shift, levels[0], levels[-1])
    frame["value"] = values
    return frame


def adjusted_tier_changes(
    ratings: pd.DataFrame,
    result: SeverityResult,
    *,
    rule: TierRule,
    adjusted: pd.DataFrame | None = None,
) -> tuple[TierChange, ...]:
    """The items whose tier changes when their ratings are adjusted for rater severity.

    Parameters
    ----------
    ratings : pandas.DataFrame
        The tidy ratings ``result`` was fitted to.
    result : SeverityResult
        A fitted model (:func:`fit_severity`) holding every rule dimension.
    rule : TierRule
        The survey's tier rule; its declared thresholds, centre and tier names are used.
    adjusted : pandas.DataFrame, optional
        :func:`severity_adjusted_ratings` of ``ratings`` and ``result`` when the caller
        has them already (the report also calibrates on them); computed otherwise.

    Returns
    -------
    tuple of TierChange
        Items (sorted) whose tier by the rule differs between the consensus scores of the
        ratings as given and those of the severity-adjusted ratings; empty when no tier
        changes.

    Raises
    ------
    ValueError
        When the model was not fitted, or a rule dimension is not in it.

    Notes
    -----
    Before: :func:`analysis.calibration.consensus_scores` of the ratings, aggregated by
    the rule. After: the same of :func:`severity_adjusted_ratings` (each rating minus the
    shift its rater's severity causes), so the only difference is the raters' severity:
    with equally severe raters nothing changes. The thresholds are the rule's declared
    ones, held fixed; the severity-adjusted calibration (:func:`analysis.weighting.
    compare_calibrations`) has the same adjusted scores but refits the thresholds on them.

    The fair average (the item's expected rating from a rater of average severity) is
    not used here although it is the model's own adjusted score: it is a mean over the
    rating scale, so setting it against a median would also move items whose ratings
    are skewed, with no severity to adjust. Ratings whose rater or item has an extreme
    score keep their value (see :func:`severity_adjusted_ratings`). Items without a
    score on a rule dimension have no tier and are not listed.

    References
    ----------
    Linacre, J. M. (1989). Many-facet Rasch measurement. Chicago: MESA Press.

    Examples
    --------
    >>> from analysis.datasets import krippendorff_2011
    >>> frame = krippendorff_2011()
    >>> rule = TierRule(dimensions=["d"], aggregate="max", n_tiers=2, initial_thresholds=[2.5])
    >>> [(c.item, c.tier_before, c.tier_after, round(c.score_after, 2))
    ...  for c in adjusted_tier_changes(frame, fit_severity(frame), rule=rule)]
    [(6, '1', '0', 2.43)]
    """
    if not isinstance(result, SeverityResult):
        raise ValueError(f"result must be a SeverityResult, not {type(result).__name__}")
    if result.reason is not None:
        raise ValueError(f"result: the severity model was not fitted: {result.reason}")
    if not isinstance(rule, TierRule):
        raise ValueError(f"rule must be a TierRule, not {type(rule).__name__}")
    dimensions = list(rule.dimensions)
    missing = [d for d in dimensions if d not in result.dimensions]
    if missing:
        raise ValueError(f"rule: dimension {missing[0]!r} is not in the severity model")
    before = consensus_scores(ratings, dimensions=dimensions, center=rule.center)
    if adjusted is None:
        adjusted = severity_adjusted_ratings(ratings, result)
    after = consensus_scores(adjusted, dimensions=dimensions, center=rule.center)
    after = after.reindex(index=before.index, columns=before.columns)
    thresholds = list(rule.initial_thresholds)
    names = (
        [str(n) for n in rule.tier_names]
        if rule.tier_names is not None
        else [str(k) for k in range(len(thresholds) + 1)]
    )
    combine: dict[str, Callable[[FloatArray], float]] = {
        "max": lambda v: float(np.max(v)),
        "min": lambda v: float(np.min(v)),
        "mean": lambda v: float(np.mean(v)),
    }
    aggregate = combine[rule.aggregate]
    tier_before = apply_rule(
        before, dimensions=dimensions, aggregate=rule.aggregate, thresholds=thresholds
    )
    tier_after = apply_rule(
        after, dimensions=dimensions, aggregate=rule.aggregate, thresholds=thresholds
    )
    changes = []
    for item in before.index:
        old, new = tier_before[item], tier_after[item]
        if pd.isna(old) or pd.isna(new) or old == new:
            continue
        changes.append(
            TierChange(
                item=item,
                tier_before=names[int(old)],
                tier_after=names[int(new)],
                score_before=float(aggregate(before.loc[item, dimensions].to_numpy(float))),
                score_after=float(aggregate(after.loc[item, dimensions].to_numpy(float))),
            )
        )
    return tuple(changes)


def format_text(result: SeverityResult) -> str:
    """The fitted model as plain text (what ``elicit severity`` prints)."""
    lines = [
        "Many-facet Rasch model (rating scale per dimension), " + result.estimation,
        "dimensions: " + ", ".join(str(d) for d in result.dimensions),
    ]
    if result.reason is not None:
        lines.append(f"not fitted: {result.reason}")
        return "\n".join(lines) + "\n"

    def number(value: float | None, digits: int = 2) -> str:
        return "-" if value is None else f"{value:.{digits}f}"

    lines.append(
        f"{result.n_ratings} ratings used, {result.n_excluded} left out (extreme scores); "
        f"converged in {result.iterations} iterations"
    )
    if result.rater_reliability is not None:
        lines.append(
            f"rater separation reliability {result.rater_reliability:.2f}"
            + (
                f" (separation {result.rater_separation:.2f})"
                if result.rater_separation is not None
                else ""
            )
        )
    if result.severity_correction != 1.0:
        lines.append(f"severities corrected for JMLE bias (x {result.severity_correction:.3f})")
    lines += ["", "Raters (severity > 0: rates higher than the average rater)"]
    lines.append(f"  {'rater':<20} {'n':>4} {'severity':>9} {'SE':>6} {'infit':>6} {'outfit':>7}")
    for r in result.raters:
        if r.severity is None:
            lines.append(f"  {str(r.rater)[:20]:<20} {r.n_ratings:>4}  undefined: {r.reason}")
            continue
        lines.append(
            f"  {str(r.rater)[:20]:<20} {r.n_ratings:>4} {number(r.severity):>9} "
            f"{number(r.se):>6} {number(r.infit):>6} {number(r.outfit):>7}"
            + (f"  {r.flag}" if r.flag else "")
        )
    lines += ["", "Items (fair average: the rating expected from a rater of average severity)"]
    lines.append(
        f"  {'item':<28} {'dimension':<14} {'n':>3} {'observed':>8} {'fair':>6} {'SE':>5} "
        f"{'logit':>6}"
    )
    for i in result.items:
        head = f"  {str(i.item)[:28]:<28} {str(i.dimension)[:14]:<14} {i.n_ratings:>3} "
        if i.location is None:
            lines.append(head + f"{number(i.observed_average):>8}  undefined: {i.reason}")
            continue
        lines.append(
            head + f"{number(i.observed_average):>8} {number(i.fair_average):>6} "
            f"{number(i.fair_average_se):>5} {number(i.location):>6}"
        )
    lines += ["", "Rating scales (Andrich thresholds, logits)"]
    for scale in result.scales:
        values = ", ".join(f"{v:g}" for v in scale.values)
        if scale.reason is not None:
            lines.append(f"  {scale.dimension}: values {values}; {scale.reason}")
            continue
        cuts = ", ".join(f"{t:.2f}" for t in scale.thresholds)
        lines.append(
            f"  {scale.dimension}: values {values}; thresholds {cuts}"
            + ("  (disordered)" if scale.disordered else "")
        )
    return "\n".join(lines) + "\n"
