"""Which context factors would change an expert's rating of an item.

A survey file that declares context factors may ask the panel, per item, which of them
would change their rating if they changed (``context.sensitivity_question``). The answers
are the panel's own account of what depends on what, beside the survey author's
(``items[].factors``, ``context.whole_rubric``): the report lists each item's factors with
the share of the panel that named them, and flags a dependence the panel sees but the file
does not declare, and a declared one nobody names.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import select as sa_select
from sqlmodel import Session, col, select

from app.errors import InvalidInput
from app.i18n import N_
from app.inputs import SensitivityInput
from app.models import FactorSensitivity, utcnow
from app.services.answer_store import of_round, open_draft
from app.services.rounds import round_definition, round_items
from app.survey_files import SurveyDefinition

#: Fewest answers for an item before the report flags a dependence as undeclared or unnamed.
MIN_ANSWERS_TO_FLAG = 3
#: The share of the panel naming a factor at which an undeclared dependence is flagged.
FLAG_SHARE = 0.5


def save_sensitivity(
    session: Session, *, response_id: int, answer: SensitivityInput, language: str | None = None
) -> FactorSensitivity | None:
    """Store (or with ``factors`` None, take back) which factors would change the expert's
    rating of an item. InvalidInput names ``item`` or ``factors[i]``: the survey does not
    ask, the item is not asked in this round, a factor is not offered for the item or is
    named twice; Conflict / ResponseLocked when answers can no longer change."""
    response, round_ = open_draft(session, response_id)
    definition = round_definition(session, round_)
    if definition.context.sensitivity_question is None:
        raise InvalidInput(
            N_("this survey does not ask which factors would change a rating"), field="item"
        )
    if answer.item not in {item.key for item in round_items(round_, definition)}:
        raise InvalidInput(
            N_("item %(item)s is not asked in this round"),
            field="item",
            values={"item": repr(answer.item)},
        )
    current = session.exec(
        select(FactorSensitivity).where(
            FactorSensitivity.response_id == response_id,
            FactorSensitivity.item_key == answer.item,
        )
    ).first()
    now = utcnow()
    response.updated_at = now
    session.add(response)
    if answer.factors is None:
        if current is not None:
            session.delete(current)
            session.flush()
        return None
    factors = _checked_factors(definition, answer)
    if current is None:
        current = FactorSensitivity(response_id=response_id, item_key=answer.item, factors=[])
    if current.factors != factors or current.id is None:
        current.factors = factors
        current.updated_at = now
        current.language = definition.language_or_source(language)
        session.add(current)
        session.flush()
    return current


def _checked_factors(definition: SurveyDefinition, answer: SensitivityInput) -> list[str]:
    """The named factors in the survey's order, each checked to be offered for the item."""
    offered = [f.key for f in definition.factors_offered(answer.item)]
    seen: set[str] = set()
    for index, key in enumerate(answer.factors or []):
        if key not in offered:
            raise InvalidInput(
                N_("factor %(factor)s is not asked about for item %(item)s (asked: %(asked)s)"),
                field=f"factors[{index}]",
                values={
                    "factor": repr(key),
                    "item": repr(answer.item),
                    "asked": ", ".join(offered),
                },
            )
        if key in seen:
            raise InvalidInput(
                N_("factor %(factor)s is named twice"),
                field=f"factors[{index}]",
                values={"factor": repr(key)},
            )
        seen.add(key)
    return [key for key in offered if key in seen]


@dataclass(frozen=True)
class FactorShare:
    """How many of an item's answers named one factor."""

    factor: str
    label: str
    #: Whether the survey file says the item depends on the factor.
    declared: bool
    named: int
    answered: int
    #: The panel names it (at least half, enough answers) though the file does not declare it.
    undeclared: bool
    #: The file declares it but no one named it (enough answers).
    unnamed: bool

    @property
    def share(self) -> float | None:
        return self.named / self.answered if self.answered else None


@dataclass(frozen=True)
class ItemSensitivity:
    item: str
    label: str
    #: Experts who answered the question for this item (naming none counts).
    answered: int
    #: Of them, how many said none of the factors would change their rating.
    none: int
    factors: tuple[FactorShare, ...]


@dataclass(frozen=True)
class SensitivitySummary:
    """The panel's answers per item; ``reason`` says why an item has no shares."""

    question: str
    items: tuple[ItemSensitivity, ...]

    def to_dict(self) -> dict[str, Any]:
        return {
            "question": self.question,
            "items": {
                entry.item: {
                    "label": entry.label,
                    "answered": entry.answered,
                    "none": entry.none,
                    "reason": None if entry.answered else "no expert answered for this item",
                    "factors": {
                        share.factor: {
                            "label": share.label,
                            "declared": share.declared,
                            "named": share.named,
                            "share": share.share,
                            "undeclared": share.undeclared,
                            "unnamed": share.unnamed,
                        }
                        for share in entry.factors
                    },
                }
                for entry in self.items
            },
        }

    @property
    def flagged(self) -> list[tuple[ItemSensitivity, FactorShare]]:
        """Every (item, factor) where the panel and the survey file disagree."""
        return [
            (entry, share)
            for entry in self.items
            for share in entry.factors
            if share.undeclared or share.unnamed
        ]


def summarise(
    definition: SurveyDefinition, item_keys: list[str], answers: list[tuple[str, list[str]]]
) -> SensitivitySummary | None:
    """Count ``answers`` ((item, factors named) per expert) for the items asked; None when
    the survey does not ask the question."""
    question = definition.context.sensitivity_question
    if question is None:
        return None
    by_item: dict[str, list[list[str]]] = {key: [] for key in item_keys}
    for item, factors in answers:
        if item in by_item:
            by_item[item].append(factors)
    entries = []
    for key, named_lists in by_item.items():
        label = definition.item(key).label
        answered = len(named_lists)
        declared = {f.key for f in definition.factors_of(key)}
        shares = []
        for factor in definition.factors_offered(key):
            named = sum(factor.key in factors for factors in named_lists)
            enough = answered >= MIN_ANSWERS_TO_FLAG
            is_declared = factor.key in declared
            shares.append(
                FactorShare(
                    factor=factor.key,
                    label=factor.label,
                    declared=is_declared,
                    named=named,
                    answered=answered,
                    undeclared=enough and not is_declared and named >= FLAG_SHARE * answered,
                    unnamed=enough and is_declared and named == 0,
                )
            )
        entries.append(
            ItemSensitivity(
                item=key,
                label=label,
                answered=answered,
                none=sum(not factors for factors in named_lists),
                factors=tuple(shares),
            )
        )
    return SensitivitySummary(question.question, tuple(entries))


def panel_sensitivity(
    session: Session,
    *,
    round_id: int,
    definition: SurveyDefinition,
    item_keys: list[str],
    include_drafts: bool = False,
) -> SensitivitySummary | None:
    """The round's answers, counted per item (submitted responses unless ``include_drafts``)."""
    if definition.context.sensitivity_question is None:
        return None
    query = of_round(
        sa_select(col(FactorSensitivity.item_key), col(FactorSensitivity.factors)),
        FactorSensitivity,
        round_id=round_id,
        include_drafts=include_drafts,
    )
    answers = [(item, list(factors)) for item, factors in session.execute(query).all()]
    return summarise(definition, item_keys, answers)


def items_the_panel_ties_to(
    session: Session, *, round_id: int, definition: SurveyDefinition, factor_key: str
) -> list[str]:
    """The items for which the round's panel named a factor the survey file does not tie
    them to (flagged ``undeclared``): a change of that factor bears on them too."""
    summary = panel_sensitivity(
        session,
        round_id=round_id,
        definition=definition,
        item_keys=[item.key for item in definition.items],
    )
    if summary is None:
        return []
    return [
        entry.item
        for entry in summary.items
        for share in entry.factors
        if share.factor == factor_key and share.undeclared
    ]
