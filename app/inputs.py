"""What the services take as input: validated at the boundary (types, lengths, text both
databases can store), shared by the API's request shapes (``app/schemas.py``), the pages
and the CLI. No database, no HTTP."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, EmailStr, Field
from pydantic_core import PydanticCustomError

from app.i18n import N_


def text_problem(value: str) -> str | None:
    """Why ``value`` cannot be stored as text (on either database), or None if it can.

    PostgreSQL refuses the NUL character in text, and a lone surrogate cannot be encoded
    as UTF-8, so both are refused at the boundary, naming the field, on every backend.
    """
    if "\x00" in value:
        return N_("must not contain the NUL character (\\x00)")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return N_("must be valid Unicode text (it contains an unpaired surrogate)")
    return None


def _valid_text(value: str) -> str:
    problem = text_problem(value)
    if problem is not None:
        raise PydanticCustomError("invalid_text", problem)
    return value


#: A string that both databases can store: every text field of a request uses it.
Text = Annotated[str, AfterValidator(_valid_text)]

#: A language tag as survey files name them (``fr``, ``ar``, ``pt_BR``).
Language = Annotated[str, Field(pattern=r"^[a-z]{2,3}(_[A-Z]{2})?$", max_length=16)]

RatingStatus = Literal["value", "cant_judge", "outside_expertise"]
Confidence = Literal["low", "medium", "high"]


class Input(BaseModel):
    """Base of every input shape: an unknown field is an error, not silently dropped."""

    model_config = ConfigDict(extra="forbid")


# The input shapes carry no docstring: pydantic would publish it in the OpenAPI schema.


class InviteeCreate(Input):
    name: Text = Field(min_length=1, max_length=200, examples=["Ada Lovelace"])
    email: EmailStr
    organisation: Text | None = Field(default=None, max_length=200, examples=["UK AISI"])
    stakeholder_group: Text | None = Field(default=None, max_length=200, examples=["government"])
    language: Language | None = Field(default=None, examples=["fr"])


class RatingInput(Input):
    item: Text = Field(max_length=64, examples=["model_weights"])
    dimension: Text = Field(max_length=64, examples=["proprietary"])
    status: RatingStatus = "value"
    value: int | None = Field(default=None, examples=[4])
    confidence: Confidence | None = None
    rationale: Text = Field(default="", max_length=10_000)
    share_rationale: bool = False


class SensitivityInput(Input):
    item: Text = Field(max_length=64, examples=["model_weights"])
    factors: list[Annotated[Text, Field(max_length=64)]] | None = Field(
        max_length=50,
        description="The context factors that would change your rating of the item if they "
        "changed; [] for none of them; null to take the answer back",
        examples=[["company_relations"]],
    )


class ObservationInput(Input):
    """What was observed of one context factor, when, and where it can be checked."""

    factor: Text = Field(max_length=64, examples=["company_relations"])
    value: Annotated[Text, Field(max_length=2000)] | float = Field(
        description="A choice's key, a number, a YYYY-MM-DD date or text", examples=["high"]
    )
    observed_on: date
    source_url: Text = Field(default="", max_length=2000)
    note: Text = Field(default="", max_length=5000)


class QuantileInput(Input):
    question: Text = Field(max_length=64, examples=["evaluations_2027"])
    q05: float = Field(examples=[10.0])
    q50: float = Field(examples=[25.0])
    q95: float = Field(examples=[60.0])
