"""The Jinja environment shared by the web pages and the CLI's HTML reports."""

from __future__ import annotations

from pathlib import Path

from jinja2 import Environment, FileSystemLoader, select_autoescape
from markdown_it import MarkdownIt
from markupsafe import Markup

# The templates and static files stay beside the web layer that serves them; this module sits
# below both the web layer and the services so that the CLI's HTML reports need no web import.
_WEB_DIR = Path(__file__).resolve().parent / "web"
TEMPLATES_DIR = _WEB_DIR / "templates"
STATIC_DIR = _WEB_DIR / "static"

# Markdown from survey files is rendered with raw HTML disabled, so a survey author cannot
# inject markup either.
_markdown = MarkdownIt("commonmark", {"html": False, "linkify": False})


def render_markdown(text: str | None) -> Markup:
    return Markup(_markdown.render(text or ""))  # noqa: S704 - raw HTML disabled above


def render_markdown_inline(text: str | None) -> Markup:
    return Markup(_markdown.renderInline(text or ""))  # noqa: S704 - raw HTML disabled above


def number(value: object, digits: int = 3) -> str:
    """A coefficient for display: fixed decimals, or an em dash when undefined."""
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int | float):
        return f"{value:.{digits}f}"
    return str(value)


def short(value: object) -> str:
    """A score without needless decimals: 4, 3.5, 3.75."""
    if value is None:
        return "—"
    return f"{float(value):.2f}".rstrip("0").rstrip(".")  # type: ignore[arg-type]


def percent(value: object) -> str:
    if value is None:
        return "—"
    return f"{100 * float(value):.0f}%"  # type: ignore[arg-type]


def make_environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(TEMPLATES_DIR),
        autoescape=select_autoescape(["html", "xml"], default_for_string=True),
        trim_blocks=False,
    )
    env.filters["markdown"] = render_markdown
    env.filters["markdown_inline"] = render_markdown_inline
    env.filters["number"] = number
    env.filters["percent"] = percent
    env.filters["short"] = short
    return env
