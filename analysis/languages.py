"""The panel split by the language each rating was given in.

A rubric read in a second language is itself a source of disagreement. The ratings carry
a ``language`` column (the language the expert read the survey in when they saved the
answer); :func:`split_by_language` gives each language's reliability and consensus, as
for any subgroup, and tests per item and dimension whether the languages' ratings differ
beyond chance.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Sequence
from typing import Any

import numpy as np
import pandas as pd

from analysis.results import (
    LanguageDifference,
    LanguageGroup,
    LanguageSplit,
    PanelAnalysis,
)
from analysis.tidy import validate_ratings

#: A language enters an item's test with at least this many ratings (values, not
#: abstentions); with fewer its ratings are counted but not tested.
MIN_RATINGS_PER_LANGUAGE = 2

TEST_NAME = "kruskal-wallis permutation"

FloatArray = np.ndarray[Any, np.dtype[np.float64]]


def kruskal_permutation(
    samples: Sequence[Sequence[float] | FloatArray],
    *,
    n_permutations: int,
    rng: np.random.Generator,
) -> tuple[float, float]:
    """Kruskal-Wallis H of ``samples`` and its permutation p-value.

    Parameters
    ----------
    samples : sequence of sequences of float
        Two or more groups of observations, each with at least one value.
    n_permutations : int
        Random reassignments of the observations to groups (sizes kept).
    rng : numpy.random.Generator
        The source of the permutations.

    Returns
    -------
    (float, float)
        H with the tie correction (as ``scipy.stats.kruskal``) and the Monte Carlo
        permutation p-value ``(1 + #{H* >= H}) / (1 + n_permutations)``.

    Raises
    ------
    ValueError
        Fewer than two groups, an empty group, every observation equal (H is 0/0), or
        ``n_permutations`` below 1.

    Notes
    -----
    Under the null hypothesis that the language a rating was given in does not change
    it, the observations are exchangeable between groups, so the permutation
    distribution of H gives an exact-in-expectation test whatever the group sizes and
    ties; the chi-square approximation that ``scipy.stats.kruskal`` reports is poor with
    the few ratings per language of an expert panel. Counting the observed statistic
    among the permutations keeps the p-value valid (never 0) (Phipson & Smyth 2010).
    The ranks and the tie correction do not change under permutation, so each permuted
    H needs only the groups' rank sums.

    References
    ----------
    Kruskal, W. H., & Wallis, W. A. (1952). Use of ranks in one-criterion variance
    analysis. Journal of the American Statistical Association, 47(260), 583-621.
    Phipson, B., & Smyth, G. K. (2010). Permutation p-values should never be zero.
    Statistical Applications in Genetics and Molecular Biology, 9(1), Article 39.

    Examples
    --------
    >>> h, p = kruskal_permutation([[1, 2, 2], [4, 5, 5]], n_permutations=999,
    ...                            rng=np.random.default_rng(0))
    >>> round(h, 3), round(p, 2)
    (4.091, 0.1)
    """
    if n_permutations < 1:
        raise ValueError(f"n_permutations must be at least 1, not {n_permutations!r}")
    groups = [np.asarray(sample, dtype=float) for sample in samples]
    if len(groups) < 2 or any(group.size == 0 for group in groups):
        raise ValueError("samples must hold two or more groups, none of them empty")
    values = np.concatenate(groups)
    n_total = values.size
    # Imported here: `elicit analyze` imports this module, and scipy.stats alone takes
    # about as long to import as pandas.
    import scipy.stats

    ranks: FloatArray = np.asarray(scipy.stats.rankdata(values), dtype=float)
    _, ties = np.unique(values, return_counts=True)
    correction = 1.0 - float(np.sum(ties**3 - ties)) / (n_total**3 - n_total)
    if correction <= 0:
        raise ValueError("every observation is equal: H is undefined")
    sizes = np.array([group.size for group in groups])
    starts = np.cumsum(sizes) - sizes

    def h_of(rank_sums: FloatArray) -> FloatArray:
        mean_square: FloatArray = np.sum(rank_sums**2 / sizes, axis=-1)
        scale = 12.0 / (n_total * (n_total + 1))
        return np.asarray((scale * mean_square - 3 * (n_total + 1)) / correction, dtype=float)

    def rank_sums_of(rows: FloatArray) -> FloatArray:
        # Ranks are multiples of 1/2, so every partial sum is exact: summing each group's
        # slice gives the same numbers as differences of running totals, without writing
        # a running total for every permuted observation.
        sums: FloatArray = np.add.reduceat(rows, starts, axis=-1)
        return sums

    observed = float(h_of(rank_sums_of(ranks)))
    permuted = rng.permuted(np.broadcast_to(ranks, (n_permutations, n_total)), axis=1)
    statistics = h_of(rank_sums_of(permuted))
    # A tolerance: permutations that give the observed H up to rounding count as >=.
    exceeding = int(np.sum(statistics >= observed - 1e-9 * max(1.0, abs(observed))))
    return observed, (1 + exceeding) / (1 + n_permutations)


def holm(p_values: Sequence[float]) -> list[float]:
    """Holm's step-down adjustment of ``p_values`` (same order as given).

    Notes
    -----
    Sorted ascending, the i-th smallest of m p-values becomes
    ``max over j <= i of min(1, (m - j + 1) p_(j))``; rejecting where the adjusted
    value is below alpha controls the family-wise error rate at alpha under any
    dependence between the tests.

    References
    ----------
    Holm, S. (1979). A simple sequentially rejective multiple test procedure.
    Scandinavian Journal of Statistics, 6(2), 65-70.

    Examples
    --------
    >>> holm([0.01, 0.04, 0.03])
    [0.03, 0.06, 0.06]
    """
    p = np.asarray(p_values, dtype=float)
    if p.size == 0:
        return []
    if np.any((p < 0) | (p > 1) | ~np.isfinite(p)):
        raise ValueError("p_values must lie in [0, 1]")
    order = np.argsort(p, kind="stable")
    m = p.size
    scaled = np.minimum(1.0, (m - np.arange(m)) * p[order])
    adjusted = np.empty(m)
    adjusted[order] = np.maximum.accumulate(scaled)
    return [round(float(x), 12) for x in adjusted]


def language_differences(
    ratings: pd.DataFrame,
    *,
    n_permutations: int = 2000,
    alpha: float = 0.05,
    rng: np.random.Generator,
) -> tuple[LanguageDifference, ...]:
    """Per item and dimension, whether the ratings differ by language.

    Parameters
    ----------
    ratings : pandas.DataFrame
        Tidy ratings with a ``language`` column (rows without one are left out).
    n_permutations : int
        Permutations per test (:func:`kruskal_permutation`).
    alpha : float
        Family-wise level: an item is flagged when its Holm-adjusted p-value is below it.
    rng : numpy.random.Generator
        The source of the permutations.

    Returns
    -------
    tuple of LanguageDifference
        One per item x dimension, in item then dimension order; the statistic and
        p-values are ``None`` with a reason when fewer than two languages have
        :data:`MIN_RATINGS_PER_LANGUAGE` ratings, or every rating is the same.

    Notes
    -----
    The observations are the item's ratings (values; abstentions are left out): one per
    expert, so independent across the groups. The Holm adjustment runs over every test
    that is defined, all items and dimensions of the round together.

    Examples
    --------
    >>> frame = pd.DataFrame({"rater": list("abcdef"), "item": "x", "dimension": "d",
    ...                       "value": [1, 1, 2, 4, 5, 5.0],
    ...                       "language": ["en"] * 3 + ["fr"] * 3})
    >>> result = language_differences(frame, n_permutations=999,
    ...                               rng=np.random.default_rng(1))[0]
    >>> result.test, result.df, round(result.p_value, 2)
    ('kruskal-wallis permutation', 1, 0.1)
    """
    _check_alpha(alpha)
    return _differences(
        _with_language(ratings), n_permutations=n_permutations, alpha=alpha, rng=rng
    )


def _check_alpha(alpha: float) -> None:
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must lie strictly between 0 and 1, not {alpha!r}")


def _differences(
    frame: pd.DataFrame, *, n_permutations: int, alpha: float, rng: np.random.Generator
) -> tuple[LanguageDifference, ...]:
    """:func:`language_differences` of ratings already validated, with a language each."""
    _check_alpha(alpha)
    # Plain arrays, one pass: per-cell pandas selections cost more than the tests.
    item_code, items = pd.factorize(frame["item"], sort=True)
    dimension_code, dimensions = pd.factorize(frame["dimension"], sort=True)
    language_code, languages = pd.factorize(frame["language"].astype(str), sort=True)
    cell = item_code * len(dimensions) + dimension_code
    is_value = (frame["status"] == "value").to_numpy()
    values = frame["value"].to_numpy(dtype=float)
    order = np.lexsort((language_code, cell))
    cell, language_code, is_value, values = (
        cell[order],
        language_code[order],
        is_value[order],
        values[order],
    )
    rows: list[dict[str, Any]] = []
    for this in np.unique(cell):
        start, stop = np.searchsorted(cell, [this, this + 1])
        keep = is_value[start:stop]
        codes, found = language_code[start:stop][keep], values[start:stop][keep]
        by_language = {languages[code]: found[codes == code] for code in np.unique(codes)}
        n = {language: int(v.size) for language, v in by_language.items()}
        median = {language: float(np.median(v)) for language, v in by_language.items()}
        tested = [v for v in by_language.values() if v.size >= MIN_RATINGS_PER_LANGUAGE]
        item, dimension = items[this // len(dimensions)], dimensions[this % len(dimensions)]
        row: dict[str, Any] = {"item": item, "dimension": dimension, "n": n, "median": median}
        if len(tested) < 2:
            row["reason"] = (
                f"fewer than two languages have {MIN_RATINGS_PER_LANGUAGE} or more ratings"
            )
        elif np.ptp(np.concatenate(tested)) == 0:
            row["reason"] = "every rating is the same"
        else:
            statistic, p_value = kruskal_permutation(tested, n_permutations=n_permutations, rng=rng)
            row.update(statistic=statistic, df=len(tested) - 1, p_value=p_value)
        rows.append(row)
    defined = [row for row in rows if "p_value" in row]
    for row, adjusted in zip(defined, holm([row["p_value"] for row in defined]), strict=True):
        row["p_holm"] = adjusted
    return tuple(
        LanguageDifference(
            item=row["item"],
            dimension=row["dimension"],
            test=TEST_NAME,
            statistic=row.get("statistic"),
            df=row.get("df"),
            p_value=row.get("p_value"),
            p_holm=row.get("p_holm"),
            flagged=row.get("p_holm") is not None and row["p_holm"] < alpha,
            n=row["n"],
            median=row["median"],
            n_permutations=n_permutations,
            reason=row.get("reason"),
        )
        for row in rows
    )


def split_by_language(
    ratings: pd.DataFrame,
    *,
    analyze: Callable[[pd.DataFrame], PanelAnalysis],
    n_permutations: int = 2000,
    alpha: float = 0.05,
    seed: int | None = 0,
) -> LanguageSplit:
    """Reliability and consensus per language, and the items whose ratings differ by
    language beyond chance.

    Parameters
    ----------
    ratings : pandas.DataFrame
        Tidy ratings of one round with a ``language`` column.
    analyze : callable
        Analyses one language's ratings (``analysis.summary.analyze`` with the round's
        settings), so each language gets the panel's coefficients and consensus. The
        ratings it is given are already validated (:func:`analysis.tidy.validate_ratings`),
        so it may pass ``validated=True``.
    n_permutations, alpha
        See :func:`language_differences`.
    seed : int or None
        Seed of the permutations.

    Returns
    -------
    LanguageSplit
        Per language: raters (who gave at least one rating in it), ratings, reliability
        per dimension and consensus per item; the tests of :func:`language_differences`;
        the number of ratings without a language.

    Notes
    -----
    A language's ratings are analysed as a panel of their own: an expert who switched
    language part-way counts in each language they rated in. Coefficients a language
    has too few ratings for are undefined with their reason, as for the whole panel.

    Examples
    --------
    >>> from analysis.datasets import two_languages
    >>> from analysis.summary import analyze
    >>> split = split_by_language(
    ...     two_languages(), analyze=lambda part: analyze(part, n_bootstrap=0)
    ... )
    >>> sorted(split.groups), split.groups["fr"].n_raters
    (['en', 'fr'], 2)
    """
    frame = _with_language(ratings)
    n_unknown = int(len(ratings) - len(frame))
    groups: dict[Hashable, LanguageGroup] = {}
    for language, part in frame.groupby("language", sort=True):
        n_raters, n_ratings = int(part["rater"].nunique()), len(part)
        try:
            result = analyze(part)
        except ValueError as exc:
            groups[language] = LanguageGroup(language, n_raters, n_ratings, {}, (), str(exc))
            continue
        groups[language] = LanguageGroup(
            language, n_raters, n_ratings, result.dimensions, result.items
        )
    # ``frame`` is validated and every row has a language: the tests need not check again.
    differences = _differences(
        frame, n_permutations=n_permutations, alpha=alpha, rng=np.random.default_rng(seed)
    )
    return LanguageSplit(groups, differences, alpha, n_unknown)


def _with_language(ratings: pd.DataFrame) -> pd.DataFrame:
    """The validated ratings that carry a language."""
    if "language" not in ratings.columns:
        raise ValueError("ratings has no column 'language'")
    frame = validate_ratings(ratings)
    known = frame["language"].notna() & (frame["language"].astype(str) != "")
    return frame[known]


def format_language_text(split: LanguageSplit) -> str:
    """The split as plain text: each language's alpha per dimension, then the items whose
    ratings differ by language (what ``elicit analyze --by-language`` prints).

    Examples
    --------
    >>> from functools import partial
    >>> from analysis.datasets import two_languages
    >>> from analysis.summary import analyze
    >>> split = split_by_language(two_languages(), analyze=partial(analyze, n_bootstrap=0))
    >>> print(format_language_text(split).splitlines()[0])
    By language (Kruskal-Wallis permutation tests, Holm-adjusted at 0.05)
    """
    lines = [f"By language (Kruskal-Wallis permutation tests, Holm-adjusted at {split.alpha:g})"]
    if split.n_unknown:
        lines.append(f"  {split.n_unknown} ratings carry no language and are left out")
    for language, group in split.groups.items():
        head = f"  {language}: {group.n_raters} raters, {group.n_ratings} ratings"
        if group.reason:
            lines.append(f"{head}; not analysed: {group.reason}")
            continue
        alphas = []
        for dimension, reliability in group.dimensions.items():
            alpha = reliability.primary_alpha
            shown = "undefined" if alpha.value is None else f"{alpha.value:.3f}"
            alphas.append(f"{dimension} {shown}")
        lines.append(f"{head}; alpha: {', '.join(alphas)}")
    flagged = split.flagged
    tested = sum(d.p_value is not None for d in split.differences)
    lines.append(
        f"  {len(flagged)} of {tested} tested items x dimensions differ by language"
        + (":" if flagged else "")
    )
    for d in flagged:
        medians = ", ".join(f"{k} {v:g}" for k, v in d.median.items() if v is not None)
        lines.append(
            f"    {d.item} / {d.dimension}: H = {d.statistic:.2f}, p = {d.p_value:.4f}, "
            f"Holm p = {d.p_holm:.4f} (medians {medians})"
        )
    return "\n".join(lines)
