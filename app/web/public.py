"""Public, read-only pages of published rubric versions (no sign-in)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response

from app.errors import NotFound
from app.services import rubrics
from app.web.deps import SessionDep

router = APIRouter(prefix="/rubrics", tags=["rubrics"])


def _render(request: Request, template: str, context: dict[str, Any]) -> HTMLResponse:
    return request.app.state.templates.TemplateResponse(request, template, context)


@router.get("/", response_class=HTMLResponse, summary="Surveys with published rubrics")
def rubric_index(request: Request, session: SessionDep) -> Response:
    """Every survey with published rubric versions (`?format=json` for JSON)."""
    surveys = rubrics.list_published(session)
    if request.query_params.get("format") == "json":
        return JSONResponse(surveys)
    return _render(request, "rubrics_index.html", {"surveys": surveys})


@router.get("/{slug}/", response_class=HTMLResponse, summary="Published versions of a survey")
def rubric_versions(slug: str, request: Request, session: SessionDep) -> Response:
    """The published versions of one survey's rubric (`?format=json` for JSON)."""
    entry = next((s for s in rubrics.list_published(session) if s["slug"] == slug), None)
    if entry is None:
        raise NotFound(f"no rubric of survey {slug!r} has been published")
    if request.query_params.get("format") == "json":
        return JSONResponse(entry)
    return _render(request, "rubrics_versions.html", {"survey": entry})


@router.get("/{slug}/diff/{a}/{b}", response_class=HTMLResponse, summary="Compare versions")
def rubric_diff(slug: str, a: int, b: int, request: Request, session: SessionDep) -> Response:
    """Items that changed tier, and how thresholds and reliability moved, from a to b."""
    diff = rubrics.diff_rubrics(
        rubrics.get_rubric(session, slug=slug, number=a),
        rubrics.get_rubric(session, slug=slug, number=b),
    )
    if request.query_params.get("format") == "json":
        return JSONResponse(diff)
    return _render(request, "rubrics_diff.html", {"diff": diff, "slug": slug})


@router.get("/{slug}/{name}", response_class=HTMLResponse, summary="One published version")
def rubric_version(slug: str, name: str, request: Request, session: SessionDep) -> Response:
    """`v{n}` as a page, `v{n}.json` (record + digest) or `v{n}.csv` (items and tiers)."""
    stem, _, extension = name.partition(".")
    if not stem.startswith("v") or not stem[1:].isdigit() or extension not in ("", "json", "csv"):
        raise NotFound("Rubric versions are at /rubrics/{survey}/v{n}, v{n}.json or v{n}.csv.")
    version = rubrics.get_rubric(session, slug=slug, number=int(stem[1:]))
    if extension == "json" or request.query_params.get("format") == "json":
        return JSONResponse(
            rubrics.document(version),
            headers={"Content-Disposition": f'inline; filename="{slug}-{stem}.json"'},
        )
    if extension == "csv" or request.query_params.get("format") == "csv":
        return Response(
            rubrics.rubric_csv(version),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="{slug}-{stem}.csv"'},
        )
    return _render(
        request,
        "rubric.html",
        {
            "r": version.record,
            "digest": version.digest,
            "slug": slug,
            "algorithm": rubrics.DIGEST_ALGORITHM,
            "context_fields": rubrics.CONTEXT_FIELDS,
        },
    )
