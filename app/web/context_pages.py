"""The admin console's page of a survey's context: its factors, what the published rubric
assumed, observations, and the reviews they opened (one route per form)."""

from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import Response
from pydantic import ValidationError

from app import i18n
from app.errors import Conflict, InvalidInput
from app.inputs import ObservationInput
from app.models import id_of
from app.services import reviews
from app.web.errors import http_status
from app.web.page_support import (
    AdminFormDep,
    Refused,
    StaffPage,
    StaffPageDep,
    form_error,
    redirect,
)
from app.web.params import ReviewId, Slug

router = APIRouter(include_in_schema=False)


def _page(
    page: StaffPage, slug: str, *, notice: str = "", refused: Refused | None = None
) -> Response:
    context = {
        "ctx": reviews.survey_context(page.session, slug=slug),
        "observed": reviews.observations(page.session, slug=slug, limit=50),
        "notice": notice,
        "today": date.today().isoformat(),
    }
    return page.render_form("admin_context.html", context, refused)


@router.get("/admin/surveys/{slug}/context")
def admin_context(
    slug: Slug,
    page: StaffPageDep,
    opened: Annotated[int | None, Query(ge=0, le=1000)] = None,
) -> Response:
    notice = ""
    if opened:
        notice = i18n.translate_plural(
            page.language,
            "Observation recorded; it opened %(num)d review of the published rubric.",
            "Observation recorded; it opened %(num)d reviews of the published rubric.",
            opened,
        )
    elif opened is not None:
        notice = i18n.translate(page.language, "Observation recorded; no trigger fired.")
    return _page(page, slug, notice=notice)


@router.post("/admin/surveys/{slug}/observations")
def admin_observe(slug: Slug, page: AdminFormDep) -> Response:
    fields = ("factor", "value", "observed_on", "source_url", "note")
    typed = {k: page.text(k) for k in fields}
    try:
        try:
            observation = ObservationInput.model_validate(typed)
        except ValidationError as exc:
            raise form_error(exc) from None
        _, opened = reviews.record_observation(
            page.session, slug=slug, observation=observation, actor=page.user.email
        )
    except InvalidInput as exc:
        errors = {exc.field or "value": exc.message}
        return _page(page, slug, refused=page.refuse(errors, typed, http_status(exc)))
    return redirect(f"/admin/surveys/{slug}/context?opened={len(opened)}")


@router.post("/admin/reviews/{review_id}/close")
def admin_close_review(review_id: ReviewId, page: AdminFormDep) -> Response:
    shown = reviews.review_of(page.session, review_id=review_id)
    resolution = page.text("resolution")
    try:
        reviews.close_review(
            page.session, review_id=review_id, actor=page.user.email, resolution=resolution
        )
    except (InvalidInput, Conflict) as exc:
        errors = {f"review-{review_id}": exc.message}
        typed = {f"resolution-{review_id}": resolution}
        return _page(page, shown.survey, refused=page.refuse(errors, typed, http_status(exc)))
    return redirect(f"/admin/surveys/{shown.survey}/context#reviews")


@router.post("/admin/reviews/{review_id}/round")
def admin_review_round(review_id: ReviewId, page: AdminFormDep) -> Response:
    shown = reviews.review_of(page.session, review_id=review_id)
    try:
        round_ = reviews.start_review_round(
            page.session, review_id=review_id, actor=page.user.email
        )
    except Conflict as exc:
        errors = {f"review-{review_id}": exc.message}
        return _page(page, shown.survey, refused=page.refuse(errors, status=http_status(exc)))
    return redirect(f"/admin/rounds/{id_of(round_)}")
