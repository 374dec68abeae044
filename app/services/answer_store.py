"""Storing an expert's answers with their history: the one write path that ratings and
quantile answers share.

An answer row holds the current state of one cell (an item on a dimension, or one
quantity question); each save that changes it bumps ``revision`` and appends the new state
to the answer's history table, which triggers keep append-only.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Generic, TypeVar

from sqlalchemy import Select
from sqlmodel import Session, col, select

from app.db import first_or_not_found
from app.errors import Message, ResponseLocked
from app.i18n import N_
from app.models import (
    Expert,
    FactorSensitivity,
    QuantileAnswer,
    QuantileAnswerChange,
    Rating,
    RatingChange,
    Response,
    Round,
    id_of,
    utcnow,
)
from app.services.rounds import ensure_accepting, round_definition
from app.survey_files import SurveyDefinition

Answer = TypeVar("Answer", Rating, QuantileAnswer)

#: Every table holding a response's answers, each history table before the answers it
#: records: the order in which a withdrawal deletes them.
ANSWER_TABLES = (RatingChange, FactorSensitivity, Rating, QuantileAnswerChange, QuantileAnswer)
Change = TypeVar("Change", RatingChange, QuantileAnswerChange)
Query = TypeVar("Query", bound=Select[*tuple[Any, ...]])


@dataclass(frozen=True)
class AnswerHistory(Generic[Change]):
    """How an answer table keeps its history: the history table, the column naming the
    answer a row belongs to, and the columns it copies from the answer."""

    table: type[Change]
    answer_column: str
    kept: tuple[str, ...]

    def state(self, answer: Rating | QuantileAnswer, *, changed_by: str, at: datetime) -> Change:
        """The answer as it now stands, as a row of its history."""
        copied: dict[str, Any] = {name: getattr(answer, name) for name in self.kept}
        copied[self.answer_column] = id_of(answer)
        return self.table(changed_by=changed_by, changed_at=at, **copied)

    def of_response(self, session: Session, *, response_id: int) -> list[Change]:
        """Every saved state of every answer of a response, oldest first."""
        return list(
            session.exec(
                select(self.table)
                .where(col(self.table.response_id) == response_id)
                .order_by(col(self.table.id))
            ).all()
        )


@dataclass(frozen=True)
class Saving:
    """What a save of answers is asked with: the response they go into, who saves them
    ("expert", or staff on the expert's behalf) and the language the survey was shown in
    (the survey's first when None or not one of its languages)."""

    response_id: int
    changed_by: str = "expert"
    language: str | None = None


@dataclass(frozen=True)
class AnswerSave:
    """A :class:`Saving` once opened (:func:`open_saving`): the response row, locked, and
    the language made one of the survey's."""

    response: Response
    changed_by: str
    language: str | None


@dataclass(frozen=True)
class WantedAnswer(Generic[Answer]):
    """One answer as a save asks for it: the row that holds the cell now (None: none yet),
    the columns naming the cell, and the answer's values."""

    current: Answer | None
    cell: dict[str, Any]
    values: dict[str, Any]


def store_answers(
    session: Session,
    wanted: Sequence[WantedAnswer[Answer]],
    *,
    table: type[Answer],
    history: AnswerHistory[Any],
    save: AnswerSave,
) -> list[Answer]:
    """Write the answers that are new or changed (a new revision each, with a history row)
    and return every wanted answer's row, in order; an unchanged answer keeps its revision."""
    now = utcnow()
    saved: list[Answer] = []
    changed: list[Answer] = []
    for answer in wanted:
        row = answer.current
        if row is None:
            row = table(response_id=id_of(save.response), **answer.cell, **answer.values)
        elif all(getattr(row, name) == value for name, value in answer.values.items()):
            saved.append(row)  # unchanged: no new revision
            continue
        else:
            for name, value in answer.values.items():
                setattr(row, name, value)
            row.revision += 1
        row.updated_at = now
        row.language = save.language
        session.add(row)
        changed.append(row)
        saved.append(row)
    # Two flushes whatever the number of answers: the answers (batched, new ids returned),
    # then their history rows, which need those ids.
    session.flush()
    for row in changed:
        session.add(history.state(row, changed_by=save.changed_by, at=now))
    save.response.updated_at = now
    session.add(save.response)
    session.flush()
    return saved


def of_round(
    query: Query,
    answers: type[Rating] | type[QuantileAnswer] | type[FactorSensitivity],
    *,
    round_id: int,
    include_drafts: bool,
) -> Query:
    """The query's answers of one round, joined to their response and its expert; those of
    submitted responses only unless drafts are included."""
    query = (
        query.join(Response, col(Response.id) == col(answers.response_id))
        .join(Expert, col(Expert.id) == col(Response.expert_id))
        .where(col(Response.round_id) == round_id)
    )
    if not include_drafts:
        query = query.where(col(Response.status) == "submitted")
    return query


def locked_response(session: Session, response_id: int) -> Response:
    """The response, row-locked (NotFound when there is none)."""
    # FOR UPDATE serialises writers of one response on PostgreSQL; SQLite's BEGIN IMMEDIATE
    # already serialises every writer.
    query = select(Response).where(Response.id == response_id).with_for_update()
    return first_or_not_found(
        session,
        query,
        Message(N_("response %(response)s does not exist"), {"response": response_id}),
    )


def response_accepting(session: Session, response_id: int) -> Response:
    """The response, row-locked, provided its round still accepts answers."""
    response = locked_response(session, response_id)
    round_ = session.get(Round, response.round_id)
    assert round_ is not None
    ensure_accepting(round_)
    return response


def open_saving(session: Session, saving: Saving) -> tuple[AnswerSave, Round, SurveyDefinition]:
    """Open the draft a save goes into (:func:`open_draft`): the save with its language
    made one of the survey's, the round and the survey as the round asks it."""
    response, round_ = open_draft(session, saving.response_id)
    definition = round_definition(session, round_)
    language = definition.language_or_source(saving.language)
    return AnswerSave(response, saving.changed_by, language), round_, definition


def open_draft(session: Session, response_id: int) -> tuple[Response, Round]:
    """The response, row-locked, and its round, provided the round accepts answers and the
    response is not submitted (Conflict / ResponseLocked otherwise)."""
    response = response_accepting(session, response_id)
    if response.status != "draft":
        raise ResponseLocked(
            N_("this response has been submitted and is locked; ask the survey team to reopen it")
        )
    round_ = session.get(Round, response.round_id)
    assert round_ is not None
    return response, round_
