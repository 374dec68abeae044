"""Wide tables scroll inside their own box, never the whole page: every data table of the
pages and of the report sits in the one wrapper of ``templates/_tables.html`` (a named,
focusable region styled by ``.table-scroll``), and nothing uses the old ``scroll`` class,
which the pages' stylesheet never styled. Fast: templates and stylesheets read as text, and
one staff page rendered in process. (The real browser checks are in
tests/test_browser_tables.py.)"""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path

from app.templating import make_environment
from tests.factories import make_invitations, make_round, make_user, sign_in_page

WEB = Path(__file__).resolve().parents[1] / "app" / "web"
TEMPLATES = WEB / "templates"

#: Small layout tables that never get wide, left out of the wrapper on purpose: the bar
#: chart of the panel's earlier answers on an item page (two short columns).
LAYOUT_TABLES = {"survey_item.html": ['<table class="histogram">']}

_CALL = re.compile(r"\{% call scrolling\((?P<label>.+?)\) %\}(?P<next><table\b)?")
_OLD_CLASS = re.compile(r"""class=["'](?:[^"']*\s)?scroll(?:\s[^"']*)?["']""")


def _templates() -> list[Path]:
    found = sorted(TEMPLATES.glob("*.html"))
    assert len(found) > 20
    return found


def test_no_template_or_stylesheet_uses_the_old_scroll_class():
    for path in _templates():
        assert not _OLD_CLASS.search(path.read_text(encoding="utf-8")), path.name
    for name in ("style.css", "report.css"):
        css = (WEB / "static" / name).read_text(encoding="utf-8")
        assert not re.search(r"\.scroll(?![\w-])", css), name
        assert re.search(r"^\.table-scroll \{[^}]*overflow-x: auto", css, re.M), name
    # The report, once printed, shows every column.
    report_css = (WEB / "static" / "report.css").read_text(encoding="utf-8")
    print_rules = report_css[report_css.index("@media print") :]
    assert ".table-scroll { overflow: visible; }" in print_rules


def test_every_data_table_sits_in_the_scrolling_wrapper():
    wrapped_anywhere = 0
    for path in _templates():
        text = re.sub(r"\{#.*?#\}", "", path.read_text(encoding="utf-8"), flags=re.S)
        tables = len(re.findall(r"<table\b", text))
        calls = list(_CALL.finditer(text))
        # Each call wraps exactly one table, opened right after it and closed right before
        # its end.
        assert all(call["next"] for call in calls), path.name
        assert text.count("{% endcall %}") == len(calls), path.name
        assert text.count("</table>{% endcall %}") == len(calls), path.name
        layout = LAYOUT_TABLES.get(path.name, [])
        for opening in layout:
            assert opening in text, (path.name, opening)
        assert tables == len(calls) + len(layout), path.name
        if calls:
            assert re.search(r'\{%-? from "_tables.html" import scrolling -?%\}', text), path.name
        # A region's name tells it from the page's other regions (axe: landmark-unique).
        labels = [call["label"] for call in calls]
        assert all(label.strip() not in ('""', "''", "") for label in labels), path.name
        assert len(set(labels)) == len(labels), (path.name, labels)
        wrapped_anywhere += len(calls)
    assert wrapped_anywhere >= 45


def test_the_wrapper_is_a_named_region_the_keyboard_reaches():
    template = make_environment().from_string(
        '{% from "_tables.html" import scrolling %}'
        '{% call scrolling("Items & tiers") %}<table></table>{% endcall %}'
    )
    assert template.render() == (
        '<div class="table-scroll" role="region" aria-label="Items &amp; tiers" tabindex="0">'
        "<table></table></div>"
    )


class _TableParents(HTMLParser):
    """The attributes of the element that holds each table."""

    def __init__(self) -> None:
        super().__init__()
        self.stack: list[dict[str, str | None]] = []
        self.parents: list[dict[str, str | None]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "table":
            self.parents.append(self.stack[-1] if self.stack else {})
        if tag not in ("br", "input", "meta", "link", "img", "hr", "col", "source", "wbr"):
            self.stack.append({"tag": tag, **dict(attrs)})

    def handle_endtag(self, tag: str) -> None:
        while self.stack:
            if self.stack.pop()["tag"] == tag:
                break


def test_a_staff_page_renders_each_table_in_a_named_focusable_region(session, client):
    make_user(session)
    round_ = make_round(session)
    make_invitations(session, round_, 3)
    session.commit()
    sign_in_page(client)
    page = client.get(f"/admin/rounds/{round_.id}")
    assert page.status_code == 200
    parser = _TableParents()
    parser.feed(page.text)
    assert len(parser.parents) >= 2  # progress and invitations
    for parent in parser.parents:
        assert parent["tag"] == "div" and parent["class"] == "table-scroll", parent
        assert parent["role"] == "region" and parent["tabindex"] == "0", parent
        assert parent["aria-label"], parent
    labels = [parent["aria-label"] for parent in parser.parents]
    assert labels[:2] == ["Progress", "Invitations"]
    assert len(set(labels)) == len(labels)
