"""What a survey file says about the world its rubric assumes, and what the rubric decides.

A rubric's tiers hold only while the conditions its panel assumed hold (the
information-sharing framework names them: how much the institutes depend on voluntary
access from AI companies, who is in the network, the institutes' legal powers ...). A survey
file declares these **context factors** (``context.factors``), which items depend on which
factor, the **decision** each tier implies and the **categories** items roll up to; this
module is that part of the schema, used by :mod:`app.survey_files`. Like it, it knows
nothing of the database or HTTP.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from datetime import date
from typing import Annotated, Any, Literal, Protocol, TypeVar

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from app.errors import Message
from app.i18n import N_

Key = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]*$", max_length=64)]
FactorType = Literal["choice", "number", "date", "text"]
Volatility = Literal["low", "medium", "high"]

#: How often a factor is reviewed when its file does not say: the more volatile, the sooner.
REVIEW_DAYS: dict[str, int] = {"high": 90, "medium": 180, "low": 365}

#: Longest text a text factor's value may have.
MAX_TEXT_VALUE = 2_000

FactorValue = str | float | None


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Indicator(_Strict):
    """When an observed value is itself a warning sign, whatever the rubric assumed: a
    number above or below a limit, or a choice among ``values``. ``signals`` says what it
    means for the rubric (the framework's failure signatures)."""

    above: float | None = None
    below: float | None = None
    values: list[Key] | None = None
    signals: str = Field(min_length=1, max_length=500)

    @model_validator(mode="after")
    def _one_condition(self) -> Indicator:
        if self.above is None and self.below is None and not self.values:
            raise ValueError("an indicator needs `above`, `below` or `values`")
        return self

    def crossed(self, value: FactorValue) -> str | None:
        """Why ``value`` crosses this indicator, or None."""
        if isinstance(value, float):
            if self.above is not None and value > self.above:
                return f"{_number(value)} is above {_number(self.above)}"
            if self.below is not None and value < self.below:
                return f"{_number(value)} is below {_number(self.below)}"
        elif isinstance(value, str) and self.values and value in self.values:
            return f"the value is {value!r}"
        return None


class Factor(_Strict):
    """One context factor: a condition the rubric's tiers depend on."""

    key: Key
    label: str = Field(min_length=1, max_length=200)
    question: str = Field(min_length=1, max_length=1_000)
    type: FactorType
    #: For a choice: each option's key and what it means.
    options: dict[Key, str] | None = None
    #: For a number: its unit, shown after the value.
    unit: str | None = Field(default=None, max_length=40)
    volatility: Volatility = "medium"
    #: Days after an assumption was last confirmed by which it must be checked again
    #: (default by volatility: high 90, medium 180, low 365).
    review_every_days: int | None = Field(default=None, ge=1, le=3650)
    indicator: Indicator | None = None

    @model_validator(mode="after")
    def _fits_type(self) -> Factor:
        if self.type == "choice" and not self.options:
            raise ValueError(f"factor {self.key!r} is a choice: list its `options`")
        if self.type != "choice" and self.options is not None:
            raise ValueError(f"factor {self.key!r} is a {self.type}: only a choice has options")
        if self.unit is not None and self.type != "number":
            raise ValueError(f"factor {self.key!r} is a {self.type}: only a number has a unit")
        if self.indicator is not None:
            numeric = self.indicator.above is not None or self.indicator.below is not None
            if numeric and self.type != "number":
                raise ValueError(
                    f"factor {self.key!r}: `above`/`below` need a number factor; "
                    "a choice uses `values`"
                )
            if self.indicator.values:
                if self.type != "choice":
                    raise ValueError(f"factor {self.key!r}: indicator `values` need a choice")
                unknown = sorted(set(self.indicator.values) - set(self.options or {}))
                if unknown:
                    raise ValueError(
                        f"factor {self.key!r}: indicator values {unknown} are not options "
                        f"(options: {', '.join(self.options or {})})"
                    )
        return self

    @property
    def review_days(self) -> int:
        return self.review_every_days or REVIEW_DAYS[self.volatility]

    def parse(self, raw: object) -> FactorValue:
        """A value for this factor from a form, JSON or the CLI, normalised (a number as a
        float, a date as ``YYYY-MM-DD``), or None for an empty one; ValueError with a
        message saying what to write otherwise."""
        if raw is None or (isinstance(raw, str) and not raw.strip()):
            return None
        if isinstance(raw, bool):
            raise ValueError(
                Message(
                    N_("%(factor)s: expected a %(type)s, not true/false"),
                    {"factor": self.label, "type": Message(self.type)},
                )
            )
        text = raw.strip() if isinstance(raw, str) else raw
        if self.type == "number":
            return _parse_number(self.label, text)
        if not isinstance(text, str):
            raise ValueError(
                Message(
                    N_("%(factor)s: expected text, not %(kind)s"),
                    {"factor": self.label, "kind": type(raw).__name__},
                )
            )
        if self.type == "choice":
            options = self.options or {}
            if text not in options:
                raise ValueError(
                    Message(
                        N_("%(factor)s: %(value)s is not one of %(options)s"),
                        {"factor": self.label, "value": repr(text), "options": ", ".join(options)},
                    )
                )
            return text
        if self.type == "date":
            try:
                return date.fromisoformat(text).isoformat()
            except ValueError:
                raise ValueError(
                    Message(
                        N_("%(factor)s: %(value)s is not a date (YYYY-MM-DD)"),
                        {"factor": self.label, "value": repr(text)},
                    )
                ) from None
        if len(text) > MAX_TEXT_VALUE:
            raise ValueError(
                Message(
                    N_("%(factor)s: at most %(most)s characters"),
                    {"factor": self.label, "most": MAX_TEXT_VALUE},
                )
            )
        return text

    def show(self, value: FactorValue) -> str:
        """A value as people read it (an option's meaning, a number with its unit)."""
        if value is None:
            return "not stated"
        if self.type == "choice" and isinstance(value, str):
            return (self.options or {}).get(value, value)
        if isinstance(value, float):
            return f"{_number(value)} {self.unit}" if self.unit else _number(value)
        return str(value)

    def describe(self) -> dict[str, Any]:
        """The factor as a published record keeps it (JSON), its review interval resolved."""
        return {**self.model_dump(mode="json"), "review_every_days": self.review_days}


def _parse_number(label: str, raw: object) -> float:
    try:
        value = float(raw)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise ValueError(
            Message(
                N_("%(factor)s: %(value)s is not a number"), {"factor": label, "value": repr(raw)}
            )
        ) from None
    if not math.isfinite(value):
        raise ValueError(
            Message(
                N_("%(factor)s: %(value)s is not a finite number"),
                {"factor": label, "value": repr(raw)},
            )
        )
    return value


def _number(value: float) -> str:
    return f"{value:g}"


#: What the panel is asked when a survey asks which factors would change a rating.
DEFAULT_SENSITIVITY_QUESTION = (
    "If one of these conditions changed, would your rating of this item change? "
    "Tick each one that would."
)


class SensitivityQuestion(_Strict):
    """Asks each expert, per item, which context factors would change their rating if they
    changed: the panel's own answer to "which items depend on which factor", beside the
    survey author's (``Item.factors``, ``Context.whole_rubric``)."""

    question: str = Field(default=DEFAULT_SENSITIVITY_QUESTION, min_length=1, max_length=1_000)
    #: The factors each item offers: every declared one (``all``: the panel may name a
    #: dependence the author did not), or only those the item depends on (``linked``).
    offer: Literal["all", "linked"] = "all"


class Context(_Strict):
    """The survey's context factors; ``whole_rubric`` names those every item depends on;
    ``sensitivity_question``, when given, asks the panel per item which factors would change
    their rating."""

    factors: list[Factor] = Field(default_factory=list, max_length=50)
    whole_rubric: list[Key] = Field(default_factory=list)
    sensitivity_question: SensitivityQuestion | None = None

    @model_validator(mode="after")
    def _known(self) -> Context:
        keys = [f.key for f in self.factors]
        duplicate = next((k for k in keys if keys.count(k) > 1), None)
        if duplicate:
            raise ValueError(f"factor {duplicate!r} is declared twice")
        unknown = sorted(set(self.whole_rubric) - set(keys))
        if unknown:
            raise ValueError(f"whole_rubric names undeclared factors {unknown}")
        if self.sensitivity_question is not None and not self.factors:
            raise ValueError("sensitivity_question needs context factors to ask about")
        return self

    def factor(self, key: str) -> Factor:
        return by_key(self.factors, key)


class _Keyed(Protocol):
    key: str


_T = TypeVar("_T", bound=_Keyed)


def by_key(rows: Iterable[_T], key: str) -> _T:
    """The row with this key (KeyError if none)."""
    for row in rows:
        if row.key == key:
            return row
    raise KeyError(key)


class Category(_Strict):
    """A broad category that finer-grained items (its subcategories) roll up to."""

    key: Key
    label: str = Field(min_length=1, max_length=200)
    description: str = Field(default="", max_length=2_000)


class Decision(_Strict):
    """What a tier means in practice (e.g. "share by default")."""

    label: str = Field(min_length=1, max_length=200)
    description: str = Field(default="", max_length=2_000)
