"""Property-based tests (hypothesis).

Oracles: invariances that follow from the definitions (a statistic of a set of
ratings cannot depend on row order or on the names of raters and items); alpha = 1
under perfect agreement with more than one value used (Krippendorff 2011: D_o = 0); a
percentile bootstrap interval contains the point estimate; degenerate data are
reported as None with a reason (the package contract).
"""

from __future__ import annotations

import json

import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from analysis.reliability import Bootstrap, dimension_reliability, krippendorff_alpha
from analysis.summary import analyze
from tests.analysis.factories import frame_from_matrix

SETTINGS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@st.composite
def matrices(draw, min_raters=2, max_raters=6, min_items=2, max_items=12, missing=True):
    n_raters = draw(st.integers(min_raters, max_raters))
    n_items = draw(st.integers(min_items, max_items))
    cell = st.one_of(st.none(), st.integers(1, 5)) if missing else st.integers(1, 5)
    return draw(
        st.lists(
            st.lists(cell, min_size=n_items, max_size=n_items),
            min_size=n_raters,
            max_size=n_raters,
        )
    )


def point_estimates(frame: pd.DataFrame, *, complete_block: bool) -> dict:
    data = analyze(frame, n_bootstrap=0).to_dict()
    dimension = data["dimensions"]["d"]
    keys = [
        "krippendorff_alpha",
        "fleiss_kappa",
        "gwet_ac1",
        "gwet_ac2_ordinal",
        "gwet_ac2_quadratic",
        "brennan_prediger",
        "percent_agreement",
    ]
    if complete_block:
        keys += ["icc", "kendall_w"]
    items = sorted(
        ((item["item"], item["median"], item["iqr"]) for item in data["items"]), key=repr
    )
    raters = sorted(
        ((r["rater"], r["mean_signed_deviation"], r["completion"]) for r in data["raters"]),
        key=repr,
    )
    return {**{k: dimension[k] for k in keys}, "items": items, "raters": raters}


def close(a, b) -> bool:
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(close(a[k], b[k]) for k in a)
    if isinstance(a, list | tuple):
        return len(a) == len(b) and all(close(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, float) and isinstance(b, float):
        return abs(a - b) <= 1e-9 * max(1.0, abs(a))
    return a == b


@SETTINGS
@given(matrix=matrices(), seed=st.integers(0, 2**16))
def test_row_order_does_not_matter(matrix, seed):
    frame = frame_from_matrix(matrix, raters=[f"r{i}" for i in range(len(matrix))])
    shuffled = frame.sample(frac=1.0, random_state=seed).reset_index(drop=True)
    first = analyze(frame, n_bootstrap=20, seed=1).to_dict()
    second = analyze(shuffled, n_bootstrap=20, seed=1).to_dict()
    assert close(first, second)


@SETTINGS
@given(matrix=st.one_of(matrices(), matrices(missing=False)), data=st.data())
def test_rater_and_item_order_does_not_matter(matrix, data):
    """Renaming raters and items changes nothing but the labels.

    ICC and Kendall's W are compared on complete data only: with missing cells the greedy
    complete block breaks exact ties between equally incomplete raters or items by
    sorted label, so renaming can pick another, equally large, block.
    """
    n_raters, n_items = len(matrix), len(matrix[0])
    rater_order = data.draw(st.permutations(range(n_raters)))
    item_order = data.draw(st.permutations(range(n_items)))
    frame = frame_from_matrix(
        matrix, raters=[f"r{i}" for i in range(n_raters)], items=[f"i{j}" for j in range(n_items)]
    )
    # Renaming reorders raters and items in the sorted order the package works in.
    renamed = frame.assign(
        rater=frame["rater"].map({f"r{i}": f"r{rater_order[i]}" for i in range(n_raters)}),
        item=frame["item"].map({f"i{j}": f"i{item_order[j]}" for j in range(n_items)}),
    )
    complete = not frame["value"].isna().any()
    first = point_estimates(frame, complete_block=complete)
    second = point_estimates(renamed, complete_block=complete)
    for result in (first, second):
        result["items"] = sorted((x[1:] for x in result["items"]), key=repr)
        result["raters"] = sorted((x[1:] for x in result["raters"]), key=repr)
    assert close(first, second)


@SETTINGS
@given(
    truth=st.lists(st.integers(1, 5), min_size=2, max_size=15).filter(lambda t: len(set(t)) > 1),
    n_raters=st.integers(2, 6),
    holes=st.lists(st.booleans(), min_size=90, max_size=90),
)
def test_alpha_is_one_under_perfect_agreement(truth, n_raters, holes):
    matrix = [[v for v in truth] for _ in range(n_raters)]
    # Blank some cells but keep two values per item, so every distinct value stays pairable.
    for index, hole in enumerate(holes[: n_raters * len(truth)]):
        rater, item = divmod(index, len(truth))
        if hole and rater >= 2:
            matrix[rater][item] = None
    result = dimension_reliability(frame_from_matrix(matrix), bootstrap=Bootstrap(20, rng=0))
    for alpha in result.alpha.values():
        assert abs(alpha.value - 1.0) < 1e-12
        assert abs(alpha.ci_low - 1.0) < 1e-12 and abs(alpha.ci_high - 1.0) < 1e-12


@SETTINGS
@given(
    matrix=matrices(min_raters=3, min_items=10, max_items=25, missing=False),
    seed=st.integers(0, 1000),
)
def test_bootstrap_interval_contains_estimate(matrix, seed):
    for level in ("nominal", "ordinal", "interval"):
        result = krippendorff_alpha(
            frame_from_matrix(matrix), level=level, bootstrap=Bootstrap(200, rng=seed)
        )
        if result.value is None or result.ci_low is None:
            continue
        assert result.ci_low <= result.value + 1e-12
        assert result.value <= result.ci_high + 1e-12


@SETTINGS
@given(
    matrix=st.one_of(
        matrices(min_raters=1, max_raters=1),  # one rater
        st.integers(1, 5).flatmap(  # one value ever used
            lambda v: matrices().map(
                lambda m: [[v if x is not None else None for x in row] for row in m]
            )
        ),
        st.integers(2, 6).map(  # nobody rates the same item
            lambda n: [[(i % 5) + 1 if i == r else None for i in range(n)] for r in range(n)]
        ),
    )
)
def test_degenerate_data_give_none_with_reason(matrix):
    frame = frame_from_matrix(matrix)
    if frame["value"].isna().all():
        return
    result = analyze(frame, n_bootstrap=10)
    data = json.loads(json.dumps(result.to_dict(), allow_nan=False))
    entry = data["dimensions"]["d"]
    for level, value in entry["krippendorff_alpha"].items():
        assert value is None
        assert entry["reasons"][f"krippendorff_alpha.{level}"]
    assert entry["fleiss_kappa"] is None and entry["reasons"]["fleiss_kappa"]
    for form, value in entry["icc"].items():
        assert value is None and entry["reasons"][f"icc.{form}"]


def test_a_residual_that_is_zero_is_zero_whatever_the_order():
    """Items rated alike by every rater: the residual mean square is exactly zero, though
    rounding leaves +-1e-16 whose sign depends on the order; ICC3 must not flip between
    undefined and a value when raters are renamed (found by the property above)."""
    matrix = [[1, 1], [1, 1], [2, 2]]
    frame = frame_from_matrix(matrix, raters=["r0", "r1", "r2"], items=["i0", "i1"])
    renamed = frame.assign(rater=frame["rater"].map({"r0": "r0", "r1": "r2", "r2": "r1"}))
    first = point_estimates(frame, complete_block=True)["icc"]
    second = point_estimates(renamed, complete_block=True)["icc"]
    assert first == second and first["ICC3"] is None
