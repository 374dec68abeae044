"""The interactive API documentation works without internet and under the site's policy:
Swagger UI 5 (it reads OpenAPI 3.1) served from the app's own files, no inline script; and
the favicon every page asks for is there."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from app.templating import STATIC_DIR
from tests.browser_support import Watch, empty_site, offline, watch
from tests.live_server import LiveServer

VENDOR = STATIC_DIR / "vendor" / "swagger-ui"


def _directives(policy: str) -> dict[str, list[str]]:
    parts = (p.split() for p in policy.split(";") if p.strip())
    return {words[0]: words[1:] for words in parts}


def test_docs_page_uses_only_the_apps_own_files(client):
    reply = client.get("/docs")
    assert reply.status_code == 200
    policy = _directives(reply.headers["content-security-policy"])
    assert policy["script-src"] == ["'self'"]
    assert policy["style-src"] == ["'self'"]
    html = reply.text
    scripts = re.findall(r"<script([^>]*)>(.*?)</script>", html, flags=re.S)
    assert scripts and all('src="/static/' in attrs and not body.strip() for attrs, body in scripts)
    assert "<style" not in html and " style=" not in html
    assets = re.findall(r'(?:src|href)="(/static/[^"]+)"', html)
    assert "/static/vendor/swagger-ui/swagger-ui-bundle.js" in assets
    for path in assets:
        assert client.get(path).status_code == 200, path
    assert "http://" not in html and "https://" not in html  # nothing from elsewhere
    assert 'data-openapi-url="/openapi.json"' in html
    assert client.get("/openapi.json").json()["openapi"].startswith("3.1")


def test_vendored_swagger_ui_is_version_5_with_its_licence():
    bundle = (VENDOR / "swagger-ui-bundle.js").read_text(encoding="utf-8")
    version = re.search(r'PACKAGE_VERSION:"(\d+)\.(\d+)\.(\d+)"', bundle)
    assert version and int(version.group(1)) >= 5  # 4.x cannot render OpenAPI 3.1
    readme = (VENDOR / "README.md").read_text(encoding="utf-8")
    assert ".".join(version.groups()) in readme
    for name in ("swagger-ui-bundle.js", "swagger-ui.css"):
        digest = hashlib.sha256((VENDOR / name).read_bytes()).hexdigest()
        assert digest in readme, f"{name} differs from the version the README names"
    assert "Apache License" in (VENDOR / "LICENSE").read_text(encoding="utf-8")
    assert (VENDOR / "NOTICE").exists()


def test_redoc_is_not_offered_and_the_schema_says_nothing_of_the_docs(client):
    assert client.get("/redoc").status_code == 404
    paths = client.get("/openapi.json").json()["paths"]
    assert not {"/docs", "/redoc", "/favicon.ico"} & set(paths)


def test_favicon_is_served_and_linked(client):
    reply = client.get("/favicon.ico")
    assert reply.status_code == 200
    assert reply.headers["content-type"] == "image/vnd.microsoft.icon"
    assert reply.content[:4] == b"\x00\x00\x01\x00"  # an ICO file
    svg = client.get("/static/favicon.svg")
    assert svg.status_code == 200 and svg.headers["content-type"].startswith("image/svg+xml")
    for page in ("/", "/login", "/rubrics/", "/docs"):
        assert 'rel="icon"' in client.get(page).text, page


# --- in the browser ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    with empty_site(tmp_path_factory.mktemp("docs")) as running:
        yield running


def _operation_count(server: LiveServer) -> int:
    import json
    import urllib.request

    with urllib.request.urlopen(server.url + "/openapi.json", timeout=10) as answer:
        spec = json.loads(answer.read())
    methods = {"get", "put", "post", "delete", "patch", "head", "options", "trace"}
    return sum(1 for item in spec["paths"].values() for method in item if method in methods)


@pytest.mark.browser
def test_swagger_ui_renders_every_operation_offline(
    server: LiveServer, browser: Any, tmp_path: Path
):
    context = browser.new_context(viewport={"width": 1200, "height": 900})
    context.set_default_timeout(30_000)
    try:
        offline(context, server.url)
        watched = watch(context)
        page = context.new_page()
        page.goto(server.url + "/docs")
        page.locator(".opblock").first.wait_for()
        expected = _operation_count(server)
        assert page.locator(".opblock").count() == expected
        assert page.get_by_role("heading", name=re.compile(r"^elicit")).is_visible()
        # Open one operation: its parameters and "Try it out" render too.
        page.locator(".opblock-summary").first.click()
        page.get_by_role("button", name="Try it out").first.wait_for()
        assert Watch.violations(page) == []
        assert watched.console_errors == []
        assert all(url.startswith(server.url) for url in watched.requests), watched.requests
        import os

        shots = Path(os.environ.get("ELICIT_SCREENSHOTS") or tmp_path)
        shots.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(shots / "api_docs.png"))
    finally:
        context.close()
