"""Quantity questions: an expert's 5/50/95% quantiles, their history, and the panel's
answers for Cooke's classical model."""

from __future__ import annotations

import math
from dataclasses import dataclass

from sqlalchemy import select as sa_select
from sqlmodel import Session, col, select

from app.errors import InvalidInput
from app.i18n import N_
from app.inputs import QuantileInput
from app.models import (
    Expert,
    QuantileAnswer,
    QuantileAnswerChange,
)
from app.services.answer_store import (
    AnswerHistory,
    Saving,
    WantedAnswer,
    of_round,
    open_saving,
    store_answers,
)
from app.survey_files import Quantity, SurveyDefinition

#: The quantiles asked, as the field names of an answer.
QUANTILE_FIELDS = ("q05", "q50", "q95")


@dataclass(frozen=True)
class QuantileState:
    """One quantity question as an expert sees it, with their answer if given."""

    question: Quantity
    answer: QuantileAnswer | None


@dataclass(frozen=True)
class PanelQuantiles:
    """One expert's answer to one quantity question, for analysis (expert by code)."""

    expert: str
    question: str
    q05: float
    q50: float
    q95: float


def quantile_answers(session: Session, *, response_id: int) -> dict[str, QuantileAnswer]:
    """A response's current quantile answers, by question key."""
    rows = session.exec(
        select(QuantileAnswer).where(QuantileAnswer.response_id == response_id)
    ).all()
    return {row.question_key: row for row in rows}


def quantity_states(
    session: Session, *, response_id: int, definition: SurveyDefinition
) -> list[QuantileState]:
    """Every quantity question of the survey, in order, with this response's answers."""
    answers = quantile_answers(session, response_id=response_id)
    return [QuantileState(q, answers.get(q.key)) for q in definition.quantities]


def check_quantiles(quantity: Quantity, answer: QuantileInput, *, field: str) -> None:
    """Refuse an answer that Cooke's model cannot use: a number that is not finite, the
    quantiles not strictly increasing, or a value outside the question's bounds."""
    values = {name: getattr(answer, name) for name in QUANTILE_FIELDS}
    for name, value in values.items():
        if not math.isfinite(value):
            raise InvalidInput(
                N_("%(name)s must be a finite number"),
                field=f"{field}.{name}",
                values={"name": name},
            )
    if not values["q05"] < values["q50"]:
        raise InvalidInput(
            N_("the 5%% quantile (%(low)s) must be smaller than the median (%(median)s)"),
            field=f"{field}.q05",
            values={"low": float(values["q05"]), "median": float(values["q50"])},
        )
    if not values["q50"] < values["q95"]:
        raise InvalidInput(
            N_("the 95%% quantile (%(high)s) must be greater than the median (%(median)s)"),
            field=f"{field}.q95",
            values={"high": float(values["q95"]), "median": float(values["q50"])},
        )
    for name, value in values.items():
        if quantity.lower is not None and value < quantity.lower:
            raise InvalidInput(
                N_("%(name)s (%(value)s) lies below the question's lower bound (%(bound)s)"),
                field=f"{field}.{name}",
                values={"name": name, "value": float(value), "bound": float(quantity.lower)},
            )
        if quantity.upper is not None and value > quantity.upper:
            raise InvalidInput(
                N_("%(name)s (%(value)s) lies above the question's upper bound (%(bound)s)"),
                field=f"{field}.{name}",
                values={"name": name, "value": float(value), "bound": float(quantity.upper)},
            )


def save_quantiles(
    session: Session, saving: Saving, *, answers: list[QuantileInput]
) -> list[QuantileAnswer]:
    """Validate and store quantile answers with their history, all or nothing.

    Raises InvalidInput naming ``answers[i].<field>`` for an unknown question, a number
    that is not finite, quantiles not strictly increasing or outside the question's
    bounds, or a question given twice; Conflict when the round is not open or the response
    is submitted.
    """
    save, _, definition = open_saving(session, saving)
    seen: set[str] = set()
    for index, answer in enumerate(answers):
        field = f"answers[{index}]"
        try:
            quantity = definition.quantity(answer.question)
        except KeyError:
            known = ", ".join(q.key for q in definition.quantities) or "none"
            raise InvalidInput(
                N_("unknown quantity question %(question)s (this survey asks: %(known)s)"),
                field=f"{field}.question",
                values={"question": repr(answer.question), "known": known},
            ) from None
        if answer.question in seen:
            raise InvalidInput(
                N_("question %(question)s appears twice in one save"),
                field=field,
                values={"question": repr(answer.question)},
            )
        seen.add(answer.question)
        check_quantiles(quantity, answer, field=field)
    current = quantile_answers(session, response_id=saving.response_id)
    wanted = [
        WantedAnswer(
            current.get(answer.question),
            {"question_key": answer.question},
            {name: float(getattr(answer, name)) for name in QUANTILE_FIELDS},
        )
        for answer in answers
    ]
    return store_answers(session, wanted, table=QuantileAnswer, history=QUANTILE_HISTORY, save=save)


#: A quantile answer's history copies the question, the revision and the quantiles.
QUANTILE_HISTORY = AnswerHistory(
    QuantileAnswerChange, "answer_id", ("response_id", "question_key", "revision", *QUANTILE_FIELDS)
)


def quantile_history(session: Session, *, response_id: int) -> list[QuantileAnswerChange]:
    """Every saved state of every quantile answer of a response, oldest first."""
    return QUANTILE_HISTORY.of_response(session, response_id=response_id)


def panel_quantiles(
    session: Session, *, round_id: int, include_drafts: bool = False
) -> list[PanelQuantiles]:
    """The round's quantile answers by expert code and question (submitted responses
    unless drafts are included)."""
    columns = sa_select(
        col(Expert.code),
        col(QuantileAnswer.question_key),
        *(col(getattr(QuantileAnswer, name)) for name in QUANTILE_FIELDS),
    )
    query = of_round(
        columns, QuantileAnswer, round_id=round_id, include_drafts=include_drafts
    ).order_by(col(Expert.code), col(QuantileAnswer.question_key))
    return [
        PanelQuantiles(code, key, float(q05), float(q50), float(q95))
        for code, key, q05, q50, q95 in session.execute(query).all()
    ]
