"""The Jinja environment shared by the web pages and the CLI's HTML reports."""

from __future__ import annotations

import functools
from datetime import date, datetime
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, pass_context, select_autoescape
from jinja2.runtime import Context
from markdown_it import MarkdownIt
from markupsafe import Markup

from app import i18n
from app.reasons import statistic_name, translate_reason
from app.survey_files import HOLISTIC_TIER_KEY

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


def _language(context: Context) -> str:
    """The reader's language, as the page put it in its context (English when none)."""
    language = context.get("language")
    return language if isinstance(language, str) else i18n.SOURCE_LANGUAGE


# One environment serves every request, whatever the reader's language, so the gettext
# functions read the language from the page's context (``install_gettext_translations``
# would set one language for every page at once).
@pass_context
def _gettext(context: Context, message: str) -> str:
    return i18n.catalogue(i18n.interface_language(_language(context))).gettext(message)


@pass_context
def _translated(context: Context, message: str) -> str:
    """A text from elsewhere (a service's message, a word of the records) in the reader's
    language: a :class:`~app.errors.Message` with its values, any other as the catalogue
    has it."""
    return i18n.translate_message(_language(context), message)


@pass_context
def _ngettext(context: Context, singular: str, plural: str, n: int) -> str:
    language = i18n.interface_language(_language(context))
    return i18n.catalogue(language).ngettext(singular, plural, n)


def _moment(value: datetime | str) -> datetime:
    return datetime.fromisoformat(value) if isinstance(value, str) else value


@pass_context
def _when(context: Context, value: datetime | str | None) -> str:
    """A moment (or its ISO text) as the reader's language writes it, in UTC."""
    return "—" if value is None else i18n.format_when(_moment(value), _language(context))


@pass_context
def _day(context: Context, value: date | str | None) -> str:
    """A day (or the day of a moment) as the reader's language writes it."""
    if value is None:
        return "—"
    moment = _moment(value) if isinstance(value, str) else value
    return i18n.format_day(moment, _language(context))


@pass_context
def _fixed(context: Context, value: Any, digits: int = 3) -> str:
    """A coefficient with ``digits`` decimals and the reader's decimal sign; an em dash
    when undefined."""
    if value is None:
        return "—"
    return i18n.format_fixed(float(value), digits, _language(context))


@pass_context
def _dimension_label(context: Context, key: str, record: dict[str, Any]) -> str:
    """A dimension's label in a published record (its key when the record has none; the
    holistic tier's name in the reader's language)."""
    found = next((d["label"] for d in record.get("dimensions") or [] if d["key"] == key), None)
    if found is None and key == HOLISTIC_TIER_KEY:
        return str(_gettext(context, "Overall tier"))
    return str(found or key)


def _item_label(key: str, record: dict[str, Any]) -> str:
    """An item's label in a published record (its key when the record has none)."""
    return next((i["label"] for i in record.get("items") or [] if i["key"] == key), key)


@pass_context
def _decimal(context: Context, value: Any) -> str:
    """A number with the reader's decimal sign."""
    return "—" if value is None else i18n.format_number(value, _language(context))


@pass_context
def _share(context: Context, value: Any) -> str:
    """A share (0.42) as a percentage the reader's way ("42 %" in French)."""
    return "—" if value is None else i18n.format_percent(float(value), _language(context))


@pass_context
def _language_name(context: Context, language: str) -> str:
    """The name of a language in the reader's language ("French", "Français", "الفرنسية")."""
    return i18n.language_name(language, _language(context))


@pass_context
def _reason_text(context: Context, reason: str | None) -> str:
    """Why a statistic is undefined (the analysis' English) in the reader's language."""
    return translate_reason(_language(context), reason)


@pass_context
def _statistic_name(context: Context, key: str) -> str:
    """The name of a statistic the analysis keys a reason by, in the reader's language."""
    return statistic_name(_language(context), key)


def _bold(value: object) -> Markup:
    """A figure set in bold inside a translated sentence."""
    return Markup("<strong>%s</strong>") % (value,)


def _label_in(key: str, labels: dict[str, str]) -> str:
    """``labels[key]``, the key itself when it has no label."""
    return labels.get(key, key)


def make_environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(TEMPLATES_DIR),
        autoescape=select_autoescape(["html", "xml"], default_for_string=True),
        trim_blocks=False,
        extensions=["jinja2.ext.i18n"],
    )
    env.install_gettext_callables(  # type: ignore[attr-defined]  # added by jinja2.ext.i18n
        _gettext, _ngettext, newstyle=True
    )
    env.filters.update(
        when=_when,
        day=_day,
        fixed=_fixed,
        gettext=_translated,
        dimension_label=_dimension_label,
        item_label=_item_label,
        label_in=_label_in,
        bold=_bold,
        reason_text=_reason_text,
        statistic_name=_statistic_name,
        decimal=_decimal,
        share=_share,
        markdown=render_markdown,
        markdown_inline=render_markdown_inline,
        number=number,
        percent=percent,
        short=short,
    )
    env.globals.update(
        text_direction=i18n.direction, semicolon=i18n.semicolon, language_name=_language_name
    )
    return env


@functools.cache
def shared_environment() -> Environment:
    """One environment for the process's documents (the reliability report): an
    environment compiles each template once and keeps it, and the report's template
    with its macros takes about 0.4 s to compile, as long as the rest of its rendering
    but its figures. (Rendering with one environment from several threads is safe.)"""
    return make_environment()
