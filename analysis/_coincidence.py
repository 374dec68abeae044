"""Krippendorff's coincidence matrices and alpha from them, vectorised over batches.

Notation of Krippendorff (2011): for a unit u with m_u pairable values and n_uc values
c, the unit's coincidences are o_uck = (n_uc n_uk - [c = k] n_uc) / (m_u - 1); the
coincidence matrix is o_ck = sum_u o_uck with marginals n_c and total n, and

    alpha = 1 - (n - 1) * sum_ck o_ck d_ck / sum_ck n_c n_k d_ck.

Because o is linear in the units, any reweighting of units (a bootstrap replicate, or a
rater's values taken out) is a weighted sum of per-unit matrices; the functions here
take a batch of coincidence matrices and return a batch of alphas.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import Any, Literal, TypeAlias

import numpy as np
import numpy.typing as npt
import scipy.sparse

from analysis._types import FloatArray, IntArray
from analysis.tidy import stable_order

#: Per-unit coincidences: dense (units, V*V), or sparse when that would be too large.
PerUnit: TypeAlias = FloatArray | scipy.sparse.csr_matrix

#: Krippendorff's levels of measurement.
Level: TypeAlias = Literal["nominal", "ordinal", "interval", "ratio"]
LEVELS: tuple[Level, ...] = ("nominal", "ordinal", "interval", "ratio")

# Above this many (units x V x V) cells the per-unit coincidences are kept sparse.
_DENSE_LIMIT = 20_000_000


def unit_coincidences(counts: FloatArray) -> PerUnit:
    """Per-unit coincidences, shape (units, V*V): dense for small V, sparse otherwise.

    ``counts`` is (units, V) value counts; units with fewer than two values get zeros.
    """
    n_units, width = counts.shape
    m = counts.sum(axis=1)
    scale = np.divide(1.0, m - 1, out=np.zeros(n_units), where=m >= 2)
    if n_units * width * width <= _DENSE_LIMIT:
        products = counts[:, :, None] * counts[:, None, :]
        diagonal = np.arange(width)
        products[:, diagonal, diagonal] -= counts
        products *= scale[:, None, None]
        dense: FloatArray = products.reshape(n_units, width * width)
        return dense
    # Sparse: only pairs of values that occur together in a unit.
    unit, value = np.nonzero(counts)
    per_unit = np.bincount(unit, minlength=n_units)
    start = np.cumsum(per_unit) - per_unit
    repeat = per_unit[unit]
    left = np.repeat(np.arange(unit.size), repeat)
    offset = np.arange(left.size) - np.repeat(np.cumsum(repeat) - repeat, repeat)
    right = start[unit[left]] + offset
    u = unit[left]
    c, k = value[left], value[right]
    data = counts[u, c] * counts[u, k] - np.where(c == k, counts[u, c], 0.0)
    data *= scale[u]
    return scipy.sparse.csr_matrix((data, (u, c * width + k)), shape=(n_units, width * width))


def weighted_coincidences(per_unit: PerUnit, weights: FloatArray) -> FloatArray:
    """(B, V*V) coincidence matrices for a (B, units) matrix of unit weights."""
    if isinstance(per_unit, np.ndarray):
        return weights @ per_unit
    return np.asarray((per_unit.T @ weights.T).T, dtype=np.float64)


def fixed_distances(domain: FloatArray, level: str) -> FloatArray | None:
    """Squared distances d_ck that do not depend on the data; None for ordinal."""
    x = np.asarray(domain, dtype=float)
    if level == "nominal":
        nominal: FloatArray = 1.0 - np.eye(x.size)
        return nominal
    if level == "interval":
        interval: FloatArray = (x[:, None] - x[None, :]) ** 2
        return interval
    if level == "ratio":
        total = x[:, None] + x[None, :]
        difference = x[:, None] - x[None, :]
        ratio = np.divide(difference, total, out=np.zeros_like(total), where=total != 0)
        squared: FloatArray = ratio**2
        return squared
    if level == "ordinal":
        return None
    raise ValueError(f"level must be one of {', '.join(LEVELS)}, not {level!r}")


def alpha_batch(coincidences: FloatArray, domain: FloatArray, level: str) -> FloatArray:
    """Alpha for each of B flattened (V*V) coincidence matrices; NaN where undefined.

    The ordinal distance depends on the marginals n_c: with midranks M_c = sum_{g<=c}
    n_g - n_c / 2 it is (M_k - M_c)^2, so it is recomputed for every matrix.
    """
    width = domain.size
    o = coincidences.reshape(-1, width, width)
    n_v = o.sum(axis=2)
    n = n_v.sum(axis=1)
    d = fixed_distances(domain, level)
    if d is None:
        midrank = np.cumsum(n_v, axis=1) - n_v / 2.0
        d_batch = (midrank[:, None, :] - midrank[:, :, None]) ** 2
        observed = np.einsum("bck,bck->b", o, d_batch)
        expected = np.einsum("bc,bck,bk->b", n_v, d_batch, n_v)
    else:
        observed = o.reshape(o.shape[0], -1) @ d.ravel()
        expected = np.einsum("bc,ck,bk->b", n_v, d, n_v)
    alpha = np.full(o.shape[0], np.nan)
    # Float round-off can leave a tiny positive "expected" when only one value is used.
    defined = (expected > 1e-12 * np.maximum(n, 1.0) ** 2) & (n > 1)
    alpha[defined] = 1.0 - (n[defined] - 1.0) * observed[defined] / expected[defined]
    return alpha


def expected_coincidences(n_v: FloatArray) -> FloatArray:
    """Coincidences expected by chance, e_ck = (n_c n_k - [c = k] n_c) / (n - 1)."""
    n = n_v.sum()
    if n <= 1:
        return np.zeros((n_v.size, n_v.size))
    expected: FloatArray = (np.outer(n_v, n_v) - np.diag(n_v)) / (n - 1.0)
    return expected


# Above this many (units x V x V) cells per pair of values, replicates go through the
# list of value pairs rather than the per-unit value counts.
_PAIRS_RATIO = 4.0


@dataclass(frozen=True)
class RatedValues:
    """The values of one dimension as (unit, rater, value code), for resampling both.

    A replicate weights unit u by v_u and rater r by w_r (how often each was drawn). It
    keeps every ordered pair of values given to one unit by two different raters of the
    sample, with weight w_r w_s: two draws of the same rater are two raters, but never a
    pair with each other (that pair would agree by construction). With all weights 1
    this is Krippendorff's set of pairable values. A rater gives a unit at most one
    value (validated ratings: one per rater, item and dimension).
    """

    unit: IntArray
    rater: IntArray
    value: IntArray
    n_units: int
    n_raters: int
    width: int

    @cached_property
    def _last_counts(self) -> list[Any]:
        """[rater weights, their weighted counts] of the last call, or empty."""
        return []

    @cached_property
    def _last_totals(self) -> list[Any]:
        """[weighted counts, their value totals] of the last call, or empty."""
        return []

    @cached_property
    def rated(self) -> scipy.sparse.csr_matrix:
        """(raters, units): 1 where the rater gave the unit a value."""
        ones = np.ones(self.unit.size)
        return scipy.sparse.csr_matrix(
            (ones, (self.rater, self.unit)), shape=(self.n_raters, self.n_units)
        )

    @cached_property
    def by_rater(self) -> scipy.sparse.csr_matrix:
        """(raters, units * V): 1 where the rater gave the unit value c."""
        ones = np.ones(self.unit.size)
        column = self.unit * self.width + self.value
        return scipy.sparse.csr_matrix(
            (ones, (self.rater, column)), shape=(self.n_raters, self.n_units * self.width)
        )

    @cached_property
    def pairs(self) -> tuple[IntArray, IntArray, IntArray]:
        """(first, second, unit): row indices of the ordered pairs of values in a unit."""
        order = stable_order(self.unit)
        unit = self.unit[order]
        per_unit = np.bincount(unit, minlength=self.n_units)
        start = np.cumsum(per_unit) - per_unit
        repeat = per_unit[unit]
        left = np.repeat(np.arange(unit.size), repeat)
        offset = np.arange(left.size) - np.repeat(np.cumsum(repeat) - repeat, repeat)
        right = start[unit[left]] + offset
        distinct = left != right
        return order[left[distinct]], order[right[distinct]], unit[left[distinct]]

    @cached_property
    def n_pairs(self) -> int:
        counts = np.bincount(self.unit, minlength=self.n_units).astype(float)
        return int((counts * (counts - 1.0)).sum())

    @cached_property
    def _use_pairs(self) -> bool:
        cells = self.n_units * self.width * self.width
        return cells > _PAIRS_RATIO * max(self.n_pairs, 1) or cells > _DENSE_LIMIT

    def use_pairs(self) -> bool:
        """Whether the list of pairs is cheaper than per-unit V x V products."""
        return self._use_pairs

    @property
    def cells(self) -> int:
        """Array cells one replicate takes (to size batches of replicates)."""
        if self.use_pairs():
            return self.n_pairs
        return self.n_units * self.width * self.width

    @cached_property
    def _indicator(self) -> npt.NDArray[np.floating[Any]] | scipy.sparse.csr_matrix:
        """``by_rater``, dense (0/1 in single precision) when small enough for a BLAS
        product."""
        if self.n_raters * self.n_units * self.width <= _DENSE_LIMIT:
            # Written directly (a rater gives a unit one value, see the class): through
            # the sparse matrix, a double-precision copy and then a single-precision one,
            # it took several times as long on 2 M values.
            dense = np.zeros((self.n_raters, self.n_units * self.width), dtype=np.float32)
            dense[self.rater, self.unit * self.width + self.value] = 1.0
            return dense
        return self.by_rater

    @cached_property
    def _unweighted(self) -> FloatArray:
        counts = np.bincount(
            self.unit * self.width + self.value, minlength=self.n_units * self.width
        )
        shaped: FloatArray = counts.reshape(1, self.n_units, self.width).astype(float)
        return shaped

    def weighted_counts(self, rater_weights: FloatArray | None) -> tuple[FloatArray, FloatArray]:
        """(B, units, V) sums of w_r and of w_r^2 over the raters giving unit u value c.

        ``None`` stands for every weight 1, and gives (1, units, V) arrays.
        """
        if rater_weights is None:
            return self._unweighted, self._unweighted
        last = self._last_counts
        if last and last[0] is rater_weights:  # the same rows, asked again in one batch
            known: tuple[FloatArray, FloatArray] = last[1]
            return known
        counts = self._counts_of(rater_weights)
        # Holding the rows keeps their identity from being reused by another array.
        self._last_counts[:] = [rater_weights, counts]
        return counts

    def value_totals(self, counts: tuple[FloatArray, FloatArray]) -> tuple[FloatArray, FloatArray]:
        """(m, S), each (B, units): the weighted counts summed over the values, m_u = sum
        w_r, and their squares', S_u = sum w_r^2, over the raters who rated unit u.

        Alpha and the kappa-type coefficients both need them for the counts of one batch:
        the last ones are kept, known by the counts' identity.
        """
        last = self._last_totals
        if last and last[0] is counts[0] and last[1] is counts[1]:
            known: tuple[FloatArray, FloatArray] = last[2]
            return known
        m = sum_values(counts[0])
        # Rows that leave out one rater have 0/1 weights: the same array twice.
        totals = (m, m if counts[1] is counts[0] else sum_values(counts[1]))
        # Holding the counts keeps their identity from being reused by another array.
        self._last_totals[:] = [counts[0], counts[1], totals]
        return totals

    def _counts_of(self, rater_weights: FloatArray) -> tuple[FloatArray, FloatArray]:
        left_out = _left_out(rater_weights)
        if left_out is not None:
            return self._without(*left_out, size=rater_weights.shape[0])
        size = rater_weights.shape[0]
        both = np.vstack([rater_weights, rater_weights**2])
        indicator = self._indicator
        sums: FloatArray
        if isinstance(indicator, np.ndarray):
            if _exact_in_single(both, size):
                sums = np.matmul(both.astype(np.float32), indicator).astype(np.float64)
            else:
                sums = np.matmul(both, indicator.astype(np.float64))
        else:
            sums = _dense(indicator.T @ both.T).T
        shape = (size, self.n_units, self.width)
        return sums[:size].reshape(shape), sums[size:].reshape(shape)

    @cached_property
    def _by_rater_rows(self) -> tuple[IntArray, IntArray, IntArray]:
        """(first row of each rater, cell unit * V + value of every value sorted by rater,
        values per rater)."""
        order = stable_order(self.rater)
        cell = (self.unit * self.width + self.value)[order]
        per_rater = np.bincount(self.rater, minlength=self.n_raters)
        start = np.concatenate([[0], np.cumsum(per_rater)])
        return start, cell, per_rater

    def _without(
        self, row: IntArray, rater: IntArray, *, size: int
    ) -> tuple[FloatArray, FloatArray]:
        """Weighted counts of ``size`` replicates of 0/1 rater weights, each leaving out
        the raters ``rater`` in its row ``row`` (in the order of ``numpy.nonzero``).

        The full counts less those raters' values: a gather of their values, instead of a
        product over every rater (the jackknife, the two-way jackknife's rows and the
        table of rater pairs left out). The counts are whole numbers either way.
        """
        flat = np.repeat(self._unweighted.reshape(1, -1), size, axis=0)
        start, cell, per_rater = self._by_rater_rows
        # A row's raters are listed together: the k-th of every row is taken out in pass
        # k, so that one subtraction never lowers a cell of a row twice (two raters who
        # gave a unit the same value), which fancy indexing would count once.
        rank = np.arange(row.size) - np.searchsorted(row, row)
        for k in range(int(rank.max(initial=-1)) + 1):
            chosen = rank == k
            rows, raters = row[chosen], rater[chosen]
            lengths = per_rater[raters]
            repeated = np.repeat(rows, lengths)
            offset = np.arange(repeated.size) - np.repeat(np.cumsum(lengths) - lengths, lengths)
            flat[repeated, cell[np.repeat(start[raters], lengths) + offset]] -= 1.0
        counts = flat.reshape(size, self.n_units, self.width)
        return counts, counts

    def pair_totals(
        self,
        rater_weights: FloatArray | None,
        counts: tuple[FloatArray, FloatArray] | None = None,
    ) -> tuple[FloatArray, FloatArray]:
        """(m, P), each (B, units): m_u = sum_r w_r, P_u = sum over pairs of w_r w_s.

        ``counts`` are the weighted counts of these rater weights, when already known.
        """
        if rater_weights is None:
            m = sum_values(self._unweighted)
            return m, m * (m - 1.0)
        if counts is not None:
            m, square = self.value_totals(counts)
            return m, m * m - square
        m = _dense(self.rated.T @ rater_weights.T).T
        square = _dense(self.rated.T @ (rater_weights**2).T).T
        return m, m * m - square

    def pair_coincidences(
        self, unit_weights: FloatArray, ratio: FloatArray, pair_weights: FloatArray
    ) -> FloatArray:
        """(R', K, V*V): sum over pairs of v_u s_u w_r w_s [x_ru = c, x_su = k] for unit
        weights v (R or 1, K, units), unit scales s (R, units) and the pairs' rater
        weights (R or 1, pairs)."""
        _, _, unit = self.pairs
        product = unit_weights[:, :, unit] * (ratio[:, unit] * pair_weights)[:, None, :]
        shape = product.shape[:2]
        flat = _dense(self._to_cell.T @ product.reshape(-1, unit.size).T).T
        return flat.reshape(*shape, self.width * self.width)

    def pair_products(self, rater_weights: FloatArray | None) -> FloatArray:
        """(B, pairs) products w_r w_s of each pair's raters (one row of 1 for None)."""
        return self._pair_products(rater_weights)

    def _pair_products(self, rater_weights: FloatArray | None) -> FloatArray:
        first, second, _ = self.pairs
        if rater_weights is None:
            return np.ones((1, first.size))
        products: FloatArray = (
            rater_weights[:, self.rater[first]] * rater_weights[:, self.rater[second]]
        )
        return products

    def pair_sums(
        self,
        rater_weights: FloatArray | None,
        g: FloatArray,
        counts: tuple[FloatArray, FloatArray] | None = None,
    ) -> FloatArray:
        """(B, units): sum over the unit's pairs of w_r w_s g[x_ru, x_su].

        ``counts`` are the weighted counts of these rater weights, when already known.
        """
        if self.use_pairs():
            first, second, unit = self.pairs
            cell = g[self.value[first], self.value[second]]
            by_unit = scipy.sparse.csr_matrix(
                (cell, (np.arange(unit.size), unit)), shape=(unit.size, self.n_units)
            )
            return _dense(by_unit.T @ self._pair_products(rater_weights).T).T
        n, square = self.weighted_counts(rater_weights) if counts is None else counts
        _, square_total = self.value_totals((n, square))
        sums: FloatArray
        if np.array_equal(g, np.eye(self.width)):  # agreement on the same value only
            sums = np.einsum("buc,buc->bu", n, n) - square_total
            return sums
        # sum_ck n_uc g_ck n_uk as einsum("buc,ck,buk->bu", optimize=True) computes it
        # (the same two steps, without searching for them on every call).
        sums = np.einsum("kbu,buk->bu", np.tensordot(g, n, axes=((0,), (2,))), n)
        diagonal = np.diag(g)
        if (diagonal == 1.0).all():
            # sum_c square_uc g_cc is then the sum of the squares: the same number, as
            # the counts are whole (rater weights are draw counts or 0/1), and whole
            # numbers add up exactly in any order.
            sums -= square_total
        else:
            sums -= np.einsum("buc,c->bu", square, diagonal)
        return sums

    @cached_property
    def _to_cell(self) -> scipy.sparse.csr_matrix:
        first, second, _ = self.pairs
        cell = self.value[first] * self.width + self.value[second]
        return scipy.sparse.csr_matrix(
            (np.ones(cell.size), (np.arange(cell.size), cell)),
            shape=(cell.size, self.width * self.width),
        )


def sum_values(counts: FloatArray) -> FloatArray:
    """Sums over the last axis (the values) of (..., V) counts.

    For a short scale, as V - 1 additions of whole slices: numpy's reduction over a short
    contiguous axis costs about six times as much. Whole-number counts give the same sums
    either way; other values may differ in the last bit (another order of additions).
    """
    width = counts.shape[-1]
    if width == 0 or width > 16:
        summed: FloatArray = counts.sum(axis=-1)
        return summed
    total: FloatArray = counts[..., 0].copy()
    for c in range(1, width):
        total += counts[..., c]
    return total


def _exact_in_single(both: FloatArray, size: int) -> bool:
    """Whether single precision sums the rows of (w, w^2) over raters exactly (twice as
    fast as double): whole numbers whose sums stay below 2^24 (a bootstrap draw of n
    raters has sum w^2 <= n^2)."""
    whole = bool((both == np.rint(both)).all()) and bool((both >= 0).all())
    return whole and float(both[size:].sum(axis=1).max(initial=0.0)) < 2**24


#: Rows of 0/1 rater weights with at most this many zeros are counted by a gather (see
#: :meth:`RatedValues._without`): the jackknife leaves out one rater, the table of the
#: raters' pair part two.
_MOST_LEFT_OUT = 2


def _left_out(weights: FloatArray) -> tuple[IntArray, IntArray] | None:
    """(row, rater) of each rater that 0/1 rows of weights leave out (at most
    _MOST_LEFT_OUT a row), or None when the rows are anything else (a bootstrap draw)."""
    if weights.shape[1] == 0:
        return None
    zero = weights == 0.0
    if zero.sum(axis=1).max(initial=0) > _MOST_LEFT_OUT or not (zero | (weights == 1.0)).all():
        return None
    row, rater = np.nonzero(zero)
    return row, rater


def _dense(matrix: object) -> FloatArray:
    if scipy.sparse.issparse(matrix):
        matrix = matrix.toarray()
    return np.ascontiguousarray(np.asarray(matrix, dtype=np.float64))
