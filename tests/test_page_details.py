"""Small things people notice: the survey without an invitation says what to do in plain
words, and the keyboard focus ring stands out from what is around it (WCAG 2.2 asks for a
contrast of at least 3:1); every page loads without a failed request (the favicon)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest

from tests.browser_support import Watch, empty_site, watch
from tests.live_server import LiveServer


def test_survey_without_an_invitation_says_to_open_the_link(client):
    for path in ("/survey", "/survey/items/1", "/survey/review"):
        reply = client.get(path)
        assert reply.status_code == 401
        text = re.sub(r"<[^>]+>", " ", reply.text)
        assert "bearer" not in text.lower() and "token" not in text.lower(), path
        assert "open the personal invitation link" in " ".join(text.split())
        assert 'href="/login"' in reply.text  # staff find their way too
    # The API keeps its precise wording for programs.
    assert "bearer" in client.get("/api/expert/survey").json()["detail"]


def _luminance(rgb: tuple[int, int, int]) -> float:
    def channel(value: int) -> float:
        c = value / 255
        return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b = (channel(v) for v in rgb)
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def contrast(a: tuple[int, int, int], b: tuple[int, int, int]) -> float:
    """WCAG contrast ratio of two colours."""
    light, dark = sorted((_luminance(a), _luminance(b)), reverse=True)
    return (light + 0.05) / (dark + 0.05)


def test_contrast_matches_the_wcag_examples():
    assert contrast((0, 0, 0), (255, 255, 255)) == pytest.approx(21.0)
    assert contrast((0xFF, 0xBF, 0x47), (0xFB, 0xFB, 0xFC)) == pytest.approx(1.59, abs=0.01)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    with empty_site(tmp_path_factory.mktemp("details")) as running:
        yield running


# The focused element's outline colour, and the colour it is drawn on: the first opaque
# background among the ancestors (the ring sits outside the element, with an offset).
_RING = """() => {
  const el = document.activeElement;
  const rgb = (text) => (text.match(/\\d+(\\.\\d+)?/g) || []).map(Number);
  let node = el.parentElement, behind = [255, 255, 255];
  while (node) {
    const colour = rgb(getComputedStyle(node).backgroundColor);
    if (colour.length === 3 || (colour.length === 4 && colour[3] === 1)) {
      behind = colour.slice(0, 3); break;
    }
    node = node.parentElement;
  }
  const style = getComputedStyle(el);
  return {tag: el.tagName, outline: rgb(style.outlineColor).slice(0, 3),
          width: parseFloat(style.outlineWidth), style: style.outlineStyle, behind};
}"""


@pytest.mark.browser
@pytest.mark.parametrize("path", ["/login", "/rubrics/", "/survey"])
def test_focus_ring_contrast_and_a_clean_console(server: LiveServer, browser: Any, path: str):
    context = browser.new_context(viewport={"width": 1000, "height": 700})
    try:
        watched = watch(context)
        page = context.new_page()
        page.goto(server.url + path)
        rings = []
        for _ in range(4):
            page.keyboard.press("Tab")
            ring = page.evaluate(_RING)
            if ring["tag"] != "BODY":
                rings.append(ring)
        assert rings
        for ring in rings:
            assert ring["style"] == "solid" and ring["width"] >= 2, ring
            ratio = contrast(tuple(ring["outline"]), tuple(ring["behind"]))
            assert ratio >= 3, f"focus ring {ring} has contrast {ratio:.2f}:1"
        # Only the expected 401 of /survey itself; no missing favicon or blocked file.
        expected = 1 if path == "/survey" else 0
        assert len(watched.console_errors) == expected, watched.console_errors
        assert Watch.violations(page) == []
    finally:
        context.close()
