"""The HTML reliability report as the admin pages serve it: under the site's strict
Content-Security-Policy its own styles apply and its plots are not drawn black, and the same
document saved to disk renders the same with no network."""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from app.services import reports
from app.services.demo import simulate_panel
from tests.browser_support import (
    DemoSite,
    Watch,
    dark_share,
    demo_with_panel,
    sign_in,
    watch,
)
from tests.factories import login, make_round, make_user
from tests.live_server import LiveServer, live_server

# --- the response itself (no browser) ---------------------------------------------------


@pytest.fixture
def report_reply(session, client):
    make_user(session)
    round_ = make_round(session)
    simulate_panel(session, round_id=round_.id, n_experts=6, seed=2)
    session.commit()
    return client.get(
        f"/api/rounds/{round_.id}/report",
        params={"format": "html", "n_bootstrap": 20},
        headers=login(client),
    )


def test_the_report_template_is_compiled_once_per_process(session, monkeypatch):
    from jinja2 import Environment

    make_user(session)
    round_ = make_round(session)
    simulate_panel(session, round_id=round_.id, n_experts=4, seed=2)
    session.commit()
    report = reports.build_report(
        session, round_id=round_.id, options=reports.ReportOptions(n_bootstrap=20)
    )
    compiled: list[str | None] = []
    original = Environment.compile

    def counting(self, source, name=None, filename=None, raw=False, defer_init=False):  # type: ignore[no-untyped-def]
        compiled.append(name)
        return original(self, source, name, filename, raw, defer_init)

    monkeypatch.setattr(Environment, "compile", counting)
    first = reports.render_report(report, "html")
    compiled_first = list(compiled)
    second = reports.render_report(report, "html")
    assert "<h1" in first and "<h1" in second
    # The first report of the process may compile the template; the next one reuses it.
    assert compiled[len(compiled_first) :] == []


def _directives(policy: str) -> dict[str, list[str]]:
    parts = (p.split() for p in policy.split(";") if p.strip())
    return {words[0]: words[1:] for words in parts}


def test_report_policy_allows_exactly_its_own_inline_styles(report_reply):
    assert report_reply.status_code == 200
    policy = _directives(report_reply.headers["content-security-policy"])
    for name, sources in policy.items():
        assert "'unsafe-inline'" not in sources, name
        assert "'unsafe-eval'" not in sources, name
    assert policy["script-src"] == ["'none'"]  # the report has no script at all
    assert policy["frame-ancestors"] == ["'none'"]
    html = report_reply.text
    blocks = re.findall(r"<style[^>]*>(.*?)</style>", html, flags=re.S)
    assert blocks, "the report carries its styles inline (it must work as a saved file)"
    allowed = set(policy["style-src"])
    for block in blocks:
        digest = base64.b64encode(hashlib.sha256(block.encode()).digest()).decode()
        assert f"'sha256-{digest}'" in allowed
    # Style attributes cannot be allowed without 'unsafe-inline': the plots use none.
    assert re.search(r"<[^>]+\sstyle=", html) is None


def test_report_figures_keep_their_colours_as_attributes(report_reply):
    html = report_reply.text
    assert html.count("<svg") >= 4
    assert 'fill="#ffffff"' in html  # the figures' white backgrounds
    assert "<?xml" not in html  # no XML prolog in the middle of an HTML body
    # Several figures on one page: every id once, every reference to one that is there.
    ids = re.findall(r'\sid="([^"]+)"', html)
    assert len(ids) == len(set(ids))
    references = set(re.findall(r'href="#([^"]+)"', html))
    references |= set(re.findall(r"url\(#([^)]+)\)", html))
    assert references and references <= set(ids)


def test_inline_svg_turns_styles_into_presentation_attributes():
    svg = (
        '<?xml version="1.0" encoding="utf-8" standalone="no"?>\n'
        '<!DOCTYPE svg PUBLIC "-//W3C//DTD SVG 1.1//EN" "x.dtd">\n'
        '<svg xmlns="http://www.w3.org/2000/svg" width="10pt">'
        '<defs><style type="text/css">*{stroke-linejoin: round; stroke-linecap: butt}</style>'
        "</defs>"
        '<path d="M 0 0" style="fill: #ffffff; stroke-linecap: square"/>'
        '<g fill="red" style="fill: blue; font: 10px \'DejaVu Sans\'"><text>style="x"</text></g>'
        "</svg>"
    )
    out = reports.inline_svg(svg)
    assert out.startswith("<svg ") and "<style" not in out and " style=" not in out
    # The default rule, on the root for elements with no style of their own ...
    assert out.startswith('<svg stroke-linejoin="round" stroke-linecap="butt" ')
    # ... and under each element's own declarations, which win as they did.
    assert '<path d="M 0 0" stroke-linejoin="round" stroke-linecap="square" fill="#ffffff"/>' in out
    # An attribute already there is kept; values are escaped; text is left alone.
    assert '<g fill="red" stroke-linejoin="round"' in out and 'fill="blue"' not in out
    assert 'font="10px &#x27;DejaVu Sans&#x27;"' in out
    assert '<text>style="x"</text>' in out


def test_inline_svg_prefixes_ids_and_their_references():
    svg = (
        '<svg xmlns="http://www.w3.org/2000/svg" aria-labelledby="t d"><title id="t">T</title>'
        '<desc id="d">D</desc><defs><path id="g1" d="M 0 0"/><clipPath id="c1"/></defs>'
        '<use xlink:href="#g1" clip-path="url(#c1)"/><use href="#g1"/></svg>'
    )
    out = reports.inline_svg(svg, id_prefix="fig-a")
    assert 'aria-labelledby="fig-a-t fig-a-d"' in out
    assert 'id="fig-a-t"' in out and 'id="fig-a-g1"' in out and 'id="fig-a-c1"' in out
    assert 'xlink:href="#fig-a-g1" clip-path="url(#fig-a-c1)"' in out
    assert '<use href="#fig-a-g1"/>' in out


# --- in the browser ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LiveServer, DemoSite]]:
    directory = tmp_path_factory.mktemp("report-page")
    demo = demo_with_panel(directory)
    with live_server(demo.database_url, log_dir=directory) as server:
        yield server, demo


def _screenshots() -> Path:
    import os
    import tempfile

    path = Path(os.environ.get("ELICIT_SCREENSHOTS") or tempfile.mkdtemp(prefix="elicit-shots-"))
    path.mkdir(parents=True, exist_ok=True)
    return path


_LOOK = """() => {
  const style = (selector) => getComputedStyle(document.querySelector(selector));
  const backgrounds = [...document.querySelectorAll("figure svg")].map(
    (svg) => getComputedStyle(svg.querySelector("path")).fill);
  return {
    bodyMaxWidth: style("body").maxWidth,
    h2Border: style("h2").borderBottomStyle,
    headBackground: style("thead th").backgroundColor,
    noteBorder: style(".note").borderLeftStyle,
    figureBackgrounds: backgrounds,
    overflow: document.documentElement.scrollWidth - window.innerWidth,
  };
}"""


def _check_looks_styled(page: Any) -> None:
    look = page.evaluate(_LOOK)
    assert look["bodyMaxWidth"] == "1024px", look  # report.css: max-width 64rem
    assert look["h2Border"] == "solid", look
    assert look["headBackground"] == "rgb(241, 243, 246)", look
    assert look["noteBorder"] == "solid", look
    assert len(look["figureBackgrounds"]) >= 4
    assert set(look["figureBackgrounds"]) == {"rgb(255, 255, 255)"}, look
    assert look["overflow"] <= 1, look
    for index, figure in enumerate(page.locator("figure").all()):
        share = dark_share(figure.screenshot())
        assert share < 0.15, f"figure {index + 1} is {share:.0%} black"


@pytest.mark.browser
def test_report_opened_from_the_admin_page_renders_under_the_policy(
    site: tuple[LiveServer, DemoSite], browser: Any, tmp_path: Path
):
    server, demo = site
    context = browser.new_context(viewport={"width": 1100, "height": 800})
    context.set_default_timeout(30_000)
    try:
        watched = watch(context)
        admin = context.new_page()
        sign_in(admin, server.url, demo.admin_email, demo.admin_password)
        admin.goto(f"{server.url}/admin/rounds/{demo.round_id}")
        with context.expect_page() as opened:
            admin.get_by_role("link", name="Reliability report").first.click()
        page = opened.value
        page.wait_for_load_state("load")
        assert page.locator("h1").inner_text()
        _check_looks_styled(page)
        assert Watch.violations(page) == []
        assert watched.console_errors == []
        page.screenshot(path=str(_screenshots() / "report_served.png"), full_page=True)
        assert _axe_violations(page) == []
        # Every table scrolls in its own box, a named region the Tab key reaches.
        assert (
            page.locator("table").count()
            == page.locator(".table-scroll[role=region][tabindex='0'][aria-label] > table").count()
        )

        # The same document saved to disk renders alike, with no network at all.
        reply = context.request.get(
            f"{server.url}/api/rounds/{demo.round_id}/report?format=html&n_bootstrap=50"
        )
        assert reply.ok
        saved = tmp_path / "report.html"
        saved.write_bytes(reply.body())
    finally:
        context.close()
    context = browser.new_context(viewport={"width": 1100, "height": 800}, offline=True)
    try:
        watched = watch(context)
        page = context.new_page()
        page.goto(saved.as_uri())
        _check_looks_styled(page)
        assert watched.requests == [saved.as_uri()]
        assert watched.console_errors == []
        page.screenshot(path=str(_screenshots() / "report_saved.png"), full_page=True)
    finally:
        context.close()


def _axe_violations(page: Any) -> list[str]:
    from axe_playwright_python.sync_playwright import Axe

    found = Axe().run(page).response["violations"]
    return [f"{v['id']} ({v['impact']}, {len(v['nodes'])} nodes)" for v in found]
