"""The pages in a real browser: headless Chromium through Playwright, against a live server.

One SQLite database and one server for the module, set up with ``elicit demo``; each test
uses its own demo expert. Screenshots go to ``$ELICIT_SCREENSHOTS`` (default: a temporary
directory).
"""

from __future__ import annotations

import json
import re
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.live_server import DemoInfo, DemoLink, LiveServer, free_port, live_server, run_demo

pytestmark = pytest.mark.browser

DIMENSIONS = ("proprietary", "misuse", "tier")


#: The demo site's database (its outbox holds the links e-mailed to staff).
_SITE_DATABASE = [""]


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LiveServer, DemoInfo]]:
    directory = tmp_path_factory.mktemp("browser")
    database_url = f"sqlite:///{directory / 'browser.db'}"
    _SITE_DATABASE[0] = database_url
    port = free_port()
    demo = run_demo(database_url, f"http://127.0.0.1:{port}")
    with live_server(database_url, port=port, log_dir=directory) as server:
        yield server, demo


@pytest.fixture
def new_context(browser: Any) -> Iterator[Any]:
    """Make fresh browser contexts (each one is like another device); all closed at the end."""
    contexts: list[Any] = []

    def make(**kwargs: Any) -> Any:
        context = browser.new_context(viewport={"width": 1100, "height": 800}, **kwargs)
        context.set_default_timeout(10_000)
        contexts.append(context)
        return context

    yield make
    for context in contexts:
        context.close()


def _link(demo: DemoInfo, index: int) -> DemoLink:
    return demo.links[index]


def _api(server: LiveServer, method: str, path: str, token: str, body: Any = None) -> Any:
    request = urllib.request.Request(
        server.url + path,
        method=method,
        data=None if body is None else json.dumps(body).encode(),
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=10) as answer:
        return json.loads(answer.read() or b"null")


def _item_count(server: LiveServer, token: str) -> int:
    return len(_api(server, "GET", "/api/expert/survey", token)["round"]["items"])


def _consent_with_mouse(page: Any) -> None:
    page.get_by_label("I agree to take part").check()
    page.get_by_role("button", name="Start").click()
    page.wait_for_url("**/survey/items/1")


def _answer_item_with_mouse(page: Any, seed: int) -> dict[str, str]:
    """Click one level and one confidence per question (on the labels, as a person would);
    returns the chosen answer per dimension."""
    chosen = {}
    for index, dim in enumerate(DIMENSIONS):
        value = str((seed + index) % 3) if dim == "tier" else str((seed + index) % 5 + 1)
        page.locator(f"label[for='{dim}__{value}']").click()
        page.locator(f"label[for='{dim}__conf_{('low', 'medium', 'high')[index]}']").click()
        chosen[dim] = value
    return chosen


def _focused(page: Any) -> dict[str, Any]:
    return page.evaluate(
        """() => {
            const el = document.activeElement;
            const style = getComputedStyle(el);
            return {
                id: el.id, tag: el.tagName.toLowerCase(), type: el.type || "",
                name: el.name || "", text: (el.innerText || "").trim(),
                focusVisible: el.matches(":focus-visible"),
                outlineStyle: style.outlineStyle, outlineWidth: style.outlineWidth,
            };
        }"""
    )


def _tab_to(page: Any, matches: Any, limit: int = 60) -> dict[str, Any]:
    """Press Tab until the focused element matches; check every stop is visibly outlined."""
    for _ in range(limit):
        page.keyboard.press("Tab")
        focused = _focused(page)
        if focused["tag"] != "body":
            assert focused["focusVisible"], focused
            assert focused["outlineStyle"] != "none", focused
            assert focused["outlineWidth"] not in ("0px", ""), focused
        if matches(focused):
            return focused
    raise AssertionError(f"Tab never reached the element; last focus: {_focused(page)}")


def _markup_problems(page: Any) -> list[str]:
    """Duplicate ids, and form controls without a label (a screen reader would read
    nothing for them)."""
    return page.evaluate(
        """() => {
            const problems = [];
            const seen = new Set();
            for (const el of document.querySelectorAll("[id]")) {
                if (seen.has(el.id)) problems.push("duplicate id " + el.id);
                seen.add(el.id);
            }
            for (const el of document.querySelectorAll("input, textarea, select")) {
                if (el.type === "hidden") continue;
                const named = (el.labels && el.labels.length) || el.getAttribute("aria-label")
                    || el.getAttribute("aria-labelledby");
                if (!named) problems.push("no label: " + el.outerHTML.slice(0, 80));
            }
            return problems;
        }"""
    )


# --- the expert ------------------------------------------------------------------------


def test_expert_journey_with_the_mouse(site: tuple[LiveServer, DemoInfo], new_context: Any):
    server, demo = site
    link = _link(demo, 0)
    total = _item_count(server, link.token)

    first = new_context()
    page = first.new_page()
    page.goto(link.url)
    page.wait_for_url("**/survey")
    assert link.token not in page.url
    assert page.url == server.url + "/survey"
    _consent_with_mouse(page)

    answers_1 = _answer_item_with_mouse(page, seed=1)
    page.locator("#proprietary__rationale").fill("Item one, first device.")
    page.get_by_role("button", name="Save and continue").click()
    page.wait_for_url("**/survey/items/2")
    first.close()  # leave

    # Another device: the same link, a new browser context with no cookies.
    second = new_context()
    page = second.new_page()
    page.goto(link.url)
    page.wait_for_url("**/survey")
    assert link.token not in page.url
    page.get_by_role("link", name="Continue where you left off").click()
    page.wait_for_url("**/survey/items/2")
    page.get_by_role("navigation", name="Items").get_by_role("link").first.click()
    page.wait_for_url("**/survey/items/1")
    for dim, value in answers_1.items():
        assert page.locator(f"#{dim}__{value}").is_checked(), dim
    assert page.locator("#misuse__conf_medium").is_checked()
    assert page.locator("#proprietary__rationale").input_value() == "Item one, first device."
    page.get_by_role("button", name="Save and continue").click()
    page.wait_for_url("**/survey/items/2")

    for number in range(2, total + 1):
        assert page.url.endswith(f"/survey/items/{number}")
        _answer_item_with_mouse(page, seed=number)
        if number < total:
            page.get_by_role("button", name="Save and continue").click()
            page.wait_for_url(f"**/survey/items/{number + 1}")
        else:
            page.get_by_role("button", name="Save and review").click()
            page.wait_for_url("**/survey/review")

    assert page.get_by_text("Every question has an answer.").is_visible()
    assert page.get_by_role("heading", name="Still missing").count() == 0
    assert page.locator(".missing-cell").count() == 0
    page.get_by_role("button", name="Submit my answers").click()
    page.wait_for_url("**/survey/thanks")
    assert page.get_by_role("heading", name="Thank you").is_visible()

    page.goto(server.url + "/survey/items/1")
    assert page.get_by_role("status").filter(has_text="submitted").is_visible()
    radios = page.locator("input[type=radio]")
    assert radios.count() > 0
    for index in range(radios.count()):
        assert radios.nth(index).is_disabled()
    assert page.locator("textarea").first.is_disabled()
    assert page.locator("#share_rationale").is_disabled()
    assert page.get_by_role("button", name="Save").count() == 0
    for dim, value in answers_1.items():
        assert page.locator(f"#{dim}__{value}").is_checked(), dim


def test_keyboard_only(site: tuple[LiveServer, DemoInfo], new_context: Any):
    server, demo = site
    link = _link(demo, 1)
    page = new_context().new_page()
    page.goto(link.url)
    page.wait_for_url("**/survey")

    _tab_to(page, lambda f: f["id"] == "consent")
    page.keyboard.press("Space")
    assert page.locator("#consent").is_checked()
    _tab_to(page, lambda f: f["tag"] == "button" and f["text"] == "Start")
    page.keyboard.press("Enter")
    page.wait_for_url("**/survey/items/1")

    for dim, arrows, note in (
        ("proprietary", 2, "Keyboard: three."),
        ("misuse", 1, "Keyboard: two."),
        ("tier", 1, ""),
    ):
        _tab_to(page, lambda f, dim=dim: f["name"] == f"{dim}__answer")
        for _ in range(arrows):
            page.keyboard.press("ArrowDown")
        _tab_to(page, lambda f, dim=dim: f["name"] == f"{dim}__confidence")
        page.keyboard.press("ArrowRight")  # low -> medium
        _tab_to(page, lambda f, dim=dim: f["id"] == f"{dim}__rationale")
        page.keyboard.type(note)
    assert page.locator("#proprietary__3").is_checked()
    assert page.locator("#misuse__2").is_checked()
    assert page.locator("#tier__1").is_checked()
    assert page.locator("#proprietary__conf_medium").is_checked()

    _tab_to(page, lambda f: f["id"] == "share_rationale")
    page.keyboard.press("Space")
    _tab_to(page, lambda f: f["tag"] == "button" and f["text"] == "Save")
    page.keyboard.press("Enter")
    page.wait_for_url("**/survey/items/1?saved=1")
    assert page.get_by_role("status").filter(has_text="Saved.").is_visible()

    page.reload()
    assert page.locator("#proprietary__3").is_checked()
    assert page.locator("#misuse__2").is_checked()
    assert page.locator("#tier__1").is_checked()
    assert page.locator("#share_rationale").is_checked()
    assert page.locator("#proprietary__rationale").input_value() == "Keyboard: three."
    stored = _api(server, "GET", "/api/expert/response", link.token)
    cells = {(r["item"], r["dimension"]): r for r in stored["ratings"]}
    first_item = _api(server, "GET", "/api/expert/survey", link.token)["round"]["items"][0]
    assert cells[(first_item, "proprietary")]["value"] == 3
    assert cells[(first_item, "proprietary")]["confidence"] == "medium"
    assert cells[(first_item, "misuse")]["rationale"] == "Keyboard: two."
    assert cells[(first_item, "tier")]["share_rationale"] is True


TRICKY = (
    'She said "don\'t" & <b>bold</b> </textarea><script>alert(1)</script>\n'
    "Emoji 😀🧪👩🏽‍🔬 · Arabic: مرحبا بالعالم · Hebrew: שלום עולם\n"
    "  indented line with trailing spaces   \n"
    "{{ 7*7 }} ${7*7} %s"
)


@pytest.mark.parametrize("leading", ["", "\n"], ids=["plain", "leading-newline"])
def test_rationale_round_trips_exactly(
    site: tuple[LiveServer, DemoInfo], new_context: Any, leading: str
):
    server, demo = site
    link = _link(demo, 2)
    text = leading + TRICKY
    page = new_context().new_page()
    dialogs: list[str] = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    page.goto(link.url)
    page.wait_for_url("**/survey")
    if page.get_by_label("I agree to take part").count():
        _consent_with_mouse(page)
    page.goto(server.url + "/survey/items/1")
    page.locator("label[for='proprietary__2']").click()
    page.locator("#proprietary__rationale").fill(text)
    page.get_by_role("button", name="Save", exact=True).click()
    page.wait_for_url("**/survey/items/1?saved=1")
    assert page.locator("#proprietary__rationale").input_value() == text
    page.reload()
    assert page.locator("#proprietary__rationale").input_value() == text
    first_item = _api(server, "GET", "/api/expert/survey", link.token)["round"]["items"][0]
    stored = _api(server, "GET", "/api/expert/response", link.token)
    rating = next(
        r for r in stored["ratings"] if (r["item"], r["dimension"]) == (first_item, "proprietary")
    )
    assert rating["rationale"] == text
    assert dialogs == []


# --- the admin -------------------------------------------------------------------------


def _submit_via_api(server: LiveServer, token: str) -> None:
    survey = _api(server, "GET", "/api/expert/survey", token)
    ratings = [
        {"item": item, "dimension": dim, "value": 1 if dim != "tier" else 0}
        for item in survey["round"]["items"]
        for dim in DIMENSIONS
    ]
    _api(server, "POST", "/api/expert/consent", token)
    _api(server, "PUT", "/api/expert/ratings", token, {"ratings": ratings})
    _api(server, "POST", "/api/expert/submit", token)


def _staff_progress(server: LiveServer, demo: DemoInfo) -> dict[str, Any]:
    request = urllib.request.Request(
        server.url + "/api/auth/login",
        method="POST",
        data=json.dumps({"email": demo.admin_email, "password": demo.admin_password}).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=10) as answer:
        token = json.loads(answer.read())["token"]
    return _api(server, "GET", f"/api/rounds/{demo.round_id}/progress", token)


def test_admin_console(
    site: tuple[LiveServer, DemoInfo], new_context: Any, tmp_path: Path, screenshots: Path
):
    server, demo = site
    _submit_via_api(server, _link(demo, 3).token)
    progress = _staff_progress(server, demo)
    assert progress["submitted"] >= 1

    context = new_context(accept_downloads=True)
    page = context.new_page()
    page.goto(server.url + "/login")
    page.get_by_label("E-mail").fill(demo.admin_email)
    page.get_by_label("Password").fill(demo.admin_password)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url("**/admin")

    row = page.get_by_role("row").filter(has=page.get_by_role("link", name="Demo round 1"))
    cells = [c.strip() for c in row.get_by_role("cell").all_text_contents()]
    assert "open" in cells
    assert cells[-3:] == [
        str(progress["invited"]),
        str(progress["started"]),
        str(progress["submitted"]),
    ]

    row.get_by_role("link", name="Demo round 1").click()
    page.wait_for_url(f"**/admin/rounds/{demo.round_id}")
    assert page.get_by_role("heading", name="Demo round 1").is_visible()
    assert page.get_by_text(f"{progress['invited']} invited").is_visible()
    page.screenshot(path=str(screenshots / "admin_round.png"), full_page=True)
    assert _markup_problems(page) == []
    # Every export format is a link the keyboard reaches; Enter downloads the file.
    _tab_to(page, lambda f: f["tag"] == "a" and f["text"] == "Stata", limit=80)
    with page.expect_download() as download:
        page.keyboard.press("Enter")
    assert download.value.suggested_filename == f"round-{demo.round_id}-ratings.dta"

    page.get_by_label("…or paste the CSV").fill(
        "name,email,organisation\n"
        "Ada Lovelace,ada@example.org,UK AISI\n"
        "Alan Turing,alan@example.org,US CAISI\n"
    )
    page.get_by_role("button", name="Create invitations").click()
    assert page.get_by_role("heading", name="Invitation links").is_visible()
    fields = page.locator("input.link-field")
    assert fields.count() == 2
    new_links = [fields.nth(i).input_value() for i in range(2)]
    assert all(url.startswith(server.url + "/i/") for url in new_links)
    assert page.get_by_role("cell", name="Ada Lovelace").is_visible()
    page.screenshot(path=str(screenshots / "admin_invited.png"), full_page=True)

    # A new link works for its expert, in another browser.
    expert = new_context().new_page()
    expert.goto(new_links[0])
    expert.wait_for_url("**/survey")

    page.get_by_role("link", name="Back to the round").click()
    page.wait_for_url(f"**/admin/rounds/{demo.round_id}")
    assert page.get_by_text(f"{progress['invited'] + 2} invited").is_visible()
    assert page.get_by_role("cell", name="Alan Turing").is_visible()

    with page.expect_download() as info:
        page.get_by_role("link", name="Export ratings (CSV)").click()
    download = info.value
    assert download.suggested_filename == f"round-{demo.round_id}-ratings.csv"
    target = tmp_path / download.suggested_filename
    download.save_as(target)
    content = target.read_text(encoding="utf-8")
    header, *rows = content.splitlines()
    assert header.startswith("round_id,survey,")
    assert rows
    raters = {line.split(",")[3] for line in rows}
    assert _link(demo, 3).expert_code in raters
    assert all(code.startswith("E-") for code in raters)
    for secret in ("Demo Expert", "@example.org", "Ada Lovelace", "/i/"):
        assert secret not in content


def _mailed_link(to: str, path: str) -> str:
    """The newest link to ``path`` e-mailed to ``to`` (read from the site's outbox)."""
    from sqlalchemy import create_engine, text

    engine = create_engine(_SITE_DATABASE[0])
    try:
        with engine.connect() as connection:
            body = connection.execute(
                text("SELECT body FROM outbox WHERE to_address = :to ORDER BY id DESC"),
                {"to": to},
            ).scalar()
    finally:
        engine.dispose()
    found = re.search(rf"https?://\S+{path}\S+", body or "")
    assert found, body
    return found.group(0)


def test_account_lifecycle(site: tuple[LiveServer, DemoInfo], new_context: Any, screenshots: Path):
    """An admin creates a colleague's account; the colleague sets a password from the
    e-mailed link and signs in; deactivated, their open session ends; re-activated, a reset
    link gives them a new password; and they change it themselves on their account page."""
    server, demo = site
    admin = new_context().new_page()
    admin.goto(server.url + "/login")
    admin.get_by_label("E-mail").fill(demo.admin_email)
    admin.get_by_label("Password").fill(demo.admin_password)
    admin.keyboard.press("Enter")
    admin.wait_for_url("**/admin")
    admin.goto(server.url + "/admin/users")
    admin.get_by_label("E-mail", exact=True).fill("colleague@example.org")
    admin.get_by_label("Role", exact=True).select_option("researcher")
    admin.get_by_role("button", name="Create account").click()
    assert admin.get_by_text("colleague@example.org").first.is_visible()
    admin.screenshot(path=str(screenshots / "admin_users.png"), full_page=True)

    colleague = new_context().new_page()
    colleague.goto(_mailed_link("colleague@example.org", "/reset/"))
    first = "a first passphrase, long enough"
    colleague.get_by_label("New password", exact=True).fill(first)
    colleague.get_by_label("New password again").fill(first)
    colleague.get_by_role("button", name="Set password").click()
    colleague.wait_for_url("**/login**")
    colleague.get_by_label("E-mail").fill("colleague@example.org")
    colleague.get_by_label("Password").fill(first)
    colleague.get_by_role("button", name="Sign in").click()
    colleague.wait_for_url("**/admin")

    admin.get_by_role("button", name="Deactivate colleague@example.org").click()
    admin.wait_for_load_state()
    colleague.goto(server.url + "/admin")
    assert "/login" in colleague.url or colleague.get_by_text("Sign in").first.is_visible()

    admin.get_by_role("button", name="Activate colleague@example.org").click()
    admin.wait_for_load_state()
    admin.get_by_role(
        "button", name="Send colleague@example.org a link to set a new password"
    ).click()
    admin.wait_for_load_state()
    colleague.goto(_mailed_link("colleague@example.org", "/reset/"))
    second = "a second passphrase, also long"
    colleague.get_by_label("New password", exact=True).fill(second)
    colleague.get_by_label("New password again").fill(second)
    colleague.get_by_role("button", name="Set password").click()
    colleague.wait_for_url("**/login**")
    colleague.get_by_label("E-mail").fill("colleague@example.org")
    colleague.get_by_label("Password").fill(second)
    colleague.get_by_role("button", name="Sign in").click()
    colleague.wait_for_url("**/admin")

    colleague.goto(server.url + "/account")
    colleague.screenshot(path=str(screenshots / "account.png"), full_page=True)
    assert _axe_violations(colleague) == []
    third = "a third passphrase, chosen by me"
    colleague.get_by_label("Current password").fill(second)
    colleague.get_by_label("New password", exact=True).fill(third)
    colleague.get_by_label("New password again").fill(third)
    colleague.get_by_role("button", name="Change password").click()
    colleague.wait_for_url("**/login**")
    colleague.get_by_label("E-mail").fill("colleague@example.org")
    colleague.get_by_label("Password").fill(third)
    colleague.get_by_role("button", name="Sign in").click()
    colleague.wait_for_url("**/admin")


# --- how the pages look ----------------------------------------------------------------


def test_screenshots(site: tuple[LiveServer, DemoInfo], new_context: Any, screenshots: Path):
    server, demo = site
    link = _link(demo, 4)
    page = new_context().new_page()
    page.goto(link.url)
    page.wait_for_url("**/survey")
    page.screenshot(path=str(screenshots / "welcome.png"), full_page=True)
    assert _markup_problems(page) == []
    _consent_with_mouse(page)
    _answer_item_with_mouse(page, seed=2)
    page.locator("#misuse__rationale").fill("Leaked evaluations reveal elicitation methods.")
    page.get_by_role("button", name="Save", exact=True).click()
    page.wait_for_url("**/survey/items/1?saved=1")
    page.screenshot(path=str(screenshots / "item.png"), full_page=True)
    assert _markup_problems(page) == []
    page.goto(server.url + "/survey/review")
    page.screenshot(path=str(screenshots / "review.png"), full_page=True)
    assert _markup_problems(page) == []
    # A narrow phone-sized screen must not scroll sideways.
    page.set_viewport_size({"width": 375, "height": 740})
    for path in ("/survey", "/survey/items/1", "/survey/review"):
        page.goto(server.url + path)
        overflow = page.evaluate(
            "() => document.documentElement.scrollWidth - document.documentElement.clientWidth"
        )
        assert overflow <= 0, f"{path} scrolls sideways by {overflow}px at 375px"
    page.goto(server.url + "/survey/items/1")
    page.screenshot(path=str(screenshots / "item_narrow.png"), full_page=True)
    page.goto(server.url + "/survey/review")
    page.screenshot(path=str(screenshots / "review_narrow.png"), full_page=True)
    for name in ("welcome", "item", "review", "item_narrow", "review_narrow"):
        assert (screenshots / f"{name}.png").stat().st_size > 10_000


def test_report_opens_offline_and_prints(new_context, screenshots, tmp_path):
    """The HTML report is one self-contained file: it renders with no network request and
    prints to a multi-page PDF."""
    from sqlmodel import Session

    from app.db import make_engine
    from app.migrate import upgrade_database
    from app.models import utcnow
    from app.services import reports
    from app.services.demo import set_up_demo, simulate_panel

    url = f"sqlite:///{tmp_path / 'report.db'}"
    upgrade_database(url)
    engine = make_engine(url)
    with Session(engine) as session:
        setup = set_up_demo(session)
        simulate_panel(session, round_id=setup.round_id, n_experts=10, seed=4)
        session.commit()
        report = reports.build_report(
            session, round_id=setup.round_id, options=reports.ReportOptions(n_bootstrap=100)
        )
        html = reports.report_html(report, generated_at=utcnow().strftime("%Y-%m-%d %H:%M"))
    engine.dispose()
    path = tmp_path / "report.html"
    path.write_text(html, encoding="utf-8")
    context = new_context()
    page = context.new_page()
    requests: list[str] = []
    page.on("request", lambda request: requests.append(request.url))
    errors: list[str] = []
    page.on(
        "console", lambda message: errors.append(message.text) if message.type == "error" else None
    )
    page.goto(path.as_uri())
    assert requests == [path.as_uri()]
    assert errors == []
    assert page.locator("svg").count() >= 5
    assert page.locator("h1").inner_text().startswith("Information sharing")
    # No figure or table is wider than the page.
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1")
    page.screenshot(path=str(screenshots / "report.png"), full_page=True)
    pdf = page.pdf(format="A4", print_background=True)
    assert pdf.startswith(b"%PDF")
    assert len(re.findall(rb"/Type\s*/Page(?!s)", pdf)) >= 2


def test_busy_service_is_retried_without_losing_input(
    site: tuple[LiveServer, DemoInfo], new_context: Any, screenshots: Path
):
    """A 503 (service busy) keeps the page and what was typed, says so, and sends again
    after Retry-After; the answers arrive once the service takes them."""
    server, demo = site
    link = _link(demo, 4)
    page = new_context().new_page()
    page.goto(link.url)
    page.wait_for_url("**/survey")
    if page.get_by_label("I agree to take part").count():
        _consent_with_mouse(page)
    page.goto(server.url + "/survey/items/2")
    refused: list[str] = []

    def busy_once(route: Any) -> None:
        if route.request.method == "POST" and not refused:
            refused.append(route.request.post_data or "")
            route.fulfill(
                status=503,
                headers={"Retry-After": "1", "Content-Type": "application/json"},
                body='{"detail": "the service is busy"}',
            )
        else:
            route.continue_()

    page.route("**/survey/items/2", busy_once)
    page.locator("label[for='proprietary__4']").click()
    page.locator("#proprietary__rationale").fill("Kept through a busy moment")
    page.get_by_role("button", name="Save", exact=True).click()
    status = page.locator(".send-status")
    status.wait_for()
    assert "busy" in status.inner_text()
    page.screenshot(path=str(screenshots / "busy-retry.png"))
    # Nothing typed is lost while it waits ...
    assert page.locator("#proprietary__rationale").input_value() == "Kept through a busy moment"
    # ... and the retry goes through to the saved page.
    page.wait_for_url("**/survey/items/2?saved=1", timeout=15_000)
    assert refused and "proprietary__answer=4" in refused[0]
    second_item = _api(server, "GET", "/api/expert/survey", link.token)["round"]["items"][1]
    stored = _api(server, "GET", "/api/expert/response", link.token)
    rating = next(
        r for r in stored["ratings"] if (r["item"], r["dimension"]) == (second_item, "proprietary")
    )
    assert rating["value"] == 4 and rating["rationale"] == "Kept through a busy moment"


def test_typed_text_survives_an_ended_session_as_a_local_draft(
    site: tuple[LiveServer, DemoInfo], new_context: Any, screenshots: Path
):
    """What is typed on an item page is kept in the browser until saved: a save refused
    because the session ended loses nothing, and the text is back on the page when the
    expert opens their link again; once saved, the draft is gone."""
    server, demo = site
    link = _link(demo, 4)
    context = new_context()
    page = context.new_page()
    page.goto(link.url)
    page.wait_for_url("**/survey")
    if page.get_by_label("I agree to take part").count():
        _consent_with_mouse(page)
    page.goto(server.url + "/survey/items/3")
    page.locator("#proprietary__rationale").fill("Typed, then the session ended")
    context.clear_cookies()  # the session ends before the expert saves
    page.get_by_role("button", name="Save", exact=True).click()
    page.get_by_role("heading", name="Please open your invitation link").wait_for()
    page.goto(link.url)
    page.wait_for_url("**/survey")
    page.goto(server.url + "/survey/items/3")
    rationale = page.locator("#proprietary__rationale")
    assert rationale.input_value() == "Typed, then the session ended"
    notice = page.locator(".draft-restored")
    assert "Restored what you typed here earlier" in notice.inner_text()
    page.screenshot(path=str(screenshots / "draft-restored.png"))
    page.locator("label[for='proprietary__2']").click()
    page.get_by_role("button", name="Save", exact=True).click()
    page.wait_for_url("**/survey/items/3?saved=1")
    assert page.locator(".draft-restored").count() == 0
    assert rationale.input_value() == "Typed, then the session ended"


def test_review_on_a_phone_shows_every_answer_column(
    site: tuple[LiveServer, DemoInfo], browser: Any, screenshots: Path
):
    """At phone width the review lists each item's answers as a card: no column (the
    overall tier last of all) is cut off or needs sideways scrolling."""
    server, demo = site
    context = browser.new_context(viewport={"width": 375, "height": 800})
    page = context.new_page()
    page.goto(_link(demo, 4).url)
    page.wait_for_url("**/survey")
    page.goto(server.url + "/survey/review")
    cells = page.locator("table.answers td")
    assert cells.count() > 0
    widest = page.evaluate(
        "Math.max(...[...document.querySelectorAll('table.answers td, table.answers th')]"
        ".map(e => e.getBoundingClientRect().right))"
    )
    assert widest <= 375
    tier_cells = page.locator("table.answers td[data-label='Overall tier']")
    assert tier_cells.count() > 0 and tier_cells.first.is_visible()
    page.screenshot(path=str(screenshots / "review-phone.png"), full_page=True)
    context.close()


def _axe_violations(page: Any) -> list[str]:
    from axe_playwright_python.sync_playwright import Axe

    found = Axe().run(page).response["violations"]
    return [f"{v['id']} ({v['impact']}, {len(v['nodes'])} nodes)" for v in found]


def test_pages_pass_axe_at_desktop_and_phone_width(site: tuple[LiveServer, DemoInfo], browser: Any):
    """axe-core finds no accessibility violation, of any impact, on the expert's pages
    (first visit, returning, item, review) at desktop and phone width, and on the admin
    pages."""
    server, demo = site
    problems: dict[str, list[str]] = {}
    for width in (1000, 375):
        context = browser.new_context(viewport={"width": width, "height": 800})
        page = context.new_page()
        page.goto(_link(demo, 2).url)
        page.wait_for_url("**/survey")
        for path in (
            "/survey",
            "/survey/items/1",
            "/survey/review",
            "/survey/withdraw",
            "/privacy",
        ):
            page.goto(server.url + path)
            problems[f"{width} {path}"] = _axe_violations(page)
        context.close()
    context = browser.new_context(viewport={"width": 1000, "height": 800})
    page = context.new_page()
    page.goto(server.url + "/login")
    problems["/login"] = _axe_violations(page)
    page.get_by_label("E-mail").fill(demo.admin_email)
    page.get_by_label("Password").fill(demo.admin_password)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url("**/admin")
    for path in (
        "/admin",
        f"/admin/rounds/{demo.round_id}",
        f"/admin/rounds/{demo.round_id}/mail/reminder",
        "/admin/users",
        "/admin/audit",
        "/admin/people",
        "/admin/webhooks",
        "/account",
    ):
        page.goto(server.url + path)
        problems[path] = _axe_violations(page)
    context.close()
    assert {where: found for where, found in problems.items() if found} == {}


def test_webhooks_page_with_the_keyboard_alone(
    site: tuple[LiveServer, DemoInfo], new_context: Any, screenshots: Path
):
    """An admin subscribes an address to one survey's rubric events with the keyboard alone,
    every stop visibly focused, and reads the signing secret, shown once."""
    server, demo = site
    page = new_context().new_page()
    page.goto(server.url + "/login")
    page.get_by_label("E-mail").fill(demo.admin_email)
    page.get_by_label("Password").fill(demo.admin_password)
    page.keyboard.press("Enter")
    page.wait_for_url("**/admin")
    _tab_to(page, lambda f: f["tag"] == "a" and f["text"] == "Webhooks")
    page.keyboard.press("Enter")
    page.wait_for_url("**/admin/webhooks")
    _tab_to(page, lambda f: f["id"] == "url")
    page.keyboard.type("https://hooks.example.org/elicit")
    _tab_to(page, lambda f: f["id"] == "survey", limit=1)
    page.keyboard.press("ArrowDown")  # from "every survey" to the first survey
    chosen = page.locator("#survey").input_value()
    assert chosen != ""
    _tab_to(page, lambda f: f["text"] == "Subscribe", limit=1)
    page.keyboard.press("Enter")
    page.wait_for_selector("#created")
    secret = page.locator("#secret").input_value()
    assert len(secret) >= 40
    row = page.locator("tr", has_text="https://hooks.example.org/elicit")
    assert chosen in row.inner_text() and "active" in row.inner_text()
    assert _markup_problems(page) == []
    assert _axe_violations(page) == []
    page.screenshot(path=str(screenshots / "admin-webhooks.png"), full_page=True)
    page.goto(server.url + "/admin/webhooks")
    assert secret not in page.content()
