"""Exports of a round's ratings (pseudonymous codes only, never names)."""

from __future__ import annotations

from dataclasses import astuple, dataclass, fields

from sqlmodel import Session, col, select

from app.models import Expert, Rating, Response, SurveyVersion
from app.services.csv_out import write_csv
from app.services.rounds import get_round
from app.services.surveys import slug_of


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


def ratings_rows(
    session: Session, *, round_id: int, include_drafts: bool = False
) -> list[ExportedRating]:
    """One row per rating, long format, ordered by rater, item and dimension."""
    round_ = get_round(session, round_id=round_id)
    version = session.get(SurveyVersion, round_.survey_version_id)
    assert version is not None
    slug = slug_of(session, version)
    query = (
        select(Rating, Response, Expert)
        .join(Response, col(Response.id) == col(Rating.response_id))
        .join(Expert, col(Expert.id) == col(Response.expert_id))
        .where(Response.round_id == round_id)
        .order_by(col(Expert.code), col(Rating.item_key), col(Rating.dimension_key))
    )
    if not include_drafts:
        query = query.where(Response.status == "submitted")
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

    round_ = get_round(session, round_id=round_id)
    version = session.get(SurveyVersion, round_.survey_version_id)
    assert version is not None
    slug = slug_of(session, version)
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
