"""Result objects of the analysis package: frozen dataclasses with a JSON-ready ``to_dict``.

Conventions shared by every result:

* an undefined statistic is ``None`` and a ``reason`` (or an entry of ``reasons``) says
  why, never NaN;
* ``to_dict()`` returns only dicts, lists, str, int, float, bool and None, so
  ``json.dumps(result.to_dict(), allow_nan=False)`` always works;
* labels (raters, items, dimensions) keep their type when JSON has one (str, int,
  float, bool) and become text otherwise.
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Mapping
from dataclasses import dataclass, field, fields
from typing import Any, Protocol, TypeAlias, runtime_checkable

import numpy as np

__all__ = [
    "AgreementCoefficients",
    "AlphaResult",
    "Coefficient",
    "ConfusionPair",
    "DimensionReliability",
    "Estimate",
    "GroupAnalysis",
    "GroupDifference",
    "ICCResult",
    "ICCTable",
    "ItemConsensus",
    "KendallW",
    "PanelAnalysis",
    "RaterDiagnostics",
    "RaterDimension",
    "SubgroupAnalysis",
]


#: Fewer items than this with two or more values earn a dimension a warning (the
#: coefficients stay defined from two: see ``analysis.reliability.MIN_PAIRABLE_ITEMS``).
FEW_ITEMS = 5


@runtime_checkable
class _HasToDict(Protocol):
    def to_dict(self) -> dict[str, Any]: ...


def jsonable(value: object) -> object:
    """Plain-Python copy of ``value`` for JSON: numpy scalars unwrapped, NaN/inf to None."""
    if isinstance(value, Mapping):
        return {label(key): jsonable(item) for key, item in value.items()}
    if isinstance(value, list | tuple | np.ndarray):
        return [jsonable(item) for item in value]
    if isinstance(value, bool | np.bool_):
        return bool(value)
    if isinstance(value, int | np.integer):
        return int(value)
    if isinstance(value, float | np.floating):
        number = float(value)
        return number if math.isfinite(number) else None
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, _HasToDict):
        return value.to_dict()
    return str(value)


def json_object(fields: Mapping[str, object]) -> dict[str, Any]:
    """:func:`jsonable` of each field: what a result's ``to_dict`` returns."""
    return {key: jsonable(value) for key, value in fields.items()}


def json_attributes(result: object, *names: str) -> dict[str, Any]:
    """:func:`json_object` of the named attributes (fields or properties) of ``result``,
    in that order."""
    return json_object({name: getattr(result, name) for name in names})


#: A label as JSON carries it.
Label: TypeAlias = str | int | float | bool


def label(value: Hashable) -> Label:
    """A label as JSON can carry it (dict keys become text in JSON anyway)."""
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str | int | float | bool):
        return value
    return str(value)


def _key(value: Hashable) -> str:
    return str(label(value))


class Record:
    """Base of the result dataclasses whose JSON form is simply their fields, in order.

    ``to_dict`` converts each field for JSON: a label (a field annotated ``Hashable``) by
    :func:`label`, a mapping with its keys as text (as JSON has them), anything else by
    :func:`jsonable` (nested results by their own ``to_dict``). A result whose JSON form
    differs (derived entries, another order) writes its own ``to_dict``.
    """

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for f in fields(self):  # type: ignore[arg-type]  # subclasses are dataclasses
            value = getattr(self, f.name)
            if f.type == "Hashable":
                out[f.name] = label(value)
            elif isinstance(value, Mapping):
                out[f.name] = {_key(k): jsonable(v) for k, v in value.items()}
            else:
                out[f.name] = jsonable(value)
        return out


@dataclass(frozen=True, kw_only=True)
class Estimate:
    """A value with an optional 95% confidence interval: ``reason`` says why the value is
    undefined (None), ``ci_reason`` why the interval is when the value is not."""

    value: float | None
    reason: str | None = None
    ci_low: float | None = None
    ci_high: float | None = None
    ci_reason: str | None = None

    @property
    def ci(self) -> tuple[float, float] | None:
        if self.ci_low is None or self.ci_high is None:
            return None
        return (self.ci_low, self.ci_high)


@dataclass(frozen=True, kw_only=True)
class Coefficient(Estimate):
    """A point estimate with an optional 95% bootstrap confidence interval.

    ``n_bootstrap`` counts the replicates used (those where the coefficient is defined).
    """

    name: str
    n_bootstrap: int = 0

    def to_dict(self) -> dict[str, Any]:
        return json_attributes(self, "name", "value", "reason", "ci", "ci_reason", "n_bootstrap")


#: Alpha's interval methods, by the key results carry, with the name readers see.
INTERVAL_METHODS = {
    "two-way": (
        "two-way bootstrap of raters and items, bias-corrected interval with Student's t "
        "(Satterthwaite's df)"
    ),
    "items-bca": "bootstrap of items (raters fixed), BCa interval",
    "hayes-krippendorff": (
        "Hayes-Krippendorff bootstrap of pairable values (KALPHA), percentile interval"
    ),
}


@dataclass(frozen=True, kw_only=True)
class AlphaResult(Coefficient):
    """Krippendorff's alpha at one level of measurement.

    ``interval_method`` names how the interval was computed (a key of
    :data:`INTERVAL_METHODS`). ``p_below_minimum`` is the confidence that alpha is below
    ``minimum`` read from that same construction: Student's t with raters and items
    sampled ("two-way"), BCa with raters fixed ("items-bca"), and with "hayes-krippendorff" it
    is Hayes & Krippendorff's q, the share of their bootstrap replicates below the
    minimum. ``reading`` is "acceptable" (>= 0.800), "tentative" (>= 0.667) or
    "unacceptable".
    """

    level: str = "ordinal"
    minimum: float = 0.667
    p_below_minimum: float | None = None
    reading: str | None = None
    n_pairable_units: int = 0
    n_pairable_values: int = 0
    interval_method: str | None = None

    @property
    def interval_label(self) -> str | None:
        """The interval method's name for readers."""
        if self.interval_method is None:
            return None
        return INTERVAL_METHODS.get(self.interval_method, self.interval_method)

    def to_dict(self) -> dict[str, Any]:
        return {
            **super().to_dict(),
            **json_attributes(
                self,
                "level",
                "minimum",
                "p_below_minimum",
                "reading",
                "n_pairable_units",
                "n_pairable_values",
                "interval_method",
                "interval_label",
            ),
        }


@dataclass(frozen=True)
class AgreementCoefficients:
    """The kappa-type coefficients of one dimension (Fleiss, Gwet, Brennan-Prediger)."""

    fleiss_kappa: Coefficient
    gwet_ac1: Coefficient
    gwet_ac2_ordinal: Coefficient
    gwet_ac2_quadratic: Coefficient
    brennan_prediger: Coefficient
    percent_agreement: Coefficient

    def by_name(self) -> dict[str, Coefficient]:
        """The coefficients by their field names, in this order."""
        return {f.name: getattr(self, f.name) for f in fields(AgreementCoefficients)}

    def to_dict(self) -> dict[str, Any]:
        return {name: c.to_dict() for name, c in self.by_name().items()}


@dataclass(frozen=True, kw_only=True)
class ICCResult(Estimate):
    """One Shrout & Fleiss form with its 95% confidence interval.

    With complete data the interval is McGraw & Wong's exact F-based one and ``f``,
    ``df1``, ``df2``, ``p_value`` are the F test of no item variance; with missing data
    (REML) they are ``None`` and the interval is the large-sample one described in
    :func:`analysis.reliability.intraclass_correlations`. ``reason`` says why ``value``
    is undefined, ``ci_reason`` why the interval is when the value is not.
    """

    form: str
    f: float | None = None
    df1: int | None = None
    df2: int | None = None
    p_value: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return json_attributes(
            self, "form", "value", "ci", "f", "df1", "df2", "p_value", "reason", "ci_reason"
        )


@dataclass(frozen=True)
class ICCTable(Record):
    """The six ICC forms of one dimension and the data they were computed from.

    ``method`` is "ANOVA (complete data)" or "REML (all N ratings)"; ``n_ratings``,
    ``n_items`` and ``n_raters`` count what was used (every rating: nothing is
    dropped); ``k`` is the number of ratings the k-forms average (the number of raters
    with complete data, the mean number of ratings per item otherwise); ``components``
    holds the variance estimates ("item", "rater", "residual" of the two-way model and
    "within" of the one-way model).
    """

    forms: Mapping[str, ICCResult]
    n_items: int
    n_raters: int
    n_ratings: int = 0
    k: float | None = None
    method: str | None = None
    components: Mapping[str, float] = field(default_factory=dict)
    reason: str | None = None

    def value(self, form: str) -> float | None:
        return self.forms[form].value


@dataclass(frozen=True)
class KendallW(Record):
    """Kendall's coefficient of concordance with tie correction and its chi-square test."""

    value: float | None
    chi2: float | None = None
    df: int | None = None
    p_value: float | None = None
    n_items: int = 0
    n_raters: int = 0
    reason: str | None = None


@dataclass(frozen=True)
class ConfusionPair:
    """Two anchor levels the panel puts on the same item: share of all disagreement."""

    low: float
    high: float
    share: float
    ratio_to_chance: float | None

    def to_dict(self) -> dict[str, Any]:
        return json_object(
            {
                "levels": [self.low, self.high],
                "share": self.share,
                "ratio_to_chance": self.ratio_to_chance,
            }
        )


@dataclass(frozen=True)
class DimensionReliability(AgreementCoefficients):
    """Every reliability coefficient of one dimension: the kappa-type coefficients and
    the rest."""

    dimension: Hashable
    level: str
    n_raters: int
    n_items: int
    n_values: int
    alpha: Mapping[str, AlphaResult]
    icc: ICCTable
    kendall_w: KendallW
    confusion: tuple[ConfusionPair, ...] = ()

    @property
    def primary_alpha(self) -> AlphaResult:
        """Alpha at the dimension's own level of measurement."""
        return self.alpha[self.level]

    def warnings(self) -> list[str]:
        """What a reader must know before trusting the coefficients, though they are
        defined: with fewer than :data:`FEW_ITEMS` items that have two or more values,
        chance alone often gives a kappa of 1.0 or an alpha near 0 (two items rated
        alike by chance are "perfect agreement")."""
        pairable = self.primary_alpha.n_pairable_units
        if 0 < pairable < FEW_ITEMS:
            return [
                f"only {pairable} item{'s' if pairable != 1 else ''} with two or more values: "
                "every coefficient rests on them, and with so few a perfect or a null "
                "agreement happens by chance; read the interval, not the value"
            ]
        return []

    def reasons(self) -> dict[str, str]:
        reasons: dict[str, str] = {}
        for level, result in self.alpha.items():
            if result.reason:
                reasons[f"krippendorff_alpha.{level}"] = result.reason
            elif result.ci_reason:
                reasons[f"krippendorff_alpha_ci.{level}"] = result.ci_reason
        for key, coefficient in self.by_name().items():
            if coefficient.reason:
                reasons[key] = coefficient.reason
            elif coefficient.ci_reason:
                reasons[f"ci.{key}"] = coefficient.ci_reason
        for form, icc in self.icc.forms.items():
            if icc.reason:
                reasons[f"icc.{form}"] = icc.reason
            elif icc.ci_reason:
                reasons[f"icc_ci.{form}"] = icc.ci_reason
        if self.kendall_w.reason:
            reasons["kendall_w"] = self.kendall_w.reason
        return reasons

    def to_dict(self) -> dict[str, Any]:
        coefficients = self.by_name()
        primary = self.primary_alpha
        return json_object(
            {
                "dimension": label(self.dimension),
                "level": self.level,
                "n_raters": self.n_raters,
                "n_items": self.n_items,
                "n_values": self.n_values,
                "krippendorff_alpha": {k: a.value for k, a in self.alpha.items()},
                "krippendorff_alpha_ci": {k: a.ci for k, a in self.alpha.items()},
                "krippendorff_alpha_p_below_minimum": {
                    k: a.p_below_minimum for k, a in self.alpha.items()
                },
                "krippendorff_alpha_interval": primary.interval_label,
                "minimum_alpha": primary.minimum,
                "reading": primary.reading,
                **{key: c.value for key, c in coefficients.items()},
                "ci": {key: c.ci for key, c in coefficients.items()},
                "icc": {form: result.value for form, result in self.icc.forms.items()},
                "icc_ci": {
                    form: None if r.ci_low is None else [r.ci_low, r.ci_high]
                    for form, r in self.icc.forms.items()
                },
                "icc_data": {
                    "method": self.icc.method,
                    "n_ratings": self.icc.n_ratings,
                    "n_items": self.icc.n_items,
                    "n_raters": self.icc.n_raters,
                    "k": self.icc.k,
                },
                "kendall_w": self.kendall_w.value,
                "kendall_w_p_value": self.kendall_w.p_value,
                "confusion": [pair.to_dict() for pair in self.confusion],
                "reasons": self.reasons(),
                "warnings": self.warnings(),
                "details": {
                    "krippendorff_alpha": {k: a.to_dict() for k, a in self.alpha.items()},
                    **{key: c.to_dict() for key, c in coefficients.items()},
                    "icc": self.icc.to_dict(),
                    "kendall_w": self.kendall_w.to_dict(),
                },
            }
        )


@dataclass(frozen=True)
class ItemConsensus(Record):
    """Central score and agreement of the panel on one item x dimension."""

    item: Hashable
    dimension: Hashable
    n: int
    median: float | None
    mean: float | None
    sd: float | None
    q1: float | None
    q3: float | None
    iqr: float | None
    share_within_one: float | None
    modal_value: float | None
    modal_share: float | None
    modal_tied: bool
    n_cant_judge: int
    n_outside_expertise: int
    mean_confidence: float | None
    consensus: bool | None
    consensus_reason: str | None = None
    modal_tier: str | None = None
    modal_tier_share: float | None = None


@dataclass(frozen=True)
class RaterDimension(Record):
    """One rater's diagnostics on one dimension."""

    n_values: int
    mean_signed_deviation: float | None
    spearman: float | None
    alpha_without: float | None
    alpha_delta: float | None
    reasons: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class RaterDiagnostics:
    """How one expert rated: completion, abstentions, severity, fit with the panel."""

    rater: Hashable
    n_cells: int
    n_values: int
    completion: float
    cant_judge_rate: float
    outside_expertise_rate: float
    mean_signed_deviation: float | None
    spearman: float | None
    dimensions: Mapping[Hashable, RaterDimension]
    reasons: Mapping[str, str] = field(default_factory=dict)
    attributes: Mapping[str, object] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return json_object(
            {
                "rater": label(self.rater),
                "n_cells": self.n_cells,
                "n_values": self.n_values,
                "completion": self.completion,
                "cant_judge_rate": self.cant_judge_rate,
                "outside_expertise_rate": self.outside_expertise_rate,
                "mean_signed_deviation": self.mean_signed_deviation,
                "spearman": self.spearman,
                "reasons": dict(self.reasons),
                "attributes": dict(self.attributes),
                "dimensions": {
                    _key(name): value.to_dict() for name, value in self.dimensions.items()
                },
            }
        )


@dataclass(frozen=True)
class GroupDifference(Record):
    """Do rater groups differ on a dimension? Kruskal-Wallis on rater mean deviations."""

    dimension: Hashable
    test: str
    statistic: float | None
    df: int | None
    p_value: float | None
    n_raters: Mapping[Hashable, int]
    median_deviation: Mapping[Hashable, float | None]
    reason: str | None = None


@dataclass(frozen=True)
class GroupAnalysis(Record):
    """Reliability and consensus of one subgroup of raters."""

    group: Hashable
    n_raters: int
    dimensions: Mapping[Hashable, DimensionReliability]
    items: tuple[ItemConsensus, ...]


@dataclass(frozen=True)
class SubgroupAnalysis:
    """The panel split by a rater attribute, with a test of group differences."""

    attribute: str
    groups: Mapping[Hashable, GroupAnalysis]
    differences: Mapping[Hashable, GroupDifference]
    n_raters_unassigned: int = 0

    def to_dict(self) -> dict[str, Any]:
        return json_object(
            {
                "attribute": self.attribute,
                "n_raters_unassigned": self.n_raters_unassigned,
                "groups": {_key(k): v.to_dict() for k, v in self.groups.items()},
                "differences": {_key(k): v.to_dict() for k, v in self.differences.items()},
            }
        )


@dataclass(frozen=True)
class PanelAnalysis:
    """Everything :func:`analysis.summary.analyze` computes for one panel and round."""

    dimensions: Mapping[Hashable, DimensionReliability]
    items: tuple[ItemConsensus, ...]
    raters: tuple[RaterDiagnostics, ...]
    subgroups: SubgroupAnalysis | None
    settings: Mapping[str, object]
    #: Reliability per dimension within each group of items (None when not asked for).
    item_groups: Mapping[Hashable, Mapping[Hashable, DimensionReliability]] | None = None

    def to_dict(self) -> dict[str, Any]:
        return json_object(
            {
                "dimensions": {_key(k): v.to_dict() for k, v in self.dimensions.items()},
                "items": [item.to_dict() for item in self.items],
                "raters": [rater.to_dict() for rater in self.raters],
                "subgroups": None if self.subgroups is None else self.subgroups.to_dict(),
                "item_groups": None
                if self.item_groups is None
                else {
                    _key(group): {_key(d): r.to_dict() for d, r in dims.items()}
                    for group, dims in self.item_groups.items()
                },
                "settings": dict(self.settings),
            }
        )


# --- the panel split by the language the survey was read in (analysis/languages.py) -----


@dataclass(frozen=True)
class LanguageDifference(Record):
    """Do one item's ratings on one dimension differ by language? A Kruskal-Wallis H
    with its permutation p-value, Holm-adjusted across the round's items and dimensions."""

    item: Hashable
    dimension: Hashable
    test: str
    statistic: float | None
    df: int | None
    p_value: float | None
    p_holm: float | None
    #: Differs beyond chance: ``p_holm`` below the level the split was run at.
    flagged: bool
    n: Mapping[Hashable, int]
    median: Mapping[Hashable, float | None]
    n_permutations: int
    reason: str | None = None


@dataclass(frozen=True)
class LanguageGroup:
    """Reliability and consensus of the ratings given in one language (``reason`` when
    they could not be analysed at all)."""

    language: Hashable
    n_raters: int
    n_ratings: int
    dimensions: Mapping[Hashable, DimensionReliability]
    items: tuple[ItemConsensus, ...]
    reason: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return json_object(
            {
                "language": label(self.language),
                "n_raters": self.n_raters,
                "n_ratings": self.n_ratings,
                "dimensions": {_key(k): v.to_dict() for k, v in self.dimensions.items()},
                "items": [item.to_dict() for item in self.items],
                "reason": self.reason,
            }
        )


@dataclass(frozen=True)
class LanguageSplit:
    """The ratings split by language: each language's reliability and consensus, and per
    item and dimension a test of whether the languages' ratings differ."""

    groups: Mapping[Hashable, LanguageGroup]
    differences: tuple[LanguageDifference, ...]
    #: The family-wise level of the Holm procedure.
    alpha: float
    #: Ratings that carry no language (given before surveys had languages).
    n_unknown: int = 0

    @property
    def flagged(self) -> tuple[LanguageDifference, ...]:
        return tuple(d for d in self.differences if d.flagged)

    def to_dict(self) -> dict[str, Any]:
        return json_object(
            {
                "alpha": self.alpha,
                "correction": "holm",
                "n_unknown": self.n_unknown,
                "groups": {_key(k): v.to_dict() for k, v in self.groups.items()},
                "differences": [d.to_dict() for d in self.differences],
            }
        )
