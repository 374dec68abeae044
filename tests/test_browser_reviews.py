"""In a real browser: an admin records that a context factor changed and, without touching
anything else, the published rubric shows "under review" publicly with the reason; the
admin starts a round on only the affected items and closes the review, all with the
keyboard; the pages pass axe."""

from __future__ import annotations

import json
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

import pytest

from tests.live_server import DemoInfo, LiveServer, free_port, live_server, run_demo
from tests.test_browser import _axe_violations, _markup_problems, _tab_to

pytestmark = pytest.mark.browser
SLUG = "aisi-information-sharing"


def _call(server: LiveServer, method: str, path: str, token: str = "", body: Any = None) -> Any:
    request = urllib.request.Request(
        server.url + path,
        method=method,
        data=None if body is None else json.dumps(body).encode(),
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=60) as answer:
        return json.loads(answer.read() or b"null")


@pytest.fixture(scope="module")
def published(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LiveServer, DemoInfo]]:
    """The demo site with a second round of the information-sharing survey, simulated,
    closed and published as v1 with every context factor stated."""
    from app.db import make_engine, session_scope
    from app.services.demo import simulate_panel

    directory = tmp_path_factory.mktemp("reviews")
    database_url = f"sqlite:///{directory / 'site.db'}"
    port = free_port()
    demo = run_demo(database_url, f"http://127.0.0.1:{port}")
    with live_server(database_url, port=port, log_dir=directory) as server:
        login = {"email": demo.admin_email, "password": demo.admin_password}
        token = _call(server, "POST", "/api/auth/login", body=login)["token"]
        round_id = _call(server, "POST", "/api/rounds", token, {"survey": SLUG, "name": "Panel"})[
            "id"
        ]
        _call(server, "POST", f"/api/rounds/{round_id}/open", token)
        engine = make_engine(database_url)
        with session_scope(engine) as session:
            simulate_panel(session, round_id=round_id, n_experts=12, seed=5)
        engine.dispose()
        _call(server, "POST", f"/api/rounds/{round_id}/close", token)
        context = {
            "company_relations": "high",
            "companies_refusing": 0,
            "network_members": 10,
            "partners_disengaged": 0,
            "legal_powers": "none",
            "information_advantage": "strong",
            "standards_divergence": "persisting",
        }
        body = {"context": context, "justification": "browser test", "n_bootstrap": 100}
        _call(server, "POST", f"/api/rounds/{round_id}/publish", token, body)
        yield server, demo


def test_a_changed_factor_puts_the_rubric_under_review_and_a_round_is_one_step_away(
    published: tuple[LiveServer, DemoInfo], browser: Any, tmp_path: Path
):
    server, demo = published
    public = browser.new_context(viewport={"width": 1100, "height": 900}).new_page()
    public.goto(f"{server.url}/rubrics/{SLUG}/v1")
    assert public.locator("#status").inner_text().startswith("Current.")
    assert public.get_by_role("cell", name="Bilateral only").first.is_visible()
    assert public.get_by_role("heading", name="Categories").is_visible()

    admin = browser.new_context(viewport={"width": 1100, "height": 900}).new_page()
    admin.set_default_timeout(10_000)
    admin.goto(server.url + "/login")
    admin.get_by_label("E-mail").fill(demo.admin_email)
    admin.get_by_label("Password").fill(demo.admin_password)
    admin.keyboard.press("Enter")
    admin.wait_for_url("**/admin")
    admin.goto(f"{server.url}/admin/surveys/{SLUG}/context")
    assert _axe_violations(admin) == [] and _markup_problems(admin) == []

    # The keyboard alone: choose the factor, type the value and the source, submit.
    _tab_to(admin, lambda f: f["id"] == "factor")
    admin.keyboard.type("The institutes' legal powers")  # typing selects the option
    assert admin.locator("#factor").input_value() == "legal_powers"
    _tab_to(admin, lambda f: f["id"] == "value")
    admin.keyboard.type("statutory")
    _tab_to(admin, lambda f: f["id"] == "source_url")
    admin.keyboard.type("https://example.org/act-2026")
    admin.keyboard.press("Enter")  # submits the form (the date says today already)
    admin.wait_for_url("**/context?opened=1")
    assert "opened 1 review" in admin.get_by_role("status").inner_text()
    admin.screenshot(path=str(tmp_path / "context.png"), full_page=True)

    # Nothing else touched: the public page says so, with the reason.
    public.reload()
    status = public.locator("#status").inner_text()
    assert status.startswith("Under review.")
    assert "The institutes' legal powers: observed Statutory information-gathering powers" in status
    assert "bears on 3 items" in status
    assert _axe_violations(public) == []
    public.screenshot(path=str(tmp_path / "under_review.png"), full_page=True)
    document = json.loads(
        urllib.request.urlopen(f"{server.url}/rubrics/{SLUG}/v1.json", timeout=10).read()
    )
    assert document["status"]["state"] == "under_review"
    # Subscribers: the feed linked from the page has the review as its newest entry.
    feed_url = public.get_by_role("link", name="Subscribe (Atom)").get_attribute("href")
    feed = urllib.request.urlopen(urllib.parse.urljoin(server.url, feed_url), timeout=10).read()
    entries = ElementTree.fromstring(feed).findall("{http://www.w3.org/2005/Atom}entry")
    newest = entries[0].findtext("{http://www.w3.org/2005/Atom}title") or ""
    assert "is under review" in newest

    # One step to a round on only the affected items.
    _tab_to(admin, lambda f: f["text"] == "Start a round on the affected items")
    admin.keyboard.press("Enter")
    admin.wait_for_url("**/admin/rounds/*")
    round_id = int(admin.url.rsplit("/", 1)[-1])
    assert "Review of v1: legal_powers" in admin.get_by_role("heading", level=1).inner_text()
    login = {"email": demo.admin_email, "password": demo.admin_password}
    token = _call(server, "POST", "/api/auth/login", body=login)["token"]
    shown = _call(server, "GET", f"/api/rounds/{round_id}", token)
    assert shown["status"] == "draft"

    # Close the review with a resolution: the rubric is current again, the reason kept.
    admin.goto(f"{server.url}/admin/surveys/{SLUG}/context")
    _tab_to(admin, lambda f: f["tag"] == "textarea" and f["id"].startswith("resolution-"))
    admin.keyboard.type("The new powers do not change who may see weights.")
    _tab_to(admin, lambda f: f["text"] == "Close the review")
    admin.keyboard.press("Enter")
    admin.wait_for_url("**/context#reviews")
    assert admin.get_by_text("No review is open.").is_visible()
    public.reload()
    assert public.locator("#status").inner_text().startswith("Current.")
    assert public.get_by_text("The new powers do not change who may see weights.").is_visible()


def test_an_expert_says_with_the_keyboard_which_factors_would_change_the_rating(
    published: tuple[LiveServer, DemoInfo], browser: Any, tmp_path: Path
):
    server, demo = published
    link = demo.links[0]
    page = browser.new_context(viewport={"width": 1100, "height": 900}).new_page()
    page.set_default_timeout(10_000)
    page.goto(link.url)
    page.wait_for_url("**/survey")
    _tab_to(page, lambda f: f["id"] == "consent")
    page.keyboard.press("Space")
    _tab_to(page, lambda f: f["tag"] == "button" and f["text"] == "Start")
    page.keyboard.press("Enter")
    page.wait_for_url("**/survey/items/1")
    question = page.locator("#_factors__fieldset")
    assert "would your rating of this category change" in question.locator("legend").inner_text()
    assert _axe_violations(page) == [] and _markup_problems(page) == []

    _tab_to(page, lambda f: f["id"] == "sensitive__legal_powers")
    page.keyboard.press("Space")
    _tab_to(page, lambda f: f["id"] == "sensitive__standards_divergence")
    page.keyboard.press("Space")
    _tab_to(page, lambda f: f["tag"] == "button" and f["text"] == "Save")
    page.keyboard.press("Enter")
    page.wait_for_url("**/survey/items/1?saved=1")
    question.scroll_into_view_if_needed()
    page.screenshot(path=str(tmp_path / "factors.png"), full_page=True)
    page.reload()
    assert page.locator("#sensitive__legal_powers").is_checked()
    assert not page.locator("#sensitive__company_relations").is_checked()
    stored = _call(server, "GET", "/api/expert/response", link.token)["factor_sensitivities"]
    assert [s["factors"] for s in stored] == [["legal_powers", "standards_divergence"]]
