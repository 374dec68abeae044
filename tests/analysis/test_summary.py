"""The analyze entry point: shape of to_dict, JSON without NaN, text, subgroups, rounds.

Oracles: the published Krippendorff (2011) values through the whole pipeline; the
individual functions of analysis.* (each tested against its own oracle) for agreement
between the summary and its parts; json.dumps(allow_nan=False) for serialisability.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from analysis.consensus import item_consensus
from analysis.raters import rater_diagnostics
from analysis.reliability import ICC_FORMS, Bootstrap, dimension_reliability
from analysis.results import PanelAnalysis
from analysis.summary import analyze, format_text
from tests.analysis.factories import frame_from_matrix, random_panel
from tests.analysis.test_published import KRIPPENDORFF_2011

REQUIRED = {
    "n_raters",
    "n_items",
    "n_values",
    "krippendorff_alpha",
    "krippendorff_alpha_ci",
    "fleiss_kappa",
    "gwet_ac1",
    "gwet_ac2_quadratic",
    "percent_agreement",
    "icc",
    "kendall_w",
}


@pytest.fixture
def panel() -> pd.DataFrame:
    frame = random_panel(
        np.random.default_rng(5),
        n_raters=10,
        n_items=12,
        missing=0.15,
        dimensions=("proprietary", "misuse", "tier"),
    )
    frame["organisation"] = frame["rater"].map(lambda r: "aisi-a" if int(r[1:]) < 5 else "aisi-b")
    return frame


def test_to_dict_has_the_documented_shape_and_is_strict_json(panel):
    result = analyze(panel, n_bootstrap=50, group_by="organisation", tier_dimensions={"tier"})
    data = json.loads(json.dumps(result.to_dict(), allow_nan=False))
    assert set(data) >= {"dimensions", "items", "raters", "subgroups", "settings"}
    for dimension in ("proprietary", "misuse", "tier"):
        entry = data["dimensions"][dimension]
        assert set(entry) >= REQUIRED
        assert set(entry["krippendorff_alpha"]) == {"nominal", "ordinal", "interval", "ratio"}
        assert set(entry["icc"]) == set(ICC_FORMS)
        assert entry["reading"] in {"acceptable", "tentative", "unacceptable"}
        assert len(entry["krippendorff_alpha_ci"]["ordinal"]) == 2
    assert len(data["items"]) == 36 and len(data["raters"]) == 10
    assert set(data["subgroups"]["groups"]) == {"aisi-a", "aisi-b"}
    assert data["raters"][0]["attributes"] == {"organisation": "aisi-a"}
    assert data["items"][0]["modal_tier"] is None  # "misuse" sorts first; not a tier dimension
    assert any(item["modal_tier"] for item in data["items"] if item["dimension"] == "tier")


def test_summary_agrees_with_its_parts(panel):
    # Oracle: each part is tested against its own reference; the summary must not differ.
    result = analyze(panel, n_bootstrap=0, levels={"tier": "nominal"})
    part = panel[panel["dimension"] == "misuse"]
    alone = dimension_reliability(part, bootstrap=Bootstrap(0))
    assert result.dimensions["misuse"].alpha["ordinal"].value == alone.alpha["ordinal"].value
    assert result.dimensions["tier"].level == "nominal"
    assert result.dimensions["tier"].icc.reason == "not computed for a nominal dimension"
    assert result.items == item_consensus(panel)
    assert result.raters == rater_diagnostics(panel, levels={"tier": "nominal"})


def test_published_example_through_analyze():
    # Oracle: Krippendorff (2011) values.
    frame = frame_from_matrix(KRIPPENDORFF_2011, raters="ABCD")
    data = analyze(frame, n_bootstrap=100).to_dict()["dimensions"]["d"]
    assert {k: round(v, 3) for k, v in data["krippendorff_alpha"].items()} == {
        "nominal": 0.743,
        "ordinal": 0.815,
        "interval": 0.849,
        "ratio": 0.797,
    }


def test_same_seed_same_result_and_rounds(panel):
    first = analyze(panel, n_bootstrap=40, seed=1).to_dict()
    assert first == analyze(panel, n_bootstrap=40, seed=1).to_dict()
    two_rounds = pd.concat([panel.assign(round=1), panel.assign(round=2, value=panel["value"])])
    assert analyze(two_rounds, n_bootstrap=40, seed=1).settings["round"] == 2.0
    with pytest.raises(ValueError, match="round 5"):
        analyze(two_rounds, round=5)


def test_dimension_intervals_do_not_depend_on_other_dimensions(panel):
    # Oracle: the documented seeding (one stream per dimension name).
    whole = analyze(panel, n_bootstrap=40, seed=3).dimensions["tier"].to_dict()
    alone = analyze(panel[panel["dimension"] == "tier"], n_bootstrap=40, seed=3)
    assert alone.dimensions["tier"].to_dict() == whole


def test_degenerate_panel_gives_reasons_not_nan():
    frame = frame_from_matrix([[3, 3, 3]])
    data = analyze(frame, n_bootstrap=20).to_dict()
    json.dumps(data, allow_nan=False)
    entry = data["dimensions"]["d"]
    assert entry["krippendorff_alpha"]["ordinal"] is None
    assert entry["reasons"]["krippendorff_alpha.ordinal"]
    assert entry["icc"]["ICC1"] is None and entry["reasons"]["icc.ICC1"]


def test_format_text_mentions_every_dimension(panel):
    text = format_text(analyze(panel, n_bootstrap=30, group_by="organisation"))
    assert text.startswith("Panel analysis: 10 raters, 12 items, 3 dimension(s)")
    for needle in (
        "proprietary (ordinal)",
        "misuse",
        "Consensus (IQR <= 1)",
        "Raters",
        "Subgroups by organisation",
        "Kruskal-Wallis",
    ):
        assert needle in text
    with pytest.raises(ValueError, match="PanelAnalysis"):
        format_text({})


def test_invalid_arguments_name_the_parameter(panel):
    with pytest.raises(ValueError, match="seed"):
        analyze(panel, seed="x")
    with pytest.raises(ValueError, match="seed"):
        analyze(panel, seed=-1)
    with pytest.raises(ValueError, match="minimum_alpha"):
        analyze(panel, minimum_alpha=2)
    with pytest.raises(ValueError, match="levels"):
        analyze(panel, levels="metric")
    with pytest.raises(ValueError, match="group_by"):
        analyze(panel, group_by="department")
    with pytest.raises(ValueError, match="consensus"):
        analyze(panel, consensus=3)


def test_result_is_frozen(panel):
    result = analyze(panel, n_bootstrap=0)
    assert isinstance(result, PanelAnalysis)
    with pytest.raises(AttributeError):
        result.items = ()  # type: ignore[misc]


def test_analysis_package_imports_no_app_code():
    # Oracle: the layout rule "analysis/ imports numpy/pandas/scipy/krippendorff/matplotlib,
    # never app, sqlmodel, fastapi"; checked in a fresh interpreter.
    import subprocess
    import sys

    code = (
        "import sys, analysis.summary, analysis.plots, analysis.tidy;"
        "print(sorted(m for m in ('app', 'sqlmodel', 'fastapi', 'matplotlib.pyplot')"
        " if m in sys.modules))"
    )
    output = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert output.strip() == "[]"


def test_analyze_command_imports_no_heavy_module_it_does_not_use():
    # `elicit analyze` (module app.cli and what analyze_file imports) stays clear of the
    # database layer and scipy.stats: importing them was over a third of its time on a
    # 300,000-rating file.
    import subprocess
    import sys

    code = (
        "import sys, app.cli, analysis.languages, analysis.summary, analysis.tidy;"
        "print(sorted(m for m in ('scipy.stats', 'sqlalchemy', 'sqlmodel', 'fastapi',"
        " 'matplotlib') if m in sys.modules))"
    )
    output = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert output.strip() == "[]"


def test_item_groups_get_their_own_reliability():
    # Oracle: the same analysis run on the subset of items alone.
    import pandas as pd

    from analysis.summary import analyze

    rows = []
    for rater, shift in (("a", 0), ("b", 0), ("c", 1)):
        for item in range(6):
            rows.append((rater, f"i{item}", "d", float(1 + item % 5 + (shift if item < 3 else 0))))
    frame = pd.DataFrame(rows, columns=["rater", "item", "dimension", "value"])
    groups = {f"i{k}": ("first" if k < 3 else "second") for k in range(6)}
    result = analyze(frame, n_bootstrap=0, item_groups=groups).to_dict()
    alone = analyze(frame[frame["item"].isin(["i3", "i4", "i5"])], n_bootstrap=0).to_dict()
    assert set(result["item_groups"]) == {"first", "second"}
    assert (
        result["item_groups"]["second"]["d"]["krippendorff_alpha"]
        == alone["dimensions"]["d"]["krippendorff_alpha"]
    )
    assert result["item_groups"]["second"]["d"]["krippendorff_alpha"]["interval"] == 1.0
    assert analyze(frame, n_bootstrap=0).to_dict()["item_groups"] is None


def test_the_blas_library_runs_one_thread_while_dimensions_run_side_by_side(panel, monkeypatch):
    # Each dimension has a thread of its own on a core; the BLAS library's threads would
    # compete with them. Its setting is restored afterwards.
    from threadpoolctl import threadpool_info

    import analysis.summary as summary

    def blas_threads() -> set[int]:
        return {pool["num_threads"] for pool in threadpool_info() if pool["user_api"] == "blas"}

    seen: list[set[int]] = []
    computed = summary.dimension_reliability

    def watched(*args, **kwargs):
        seen.append(blas_threads())
        return computed(*args, **kwargs)

    monkeypatch.setattr(summary, "dimension_reliability", watched)
    monkeypatch.setattr(summary.os, "cpu_count", lambda: 2)
    before = blas_threads()
    analyze(panel, n_bootstrap=20, seed=1)
    assert len(seen) == panel["dimension"].nunique() >= 2
    assert all(threads == {1} for threads in seen)
    assert blas_threads() == before
