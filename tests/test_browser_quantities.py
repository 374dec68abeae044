"""A quantity question in a real browser: keyboard-only entry, the message next to the
field as the expert types, the preview redrawn, axe clean."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import Session

from app.db import make_engine
from tests.browser_support import chromium, empty_site, watch
from tests.factories import make_invitations, make_round, make_survey
from tests.test_quantities import QUANTITY_QUESTIONS

pytestmark = pytest.mark.browser


def _axe_violations(page: Any) -> list[str]:
    from axe_playwright_python.sync_playwright import Axe

    found = Axe().run(page).response["violations"]
    return [f"{v['id']} ({v['impact']}, {len(v['nodes'])} nodes)" for v in found]


def test_keyboard_entry_validation_and_preview(tmp_path: Path) -> None:
    shots = Path(os.environ.get("ELICIT_SCREENSHOTS") or tmp_path)
    with empty_site(tmp_path) as server, chromium() as browser:
        engine = make_engine(f"sqlite:///{tmp_path / 'site.db'}")
        with Session(engine) as session:
            make_survey(session, quantities=QUANTITY_QUESTIONS)
            round_ = make_round(session)
            token = make_invitations(session, round_, 1)[0].token
        engine.dispose()
        context = browser.new_context(viewport={"width": 1100, "height": 900})
        context.set_default_timeout(10_000)
        watched = watch(context)
        page = context.new_page()
        page.goto(f"{server.url}/i/{token}")
        page.goto(f"{server.url}/survey/quantities/2")
        assert page.locator("#preview").get_attribute("class") == "empty"
        page.locator("#q05").focus()
        page.keyboard.type("40")
        page.keyboard.press("Tab")
        page.keyboard.type("20")
        page.keyboard.press("Tab")
        page.keyboard.type("80")
        page.keyboard.press("Tab")  # leaving the field: the order is checked
        error = page.locator("#q05__error")
        assert error.is_visible()
        assert "smaller than the median" in error.inner_text()
        assert page.locator("#q05").get_attribute("aria-invalid") == "true"
        page.screenshot(path=str(shots / "quantity-error.png"), full_page=True)
        # Fix the low estimate with the keyboard alone: back to the field, select, retype.
        page.keyboard.press("Shift+Tab")
        page.keyboard.press("Shift+Tab")
        page.keyboard.press("Shift+Tab")
        page.keyboard.press("Control+A")
        page.keyboard.type("5")
        page.keyboard.press("Tab")
        assert not error.is_visible()
        assert page.locator("#preview").get_attribute("class") in ("", None)
        widths = page.eval_on_selector_all(
            "#preview rect.bin", "rects => rects.map(r => Number(r.getAttribute('width')))"
        )
        assert len(widths) == 4 and abs(sum(widths) - 320) < 0.1
        assert _axe_violations(page) == []
        # Save by keyboard: focus the primary button and press Enter.
        page.get_by_role("button", name="Save and continue").focus()
        page.keyboard.press("Enter")
        page.wait_for_url("**/survey/quantities/3")
        page.goto(f"{server.url}/survey/quantities/2")
        assert page.locator("#q05").input_value() == "5"
        assert page.locator("#preview").get_attribute("class") in ("", None)
        page.screenshot(path=str(shots / "quantity-saved.png"), full_page=True)
        assert _axe_violations(page) == []
        assert watched.console_errors == []
        assert watched.violations(page) == []
        context.close()
