"""SVG figures: well-formed, deterministic, self-contained, and validated arguments.

Oracles: xml.etree parses the SVG; byte equality of two renderings; the figure text
(rendered as paths, so the check is on the absence of font references).
"""

from __future__ import annotations

import xml.etree.ElementTree as ET

import numpy as np
import pytest

from analysis import plots
from analysis.summary import analyze
from tests.analysis.factories import random_panel


@pytest.fixture(scope="module")
def result():
    frame = random_panel(
        np.random.default_rng(9), n_raters=8, n_items=10, dimensions=("proprietary", "misuse")
    )
    return analyze(frame, n_bootstrap=30)


FIGURES = {
    "heatmap": lambda r: plots.plot_median_heatmap(r),
    "medians": lambda r: plots.plot_item_medians(r),
    "medians_one": lambda r: plots.plot_item_medians(r, dimension="misuse"),
    "plane": lambda r: plots.plot_tier_plane(
        r,
        dimensions=("proprietary", "misuse"),
        thresholds=[2.5, 3.5],
        tiers=["no_brainer", "gray_area", "high_trust"],
        aggregate="mean",
    ),
    "raters": lambda r: plots.plot_rater_deviations(r, max_raters=5),
    "forest": lambda r: plots.plot_reliability_forest(r),
}


@pytest.mark.parametrize("name", sorted(FIGURES))
def test_figure_is_deterministic_self_contained_svg(result, name):
    svg = FIGURES[name](result)
    root = ET.fromstring(svg.encode())
    assert root.tag.endswith("svg")
    assert svg == FIGURES[name](result)
    assert "font-family" not in svg and "@font-face" not in svg
    assert "<dc:date>" not in svg


def test_plot_arguments_are_validated(result):
    with pytest.raises(ValueError, match="thresholds"):
        plots.plot_tier_plane(
            result, dimensions=("proprietary", "misuse"), thresholds=[3, 2], tiers=["a", "b", "c"]
        )
    with pytest.raises(ValueError, match="tiers"):
        plots.plot_tier_plane(
            result, dimensions=("proprietary", "misuse"), thresholds=[3], tiers=["a", "b", "c"]
        )
    with pytest.raises(ValueError, match="aggregate"):
        plots.plot_tier_plane(
            result,
            dimensions=("proprietary", "misuse"),
            thresholds=[3],
            tiers=["a", "b"],
            aggregate="sum",
        )
    with pytest.raises(ValueError, match="dimension 'x'"):
        plots.plot_item_medians(result, dimension="x")
    with pytest.raises(ValueError, match="max_raters"):
        plots.plot_rater_deviations(result, max_raters=0)
