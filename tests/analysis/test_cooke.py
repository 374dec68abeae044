"""Cooke's classical model (analysis/cooke.py) against a published case and ANDURYL.

Oracles:

* **Published case**: the INECC study on Mexican economic growth from the TU Delft expert
  judgment database (Cooke & Goossens 2008, Reliability Engineering & System Safety 93:
  657-674): 9 experts, 13 seed and 6 target questions, 5/50/95% quantiles, as shipped
  with the ANDURIL course code of TU Delft (CIE5310, data/Experts_INECC_Crecimiento_*),
  whose printed results at alpha = 0.05 (calibration, information on all items and on
  the seeds, unnormalised weights, the decision maker's scores) are reproduced here to
  their six significant digits. Its optimised decision maker, frozen from ANDURYL 1.2.2,
  is checked without ANDURYL too.
* **ANDURYL 1.2.2** (Rongen et al. 2020, SoftwareX 12: 100497), driven headless through
  ``anduryl.core`` (no window is opened), to 1e-6 on the published case and on seeded
  synthetic panels (5-10 experts, 10 seeds, 3 targets, one over-confident expert, a
  fixed cutoff that drops experts). ANDURYL needs PyQt5, which the test extra does not
  install; these tests are skipped without it (``pip install anduryl``).

Two places where this implementation deliberately differs from ANDURYL 1.2.2 are pinned
by tests of their own: ANDURYL splits mathematically equal calibration scores by rounding
(the symmetric bins' probabilities 0.45 and 0.95 - 0.5 differ in the last bit), and in
expert robustness it chooses the cutoff with the full panel's intrinsic ranges. The
synthetic panels that contain such ties are compared with ANDURYL whose calibration
score is made tie-consistent (exact bin probabilities, sorted sum), and expert
robustness with ANDURYL's own decision maker on each reduced panel.
"""

from __future__ import annotations

import dataclasses
import doctest
import itertools
import json
import warnings
from typing import Any

import numpy as np
import pandas as pd
import pytest
from scipy import stats

import analysis.cooke
from analysis.cooke import COLUMNS, CookeResult, combine_experts, read_quantiles_csv

# --- the published case -------------------------------------------------------------------

INECC_QUESTIONS = [
    "inter_crecnega", "inter_crec1996", "infla_crecneg8", "infla_1996-201", "infla_2000-201",
    "inflacion_8189", "PEAdes_14mas", "desocuppromedi", "desocup_millon", "desocup_prome",
    "razon_desocup", "crecimientoUS", "sincroni_USMEX", "A20", "B20", "C20", "A30", "B30",
    "C30",
]  # fmt: skip
INECC_REALISATIONS = [
    31.39, 25.6, 57.55, 8.68, 4.83, 74.72, 5.13, 94.77, 2.4, 5.23, 1.5, 4.35, 0.86,
]  # fmt: skip
#: Each expert's 5/50/95% quantiles of the 19 questions, in the order above.
INECC_ANSWERS = {
    "A": "3.1 4.5 6 | 3.5 4 4.5 | 4.5 6.5 7 | 3.5 4.5 6 | 2.5 3.5 4.5 | 30 50 70 | 6 8 10 | "
    "6 7 8 | 1.8 2.4 2.8 | 9 10 11 | 0.8 1.1 1.2 | 2.9 3.5 4.1 | 0.6 0.7 0.8 | 3.1 4.5 5.5 | "
    "1.9 2.1 3 | 2.8 3.5 4.2 | 2.8 3.9 4.2 | 1.2 1.5 2 | 1.6 2.5 3",
    "B": "10 50 80 | 5 20 30 | 10 20 30 | 2 5 7 | 2 4.2 6.5 | 10 35 50 | 2 4.5 10 | "
    "3.2 5.6 6.5 | 1.44 2.52 2.95 | 3 4.7 5 | 5 7.5 8.5 | 2.1 2.5 4.2 | 0.5 0.75 0.82 | "
    "1.2 1.7 2 | 1 1.5 1.9 | 2 2.8 3.5 | 1.2 1.7 2 | 1 1.5 1.9 | 2 2.8 3.5",
    "C": "5 10 15 | 15 20 25 | -1 2 5 | 4 11 18 | 3 4 5 | 20 25 50 | 5 6 7 | 7 8 9 | "
    "2.8 3.2 3.6 | 8 10 12 | 1 1.33 1.5 | 3 3.5 4.5 | 0.93 0.95 0.96 | 4 4.25 4.5 | "
    "3.75 4 4.25 | 4.25 4.5 4.75 | 4.1 4.3 4.6 | 3.8 4.1 4.3 | 4.3 4.6 4.8",
    "D": "10 15 25 | 5 8 12 | 2 3 4 | 2 3 5 | 2 3 4 | 20 40 50 | 4 5 6 | 5 6 7 | 20 24 28 | "
    "5 6 7 | 1 1.25 1.5 | 3 5 6 | 0.5 0.7 0.9 | 3 3.5 4 | 1 2 3 | 3.5 4.5 5 | 2.5 3 3.5 | "
    "2 2.5 3 | 3.5 4 4.5",
    "E": "15 20 25 | 15 20 30 | 36 46 56 | 7 8.8 11 | 5 6.5 7.5 | 40 60 80 | 4.5 5 6.5 | "
    "5 6.6 7 | 1 2 4 | 5 6 8 | 0.8 1.4 1.8 | 2.6 3.2 4 | 0.4 0.6 0.8 | 2.5 3 3.5 | "
    "1.5 2 2.5 | 3.5 4 4.5 | 2 2.5 3 | 1.5 2 2.5 | 3 3.5 4",
    "F": "3 30 60 | 20 40 50 | 30 55 90 | 6 12 20 | 3 5.5 8 | 50 80 100 | 4 5.4 6 | "
    "5.1 5.9 6.5 | 1.8 2.5 3.5 | 5.7 6 6.3 | 1.3 1.35 1.41 | 2.5 3.7 4.5 | 0.8 0.9 0.95 | "
    "2.8 3.5 4.1 | 1.5 2.5 3.2 | 3.9 4.5 5.5 | 3 4 4.5 | 1.9 3 3.7 | 3.5 4.9 5.9",
    "G": "12 18 20 | 9 10 13 | 45 50 80 | 6 7 9 | 4.5 5 5.5 | 60 70 75 | 5 6 8 | 6 6.5 7 | "
    "1 1.5 2 | 6.5 7 7.5 | 1.1 1.2 1.4 | 1.9 2.1 2.3 | 0.75 0.8 0.9 | 2 2.9 3.1 | "
    "1.2 2.5 2.6 | 3 3.6 3.7 | 2 2.1 2.5 | 1.6 1.8 2 | 2.2 2.8 3",
    "H": "8 9 10 | 6 7 8 | 45 55 60 | 4.5 5.5 6.5 | 4.5 5 5.5 | 50 60 70 | 4.7 5.7 6.7 | "
    "4.5 5.5 6 | 0.8 1 1.8 | 5 6 7 | 1 1.4 2 | 3 3.8 4.2 | 0.8 0.85 0.96 | 3.7 3.9 4.4 | "
    "2 2.4 3.1 | 5 5.3 5.6 | 3.5 3.7 4.2 | 1.8 2.1 3 | 4 4.5 5.2",
    "I": "16 25 30 | 16 20 30 | 25 40 60 | 4 6 10 | 4 5 8 | 50 60 75 | 4 5.2 6 | 5 6.6 7 | "
    "1.8 2 3 | 5 7 9 | 0.9 1.2 1.5 | 3 4 5.5 | 0.4 0.6 0.8 | 1.5 2.5 3 | 1 2.2 3 | 4 5 6 | "
    "3 3.5 4.1 | 1.5 2.2 2.8 | 3 4.6 5.9",
}
#: The printed output at alpha = 0.05: calibration, information on all items, on the
#: seeds, and the unnormalised weight; the last line is the decision maker.
INECC_PRINTED = {
    "A": (5.03797e-12, 1.60819e00, 1.93478e00, 0.0),
    "B": (1.03264e-05, 1.03006e00, 1.00563e00, 0.0),
    "C": (9.21494e-05, 1.66613e00, 1.65122e00, 0.0),
    "D": (1.03264e-05, 1.30231e00, 1.48422e00, 0.0),
    "E": (1.50445e-03, 1.22279e00, 1.30071e00, 0.0),
    "F": (2.76658e-01, 1.08076e00, 1.28487e00, 3.55468e-01),
    "G": (1.54457e-04, 1.82513e00, 1.94418e00, 0.0),
    "H": (1.36252e-05, 1.69805e00, 1.91299e00, 0.0),
    "I": (5.30631e-02, 1.07772e00, 1.28462e00, 6.81658e-02),
    "DM": (2.65039e-01, 8.06313e-01, 9.54830e-01, 2.53067e-01),
}


@dataclasses.dataclass(frozen=True)
class Panel:
    experts: list[str]
    questions: list[str]
    values: np.ndarray  # (experts, questions, 3)
    realisations: np.ndarray  # (questions,), NaN for targets

    def frame(self) -> pd.DataFrame:
        rows = [
            (expert, question, *self.values[e, q], self.realisations[q])
            for e, expert in enumerate(self.experts)
            for q, question in enumerate(self.questions)
        ]
        return pd.DataFrame(rows, columns=list(COLUMNS))

    def without_expert(self, position: int) -> Panel:
        keep = [e for e in range(len(self.experts)) if e != position]
        return Panel(
            [self.experts[e] for e in keep], self.questions, self.values[keep], self.realisations
        )


def inecc_panel() -> Panel:
    values = np.array(
        [
            [[float(x) for x in triple.split()] for triple in INECC_ANSWERS[expert].split("|")]
            for expert in INECC_ANSWERS
        ]
    )
    realisations = np.full(len(INECC_QUESTIONS), np.nan)
    realisations[: len(INECC_REALISATIONS)] = INECC_REALISATIONS
    return Panel(list(INECC_ANSWERS), INECC_QUESTIONS, values, realisations)


def inecc_csv_text() -> str:
    """The published case as the tidy CSV ``elicit cooke`` reads."""
    frame = inecc_panel().frame()
    return frame.to_csv(index=False, float_format="%.10g")


def synthetic_panel(seed: int, n_experts: int, n_seeds: int = 10, n_targets: int = 3) -> Panel:
    """Experts with their own bias and spread around known truths; expert E0 is
    over-confident (intervals a twentieth as wide)."""
    rng = np.random.default_rng(seed)
    n_questions = n_seeds + n_targets
    truth = rng.lognormal(2, 1, size=n_questions) * rng.choice([-1, 1], size=n_questions)
    scale = np.abs(truth) * 0.5 + 1
    values = np.empty((n_experts, n_questions, 3))
    for e in range(n_experts):
        spread = rng.uniform(0.3, 2.5) if e else 0.05
        bias = rng.normal(0, 0.7)
        for q in range(n_questions):
            median = truth[q] + scale[q] * (bias + rng.normal(0, 0.8))
            low = median - scale[q] * spread * rng.uniform(0.5, 1.5)
            high = median + scale[q] * spread * rng.uniform(0.5, 1.5)
            values[e, q] = np.round([low, median, high], 3)
    realisations = truth.round(3)
    realisations[n_seeds:] = np.nan
    return Panel(
        [f"E{e}" for e in range(n_experts)],
        [f"s{q}" for q in range(n_seeds)] + [f"t{q}" for q in range(n_targets)],
        values,
        realisations,
    )


# --- ANDURYL, headless --------------------------------------------------------------------


def _import_anduryl() -> Any:
    with warnings.catch_warnings():
        # Its pydantic models use v1 configuration names (a UserWarning under pydantic 2).
        warnings.simplefilter("ignore")
        try:
            import anduryl.core.experts
            from anduryl.core.main import Project
            from anduryl.io.settings import CalculationSettings
        except ImportError:
            return None
    return Project, CalculationSettings, anduryl.core.experts


ANDURYL = _import_anduryl()
needs_anduryl = pytest.mark.skipif(
    ANDURYL is None, reason="anduryl (with PyQt5) is not installed: pip install anduryl"
)


def run_anduryl(panel: Panel, *, alpha: float | None, overshoot: float = 0.1, robustness=True):
    """ANDURYL's global-weight decision maker as its GUI computes it (Project ->
    add_results_from_settings), on a project filled as its file readers fill one."""
    project_class, settings_class, _ = ANDURYL
    n_experts, n_questions, _ = panel.values.shape
    n_seeds = int(np.sum(~np.isnan(panel.realisations)))
    project = project_class()
    project.initialize(
        nexperts=n_experts, nseed=n_seeds, ntarget=n_questions - n_seeds, nquantiles=3
    )
    project.experts.ids[:] = list(panel.experts)
    project.experts.names[:] = list(panel.experts)
    project.experts.actual_experts[:] = list(range(n_experts))
    project.assessments.array[:, :, :] = np.transpose(panel.values, (0, 2, 1))
    del project.assessments.quantiles[:]
    project.assessments.quantiles.extend([0.05, 0.5, 0.95])
    project.items.ids[:] = list(panel.questions)
    project.items.realizations[:] = panel.realisations
    project.items.scales[:] = ["uni"] * n_questions
    project.items.units[:] = [""] * n_questions
    project.items.questions[:] = [""] * n_questions
    project.items.bounds[:, :] = np.nan
    project.items.overshoots[:, :] = np.nan
    project.items.use_quantiles[:, :] = True
    settings = settings_class(
        id="DM",
        name="DM",
        weight="global",
        overshoot=overshoot,
        alpha=alpha,
        optimisation=alpha is None,
        robustness=robustness,
        calpower=1.0,
    )
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        assert project.add_results_from_settings(settings)
    return project.results["DM"]


@pytest.fixture
def tie_consistent_anduryl(monkeypatch):
    """ANDURYL with its calibration score computed from exact bin probabilities and a
    sum in sorted order, so that mirrored bin counts give equal scores (nothing else
    changes; its chi-square series is kept)."""
    experts_module = ANDURYL[2]
    p = np.array([0.05, 0.45, 0.45, 0.05])

    def calibration_score(self, counts, Nmin, calpower):
        scores = np.zeros(len(counts))
        for i, count in enumerate(counts.values()):
            s = count / count.sum()
            used = s > 0.0
            statistic = 2 * Nmin * np.sum(np.sort(s[used] * np.log(s[used] / p[used])))
            scores[i] = 1 - experts_module.chi2cdf(x=statistic * calpower, df=3)
        return scores

    monkeypatch.setattr(experts_module.Experts, "calibration_score", calibration_score)


def assert_main_matches(ours: CookeResult, ref: Any, *, atol: float = 1e-6) -> None:
    """Experts' scores and weights, the cutoff, and the decision maker's scores and
    quantiles of our result against ANDURYL's results object."""
    experts = ref.experts
    n = len(ours.experts)
    assert experts.ids[:n] == [s.expert for s in ours.experts]
    calibration = np.array([s.calibration for s in ours.experts])
    np.testing.assert_allclose(calibration, experts.calibration[:n], rtol=0, atol=atol)
    np.testing.assert_allclose(
        [s.information for s in ours.experts], experts.info_total[:n], rtol=0, atol=atol
    )
    np.testing.assert_allclose(
        [s.information_seeds for s in ours.experts], experts.info_real[:n], rtol=0, atol=atol
    )
    np.testing.assert_allclose(
        [s.weight for s in ours.experts], experts.weights[:n], rtol=0, atol=atol
    )
    # ANDURYL keeps the unthresholded product for the experts when it optimises.
    thresholded = experts.comb_score[:n] * (experts.calibration[:n] >= ref.alpha_opt)
    np.testing.assert_allclose(
        [s.combined_score for s in ours.experts], thresholded, rtol=0, atol=atol
    )
    dm = ours.decision_maker
    assert dm.alpha == pytest.approx(ref.alpha_opt, abs=atol)
    index = experts.ids.index("DM")
    np.testing.assert_allclose(
        [dm.calibration, dm.information, dm.information_seeds, dm.combined_score],
        [
            experts.calibration[index],
            experts.info_total[index],
            experts.info_real[index],
            experts.comb_score[index],
        ],
        rtol=0,
        atol=atol,
    )
    np.testing.assert_allclose(
        [[q.q05, q.q50, q.q95] for q in dm.quantiles],
        ref.assessments.array[index].T,
        rtol=0,
        atol=atol,
    )


def assert_item_robustness_matches(ours: CookeResult, ref: Any, *, atol: float = 1e-6) -> None:
    assert [row.excluded for row in ours.item_robustness] == list(ours.seed_questions)
    for row in ours.item_robustness:
        information, information_seeds, calibration = ref.item_robustness[(row.excluded,)]
        if row.reason is not None:
            assert np.isnan(calibration)
            continue
        np.testing.assert_allclose(
            [row.information, row.information_seeds, row.calibration],
            [information, information_seeds, calibration],
            rtol=0,
            atol=atol,
        )


def assert_expert_robustness_matches_table(ours: CookeResult, ref: Any, atol=1e-6) -> None:
    assert [row.excluded for row in ours.expert_robustness] == [s.expert for s in ours.experts]
    for row in ours.expert_robustness:
        assert row.reason is None
        np.testing.assert_allclose(
            [row.information, row.information_seeds, row.calibration],
            ref.expert_robustness[(row.excluded,)],
            rtol=0,
            atol=atol,
        )


def assert_expert_robustness_matches_reduced_panels(
    ours: CookeResult, panel: Panel, *, alpha: float | None, atol: float = 1e-6
) -> None:
    """Each row against ANDURYL's own decision maker on the panel without that expert."""
    for position, row in enumerate(ours.expert_robustness):
        reduced = panel.without_expert(position)
        if row.reason is not None:
            assert alpha is not None
            assert max(s.calibration for s in combine_experts(reduced.frame()).experts) < alpha
            continue
        ref = run_anduryl(reduced, alpha=alpha, robustness=False)
        index = ref.experts.ids.index("DM")
        np.testing.assert_allclose(
            [row.alpha, row.information, row.information_seeds, row.calibration],
            [
                ref.alpha_opt,
                ref.experts.info_total[index],
                ref.experts.info_real[index],
                ref.experts.calibration[index],
            ],
            rtol=0,
            atol=atol,
        )


def has_tied_calibration(panel: Panel) -> bool:
    """Whether two experts' calibration scores are equal in theory, on the panel or on
    any panel without one seed (mirrored bin counts, e.g. 1-3-5-1 and 1-5-3-1)."""
    seed = np.flatnonzero(~np.isnan(panel.realisations))
    for dropped in [None, *seed]:
        used = [q for q in seed if q != dropped]
        bins = np.sum(panel.realisations[used][None, :, None] > panel.values[:, used], axis=-1)
        signatures = [
            (sorted([np.sum(b == 0), np.sum(b == 3)]), sorted([np.sum(b == 1), np.sum(b == 2)]))
            for b in bins
        ]
        counts = [tuple(np.bincount(b, minlength=4)) for b in bins]
        for (s1, c1), (s2, c2) in itertools.combinations(zip(signatures, counts, strict=True), 2):
            if s1 == s2 and c1 != c2:
                return True
    return False


# --- the published case -------------------------------------------------------------------


def test_inecc_reproduces_the_printed_results_at_alpha_005():
    result = combine_experts(inecc_panel().frame(), alpha=0.05)
    for score in result.experts:
        printed = INECC_PRINTED[score.expert]
        ours = (score.calibration, score.information, score.information_seeds)
        assert ours == pytest.approx(printed[:3], rel=6e-6)
        assert score.combined_score == pytest.approx(printed[3], rel=6e-6, abs=1e-12)
    dm = result.decision_maker
    assert (dm.calibration, dm.information, dm.information_seeds, dm.combined_score) == (
        pytest.approx(INECC_PRINTED["DM"], rel=6e-6)
    )
    # Only F and I reach the cutoff.
    assert {s.expert for s in result.experts if s.weight > 0} == {"F", "I"}
    assert result.weights["F"] == pytest.approx(3.55468e-01 / (3.55468e-01 + 6.81658e-02), 1e-5)


def test_inecc_optimised_decision_maker_as_anduryl_computes_it():
    # Values frozen from ANDURYL 1.2.2 (checked live in the tests below).
    result = combine_experts(inecc_panel().frame())
    dm = result.decision_maker
    assert dm.alpha == pytest.approx(0.0015044508278553304, abs=1e-12)  # expert E's score
    assert {k: v for k, v in result.weights.items() if v > 0} == pytest.approx(
        {"E": 0.004597964565, "F": 0.8352347862, "I": 0.1601672492}, abs=1e-9
    )
    assert [dm.calibration, dm.information, dm.information_seeds, dm.combined_score] == (
        pytest.approx([0.6140459251, 0.7797026925, 0.92401507, 0.5673876885], abs=1e-9)
    )
    targets = [[q.q05, q.q50, q.q95] for q in dm.quantiles if q.realisation is None]
    assert [q.question for q in dm.quantiles if q.realisation is None] == INECC_QUESTIONS[13:]
    np.testing.assert_allclose(
        targets,
        [
            [1.789682406, 3.36114409, 4.095131826],  # A20
            [1.229353763, 2.438102412, 3.197981136],  # B20
            [3.848440548, 4.575813864, 5.802842993],  # C20
            [2.848945643, 3.874520545, 4.494757745],  # A30
            [1.596281656, 2.787358568, 3.692486326],  # B30
            [3.133540757, 4.842005902, 5.899565433],  # C30
        ],
        rtol=0,
        atol=1e-8,
    )
    items = {row.excluded: row for row in result.item_robustness}
    assert [
        items["razon_desocup"].information,
        items["razon_desocup"].information_seeds,
        items["razon_desocup"].calibration,
    ] == pytest.approx([0.9350045589, 1.083241285, 0.5419158949], abs=1e-9)
    experts = {row.excluded: row for row in result.expert_robustness}
    assert [experts["F"].information, experts["F"].information_seeds, experts["F"].calibration] == (
        pytest.approx([1.033190761, 1.219541856, 0.05306305449], abs=1e-9)
    )


@needs_anduryl
@pytest.mark.parametrize("alpha", [None, 0.05, 0.0])
def test_inecc_matches_anduryl(alpha):
    panel = inecc_panel()
    ours = combine_experts(panel.frame(), alpha=alpha)
    ref = run_anduryl(panel, alpha=alpha)
    assert_main_matches(ours, ref)
    assert_item_robustness_matches(ours, ref)
    assert_expert_robustness_matches_table(ours, ref)


# --- synthetic panels ---------------------------------------------------------------------

#: (seed, number of experts) of panels where ANDURYL's rounding of tied calibration scores
#: changes no result.
UNTIED = [(0, 5), (3, 8), (11, 10), (13, 6), (16, 9)]
#: Panels where it does: mirrored bin counts (equal scores in theory) on the whole panel
#: or without one seed, which ANDURYL splits.
TIED = [(2, 7), (5, 10), (12, 5), (17, 10), (22, 9)]


@needs_anduryl
@pytest.mark.parametrize(("seed", "n_experts"), UNTIED)
@pytest.mark.parametrize("alpha", [None, 0.05])
def test_synthetic_panel_matches_anduryl(seed, n_experts, alpha):
    panel = synthetic_panel(seed, n_experts)
    ours = combine_experts(panel.frame(), alpha=alpha)
    ref = run_anduryl(panel, alpha=alpha)
    assert_main_matches(ours, ref)
    assert_item_robustness_matches(ours, ref)
    assert_expert_robustness_matches_reduced_panels(ours, panel, alpha=alpha)
    # The over-confident expert scores the most information and almost no calibration.
    scores = {s.expert: s for s in ours.experts}
    assert scores["E0"].information_seeds == max(s.information_seeds for s in ours.experts)
    assert scores["E0"].calibration < 1e-4 and scores["E0"].weight == 0
    if alpha is not None:  # the fixed cutoff drops experts
        assert 0 < sum(s.weight == 0 for s in ours.experts) < n_experts


@needs_anduryl
@pytest.mark.parametrize(("seed", "n_experts"), TIED)
@pytest.mark.parametrize("alpha", [None, 0.05])
@pytest.mark.usefixtures("tie_consistent_anduryl")
def test_synthetic_panel_with_ties_matches_tie_consistent_anduryl(seed, n_experts, alpha):
    panel = synthetic_panel(seed, n_experts)
    assert has_tied_calibration(panel)
    ours = combine_experts(panel.frame(), alpha=alpha)
    ref = run_anduryl(panel, alpha=alpha)
    assert_main_matches(ours, ref)
    assert_item_robustness_matches(ours, ref)
    assert_expert_robustness_matches_reduced_panels(ours, panel, alpha=alpha)


@needs_anduryl
def test_anduryl_splits_tied_calibration_scores_by_rounding():
    # E1 and E2 have the bin counts 0-4-6-0 and 0-6-4-0: the same calibration score in
    # theory. ANDURYL's differ in the last bit, so its optimal cutoff keeps E2 and drops
    # E1; here they stay tied and a cutoff keeps both or neither.
    panel = synthetic_panel(12, 5)
    ours = combine_experts(panel.frame())
    scores = {s.expert: s for s in ours.experts}
    assert scores["E1"].bin_counts == (0, 4, 6, 0) and scores["E2"].bin_counts == (0, 6, 4, 0)
    assert scores["E1"].calibration == scores["E2"].calibration
    assert (scores["E1"].weight > 0) == (scores["E2"].weight > 0)
    ref = run_anduryl(panel, alpha=None, robustness=False)
    e1, e2 = ref.experts.ids.index("E1"), ref.experts.ids.index("E2")
    assert 0 < abs(ref.experts.calibration[e1] - ref.experts.calibration[e2]) < 1e-15
    assert (ref.experts.weights[e1] > 0) != (ref.experts.weights[e2] > 0)


@needs_anduryl
def test_anduryl_expert_robustness_chooses_the_cutoff_on_the_full_panels_ranges():
    # Without an expert the intrinsic ranges may shrink; ANDURYL scores its candidate
    # decision makers on the full panel's ranges, then reports the chosen one on the
    # reduced panel's. Here the reduced panel is scored on its own ranges, as the model
    # run on that panel would score it.
    panel = synthetic_panel(14, 7)
    ours = combine_experts(panel.frame())
    assert_expert_robustness_matches_reduced_panels(ours, panel, alpha=None)
    ref = run_anduryl(panel, alpha=None)
    differs = [
        row.excluded
        for row in ours.expert_robustness
        if not np.allclose(
            [row.information, row.information_seeds, row.calibration],
            ref.expert_robustness[(row.excluded,)],
            rtol=0,
            atol=1e-6,
        )
    ]
    assert differs  # ANDURYL's table differs for at least one expert


def test_calibration_is_the_chi_square_p_value_also_for_small_statistics():
    # 20 seeds with 1-9-9-1 realisations per bin: I(s, p) = 0, a perfect score of 1.
    # (ANDURYL's own chi-square series gives 0 here and is off for statistics below 0.5.)
    truths = np.arange(20.0)
    offsets = [1] + [0.5] * 9 + [-0.5] * 9 + [-1]  # realisation - median, giving the bins
    rows = [
        ("good", f"s{i}", t - offset - 0.6, t - offset, t - offset + 0.6, t)
        for i, (t, offset) in enumerate(zip(truths, offsets, strict=True))
    ]
    rows += [("other", f"s{i}", t - 3, t + 0.2 * (-1) ** i, t + 3, t) for i, t in enumerate(truths)]
    result = combine_experts(pd.DataFrame(rows, columns=list(COLUMNS)))
    good = result.experts[0]
    assert good.bin_counts == (1, 9, 9, 1)
    assert good.calibration == 1.0
    other = result.experts[1]
    s = np.array(other.bin_counts) / 20
    p = np.array([0.05, 0.45, 0.45, 0.05])
    statistic = 2 * 20 * np.sum(s[s > 0] * np.log(s[s > 0] / p[s > 0]))
    assert other.calibration == pytest.approx(stats.chi2.sf(statistic, 3), rel=1e-12)
    if ANDURYL is not None:
        assert 1 - ANDURYL[2].chi2cdf(0.0, 3) == 0.0


# --- properties ---------------------------------------------------------------------------


@pytest.mark.parametrize("alpha", [None, 0.01])
def test_order_of_rows_and_labels_changes_nothing(alpha):
    panel = synthetic_panel(3, 8)
    frame = panel.frame()
    first = combine_experts(frame, alpha=alpha)
    shuffled = frame.sample(frac=1.0, random_state=7).reset_index(drop=True)
    second = combine_experts(shuffled, alpha=alpha)
    by_expert = {s.expert: s for s in second.experts}
    numbers = ("calibration", "information", "information_seeds", "combined_score", "weight")
    for score in first.experts:
        other = by_expert[score.expert]
        assert score.bin_counts == other.bin_counts
        assert [getattr(score, n) for n in numbers] == pytest.approx(
            [getattr(other, n) for n in numbers], abs=1e-12
        )
    dm1, dm2 = first.decision_maker, second.decision_maker
    assert dm1.alpha == dm2.alpha and dm1.calibration == pytest.approx(dm2.calibration)
    q2 = {q.question: q for q in dm2.quantiles}
    for q in dm1.quantiles:
        assert [q.q05, q.q50, q.q95] == pytest.approx(
            [q2[q.question].q05, q2[q.question].q50, q2[q.question].q95]
        )


@pytest.mark.parametrize(("seed", "n_experts"), UNTIED + TIED)
def test_weights_and_pooled_quantiles_are_coherent(seed, n_experts):
    result = combine_experts(synthetic_panel(seed, n_experts).frame())
    weights = np.array([s.weight for s in result.experts])
    assert weights.sum() == pytest.approx(1.0) and np.all(weights >= 0)
    dm = result.decision_maker
    assert all(s.weight > 0 for s in result.experts if s.calibration >= dm.alpha)
    assert all(s.weight == 0 for s in result.experts if s.calibration < dm.alpha)
    # The optimised cutoff is at least as good as every expert's score as a fixed one.
    for alpha in {s.calibration for s in result.experts}:
        fixed = combine_experts(synthetic_panel(seed, n_experts).frame(), alpha=alpha)
        assert fixed.decision_maker.combined_score <= dm.combined_score + 1e-12
    for q in dm.quantiles:
        lower, upper = result.intrinsic_ranges[q.question]
        assert lower < q.q05 < q.q50 < q.q95 < upper


def test_to_dict_is_json():
    result = combine_experts(inecc_panel().frame())
    data = json.loads(json.dumps(result.to_dict(), allow_nan=False))
    assert data["decision_maker"]["alpha"] == pytest.approx(0.0015044508278553304)
    assert data["experts"][0]["expert"] == "A" and len(data["experts"]) == 9
    assert data["seed_questions"][0] == "inter_crecnega" and len(data["target_questions"]) == 6
    assert len(data["item_robustness"]) == 13 and len(data["expert_robustness"]) == 9
    assert data["intrinsic_ranges"]["A20"][0] < 1.2


def test_robustness_is_optional_and_needs_two_seeds_or_experts():
    panel = inecc_panel()
    assert combine_experts(panel.frame(), robustness=False).item_robustness == ()
    frame = panel.frame()
    one_seed = frame[frame["question"].isin(["inter_crecnega", "A20"])]
    result = combine_experts(one_seed)
    assert result.item_robustness == () and len(result.expert_robustness) == 9
    alone = combine_experts(frame[frame["expert"] == "F"])
    assert alone.expert_robustness == () and alone.experts[0].weight == 1.0


def test_fixed_cutoff_that_leaves_nobody_in_a_robustness_row_says_why():
    frame = inecc_panel().frame()
    result = combine_experts(frame, alpha=0.2)  # only F reaches 0.2
    row = {r.excluded: r for r in result.expert_robustness}["F"]
    assert row.calibration is None and "no remaining expert reaches alpha 0.2" in row.reason
    assert "no remaining expert" in analysis.cooke.format_text(result)


def test_format_text_lists_experts_and_target_quantiles():
    text = analysis.cooke.format_text(combine_experts(inecc_panel().frame(), alpha=0.05))
    assert "alpha 0.05 (fixed)" in text
    assert "0.2767" in text and "C30" in text and "Robustness: without each expert" in text


def test_doctests():
    failures, _ = doctest.testmod(analysis.cooke, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert failures == 0


# --- validation ---------------------------------------------------------------------------


def _small_frame() -> pd.DataFrame:
    return pd.DataFrame(
        [
            ("a", "s1", 1.0, 2.0, 3.0, 2.5),
            ("a", "t1", 1.0, 2.0, 3.0, None),
            ("b", "s1", 0.0, 2.0, 4.0, 2.5),
            ("b", "t1", 0.0, 2.0, 4.0, None),
        ],
        columns=list(COLUMNS),
    )


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda f: f.assign(q50=[2.0, 3.0, 2.0, 2.0]), r"row 1.*'a'.*'t1'.*must increase"),
        (lambda f: f.assign(q95=[3.0, 3.0, 2.0, 4.0]), r"row 2.*'b'.*'s1'.*q05 < q50 < q95"),
        (lambda f: f.assign(q05=[1.0, np.inf, 0.0, 0.0]), r"row 1, column 'q05'.*'a'.*'t1'"),
        (lambda f: f.assign(q05=[1.0, None, 0.0, 0.0]), r"row 1, column 'q05'.*not a finite"),
        (lambda f: f.assign(q50=["2", "x", "2", "2"]), r"row 1, column 'q50': 'x'"),
        (lambda f: pd.concat([f, f.iloc[[0]]]), r"second answer of expert 'a' to question 's1'"),
        (lambda f: f.drop(index=3), r"expert 'b' gave no answer to question 't1'"),
        (lambda f: f.assign(realisation=None), r"no seed question"),
        (
            lambda f: f.assign(realisation=[2.5, None, 2.6, None]),
            r"row 2, column 'realisation': question 's1' has the realisation 2.6 here and 2.5",
        ),
        (lambda f: f.drop(columns="q95"), r"no column 'q95'"),
        (lambda f: f.iloc[0:0], r"no rows"),
        (lambda f: f.assign(expert=["a", "a", "", "b"]), r"row 2, column 'expert': empty"),
    ],
)
def test_invalid_answers_are_refused_naming_row_expert_and_question(change, message):
    with pytest.raises(ValueError, match=message):
        combine_experts(change(_small_frame()))


def test_a_realisation_given_on_one_row_holds_for_the_question():
    frame = _small_frame().assign(realisation=[2.5, None, None, None])
    result = combine_experts(frame)
    assert result.seed_questions == ("s1",) and result.target_questions == ("t1",)


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"alpha": -0.1}, "alpha must be a number from 0 to 1"),
        ({"alpha": 1.5}, "alpha must be a number from 0 to 1"),
        ({"alpha": "0.1"}, "alpha must be a number from 0 to 1"),
        ({"alpha": 0.9}, r"alpha 0.9 is above every expert's calibration score"),
        ({"overshoot": 0}, "overshoot must be a positive number"),
        ({"overshoot": float("nan")}, "overshoot must be a positive number"),
    ],
)
def test_invalid_settings_are_refused(settings, message):
    with pytest.raises(ValueError, match=message):
        combine_experts(inecc_panel().frame(), **settings)


def test_read_quantiles_csv_reads_the_published_case(tmp_path):
    path = tmp_path / "inecc.csv"
    path.write_text(inecc_csv_text())
    frame = read_quantiles_csv(path)
    assert len(frame) == 9 * 19 and list(frame.columns) == list(COLUMNS)
    result = combine_experts(frame, alpha=0.05)
    assert result.decision_maker.calibration == pytest.approx(2.65039e-01, rel=6e-6)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", r"q\.csv: the file is empty"),
        ("expert,question,q05,q50,q95\n", r"q\.csv, line 1: no column 'realisation'"),
        ("expert,question,q05,q50,q95,realisation\n", r"q\.csv: no rows"),
        (
            "expert,question,q05,q50,q95,realisation\na,s,1,2,3,2\nb,s,1,,3,2\n",
            r"q\.csv, line 3, column 'q50': empty quantile",
        ),
        (
            "expert,question,q05,q50,q95,realisation\na,s,1,2,3,2\nb,s,1,two,3,2\n",
            r"q\.csv, line 3, column 'q50': 'two' is not a number",
        ),
        (
            "expert,question,q05,q50,q95,realisation\na,s,1,2,3,nan\n",
            r"q\.csv, line 2, column 'realisation': 'nan' is not a finite number",
        ),
        (
            "expert,question,q05,q50,q95,realisation\na,s,1,2,3,2\n,s,1,2,3,2\n",
            r"q\.csv, line 3, column 'expert': empty expert label",
        ),
        (
            "expert,question,q05,q50,q95,realisation\na,s,1,2,3,2\n\nb,s,3,2,1,2\n",
            r"q\.csv, line 4, columns 'q05', 'q50', 'q95': expert 'b', question 's'",
        ),
        (
            "expert,question,q05,q50,q95,realisation\na,s,1,2,3,2\na,s,1,2,4,2\n",
            r"q\.csv, line 3: a second answer of expert 'a' to question 's' "
            r"\(the first: .*q\.csv, line 2\)",
        ),
        (
            "expert,question,q05,q50,q95,realisation\na,s,1,2,3,2\nb,s,1,2,3,2,9\n",
            r"q\.csv, line 3: 7 cells, the header has 6",
        ),
        (
            "expert,question,q05,q50,q95,realisation\na,s,1,2,3,2\nb,s,1,2,3,4\n",
            r"q\.csv, line 3, column 'realisation': question 's' has the realisation 4",
        ),
        (
            "expert,question,q05,q50,q95,realisation\na,t,1,2,3,\n",
            r"q\.csv, column 'realisation': no seed question",
        ),
    ],
)
def test_read_quantiles_csv_names_file_line_and_column(tmp_path, text, message):
    path = tmp_path / "q.csv"
    path.write_text(text)
    with pytest.raises(ValueError, match=message):
        read_quantiles_csv(path)
