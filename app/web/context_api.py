"""The JSON API of context factors, observations and reviews of published rubrics."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import Field

from app.inputs import Input, ObservationInput, Text
from app.schemas import RoundPublic
from app.services import ReadModel, reviews, rounds
from app.services.reviews import ObservationShown, ReviewShown, SurveyContext
from app.web.api import API_ERRORS
from app.web.deps import AdminUser, SessionDep, StaffUser
from app.web.params import ReviewId, Slug

router = APIRouter(prefix="/api", tags=["context"], responses=API_ERRORS)  # type: ignore[arg-type]


class ObservationRecorded(ReadModel):
    """The observation, and the reviews of the published version it opened."""

    observation: ObservationShown
    reviews_opened: list[ReviewShown]


class ReviewClose(Input):
    resolution: Text = Field(
        min_length=1,
        max_length=5000,
        description="How the review ended; shown on the public page",
        examples=["The new access agreement keeps the assumption in substance."],
    )


class ReviewRoundCreate(Input):
    name: Text | None = Field(default=None, max_length=200)


@router.get("/surveys/{slug}/context", response_model=SurveyContext)
def survey_context(slug: Slug, session: SessionDep, user: StaffUser) -> SurveyContext:
    """The survey's context factors: what the newest published version assumed, the latest
    observation, when each must be checked again; and that version's reviews."""
    return reviews.survey_context(session, slug=slug)


@router.get("/surveys/{slug}/observations", response_model=list[ObservationShown])
def list_observations(
    slug: Slug,
    session: SessionDep,
    user: StaffUser,
    factor: Annotated[str | None, Query(max_length=64)] = None,
) -> list[ObservationShown]:
    """Observations of the survey's factors, newest first (of one factor if named)."""
    return reviews.observations(session, slug=slug, factor_key=factor)


@router.post("/surveys/{slug}/observations", response_model=ObservationRecorded, status_code=201)
def record_observation(
    slug: Slug, body: ObservationInput, session: SessionDep, user: AdminUser
) -> ObservationRecorded:
    """Record an observation of a factor; the triggers are checked at once, and a version
    whose assumption it contradicts (or whose indicator it crosses) goes under review."""
    row, opened = reviews.record_observation(session, slug=slug, observation=body, actor=user.email)
    shown = reviews.observations(session, slug=slug, factor_key=row.factor_key, limit=1)
    return ObservationRecorded(
        observation=shown[0],
        reviews_opened=[reviews.review_of(session, review_id=r.id or 0) for r in opened],
    )


@router.get("/reviews/{review_id}", response_model=ReviewShown)
def get_review(review_id: ReviewId, session: SessionDep, user: StaffUser) -> ReviewShown:
    return reviews.review_of(session, review_id=review_id)


@router.post("/reviews/{review_id}/close", response_model=ReviewShown)
def close_review(
    review_id: ReviewId, body: ReviewClose, session: SessionDep, user: AdminUser
) -> ReviewShown:
    """Close a review with how it was resolved; the version is current again once no
    review of it is open."""
    closed = reviews.close_review(
        session, review_id=review_id, actor=user.email, resolution=body.resolution
    )
    return reviews.review_of(session, review_id=closed.id or 0)


@router.post("/reviews/{review_id}/round", response_model=RoundPublic, status_code=201)
def start_review_round(
    review_id: ReviewId, body: ReviewRoundCreate, session: SessionDep, user: AdminUser
) -> RoundPublic:
    """A draft round asking only the items the version's open reviews bear on."""
    round_ = reviews.start_review_round(
        session, review_id=review_id, actor=user.email, name=body.name
    )
    return RoundPublic.model_validate(rounds.round_details(session, round_))
