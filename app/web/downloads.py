"""Files the web app hands out for download, and how the API documents a CSV download."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, Response
from fastapi.types import DecoratedCallable

CSV = "text/csv; charset=utf-8"


def attachment(
    content: str | bytes, *, filename: str, media_type: str = CSV, no_store: bool = False
) -> Response:
    """``content`` as a file named ``filename`` (``Content-Disposition: attachment``);
    ``no_store`` for personal data, which no cache may keep."""
    headers = {"Content-Disposition": f'attachment; filename="{filename}"'}
    if no_store:
        headers["Cache-Control"] = "no-store"
    return Response(content, media_type=media_type, headers=headers)


def csv_download(description: str) -> dict[int | str, dict[str, Any]]:
    """The OpenAPI ``responses`` of a route whose answer is a CSV file."""
    return {
        200: {"content": {"text/csv": {"schema": {"type": "string"}}}, "description": description}
    }


def csv_route(
    router: APIRouter, path: str, *, tag: str, description: str
) -> Callable[[DecoratedCallable], DecoratedCallable]:
    """Register a GET route of ``router`` whose answer is a CSV file, documented as one."""
    return router.get(
        path, tags=[tag], response_class=Response, responses=csv_download(description)
    )
