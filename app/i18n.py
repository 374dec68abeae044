"""The languages of what an expert reads: the interface's own texts through gettext
catalogues (Babel; ``app/locale/<language>/LC_MESSAGES/messages.po``, compiled to ``.mo``),
the text direction, and dates and numbers written the language's way.

English is the language the texts are written in; French and Arabic are shipped complete.
A survey given in another language shows its own texts in that language and the
interface's texts in English.
"""

from __future__ import annotations

import functools
import gettext as _gettext
from collections.abc import Sequence
from datetime import UTC, date, datetime
from pathlib import Path

import babel
import babel.dates
import babel.numbers
from babel.support import Translations

from app.errors import InvalidInput, Message

LOCALE_DIR = Path(__file__).resolve().parent / "locale"
DOMAIN = "messages"
#: The language the interface's texts are written in.
SOURCE_LANGUAGE = "en"
#: The languages the interface is shipped in, each complete.
INTERFACE_LANGUAGES = ("en", "fr", "ar")


def N_(message: str) -> str:
    """Mark a constant for translation where it is defined; it is translated where shown."""
    return message


def check_offered(
    language: str, offered: Sequence[str], message: str, *, asked: str | None = None
) -> None:
    """Refuse a language not among ``offered``: InvalidInput on ``lang`` with ``message``,
    which names the language asked for (``asked``, default ``language``) as
    ``%(language)s`` and the offered ones as ``%(languages)s``."""
    if language not in offered:
        raise InvalidInput(
            message,
            field="lang",
            values={"language": repr(asked or language), "languages": ", ".join(offered)},
        )


#: Words the product writes into its records and results in English, shown translated
#: where they appear (``_(word)`` in a template): levels of measurement, Krippendorff's
#: readings, aggregates, the volatility of a context factor, the weightings compared, the
#: staff's roles and the states of rounds and responses.
VOCABULARY = (
    N_("nominal"),
    N_("ordinal"),
    N_("interval"),
    N_("ratio"),
    N_("acceptable"),
    N_("tentative"),
    N_("unacceptable"),
    N_("max"),
    N_("min"),
    N_("mean"),
    N_("median"),
    N_("low"),
    N_("medium"),
    N_("high"),
    N_("equal"),
    N_("calibration items"),
    N_("confidence (sensitivity only)"),
    N_("severity-adjusted"),
    N_("organisation"),
    N_("group"),
    N_("admin"),
    N_("researcher"),
    N_("draft"),
    N_("open"),
    N_("closed"),
    N_("submitted"),
    N_("withdrawn"),
    N_("invitation"),
    N_("reminder"),
    N_("receipt"),
    N_("expert"),
    N_("not started"),
    N_("queued"),
    N_("sending"),
    N_("sent"),
    N_("failed"),
    N_("current"),
    N_("under review"),
    N_("superseded"),
    N_("review date"),
    N_("assumption"),
    N_("indicator"),
)


@functools.cache
def catalogue(language: str) -> _gettext.NullTranslations:
    """The interface's translations into ``language`` (none: the English texts)."""
    if language == SOURCE_LANGUAGE or language not in INTERFACE_LANGUAGES:
        return _gettext.NullTranslations()
    return Translations.load(str(LOCALE_DIR), [language], DOMAIN)


def translate(language: str, message: str, **values: object) -> str:
    """``message`` in ``language``, with ``%(name)s`` placeholders filled from ``values``."""
    text = catalogue(language).gettext(message)
    return text % values if values else text


def translate_message(language: str, message: str) -> str:
    """A sentence of the product's in ``language``: a :class:`~app.errors.Message` through
    its template, its numbers and moments written the language's way; any other text as
    the catalogue has it, else unchanged."""
    interface = interface_language(language)
    if not isinstance(message, Message) or not message.values:
        return catalogue(interface).gettext(str(message))
    values = {name: _localized(value, language) for name, value in message.values.items()}
    return catalogue(interface).gettext(message.template) % values


def _localized(value: object, language: str) -> object:
    if isinstance(value, Message):
        return translate_message(language, value)
    if isinstance(value, bool) or not isinstance(value, int | float | date):
        return value
    if isinstance(value, datetime):
        return format_when(value, language)
    if isinstance(value, date):
        return format_day(value, language)
    return babel.numbers.format_decimal(
        value, locale=_locale(language), decimal_quantization=False, group_separator=False
    )


def translate_plural(language: str, singular: str, plural: str, n: int, **values: object) -> str:
    """The form of ``singular``/``plural`` for ``n`` in ``language`` (``%(num)d`` is n)."""
    text = catalogue(language).ngettext(singular, plural, n)
    return text % {"num": n, **values}


def accepted_language(accept_language: str, offered: Sequence[str]) -> str | None:
    """The best of the ``offered`` languages an Accept-Language header asks for (in the
    order of its q-values), None when it asks for none of them."""
    asked: list[tuple[float, int, str]] = []
    for index, part in enumerate(accept_language.split(",")[:20]):
        tag, _, params = part.strip().partition(";")
        quality = 1.0
        if params.strip().startswith("q="):
            try:
                quality = float(params.strip()[2:])
            except ValueError:
                continue
        if tag and quality > 0:
            asked.append((-quality, index, tag.strip().replace("-", "_")))
    found = babel.negotiate_locale([tag for *_, tag in sorted(asked)], list(offered))
    return str(found) if found else None


def interface_language(language: str | None) -> str:
    """The language the interface's texts are shown in for a reader of ``language``."""
    return language if language in INTERFACE_LANGUAGES else SOURCE_LANGUAGE


@functools.cache
def direction(language: str) -> str:
    """``rtl`` for a language written right to left (Arabic, Hebrew, ...), else ``ltr``."""
    try:
        order = babel.Locale.parse(language).character_order
    except (ValueError, babel.UnknownLocaleError):
        return "ltr"
    return "rtl" if order == "right-to-left" else "ltr"


def format_when(value: datetime, language: str) -> str:
    """A moment in UTC as the language writes a date and time ("31 décembre 2026, 18:00 UTC")."""
    moment = value if value.tzinfo is not None else value.replace(tzinfo=UTC)
    locale = _locale(language)
    day = babel.dates.format_date(moment.astimezone(UTC), "long", locale=locale)
    time = babel.dates.format_time(moment, "HH:mm", tzinfo=UTC, locale=locale)
    glue = str(babel.Locale.parse(locale).datetime_formats["medium"])  # "{1}, {0}"
    return f"{glue.replace('{1}', day).replace('{0}', time)} UTC"


def format_day(value: date, language: str) -> str:
    """A day as the language writes it ("31 décembre 2026")."""
    return babel.dates.format_date(value, "long", locale=_locale(language))


def format_fixed(value: float, digits: int, language: str) -> str:
    """A number with ``digits`` decimals and the language's decimal sign ("0,812")."""
    pattern = "0." + "0" * digits if digits > 0 else "0"
    return babel.numbers.format_decimal(value, format=pattern, locale=_locale(language))


#: How a language separates the parts of a list that holds commas (a semicolon): French
#: sets a (no-break) space before it, Arabic writes its own (U+061B).
_SEMICOLONS = {"fr": "\u00a0; ", "ar": "\u061b "}


def semicolon(language: str) -> str:
    """The separator of the parts of a list, such as reasons, in ``language`` ("; ")."""
    return _SEMICOLONS.get(interface_language(language), "; ")


def decimal_sign(language: str) -> str:
    """The decimal sign of ``language`` as its pages write numbers ("," in French)."""
    return babel.numbers.get_decimal_symbol(_locale(language))


def format_number(value: float | int, language: str) -> str:
    """A number with the language's decimal sign ("3,5" in French)."""
    return babel.numbers.format_decimal(value, locale=_locale(language))


def format_percent(value: float, language: str) -> str:
    """A share (0.42) as the language writes a percentage ("42 %" in French)."""
    return babel.numbers.format_percent(value, locale=_locale(language))


def language_name(language: str, reader: str | None = None) -> str:
    """The name of ``language`` in the ``reader``'s language (by default its own name for
    itself: "Français", "العربية"); the tag when Babel does not know it."""
    try:
        name = babel.Locale.parse(language).get_display_name(_locale(reader or language))
    except (ValueError, babel.UnknownLocaleError):
        return language
    return name[:1].upper() + name[1:] if name else language


def _locale(language: str) -> str:
    try:
        babel.Locale.parse(language)
    except (ValueError, babel.UnknownLocaleError):
        return SOURCE_LANGUAGE
    return language
