"""Public, read-only pages of published rubric versions (no sign-in)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Request
from fastapi.encoders import jsonable_encoder
from fastapi.responses import HTMLResponse, JSONResponse, Response
from fastapi.templating import Jinja2Templates
from fastapi.types import DecoratedCallable
from sqlmodel import Session

from app import i18n
from app.errors import NotFound
from app.models import RubricVersion
from app.services import reviews, rubrics, webhooks
from app.web.deps import SessionDep, SettingsDep
from app.web.downloads import attachment
from app.web.errors import browser_language
from app.web.params import Lang, RubricA, RubricB, Slug, rubric_file

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


def _reading(request: Request, lang: str | None, offered: list[str]) -> dict[str, Any]:
    """The reader's language among the ``offered`` ones (the source first): ``?lang=``,
    else the best the browser asks for, else the source; with the page's language switch
    and the query that keeps the choice in the page's links."""
    if lang is not None:
        language = lang.replace("-", "_")
        i18n.check_offered(
            language,
            offered,
            i18n.N_("lang: the page is not given in %(language)s; its languages are %(languages)s"),
            asked=lang,
        )
    else:
        language = browser_language(request, offered) or offered[0]
    return {
        "language": language,
        "page_languages": [(code, i18n.language_name(code)) for code in offered],
        "lang_query": f"?lang={language}" if lang is not None else "",
    }


@dataclass(frozen=True)
class Reader:
    """Who reads a public page: their request, and the format (``?format=``) and
    language (``?lang=``) they asked for."""

    request: Request
    format: PageFormat
    lang: str | None

    def reading(self, offered: list[str]) -> dict[str, Any]:
        """The reader's language among the ``offered`` ones, as :func:`_reading` says."""
        return _reading(self.request, self.lang, offered)

    def answer(self, data: Any, template: str, context: dict[str, Any]) -> Response:
        """The data as JSON or the page showing it, as the reader asked."""
        return _as_requested(self.request, self.format, data, template, context)


def _reader(request: Request, format: PageFormat = "html", lang: Lang = None) -> Reader:
    return Reader(request, format, lang)


ReaderDep = Annotated[Reader, Depends(_reader)]


@_page_or_json("/", summary="Surveys with published rubrics")
def rubric_index(reader: ReaderDep, session: SessionDep) -> Response:
    """Every survey with published rubric versions (`?format=json` for JSON), each title
    in the reader's language (`?lang=`, else Accept-Language) where the survey has it."""
    reading = reader.reading(list(i18n.INTERFACE_LANGUAGES))
    surveys = rubrics.list_published(session, language=reading["language"])
    context = {"surveys": surveys, **reading}
    return reader.answer(surveys, "rubrics_index.html", context)


@_page_or_json("/{slug}/", summary="Published versions of a survey")
def rubric_versions(slug: Slug, reader: ReaderDep, session: SessionDep) -> Response:
    """The published versions of one survey's rubric (`?format=json` for JSON), in the
    reader's language (`?lang=`, else Accept-Language) where the survey is given in it."""
    published = rubrics.list_published(session)
    entry = next((s for s in published if s.slug == slug), None)
    if entry is None:
        raise NotFound(
            i18n.N_("no rubric of survey %(slug)s has been published"), values={"slug": repr(slug)}
        )
    reading = reader.reading(entry.languages)
    if reading["language"] != entry.languages[0]:
        localized = rubrics.list_published(session, language=reading["language"])
        entry = next(s for s in localized if s.slug == slug)
    context = {"survey": entry, **reading}
    return reader.answer(entry, "rubrics_versions.html", context)


@_page_or_json("/{slug}/diff/{a}/{b}", summary="Compare versions")
def rubric_diff(
    slug: Slug,
    a: RubricA,
    b: RubricB,
    reader: ReaderDep,
    session: SessionDep,
) -> Response:
    """Items that changed tier, and how thresholds and reliability moved, from a to b, in
    the reader's language (`?lang=`, else Accept-Language) where the survey has it."""
    older = rubrics.get_rubric(session, slug=slug, number=a)
    newer = rubrics.get_rubric(session, slug=slug, number=b)
    reading = reader.reading(rubrics.rubric_languages(session, newer))
    language = reading["language"]
    diff = rubrics.diff_rubrics(
        older,
        newer,
        records=(
            rubrics.localized_record(session, older, language),
            rubrics.localized_record(session, newer, language),
        ),
        holistic_label=i18n.translate(i18n.interface_language(language), "Overall tier"),
    )
    context = {"diff": diff, "slug": slug, **reading}
    return reader.answer(diff, "rubrics_diff.html", context)


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
    lang: Lang = None,
) -> Response:
    """`v{n}` as a page, `v{n}.json` (record + digest) or `v{n}.csv` (items and tiers).

    The page is in the reader's language (`?lang=`, else Accept-Language) where the survey
    is given in it. The JSON's `record` is always the record as published (what the
    digest signs); with `?lang=` it carries beside it, unsigned, `localized`: the same
    record with the survey's texts in that language."""
    number, extension = rubric_file(slug, name)
    version = rubrics.get_rubric(session, slug=slug, number=number)
    status = reviews.version_status(session, version)
    reading = _reading(request, lang, rubrics.rubric_languages(session, version))
    if extension == "json" or (not extension and format == "json"):
        body = {**rubrics.document(version), "status": status.model_dump(mode="json")}
        if lang is not None:
            body["localized"] = _localized_json(session, version, reading["language"])
        return JSONResponse(
            body,
            headers={"Content-Disposition": f'inline; filename="{slug}-v{number}.json"'},
        )
    if extension == "csv" or (not extension and format == "csv"):
        return attachment(rubrics.rubric_csv(version), filename=f"{slug}-v{number}.csv")
    record = rubrics.localized_record(session, version, reading["language"])
    return _render(
        request,
        "rubric.html",
        {
            "r": record,
            "digest": version.digest,
            "slug": slug,
            "algorithm": rubrics.DIGEST_ALGORITHM,
            "context": rubrics.context_shown(record),
            "status": status,
            **reading,
        },
    )


def _localized_json(session: Session, version: RubricVersion, language: str) -> dict[str, Any]:
    """The record in ``language``, outside the signed part: for reading, not verifying."""
    return {
        "language": language,
        "note": "the survey's texts in this language; not signed: verify `record`",
        "record": rubrics.localized_record(session, version, language),
    }


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
