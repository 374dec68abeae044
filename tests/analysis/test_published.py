"""Published worked examples, reproduced to the printed precision.

Oracles: Krippendorff (2011) "Computing Krippendorff's Alpha-Reliability" (4 coders x
12 units with missing values); Fleiss (1971) Table 1 (30 patients, 6 psychiatrists, 5
diagnoses; the table as shipped in statsmodels' test suite and R irr::diagnoses);
Shrout & Fleiss (1979) Table 2 (6 targets x 4 judges).
"""

from __future__ import annotations

import doctest

import numpy as np
import pytest
from statsmodels.stats.tests.test_inter_rater import diagnoses

import analysis._docs
import analysis.consensus
import analysis.plots
import analysis.raters
import analysis.reliability
import analysis.summary
import analysis.tidy
from analysis.datasets import SHROUT_FLEISS_1979
from analysis.reliability import (
    ICC_FORMS,
    Bootstrap,
    agreement_coefficients,
    dimension_reliability,
    intraclass_correlations,
    krippendorff_alpha,
)
from tests.analysis.factories import frame_from_matrix

KRIPPENDORFF_2011 = [
    [1, 2, 3, 3, 2, 1, 4, 1, 2, None, None, None],
    [1, 2, 3, 3, 2, 2, 4, 1, 2, 5, None, 3],
    [None, 3, 3, 3, 2, 3, 4, 2, 2, 5, 1, None],
    [1, 2, 3, 3, 2, 4, 4, 1, 2, 5, 1, None],
]


@pytest.mark.parametrize(
    ("level", "published"),
    [("nominal", 0.743), ("ordinal", 0.815), ("interval", 0.849), ("ratio", 0.797)],
)
def test_krippendorff_2011_alpha(level, published):
    # Oracle: Krippendorff (2011), pp. 3-8, the example with missing values.
    frame = frame_from_matrix(KRIPPENDORFF_2011, raters="ABCD")
    result = krippendorff_alpha(frame, level=level, bootstrap=Bootstrap(200, rng=0))
    assert round(result.value, 3) == published
    assert result.n_pairable_values == 40  # Krippendorff (2011): n = 40 pairable values
    assert result.ci_low <= result.value <= result.ci_high


def test_krippendorff_2011_same_bootstrap_for_every_level():
    # Oracle: Krippendorff (2011); all four levels inside one dimension_reliability call.
    frame = frame_from_matrix(KRIPPENDORFF_2011, raters="ABCD")
    result = dimension_reliability(frame, bootstrap=Bootstrap(100, rng=0))
    assert {k: round(a.value, 3) for k, a in result.alpha.items()} == {
        "nominal": 0.743,
        "ordinal": 0.815,
        "interval": 0.849,
        "ratio": 0.797,
    }


def test_fleiss_1971_kappa():
    # Oracle: Fleiss (1971) Table 1, kappa = 0.430 (R irr::kappam.fleiss gives 0.4302445).
    frame = frame_from_matrix(np.asarray(diagnoses).T, dimension="diagnosis")
    result = agreement_coefficients(frame, bootstrap=Bootstrap(0))
    assert round(result.fleiss_kappa.value, 3) == 0.430
    assert result.fleiss_kappa.value == pytest.approx(0.4302445, abs=1e-7)


def test_shrout_fleiss_1979_icc():
    # Oracle: Shrout & Fleiss (1979), Table 4.
    frame = frame_from_matrix(np.asarray(SHROUT_FLEISS_1979).T)  # judges x targets
    table = intraclass_correlations(frame)
    published = [0.166, 0.290, 0.715, 0.443, 0.620, 0.909]
    assert [round(table.value(form), 3) for form in ICC_FORMS] == published
    assert table.n_items == 6 and table.n_raters == 4


@pytest.mark.parametrize(
    "module",
    [
        analysis._docs,
        analysis.tidy,
        analysis.reliability,
        analysis.consensus,
        analysis.raters,
        analysis.summary,
        analysis.plots,
    ],
)
def test_docstring_examples(module):
    # Oracle: the published values quoted in the docstrings (Krippendorff 2011, Fleiss
    # 1971, Shrout & Fleiss 1979).
    failures, _ = doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert failures == 0
