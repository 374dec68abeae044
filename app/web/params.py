"""Path and query parameter types shared by the API and the pages.

Ids, version and rubric numbers are integers in the database's range (1 to 2**31 - 1,
PostgreSQL's INTEGER). A driver answers a larger value with an error, not with "no row",
so a number out of range is answered here for what it is, an unknown id: 404 with the
same words the service uses for an id that does not exist, before any query runs.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from fastapi import Depends, Path, Query

from app.errors import NotFound
from app.i18n import N_
from app.schemas import DB_INT_MAX, SEED_MAX, Text

__all__ = [
    "DB_INT_MAX",
    "BootstrapCount",
    "ExpertCode",
    "InvitationId",
    "ReviewId",
    "RoundId",
    "RubricA",
    "RubricB",
    "Seed",
    "Slug",
    "SurveyVersionNumber",
    "WeightingChoice",
    "in_id_range",
    "rubric_file",
]


def in_id_range(value: int) -> bool:
    """Whether ``value`` can be an id (or a version number) in the database."""
    return 1 <= value <= DB_INT_MAX


def _id_path(description: str) -> Any:
    # The range is documented but not enforced as a 422: out of range is "not found".
    return Path(
        description=description,
        examples=[1],
        json_schema_extra={"minimum": 1, "maximum": DB_INT_MAX},
    )


Slug = Annotated[Text, Path(description="Survey slug", examples=["small"])]
ExpertCode = Annotated[
    Text, Path(description="The expert's pseudonymous code", examples=["E-ABC234"])
]


def _round_id(round_id: Annotated[int, _id_path("Round id")]) -> int:
    if not in_id_range(round_id):
        raise NotFound(N_("round %(round)s does not exist"), values={"round": round_id})
    return round_id


def _invitation_id(invitation_id: Annotated[int, _id_path("Invitation id")]) -> int:
    if not in_id_range(invitation_id):
        raise NotFound(
            N_("invitation %(invitation)s does not exist"), values={"invitation": invitation_id}
        )
    return invitation_id


def _survey_version_number(
    slug: Slug, number: Annotated[int, _id_path("Survey version number")]
) -> int:
    if not in_id_range(number):
        raise NotFound(
            N_("survey %(slug)s version %(number)s does not exist; load its file first"),
            values={"slug": repr(slug), "number": number},
        )
    return number


def rubric_number(slug: str, number: int) -> int:
    """``number`` if it can be a published version of ``slug``'s rubric, else NotFound."""
    if not in_id_range(number):
        raise NotFound(
            N_("rubric %(slug)s v%(number)s has not been published"),
            values={"slug": slug, "number": number},
        )
    return number


def _rubric_a(slug: Slug, a: Annotated[int, _id_path("The older version")]) -> int:
    return rubric_number(slug, a)


def _rubric_b(slug: Slug, b: Annotated[int, _id_path("The newer version")]) -> int:
    return rubric_number(slug, b)


def _review_id(review_id: Annotated[int, _id_path("Review id")]) -> int:
    if not in_id_range(review_id):
        raise NotFound(N_("no review %(review)s"), values={"review": review_id})
    return review_id


RoundId = Annotated[int, Depends(_round_id)]
ReviewId = Annotated[int, Depends(_review_id)]
InvitationId = Annotated[int, Depends(_invitation_id)]
SurveyVersionNumber = Annotated[int, Depends(_survey_version_number)]
RubricA = Annotated[int, Depends(_rubric_a)]
RubricB = Annotated[int, Depends(_rubric_b)]

_RUBRIC_FILE = re.compile(r"v([0-9]{1,30})(?:\.(json|csv))?", re.ASCII)
#: ``?lang=``: the language a page is read in (a tag such as ``fr`` or ``pt_BR``).
Lang = Annotated[
    str | None,
    Query(
        pattern=r"^[A-Za-z]{2,3}([_-][A-Za-z0-9]{2,8})*$",
        max_length=16,
        description="The language to read the page in (one of the survey's); by default "
        "the best the browser asks for (Accept-Language), else the survey's own",
        examples=["fr"],
    ),
]

RUBRIC_FILE_HELP = N_("Rubric versions are at /rubrics/{survey}/v{n}, v{n}.json or v{n}.csv.")


def rubric_file(slug: str, name: str) -> tuple[int, str]:
    """The version number and extension ('', 'json' or 'csv') of ``v{n}[.json|.csv]``."""
    match = _RUBRIC_FILE.fullmatch(name)
    if match is None:
        raise NotFound(RUBRIC_FILE_HELP)
    return rubric_number(slug, int(match[1])), match[2] or ""


Seed = Annotated[
    int,
    Query(
        ge=0,
        le=SEED_MAX,
        description="Seed of the bootstrap (0 to 2^32 - 1); the same seed gives the same result",
    ),
]
BootstrapCount = Annotated[
    int, Query(ge=0, le=10_000, description="Bootstrap resamples (0 to 10000; 0 skips them)")
]
WeightingChoice = Annotated[
    Literal["equal", "performance", "severity"],
    Query(
        description="How the experts count: equally, by Cooke's performance weights from the "
        "seed questions, or through severity-adjusted ratings (as in publishing)"
    ),
]
