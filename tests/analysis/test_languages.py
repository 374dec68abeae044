"""Ratings split by language: the permutation Kruskal-Wallis test, Holm's adjustment and
the per-language analysis, checked against scipy, statsmodels, exact enumeration and a
seeded simulation of the test's error rates."""

from __future__ import annotations

import doctest
import itertools

import numpy as np
import pandas as pd
import pytest
import scipy.stats
from statsmodels.stats.multitest import multipletests

import analysis.languages
from analysis.languages import (
    MIN_RATINGS_PER_LANGUAGE,
    holm,
    kruskal_permutation,
    language_differences,
    split_by_language,
)
from analysis.summary import analyze


def test_docstring_examples():
    failures, _ = doctest.testmod(analysis.languages, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert failures == 0


@pytest.mark.parametrize("seed", range(5))
def test_h_matches_scipy_kruskal_with_ties(seed):
    # Oracle: scipy.stats.kruskal (tie-corrected H), an independent implementation.
    rng = np.random.default_rng(seed)
    samples = [rng.integers(1, 6, size=n).astype(float) for n in (4, 6, 5)]
    h, _ = kruskal_permutation(samples, n_permutations=10, rng=rng)
    assert h == pytest.approx(scipy.stats.kruskal(*samples).statistic, rel=1e-12)


def _exact_p(samples):
    """The permutation p-value by enumerating every assignment to groups of these sizes."""
    values = np.concatenate(samples)
    sizes = [len(s) for s in samples]
    observed = scipy.stats.kruskal(*samples).statistic
    count = total = 0
    indices = range(len(values))
    for first in itertools.combinations(indices, sizes[0]):
        rest = [i for i in indices if i not in first]
        for second in itertools.combinations(rest, sizes[1]):
            third = [i for i in rest if i not in second]
            groups = [values[list(first)], values[list(second)], values[third]]
            if np.ptp(values) == 0:
                continue
            total += 1
            count += scipy.stats.kruskal(*groups).statistic >= observed - 1e-9
    return count / total


def test_permutation_p_matches_exact_enumeration():
    # Oracle: all 8!/(3! 3! 2!) = 560 assignments enumerated.
    samples = [np.array([1, 2, 2.0]), np.array([3, 4, 4.0]), np.array([2, 5.0])]
    exact = _exact_p(samples)
    _, p = kruskal_permutation(samples, n_permutations=40_000, rng=np.random.default_rng(7))
    assert p == pytest.approx(exact, abs=0.006)


def test_permutation_p_matches_scipy_permutation_test():
    # Oracle: scipy.stats.permutation_test with the H statistic (independent samples).
    samples = [np.array([1, 1, 2, 3.0]), np.array([2, 3, 3, 4, 5.0]), np.array([4, 4, 5, 5.0])]

    def statistic(*groups):
        return scipy.stats.kruskal(*groups).statistic

    reference = scipy.stats.permutation_test(
        samples,
        statistic,
        permutation_type="independent",
        alternative="greater",
        n_resamples=5000,
        random_state=3,
    ).pvalue
    _, p = kruskal_permutation(samples, n_permutations=20_000, rng=np.random.default_rng(3))
    assert p == pytest.approx(reference, abs=0.01)


def test_error_rates_by_seeded_simulation():
    # Under the null (one distribution for every language) the test rejects at about its
    # level; with one language a point higher it rejects most of the time.
    rng = np.random.default_rng(20261202)
    levels = np.arange(1, 6)
    weights = np.array([0.1, 0.25, 0.3, 0.25, 0.1])
    null_rejections = shifted_rejections = 0
    runs = 400
    for _ in range(runs):
        samples = [rng.choice(levels, size=5, p=weights).astype(float) for _ in range(3)]
        if np.ptp(np.concatenate(samples)) > 0:
            _, p = kruskal_permutation(samples, n_permutations=199, rng=rng)
            null_rejections += p <= 0.05
        shifted = [samples[0], samples[1], np.minimum(samples[2] + 2, 5)]
        _, p = kruskal_permutation(shifted, n_permutations=199, rng=rng)
        shifted_rejections += p <= 0.05
    assert 0.02 <= null_rejections / runs <= 0.08
    assert shifted_rejections / runs >= 0.6


def test_refuses_what_has_no_h():
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match="every observation is equal"):
        kruskal_permutation([[2, 2], [2, 2]], n_permutations=5, rng=rng)
    with pytest.raises(ValueError, match="two or more groups"):
        kruskal_permutation([[1, 2]], n_permutations=5, rng=rng)
    with pytest.raises(ValueError, match="n_permutations"):
        kruskal_permutation([[1], [2]], n_permutations=0, rng=rng)


@pytest.mark.parametrize("seed", range(4))
def test_holm_matches_statsmodels(seed):
    # Oracle: statsmodels.stats.multitest.multipletests(method="holm").
    p = np.random.default_rng(seed).uniform(0, 0.2, size=9)
    expected = multipletests(p, method="holm")[1]
    assert holm(list(p)) == pytest.approx(list(expected), abs=1e-12)
    assert holm([]) == []
    with pytest.raises(ValueError):
        holm([1.5])


def panel(values_by_language, *, item="x", dimension="d"):
    rows = []
    for language, values in values_by_language.items():
        for index, value in enumerate(values):
            rows.append(
                {
                    "rater": f"{language}{index}",
                    "item": item,
                    "dimension": dimension,
                    "value": value,
                    "language": language,
                }
            )
    return pd.DataFrame(rows)


def test_too_few_ratings_or_one_value_is_undefined_with_a_reason():
    rng = np.random.default_rng(0)
    one_each = panel({"en": [1, 2, 3], "fr": [5]})
    [result] = language_differences(one_each, rng=rng)
    assert result.statistic is None and result.p_value is None and result.p_holm is None
    assert result.reason == (
        f"fewer than two languages have {MIN_RATINGS_PER_LANGUAGE} or more ratings"
    )
    assert result.n == {"en": 3, "fr": 1}
    assert not result.flagged
    same = panel({"en": [3, 3], "fr": [3, 3, 3]})
    [result] = language_differences(same, rng=rng)
    assert result.reason == "every rating is the same"
    # Abstentions are no ratings: a language with only abstentions is not tested.
    abstained = panel({"en": [1, 2], "fr": [np.nan, np.nan]})
    [result] = language_differences(abstained, rng=rng)
    assert result.n == {"en": 2}
    assert result.reason is not None


def test_a_planted_difference_is_flagged_and_holm_runs_over_every_test():
    rng = np.random.default_rng(5)
    frames = [panel({"en": [1, 1, 2, 1, 2, 1], "ar": [4, 5, 5, 4, 5, 5]}, item="differs")]
    for index in range(4):
        values = rng.integers(1, 6, size=12).astype(float)
        frames.append(panel({"en": values[:6], "ar": values[6:]}, item=f"same{index}"))
    frame = pd.concat(frames, ignore_index=True)
    results = language_differences(frame, n_permutations=4999, rng=np.random.default_rng(1))
    by_item = {r.item: r for r in results}
    assert by_item["differs"].flagged
    assert by_item["differs"].p_value < 0.01
    raw = [r.p_value for r in results]
    assert [r.p_holm for r in results] == pytest.approx(multipletests(raw, method="holm")[1])
    assert by_item["differs"].median == {"ar": 5.0, "en": 1.0}


def test_split_analyses_each_language_as_its_own_panel():
    # Oracle: analyze() run by hand on each language's rows.
    rng = np.random.default_rng(11)
    rows = []
    for rater in range(8):
        language = "fr" if rater < 4 else "ar"
        for item in "abcdef":
            rows.append((f"r{rater}", item, "d", float(rng.integers(1, 6)), language))
    rows.append(("r0", "a", "e", 2.0, None))  # given before the survey had languages
    frame = pd.DataFrame(rows, columns=["rater", "item", "dimension", "value", "language"])
    split = split_by_language(frame, analyze=lambda part: analyze(part, n_bootstrap=0))
    assert split.n_unknown == 1
    assert sorted(split.groups) == ["ar", "fr"]
    for language in ("ar", "fr"):
        by_hand = analyze(frame[frame["language"] == language], n_bootstrap=0)
        group = split.groups[language]
        assert group.n_raters == 4 and group.n_ratings == 24
        assert group.dimensions["d"].alpha["ordinal"].value == pytest.approx(
            by_hand.dimensions["d"].alpha["ordinal"].value
        )
        assert [i.median for i in group.items] == [i.median for i in by_hand.items]
    document = split.to_dict()
    assert document["correction"] == "holm"
    assert len(document["differences"]) == 6
    with pytest.raises(ValueError, match="no column 'language'"):
        split_by_language(frame.drop(columns="language"), analyze=analyze)
