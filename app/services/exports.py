"""Exports of a round's ratings (pseudonymous codes only, never names), in every format of
:mod:`analysis.formats`: long and wide CSV, XLSX with a codebook, SPSS, Stata and JSON."""

from __future__ import annotations

from dataclasses import astuple, dataclass, fields

from sqlmodel import Session, col, select

from analysis.formats import (
    FORMATS,
    Codebook,
    DimensionScale,
    FormatName,
    RatingTable,
    Variable,
    write_ratings,
)
from app.errors import InvalidInput
from app.i18n import N_
from app.models import Expert, Rating, Response, Round, SurveyVersion
from app.services.answer_store import of_round
from app.services.csv_out import write_csv
from app.services.rounds import get_round
from app.services.surveys import definition_of, slug_of
from app.survey_files import HOLISTIC_TIER_KEY, SurveyDefinition


@dataclass(frozen=True)
class ExportedRating:
    """One rating in the long-format export: one row, its fields in column order."""

    round_id: int
    survey: str
    survey_version: int
    rater: str
    organisation: str
    stakeholder_group: str
    item: str
    dimension: str
    status: str
    value: int | None
    confidence: str
    rationale: str
    share_rationale: bool
    response_status: str
    updated_at: str
    #: The language the survey was shown in when the answer was saved ("" if unknown).
    language: str


EXPORT_COLUMNS = [f.name for f in fields(ExportedRating)]

#: The export formats, for typed parameters (``format=`` of the routes).
ExportFormat = FormatName
#: Each format's suffix, media type and title, by name.
EXPORT_FORMATS = FORMATS

#: What each column means (the codebook of every format).
COLUMN_LABELS = {
    "round_id": "Round id on the platform",
    "survey": "Survey (slug)",
    "survey_version": "Survey version number",
    "rater": "Expert's pseudonymous code",
    "organisation": "Expert's organisation",
    "stakeholder_group": "Expert's stakeholder group",
    "item": "Item rated (key)",
    "dimension": "Dimension rated (key); 'tier' is the holistic tier judgement",
    "status": "value, cant_judge (can't judge) or outside_expertise (outside expertise)",
    "value": "The rating on the dimension's scale; empty for an abstention",
    "confidence": "Expert's confidence: low, medium or high (empty if not given)",
    "rationale": "Expert's rationale as written",
    "share_rationale": "Whether the expert let the panel see the rationale",
    "response_status": "The response: submitted or draft",
    "updated_at": "When the rating was last saved (UTC, ISO 8601)",
    "language": "Language the survey was shown in when the answer was saved",
}
#: Columns constant for one expert and item: the rows of the wide layout.
WIDE_KEYS = (
    "round_id",
    "survey",
    "survey_version",
    "rater",
    "organisation",
    "stakeholder_group",
    "item",
    "response_status",
    "language",
)


@dataclass(frozen=True)
class ExportFile:
    """An export as a file: its bytes, media type and file name."""

    content: bytes
    media_type: str
    filename: str


def _asked(session: Session, round_id: int) -> tuple[Round, SurveyVersion, str]:
    """The round, the survey version it asks about and the survey's slug."""
    round_ = get_round(session, round_id=round_id)
    version = session.get(SurveyVersion, round_.survey_version_id)
    assert version is not None
    return round_, version, slug_of(session, version)


def ratings_rows(
    session: Session, *, round_id: int, include_drafts: bool = False
) -> list[ExportedRating]:
    """One row per rating, long format, ordered by rater, item and dimension."""
    _, version, slug = _asked(session, round_id)
    query = of_round(
        select(Rating, Response, Expert), Rating, round_id=round_id, include_drafts=include_drafts
    ).order_by(col(Expert.code), col(Rating.item_key), col(Rating.dimension_key))
    return [
        ExportedRating(
            round_id=round_id,
            survey=slug,
            survey_version=version.number,
            rater=expert.code,
            organisation=expert.organisation or "",
            stakeholder_group=expert.stakeholder_group or "",
            item=rating.item_key,
            dimension=rating.dimension_key,
            status=rating.status,
            value=rating.value,
            confidence=rating.confidence or "",
            rationale=rating.rationale,
            share_rationale=rating.share_rationale,
            response_status=response.status,
            updated_at=rating.updated_at.isoformat(),
            language=rating.language or "",
        )
        for rating, response, expert in session.exec(query).all()
    ]


def export_ratings_csv(session: Session, *, round_id: int, include_drafts: bool = False) -> str:
    """The round's ratings as CSV; text cells are neutralised against formula injection."""
    rows = ratings_rows(session, round_id=round_id, include_drafts=include_drafts)
    return write_csv([astuple(row) for row in rows], EXPORT_COLUMNS)


@dataclass(frozen=True)
class ExportedQuantiles:
    """One expert's quantiles of one quantity question: the columns ``elicit cooke`` reads
    (expert, question, q05, q50, q95, realisation), then where it comes from."""

    expert: str
    question: str
    q05: float
    q50: float
    q95: float
    #: The seed question's true value; None for a target question.
    realisation: float | None
    round_id: int
    survey: str
    survey_version: int
    unit: str


QUANTILE_EXPORT_COLUMNS = [f.name for f in fields(ExportedQuantiles)]


def quantile_rows(
    session: Session, *, round_id: int, include_drafts: bool = False
) -> list[ExportedQuantiles]:
    """One row per quantile answer, ordered by expert and question."""
    from app.services.quantities import panel_quantiles
    from app.services.rounds import round_definition

    round_, version, slug = _asked(session, round_id)
    definition = round_definition(session, round_)
    questions = {q.key: q for q in definition.quantities}
    rows = []
    for answer in panel_quantiles(session, round_id=round_id, include_drafts=include_drafts):
        question = questions.get(answer.question)
        rows.append(
            ExportedQuantiles(
                expert=answer.expert,
                question=answer.question,
                q05=answer.q05,
                q50=answer.q50,
                q95=answer.q95,
                realisation=question.realisation if question is not None else None,
                round_id=round_id,
                survey=slug,
                survey_version=version.number,
                unit=question.unit if question is not None else "",
            )
        )
    return rows


def export_quantiles_csv(session: Session, *, round_id: int, include_drafts: bool = False) -> str:
    """The round's quantile answers as CSV (``elicit cooke`` reads it as it is)."""
    rows = quantile_rows(session, round_id=round_id, include_drafts=include_drafts)
    return write_csv([astuple(row) for row in rows], QUANTILE_EXPORT_COLUMNS)


def export_formats() -> list[str]:
    """The names of the export formats (``format`` / ``--format`` values)."""
    return list(FORMATS)


def export_ratings(
    session: Session, *, round_id: int, fmt: str, include_drafts: bool = False
) -> ExportFile:
    """The round's ratings in one of :func:`export_formats` (InvalidInput for another),
    with the codebook of the survey version the round asks about."""
    file_format = FORMATS.get(fmt)
    if file_format is None:
        raise InvalidInput(
            N_("unknown export format %(format)s; use one of %(formats)s"),
            field="format",
            values={"format": repr(fmt), "formats": ", ".join(FORMATS)},
        )
    rows = ratings_rows(session, round_id=round_id, include_drafts=include_drafts)
    _, version, slug = _asked(session, round_id)
    table = RatingTable(
        columns=tuple(EXPORT_COLUMNS),
        rows=[astuple(row) for row in rows],
        codebook=_codebook(version, slug, definition_of(version)),
    )
    try:
        content = write_ratings(table, fmt)
    except ValueError as exc:  # a survey whose keys the layout cannot hold
        raise InvalidInput(
            N_("cannot export as %(format)s: %(problem)s"),
            field="format",
            values={"format": fmt, "problem": str(exc)},
        ) from None
    return ExportFile(
        content=content,
        media_type=file_format.media_type,
        filename=f"round-{round_id}-ratings{file_format.suffix}",
    )


def _codebook(version: SurveyVersion, slug: str, definition: SurveyDefinition) -> Codebook:
    scales = [
        DimensionScale(
            dimension=d.key,
            label=f"{d.label}: {d.question}",
            measurement=d.measurement,
            levels=tuple(sorted(d.scale.levels.items())),
            abstentions=tuple(
                status
                for status, allowed in (
                    ("cant_judge", d.allow_cant_judge),
                    ("outside_expertise", d.allow_outside_expertise),
                )
                if allowed
            ),
        )
        for d in definition.dimensions
    ]
    if definition.holistic_tier.enabled:
        scales.append(
            DimensionScale(
                dimension=HOLISTIC_TIER_KEY,
                label=f"Overall tier: {definition.holistic_tier.question}",
                measurement="ordinal",
                levels=tuple((i, t.label) for i, t in enumerate(definition.tiers)),
            )
        )
    return Codebook(
        title=version.title,
        survey=slug,
        survey_version=version.number,
        survey_label=version.label,
        digest=version.content_sha256,
        variables=tuple(Variable(name, COLUMN_LABELS[name]) for name in EXPORT_COLUMNS),
        scales=tuple(scales),
        wide_keys=WIDE_KEYS,
    )
