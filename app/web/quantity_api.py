"""The JSON API of quantity questions: an expert's own 5/50/95% quantiles, and the round's
quantile answers for the survey team."""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter, Response
from pydantic import ConfigDict, Field

from app.db import begin_writing
from app.inputs import Input, QuantileInput
from app.models import QuantileAnswer, id_of
from app.services import ReadModel, audit, exports, quantities, responses
from app.services.answer_store import Saving
from app.web.api import API_ERRORS
from app.web.deps import Expert, SessionDep, StaffUser
from app.web.downloads import attachment, csv_route
from app.web.params import RoundId

router = APIRouter(prefix="/api", responses=API_ERRORS)  # type: ignore[arg-type]


class QuantilesSave(Input):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {"answers": [{"question": "evaluations_2027", "q05": 10, "q50": 25, "q95": 60}]}
            ]
        },
    )

    answers: list[QuantileInput] = Field(min_length=1, max_length=200)


class QuantileAnswerPublic(ReadModel):
    """One saved answer: the three quantiles, its revision and when it was saved."""

    question: str
    q05: float
    q50: float
    q95: float
    revision: int
    updated_at: datetime
    language: str | None = None

    @classmethod
    def of_answer(cls, answer: QuantileAnswer) -> QuantileAnswerPublic:
        return cls.of(answer, question=answer.question_key)


class QuantityQuestionPublic(ReadModel):
    """A quantity question as the expert sees it (never its realisation), with their
    answer if given."""

    key: str
    label: str
    question: str
    unit: str
    lower: float | None
    upper: float | None
    answer: QuantileAnswerPublic | None


@router.get("/expert/quantities", tags=["expert"], response_model=list[QuantityQuestionPublic])
def expert_quantities(expert: Expert, session: SessionDep) -> list[QuantityQuestionPublic]:
    """The survey's quantity questions in your language, with your own answers so far."""
    state = responses.load_response_state(
        session, response_id=id_of(expert.response), language=expert.invitation.language
    )
    shown = quantities.quantity_states(
        session, response_id=id_of(expert.response), definition=state.definition
    )
    return [
        QuantityQuestionPublic.of(
            s.question,
            answer=QuantileAnswerPublic.of_answer(s.answer) if s.answer is not None else None,
        )
        for s in shown
    ]


@router.put("/expert/quantities", tags=["expert"], response_model=list[QuantileAnswerPublic])
def expert_save_quantities(
    body: QuantilesSave, expert: Expert, session: SessionDep
) -> list[QuantileAnswerPublic]:
    """Save your 5%, 50% and 95% quantiles (all or nothing): strictly increasing, finite,
    within the question's bounds. Every change is kept in the history."""
    saving = Saving(id_of(expert.response), language=expert.invitation.language)
    saved = quantities.save_quantiles(session, saving, answers=body.answers)
    return [QuantileAnswerPublic.of_answer(a) for a in saved]


@csv_route(
    router,
    "/rounds/{round_id}/quantiles.csv",
    tag="rounds",
    description="The quantile answers, as `elicit cooke` reads them",
)
def export_quantiles(
    round_id: RoundId, session: SessionDep, user: StaffUser, include_drafts: bool = False
) -> Response:
    """The round's quantile answers as CSV (expert, question, q05, q50, q95, realisation,
    ...): experts by pseudonymous code only; submitted responses unless
    `include_drafts=true`."""
    text = exports.export_quantiles_csv(session, round_id=round_id, include_drafts=include_drafts)
    begin_writing(session)  # a download is recorded, as the ratings' export is
    audit.record(session, user.email, "export.downloaded", "round", round_id, round_id=round_id)
    return attachment(text, filename=f"round-{round_id}-quantiles.csv")
