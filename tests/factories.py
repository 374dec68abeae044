"""Small builders with keyword overrides for tests."""

from __future__ import annotations

import copy
import re
from typing import Any

import yaml
from fastapi.testclient import TestClient
from sqlmodel import Session

from app.models import Round, User
from app.schemas import InviteeCreate, RatingInput
from app.services import invitations, responses, rounds, surveys, users
from app.services.invitations import IssuedInvitation
from app.survey_files import SurveyDefinition

PASSWORD = "correct horse battery staple"

SMALL_SURVEY: dict[str, Any] = {
    "slug": "small",
    "version": "1.0",
    "title": "A small survey",
    "introduction": "Rate *each* item.",
    "dimensions": [
        {
            "key": "sensitivity",
            "label": "Sensitivity",
            "question": "How sensitive is it?",
            "scale": {"min": 1, "max": 5, "levels": {i: f"level {i}" for i in range(1, 6)}},
            "measurement": "ordinal",
        },
        {
            "key": "misuse",
            "label": "Misuse",
            "question": "How useful for misuse?",
            "scale": {"min": 1, "max": 5, "levels": {i: f"misuse {i}" for i in range(1, 6)}},
            "allow_outside_expertise": False,
        },
    ],
    "items": [
        {"key": "weights", "label": "Model weights", "description": "The weights."},
        {"key": "evals", "label": "Evaluation results", "description": "Results.", "group": "e"},
        {"key": "methods", "label": "Evaluation methods", "description": "Methods."},
    ],
    "tiers": [
        {"key": "no_brainer", "label": "No Brainer", "description": "Share by default."},
        {"key": "gray_area", "label": "Gray Area", "description": "Case by case."},
        {"key": "high_trust", "label": "High Trust", "description": "Bilateral only."},
    ],
    "tier_rule": {
        "dimensions": ["sensitivity", "misuse"],
        "aggregate": "max",
        "thresholds": {"gray_area": 2.5, "high_trust": 4},
    },
    "holistic_tier": {"enabled": True},
    "context": {
        "factors": [
            {
                "key": "company_relations",
                "label": "Relations with AI companies",
                "question": "How do the institutes obtain access?",
                "type": "text",
            },
            {
                "key": "legal_powers",
                "label": "Legal powers",
                "question": "What powers do the institutes have?",
                "type": "text",
                "volatility": "low",
            },
        ]
    },
}


def survey_dict(**overrides: Any) -> dict[str, Any]:
    data = copy.deepcopy(SMALL_SURVEY)
    data.update(overrides)
    return data


def survey_yaml(**overrides: Any) -> str:
    return yaml.safe_dump(survey_dict(**overrides), sort_keys=False)


def make_survey(session: Session, **overrides: Any):  # type: ignore[no-untyped-def]
    definition = SurveyDefinition.model_validate(survey_dict(**overrides))
    version, _ = surveys.load_survey(session, definition=definition, source_name="small.yaml")
    session.commit()
    return version


def make_user(session: Session, *, email: str = "admin@example.org", role: str = "admin") -> User:
    user = users.create_user(session, email=email, password=PASSWORD, role=role)
    session.commit()
    return user


def make_round(session: Session, *, status: str = "open", slug: str = "small", **kw: Any) -> Round:
    if slug == "small" and not _has_survey(session, slug):
        make_survey(session)
    round_ = rounds.create_round(session, slug=slug, name=kw.pop("name", "Round 1"), **kw)
    if status in ("open", "closed"):
        rounds.open_round(session, round_id=round_.id)  # type: ignore[arg-type]
    if status == "closed":
        rounds.close_round(session, round_id=round_.id)  # type: ignore[arg-type]
    session.commit()
    return round_


def _has_survey(session: Session, slug: str) -> bool:
    from app.errors import NotFound

    try:
        surveys.get_survey_version(session, slug=slug)
    except NotFound:
        return False
    return True


def make_invitations(
    session: Session, round_: Round, n: int = 2, *, prefix: str = "expert"
) -> list[IssuedInvitation]:
    people = [
        InviteeCreate(
            name=f"Expert {prefix} {i}",
            email=f"{prefix}{i}@example.org",
            organisation=f"Org {i % 2}",
        )
        for i in range(n)
    ]
    issued = invitations.invite_experts(session, round_id=round_.id, invitees=people)  # type: ignore[arg-type]
    session.commit()
    return issued


def make_response(session: Session, issued: IssuedInvitation, *, consent: bool = True):  # type: ignore[no-untyped-def]
    invitation = invitations.find_invitation(session, token=issued.token)
    response = responses.start_response(session, invitation=invitation)
    if consent:
        responses.give_consent(session, response_id=response.id)
    session.commit()
    return response


def rating(
    item: str = "weights", dimension: str = "sensitivity", value: int | None = 3, **kw: Any
) -> RatingInput:
    status = kw.pop("status", "value" if value is not None else "cant_judge")
    return RatingInput(item=item, dimension=dimension, value=value, status=status, **kw)


def full_ratings(value: int = 3) -> list[dict[str, Any]]:
    """Every cell of the small survey answered, as API JSON."""
    out = []
    for item in ("weights", "evals", "methods"):
        out.append({"item": item, "dimension": "sensitivity", "value": value})
        out.append({"item": item, "dimension": "misuse", "value": value})
        out.append({"item": item, "dimension": "tier", "value": 1})
    return out


def login(client: TestClient, email: str = "admin@example.org") -> dict[str, str]:
    reply = client.post("/api/auth/login", json={"email": email, "password": PASSWORD})
    assert reply.status_code == 200, reply.text
    return {"Authorization": f"Bearer {reply.json()['token']}"}


def bearer(issued: IssuedInvitation) -> dict[str, str]:
    return {"Authorization": f"Bearer {issued.token}"}


def form_token(page: str) -> str:
    """The CSRF token a server-rendered form carries."""
    found = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert found is not None, "the page has no form token"
    return found.group(1)


def sign_in_page(client: TestClient, email: str = "admin@example.org") -> None:
    """Sign in through the /login form, as a person would (the session cookie is kept)."""
    page = client.get("/login").text
    reply = client.post(
        "/login", data={"email": email, "password": PASSWORD, "csrf_token": form_token(page)}
    )
    assert reply.status_code == 303, reply.text
