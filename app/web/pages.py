"""Server-rendered pages: the expert questionnaire and a simple admin console.

Every page works without JavaScript. Forms carry the session's CSRF token.
"""

from __future__ import annotations

import base64
import re
import secrets
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from pydantic import ValidationError
from sqlmodel import Session
from starlette.datastructures import FormData, UploadFile

from app.db import begin_writing, end_transaction
from app.errors import DomainError, InvalidInput, NotAuthenticated, TooManyAttempts
from app.models import Rating, id_of
from app.schemas import RatingInput, RatingStatus, RoundCreate, text_problem
from app.services import (
    auth,
    exports,
    invitations,
    mail,
    responses,
    rounds,
    sessions,
    surveys,
)
from app.survey_files import HOLISTIC_TIER_KEY, SurveyDefinition
from app.web.computing import ComputePool
from app.web.deps import (
    SESSION_COOKIE,
    AdminUser,
    Caller,
    CallerDep,
    ComputeDep,
    Expert,
    SessionDep,
    SettingsDep,
    StaffUser,
    check_csrf,
    client_address,
)
from app.web.params import InvitationId, RoundId, in_id_range

router = APIRouter(include_in_schema=False)
LOGIN_CSRF_COOKIE = "elicit_login_csrf"
# Over HTTPS the __Host- prefix stops a sibling subdomain from planting its own token.
SECURE_LOGIN_CSRF_COOKIE = "__Host-elicit_login_csrf"


def _login_cookie(request: Request) -> str:
    secure = request.app.state.settings.secure_cookies
    return SECURE_LOGIN_CSRF_COOKIE if secure else LOGIN_CSRF_COOKIE


async def get_form(request: Request) -> FormData:
    """The submitted form; text no database can store is refused here, naming the field."""
    form = await request.form(max_files=1, max_fields=2000)
    for name, value in form.multi_items():
        problem = text_problem(name) or (text_problem(value) if isinstance(value, str) else None)
        if problem is not None:
            field = name.encode("unicode_escape").decode("ascii")
            raise InvalidInput(f"{field}: {problem}", field=field)
    return form


FormDep = Annotated[FormData, Depends(get_form)]


def render(
    request: Request,
    template: str,
    context: dict[str, Any] | None = None,
    *,
    caller: Caller | None = None,
    status: int = 200,
) -> HTMLResponse:
    ctx: dict[str, Any] = {
        "csrf_token": caller.web_session.csrf_token if caller and caller.web_session else "",
        "user": caller.user if caller else None,
    }
    ctx.update(context or {})
    templates: Jinja2Templates = request.app.state.templates
    return templates.TemplateResponse(request, template, ctx, status_code=status)


def redirect(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303)


def _set_session_cookie(response: Response, token: str, request: Request) -> None:
    settings = request.app.state.settings
    response.set_cookie(
        SESSION_COOKIE,
        token,
        max_age=settings.session_hours * 3600,
        httponly=True,
        samesite="lax",
        secure=settings.secure_cookies,
        path="/",
    )


# --- landing ----------------------------------------------------------------------------


@router.get("/", response_class=HTMLResponse)
def home(request: Request, caller: CallerDep) -> Response:
    if caller.invitation is not None:
        return redirect("/survey")
    if caller.user is not None:
        return redirect("/admin")
    return render(request, "home.html", caller=caller)


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
    _set_session_cookie(response, session_token, request)
    return response


def _state(session: Any, expert: Any) -> responses.ResponseState:
    return responses.load_response_state(session, response_id=expert.response.id)


def _can_edit(state: responses.ResponseState) -> tuple[bool, str]:
    if state.round.status == "draft":
        return False, (
            "This round has not opened yet. Your link will work as soon as the survey team "
            "opens it; until then you can read the introduction and the rubric below."
        )
    if state.response.status == "submitted":
        return False, "You have submitted your answers. They can no longer be changed."
    try:
        rounds.ensure_accepting(state.round)
    except DomainError as exc:
        return False, exc.message[0].upper() + exc.message[1:] + "."
    return True, ""


def _editable_state(session: Session, expert: Expert) -> tuple[responses.ResponseState, bool, str]:
    """The expert's answers, whether they may change them, and if not, why not."""
    state = _state(session, expert)
    return (state, *_can_edit(state))


@router.get("/survey", response_class=HTMLResponse)
def welcome(request: Request, expert: Expert, session: SessionDep) -> Response:
    state, can_edit, notice = _editable_state(session, expert)
    return render(
        request,
        "survey_welcome.html",
        {
            "state": state,
            "d": state.definition,
            "can_edit": can_edit,
            "notice": notice,
            "next_item": _first_incomplete(state),
            "percent": round(100 * state.answered / max(1, len(state.expected))),
        },
        caller=expert.caller,
    )


@router.post("/survey/consent")
def consent(request: Request, expert: Expert, session: SessionDep, form: FormDep) -> Response:
    check_csrf(request, expert.caller, str(form.get("csrf_token", "")))
    if form.get("consent") != "yes":
        state = _state(session, expert)
        return render(
            request,
            "survey_welcome.html",
            {
                "state": state,
                "d": state.definition,
                "can_edit": True,
                "notice": "",
                "next_item": 1,
                "error": "Tick the box to say you agree before you start.",
            },
            caller=expert.caller,
            status=422,
        )
    responses.give_consent(session, response_id=id_of(expert.response))
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
        raise _NoSuchItem(len(items))
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
        "items_done": [state.item_complete(i.key) for i in items],
    }


def _invalid(exc: ValidationError) -> InvalidInput:
    """A form's first invalid field, in the words the page shows."""
    first = exc.errors()[0]
    field = ".".join(str(part) for part in first["loc"]) or "form"
    return InvalidInput(f"{field.replace('_', ' ').capitalize()}: {first['msg']}", field=field)


class _NoSuchItem(DomainError):
    status_code = 404

    def __init__(self, count: int) -> None:
        super().__init__(f"There is no such item; this survey has items 1 to {count}.")


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

    def answer_text(self, rating: Rating) -> str:
        if rating.status == "cant_judge":
            return "can't judge"
        if rating.status == "outside_expertise":
            return "outside my expertise"
        assert rating.value is not None
        return self.names.get(rating.value, str(rating.value))

    def cell_text(self, rating: Rating) -> str:
        """The answer in a table cell: a tier by its name, a level by its number."""
        if rating.status == "value" and not self.is_tier:
            return str(rating.value)
        return self.answer_text(rating)


def _questions(definition: SurveyDefinition) -> list[_Question]:
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
            )
        )
    if definition.holistic_tier.enabled:
        questions.append(
            _Question(
                HOLISTIC_TIER_KEY,
                "Overall tier",
                definition.holistic_tier.question,
                [(i, f"{t.label}: {t.description}") for i, t in enumerate(definition.tiers)],
                True,
                True,
                is_tier=True,
                names={i: t.label for i, t in enumerate(definition.tiers)},
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
    return [_view(q, state, item_key, submitted) for q in _questions(definition)]


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
    cell = ((state.round.feedback or {}).get("items") or {}).get(item_key, {}).get(key)
    if not cell:
        return None
    total = sum(cell["histogram"].values()) or 1
    return {
        "round": state.round.sequence - 1,
        "n": cell["n"],
        "median": cell["median"],
        "q1": cell["q1"],
        "q3": cell["q3"],
        "bars": [
            {
                "level": level,
                "count": cell["histogram"].get(str(level), 0),
                "percent": round(100 * cell["histogram"].get(str(level), 0) / total),
            }
            for level, _ in levels
        ],
        "rationales": cell.get("rationales", []),
        "tier_names": {level: text.split(":")[0] for level, text in levels},
    }


@router.get("/survey/items/{number}", response_class=HTMLResponse)
def item_page(number: int, request: Request, expert: Expert, session: SessionDep) -> Response:
    state, can_edit, notice = _editable_state(session, expert)
    ctx = _item_context(state, number)
    share = any(r.share_rationale for (i, _), r in state.ratings.items() if i == ctx["item"].key)
    return render(
        request,
        "survey_item.html",
        {**ctx, "can_edit": can_edit, "notice": notice, "share": share, "errors": {}},
        caller=expert.caller,
    )


@router.post("/survey/items/{number}", response_class=HTMLResponse)
def save_item(
    number: int, request: Request, expert: Expert, session: SessionDep, form: FormDep
) -> Response:
    check_csrf(request, expert.caller, str(form.get("csrf_token", "")))
    state = _state(session, expert)
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
                errors[key] = "Choose a level, or say you can't judge, to save this note."
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
            errors[key] = "Choose one of the levels shown."
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
            errors[key] = _invalid(exc).message
    saved = _save_what_is_valid(session, expert, ratings, errors)
    if errors:
        ctx["dimensions"] = _dimension_views(state.definition, state, item.key, submitted)
        can_edit, notice = _can_edit(state)
        labels = {v["key"]: v["label"] for v in ctx["dimensions"]}
        return render(
            request,
            "survey_item.html",
            {
                **ctx,
                "can_edit": can_edit,
                "notice": notice,
                "share": share,
                "errors": errors,
                "saved_labels": [labels[r.dimension] for r in saved],
            },
            caller=expert.caller,
            status=422,
        )
    action = form.get("action", "next")
    if action == "previous" and number > 1:
        return redirect(f"/survey/items/{number - 1}")
    if action == "next" and number < ctx["total"]:
        return redirect(f"/survey/items/{number + 1}")
    if action == "stay":
        return redirect(f"/survey/items/{number}?saved=1")
    return redirect("/survey/review")


def _save_what_is_valid(
    session: Any, expert: Any, ratings: list[RatingInput], errors: dict[str, str]
) -> list[RatingInput]:
    """Save the page's valid answers even when others on it need fixing; each refused one
    gets its message next to its question (field "ratings[i].<name>"). The checks all run
    before anything is written, so a refused attempt leaves nothing behind to undo."""
    pending = [r for r in ratings if r.dimension not in errors]
    while pending:
        try:
            responses.save_ratings(session, response_id=id_of(expert.response), ratings=pending)
            return pending
        except InvalidInput as exc:
            index = re.match(r"ratings\[(\d+)\]", exc.field or "")
            if index is None:
                errors["_form"] = exc.message[0].upper() + exc.message[1:]
                return []
            refused = pending.pop(int(index.group(1)))
            errors[refused.dimension] = exc.message[0].upper() + exc.message[1:]
    return []


@router.get("/survey/review", response_class=HTMLResponse)
def review(request: Request, expert: Expert, session: SessionDep) -> Response:
    state, can_edit, notice = _editable_state(session, expert)
    return render(
        request,
        "survey_review.html",
        _review_context(state, can_edit, notice),
        caller=expert.caller,
    )


def _review_context(state: responses.ResponseState, can_edit: bool, notice: str) -> dict[str, Any]:
    definition = state.definition
    questions = {q.key: q for q in _questions(definition)}
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
def submit(request: Request, expert: Expert, session: SessionDep, form: FormDep) -> Response:
    check_csrf(request, expert.caller, str(form.get("csrf_token", "")))
    responses.submit_response(session, response_id=id_of(expert.response))
    return redirect("/survey/thanks")


@router.get("/survey/thanks", response_class=HTMLResponse)
def thanks(request: Request, expert: Expert, session: SessionDep) -> Response:
    state = _state(session, expert)
    return render(
        request, "survey_thanks.html", {"state": state, "d": state.definition}, caller=expert.caller
    )


# --- staff sign-in ----------------------------------------------------------------------


@router.get("/login", response_class=HTMLResponse)
def login_page(request: Request) -> Response:
    token = request.cookies.get(_login_cookie(request)) or secrets.token_urlsafe(24)
    response = render(request, "login.html", {"login_csrf": token, "error": ""})
    response.set_cookie(
        _login_cookie(request),
        token,
        httponly=True,
        samesite="strict",
        secure=request.app.state.settings.secure_cookies,
    )
    return response


@router.post("/login", response_class=HTMLResponse)
def login_submit(request: Request, settings: SettingsDep, form: FormDep) -> Response:
    sent = str(form.get("csrf_token", ""))
    expected = request.cookies.get(_login_cookie(request), "")
    email = str(form.get("email", ""))
    # Login CSRF: a form whose Origin (or Referer) names another site is refused; when the
    # browser hides it ("null", no header) the double-submit cookie decides: SameSite=Strict,
    # HttpOnly, and __Host- over HTTPS, so no other site can send or plant it.
    if not _same_origin(request, settings.base_url) or (
        not expected or not secrets.compare_digest(sent, expected)
    ):
        return render(
            request,
            "login.html",
            {
                "login_csrf": expected or secrets.token_urlsafe(24),
                "error": "The form expired; please try again.",
            },
            status=403,
        )
    try:
        signed = auth.sign_in(
            request.app.state.engine,
            email=email,
            password=str(form.get("password", "")),
            address=client_address(request),
            hours=settings.session_hours,
        )
    except (NotAuthenticated, TooManyAttempts) as exc:
        page = render(
            request,
            "login.html",
            {"login_csrf": expected, "error": exc.message, "email": email},
            status=exc.status_code,
        )
        if isinstance(exc, TooManyAttempts):
            page.headers["Retry-After"] = str(exc.retry_after)
        return page
    response = redirect("/admin")
    _set_session_cookie(response, signed.token, request)
    response.delete_cookie(_login_cookie(request))
    return response


def _same_origin(request: Request, base_url: str) -> bool:
    """False when the browser says the request came from another site."""
    origin = request.headers.get("origin")
    if origin is None:
        referer = request.headers.get("referer")
        if not referer:
            return True
        parts = urlsplit(referer)
        origin = f"{parts.scheme}://{parts.netloc}"
    if origin == "null":  # a no-referrer policy hides it: the cookie check decides
        return True
    own = {f"{request.url.scheme}://{request.headers.get('host', '')}"}
    base = urlsplit(base_url)
    own.add(f"{base.scheme}://{base.netloc}")
    return origin.rstrip("/") in own


@router.post("/logout")
def logout(request: Request, caller: CallerDep, session: SessionDep, form: FormDep) -> Response:
    check_csrf(request, caller, str(form.get("csrf_token", "")))
    token = request.cookies.get(SESSION_COOKIE)
    if token:
        sessions.end_session(session, token=token)
    response = redirect("/")
    response.delete_cookie(SESSION_COOKIE)
    return response


# --- admin console ----------------------------------------------------------------------


@router.get("/admin", response_class=HTMLResponse)
def admin_home(
    request: Request, user: StaffUser, caller: CallerDep, session: SessionDep
) -> Response:
    all_rounds = [
        (rounds.round_details(session, r), rounds.round_progress(session, round_id=id_of(r)))
        for r in rounds.list_rounds(session)
    ]
    return render(
        request,
        "admin_home.html",
        {
            "rounds": all_rounds,
            "versions": surveys.list_survey_versions(session),
        },
        caller=caller,
    )


@router.post("/admin/rounds")
def admin_create_round(
    request: Request, user: AdminUser, caller: CallerDep, session: SessionDep, form: FormDep
) -> Response:
    check_csrf(request, caller, str(form.get("csrf_token", "")))
    slug, _, number = str(form.get("survey_version", "")).partition("@")
    if re.fullmatch(r"[0-9]{1,10}", number) is None or not in_id_range(int(number)):
        raise InvalidInput("choose a survey version", field="survey_version")
    try:
        body = RoundCreate(
            survey=slug, version=int(number), name=str(form.get("name", "")).strip() or "Round"
        )
    except ValidationError as exc:
        raise _invalid(exc) from exc
    round_ = rounds.create_round(session, slug=body.survey, version=body.version, name=body.name)
    return redirect(f"/admin/rounds/{round_.id}")


@router.get("/admin/rounds/{round_id}", response_class=HTMLResponse)
def admin_round(
    round_id: RoundId,
    request: Request,
    user: StaffUser,
    caller: CallerDep,
    session: SessionDep,
    settings: SettingsDep,
    queued: Annotated[int | None, Query(ge=0, le=100_000)] = None,
    kind: Literal["invitation", "reminder"] = "invitation",
) -> Response:
    context = _round_context(session, round_id, user.role, settings)
    # After e-mail was queued (post, redirect, get): how many, said once on the page.
    context["queued"] = (queued, kind) if queued is not None else None
    return render(request, "admin_round.html", context, caller=caller)


def _round_context(session: Any, round_id: int, role: str, settings: Any) -> dict[str, Any]:
    from sqlmodel import select

    from app.models import Round

    round_ = rounds.get_round(session, round_id=round_id)
    following = session.exec(select(Round).where(Round.previous_round_id == round_id)).first()
    admin = role == "admin"
    return {
        "previous_round": session.get(Round, round_.previous_round_id)
        if round_.previous_round_id
        else None,
        "next_round": following,
        "round": rounds.round_details(session, round_),
        "progress": rounds.round_progress(session, round_id=round_id),
        "invitations": invitations.list_invitations(session, round_id=round_id) if admin else [],
        "mail": mail.mail_status(session, round_id=round_id) if admin else [],
        "mail_goes": mail.where_mail_goes(settings.smtp_url, settings.mail_dir),
    }


@router.post("/admin/rounds/{round_id}/{action}")
def admin_round_action(
    round_id: RoundId,
    action: str,
    request: Request,
    user: AdminUser,
    caller: CallerDep,
    session: SessionDep,
    settings: SettingsDep,
    form: FormDep,
    compute: ComputeDep,
) -> Response:
    check_csrf(request, caller, str(form.get("csrf_token", "")))
    if action in _FORM_ACTIONS:
        # Forms with typed input: a mistake shows the page again with what was typed kept
        # and the message beside the field, not an error page that loses the input.
        try:
            if action == "invite":
                return _invite_from_form(request, caller, session, settings, round_id, form)
            _set_deadline(session, round_id, str(form.get("closes_at", "")).strip())
        except InvalidInput as exc:
            session.rollback()
            return _round_page_with_error(
                request, caller, session, settings, user, round_id, action, form, exc
            )
    elif action == "open":
        rounds.open_round(session, round_id=round_id)
    elif action == "close":
        rounds.close_round(session, round_id=round_id)
    elif action == "publish":
        return _publish_from_form(request, user, caller, session, compute, round_id, form)
    elif action == "next":
        from app.services import delphi

        new_round, issued = delphi.create_next_round(session, round_id=round_id)
        assert new_round.id is not None
        return _links_page(request, caller, settings, new_round.id, issued)
    elif action == "remind":
        reminded = mail.queue_reminders(session, round_id=round_id, sender=mail.Sender.of(settings))
        return redirect(f"/admin/rounds/{round_id}?queued={len(reminded)}&kind=reminder")
    elif action == "reopen":
        response = responses.find_response(
            session, round_id=round_id, expert_code=str(form.get("expert_code", ""))
        )
        responses.reopen_response(session, response_id=id_of(response))
    else:
        raise _NoSuchAction()
    return redirect(f"/admin/rounds/{round_id}")


_FORM_ACTIONS = ("invite", "deadline")


def _round_page_with_error(
    request: Request,
    caller: Caller,
    session: Any,
    settings: Any,
    user: Any,
    round_id: int,
    action: str,
    form: FormData,
    exc: InvalidInput,
) -> Response:
    context = _round_context(session, round_id, user.role, settings)
    typed = {
        "csv": str(form.get("csv", "")),
        "delivery": str(form.get("delivery", "show")),
        "closes_at": str(form.get("closes_at", "")),
    }
    # The field the message belongs to: the pasted list or the file for invitations.
    where = "closes_at" if action == "deadline" else ("file" if exc.field == "file" else "csv")
    context.update({"form": typed, "errors": {where: exc.message}, "queued": None})
    return render(request, "admin_round.html", context, caller=caller, status=422)


class _NoSuchAction(DomainError):
    status_code = 404

    def __init__(self) -> None:
        super().__init__("There is no such action.")


def _invite_from_form(
    request: Request, caller: Caller, session: Any, settings: Any, round_id: int, form: FormData
) -> Response:
    upload = form.get("file")
    if isinstance(upload, UploadFile) and upload.filename:
        people = invitations.read_invitees_csv(
            upload.file.read(), filename=upload.filename, field="file"
        )
    else:
        people = invitations.parse_invitees_csv(str(form.get("csv", "")), filename="pasted list")
    send = form.get("delivery") == "email"  # then the links go by e-mail only
    issued = mail.invite(
        session,
        round_id=round_id,
        invitees=people,
        send=send,
        sender=mail.Sender.of(settings),
    )
    if send:
        return redirect(f"/admin/rounds/{round_id}?queued={len(issued)}&kind=invitation")
    return _links_page(request, caller, settings, round_id, issued)


def _links_page(
    request: Request,
    caller: Caller,
    settings: Any,
    round_id: int,
    issued: list[invitations.IssuedInvitation],
) -> Response:
    csv_text = invitations.issued_as_csv(issued, base_url=settings.base_url)
    data_url = "data:text/csv;base64," + base64.b64encode(csv_text.encode()).decode()
    return render(
        request,
        "admin_invited.html",
        {
            "round_id": round_id,
            "issued": issued,
            "base_url": settings.base_url,
            "csv_data_url": data_url,
        },
        caller=caller,
    )


@router.post("/admin/invitations/{invitation_id}/{action}")
def admin_invitation_action(
    invitation_id: InvitationId,
    action: str,
    request: Request,
    user: AdminUser,
    caller: CallerDep,
    session: SessionDep,
    settings: SettingsDep,
    form: FormDep,
) -> Response:
    check_csrf(request, caller, str(form.get("csrf_token", "")))
    if action == "revoke":
        invitation = invitations.revoke_invitation(session, invitation_id=invitation_id)
        return redirect(f"/admin/rounds/{invitation.round_id}")
    if action == "reissue":
        issued = invitations.reissue_invitation(session, invitation_id=invitation_id)
        from app.models import Invitation

        inv = session.get(Invitation, invitation_id)
        return _links_page(request, caller, settings, inv.round_id if inv else 0, [issued])
    raise _NoSuchAction()


@router.get("/admin/rounds/{round_id}/calibration", response_class=HTMLResponse)
def admin_calibration(
    round_id: RoundId,
    request: Request,
    user: StaffUser,
    caller: CallerDep,
    session: SessionDep,
    compute: ComputeDep,
) -> Response:
    return _calibration_page(request, caller, session, compute, round_id)


def _calibration_page(
    request: Request,
    caller: Caller,
    session: Any,
    compute: ComputePool,
    round_id: int,
    *,
    error: str = "",
    form: dict[str, str] | None = None,
    status: int = 200,
) -> Response:
    from app.services import rubrics

    round_ = rounds.get_round(session, round_id=round_id)
    shown = rounds.round_details(session, round_)
    inputs = rubrics.calibration_inputs(session, round_id=round_id, n_bootstrap=500)
    end_transaction(session)  # no connection held while the bootstrap runs
    return render(
        request,
        "admin_calibration.html",
        {
            "round": shown,
            "cal": compute.run(rubrics.compute_calibration, inputs),
            "context_fields": rubrics.CONTEXT_FIELDS,
            "error": error,
            "form": form or {},
        },
        caller=caller,
        status=status,
    )


def _set_deadline(session: Any, round_id: int, text: str) -> None:
    from datetime import UTC, datetime

    when = None
    if text:
        try:
            when = datetime.fromisoformat(text).replace(tzinfo=UTC)
        except ValueError as exc:
            raise InvalidInput(
                "give the closing time as a date and time (UTC)", field="closes_at"
            ) from exc
    rounds.set_closing_time(session, round_id=round_id, closes_at=when)


def _publish_from_form(
    request: Request,
    user: Any,
    caller: Caller,
    session: Any,
    compute: ComputePool,
    round_id: int,
    form: FormData,
) -> Response:
    from app.errors import Conflict
    from app.services import rubrics

    fields = {k: str(form.get(k, "")) for k in [*rubrics.CONTEXT_FIELDS, "justification"]}
    try:
        version = rubrics.publish_rubric(
            session,
            round_id=round_id,
            publisher=user,
            context={k: fields[k] for k in rubrics.CONTEXT_FIELDS},
            justification=fields["justification"],
        )
    except Conflict as exc:
        session.rollback()
        return _calibration_page(
            request, caller, session, compute, round_id, error=exc.message, form=fields, status=409
        )
    return redirect(f"/rubrics/{version.record['survey']['slug']}/v{version.number}")


@router.get("/admin/rounds/{round_id}/export.csv")
def admin_export(
    round_id: RoundId, user: StaffUser, session: SessionDep, include_drafts: bool = False
) -> Response:
    text = exports.export_ratings_csv(session, round_id=round_id, include_drafts=include_drafts)
    return Response(
        text,
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="round-{round_id}-ratings.csv"'},
    )
