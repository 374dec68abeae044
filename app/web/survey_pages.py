"""The expert's questionnaire: the invitation link, consent, one page per item, review and
submission. Every page works without JavaScript; forms carry the session's CSRF token."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import ValidationError
from sqlmodel import Session
from starlette.datastructures import FormData

from app import i18n
from app.db import begin_writing
from app.errors import InvalidInput, NotFound
from app.i18n import N_
from app.inputs import SensitivityInput
from app.models import Rating, id_of, utcnow
from app.schemas import RatingInput, RatingStatus
from app.services import auth, invitations, mail, privacy, responses, sensitivity, sessions
from app.services.answer_store import Saving
from app.survey_files import HOLISTIC_TIER_KEY, SurveyDefinition, language_name
from app.web.deps import (
    SESSION_COOKIE,
    Expert,
    SessionDep,
    SettingsDep,
    check_csrf,
    client_address,
)
from app.web.downloads import attachment
from app.web.page_support import (
    FormDep,
    redirect,
    remember_language,
    render,
    set_session_cookie,
)

router = APIRouter(include_in_schema=False)


# --- invitation link -> session cookie -> questionnaire ---------------------------------


@router.get("/i/{token}")
def accept_invitation(
    token: str, request: Request, session: SessionDep, settings: SettingsDep
) -> Response:
    """Trade the link's token for a session cookie and drop the token from the URL."""
    invitation = auth.find_invitation_guarded(session, token=token, address=client_address(request))
    begin_writing(session)
    responses.start_response(session, invitation=invitation)
    session_token, _ = sessions.start_session(
        session, invitation_id=invitation.id, hours=settings.session_hours
    )
    response = redirect("/survey")
    set_session_cookie(response, session_token, request)
    return response


def _state(session: Any, expert: Any) -> responses.ResponseState:
    return responses.load_response_state(
        session, response_id=expert.response.id, language=expert.invitation.language
    )


def _t(state: responses.ResponseState, message: str, **values: object) -> str:
    """``message`` in the expert's language."""
    return i18n.translate(i18n.interface_language(state.language), message, **values)


def _page(
    request: Request,
    template: str,
    state: responses.ResponseState,
    context: dict[str, Any],
    *,
    caller: Any = None,
    status: int = 200,
) -> Response:
    """An expert's page in their language, with the choice of the survey's languages."""
    source = state.source or state.definition
    languages = [(code, language_name(code)) for code in source.languages]
    page = render(
        request,
        template,
        {**context, "language": state.language, "languages": languages},
        caller=caller,
        status=status,
    )
    remember_language(page, request, state.language)
    return page


def _can_edit(state: responses.ResponseState) -> tuple[bool, str]:
    if state.round.status == "draft":
        return False, _t(
            state,
            "This round has not opened yet. Your link will work as soon as the survey team "
            "opens it; until then you can read the introduction and the rubric below.",
        )
    if state.response.status == "submitted":
        return False, _t(state, "You have submitted your answers. They can no longer be changed.")
    closes_at = state.round.closes_at
    if state.round.status != "open":
        return False, _t(state, "This round is closed: answers can no longer be changed.")
    if closes_at is not None and utcnow() >= closes_at:
        when = i18n.format_when(closes_at, state.language)
        return False, _t(
            state, "This round closed on %(when)s: answers can no longer be changed.", when=when
        )
    return True, ""


def _editable_state(session: Session, expert: Expert) -> tuple[responses.ResponseState, bool, str]:
    """The expert's answers, whether they may change them, and if not, why not."""
    state = _state(session, expert)
    return (state, *_can_edit(state))


def _posted_state(
    request: Request, expert: Expert, session: Session, form: FormData
) -> responses.ResponseState:
    """The expert's answers, once the form's CSRF token has been checked."""
    check_csrf(request, expert.caller, str(form.get("csrf_token", "")))
    return _state(session, expert)


def _answer_page(
    request: Request,
    template: str,
    state: responses.ResponseState,
    context: dict[str, Any],
    *,
    caller: Any,
    errors: dict[str, str] | None = None,
) -> Response:
    """A page of questions: whether the expert may answer (and if not, why not), and the
    errors of a refused save (status 422 when there are any)."""
    can_edit, notice = _can_edit(state)
    answers = {**context, "can_edit": can_edit, "notice": notice, "errors": errors or {}}
    return _page(request, template, state, answers, caller=caller, status=422 if errors else 200)


def _turn_page(
    form: FormData, context: dict[str, Any], *, pages: str, before: str | None, after: str
) -> Response:
    """Where a numbered page's buttons lead once its answers are saved: the previous page
    (``before`` the first), the next one (``after`` the last), or the same page again; the
    page's ``context`` gives its ``number`` and the ``total``."""
    number, total = context["number"], context["total"]
    action = form.get("action", "next")
    if action == "previous" and number > 1:
        return redirect(f"{pages}/{number - 1}")
    if action == "previous" and before is not None:
        return redirect(before)
    if action == "next" and number < total:
        return redirect(f"{pages}/{number + 1}")
    if action == "stay":
        return redirect(f"{pages}/{number}?saved=1")
    return redirect(after)


@router.get("/survey", response_class=HTMLResponse)
def welcome(request: Request, expert: Expert, session: SessionDep) -> Response:
    state, can_edit, notice = _editable_state(session, expert)
    return _welcome_page(
        request,
        expert,
        state,
        can_edit=can_edit,
        notice=notice,
        next_item=_first_incomplete(state),
        percent=round(100 * state.answered / max(1, len(state.expected))),
    )


def _welcome_page(
    request: Request,
    expert: Expert,
    state: responses.ResponseState,
    *,
    status: int = 200,
    **shown: Any,
) -> Response:
    """The welcome page (introduction, rubric, consent or the way back in) with ``shown``."""
    context = {"state": state, "d": state.definition, **shown}
    return _page(
        request, "survey_welcome.html", state, context, caller=expert.caller, status=status
    )


@router.post("/survey/consent")
def consent(request: Request, expert: Expert, session: SessionDep, form: FormDep) -> Response:
    state = _posted_state(request, expert, session, form)
    if form.get("consent") != "yes":
        return _welcome_page(
            request,
            expert,
            state,
            can_edit=True,
            notice="",
            next_item=1,
            error=_t(state, "Tick the box to say you agree before you start."),
            status=422,
        )
    responses.give_consent(session, response_id=id_of(expert.response), language=state.language)
    return redirect("/survey/items/1")


def _first_incomplete(state: responses.ResponseState) -> int:
    for index, item in enumerate(state.items, start=1):
        if not state.item_complete(item.key):
            return index
    return 1


def _item_context(state: responses.ResponseState, number: int) -> dict[str, Any]:
    definition = state.definition
    items = state.items
    if not 1 <= number <= len(items):
        raise _NoSuchItem(_t(state, _NO_SUCH_ITEM, count=len(items)))
    item = items[number - 1]
    return {
        "state": state,
        "d": definition,
        "item": item,
        "number": number,
        "total": len(items),
        "percent": round(100 * state.answered / max(1, len(state.expected))),
        "tier_key": HOLISTIC_TIER_KEY,
        "dimensions": _dimension_views(definition, state, item.key),
        "factor_question": _factor_question(state, item.key),
        "items_done": [state.item_complete(i.key) for i in items],
    }


#: The error key of the factors question on an item page (no dimension key starts with _).
FACTORS_KEY = "_factors"


@dataclass(frozen=True)
class _FactorQuestion:
    """The item page's question which context factors would change the expert's rating."""

    question: str
    #: (key, label, question, ticked)
    factors: list[tuple[str, str, str, bool]]
    none: bool


def _factor_question(
    state: responses.ResponseState, item_key: str, submitted: tuple[list[str], bool] | None = None
) -> _FactorQuestion | None:
    asked = state.definition.context.sensitivity_question
    if asked is None:
        return None
    if submitted is not None:
        named, none = submitted
    else:
        answer = state.sensitivities.get(item_key)
        named, none = answer or [], answer == []
    return _FactorQuestion(
        asked.question,
        [
            (f.key, f.label, f.question, f.key in named)
            for f in state.definition.factors_offered(item_key)
        ],
        none,
    )


def _save_factors(
    session: Session,
    expert: Expert,
    state: responses.ResponseState,
    item_key: str,
    form: Any,
    errors: dict[str, str],
) -> tuple[list[str], bool] | None:
    """Save the page's answer to the factors question (ticked factors, "none of these", or
    neither: taken back); what was ticked, to show again when the page has errors."""
    if (
        form.get("sensitive_asked") != "yes"
        or state.definition.context.sensitivity_question is None
    ):
        return None
    offered = [f.key for f in state.definition.factors_offered(item_key)]
    named = [key for key in offered if form.get(f"sensitive__{key}") == "yes"]
    none = form.get("sensitive_none") == "yes"
    if named and none:
        errors[FACTORS_KEY] = _t(
            state,
            "Tick the conditions that would change your rating, or “none of these”, not both.",
        )
        return named, none
    try:
        sensitivity.save_sensitivity(
            session,
            response_id=id_of(expert.response),
            answer=SensitivityInput(item=item_key, factors=[] if none else (named or None)),
            language=state.language,
        )
    except InvalidInput as exc:
        errors[FACTORS_KEY] = _sentence(state, exc)
    return named, none


_NO_SUCH_ITEM = N_("There is no such item; this survey has items 1 to %(count)s.")


class _NoSuchItem(NotFound):
    pass


@dataclass(frozen=True)
class _Question:
    """One question of an item page: a dimension, or the overall tier."""

    key: str
    label: str
    question: str
    #: (value, text shown beside the radio button)
    levels: list[tuple[int, str]]
    allow_cant: bool
    allow_outside: bool
    is_tier: bool = False
    #: How an answer is named in a sentence ("2 (Some)", "Gray area").
    names: dict[int, str] = field(default_factory=dict)
    #: The interface language, for the names of abstentions.
    language: str = i18n.SOURCE_LANGUAGE

    def answer_text(self, rating: Rating) -> str:
        if rating.status == "cant_judge":
            return i18n.translate(self.language, "can't judge")
        if rating.status == "outside_expertise":
            return i18n.translate(self.language, "outside my expertise")
        assert rating.value is not None
        return self.names.get(rating.value, str(rating.value))

    def cell_text(self, rating: Rating) -> str:
        """The answer in a table cell: a tier by its name, a level by its number."""
        if rating.status == "value" and not self.is_tier:
            return str(rating.value)
        return self.answer_text(rating)


def _questions(definition: SurveyDefinition, language: str) -> list[_Question]:
    language = i18n.interface_language(language)
    questions = []
    for dim in definition.dimensions:
        levels = [(v, dim.scale.levels[v]) for v in dim.scale.values]
        questions.append(
            _Question(
                dim.key,
                dim.label,
                dim.question,
                levels,
                dim.allow_cant_judge,
                dim.allow_outside_expertise,
                names={v: f"{v} ({_shorten(text)})" for v, text in levels},
                language=language,
            )
        )
    if definition.holistic_tier.enabled:
        questions.append(
            _Question(
                HOLISTIC_TIER_KEY,
                i18n.translate(language, "Overall tier"),
                definition.holistic_tier.question,
                [(i, f"{t.label}: {t.description}") for i, t in enumerate(definition.tiers)],
                True,
                True,
                is_tier=True,
                names={i: t.label for i, t in enumerate(definition.tiers)},
                language=language,
            )
        )
    return questions


def _shorten(text: str, limit: int = 40) -> str:
    """A level's text for use in a sentence: its first line, cut at a word near ``limit``."""
    line = text.strip().splitlines()[0] if text.strip() else ""
    if len(line) <= limit:
        return line
    return line[:limit].rsplit(" ", 1)[0].rstrip(",;:") + "…"


def _dimension_views(
    definition: SurveyDefinition,
    state: responses.ResponseState,
    item_key: str,
    submitted: dict[str, dict[str, str]] | None = None,
) -> list[dict[str, Any]]:
    return [_view(q, state, item_key, submitted) for q in _questions(definition, state.language)]


def _as_form(rating: Rating) -> dict[str, str]:
    return {
        "answer": str(rating.value) if rating.status == "value" else rating.status,
        "confidence": rating.confidence or "",
        "rationale": rating.rationale,
    }


def _view(
    q: _Question,
    state: responses.ResponseState,
    item_key: str,
    submitted: dict[str, dict[str, str]] | None,
) -> dict[str, Any]:
    rating = state.ratings.get((item_key, q.key))
    previous = state.previous.get((item_key, q.key))
    if submitted is not None and q.key in submitted:
        current = submitted[q.key]
    elif rating is not None:
        current = _as_form(rating)
    elif previous is not None:
        # A later Delphi round starts from the expert's own earlier answer: keep or revise.
        current = _as_form(previous)
    else:
        current = {"answer": "", "confidence": "", "rationale": ""}
    return {
        "key": q.key,
        "label": q.label,
        "question": q.question,
        "levels": q.levels,
        "allow_cant": q.allow_cant,
        "allow_outside": q.allow_outside,
        "current": current,
        "is_tier": q.is_tier,
        "feedback": _feedback_view(state, item_key, q.key, q.levels),
        "previous": q.answer_text(previous) if previous is not None else None,
        # Shown from the earlier round, not yet saved in this one.
        "carried": rating is None and previous is not None,
    }


def _feedback_view(
    state: responses.ResponseState, item_key: str, key: str, levels: list[tuple[int, str]]
) -> dict[str, Any] | None:
    cell = state.feedback.cell(item_key, key) if state.feedback else None
    if cell is None:
        return None
    total = sum(cell.histogram.values()) or 1
    return {
        "round": state.round.sequence - 1,
        "n": cell.n,
        "median": cell.median,
        "q1": cell.q1,
        "q3": cell.q3,
        "bars": [
            {
                "level": level,
                "count": cell.histogram.get(str(level), 0),
                "percent": round(100 * cell.histogram.get(str(level), 0) / total),
            }
            for level, _ in levels
        ],
        "rationales": cell.rationales,
        "tier_names": {level: text.split(":")[0] for level, text in levels},
    }


@router.get("/survey/items/{number}", response_class=HTMLResponse)
def item_page(number: int, request: Request, expert: Expert, session: SessionDep) -> Response:
    state = _state(session, expert)
    ctx = _item_context(state, number)
    share = any(r.share_rationale for (i, _), r in state.ratings.items() if i == ctx["item"].key)
    return _answer_page(
        request, "survey_item.html", state, {**ctx, "share": share}, caller=expert.caller
    )


@router.post("/survey/items/{number}", response_class=HTMLResponse)
def save_item(
    number: int, request: Request, expert: Expert, session: SessionDep, form: FormDep
) -> Response:
    state = _posted_state(request, expert, session, form)
    ctx = _item_context(state, number)
    item = ctx["item"]
    share = form.get("share_rationale") == "yes"
    submitted: dict[str, dict[str, str]] = {}
    ratings: list[RatingInput] = []
    errors: dict[str, str] = {}
    for view in ctx["dimensions"]:
        key = view["key"]
        answer = str(form.get(f"{key}__answer", "")).strip()
        confidence = str(form.get(f"{key}__confidence", "")).strip()
        rationale = str(form.get(f"{key}__rationale", "")).replace("\r\n", "\n")
        submitted[key] = {"answer": answer, "confidence": confidence, "rationale": rationale}
        if not answer:
            if rationale.strip() or confidence:
                errors[key] = _t(
                    state, "Choose a level, or say you can't judge, to save this note."
                )
            continue
        try:
            status: RatingStatus
            value: int | None
            if answer in ("cant_judge", "outside_expertise"):
                status = "cant_judge" if answer == "cant_judge" else "outside_expertise"
                value = None
            else:
                status, value = "value", int(answer)
        except ValueError:
            errors[key] = _t(state, "Choose one of the levels shown.")
            continue
        try:
            ratings.append(
                RatingInput(
                    item=item.key,
                    dimension=key,
                    status=status,
                    value=value,
                    confidence=confidence or None,  # type: ignore[arg-type]  # checked by pydantic
                    rationale=rationale,
                    share_rationale=share,
                )
            )
        except ValidationError as exc:
            errors[key] = _input_problem(state, exc)
    saved = _save_what_is_valid(session, expert, state, ratings, errors)
    factors = _save_factors(session, expert, state, item.key, form, errors)
    if errors:
        ctx["dimensions"] = _dimension_views(state.definition, state, item.key, submitted)
        ctx["factor_question"] = _factor_question(state, item.key, factors)
        labels = {v["key"]: v["label"] for v in ctx["dimensions"]}
        saved_labels = [labels[r.dimension] for r in saved]
        return _answer_page(
            request,
            "survey_item.html",
            state,
            {**ctx, "share": share, "saved_labels": saved_labels},
            caller=expert.caller,
            errors=errors,
        )
    return _turn_page(form, ctx, pages="/survey/items", before=None, after=_after_items(state))


def _save_what_is_valid(
    session: Any,
    expert: Any,
    state: responses.ResponseState,
    ratings: list[RatingInput],
    errors: dict[str, str],
) -> list[RatingInput]:
    """Save the page's valid answers even when others on it need fixing; each refused one
    gets its message next to its question (field "ratings[i].<name>"). The checks all run
    before anything is written, so a refused attempt leaves nothing behind to undo."""
    pending = [r for r in ratings if r.dimension not in errors]
    while pending:
        try:
            saving = Saving(id_of(expert.response), language=state.language)
            responses.save_ratings(session, saving, ratings=pending)
            return pending
        except InvalidInput as exc:
            index = re.match(r"ratings\[(\d+)\]", exc.field or "")
            if index is None:
                errors["_form"] = _sentence(state, exc)
                return []
            refused = pending.pop(int(index.group(1)))
            errors[refused.dimension] = _sentence(state, exc)
    return []


def _sentence(state: responses.ResponseState, exc: InvalidInput) -> str:
    """A refusal of the service as a sentence in the expert's language."""
    if isinstance(exc, responses.ReasonRequired):
        return _t(
            state,
            "%(value)s is outside the panel's range in the previous round (the panel's middle "
            "half lay between %(q1)s and %(q3)s); give a short reason in the rationale.",
            value=exc.value,
            q1=i18n.format_number(exc.q1, state.language),
            q3=i18n.format_number(exc.q3, state.language),
        )
    text = i18n.translate_message(state.language, exc.message)
    return text[:1].upper() + text[1:]


def _input_problem(state: responses.ResponseState, exc: ValidationError) -> str:
    """Why the form's answer to a question is not valid, in the expert's language (the
    checks of the request shape, whose own words are the validator's, in English)."""
    first = exc.errors()[0]
    if first["type"] == "string_too_long":
        limit = (first.get("ctx") or {}).get("max_length", "")
        return _t(state, "This text is too long: at most %(limit)s characters.", limit=limit)
    if first["type"] == "literal_error":
        return _t(state, "Choose one of the answers shown.")
    return _t(state, "This answer is not valid; choose one of the answers shown.")


@router.get("/survey/review", response_class=HTMLResponse)
def review(request: Request, expert: Expert, session: SessionDep) -> Response:
    state, can_edit, notice = _editable_state(session, expert)
    return _page(
        request,
        "survey_review.html",
        state,
        {
            **_review_context(state, can_edit, notice),
            "quantity_answers": _quantity_answers(session, state),
        },
        caller=expert.caller,
    )


def _after_items(state: responses.ResponseState) -> str:
    """Where the last item page leads: the quantity questions, if any, else the review."""
    return "/survey/quantities/1" if state.definition.quantities else "/survey/review"


def _quantity_answers(session: Session, state: responses.ResponseState) -> list[Any]:
    """Each quantity question with the expert's answer (None when not yet given)."""
    from app.services.quantities import quantity_states

    shown = quantity_states(session, response_id=id_of(state.response), definition=state.definition)
    return [(s.question, s.answer) for s in shown]


def _review_context(state: responses.ResponseState, can_edit: bool, notice: str) -> dict[str, Any]:
    definition = state.definition
    questions = {q.key: q for q in _questions(definition, state.language)}
    carried = set(state.carried)
    missing_by_item: list[dict[str, Any]] = []
    carried_by_item: list[dict[str, Any]] = []
    for number, item in enumerate(state.items, start=1):
        cells = [(i, d) for (i, d) in state.missing if i == item.key]
        missing = [questions[d].label for (i, d) in cells if (i, d) not in carried]
        kept = [questions[d].label for (i, d) in cells if (i, d) in carried]
        if missing:
            missing_by_item.append({"number": number, "item": item, "missing": missing})
        if kept:
            carried_by_item.append({"number": number, "item": item, "carried": kept})
    shown: dict[tuple[str, str], dict[str, Any]] = {}
    for item in state.items:
        for key, q in questions.items():
            rating = state.ratings.get((item.key, key))
            previous = state.previous.get((item.key, key))
            if rating is not None:
                shown[(item.key, key)] = {"text": q.cell_text(rating), "carried": False}
            elif previous is not None:
                shown[(item.key, key)] = {"text": q.cell_text(previous), "carried": True}
    return {
        "state": state,
        "d": definition,
        "missing_by_item": missing_by_item,
        "carried_by_item": carried_by_item,
        "shown": shown,
        "tier_key": HOLISTIC_TIER_KEY,
        "previous_round": state.round.sequence - 1,
        "can_edit": can_edit,
        "notice": notice,
        "percent": round(100 * state.answered / max(1, len(state.expected))),
    }


@router.post("/survey/submit")
def submit(
    request: Request, expert: Expert, session: SessionDep, settings: SettingsDep, form: FormDep
) -> Response:
    check_csrf(request, expert.caller, str(form.get("csrf_token", "")))
    submitted = responses.submit_response(session, response_id=id_of(expert.response))
    mail.queue_receipt(session, response_id=id_of(submitted), sender=mail.Sender.of(settings))
    return redirect("/survey/thanks")


@router.get("/survey/thanks", response_class=HTMLResponse)
def thanks(request: Request, expert: Expert, session: SessionDep) -> Response:
    state = _state(session, expert)
    return _page(
        request,
        "survey_thanks.html",
        state,
        {"state": state, "d": state.definition},
        caller=expert.caller,
    )


# --- the expert's own data: a copy of it, and withdrawing ---------------------------------


@router.get("/survey/my-data.json")
def my_data(expert: Expert, session: SessionDep) -> Response:
    """Everything stored about the expert, as a JSON download."""
    data = privacy.personal_data(session, expert_id=expert.invitation.expert_id)
    return attachment(
        data.model_dump_json(indent=2),
        filename="my-data.json",
        media_type="application/json",
        no_store=True,
    )


@router.get("/survey/withdraw", response_class=HTMLResponse)
def withdraw_page(request: Request, expert: Expert, session: SessionDep) -> Response:
    return _withdraw_page(request, expert, _state(session, expert))


def _withdraw_page(
    request: Request, expert: Expert, state: responses.ResponseState, *, error: str = ""
) -> Response:
    context = {"state": state, "round_name": state.round.name, "done": None, "error": error}
    return _page(
        request,
        "survey_withdraw.html",
        state,
        context,
        caller=expert.caller,
        status=422 if error else 200,
    )


@router.post("/survey/withdraw", response_class=HTMLResponse)
def withdraw(request: Request, expert: Expert, session: SessionDep, form: FormDep) -> Response:
    state = _posted_state(request, expert, session, form)
    if form.get("confirm") != "yes":
        return _withdraw_page(
            request, expert, state, error=_t(state, "Tick the box to confirm that you withdraw.")
        )
    done = privacy.withdraw_from_round(session, response_id=id_of(expert.response))
    context = {
        "done": done,
        "round_name": state.round.name,
        "title": state.definition.title,
        "language": state.language,
    }
    page = render(request, "survey_withdraw.html", context)
    page.delete_cookie(SESSION_COOKIE)
    return page


# --- the expert's language ------------------------------------------------------------------


@router.post("/survey/language")
def choose_language(
    request: Request, expert: Expert, session: SessionDep, form: FormDep
) -> Response:
    """The expert reads the survey in another of its languages from now on."""
    check_csrf(request, expert.caller, str(form.get("csrf_token", "")))
    invitations.set_invitation_language(
        session, invitation_id=id_of(expert.invitation), language=str(form.get("language", ""))
    )
    back = str(form.get("next", ""))
    # Only a page of the questionnaire: never a redirect to another site.
    return redirect(back if re.fullmatch(r"/survey(/[a-z0-9/-]*)?", back) else "/survey")
