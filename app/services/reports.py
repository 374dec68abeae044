"""Reliability reports of a round: the round's ratings -> ``analysis`` -> JSON, CSV or HTML.

All statistics come from the pure ``analysis`` package; this module only fetches the
ratings, passes the survey's own settings (levels of measurement, scales, the frozen
consensus criterion, the minimum alpha) and shapes the output.
"""

from __future__ import annotations

import base64
import contextlib
import functools
import hashlib
import html
import json
import re
from collections.abc import Hashable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, cast

from pydantic_core import to_jsonable_python
from sqlalchemy import select as sa_select
from sqlmodel import Session, col, func, select

from app import i18n
from app.errors import Conflict
from app.models import Expert, Rating, Response, Round
from app.reasons import translate_reason
from app.services.answer_store import of_round
from app.services.csv_out import write_csv
from app.services.quantities import PanelQuantiles, panel_quantiles
from app.services.rounds import (
    RoundDetails,
    get_round,
    round_definition,
    round_details,
    round_items,
)
from app.services.sensitivity import SensitivitySummary, panel_sensitivity
from app.survey_files import HOLISTIC_TIER_KEY, SurveyDefinition, language_name
from app.templating import STATIC_DIR, shared_environment

if TYPE_CHECKING:
    import pandas as pd

    from analysis.calibration import CaseWeights, TierRule
    from analysis.cooke import CookeResult
    from analysis.reference import ReferenceAgreement
    from analysis.results import LanguageSplit, PanelAnalysis
    from analysis.severity import SeverityResult, TierChange
    from analysis.weighting import WeightingComparison

# numpy, pandas, scipy and matplotlib (through ``analysis``) are imported inside the
# functions that use them: a web worker that never builds a report starts in well under a
# second instead of three or four.

FORMATS = ("html", "json", "csv")


@dataclass(frozen=True)
class SeveritySection:
    """Rater severity on the tier rule's dimensions (a many-facet Rasch model) and the
    items whose tier changes when their scores are severity-adjusted; ``reason`` when the
    model could not be fitted."""

    result: SeverityResult | None
    tier_changes: tuple[TierChange, ...] = ()
    reason: str | None = None
    #: The severity-adjusted ratings the tier changes were found with, kept so the
    #: weighting comparison calibrates on the same table instead of adjusting again (not
    #: part of the report's output).
    adjusted: pd.DataFrame | None = field(default=None, compare=False, repr=False)

    def to_dict(self) -> dict[str, Any]:
        fitted = self.result.to_dict() if self.result is not None else {}
        return {
            **fitted,
            "reason": self.reason or fitted.get("reason"),
            "tier_changes": [change.to_dict() for change in self.tier_changes],
        }


@dataclass(frozen=True)
class LeftOut:
    """An expert left out of Cooke's model, and why."""

    expert: str
    reason: str


@dataclass(frozen=True)
class CookeSection:
    """Seed questions (Cooke's classical model): each expert's calibration, information
    and performance weight (optimised cutoff), the decision maker's quantiles, item- and
    expert-robustness; ``reason`` when it cannot be computed (no seed question, fewer than
    two experts who answered every quantity question)."""

    result: CookeResult | None
    reason: str | None = None
    #: Experts who answered some but not every quantity question (the model needs all).
    left_out: tuple[LeftOut, ...] = ()
    #: Question labels and units, for the tables.
    labels: dict[str, str] | None = None

    @property
    def weights(self) -> dict[Hashable, float] | None:
        """Each expert's performance weight by expert code, when the model could be
        computed."""
        if self.result is None:
            return None
        return {str(expert): weight for expert, weight in self.result.weights.items()}

    def to_dict(self) -> dict[str, Any]:
        fitted = self.result.to_dict() if self.result is not None else {}
        return {
            **fitted,
            "reason": self.reason,
            "left_out": [{"expert": x.expert, "reason": x.reason} for x in self.left_out],
        }


@dataclass(frozen=True)
class RoundReport:
    round: RoundDetails
    definition: SurveyDefinition
    analysis: PanelAnalysis
    settings: dict[str, Any]
    severity: SeveritySection | None = None
    #: Agreement with the calibration items' reference values (None: the survey has none).
    reference: ReferenceAgreement | None = None
    #: Each item's tier under equal and other expert weightings.
    weighting: WeightingComparison | None = None
    #: The ratings split by the language they were given in (a survey in one language
    #: has none).
    languages: LanguageSplit | None = None
    #: Cooke's classical model on the quantity questions (None: the survey asks none).
    cooke: CookeSection | None = None
    #: Which context factors the panel said would change their ratings (None: not asked).
    sensitivity: SensitivitySummary | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "round": to_jsonable_python(self.round),
            "survey": {
                "slug": self.definition.slug,
                "version": self.round.survey_version,
                "title": self.definition.title,
                "minimum_alpha": self.definition.reliability.minimum_alpha,
            },
            "settings": self.settings,
            **self.analysis.to_dict(),
            "severity": self.severity.to_dict() if self.severity is not None else None,
            "reference": self.reference.to_dict() if self.reference is not None else None,
            "weighting": self.weighting.to_dict() if self.weighting is not None else None,
            # Experts who withdrew: their answers were deleted, so they are in no figure.
            "n_withdrawn": self.settings.get("n_withdrawn", 0),
            "by_language": self.languages.to_dict() if self.languages is not None else None,
            "seed_questions": self.cooke.to_dict() if self.cooke is not None else None,
            "factor_sensitivity": (
                self.sensitivity.to_dict() if self.sensitivity is not None else None
            ),
        }


#: One rating as the analysis reads it: (rater, item, dimension, value, status, confidence,
#: organisation, group, language). Plain tuples: cheap to read in a web worker (no ORM
#: objects, no pandas) and to send to the computing process, which builds the table.
RatingTuple = tuple[str, str, str, int | None, str, str | None, str | None, str | None, str | None]
FRAME_COLUMNS = (
    "rater",
    "item",
    "dimension",
    "value",
    "status",
    "confidence",
    "organisation",
    "group",
    "language",
)


def analysis_rows(
    session: Session, *, round_id: int, include_drafts: bool = False
) -> list[RatingTuple]:
    """The round's ratings for analysis, ordered by rater, item and dimension."""
    # SQLAlchemy's own select: SQLModel's typed one stops at four columns.
    columns = sa_select(
        col(Expert.code),
        col(Rating.item_key),
        col(Rating.dimension_key),
        col(Rating.value),
        col(Rating.status),
        col(Rating.confidence),
        col(Expert.organisation),
        col(Expert.stakeholder_group),
        col(Rating.language),
    )
    query = of_round(columns, Rating, round_id=round_id, include_drafts=include_drafts).order_by(
        col(Expert.code), col(Rating.item_key), col(Rating.dimension_key)
    )
    return [cast(RatingTuple, tuple(row)) for row in session.execute(query).all()]


def frame_of(rows: list[RatingTuple]) -> pd.DataFrame:
    """The tidy table ``analysis`` takes (abstentions as NaN, confidence as a number)."""
    import numpy as np
    import pandas as pd

    from analysis.tidy import CONFIDENCE_WORDS

    frame = pd.DataFrame(
        [
            (
                rater,
                item,
                dimension,
                float(value) if value is not None else np.nan,
                status,
                CONFIDENCE_WORDS.get(confidence or "", np.nan),
                organisation or None,
                group or None,
                language or None,
            )
            for (
                rater,
                item,
                dimension,
                value,
                status,
                confidence,
                organisation,
                group,
                language,
            ) in rows
        ],
        columns=list(FRAME_COLUMNS),
    )
    return frame.astype({"value": "float64"})


def ratings_frame(session: Session, *, round_id: int, include_drafts: bool = False) -> pd.DataFrame:
    """The round's ratings as the tidy table ``analysis`` takes (NotFound for no round)."""
    get_round(session, round_id=round_id)
    return frame_of(analysis_rows(session, round_id=round_id, include_drafts=include_drafts))


@dataclass(frozen=True)
class ReportInputs:
    """Everything a report is computed from, read from the database in one short unit of
    work; plain data (picklable), so the computation can run in another process."""

    round: RoundDetails
    definition: SurveyDefinition
    rows: list[RatingTuple]
    settings: dict[str, Any]
    analyze_options: dict[str, Any]
    #: The quantile answers to the quantity questions.
    quantiles: tuple[PanelQuantiles, ...] = ()
    sensitivity: SensitivitySummary | None = None

    @property
    def frame(self) -> pd.DataFrame:
        return frame_of(self.rows)


@dataclass(frozen=True)
class ReportOptions:
    """What a person chooses when asking for a report (the survey file sets the rest)."""

    n_bootstrap: int = 1000
    seed: int = 0
    group_by: str | None = None
    include_drafts: bool = False
    #: Alpha's interval: "two-way" or "hayes-krippendorff" ("hk").
    alpha_interval: str = "two-way"


def withdrawn_count(session: Session, *, round_id: int) -> int:
    """How many experts withdrew from the round."""
    return session.exec(
        select(func.count())
        .select_from(Response)
        .where(Response.round_id == round_id, col(Response.withdrawn_at).is_not(None))
    ).one()


def report_inputs(
    session: Session, *, round_id: int, options: ReportOptions = ReportOptions()
) -> ReportInputs:
    """Read what a round's report needs (Conflict if the round has no ratings yet)."""
    n_bootstrap, seed, group_by = options.n_bootstrap, options.seed, options.group_by
    include_drafts = options.include_drafts
    round_ = get_round(session, round_id=round_id)
    definition = round_definition(session, round_)
    rows = analysis_rows(session, round_id=round_id, include_drafts=include_drafts)
    if not rows:
        raise Conflict(
            i18n.N_("round %(round)s has no submitted ratings yet")
            if include_drafts
            else i18n.N_(
                "round %(round)s has no submitted ratings yet; include drafts to analyse work in "
                "progress"
            ),
            values={"round": round_id},
        )
    if group_by not in (None, "organisation", "group"):
        raise _bad_group(group_by)
    alpha_interval = _alpha_interval(options.alpha_interval)
    levels = {d.key: d.measurement for d in definition.dimensions}
    scales: dict[str, list[float]] = {
        d.key: [float(v) for v in d.scale.values] for d in definition.dimensions
    }
    tier_labels = None
    tier_dimensions: tuple[str, ...] = ()
    if definition.holistic_tier.enabled:
        levels[HOLISTIC_TIER_KEY] = "ordinal"
        scales[HOLISTIC_TIER_KEY] = [float(i) for i in range(len(definition.tiers))]
        tier_labels = {float(i): t.label for i, t in enumerate(definition.tiers)}
        tier_dimensions = (HOLISTIC_TIER_KEY,)
    consensus = _criterion(round_, definition)
    groups = {i.key: g for i in definition.items if (g := definition.group_of(i))}
    analyze_options = {
        "levels": levels,
        "n_bootstrap": n_bootstrap,
        "seed": seed,
        "minimum_alpha": definition.reliability.minimum_alpha,
        "alpha_interval": alpha_interval,
        "consensus": consensus,
        "group_by": group_by,
        "scales": scales,
        "tier_dimensions": tier_dimensions,
        "tier_labels": tier_labels,
        "item_groups": groups or None,
    }
    settings = {
        "n_bootstrap": n_bootstrap,
        "seed": seed,
        "group_by": group_by,
        "include_drafts": include_drafts,
        "alpha_interval": alpha_interval,
        "consensus": consensus,
        "levels": levels,
        # Withdrawn experts' answers were deleted: they are in no analysis, and the
        # report says how many withdrew.
        "n_withdrawn": withdrawn_count(session, round_id=round_id),
    }
    quantiles = tuple(
        panel_quantiles(session, round_id=round_id, include_drafts=include_drafts)
        if definition.quantities
        else ()
    )
    sensitivity = panel_sensitivity(
        session,
        round_id=round_id,
        definition=definition,
        item_keys=[item.key for item in round_items(round_, definition)],
        include_drafts=include_drafts,
    )
    return ReportInputs(
        round_details(session, round_),
        definition,
        rows,
        settings,
        analyze_options,
        quantiles,
        sensitivity,
    )


def compute_report(inputs: ReportInputs) -> RoundReport:
    """Run the analysis on what ``report_inputs`` read (no database)."""
    from analysis.summary import analyze
    from analysis.tidy import validate_ratings

    # Checked once here: the analysis and the weighting comparison take it as checked
    # (each would otherwise check every rating again, once per weighting).
    frame = validate_ratings(inputs.frame)
    result = analyze(frame, validated=True, **inputs.analyze_options)
    severity = severity_section(frame, inputs.definition)
    reference = reference_section(frame, inputs.definition)
    cooke = cooke_section(inputs.quantiles, inputs.definition)
    return RoundReport(
        inputs.round,
        inputs.definition,
        result,
        inputs.settings,
        severity=severity,
        reference=reference,
        weighting=weighting_section(frame, inputs.definition, severity, reference, cooke),
        languages=language_section(frame, inputs.definition, inputs.analyze_options),
        cooke=cooke,
        sensitivity=inputs.sensitivity,
    )


#: Permutations of each test whether an item's ratings differ by language.
LANGUAGE_PERMUTATIONS = 2000


def language_section(
    frame: pd.DataFrame, definition: SurveyDefinition, analyze_options: dict[str, Any]
) -> LanguageSplit | None:
    """The ratings split by language, for a survey given in more than one."""
    if len(definition.languages) < 2:
        return None
    from analysis.languages import split_by_language
    from analysis.summary import analyze

    options = {**analyze_options, "group_by": None, "item_groups": None}
    return split_by_language(
        frame,
        # Each language's part comes validated: no need to check every rating again.
        analyze=lambda part: analyze(part, validated=True, **options),
        n_permutations=LANGUAGE_PERMUTATIONS,
        seed=analyze_options.get("seed"),
    )


def weighting_section(
    frame: pd.DataFrame,
    definition: SurveyDefinition,
    severity: SeveritySection,
    reference: ReferenceAgreement | None,
    cooke: CookeSection | None = None,
) -> WeightingComparison:
    """Each item's tier with the thresholds calibrated under each weighting: equal weights,
    the calibration items' weights if there are any, Cooke's performance weights if there
    are any, severity-adjusted ratings if the severity model was fitted, and each rating
    weighted by the expert's own confidence as a sensitivity analysis. ``frame``: the
    ratings as :func:`analysis.tidy.validate_ratings` returns them."""
    from analysis.calibration import CaseWeights
    from analysis.severity import severity_adjusted_ratings
    from analysis.weighting import (
        Scheme,
        compare_calibrations,
        confidence_weights,
        reference_weights,
    )

    raters = sorted(frame["rater"].unique(), key=str)
    schemes: dict[str, Scheme] = {"equal": (None, None)}
    if reference is not None:
        kappas = {e.rater: e.kappa for e in reference.experts}
        schemes["calibration items"] = (
            None,
            CaseWeights(reference_weights(kappas, raters), name="calibration items"),
        )
    if cooke is not None and cooke.weights is not None:
        schemes["performance"] = (None, performance_weights(cooke.weights, raters))
    if severity.result is not None and severity.result.fitted:
        adjusted = severity.adjusted
        if adjusted is None:
            adjusted = severity_adjusted_ratings(frame, severity.result)
        schemes["severity-adjusted"] = (adjusted, CaseWeights(name="severity-adjusted ratings"))
    confidence = frame.assign(confidence_weight=confidence_weights(frame))
    schemes["confidence (sensitivity only)"] = (
        confidence,
        CaseWeights(column="confidence_weight", name="confidence (sensitivity only)"),
    )
    # The ratings, the severity-adjusted ones and the confidence table built from the
    # ratings all come validated (compute_report checks the ratings once).
    return compare_calibrations(
        frame, rule=calibration_rule(definition), schemes=schemes, validated=True
    )


def performance_weights(weights: Mapping[Any, float], raters: list[Any]) -> CaseWeights:
    """Cooke's global weights as the calibration's case weights: an expert without one (who
    did not answer every quantity question) weighs nothing."""
    from analysis.calibration import CaseWeights

    return CaseWeights({r: weights.get(str(r), 0.0) for r in raters}, name="performance")


def calibration_rule(definition: SurveyDefinition, *, keys: bool = False) -> TierRule:
    """The survey's tier rule as the calibration takes it: declared thresholds, the first
    rule dimension's scale, the holistic tier dimension; tiers named by label (by key
    with ``keys``)."""
    from analysis.calibration import TierRule

    rule = definition.tier_rule
    first = definition.dimension(rule.dimensions[0]).scale
    return TierRule(
        dimensions=list(rule.dimensions),
        aggregate=rule.aggregate,
        n_tiers=len(definition.tiers),
        initial_thresholds=[rule.thresholds[t.key] for t in definition.tiers[1:]],
        scale=(first.min, first.max),
        tier_dimension=HOLISTIC_TIER_KEY,
        tier_names=[t.key if keys else t.label for t in definition.tiers],
    )


def cooke_section(
    answers: tuple[PanelQuantiles, ...] | list[PanelQuantiles],
    definition: SurveyDefinition,
    *,
    robustness: bool = True,
) -> CookeSection | None:
    """Cooke's classical model on the experts who answered every quantity question (None
    when the survey asks none); ``robustness`` False leaves out the leave-one-out tables
    (the weights are the same)."""
    if not definition.quantities:
        return None
    labels = {q.key: q.label for q in definition.quantities}
    if not definition.seed_questions:
        return CookeSection(
            None,
            "the survey has no seed question (a quantity question with a known realisation): "
            "without one no expert can be scored",
            labels=labels,
        )
    asked = [q.key for q in definition.quantities]
    by_expert: dict[str, dict[str, PanelQuantiles]] = {}
    for answer in answers:
        if answer.question in labels:
            by_expert.setdefault(answer.expert, {})[answer.question] = answer
    complete = sorted(e for e, given in by_expert.items() if len(given) == len(asked))
    left_out = tuple(
        LeftOut(e, f"answered {len(given)} of the {len(asked)} quantity questions")
        for e, given in sorted(by_expert.items())
        if len(given) < len(asked)
    )
    if len(complete) < 2:
        return CookeSection(
            None,
            f"{len(complete)} expert{'s' if len(complete) != 1 else ''} answered every quantity "
            "question; the model needs at least two",
            left_out,
            labels,
        )
    import numpy as np
    import pandas as pd

    from analysis.cooke import COLUMNS, combine_experts

    realisations = {q.key: q.realisation for q in definition.quantities}
    frame = pd.DataFrame(
        [
            (
                expert,
                key,
                by_expert[expert][key].q05,
                by_expert[expert][key].q50,
                by_expert[expert][key].q95,
                np.nan if realisations[key] is None else realisations[key],
            )
            for expert in complete
            for key in asked
        ],
        columns=list(COLUMNS),
    )
    try:
        result = combine_experts(frame, robustness=robustness)
    except ValueError as exc:
        return CookeSection(None, str(exc), left_out, labels)
    return CookeSection(result, None, left_out, labels)


def _analysis_rule(definition: SurveyDefinition) -> TierRule:
    from analysis.calibration import TierRule

    rule = definition.tier_rule
    return TierRule(
        dimensions=list(rule.dimensions),
        aggregate=rule.aggregate,
        n_tiers=len(definition.tiers),
        initial_thresholds=[rule.thresholds[t.key] for t in definition.tiers[1:]],
        tier_names=[t.label for t in definition.tiers],
    )


def reference_section(
    frame: pd.DataFrame, definition: SurveyDefinition
) -> ReferenceAgreement | None:
    """Each expert against the calibration items' reference values, if the survey has any."""
    references: dict[tuple[Hashable, Hashable], float] = {
        key: float(value) for key, value in definition.references().items()
    }
    if not references:
        return None
    from analysis.reference import reference_agreement

    scales: dict[Hashable, tuple[float, float]] = {
        d.key: (d.scale.min, d.scale.max) for d in definition.dimensions
    }
    scales[HOLISTIC_TIER_KEY] = (0, max(len(definition.tiers) - 1, 1))
    return reference_agreement(frame, references, scales)


def severity_section(frame: pd.DataFrame, definition: SurveyDefinition) -> SeveritySection:
    """The severity model of the rule dimensions, and the tiers it changes."""
    from analysis.severity import adjusted_tier_changes, fit_severity, severity_adjusted_ratings

    rule = definition.tier_rule
    try:
        result = fit_severity(frame, dimensions=list(rule.dimensions))
    except ValueError as exc:  # e.g. nobody rated a rule dimension yet
        return SeveritySection(None, reason=str(exc))
    if not result.fitted:
        return SeveritySection(result)
    adjusted = severity_adjusted_ratings(frame, result)
    changes = adjusted_tier_changes(
        frame, result, rule=_analysis_rule(definition), adjusted=adjusted
    )
    return SeveritySection(result, changes, adjusted=adjusted)


def report_document(inputs: ReportInputs, fmt: str, language: str | None = None) -> str:
    """Analyse and render in one step (what the web app runs in its computing process)."""
    return render_report(compute_report(inputs), fmt, language)


def build_report(
    session: Session, *, round_id: int, options: ReportOptions = ReportOptions()
) -> RoundReport:
    """Analyse a round with the survey's own settings."""
    return compute_report(report_inputs(session, round_id=round_id, options=options))


def _criterion(round_: Round, definition: SurveyDefinition) -> dict[str, Any]:
    # The criterion frozen when the round opened wins over the file's current one.
    if round_.criteria and "consensus" in round_.criteria:
        return dict(round_.criteria["consensus"])
    return definition.consensus.model_dump()


def _alpha_interval(value: str) -> str:
    from analysis.options import check_alpha_interval
    from app.errors import InvalidInput

    try:
        return check_alpha_interval(value)
    except ValueError as exc:
        raise InvalidInput(str(exc), field="alpha_interval") from None


def _bad_group(value: object) -> Exception:
    from app.errors import InvalidInput

    return InvalidInput(
        i18n.N_("group_by must be 'organisation' or 'group', not %(value)s"),
        field="group_by",
        values={"value": repr(value)},
    )


def report_csv(report: RoundReport) -> str:
    """Every result as long-format rows: section, subject, statistic, value."""
    rows = []
    data = report.to_dict()
    by_language = data.get("by_language") or {}
    # Rater severity and the calibration items' agreement: one entry per expert, each with
    # one "reason" for its undefined statistics.
    per_expert = {
        "severity": (data.get("severity") or {}).get("raters"),
        "reference": (data.get("reference") or {}).get("experts"),
    }
    sections: list[tuple[str, Any]] = [
        (section, data.get(section)) for section in ("dimensions", "items", "raters", "subgroups")
    ]
    sections += [
        ("by_language", {k: v for k, v in by_language.items() if k != "differences"}),
        ("language_differences", by_language.get("differences")),
        ("factor_sensitivity", (data.get("factor_sensitivity") or {}).get("items")),
        *per_expert.items(),
    ]
    for section, block in sections:
        if isinstance(block, dict):
            entries = list(block.items())
        elif isinstance(block, list):
            entries = [(_subject(entry), entry) for entry in block]
        else:
            continue
        for subject, entry in entries:
            flat = _flatten(entry)
            reasons = entry.get("reasons") if isinstance(entry, dict) else None
            if section in per_expert and entry.get("reason"):
                reasons = dict.fromkeys(entry, entry["reason"])
            by_name = dict(flat)
            for statistic, value in flat:
                if value is None:
                    value = _undefined(statistic, reasons, by_name)
                rows.append((section, str(subject), statistic, _cell(value)))
    rows += _cooke_rows(data.get("seed_questions"))
    return write_csv(rows, ["section", "subject", "statistic", "value"])


def _cooke_rows(block: dict[str, Any] | None) -> list[tuple[str, str, str, Any]]:
    """The seed-question section as CSV rows: one subject per expert, decision-maker
    quantile and robustness row; a single "undefined" row when it has no result."""
    if block is None:
        return []
    section = "seed_questions"
    if block.get("reason"):
        rows = [(section, "", "result", f"undefined: {block['reason']}")]
    else:
        rows = [
            (section, "", "alpha", _cell(block["decision_maker"]["alpha"])),
            (section, "", "alpha_optimised", block["alpha_optimised"]),
        ]
        for expert in block["experts"]:
            for name in ("calibration", "information", "information_seeds", "weight"):
                rows.append((section, f"expert/{expert['expert']}", name, _cell(expert[name])))
        dm = block["decision_maker"]
        for name in ("calibration", "information", "information_seeds", "combined_score"):
            rows.append((section, "decision_maker", name, _cell(dm[name])))
        for quantiles in dm["quantiles"]:
            for name in ("q05", "q50", "q95", "realisation"):
                rows.append(
                    (section, f"question/{quantiles['question']}", name, _cell(quantiles[name]))
                )
        for kind in ("item_robustness", "expert_robustness"):
            for row in block[kind]:
                for name in ("alpha", "calibration", "information", "information_seeds"):
                    value = row[name]
                    if value is None:
                        value = f"undefined: {row.get('reason')}"
                    rows.append((section, f"{kind}/{row['excluded']}", name, _cell(value)))
    for left in block.get("left_out", []):
        rows.append((section, f"expert/{left['expert']}", "left_out", left["reason"]))
    return rows


def _undefined(statistic: str, reasons: Any, flat: dict[str, Any]) -> str | None:
    """The text "undefined: <reason>" for an undefined statistic whose entry gives a reason."""
    reason = reasons.get(statistic) if isinstance(reasons, dict) else None
    if reason is None and statistic.endswith(".value"):
        reason = flat.get(statistic.removesuffix(".value") + ".reason")
    return None if reason is None else f"undefined: {reason}"


def _subject(entry: Any) -> str:
    if isinstance(entry, dict):
        keys = ("group", "language", "rater", "item", "dimension")
        parts = [str(entry[k]) for k in keys if k in entry]
        return "/".join(parts)
    return ""


def _flatten(value: Any, prefix: str = "") -> list[tuple[str, Any]]:
    if isinstance(value, dict):
        rows = []
        for key, inner in value.items():
            rows += _flatten(inner, f"{prefix}.{key}" if prefix else str(key))
        return rows
    if isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
        rows = []
        for index, inner in enumerate(value):
            rows += _flatten(inner, f"{prefix}[{index}]")
        return rows
    return [(prefix, value)]


def _cell(value: Any) -> Any:
    # Numbers stay numbers (write_csv neutralises only text); lists become one text cell.
    if isinstance(value, list):
        return " ".join(str(_cell(v)) if v is not None else "" for v in value)
    if isinstance(value, float):
        return round(value, 6)
    return value


#: The words the figures write (``analysis.plots.WORDS``, whose keys and English these
#: are), translated where the report is shown.
FIGURE_WORDS = {
    "median rating": i18n.N_("median rating"),
    "median and IQR": i18n.N_("median and IQR"),
    "consensus reached": i18n.N_("consensus reached"),
    "no consensus": i18n.N_("no consensus"),
    "axis median": i18n.N_("{dimension} (median)"),
    "tier rule": i18n.N_("tier by the {aggregate} rule (items)"),
    "max": i18n.N_("max"),
    "min": i18n.N_("min"),
    "mean": i18n.N_("mean"),
    "deviation axis": i18n.N_(
        "mean signed deviation from the leave-one-out median (scale points)\n"
        "← more lenient than the panel  |  more severe than the panel →"
    ),
    "most deviating": i18n.N_(" ({shown} most deviating of {total})"),
    "undefined": i18n.N_("undefined: {reason}"),
    "alpha axis": i18n.N_("Krippendorff's alpha (95% bootstrap CI)"),
    "acceptable": i18n.N_("acceptable"),
    "tentative": i18n.N_("tentative"),
    "unacceptable": i18n.N_("unacceptable"),
    "nominal": i18n.N_("nominal"),
    "ordinal": i18n.N_("ordinal"),
    "interval": i18n.N_("interval"),
    "ratio": i18n.N_("ratio"),
    "logits axis": i18n.N_("logits (higher: rates higher / rated higher)"),
    "raters": i18n.N_("raters"),
    "rater": i18n.N_("{rater} (rater)"),
    "and more": i18n.N_(" and {count} more"),
    "named raters": i18n.N_(" ({shown} named: the farthest from the average rater, of {total})"),
    "not on the map": i18n.N_("Not on the map (extreme scores, infinite estimates): {shown}"),
}


def _figure_words(language: str) -> dict[str, str]:
    """The figures' words in ``language`` (English where the interface is not in it) and
    the sign its numbers take."""
    interface = i18n.interface_language(language)
    words = {key: i18n.translate(interface, text) for key, text in FIGURE_WORDS.items()}
    # Numbers as the report's tables write them (the decimal sign; Arabic pages write
    # Latin digits, as Babel does).
    words["decimal sign"] = i18n.decimal_sign(language)
    return words


def _report_figures(report: RoundReport, language: str = i18n.SOURCE_LANGUAGE) -> dict[str, str]:
    """The report's figures as SVG text, keyed by name; titles, axes, legends, tier names
    and the reasons for an undefined coefficient in ``language`` where translated."""

    def titled(text: str) -> str:
        return i18n.translate(i18n.interface_language(language), text)

    from analysis import plots

    words = _figure_words(language)

    def text(title: str) -> plots.FigureText:
        return plots.FigureText(title, words)

    definition = report.definition.localized(language)
    rule = definition.tier_rule
    result = report.analysis
    figures: dict[str, str] = {}
    figures["heatmap"] = plots.plot_median_heatmap(
        result, text=text(titled(i18n.N_("Median rating per item")))
    )
    figures["medians"] = plots.plot_item_medians(
        result, text=text(titled(i18n.N_("Median and IQR per item")))
    )
    if len(rule.dimensions) >= 2:
        first, second = rule.dimensions[0], rule.dimensions[1]
        scale = definition.dimension(first).scale
        # No item with a median on both (every expert abstained on one): no plane.
        with contextlib.suppress(plots.NothingToPlot):
            figures["plane"] = plots.plot_tier_plane(
                result,
                dimensions=[first, second],
                thresholds=[rule.thresholds[t.key] for t in definition.tiers[1:]],
                tiers=[t.label for t in definition.tiers],
                aggregate=rule.aggregate,
                scale=(scale.min, scale.max),
                text=text(
                    f"{definition.dimension(first).label} × {definition.dimension(second).label}"
                ),
            )
    # These two need something to draw (a rater with a deviation: two raters on an
    # item; a defined alpha); a panel too small for them gets the tables without the
    # figure, whose absence the tables' "undefined" entries explain.
    with contextlib.suppress(plots.NothingToPlot):
        figures["raters"] = plots.plot_rater_deviations(
            result, text=text(titled(i18n.N_("Rater deviation from the leave-one-out median")))
        )
    with contextlib.suppress(plots.NothingToPlot):
        figures["reliability"] = plots.plot_reliability_forest(
            result,
            text=text(titled(i18n.N_("Krippendorff's alpha with 95% bootstrap CI"))),
            explain=functools.partial(translate_reason, language),
        )
    severity = report.severity
    if severity is not None and severity.result is not None and severity.result.fitted:
        figures["wright"] = plots.plot_wright_map(
            severity.result,
            text=text(titled(i18n.N_("Wright map: expert severity and item locations"))),
        )
    return figures


_SVG_PROLOG = re.compile(r"\A\s*(?:<\?xml[^>]*\?>\s*)?(?:<!DOCTYPE[^>]*>\s*)?", re.I)
_SVG_STYLE_ELEMENT = re.compile(r"<style[^>]*>\s*\*\s*\{([^}]*)\}\s*</style>")
_STYLE_ATTRIBUTE = re.compile(r"(<[A-Za-z][^<>]*?)\sstyle=\"([^\"]*)\"")


def _declarations(text: str) -> dict[str, str]:
    pairs = (part.split(":", 1) for part in text.split(";") if ":" in part)
    return {name.strip(): value.strip() for name, value in pairs if name.strip()}


_ID = re.compile(r"(<[A-Za-z][^<>]*?\sid=\")([^\"]+)\"")
_HREF = re.compile(r"(<[A-Za-z][^<>]*?\s(?:xlink:)?href=\"#)([^\"]+)\"")
_URL_REFERENCE = re.compile(r"url\(#([^)\s]+)\)")
_ARIA_REFERENCE = re.compile(r"(\saria-(?:labelledby|describedby)=\")([^\"]*)\"")


def _prefix_ids(svg: str, prefix: str) -> str:
    # Figures made apart repeat ids (figure_1, glyphs, clip paths): one page needs them unique.
    svg = _ID.sub(lambda m: f'{m.group(1)}{prefix}-{m.group(2)}"', svg)
    svg = _HREF.sub(lambda m: f'{m.group(1)}{prefix}-{m.group(2)}"', svg)
    svg = _URL_REFERENCE.sub(lambda m: f"url(#{prefix}-{m.group(1)})", svg)
    return _ARIA_REFERENCE.sub(
        lambda m: m.group(1) + " ".join(f"{prefix}-{i}" for i in m.group(2).split()) + '"', svg
    )


def inline_svg(svg: str, *, id_prefix: str | None = None) -> str:
    """A matplotlib SVG made fit to sit inside an HTML page under a strict
    Content-Security-Policy: no XML prolog, and its ``style`` attributes and its
    ``*{...}`` default rule written as presentation attributes (a policy without
    'unsafe-inline' drops style attributes, and the shapes then fill black). With
    ``id_prefix``, its ids (and the references to them) are prefixed, so that several
    figures can share one page."""
    svg = _SVG_PROLOG.sub("", svg, count=1)
    if id_prefix:
        svg = _prefix_ids(svg, id_prefix)
    defaults: dict[str, str] = {}
    rule = _SVG_STYLE_ELEMENT.search(svg)
    if rule is not None:
        defaults = _declarations(rule.group(1))
        svg = svg[: rule.start()] + svg[rule.end() :]

    def attributes(match: re.Match[str]) -> str:
        tag = match.group(1)
        declared = {**defaults, **_declarations(html.unescape(match.group(2)))}
        present = set(re.findall(r"\s([\w:-]+)=", tag))
        return tag + "".join(
            f' {name}="{html.escape(value)}"'
            for name, value in declared.items()
            if name not in present
        )

    svg = _STYLE_ATTRIBUTE.sub(attributes, svg)
    if defaults:  # elements without a style of their own inherit the defaults from the root
        svg = svg.replace(
            "<svg ",
            "<svg " + "".join(f'{n}="{html.escape(v)}" ' for n, v in defaults.items()),
            1,
        )
    return svg


def report_html(
    report: RoundReport, *, generated_at: datetime | str, language: str | None = None
) -> str:
    """A self-contained HTML report (inline CSS and SVG figures; opens offline, and served
    under a policy that allows exactly its inline stylesheet; see ``inline_style_hashes``).

    In ``language`` (see :func:`report_language`): the survey's texts where the survey is
    given in it, headings, labels and notes where the interface is, numbers and dates the
    language's way, the statistics' explanations (why a coefficient is undefined) and
    the figures' words too (``app/reasons.py``, :data:`FIGURE_WORDS`)."""
    source = report.definition
    language = language or source.source_language
    definition = source.localized(language)
    reader = i18n.interface_language(language)
    labels = {d.key: d.label for d in definition.dimensions}
    labels[HOLISTIC_TIER_KEY] = i18n.translate(reader, "Overall tier")
    data = report.to_dict()
    # Tiers by key, and by their source label (what the analysis names them by).
    tier_labels = {t.key: t.label for t in definition.tiers}
    tier_labels.update(
        {s.label: t.label for s, t in zip(source.tiers, definition.tiers, strict=True)}
    )
    return (
        shared_environment()
        .get_template("report.html")
        .render(
            css=(STATIC_DIR / "report.css").read_text(encoding="utf-8"),
            data=data,
            survey=data["survey"],
            title=definition.title,
            round=report.round,
            settings=report.settings,
            criterion=report.settings["consensus"],
            labels=labels,
            item_labels={i.key: i.label for i in definition.items},
            # Item groups by their source heading (what the analysis names them by).
            group_labels={
                source.group_of(s): definition.group_of(t)
                for s, t in zip(source.items, definition.items, strict=True)
            },
            quantity_labels={q.key: q for q in definition.quantities},
            factor_labels={f.key: f.label for f in definition.context.factors},
            sensitivity_question=(
                definition.context.sensitivity_question.question
                if definition.context.sensitivity_question is not None
                else None
            ),
            tier_labels=tier_labels,
            language=language,
            language_names={
                code: f"{language_name(code, reader)} ({code})" for code in definition.languages
            },
            figures={
                name: inline_svg(svg, id_prefix=f"fig-{name}")
                for name, svg in _report_figures(report, language).items()
            },
            generated_at=generated_at,
        )
    )


def report_language(definition: SurveyDefinition, language: str | None) -> str:
    """The language a report is read in: ``language`` when the survey is given in it or the
    interface is (the survey's own texts then stay in its source language); the survey's
    source language when None. InvalidInput names the languages there are."""
    if language is None:
        return definition.source_language
    offered = list(dict.fromkeys([*definition.languages, *i18n.INTERFACE_LANGUAGES]))
    i18n.check_offered(
        language,
        offered,
        i18n.N_("lang: the report is not given in %(language)s; its languages are %(languages)s"),
    )
    return language


_STYLE_ELEMENT = re.compile(r"<style(?:\s[^>]*)?>(.*?)</style>", re.S | re.I)


def inline_style_hashes(document: str) -> list[str]:
    """The CSP source (``'sha256-...'``) of every ``<style>`` element of an HTML document,
    so that a policy can allow exactly these and no other inline style."""
    sources = []
    for match in _STYLE_ELEMENT.finditer(document):
        digest = base64.b64encode(hashlib.sha256(match.group(1).encode("utf-8")).digest())
        sources.append(f"'sha256-{digest.decode('ascii')}'")
    return list(dict.fromkeys(sources))


MEDIA_TYPES = {
    "html": "text/html; charset=utf-8",
    "json": "application/json",
    "csv": "text/csv; charset=utf-8",
}


def render_report(report: RoundReport, fmt: str, language: str | None = None) -> str:
    """The report in one of FORMATS, as text (the API and the CLI both use this); the HTML
    page in ``language`` (JSON and CSV are the same in every language)."""
    from app.models import utcnow

    if fmt == "html":
        return report_html(report, generated_at=utcnow(), language=language)
    if fmt == "csv":
        return report_csv(report)
    if fmt == "json":
        return json.dumps(report.to_dict(), indent=2, ensure_ascii=False, allow_nan=False) + "\n"
    raise ValueError(f"fmt must be one of {FORMATS}, not {fmt!r}")
