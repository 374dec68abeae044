"""Intraclass correlations from every rating.

Oracles: the published values of Shrout & Fleiss (1979); pingouin ``intraclass_corr``
(validated against R psych::ICC) for complete data; the classical ANOVA solutions, which
REML reproduces on balanced data (Searle, Casella & McCulloch 1992, ch. 6); statsmodels
``MixedLM`` (crossed random effects as variance components of one group, REML) for
incomplete panels; seeded simulations for the accuracy of the estimates against the
complete-block ANOVA and for the coverage of the large-sample intervals.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable

import numpy as np
import pandas as pd
import pingouin
import pytest
import scipy.linalg
import scipy.optimize
import statsmodels.formula.api as smf

from analysis._icc_one_way import OneWayData, logit_variance, score_covariance, scores
from analysis.datasets import shrout_fleiss_1979
from analysis.reliability import (
    ICC_FORMS,
    Bootstrap,
    _anova_icc,
    _factor,
    _fit_reml,
    _RandomEffects,
    _reml_icc,
    complete_block,
    dimension_reliability,
    intraclass_correlations,
)
from tests.analysis.factories import frame_from_matrix, random_panel

PINGOUIN_NAMES = dict(
    zip(
        ICC_FORMS,
        ["ICC(1,1)", "ICC(A,1)", "ICC(C,1)", "ICC(1,k)", "ICC(A,k)", "ICC(C,k)"],
        strict=True,
    )
)


def shrout_fleiss_frame() -> pd.DataFrame:
    return shrout_fleiss_1979()


def simulated_panel(
    rng: np.random.Generator,
    *,
    n_raters: int,
    n_items: int,
    missing: float,
    item: float = 1.0,
    rater: float = 0.3,
    residual: float = 0.7,
) -> pd.DataFrame:
    """y = 3 + a_i + b_j + e_ij with the given variances, cells missing at random."""
    a = rng.normal(0.0, np.sqrt(item), n_items)
    b = rng.normal(0.0, np.sqrt(rater), n_raters)
    items, raters = np.meshgrid(np.arange(n_items), np.arange(n_raters), indexing="ij")
    values = 3.0 + a[items] + b[raters] + rng.normal(0.0, np.sqrt(residual), items.shape)
    keep = rng.random(items.shape) >= missing
    keep[:, 0] = keep[0, :] = True  # every item and rater keeps a rating
    return pd.DataFrame(
        {
            "rater": raters[keep],
            "item": items[keep],
            "dimension": "d",
            "value": values[keep],
        }
    )


def coded(frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Item codes, rater codes and values, sorted by item then rater."""
    frame = frame.sort_values(["item", "rater"])
    item = pd.factorize(frame["item"], sort=True)[0].astype(np.int64)
    rater = pd.factorize(frame["rater"], sort=True)[0].astype(np.int64)
    return item, rater, frame["value"].to_numpy(dtype=float)


def mixedlm_components(frame: pd.DataFrame) -> dict[str, float]:
    data = frame.assign(group=1)
    model = smf.mixedlm(
        "value ~ 1",
        data,
        groups="group",
        re_formula="0",
        vc_formula={"item": "0 + C(item)", "rater": "0 + C(rater)"},
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # convergence chatter on the way to the optimum
        fit = model.fit(reml=True, method=["bfgs"], gtol=1e-10)
    names = fit.model.exog_vc.names
    return {**dict(zip(names, fit.vcomp, strict=True)), "residual": fit.scale}


# ------------------------------------------------------------------------ complete data


def test_shrout_fleiss_1979_published_values():
    # Oracle: Shrout & Fleiss (1979), Table 4 (ICC(1,1) .17, (2,1) .29, (3,1) .71,
    # (1,4) .44, (2,4) .62, (3,4) .91).
    table = intraclass_correlations(shrout_fleiss_frame())
    published = [0.17, 0.29, 0.71, 0.44, 0.62, 0.91]
    assert [round(table.value(form), 2) for form in ICC_FORMS] == published
    assert table.method == "ANOVA (complete data)"
    assert (table.n_ratings, table.n_items, table.n_raters, table.k) == (24, 6, 4, 4.0)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_complete_data_matches_pingouin(seed):
    # Oracle: pingouin.intraclass_corr, values, F tests and McGraw & Wong intervals.
    frame = random_panel(np.random.default_rng(seed), n_raters=6, n_items=25, missing=0.0)
    table = intraclass_correlations(frame)
    rounding = pingouin.options["round.column.CI95"]
    pingouin.options["round.column.CI95"] = None
    try:
        expected = pingouin.intraclass_corr(
            data=frame, targets="item", raters="rater", ratings="value"
        ).set_index("Type")
    finally:
        pingouin.options["round.column.CI95"] = rounding
    for form, name in PINGOUIN_NAMES.items():
        ours, row = table.forms[form], expected.loc[name]
        assert ours.value == pytest.approx(row["ICC"], abs=1e-10), form
        assert ours.f == pytest.approx(row["F"], rel=1e-10), form
        assert [ours.ci_low, ours.ci_high] == pytest.approx(list(row["CI95"]), abs=1e-10), form


@pytest.mark.parametrize("seed", [4, 5, 6])
def test_reml_equals_anova_on_balanced_data(seed):
    # Oracle: for balanced data with no negative ANOVA component, REML and ANOVA
    # coincide (Searle, Casella & McCulloch 1992, section 6.3), values and components.
    rng = np.random.default_rng(seed)
    frame = simulated_panel(rng, n_raters=7, n_items=15, missing=0.0)
    item, rater, y = coded(frame)
    anova = _anova_icc(y.reshape(15, 7))
    assert min(anova.components.values()) > 0
    reml = _reml_icc(item, rater, y)
    for form in ICC_FORMS:
        assert reml.value(form) == pytest.approx(anova.value(form), abs=1e-7), form
    for name in ("item", "rater", "residual", "within"):
        assert reml.components[name] == pytest.approx(anova.components[name], rel=1e-6), name


# ------------------------------------------------------------------------- missing data


@pytest.mark.parametrize(
    ("seed", "n_raters", "n_items", "missing"),
    [(10, 8, 12, 0.2), (12, 15, 20, 0.3), (13, 5, 30, 0.25), (14, 12, 10, 0.3)],
)
def test_reml_matches_statsmodels_mixedlm(seed, n_raters, n_items, missing):
    # Oracle: statsmodels MixedLM, crossed item and rater variance components, REML.
    rng = np.random.default_rng(seed)
    frame = simulated_panel(rng, n_raters=n_raters, n_items=n_items, missing=missing)
    table = intraclass_correlations(frame)
    expected = mixedlm_components(frame)
    assert table.method == f"REML (all {len(frame)} ratings)"
    for name in ("item", "rater", "residual"):
        assert table.components[name] == pytest.approx(expected[name], abs=1e-4), name
    s_a, s_r, s_e = (expected[name] for name in ("item", "rater", "residual"))
    assert table.value("ICC2") == pytest.approx(s_a / (s_a + s_r + s_e), abs=1e-4)
    assert table.value("ICC3") == pytest.approx(s_a / (s_a + s_e), abs=1e-4)
    k = len(frame) / n_items
    assert table.k == pytest.approx(k)
    icc3 = table.value("ICC3")
    assert table.value("ICC3k") == pytest.approx(k * icc3 / (1 + (k - 1) * icc3))


def textbook_reml_deviance(frame: pd.DataFrame) -> Callable[[float, float, float], float]:
    """-2 log L_REML + const as a function of (s_a, s_r, s_e), with V formed densely
    (Searle, Casella & McCulloch 1992, (6.67)): log|V| + log|X' V^-1 X| + y' P y, where
    X = 1 and P = V^-1 - V^-1 X (X' V^-1 X)^-1 X' V^-1, so that
    y' P y = y' V^-1 y - (X' V^-1 y)^2 / X' V^-1 X."""
    item, rater, y = coded(frame)
    z_a, z_r = np.eye(item.max() + 1)[item], np.eye(rater.max() + 1)[rater]
    same_item, same_rater, identity = z_a @ z_a.T, z_r @ z_r.T, np.eye(y.size)
    x_and_y = np.column_stack([np.ones(y.size), y])

    def deviance(s_a: float, s_r: float, s_e: float) -> float:
        factor = scipy.linalg.cho_factor(s_a * same_item + s_r * same_rater + s_e * identity)
        log_det_v = 2.0 * float(np.log(np.diag(factor[0])).sum())
        (xvx, xvy), (_, yvy) = x_and_y.T @ scipy.linalg.cho_solve(factor, x_and_y)
        return log_det_v + float(np.log(xvx)) + float(yvy - xvy**2 / xvx)

    return deviance


@pytest.mark.parametrize("seed", [11, 16])
def test_reml_maximises_the_textbook_likelihood(seed):
    # Oracle: the REML criterion written out densely, minimised by Nelder-Mead over the
    # log variances from three starts; seed 11 has its rater variance on the boundary
    # (where MixedLM, on log variances, stops at a worse point).
    frame = simulated_panel(np.random.default_rng(seed), n_raters=8, n_items=12, missing=0.2)
    table = intraclass_correlations(frame)
    ours = [table.components[name] for name in ("item", "rater", "residual")]
    deviance = textbook_reml_deviance(frame)
    best = min(
        scipy.optimize.minimize(
            lambda log_s: deviance(*np.exp(log_s)),
            np.log(start),
            method="Nelder-Mead",
            options={"xatol": 1e-9, "fatol": 1e-12, "maxiter": 20_000},
        ).fun
        for start in ([1.0, 0.3, 0.7], [0.2, 1.0, 1.0], [3.0, 0.01, 0.3])
    )
    assert deviance(*ours) <= best + 1e-8


def test_one_way_matches_statsmodels_mixedlm():
    # Oracle: statsmodels MixedLM with the items as groups (one-way model), REML.
    frame = simulated_panel(np.random.default_rng(15), n_raters=9, n_items=14, missing=0.3)
    table = intraclass_correlations(frame)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit = smf.mixedlm("value ~ 1", frame, groups="item").fit(
            reml=True, method=["bfgs"], gtol=1e-10
        )
    s_item, s_within = float(fit.cov_re.iloc[0, 0]), float(fit.scale)
    assert table.components["within"] == pytest.approx(s_within, abs=1e-4)
    assert table.value("ICC1") == pytest.approx(s_item / (s_item + s_within), abs=1e-4)


def test_rater_variance_on_the_boundary_is_zero_and_has_no_interval():
    # Oracle: raters who rate alike (no rater effect) give a REML rater variance of 0
    # (ANOVA would give a negative one), so ICC2 = ICC3; large-sample theory does not
    # hold on the boundary, so ICC2 has no interval, while ICC3 keeps one.
    frame = simulated_panel(
        np.random.default_rng(21), n_raters=6, n_items=20, missing=0.2, rater=0.0
    )
    table = intraclass_correlations(frame)
    assert table.components["rater"] == 0.0
    assert table.value("ICC2") == pytest.approx(table.value("ICC3"))
    assert table.forms["ICC2"].ci_low is None and "boundary" in table.forms["ICC2"].ci_reason
    assert table.forms["ICC3"].ci_low < table.value("ICC3") < table.forms["ICC3"].ci_high
    reasons = dimension_reliability(frame, level="interval", bootstrap=Bootstrap(0)).reasons()
    assert "boundary" in reasons["icc_ci.ICC2"] and "icc_ci.ICC3" not in reasons


def test_missing_data_intervals_contain_the_estimate_and_map_to_k_forms():
    # Oracle: the k-form interval is the Spearman-Brown image of the single-rating one.
    frame = simulated_panel(np.random.default_rng(22), n_raters=10, n_items=25, missing=0.25)
    table = intraclass_correlations(frame)
    k = table.k
    for form in ("ICC1", "ICC2", "ICC3"):
        single, mean = table.forms[form], table.forms[f"{form}k"]
        assert single.ci_low < single.value < single.ci_high, form
        assert mean.ci_low == pytest.approx(k * single.ci_low / (1 + (k - 1) * single.ci_low))
        assert single.f is None and single.p_value is None


def test_result_does_not_depend_on_row_order_or_labels():
    # Oracle: a statistic of a set of ratings cannot depend on how they are listed.
    frame = simulated_panel(np.random.default_rng(23), n_raters=8, n_items=12, missing=0.3)
    first = intraclass_correlations(frame).to_dict()
    shuffled = frame.sample(frac=1.0, random_state=3).assign(
        rater=lambda f: "r" + f["rater"].astype(str)
    )
    assert intraclass_correlations(shuffled).to_dict() == first


def test_all_data_estimate_is_closer_to_the_truth_than_the_complete_block():
    # Oracle: a seeded simulation (25% of ratings missing at random, 8 raters x 20
    # items, true ICC2 = 1 / 2, ICC3 = 1 / 1.7): the REML estimate from every rating
    # has a smaller RMSE than the ANOVA estimate of the greedy complete block.
    rng = np.random.default_rng(2024)
    truth = {"ICC2": 1.0 / 2.0, "ICC3": 1.0 / 1.7}
    errors: dict[str, list[tuple[float, float]]] = {form: [] for form in truth}
    for _ in range(40):
        frame = simulated_panel(rng, n_raters=8, n_items=20, missing=0.25)
        reml = intraclass_correlations(frame)
        values, _, _ = complete_block(frame)
        block = _anova_icc(values)
        for form, true in truth.items():
            errors[form].append((reml.value(form) - true, block.value(form) - true))
    for form, pairs in errors.items():
        rmse_all, rmse_block = np.sqrt((np.array(pairs) ** 2).mean(axis=0))
        assert rmse_all < 0.8 * rmse_block, (form, rmse_all, rmse_block)


def test_interval_coverage_with_missing_ratings():
    # Oracle: a seeded simulation of the model (12 raters x 25 items, 25% missing at
    # random, 150 panels): the 95% intervals cover the true ICCs 88-99% of the time
    # (bench/icc_coverage.py runs the larger study).
    rng = np.random.default_rng(7)
    truth = {"ICC1": 1.0 / 2.0, "ICC2": 1.0 / 2.0, "ICC3": 1.0 / 1.7}
    covered = dict.fromkeys(truth, 0)
    for _ in range(150):
        frame = simulated_panel(rng, n_raters=12, n_items=25, missing=0.25)
        table = intraclass_correlations(frame)
        for form, true in truth.items():
            result = table.forms[form]
            covered[form] += result.ci_low is not None and result.ci_low <= true <= result.ci_high
    for form, count in covered.items():
        assert 0.88 <= count / 150 <= 0.99, (form, count)


def test_too_few_ratings_are_undefined_with_reason():
    # Oracle: the model needs 2 items, 2 raters and a residual degree of freedom.
    table = intraclass_correlations(frame_from_matrix([[1, 2, 3]]))
    assert table.value("ICC3") is None and "2 raters" in table.reason
    table = intraclass_correlations(frame_from_matrix([[1, 2], [3, None]]))
    assert all(table.value(form) is None for form in ICC_FORMS)


def test_json_says_how_the_icc_was_estimated():
    # Oracle: the report's contract: the ICC entries name the method and the data used.
    frame = shrout_fleiss_frame().drop(index=7)
    entry = dimension_reliability(frame, level="interval", bootstrap=Bootstrap(0)).to_dict()
    assert entry["icc_data"] == {
        "method": "REML (all 23 ratings)",
        "n_ratings": 23,
        "n_items": 6,
        "n_raters": 4,
        "k": pytest.approx(23 / 6),
    }
    assert set(entry["icc_ci"]) == set(ICC_FORMS)


@pytest.mark.parametrize(("grouped_cells", "pair_limit"), [(0, 0), (0, 10**9), (10**9, 0)])
def test_sparse_systems_give_the_dense_systems_figures(monkeypatch, grouped_cells, pair_limit):
    # Oracle: the dense system (small panels). Large panels build the second factor's
    # system from a sparse incidence matrix: from one co-occurrence matrix per number of
    # ratings of a rater (up to grouped_cells), else by a sparse product (pair_limit 0)
    # or from the list of co-occurring items (below the limit); all must give its figures.
    import analysis._icc_one_way as icc_one_way
    import analysis.reliability as reliability

    frame = random_panel(np.random.default_rng(41), n_raters=12, n_items=30, missing=0.3)
    dense = intraclass_correlations(frame)
    monkeypatch.setattr(reliability, "_DENSE_CELLS", 0)
    monkeypatch.setattr(icc_one_way, "_DENSE_CELLS", 0)
    monkeypatch.setattr(reliability, "_GROUPED_CELLS", grouped_cells)
    monkeypatch.setattr(reliability, "_PAIR_LIMIT", pair_limit)
    sparse = intraclass_correlations(frame)
    assert sparse.method == dense.method
    for form in ("ICC1", "ICC2", "ICC3"):
        assert sparse.forms[form].value == pytest.approx(dense.forms[form].value, abs=1e-9)
        assert sparse.forms[form].ci_low == pytest.approx(dense.forms[form].ci_low, abs=1e-7)


@pytest.mark.parametrize("equal_counts", [True, False])
@pytest.mark.parametrize(
    ("dense_cells", "grouped_cells", "pair_limit"),
    [(10**9, 0, 0), (0, 10**9, 0), (0, 0, 10**9), (0, 0, 0)],
)
def test_reml_gradient_and_information_match_differences(
    monkeypatch, equal_counts, dense_cells, grouped_cells, pair_limit
):
    # Oracle: central differences of the criterion itself. The analytic gradient (traces
    # from the diagonal of the inverse system when every rater rated as many items, from
    # the whole inverse otherwise) agrees to the differences' own error, with every way of
    # building the system; the average information is close to the observed information
    # at the optimum (it is the observed one less a term whose expectation is 0).
    import analysis.reliability as reliability

    monkeypatch.setattr(reliability, "_DENSE_CELLS", dense_cells)
    monkeypatch.setattr(reliability, "_GROUPED_CELLS", grouped_cells)
    monkeypatch.setattr(reliability, "_PAIR_LIMIT", pair_limit)
    rng = np.random.default_rng(8)
    n_items, n_raters = 40, 90
    per_rater = np.full(n_raters, 8) if equal_counts else rng.integers(4, 9, n_raters)
    rater = np.repeat(np.arange(n_raters), per_rater)
    item = np.concatenate([rng.choice(n_items, k, replace=False) for k in per_rater])
    y = (
        rng.normal(0.0, 1.0, n_items)[item]
        + rng.normal(0.0, 0.4, n_raters)[rater]
        + rng.normal(0.0, 0.8, item.size)
    )
    for factors in ([_factor(item)], [_factor(rater), _factor(item)]):
        model = _RandomEffects(y, factors)
        free = list(range(len(factors)))
        theta = np.array([0.3, 1.1])[free]
        analytic = model.derivatives_at(theta, free)
        assert analytic is not None
        gradient, _ = analytic
        differences, _ = model.derivatives(theta, model.profiled(theta), free)
        assert gradient == pytest.approx(differences, rel=1e-6)
        optimum, observed = reliability._optimum(model)
        analytic = model.derivatives_at(optimum, free)
        assert analytic is not None
        gradient, information = analytic
        assert np.abs(gradient).max() < 1e-4  # the stopping rule's tolerance
        assert information == pytest.approx(observed, rel=0.1, abs=0.05 * np.abs(observed).max())


def test_one_way_score_covariance_equals_the_dense_formula():
    # Oracle: the REML scores of the one-way model are (y'P V_k P y - tr(P V_k)) / 2 with
    # V_a = Z_a Z_a', V_w = I, so under ratings of covariance Sigma their covariance is
    # tr(P V_k P Sigma P V_l P Sigma) / 2 (Gaussian quadratic forms), written out densely
    # here; the scores themselves are the numerical gradient of the dense REML likelihood.
    frame = simulated_panel(np.random.default_rng(31), n_raters=6, n_items=8, missing=0.3)
    item, rater, y = coded(frame)
    data = OneWayData.of(item, rater, y)
    phi, crossed = np.array([0.8, 0.6]), np.array([0.9, 0.4, 0.5])
    n = y.size
    z_item = np.eye(int(item.max()) + 1)[item]
    z_rater = np.eye(int(rater.max()) + 1)[rater]
    v = phi[0] * z_item @ z_item.T + phi[1] * np.eye(n)
    v_inv, ones = np.linalg.inv(v), np.ones(n)
    p = v_inv - np.outer(v_inv @ ones, v_inv @ ones) / (ones @ v_inv @ ones)
    sigma = (
        crossed[0] * z_item @ z_item.T + crossed[1] * z_rater @ z_rater.T + crossed[2] * np.eye(n)
    )
    parts = (z_item @ z_item.T, np.eye(n))
    dense = np.array(
        [[np.trace(p @ a @ p @ sigma @ p @ b @ p @ sigma) / 2 for b in parts] for a in parts]
    )
    np.testing.assert_allclose(score_covariance(data, phi, crossed), dense, rtol=1e-10)

    def log_likelihood(at: np.ndarray) -> float:
        cov = at[0] * z_item @ z_item.T + at[1] * np.eye(n)
        inverse = np.linalg.inv(cov)
        c = ones @ inverse @ ones
        r = y - (ones @ inverse @ y) / c
        return -0.5 * (np.linalg.slogdet(cov)[1] + np.log(c) + r @ inverse @ r)

    step = 1e-6
    gradient = [
        (log_likelihood(phi + step * e) - log_likelihood(phi - step * e)) / (2 * step)
        for e in np.eye(2)
    ]
    np.testing.assert_allclose(scores(data, phi), gradient, rtol=1e-6)


def test_one_way_scores_vanish_at_the_reml_estimates():
    # Oracle: the REML estimates of ICC1's one-way fit solve the score equations.
    frame = simulated_panel(np.random.default_rng(32), n_raters=9, n_items=14, missing=0.3)
    item, rater, y = coded(frame)
    table = intraclass_correlations(frame)
    s_within = table.components["within"]
    icc1 = table.value("ICC1")
    phi = np.array([icc1 * s_within / (1 - icc1), s_within])
    found = scores(OneWayData.of(item, rater, y), phi)
    assert np.abs(found * phi).max() < 1e-4 * y.size


def test_icc1_variance_counts_the_raters_shared_between_items():
    # Oracle: the variance of logit ICC1 over 250 seeded panels of one design (20 raters
    # x 40 items, 20% missing; rater variance 0.6) rated under the crossed model. The
    # sandwich variance under the crossed fit matches it (relative standard error about
    # 9%); the one-way model's own information, which ignores that the same raters'
    # severity enters every item, falls short by about a quarter.
    rng = np.random.default_rng(33)
    n_items, n_raters = 40, 20
    keep = rng.random((n_items, n_raters)) >= 0.2
    item, rater = np.nonzero(keep)
    items, raters = _factor(item), _factor(rater)
    logits, sandwich, model = [], [], []
    for _ in range(250):
        y = (
            rng.normal(0.0, 1.0, n_items)[item]
            + rng.normal(0.0, np.sqrt(0.6), n_raters)[rater]
            + rng.normal(0.0, np.sqrt(0.7), item.size)
        )
        one = _fit_reml(_RandomEffects(y, [items]))
        two = _fit_reml(_RandomEffects(y, [items, raters]))
        phi = np.array([float(one.variances[0]), one.residual])
        crossed = np.array([*two.variances, two.residual])
        logits.append(np.log(phi[0] / phi[1]))
        sandwich.append(logit_variance(OneWayData.of(item, rater, y), phi, crossed))
        assert one.covariance is not None
        model.append(float(one.covariance[0, 0]))
    observed = np.var(logits, ddof=1)
    # Seeded: here 1.02 (sandwich) and 0.73 (one-way information).
    assert 0.8 <= np.mean(sandwich) / observed <= 1.25
    assert np.mean(model) / observed <= 0.8
