"""An expert's response to a round: ratings, their history, submission."""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from app import i18n
from app.db import first_or_not_found
from app.errors import Conflict, InvalidInput, Message, NotFound, ResponseLocked
from app.i18n import N_
from app.inputs import RatingInput
from app.models import (
    Expert,
    FactorSensitivity,
    Invitation,
    Rating,
    RatingChange,
    Response,
    Round,
    utcnow,
)
from app.services.answer_store import (
    AnswerHistory,
    Saving,
    WantedAnswer,
    locked_response,
    open_saving,
    response_accepting,
    store_answers,
)
from app.services.privacy import (
    CONSENT_STATEMENT,
    consent_text,
    consent_texts,
    keep_consent_text,
    text_digest,
)
from app.services.rounds import (
    PanelFeedback,
    feedback_of,
    round_cells,
    round_definition,
    round_items,
)
from app.survey_files import HOLISTIC_TIER_KEY, Item, SurveyDefinition


@dataclass(frozen=True)
class ResponseState:
    """What an expert (or the API) sees of one response."""

    response: Response
    round: Round
    expert_code: str
    definition: SurveyDefinition
    ratings: dict[tuple[str, str], Rating]
    expected: list[tuple[str, str]]
    #: The items asked in this round, in order.
    items: list[Item]
    #: The same expert's answers in the previous Delphi round, if any.
    previous: dict[tuple[str, str], Rating]
    #: The panel's feedback from the previous round (read once, not per question).
    feedback: PanelFeedback | None
    #: The language the expert reads the survey in; ``definition`` and ``items`` are in it.
    language: str = i18n.SOURCE_LANGUAGE
    #: The definition in the survey's source language (what answers are checked against).
    source: SurveyDefinition | None = None
    #: The expert's answers to which context factors would change their rating, by item.
    sensitivity_rows: list[FactorSensitivity] = field(default_factory=list)

    @property
    def sensitivities(self) -> dict[str, list[str]]:
        """Per item, the factors the expert said would change their rating ([]: none)."""
        return {row.item_key: list(row.factors) for row in self.sensitivity_rows}

    @property
    def consent_text(self) -> str:
        """The text the expert agrees to in this round (introduction and statement)."""
        return consent_text(self.source or self.definition, self.language)

    @property
    def consent_statement(self) -> str:
        """The sentence beside the box the expert ticks (the end of the consent text)."""
        return i18n.translate(i18n.interface_language(self.language), CONSENT_STATEMENT)

    @property
    def consented(self) -> bool:
        """Consent was given to this very text, in any of the survey's languages (a changed
        text is asked for again; switching language is not a change)."""
        return has_consented_any(self.response, consent_texts(self.source or self.definition))

    @property
    def missing(self) -> list[tuple[str, str]]:
        return [cell for cell in self.expected if cell not in self.ratings]

    @property
    def carried(self) -> list[tuple[str, str]]:
        """Questions not yet answered in this round that show the expert's own answer from
        the previous round (prefilled on the item pages, saved here once confirmed)."""
        return [cell for cell in self.missing if cell in self.previous]

    @property
    def answered(self) -> int:
        return len(self.expected) - len(self.missing)

    def item_complete(self, item_key: str) -> bool:
        return all(cell in self.ratings for cell in self.expected if cell[0] == item_key)

    def ratings_in_order(self) -> list[Rating]:
        """This round's answers in the order the questionnaire asks them."""
        return [r for _, r in sorted(self.ratings.items(), key=lambda kv: self._order(kv[0]))]

    def _order(self, cell: tuple[str, str]) -> int:
        try:
            return self.expected.index(cell)
        except ValueError:
            return len(self.expected)


def invitation_response(session: Session, *, invitation: Invitation) -> Response | None:
    """The invitation's response in its round, if it has been started."""
    return _find(session, invitation)


def start_response(session: Session, *, invitation: Invitation) -> Response:
    """The invitation's response in its round, created on first use."""
    response = _find(session, invitation)
    if response is not None:
        return response
    try:
        with session.begin_nested():
            response = Response(round_id=invitation.round_id, expert_id=invitation.expert_id)
            session.add(response)
    except IntegrityError:
        # Two first requests at once (two tabs): the other one created it.
        response = _find(session, invitation)
        assert response is not None
    return response


def give_consent(session: Session, *, response_id: int, language: str | None = None) -> Response:
    """Record the expert's consent to the round's consent text in the language they read
    it in, kept with its SHA-256 (once per text: agreeing again to the same text, or to
    the same text in another of the survey's languages, keeps the first time)."""
    response = locked_response(session, response_id)
    round_ = session.get(Round, response.round_id)
    assert round_ is not None
    definition = round_definition(session, round_)
    text = consent_text(definition, language)
    if not has_consented_any(response, consent_texts(definition)):
        response.consent_sha256 = keep_consent_text(session, text=text)
        response.consent_at = utcnow()
        session.add(response)
    return response


def has_consented(response: Response, text: str) -> bool:
    """Whether the response's consent was given to exactly ``text``."""
    return response.consent_at is not None and response.consent_sha256 == text_digest(text)


def has_consented_any(response: Response, texts: list[str]) -> bool:
    """Whether the response's consent was given to one of ``texts``."""
    return any(has_consented(response, text) for text in texts)


def _current_consent_texts(session: Session, response: Response) -> list[str]:
    round_ = session.get(Round, response.round_id)
    assert round_ is not None
    return consent_texts(round_definition(session, round_))


def load_response_state(
    session: Session, *, response_id: int, language: str | None = None
) -> ResponseState:
    """The response with its round, definition and current ratings; the definition and
    items in ``language`` when the survey is given in it."""
    response = session.get(Response, response_id)
    if response is None:
        raise NotFound(N_("response %(response)s does not exist"), values={"response": response_id})
    round_ = session.get(Round, response.round_id)
    expert = session.get(Expert, response.expert_id)
    assert round_ is not None and expert is not None
    source = round_definition(session, round_)
    language = source.language_or_source(language)
    definition = source.localized(language)
    ratings = {
        (r.item_key, r.dimension_key): r
        for r in session.exec(select(Rating).where(Rating.response_id == response_id)).all()
    }
    from app.services.delphi import previous_answers

    return ResponseState(
        response,
        round_,
        expert.code,
        definition,
        ratings,
        round_cells(round_, definition),
        round_items(round_, definition),
        previous_answers(session, response=response),
        feedback_of(round_),
        language,
        source,
        sensitivity_rows=list(
            session.exec(
                select(FactorSensitivity)
                .where(FactorSensitivity.response_id == response_id)
                .order_by(col(FactorSensitivity.item_key))
            ).all()
        ),
    )


def save_ratings(session: Session, saving: Saving, *, ratings: list[RatingInput]) -> list[Rating]:
    """Validate and store ratings with their history, all or nothing; each new or changed
    answer records the language the survey was shown in (``saving.language``, made one of
    the survey's).

    Raises InvalidInput naming ``ratings[i].<field>`` for an unknown item or dimension, a
    value off the scale, or an abstention the dimension does not allow; Conflict when the
    round is not open or the response is submitted.
    """
    save, round_, definition = open_saving(session, saving)
    asked = {item for item, _ in round_cells(round_, definition)}
    checked = [_validated(definition, index, r) for index, r in enumerate(ratings)]
    feedback = feedback_of(round_)  # parsed once per save, not once per answer
    for index, r in enumerate(checked):
        if r.item not in asked:
            raise InvalidInput(
                N_("item %(item)s is not asked in this round"),
                field=f"ratings[{index}].item",
                values={"item": repr(r.item)},
            )
        _check_reason(feedback, definition, index, r)
    seen: set[tuple[str, str]] = set()
    for index, r in enumerate(checked):
        if (r.item, r.dimension) in seen:
            raise InvalidInput(
                N_("item %(item)s, dimension %(dimension)s appears twice in one save"),
                field=f"ratings[{index}]",
                values={"item": repr(r.item), "dimension": repr(r.dimension)},
            )
        seen.add((r.item, r.dimension))
    current = {
        (r.item_key, r.dimension_key): r
        for r in session.exec(select(Rating).where(Rating.response_id == saving.response_id)).all()
    }
    wanted = [
        WantedAnswer(
            current.get((r.item, r.dimension)),
            {"item_key": r.item, "dimension_key": r.dimension},
            {
                "status": r.status,
                "value": r.value if r.status == "value" else None,
                "confidence": r.confidence,
                "rationale": r.rationale,
                "share_rationale": r.share_rationale,
            },
        )
        for r in checked
    ]
    return store_answers(session, wanted, table=Rating, history=RATING_HISTORY, save=save)


#: A rating's history copies the cell, the revision, the answer and its language.
RATING_HISTORY = AnswerHistory(
    RatingChange,
    "rating_id",
    (
        "response_id",
        "item_key",
        "dimension_key",
        "revision",
        "status",
        "value",
        "confidence",
        "rationale",
        "share_rationale",
        "language",
    ),
)


def submit_response(session: Session, *, response_id: int) -> Response:
    """Lock a draft response. Exactly one of several simultaneous submits succeeds."""
    response = response_accepting(session, response_id)
    if not has_consented_any(response, _current_consent_texts(session, response)):
        raise Conflict(N_("consent has not been given; accept the terms on the welcome page first"))
    # A conditional UPDATE is the arbiter: whichever transaction flips the status wins.
    result = session.execute(
        update(Response)
        .where(col(Response.id) == response_id, col(Response.status) == "draft")
        .values(status="submitted", submitted_at=utcnow(), updated_at=utcnow())
    )
    if result.rowcount != 1:  # type: ignore[attr-defined]  # an UPDATE gives a CursorResult
        raise ResponseLocked(N_("this response has already been submitted"))
    session.refresh(response)
    return response


def reopen_response(session: Session, *, response_id: int) -> Response:
    """Unlock a submitted response so its expert can change it (round must be open)."""
    response = response_accepting(session, response_id)
    if response.status != "submitted":
        raise Conflict(N_("only a submitted response can be reopened"))
    response.status = "draft"
    response.submitted_at = None
    response.reopened_count += 1
    response.updated_at = utcnow()
    session.add(response)
    return response


def find_response(session: Session, *, round_id: int, expert_code: str) -> Response:
    """The response of the expert with this code in a round."""
    query = (
        select(Response)
        .join(Expert, col(Expert.id) == col(Response.expert_id))
        .where(Response.round_id == round_id, Expert.code == expert_code)
    )
    return first_or_not_found(
        session,
        query,
        Message(
            N_("expert %(expert)s has no response in round %(round)s"),
            {"expert": expert_code, "round": round_id},
        ),
    )


def rating_history(session: Session, *, response_id: int) -> list[RatingChange]:
    """Every saved state of every rating of a response, oldest first."""
    return RATING_HISTORY.of_response(session, response_id=response_id)


def _validated(definition: SurveyDefinition, index: int, r: RatingInput) -> RatingInput:
    field = f"ratings[{index}]"
    try:
        definition.item(r.item)
    except KeyError:
        raise InvalidInput(
            N_("unknown item %(item)s"), field=f"{field}.item", values={"item": repr(r.item)}
        ) from None
    if r.dimension == HOLISTIC_TIER_KEY and definition.holistic_tier.enabled:
        low, high = 0, len(definition.tiers) - 1
        allow_cant, allow_outside = True, True
        is_tier = True
    else:
        try:
            dimension = definition.dimension(r.dimension)
        except KeyError:
            raise InvalidInput(
                N_("unknown dimension %(dimension)s"),
                field=f"{field}.dimension",
                values={"dimension": repr(r.dimension)},
            ) from None
        low, high = dimension.scale.min, dimension.scale.max
        allow_cant, allow_outside = dimension.allow_cant_judge, dimension.allow_outside_expertise
        is_tier = False
    _check_answer(r, field, is_tier, (low, high), (allow_cant, allow_outside))
    return r


#: The messages refusing a value that is missing or off the scale, for a dimension's scale
#: (False) and for the overall tier (True).
_OFF_SCALE = {
    False: (
        N_("value is required: a whole number from %(low)s to %(high)s"),
        N_("value %(value)s is off the scale: give a whole number from %(low)s to %(high)s"),
    ),
    True: (
        N_("value is required: a tier position %(low)s..%(high)s"),
        N_("value %(value)s is off the scale: give a tier position %(low)s..%(high)s"),
    ),
}


def _check_answer(
    r: RatingInput,
    field: str,
    is_tier: bool,
    scale: tuple[int, int],
    allowed: tuple[bool, bool],
) -> None:
    low, high = scale
    missing, off_scale = _OFF_SCALE[is_tier]
    if r.status == "value":
        if r.value is None:
            raise InvalidInput(missing, field=f"{field}.value", values={"low": low, "high": high})
        if not low <= r.value <= high:
            raise InvalidInput(
                off_scale,
                field=f"{field}.value",
                values={"value": r.value, "low": low, "high": high},
            )
        return
    if r.value is not None:
        raise InvalidInput(
            N_("a %(status)s answer carries no value; leave value empty"),
            field=f"{field}.value",
            values={"status": repr(r.status)},
        )
    if r.status == "cant_judge" and not allowed[0]:
        raise InvalidInput(
            N_("this dimension does not allow 'can't judge'"), field=f"{field}.status"
        )
    if r.status == "outside_expertise" and not allowed[1]:
        raise InvalidInput(
            N_("this dimension does not allow 'outside my expertise'"), field=f"{field}.status"
        )


def outside_panel_range(
    feedback: PanelFeedback | None, item: str, dimension: str, value: int
) -> str | None:
    """If ``value`` lies outside the previous round's interquartile range, say so."""
    cell = feedback.cell(item, dimension) if feedback else None
    if cell is None or cell.q1 is None or cell.q3 is None:
        return None
    if cell.q1 <= value <= cell.q3:
        return None
    return f"the panel's middle half lay between {cell.q1:g} and {cell.q3:g}"


def _check_reason(
    feedback: PanelFeedback | None, definition: SurveyDefinition, index: int, r: RatingInput
) -> None:
    # Delphi: moving to, or staying at, a value outside the panel's IQR needs a reason.
    if r.status != "value" or r.value is None or not definition.delphi.require_reason_outside_iqr:
        return
    where = outside_panel_range(feedback, r.item, r.dimension, r.value)
    if where and not r.rationale.strip():
        cell = feedback.cell(r.item, r.dimension) if feedback else None
        assert cell is not None and cell.q1 is not None and cell.q3 is not None
        raise ReasonRequired(
            N_(
                "%(value)s is outside the panel's range in the previous round (the panel's "
                "middle half lay between %(q1)s and %(q3)s); give a short reason in the "
                "rationale"
            ),
            field=f"ratings[{index}].rationale",
            value=r.value,
            q1=cell.q1,
            q3=cell.q3,
        )


class ReasonRequired(InvalidInput):
    """A Delphi answer outside the panel's previous middle half came without a reason; the
    figures travel with it so a page can say it in the expert's language."""

    def __init__(self, message: str, *, field: str, value: int, q1: float, q3: float) -> None:
        super().__init__(message, field=field, values={"value": value, "q1": q1, "q3": q3})
        self.value, self.q1, self.q3 = value, q1, q3


def _find(session: Session, invitation: Invitation) -> Response | None:
    return session.exec(
        select(Response).where(
            Response.round_id == invitation.round_id, Response.expert_id == invitation.expert_id
        )
    ).first()
