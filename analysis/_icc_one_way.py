"""The variance of the one-way REML ICC1 when the raters have effects of their own.

The one-way model y_ij = mu + a_i + w_ij treats everything but the item as residual.
When the same raters rate many items, their severities b_j make the residuals of
different items correlated, which the one-way model's information ignores: its Wald
interval is too narrow (coverage 0.92 at 15 raters x 40 items in ``bench/icc_coverage.py``).
Here the one-way REML estimates keep their values, and their covariance is the sandwich
H^-1 Var(score) H^-1 (Huber 1967; White 1982) with Var(score) computed under the
crossed model y_ij = mu + a_i + b_j + e_ij fitted to the same ratings.

Notation: items i with n_i ratings, their means ybar_i, the pooled within-item sum of
squares S_W; incidence M (items x raters), S = M M' (ratings the items share),
D = diag(n_i). One-way parameters phi = (s_a, s_w), lambda_i = s_w + n_i s_a. The REML
scores are s = q - t / 2 with the random parts

    q_w = S_W / (2 s_w^2) + r' D_1 r / 2,   q_a = r' D_2 r / 2,

r = ybar - mu_hat (mu_hat the GLS mean, weights pi_i proportional to n_i / lambda_i),
D_1 = diag(n_i / lambda_i^2), D_2 = diag(n_i^2 / lambda_i^2). Under the crossed model
(components c_a, c_r, c_e) ybar has covariance C = diag(c_a + c_e / n_i)
+ c_r D^-1 S D^-1, S_W is independent of the items' errors and means but shares the rater
effects with them, and the Gaussian moments of quadratic forms,
Cov(x'Ax, x'Bx) = 2 tr(A V B V), give Var(q) without forming any matrix of the size of
the ratings: every trace reduces to sums over the non-zero cells of S.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np
import scipy.sparse

from analysis._types import FloatArray, IntArray

#: Relative step of the central differences that give the score's Jacobian.
_STEP = 1e-5
#: Item x rater incidence matrices up to this many cells are multiplied densely.
_DENSE_CELLS = 4_000_000


@dataclass(frozen=True)
class OneWayData:
    """What the one-way REML scores and their variance depend on."""

    counts: FloatArray  # n_i
    means: FloatArray  # ybar_i
    within: float  # S_W
    n_ratings: int
    incidence: scipy.sparse.csr_matrix  # M, items x raters
    shared: scipy.sparse.csr_matrix  # S = M M'

    @classmethod
    def of(cls, item: IntArray, rater: IntArray, y: FloatArray) -> OneWayData:
        n_items, n_raters = int(item.max()) + 1, int(rater.max()) + 1
        counts = np.bincount(item, minlength=n_items).astype(float)
        centred = y - y.mean()
        means = np.bincount(item, weights=centred, minlength=n_items) / counts
        within = float(((centred - means[item]) ** 2).sum())
        incidence = scipy.sparse.csr_matrix(
            (np.ones(y.size), (item, rater)), shape=(n_items, n_raters)
        )
        if n_items * n_raters <= _DENSE_CELLS:  # BLAS beats the sparse product here
            dense = incidence.toarray()
            shared = scipy.sparse.csr_matrix(dense @ dense.T)
        else:
            shared = (incidence @ incidence.T).tocsr()
        return cls(counts, means, within, int(y.size), incidence, shared)

    @cached_property
    def squares_per_count(self) -> FloatArray:
        """(S * S) D^-1 1 (S * S elementwise), which Var(S_W) and its covariance with the
        means share; the squares themselves are not kept."""
        product: FloatArray = self.shared.multiply(self.shared) @ (1 / self.counts)
        return product

    @cached_property
    def rater_counts(self) -> FloatArray:
        """m_j, the ratings per rater."""
        counts: FloatArray = np.asarray(self.incidence.sum(axis=0), dtype=float).ravel()
        return counts


def _weights(data: OneWayData, phi: FloatArray) -> tuple[FloatArray, FloatArray]:
    """lambda_i and the GLS weights pi_i of the item means."""
    lam = phi[1] + data.counts * phi[0]
    pi = data.counts / lam
    return lam, pi / pi.sum()


def scores(data: OneWayData, phi: FloatArray) -> FloatArray:
    """The REML scores d log L / d (s_a, s_w) of the one-way model at ``phi``."""
    n = data.counts
    lam, pi = _weights(data, phi)
    r = data.means - pi @ data.means
    c = float((n / lam).sum())
    q_w = data.within / (2 * phi[1] ** 2) + float((n * r**2 / lam**2).sum()) / 2
    q_a = float((n**2 * r**2 / lam**2).sum()) / 2
    t_w = (data.n_ratings - n.size) / phi[1] + (1 / lam).sum() - (n / lam**2).sum() / c
    t_a = (n / lam).sum() - ((n / lam) ** 2).sum() / c
    return np.array([q_a - t_a / 2, q_w - t_w / 2])


def _jacobian(data: OneWayData, phi: FloatArray) -> FloatArray:
    h = _STEP * np.maximum(phi, 1e-3 * phi.max())
    columns = []
    for k in range(2):
        step = np.zeros(2)
        step[k] = h[k]
        columns.append((scores(data, phi + step) - scores(data, phi - step)) / (2 * h[k]))
    jacobian: FloatArray = np.column_stack(columns)
    symmetric: FloatArray = (jacobian + jacobian.T) / 2
    return symmetric


@dataclass(frozen=True)
class _Means:
    """The covariance of the centred item means r = L ybar (L = I - 1 pi'), kept as
    C (sparse) and the vectors u = C pi, w = pi'C pi - u, so that Cov(r)_ik =
    C_ik + w_i - u_k."""

    c: scipy.sparse.csr_matrix
    u: FloatArray
    w: FloatArray

    @cached_property
    def squared(self) -> scipy.sparse.csr_matrix:
        """C * C elementwise (every trace needs it)."""
        squared: scipy.sparse.csr_matrix = self.c.multiply(self.c).tocsr()
        return squared

    def trace(self, a: FloatArray, b: FloatArray) -> float:
        """tr(diag(a) Cov(r) diag(b) Cov(r)) = sum_ik a_i b_k Cov(r)_ik^2."""
        c, u, w = self.c, self.u, self.w
        squares = float(a @ (self.squared @ b))
        cross = 2 * (float((a * w) @ (c @ b)) - float(a @ (c @ (b * u))))
        rest = (
            float((a * w**2).sum()) * float(b.sum())
            - 2 * float((a * w).sum()) * float((b * u).sum())
            + float(a.sum()) * float((b * u**2).sum())
        )
        return squares + cross + rest


def _means(data: OneWayData, pi: FloatArray, crossed: FloatArray) -> _Means:
    c_a, c_r, c_e = crossed
    # c_r D^-1 S D^-1, scaled in place of two sparse products with diagonal matrices
    # (the same values: each entry is one product, (s_ik / n_i) / n_k)
    shared, inverse = data.shared, 1 / data.counts
    scaled = np.repeat(inverse, np.diff(shared.indptr))  # 1 / n_i of each entry's row
    scaled *= shared.data
    scaled *= inverse[shared.indices]
    scaled *= c_r
    c = scipy.sparse.csr_matrix(
        (scaled, shared.indices.copy(), shared.indptr.copy()), shape=shared.shape
    )
    c = (c + scipy.sparse.diags(c_a + c_e / data.counts)).tocsr()
    u = c @ pi
    return _Means(c, u, float(pi @ u) - u)


def _within_with_means(data: OneWayData, pi: FloatArray, d: FloatArray) -> float:
    """tr(D_d L Y L') with Y = D^-1 M K M' D^-1, K = diag(m_j) - M' D^-1 M: the rater
    part of Cov(S_W, r' D_d r) is 2 c_r^2 times this."""
    n, m_matrix, s = data.counts, data.incidence, data.shared
    m = data.rater_counts
    y_diag = (m_matrix @ m - data.squares_per_count) / n**2
    y_pi = (m_matrix @ (m * (m_matrix.T @ (pi / n)))) / n - (s @ ((s @ (pi / n)) / n)) / n
    diagonal = y_diag - 2 * y_pi + float(pi @ y_pi)
    return float(d @ diagonal)


def _within_variance(data: OneWayData, crossed: FloatArray) -> float:
    """Var(S_W) under the crossed model."""
    c_r, c_e = float(crossed[1]), float(crossed[2])
    n, m_matrix = data.counts, data.incidence
    m = data.rater_counts
    h = m_matrix.T @ (1 / n)
    frobenius = float((m**2).sum() - 2 * (m * h).sum())
    frobenius += float((1 / n) @ data.squares_per_count)
    df = data.n_ratings - n.size
    return 2 * (c_e**2 * df + 2 * c_e * c_r * df + c_r**2 * frobenius)


def score_covariance(data: OneWayData, phi: FloatArray, crossed: FloatArray) -> FloatArray:
    """Var of the one-way scores (s_a, s_w) at ``phi`` when the ratings follow the
    crossed model with components ``crossed`` = (item, rater, residual)."""
    n = data.counts
    lam, pi = _weights(data, phi)
    d1, d2 = n / lam**2, n**2 / lam**2
    means = _means(data, pi, crossed)
    c_r = float(crossed[1])
    s_w2 = phi[1] ** 2
    var_w = (
        _within_variance(data, crossed) / (4 * s_w2**2)
        + c_r**2 * _within_with_means(data, pi, d1) / s_w2
        + means.trace(d1, d1) / 2
    )
    cov = c_r**2 * _within_with_means(data, pi, d2) / (2 * s_w2) + means.trace(d1, d2) / 2
    var_a = means.trace(d2, d2) / 2
    return np.array([[var_a, cov], [cov, var_w]])


def logit_variance(data: OneWayData, phi: FloatArray, crossed: FloatArray) -> float | None:
    """The sandwich variance of logit ICC1 = log s_a - log s_w at the one-way REML
    estimates ``phi`` = (s_a, s_w), or None when the Jacobian is singular."""
    jacobian = _jacobian(data, phi)
    if abs(float(np.linalg.det(jacobian))) <= 1e-300:
        return None
    bread = np.linalg.inv(jacobian)
    covariance = bread @ score_covariance(data, phi, crossed) @ bread.T
    gradient = np.array([1 / phi[0], -1 / phi[1]])
    return max(float(gradient @ covariance @ gradient), 0.0)
