"""Wide tables on a phone, in a real browser: at 375 px the published rubric page, the
reliability report and an admin round page never scroll sideways as a whole; a wide table
scrolls inside its own box, which the Tab key reaches (visibly focused) and the arrow keys
scroll; axe finds nothing at that width. Screenshots at 375 px and 1,100 px go to
``$ELICIT_SCREENSHOTS`` (default: a temporary directory) for a person to look at."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from tests.browser_support import served_published_demo, sign_in
from tests.live_server import LiveServer
from tests.test_browser import _axe_violations

pytestmark = pytest.mark.browser
SLUG = "aisi-information-sharing"
PHONE = {"width": 375, "height": 800}
DESKTOP = {"width": 1100, "height": 800}


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LiveServer, Any]]:
    """The demo site, its round answered by a small panel, closed and published as v1."""
    yield from served_published_demo(tmp_path_factory, "tables", n_experts=6)


# Every wrapper of a table, and which of them is wider inside than its box; the first wide
# one is marked for the keyboard test.
_WRAPPERS = """() => {
  const wrappers = [...document.querySelectorAll("table")].map((table) => table.parentElement);
  const wide = wrappers.filter((w) => w.scrollWidth > w.clientWidth + 1);
  if (wide.length) wide[0].dataset.tabTarget = "yes";
  return {
    tables: wrappers.length,
    wrapped: wrappers.filter((w) => w.matches(
      "div.table-scroll[role=region][tabindex='0'][aria-label]:not([aria-label=''])")).length,
    wide: wide.length,
    pageOverflow: document.documentElement.scrollWidth - window.innerWidth,
  };
}"""

_FOCUS = """() => {
  const el = document.activeElement;
  const style = getComputedStyle(el);
  return {
    target: el.dataset.tabTarget === "yes",
    tag: el.tagName.toLowerCase(),
    focusVisible: el.matches(":focus-visible"),
    outline: style.outlineStyle !== "none" && style.outlineWidth !== "0px",
    scrollLeft: el.scrollLeft,
  };
}"""


def _check_phone(page: Any, where: str, *, tab_limit: int) -> None:
    """At 375 px: no sideways scroll of the page, every table in a focusable region, and
    the first wide one reached by Tab and scrolled by the arrow keys."""
    found = page.evaluate(_WRAPPERS)
    assert found["tables"] >= 1, (where, found)
    assert found["pageOverflow"] <= 1, (where, found)
    assert found["wrapped"] == found["tables"], (where, found)
    assert found["wide"] >= 1, (where, found)  # else the page tests nothing here
    for _ in range(tab_limit):
        page.keyboard.press("Tab")
        focus = page.evaluate(_FOCUS)
        if focus["target"]:
            break
    else:
        raise AssertionError(f"{where}: Tab never reached the wide table's box")
    assert focus["focusVisible"] and focus["outline"], (where, focus)
    assert focus["scrollLeft"] == 0, (where, focus)
    for _ in range(3):
        page.keyboard.press("ArrowRight")
    # Polled from here: wait_for_function's polling evaluates its text inside the page,
    # which the pages' Content-Security-Policy (no unsafe-eval) forbids.
    deadline = time.monotonic() + 5
    while page.evaluate("document.activeElement.scrollLeft") <= 0:
        assert time.monotonic() < deadline, f"{where}: the arrow keys did not scroll the box"
        page.wait_for_timeout(50)
    assert page.evaluate(_FOCUS)["target"]  # the arrows scrolled the box, focus stayed
    # Scrolling the box never moves the page sideways.
    assert page.evaluate("window.scrollX") == 0, where
    assert _axe_violations(page) == [], where


def _shoot(page: Any, screenshots: Path, name: str) -> None:
    page.evaluate(
        "() => { document.activeElement.blur();"
        " document.querySelectorAll('.table-scroll').forEach((w) => { w.scrollLeft = 0; }); }"
    )
    for label, size in (("375", PHONE), ("1100", DESKTOP)):
        page.set_viewport_size(size)
        page.screenshot(path=str(screenshots / f"{name}-{label}.png"), full_page=True)


@contextmanager
def _phone_page(browser: Any, site: tuple[LiveServer, Any], *, staff: bool) -> Iterator[Any]:
    """A page at phone width on the site, signed in as its admin when ``staff``."""
    server, demo = site
    context = browser.new_context(viewport=PHONE)
    context.set_default_timeout(30_000)
    try:
        page = context.new_page()
        if staff:
            sign_in(page, server.url, demo.admin_email, demo.admin_password)
        yield page
    finally:
        context.close()


def test_public_rubric_page_on_a_phone(site, browser, screenshots) -> None:
    with _phone_page(browser, site, staff=False) as page:
        page.goto(f"{site[0].url}/rubrics/{SLUG}/v1")
        _check_phone(page, "rubric", tab_limit=40)
        _shoot(page, screenshots, "rubric")


def test_report_on_a_phone(site, browser, screenshots) -> None:
    server, demo = site
    with _phone_page(browser, site, staff=True) as page:
        reply = page.goto(
            f"{server.url}/api/rounds/{demo.round_id}/report?format=html&n_bootstrap=20"
        )
        assert reply is not None and reply.ok, (reply and reply.status, page.content()[:500])
        assert page.locator("table").count() >= 10
        _check_phone(page, "report", tab_limit=20)
        _shoot(page, screenshots, "report")


def test_admin_round_page_on_a_phone(site, browser, screenshots) -> None:
    server, demo = site
    with _phone_page(browser, site, staff=True) as page:
        page.goto(f"{server.url}/admin/rounds/{demo.round_id}")
        _check_phone(page, "admin round", tab_limit=80)
        _shoot(page, screenshots, "admin-round")
