"""The audit trail: what staff did (who, what, on what, when, in which round), written in
the same transaction as the action, and the history of the experts' ratings.

Entries hold no secrets: no password, token, link or TOTP secret ever goes into
``details`` (:func:`record` refuses keys that name one).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pydantic import AliasChoices, ConfigDict, Field
from sqlmodel import Session, col, select

from app.models import AuditEntry, Expert, RatingChange, Response
from app.services import ReadModel
from app.services.csv_out import write_csv
from app.services.rounds import get_round

#: The command line's actor (staff on the web are named by their e-mail).
CLI = "cli"
_SECRET_WORDS = ("password", "token", "secret")
MAX_PAGE = 500


def record(
    session: Session,
    actor: str,
    action: str,
    target_type: str,
    target_id: object = None,
    *,
    round_id: int | None = None,
    changed: Change | None = None,
    **details: str | int | bool | None,
) -> None:
    """Add one entry in the caller's transaction, so it exists exactly when the action
    does: ``audit.record(session, user.email, "round.opened", "round", round_id,
    round_id=round_id)``. Details are keywords (those that are None are left out); none
    may name a secret."""
    changes = changed.to_dict() if changed else {}
    kept = {k: v for k, v in {**details, **changes}.items() if v is not None}
    for key in kept:
        if any(word in key.lower() for word in _SECRET_WORDS):
            raise ValueError(f"audit details must not carry secrets ({key!r})")
    session.add(
        AuditEntry(
            actor=actor[:320],
            action=action,
            target_type=target_type,
            target_id=None if target_id is None else str(target_id)[:80],
            round_id=round_id,
            details=kept or None,
        )
    )


@dataclass(frozen=True)
class Change:
    """What an action changed: values by name, before and after it
    (``record(..., changed=Change(before, after))``)."""

    before: Mapping[str, str | None]
    after: Mapping[str, str | None]

    def to_dict(self) -> dict[str, str | None]:
        """The audit entry's details: each value that changed, as ``name`` (after) and
        ``name_before``."""
        out: dict[str, str | None] = {}
        for name in dict.fromkeys([*self.before, *self.after]):
            if self.before.get(name) != self.after.get(name):
                out[name] = self.after.get(name) or ""
                out[f"{name}_before"] = self.before.get(name) or ""
        return out


class AuditRecord(ReadModel):
    """One entry of the audit trail."""

    id: int
    at: datetime
    actor: str
    action: str
    target_type: str
    target_id: str | None
    round_id: int | None
    details: dict[str, Any]


@dataclass(frozen=True)
class AuditPage:
    """Entries newest first; ``next_before`` continues the list (None: no more)."""

    entries: list[AuditRecord]
    next_before: int | None


def entries(
    session: Session, *, round_id: int | None = None, limit: int = 50, before: int | None = None
) -> AuditPage:
    """The newest ``limit`` entries (of one round if given), older than entry ``before``."""
    if not 1 <= limit <= MAX_PAGE:
        raise ValueError(f"limit must be between 1 and {MAX_PAGE}")
    query = select(AuditEntry).order_by(col(AuditEntry.id).desc()).limit(limit + 1)
    if round_id is not None:
        query = query.where(AuditEntry.round_id == round_id)
    if before is not None:
        query = query.where(col(AuditEntry.id) < before)
    rows = list(session.exec(query).all())
    page = [AuditRecord.of(row, details=dict(row.details or {})) for row in rows[:limit]]
    return AuditPage(page, page[-1].id if len(rows) > limit else None)


AUDIT_COLUMNS = ["id", "at", "actor", "action", "target_type", "target_id", "round_id", "details"]


def entries_csv(session: Session, *, round_id: int | None = None) -> str:
    """The whole trail (of one round if given), oldest first, as CSV: the details as JSON
    text, every text cell neutralised against spreadsheet formulas."""
    query = select(AuditEntry).order_by(col(AuditEntry.id))
    if round_id is not None:
        query = query.where(AuditEntry.round_id == round_id)
    rows = [
        [
            row.id,
            row.at.isoformat(),
            row.actor,
            row.action,
            row.target_type,
            row.target_id or "",
            row.round_id or "",
            json.dumps(row.details or {}, sort_keys=True, ensure_ascii=False),
        ]
        for row in session.exec(query)
    ]
    return write_csv(rows, AUDIT_COLUMNS)


class RatedCell(ReadModel):
    """A rating's item and dimension; ``model_validate`` takes a ``Rating`` or
    ``RatingChange`` row itself (its ``item_key``/``dimension_key``)."""

    model_config = ConfigDict(frozen=True, from_attributes=True)

    item: str = Field(validation_alias=AliasChoices("item", "item_key"))
    dimension: str = Field(validation_alias=AliasChoices("dimension", "dimension_key"))


class RatingState(RatedCell):
    """One kept state of a rating (a row of ``rating_changes``)."""

    revision: int
    status: str
    value: int | None
    confidence: str | None
    rationale: str
    share_rationale: bool
    changed_by: str
    changed_at: datetime
    #: The language the survey was shown in when this state was saved (None: not recorded).
    language: str | None = None


class RatingHistoryEntry(RatingState):
    """One kept state of one expert's rating, with the expert's code."""

    expert_code: str


HISTORY_COLUMNS = ["expert_code", *RatingState.model_fields]


@dataclass(frozen=True)
class HistoryScope:
    """Whose rating history: a round's, of one expert (code) and/or one item if given."""

    round_id: int
    expert_code: str | None = None
    item: str | None = None


def rating_history(session: Session, *, scope: HistoryScope) -> list[RatingHistoryEntry]:
    """Every saved state of the round's ratings (of one expert and/or one item if given),
    by expert, item, dimension and revision. NotFound for an unknown round."""
    get_round(session, round_id=scope.round_id)
    query = (
        select(RatingChange, Expert.code)
        .join(Response, col(Response.id) == col(RatingChange.response_id))
        .join(Expert, col(Expert.id) == col(Response.expert_id))
        .where(Response.round_id == scope.round_id)
        .order_by(
            col(Expert.code),
            col(RatingChange.item_key),
            col(RatingChange.dimension_key),
            col(RatingChange.revision),
        )
    )
    if scope.expert_code is not None:
        query = query.where(Expert.code == scope.expert_code)
    if scope.item is not None:
        query = query.where(RatingChange.item_key == scope.item)
    return [
        RatingHistoryEntry(expert_code=code, **RatingState.model_validate(change).model_dump())
        for change, code in session.exec(query).all()
    ]


def export_history(session: Session, *, actor: str, scope: HistoryScope) -> str:
    """The rating history as CSV, the download recorded in the audit trail (who took
    which experts' answers, when). The caller's unit of work must be writing."""
    history = rating_history(session, scope=scope)
    record(
        session,
        actor,
        "history.exported",
        "round",
        scope.round_id,
        round_id=scope.round_id,
        expert=scope.expert_code,
        item=scope.item,
    )
    return history_csv(history)


def history_csv(history: list[RatingHistoryEntry]) -> str:
    """The rating history as CSV (text cells neutralised against formula injection)."""
    rows = [
        [h.changed_at.isoformat() if c == "changed_at" else getattr(h, c) for c in HISTORY_COLUMNS]
        for h in history
    ]
    return write_csv(rows, HISTORY_COLUMNS)
