"""One entry point that analyses a panel, and a plain-text rendering of the result."""

from __future__ import annotations

import os
import zlib
from collections.abc import Collection, Hashable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from analysis._checks import check_bootstrap
from analysis.consensus import ConsensusCriterion, ConsensusOptions
from analysis.raters import compare_groups, diagnostics_of_valid, rater_attribute
from analysis.reliability import (
    ICC_FORMS,
    TENTATIVE_ALPHA,
    Bootstrap,
    check_alpha_interval,
    dimension_reliability,
    resolve_levels,
)
from analysis.results import (
    DimensionReliability,
    GroupAnalysis,
    PanelAnalysis,
    SubgroupAnalysis,
    label,
)
from analysis.tidy import (
    DimensionData,
    PanelCodes,
    dimension_data,
    select_round,
    validate_ratings,
)

__all__ = ["analyze", "format_text"]


def _stream(entropy: Sequence[int], name: Hashable) -> np.random.Generator:
    """A random stream for one named part of the analysis (a dimension, a group).

    Keyed by the name rather than the position, so adding a dimension or a group does
    not change the bootstrap of the others.
    """
    key = zlib.crc32(repr(label(name)).encode("utf-8"))
    return np.random.default_rng(np.random.SeedSequence([*entropy, key]))


def _reliability_by_dimension(
    data: Mapping[Hashable, DimensionData],
    *,
    levels: Mapping[Hashable, str],
    bootstrap: Bootstrap,
    entropy: Sequence[int],
) -> dict[Hashable, DimensionReliability]:
    """Each dimension's reliability, bootstrapped as ``bootstrap`` says with the dimension's
    own random stream from ``entropy``."""

    def one(dimension: Hashable) -> DimensionReliability:
        drawn = replace(bootstrap, rng=_stream(entropy, dimension))
        return dimension_reliability(data[dimension], level=levels[dimension], bootstrap=drawn)

    # The dimensions are independent (each has its own random stream, its own arrays),
    # and numpy releases the interpreter lock for the arrays' arithmetic, so they are
    # computed side by side on the machine's cores.
    workers = _workers(data)
    if workers < 2:
        return {dimension: one(dimension) for dimension in data}
    with ThreadPoolExecutor(max_workers=workers) as pool:
        return dict(zip(data, pool.map(one, data), strict=True))


def _workers(data: Mapping[Hashable, DimensionData]) -> int:
    """Threads for the dimensions: one each, up to the machine's cores."""
    return min(len(data), os.cpu_count() or 1)


@contextmanager
def _threads_of_our_own(data: Mapping[Hashable, DimensionData]) -> Iterator[None]:
    """The BLAS library held to one thread while the dimensions run side by side.

    Each of analyze()'s threads then has a core, and the library's own threads would
    only compete with them (OpenBLAS waits for work by spinning): 20-30% of the CPU time
    of an analysis of three dimensions on two cores.
    """
    if _workers(data) < 2:
        yield
        return
    from threadpoolctl import threadpool_limits  # it reads the loaded libraries: only here

    with threadpool_limits(limits=1, user_api="blas"):
        yield


def analyze(
    ratings: pd.DataFrame,
    *,
    levels: str | Mapping[Hashable, str] | None = None,
    n_bootstrap: int = 1000,
    seed: int | None = 0,
    minimum_alpha: float = TENTATIVE_ALPHA,
    consensus: ConsensusCriterion | Mapping[str, object] | None = None,
    group_by: str | None = None,
    round: float | None = None,
    scales: Mapping[Hashable, Sequence[float]] | None = None,
    tier_dimensions: Collection[Hashable] = (),
    tier_labels: Mapping[float, str] | None = None,
    quantile_method: str = "linear",
    item_groups: Mapping[Hashable, Hashable] | None = None,
    value_labels: Mapping[Hashable, Mapping[float, str]] | None = None,
    validated: bool = False,
    alpha_interval: str = "two-way",
) -> PanelAnalysis:
    """Analyse a panel: reliability per dimension, consensus per item, rater diagnostics.

    Parameters
    ----------
    ratings : pandas.DataFrame
        Tidy ratings (see :mod:`analysis.tidy`).
    levels : str or mapping of dimension to level, optional
        Level of measurement ("nominal", "ordinal", "interval", "ratio") for all
        dimensions or per dimension; default ordinal. Alpha is reported at every level;
        this one is read against 0.800/0.667 and used for the rater diagnostics.
    n_bootstrap : int
        Bootstrap replicates for the confidence intervals (0: none).
    seed : int, optional
        Seed of the bootstrap; the same seed gives the same result.
    minimum_alpha : float
        Smallest acceptable alpha, for ``p_below_minimum``.
    consensus : ConsensusCriterion or mapping, optional
        ``max_iqr``, ``min_share_within_one``, ``min_n``; default IQR <= 1.
    group_by : str, optional
        A rater attribute column (e.g. "organisation", "group"): the analysis is
        repeated per group and the groups are compared.
    round : number, optional
        The round to analyse; default the last one (see :func:`analysis.tidy.select_round`).
    scales : mapping of dimension to values, optional
        All admissible values per dimension (e.g. 1-5); matters for Brennan-Prediger and
        Gwet, whose chance agreement depends on the number of categories.
    tier_dimensions, tier_labels : optional
        Holistic tier dimensions and the names of their values (see
        :func:`analysis.consensus.item_consensus`).
    quantile_method : {"linear", "weibull"}
        Quartile convention of the consensus IQR.
    item_groups : mapping of item to group, optional
        Also compute the reliability of every dimension within each group of items (for
        example the survey's item groups); items not in the mapping are left out of it.
    value_labels : mapping of dimension to {code: text label}, optional
        Dimensions whose values are coded text labels (default:
        ``ratings.attrs["value_labels"]``, as :func:`analysis.tidy.read_ratings_csv`
        with ``Columns(text_values=True)`` sets it). Such a dimension must be nominal;
        the labels are reported in ``settings["value_labels"]``.
    alpha_interval : {"two-way", "hayes-krippendorff"}
        Alpha's interval and ``p_below_minimum``: the two-way bootstrap of raters and
        items (default), or the Hayes-Krippendorff bootstrap of the KALPHA macro
        ("hk"), whose ``p_below_minimum`` is their q; see
        :func:`analysis.reliability.krippendorff_alpha`. Recorded in
        ``settings["alpha_interval"]``.
    validated : bool
        ``ratings`` is what :func:`analysis.tidy.validate_ratings` or
        :func:`analysis.tidy.read_ratings_csv` returned, unchanged since: it is not
        checked and copied a second time (a large file's most expensive step after the
        bootstrap).

    Returns
    -------
    PanelAnalysis
        ``to_dict()`` gives ``dimensions`` (per dimension: n_raters, n_items, n_values,
        krippendorff_alpha and krippendorff_alpha_ci per level, fleiss_kappa, gwet_ac1,
        gwet_ac2_quadratic, percent_agreement, icc, kendall_w, reasons, ...), ``items``,
        ``raters``, ``subgroups`` and ``settings``.

    Notes
    -----
    See :func:`analysis.reliability.dimension_reliability`,
    :func:`analysis.consensus.item_consensus`, :func:`analysis.raters.rater_diagnostics`
    and :func:`analysis.raters.compare_groups` for the estimators. Each dimension gets
    its own random stream derived from ``seed`` and its name, so a dimension's intervals
    do not change when other dimensions are added; subgroups get streams of their own.

    References
    ----------
    Krippendorff, K. (2011). Computing Krippendorff's Alpha-Reliability.
    Hayes, A. F., & Krippendorff, K. (2007). Communication Methods and Measures, 1(1).

    Examples
    --------
    Krippendorff's (2011) worked example:

    >>> from analysis.datasets import krippendorff_2011
    >>> result = analyze(krippendorff_2011(), n_bootstrap=100).to_dict()
    >>> round(result["dimensions"]["d"]["krippendorff_alpha"]["ordinal"], 3)
    0.815
    """
    n_bootstrap = check_bootstrap(n_bootstrap)
    _check_seed(seed)
    if not isinstance(minimum_alpha, int | float) or not -1 <= minimum_alpha <= 1:
        raise ValueError(f"minimum_alpha must be a number in [-1, 1], not {minimum_alpha!r}")
    criterion = ConsensusCriterion.from_value(consensus)
    interval_method = check_alpha_interval(alpha_interval)
    frame = select_round(ratings if validated else validate_ratings(ratings), round)
    if frame.empty:
        raise ValueError("ratings has no rows")
    scales_ = dict(scales) if scales else None
    codes = PanelCodes.of(frame)
    data = dimension_data(frame, scales=scales_, codes=codes)
    level_by_dimension = resolve_levels(levels, list(data))
    if value_labels is None:
        value_labels = ratings.attrs.get("value_labels") or {}
    for dimension in value_labels:
        if level_by_dimension.get(dimension, "nominal") != "nominal":
            raise ValueError(
                f"levels: dimension {dimension!r} holds text labels, which have no order or "
                f"distance, so only the nominal level applies, not "
                f"{level_by_dimension[dimension]!r}"
            )
    attribute = None if group_by is None else rater_attribute(frame, group_by)

    consensus_options = ConsensusOptions(
        criterion=criterion,
        tier_dimensions=tier_dimensions,
        tier_labels=tier_labels,
        quantile_method=quantile_method,
    )
    # seed=None: fresh entropy, recorded nowhere (results are then not reproducible).
    bootstrap = Bootstrap(
        n_bootstrap, alpha_interval=interval_method, minimum_alpha=float(minimum_alpha)
    )
    reliability = _Reliability(
        levels=level_by_dimension, bootstrap=bootstrap, entropy=(_entropy(seed),), scales=scales_
    )
    # Consensus and the rater diagnostics need no reliability: they are computed beside
    # it, on the core that the reliability's threads leave free when the dimensions do
    # not divide evenly among the cores.
    with _threads_of_our_own(data), ThreadPoolExecutor(max_workers=1) as beside:
        items_computed = beside.submit(consensus_options.of, frame, codes)
        raters_computed = beside.submit(
            diagnostics_of_valid, frame, data, level_by_dimension, codes
        )
        dimensions = reliability.of(data)
        items = items_computed.result()
        raters = raters_computed.result()
    subgroups = None
    if group_by is not None and attribute is not None:
        subgroups = SubgroupAnalysis(
            attribute=group_by,
            groups=_rater_groups(frame, attribute, reliability, consensus_options),
            differences=compare_groups(frame, by=group_by, diagnostics=raters),
            n_raters_unassigned=int(attribute.isna().sum()),
        )
    by_item_group = None
    if item_groups is not None:
        by_item_group = _item_groups(frame, item_groups, reliability)
    settings = {
        "levels": {label(d): level for d, level in level_by_dimension.items()},
        "n_bootstrap": n_bootstrap,
        "seed": seed,
        "minimum_alpha": float(minimum_alpha),
        "alpha_interval": interval_method,
        "consensus": criterion.to_dict(),
        "group_by": group_by,
        "round": None
        if "round" not in frame.columns or frame["round"].isna().all()
        else float(frame["round"].iloc[0]),
        "quantile_method": quantile_method,
        "n_ratings": len(frame),
        "value_labels": {
            label(d): {f"{code:g}": name for code, name in codes_.items()}
            for d, codes_ in value_labels.items()
        },
    }
    return PanelAnalysis(
        dimensions=dimensions,
        items=items,
        raters=raters,
        subgroups=subgroups,
        settings=settings,
        item_groups=by_item_group,
    )


def _check_seed(seed: object) -> None:
    if seed is not None and (
        isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0
    ):
        raise ValueError(f"seed must be a non-negative int or None, not {seed!r}")


def _entropy(seed: int | None) -> int:
    """The root entropy of every random stream (fresh when ``seed`` is None)."""
    entropy = np.random.SeedSequence(seed).entropy
    # An int or None seed gives an int entropy; only a sequence seed gives a sequence.
    assert isinstance(entropy, int)
    return entropy


@dataclass(frozen=True)
class _Reliability:
    """How reliability is computed for the panel and for each part of it."""

    levels: Mapping[Hashable, str]
    #: Its ``rng`` is not used: each dimension draws from its own stream of ``entropy``.
    bootstrap: Bootstrap
    entropy: tuple[int, ...]
    scales: dict[Hashable, Sequence[float]] | None

    def of(
        self, data: Mapping[Hashable, DimensionData], entropy: Sequence[int] | None = None
    ) -> dict[Hashable, DimensionReliability]:
        return _reliability_by_dimension(
            data,
            levels={d: self.levels[d] for d in data},
            bootstrap=self.bootstrap,
            entropy=self.entropy if entropy is None else entropy,
        )

    def of_part(
        self, part: pd.DataFrame, name: Hashable, stream: int
    ) -> dict[Hashable, DimensionReliability]:
        """Reliability of a group (``stream`` 1: raters, 2: items) with its own streams."""
        group_key = zlib.crc32(repr(label(name)).encode("utf-8"))
        part_data = dimension_data(part, scales=self.scales)
        return self.of(part_data, [*self.entropy, stream, group_key])


def _rater_groups(
    frame: pd.DataFrame,
    attribute: pd.Series,
    reliability: _Reliability,
    consensus: ConsensusOptions,
) -> dict[Hashable, GroupAnalysis]:
    groups = {}
    assigned = attribute.dropna()
    for name in sorted(assigned.unique(), key=str):
        members = assigned.index[assigned == name]
        part = frame[frame["rater"].isin(members)]
        groups[name] = GroupAnalysis(
            group=name,
            n_raters=int(members.size),
            dimensions=reliability.of_part(part, name, 1),
            items=consensus.of(part),
        )
    return groups


def _item_groups(
    frame: pd.DataFrame, item_groups: object, reliability: _Reliability
) -> dict[Hashable, dict[Hashable, DimensionReliability]]:
    if not isinstance(item_groups, Mapping):
        raise ValueError("item_groups must map each item to its group")
    by_item_group = {}
    for name in sorted({g for g in item_groups.values() if g is not None}, key=str):
        members = [item for item, group in item_groups.items() if group == name]
        part = frame[frame["item"].isin(members)]
        if part.empty:
            continue
        by_item_group[name] = reliability.of_part(part, name, 2)
    return by_item_group


# ------------------------------------------------------------------------------ text


def _number(value: float | None, digits: int = 3) -> str:
    return "—" if value is None else f"{value:.{digits}f}"


def _interval(low: float | None, high: float | None) -> str:
    return "" if low is None or high is None else f" [{low:.3f}, {high:.3f}]"


def format_text(result: PanelAnalysis, *, max_items: int = 40, max_raters: int = 20) -> str:
    """A plain-text summary of :func:`analyze`'s result for a terminal.

    Parameters
    ----------
    result : PanelAnalysis
    max_items, max_raters : int
        How many item and rater lines to show at most (items without consensus and the
        raters who deviate most come first).

    Returns
    -------
    str

    Examples
    --------
    >>> frame = pd.DataFrame({"rater": list("abab"), "item": [1, 1, 2, 2],
    ...                       "dimension": "d", "value": [1.0, 1.0, 3.0, 3.0]})
    >>> print(format_text(analyze(frame, n_bootstrap=0)).splitlines()[0])
    Panel analysis: 2 raters, 2 items, 1 dimension(s), 4 ratings
    """
    if not isinstance(result, PanelAnalysis):
        raise ValueError(f"result must be a PanelAnalysis, not {type(result).__name__}")
    n_items = len({item.item for item in result.items})
    lines = [
        f"Panel analysis: {len(result.raters)} raters, {n_items} items, "
        f"{len(result.dimensions)} dimension(s), {result.settings.get('n_ratings', '?')} ratings",
        f"Bootstrap: {result.settings.get('n_bootstrap')} replicates over raters and items, "
        "bias-corrected intervals with the two-way variance and Student's t"
        + (
            " (alpha: the Hayes-Krippendorff bootstrap of pairable values, percentile intervals)"
            if result.settings.get("alpha_interval") == "hayes-krippendorff"
            else ""
        )
        + f" (seed {result.settings.get('seed')}); alpha read against 0.800 (acceptable) "
        "and 0.667 (tentative)",
        "",
        "Reliability",
    ]
    for dimension, reliability in result.dimensions.items():
        lines.extend(_dimension_lines(dimension, reliability))
    lines.extend(_value_label_lines(result))
    lines.extend(_consensus_lines(result, max_items))
    lines.extend(_rater_lines(result, max_raters))
    if result.subgroups is not None:
        lines.extend(_subgroup_lines(result))
    return "\n".join(lines) + "\n"


def _value_label_lines(result: PanelAnalysis) -> list[str]:
    """How text labels were coded, per dimension (nominal data given as text)."""
    lines: list[str] = []
    value_labels = result.settings.get("value_labels")
    if isinstance(value_labels, Mapping):
        for dimension, names in value_labels.items():
            if isinstance(names, Mapping):
                pairs = ", ".join(f"{code} = {name}" for code, name in names.items())
                lines.append(f"  {dimension}: text labels coded {pairs}")
    return lines


def _consensus_lines(result: PanelAnalysis, max_items: int) -> list[str]:
    """The consensus table: cells without consensus first."""
    criterion = result.settings.get("consensus")
    criterion_text = _criterion_text(criterion if isinstance(criterion, Mapping) else {})
    lines = ["", f"Consensus ({criterion_text})"]
    reached = [item for item in result.items if item.consensus]
    lines.append(f"  {len(reached)} of {len(result.items)} item x dimension cells reach it")
    lines.append(
        f"  {'item':<28} {'dimension':<16} {'n':>3} {'median':>6} {'IQR':>5} "
        f"{'±1':>5} {'mode':>10} {'cj':>3} {'oe':>3}  consensus"
    )
    ordered = sorted(result.items, key=lambda item: (bool(item.consensus), str(item.dimension)))
    for item in ordered[:max_items]:
        mode = _number(item.modal_value, 0) if item.modal_tier is None else item.modal_tier
        lines.append(
            f"  {str(item.item)[:28]:<28} {str(item.dimension)[:16]:<16} {item.n:>3} "
            f"{_number(item.median, 1):>6} {_number(item.iqr, 2):>5} "
            f"{_number(item.share_within_one, 2):>5} {str(mode)[:10]:>10} "
            f"{item.n_cant_judge:>3} {item.n_outside_expertise:>3}  "
            + ("yes" if item.consensus else "no" if item.consensus is False else "—")
        )
    if len(ordered) > max_items:
        lines.append(f"  ... {len(ordered) - max_items} more")
    return lines


def _rater_lines(result: PanelAnalysis, max_raters: int) -> list[str]:
    """The rater table: the most deviating first."""
    lines = ["", "Raters (most deviating first; + is more severe than the panel)"]
    lines.append(
        f"  {'rater':<20} {'complete':>8} {'cant':>5} {'dev':>6} {'rho':>6}  alpha without"
    )
    raters = sorted(
        result.raters,
        key=lambda r: -abs(r.mean_signed_deviation) if r.mean_signed_deviation else 0.0,
    )
    for rater in raters[:max_raters]:
        deltas = ", ".join(
            f"{d}: {entry.alpha_delta:+.3f}"
            for d, entry in rater.dimensions.items()
            if entry.alpha_delta is not None
        )
        deviation = rater.mean_signed_deviation
        lines.append(
            f"  {str(rater.rater)[:20]:<20} {rater.completion:>8.0%} "
            f"{rater.cant_judge_rate:>5.0%} "
            f"{'—' if deviation is None else f'{deviation:+.2f}':>6} "
            f"{_number(rater.spearman, 2):>6}  {deltas}"
        )
    if len(raters) > max_raters:
        lines.append(f"  ... {len(raters) - max_raters} more")
    return lines


def _criterion_text(criterion: Mapping[str, object]) -> str:
    parts = []
    if criterion.get("max_iqr") is not None:
        parts.append(f"IQR <= {criterion['max_iqr']:g}")
    if criterion.get("min_share_within_one") is not None:
        parts.append(f"share within one point >= {criterion['min_share_within_one']:g}")
    if criterion.get("min_n") is not None:
        parts.append(f"n >= {criterion['min_n']}")
    return " and ".join(parts) or "no criterion set"


def _dimension_lines(dimension: Hashable, r: DimensionReliability) -> list[str]:
    lines = [
        f"  {dimension} ({r.level}): {r.n_raters} raters, {r.n_items} items, {r.n_values} values",
    ]
    lines.extend(_alpha_lines(r))
    lines.extend(_coefficient_lines(r))
    lines.extend(_icc_and_w_lines(r))
    if r.confusion:
        pairs = ", ".join(
            f"{pair.low:g}/{pair.high:g} {pair.share:.0%}" for pair in r.confusion[:3]
        )
        lines.append(f"    most confused levels: {pairs}")
    return lines


def _alpha_lines(r: DimensionReliability) -> list[str]:
    """Alpha at the dimension's level (interval, reading, the probability below the
    minimum), warnings, and alpha at every level."""
    primary = r.primary_alpha
    lines = []
    if primary.value is None:
        lines.append(f"    alpha ({r.level}): undefined: {primary.reason}")
    else:
        p = primary.p_below_minimum
        below = (
            f"Hayes-Krippendorff q = P(alpha* < {primary.minimum:.3f})"
            if primary.interval_method == "hayes-krippendorff"
            else f"bootstrap confidence of lying below {primary.minimum:.3f}"
        )
        lines.append(
            f"    alpha ({r.level}) = {primary.value:.3f}"
            f"{_interval(primary.ci_low, primary.ci_high)} -> {primary.reading}"
            + ("" if p is None else f"; {below}: {p:.3f}")
        )
        if primary.ci_low is not None and primary.interval_label:
            lines.append(f"    interval: {primary.interval_label}")
    lines.extend(f"    warning: {warning}" for warning in r.warnings())
    others = ", ".join(f"{level} {_number(a.value)}" for level, a in r.alpha.items())
    lines.append(f"    alpha by level: {others}")
    other_reasons = {a.reason for level, a in r.alpha.items() if a.reason and level != r.level}
    for reason in sorted(other_reasons - {primary.reason}):
        lines.append(f"      — undefined: {reason}")
    return lines


def _coefficient_lines(r: DimensionReliability) -> list[str]:
    coefficients = (
        ("Fleiss kappa", r.fleiss_kappa),
        ("Gwet AC1", r.gwet_ac1),
        ("AC2 ordinal", r.gwet_ac2_ordinal),
        ("AC2 quadratic", r.gwet_ac2_quadratic),
        ("Brennan-Prediger", r.brennan_prediger),
        ("agreement", r.percent_agreement),
    )
    lines = [
        "    "
        + "; ".join(
            f"{name} {_number(c.value)}{_interval(c.ci_low, c.ci_high)}" for name, c in coefficients
        )
    ]
    undefined: dict[str, list[str]] = {}
    no_interval: dict[str, list[str]] = {}
    for name, c in coefficients:
        if c.value is None and c.reason:
            undefined.setdefault(c.reason, []).append(name)
        elif c.value is not None and c.ci_low is None and c.ci_reason:
            no_interval.setdefault(c.ci_reason, []).append(name)
    for reason, names in undefined.items():
        lines.append(f"      — {', '.join(names)} undefined: {reason}")
    for reason, names in no_interval.items():
        lines.append(f"      — {', '.join(names)}: no interval: {reason}")
    return lines


def _icc_and_w_lines(r: DimensionReliability) -> list[str]:
    lines = []
    if r.icc.reason:
        lines.append(f"    ICC: undefined: {r.icc.reason}")
    else:
        forms = ", ".join(f"{form} {_number(r.icc.value(form))}" for form in ICC_FORMS)
        k = "" if r.icc.k is None else f", k = {r.icc.k:.3g}"
        lines.append(f"    ICC: {forms} ({r.icc.method}{k})")
    w = r.kendall_w
    lines.append(
        f"    Kendall's W: undefined: {w.reason}"
        if w.value is None
        else f"    Kendall's W = {w.value:.3f} (p = {w.p_value:.3g})"
    )
    return lines


def _subgroup_lines(result: PanelAnalysis) -> list[str]:
    subgroups = result.subgroups
    assert subgroups is not None
    lines = ["", f"Subgroups by {subgroups.attribute}"]
    for name, group in subgroups.groups.items():
        alphas = ", ".join(
            f"{d} {_number(r.primary_alpha.value)}" for d, r in group.dimensions.items()
        )
        lines.append(f"  {name} ({group.n_raters} raters): alpha {alphas}")
    for dimension, difference in subgroups.differences.items():
        if difference.p_value is None:
            lines.append(f"  {dimension}: no test — {difference.reason}")
        else:
            lines.append(
                f"  {dimension}: Kruskal-Wallis H = {difference.statistic:.2f}, "
                f"df = {difference.df}, p = {difference.p_value:.3g}"
            )
    return lines
