"""Public, read-only pages of published rubric versions (no sign-in)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Request
from fastapi.encoders import jsonable_encoder
from fastapi.responses import HTMLResponse, JSONResponse, Response
from fastapi.templating import Jinja2Templates
from fastapi.types import DecoratedCallable

from app.errors import NotFound
from app.services import reviews, rubrics, webhooks
from app.web.deps import SessionDep, SettingsDep
from app.web.params import RubricA, RubricB, Slug, rubric_file

# Pages for people: errors come as HTML pages too, whatever the format asked for.
_page = {"text/html": {"schema": {"type": "string"}}}
router = APIRouter(
    prefix="/rubrics",
    tags=["rubrics"],
    responses={
        404: {"description": "No such survey or version", "content": _page},
        422: {"description": "Invalid parameter; the page names it", "content": _page},
        503: {"description": "Busy or database unreachable; see Retry-After", "content": _page},
    },
)
_json_or_page: dict[int | str, dict[str, Any]] = {
    200: {"content": {"application/json": {}, **_page}, "description": "A page, or JSON"}
}
#: ``?format=``: the page, or its data as JSON.
PageFormat = Literal["html", "json"]


def _page_or_json(path: str, summary: str) -> Callable[[DecoratedCallable], DecoratedCallable]:
    """A GET route answering with a page, or with JSON for ``?format=json``."""
    return router.get(path, response_class=HTMLResponse, summary=summary, responses=_json_or_page)


def _render(request: Request, template: str, context: dict[str, Any]) -> HTMLResponse:
    templates: Jinja2Templates = request.app.state.templates
    return templates.TemplateResponse(request, template, context)


def _as_requested(
    request: Request, format: str, data: Any, template: str, context: dict[str, Any]
) -> Response:
    """The data as JSON (``?format=json``) or the page showing it."""
    if format == "json":
        return JSONResponse(jsonable_encoder(data))
    return _render(request, template, context)


@_page_or_json("/", summary="Surveys with published rubrics")
def rubric_index(request: Request, session: SessionDep, format: PageFormat = "html") -> Response:
    """Every survey with published rubric versions (`?format=json` for JSON)."""
    surveys = rubrics.list_published(session)
    return _as_requested(request, format, surveys, "rubrics_index.html", {"surveys": surveys})


@_page_or_json("/{slug}/", summary="Published versions of a survey")
def rubric_versions(
    slug: Slug, request: Request, session: SessionDep, format: PageFormat = "html"
) -> Response:
    """The published versions of one survey's rubric (`?format=json` for JSON)."""
    entry = next((s for s in rubrics.list_published(session) if s.slug == slug), None)
    if entry is None:
        raise NotFound(f"no rubric of survey {slug!r} has been published")
    return _as_requested(request, format, entry, "rubrics_versions.html", {"survey": entry})


@_page_or_json("/{slug}/diff/{a}/{b}", summary="Compare versions")
def rubric_diff(
    slug: Slug,
    a: RubricA,
    b: RubricB,
    request: Request,
    session: SessionDep,
    format: PageFormat = "html",
) -> Response:
    """Items that changed tier, and how thresholds and reliability moved, from a to b."""
    diff = rubrics.diff_rubrics(
        rubrics.get_rubric(session, slug=slug, number=a),
        rubrics.get_rubric(session, slug=slug, number=b),
    )
    context = {"diff": diff, "slug": slug}
    return _as_requested(request, format, diff, "rubrics_diff.html", context)


@router.get(
    "/{slug}/{name}",
    response_class=HTMLResponse,
    summary="One published version",
    responses={
        200: {
            "content": {
                "application/json": {},
                "text/csv": {"schema": {"type": "string"}},
                **_page,
            },
            "description": "A page, the JSON record or the CSV table",
        }
    },
)
def rubric_version(
    slug: Slug,
    name: Annotated[str, Path(description="`v{n}`, `v{n}.json` or `v{n}.csv`", examples=["v1"])],
    request: Request,
    session: SessionDep,
    format: Literal["html", "json", "csv"] = "html",
) -> Response:
    """`v{n}` as a page, `v{n}.json` (record + digest) or `v{n}.csv` (items and tiers)."""
    number, extension = rubric_file(slug, name)
    version = rubrics.get_rubric(session, slug=slug, number=number)
    status = reviews.version_status(session, version)
    if extension == "json" or (not extension and format == "json"):
        return JSONResponse(
            {**rubrics.document(version), "status": status.model_dump(mode="json")},
            headers={"Content-Disposition": f'inline; filename="{slug}-v{number}.json"'},
        )
    if extension == "csv" or (not extension and format == "csv"):
        return Response(
            rubrics.rubric_csv(version),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="{slug}-v{number}.csv"'},
        )
    return _render(
        request,
        "rubric.html",
        {
            "r": version.record,
            "digest": version.digest,
            "slug": slug,
            "algorithm": rubrics.DIGEST_ALGORITHM,
            "context": rubrics.context_shown(version.record),
            "status": status,
        },
    )


# --- Atom feeds of rubric events -------------------------------------------------------------
# A router of its own, included ahead of ``router``: there `/{slug}/{name}` would take
# `feed.atom` for the name of a version.

feeds = APIRouter(prefix="/rubrics", tags=["rubrics"], responses=router.responses)
_atom: dict[int | str, dict[str, Any]] = {
    200: {
        "content": {webhooks.ATOM_MEDIA_TYPE: {"schema": {"type": "string"}}},
        "description": "An Atom feed (RFC 4287), newest entry first",
    }
}


@feeds.get(
    "/feed.atom", response_class=Response, summary="Every survey's rubric events", responses=_atom
)
def all_events_feed(session: SessionDep, settings: SettingsDep) -> Response:
    """New versions published and reviews opened and closed, of every survey (the newest
    50), as an Atom feed; webhooks (`/api/webhooks`) tell the same events."""
    return _feed(webhooks.atom_feed(session, slug=None, base_url=settings.base_url))


@feeds.get(
    "/{slug}/feed.atom",
    response_class=Response,
    summary="One survey's rubric events",
    responses=_atom,
)
def survey_events_feed(slug: Slug, session: SessionDep, settings: SettingsDep) -> Response:
    """One survey's new versions and reviews (the newest 50) as an Atom feed; empty until
    its first version is published."""
    return _feed(webhooks.atom_feed(session, slug=slug, base_url=settings.base_url))


def _feed(document: bytes) -> Response:
    return Response(document, media_type=webhooks.ATOM_MEDIA_TYPE)
