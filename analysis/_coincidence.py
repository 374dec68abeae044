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

from typing import Literal, TypeAlias

import numpy as np
import scipy.sparse

from analysis._types import FloatArray

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
