"""Survey definition files: the typed schema, loading and validation.

A survey is a YAML file under ``surveys/`` (format described in ``surveys/README.md``).
This module knows nothing of the database or HTTP: it turns a file into a validated
:class:`SurveyDefinition` or raises :class:`SurveyFileError` naming the file, the field path
and the line.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import math
import os
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar

import babel
import jinja2
import jinja2.meta
import yaml
from jinja2 import StrictUndefined
from jinja2.sandbox import SandboxedEnvironment
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    StringConstraints,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from app.errors import InvalidInput
from app.survey_context import Category, Context, Decision, Factor, by_key

Key = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]*$", max_length=64)]
Slug = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9-]*$", max_length=80)]
Measurement = Literal["nominal", "ordinal", "interval", "ratio"]

#: Reserved dimension key under which an expert's holistic tier judgement is stored
#: (value = 0-based position of the tier in ``tiers``).
HOLISTIC_TIER_KEY = "tier"

#: Largest survey file accepted, in bytes of UTF-8 (the shipped surveys, in three languages,
#: are 55-70 KiB).
MAX_SURVEY_FILE_BYTES = 256 * 1024

#: Deepest nesting of lists and mappings accepted (the survey format itself needs 5).
MAX_NESTING_DEPTH = 64

#: Most YAML nodes (keys, values, lists and mappings) accepted in one file: the shipped
#: surveys have about 640 in three languages, and parsing a file costs time in proportion
#: to this count.
MAX_NODES = 5_000

#: At most this many problems are listed for one file; the rest are counted.
MAX_REPORTED_PROBLEMS = 100

#: Validation context flag set by the file loader: level keys must be YAML integers.
#: (Not set when a definition is re-read from JSON, where object keys are always strings.)
_FROM_FILE = "survey_file"

Loc = tuple[str | int, ...]


class _LocatedError(ValueError):
    """A validator error that names where, below the validated object, the problem lies.

    ``str()`` includes the relative path (useful to anyone reading a plain Pydantic
    ``ValidationError``); the file loader uses :attr:`rel_loc` and :attr:`bare` to point at
    the exact node and line instead.
    """

    def __init__(self, rel_loc: Loc, message: str) -> None:
        self.rel_loc = tuple(rel_loc)
        self.bare = message
        prefix = format_path(self.rel_loc)
        super().__init__(f"{prefix}: {message}" if prefix else message)


class _LocatedErrors(ValueError):
    """Several :class:`_LocatedError` at once (every missing translation, not the first)."""

    def __init__(self, errors: list[_LocatedError]) -> None:
        self.errors = errors
        super().__init__("\n".join(str(e) for e in errors))


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Scale(_Strict):
    min: int
    max: int
    #: One description per level, keyed by the level's integer value.
    levels: dict[int, str]

    @field_validator("levels", mode="before")
    @classmethod
    def _level_keys_and_texts(cls, value: Any, info: ValidationInfo) -> Any:
        if not isinstance(value, Mapping):
            return value  # Pydantic reports the type error
        from_file = bool(info.context and info.context.get(_FROM_FILE))
        for key, text in value.items():
            if from_file and (isinstance(key, bool) or not isinstance(key, int)):
                raise _LocatedError(
                    (key,),
                    f"level keys must be integers (write `3:`, not `{key!r}:`)",
                )
            if text is None or (isinstance(text, str) and not text.strip()):
                raise _LocatedError((key,), f"level {key} has no description")
        return value

    @model_validator(mode="after")
    def _every_level_described(self) -> Scale:
        if self.max <= self.min:
            raise _LocatedError(("max",), f"max ({self.max}) must be greater than min ({self.min})")
        if self.max - self.min > 100:
            raise _LocatedError(("max",), "a scale may have at most 101 levels")
        extra = sorted(set(self.levels) - set(range(self.min, self.max + 1)))
        if extra:
            raise _LocatedError(
                ("levels", extra[0]), f"levels {extra} lie outside {self.min}..{self.max}"
            )
        for level in range(self.min, self.max + 1):
            text = self.levels.get(level)
            if text is None or not str(text).strip():
                raise _LocatedError(("levels",), f"level {level} has no description")
        return self

    @property
    def values(self) -> list[int]:
        return list(range(self.min, self.max + 1))


class Dimension(_Strict):
    key: Key
    label: str = Field(min_length=1)
    question: str = Field(min_length=1)
    scale: Scale
    measurement: Measurement = "ordinal"
    allow_cant_judge: bool = True
    allow_outside_expertise: bool = True


class Item(_Strict):
    key: Key
    label: str = Field(min_length=1)
    description: str = Field(min_length=1)
    group: str | None = None
    #: The broad category (in ``categories``) this item is a subcategory of.
    parent: Key | None = None
    #: Context factors this item's tier depends on (beyond the whole rubric's).
    factors: list[Key] = Field(default_factory=list)
    #: A calibration item's known answer per dimension (from a reference panel or a settled
    #: case): experts see it as an ordinary item, and are compared with it.
    #: (For the holistic tier, the tier's key.)
    reference: dict[Key, int | Key] | None = None


class Quantity(_Strict):
    """A quantity question: the expert gives its 5%, 50% and 95% quantiles.

    With a ``realisation`` (the true value, known to the survey team) it is a **seed
    question**, on which Cooke's classical model scores the experts; experts never see the
    realisation. Without one it is a target question, answered by the pooled decision maker.
    """

    key: Key
    label: str = Field(min_length=1, max_length=300)
    question: str = Field(min_length=1)
    unit: str = Field(default="", max_length=40)
    #: The smallest and largest values an answer may take (e.g. 0 and 100 for a share).
    lower: float | None = None
    upper: float | None = None
    realisation: float | None = None

    @model_validator(mode="after")
    def _bounds_hold(self) -> Quantity:
        for name in ("lower", "upper", "realisation"):
            value = getattr(self, name)
            if value is not None and not math.isfinite(value):
                raise _LocatedError((name,), f"{name} must be a finite number, not {value}")
        if self.lower is not None and self.upper is not None and self.lower >= self.upper:
            raise _LocatedError(
                ("upper",), f"upper ({self.upper:g}) must be greater than lower ({self.lower:g})"
            )
        if self.realisation is not None:
            if self.lower is not None and self.realisation < self.lower:
                raise _LocatedError(
                    ("realisation",),
                    f"realisation {self.realisation:g} lies below lower ({self.lower:g})",
                )
            if self.upper is not None and self.realisation > self.upper:
                raise _LocatedError(
                    ("realisation",),
                    f"realisation {self.realisation:g} lies above upper ({self.upper:g})",
                )
        return self

    @property
    def is_seed(self) -> bool:
        """A seed question: its realisation is known."""
        return self.realisation is not None


class Tier(_Strict):
    key: Key
    label: str = Field(min_length=1)
    description: str = Field(min_length=1)


class TierRule(_Strict):
    """Maps an item's scores on the rule dimensions to a tier.

    ``score = aggregate(scores of dimensions)``; the item gets the highest tier whose
    threshold the score reaches (``score >= threshold``); the first tier has no threshold.
    """

    type: Literal["threshold"] = "threshold"
    dimensions: list[Key] = Field(min_length=1)
    aggregate: Literal["max", "min", "mean"] = "max"
    #: Lowest score at which each tier after the first begins, keyed by tier key.
    thresholds: dict[str, float]

    def score(self, scores: Mapping[str, float]) -> float:
        """Aggregate an item's scores on the rule dimensions (all must be present)."""
        values = [float(scores[key]) for key in self.dimensions]
        if self.aggregate == "max":
            return max(values)
        if self.aggregate == "min":
            return min(values)
        return sum(values) / len(values)

    def tier_for_score(self, score: float, tier_keys: list[str]) -> str:
        """The highest tier (in ``tier_keys`` order) whose threshold ``score`` reaches."""
        result = tier_keys[0]
        for key in tier_keys[1:]:
            if score >= self.thresholds[key]:
                result = key
        return result


class ConsensusCriterion(_Strict):
    """An item/dimension reaches consensus when every stated condition holds."""

    max_iqr: float | None = Field(default=1.0, ge=0)
    min_share_within_one: float | None = Field(default=0.7, ge=0, le=1)
    min_n: int = Field(default=3, ge=1)


class ReliabilityCriterion(_Strict):
    minimum_alpha: float = Field(default=0.667, ge=-1, le=1)


class DelphiSettings(_Strict):
    require_reason_outside_iqr: bool = True
    drop_items_with_consensus: bool = False
    #: Stopping rule: answers count as stable when at most this share changed ...
    stable_max_share_changed: float = Field(default=0.15, ge=0, le=1)
    #: ... and alpha moved by at most this much on every dimension.
    stable_max_alpha_change: float = Field(default=0.05, ge=0, le=2)


class HolisticTier(_Strict):
    enabled: bool = False
    question: str = "Overall, which tier should this item be in?"


#: What each e-mail's template may use (and nothing else: a misspelt name is an error when
#: the survey file is loaded, not a blank in a message to the panel).
MAIL_VARIABLES: dict[str, frozenset[str]] = {
    "invitation": frozenset({"name", "survey_title", "round_name", "closes_at", "link"}),
    "reminder": frozenset(
        {"name", "survey_title", "round_name", "closes_at", "link", "answered", "expected"}
    ),
    "receipt": frozenset(
        {"name", "survey_title", "round_name", "closes_at", "answered", "expected", "submitted_at"}
    ),
}


_SAMPLE_MAIL_VALUES: dict[str, object] = {
    "name": "Ada Example",
    "survey_title": "A survey",
    "round_name": "Round 1",
    "closes_at": "2026-12-31 18:00 UTC",
    "link": "https://elicit.example.org/i/sample",
    "answered": 3,
    "expected": 12,
    "submitted_at": "2026-12-01 12:00 UTC",
}


def mail_environment() -> SandboxedEnvironment:
    """Where e-mail templates are rendered: sandboxed (a survey file is data, never code),
    no HTML escaping (the messages are plain text), and an undefined name is an error."""
    return SandboxedEnvironment(
        autoescape=False, keep_trailing_newline=True, undefined=StrictUndefined
    )


class MailText(_Strict):
    """One e-mail's subject and body, as Jinja templates (see :data:`MAIL_VARIABLES`)."""

    subject: str = Field(min_length=1, max_length=300)
    body: str = Field(min_length=1, max_length=20_000)


class MailTexts(_Strict):
    """The survey's own wording of the e-mails to its panel; a message not given here uses
    the built-in text."""

    invitation: MailText | None = None
    reminder: MailText | None = None
    receipt: MailText | None = None
    #: E-mail each expert a receipt when they submit.
    send_receipts: bool = True

    @field_validator("invitation", "reminder", "receipt")
    @classmethod
    def _known_names_only(cls, text: MailText | None, info: ValidationInfo) -> MailText | None:
        if text is None:
            return text
        kind = str(info.field_name)
        for part, template in (("subject", text.subject), ("body", text.body)):
            check_mail_template(kind, part, template)
        return text


def check_mail_template(kind: str, part: str, template: str) -> None:
    """Refuse an e-mail template (``part`` of the ``kind`` e-mail) that uses a name the
    e-mail does not have, has a syntax error or cannot be rendered in the sandbox."""
    environment = mail_environment()
    allowed = MAIL_VARIABLES[kind]
    try:
        names = jinja2.meta.find_undeclared_variables(environment.parse(template))
    except jinja2.TemplateSyntaxError as exc:
        raise ValueError(f"{part}: {exc.message} (template line {exc.lineno})") from None
    unknown = sorted(names - allowed)
    if unknown:
        raise ValueError(
            f"{part} uses {', '.join(unknown)}, which the {kind} e-mail does not "
            f"have; it may use {', '.join(sorted(allowed))}"
        )
    try:  # what only rendering finds: a sandbox violation, a filter misused
        environment.from_string(template).render(**_SAMPLE_MAIL_VALUES)
    except jinja2.TemplateError as exc:
        raise ValueError(f"{part} cannot be rendered: {exc}") from None


# --------------------------------------------------------------------------------------
# Translations
# --------------------------------------------------------------------------------------

#: A language as Babel names it: ``fr``, ``ar``, ``pt_BR``.
LanguageTag = Annotated[str, StringConstraints(pattern=r"^[a-z]{2,3}(_[A-Z]{2})?$")]
Text = Annotated[str, StringConstraints(min_length=1)]


class ScaleTexts(_Strict):
    levels: dict[int, Text] = {}


class LabelTexts(_Strict):
    """An item's, a tier's, a category's or a decision's wording."""

    label: Text | None = None
    description: Text | None = None


class QuestionTexts(_Strict):
    """The wording of a question asked once (the holistic tier, the sensitivity question)."""

    question: Text | None = None


class AskedTexts(QuestionTexts):
    """The wording of what is asked under a label: a dimension, a quantity, a factor."""

    label: Text | None = None


class DimensionTexts(AskedTexts):
    scale: ScaleTexts | None = None


class QuantityTexts(AskedTexts):
    unit: Text | None = None


class MailTextTexts(_Strict):
    """One e-mail's subject and body template."""

    subject: Text | None = None
    body: Text | None = None


class MailTranslations(_Strict):
    invitation: MailTextTexts | None = None
    reminder: MailTextTexts | None = None
    receipt: MailTextTexts | None = None


class IndicatorTexts(_Strict):
    signals: Text | None = None


class FactorTexts(QuantityTexts):
    options: dict[Key, Text] = {}
    indicator: IndicatorTexts | None = None


class ContextTexts(_Strict):
    factors: dict[Key, FactorTexts] = {}
    sensitivity_question: QuestionTexts | None = None


class SurveyTexts(_Strict):
    """One language's wording of a survey's texts, in the shape of the survey itself with
    dimensions, items and tiers keyed by their ``key`` and item groups by their source
    text (``surveys/README.md``, Translations)."""

    title: Text | None = None
    introduction: Text | None = None
    dimensions: dict[Key, DimensionTexts] = {}
    items: dict[Key, LabelTexts] = {}
    groups: dict[str, Text] = {}
    tiers: dict[Key, LabelTexts] = {}
    holistic_tier: QuestionTexts | None = None
    mail: MailTranslations | None = None
    quantities: dict[Key, QuantityTexts] = {}
    context: ContextTexts | None = None
    categories: dict[Key, LabelTexts] = {}
    decisions: dict[Key, LabelTexts] = {}


@dataclass(frozen=True)
class _SourceText:
    """One translatable text of a survey: where it is, where its translation goes."""

    #: The field in the survey (``items[3].label``), for messages and lines.
    loc: Loc
    #: The path below ``translations.<language>`` (``items.model_weights.label``).
    key_path: tuple[str | int, ...]


def _source_texts(definition: SurveyDefinition) -> list[_SourceText]:
    """Every non-empty text of ``definition`` that each language must translate."""
    out: list[_SourceText] = []
    if definition.title.strip():
        out.append(_SourceText(("title",), ("title",)))
    if definition.introduction.strip():
        out.append(_SourceText(("introduction",), ("introduction",)))
    for i, dim in enumerate(definition.dimensions):
        for name in ("label", "question"):
            out.append(_SourceText(("dimensions", i, name), ("dimensions", dim.key, name)))
        for level in dim.scale.values:
            out.append(
                _SourceText(
                    ("dimensions", i, "scale", "levels", level),
                    ("dimensions", dim.key, "scale", "levels", level),
                )
            )
    groups: set[str] = set()
    for i, item in enumerate(definition.items):
        for name in ("label", "description"):
            out.append(_SourceText(("items", i, name), ("items", item.key, name)))
        if item.group is not None and item.group not in groups:
            groups.add(item.group)
            out.append(_SourceText(("items", i, "group"), ("groups", item.group)))
    for i, tier in enumerate(definition.tiers):
        for name in ("label", "description"):
            out.append(_SourceText(("tiers", i, name), ("tiers", tier.key, name)))
    if definition.holistic_tier.enabled:
        out.append(_SourceText(("holistic_tier", "question"), ("holistic_tier", "question")))
    for kind in ("invitation", "reminder", "receipt"):
        if getattr(definition.mail, kind) is not None:
            for part in ("subject", "body"):
                out.append(_SourceText(("mail", kind, part), ("mail", kind, part)))
    out.extend(_quantity_source_texts(definition))
    out.extend(_context_texts(definition))
    return out


def _context_texts(definition: SurveyDefinition) -> list[_SourceText]:
    """The translatable texts of the context factors, categories and decisions."""
    out: list[_SourceText] = []
    for i, factor in enumerate(definition.context.factors):
        loc: Loc = ("context", "factors", i)
        path: tuple[str | int, ...] = ("context", "factors", factor.key)
        names = ["label", "question"] + (["unit"] if factor.unit else [])
        out.extend(_SourceText((*loc, name), (*path, name)) for name in names)
        for option in factor.options or {}:
            out.append(_SourceText((*loc, "options", option), (*path, "options", option)))
        if factor.indicator is not None:
            where = ("indicator", "signals")
            out.append(_SourceText((*loc, *where), (*path, *where)))
    if definition.context.sensitivity_question is not None:
        asked = ("context", "sensitivity_question", "question")
        out.append(_SourceText(asked, asked))
    for i, category in enumerate(definition.categories):
        names = ["label"] + (["description"] if category.description else [])
        out.extend(
            _SourceText(("categories", i, name), ("categories", category.key, name))
            for name in names
        )
    for tier, decision in definition.decisions.items():
        names = ["label"] + (["description"] if decision.description else [])
        out.extend(
            _SourceText(("decisions", tier, name), ("decisions", tier, name)) for name in names
        )
    return out


#: The translatable fields of a quantity question (``unit`` only when not empty).
_QUANTITY_TEXTS = ("label", "question", "unit")


def _quantity_source_texts(definition: SurveyDefinition) -> list[_SourceText]:
    return [
        _SourceText(("quantities", i, name), ("quantities", quantity.key, name))
        for i, quantity in enumerate(definition.quantities)
        for name in _QUANTITY_TEXTS
        if getattr(quantity, name).strip()
    ]


def _localized_quantities(definition: SurveyDefinition, texts: SurveyTexts) -> list[Quantity]:
    def pick(source: str, key: str, name: str) -> str:
        return _lookup(texts, ("quantities", key, name)) or source

    return [
        quantity.model_copy(
            update={
                name: pick(getattr(quantity, name), quantity.key, name) for name in _QUANTITY_TEXTS
            }
        )
        for quantity in definition.quantities
    ]


def _lookup(texts: SurveyTexts, key_path: tuple[str | int, ...]) -> str | None:
    """The text at ``key_path`` in one language's translations, if given."""
    node: Any = texts
    for part in key_path:
        if node is None:
            return None
        if isinstance(node, BaseModel):
            node = getattr(node, str(part), None)
        elif isinstance(node, dict):
            node = node.get(part)
        else:  # pragma: no cover - the shapes above hold only models and dicts
            return None
    return node if isinstance(node, str) else None


def language_name(language: str, reader: str | None = None) -> str:
    """The name of ``language`` in the ``reader``'s language, by default its own name for
    itself ("Français", "العربية"); the tag when Babel does not know it."""
    try:
        name = babel.Locale.parse(language).get_display_name(reader or language)
    except (ValueError, babel.UnknownLocaleError):
        return language
    return name[:1].upper() + name[1:] if name else language


def _english_name(language: str) -> str:
    try:
        return str(babel.Locale.parse(language).get_display_name("en"))
    except (ValueError, babel.UnknownLocaleError):
        return language


def _translation_problems(definition: SurveyDefinition) -> list[_LocatedError]:
    """Every language tag Babel does not know, stale key and missing translation."""
    problems: list[_LocatedError] = []
    source, *others = definition.languages
    seen: set[str] = set()
    for index, language in enumerate(definition.languages):
        if language in seen:
            problems.append(_LocatedError(("languages", index), f"{language!r} is listed twice"))
        seen.add(language)
        try:
            babel.Locale.parse(language)
        except (ValueError, babel.UnknownLocaleError):
            problems.append(_LocatedError(("languages", index), f"unknown language {language!r}"))
    for language in definition.translations:
        if language == source:
            problems.append(
                _LocatedError(
                    ("translations", language),
                    f"{language!r} is the source language (the first of `languages`): its "
                    f"texts are the survey's own fields",
                )
            )
        elif language not in others:
            problems.append(
                _LocatedError(
                    ("translations", language),
                    f"{language!r} is not in `languages` ({', '.join(definition.languages)}); "
                    f"add it there or remove these translations",
                )
            )
    texts = _source_texts(definition)
    wanted = {text.key_path for text in texts}
    for language, given in definition.translations.items():
        problems.extend(_stale(language, given, wanted))
        problems.extend(_bad_mail(language, given))
    for index, language in enumerate(others, start=1):
        translation = definition.translations.get(language)
        name = _english_name(language)
        if translation is None:
            problems.append(
                _LocatedError(
                    ("languages", index),
                    f"no translations into {language} ({name}): add `translations: "
                    f"{language}:` with the {len(texts)} texts of the survey",
                )
            )
            continue
        for text in texts:
            if _lookup(translation, text.key_path) is None:
                where = format_path(("translations", language, *text.key_path))
                problems.append(
                    _LocatedError(
                        text.loc, f"missing translation into {language} ({name}): add {where}"
                    )
                )
    return problems


def _stale(
    language: str, translation: SurveyTexts, wanted: set[tuple[str | int, ...]]
) -> list[_LocatedError]:
    """Translations of texts the survey does not have (a renamed key, a removed item)."""
    return [
        _LocatedError(
            ("translations", language, *path),
            "the survey has no such text to translate (a key renamed or removed? "
            "a holistic tier or e-mail not enabled?)",
        )
        for path in _given_paths(translation.model_dump(exclude_none=True))
        if path not in wanted
    ]


def _given_paths(node: object, path: tuple[str | int, ...] = ()) -> Iterable[tuple[str | int, ...]]:
    """The path of every text in one language's translations, in the file's order."""
    if isinstance(node, str):
        yield path
    elif isinstance(node, dict):
        for key, value in node.items():
            yield from _given_paths(value, (*path, key))


def _bad_mail(language: str, translation: SurveyTexts) -> list[_LocatedError]:
    """Translated e-mail templates are checked as the source's are."""
    problems: list[_LocatedError] = []
    if translation.mail is None:
        return problems
    for kind in ("invitation", "reminder", "receipt"):
        mail_text = getattr(translation.mail, kind)
        for part in ("subject", "body"):
            template = getattr(mail_text, part) if mail_text is not None else None
            if template is None:
                continue
            try:
                check_mail_template(kind, part, template)
            except ValueError as exc:
                problems.append(
                    _LocatedError(("translations", language, "mail", kind, part), str(exc))
                )
    return problems


#: The texts that items, tiers, categories and decisions each have (LabelTexts).
_DESCRIBED = ("label", "description")
_Described = TypeVar("_Described", bound=BaseModel)


def _localized(definition: SurveyDefinition, texts: SurveyTexts) -> SurveyDefinition:
    """``definition`` with its texts in the language of ``texts`` (the source's where a
    text has no translation)."""

    def pick(source: str, path: tuple[str | int, ...]) -> str:
        return _lookup(texts, path) or source

    dimensions = [
        dim.model_copy(
            update={
                "label": pick(dim.label, ("dimensions", dim.key, "label")),
                "question": pick(dim.question, ("dimensions", dim.key, "question")),
                "scale": dim.scale.model_copy(
                    update={
                        "levels": {
                            v: pick(text, ("dimensions", dim.key, "scale", "levels", v))
                            for v, text in dim.scale.levels.items()
                        }
                    }
                ),
            }
        )
        for dim in definition.dimensions
    ]

    def described(thing: _Described, path: tuple[str | int, ...], **more: object) -> _Described:
        """An item, tier, category or decision with its label and description translated."""
        translated = {name: pick(getattr(thing, name), (*path, name)) for name in _DESCRIBED}
        return thing.model_copy(update=translated | more)

    items = [
        described(
            item,
            ("items", item.key),
            group=None if item.group is None else pick(item.group, ("groups", item.group)),
        )
        for item in definition.items
    ]
    tiers = [described(tier, ("tiers", tier.key)) for tier in definition.tiers]
    mail_update: dict[str, MailText] = {}
    for kind in ("invitation", "reminder", "receipt"):
        source_mail: MailText | None = getattr(definition.mail, kind)
        if source_mail is not None:
            mail_update[kind] = MailText(
                subject=pick(source_mail.subject, ("mail", kind, "subject")),
                body=pick(source_mail.body, ("mail", kind, "body")),
            )
    context = definition.context.model_copy(
        update={
            "factors": [_localized_factor(factor, pick) for factor in definition.context.factors],
            "sensitivity_question": definition.context.sensitivity_question
            and definition.context.sensitivity_question.model_copy(
                update={
                    "question": pick(
                        definition.context.sensitivity_question.question,
                        ("context", "sensitivity_question", "question"),
                    )
                }
            ),
        }
    )
    categories = [described(c, ("categories", c.key)) for c in definition.categories]
    decisions = {
        tier: described(decision, ("decisions", tier))
        for tier, decision in definition.decisions.items()
    }
    holistic = definition.holistic_tier.model_copy(
        update={"question": pick(definition.holistic_tier.question, ("holistic_tier", "question"))}
    )
    result = definition.model_copy(
        update={
            "title": pick(definition.title, ("title",)),
            "introduction": pick(definition.introduction, ("introduction",)),
            "dimensions": dimensions,
            "items": items,
            "tiers": tiers,
            "holistic_tier": holistic,
            "mail": definition.mail.model_copy(update=mail_update),
            "quantities": _localized_quantities(definition, texts),
            "context": context,
            "categories": categories,
            "decisions": decisions,
        }
    )
    result._localized = {}  # its own, or it would answer for the source's
    return result


def _localized_factor(factor: Factor, pick: Callable[[str, tuple[str | int, ...]], str]) -> Factor:
    path: tuple[str | int, ...] = ("context", "factors", factor.key)
    update: dict[str, Any] = {
        "label": pick(factor.label, (*path, "label")),
        "question": pick(factor.question, (*path, "question")),
    }
    if factor.unit:
        update["unit"] = pick(factor.unit, (*path, "unit"))
    if factor.options:
        update["options"] = {
            key: pick(text, (*path, "options", key)) for key, text in factor.options.items()
        }
    if factor.indicator is not None:
        update["indicator"] = factor.indicator.model_copy(
            update={"signals": pick(factor.indicator.signals, (*path, "indicator", "signals"))}
        )
    return factor.model_copy(update=update)


class SurveyDefinition(_Strict):
    slug: Slug
    version: str = Field(min_length=1, max_length=40)
    title: str = Field(min_length=1, max_length=300)
    introduction: str = ""
    dimensions: list[Dimension] = Field(min_length=1)
    items: list[Item] = Field(min_length=1)
    tiers: list[Tier] = Field(min_length=2)
    tier_rule: TierRule
    holistic_tier: HolisticTier = HolisticTier()
    consensus: ConsensusCriterion = ConsensusCriterion()
    reliability: ReliabilityCriterion = ReliabilityCriterion()
    delphi: DelphiSettings = DelphiSettings()
    mail: MailTexts = MailTexts()
    context: Context = Context()
    categories: list[Category] = Field(default_factory=list)
    #: What each tier implies in practice, keyed by tier (all tiers or none).
    decisions: dict[Key, Decision] = Field(default_factory=dict)
    #: The languages the survey is given in; the first is the one its own fields are in.
    languages: list[LanguageTag] = Field(default=["en"], min_length=1, max_length=20)
    #: Each other language's wording of the texts, keyed by language.
    translations: dict[LanguageTag, SurveyTexts] = {}
    #: Quantity questions (5/50/95% quantiles), seed questions among them.
    quantities: list[Quantity] = Field(default_factory=list, max_length=200)
    _localized: dict[str, SurveyDefinition] = PrivateAttr(default_factory=dict)

    @model_validator(mode="after")
    def _consistent(self) -> SurveyDefinition:
        _unique("dimensions", [d.key for d in self.dimensions])
        _unique("items", [i.key for i in self.items])
        _unique("tiers", [t.key for t in self.tiers])
        _unique("categories", [c.key for c in self.categories])
        _unique("quantities", [q.key for q in self.quantities])
        _check_context_references(self)
        for index, dim in enumerate(self.dimensions):
            if dim.key == HOLISTIC_TIER_KEY:
                raise _LocatedError(
                    ("dimensions", index, "key"),
                    f"dimension key {HOLISTIC_TIER_KEY!r} is reserved for holistic tiers",
                )
        by_key = {d.key: d for d in self.dimensions}
        _check_rule_dimensions(self.tier_rule, by_key)
        _check_thresholds(self.tier_rule, [t.key for t in self.tiers], by_key)
        return self

    @model_validator(mode="after")
    def _translated(self) -> SurveyDefinition:
        problems = _translation_problems(self)
        if problems:
            raise _LocatedErrors(problems)
        return self

    @property
    def source_language(self) -> str:
        """The language of the survey's own fields (the first of ``languages``)."""
        return self.languages[0]

    def language_or_source(self, language: str | None) -> str:
        """``language`` if the survey is given in it, else the source language."""
        return language if language in self.languages else self.source_language

    def localized(self, language: str | None) -> SurveyDefinition:
        """The definition with every text in ``language`` (itself for the source language
        or a language the survey is not given in). Kept once made: pages ask often."""
        texts = self.translations.get(language) if language else None
        if texts is None or language is None:
            return self
        found = self._localized.get(language)
        if found is None:
            found = self._localized[language] = _localized(self, texts)
        return found

    def dimension(self, key: str) -> Dimension:
        return by_key(self.dimensions, key)

    def item(self, key: str) -> Item:
        return by_key(self.items, key)

    def tier(self, key: str) -> Tier:
        return by_key(self.tiers, key)

    def quantity(self, key: str) -> Quantity:
        return by_key(self.quantities, key)

    @property
    def seed_questions(self) -> list[Quantity]:
        """The quantity questions whose realisation is known."""
        return [q for q in self.quantities if q.is_seed]

    def references(self) -> dict[tuple[str, str], int]:
        """The calibration items' reference values, by (item, dimension)."""
        return {
            (item.key, dim): self.tier_keys.index(value) if isinstance(value, str) else value
            for item in self.items
            for dim, value in (item.reference or {}).items()
        }

    def group_of(self, item: Item) -> str | None:
        """The heading an item is listed under: its category's label, else its group."""
        if item.parent is not None:
            return next(c.label for c in self.categories if c.key == item.parent)
        return item.group

    def affected_items(self, factor_key: str) -> list[str]:
        """The items whose tier depends on a factor: every item when the whole rubric
        depends on it or no item names it, else the items that name it."""
        naming = [i.key for i in self.items if factor_key in i.factors]
        if factor_key in self.context.whole_rubric or not naming:
            return [i.key for i in self.items]
        return naming

    def factors_of(self, item_key: str) -> list[Factor]:
        """The factors an item's tier depends on (see :meth:`affected_items`)."""
        return [f for f in self.context.factors if item_key in self.affected_items(f.key)]

    def factors_offered(self, item_key: str) -> list[Factor]:
        """The factors an expert is asked about for an item when the survey asks which
        would change their rating (none when it does not ask)."""
        question = self.context.sensitivity_question
        if question is None:
            return []
        if question.offer == "all":
            return list(self.context.factors)
        return self.factors_of(item_key)

    @property
    def tier_keys(self) -> list[str]:
        """Tier keys in order, lowest first."""
        return [t.key for t in self.tiers]

    def rule_tier(self, scores: Mapping[str, float]) -> str:
        """The tier the tier rule gives to an item with these dimension ``scores``."""
        return self.tier_rule.tier_for_score(self.tier_rule.score(scores), self.tier_keys)

    def canonical_json(self) -> str:
        """The definition as canonical JSON (sorted keys, no whitespace): what is hashed.

        Sections added to the format later are left out while a file does not use them,
        so an unchanged file keeps its digest (and is not taken for a new version)."""
        data = self.model_dump(mode="json")
        if data["context"].get("sensitivity_question", 0) is None:
            del data["context"]["sensitivity_question"]
        for key, unused in _ADDED_SECTIONS.items():
            if data.get(key) == unused:
                del data[key]
        for item in data["items"]:
            for key, unused in _ADDED_ITEM_FIELDS.items():
                if item.get(key) == unused:
                    del item[key]
        # A survey in English alone hashes as it did before surveys had languages, so
        # loading an unchanged file keeps its version.
        if data["languages"] == ["en"] and not data["translations"]:
            del data["languages"], data["translations"]
        for texts in (data.get("translations") or {}).values():
            if texts.get("quantities") == {}:
                del texts["quantities"]
        return json.dumps(data, sort_keys=True, separators=(",", ":"))

    def content_sha256(self) -> str:
        return hashlib.sha256(self.canonical_json().encode()).hexdigest()


#: Sections and item fields added after the first surveys were stored, with their value
#: when unused (left out of :meth:`SurveyDefinition.canonical_json` then).
_ADDED_SECTIONS: dict[str, object] = {
    "context": {"factors": [], "whole_rubric": []},
    "categories": [],
    "decisions": {},
    "quantities": [],
}
_ADDED_ITEM_FIELDS: dict[str, object] = {"parent": None, "factors": [], "reference": None}


def _check_context_references(survey: SurveyDefinition) -> None:
    """Items name declared factors and categories; decisions are given for every tier."""
    factors = {f.key for f in survey.context.factors}
    categories = {c.key for c in survey.categories}
    for index, item in enumerate(survey.items):
        for position, key in enumerate(item.factors):
            if key not in factors:
                declared = ", ".join(sorted(factors)) or "none declared"
                raise _LocatedError(
                    ("items", index, "factors", position),
                    f"item {item.key!r} names factor {key!r}, which context.factors does not "
                    f"declare ({declared})",
                )
        if item.parent is not None and item.parent not in categories:
            declared = ", ".join(sorted(categories)) or "none declared"
            raise _LocatedError(
                ("items", index, "parent"),
                f"item {item.key!r} names category {item.parent!r}, which `categories` does "
                f"not declare ({declared})",
            )
    _check_references(survey)
    tiers = [t.key for t in survey.tiers]
    if survey.decisions:
        unknown = sorted(set(survey.decisions) - set(tiers))
        missing = [t for t in tiers if t not in survey.decisions]
        if unknown:
            raise _LocatedError(
                ("decisions", unknown[0]), f"decisions name unknown tiers {unknown}"
            )
        if missing:
            raise _LocatedError(("decisions",), f"decisions are missing for tiers {missing}")


def _check_references(survey: SurveyDefinition) -> None:
    """A calibration item's reference values name dimensions (or the holistic tier) and lie
    on their scales."""
    scales = {d.key: (d.scale.min, d.scale.max) for d in survey.dimensions}
    if survey.holistic_tier.enabled:
        scales[HOLISTIC_TIER_KEY] = (0, len(survey.tiers) - 1)
    for index, item in enumerate(survey.items):
        for key, value in (item.reference or {}).items():
            where = ("items", index, "reference", key)
            if key not in scales:
                raise _LocatedError(
                    where,
                    f"item {item.key!r}: reference for {key!r}, which is not a dimension "
                    f"(dimensions: {', '.join(scales)})",
                )
            if isinstance(value, str):
                if key != HOLISTIC_TIER_KEY or value not in survey.tier_keys:
                    raise _LocatedError(
                        where,
                        f"item {item.key!r}: reference {value!r} for {key!r} must be "
                        + ("a tier key" if key == HOLISTIC_TIER_KEY else "a number"),
                    )
                continue
            low, high = scales[key]
            if not low <= value <= high:
                raise _LocatedError(
                    where, f"item {item.key!r}: reference {value} lies outside {low}..{high}"
                )


def _unique(field: str, keys: list[str]) -> None:
    seen: dict[str, int] = {}
    for index, key in enumerate(keys):
        if key in seen:
            raise _LocatedError(
                (field, index, "key"),
                f"duplicate key {key!r} (already used by {field}[{seen[key]}])",
            )
        seen[key] = index


# --------------------------------------------------------------------------------------
# Loading files
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SurveyFileProblem:
    """One problem in a survey file. ``line`` is 1-based (None when unknown);
    ``path`` is the field path such as ``dimensions[1].scale.levels`` ("" for the file)."""

    file: str
    line: int | None
    path: str
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line is not None else f"{self.file}:"
        return f"{where} {self.path}: {self.message}" if self.path else f"{where} {self.message}"


class SurveyFileError(InvalidInput, ValueError):
    """A survey file could not be loaded; ``errors`` lists every problem found, and the
    message names each one's file, line and field. ``field`` is the caller's input that
    held the file's text, when there is one (the API's ``content``)."""

    def __init__(self, errors: Iterable[SurveyFileProblem], *, field: str | None = None) -> None:
        self.errors: list[SurveyFileProblem] = list(errors)
        super().__init__("\n".join(str(p) for p in self.errors), field=field)


_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def format_path(loc: Iterable[str | int]) -> str:
    """``("dimensions", 1, "scale", "levels")`` -> ``dimensions[1].scale.levels``."""
    out = ""
    for part in loc:
        if isinstance(part, int) and not isinstance(part, bool):
            out += f"[{part}]"
        elif isinstance(part, str) and _IDENT.match(part):
            out += f".{part}" if out else part
        else:
            out += f"[{json.dumps(part if isinstance(part, str) else str(part))}]"
    return out


class _Problem(Exception):
    def __init__(self, line: int | None, path: Loc, message: str) -> None:
        super().__init__(message)
        self.line, self.path, self.message = line, path, message


def _too_deep(line: int | None) -> _Problem:
    return _Problem(
        line,
        (),
        f"lists and mappings are nested more than {MAX_NESTING_DEPTH} levels deep "
        f"(the limit for a survey file)",
    )


def _too_many(line: int | None) -> _Problem:
    return _Problem(
        line,
        (),
        f"the file has more than {MAX_NODES:,} YAML nodes (keys, values, lists and "
        f"mappings; the limit for a survey file)",
    )


def _refuse_event(event: yaml.Event, depth: int, nodes: int) -> None:
    """Raise the problem with ``event`` (the next node), given the collections open around
    it and the nodes before it: an alias or anchor, too deep, or too many nodes."""
    line = event.start_mark.line + 1 if event.start_mark is not None else None
    anchor = getattr(event, "anchor", None)  # aliases and nodes have one; other events not
    if isinstance(event, yaml.AliasEvent):
        raise _Problem(
            line,
            (),
            f"YAML aliases (*{anchor}) are not allowed in survey files; "
            f"write the value out in full",
        )
    if anchor is not None:
        raise _Problem(
            line,
            (),
            f"YAML anchors (&{anchor}) are not allowed in survey files; "
            f"write the value out in full",
        )
    if depth >= MAX_NESTING_DEPTH and isinstance(
        event, yaml.SequenceStartEvent | yaml.MappingStartEvent
    ):
        raise _too_deep(line)
    if nodes >= MAX_NODES:
        raise _too_many(line)


def _check_structure(text: str) -> None:
    """Refuse anchors, aliases, deep nesting and too many nodes in one fast pass over
    libyaml's event stream (iterative; nothing is composed), when PyYAML has libyaml.

    The pure-Python parser in :class:`_Loader` makes the same checks and stays the one
    that reads the file (its semantics and its messages); this pass only refuses hostile
    input many times sooner. A syntax error ends this pass: the Python parser reports it.
    """
    if not getattr(yaml, "__with_libyaml__", False):  # pragma: no cover - wheels have it
        return
    parser = yaml.CSafeLoader(text)
    depth = nodes = 0
    try:
        while parser.check_event():
            event = parser.get_event()
            if isinstance(event, yaml.SequenceEndEvent | yaml.MappingEndEvent):
                depth -= 1
            elif isinstance(event, yaml.NodeEvent):
                _refuse_event(event, depth, nodes)
                nodes += 1
                if isinstance(event, yaml.SequenceStartEvent | yaml.MappingStartEvent):
                    depth += 1
    except yaml.MarkedYAMLError as exc:
        if exc.problem and "maximum nesting depth" in exc.problem:  # libyaml's own, 1000
            mark = exc.problem_mark
            raise _too_deep(mark.line + 1 if mark is not None else None) from None
    except yaml.YAMLError:
        pass
    finally:
        parser.dispose()


def _composed(node: yaml.Node | None) -> yaml.Node:
    # A node was announced by the event just checked, so composing it gives one.
    assert node is not None
    return node


class _Loader(yaml.SafeLoader):
    """SafeLoader used only to compose nodes and construct scalars.

    Hostile input is bounded while the event stream is composed, before any node past a
    limit exists: anchors and aliases are refused (so the node graph is a tree no larger
    than the text, and no "billion laughs" expansion is possible), lists and mappings may
    nest at most :data:`MAX_NESTING_DEPTH` levels (so PyYAML's recursive composer, and
    :func:`_build` after it, stay far from Python's recursion limit), and there may be at
    most :data:`MAX_NODES` nodes.
    """

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._depth = 0
        self._nodes = 0

    def compose_node(self, parent: yaml.Node | None, index: Any) -> yaml.Node:
        event = self.peek_event()  # type: ignore[no-untyped-call]  # PyYAML has no types for it
        _refuse_event(event, self._depth, self._nodes)
        self._nodes += 1
        if not isinstance(event, yaml.SequenceStartEvent | yaml.MappingStartEvent):
            return _composed(super().compose_node(parent, index))
        self._depth += 1
        try:
            return _composed(super().compose_node(parent, index))
        finally:
            self._depth -= 1


def _line(node: yaml.Node) -> int:
    return node.start_mark.line + 1


_PLAIN_TAGS = frozenset({"tag:yaml.org,2002:map", "tag:yaml.org,2002:seq"})


def _build(loader: _Loader, node: yaml.Node, path: Loc, lines: dict[Loc, int]) -> Any:
    """Construct plain Python data from ``node``, recording the line of every path.

    A mapping entry's path maps to the line of its *key*; a sequence element's to the line
    of the element. Duplicate mapping keys are refused.
    """
    if isinstance(node, yaml.CollectionNode) and node.tag not in _PLAIN_TAGS:
        raise _Problem(
            _line(node),
            path,
            f"the YAML tag {node.tag!r} is not allowed in survey files "
            f"(plain lists and mappings only)",
        )
    if isinstance(node, yaml.MappingNode):
        seen: dict[Any, int] = {}
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue
            key = _key(loader, key_node, path)
            if key in seen:
                raise _Problem(
                    _line(key_node),
                    (*path, key),
                    f"duplicate key {key!r} (first given on line {seen[key]})",
                )
            seen[key] = _line(key_node)
        loader.flatten_mapping(node)  # resolve `<<:` merge keys; explicit keys win
        result: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            key = _key(loader, key_node, path)
            lines[(*path, key)] = _line(key_node)
            result[key] = _build(loader, value_node, (*path, key), lines)
        return result
    if isinstance(node, yaml.SequenceNode):
        items = []
        for index, child in enumerate(node.value):
            lines[(*path, index)] = _line(child)
            items.append(_build(loader, child, (*path, index), lines))
        return items
    return _construct(loader, node, path)


def _construct(loader: _Loader, node: yaml.Node, path: Loc) -> Any:
    """A scalar's value; a value the YAML type cannot hold (``2024-02-30``, ``!!int x``, an
    integer of 5,000 digits) is a problem at its line rather than a crash."""
    try:
        return loader.construct_object(node, deep=True)
    except (ValueError, TypeError, OverflowError) as exc:
        shown = node.value if isinstance(node.value, str) else ""
        shown = repr(shown) if len(shown) <= 60 else repr(shown[:57] + "...")
        raise _Problem(_line(node), path, f"cannot read the value {shown}: {exc}") from None


def _key(loader: _Loader, key_node: yaml.Node, path: Loc) -> Any:
    if not isinstance(key_node, yaml.ScalarNode):
        raise _Problem(_line(key_node), path, "mapping keys must be plain scalars")
    key = _construct(loader, key_node, path)
    if isinstance(key, bool):
        # YAML 1.1 reads yes/no/on/off/true/false as booleans, and True == 1 in Python.
        raise _Problem(
            _line(key_node),
            (*path, key_node.value),
            f"key {key_node.value!r} is read as a boolean; quote it if you mean the text",
        )
    try:
        hash(key)
    except TypeError:  # pragma: no cover - scalars are hashable
        raise _Problem(_line(key_node), path, "mapping keys must be plain scalars") from None
    return key


def _line_for(loc: Loc, lines: dict[Loc, int]) -> int | None:
    """Line of the deepest node that exists along ``loc``."""
    for end in range(len(loc), -1, -1):
        line = lines.get(tuple(loc[:end]))
        if line is not None:
            return line
    return None


def _clean_loc(loc: Loc, data: Any) -> Loc:
    """Drop Pydantic-internal parts (``[key]``, validator names) that are not data keys."""
    out: list[str | int] = []
    node = data
    for part in loc:
        if part == "[key]":
            continue
        in_dict = isinstance(node, dict) and part in node
        in_list = isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node)
        if in_dict or in_list:
            node = node[part]
        elif isinstance(node, dict | list):
            node = None  # a missing field or unknown element: keep it, nothing below
        else:
            continue  # internal part below a scalar (e.g. a union member tag)
        out.append(part)
    return tuple(out)


_FRIENDLY = {
    "missing": "required field is missing",
    "extra_forbidden": "unknown field (not part of the survey format; see surveys/README.md)",
}


def _messages(error: Mapping[str, Any]) -> list[tuple[Loc, str]]:
    """One Pydantic error as problems: several when a validator found several."""
    exc = (error.get("ctx") or {}).get("error")
    if isinstance(exc, _LocatedErrors):
        loc: Loc = tuple(error["loc"])
        return [((*loc, *each.rel_loc), each.bare) for each in exc.errors]
    return [_message(error)]


def _message(error: Mapping[str, Any]) -> tuple[Loc, str]:
    loc: Loc = tuple(error["loc"])
    kind = error["type"]
    exc = (error.get("ctx") or {}).get("error")
    if isinstance(exc, _LocatedError):
        return (*loc, *exc.rel_loc), exc.bare
    if kind in _FRIENDLY:
        return loc, _FRIENDLY[kind]
    message = str(error["msg"]).removeprefix("Value error, ")
    message = message[:1].lower() + message[1:]
    value = error.get("input")
    if kind == "string_pattern_mismatch" and "a-z][a-z0-9_]" in message:
        message = "keys use lowercase letters, digits and '_' and start with a letter"
    elif kind == "string_pattern_mismatch" and "a-z0-9][a-z0-9-]" in message:
        message = "slugs use lowercase letters, digits and '-' and start with a letter or digit"
    if kind == "string_type" and isinstance(value, int | float) and not isinstance(value, bool):
        message += f' (got {value!r}; put it in quotes, e.g. "{value}")'
    elif isinstance(value, str | int | float | bool) and len(repr(value)) <= 60:
        message += f" (got {value!r})"
    elif kind.endswith("_type") and value is not None:
        kinds: dict[type, str] = {dict: "mapping", list: "list"}
        kind_name = kinds.get(type(value), type(value).__name__)
        message += f" (got a {kind_name})"
    elif kind.endswith("_type"):
        message += " (got an empty value)"
    return loc, message


def _one_problem(filename: str, line: int | None, message: str) -> SurveyFileError:
    return SurveyFileError([SurveyFileProblem(filename, line, "", message)])


def _too_large(filename: str, size: int | None) -> SurveyFileError:
    got = f"{size:,} bytes" if size is not None else f"more than {MAX_SURVEY_FILE_BYTES:,} bytes"
    return _one_problem(
        filename,
        None,
        f"the file is too large ({got}); a survey file may be at most "
        f"{MAX_SURVEY_FILE_BYTES:,} bytes ({MAX_SURVEY_FILE_BYTES // 1024} KiB)",
    )


_TOO_BIG_TO_READ = (
    "the file is too large or too deeply nested to read (see the limits in surveys/README.md)"
)

#: Characters YAML does not allow in a stream (control characters such as NUL, lone
#: surrogates, U+FFFE/U+FFFF); PyYAML's own error for them gives no usable position.
_NOT_YAML_TEXT = yaml.reader.Reader.NON_PRINTABLE


def _check_text(text: str, filename: str) -> None:
    """Refuse text over the size limit or with characters YAML does not allow."""
    if len(text) > MAX_SURVEY_FILE_BYTES:  # at least as many bytes as characters
        raise _too_large(filename, None)
    size = len(text.encode("utf-8", "surrogatepass"))
    if size > MAX_SURVEY_FILE_BYTES:
        raise _too_large(filename, size)
    match = _NOT_YAML_TEXT.search(text)
    if match is not None:
        at = match.start()
        column = at - (text.rfind("\n", 0, at) + 1) + 1
        char = match.group()
        name = "a NUL byte" if char == "\0" else f"the character U+{ord(char):04X}"
        raise _one_problem(
            filename,
            text.count("\n", 0, at) + 1,
            f"the file contains {name} (column {column}), which YAML does not allow; "
            f"a survey file must be plain text",
        )


def _capped(filename: str, problems: list[SurveyFileProblem]) -> list[SurveyFileProblem]:
    if len(problems) <= MAX_REPORTED_PROBLEMS:
        return problems
    rest = len(problems) - MAX_REPORTED_PROBLEMS
    return [
        *problems[:MAX_REPORTED_PROBLEMS],
        SurveyFileProblem(filename, None, "", f"... and {rest:,} more problems not listed"),
    ]


def parse_survey_text(text: str, *, filename: str) -> SurveyDefinition:
    """Parse and validate survey YAML ``text``; ``filename`` is only used in messages.

    Every failure is a :class:`SurveyFileError`, hostile input included: text over
    :data:`MAX_SURVEY_FILE_BYTES`, characters YAML does not allow, anchors and aliases,
    lists and mappings nested deeper than :data:`MAX_NESTING_DEPTH`, more than
    :data:`MAX_NODES` nodes, and tags other than plain YAML's.
    """
    _check_text(text, filename)
    lines: dict[Loc, int] = {}
    try:
        _check_structure(text)
        loader = _Loader(text)
        try:
            node = loader.get_single_node()
            if node is None:
                raise _one_problem(
                    filename,
                    None,
                    "the file is empty (expected a survey "
                    "definition: a mapping with slug, version, title, ...)",
                )
            if not isinstance(node, yaml.MappingNode):
                kind = "list" if isinstance(node, yaml.SequenceNode) else "single value"
                raise _one_problem(
                    filename,
                    _line(node),
                    f"the top level must be a mapping of survey fields "
                    f"(slug: ..., title: ...), not a {kind}",
                )
            lines[()] = _line(node)
            data = _build(loader, node, (), lines)
        finally:
            loader.dispose()
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        parts = [p for p in (exc.context, exc.problem) if p]
        where = f" (column {mark.column + 1})" if mark is not None else ""
        message = f"YAML syntax error: {'; '.join(parts) or 'invalid YAML'}{where}"
        line = mark.line + 1 if mark is not None else None
        raise _one_problem(filename, line, message) from None
    except yaml.YAMLError as exc:
        raise _one_problem(filename, None, f"YAML error: {exc}") from None
    except _Problem as exc:
        raise SurveyFileError(
            [SurveyFileProblem(filename, exc.line, format_path(exc.path), exc.message)]
        ) from None
    except (RecursionError, MemoryError):
        # Not expected within the limits above; a last line of defence, never a crash.
        raise _one_problem(filename, None, _TOO_BIG_TO_READ) from None

    try:
        return SurveyDefinition.model_validate(data, context={_FROM_FILE: True})
    except ValidationError as exc:
        problems: list[SurveyFileProblem] = []
        seen: set[SurveyFileProblem] = set()
        for error in exc.errors(include_url=False):
            for loc, message in _messages(error):
                loc = _clean_loc(loc, data)
                problem = SurveyFileProblem(
                    filename, _line_for(loc, lines), format_path(loc), message
                )
                if problem not in seen:
                    seen.add(problem)
                    problems.append(problem)
        problems.sort(key=lambda p: (p.line or 0, p.path))
        raise SurveyFileError(_capped(filename, problems)) from None
    except (RecursionError, MemoryError):
        raise _one_problem(filename, None, _TOO_BIG_TO_READ) from None


def load_survey_file(path: str | os.PathLike[str]) -> SurveyDefinition:
    """Read, parse and validate one survey file; raises :class:`SurveyFileError`.

    At most :data:`MAX_SURVEY_FILE_BYTES` + 1 bytes are read: a larger file (or a device
    that never ends) is refused without reading the rest.
    """
    filename = os.fspath(path)
    try:
        with open(path, "rb") as stream:
            raw = stream.read(MAX_SURVEY_FILE_BYTES + 1)
            if len(raw) > MAX_SURVEY_FILE_BYTES:
                size = os.fstat(stream.fileno()).st_size  # 0 for a device or a pipe
                raise _too_large(filename, size if size > MAX_SURVEY_FILE_BYTES else None)
    except OSError as exc:
        reason = exc.strerror or exc.__class__.__name__
        raise _one_problem(filename, None, f"cannot read the file: {reason}") from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise _one_problem(
            filename,
            raw.count(b"\n", 0, exc.start) + 1,
            f"the file is not valid UTF-8 text (byte 0x{raw[exc.start]:02x} at offset "
            f"{exc.start}); save it as UTF-8",
        ) from None
    return parse_survey_text(text, filename=filename)


def builtin_surveys_dir() -> Path:
    """The surveys that ship with the platform: ``surveys/`` of a checkout, or the copy an
    installed wheel carries in the app package."""
    checkout = Path(__file__).resolve().parent.parent / "surveys"
    return checkout if checkout.is_dir() else Path(__file__).parent / "_surveys"


def discover_survey_files(directory: str | os.PathLike[str]) -> list[Path]:
    """The ``*.yaml`` / ``*.yml`` files directly in ``directory``, sorted by name."""
    root = Path(directory)
    if not root.is_dir():
        raise FileNotFoundError(f"survey directory not found: {root}")
    return sorted(
        p
        for p in root.iterdir()
        if p.is_file() and p.suffix.lower() in {".yaml", ".yml"} and not p.name.startswith(".")
    )


def load_survey_directory(directory: str | os.PathLike[str]) -> list[SurveyDefinition]:
    """Load every survey file in ``directory`` (sorted by file name).

    Problems from all files are collected into one :class:`SurveyFileError`; two files
    declaring the same ``slug`` are also an error.
    """
    problems: list[SurveyFileProblem] = []
    surveys: list[SurveyDefinition] = []
    first_file: dict[str, str] = {}
    for path in discover_survey_files(directory):
        try:
            survey = load_survey_file(path)
        except SurveyFileError as exc:
            problems.extend(exc.errors)
            continue
        if survey.slug in first_file:
            problems.append(
                SurveyFileProblem(
                    os.fspath(path),
                    None,
                    "slug",
                    f"slug {survey.slug!r} is already used by {first_file[survey.slug]}",
                )
            )
            continue
        first_file[survey.slug] = os.fspath(path)
        surveys.append(survey)
    if problems:
        raise SurveyFileError(problems)
    return surveys


def _check_rule_dimensions(rule: TierRule, by_key: dict[str, Dimension]) -> None:
    """The rule's dimensions exist, appear once, and can be aggregated (not nominal)."""
    seen: set[str] = set()
    for index, key in enumerate(rule.dimensions):
        where = ("tier_rule", "dimensions", index)
        if key not in by_key:
            raise _LocatedError(
                where, f"unknown dimension {key!r} (dimensions are: {sorted(by_key)})"
            )
        if key in seen:
            raise _LocatedError(where, f"dimension {key!r} is listed twice")
        seen.add(key)
        if by_key[key].measurement == "nominal":
            raise _LocatedError(
                where, f"dimension {key!r} is nominal and cannot be aggregated by a rule"
            )


def _check_thresholds(rule: TierRule, tier_keys: list[str], by_key: dict[str, Dimension]) -> None:
    """One threshold per tier after the first, increasing, each reachable on the scale."""
    expected = tier_keys[1:]
    for key in rule.thresholds:
        if key not in expected:
            why = (
                "the first tier has no threshold"
                if key == tier_keys[0]
                else f"unknown tier {key!r}"
            )
            raise _LocatedError(
                ("tier_rule", "thresholds", key),
                f"{why}; give one threshold for each tier after the first: {expected}",
            )
    missing = [k for k in expected if k not in rule.thresholds]
    if missing:
        raise _LocatedError(
            ("tier_rule", "thresholds"),
            f"missing threshold for {missing}; give one threshold for each tier after "
            f"the first: {expected}",
        )
    for previous, key in itertools.pairwise(expected):
        if rule.thresholds[key] <= rule.thresholds[previous]:
            raise _LocatedError(
                ("tier_rule", "thresholds", key),
                f"thresholds must increase with the tier order: {key} "
                f"({rule.thresholds[key]:g}) must be above {previous} "
                f"({rule.thresholds[previous]:g})",
            )
    low = max(by_key[k].scale.min for k in rule.dimensions)
    high = min(by_key[k].scale.max for k in rule.dimensions)
    for key in expected:
        value = rule.thresholds[key]
        if not low < value <= high:
            raise _LocatedError(
                ("tier_rule", "thresholds", key),
                f"threshold {value:g} must lie above {low} and at most {high} (the scale "
                f"of the rule dimensions), or tier {key!r} or the one below it could "
                f"never be reached",
            )


# --- translations left behind by a changed source text ----------------------------------------

STALE_TRANSLATION = "source changed, translation unchanged: check {path}"


def stale_translations(
    previous: SurveyDefinition, current: SurveyDefinition, *, filename: str, text: str | None
) -> list[SurveyFileProblem]:
    """Warnings for every translation that may no longer say what its source says: the
    source text changed from ``previous`` to ``current`` but the translation of it is
    word for word the one ``previous`` had. Each names ``filename``, the translation's line
    in ``text`` (the file ``current`` was read from; no line without it) and its key."""
    before = {s.key_path: _text_at(previous, s.loc) for s in _source_texts(previous)}
    lines: dict[Loc, int] = _lines_of(text) if text is not None else {}
    problems: list[SurveyFileProblem] = []
    for language, texts in current.translations.items():
        old_texts = previous.translations.get(language)
        if old_texts is None:
            continue
        for source in _source_texts(current):
            old_source = before.get(source.key_path)
            if old_source is None or old_source == _text_at(current, source.loc):
                continue
            translated = _lookup(texts, source.key_path)
            if translated is None or translated != _lookup(old_texts, source.key_path):
                continue
            loc: Loc = ("translations", language, *source.key_path)
            path = format_path(loc)
            problems.append(
                SurveyFileProblem(
                    filename,
                    _line_for(loc, lines),
                    path,
                    STALE_TRANSLATION.format(path=path),
                )
            )
    return problems


def _text_at(definition: SurveyDefinition, loc: Loc) -> str | None:
    node: Any = definition
    for part in loc:
        if isinstance(node, BaseModel):
            node = getattr(node, str(part), None)
        elif isinstance(node, dict):
            node = node.get(part)
        elif isinstance(node, list) and isinstance(part, int) and part < len(node):
            node = node[part]
        else:
            return None
    return node if isinstance(node, str) else None


def _lines_of(text: str) -> dict[Loc, int]:
    """The line of every path of a survey file's text (one that has been validated)."""
    lines: dict[Loc, int] = {}
    loader = _Loader(text)
    try:
        node = loader.get_single_node()
        if node is not None:
            _build(loader, node, (), lines)
    finally:
        loader.dispose()
    return lines
