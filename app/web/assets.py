"""What browsers and API users ask for by convention: ``/favicon.ico`` and the interactive
API documentation at ``/docs``, served from the app itself (no CDN, so it works offline)
and under the site's Content-Security-Policy (its start-up script is a static file).

The Swagger UI files are vendored in ``static/vendor/swagger-ui`` (version 5, which reads
the OpenAPI 3.1 that FastAPI produces). ReDoc is not offered: it injects inline styles at
run time, which the policy forbids, and Swagger UI documents the same operations.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, HTMLResponse
from fastapi.templating import Jinja2Templates

from app.templating import STATIC_DIR

router = APIRouter(include_in_schema=False)


@router.get("/docs", response_class=HTMLResponse)
def api_docs(request: Request) -> HTMLResponse:
    app = request.app
    templates: Jinja2Templates = app.state.templates
    return templates.TemplateResponse(
        request, "api_docs.html", {"title": app.title, "openapi_url": app.openapi_url}
    )


@router.get("/favicon.ico")
def favicon() -> FileResponse:
    return FileResponse(
        STATIC_DIR / "favicon.ico",
        media_type="image/vnd.microsoft.icon",
        headers={"Cache-Control": "public, max-age=86400"},
    )
