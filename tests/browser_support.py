"""Helpers shared by the browser tests that set up their own site: Debian's Chromium through
Playwright, console and CSP-violation capture, a demo database with a simulated panel, and
how dark an element renders (a plot drawn black is the symptom of a blocked style)."""

from __future__ import annotations

import io
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.live_server import LiveServer, live_server

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]

# Listens before any page script runs (init scripts are not subject to the page's CSP).
_RECORD_VIOLATIONS = """
window.__cspViolations = [];
document.addEventListener("securitypolicyviolation", (event) => {
  window.__cspViolations.push(event.violatedDirective + " " + (event.blockedURI || "inline"));
});
"""


@contextmanager
def empty_site(directory: Path) -> Iterator[Any]:
    """A live server on a new, migrated SQLite database in ``directory`` (no data)."""
    from app.migrate import upgrade_database

    url = f"sqlite:///{directory / 'site.db'}"
    upgrade_database(url)
    with live_server(url, log_dir=directory) as running:
        yield running


@contextmanager
def chromium() -> Iterator[Any]:
    """A headless Chromium (skips the test when it or Playwright is missing)."""
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} is not installed (apt-get install chromium)")
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True
        )
        try:
            yield browser
        finally:
            browser.close()


@dataclass
class Watch:
    """Every console error or warning, uncaught exception and request of a browser context
    (pages opened by a click included)."""

    console_errors: list[str]
    requests: list[str]

    @staticmethod
    def violations(page: Any) -> list[str]:
        """The Content-Security-Policy violations a page has reported so far."""
        return list(page.evaluate("window.__cspViolations || []"))


def watch(context: Any) -> Watch:
    context.add_init_script(_RECORD_VIOLATIONS)
    watched = Watch([], [])
    context.on(
        "console",
        lambda message: (
            watched.console_errors.append(message.text)
            if message.type in ("error", "warning")
            else None
        ),
    )
    context.on("weberror", lambda error: watched.console_errors.append(str(error.error)))
    context.on("request", lambda request: watched.requests.append(request.url))
    return watched


def offline(context: Any, origin: str) -> None:
    """Refuse every request that leaves ``origin``, as a machine without internet would."""
    context.route(
        "**/*",
        lambda route: (
            route.continue_()
            if route.request.url.startswith((origin, "data:", "file:"))
            else route.abort("internetdisconnected")
        ),
    )


def dark_share(png: bytes, *, threshold: int = 60) -> float:
    """The share of pixels whose every channel is below ``threshold`` (near black)."""
    from PIL import Image, ImageChops

    red, green, blue = Image.open(io.BytesIO(png)).convert("RGB").split()
    brightest = ImageChops.lighter(ImageChops.lighter(red, green), blue)
    histogram = brightest.histogram()
    return sum(histogram[:threshold]) / sum(histogram)


def sign_in(page: Any, base_url: str, email: str, password: str) -> None:
    page.goto(base_url + "/login")
    page.get_by_label("E-mail").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url("**/admin")


@dataclass(frozen=True)
class DemoSite:
    database_url: str
    admin_email: str
    admin_password: str
    round_id: int


def demo_with_panel(directory: Path, *, n_experts: int = 8) -> DemoSite:
    """A migrated SQLite demo database whose demo round has simulated, submitted answers."""
    from sqlmodel import Session

    from app.db import make_engine
    from app.migrate import upgrade_database
    from app.services.demo import set_up_demo, simulate_panel

    url = f"sqlite:///{directory / 'site.db'}"
    upgrade_database(url)
    engine = make_engine(url)
    try:
        with Session(engine) as session:
            setup = set_up_demo(session)
            simulate_panel(session, round_id=setup.round_id, n_experts=n_experts, seed=3)
            session.commit()
    finally:
        engine.dispose()
    return DemoSite(url, setup.admin_email, setup.admin_password, setup.round_id)


def published_demo(directory: Path, *, n_experts: int) -> DemoSite:
    """:func:`demo_with_panel` with its round closed and its rubric published as v1."""
    from sqlmodel import Session, select

    from app.db import make_engine
    from app.models import User
    from app.services import rounds, rubrics

    demo = demo_with_panel(directory, n_experts=n_experts)
    engine = make_engine(demo.database_url)
    try:
        with Session(engine) as session:
            admin = session.exec(select(User).where(User.email == demo.admin_email)).one()
            rounds.close_round(session, round_id=demo.round_id)
            rubrics.publish_rubric(
                session,
                round_id=demo.round_id,
                publisher=admin,
                justification="pilot",
                n_bootstrap=20,
            )
            session.commit()
    finally:
        engine.dispose()
    return demo


def served_published_demo(
    tmp_path_factory: pytest.TempPathFactory, folder: str, *, n_experts: int
) -> Iterator[tuple[LiveServer, DemoSite]]:
    """A module's site: :func:`published_demo` in a folder of its own, served until the
    generator is closed (a fixture yields from it)."""
    directory = tmp_path_factory.mktemp(folder)
    demo = published_demo(directory, n_experts=n_experts)
    with live_server(demo.database_url, log_dir=directory) as server:
        yield server, demo


def screenshot_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where screenshots go for a person to look at: ``$ELICIT_SCREENSHOTS``, else a
    temporary directory."""
    directory = os.environ.get("ELICIT_SCREENSHOTS")
    path = Path(directory) if directory else tmp_path_factory.mktemp("screenshots")
    path.mkdir(parents=True, exist_ok=True)
    return path
