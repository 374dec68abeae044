"""The questionnaire in French and in Arabic (right to left), in a real browser.

Two experts are invited with ``elicit invite --language`` (one by the option, one by the
CSV's ``language`` column) to the demo round of the shipped AISI survey; each completes it
with the mouse and the keyboard and never meets an English text of the interface; axe-core
finds nothing on their pages. The Arabic questionnaire's screenshot is saved for a person
to look at (``$ELICIT_SCREENSHOTS``, default a temporary directory).
"""

from __future__ import annotations

import csv
import io
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from babel.messages.pofile import read_po

from tests.live_server import (
    REPO,
    DemoInfo,
    LiveServer,
    _env,
    elicit_command,
    free_port,
    live_server,
    run_demo,
)

pytestmark = pytest.mark.browser

DIMENSIONS = ("proprietary", "misuse", "tier")
ROUND_NAME = "Demo round 1"  # written by the survey team: shown as they wrote it


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LiveServer, dict[str, str]]]:
    """The demo site, with one expert invited in French and one in Arabic (by the CLI)."""
    directory = tmp_path_factory.mktemp("languages")
    database_url = f"sqlite:///{directory / 'site.db'}"
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    demo: DemoInfo = run_demo(database_url, base_url)
    links: dict[str, str] = {}
    for language, rows, option in (
        ("fr", "name,email\nLuc Martin,luc@example.org\n", ["--language", "fr"]),
        ("ar", "name,email,language\nAmina Haddad,amina@example.org,ar\n", []),
    ):
        invitees = directory / f"{language}.csv"
        invitees.write_text(rows, encoding="utf-8")
        result = subprocess.run(
            [*elicit_command(), "invite", str(demo.round_id), "--csv", str(invitees), *option],
            env=_env(database_url, base_url),
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        )
        [row] = list(csv.DictReader(io.StringIO(result.stdout)))
        links[language] = row["url"]
    with live_server(database_url, port=port, log_dir=directory) as server:
        yield server, links


def _english_texts() -> list[str]:
    """The interface's English texts (the catalogue's msgids), as a reader would see them:
    placeholders and markup split off, only the runs of three words or more."""
    with open(REPO / "app/locale/messages.pot", "rb") as stream:
        catalog = read_po(stream)
    texts: set[str] = set()
    for message in catalog:
        if not message.id or isinstance(message.id, tuple) or "{{" in message.id:
            continue
        for part in re.split(r"%\(\w+\)[sd]|<[^>]+>|[\"()]", message.id):
            part = part.strip(" .,:;")
            if len(part.split()) >= 3:
                texts.add(part)
    return sorted(texts)


ENGLISH_TEXTS = _english_texts()
ENGLISH_WORDS = re.compile(
    r"\b(the|and|your|you|of|to|save|item|answer|answers|review|rubric|round|with|submit|"
    r"continue|confidence|rationale|judge|expertise|share|withdraw|data|link|next|previous|"
    r"start|thank|low|medium|high|tier|missing|language)\b",
    re.IGNORECASE,
)
# Proper names and acronyms, which every language writes the same.
PROPER_NAMES = ("elicit", "AISI", "Inspect", "arXiv", "Thurnherr", "JSON", "UTC", ROUND_NAME)


def english_on(page: Any) -> list[str]:
    """English interface texts and words visible on the page (none expected)."""
    text = page.inner_text("body")
    found = [english for english in ENGLISH_TEXTS if english in text]
    for name in PROPER_NAMES:
        text = text.replace(name, " ")
    text = re.sub(r"E-[A-Z0-9]+", " ", text)  # the expert's code
    return found + ENGLISH_WORDS.findall(text)


def axe_violations(page: Any) -> list[str]:
    from axe_playwright_python.sync_playwright import Axe

    found = Axe().run(page).response["violations"]
    return [f"{v['id']} ({v['impact']}, {len(v['nodes'])} nodes)" for v in found]


def check_page(page: Any, language: str, problems: dict[str, list[str]]) -> None:
    """The page is in ``language`` and its direction, with no English and no axe finding."""
    html = page.locator("html")
    assert html.get_attribute("lang") == language
    assert html.get_attribute("dir") == ("rtl" if language == "ar" else "ltr")
    where = f"{language} {page.url.split('/', 3)[-1]}"
    english = english_on(page)
    if english:
        problems[f"{where} English"] = english
    found = axe_violations(page)
    if found:
        problems[f"{where} axe"] = found


@pytest.mark.parametrize("language", ["fr", "ar"])
def test_an_expert_completes_the_survey_in_their_language(
    site: tuple[LiveServer, dict[str, str]],
    browser: Any,
    screenshots: Path,
    language: str,
) -> None:
    server, links = site
    context = browser.new_context(viewport={"width": 1100, "height": 800})
    context.set_default_timeout(10_000)
    page = context.new_page()
    problems: dict[str, list[str]] = {}
    page.goto(links[language])
    page.wait_for_url("**/survey")
    check_page(page, language, problems)
    # Start without ticking the box (the browser's own required-field check aside): the
    # refusal is in the expert's language too.
    page.evaluate("document.getElementById('consent').removeAttribute('required')")
    page.locator("form[action='/survey/consent'] button[type=submit]").click()
    page.wait_for_selector("#consent-error")
    check_page(page, language, problems)
    page.locator("#consent").check()
    page.locator("form[action='/survey/consent'] button[type=submit]").click()
    page.wait_for_url("**/survey/items/1")
    total = page.locator("nav.items-nav li").count()
    assert total == 13
    for number in range(1, total + 1):
        assert page.url.endswith(f"/survey/items/{number}")
        if number in (1, total):
            check_page(page, language, problems)
        if number == 1 and language == "ar":
            page.screenshot(path=str(screenshots / "item-ar.png"), full_page=True)
        for index, dim in enumerate(DIMENSIONS):
            value = str((number + index) % 3) if dim == "tier" else str((number + index) % 5 + 1)
            page.locator(f"label[for='{dim}__{value}']").click()
            page.locator(f"label[for='{dim}__conf_{('low', 'medium', 'high')[index]}']").click()
        page.locator("button[name=action].primary").click()
        page.wait_for_url(f"**/survey/items/{number + 1}" if number < total else "**/review")
    check_page(page, language, problems)
    page.locator("form[action='/survey/submit'] button[type=submit]").click()
    page.wait_for_url("**/survey/thanks")
    check_page(page, language, problems)
    page.goto(server.url + "/survey/withdraw")
    check_page(page, language, problems)
    page.goto(server.url + "/privacy/aisi-information-sharing")
    check_page(page, language, problems)
    page.goto(server.url + "/survey/items/99")
    check_page(page, language, problems)
    context.close()
    assert problems == {}


def test_the_language_control_works_by_keyboard(
    site: tuple[LiveServer, dict[str, str]], browser: Any, screenshots: Path
) -> None:
    """An expert invited in French switches to Arabic and back with the keyboard alone;
    the choice holds on the next page and on another device."""
    server, links = site
    context = browser.new_context(viewport={"width": 1100, "height": 800})
    context.set_default_timeout(10_000)
    page = context.new_page()
    page.goto(links["fr"])
    page.wait_for_url("**/survey")
    page.goto(server.url + "/survey/review")
    assert page.locator("html").get_attribute("lang") == "fr"
    for _ in range(20):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.id") == "language-choice":
            break
    else:
        raise AssertionError("Tab never reached the language control")
    assert page.evaluate("document.activeElement.labels[0].innerText") == "Langue"
    page.keyboard.press("ArrowDown")  # fr -> ar (the survey's order: en, fr, ar)
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.innerText") == "Changer de langue"
    with page.expect_navigation():
        page.keyboard.press("Enter")
    assert page.url.endswith("/survey/review")
    assert page.locator("html").get_attribute("dir") == "rtl"
    assert page.locator("h1").inner_text() == "راجع إجاباتك"
    page.goto(server.url + "/survey")
    assert page.locator("html").get_attribute("lang") == "ar"
    page.screenshot(path=str(screenshots / "review-ar.png"), full_page=True)
    # Back to French for the other test's expert (they share the French link).
    page.select_option("#language-choice", "fr")
    with page.expect_navigation():
        page.locator(".language-switch button").click()
    assert page.locator("html").get_attribute("lang") == "fr"
    context.close()
