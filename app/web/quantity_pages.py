"""The expert's quantity questions: one page each, after the rubric items, with three
labelled number fields (5%, 50%, 95%) and a small preview of the distribution entered.
Works without JavaScript; ``static/quantity.js`` checks the order and redraws the preview
as the expert types."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from app import i18n
from app.errors import InvalidInput, NotFound
from app.i18n import N_
from app.inputs import QuantileInput
from app.models import id_of
from app.services import quantities, responses
from app.services.answer_store import Saving
from app.survey_files import Quantity
from app.web.deps import Expert, SessionDep
from app.web.page_support import FormDep
from app.web.survey_pages import _answer_page, _posted_state, _state, _t, _turn_page

router = APIRouter(include_in_schema=False)

#: The three fields of a page, in order.
FIELDS = quantities.QUANTILE_FIELDS

#: Width and height of the preview, in SVG user units; the bars' area sums to one.
_WIDTH, _HEIGHT, _BASE = 320.0, 120.0, 100.0
#: How far the preview extends beyond q05 and q95, as a share of q95 - q05 (Cooke's
#: default overshoot, so the tails look as the model reads them).
_OVERSHOOT = 0.1
_PROBABILITIES = (0.05, 0.45, 0.45, 0.05)

_NO_SUCH_QUESTION = N_(
    "There is no such question; this survey has quantity questions 1 to %(count)s."
)


class _NoSuchQuestion(NotFound):
    pass


@dataclass(frozen=True)
class Bar:
    """One interquantile bin of the preview: its rectangle in SVG units."""

    x: float
    y: float
    width: float
    height: float


@dataclass(frozen=True)
class Preview:
    """The piecewise-uniform density of three quantiles, drawn in a fixed frame."""

    bars: tuple[Bar, Bar, Bar, Bar]
    #: x of the 5%, 50% and 95% marks.
    marks: tuple[float, float, float]


def preview_of(q05: float, q50: float, q95: float) -> Preview | None:
    """The preview of strictly increasing finite quantiles (None otherwise): probability
    5% below q05 and above q95 (over a tail of 10% of q95 - q05), 45% in each half."""
    values = (q05, q50, q95)
    if not all(math.isfinite(v) for v in values) or not q05 < q50 < q95:
        return None
    tail = _OVERSHOOT * (q95 - q05)
    edges = (q05 - tail, q05, q50, q95, q95 + tail)
    span = edges[-1] - edges[0]

    def x_of(value: float) -> float:
        return (value - edges[0]) / span * _WIDTH

    densities = [p / (edges[i + 1] - edges[i]) for i, p in enumerate(_PROBABILITIES)]
    top = max(densities)
    bars = []
    for i, density in enumerate(densities):
        height = density / top * (_BASE - 10)
        bars.append(
            Bar(x_of(edges[i]), _BASE - height, x_of(edges[i + 1]) - x_of(edges[i]), height)
        )
    return Preview(
        (bars[0], bars[1], bars[2], bars[3]),
        (x_of(q05), x_of(q50), x_of(q95)),
    )


def _question_context(state: responses.ResponseState, session: Any, number: int) -> dict[str, Any]:
    shown = quantities.quantity_states(
        session, response_id=id_of(state.response), definition=state.definition
    )
    if not 1 <= number <= len(shown):
        raise _NoSuchQuestion(_t(state, _NO_SUCH_QUESTION, count=len(shown)))
    current = shown[number - 1]
    values = {name: "" for name in FIELDS}
    if current.answer is not None:
        values = {name: _number(getattr(current.answer, name)) for name in FIELDS}
    return {
        "state": state,
        "d": state.definition,
        "quantity": current.question,
        "number": number,
        "total": len(shown),
        "items_total": len(state.items),
        "answered": [s.answer is not None for s in shown],
        "questions": [s.question for s in shown],
        "values": values,
        "preview": _preview_of_values(values),
        "bounds": _bounds_text(state, current.question),
    }


def _number(value: float) -> str:
    return f"{value:g}" if abs(value) < 1e15 else repr(value)


def _parsed(text: str) -> float | None:
    """A number as typed: a decimal comma is accepted, thin spaces ignored."""
    cleaned = text.strip().replace("\u202f", "").replace("\u00a0", "").replace(" ", "")
    if cleaned.count(",") == 1 and "." not in cleaned:
        cleaned = cleaned.replace(",", ".")
    try:
        return float(cleaned)
    except ValueError:
        return None


def _preview_of_values(values: dict[str, str]) -> Preview | None:
    numbers = [_parsed(values[name]) for name in FIELDS]
    if any(n is None for n in numbers):
        return None
    q05, q50, q95 = (float(n) for n in numbers if n is not None)
    return preview_of(q05, q50, q95)


def _bounds_text(state: responses.ResponseState, quantity: Quantity) -> str:
    lower, upper = quantity.lower, quantity.upper
    if lower is not None and upper is not None:
        return _t(
            state,
            "Answers lie between %(lower)s and %(upper)s.",
            lower=_number(lower),
            upper=_number(upper),
        )
    if lower is not None:
        return _t(state, "Answers are at least %(lower)s.", lower=_number(lower))
    if upper is not None:
        return _t(state, "Answers are at most %(upper)s.", upper=_number(upper))
    return ""


@router.get("/survey/quantities/{number}", response_class=HTMLResponse)
def quantity_page(number: int, request: Request, expert: Expert, session: SessionDep) -> Response:
    state = _state(session, expert)
    ctx = _question_context(state, session, number)
    return _answer_page(request, "survey_quantity.html", state, ctx, caller=expert.caller)


@router.post("/survey/quantities/{number}", response_class=HTMLResponse)
def save_quantity(
    number: int, request: Request, expert: Expert, session: SessionDep, form: FormDep
) -> Response:
    state = _posted_state(request, expert, session, form)
    ctx = _question_context(state, session, number)
    quantity: Quantity = ctx["quantity"]
    typed = {name: str(form.get(name, "")) for name in FIELDS}
    errors: dict[str, str] = {}
    numbers: dict[str, float] = {}
    for name in FIELDS:
        value = _parsed(typed[name])
        if not typed[name].strip():
            errors[name] = _t(state, "Enter a number.")
        elif value is None:
            errors[name] = _t(state, "Enter a number, like 12 or 0.5.")
        else:
            numbers[name] = value
    if not errors:
        try:
            quantities.save_quantiles(
                session,
                Saving(id_of(expert.response), language=state.language),
                answers=[QuantileInput(question=quantity.key, **numbers)],
            )
        except InvalidInput as exc:
            name = (exc.field or "").rsplit(".", 1)[-1]
            errors[name if name in FIELDS else "_form"] = _refusal(state, exc, numbers, quantity)
    if errors:
        return _answer_page(
            request,
            "survey_quantity.html",
            state,
            {**ctx, "values": typed, "preview": _preview_of_values(typed)},
            caller=expert.caller,
            errors=errors,
        )
    return _turn_page(
        form,
        ctx,
        pages="/survey/quantities",
        before=f"/survey/items/{ctx['items_total']}",
        after="/survey/review",
    )


def _refusal(
    state: responses.ResponseState,
    exc: InvalidInput,
    numbers: dict[str, float],
    quantity: Quantity,
) -> str:
    """The service's refusal as a sentence in the expert's language."""
    name = (exc.field or "").rsplit(".", 1)[-1]
    if "smaller than the median" in exc.message:
        return _t(state, "The low estimate must be smaller than the median.")
    if "greater than the median" in exc.message:
        return _t(state, "The high estimate must be greater than the median.")
    if "lower bound" in exc.message and quantity.lower is not None:
        return _t(state, "This must be at least %(lower)s.", lower=_number(quantity.lower))
    if "upper bound" in exc.message and quantity.upper is not None:
        return _t(state, "This must be at most %(upper)s.", upper=_number(quantity.upper))
    if name in numbers and not math.isfinite(numbers[name]):
        return _t(state, "Enter a number, like 12 or 0.5.")
    return i18n.translate_message(state.language, exc.message)
