"""Published rubric pages, the report and the staff pages in French and Arabic (right to
left), in a real browser: the page's language switch works with the keyboard alone, axe
finds nothing, and no English text of the interface is left. Screenshots of the Arabic
rubric page and the French round page are saved for a person to look at
(``$ELICIT_SCREENSHOTS``, default a temporary directory)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.browser_support import served_published_demo, sign_in
from tests.live_server import LiveServer
from tests.test_browser_languages import (
    ENGLISH_TEXTS,
    ENGLISH_WORDS,
    PROPER_NAMES,
    axe_violations,
)
from tests.test_i18n_public import untranslated

pytestmark = pytest.mark.browser
SLUG = "aisi-information-sharing"


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LiveServer, Any]]:
    """The demo site, its round answered by a small panel, closed and published as v1."""
    yield from served_published_demo(tmp_path_factory, "i18n", n_experts=5)


def _english(page: Any, language: str) -> list[str]:
    """English interface text on the page, the survey's untranslated texts set aside."""
    body = page.inner_text("body")
    for text in untranslated(language):
        body = body.replace(text, " ")
    found = [english for english in ENGLISH_TEXTS if english in body]
    for name in PROPER_NAMES:
        body = body.replace(name, " ")
    return found + ENGLISH_WORDS.findall(body)


def test_the_rubric_page_switches_language_by_keyboard(site, browser, screenshots) -> None:
    server, _ = site
    context = browser.new_context(viewport={"width": 1200, "height": 900}, locale="fr-FR")
    page = context.new_page()
    page.goto(f"{server.url}/rubrics/{SLUG}/v1")  # the browser asks for French
    assert page.locator("html").get_attribute("lang") == "fr"
    assert _english(page, "fr") == []
    assert axe_violations(page) == []
    for _ in range(25):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.id") == "lang-choice":
            break
    else:
        raise AssertionError("Tab never reached the language switch")
    assert page.evaluate("document.activeElement.labels[0].innerText") == "Langue"
    page.keyboard.press("ArrowDown")  # fr -> ar (the survey's order: en, fr, ar)
    page.keyboard.press("Tab")
    with page.expect_navigation():
        page.keyboard.press("Enter")
    assert page.url.endswith("?lang=ar")
    assert page.locator("html").get_attribute("dir") == "rtl"
    assert _english(page, "ar") == []
    assert axe_violations(page) == []
    page.screenshot(path=str(screenshots / "rubric-ar.png"), full_page=False)
    # The choice is kept by the page's links.
    page.locator(f"a[href='/rubrics/{SLUG}/?lang=ar']").first.click()
    page.wait_for_url(f"**/rubrics/{SLUG}/?lang=ar")
    assert page.locator("html").get_attribute("lang") == "ar"
    assert axe_violations(page) == []
    context.close()


def test_staff_pages_and_the_report_in_french_and_arabic(site, browser, screenshots) -> None:
    server, demo = site
    context = browser.new_context(viewport={"width": 1200, "height": 900})
    page = context.new_page()
    sign_in(page, server.url, demo.admin_email, demo.admin_password)
    page.goto(server.url + "/account")
    page.select_option("#language", "fr")
    with page.expect_navigation():
        page.get_by_role("button", name="Save language").click()
    assert page.locator("html").get_attribute("lang") == "fr"
    assert page.get_by_role("status").inner_text() == (
        "Vos pages s'affichent désormais dans la langue choisie."
    )
    for path in ("/account", "/admin", f"/admin/rounds/{demo.round_id}"):
        page.goto(server.url + path)
        assert page.locator("html").get_attribute("lang") == "fr"
        assert axe_violations(page) == [], path
    page.screenshot(path=str(screenshots / "round-fr.png"), full_page=False)
    report = page.locator("a", has_text="Rapport de fiabilité").first.get_attribute("href")
    assert report.endswith("lang=fr")
    page.goto(f"{server.url}/api/rounds/{demo.round_id}/report?format=html&n_bootstrap=20&lang=ar")
    assert page.locator("html").get_attribute("dir") == "rtl"
    assert page.locator("h2").first.inner_text() == "الموثوقية لكل بُعد"
    found = axe_violations(page)
    assert found == [], found
    context.close()
