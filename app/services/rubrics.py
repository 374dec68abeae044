"""Calibration of tier thresholds and published, immutable rubric versions."""

from __future__ import annotations

import copy
import hashlib
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, replace
from datetime import date
from typing import TYPE_CHECKING, Any, Protocol, TypedDict, TypeVar, cast

from pydantic import ConfigDict, Field
from sqlmodel import Session, col, func, select

from app.db import first_or_not_found
from app.errors import Conflict, InvalidInput, Message
from app.i18n import N_
from app.models import Round, RubricVersion, Survey, SurveyVersion, User, id_of, utcnow
from app.services import ReadModel
from app.services.csv_out import write_csv
from app.services.quantities import PanelQuantiles, panel_quantiles
from app.services.reports import (
    RatingTuple,
    RoundReport,
    analysis_rows,
    calibration_rule,
    cooke_section,
    frame_of,
    performance_weights,
)
from app.services.reviews import checked_context, published_event, published_factors
from app.services.rounds import get_round, round_definition
from app.services.surveys import definition_of
from app.survey_files import HOLISTIC_TIER_KEY, SurveyDefinition

if TYPE_CHECKING:
    import pandas as pd

    from analysis.calibration import CaseWeights

RECORD_SCHEMA = "elicit.rubric/1"
#: A published record as JSON (its fields: README, "Published rubrics"): what is signed.
SignedRecord = dict[str, Any]
DIGEST_ALGORITHM = N_("sha256 of the canonical JSON of the record (keys sorted, no spaces, UTF-8)")
#: Labels of the free-text context fields of versions published before surveys declared
#: their own context factors (and of ``notes``, kept beside the factors).
LEGACY_CONTEXT_LABELS = {
    "company_relations": "Relations with AI companies",
    "network_membership": "Network membership",
    "legal_powers": "Legal powers",
    "notes": "Other assumptions",
}


def canonical_json(record: dict[str, Any]) -> str:
    """The one byte sequence a record's digest is computed over."""
    return json.dumps(
        record, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    )


def record_digest(record: dict[str, Any]) -> str:
    return hashlib.sha256(canonical_json(record).encode("utf-8")).hexdigest()


def verify_record(document: dict[str, Any]) -> bool:
    """True when a published document's digest matches its record."""
    record, digest = document.get("record"), document.get("digest")
    if not isinstance(record, dict) or not isinstance(digest, str):
        raise InvalidInput(
            N_("a published rubric document has 'record' and 'digest'"), field="document"
        )
    return record_digest(record) == digest


class PublishedVersion(ReadModel):
    """One published version as the index lists it."""

    number: int
    published_at: str
    publisher: str
    survey_version: int
    digest: str
    thresholds: dict[str, float]


class PublishedSurvey(ReadModel):
    """A survey with published rubric versions, newest first."""

    slug: str
    title: str
    #: The languages its pages can be read in (the survey's; the source first).
    languages: list[str] = Field(default_factory=lambda: ["en"])
    #: The tiers' names (of the newest version's survey) in the reader's language.
    tier_labels: dict[str, str] = Field(default_factory=dict)
    versions: list[PublishedVersion]


def list_published(session: Session, *, language: str | None = None) -> list[PublishedSurvey]:
    """Surveys with published rubric versions, each with its versions (newest first); each
    title in ``language`` when the newest version's survey is given in it."""
    rows = session.exec(
        select(Survey.slug, RubricVersion)
        .join(RubricVersion, col(RubricVersion.survey_id) == col(Survey.id))
        .order_by(col(Survey.slug), col(RubricVersion.number).desc())
    ).all()
    titles: dict[str, str] = {}
    languages: dict[str, list[str]] = {}
    tier_labels: dict[str, dict[str, str]] = {}
    versions: dict[str, list[PublishedVersion]] = {}
    for slug, version in rows:
        if slug not in titles:
            definition = _survey_definition(session, version)
            if definition is not None:
                local = definition.localized(language)
                titles[slug], languages[slug] = local.title, list(definition.languages)
                tier_labels[slug] = {t.key: t.label for t in local.tiers}
            else:
                titles[slug], languages[slug] = version.record["survey"]["title"], ["en"]
                tier_labels[slug] = {t["key"]: t["label"] for t in version.record["tiers"]}
        versions.setdefault(slug, []).append(_summary(version))
    return [
        PublishedSurvey(
            slug=s,
            title=titles[s],
            languages=languages[s],
            tier_labels=tier_labels[s],
            versions=versions[s],
        )
        for s in titles
    ]


def _survey_definition(session: Session, version: RubricVersion) -> SurveyDefinition | None:
    """The survey definition a published version was calibrated on."""
    survey_version = session.get(SurveyVersion, version.survey_version_id)
    return definition_of(survey_version) if survey_version is not None else None


def rubric_languages(session: Session, version: RubricVersion) -> list[str]:
    """The languages a published version can be read in: its survey's (source first)."""
    definition = _survey_definition(session, version)
    return list(definition.languages) if definition is not None else ["en"]


def localized_record(
    session: Session, version: RubricVersion, language: str | None
) -> SignedRecord:
    """A copy of the published record with the survey's texts in ``language`` where the
    survey gives them (title, dimensions and their levels, tiers and their decisions,
    items, categories, context factors). Only for reading: the record as published, and
    signed, is ``version.record``; numbers, keys and the evidence are never changed."""
    definition = _survey_definition(session, version)
    if definition is None or definition.language_or_source(language) == definition.languages[0]:
        return version.record
    return _localized(version.record, definition.localized(language))


def _localized(record: SignedRecord, local: SurveyDefinition) -> SignedRecord:
    out = copy.deepcopy(record)
    out["survey"]["title"] = local.title
    decisions = {key: d.model_dump() for key, d in local.decisions.items()}
    _localize_parts(out, local, decisions)
    factors = {f.key: f.model_dump(mode="json") for f in local.context.factors}
    for entry in out.get("context_factors") or []:
        factor = factors.get(entry["key"])
        if factor is not None:
            entry.update({k: factor[k] for k in ("label", "question", "options", "unit")})
    return out


def _localize_parts(
    out: SignedRecord, local: SurveyDefinition, decisions: dict[str, dict[str, str]]
) -> None:
    """Dimensions, tiers, items and categories, with the decision each tier implies."""
    for entry, dim in _matched(out.get("dimensions"), local.dimensions):
        if dim is not None:
            entry.update(label=dim.label, question=dim.question)
            entry["levels"] = {
                v: dim.scale.levels.get(int(v), text) for v, text in entry["levels"].items()
            }
    for entry, tier in _matched(out.get("tiers"), local.tiers):
        if tier is not None:
            entry.update(label=tier.label, description=tier.description)
        if entry.get("decision") and entry["key"] in decisions:
            entry["decision"] = decisions[entry["key"]]
    for entry, item in _matched(out.get("items"), local.items):
        if item is not None:
            entry.update(label=item.label, group=local.group_of(item))
        _localize_decision(entry, decisions)
    for entry, category in _matched(out.get("categories"), local.categories):
        if category is not None:
            entry.update(label=category.label, description=category.description)
        _localize_decision(entry, decisions)


class _Keyed(Protocol):
    @property
    def key(self) -> str: ...


_K = TypeVar("_K", bound=_Keyed)


def _matched(
    entries: list[dict[str, Any]] | None, local: Iterable[_K]
) -> Iterator[tuple[dict[str, Any], _K | None]]:
    """Each entry of a record's list with the survey's part of the same key (None: the
    survey no longer has it)."""
    by_key = {part.key: part for part in local}
    for entry in entries or []:
        yield entry, by_key.get(entry["key"])


def _localize_decision(entry: dict[str, Any], decisions: dict[str, dict[str, str]]) -> None:
    """An item's or category's decision: the one its tier implies, in the survey's words."""
    if entry.get("decision") and entry.get("tier") in decisions:
        entry["decision"] = decisions[entry["tier"]]["label"]


def get_rubric(session: Session, *, slug: str, number: int) -> RubricVersion:
    """One published version, or NotFound."""
    query = (
        select(RubricVersion)
        .join(Survey, col(Survey.id) == col(RubricVersion.survey_id))
        .where(Survey.slug == slug, RubricVersion.number == number)
    )
    return first_or_not_found(
        session,
        query,
        Message(
            N_("rubric %(slug)s v%(number)s has not been published"),
            {"slug": slug, "number": number},
        ),
    )


class PublishedDocument(TypedDict):
    """A published rubric version as its public JSON shows it."""

    record: dict[str, Any]
    digest: str
    digest_algorithm: str


def document(version: RubricVersion) -> PublishedDocument:
    """What the public JSON shows: the record, its digest, and how to verify it."""
    return {
        "record": version.record,
        "digest": version.digest,
        "digest_algorithm": DIGEST_ALGORITHM,
    }


def _summary(version: RubricVersion) -> PublishedVersion:
    record = version.record
    return PublishedVersion(
        number=version.number,
        published_at=record["published_at"],
        publisher=record["publisher"],
        survey_version=record["survey"]["version"],
        digest=version.digest,
        thresholds=record["rule"]["thresholds"],
    )


def rubric_csv(version: RubricVersion) -> str:
    """Items with their tiers and tier probabilities, one row per item."""
    record = version.record
    tiers = [t["key"] for t in record["tiers"]]
    dims = record["rule"]["dimensions"]
    columns = [
        "survey",
        "rubric_version",
        "item",
        "label",
        "group",
        *dims,
        "score",
        "tier",
        *[f"p_{t}" for t in tiers],
        "borderline",
        "panel_tier",
    ]
    rows = [
        [
            record["survey"]["slug"],
            record["rubric_version"],
            item["key"],
            item["label"],
            item.get("group"),
            *[_fmt(item["scores"].get(d)) for d in dims],
            _fmt(item["score"]),
            item["tier"],
            *[_fmt(item["probabilities"].get(t)) for t in tiers],
            bool(item["borderline"]),
            item.get("panel_tier"),
        ]
        for item in record["items"]
    ]
    return write_csv(rows, columns)


def _fmt(value: Any) -> str:
    # Four significant digits; write_csv keeps a plain number like this as a number.
    if value is None:
        return ""
    return f"{value:.4g}" if isinstance(value, float) else str(value)


class _Change(ReadModel):
    """A value in version a (``before``) and in version b (``after``); in JSON, "from"
    and "to"."""

    model_config = ConfigDict(frozen=True, serialize_by_alias=True)

    before: Any = Field(serialization_alias="from")
    after: Any = Field(serialization_alias="to")


class TierChange(_Change):
    item: str
    label: str
    before: str | None = Field(serialization_alias="from")
    after: str | None = Field(serialization_alias="to")
    p_from: float | None
    p_to: float | None


class AlphaChange(_Change):
    before: float | None = Field(serialization_alias="from")
    after: float | None = Field(serialization_alias="to")
    change: float | None


class ContextChange(_Change):
    field: str
    label: str
    before: str | None = Field(serialization_alias="from")
    after: str | None = Field(serialization_alias="to")


class JustificationChange(_Change):
    before: str | None = Field(serialization_alias="from")
    after: str | None = Field(serialization_alias="to")
    changed: bool


class RubricDiff(ReadModel):
    """What changed from one published version to another, with the labels to show it by."""

    survey: str
    title: str
    from_version: int
    to_version: int
    tier_changes: list[TierChange]
    unchanged: list[TierChange]
    thresholds: dict[str, _Change]
    reliability: dict[str, AlphaChange]
    context: _Change
    context_changes: list[ContextChange]
    justification: JustificationChange
    tier_labels: dict[str, str]
    dimension_labels: dict[str, str]

    def to_json(self) -> dict[str, Any]:
        return self.model_dump(mode="json")


def diff_rubrics(
    a: RubricVersion,
    b: RubricVersion,
    *,
    records: tuple[dict[str, Any], dict[str, Any]] | None = None,
    holistic_label: str = "Overall tier",
) -> RubricDiff:
    """What changed from version a to version b: tiers, thresholds, reliability, the
    context assumptions and the justification (with the labels to show them by), read
    from ``records`` when given (the two records in the reader's language)."""
    ra, rb = records or (a.record, b.record)
    changed, same = _tier_changes(ra["items"], rb["items"])
    thresholds = {
        tier: _Change(
            before=ra["rule"]["thresholds"].get(tier), after=rb["rule"]["thresholds"].get(tier)
        )
        for tier in dict.fromkeys([*ra["rule"]["thresholds"], *rb["rule"]["thresholds"]])
    }
    context_a, context_b = ra.get("context") or {}, rb.get("context") or {}
    labels = {
        **LEGACY_CONTEXT_LABELS,
        **{f["key"]: f["label"] for f in [*_factors(ra), *_factors(rb)]},
    }
    before, after = ra.get("justification"), rb.get("justification")
    dimension_labels = {d["key"]: d["label"] for d in [*ra["dimensions"], *rb["dimensions"]]}
    dimension_labels.setdefault(HOLISTIC_TIER_KEY, holistic_label)
    return RubricDiff(
        survey=rb["survey"]["slug"],
        title=rb["survey"]["title"],
        from_version=a.number,
        to_version=b.number,
        tier_changes=changed,
        unchanged=same,
        thresholds=thresholds,
        reliability=_alpha_changes(ra["evidence"]["reliability"], rb["evidence"]["reliability"]),
        context=_Change(before=context_a, after=context_b),
        context_changes=_context_changes(ra, rb, labels),
        justification=JustificationChange(before=before, after=after, changed=before != after),
        tier_labels={t["key"]: t["label"] for t in [*ra["tiers"], *rb["tiers"]]},
        dimension_labels=dimension_labels,
    )


def _tier_changes(
    items_a: list[dict[str, Any]], items_b: list[dict[str, Any]]
) -> tuple[list[TierChange], list[TierChange]]:
    """Items whose tier changed, and those whose tier stayed (each with its shares)."""
    by_key_a = {i["key"]: i for i in items_a}
    by_key_b = {i["key"]: i for i in items_b}
    changed: list[TierChange] = []
    same: list[TierChange] = []
    for key in [*by_key_a, *[k for k in by_key_b if k not in by_key_a]]:
        a, b = by_key_a.get(key), by_key_b.get(key)
        either = b or a
        assert either is not None
        row = TierChange(
            item=key,
            label=either["label"],
            before=a["tier"] if a else None,
            after=b["tier"] if b else None,
            p_from=a["probabilities"].get(a["tier"]) if a else None,
            p_to=b["probabilities"].get(b["tier"]) if b else None,
        )
        (same if row.before == row.after else changed).append(row)
    return changed, same


def _alpha_changes(rel_a: dict[str, Any], rel_b: dict[str, Any]) -> dict[str, AlphaChange]:
    """Each dimension's alpha before and after, and the change (None when undefined)."""
    out: dict[str, AlphaChange] = {}
    for dim in dict.fromkeys([*rel_a, *rel_b]):
        before = rel_a.get(dim, {}).get("alpha")
        after = rel_b.get(dim, {}).get("alpha")
        change = after - before if before is not None and after is not None else None
        out[dim] = AlphaChange(before=before, after=after, change=change)
    return out


def _factors(record: dict[str, Any]) -> list[dict[str, Any]]:
    return list(record.get("context_factors") or [])


def _shown_value(record: dict[str, Any], key: str) -> str | None:
    """A context value as people read it (a choice's meaning, a number with its unit)."""
    value = (record.get("context") or {}).get(key)
    if value is None:
        return None
    for factor in published_factors(record):
        if factor.key == key:
            return factor.show(value)
    return str(value)


class ContextShown(ReadModel):
    """One assumption of a published version, as its page shows it (``value`` None: not
    stated)."""

    key: str
    label: str
    value: str | None
    volatility: str | None
    review_every_days: int | None


def context_shown(record: dict[str, Any]) -> list[ContextShown]:
    """The version's assumptions: its declared factors (a value or "not stated"), then any
    other field recorded (older versions' free text, notes)."""
    context: dict[str, Any] = record.get("context") or {}
    shown = [
        ContextShown(
            key=f.key,
            label=f.label,
            value=f.show(context[f.key]) if context.get(f.key) is not None else None,
            volatility=f.volatility,
            review_every_days=f.review_days,
        )
        for f in published_factors(record)
    ]
    known = {s.key for s in shown}
    shown += [
        ContextShown(
            key=key,
            label=LEGACY_CONTEXT_LABELS.get(key, key),
            value=str(value),
            volatility=None,
            review_every_days=None,
        )
        for key, value in context.items()
        if key not in known and value is not None
    ]
    return shown


def _context_changes(
    ra: dict[str, Any], rb: dict[str, Any], labels: dict[str, str]
) -> list[ContextChange]:
    """The context assumptions that differ, in the order the labels list them, each as
    people read it."""
    context_a, context_b = ra.get("context") or {}, rb.get("context") or {}
    keys = [k for k in labels if k in context_a or k in context_b]
    keys += sorted((set(context_a) | set(context_b)) - set(labels))
    return [
        ContextChange(
            field=key,
            label=labels.get(key, key),
            before=_shown_value(ra, key),
            after=_shown_value(rb, key),
        )
        for key in keys
        if context_a.get(key) != context_b.get(key)
    ]


def next_number(session: Session, *, survey_id: int) -> int:
    newest = session.exec(
        select(func.max(RubricVersion.number)).where(RubricVersion.survey_id == survey_id)
    ).one()
    return (newest or 0) + 1


# What may differ between two publications of the same rubric: the version number, when,
# and by whom. Everything else (rounds, calibration, items, evidence, context,
# justification) is the rubric.
_PUBLICATION_FIELDS = ("rubric_version", "published_at", "publisher")


def _content(record: dict[str, Any]) -> str:
    return canonical_json({k: v for k, v in record.items() if k not in _PUBLICATION_FIELDS})


def ensure_new_content(session: Session, *, survey_id: int, record: dict[str, Any]) -> None:
    """Conflict when the survey's newest published version has the same content as
    ``record``: publishing it again would only make a second name for one rubric.

    Only the newest counts: going back to an earlier version's rubric after a different
    one is a change worth a version of its own."""
    newest = session.exec(
        select(RubricVersion)
        .where(RubricVersion.survey_id == survey_id)
        .order_by(col(RubricVersion.number).desc())
        .limit(1)
    ).first()
    if newest is None or _content(newest.record) != _content(record):
        return
    slug = newest.record["survey"]["slug"]
    raise Conflict(
        N_(
            "%(slug)s v%(number)s (published %(day)s) is this same rubric: same rounds, "
            "calibration, context and justification; publishing it again would only copy it. "
            "Cite %(slug)s v%(number)s, or change the context or the justification to publish "
            "a new version."
        ),
        values={
            "slug": slug,
            "number": newest.number,
            "day": date.fromisoformat(newest.record["published_at"][:10]),
        },
    )


def store_rubric(
    session: Session, *, round_: Round, record: dict[str, Any], publisher: User
) -> RubricVersion:
    """Insert a record as the next version (the digest is computed here)."""
    version = session.get(SurveyVersion, round_.survey_version_id)
    assert version is not None and publisher.id is not None
    stored = RubricVersion(
        survey_id=version.survey_id,
        number=record["rubric_version"],
        survey_version_id=id_of(version),
        round_id=id_of(round_),
        record=record,
        digest=record_digest(record),
        published_by_id=publisher.id,
    )
    session.add(stored)
    session.flush()
    return stored


@dataclass(frozen=True)
class CalibrationInputs:
    """What a calibration is computed from (plain data: it can go to another process)."""

    round_id: int
    definition: SurveyDefinition
    rows: list[RatingTuple]
    n_bootstrap: int
    seed: int
    #: How the experts count (one of :data:`WEIGHTINGS`).
    weighting: str = "equal"
    #: The panel's quantile answers, for Cooke's weights ("performance" only).
    quantiles: tuple[PanelQuantiles, ...] = ()

    @property
    def frame(self) -> pd.DataFrame:
        return frame_of(self.rows)


def with_equal_weights(inputs: CalibrationInputs) -> CalibrationInputs:
    """The same calibration with every expert counting once."""
    return replace(inputs, weighting="equal", quantiles=())


@dataclass(frozen=True)
class CalibrationOptions:
    """How a round is calibrated: the bootstrap's resamples and seed, and how the experts
    count (one of :data:`WEIGHTINGS`)."""

    n_bootstrap: int = 1000
    seed: int = 0
    weighting: str = "equal"


def calibration_inputs(
    session: Session, *, round_id: int, options: CalibrationOptions = CalibrationOptions()
) -> CalibrationInputs:
    """Read what calibrating a round needs (Conflict if it has no submitted ratings;
    InvalidInput for a weighting not in :data:`WEIGHTINGS`)."""
    weighting = options.weighting
    check_weighting(weighting)
    round_ = get_round(session, round_id=round_id)
    definition = round_definition(session, round_)
    rows = analysis_rows(session, round_id=round_id)
    if not rows:
        raise Conflict(
            N_("round %(round)s has no submitted ratings to calibrate on"),
            values={"round": round_id},
        )
    quantiles: tuple[PanelQuantiles, ...] = ()
    if weighting == "performance" and definition.quantities:
        quantiles = tuple(panel_quantiles(session, round_id=round_id))
    return CalibrationInputs(
        round_id, definition, rows, options.n_bootstrap, options.seed, weighting, quantiles
    )


class CalibratedItemDocument(TypedDict):
    """One item of a calibration, as JSON (``analysis.calibration.CalibratedItem``)."""

    item: str | int | float
    label: str
    scores: dict[str, float | None]
    score: float | None
    rule_tier: int | None
    panel_tier: int | None
    probabilities: list[float] | None
    modal_tier: int | None
    modal_share: float | None
    borderline: bool | None
    n_resamples: int
    reason: str | None


class CalibrationDocument(TypedDict):
    """A round's calibration as JSON: what the API returns, the calibration page shows and
    a published record is built from. A JSON document rather than an object because it is
    computed in the computing process and must cross back without the analysis package
    (a web worker never imports pandas); the keys are the analysis's ``Calibration.to_dict``
    plus the survey's labels, and ``tests/test_rubrics.py`` checks that they match."""

    dimensions: list[str | int | float]
    tiers: list[str]
    initial_thresholds: list[float]
    fitted_thresholds: list[float]
    fitted_threshold_intervals: list[list[float | None]] | None
    thresholds_by_tier: dict[str, dict[str, float]]
    kappa_initial: float | None
    kappa_fitted: float | None
    accuracy_initial: float | None
    accuracy_fitted: float | None
    loo_kappa: float | None
    loo_accuracy: float | None
    confusion: list[list[int]] | None
    confusion_axes: dict[str, str]
    n_items: int
    n_items_fitted: int
    n_raters: int
    items: list[CalibratedItemDocument]
    settings: dict[str, Any]
    reasons: dict[str, str]
    warnings: list[str]
    tier_labels: dict[str, str]
    holistic_tiers: bool
    round_id: int
    aggregate: str
    weighting: str


def compute_calibration(inputs: CalibrationInputs) -> CalibrationDocument:
    """Fit the thresholds on what ``calibration_inputs`` read (no database), with the
    experts weighted as ``inputs.weighting`` says."""
    from analysis.calibration import Resampling, fit_thresholds

    definition, round_id = inputs.definition, inputs.round_id
    rule = definition.tier_rule
    try:
        frame, weights = _weighted_inputs(inputs)
        calibration = fit_thresholds(
            frame,
            calibration_rule(definition, keys=True),
            Resampling(n_bootstrap=inputs.n_bootstrap, seed=inputs.seed),
            weights,
        )
    except ValueError as exc:
        raise InvalidInput(
            N_("cannot calibrate round %(round)s: %(problem)s"),
            values={"round": round_id, "problem": str(exc)},
        ) from exc
    labels = {i.key: i.label for i in definition.items}
    found = calibration.to_dict()
    for item in found["items"]:
        item["label"] = labels.get(str(item["item"]), str(item["item"]))
    return cast(
        CalibrationDocument,
        {
            **found,
            "tier_labels": {t.key: t.label for t in definition.tiers},
            "holistic_tiers": definition.holistic_tier.enabled,
            "round_id": round_id,
            "aggregate": rule.aggregate,
            "weighting": inputs.weighting,
        },
    )


def _weighted_inputs(inputs: CalibrationInputs) -> tuple[pd.DataFrame, CaseWeights | None]:
    """The ratings the thresholds are fitted on and the experts' case weights: Cooke's
    global weights for "performance" (a conflict when the round has none), the
    severity-adjusted ratings for "severity" (a conflict when the rater severity model
    cannot be fitted), the ratings as given and no weights for "equal"."""
    frame = inputs.frame
    if inputs.weighting == "performance":
        cooke = cooke_section(inputs.quantiles, inputs.definition, robustness=False)
        if cooke is None or cooke.weights is None:
            why = (
                cooke.reason
                if cooke is not None and cooke.reason
                else Message(N_("the survey asks no quantity questions"))
            )
            raise Conflict(
                N_(
                    "performance weighting needs Cooke's weights from the seed questions, and "
                    "there are none: %(why)s; use equal or severity weighting"
                ),
                field="weighting",
                values={"why": why},
            )
        raters = sorted(frame["rater"].unique(), key=str)
        return frame, performance_weights(cooke.weights, raters)
    if inputs.weighting != "severity":
        return frame, None
    from analysis.calibration import CaseWeights
    from analysis.severity import fit_severity, severity_adjusted_ratings

    try:
        result = fit_severity(frame, dimensions=list(inputs.definition.tier_rule.dimensions))
        reason = result.reason
    except ValueError as exc:  # e.g. nobody rated a rule dimension
        reason = str(exc)
    if reason is not None:
        raise Conflict(
            N_(
                "severity weighting needs the rater severity model, which could not be "
                "fitted: %(why)s; use equal weighting"
            ),
            field="weighting",
            values={"why": reason},
        )
    return severity_adjusted_ratings(frame, result), CaseWeights(name="severity-adjusted ratings")


def publish_rubric(
    session: Session,
    *,
    round_id: int,
    publisher: User,
    context: dict[str, object] | None = None,
    justification: str | None = None,
    n_bootstrap: int = 1000,
    seed: int = 0,
    weighting: str = "equal",
) -> RubricVersion:
    """Publish a closed round's calibration as the survey's next immutable rubric version.

    Refused when a rule dimension's alpha is below the survey's minimum, unless a
    justification is given (it is kept in the record). ``weighting`` (one of
    :data:`WEIGHTINGS`) says how the experts count in the calibration: equally, by
    Cooke's performance weights from the seed questions (refused when the round has none),
    or through severity-adjusted ratings (refused when the severity model could not be
    fitted). The thresholds are fitted, and the items' tiers and probabilities computed,
    under that weighting; each item keeps its equal-weight tier beside it.
    """
    check_weighting(weighting)
    from app.services.delphi import series
    from app.services.reports import ReportOptions, build_report

    round_ = get_round(session, round_id=round_id)
    if round_.status != "closed":
        raise Conflict(
            N_("round %(round)s is %(status)s; close it before publishing"),
            values={"round": round_id, "status": Message(round_.status)},
        )
    definition = round_definition(session, round_)
    survey_version = session.get(SurveyVersion, round_.survey_version_id)
    assert survey_version is not None
    assumed, factors = checked_context(definition, context)
    justification = (justification or "").strip() or None
    # First: a weighting whose weights cannot be computed is refused before the report.
    options = CalibrationOptions(n_bootstrap=n_bootstrap, seed=seed, weighting=weighting)
    inputs = calibration_inputs(session, round_id=round_id, options=options)
    calibration = compute_calibration(inputs)
    equal = calibration
    if weighting != "equal":
        equal = compute_calibration(replace(with_equal_weights(inputs), n_bootstrap=0))
    report = build_report(
        session, round_id=round_id, options=ReportOptions(n_bootstrap=n_bootstrap, seed=seed)
    )
    analysed = report.to_dict()
    minimum = float(
        ((round_.criteria or {}).get("reliability") or {}).get(
            "minimum_alpha", definition.reliability.minimum_alpha
        )
    )
    reliability, failing = _reliability_evidence(analysed, definition, minimum)
    if failing and not justification:
        raise Conflict(
            N_(
                "reliability not shown to reach the survey's minimum alpha %(minimum)s on "
                "%(failing)s; publishing needs a recorded justification"
            ),
            field="justification",
            values={"minimum": f"{minimum:.3f}", "failing": "; ".join(failing)},
        )
    consensus_cells = [
        {
            k: c[k]
            for k in ("item", "dimension", "n", "median", "iqr", "share_within_one", "consensus")
        }
        for c in analysed["items"]
    ]
    items = _rubric_items(definition, calibration)
    _keep_equal_tiers(definition, items, equal, weighting)
    record = {
        "schema": RECORD_SCHEMA,
        "rubric_version": next_number(session, survey_id=survey_version.survey_id),
        "survey": {
            "slug": definition.slug,
            "title": definition.title,
            "version": survey_version.number,
            "file_version": survey_version.label,
            "content_sha256": survey_version.content_sha256,
        },
        "rounds": [
            {
                "id": r.id,
                "name": r.name,
                "sequence": r.sequence,
                "closed_at": r.closed_at.isoformat() if r.closed_at else None,
            }
            for r in series(session, round_id=round_id)
        ],
        **_rubric_definition(definition, calibration),
        "items": items,
        "categories": _rolled_up(definition, calibration),
        "evidence": {
            "minimum_alpha": minimum,
            "gate": "the lower limit of the 95% interval of alpha reaches the minimum on the "
            "rule's dimensions and the holistic tier (else a justification is recorded)",
            "reliability": reliability,
            "consensus": {
                "criterion": report.settings["consensus"],
                "cells_meeting": sum(1 for c in consensus_cells if c["consensus"]),
                "cells": consensus_cells,
            },
            "weighting": _weighting_evidence(report, analysed, weighting, equal),
            "n_experts": len(analysed["raters"]),
            "n_bootstrap": n_bootstrap,
            "seed": seed,
        },
        "context": assumed,
        "context_factors": factors,
        "justification": justification,
        "publisher": publisher.email,
        "published_at": utcnow().isoformat(),
    }
    ensure_new_content(session, survey_id=survey_version.survey_id, record=record)
    stored = store_rubric(session, round_=round_, record=record, publisher=publisher)
    published_event(session, stored)
    return stored


#: How experts may count in a calibration and a published rubric.
WEIGHTINGS = ("equal", "performance", "severity")


#: What the thresholds of a rubric published under each weighting were fitted with.
FITTED_WITH = {
    "equal": "every expert counting once",
    "performance": "each expert's ratings weighted by Cooke's global weight (case weights "
    "in the weighted medians of the scores and panel tiers)",
    "severity": "the severity-adjusted ratings (each rating minus the shift its expert's "
    "severity causes, by the many-facet Rasch model)",
}


def check_weighting(weighting: str) -> str:
    """``weighting`` if it is one of :data:`WEIGHTINGS` (else InvalidInput)."""
    if weighting not in WEIGHTINGS:
        raise InvalidInput(
            N_("weighting must be one of %(weightings)s, not %(weighting)s"),
            values={"weightings": ", ".join(WEIGHTINGS), "weighting": repr(weighting)},
            field="weighting",
        )
    return weighting


def _weighting_evidence(
    report: RoundReport, analysed: dict[str, Any], weighting: str, equal: CalibrationDocument
) -> dict[str, Any]:
    """The record's account of the weighting: which was used, what the thresholds were
    fitted with, the equal-weight thresholds beside them, each compared scheme's
    thresholds and the items whose tier depends on the choice."""
    compared = analysed.get("weighting") or {}
    tier_keys = [t.key for t in report.definition.tiers]
    evidence: dict[str, Any] = {
        "used": weighting,
        "thresholds_fitted_with": FITTED_WITH[weighting],
        "thresholds_equal_weights": dict(
            zip(tier_keys[1:], equal["fitted_thresholds"], strict=True)
        ),
        "compared": compared.get("schemes", []),
        "compared_thresholds": {
            scheme: dict(zip(tier_keys[1:], values, strict=True))
            for scheme, values in (compared.get("thresholds") or {}).items()
        },
        "items_depending": compared.get("depending", []),
    }
    if weighting == "performance" and report.cooke is not None and report.cooke.result:
        result = report.cooke.result
        evidence["basis"] = {
            "method": "Cooke's classical model, global weights (optimised cutoff)",
            "seed_questions": len(result.seed_questions),
            "alpha": result.decision_maker.alpha,
            "experts_scored": len(result.experts),
            "experts_with_weight": sum(1 for e in result.experts if e.weight > 0),
        }
    elif weighting == "severity":
        evidence["basis"] = {
            "method": "severity-adjusted ratings (many-facet Rasch model): each rating minus "
            "the shift the model expects its expert's severity to cause on that item"
        }
    return evidence


def _keep_equal_tiers(
    definition: SurveyDefinition, items: list[Any], equal: CalibrationDocument, weighting: str
) -> None:
    """Give each published item of a weighted rubric its equal-weight tier beside its own."""
    if weighting == "equal":
        return
    tier_keys = [t.key for t in definition.tiers]
    tiers = {str(e["item"]): e["rule_tier"] for e in equal["items"]}
    for item in items:
        tier = tiers.get(item["key"])
        item["tier_equal_weights"] = tier_keys[tier] if tier is not None else None


def _reliability_evidence(
    analysed: dict[str, Any], definition: SurveyDefinition, minimum: float
) -> tuple[dict[str, Any], list[str]]:
    """Each dimension's alpha at its level, and the dimensions the rubric rests on (the
    rule's, and the holistic tier the thresholds are fitted to) whose alpha is not shown
    to reach the minimum: undefined, or the lower limit of its 95% interval below it. The
    point estimate alone is not enough: with a dozen items an alpha of 0.70 is compatible
    with a population alpha of 0.5."""
    reliability: dict[str, Any] = {}
    failing: list[str] = []
    gated = set(definition.tier_rule.dimensions)
    if definition.holistic_tier.enabled:
        gated.add(HOLISTIC_TIER_KEY)
    for key in [d.key for d in definition.dimensions] + (
        [HOLISTIC_TIER_KEY] if definition.holistic_tier.enabled else []
    ):
        dim = analysed["dimensions"].get(key)
        if dim is None:
            continue
        level = dim["level"]
        alpha = dim["krippendorff_alpha"][level]
        reliability[key] = {
            "level": level,
            "alpha": alpha,
            "ci": dim["krippendorff_alpha_ci"].get(level),
            "p_below_minimum": (dim.get("krippendorff_alpha_p_below_minimum") or {}).get(level),
            "reading": dim.get("reading"),
            "n_raters": dim["n_raters"],
            "n_items": dim["n_items"],
        }
        if key in gated:
            problem = _below_minimum(alpha, reliability[key]["ci"], minimum)
            if problem:
                failing.append(f"{key} ({problem})")
    return reliability, failing


def _below_minimum(alpha: float | None, ci: list[float] | None, minimum: float) -> str | None:
    if alpha is None:
        return "alpha undefined"
    if not ci or ci[0] is None:
        return f"alpha {alpha:.3f} without an interval"
    if ci[0] < minimum:
        return f"alpha {alpha:.3f}, 95% interval {ci[0]:.3f} to {ci[1]:.3f}"
    return None


def _rubric_definition(
    definition: SurveyDefinition, calibration: CalibrationDocument
) -> dict[str, Any]:
    """The record's dimensions, tiers, calibrated rule and calibration figures."""
    rule = definition.tier_rule
    tier_keys = [t.key for t in definition.tiers]
    return {
        "dimensions": [
            {
                "key": d.key,
                "label": d.label,
                "question": d.question,
                "measurement": d.measurement,
                "levels": {str(v): d.scale.levels[v] for v in d.scale.values},
            }
            for d in definition.dimensions
        ],
        "tiers": [
            {
                "key": t.key,
                "label": t.label,
                "description": t.description,
                "decision": _decision(definition, t.key),
            }
            for t in definition.tiers
        ],
        "rule": {
            "dimensions": list(rule.dimensions),
            "aggregate": rule.aggregate,
            "center": calibration["settings"].get("center", "median"),
            "initial_thresholds": dict(
                zip(tier_keys[1:], calibration["initial_thresholds"], strict=True)
            ),
            "thresholds": dict(zip(tier_keys[1:], calibration["fitted_thresholds"], strict=True)),
            # What the panel's tiers identify: any threshold in (lower, upper] gives the
            # same tiers (None: nothing fitted, or no item score on that side).
            "threshold_intervals": dict(
                zip(tier_keys[1:], calibration["fitted_threshold_intervals"] or [], strict=False)
            ),
        },
        "calibration": {
            k: calibration.get(k)
            for k in (
                "kappa_initial",
                "kappa_fitted",
                "accuracy_initial",
                "accuracy_fitted",
                "loo_kappa",
                "loo_accuracy",
                "confusion",
                "n_items_fitted",
                "n_raters",
                "settings",
                "reasons",
                "warnings",
            )
        },
    }


def _rubric_items(definition: SurveyDefinition, calibration: CalibrationDocument) -> list[Any]:
    """Each item's scores, tier by the rule and by the panel, and tier probabilities."""
    tier_keys = [t.key for t in definition.tiers]

    def tier(index: int | None) -> str | None:
        return tier_keys[index] if index is not None else None

    return [
        {
            "key": str(entry["item"]),
            "label": entry["label"],
            "group": definition.group_of(item),
            "parent": item.parent,
            "factors": item.factors,
            "decision": (_decision(definition, tier(entry["rule_tier"])) or {}).get("label"),
            "scores": entry["scores"],
            "score": entry["score"],
            "tier": tier(entry["rule_tier"]),
            "panel_tier": tier(entry.get("panel_tier")),
            "probabilities": dict(zip(tier_keys, shares, strict=True)) if shares else {},
            "borderline": bool(entry.get("borderline")),
        }
        for entry in calibration["items"]
        for shares in [entry["probabilities"]]
        for item in [definition.item(str(entry["item"]))]
    ]


def _decision(definition: SurveyDefinition, tier: str | None) -> dict[str, str] | None:
    """What a tier implies in practice, if the survey says."""
    decision = definition.decisions.get(tier) if tier is not None else None
    return decision.model_dump() if decision else None


def _rolled_up(definition: SurveyDefinition, calibration: CalibrationDocument) -> list[Any]:
    """Each category with its subcategories' tiers rolled up: the category takes the highest
    tier among its items (it is shared no more openly than its most sensitive part); a
    category whose items have no tier yet has none."""
    tier_keys = [t.key for t in definition.tiers]
    tiers = {str(e["item"]): e["rule_tier"] for e in calibration["items"]}
    out = []
    for category in definition.categories:
        members = [i.key for i in definition.items if i.parent == category.key]
        known = [t for t in (tiers.get(k) for k in members) if t is not None]
        top = tier_keys[max(known)] if known else None
        out.append(
            {
                "key": category.key,
                "label": category.label,
                "description": category.description,
                "items": members,
                "tier": top,
                "decision": (_decision(definition, top) or {}).get("label"),
                "tier_counts": {t: sum(tier_keys[k] == t for k in known) for t in tier_keys},
            }
        )
    return out
