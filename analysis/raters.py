"""Rater diagnostics: how each expert rated compared with the rest of the panel.

Also the comparison of rater groups (organisation, group): do they rate differently?
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import scipy.sparse

from analysis._coincidence import alpha_batch, unit_coincidences
from analysis._types import FloatArray, IntArray
from analysis.reliability import MIN_PAIRABLE_ITEMS, level_problem, resolve_levels
from analysis.results import GroupDifference, RaterDiagnostics, RaterDimension
from analysis.tidy import (
    DimensionData,
    PanelCodes,
    compact_codes,
    dimension_data,
    grouped_order,
    sorted_codes,
    validate_ratings,
)

__all__ = ["ATTRIBUTE_COLUMNS", "compare_groups", "rater_attribute", "rater_diagnostics"]

ATTRIBUTE_COLUMNS = ("organisation", "group")
# Rater-level alphas are computed for at most this many (raters x V x V) cells at once.
_CHUNK_CELLS = 8_000_000


@dataclass(frozen=True)
class _Deviations:
    """Per valued rating of one dimension: its leave-one-out median and mean."""

    loo_median: FloatArray
    loo_mean: FloatArray
    others: IntArray  # how many other values the item has


def _leave_one_out(data: DimensionData) -> _Deviations:
    """Leave-one-out median and mean of the item's other values, for every rating.

    Values are sorted within items once; removing the value at sorted position j from m
    values leaves a median at positions that shift by one past j.
    """
    size = data.value.size
    order = grouped_order(data.item_code, data.value)
    item = data.item_code[order]
    ordered = data.value[order]
    new_group = np.ones(size, dtype=bool)
    new_group[1:] = item[1:] != item[:-1]
    group = np.cumsum(new_group) - 1
    starts = np.flatnonzero(new_group)
    m = np.diff(np.append(starts, size))[group]
    start = starts[group]
    j = np.arange(size) - start
    remaining = m - 1
    odd = remaining % 2 == 1
    t_a = np.where(odd, (remaining - 1) // 2, remaining // 2 - 1)
    t_b = np.where(odd, t_a, remaining // 2)
    valid = remaining >= 1
    t_a = np.where(valid, t_a, 0)
    t_b = np.where(valid, t_b, 0)
    pos_a = np.minimum(start + t_a + (t_a >= j), size - 1)
    pos_b = np.minimum(start + t_b + (t_b >= j), size - 1)
    median_sorted = np.where(valid, (ordered[pos_a] + ordered[pos_b]) / 2.0, np.nan)
    totals = np.bincount(group, weights=ordered)[group]
    mean_sorted = np.divide(totals - ordered, remaining, out=np.full(size, np.nan), where=valid)
    loo_median = np.empty(size)
    loo_mean = np.empty(size)
    others = np.empty(size, dtype=np.int64)
    loo_median[order] = median_sorted
    loo_mean[order] = mean_sorted
    others[order] = remaining
    return _Deviations(loo_median=loo_median, loo_mean=loo_mean, others=others)


def grouped_average_ranks(group: IntArray, x: FloatArray) -> FloatArray:
    """Ranks 1..n of ``x`` within each group, ties getting the average of their ranks."""
    size = x.size
    order = grouped_order(group, x)
    g, v = group[order], x[order]
    new_group = np.ones(size, dtype=bool)
    new_group[1:] = g[1:] != g[:-1]
    group_start = np.maximum.accumulate(np.where(new_group, np.arange(size), 0))
    position = np.arange(size) - group_start
    new_run = new_group.copy()
    new_run[1:] |= v[1:] != v[:-1]
    run = np.cumsum(new_run) - 1
    run_first = np.flatnonzero(new_run)
    run_last = np.append(run_first[1:], size) - 1
    average = (position[run_first] + position[run_last]) / 2.0 + 1.0
    ranks = np.empty(size)
    ranks[order] = average[run]
    return ranks


def _grouped_spearman(
    group: IntArray, x: FloatArray, y: FloatArray, n_groups: int
) -> tuple[FloatArray, IntArray]:
    """Spearman's rho within each group (average ranks for ties); NaN if undefined."""
    n = np.bincount(group, minlength=n_groups)
    rho = np.full(n_groups, np.nan)
    if group.size == 0:
        return rho, n
    rx = grouped_average_ranks(group, x)
    ry = grouped_average_ranks(group, y)
    safe_n = np.where(n > 0, n, 1)
    dx = rx - (np.bincount(group, weights=rx, minlength=n_groups) / safe_n)[group]
    dy = ry - (np.bincount(group, weights=ry, minlength=n_groups) / safe_n)[group]
    sxy = np.bincount(group, weights=dx * dy, minlength=n_groups)
    sxx = np.bincount(group, weights=dx * dx, minlength=n_groups)
    syy = np.bincount(group, weights=dy * dy, minlength=n_groups)
    defined = (n >= 3) & (sxx > 0) & (syy > 0)
    rho[defined] = sxy[defined] / np.sqrt(sxx[defined] * syy[defined])
    return np.clip(rho, -1.0, 1.0), n


def _spearman_reason(n: int, rho: float | None) -> str | None:
    if rho is not None:
        return None
    if n < 3:
        return f"{n} value(s) with a panel mean to compare; Spearman needs at least 3"
    return "the rater's values or the panel means do not vary, so no rank correlation"


def _alpha_without(
    data: DimensionData, level: str, n_raters: int
) -> tuple[float | None, FloatArray, str | None]:
    """(alpha of all raters, alpha without each rater (n_raters,), reason when undefined).

    Taking rater r out changes only the units r rated. For a unit with m values n_u,
    of which r gave v, its coincidences o_u = P_u / (m - 1) with P_u = n_u n_u' -
    diag(n_u) become 0 if m = 2, and otherwise (P_u - e_v n_u' - n_u e_v' + 2 e_v e_v')
    / (m - 2). The change summed over r's units is a sparse matrix product, so all
    leave-one-rater-out coincidence matrices come at once.
    """
    units, counts = data.value_counts()
    width = data.domain.size
    nothing = np.full(n_raters, np.nan)
    if width < 2:
        return None, nothing, "a single value was used, so alpha is undefined"
    problem = level_problem(data, level)
    if problem is not None:
        return None, nothing, problem
    n_pairable = int((counts.sum(axis=1) >= 2).sum())
    if n_pairable < MIN_PAIRABLE_ITEMS:
        return None, nothing, "fewer than two items with two or more ratings"
    per_unit = unit_coincidences(counts)
    o = np.asarray(per_unit.sum(axis=0)).reshape(1, -1)
    full = alpha_batch(o, data.domain, level)[0]
    if not np.isfinite(full):
        return None, nothing, "alpha of the whole panel is undefined"
    unit = data.item_index[1]  # each value's position among ``units``
    m = counts.sum(axis=1)[unit]
    a: FloatArray = np.where(m == 2, 1.0, np.where(m >= 3, -1.0 / np.maximum(m - 2.0, 1.0), 0.0))
    b: FloatArray = np.where(m >= 3, 1.0 / np.maximum(m - 2.0, 1.0), 0.0)
    rater, value = data.rater_code, data.value_code
    t = scipy.sparse.csr_matrix((a, (rater, unit)), shape=(n_raters, units.size))
    s = scipy.sparse.csr_matrix(
        (b, (rater * width + value, unit)), shape=(n_raters * width, units.size)
    )
    diagonal_b = np.bincount(rater * width + value, weights=b, minlength=n_raters * width)
    without = np.full(n_raters, np.nan)
    chunk = max(1, _CHUNK_CELLS // (width * width))
    for first in range(0, n_raters, chunk):
        last = min(first + chunk, n_raters)
        first_term = t[first:last] @ per_unit
        first_term = np.asarray(
            first_term.toarray() if scipy.sparse.issparse(first_term) else first_term
        ).reshape(-1, width, width)
        rank_one = np.asarray(s[first * width : last * width] @ counts).reshape(-1, width, width)
        delta = first_term + rank_one + rank_one.transpose(0, 2, 1)
        diagonal = diagonal_b[first * width : last * width].reshape(-1, width)
        index = np.arange(width)
        delta[:, index, index] -= 2.0 * diagonal
        remaining = o.reshape(1, width, width) - delta
        without[first:last] = alpha_batch(remaining.reshape(last - first, -1), data.domain, level)
    # Without r, an item r rated with only one other value is no longer pairable; alpha
    # of fewer than two pairable items is 0 by construction, so it is undefined.
    lost = np.bincount(rater, weights=(m == 2).astype(float), minlength=n_raters)
    without[n_pairable - lost < MIN_PAIRABLE_ITEMS] = np.nan
    return float(full), without, None


def rater_diagnostics(
    ratings: pd.DataFrame,
    *,
    levels: str | Mapping[Hashable, str] | None = None,
    scales: Mapping[Hashable, Sequence[float]] | None = None,
) -> tuple[RaterDiagnostics, ...]:
    """Diagnostics for every rater: completion, abstentions, severity and fit.

    Parameters
    ----------
    ratings : pandas.DataFrame
        Tidy ratings of one round (see :mod:`analysis.tidy`).
    levels : str or mapping of dimension to str, optional
        Level of measurement per dimension for the alpha-without-rater (default ordinal).
    scales : mapping of dimension to values, optional
        Admissible values per dimension (only validated here).

    Returns
    -------
    tuple of RaterDiagnostics
        Sorted by rater label.

    Notes
    -----
    * ``completion``: the rater's values over all item x dimension cells of the panel
      (every (item, dimension) pair occurring in the data).
    * ``cant_judge_rate`` / ``outside_expertise_rate``: share of the rater's rows with
      that status.
    * ``mean_signed_deviation``: mean of value minus the median of the *other* raters'
      values on the same item x dimension (leave-one-out; items nobody else rated are
      skipped). Positive: more severe (higher) than the panel, negative: more lenient.
      The overall figure pools the rater's deviations over all dimensions, in scale
      points.
    * ``spearman``: Spearman's rho (average ranks for ties) between the rater's values
      and the leave-one-out panel means of the same items, per dimension (needs at least
      3 items and variation); the overall figure is the mean of the defined
      per-dimension values (pooling would mix differences between dimensions in).
    * ``alpha_without`` / ``alpha_delta``: Krippendorff's alpha of the dimension (at its
      level) without the rater, and its difference from the whole panel's alpha; a
      positive delta means the panel agrees better without this rater. Computed for all
      raters at once from the per-unit coincidence matrices, not by refitting.

    References
    ----------
    Krippendorff, K. (2011). Computing Krippendorff's Alpha-Reliability.
    Wind, S. A., & Peterson, M. E. (2018). A systematic review of methods for evaluating
    rating quality in language assessment. Language Testing, 35(2), 161-192.

    Examples
    --------
    >>> frame = pd.DataFrame({"rater": list("abcabc"), "item": [1, 1, 1, 2, 2, 2],
    ...                       "dimension": "d", "value": [2.0, 2.0, 4.0, 3.0, 3.0, 5.0]})
    >>> [r.mean_signed_deviation for r in rater_diagnostics(frame)]
    [-1.0, -1.0, 2.0]
    """
    frame = validate_ratings(ratings)
    codes = PanelCodes.of(frame)
    data_by_dimension = dimension_data(frame, scales=dict(scales) if scales else None, codes=codes)
    return diagnostics_of_valid(
        frame, data_by_dimension, resolve_levels(levels, list(data_by_dimension)), codes
    )


def diagnostics_of_valid(
    frame: pd.DataFrame,
    data_by_dimension: Mapping[Hashable, DimensionData],
    level_by_dimension: Mapping[Hashable, str],
    codes: PanelCodes,
) -> tuple[RaterDiagnostics, ...]:
    """:func:`rater_diagnostics` of validated ratings already split by dimension."""
    rater_code, raters = codes.rater_code, codes.raters
    n_raters = raters.size
    n_cells = int(compact_codes(codes.dimension_code * codes.items.size + codes.item_code)[0].size)
    rows = np.bincount(rater_code, minlength=n_raters)
    valued = np.bincount(rater_code[codes.status_is("value")], minlength=n_raters)
    cant = np.bincount(rater_code[codes.status_is("cant_judge")], minlength=n_raters)
    outside = np.bincount(rater_code[codes.status_is("outside_expertise")], minlength=n_raters)

    deviation_sum = np.zeros(n_raters)
    deviation_n = np.zeros(n_raters)
    per_dimension = {}
    for dimension, data in data_by_dimension.items():
        loo = _leave_one_out(data)
        compared = loo.others >= 1
        r = data.rater_code[compared]
        deviation = data.value[compared] - loo.loo_median[compared]
        dim_sum = np.bincount(r, weights=deviation, minlength=n_raters)
        dim_n = np.bincount(r, minlength=n_raters)
        deviation_sum += dim_sum
        deviation_n += dim_n
        rho, rho_n = _grouped_spearman(r, data.value[compared], loo.loo_mean[compared], n_raters)
        full, without, alpha_reason = _alpha_without(data, level_by_dimension[dimension], n_raters)
        per_dimension[dimension] = (
            np.bincount(data.rater_code, minlength=n_raters),
            np.divide(dim_sum, dim_n, out=np.full(n_raters, np.nan), where=dim_n > 0),
            rho,
            rho_n,
            full,
            without,
            alpha_reason,
        )
    rhos = np.vstack([entry[2] for entry in per_dimension.values()] or [np.full(n_raters, np.nan)])
    n_rhos = np.isfinite(rhos).sum(axis=0)
    rho_all = np.divide(
        np.nansum(rhos, axis=0), n_rhos, out=np.full(n_raters, np.nan), where=n_rhos > 0
    )
    mean_deviation = np.divide(
        deviation_sum, deviation_n, out=np.full(n_raters, np.nan), where=deviation_n > 0
    )
    attributes = _attributes(frame, rater_code, n_raters)

    # Python numbers of every array, converted once (item by item, the conversions took
    # longer than the arrays' arithmetic).
    columns = {
        dimension: (
            n_values.tolist(),
            _finite_list(dev),
            _finite_list(rho),
            rho_n.tolist(),
            full,
            _finite_list(without),
            reason,
        )
        for dimension, (n_values, dev, rho, rho_n, full, without, reason) in per_dimension.items()
    }
    rho_all_list = _finite_list(rho_all)
    mean_deviation_list = _finite_list(mean_deviation)
    valued_list, cant_list, outside_list, rows_list = (
        valued.tolist(),
        cant.tolist(),
        outside.tolist(),
        rows.tolist(),
    )
    results = []
    for code in range(n_raters):
        dimensions = {}
        for dimension, (counts, devs, rho_list, rho_ns, panel, withouts, why) in columns.items():
            reasons = {}
            spearman_reason = _spearman_reason(rho_ns[code], rho_list[code])
            if spearman_reason:
                reasons["spearman"] = spearman_reason
            if devs[code] is None:
                reasons["mean_signed_deviation"] = "no item that other raters also rated"
            alpha_without = withouts[code]
            if counts[code] == 0:
                reasons["alpha_without"] = "the rater gave no values on this dimension"
                alpha_without = None
            elif why is not None:
                reasons["alpha_without"] = why
            elif alpha_without is None:
                reasons["alpha_without"] = "alpha is undefined without this rater"
            dimensions[dimension] = RaterDimension(
                n_values=counts[code],
                mean_signed_deviation=devs[code],
                spearman=rho_list[code],
                alpha_without=alpha_without,
                alpha_delta=(
                    None if alpha_without is None or panel is None else alpha_without - panel
                ),
                reasons=reasons,
            )
        reasons = {}
        if rho_all_list[code] is None:
            reasons["spearman"] = "Spearman's rho is undefined on every dimension"
        if mean_deviation_list[code] is None:
            reasons["mean_signed_deviation"] = "no item that other raters also rated"
        results.append(
            RaterDiagnostics(
                rater=raters[code],
                n_cells=n_cells,
                n_values=valued_list[code],
                completion=valued_list[code] / n_cells if n_cells else 0.0,
                cant_judge_rate=cant_list[code] / rows_list[code],
                outside_expertise_rate=outside_list[code] / rows_list[code],
                mean_signed_deviation=mean_deviation_list[code],
                spearman=rho_all_list[code],
                dimensions=dimensions,
                reasons=reasons,
                attributes=attributes[code],
            )
        )
    return tuple(results)


def _finite_list(values: FloatArray) -> list[float | None]:
    """The values as Python floats, None where not finite."""
    finite = np.isfinite(values).tolist()
    return [value if keep else None for value, keep in zip(values.tolist(), finite, strict=True)]


def _attributes(
    frame: pd.DataFrame, rater_code: IntArray, n_raters: int
) -> list[dict[str, object]]:
    present = [column for column in ATTRIBUTE_COLUMNS if column in frame.columns]
    attributes: list[dict[str, object]] = [{} for _ in range(n_raters)]
    for column in present:
        first = pd.Series(frame[column].to_numpy()).groupby(rater_code).first()
        for code, value in first.items():
            if pd.notna(value):
                attributes[int(code)][column] = value
    return attributes


def rater_attribute(ratings: pd.DataFrame, by: str) -> pd.Series:
    """The value of the rater attribute ``by`` for each rater (index: rater label).

    Raises ValueError naming ``by`` when the column is missing or a rater has two values.
    Raters whose attribute is empty get NaN.
    """
    if not isinstance(by, str) or by not in ratings.columns:
        raise ValueError(f"group_by: the ratings have no column {by!r}")
    if by in ("rater", "item", "dimension", "value", "status", "round", "confidence"):
        raise ValueError(f"group_by: {by!r} is not a rater attribute")
    pairs = ratings[["rater", by]].dropna().drop_duplicates()
    repeated = pairs["rater"].duplicated()
    if repeated.any():
        rater = pairs["rater"][repeated].iloc[0]
        raise ValueError(f"group_by: rater {rater!r} has more than one value of {by!r}")
    raters = pd.Index(ratings["rater"].unique())
    return pairs.set_index("rater")[by].reindex(raters)


def compare_groups(
    ratings: pd.DataFrame,
    *,
    by: str,
    diagnostics: Sequence[RaterDiagnostics] | None = None,
) -> dict[Hashable, GroupDifference]:
    """Test, per dimension, whether groups of raters rate differently.

    Parameters
    ----------
    ratings : pandas.DataFrame
        Tidy ratings of one round with the rater attribute column ``by``.
    by : str
        The rater attribute, e.g. "organisation" or "group".
    diagnostics : sequence of RaterDiagnostics, optional
        Output of :func:`rater_diagnostics` for the same ratings, to avoid recomputing.

    Returns
    -------
    dict
        Dimension -> :class:`GroupDifference` (Kruskal-Wallis H, df, p-value, raters
        per group, median rater deviation per group); ``None`` statistic with a reason
        when fewer than two groups have two raters or all deviations are equal.

    Notes
    -----
    The observations are raters, not ratings, because ratings by one rater are not
    independent: each rater contributes one number per dimension, their mean signed
    deviation from the leave-one-out panel median (see :func:`rater_diagnostics`).
    Measuring against the item's median removes item difficulty, so this works for
    incomplete designs where groups rated different items. The groups are compared
    with the Kruskal-Wallis H test (tie-corrected, chi-square approximation); with two
    groups it is the two-sided Mann-Whitney test with the normal approximation. Groups
    with fewer than two raters with a deviation are left out; raters with an empty
    attribute belong to no group.

    References
    ----------
    Kruskal, W. H., & Wallis, W. A. (1952). Use of ranks in one-criterion variance
    analysis. Journal of the American Statistical Association, 47(260), 583-621.

    Examples
    --------
    >>> frame = pd.DataFrame({"rater": [r for r in "abcdef" for _ in range(3)],
    ...                       "item": [1, 2, 3] * 6, "dimension": "d",
    ...                       "value": [1, 2, 3, 1, 2, 3, 1, 3, 3, 3, 4, 5, 3, 4, 5, 3, 5, 5.0],
    ...                       "organisation": ["x"] * 9 + ["y"] * 9})
    >>> result = compare_groups(frame, by="organisation")["d"]
    >>> result.test, round(result.p_value, 3)
    ('kruskal', 0.043)
    """
    frame = validate_ratings(ratings)
    attribute = rater_attribute(frame, by)
    if diagnostics is None:
        diagnostics = rater_diagnostics(frame)
    dimensions = sorted_codes(frame["dimension"])[1]
    results: dict[Hashable, GroupDifference] = {}
    for dimension in dimensions:
        samples: dict[Hashable, list[float]] = {}
        for rater in diagnostics:
            group = attribute.get(rater.rater)
            entry = rater.dimensions.get(dimension)
            if group is None or pd.isna(group) or entry is None:
                continue
            if entry.mean_signed_deviation is not None:
                samples.setdefault(group, []).append(entry.mean_signed_deviation)
        samples = dict(sorted(samples.items(), key=lambda pair: str(pair[0])))
        n_raters = {group: len(values) for group, values in samples.items()}
        medians = {group: float(np.median(values)) for group, values in samples.items()}
        used = [np.asarray(values) for values in samples.values() if len(values) >= 2]
        reason = None
        if len(used) < 2:
            reason = "fewer than two groups have two raters with a deviation"
        elif np.ptp(np.concatenate(used)) == 0:
            reason = "every rater has the same mean deviation"
        if reason is not None:
            results[dimension] = GroupDifference(
                dimension=dimension,
                test="kruskal",
                statistic=None,
                df=None,
                p_value=None,
                n_raters=n_raters,
                median_deviation=medians,
                reason=reason,
            )
            continue
        import scipy.stats  # only here: its import takes longer than most analyses

        statistic, p_value = scipy.stats.kruskal(*used)
        results[dimension] = GroupDifference(
            dimension=dimension,
            test="kruskal",
            statistic=float(statistic),
            df=len(used) - 1,
            p_value=float(p_value),
            n_raters=n_raters,
            median_deviation=medians,
        )
    return results
