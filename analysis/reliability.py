"""Inter-rater reliability of a panel, per dimension.

Krippendorff's alpha (four levels of measurement, bootstrap CI and the probability of
missing a minimum), Fleiss' kappa, Gwet's AC1/AC2, Brennan-Prediger, percent agreement,
the six Shrout & Fleiss ICCs and Kendall's W. Every public function takes the tidy
ratings of the package (see :mod:`analysis.tidy`) restricted to one dimension, or a
``dimension=`` to pick one, and returns a result from :mod:`analysis.results`.

Undefined coefficients (one rater, no item rated twice, a single value used, too few
complete cases) come back as ``None`` with a ``reason``; nothing here returns NaN or
raises on degenerate data. Invalid arguments raise ``ValueError`` naming the parameter.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any, Generic, Literal, TypeAlias, TypeVar

import krippendorff
import numpy as np
import pandas as pd
import scipy.linalg
import scipy.sparse
import scipy.special

from analysis._checks import check_bootstrap, make_generator
from analysis._coincidence import (
    LEVELS,
    Level,
    RatedValues,
    alpha_batch,
)
from analysis._docs import shared_docs
from analysis._hayes_krippendorff import METHOD as HK_METHOD
from analysis._hayes_krippendorff import hayes_krippendorff
from analysis._icc_one_way import OneWayData, logit_variance
from analysis._types import BoolArray, FloatArray, IntArray, LabelArray
from analysis.consensus import confusion_pairs
from analysis.options import ALPHA_INTERVALS, AlphaInterval, check_alpha_interval
from analysis.results import (
    AgreementCoefficients,
    AlphaResult,
    Coefficient,
    DimensionReliability,
    ICCResult,
    ICCTable,
    KendallW,
)
from analysis.tidy import DimensionData, dimension_data, stable_order, validate_ratings

__all__ = [
    "ACCEPTABLE_ALPHA",
    "ALPHA_INTERVALS",
    "ICC_FORMS",
    "LEVELS",
    "TENTATIVE_ALPHA",
    "Bootstrap",
    "agreement_coefficients",
    "check_alpha_interval",
    "complete_block",
    "dimension_reliability",
    "intraclass_correlations",
    "kendall_w",
    "krippendorff_alpha",
    "read_alpha",
    "resolve_levels",
]

ACCEPTABLE_ALPHA = 0.800
TENTATIVE_ALPHA = 0.667
ICC_FORMS = ("ICC1", "ICC2", "ICC3", "ICC1k", "ICC2k", "ICC3k")
AGREEMENT_COEFFICIENTS = (
    "fleiss_kappa",
    "gwet_ac1",
    "gwet_ac2_ordinal",
    "gwet_ac2_quadratic",
    "brennan_prediger",
    "percent_agreement",
)

# Bootstrap replicates are processed in chunks of at most this many V x V cells (8 MB
# of each per-chunk array). Smaller chunks stay in the processor's cache: at D1 of
# bench/analysis.py, 1 M cells took no longer than 4 M and the process's peak memory
# fell from 331 to 267 MiB; at 0.25 M the chunks' own overhead starts to tell.
_CHUNK_CELLS = 1_000_000

#: How the public functions describe the arguments they share (``{{name}}`` lines in their
#: docstrings; see :mod:`analysis._docs`).
_shared_docs = shared_docs(
    {
        "one_dimension": """\
ratings : pandas.DataFrame
    Tidy ratings (columns rater, item, dimension, value) of one dimension, or of several
    with ``dimension`` naming one.
dimension : label, optional
    The dimension to use when ``ratings`` holds several.""",
        "bootstrap": """\
bootstrap : Bootstrap
    How the confidence intervals are bootstrapped: the replicates, their randomness,
    raters sampled or fixed, and alpha's interval and minimum (see :class:`Bootstrap`).""",
    }
)


def read_alpha(value: float | None) -> str | None:
    """Krippendorff's reading of an alpha: "acceptable", "tentative" or "unacceptable".

    Notes
    -----
    alpha >= 0.800 is customarily required; 0.667 <= alpha < 0.800 allows tentative
    conclusions only; below 0.667 the data should not be relied on (Krippendorff 2004,
    section 11.4). ``None`` stays ``None``.

    References
    ----------
    Krippendorff, K. (2004). Content Analysis: An Introduction to Its Methodology
    (2nd ed.). Sage.

    Examples
    --------
    >>> read_alpha(0.815), read_alpha(0.743), read_alpha(0.5)
    ('acceptable', 'tentative', 'unacceptable')
    """
    if value is None:
        return None
    if value >= ACCEPTABLE_ALPHA:
        return "acceptable"
    if value >= TENTATIVE_ALPHA:
        return "tentative"
    return "unacceptable"


# ----------------------------------------------------------------------------- inputs


def resolve_levels(
    levels: str | Mapping[Hashable, str] | None, dimensions: Sequence[Hashable]
) -> dict[Hashable, Level]:
    """Level of measurement per dimension from None (ordinal), one level, or a mapping.

    Dimensions missing from a mapping are ordinal; a level that is not one of
    nominal, ordinal, interval, ratio raises ValueError naming ``levels``.
    """
    if levels is None:
        return dict.fromkeys(dimensions, "ordinal")
    if isinstance(levels, str):
        return dict.fromkeys(dimensions, _check_level(levels, "levels"))
    if not isinstance(levels, Mapping):
        raise ValueError(f"levels must be a str, a mapping or None, not {levels!r}")
    return {
        dimension: _check_level(levels.get(dimension, "ordinal"), f"levels[{dimension!r}]")
        for dimension in dimensions
    }


def _check_level(level: object, name: str = "level") -> Level:
    for known in LEVELS:
        if level == known:
            return known
    raise ValueError(f"{name} must be one of {', '.join(LEVELS)}, not {level!r}")


def _one_dimension(
    ratings: pd.DataFrame | DimensionData,
    dimension: Hashable | None,
    scale: Sequence[float] | None = None,
) -> DimensionData:
    if isinstance(ratings, DimensionData):
        return ratings
    frame = validate_ratings(ratings)
    names = frame["dimension"].unique()
    if dimension is None:
        if len(names) != 1:
            raise ValueError(f"ratings hold {len(names)} dimensions; pass dimension= to choose one")
        dimension = names[0]
    elif dimension not in set(names):
        raise ValueError(f"dimension {dimension!r} does not occur in the ratings")
    frame = frame[frame["dimension"] == dimension]
    scales = None if scale is None else {dimension: scale}
    return dimension_data(frame, scales=scales)[dimension]


#: What the interval is about: raters as a sample of possible raters (the population
#: coefficient) or these raters only (the items alone are a sample).
Raters: TypeAlias = Literal["sampled", "fixed"]
RATERS: tuple[Raters, ...] = ("sampled", "fixed")
# The normal distribution's quantiles and distribution function come from scipy.special
# (what scipy.stats calls), which spares importing scipy.stats.
_Z = scipy.special.ndtri([0.025, 0.975])
_Z_975 = float(scipy.special.ndtri(0.975))


def _check_raters(raters: object) -> Raters:
    for known in RATERS:
        if raters == known:
            return known
    raise ValueError(f"raters must be one of {', '.join(RATERS)}, not {raters!r}")


def _draw_counts(n: int, n_bootstrap: int, rng: np.random.Generator) -> FloatArray:
    """(B, n) counts: how often each replicate drew each of n units (with replacement)."""
    if n_bootstrap == 0 or n == 0:
        return np.zeros((n_bootstrap, n))
    drawn = rng.integers(0, n, size=(n_bootstrap, n))
    drawn += np.arange(n_bootstrap)[:, None] * n
    counts = np.bincount(drawn.ravel(), minlength=n_bootstrap * n)
    return counts.reshape(n_bootstrap, n).astype(float)


#: The interaction of items and raters is estimated on at most this many items x this
#: many raters (drawn at random from larger panels): see :func:`_interaction_variance`.
_GRID = 64

#: The raters' pair part is estimated on at most this many of the grid's raters (every
#: pair of them left out in turn): see :func:`_pair_variance`.
_PAIR_GRID = 16


@dataclass(frozen=True)
class _Draws:
    """Bootstrap draws of the items (B, units) and, unless raters are fixed, the raters,
    with the items and raters of the grid on which their interaction is estimated."""

    items: FloatArray
    raters: FloatArray | None
    grid: tuple[IntArray, IntArray] | None = None
    alpha_interval: AlphaInterval = "two-way"
    #: The stream of the Hayes-Krippendorff replicates (drawn after the others).
    generator: np.random.Generator | None = None

    @property
    def size(self) -> int:
        return int(self.items.shape[0])


def _grid_part(n: int, rng: np.random.Generator) -> IntArray:
    """Every index below n when there are at most _GRID, else _GRID of them at random."""
    if n <= _GRID:
        return np.arange(n)
    return np.sort(rng.choice(n, size=_GRID, replace=False))


def _draws(
    data: DimensionData,
    n_bootstrap: int,
    rng: np.random.Generator,
    raters: Raters,
    alpha_interval: AlphaInterval = "two-way",
) -> _Draws:
    units, _ = data.value_counts()
    items = _draw_counts(units.size, n_bootstrap, rng)
    if raters == "fixed":
        return _Draws(items=items, raters=None, alpha_interval=alpha_interval, generator=rng)
    drawn = _draw_counts(data.n_raters, n_bootstrap, rng)
    grid = None
    if n_bootstrap:
        grid = (_grid_part(units.size, rng), _grid_part(data.n_raters, rng))
    return _Draws(
        items=items, raters=drawn, grid=grid, alpha_interval=alpha_interval, generator=rng
    )


def _rated_values(data: DimensionData) -> RatedValues:
    units, _ = data.value_counts()
    rater_codes, rater = data.rater_index
    return RatedValues(
        unit=data.item_index[1],
        rater=np.asarray(rater, dtype=np.int64),
        value=data.value_code,
        n_units=int(units.size),
        n_raters=int(rater_codes.size),
        width=int(data.domain.size),
    )


_Stats = TypeVar("_Stats")


@dataclass(frozen=True)
class _Batch(Generic[_Stats]):
    """Coefficients of a batch of replicates, in two steps.

    ``units`` gives per-unit statistics of R rows of rater weights (None: every weight
    1, one row); ``sums`` adds them up over the units weighted by item weights of shape
    (R or 1, K, units) and gives each coefficient's (R, K) values (NaN where
    undefined). Called with (item weights (B, units), rater weights (B, raters) or
    None), row b pairs item row b with rater row b; :meth:`crossed` pairs every item
    row with every rater row at the cost of the rater rows alone.
    """

    units: Callable[[FloatArray | None], _Stats]
    sums: Callable[[FloatArray, _Stats], dict[str, FloatArray]]

    def __call__(self, items: FloatArray, raters: FloatArray | None) -> dict[str, FloatArray]:
        weights = items[None, :, :] if raters is None else items[:, None, :]
        found = self.sums(weights, self.units(raters))
        return {name: values.reshape(-1) for name, values in found.items()}

    def crossed(self, items: FloatArray, raters: FloatArray) -> dict[str, FloatArray]:
        """(K, R) values: item row k with rater row r."""
        found = self.sums(items[None, :, :], self.units(raters))
        return {name: values.T for name, values in found.items()}


def _unit_sums(weights: FloatArray, per_unit: FloatArray) -> FloatArray:
    """(R', K) sums over units of item weights (R or 1, K, U) times per-unit (R, U) values,
    or (R', K, V) for per-unit (R, U, V) values."""
    sums: FloatArray
    if weights.shape[1] == 1:  # one item row per rater row
        if per_unit.ndim == 2:
            sums = (weights[:, 0, :] * per_unit).sum(axis=1)[:, None]
        else:
            sums = np.einsum("bu,buv->bv", weights[:, 0, :], per_unit)[:, None, :]
    elif weights.shape[0] == 1 and per_unit.ndim == 2:  # every item row with every rater row
        sums = per_unit @ weights[0].T
    else:
        shaped = per_unit if per_unit.ndim == 3 else per_unit[:, :, None]
        sums = np.matmul(weights, shaped)
        if per_unit.ndim == 2:
            sums = sums[:, :, 0]
    return sums


#: Rows ``start:stop`` of the (item weights, rater weights) of a set of replicates.
_Rows: TypeAlias = Callable[[int, int], tuple[FloatArray, FloatArray | None]]


def _chunked(batch: _Batch[Any], size: int, rows: _Rows, cells: int) -> dict[str, FloatArray]:
    """``batch`` over ``size`` rows built chunk by chunk, about _CHUNK_CELLS cells each."""
    step = max(1, _CHUNK_CELLS // max(1, cells))
    parts = [batch(*rows(i, min(i + step, size))) for i in range(0, size, step)]
    if not parts:
        return {}
    return {name: np.concatenate([part[name] for part in parts]) for name in parts[0]}


def _given(weights: FloatArray, n_other: int, *, raters: bool) -> _Rows:
    """Rows of drawn weights for one facet, the other facet kept whole."""

    def rows(start: int, stop: int) -> tuple[FloatArray, FloatArray | None]:
        if raters:
            return np.ones((stop - start, n_other)), weights[start:stop]
        return weights[start:stop], None

    return rows


def _left_out(n: int, n_other: int, *, raters: bool) -> _Rows:
    """Rows leaving out one unit (or one rater) each: the jackknife of that facet."""

    def rows(start: int, stop: int) -> tuple[FloatArray, FloatArray | None]:
        kept = np.ones((stop - start, n))
        kept[np.arange(stop - start), np.arange(start, stop)] = 0.0
        if raters:
            return np.ones((stop - start, n_other)), kept
        return kept, None

    return rows


@dataclass(frozen=True)
class _Replicates:
    """Per coefficient: bootstrap replicates and, raters fixed, the jackknife over items
    (BCa), or, raters sampled, the two-way variance of the estimate (normal interval)."""

    bootstrap: dict[str, FloatArray]
    jackknife: dict[str, tuple[FloatArray, ...]]
    variance: dict[str, float] | None = None
    #: Satterthwaite's degrees of freedom of each variance (raters sampled).
    df: dict[str, float] | None = None

    def interval(
        self, name: str, estimate: float, minimum: float | None = None, floor: float = -np.inf
    ) -> _Interval:
        """The 95% interval of one coefficient (and P below ``minimum``); ``floor`` is the
        coefficient's smallest possible value."""
        if self.variance is None:
            return _bca_interval(estimate, self.bootstrap[name], self.jackknife[name], minimum)
        df = None if self.df is None else self.df.get(name)
        return _normal_interval(
            estimate, self.bootstrap[name], self.variance[name], minimum, floor=floor, df=df
        )


def _left_out_pairs(
    batch: _Batch[Any], grid: tuple[IntArray, IntArray], table: RatedValues
) -> dict[str, FloatArray]:
    """Each coefficient leaving out one item and one rater, for every pair of the grid
    ((k_I, k_R) values), chunk by chunk of left-out raters."""
    items, raters = grid
    item_rows = np.ones((items.size, table.n_units))
    item_rows[np.arange(items.size), items] = 0.0
    cells = table.cells * (items.size if table.use_pairs() else 1)
    step = max(1, _CHUNK_CELLS // max(1, cells))
    parts = []
    for start in range(0, raters.size, step):
        chunk = raters[start : start + step]
        rater_rows = np.ones((chunk.size, table.n_raters))
        rater_rows[np.arange(chunk.size), chunk] = 0.0
        parts.append(batch.crossed(item_rows, rater_rows))
    return {name: np.concatenate([part[name] for part in parts], axis=1) for name in parts[0]}


def _interaction_variance(table: FloatArray, n: tuple[int, int]) -> float:
    """The rater x item part of the estimate's variance, from the two-way jackknife.

    ``table`` holds the estimates leaving out item i and rater r for the grid's
    k_I x k_R pairs, ``n`` = (N items, n raters). For a mean of the table,
    theta_(-i,-r) double-centred over the grid is e_ir / ((N - 1)(n - 1)) with e the
    interaction residual, so sum D^2 (N - 1)^2 (n - 1)^2 / ((k_I - 1)(k_R - 1)) estimates
    its variance s_e^2 and s_e^2 / (N n) is its part of the variance of the estimate
    (the delta method carries this over to smooth functions such as alpha). Items or
    raters of the grid with an undefined estimate are left out; 0 when fewer than two of
    either remain.
    """
    defined = np.isfinite(table)
    rows = defined.all(axis=1)
    table = table[rows]
    table = table[:, np.isfinite(table).all(axis=0)]
    k_items, k_raters = table.shape
    if k_items < 2 or k_raters < 2:
        return 0.0
    centred = table - table.mean(axis=0) - table.mean(axis=1)[:, None] + table.mean()
    n_items, n_raters = n
    scale = (n_items - 1.0) ** 2 * (n_raters - 1.0) ** 2
    residual = float((centred**2).sum()) * scale / ((k_items - 1.0) * (k_raters - 1.0))
    return float(residual / (n_items * n_raters))


def _left_out_rater_pairs(
    batch: _Batch[Any], raters: IntArray, table: RatedValues
) -> dict[str, FloatArray]:
    """Each coefficient leaving out two raters (every item kept), for every pair of
    ``raters`` in the order of ``numpy.triu_indices``."""
    first, second = np.triu_indices(raters.size, 1)

    def rows(start: int, stop: int) -> tuple[FloatArray, FloatArray | None]:
        kept = np.ones((stop - start, table.n_raters))
        span = np.arange(stop - start)
        kept[span, raters[first[start:stop]]] = 0.0
        kept[span, raters[second[start:stop]]] = 0.0
        return np.ones((stop - start, table.n_units)), kept

    return _chunked(batch, int(first.size), rows, table.cells)


def _pair_variance(values: FloatArray, k: int, n_raters: int) -> float:
    """The raters' pair part of the estimate's variance, from the delete-two-raters table.

    Raters enter every coefficient here through pairs: the estimate is, to first order,
    a mean over the C = n (n - 1) / 2 pairs of raters of a kernel g_rs, whose degenerate
    part w_rs (what is left after each rater's own effect) adds s_w^2 / C to the
    variance. ``values`` holds the estimate leaving out raters r and s for the pairs of
    k raters (:func:`_left_out_rater_pairs`): it is a constant plus terms of r and of s
    plus w_rs / C' (C' = (n - 2)(n - 3) / 2 pairs left), so U-centring the k x k table
    (Szekely & Rizzo 2014) leaves w_rs / C', and sum U^2 C'^2 / (k (k - 3)) estimates
    s_w^2 without bias (Hoeffding 1948). Raters with an undefined value drop out; 0 when
    fewer than four raters remain.
    """
    table = np.zeros((k, k))
    first, second = np.triu_indices(k, 1)
    table[first, second] = values
    table[second, first] = values
    kept = np.isfinite(table).all(axis=1)
    table = table[np.ix_(kept, kept)]
    k = int(table.shape[0])
    if k < 4:
        return 0.0
    sums = table.sum(axis=1)
    centred = table - (sums[:, None] + sums[None, :]) / (k - 2.0)
    centred += sums.sum() / ((k - 1.0) * (k - 2.0))
    np.fill_diagonal(centred, 0.0)
    n = float(n_raters)
    left = (n - 2.0) * (n - 3.0) / 2.0
    s_w = float((centred**2).sum()) * left**2 / (k * (k - 3.0))
    return s_w / (n * (n - 1.0) / 2.0)


def _two_way_variance(
    item_part: FloatArray,
    rater_part: FloatArray,
    interaction: float,
    n: tuple[int, int],
    pairs: float = 0.0,
) -> tuple[float, float]:
    """Variance of the estimate, the summed deviations' variance less one interaction,
    and its degrees of freedom.

    The item deviations vary as V_I = A + E_c + F (the items' part, the rater x item
    part and the part F of the raters' pairs that changes from item to item), the rater
    deviations as V_R = B + E_c + 2 G (a bootstrap of raters counts their pair part G,
    with G >= F, twice, as the jackknife of a U-statistic does: Efron & Stein 1981), and
    the two-way jackknife's interaction as E = E_c + 2 F. The estimate varies as
    A + B + E_c + G, which is V_I + V_R - E less the pairs' part common to all items
    (left in: the variance errs on the safe side). The sum of the two facets' variances
    counts the interaction twice (McCullagh 2000; Owen 2007), so E is taken out once,
    capped at what the parts allow: E <= V_I + F <= V_I + G and E <= V_R, with G from
    :func:`_pair_variance` (``pairs``).

    The parts are estimated from N items, n raters and their N n cells, so with
    Satterthwaite's (1946) approximation V has df = V^2 / (A^2 / (N - 1) + B^2 / (n - 1)
    + E^2 / ((N - 1)(n - 1))) degrees of freedom (A = V_I - E, B = V_R - E, a negative
    one read as 0, as negative estimates of variance components are: Searle, Casella &
    McCulloch 1992): about 11 at 10 raters x 9 items, 80 at 30 x 60.
    """
    v_items, v_raters = float(np.var(item_part)), float(np.var(rater_part))
    e = min(max(interaction, 0.0), v_items + max(pairs, 0.0), v_raters)
    variance = max(v_items + v_raters - e, 0.0)
    n_items, n_raters = max(n[0] - 1.0, 1.0), max(n[1] - 1.0, 1.0)
    a, b = max(v_items - e, 0.0), max(v_raters - e, 0.0)
    spread = a**2 / n_items + b**2 / n_raters + e**2 / (n_items * n_raters)
    df = variance**2 / spread if spread > 0 else np.inf
    return variance, float(df)


def _second_order_parts(
    batch: _Batch[Any], table: RatedValues, draws: _Draws
) -> tuple[dict[str, float], dict[str, float]]:
    """Per coefficient, the rater x item interaction E (:func:`_interaction_variance`)
    and the raters' pair part G (:func:`_pair_variance`), on the draws' grid."""
    if draws.grid is None:
        return {}, {}
    n = (table.n_units, table.n_raters)
    both = _left_out_pairs(batch, draws.grid, table)
    interaction = {name: _interaction_variance(values, n) for name, values in both.items()}
    raters = draws.grid[1]
    raters = raters[:: -(-raters.size // _PAIR_GRID)]
    left_out = _left_out_rater_pairs(batch, raters, table)
    pairs = {
        name: _pair_variance(values, int(raters.size), table.n_raters)
        for name, values in left_out.items()
    }
    return interaction, pairs


def _replicates(
    batch: _Batch[Any], table: RatedValues, draws: _Draws, point: Mapping[str, float]
) -> _Replicates:
    """Bootstrap replicates of each coefficient, with what its interval needs.

    Raters fixed: the item bootstrap and the jackknife over items (for BCa). Raters
    sampled: theta + c_I (theta*_items - theta) + c_R (theta*_raters - theta), the
    deviations of an item bootstrap (raters kept) and of an independent rater bootstrap
    (items kept) added, c = sqrt(n / (n - 1)) undoing the bootstrap's shrinkage of a
    variance by (n - 1) / n; and the variance of the estimate, that of these replicates
    less the rater x item part they count twice (:func:`_two_way_variance`), estimated
    by the two-way jackknife (:func:`_interaction_variance`).
    """
    cells = table.cells
    n_units, n_raters = table.n_units, table.n_raters
    by_items = _chunked(batch, draws.size, _given(draws.items, n_raters, raters=False), cells)
    c_items = np.sqrt(n_units / max(n_units - 1.0, 1.0))
    item_part = {name: c_items * (values - point[name]) for name, values in by_items.items()}
    if draws.raters is None:
        jackknife = _chunked(batch, n_units, _left_out(n_units, n_raters, raters=False), cells)
        return _Replicates(
            bootstrap={name: point[name] + part for name, part in item_part.items()},
            jackknife={name: (values,) for name, values in jackknife.items()},
        )
    by_raters = _chunked(batch, draws.size, _given(draws.raters, n_units, raters=True), cells)
    c_raters = np.sqrt(n_raters / max(n_raters - 1.0, 1.0))
    interaction, pairs = _second_order_parts(batch, table, draws)
    combined, variance, df = {}, {}, {}
    for name, values in by_raters.items():
        rater_part = c_raters * (values - point[name])
        combined[name] = point[name] + item_part[name] + rater_part
        used = np.isfinite(combined[name])
        variance[name], df[name] = (
            _two_way_variance(
                item_part[name][used],
                rater_part[used],
                interaction.get(name, 0.0),
                (n_units, n_raters),
                pairs.get(name, 0.0),
            )
            if used.any()
            else (0.0, np.inf)
        )
    return _Replicates(bootstrap=combined, jackknife={}, variance=variance, df=df)


@dataclass(frozen=True)
class _Interval:
    low: float | None
    high: float | None
    reason: str | None
    n_used: int
    p_below: float | None = None


def _acceleration(jackknife: Sequence[FloatArray]) -> float:
    """BCa acceleration from the jackknife of each facet (items, raters).

    With influence values L_j = (n - 1)(mean - theta_(-j)) per facet, the skewness of
    the linear approximation sum_f sum_j L_j / n_f is (sum_f sum_j L_j^3 / n_f^3) /
    (sum_f sum_j L_j^2 / n_f^2)^(3/2), and a is a sixth of it (Efron 1987).
    """
    third = second = 0.0
    for values in jackknife:
        defined = values[np.isfinite(values)]
        if defined.size < 2:
            continue
        influence = (defined.size - 1.0) * (defined.mean() - defined)
        third += float((influence**3).sum()) / defined.size**3
        second += float((influence**2).sum()) / defined.size**2
    return third / (6.0 * second**1.5) if second > 0 else 0.0


def _bca_interval(
    estimate: float,
    replicates: FloatArray,
    jackknife: Sequence[FloatArray],
    minimum: float | None = None,
) -> _Interval:
    """Efron's bias-corrected and accelerated 95% interval from the defined replicates.

    ``p_below`` is the BCa confidence that the coefficient is below ``minimum``: the
    level of the one-sided BCa bound that falls on ``minimum``, so it is below 0.025
    when ``minimum`` is below the interval (up to ties among the replicates).
    """
    if replicates.size == 0:
        return _Interval(None, None, "no bootstrap replicates were requested", 0)
    defined = np.sort(replicates[np.isfinite(replicates)])
    if defined.size == 0:
        reason = "the coefficient is undefined in every bootstrap replicate"
        return _Interval(None, None, reason, 0)
    n = defined.size
    below = np.searchsorted(defined, estimate, side="left")
    ties = np.searchsorted(defined, estimate, side="right") - below
    share = np.clip((below + 0.5 * ties) / n, 0.5 / n, 1.0 - 0.5 / n)
    z0 = float(scipy.special.ndtri(share))
    a = _acceleration(jackknife)
    shifted = z0 + _Z
    levels = scipy.special.ndtr(z0 + shifted / (1.0 - a * shifted))
    low, high = np.quantile(defined, levels)
    p_below = None
    if minimum is not None:
        # The inverse of the interpolated quantiles the interval is read from.
        g = float(np.interp(minimum, defined, np.linspace(0.0, 1.0, n))) if n > 1 else 0.5
        if n == 1 and minimum != defined[0]:
            g = float(minimum > defined[0])
        if g <= 0.0 or g >= 1.0:
            p_below = float(g)
        else:
            y = float(scipy.special.ndtri(g)) - z0
            p_below = float(scipy.special.ndtr(y / (1.0 + a * y) - z0))
    return _Interval(float(low), float(high), None, int(n), p_below)


def _normal_interval(
    estimate: float,
    replicates: FloatArray,
    variance: float,
    minimum: float | None = None,
    *,
    floor: float = -np.inf,
    df: float | None = None,
) -> _Interval:
    """The bias-corrected 95% interval theta - b +- t sqrt(v), t the 97.5% point of
    Student's t with ``df`` degrees of freedom (the normal's 1.96 when None or infinite).

    b is the replicates' mean less the estimate (the bootstrap's estimate of the bias),
    v the variance of the estimate (Davison & Hinkley 1997, eq. 5.5), df its
    Satterthwaite degrees of freedom (:func:`_two_way_variance`). The upper end is
    capped at 1, the largest value of every coefficient here, the lower end at ``floor``
    (0 for percent agreement, -1 for the kappa-type coefficients). ``p_below`` is the
    same construction's confidence that the coefficient is below ``minimum``,
    T_df((minimum - (theta - b)) / sqrt(v)): below 0.025 exactly when ``minimum`` is
    below the interval.
    """
    if replicates.size == 0:
        return _Interval(None, None, "no bootstrap replicates were requested", 0)
    defined = replicates[np.isfinite(replicates)]
    if defined.size == 0:
        reason = "the coefficient is undefined in every bootstrap replicate"
        return _Interval(None, None, reason, 0)
    centre = 2.0 * estimate - float(defined.mean())
    finite = df is not None and bool(np.isfinite(df))
    dof = float(df) if df is not None and finite else np.inf
    quantile = float(scipy.special.stdtrit(dof, 0.975)) if finite else _Z_975
    spread = quantile * float(np.sqrt(variance))
    p_below = None
    if minimum is not None:
        if variance > 0:
            z = (minimum - centre) / np.sqrt(variance)
            p_below = float(scipy.special.stdtr(dof, z) if finite else scipy.special.ndtr(z))
        else:
            p_below = float(minimum > centre)
    low, high = max(centre - spread, floor), min(centre + spread, 1.0)
    return _Interval(float(low), float(high), None, int(defined.size), p_below)


# ----------------------------------------------------------------------------- alpha


#: Alpha and the kappa-type coefficients need at least this many items with two or more
#: values. With one such item the expected disagreement (or chance agreement) is computed
#: from the very values whose observed disagreement it corrects, so alpha is 0 and kappa a
#: fixed function of that item's spread, whatever the raters did (Krippendorff 2011: the
#: coincidences of one unit equal their expected values).
MIN_PAIRABLE_ITEMS = 2

_CATEGORICAL_LEVELS = ("nominal", "ordinal")


def level_problem(data: DimensionData, level: str) -> str | None:
    """Why the values of ``data`` do not suit ``level``, or None when they do.

    Notes
    -----
    * ratio: the ratio difference ((c - k) / (c + k))^2 presumes a true zero and
      non-negative values (Krippendorff 2011, section on metric differences); with
      values of both signs c + k can be 0 or change sign, and alpha is meaningless.
    * nominal and ordinal: each distinct value is a category (ordinal: a rank). Values
      that are not integers are most likely measurements, not categories, so they are
      refused unless a scale lists the admissible values (then they are categories by
      declaration, e.g. a scale with half points). Text labels are read as categories
      by :func:`analysis.tidy.read_ratings_csv` (``Columns(text_values=True)``).
    """
    domain = data.domain
    if level == "ratio" and domain.size and domain.min() < 0:
        return (
            f"dimension {data.dimension!r}: the ratio level needs values >= 0 with a true "
            f"zero, but the values reach {domain.min():g}; use the interval level"
        )
    if level in _CATEGORICAL_LEVELS and not data.declared_scale:
        fractional = domain[domain != np.round(domain)]
        if fractional.size:
            return (
                f"dimension {data.dimension!r}: the {level} level treats each value as a "
                f"category, and {fractional[0]:g} is not a whole number; give the scale "
                "(the admissible values) or use the interval level"
            )
    return None


def _pairable_items(counts: FloatArray) -> BoolArray:
    pairable: BoolArray = counts.sum(axis=1) >= 2
    return pairable


def _alpha_degenerate(data: DimensionData, counts: FloatArray) -> str | None:
    if data.n_raters < 2:
        return f"values from {data.n_raters} rater(s) only; alpha needs at least two raters"
    pairable = _pairable_items(counts)
    if not pairable.any():
        return "no item has values from two raters, so no pairable values"
    if pairable.sum() < MIN_PAIRABLE_ITEMS:
        return (
            "fewer than two items with two or more ratings; with one item alpha is 0 "
            "by construction"
        )
    if (counts[pairable].sum(axis=0) > 0).sum() < 2:
        return "every pairable value is the same, so there is no variation to agree on"
    return None


def _too_few_items(weights: FloatArray, pairs: FloatArray) -> BoolArray:
    """(R', K) replicates that drew fewer than MIN_PAIRABLE_ITEMS distinct pairable items,
    for item weights (R or 1, K, U) and the pairs of each unit (R, U)."""
    drawn = _unit_sums((weights > 0).astype(float), (pairs > 0).astype(float))
    few: BoolArray = drawn < MIN_PAIRABLE_ITEMS
    return few


@dataclass(frozen=True)
class _AlphaUnits:
    """Per unit (R rows of rater weights): pairs P and the scale m / P of its
    coincidences, with the weighted value counts (sums of w and of w^2, (R, U, V)), or
    the pairs' rater weights when the list of pairs is used."""

    pairs: FloatArray
    ratio: FloatArray
    counts: tuple[FloatArray, FloatArray] | None
    pair_weights: FloatArray | None


def _alpha_batch(
    table: RatedValues, domain: FloatArray, levels: Sequence[Level]
) -> _Batch[_AlphaUnits]:
    width = domain.size
    index = np.arange(width)

    def units(raters: FloatArray | None) -> _AlphaUnits:
        counts = None if table.use_pairs() else table.weighted_counts(raters)
        m, pairs = table.pair_totals(raters, counts)
        # A unit of m values spreads each value over its m - 1 partners (Krippendorff);
        # with rater weights the partners are the P / m pairs per value.
        ratio = np.divide(m, pairs, out=np.zeros_like(m), where=pairs > 0)
        if counts is None:
            return _AlphaUnits(pairs, ratio, None, table.pair_products(raters))
        return _AlphaUnits(pairs, ratio, counts, None)

    def coincidences(weights: FloatArray, per_unit: _AlphaUnits) -> FloatArray:
        """(R', K, V*V): o_ck = sum_u v_u (m/P)_u (n_uc n_uk - [c = k] sum_r w_r^2 ...)."""
        if per_unit.counts is None:
            assert per_unit.pair_weights is not None
            return table.pair_coincidences(weights, per_unit.ratio, per_unit.pair_weights)
        n, square = per_unit.counts
        scale = per_unit.ratio
        if weights.shape[1] == 1:  # one item row per rater row: no per-unit matrices
            scaled = (weights[:, 0, :] * scale)[:, :, None]
            o = np.matmul((n * scaled).transpose(0, 2, 1), n)
            o[:, index, index] -= np.einsum("bu,buv->bv", scaled[:, :, 0], square)
            aligned: FloatArray = o.reshape(o.shape[0], 1, width * width)
            return aligned
        # The outer products n_uc n_uk (einsum multiplies each pair once, as broadcasting
        # does, in less than half the time), less the squares on the diagonal (every
        # (V + 1)-th cell of the flattened V x V).
        per_unit_o = np.einsum("buc,buk->buck", n, n).reshape(*scale.shape, width * width)
        per_unit_o[:, :, :: width + 1] -= square
        per_unit_o *= scale[:, :, None]
        flat: FloatArray = np.matmul(weights, per_unit_o)
        return flat

    def sums(weights: FloatArray, per_unit: _AlphaUnits) -> dict[str, FloatArray]:
        o = coincidences(weights, per_unit)
        shape = o.shape[:2]
        few = _too_few_items(weights, per_unit.pairs)
        values: dict[str, FloatArray] = {}
        for level in levels:
            alpha = alpha_batch(o.reshape(-1, width * width), domain, level).reshape(shape)
            alpha[few] = np.nan
            values[level] = alpha
        return values

    return _Batch(units, sums)


#: Why a coefficient is undefined (by name) and the defined values (by name).
_Points: TypeAlias = tuple[Mapping[str, str | None], dict[str, float]]


def _alpha_points(data: DimensionData, levels: Sequence[Level]) -> _Points:
    """Why alpha is undefined at each level (None: defined), and its defined values."""
    _, counts = data.value_counts()
    degenerate = _alpha_degenerate(data, counts)
    reasons: dict[str, str | None] = {
        level: degenerate or level_problem(data, level) for level in levels
    }
    values: dict[str, float] = {
        level: float(
            krippendorff.alpha(
                value_counts=counts, value_domain=data.domain, level_of_measurement=level
            )
        )
        for level in levels
        if reasons[level] is None
    }
    return reasons, values


def _alpha_results(
    data: DimensionData,
    *,
    levels: Sequence[Level],
    draws: _Draws,
    minimum: float,
    shared: _Replicates | None = None,
    points: _Points | None = None,
) -> dict[str, AlphaResult]:
    """Alpha at each level; ``shared`` holds replicates already computed for them, and
    ``points`` what :func:`_alpha_points` gave for these levels."""
    _, counts = data.value_counts()
    pairable = _pairable_items(counts)
    n_pairable_units = int(pairable.sum())
    n_pairable_values = int(counts[pairable].sum())
    reasons, values = _alpha_points(data, levels) if points is None else points
    defined = [level for level in levels if level in values]
    replicates = shared
    if replicates is None and defined and draws.size:
        table = _rated_values(data)
        replicates = _replicates(_alpha_batch(table, data.domain, defined), table, draws, values)
    # What the result at every level shares.
    alpha_result = partial(
        AlphaResult,
        name="krippendorff_alpha",
        minimum=minimum,
        n_pairable_units=n_pairable_units,
        n_pairable_values=n_pairable_values,
    )
    results: dict[str, AlphaResult] = {}
    for level in levels:
        reason = reasons[level]
        if reason is not None:
            results[level] = alpha_result(value=None, reason=reason, level=level)
            continue
        value = values[level]
        if draws.alpha_interval == "hayes-krippendorff":
            interval = _hk_interval(data, counts, level, draws, minimum)
        elif replicates is None:
            interval = _bca_interval(value, np.empty(0), ())
        else:
            interval = replicates.interval(level, value, minimum)
        results[level] = alpha_result(
            value=value,
            ci_low=interval.low,
            ci_high=interval.high,
            ci_reason=interval.reason,
            n_bootstrap=interval.n_used,
            level=level,
            p_below_minimum=interval.p_below,
            reading=read_alpha(value),
            interval_method=_interval_method(draws),
        )
    return results


def _interval_method(draws: _Draws) -> str:
    if draws.alpha_interval == "hayes-krippendorff":
        return HK_METHOD
    return "two-way" if draws.raters is not None else "items-bca"


def _hk_interval(
    data: DimensionData, counts: FloatArray, level: Level, draws: _Draws, minimum: float
) -> _Interval:
    """The Hayes-Krippendorff percentile interval and q (see :mod:`_hayes_krippendorff`)."""
    assert draws.generator is not None
    found = hayes_krippendorff(
        counts,
        data.domain,
        level,
        n_raters=data.n_raters,
        n_bootstrap=draws.size,
        rng=draws.generator,
        minimum=minimum,
    )
    return _Interval(found.low, found.high, found.reason, found.n_bootstrap, found.q)


@dataclass(frozen=True)
class Bootstrap:
    """How the reliability coefficients' confidence intervals are bootstrapped.

    Parameters
    ----------
    n_bootstrap : int
        Number of bootstrap replicates for the confidence intervals (0: no interval).
    rng : numpy.random.Generator or int, optional
        Source of randomness for the bootstrap (an int is a seed: the same draws on
        every call).
    raters : {"sampled", "fixed"}
        "sampled" (default): the raters stand for the raters one could have asked, and
        the interval is about the population coefficient (raters and items both
        resampled). "fixed": the conclusion is about these raters only, and the interval
        is about their coefficient over the population of items (items resampled).
    alpha_interval : {"two-way", "hayes-krippendorff"}
        Alpha's interval (and ``p_below_minimum``). "two-way" (default): the interval
        described under ``raters``. "hayes-krippendorff" (or "hk"): the bootstrap of
        Hayes & Krippendorff (2007), as the KALPHA macro computes it: pairable values
        are resampled from the coincidence matrix with the expected disagreement held
        fixed; the interval is its percentile interval and ``p_below_minimum`` its q,
        the share of replicates below ``minimum_alpha``. Provided to match published
        KALPHA figures; it treats neither items nor raters as samples (see
        :func:`krippendorff_alpha`). The kappa-type coefficients keep the two-way
        intervals either way.
    minimum_alpha : float
        The smallest acceptable alpha; alpha's ``p_below_minimum`` is the bootstrap
        confidence that alpha is below it.

    Examples
    --------
    >>> Bootstrap(200, rng=1, alpha_interval="hk").n_bootstrap
    200
    """

    n_bootstrap: int = 1000
    rng: np.random.Generator | int | None = None
    raters: str = "sampled"
    alpha_interval: str = "two-way"
    minimum_alpha: float = TENTATIVE_ALPHA


def _prepared(
    ratings: pd.DataFrame | DimensionData,
    dimension: Hashable | None,
    level: str | None,
    scale: Sequence[float] | None,
    bootstrap: Bootstrap,
) -> tuple[DimensionData, _Draws]:
    """Checked arguments, the one dimension's data and the bootstrap draws."""
    checked = None if level is None else _check_level(level)
    n_bootstrap = check_bootstrap(bootstrap.n_bootstrap)
    facets = _check_raters(bootstrap.raters)
    method = check_alpha_interval(bootstrap.alpha_interval)
    if method == "hayes-krippendorff" and facets == "fixed":
        raise ValueError(
            "raters: the Hayes-Krippendorff interval resamples pairable values, not raters "
            "or items, so raters='fixed' does not apply to it; leave raters as 'sampled'"
        )
    generator = make_generator(bootstrap.rng, "rng")
    data = _one_dimension(ratings, dimension, scale)
    problem = None if checked is None else level_problem(data, checked)
    if problem is not None:
        raise ValueError(f"level: {problem}")
    return data, _draws(data, n_bootstrap, generator, facets, method)


@_shared_docs
def krippendorff_alpha(
    ratings: pd.DataFrame,
    *,
    dimension: Hashable | None = None,
    level: str = "ordinal",
    scale: Sequence[float] | None = None,
    bootstrap: Bootstrap = Bootstrap(),
) -> AlphaResult:
    """Krippendorff's alpha with a bootstrap confidence interval.

    Parameters
    ----------
    {{one_dimension}}
    level : {"nominal", "ordinal", "interval", "ratio"}
        Level of measurement, which sets the difference function.
    scale : sequence of float, optional
        All admissible values. Alpha does not depend on unused values (their n_c is 0),
        so this only checks that every value is on the scale.
    {{bootstrap}}

    Returns
    -------
    AlphaResult
        ``value`` (None with ``reason`` when undefined), ``ci_low``/``ci_high`` (95%
        BCa interval), ``p_below_minimum`` and ``reading``.

    Notes
    -----
    The point estimate is computed by the ``krippendorff`` package from the value
    counts. Units are the items; missing values are simply absent, and items with
    fewer than two values contribute no pairable values.

    Interval (``raters="sampled"``): both the items and the raters are samples, so the
    estimate varies with each (Hoeffding's decomposition of a crossed design: an item
    part ~1/N, a rater part ~1/n and a rater x item part ~1/(nN)); resampling items only
    misses the rater part, and at the panel sizes we ship (10 x 9, 10 x 13) its
    intervals covered the population alpha 70-87% of the time, the truth mostly above
    them (alpha is biased low by about (1 - alpha)/N and by the rater spread / n).
    Each replicate b adds the deviations of an item bootstrap (items drawn with
    replacement, raters kept) and of an independent rater bootstrap (raters drawn with
    replacement, items kept): alpha + c_N (alpha*_items - alpha) + c_n (alpha*_raters -
    alpha), with c = sqrt(n / (n - 1)) undoing the bootstrap's shrinkage of a variance.
    In a rater replicate a rater drawn twice counts as two raters, but the two copies
    are never paired (they would agree by construction): a unit's values are paired
    over distinct raters, each pair weighted w_r w_s and the unit's m values spread over
    its P pairs (m / P = 1 / (m - 1) without copies). The item deviations vary as
    V_I = A + E and the rater deviations as V_R = B + E, where the estimate varies as
    A + B + E (A the items' part, B the raters', E the rater x item part): their sum
    counts E twice (the two-way "pigeonhole" bootstrap, raters and items drawn
    together, counts it three times; McCullagh 2000, Owen 2007), which made nominal
    alpha's, kappa's and AC1's intervals cover 0.98-0.99 at 10 x 9 and 10 x 13. E is
    estimated by the two-way jackknife: alpha leaving out item i and rater r, for every
    pair (i, r) of at most 64 items x 64 raters (drawn at random from larger panels),
    double-centred, D_ir; for a mean of the table D_ir = e_ir / ((N - 1)(n - 1)), so
    E = sum D^2 (N - 1)^2 (n - 1)^2 / ((k_I - 1)(k_R - 1) N n), capped at
    min(V_I + G, V_R): raters enter alpha through pairs, the rater bootstrap counts the
    pairs' part G of the variance twice and E counts the part of it that changes from
    item to item twice, so E may exceed V_I by up to G (G from the delete-two-raters
    jackknife on at most 16 raters; see :func:`_two_way_variance`).
    The interval is the bias-corrected interval (Davison & Hinkley 1997, eq. 5.5) with
    Student's t: alpha - b +- t_df sqrt(V), V = V_I + V_R - E, b the replicates' mean
    less alpha (the bootstrap's estimate of the bias, which is real: about
    -(1 - alpha)/N), the upper end capped at 1, and df Satterthwaite's (1946) degrees of
    freedom of V from its parts A = V_I - E (N - 1 df), B = V_R - E (n - 1; a part below
    0 counts as 0) and E ((N - 1)(n - 1)): V^2 / (A^2/(N - 1) + B^2/(n - 1) +
    E^2/((N - 1)(n - 1))), about 11 at 10 raters x 9 items and 80 at 30 x 60. V is
    estimated from ten raters and nine items, and with the normal's 1.96 the intervals
    covered ordinal and interval alpha 0.91-0.93 at 10 x 9 and 10 x 13, with misses on
    both sides (too narrow, not skewed); with t they cover 0.93-0.95. Over 300 seeded
    panels of 10 raters x 13 items with 20% empty cells V matched the variance of the
    estimates within 3% (the sum V_I + V_R overstated it by 70% for nominal alpha). BCa
    on the same replicates under-covered ordinal alpha at 10 x 9 (0.90; skewed
    replicates), and the basic (reverse percentile) interval with the replicates
    rescaled to V covered ordinal alpha 0.88-0.93. Coverage of the population value by
    simulation (``bench/coverage.py``: a latent model with rater severity, population
    value by quadrature, 500 panels per design, 20% of cells empty): see the table in
    ``analysis/README.md``; 0.93-0.97 for alpha, Fleiss' kappa and AC1 at 10 x 9,
    10 x 13, 15 x 40 and 30 x 60 (AC1 0.98 at 10 x 9 before E's cap allowed for the
    raters' pair part).

    With ``raters="fixed"`` only the item deviations are used, and the interval is
    Efron's (1987) BCa (bias correction z0 from the share of replicates below alpha,
    ties half; acceleration from the jackknife over items): it is then about these
    raters' alpha over the population of items, for a conclusion about this panel only.
    Because the coincidence matrix is a sum over units of pairs of values, every
    replicate is a weighted sum computed in batches: per unit, the rater-weighted value
    counts n_uc (a matrix product; for a rater left out, the full counts less that
    rater's values) give the coincidences n_uc n_uk - [c = k] sum_r w_r^2 [x_ru = c],
    or, for long scales, the list of pairs is weighted directly; the item weights then
    only weight the per-unit sums.
    Replicates in which alpha is undefined (a single value drawn, no two distinct raters
    on an item) are dropped, and so are replicates that drew fewer than two distinct
    items with two or more values (alpha of one item is 0 by construction); ``n_bootstrap``
    in the result counts the replicates used. ``p_below_minimum`` is the confidence that
    alpha is below the bootstrap's ``minimum_alpha`` (m below) read from the same
    construction: T_df((m - (alpha - b)) / sqrt(V)) with raters sampled (T_df Student's
    distribution function), the level of the one-sided BCa bound that falls on m with
    raters fixed (below 0.025 exactly when m is below the interval).
    ``alpha_interval="hayes-krippendorff"`` gives Hayes & Krippendorff's interval and q
    instead: M = min(25 Q, n (m - 1) / 2) cells drawn from the
    coincidence matrix (p_cc = o_cc / n, p_ck = 2 o_ck / n below the diagonal, Q its
    non-zero cells, n the pairable values, m the raters), alpha* = 1 - sum delta / (M
    D_e) with the data's D_e, alpha* below -1 set to -1 and a replicate drawn from one
    diagonal cell set to 0; percentile interval, q = share of alpha* below m
    (:mod:`analysis._hayes_krippendorff`). It draws neither items nor raters: the
    pairs of a unit are not independent, and D_e does not vary, so its interval is
    the spread of a sum of M independent pairs (Gwet 2015; Zapf et al. 2016 found it
    under-covers). Alpha's value is the same with either method.

    Undefined (``value`` None with ``reason``): fewer than two raters, fewer than two
    items with two or more values (:data:`MIN_PAIRABLE_ITEMS`), or a single value among
    the pairable values. Refused (ValueError naming the dimension, see
    :func:`level_problem`): ratio level with negative values; nominal or ordinal level
    with values that are not whole numbers and no ``scale`` listing them.

    References
    ----------
    Krippendorff, K. (2011). Computing Krippendorff's Alpha-Reliability. Annenberg
    School for Communication, University of Pennsylvania.
    Hayes, A. F., & Krippendorff, K. (2007). Answering the call for a standard
    reliability measure for coding data. Communication Methods and Measures, 1(1), 77-89.
    Krippendorff, K. (2006, revised 2011). Algorithm for bootstrapping a distribution of
    alpha. Annenberg School for Communication, University of Pennsylvania.
    Gwet, K. L. (2015). Standard error of Krippendorff's alpha coefficient. K. Gwet's
    Inter-Rater Reliability Blog.
    Zapf, A., Castell, S., Morawietz, L., & Karch, A. (2016). Measuring inter-rater
    reliability for nominal data - which coefficients and confidence intervals are
    appropriate? BMC Medical Research Methodology, 16, 93.
    Efron, B. (1987). Better bootstrap confidence intervals. Journal of the American
    Statistical Association, 82(397), 171-185.
    Satterthwaite, F. E. (1946). An approximate distribution of estimates of variance
    components. Biometrics Bulletin, 2(6), 110-114.
    Davison, A. C., & Hinkley, D. V. (1997). Bootstrap Methods and their Application.
    Cambridge University Press (section 3.8 on two-way data; eq. 5.5).
    McCullagh, P. (2000). Resampling and exchangeable arrays. Bernoulli, 6(2), 285-301.
    Owen, A. B. (2007). The pigeonhole bootstrap. The Annals of Applied Statistics,
    1(2), 386-411.

    Examples
    --------
    Krippendorff (2011), 4 coders x 12 units with missing values:

    >>> rows = {"A": [1, 2, 3, 3, 2, 1, 4, 1, 2, None, None, None],
    ...         "B": [1, 2, 3, 3, 2, 2, 4, 1, 2, 5, None, 3],
    ...         "C": [None, 3, 3, 3, 2, 3, 4, 2, 2, 5, 1, None],
    ...         "D": [1, 2, 3, 3, 2, 4, 4, 1, 2, 5, 1, None]}
    >>> frame = pd.DataFrame([(r, u + 1, "d", v) for r, vs in rows.items()
    ...                       for u, v in enumerate(vs)],
    ...                      columns=["rater", "item", "dimension", "value"])
    >>> for level in ("nominal", "ordinal", "interval", "ratio"):
    ...     result = krippendorff_alpha(frame, level=level, bootstrap=Bootstrap(200, rng=1))
    ...     print(level, round(result.value, 3), result.reading)
    nominal 0.743 tentative
    ordinal 0.815 acceptable
    interval 0.849 acceptable
    ratio 0.797 tentative
    """
    data, draws = _prepared(ratings, dimension, level, scale, bootstrap)
    checked = _check_level(level)
    minimum = float(bootstrap.minimum_alpha)
    alpha = _alpha_results(data, levels=(checked,), draws=draws, minimum=minimum)
    return alpha[checked]


# ------------------------------------------------------------ kappa-type coefficients


def _ordinal_weights(q: int) -> FloatArray:
    rank = np.arange(q)
    span = np.abs(rank[:, None] - rank[None, :]) + 1
    raw = span * (span - 1) / 2.0
    return 1.0 - raw / raw.max() if raw.max() > 0 else np.ones((q, q))


def _quadratic_weights(categories: FloatArray) -> FloatArray:
    x = np.asarray(categories, dtype=float)
    spread = x.max() - x.min() if x.size else 0.0
    if spread == 0:
        return np.ones((x.size, x.size))
    weights: FloatArray = 1.0 - ((x[:, None] - x[None, :]) / spread) ** 2
    return weights


def _chance_corrected(pa: FloatArray, pe: FloatArray) -> FloatArray:
    defined = np.isfinite(pa) & (1.0 - pe > 1e-12)
    value = np.full(pa.shape, np.nan)
    value[defined] = (pa[defined] - pe[defined]) / (1.0 - pe[defined])
    return value


@dataclass(frozen=True)
class _AgreementUnits:
    """Per unit (R rows of rater weights): pairs, whether pairable, each weighting's
    share of agreeing pairs, whether the unit has a value, its categories' shares."""

    pairs: FloatArray
    pairable: FloatArray
    agreement: dict[str, FloatArray]
    rated: FloatArray
    shares: FloatArray


def _agreement_batch(table: RatedValues, categories: FloatArray) -> _Batch[_AgreementUnits]:
    q = categories.size
    weightings = {
        "identity": np.eye(q),
        "ordinal": _ordinal_weights(q) if q else np.ones((0, 0)),
        "quadratic": _quadratic_weights(categories),
    }

    def units(raters: FloatArray | None) -> _AgreementUnits:
        counts, square = table.weighted_counts(raters)
        m, square_total = table.value_totals((counts, square))
        pairs = m * m - square_total
        pairable = pairs > 0
        agreement = {}
        for key, weights in weightings.items():
            agree = table.pair_sums(raters, weights, (counts, square))
            agreement[key] = np.divide(agree, pairs, out=np.zeros_like(pairs), where=pairable)
        rated = (m > 0).astype(float)
        shares = counts / np.where(m > 0, m, 1.0)[:, :, None]
        return _AgreementUnits(pairs, pairable.astype(float), agreement, rated, shares)

    def sums(weights: FloatArray, per_unit: _AgreementUnits) -> dict[str, FloatArray]:
        shape = (max(weights.shape[0], per_unit.pairs.shape[0]), weights.shape[1])
        nothing = np.full(shape, np.nan)
        if q == 0 or table.n_units == 0:
            return {name: nothing.copy() for name in AGREEMENT_COEFFICIENTS}
        # Observed agreement: the mean over items of the weighted share of agreeing pairs.
        n_pairable = _unit_sums(weights, per_unit.pairable)
        pa = {
            key: np.divide(
                _unit_sums(weights, agreement),
                n_pairable,
                out=nothing.copy(),
                where=n_pairable > 0,
            )
            for key, agreement in per_unit.agreement.items()
        }
        # Propensities: the mean over items with a value of each category's share.
        total = _unit_sums(weights, per_unit.rated)
        # An item without a value has shares 0, so they need no mask by ``rated``.
        pi = _unit_sums(weights, per_unit.shares)
        pi /= np.where(total > 0, total, 1.0)[:, :, None]
        values = {
            "percent_agreement": pa["identity"],
            "fleiss_kappa": _chance_corrected(pa["identity"], (pi**2).sum(axis=2)),
            "brennan_prediger": _chance_corrected(pa["identity"], np.full(shape, 1.0 / q)),
        }
        chance = (pi * (1.0 - pi)).sum(axis=2)
        for name, key in (
            ("gwet_ac1", "identity"),
            ("gwet_ac2_ordinal", "ordinal"),
            ("gwet_ac2_quadratic", "quadratic"),
        ):
            if q < 2:
                values[name] = nothing.copy()
                continue
            pe = weightings[key].sum() / (q * (q - 1.0)) * chance
            values[name] = _chance_corrected(pa[key], pe)
        few = _too_few_items(weights, per_unit.pairs)
        for name, value in values.items():
            if name != "percent_agreement":
                value[few] = np.nan
        return values

    return _Batch(units, sums)


_ONE_ITEM_INTERVAL = (
    "one item with two or more ratings: the spread over items, which the interval needs, "
    "cannot be estimated"
)


def _agreement_reason(name: str, data: DimensionData, counts: FloatArray, q: int) -> str:
    if data.n_raters < 2:
        return f"values from {data.n_raters} rater(s) only; agreement needs at least two raters"
    if not (counts.sum(axis=1) >= 2).any():
        return "no item has values from two raters"
    if q < 2 and (name.startswith("gwet") or name == "brennan_prediger"):
        return "the scale has a single category"
    return "chance agreement is 1 (a single value was used), so the coefficient is 0/0"


def _agreement_undefined(name: str, data: DimensionData, counts: FloatArray) -> str | None:
    """Why a chance-corrected coefficient is undefined whatever its formula gives, or None.

    Percent agreement, not corrected for chance, is defined from one item on.
    """
    if name == "percent_agreement":
        return None
    if data.n_raters >= 2 and 0 < _pairable_items(counts).sum() < MIN_PAIRABLE_ITEMS:
        return (
            "fewer than two items with two or more ratings; with one item the chance "
            "agreement comes from that item alone"
        )
    if not data.declared_scale:
        problem = level_problem(data, "nominal")
        if problem is not None:
            return problem.replace("the nominal level treats", "this coefficient treats")
    return None


def _agreement_points(
    data: DimensionData, table: RatedValues, batch: _Batch[Any]
) -> tuple[dict[str, str], dict[str, float]]:
    """Why each kappa-type coefficient is undefined (only those), and every point value."""
    _, counts = data.value_counts()
    point = {
        name: float(values[0])
        for name, values in batch(np.ones((1, table.n_units)), np.ones((1, table.n_raters))).items()
    }
    reasons = {}
    for name in AGREEMENT_COEFFICIENTS:
        undefined = _agreement_undefined(name, data, counts)
        if undefined is not None or not np.isfinite(point[name]):
            reasons[name] = undefined or _agreement_reason(name, data, counts, data.domain.size)
    return reasons, point


def _agreement_results(
    data: DimensionData,
    *,
    draws: _Draws,
    shared: _Replicates | None = None,
    points: _Points | None = None,
) -> AgreementCoefficients:
    """The kappa-type coefficients; ``shared`` holds replicates already computed for them,
    and ``points`` what :func:`_agreement_points` gave."""
    table = _rated_values(data)
    batch = _agreement_batch(table, data.domain)
    reasons, point = _agreement_points(data, table, batch) if points is None else points
    replicates = shared
    if replicates is None and draws.size and len(reasons) < len(AGREEMENT_COEFFICIENTS):
        replicates = _replicates(batch, table, draws, point)
    results: dict[str, Coefficient] = {}
    _, counts = data.value_counts()
    one_item = _pairable_items(counts).sum() < MIN_PAIRABLE_ITEMS
    for name in AGREEMENT_COEFFICIENTS:
        if name in reasons:
            results[name] = Coefficient(name=name, value=None, reason=reasons[name])
            continue
        if one_item:
            # Percent agreement is defined on one item, but its interval is not: with one
            # item there is no spread over items to estimate, and the replicates would
            # give a zero-width interval around whatever that item shows.
            interval = _Interval(None, None, _ONE_ITEM_INTERVAL, 0)
        elif replicates is None:
            interval = _bca_interval(point[name], np.empty(0), ())
        else:
            # Percent agreement is a share; the chance-corrected ones are at least -1.
            floor = 0.0 if name == "percent_agreement" else -1.0
            interval = replicates.interval(name, point[name], floor=floor)
        results[name] = Coefficient(
            name=name,
            value=point[name],
            ci_low=interval.low,
            ci_high=interval.high,
            ci_reason=interval.reason,
            n_bootstrap=interval.n_used,
        )
    return AgreementCoefficients(**results)


@_shared_docs
def agreement_coefficients(
    ratings: pd.DataFrame,
    *,
    dimension: Hashable | None = None,
    categories: Sequence[float] | None = None,
    bootstrap: Bootstrap = Bootstrap(),
) -> AgreementCoefficients:
    """Fleiss' kappa, Gwet's AC1 and AC2, Brennan-Prediger and percent agreement.

    Parameters
    ----------
    {{one_dimension}}
    categories : sequence of float, optional
        All categories of the scale. Default: the values that occur. This matters for
        Brennan-Prediger (chance 1/q) and Gwet (q in the chance agreement).
    {{bootstrap}}
        Its ``alpha_interval`` and ``minimum_alpha`` concern alpha only.

    Returns
    -------
    AgreementCoefficients
        ``fleiss_kappa``, ``gwet_ac1``, ``gwet_ac2_ordinal``, ``gwet_ac2_quadratic``,
        ``brennan_prediger`` and ``percent_agreement``, each a :class:`Coefficient`.

    Notes
    -----
    All follow Gwet's (2014) treatment of missing ratings: with r_ik raters putting
    item i in category k, r_i = sum_k r_ik and weighted counts r*_ik = sum_l w_kl r_il,
    observed agreement is the mean over items with r_i >= 2 of
    sum_k r_ik (r*_ik - 1) / (r_i (r_i - 1)), and the category propensities
    pi_k = mean_i r_ik / r_i are taken over every item with at least one value.
    Chance agreement: Fleiss sum_kl w_kl pi_k pi_l (with w = I); Gwet
    (sum_kl w_kl / (q (q - 1))) sum_k pi_k (1 - pi_k); Brennan-Prediger 1/q. AC2 uses
    Gwet's ordinal weights (on category ranks) or quadratic weights
    1 - ((x_k - x_l) / (x_max - x_min))^2. Percent agreement is the unweighted
    observed agreement. With complete data Fleiss' kappa reduces to Fleiss (1971).

    Confidence intervals: the same scheme as Krippendorff's alpha (item and rater
    bootstrap deviations added, the bias-corrected 95% interval with the two-way
    variance and Student's t; BCa with raters fixed; see :func:`krippendorff_alpha`). In a rater
    replicate the observed agreement of an item is over pairs of distinct raters
    weighted w_r w_s, and a rater drawn twice is two raters who are never paired with
    each other.

    Minimums: the chance-corrected coefficients need at least two raters on an item
    (Fleiss 1971 and Gwet 2014 average agreement over items rated at least twice), at
    least two such items (:data:`MIN_PAIRABLE_ITEMS`: with one, chance agreement is
    estimated from the same item whose agreement it corrects) and more than one value
    used (Fleiss: chance agreement 1 gives 0/0). Below them the value is None with a
    reason; bootstrap replicates below them are dropped. They treat each value as a
    category, so values that are not whole numbers need ``categories``.

    References
    ----------
    Fleiss, J. L. (1971). Measuring nominal scale agreement among many raters.
    Psychological Bulletin, 76(5), 378-382.
    Gwet, K. L. (2014). Handbook of Inter-Rater Reliability (4th ed.). Advanced
    Analytics.
    Brennan, R. L., & Prediger, D. J. (1981). Coefficient kappa: Some uses, misuses,
    and alternatives. Educational and Psychological Measurement, 41(3), 687-699.

    Examples
    --------
    Fleiss (1971): 30 patients, 6 psychiatrists each, 5 diagnoses; kappa = 0.430.

    >>> from statsmodels.stats.tests.test_inter_rater import diagnoses
    >>> frame = pd.DataFrame([(f"{p}-{j}", p, "diagnosis", float(v))
    ...                       for p, row in enumerate(diagnoses) for j, v in enumerate(row)],
    ...                      columns=["rater", "item", "dimension", "value"])
    >>> result = agreement_coefficients(frame, bootstrap=Bootstrap(0))
    >>> round(result.fleiss_kappa.value, 3)
    0.43
    """
    data, draws = _prepared(ratings, dimension, None, categories, bootstrap)
    return _agreement_results(data, draws=draws)


# ----------------------------------------------------------------------- complete data


@_shared_docs
def complete_block(
    ratings: pd.DataFrame | DimensionData, *, dimension: Hashable | None = None
) -> tuple[FloatArray, LabelArray, LabelArray]:
    """The largest complete raters x items block found by greedy deletion.

    Parameters
    ----------
    {{one_dimension}}

    Returns
    -------
    (values, raters, items)
        ``values`` is an (items x raters) array without missing cells, with the labels of
        its rows (``items``) and columns (``raters``), both sorted.

    Notes
    -----
    Finding the largest complete sub-matrix is NP-hard, so a greedy heuristic is used:
    repeatedly delete the rater or the item with the largest share of missing cells
    among the remaining ones (an item on ties, so raters are kept when possible) until
    no cell is missing. With complete data nothing is deleted. Raters and items are
    taken in sorted label order, which makes the result independent of row order.

    Examples
    --------
    >>> frame = pd.DataFrame({"rater": [1, 1, 2, 2, 3], "item": ["a", "b", "a", "b", "a"],
    ...                       "dimension": "d", "value": [1.0, 2.0, 1.0, 3.0, 2.0]})
    >>> values, raters, items = complete_block(frame)
    >>> values.tolist(), raters.tolist(), items.tolist()
    ([[1.0, 1.0], [2.0, 3.0]], [1, 2], ['a', 'b'])
    """
    data = _one_dimension(ratings, dimension)
    rater_codes, rater = data.rater_index
    item_codes, item = data.item_index
    missing = np.ones((rater_codes.size, item_codes.size), dtype=bool)
    missing[rater, item] = False
    keep_rater, keep_item = _greedy_block(missing)
    values = np.full((item_codes.size, rater_codes.size), np.nan)
    values[item, rater] = data.value
    values = values[np.ix_(keep_item, keep_rater)]
    return values, data.raters[rater_codes[keep_rater]], data.items[item_codes[keep_item]]


#: The present-cell count of a deleted rater or item: above any count a kept one can have
#: after every deletion (counts fall by at most one per deletion).
_DELETED = 2**40


def _greedy_block(missing: BoolArray) -> tuple[BoolArray, BoolArray]:
    """The raters and items :func:`complete_block` keeps, from the (raters x items)
    missing-cell mask.

    Counts of present cells among the kept raters and items are kept instead of shares:
    among raters (or items) a share of missing cells is (kept items - present) / kept
    items with one common denominator, so the largest share is the smallest present
    count, and the first of tied shares the first of tied counts; only the two
    candidates' shares are divided out. Deleting a rater lowers the present counts of
    just the items it rated (and the other way round), so a step costs two minima and a
    few additions, not a pass over the mask.
    """
    n_rows, n_columns = missing.shape
    rater, item = np.nonzero(~missing)
    by_item = stable_order(item)
    row_present = np.bincount(rater, minlength=n_rows).astype(np.int64)
    column_present = np.bincount(item, minlength=n_columns).astype(np.int64)
    items_of = np.concatenate([[0], np.cumsum(row_present)])
    raters_of = np.concatenate([[0], np.cumsum(column_present)])
    raters_by_item = rater[by_item]
    while n_rows and n_columns:
        worst_row, worst_column = int(np.argmin(row_present)), int(np.argmin(column_present))
        row_count = n_columns - int(row_present[worst_row])
        column_count = n_rows - int(column_present[worst_column])
        if row_count <= 0 and column_count <= 0:
            break
        if row_count / n_columns > column_count / n_rows:
            row_present[worst_row] = _DELETED
            n_rows -= 1
            column_present[item[items_of[worst_row] : items_of[worst_row + 1]]] -= 1
        else:
            column_present[worst_column] = _DELETED
            n_columns -= 1
            row_present[raters_by_item[raters_of[worst_column] : raters_of[worst_column + 1]]] -= 1
    return row_present < _DELETED // 2, column_present < _DELETED // 2


def _block_table(data: DimensionData) -> tuple[FloatArray, int, int]:
    values, raters, items = complete_block(data)
    return values, data.n_raters - raters.size, data.n_items - items.size


# ----------------------------------------------------------------------------- ICC

#: How the ICC table was computed (``ICCTable.method``).
ANOVA_METHOD = "ANOVA (complete data)"

#: Variance ratios (component / residual) are searched in [0, _THETA_MAX^2]; a ratio
#: below _ZERO_RATIO is an estimate on the boundary and is reported as exactly zero.
_THETA_MAX = 1e4
_ZERO_RATIO = 1e-8
#: Item x rater incidence matrices up to this many cells are dense (BLAS), larger sparse.
_DENSE_CELLS = 4_000_000
# Up to this many (rater, item, item) triples, the sparse system is built from them
# (one sparse product with a vector per likelihood) instead of a sparse matrix product.
_PAIR_LIMIT = 40_000_000
#: When the first factor's levels have so few distinct numbers of ratings that one dense
#: co-occurrence matrix per number takes at most this many cells, those matrices are
#: kept and the system is their weighted sum (see :class:`_CountGroups`).
_GROUPED_CELLS = 16_000_000
#: Relative step of the finite differences that give the observed information at the
#: optimum (and Newton's derivatives where a ratio is near 0).
_STEP = 1e-4


def _reml_method(n_ratings: int) -> str:
    return f"REML (all {n_ratings} ratings)"


def _undefined_icc(
    reason: str, n_items: int = 0, n_raters: int = 0, n_ratings: int = 0
) -> ICCTable:
    return ICCTable(
        forms={form: ICCResult(form=form, value=None, reason=reason) for form in ICC_FORMS},
        n_items=n_items,
        n_raters=n_raters,
        n_ratings=n_ratings,
        reason=reason,
    )


def _finite(value: float) -> float | None:
    return float(value) if np.isfinite(value) else None


def _anova_icc(y: FloatArray) -> ICCTable:
    """The six ICC forms of a complete (items x raters) matrix by two-way ANOVA."""
    n, k = y.shape
    grand = y.mean()
    ss_total = ((y - grand) ** 2).sum()
    ss_rows = k * ((y.mean(axis=1) - grand) ** 2).sum()
    ss_columns = n * ((y.mean(axis=0) - grand) ** 2).sum()
    ss_error = max(ss_total - ss_rows - ss_columns, 0.0)
    msr = ss_rows / (n - 1)
    msc = ss_columns / (k - 1)
    mse = ss_error / ((n - 1) * (k - 1))
    msw = (ss_total - ss_rows) / (n * (k - 1))
    scale = max(abs(grand), 1.0) ** 2 * 1e-12
    # Rounding leaves a mean square that is zero in exact arithmetic at +-1e-16, and the
    # sign of that noise (which depends on the order of the raters and items) would decide
    # between "undefined" and a value: below the scale it is zero.
    msr, msc, mse, msw = (m * (abs(m) > scale) for m in (msr, msc, mse, msw))
    if msr <= scale and msw <= scale:
        return _undefined_icc("all values are equal (no variance)", n, k, n * k)
    df1, df_w, df_e = n - 1, n * (k - 1), (n - 1) * (k - 1)
    q = 0.975
    with np.errstate(all="ignore"):
        values = {
            "ICC1": (msr - msw) / (msr + (k - 1) * msw),
            "ICC2": (msr - mse) / (msr + (k - 1) * mse + k * (msc - mse) / n),
            "ICC3": (msr - mse) / (msr + (k - 1) * mse),
            "ICC1k": (msr - msw) / msr,
            "ICC2k": (msr - mse) / (msr + (msc - mse) / n),
            "ICC3k": (msr - mse) / msr,
        }
        f1 = msr / msw
        f3 = msr / mse
        f1_low = f1 / scipy.special.fdtri(df1, df_w, q)
        f1_high = f1 * scipy.special.fdtri(df_w, df1, q)
        f3_low = f3 / scipy.special.fdtri(df1, df_e, q)
        f3_high = f3 * scipy.special.fdtri(df_e, df1, q)
        icc2 = values["ICC2"]
        fj = msc / mse
        vn = df_e * (k * icc2 * fj + n * (1 + (k - 1) * icc2) - k * icc2) ** 2
        vd = df1 * k**2 * icc2**2 * fj**2 + (n * (1 + (k - 1) * icc2) - k * icc2) ** 2
        v = vn / vd
        f2_high = scipy.special.fdtri(df1, v, q)
        f2_low = scipy.special.fdtri(v, df1, q)
        low2 = n * (msr - f2_high * mse) / (f2_high * (k * msc + (k * n - k - n) * mse) + n * msr)
        high2 = n * (f2_low * msr - mse) / (k * msc + (k * n - k - n) * mse + n * f2_low * msr)
        intervals = {
            "ICC1": ((f1_low - 1) / (f1_low + k - 1), (f1_high - 1) / (f1_high + k - 1)),
            "ICC2": (low2, high2),
            "ICC3": ((f3_low - 1) / (f3_low + k - 1), (f3_high - 1) / (f3_high + k - 1)),
            "ICC1k": (1 - 1 / f1_low, 1 - 1 / f1_high),
            "ICC2k": (low2 * k / (1 + low2 * (k - 1)), high2 * k / (1 + high2 * (k - 1))),
            "ICC3k": (1 - 1 / f3_low, 1 - 1 / f3_high),
        }
        tests = {
            "ICC1": (f1, df_w),
            "ICC1k": (f1, df_w),
            **{form: (f3, df_e) for form in ("ICC2", "ICC3", "ICC2k", "ICC3k")},
        }
        forms = {}
        for form in ICC_FORMS:
            value = _finite(values[form])
            f, df2 = tests[form]
            low, high = (_finite(bound) for bound in intervals[form])
            f_value = _finite(f)
            reason = ci_reason = None
            if value is None:
                reason = "zero variance between items and within items: 0/0"
            elif low is None or high is None or f_value is None:
                low = high = None
                ci_reason = "no residual variance, so the F test and interval are undefined"
            forms[form] = ICCResult(
                form=form,
                value=value,
                ci_low=low,
                ci_high=high,
                f=f_value,
                df1=df1,
                df2=df2,
                p_value=None if f_value is None else float(scipy.special.fdtrc(df1, df2, f)),
                reason=reason,
                ci_reason=ci_reason,
            )
    return ICCTable(
        forms=forms,
        n_items=n,
        n_raters=k,
        n_ratings=n * k,
        k=float(k),
        method=ANOVA_METHOD,
        components={
            "item": (msr - mse) / k,
            "rater": (msc - mse) / n,
            "residual": mse,
            "within": msw,
        },
    )


@dataclass(frozen=True)
class _Factor:
    """A random factor: the level (0, 1, ...) of each rating and the ratings per level."""

    code: IntArray
    size: int
    counts: FloatArray


def _factor(code: IntArray) -> _Factor:
    size = int(code.max()) + 1
    return _Factor(code=code, size=size, counts=np.bincount(code, minlength=size).astype(float))


@dataclass(frozen=True)
class _CoOccurrences:
    """The cells i <= j of the second factor's system that share a level of the first
    factor, and which levels they share: Q[(i, j), r] = Z_ri Z_rj, so that
    Z' diag(d) Z = sum_r d_r z_r z_r' is Q d scattered into its cells."""

    low: IntArray
    high: IntArray
    by_first: scipy.sparse.csr_matrix

    def weighted(self, d: FloatArray, size: int) -> FloatArray:
        """-(Z' diag(d) Z) as a dense (size x size) array (cells i <= j computed, the
        other triangle mirrored)."""
        s = np.zeros((size, size))
        values = -(self.by_first @ d)
        s[self.low, self.high] = values
        s[self.high, self.low] = values
        return s


@dataclass(frozen=True)
class _CountGroups:
    """The second factor's co-occurrences summed per number of ratings of the first
    factor's levels: products[g] = sum over the levels r rated c_g times of z_r z_r'.

    A level's weight in the system, theta_1^2 theta_2^2 / (theta_1^2 c_r + 1), depends on
    its number of ratings c_r only, so Z' diag(d) Z = sum_g d_g products[g] exactly: a
    few scaled additions of dense matrices per likelihood instead of a sparse product
    over every (level, i, j) triple (a panel where every rater rates the same number of
    items has a single group).
    """

    counts: FloatArray
    products: FloatArray

    def weighted(self, theta_first: float, t12: float) -> FloatArray:
        """-(Z' diag(d) Z) as a dense array, d_r = t12^2 / (theta_1^2 c_r + 1)."""
        weights = t12**2 / (theta_first**2 * self.counts + 1.0)
        s: FloatArray = self.products[0] * -weights[0]
        for weight, product in zip(weights[1:], self.products[1:], strict=True):
            s -= weight * product
        return s

    def squared(self, theta_first: float) -> FloatArray:
        """Z' diag(1 / a^2) Z as a dense array, a_r = theta_1^2 c_r + 1."""
        weights = 1.0 / (theta_first**2 * self.counts + 1.0) ** 2
        s: FloatArray = self.products[0] * weights[0]
        for weight, product in zip(weights[1:], self.products[1:], strict=True):
            s += weight * product
        return s


def _count_groups(incidence: scipy.sparse.csr_matrix, counts: FloatArray) -> _CountGroups | None:
    """The per-count co-occurrence matrices of an incidence matrix (first x second), or
    None when they would take more than _GROUPED_CELLS cells."""
    levels, group = np.unique(counts, return_inverse=True)
    size = int(incidence.shape[1])
    if levels.size * size * size > _GROUPED_CELLS:
        return None
    products = np.empty((levels.size, size, size))
    for g in range(levels.size):
        block = incidence[group == g]
        products[g] = (block.T @ block).toarray()
    return _CountGroups(counts=levels.astype(float), products=products)


def _co_occurrences(incidence: scipy.sparse.csr_matrix) -> _CoOccurrences | None:
    """The triples (r, i <= j) of an incidence matrix (first x second), or None when
    there are more than _PAIR_LIMIT of them (or too many cells to count)."""
    lengths = np.diff(incidence.indptr)
    size = int(incidence.shape[1])
    if float((lengths.astype(float) ** 2).sum()) > _PAIR_LIMIT or size * size > _PAIR_LIMIT:
        return None
    index = np.int32  # every position below fits: at most _PAIR_LIMIT pairs and cells
    row = np.repeat(np.arange(lengths.size, dtype=index), lengths)
    per_entry = lengths[row].astype(index)
    left = np.repeat(np.arange(row.size, dtype=index), per_entry)
    first_of_block = np.repeat((np.cumsum(per_entry) - per_entry).astype(index), per_entry)
    right = incidence.indptr[row[left]].astype(index) + (
        np.arange(left.size, dtype=index) - first_of_block
    )
    del first_of_block
    column = incidence.indices.astype(index)
    upper = column[left] <= column[right]
    left, right = left[upper], right[upper]
    flat = column[left] * index(size) + column[right]
    present = np.bincount(flat, minlength=size * size) > 0
    cells = np.flatnonzero(present)
    cell = (np.cumsum(present) - 1)[flat]
    weight = incidence.data[left] * incidence.data[right]
    by_first = scipy.sparse.csr_matrix(
        (weight, (cell, row[left])), shape=(cells.size, incidence.shape[0])
    )
    return _CoOccurrences(low=cells // size, high=cells % size, by_first=by_first)


def _solved(
    off_diagonal: FloatArray | None, diagonal: FloatArray, rhs: FloatArray
) -> tuple[float, FloatArray, tuple[FloatArray, bool] | None]:
    """(log|S|, S^-1 rhs, the Cholesky factor) for S = off_diagonal + diag(diagonal), or
    by division when there is no off-diagonal part (a variance ratio at 0: no pair of the
    second factor's levels is linked; the factor is then None). The division gives
    S^-1 rhs and log|S| as the factorisation of a diagonal matrix does, up to the
    rounding of sqrt(d)^2 against d."""
    if off_diagonal is None:
        return float(np.log(diagonal).sum()), rhs / diagonal[:, None], None
    off_diagonal[np.diag_indices_from(off_diagonal)] += diagonal
    # LAPACK works in column order: the transpose of the (row-ordered) matrix is that
    # order with no copy, and its upper triangle holds the lower one's values; the matrix
    # is ours to overwrite. (A 2,000 x 2,000 system saves a 32 MB copy per evaluation.)
    factor = scipy.linalg.cho_factor(
        off_diagonal.T, lower=False, overwrite_a=True, check_finite=False
    )
    log_det = 2.0 * float(np.log(np.diag(factor[0])).sum())
    return log_det, scipy.linalg.cho_solve(factor, rhs, check_finite=False), factor


@dataclass
class _Solution:
    """What one criterion evaluation leaves for the derivatives at its point (see
    :meth:`_RandomEffects.derivatives_at`): the blocks x_1, x_2 of P^-1 [v_c, v_g]
    (v_c = Lambda' Z' 1, v_g = Lambda' Z' y), the pieces of the criterion, the first
    factor's diagonal a, and the factor of the second factor's system S (None when S is
    diagonal, ``diagonal`` then holding it)."""

    key: bytes
    a: FloatArray
    x1: FloatArray
    x2: FloatArray | None
    c_pg: float
    r_x2: float
    r2: float
    factor: tuple[FloatArray, bool] | None
    diagonal: FloatArray | None


def _upper_row_sums(upper: FloatArray, other: FloatArray, block: int = 256) -> FloatArray:
    """sum_{j >= i} upper_ij other_ij for every row i: the upper triangle only (LAPACK
    leaves the other one as it was), by blocks of rows, without a masked copy."""
    size = upper.shape[0]
    sums = np.empty(size)
    for start in range(0, size, block):
        stop = min(start + block, size)
        corner = np.triu(upper[start:stop, start:stop]) * other[start:stop, start:stop]
        rest = np.einsum("ij,ij->i", upper[start:stop, stop:], other[start:stop, stop:])
        sums[start:stop] = corner.sum(axis=1) + rest
    return sums


#: Newton's method has converged when a step moves no theta by more than this, relative
#: to max(1, theta).
_CONVERGED = 1e-10
#: Criterion values a REML fit remembers (two floats each).
_REMEMBERED = 64


class _RandomEffects:
    """The REML criterion of y = mu + Z_1 u_1 [+ Z_2 u_2] + e for one or two crossed factors.

    Each factor's effects are independent N(0, s_f^2), the residuals N(0, s_e^2). In the
    parametrisation of Bates et al. (2015), theta_f = s_f / s_e and
    P = Lambda' Z' Z Lambda + I with Lambda = diag(theta_f I): then
    -2 log L_REML = (N - 1) log s_e^2 + log|P| + log R_X^2 + r^2 / s_e^2 (+ const), with
    R_X^2 = 1' V*^-1 1 and r^2 the penalised residual sum of squares. P is never formed:
    the first factor's block of P is diagonal and is eliminated, leaving a dense system
    the size of the second factor (the smaller one), built from the item x rater
    incidence (dense BLAS for small panels, sparse for large ones).
    """

    def __init__(self, y: FloatArray, factors: Sequence[_Factor]) -> None:
        self.n = int(y.size)
        self.y = y - y.mean()  # centred: the sums below then lose no digits to the mean
        self.yy = float(self.y @ self.y)
        self.factors = list(factors)
        self.sums = [
            np.bincount(f.code, weights=self.y, minlength=f.size).astype(np.float64)
            for f in factors
        ]
        self.incidence: FloatArray | scipy.sparse.csr_matrix | None = None
        self.pairs: _CoOccurrences | None = None
        self.groups: _CountGroups | None = None
        self._known: dict[bytes, tuple[float, float]] = {}
        self._last: _Solution | None = None
        if len(factors) == 2:
            first, second = self.factors
            ones = np.ones(self.n)
            shape = (first.size, second.size)
            if first.size * second.size <= _DENSE_CELLS:
                dense = np.zeros(shape)
                np.add.at(dense, (first.code, second.code), ones)
                self.incidence = dense
            else:
                self.incidence = scipy.sparse.csr_matrix((ones, (first.code, second.code)), shape)
                self.groups = _count_groups(self.incidence, first.counts)
                if self.groups is None:
                    self.pairs = _co_occurrences(self.incidence)

    def _off_diagonal(self, theta: FloatArray, a: FloatArray, t12: float) -> FloatArray | None:
        """-(t12^2 Z_2' diag(1 / a) Z_2), the second factor's system less its diagonal
        part, or None when t12 is 0 (the system is then diagonal)."""
        assert self.incidence is not None
        if t12 == 0.0:
            return None
        if isinstance(self.incidence, np.ndarray):
            w: FloatArray = self.incidence * (t12 / np.sqrt(a))[:, None]
            dense: FloatArray = -(w.T @ w)
            return dense
        if self.groups is not None:
            return self.groups.weighted(float(theta[0]), float(t12))
        if self.pairs is not None:
            return self.pairs.weighted(t12**2 / a, self.factors[1].size)
        scaled = scipy.sparse.diags(t12**2 / a) @ self.incidence
        off_diagonal: FloatArray = -(self.incidence.T @ scaled).toarray()
        return off_diagonal

    def _pieces(self, theta: FloatArray) -> tuple[float, float]:
        """(log|P| + log R_X^2, r^2) at theta, remembered: the fit asks for its final
        point again, and the information at the optimum may need points evaluated
        before (those of the differences of a step taken by differences). The last
        evaluation's solution and factor are kept for :meth:`derivatives_at`."""
        key = theta.tobytes()
        known = self._known.get(key)
        if known is not None:
            return known
        pieces = self._computed_pieces(theta)
        if len(self._known) >= _REMEMBERED:
            self._known.pop(next(iter(self._known)))  # the oldest
        self._known[key] = pieces
        return pieces

    def _computed_pieces(self, theta: FloatArray) -> tuple[float, float]:
        self._last = None  # its factor's memory is free for this evaluation's system
        first = self.factors[0]
        a = theta[0] ** 2 * first.counts + 1.0
        c1, g1 = theta[0] * first.counts, theta[0] * self.sums[0]
        log_det = float(np.log(a).sum())
        factor = x2 = diagonal = None
        if self.incidence is None:
            c_pc, c_pg, g_pg = (c1 * c1 / a).sum(), (c1 * g1 / a).sum(), (g1 * g1 / a).sum()
            x1 = np.column_stack([c1, g1]) / a[:, None]
        else:
            second = self.factors[1]
            t12 = theta[0] * theta[1]
            s = self._off_diagonal(theta, a, float(t12))
            v1 = np.column_stack([c1, g1])
            v2 = np.column_stack([theta[1] * second.counts, theta[1] * self.sums[1]])
            diagonal = theta[1] ** 2 * second.counts + 1.0
            s_log_det, x2, factor = _solved(
                s, diagonal, v2 - t12 * (self.incidence.T @ (v1 / a[:, None]))
            )
            log_det += s_log_det
            x1 = (v1 - t12 * (self.incidence @ x2)) / a[:, None]
            c_pc = c1 @ x1[:, 0] + v2[:, 0] @ x2[:, 0]
            c_pg = c1 @ x1[:, 1] + v2[:, 0] @ x2[:, 1]
            g_pg = g1 @ x1[:, 1] + v2[:, 1] @ x2[:, 1]
        r_x2 = max(self.n - float(c_pc), 1e-300)
        r2 = self.yy - float(g_pg) - float(c_pg) ** 2 / r_x2
        self._last = _Solution(
            theta.tobytes(), a, x1, x2, float(c_pg), r_x2, max(r2, 0.0), factor, diagonal
        )
        return log_det + float(np.log(r_x2)), max(r2, 0.0)

    def _solve(
        self, at: _Solution, theta: FloatArray, v1: FloatArray, v2: FloatArray | None
    ) -> tuple[FloatArray, FloatArray | None]:
        """The blocks of P^-1 [v1; v2] at the point of ``at`` (the first block eliminated,
        as in :meth:`_computed_pieces`)."""
        if self.incidence is None or v2 is None:
            return v1 / at.a[:, None], None
        t12 = float(theta[0] * theta[1])
        rhs = v2 - t12 * (self.incidence.T @ (v1 / at.a[:, None]))
        if at.factor is None:
            assert at.diagonal is not None
            x2: FloatArray = rhs / at.diagonal[:, None]
        else:
            x2 = scipy.linalg.cho_solve(at.factor, rhs, check_finite=False)
        return (v1 - t12 * (self.incidence @ x2)) / at.a[:, None], x2

    def _squared_weighted(self, theta: FloatArray, a: FloatArray) -> FloatArray:
        """Z_2' diag(1 / a^2) Z_2 as a dense array."""
        assert self.incidence is not None
        if isinstance(self.incidence, np.ndarray):
            w: FloatArray = self.incidence / a[:, None]
            dense: FloatArray = w.T @ w
            return dense
        if self.groups is not None:
            return self.groups.squared(float(theta[0]))
        if self.pairs is not None:
            return -self.pairs.weighted(1.0 / a**2, self.factors[1].size)
        scaled = scipy.sparse.diags(1.0 / a**2) @ self.incidence
        product: FloatArray = (self.incidence.T @ scaled).toarray()
        return product

    def _traces(self, theta: FloatArray, at: _Solution, free: Sequence[int]) -> FloatArray:
        """tr(W^-1 Z_k Z_k') for the free factors k, W = I + sum_k theta_k^2 Z_k Z_k'.

        theta_k^2 tr(W^-1 Z_k Z_k') = q_k - tr_k(P^-1) (q_k levels; tr_k the trace of
        P^-1's block of factor k), since Lambda Z' W^-1 Z Lambda = I - P^-1. With
        P = [[A, B], [B', C]], A = diag(a), B = theta_1 theta_2 Z_1' Z_2 and the system
        S = C - B' A^-1 B: the second block of P^-1 is S^-1, the first
        A^-1 + A^-1 B S^-1 B' A^-1, so that
        tr(W^-1 Z_1 Z_1') = sum_r c_r / a_r - theta_2^2 tr(S^-1 Z_2' Z_1 A^-2 Z_1' Z_2)
        and tr(W^-1 Z_2 Z_2') = (q_2 - tr S^-1) / theta_2^2. The inverse comes from the
        Cholesky factor S = U'U: U^-1 (LAPACK trtri, about the work of the factorisation),
        then S^-1 = U^-1 U^-T. When every level of the first factor has the same number
        of ratings (a_r = a), Z_2' Z_1 Z_1' Z_2 = a (C - S) / (theta_1 theta_2)^2, so only
        the diagonal of S^-1 is needed: the row sums of squares of U^-1.
        """
        first = self.factors[0]
        traces = np.zeros(len(self.factors))
        traces[0] = float((first.counts / at.a).sum())
        if self.incidence is None or at.diagonal is None:
            return traces[list(free)]
        second = self.factors[1]
        if at.factor is None:
            # theta_1 or theta_2 is 0 (S diagonal); a free theta is not, so the second
            # term of the first trace has theta_2 = 0 or is not asked for
            inverse_diagonal = 1.0 / at.diagonal
        else:
            upper = at.factor[0]
            # S = U'U, S^-1 = U^-1 U^-T: diag(S^-1)_i = sum_j (U^-1)_ij^2
            trtri: Any = scipy.linalg.get_lapack_funcs("trtri", (upper,))
            root, info = trtri(upper, lower=0, overwrite_c=1)
            if info != 0:
                raise np.linalg.LinAlgError("the system's factor is singular")
            if bool((first.counts == first.counts[0]).all()):
                inverse_diagonal = _upper_row_sums(root, root)
                shared = float(inverse_diagonal @ at.diagonal) - second.size
                traces[0] -= shared / (theta[0] ** 2 * float(at.a[0]))
            else:
                # U^-1 U^-T by numpy's product rather than LAPACK's potri, whose
                # rounding depends on the number of BLAS threads even for small systems
                root = np.triu(root)
                inverse = root @ root.T
                inverse_diagonal = np.diag(inverse).copy()
                weighted = self._squared_weighted(theta, at.a)
                traces[0] -= theta[1] ** 2 * float(np.einsum("ij,ij->", inverse, weighted))
        if theta[1] > 0:
            traces[1] = (second.size - float(inverse_diagonal.sum())) / theta[1] ** 2
        return traces[list(free)]

    def _projected(
        self, theta: FloatArray, at: _Solution, e: Mapping[int, FloatArray], index: list[int]
    ) -> FloatArray:
        """y_k' P_W y_l for the free factors k, l, y_k = Z_k Z_k' p (see
        :meth:`derivatives_at`; ``e`` holds Z_k' p): y_k' y_l less the part in the span
        of Z Lambda (solved with the factor of ``at``'s evaluation) and of 1."""
        # Lambda' Z' y_k in blocks, y_k'y_l and 1'y_k
        counts = [f.counts for f in self.factors]
        first_parts, second_parts = [], []
        linked: FloatArray | None = None
        for k in index:
            if k == 0:
                first_parts.append(theta[0] * counts[0] * e[0])
                if self.incidence is not None:
                    second_parts.append(theta[1] * (self.incidence.T @ e[0]))
            else:
                assert self.incidence is not None
                linked = self.incidence @ e[1]
                first_parts.append(theta[0] * linked)
                second_parts.append(theta[1] * counts[1] * e[1])
        products = np.diag([float(counts[k] @ e[k] ** 2) for k in index])
        if len(index) == 2:
            assert linked is not None
            products[0, 1] = products[1, 0] = float(e[0] @ linked)
        totals = np.array([float(counts[k] @ e[k]) for k in index])
        r1 = np.column_stack(first_parts)
        r2 = np.column_stack(second_parts) if second_parts else None
        s1, s2 = self._solve(at, theta, r1, r2)
        products -= r1.T @ s1
        totals -= r1.T @ at.x1[:, 0]
        if r2 is not None and s2 is not None and at.x2 is not None:
            products -= r2.T @ s2
            totals -= r2.T @ at.x2[:, 0]
        projected: FloatArray = products - np.outer(totals, totals) / at.r_x2
        return projected

    def derivatives_at(
        self, theta: FloatArray, free: Sequence[int]
    ) -> tuple[FloatArray, FloatArray] | None:
        """The exact gradient of :meth:`profiled` in the ``free`` thetas and its Hessian
        with the average information in place of the observed one (Gilmour, Thompson &
        Cullis 1995), or None when a free theta is at most 1e-3 (the formulas divide by
        it; the differences of :meth:`derivatives` serve there).

        With W = I + sum_k u_k Z_k Z_k' (u_k = theta_k^2), P_W = W^-1 - W^-1 1 1' W^-1 /
        R_X^2 and p = P_W y: the criterion's derivative in u_k is
        g_k = tr(P_W Z_k Z_k') - (N - 1) |Z_k' p|^2 / r^2, and its average-information
        Hessian (N - 1) / r^2 (y_k' P_W y_l - |Z_k' p|^2 |Z_l' p|^2 / r^2) with
        y_k = Z_k Z_k' p (the second term from profiling out s_e^2). Every piece is a
        solve with the factor of the criterion's own evaluation (theta_k Z_k' W^-1 v is
        the k-th block of P^-1 Lambda' Z' v) but the traces (:meth:`_traces`). In theta,
        the gradient is 2 theta_k g_k and the Hessian
        4 theta_k theta_l H_kl + 2 g_k [k = l] (W is linear in u); Newton's step in the
        ratios (:func:`_ratio_step`) gets g and H back.
        """
        index = list(free)
        theta = np.abs(theta)
        if (theta[index] <= 1e-3).any():
            return None
        if self._last is None or self._last.key != theta.tobytes():
            self._computed_pieces(theta)
        at = self._last
        assert at is not None
        if at.r2 <= 0:  # no residual variance: the criterion is at its limit
            return None
        n1 = self.n - 1
        beta = at.c_pg / at.r_x2
        blocks = [at.x1] if at.x2 is None else [at.x1, at.x2]
        # Z_k' W^-1 1 and Z_k' p for the free factors
        ones = {k: blocks[k][:, 0] / theta[k] for k in index}
        e = {k: (blocks[k][:, 1] + beta * blocks[k][:, 0]) / theta[k] for k in index}
        squares = np.array([float(e[k] @ e[k]) for k in index])
        projected = self._projected(theta, at, e, index)
        information = n1 / at.r2 * (projected - np.outer(squares, squares) / at.r2)
        information = (information + information.T) / 2
        gradient_u = (
            self._traces(theta, at, index)  # last: it overwrites the factor
            - np.array([float(ones[k] @ ones[k]) for k in index]) / at.r_x2
            - n1 * squares / at.r2
        )
        self._last = None  # its factor is spent
        t = theta[index]
        hessian = 4 * np.outer(t, t) * information + np.diag(2 * gradient_u)
        return 2 * t * gradient_u, hessian

    def profiled(self, theta: FloatArray) -> float:
        """-2 log L_REML with s_e^2 at its optimum r^2 / (N - 1), up to a constant."""
        log_det, r2 = self._pieces(np.abs(theta))
        return log_det + (self.n - 1) * float(np.log(max(r2, 1e-300)))

    def start(self) -> FloatArray:
        """Moment estimates of theta: effects as mean residuals after the factors fitted
        before them, the last factor (fewer levels, more ratings each) first.

        Fitted the other way, the first factor's effects (few ratings each) absorb the
        second's variance: on 5,000 raters x 2,000 items a rater component of 0.0002
        started at 0.05 of the residual, 0.2 in theta against 0.02 at the optimum, and
        Newton took ten steps (72 factorisations) instead of six (48). The floor of a
        component that the moments put at or below 0 is 0.001 of the residual.
        """
        residual = self.y.copy()
        effects: dict[int, FloatArray] = {}
        for index in reversed(range(len(self.factors))):
            f = self.factors[index]
            counts = np.maximum(f.counts, 1.0)
            effect = np.bincount(f.code, weights=residual, minlength=f.size) / counts
            residual = residual - effect[f.code]
            effects[index] = effect
        df = max(self.n - sum(f.size for f in self.factors), 1)
        s_e = max(float(residual @ residual) / df, 1e-12 * max(self.yy / self.n, 1e-300))
        theta = [
            np.sqrt(max(float(effects[i].var()) - s_e / float(f.counts.mean()), 1e-3 * s_e) / s_e)
            for i, f in enumerate(self.factors)
        ]
        return np.clip(np.array(theta), 1e-3, _THETA_MAX)

    def derivatives(
        self,
        theta: FloatArray,
        centre: float,
        free: Sequence[int],
        rough: bool = False,
    ) -> tuple[FloatArray, FloatArray]:
        """Gradient and Hessian of :meth:`profiled` in the ``free`` thetas (central
        differences; the criterion is even in each theta, so its gradient is 0 at 0):
        the observed information at the optimum, and Newton's derivatives where
        :meth:`derivatives_at` does not apply.

        ``rough``: the cross terms by forward differences, one likelihood per pair of
        thetas instead of two, with an error of order ``_STEP`` relative (for Newton's
        steps; the information at the optimum takes central differences).
        """
        size = len(free)
        h = _STEP * np.maximum(np.abs(theta[list(free)]), 0.05)
        unit = np.zeros((size, theta.size))
        unit[np.arange(size), list(free)] = h
        plus = np.array([self.profiled(theta + unit[i]) for i in range(size)])
        minus = np.array([self.profiled(theta - unit[i]) for i in range(size)])
        gradient = (plus - minus) / (2 * h)
        hessian = np.diag((plus - 2 * centre + minus) / h**2)
        for i in range(size):
            for j in range(i):
                both = self.profiled(theta + unit[i] + unit[j])
                if rough:
                    cross = (both - plus[i] - plus[j] + centre) / (h[i] * h[j])
                else:
                    neither = self.profiled(theta - unit[i] - unit[j])
                    cross = both - plus[i] - plus[j] + 2 * centre - minus[i] - minus[j] + neither
                    cross /= 2 * h[i] * h[j]
                hessian[i, j] = hessian[j, i] = cross
        return gradient, hessian


@dataclass(frozen=True)
class _Fit:
    """REML estimates and the covariance of the log variance ratios off the boundary.

    ``variances`` are the factors' components, ``residual`` the residual variance,
    ``free`` the factors whose component is positive and ``covariance`` that of their
    log(s_f^2 / s_e^2) (None when the information is singular or a ratio is at its
    upper limit, ``at_upper``).
    """

    variances: FloatArray
    residual: float
    covariance: FloatArray | None
    free: tuple[int, ...]
    at_upper: bool


def _ratio_step(theta: FloatArray, gradient: FloatArray, hessian: FloatArray) -> FloatArray | None:
    """Newton's step in the variance ratios u = theta^2, from the derivatives in theta, or
    None when it does not apply (a ratio near 0, a Hessian in u that is not positive
    definite, or a step to a negative ratio).

    With f(theta) = F(theta^2): F' = f' / (2 theta), F''_ij = f''_ij / (4 theta_i theta_j)
    off the diagonal and (f''_ii - f'_i / theta_i) / (4 theta_i^2) on it. Near 0 the
    criterion is close to linear in u (it is even in theta), so Newton in u lands close
    to a small component's optimum where Newton in theta takes several steps.
    """
    if (theta <= 1e-3).any():
        return None
    g_u = gradient / (2 * theta)
    h_u = hessian / (4 * np.outer(theta, theta))
    h_u[np.diag_indices_from(h_u)] -= gradient / theta / (4 * theta**2)
    try:
        factor = scipy.linalg.cho_factor(h_u)
    except np.linalg.LinAlgError:
        return None
    step: FloatArray = -scipy.linalg.cho_solve(factor, g_u)
    if (theta**2 + step <= 0).any():
        return None
    return step


def _newton_path(
    theta: FloatArray, gradient: FloatArray, hessian: FloatArray, free: Sequence[int]
) -> tuple[Callable[[float], FloatArray], float]:
    """The points theta(t) of Newton's step scaled by t, and the criterion's slope in t at 0.

    The step in the variance ratios (:func:`_ratio_step`) when it applies, else in theta
    with a Levenberg-Marquardt shift when the Hessian is not positive definite.
    """
    index = list(free)
    ratio_step = _ratio_step(theta[index], gradient, hessian)
    if ratio_step is not None:
        ratios = theta[index] ** 2

        def along_ratios(t: float) -> FloatArray:
            trial = theta.copy()
            trial[index] = np.sqrt(ratios + t * ratio_step)
            return np.clip(trial, 0.0, _THETA_MAX)

        return along_ratios, float(gradient @ (ratio_step / (2 * theta[index])))
    shift = 0.0
    while True:
        try:
            factor = scipy.linalg.cho_factor(hessian + shift * np.eye(len(free)))
            break
        except np.linalg.LinAlgError:
            shift = max(2 * shift, 1e-3 * float(np.abs(np.diag(hessian)).max()) + 1e-12)
    step = np.zeros(theta.size)
    step[index] = -scipy.linalg.cho_solve(factor, gradient)

    def along_theta(t: float) -> FloatArray:
        return np.clip(np.abs(theta + t * step), 0.0, _THETA_MAX)

    return along_theta, float(gradient @ step[index])


def _newton(
    model: _RandomEffects, theta: FloatArray, free: Sequence[int]
) -> tuple[FloatArray, float, FloatArray]:
    """Minimise the profiled criterion over the ``free`` thetas (the others stay put).

    Newton's method (:func:`_newton_path`) with a backtracking line search. Its
    derivatives are the exact gradient with the average-information Hessian
    (:meth:`_RandomEffects.derivatives_at`: one triangular inversion besides the
    evaluation's own factorisation, where differences would take five more
    factorisations), or, where a free theta is at most 1e-3, finite differences with
    forward cross terms (:meth:`_RandomEffects.derivatives`). The criterion is even in
    each theta, so the search in theta runs over all reals and |theta| is the estimate.

    Stopping: with the exact gradient, when Newton's next step would move no theta by
    more than _CONVERGED (relative to max(1, theta)), or when a step does not lower the
    criterion (the average information converges linearly, so a small improvement alone
    does not show convergence; a step whose predicted decrease is below 1e-12 of the
    criterion is taken whole if it does not raise it, as rounding would refuse it at any
    length); with differences, when a step moves no theta by more than _CONVERGED or
    lowers the criterion by at most 1e-13 of it. Returns theta, the criterion and its
    observed Hessian (central differences) in the free thetas at theta.
    """
    value = model.profiled(theta)
    hessian, at, observed = np.eye(len(free)), None, False
    for _ in range(100):
        analytic = model.derivatives_at(theta, free)
        observed = analytic is None
        if analytic is None:
            gradient, hessian = model.derivatives(theta, value, free, rough=True)
        else:
            gradient, hessian = analytic
        at = theta
        path, slope = _newton_path(theta, gradient, hessian, free)
        small = -slope <= 1e-12 * max(1.0, abs(value))
        if (
            not observed
            and (np.abs(path(1.0) - theta) <= _CONVERGED * np.maximum(1.0, theta)).all()
        ):
            break  # the exact gradient says the step is negligible
        t = 1.0
        while True:
            trial = path(t)
            trial_value = model.profiled(trial)
            if trial_value <= value + 1e-4 * t * slope or t < 1e-10:
                break
            if small and not observed:
                # a step this small is below the criterion's rounding, which would
                # refuse it at every length: it is taken if it does not raise the criterion
                break
            t /= 2
        moved = np.abs(trial - theta)
        improved = value - trial_value
        if trial_value <= value:
            theta, value = trial, trial_value
        if observed:
            if (moved <= _CONVERGED * np.maximum(1.0, theta)).all() or improved <= 1e-13 * abs(
                value
            ):
                break
        elif improved <= 0:
            break
    moved = np.abs(theta - at) if at is not None else np.full(theta.size, np.inf)
    if not observed or (moved > _CONVERGED * np.maximum(1.0, theta)).any() or len(free) > 1:
        # The Hessian (the information) belongs at the end of the last step: the observed
        # one, with central cross terms (the steps take the average information, or
        # forward cross terms).
        _, hessian = model.derivatives(theta, value, free)
    return theta, value, hessian


def _optimum(model: _RandomEffects) -> tuple[FloatArray, FloatArray]:
    """The REML thetas and the Hessian of the criterion in those off the boundary.

    Where the optimum of a component is at 0 the criterion is flat there (quartic when
    the boundary is just reached) and Newton creeps towards it; so a component that
    can be set to 0 without raising the criterion by more than 1e-9 of its size is
    fixed at 0 and the others fitted again.
    """
    theta = model.start()
    free = list(range(theta.size))
    while True:
        theta, value, hessian = _newton(model, theta, free)
        zeroed = []
        for i in free:
            trial = theta.copy()
            trial[i] = 0.0
            at_zero = model.profiled(trial)
            if at_zero <= value + 1e-9 * max(1.0, abs(value)):
                zeroed.append((at_zero, i))
        if not zeroed:
            return theta, hessian
        theta[min(zeroed)[1]] = 0.0
        free.remove(min(zeroed)[1])
        if not free:
            return theta, np.zeros((0, 0))


def _fit_reml(model: _RandomEffects) -> _Fit:
    """Maximise the REML likelihood over theta in [0, _THETA_MAX] (see :func:`_newton`).

    The observed information of psi = log theta^2 = log(s_f^2 / s_e^2) at the optimum is
    J H J / 2 with H the Hessian of the profiled -2 log L in theta and J = diag(theta/2)
    (the gradient is 0 there); the profile's information is that of the full likelihood
    for these ratios, which are all the ICCs depend on.
    """
    theta, hessian = _optimum(model)
    theta[theta**2 < _ZERO_RATIO] = 0.0
    _, r2 = model._pieces(theta)
    residual = r2 / (model.n - 1)
    variances = theta**2 * residual
    free = tuple(int(i) for i in np.flatnonzero(theta > 0))
    at_upper = bool((theta >= _THETA_MAX * (1 - 1e-9)).any()) or residual <= 0
    covariance = None
    if free and not at_upper and hessian.shape == (len(free), len(free)):
        jacobian = np.diag(theta[list(free)] / 2)
        information = jacobian @ hessian @ jacobian / 2
        if (np.linalg.eigvalsh(information) > 0).all():
            covariance = np.linalg.inv(information)
    return _Fit(variances, float(residual), covariance, free, at_upper)


def _logit_interval(
    value: float, gradient: FloatArray, covariance: FloatArray
) -> tuple[float, float]:
    """95% Wald interval on the logit of an ICC, back-transformed."""
    se = float(np.sqrt(max(float(gradient @ covariance @ gradient), 0.0)))
    centre = float(np.log(value / (1.0 - value)))
    z = float(scipy.special.ndtri(0.975))
    return float(scipy.special.expit(centre - z * se)), float(scipy.special.expit(centre + z * se))


def _spearman_brown(value: float, k: float) -> float:
    return k * value / (1.0 + (k - 1.0) * value)


def _reml_forms(
    single: Mapping[str, float],
    intervals: Mapping[str, tuple[float, float] | str],
    k: float,
) -> dict[str, ICCResult]:
    """Single-rating ICCs and their intervals (or why none), with the k-forms."""
    forms = {}
    for name, value in single.items():
        for form, change in ((name, 1.0), (f"{name}k", k)):
            interval = intervals[name]
            low = high = None
            ci_reason = interval if isinstance(interval, str) else None
            if not isinstance(interval, str):
                low, high = (_spearman_brown(bound, change) for bound in interval)
            forms[form] = ICCResult(
                form=form,
                value=_spearman_brown(value, change),
                ci_low=low,
                ci_high=high,
                ci_reason=ci_reason,
            )
    return {form: forms[form] for form in ICC_FORMS}


def _reml_icc(item: IntArray, rater: IntArray, y: FloatArray) -> ICCTable:
    """The six ICC forms from REML variance components; see intraclass_correlations."""
    items, raters = _factor(item), _factor(rater)
    n, m, n_ratings = items.size, raters.size, int(y.size)
    k = n_ratings / n
    two_way = [items, raters]
    two_way_index = {"item": 0, "rater": 1}
    if raters.size > items.size:  # eliminate the larger factor; the dense system is the smaller
        two_way, two_way_index = [raters, items], {"item": 1, "rater": 0}
    one = _fit_reml(_RandomEffects(y, [items]))
    two = _fit_reml(_RandomEffects(y, two_way))
    s_item, s_within = float(one.variances[0]), one.residual
    s_a = float(two.variances[two_way_index["item"]])
    s_r = float(two.variances[two_way_index["rater"]])
    s_e = two.residual
    single = {
        "ICC1": s_item / (s_item + s_within),
        "ICC2": s_a / (s_a + s_r + s_e),
        "ICC3": s_a / (s_a + s_e),
    }
    intervals: dict[str, tuple[float, float] | str] = {}
    intervals["ICC1"] = _one_way_interval(
        single["ICC1"], one, OneWayData.of(item, rater, y), np.array([s_a, s_r, s_e])
    )
    a_index, r_index = two_way_index["item"], two_way_index["rater"]
    share_r = s_r / (s_r + s_e) if s_r + s_e > 0 else 0.0
    intervals["ICC2"] = _interval_or_reason(
        single["ICC2"],
        two,
        {a_index: 1.0, r_index: -share_r},
        needs=(a_index, r_index),
        names={a_index: "item", r_index: "rater"},
    )
    intervals["ICC3"] = _interval_or_reason(
        single["ICC3"], two, {a_index: 1.0}, needs=(a_index,), names={a_index: "item"}
    )
    return ICCTable(
        forms=_reml_forms(single, intervals, k),
        n_items=n,
        n_raters=m,
        n_ratings=n_ratings,
        k=k,
        method=_reml_method(n_ratings),
        components={"item": s_a, "rater": s_r, "residual": s_e, "within": s_within},
    )


def _interval_or_reason(
    value: float,
    fit: _Fit,
    factor_weights: Mapping[int, float],
    *,
    needs: Sequence[int],
    names: Mapping[int, str],
) -> tuple[float, float] | str:
    """The logit-scale Wald interval of an ICC whose logit has the gradient
    ``factor_weights`` in the log variance ratios log(s_f^2 / s_e^2), or why there is none."""
    if fit.at_upper:
        return "the residual variance is practically zero, so no large-sample interval"
    for index in needs:
        if index not in fit.free:
            return (
                f"the {names[index]} variance is estimated at zero (the boundary), where "
                "the large-sample interval does not hold"
            )
    if fit.covariance is None:
        return "the information matrix is singular, so no large-sample interval"
    gradient = np.zeros(len(fit.free))
    for index, weight in factor_weights.items():
        gradient[fit.free.index(index)] = weight
    return _logit_interval(value, gradient, fit.covariance)


def _one_way_interval(
    value: float, fit: _Fit, data: OneWayData, crossed: FloatArray
) -> tuple[float, float] | str:
    """ICC1's logit-scale Wald interval with the one-way estimates' sandwich variance
    under the crossed model (:mod:`analysis._icc_one_way`), or why there is none."""
    problem = _interval_or_reason(value, fit, {0: 1.0}, needs=(0,), names={0: "item"})
    if isinstance(problem, str):
        return problem
    phi = np.array([float(fit.variances[0]), fit.residual])
    variance = logit_variance(data, phi, crossed)
    if variance is None:
        return "the information matrix is singular, so no large-sample interval"
    return _logit_interval(value, np.ones(1), np.array([[variance]]))


def _icc_problem(data: DimensionData) -> str | None:
    n_items = int(data.item_index[0].size)
    if data.n_raters < 2 or n_items < 2:
        return (
            f"{n_items} item(s) rated by {data.n_raters} rater(s); "
            "ICC needs at least 2 items and 2 raters"
        )
    if np.bincount(data.item_code).max() < 2:
        return "no item was rated twice, so within-item variance is unknown"
    _, item = data.item_index
    _, rater = data.rater_index
    n, m = int(item.max()) + 1, int(rater.max()) + 1
    n_parts = 1  # complete data: every item is linked to every rater
    if data.value.size < n * m:
        from scipy.sparse.csgraph import connected_components  # imported when needed

        shape = (n + m, n + m)
        graph = scipy.sparse.coo_matrix((np.ones(item.size), (item, n + rater)), shape=shape)
        n_parts, _ = connected_components(graph, directed=False)
    if data.value.size - (n + m - n_parts) <= 0:
        return (
            "no residual degrees of freedom: every rating is needed to fit the item and "
            "rater effects"
        )
    spread = float(np.ptp(data.value))
    if spread <= 1e-12 * max(float(np.abs(data.value).max()), 1.0):
        return "all values are equal (no variance)"
    return None


def _icc_table(data: DimensionData) -> ICCTable:
    problem = _icc_problem(data)
    n_items = int(data.item_index[0].size)
    if problem is not None:
        return _undefined_icc(problem, n_items, data.n_raters, data.n_values)
    _, item = data.item_index
    _, rater = data.rater_index
    item, rater = item.astype(np.int64), rater.astype(np.int64)
    if data.n_values == n_items * data.n_raters:
        matrix = np.empty((n_items, data.n_raters))
        matrix[item, rater] = data.value
        return _anova_icc(matrix)
    # Sorted, so that the fit (sums, optimiser path) does not depend on row order.
    order = np.lexsort((rater, item))
    return _reml_icc(item[order], rater[order], data.value[order].astype(float))


@_shared_docs
def intraclass_correlations(
    ratings: pd.DataFrame | DimensionData, *, dimension: Hashable | None = None
) -> ICCTable:
    """The six Shrout & Fleiss (1979) intraclass correlations from every rating, with 95% CIs.

    Parameters
    ----------
    {{one_dimension}}

    Returns
    -------
    ICCTable
        ``forms`` maps "ICC1", "ICC2", "ICC3", "ICC1k", "ICC2k", "ICC3k" to
        :class:`ICCResult` (value, ci_low, ci_high, and with complete data F, df1, df2,
        p_value); ``method``, ``n_ratings``, ``n_items``, ``n_raters`` and ``k`` say what
        was used; ``components`` holds the variance estimates.

    Notes
    -----
    The forms are ratios of the variance components of two random-effects models:
    the two-way model y_ij = mu + a_i + b_j + e_ij (item i, rater j) and the one-way
    model y_ij = mu + a_i + w_ij, which ignores who rated.

    * ICC1 = s_a^2 / (s_a^2 + s_w^2) (one-way);
    * ICC2 = s_a^2 / (s_a^2 + s_b^2 + s_e^2): absolute agreement, raters a random
      sample (McGraw & Wong's A,1);
    * ICC3 = s_a^2 / (s_a^2 + s_e^2): consistency, rater severity removed (C,1);
    * the k-forms are the reliability of the mean of k ratings,
      k ICC / (1 + (k - 1) ICC), with k the number of raters for complete data and
      the mean number of ratings per item (N / n) otherwise.

    *Complete data* (every rater rated every item) take the classical two-way ANOVA
    (Shrout & Fleiss 1979): the components are the expected-mean-square solutions, which
    is what REML gives for balanced data as long as none is negative; a negative ICC is
    kept as ANOVA gives it, as in ``pingouin.intraclass_corr`` and R ``psych::ICC``. The
    intervals are McGraw & Wong's (1996) exact F intervals (Satterthwaite's degrees of
    freedom for ICC2), with the F test of no item variance.

    *Missing ratings* ("can't judge", outside expertise) take every rating: the
    components are restricted maximum likelihood (REML) estimates for the unbalanced
    crossed design (Searle, Casella & McCulloch 1992, ch. 6), computed directly: the
    residual variance is profiled out and the likelihood maximised over the ratios
    theta = s / s_e in [0, 1e4] (Newton's method with the exact gradient and the average
    information, Gilmour, Thompson & Cullis 1995, or finite differences near 0, its
    steps taken in theta^2 where defined), with the ratings' covariance
    s_e^2 (I + theta_a^2 Z_a Z_a' + theta_b^2 Z_b Z_b') handled as in lme4 (Bates et al.
    2015): the larger factor's block is diagonal and eliminated, leaving a dense
    system the size of the smaller factor (at most 500 x 500 for a panel of 1,000 raters
    x 500 items, about 20 ms per likelihood). Components are constrained to be
    non-negative; a ratio below 1e-8 is an estimate on the boundary and is reported as
    exactly 0, so an ICC is then 0 rather than negative. Each 95% interval is a Wald
    interval on the logit of the single-rating ICC, with the delta method and the
    observed information of the log components (the Hessian of the REML criterion, by
    central differences),
    mapped to the k-forms by the Spearman-Brown formula above. ICC1's estimates come
    from the one-way model, but their covariance does not: when the same raters rate
    many items, the raters' severity makes the one-way residuals of different items
    correlated, and the one-way information understates the variance (coverage 0.92 at
    15 raters x 40 items). ICC1's covariance is therefore the sandwich
    H^-1 Var(score) H^-1 of the one-way REML estimates, with Var(score) computed under
    the crossed model fitted for ICC2 (:mod:`analysis._icc_one_way`). Coverage, by
    seeded simulation with 20-30% of ratings missing at random
    (``bench/icc_coverage.py``, 400 panels): 94.8-97.0% for the three forms at 10
    raters x 9 items, 10 x 13, 15 x 40 and 30 x 60, 93.5-98.0% at 8 x 20, 12 x 25 and
    20 x 40, and 91.5% for ICC2 at 5 x 15.
    When a component the ICC involves is estimated at zero the large-sample theory does
    not hold and the interval is ``None`` with a ``ci_reason``. There are no F tests
    (``f``, ``df1``, ``df2``, ``p_value`` are ``None``).

    Undefined (every form ``None`` with a reason): fewer than 2 items or 2 raters, no
    item rated twice, no residual degrees of freedom, or all values equal.

    References
    ----------
    Shrout, P. E., & Fleiss, J. L. (1979). Intraclass correlations: Uses in assessing
    rater reliability. Psychological Bulletin, 86(2), 420-428.
    McGraw, K. O., & Wong, S. P. (1996). Forming inferences about some intraclass
    correlation coefficients. Psychological Methods, 1(1), 30-46.
    Searle, S. R., Casella, G., & McCulloch, C. E. (1992). Variance Components. Wiley.
    Bates, D., Maechler, M., Bolker, B., & Walker, S. (2015). Fitting linear mixed-effects
    models using lme4. Journal of Statistical Software, 67(1), 1-48.
    Gilmour, A. R., Thompson, R., & Cullis, B. R. (1995). Average information REML: An
    efficient algorithm for variance parameter estimation in linear mixed models.
    Biometrics, 51(4), 1440-1450.
    Huber, P. J. (1967). The behavior of maximum likelihood estimates under nonstandard
    conditions. Proc. Fifth Berkeley Symposium, 1, 221-233.
    White, H. (1982). Maximum likelihood estimation of misspecified models.
    Econometrica, 50(1), 1-25.

    Examples
    --------
    Shrout & Fleiss (1979), 6 targets x 4 judges (published: .17, .29, .71, .44, .62, .91):

    >>> from analysis.datasets import shrout_fleiss_1979
    >>> frame = shrout_fleiss_1979()
    >>> result = intraclass_correlations(frame)
    >>> [round(result.value(form), 3) for form in ICC_FORMS]
    [0.166, 0.29, 0.715, 0.443, 0.62, 0.909]
    >>> result.method
    'ANOVA (complete data)'

    Without judge 4's rating of target 2, all 23 ratings by REML:

    >>> result = intraclass_correlations(frame.drop(index=7))
    >>> result.method, round(result.value("ICC3"), 3), round(result.k, 2)
    ('REML (all 23 ratings)', 0.815, 3.83)
    """
    return _icc_table(_one_dimension(ratings, dimension))


def _column_ranks(y: FloatArray) -> tuple[FloatArray, float]:
    """Average ranks of each column of y, and sum over columns and tie groups of t^3 - t."""
    n, m = y.shape
    codes, uniques = pd.factorize(y.T.ravel(), sort=True)  # column after column
    k = len(uniques)
    if codes.size and codes.min() >= 0 and m * k <= y.size:
        # Few distinct values (a rating scale): a value's average rank in its column is the
        # number of smaller values there plus (its count + 1) / 2, which the counts of
        # each value per column give without sorting. The same numbers as the runs of the
        # sorted columns below, computed the same way, in the same order.
        column = np.repeat(np.arange(m), n)
        counts = np.bincount(column * k + codes, minlength=m * k).reshape(m, k)
        below = np.cumsum(counts, axis=1) - counts
        by_value = below + (counts - 1) / 2.0 + 1.0
        sizes = counts[counts > 0]
        ranked: FloatArray = by_value[column, codes].reshape(m, n)
        return ranked.T, float((sizes.astype(float) ** 3 - sizes).sum())
    order = np.argsort(y, axis=0, kind="stable")
    ordered = np.take_along_axis(y, order, axis=0)
    # Walk the columns one after another as one long sequence of runs.
    flat = ordered.T.ravel()
    new_run = np.ones(flat.size, dtype=bool)
    new_run[1:] = flat[1:] != flat[:-1]
    new_run[::n] = True
    run = np.cumsum(new_run) - 1
    first = np.flatnonzero(new_run)
    sizes = np.diff(np.append(first, flat.size))
    position = np.tile(np.arange(n), m)
    average = position[first] + (sizes - 1) / 2.0 + 1.0
    ranks = np.empty((m, n))
    np.put_along_axis(ranks, order.T, average[run].reshape(m, n), axis=1)
    return ranks.T, float((sizes.astype(float) ** 3 - sizes).sum())


def kendall_w_from_matrix(y: FloatArray) -> KendallW:
    """Kendall's W of a complete (items x raters) matrix; see :func:`kendall_w`."""
    n, m = y.shape
    if n < 2 or m < 2:
        return KendallW(
            value=None,
            n_items=n,
            n_raters=m,
            reason=f"the complete block has {n} item(s) x {m} rater(s); W needs 2 x 2",
        )
    ranks, ties = _column_ranks(y)
    totals = ranks.sum(axis=1)
    s = ((totals - totals.mean()) ** 2).sum()
    denominator = m**2 * (n**3 - n) - m * ties
    if denominator <= 0:
        return KendallW(
            value=None,
            n_items=n,
            n_raters=m,
            reason="every rater gave all items the same value, so there is no ranking",
        )
    w = float(12.0 * s / denominator)
    chi2 = m * (n - 1) * w
    return KendallW(
        value=w,
        chi2=chi2,
        df=n - 1,
        p_value=float(scipy.special.chdtrc(n - 1, chi2)),
        n_items=n,
        n_raters=m,
    )


@_shared_docs
def kendall_w(ratings: pd.DataFrame, *, dimension: Hashable | None = None) -> KendallW:
    """Kendall's coefficient of concordance W for the raters' rankings of the items.

    Parameters
    ----------
    {{one_dimension}}

    Returns
    -------
    KendallW
        ``value``, the chi-square statistic m (n - 1) W with n - 1 degrees of freedom and
        its p-value; ``None`` with a reason when undefined.

    Notes
    -----
    Computed on the complete block of :func:`complete_block`. Each rater's values are
    ranked over the items with average ranks for ties, and
    W = 12 S / (m^2 (n^3 - n) - m sum T), with S the sum of squared deviations of the
    item rank sums from their mean and T = sum (t^3 - t) over each rater's tie groups.
    W equals Friedman's tie-corrected chi-square divided by m (n - 1).

    References
    ----------
    Kendall, M. G., & Babington Smith, B. (1939). The problem of m rankings. The Annals
    of Mathematical Statistics, 10(3), 275-287.
    Siegel, S., & Castellan, N. J. (1988). Nonparametric Statistics for the Behavioral
    Sciences (2nd ed.), section 9.4. McGraw-Hill.

    Examples
    --------
    Three raters who rank four items identically:

    >>> frame = pd.DataFrame([(r, i, "d", float(i)) for r in range(3) for i in range(4)],
    ...                      columns=["rater", "item", "dimension", "value"])
    >>> kendall_w(frame).value
    1.0
    """
    data = _one_dimension(ratings, dimension)
    values, _, _ = _block_table(data)
    return kendall_w_from_matrix(values)


# ------------------------------------------------------------------------- everything


def _merged(first: _Batch[Any], second: _Batch[Any]) -> _Batch[tuple[Any, Any]]:
    """Both batches' coefficients from one pass over the replicates (the rater-weighted
    counts they share are computed once per chunk)."""

    def units(raters: FloatArray | None) -> tuple[Any, Any]:
        return first.units(raters), second.units(raters)

    def sums(weights: FloatArray, both: tuple[Any, Any]) -> dict[str, FloatArray]:
        return {**first.sums(weights, both[0]), **second.sums(weights, both[1])}

    return _Batch(units, sums)


def _shared_replicates(
    data: DimensionData, draws: _Draws
) -> tuple[_Replicates | None, _Points | None, _Points | None]:
    """The replicates of alpha (every defined level) and the kappa-type coefficients
    together (None when there are none to draw), with the points of alpha at every level
    and of the kappa-type coefficients when computed for them."""
    if not draws.size:
        return None, None, None
    table = _rated_values(data)
    alpha_points = _alpha_points(data, LEVELS)
    _, alpha_point = alpha_points
    agreement = _agreement_batch(table, data.domain)
    agreement_points = _agreement_points(data, table, agreement)
    reasons, agreement_point = agreement_points
    parts: list[tuple[_Batch[Any], dict[str, float]]] = []
    if alpha_point:
        defined = [level for level in LEVELS if level in alpha_point]
        parts.append((_alpha_batch(table, data.domain, defined), alpha_point))
    if len(reasons) < len(AGREEMENT_COEFFICIENTS):
        parts.append((agreement, agreement_point))
    if not parts:
        return None, alpha_points, agreement_points
    batch = parts[0][0] if len(parts) == 1 else _merged(parts[0][0], parts[1][0])
    point = {name: value for _, part in parts for name, value in part.items()}
    return _replicates(batch, table, draws, point), alpha_points, agreement_points


@_shared_docs
def dimension_reliability(
    ratings: pd.DataFrame | DimensionData,
    *,
    dimension: Hashable | None = None,
    level: str = "ordinal",
    scale: Sequence[float] | None = None,
    bootstrap: Bootstrap = Bootstrap(),
) -> DimensionReliability:
    """Every reliability coefficient of one dimension, sharing one bootstrap.

    Parameters
    ----------
    {{one_dimension}}
    level : {"nominal", "ordinal", "interval", "ratio"}
        The dimension's level of measurement: it selects the alpha that is read against
        0.800/0.667. Alpha is reported at all four levels. ICC and Kendall's W are
        not computed for nominal dimensions.
    scale : sequence of float, optional
        All categories of the scale (default: the values used).
    {{bootstrap}}

    Returns
    -------
    DimensionReliability

    Notes
    -----
    One set of bootstrap draws of items and raters serves alpha at every level and the
    kappa-type coefficients, so their intervals come from the same replicates. See
    :func:`krippendorff_alpha`, :func:`agreement_coefficients`,
    :func:`intraclass_correlations` and :func:`kendall_w` for the estimators, and
    :func:`analysis.consensus.confusion_pairs` for ``confusion``.

    References
    ----------
    Krippendorff, K. (2011). Computing Krippendorff's Alpha-Reliability.
    Shrout, P. E., & Fleiss, J. L. (1979). Psychological Bulletin, 86(2), 420-428.
    Gwet, K. L. (2014). Handbook of Inter-Rater Reliability (4th ed.).

    Examples
    --------
    >>> from analysis.datasets import shrout_fleiss_1979
    >>> frame = shrout_fleiss_1979()
    >>> result = dimension_reliability(frame, level="interval", bootstrap=Bootstrap(100, rng=0))
    >>> round(result.icc.value("ICC3"), 3), result.n_raters, result.n_items
    (0.715, 4, 6)
    """
    data, draws = _prepared(ratings, dimension, level, scale, bootstrap)
    shared, alpha_points, agreement_points = _shared_replicates(data, draws)
    minimum = float(bootstrap.minimum_alpha)
    alpha = _alpha_results(
        data, levels=LEVELS, draws=draws, minimum=minimum, shared=shared, points=alpha_points
    )
    agreement = _agreement_results(data, draws=draws, shared=shared, points=agreement_points)
    if level == "nominal":
        reason = "not computed for a nominal dimension"
        icc = _undefined_icc(reason)
        w = KendallW(value=None, reason=reason)
    else:
        icc = _icc_table(data)
        values, _, _ = _block_table(data)
        w = kendall_w_from_matrix(values)
    return DimensionReliability(
        **agreement.by_name(),
        dimension=data.dimension,
        level=level,
        n_raters=data.n_raters,
        n_items=data.n_items,
        n_values=data.n_values,
        alpha=alpha,
        icc=icc,
        kendall_w=w,
        confusion=confusion_pairs(data),
    )
