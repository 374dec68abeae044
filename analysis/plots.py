"""Figures from analysis results, as deterministic SVG strings.

Every function returns the SVG text of one figure (matplotlib, Agg-free object API,
text rendered as paths so no font is needed by the viewer, a fixed ``svg.hashsalt``
and no date, so the same input gives byte-identical output). The HTML around the
figures lives in the app's templates.
"""

from __future__ import annotations

import functools
import io
import textwrap
from collections.abc import Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass
from typing import ParamSpec

import matplotlib
import numpy as np
import numpy.typing as npt
from matplotlib.axes import Axes
from matplotlib.colors import BoundaryNorm, ListedColormap
from matplotlib.figure import Figure
from matplotlib.patches import Patch
from matplotlib.ticker import ScalarFormatter
from matplotlib.typing import RcKeyType

from analysis._docs import shared_docs
from analysis._types import FloatArray
from analysis.reliability import ACCEPTABLE_ALPHA, TENTATIVE_ALPHA
from analysis.results import ItemConsensus, PanelAnalysis
from analysis.severity import RatingScale, SeverityResult

__all__ = [
    "AGGREGATES",
    "WORDS",
    "FigureText",
    "NothingToPlot",
    "plot_item_medians",
    "plot_median_heatmap",
    "plot_rater_deviations",
    "plot_reliability_forest",
    "plot_tier_plane",
    "plot_wright_map",
]

AGGREGATES = ("max", "min", "mean")


class NothingToPlot(ValueError):
    """The result holds nothing this figure can show (a report leaves the figure out)."""


@dataclass(frozen=True)
class FigureText:
    """What a figure writes in the reader's language: its title and its words.

    Parameters
    ----------
    title : str, optional
        The figure's title; by default one in English.
    words : mapping, optional
        The figure's words in another language (keys of :data:`WORDS`).
    """

    title: str | None = None
    words: Mapping[str, str] | None = None


_STYLE: dict[RcKeyType, object] = {
    "svg.hashsalt": "elicit-analysis",
    "svg.fonttype": "path",
    "font.family": "DejaVu Sans",
    "font.size": 9,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.titlesize": 10,
    "axes.titleweight": "bold",
}
#: The words the figures write, in English. A caller gives them in another language with
#: ``FigureText(words=...)`` (the same keys; the ``{name}`` fields are filled in;
#: ``decimal sign`` is the sign of the figure's numbers: cells, labels and tick labels);
#: matplotlib lays out text written right to left (Arabic) through libraqm.
WORDS: dict[str, str] = {
    "median rating": "median rating",
    "median and IQR": "median and IQR",
    "consensus reached": "consensus reached",
    "no consensus": "no consensus",
    "axis median": "{dimension} (median)",
    "tier rule": "tier by the {aggregate} rule (items)",
    "max": "max",
    "min": "min",
    "mean": "mean",
    "deviation axis": "mean signed deviation from the leave-one-out median (scale points)\n"
    "← more lenient than the panel  |  more severe than the panel →",
    "most deviating": " ({shown} most deviating of {total})",
    "undefined": "undefined: {reason}",
    "alpha axis": "Krippendorff's alpha (95% bootstrap CI)",
    "acceptable": "acceptable",
    "tentative": "tentative",
    "unacceptable": "unacceptable",
    "nominal": "nominal",
    "ordinal": "ordinal",
    "interval": "interval",
    "ratio": "ratio",
    "logits axis": "logits (higher: rates higher / rated higher)",
    "raters": "raters",
    "rater": "{rater} (rater)",
    "and more": " and {count} more",
    "named raters": " ({shown} named: the farthest from the average rater, of {total})",
    "not on the map": "Not on the map (extreme scores, infinite estimates): {shown}",
    # Not a word: the sign numbers are written with ("," in French), as the reader's pages
    # write them.
    "decimal sign": ".",
}


def _number(words: Mapping[str, str] | None, text: str) -> str:
    """A number written with ``.`` (``f"{x:.3f}"``) with the caller's decimal sign."""
    return text.replace(".", _say(words, "decimal sign"))


class _DecimalFormatter(ScalarFormatter):
    """Matplotlib's tick labels with another decimal sign ("0,5" in French)."""

    def __init__(self, sign: str) -> None:
        super().__init__()
        self.sign = sign

    def __call__(self, x: float, pos: int | None = None) -> str:
        return super().__call__(x, pos).replace(".", self.sign)


def _say(words: Mapping[str, str] | None, key: str, **values: object) -> str:
    """The figure's text for ``key``: the caller's words where given, else the English."""
    text = (words or {}).get(key, WORDS[key])
    return text.format(**values) if values else text


_TIER_COLOURS = ("#d9f0d3", "#fee8b0", "#f4c7c3", "#d8d0ec", "#cfe3f3")
_BLUE, _GREY, _RED = "#2b6ca3", "#8a8a8a", "#b8412b"


_P = ParamSpec("_P")

#: How the figures describe the arguments they share (``{{name}}`` lines in their
#: docstrings; see :mod:`analysis._docs`).
_shared_docs = shared_docs(
    {
        "items": """\
result : PanelAnalysis or sequence of ItemConsensus
    The panel's analysis, or the items' consensus
    (:func:`analysis.consensus.item_consensus`).""",
        "text": """\
text : FigureText, optional
    The figure's title (by default one in English) and its words in another language.""",
    }
)


def _styled(function: Callable[_P, str]) -> Callable[_P, str]:
    """Run a plotting function under the package style, without touching global state."""

    @functools.wraps(function)
    def wrapper(*args: _P.args, **kwargs: _P.kwargs) -> str:
        with matplotlib.rc_context(_STYLE):
            return function(*args, **kwargs)

    return wrapper


def _figure(width: float, height: float) -> Figure:
    # A bare Figure (no pyplot): nothing is registered globally and no GUI backend is used.
    return Figure(figsize=(width, height), layout="constrained")


def _svg(figure: Figure, words: Mapping[str, str] | None = None) -> str:
    sign = _say(words, "decimal sign")
    if sign != ".":
        # Tick labels (axes and colour bars) with the reader's decimal sign.
        for axes in figure.axes:
            for axis in (axes.xaxis, axes.yaxis):
                if type(axis.get_major_formatter()) is ScalarFormatter:
                    axis.set_major_formatter(_DecimalFormatter(sign))
    buffer = io.StringIO()
    figure.savefig(buffer, format="svg", metadata={"Date": None, "Creator": None})
    return buffer.getvalue()


def _items(result: PanelAnalysis | Sequence[ItemConsensus], name: str) -> list[ItemConsensus]:
    if isinstance(result, PanelAnalysis):
        return list(result.items)
    items = list(result)
    if not all(isinstance(item, ItemConsensus) for item in items):
        raise ValueError(f"{name} must be a PanelAnalysis or a sequence of ItemConsensus")
    return items


def _check_analysis(result: object) -> None:
    if not isinstance(result, PanelAnalysis):
        raise ValueError(f"result must be a PanelAnalysis, not {type(result).__name__}")


def _short(value: Hashable, width: int = 40) -> str:
    text = str(value)
    return text if len(text) <= width else text[: width - 1] + "…"


def _median_table(
    items: list[ItemConsensus],
) -> tuple[FloatArray, list[Hashable], list[Hashable]]:
    dimensions = sorted({item.dimension for item in items}, key=str)
    labels = sorted({item.item for item in items}, key=str)
    table = np.full((len(labels), len(dimensions)), np.nan)
    row = {label: index for index, label in enumerate(labels)}
    column = {dimension: index for index, dimension in enumerate(dimensions)}
    for item in items:
        if item.median is not None:
            table[row[item.item], column[item.dimension]] = item.median
    return table, labels, dimensions


@_styled
@_shared_docs
def plot_median_heatmap(
    result: PanelAnalysis | Sequence[ItemConsensus],
    *,
    text: FigureText = FigureText(),
) -> str:
    """Heatmap of the panel's median rating per item (rows) and dimension (columns).

    Parameters
    ----------
    {{items}}
    {{text}}

    Returns
    -------
    str
        SVG. Items are ordered by their mean median over dimensions, highest first; a
        cell without values is left blank; medians are printed in the cells.

    Examples
    --------
    >>> import pandas as pd
    >>> from analysis.consensus import item_consensus
    >>> frame = pd.DataFrame({"rater": list("abab"), "item": ["x", "x", "y", "y"],
    ...                       "dimension": "d", "value": [1.0, 2.0, 4.0, 5.0]})
    >>> plot_median_heatmap(item_consensus(frame)).startswith("<?xml")
    True
    """
    title, words = text.title, text.words
    items = _items(result, "result")
    if not items:
        raise NothingToPlot("result has no items to plot")
    table, labels, dimensions = _median_table(items)
    scores = np.array([np.nanmean(r) if np.isfinite(r).any() else -np.inf for r in table])
    order = np.argsort(-scores, kind="stable")
    table = table[order]
    labels = [labels[index] for index in order]
    longest = max(len(_short(label)) for label in labels)
    figure = _figure(1.8 + 0.065 * longest + 0.9 * len(dimensions), 1.9 + 0.28 * len(labels))
    axes = figure.add_subplot()
    finite = table[np.isfinite(table)]
    low, high = (finite.min(), finite.max()) if finite.size else (0.0, 1.0)
    if high == low:
        high = low + 1.0
    image = axes.imshow(
        np.ma.masked_invalid(table), cmap="YlOrRd", vmin=low, vmax=high, aspect="auto"
    )
    axes.set_xticks(
        range(len(dimensions)),
        [_short(d, 22) for d in dimensions],
        rotation=30,
        ha="left",
        rotation_mode="anchor",
    )
    axes.set_yticks(range(len(labels)), [_short(label) for label in labels])
    axes.tick_params(length=0)
    axes.xaxis.tick_top()
    for spine in axes.spines.values():
        spine.set_visible(False)
    middle = (low + high) / 2
    for (r, c), value in np.ndenumerate(table):
        if np.isfinite(value):
            colour = "white" if value > middle + (high - low) * 0.2 else "black"
            shown = _number(words, f"{value:g}")
            axes.text(c, r, shown, ha="center", va="center", color=colour, fontsize=8)
    figure.colorbar(image, ax=axes, label=_say(words, "median rating"), shrink=0.6)
    figure.suptitle(title or "Median rating per item and dimension", x=0.02, ha="left")
    return _svg(figure, words)


@_styled
@_shared_docs
def plot_item_medians(
    result: PanelAnalysis | Sequence[ItemConsensus],
    *,
    dimension: Hashable | None = None,
    text: FigureText = FigureText(),
) -> str:
    """Per-item median with interquartile-range bars, items ordered by score.

    Parameters
    ----------
    {{items}}
    dimension : label, optional
        Plot this dimension only. Default: one panel per dimension, items ordered by
        their mean median over the dimensions.
    {{text}}

    Returns
    -------
    str
        SVG. Points are medians, bars span Q1 to Q3; items reaching consensus are
        drawn in colour, the others in grey.

    Examples
    --------
    >>> from analysis.datasets import two_raters
    >>> from analysis.summary import analyze
    >>> svg = plot_item_medians(analyze(two_raters(), n_bootstrap=0), dimension="p")
    >>> svg.startswith("<?xml") and svg.rstrip().endswith("</svg>")
    True
    """
    title, words = text.title, text.words
    items = _items_of_dimension(result, dimension)
    table, labels, dimensions = _median_table(items)
    by_key = {(item.item, item.dimension): item for item in items}
    scores = np.array([np.nanmean(r) if np.isfinite(r).any() else -np.inf for r in table])
    order = np.argsort(scores, kind="stable")  # lowest at the bottom
    labels = [labels[index] for index in order]
    figure = _figure(2.2 + 2.3 * len(dimensions), 1.3 + 0.26 * len(labels))
    axes_list = figure.subplots(1, len(dimensions), sharey=True, squeeze=False)[0]
    values = [v for item in items for v in (item.q1, item.q3) if v is not None]
    low, high = (min(values), max(values)) if values else (0.0, 1.0)
    for axes, name in zip(axes_list, dimensions, strict=True):
        _draw_medians(axes, [by_key.get((label, name)) for label in labels])
        axes.set_title(_short(name, 24), loc="left")
        axes.set_xlim(low - 0.4, high + 0.4)
        axes.grid(axis="x", color="#e4e4e4", lw=0.8)
        axes.set_axisbelow(True)
        axes.set_xlabel(_say(words, "median and IQR"))
    axes_list[0].set_yticks(range(len(labels)), [_short(label) for label in labels])
    axes_list[0].set_ylim(-0.7, len(labels) - 0.3)
    figure.legend(
        handles=[
            Patch(color=_BLUE, label=_say(words, "consensus reached")),
            Patch(color=_GREY, label=_say(words, "no consensus")),
        ],
        loc="outside lower center",
        ncols=2,
        frameon=False,
    )
    figure.suptitle(title or "Item medians with interquartile ranges", x=0.02, ha="left")
    return _svg(figure, words)


def _plane_points(
    items: Sequence[ItemConsensus], x_name: Hashable, y_name: Hashable
) -> list[tuple[Hashable, float, float]]:
    """(item, x median, y median) of the items with a median on both dimensions."""
    medians: dict[Hashable, dict[Hashable, float]] = {}
    for item in items:
        if item.median is not None and item.dimension in (x_name, y_name):
            medians.setdefault(item.item, {})[item.dimension] = item.median
    points = [(label, m[x_name], m[y_name]) for label, m in medians.items() if len(m) == 2]
    if not points:
        raise NothingToPlot(f"no item has a median on both {x_name!r} and {y_name!r}")
    return points


def _plane_range(
    xs: FloatArray, ys: FloatArray, scale: tuple[float, float] | None
) -> tuple[float, float]:
    if scale is None:
        return float(min(xs.min(), ys.min())) - 0.5, float(max(xs.max(), ys.max())) + 0.5
    low, high = (float(v) for v in scale)
    if not low < high:
        raise ValueError(f"scale must be (low, high) with low < high, not {scale!r}")
    return low, high


def _draw_points(
    axes: Axes,
    points: Sequence[tuple[Hashable, float, float]],
    item_tier: npt.NDArray[np.intp],
    tiers: Sequence[str],
) -> list[str]:
    """Numbered points on the plane; the lines of the key that names their items."""
    # Medians sit on a coarse grid, so items often share a point and long names would
    # collide: points carry numbers and a key beside the plane names the items.
    places: dict[tuple[float, float], list[tuple[str, int]]] = {}
    for (label, x, y), tier in zip(points, item_tier, strict=True):
        places.setdefault((float(x), float(y)), []).append((_short(label, 44), int(tier)))
    key_lines = []
    ordered_places = sorted(places.items(), key=lambda pair: (-pair[0][1], pair[0][0]))
    for number, ((x, y), members) in enumerate(ordered_places, start=1):
        axes.scatter([x], [y], s=150 + 20 * len(members), color="#222222", zorder=3)
        axes.annotate(
            str(number),
            (x, y),
            ha="center",
            va="center",
            color="white",
            fontsize=7,
            fontweight="bold",
            zorder=4,
        )
        for index, (name, tier) in enumerate(sorted(members)):
            prefix = f"{number:>2}" if index == 0 else "  "
            key_lines.append(f"{prefix}  {name}  [{tiers[tier]}]")
    return key_lines


def _items_of_dimension(
    result: PanelAnalysis | Sequence[ItemConsensus], dimension: Hashable | None
) -> list[ItemConsensus]:
    items = _items(result, "result")
    if dimension is not None:
        items = [item for item in items if item.dimension == dimension]
        if not items:
            raise ValueError(f"dimension {dimension!r} has no items in the result")
    if not items:
        raise NothingToPlot("result has no items to plot")
    return items


def _draw_medians(axes: Axes, rows: Sequence[ItemConsensus | None]) -> None:
    """One row per item (bottom up): the IQR as a bar and the median as a point."""
    for position, item in enumerate(rows):
        if item is None or item.median is None or item.q1 is None or item.q3 is None:
            continue
        colour = _BLUE if item.consensus else _GREY
        axes.plot([item.q1, item.q3], [position, position], color=colour, lw=2.2, alpha=0.6)
        axes.plot([item.median], [position], "o", color=colour, ms=5)


@_styled
@_shared_docs
def plot_tier_plane(
    result: PanelAnalysis | Sequence[ItemConsensus],
    *,
    dimensions: Sequence[Hashable],
    thresholds: Sequence[float],
    tiers: Sequence[str],
    aggregate: str = "max",
    scale: tuple[float, float] | None = None,
    text: FigureText = FigureText(),
) -> str:
    """The two-factor plane: each item at its medians, over the tier regions of a rule.

    Parameters
    ----------
    {{items}}
    dimensions : two labels
        The rule's dimensions: the first on the x axis, the second on the y axis.
    thresholds : sequence of float
        Ascending thresholds on the aggregated score; ``len(tiers) - 1`` of them.
    tiers : sequence of str
        Tier names from the lowest to the highest.
    aggregate : {"max", "min", "mean"}
        How the rule combines the two dimension scores.
    scale : (low, high), optional
        Axis range; default the range of the medians, widened by half a point.
    {{text}}

    Returns
    -------
    str
        SVG.

    Notes
    -----
    An item's score is ``aggregate(median_x, median_y)`` and its tier the number of
    thresholds at or below the score: a score equal to a threshold falls in the higher
    tier. Items without a median on both dimensions are left out.

    Examples
    --------
    >>> import pandas as pd
    >>> from analysis.consensus import item_consensus
    >>> frame = pd.DataFrame({"rater": list("abab"), "item": ["x", "x", "x", "x"],
    ...                       "dimension": ["p", "p", "u", "u"],
    ...                       "value": [1.0, 2.0, 4.0, 5.0]})
    >>> svg = plot_tier_plane(item_consensus(frame), dimensions=("p", "u"), thresholds=[2, 4],
    ...                       tiers=["no_brainer", "gray_area", "high_trust"], scale=(1, 5))
    >>> svg.startswith("<?xml")
    True
    """
    title, words = text.title, text.words
    if len(dimensions) != 2:
        raise ValueError(f"dimensions must name two dimensions, not {dimensions!r}")
    if aggregate not in AGGREGATES:
        raise ValueError(f"aggregate must be one of {', '.join(AGGREGATES)}, not {aggregate!r}")
    cuts = np.asarray(thresholds, dtype=float)
    if cuts.ndim != 1 or np.any(np.diff(cuts) <= 0) or not np.isfinite(cuts).all():
        raise ValueError(f"thresholds must be finite and strictly ascending, not {thresholds!r}")
    if len(tiers) != cuts.size + 1:
        raise ValueError(
            f"tiers must have one name more than thresholds ({cuts.size + 1}), not {len(tiers)}"
        )
    x_name, y_name = dimensions
    points = _plane_points(_items(result, "result"), x_name, y_name)
    xs = np.array([p[1] for p in points])
    ys = np.array([p[2] for p in points])
    low, high = _plane_range(xs, ys, scale)
    combine: dict[str, Callable[[FloatArray, FloatArray], FloatArray]] = {
        "max": np.maximum,
        "min": np.minimum,
        "mean": lambda a, b: (a + b) / 2.0,
    }
    pad = 0.06 * (high - low)
    grid = np.linspace(low - pad, high + pad, 401)
    gx, gy = np.meshgrid(grid, grid)
    tier_of_grid = np.searchsorted(cuts, combine[aggregate](gx, gy), side="right")
    colours = [_TIER_COLOURS[i % len(_TIER_COLOURS)] for i in range(len(tiers))]
    figure = _figure(10.0, 6.2)
    axes, key = figure.subplots(1, 2, gridspec_kw={"width_ratios": (3.0, 1.9)})
    key.axis("off")
    axes.imshow(
        tier_of_grid,
        origin="lower",
        extent=(low - pad, high + pad, low - pad, high + pad),
        cmap=ListedColormap(colours),
        norm=BoundaryNorm(np.arange(len(tiers) + 1) - 0.5, len(tiers)),
        interpolation="nearest",
        aspect="auto",
    )
    axes.contour(
        gx,
        gy,
        tier_of_grid,
        levels=np.arange(len(tiers) - 1) + 0.5,
        colors="#666666",
        linewidths=0.8,
    )
    item_tier = np.searchsorted(cuts, combine[aggregate](xs, ys), side="right")
    key_lines = _draw_points(axes, points, item_tier, tiers)
    key.text(
        0.0,
        0.80,
        "\n".join(key_lines),
        va="top",
        ha="left",
        fontsize=7.5,
        family="DejaVu Sans Mono",
        transform=key.transAxes,
    )
    margin = 0.06 * (high - low)
    axes.set_xlim(low - margin, high + margin)
    axes.set_ylim(low - margin, high + margin)
    axes.set_xlabel(_say(words, "axis median", dimension=x_name))
    axes.set_ylabel(_say(words, "axis median", dimension=y_name))
    counts = np.bincount(item_tier, minlength=len(tiers))
    key.legend(
        handles=[
            Patch(facecolor=colours[i], edgecolor="#666666", label=f"{tiers[i]} ({counts[i]})")
            for i in range(len(tiers))
        ],
        loc="upper left",
        frameon=False,
        title=_say(words, "tier rule", aggregate=_say(words, aggregate)),
        alignment="left",
    )
    cut_text = ", ".join(f"{c:g}" for c in cuts)
    figure.suptitle(
        title or f"Items on the two-factor plane (thresholds {cut_text})", x=0.02, ha="left"
    )
    return _svg(figure, words)


@_styled
@_shared_docs
def plot_rater_deviations(
    result: PanelAnalysis,
    *,
    max_raters: int = 40,
    text: FigureText = FigureText(),
) -> str:
    """Per-rater mean signed deviation from the leave-one-out panel median.

    Parameters
    ----------
    result : PanelAnalysis
    max_raters : int
        With more raters, only the ``max_raters`` with the largest absolute deviation
        are shown (the title says so).
    {{text}}

    Returns
    -------
    str
        SVG. Bars right of zero: more severe (higher) than the panel; left: more lenient.

    Examples
    --------
    The most deviant rater of a two-rater panel:

    >>> from analysis.datasets import two_raters
    >>> from analysis.summary import analyze
    >>> plot_rater_deviations(analyze(two_raters(), n_bootstrap=0), max_raters=1)[:5]
    '<?xml'
    """
    title, words = text.title, text.words
    _check_analysis(result)
    if isinstance(max_raters, bool) or not isinstance(max_raters, int) or max_raters < 1:
        raise ValueError(f"max_raters must be a positive int, not {max_raters!r}")
    raters = [r for r in result.raters if r.mean_signed_deviation is not None]
    if not raters:
        raise NothingToPlot("no rater has a deviation to plot")
    shown = sorted(raters, key=lambda r: -abs(r.mean_signed_deviation or 0.0))[:max_raters]
    shown.sort(key=lambda r: r.mean_signed_deviation or 0.0)
    values = np.array([r.mean_signed_deviation for r in shown], dtype=float)
    figure = _figure(6.4, 1.2 + 0.24 * len(shown))
    axes = figure.add_subplot()
    colours = [_RED if v > 0 else _BLUE for v in values]
    axes.barh(range(len(shown)), values, color=colours, height=0.7)
    axes.axvline(0, color="#444444", lw=0.8)
    axes.set_yticks(range(len(shown)), [_short(r.rater, 24) for r in shown])
    axes.set_ylim(-0.7, len(shown) - 0.3)
    limit = max(float(np.abs(values).max()), 0.25) * 1.15
    axes.set_xlim(-limit, limit)
    axes.set_xlabel(_say(words, "deviation axis"))
    axes.grid(axis="x", color="#e4e4e4", lw=0.8)
    axes.set_axisbelow(True)
    suffix = (
        _say(words, "most deviating", shown=len(shown), total=len(raters))
        if len(raters) > len(shown)
        else ""
    )
    axes.set_title((title or "Rater severity") + suffix, loc="left")
    return _svg(figure, words)


@_styled
@_shared_docs
def plot_reliability_forest(
    result: PanelAnalysis,
    *,
    text: FigureText = FigureText(),
    explain: Callable[[str], str] | None = None,
) -> str:
    """Forest plot of Krippendorff's alpha with its 95% CI, one row per dimension.

    Parameters
    ----------
    result : PanelAnalysis
    {{text}}

    Returns
    -------
    str
        SVG. Each dimension shows alpha at its own level of measurement; dashed lines
        mark 0.667 (tentative) and 0.800 (acceptable). Undefined alphas are listed with
        their reason instead of a point.

    Examples
    --------
    >>> from analysis.datasets import krippendorff_2011
    >>> from analysis.summary import analyze
    >>> result = analyze(krippendorff_2011(), n_bootstrap=50, seed=1)
    >>> svg = plot_reliability_forest(result, text=FigureText("Krippendorff (2011)"))
    >>> svg.rstrip().endswith("</svg>")
    True
    """
    title, words = text.title, text.words
    _check_analysis(result)
    if not result.dimensions:
        raise NothingToPlot("result has no dimensions to plot")
    rows = list(result.dimensions.items())[::-1]
    figure = _figure(6.4, 1.4 + 0.42 * len(rows))
    axes = figure.add_subplot()
    lows = [TENTATIVE_ALPHA - 0.1]
    for position, (_, reliability) in enumerate(rows):
        alpha = reliability.primary_alpha
        if alpha.value is None:
            axes.text(
                0.0,
                position,
                _say(
                    words,
                    "undefined",
                    reason=_short((explain or str)(alpha.reason or ""), 60),
                ),
                va="center",
                color=_GREY,
                fontsize=8,
            )
            continue
        colour = {"acceptable": _BLUE, "tentative": "#c98a14"}.get(alpha.reading or "", _RED)
        if alpha.ci_low is not None and alpha.ci_high is not None:
            axes.plot([alpha.ci_low, alpha.ci_high], [position, position], color=colour, lw=2)
            lows.append(alpha.ci_low)
        axes.plot([alpha.value], [position], "D", color=colour, ms=7)
        axes.annotate(
            f"{_number(words, f'{alpha.value:.3f}')} "
            f"{_say(words, alpha.reading) if alpha.reading else ''}",
            (alpha.value, position),
            xytext=(0, 7),
            textcoords="offset points",
            ha="center",
            fontsize=8,
        )
        lows.append(alpha.value)
    for reference, name in ((TENTATIVE_ALPHA, "0.667"), (ACCEPTABLE_ALPHA, "0.800")):
        axes.axvline(reference, color="#777777", ls="--", lw=0.9)
        axes.text(
            reference,
            len(rows) - 0.45,
            _number(words, name),
            ha="center",
            va="bottom",
            fontsize=8,
            color="#555555",
        )
    axes.set_yticks(
        range(len(rows)), [f"{_short(d, 24)}\n({_say(words, r.level)})" for d, r in rows]
    )
    axes.set_ylim(-0.7, len(rows) - 0.1)
    axes.set_xlim(max(-1.0, min(lows) - 0.05), 1.02)
    axes.set_xlabel(_say(words, "alpha axis"))
    axes.grid(axis="x", color="#ececec", lw=0.8)
    axes.set_axisbelow(True)
    axes.set_title(title or "Reliability per dimension", loc="left")
    return _svg(figure, words)


def _spread(positions: FloatArray, gap: float) -> FloatArray:
    """Label positions at least ``gap`` apart, each run of crowded labels centred on the
    mean of its points (a label with room stays level with its point)."""
    order = np.argsort(positions, kind="stable")
    groups: list[tuple[float, int]] = []  # (sum of the targets, count), bottom up
    for target in positions[order].tolist():
        groups.append((target, 1))
        while len(groups) > 1:
            (sum_a, n_a), (sum_b, n_b) = groups[-2], groups[-1]
            top_a = sum_a / n_a + (n_a - 1) * gap / 2
            bottom_b = sum_b / n_b - (n_b - 1) * gap / 2
            if bottom_b - top_a >= gap:
                break
            groups[-2:] = [(sum_a + sum_b, n_a + n_b)]
    placed = np.concatenate([total / n + (np.arange(n) - (n - 1) / 2) * gap for total, n in groups])
    out: FloatArray = np.empty(placed.size)
    out[order] = placed
    return out


@_styled
@_shared_docs
def plot_wright_map(result: SeverityResult, *, text: FigureText = FigureText()) -> str:
    """Wright map: raters and items of a many-facet Rasch model on one logit scale.

    Parameters
    ----------
    result : SeverityResult
        A fitted model (:func:`analysis.severity.fit_severity`).
    {{text}}

    Returns
    -------
    str
        SVG. The first column holds the raters (higher: rates higher than the average
        rater; noisy raters in red, muted ones in grey; of more than ``NAMED_RATERS``
        raters all are drawn and the ones farthest from the average rater are named,
        as the column's heading says), then one column per dimension
        with its items (higher: rated higher by a rater of average severity) and its
        thresholds as dashed ticks, where the most probable rating of an item at that
        height moves from one value to the next. Raters and items without a finite
        estimate (extreme scores) are named below the map.

    Examples
    --------
    >>> from analysis.datasets import krippendorff_2011
    >>> from analysis.severity import fit_severity
    >>> svg = plot_wright_map(fit_severity(krippendorff_2011()), text=FigureText("Four coders"))
    >>> svg.startswith("<?xml") and svg.rstrip().endswith("</svg>")
    True
    """
    title, words = text.title, text.words
    if not isinstance(result, SeverityResult):
        raise ValueError(f"result must be a SeverityResult, not {type(result).__name__}")
    if result.reason is not None:
        raise ValueError(f"result: the severity model was not fitted: {result.reason}")
    columns = _wright_columns(result, words)
    values = [y for _, entries in columns for _, y, _ in entries]
    thresholds = {s.dimension: s for s in result.scales if s.reason is None}
    values += [t for s in thresholds.values() for t in s.thresholds]
    low, high = min(values), max(values)
    margin = max(0.5, 0.06 * (high - low))
    crowded = max(sum(1 for text, _, _ in entries if text) for _, entries in columns)
    height = max(4.0, 2.0 + 0.2 * crowded)
    figure = _figure(2.0 + 2.35 * len(columns), height)
    axes = figure.add_subplot()
    # One label line (8 pt with leading) in logits, for the plotting area's height.
    gap = (high - low + 2 * margin) * (8 * 1.3 / 72) / max(height - 1.6, 1.0)
    low, high = _draw_wright_columns(axes, columns, gap, (low - margin, high + margin))
    for position, dimension in enumerate(result.dimensions, start=1):
        scale = thresholds.get(dimension)
        if scale is not None and len(scale.thresholds) >= 2:
            _draw_thresholds(axes, position, scale, words)
    axes.axhline(0, color="#dddddd", lw=0.8, zorder=0)
    axes.set_xticks(range(len(columns)), [name for name, _ in columns])
    axes.xaxis.tick_top()
    axes.tick_params(axis="x", length=0)
    axes.set_xlim(-0.5, len(columns) - 0.05)
    axes.set_ylim(low, high)
    axes.set_ylabel(_say(words, "logits axis"))
    axes.spines["bottom"].set_visible(False)
    _note_off_the_map(figure, result, words)
    figure.suptitle(title or "Wright map: rater severity and item locations", x=0.02, ha="left")
    return _svg(figure, words)


#: A column's entries: (label, or "" for a point left unnamed, y, colour).
_WrightColumn = tuple[str, list[tuple[str, float, str]]]

#: Raters named on a Wright map at most: a larger panel's raters are all drawn, and the
#: ones farthest from the average rater are named (naming 1,000 raters made a figure 200
#: inches tall that took 7 s to draw, where no name could be found).
NAMED_RATERS = 40


def _wright_columns(
    result: SeverityResult, words: Mapping[str, str] | None = None
) -> list[_WrightColumn]:
    """The raters' column, then one column of items per dimension: (label, y, colour)."""
    raters = [r for r in result.raters if r.severity is not None]
    colour = {"noisy": _RED, "muted": _GREY}
    severity = np.array([float(r.severity or 0.0) for r in raters])
    named = np.ones(len(raters), dtype=bool)
    title = _say(words, "raters")
    if len(raters) > NAMED_RATERS:
        farthest = np.argsort(-np.abs(severity), kind="stable")[:NAMED_RATERS]
        named[:] = False
        named[farthest] = True
        named_ones = _say(words, "named raters", shown=NAMED_RATERS, total=len(raters))
        title = textwrap.fill(title + named_ones, 30)  # a column is about 30 letters wide
    columns: list[_WrightColumn] = [
        (
            title,
            [
                (_short(r.rater, 18) if shown else "", y, colour.get(r.flag or "", _BLUE))
                for r, y, shown in zip(raters, severity.tolist(), named.tolist(), strict=True)
            ],
        )
    ]
    for dimension in result.dimensions:
        entries = [
            (_short(i.item, 26), float(i.location), "#222222")
            for i in result.items
            if i.dimension == dimension and i.location is not None
        ]
        columns.append((_short(dimension, 22), entries))
    return columns


def _draw_wright_columns(
    axes: Axes, columns: list[_WrightColumn], gap: float, limits: tuple[float, float]
) -> tuple[float, float]:
    """Points and their labels, spread so they do not overlap; the y limits they need."""
    low, high = limits
    for position, (_, entries) in enumerate(columns):
        unnamed = [(y, colour) for text, y, colour in entries if not text]
        if unnamed:  # one artist for all of them
            axes.scatter(
                [position] * len(unnamed),
                [y for y, _ in unnamed],
                s=9,
                c=[colour for _, colour in unnamed],
                alpha=0.6,
                linewidths=0,
                zorder=2,
            )
        entries = [entry for entry in entries if entry[0]]
        if not entries:
            continue
        ys = np.array([y for _, y, _ in entries])
        label_ys = _spread(ys, gap)
        for (text, y, colour), label_y in zip(entries, label_ys, strict=True):
            axes.plot([position], [y], "o", color=colour, ms=4.5, zorder=3)
            axes.plot([position + 0.04, position + 0.16], [y, label_y], color="#bbbbbb", lw=0.6)
            axes.text(position + 0.18, label_y, text, va="center", fontsize=7.5, color=colour)
        low = min(low, float(label_ys.min()) - gap)
        high = max(high, float(label_ys.max()) + gap)
    return low, high


def _draw_thresholds(
    axes: Axes, position: int, scale: RatingScale, words: Mapping[str, str] | None = None
) -> None:
    for k, tau in enumerate(scale.thresholds, start=1):
        axes.plot([position - 0.32, position - 0.06], [tau, tau], "--", color=_GREY, lw=0.8)
        axes.text(
            position - 0.34,
            tau,
            _number(words, f"{scale.values[k - 1]:g}|{scale.values[k]:g}"),
            ha="right",
            va="center",
            fontsize=6.5,
            color=_GREY,
        )


def _note_off_the_map(
    figure: Figure, result: SeverityResult, words: Mapping[str, str] | None = None
) -> None:
    """Name the raters and items without a finite estimate below the map."""
    missing = [
        _say(words, "rater", rater=_short(r.rater, 18)) for r in result.raters if r.severity is None
    ]
    missing += [
        f"{_short(i.item, 26)} ({_short(i.dimension, 14)})"
        for i in result.items
        if i.location is None
    ]
    if not missing:
        return
    shown = ", ".join(missing[:12]) + (
        _say(words, "and more", count=len(missing) - 12) if len(missing) > 12 else ""
    )
    figure.supxlabel(
        textwrap.fill(_say(words, "not on the map", shown=shown), 120),
        x=0.02,
        ha="left",
        fontsize=7,
        color=_GREY,
    )
