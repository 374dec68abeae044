"""Keeping published rubrics true: observations of context factors, the triggers they fire,
and the reviews that mark a version "under review" until staff close them.

A published version records the value it assumed for each of its survey's context factors
(``record["context"]``, with the factors' definitions in ``record["context_factors"]``).
Three kinds of trigger open a review of the survey's newest version:

* ``assumption``: the latest observation of a factor (made after publication) differs from
  the value the version assumed;
* ``indicator``: the latest observation crosses the factor's indicator (a warning sign
  whatever was assumed: "AI companies refusing voluntary sharing");
* ``review_date``: the factor has not been observed for longer than its review interval
  (counted from publication, or from the latest observation).

Triggers are checked when an observation is recorded (in its transaction) and by the worker
(:func:`check_all`), which is what notices review dates. A trigger fires once per version
(a unique key per trigger), with the survey's row locked while it is checked. Each review
opened or closed is a :class:`RubricEvent`, listed in the Atom feed and queued for the
webhooks subscribed, in the same transaction.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any, NamedTuple
from urllib.parse import urlsplit

from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from app.db import first_or_not_found, session_scope
from app.errors import Conflict, InvalidInput, Message, NotFound
from app.i18n import N_
from app.inputs import ObservationInput
from app.models import (
    FactorObservation,
    Round,
    RubricEvent,
    RubricReview,
    RubricVersion,
    Survey,
    SurveyVersion,
    id_of,
    utcnow,
)
from app.services import ReadModel, audit, sensitivity
from app.services.surveys import definition_of, get_survey_version
from app.services.webhooks import queue_deliveries
from app.survey_context import Factor, FactorValue
from app.survey_files import SurveyDefinition

#: The worker's name in the audit trail.
WORKER = "worker"


class ObservationShown(ReadModel):
    """One observation of a factor, as staff and the API see it."""

    id: int
    factor_key: str
    value: str | float | None
    shown: str
    observed_on: date
    source_url: str
    note: str
    recorded_by: str
    created_at: datetime


class ReviewShown(ReadModel):
    """A review of a published version: why it was opened, and how it ended."""

    id: int
    survey: str
    version: int
    kind: str
    factor_key: str
    factor_label: str
    reason: str
    item_keys: list[str]
    opened_at: datetime
    closed_at: datetime | None
    closed_by: str | None
    resolution: str | None
    round_id: int | None


class VersionStatus(ReadModel):
    """Whether a published version still stands: ``current``, ``under_review`` (open
    reviews, with their reasons) or ``superseded`` (by a newer version)."""

    state: str
    superseded_by: int | None
    reviews: list[ReviewShown]


class FactorDescription(ReadModel):
    """A context factor as its survey file declares it."""

    key: str
    label: str
    question: str
    type: str
    options: dict[str, str] | None
    unit: str | None


class FactorState(FactorDescription):
    """A context factor of a survey: what the newest version assumed, what was last
    observed, and when it must be checked again."""

    volatility: str
    review_every_days: int
    assumed: str | float | None
    assumed_shown: str | None
    latest: ObservationShown | None
    review_due: date | None
    items: list[str]


class SurveyContext(ReadModel):
    """A survey's context factors and the reviews of its newest published version."""

    survey: str
    title: str
    version: int | None
    factors: list[FactorState]
    status: VersionStatus | None


@dataclass(frozen=True)
class _Trigger:
    kind: str
    factor: Factor
    key: str
    reason: str
    observation_id: int | None


# --- recording observations -----------------------------------------------------------------


def record_observation(
    session: Session,
    *,
    slug: str,
    observation: ObservationInput,
    actor: str,
    now: datetime | None = None,
) -> tuple[FactorObservation, list[RubricReview]]:
    """Record what was observed of one factor and check the triggers at once: returns the
    observation and the reviews it opened."""
    now = now or utcnow()
    survey = _survey(session, slug)
    definition = definition_of(get_survey_version(session, slug=slug))
    factor = _declared_factor(definition, observation.factor)
    observed_on = observation.observed_on
    try:
        parsed = factor.parse(observation.value)
    except ValueError as exc:
        raise InvalidInput(_message_of(exc), field="value") from None
    if parsed is None:
        raise InvalidInput(
            N_("%(factor)s: give the value observed"),
            field="value",
            values={"factor": factor.label},
        )
    if observed_on > now.date() + timedelta(days=1):
        raise InvalidInput(
            f"observed_on {observed_on.isoformat()} lies in the future", field="observed_on"
        )
    row = FactorObservation(
        survey_id=id_of(survey),
        factor_key=factor.key,
        value=parsed,
        observed_on=observed_on,
        source_url=_checked_url(observation.source_url),
        note=observation.note.strip(),
        recorded_by=actor,
    )
    session.add(row)
    session.flush()
    audit.record(
        session,
        actor,
        "factor.observed",
        "survey",
        slug,
        factor=factor.key,
        value=factor.show(parsed),
        observed_on=observed_on.isoformat(),
    )
    return row, check_survey(session, survey_id=id_of(survey), now=now, actor=actor)


def _survey(session: Session, slug: str) -> Survey:
    return first_or_not_found(
        session,
        select(Survey).where(Survey.slug == slug),
        Message(N_("no survey %(slug)s"), {"slug": repr(slug)}),
        field="survey",
    )


def _declared_factor(definition: SurveyDefinition, key: str) -> Factor:
    try:
        return definition.context.factor(key)
    except KeyError:
        declared = ", ".join(f.key for f in definition.context.factors) or Message(N_("none"))
        raise InvalidInput(
            N_("survey %(slug)s declares no context factor %(factor)s (its factors: %(declared)s)"),
            field="factor",
            values={"slug": repr(definition.slug), "factor": repr(key), "declared": declared},
        ) from None


def _checked_url(url: str) -> str:
    url = (url or "").strip()
    if not url:
        return ""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc or len(url) > 2000:
        raise InvalidInput(
            N_("source_url must be an http(s) address of at most 2000 characters"),
            field="source_url",
        )
    return url


# --- the triggers ---------------------------------------------------------------------------


def check_all(engine: Engine, *, now: datetime | None = None) -> list[RubricReview]:
    """The worker's pass: check every survey with a published version (each in its own
    transaction, so one survey's failure does not hold up the others)."""
    now = now or utcnow()
    with session_scope(engine, read_only=True) as session:
        survey_ids = list(session.exec(select(RubricVersion.survey_id).distinct()).all())
    opened: list[RubricReview] = []
    for survey_id in survey_ids:
        with session_scope(engine) as session:
            opened += check_survey(session, survey_id=survey_id, now=now, actor=WORKER)
    return opened


def check_survey(
    session: Session, *, survey_id: int, now: datetime, actor: str
) -> list[RubricReview]:
    """Open a review of the survey's newest published version for each trigger that fires
    now and has not fired before; returns the reviews opened."""
    session.exec(select(Survey).where(Survey.id == survey_id).with_for_update()).one()
    version = newest_version(session, survey_id=survey_id)
    if version is None:
        return []
    fired = {r.trigger_key for r in _reviews(session, id_of(version))}
    opened = []
    for trigger in _triggers(session, version, now):
        if trigger.key not in fired:
            opened.append(_open_review(session, version, trigger, actor))
    return opened


def newest_version(session: Session, *, survey_id: int) -> RubricVersion | None:
    return session.exec(
        select(RubricVersion)
        .where(RubricVersion.survey_id == survey_id)
        .order_by(col(RubricVersion.number).desc())
        .limit(1)
    ).first()


def published_factors(record: dict[str, Any]) -> list[Factor]:
    """The factors a published record assumed values for (none in records from before
    factors were declared)."""
    return [Factor.model_validate(f) for f in record.get("context_factors") or []]


def _triggers(session: Session, version: RubricVersion, now: datetime) -> list[_Trigger]:
    assumed: dict[str, Any] = version.record.get("context") or {}
    found: list[_Trigger] = []
    for factor in published_factors(version.record):
        latest = _latest_observation(session, version, factor.key)
        if latest is not None:
            found += _value_triggers(factor, assumed.get(factor.key), latest)
        checked = max(version.published_at.date(), latest.observed_on if latest else date.min)
        due = checked + timedelta(days=factor.review_days)
        if now.date() > due:
            since = "publication" if latest is None else "the latest observation"
            found.append(
                _Trigger(
                    "review_date",
                    factor,
                    f"review_date:{factor.key}:{due.isoformat()}",
                    f"{factor.label}: last checked {checked.isoformat()} ({since}); a "
                    f"{factor.volatility}-volatility factor is reviewed every "
                    f"{factor.review_days} days, so its review was due {due.isoformat()}",
                    None,
                )
            )
    return found


def _value_triggers(
    factor: Factor, assumed: FactorValue, latest: FactorObservation
) -> list[_Trigger]:
    value: FactorValue = latest.value
    seen = f"observed {factor.show(value)} on {latest.observed_on.isoformat()}"
    if latest.source_url:
        seen += f" ({latest.source_url})"
    found = []
    if assumed is not None and value != assumed:
        found.append(
            _Trigger(
                "assumption",
                factor,
                f"assumption:{factor.key}:{_value_key(value)}",
                f"{factor.label}: {seen}; the rubric assumed {factor.show(assumed)}",
                latest.id,
            )
        )
    crossed = factor.indicator.crossed(value) if factor.indicator else None
    if crossed and factor.indicator is not None:
        found.append(
            _Trigger(
                "indicator",
                factor,
                f"indicator:{factor.key}:{_value_key(value)}",
                f"{factor.label}: {seen}; {crossed}, a warning sign: {factor.indicator.signals}",
                latest.id,
            )
        )
    return found


def _value_key(value: FactorValue) -> str:
    """A short stable name of an observed value: a trigger fires once per value observed
    (observing the same new value again adds no second review; a review closed with a
    value known is not reopened by it)."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        value = float(value)  # 2 and 2.0 are one value (JSON columns may give back either)
    canonical = json.dumps(value, sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()[:16]


def _latest_observation(
    session: Session, version: RubricVersion, factor_key: str
) -> FactorObservation | None:
    """The most recent observation of a factor recorded after the version was published."""
    return session.exec(
        select(FactorObservation)
        .where(
            FactorObservation.survey_id == version.survey_id,
            FactorObservation.factor_key == factor_key,
            col(FactorObservation.created_at) > version.published_at,
        )
        .order_by(col(FactorObservation.observed_on).desc(), col(FactorObservation.id).desc())
        .limit(1)
    ).first()


def _open_review(
    session: Session, version: RubricVersion, trigger: _Trigger, actor: str
) -> RubricReview:
    survey_version = session.get(SurveyVersion, version.survey_version_id)
    assert survey_version is not None
    definition = definition_of(survey_version)
    # The items the survey file ties to the factor, and those the panel did (experts asked
    # which factors would change their rating named it for them).
    declared = definition.affected_items(trigger.factor.key)
    named = sensitivity.items_the_panel_ties_to(
        session, round_id=version.round_id, definition=definition, factor_key=trigger.factor.key
    )
    review = RubricReview(
        rubric_version_id=id_of(version),
        trigger_key=trigger.key,
        kind=trigger.kind,
        factor_key=trigger.factor.key,
        reason=trigger.reason,
        observation_id=trigger.observation_id,
        item_keys=[i.key for i in definition.items if i.key in declared or i.key in named],
    )
    session.add(review)
    session.flush()
    slug, title = version.record["survey"]["slug"], version.record["survey"]["title"]
    _event(
        session,
        version,
        "under_review",
        f"{title} v{version.number} is under review",
        trigger.reason,
        review,
    )
    audit.record(
        session,
        actor,
        "rubric.review_opened",
        "rubric",
        f"{slug} v{version.number}",
        trigger=trigger.key,
        factor=trigger.factor.key,
    )
    return review


def _event(
    session: Session,
    version: RubricVersion,
    kind: str,
    title: str,
    summary: str,
    review: RubricReview | None = None,
) -> RubricEvent:
    event = RubricEvent(
        survey_id=version.survey_id,
        rubric_version_id=id_of(version),
        kind=kind,
        title=title[:300],
        summary=summary,
        review_id=review.id if review else None,
    )
    session.add(event)
    session.flush()
    queue_deliveries(session, event)
    return event


def published_event(session: Session, version: RubricVersion) -> RubricEvent:
    """Tell subscribers of a new version (in the publishing transaction)."""
    record = version.record
    summary = f"{record['survey']['title']}: rubric version {version.number} published"
    previous = version.number - 1
    if previous >= 1:
        summary += f"; it supersedes v{previous}"
    return _event(session, version, "published", summary, summary)


# --- closing reviews, re-rating the affected items -----------------------------------------


def close_review(session: Session, *, review_id: int, actor: str, resolution: str) -> RubricReview:
    """Close an open review with what was decided ("the assumption still holds because
    ..."); the version is current again when no review of it is open."""
    resolution = (resolution or "").strip()
    if not resolution:
        raise InvalidInput(
            N_("say how the review was resolved (it is shown on the public page)"),
            field="resolution",
        )
    review = _locked_review(session, review_id)
    if review.closed_at is not None:
        raise Conflict(
            N_("review %(review)s was closed on %(day)s"),
            values={"review": review_id, "day": review.closed_at.date()},
        )
    review.closed_at, review.closed_by = utcnow(), actor
    review.resolution = resolution[:5000]
    session.add(review)
    session.flush()
    version = session.get(RubricVersion, review.rubric_version_id)
    assert version is not None
    label = f"{version.record['survey']['slug']} v{version.number}"
    if not _open(_reviews(session, id_of(version))):
        _event(
            session,
            version,
            "review_closed",
            f"{version.record['survey']['title']} v{version.number} stands again",
            f"Review closed by staff: {review.resolution}",
            review,
        )
    audit.record(session, actor, "rubric.review_closed", "rubric", label, review=review_id)
    return review


def start_review_round(
    session: Session, *, review_id: int, actor: str, name: str | None = None
) -> Round:
    """A draft round on the survey's newest version asking only the items the version's
    open reviews bear on (every open review of the version is linked to it)."""
    from app.services.rounds import create_round

    review = _locked_review(session, review_id)
    if review.closed_at is not None:
        raise Conflict(
            N_("review %(review)s is closed; no round is needed for it"),
            values={"review": review_id},
        )
    version = session.get(RubricVersion, review.rubric_version_id)
    assert version is not None
    open_reviews = _open(_reviews(session, id_of(version)))
    slug = version.record["survey"]["slug"]
    definition = definition_of(get_survey_version(session, slug=slug))
    affected = {k for r in open_reviews for k in r.item_keys}
    items = [i.key for i in definition.items if i.key in affected]
    if not items:
        raise Conflict(
            N_(
                "none of the affected items is in the survey's newest version; load a survey "
                "file that has them"
            )
        )
    factors = ", ".join(dict.fromkeys(r.factor_key for r in open_reviews))
    round_ = create_round(
        session, slug=slug, name=(name or "").strip() or f"Review of v{version.number}: {factors}"
    )
    round_.item_keys = items
    session.add(round_)
    for open_review in open_reviews:
        open_review.round_id = round_.id
        session.add(open_review)
    session.flush()
    audit.record(
        session,
        actor,
        "round.created",
        "round",
        round_.id,
        round_id=round_.id,
        review=review_id,
        items=len(items),
    )
    return round_


def _locked_review(session: Session, review_id: int) -> RubricReview:
    return first_or_not_found(
        session,
        select(RubricReview).where(RubricReview.id == review_id).with_for_update(),
        _no_review(review_id),
    )


def _no_review(review_id: int) -> Message:
    return Message(N_("no review %(review)s"), {"review": review_id})


def _reviews(session: Session, version_id: int) -> list[RubricReview]:
    return list(
        session.exec(
            select(RubricReview)
            .where(RubricReview.rubric_version_id == version_id)
            .order_by(col(RubricReview.id))
        ).all()
    )


def _open(reviews: list[RubricReview]) -> list[RubricReview]:
    return [r for r in reviews if r.closed_at is None]


# --- what pages, the API and the CLI show ---------------------------------------------------


def version_status(session: Session, version: RubricVersion) -> VersionStatus:
    newest = newest_version(session, survey_id=version.survey_id)
    reviews = [_shown_review(version, r) for r in _reviews(session, id_of(version))]
    if newest is not None and newest.number > version.number:
        return VersionStatus(state="superseded", superseded_by=newest.number, reviews=reviews)
    state = "under_review" if any(r.closed_at is None for r in reviews) else "current"
    return VersionStatus(state=state, superseded_by=None, reviews=reviews)


def _shown_review(version: RubricVersion, review: RubricReview) -> ReviewShown:
    labels = {f.key: f.label for f in published_factors(version.record)}
    return ReviewShown.of(
        review,
        survey=version.record["survey"]["slug"],
        version=version.number,
        factor_label=labels.get(review.factor_key, review.factor_key),
    )


def observations(
    session: Session, *, slug: str, factor_key: str | None = None, limit: int | None = 200
) -> list[ObservationShown]:
    """A survey's observations, newest first (of one factor if named)."""
    survey = _survey(session, slug)
    definition = definition_of(get_survey_version(session, slug=slug))
    query = select(FactorObservation).where(FactorObservation.survey_id == survey.id)
    if factor_key is not None:
        query = query.where(FactorObservation.factor_key == factor_key)
    rows = session.exec(
        query.order_by(
            col(FactorObservation.observed_on).desc(), col(FactorObservation.id).desc()
        ).limit(limit)
    ).all()
    return [_shown_observation(definition, row) for row in rows]


def latest_observations(session: Session, *, slug: str) -> dict[str, ObservationShown]:
    """The latest observation of each of the survey's factors, in one query (staff record
    observations by hand: a survey has few)."""
    latest: dict[str, ObservationShown] = {}
    for shown in observations(session, slug=slug, limit=None):
        latest.setdefault(shown.factor_key, shown)
    return latest


def _shown_observation(definition: SurveyDefinition, row: FactorObservation) -> ObservationShown:
    try:
        shown = definition.context.factor(row.factor_key).show(row.value)
    except KeyError:  # a factor a newer survey file no longer declares
        shown = str(row.value)
    return ObservationShown.model_validate({**row.model_dump(), "shown": shown})


def survey_context(session: Session, *, slug: str) -> SurveyContext:
    """The survey's factors (as its newest file declares them) with the newest published
    version's assumptions, the latest observations and the reviews."""
    survey = _survey(session, slug)
    definition = definition_of(get_survey_version(session, slug=slug))
    version = newest_version(session, survey_id=id_of(survey))
    assumed: dict[str, Any] = (version.record.get("context") or {}) if version else {}
    latest_of = latest_observations(session, slug=slug)
    states = []
    for factor in definition.context.factors:
        latest = latest_of.get(factor.key)
        due = None
        if version is not None:
            checked = version.published_at.date()
            if latest is not None and latest.created_at > version.published_at:
                checked = max(checked, latest.observed_on)
            due = checked + timedelta(days=factor.review_days)
        value = assumed.get(factor.key)
        states.append(
            FactorState.of(
                factor,
                volatility=factor.volatility,
                review_every_days=factor.review_days,
                assumed=value,
                assumed_shown=factor.show(value) if version is not None else None,
                latest=latest,
                review_due=due,
                items=definition.affected_items(factor.key),
            )
        )
    return SurveyContext(
        survey=slug,
        title=definition.title,
        version=version.number if version else None,
        factors=states,
        status=version_status(session, version) if version else None,
    )


def review_of(session: Session, *, review_id: int) -> ReviewShown:
    review = session.get(RubricReview, review_id)
    if review is None:
        raise NotFound(_no_review(review_id))
    version = session.get(RubricVersion, review.rubric_version_id)
    assert version is not None
    return _shown_review(version, review)


class CheckedContext(NamedTuple):
    """The context a publication assumes: each factor's value (and ``notes``), and the
    factors' definitions to keep in the record."""

    values: dict[str, FactorValue]
    factors: list[dict[str, Any]]


def checked_context(
    definition: SurveyDefinition, given: dict[str, object] | None
) -> CheckedContext:
    """The values a publication assumes, checked against the survey's factors (each
    normalised; a factor left out is recorded as not stated), plus free-text ``notes``;
    and the factors' definitions to keep in the record."""
    given = dict(given or {})
    notes = given.pop("notes", None)
    factors = definition.context.factors
    unknown = sorted(set(given) - {f.key for f in factors})
    if unknown:
        declared = ", ".join(f.key for f in factors) or Message(N_("none (only notes)"))
        raise InvalidInput(
            N_(
                "survey %(slug)s declares no context factors %(unknown)s; its factors: %(declared)s"
            ),
            field="context",
            values={"slug": repr(definition.slug), "unknown": str(unknown), "declared": declared},
        )
    values: dict[str, FactorValue] = {}
    for factor in factors:
        try:
            values[factor.key] = factor.parse(given.get(factor.key))
        except ValueError as exc:
            raise InvalidInput(_message_of(exc), field=f"context.{factor.key}") from None
    if isinstance(notes, str) and notes.strip():
        values["notes"] = notes.strip()[:20_000]
    elif notes is not None and not isinstance(notes, str):
        raise InvalidInput(N_("context notes are text"), field="context.notes")
    return CheckedContext(values, [f.describe() for f in factors])


class ContextField(FactorDescription):
    """A factor as the publishing form asks for it, pre-filled with the latest observation
    (else the newest version's assumption)."""

    value: str
    source: str


def context_fields(session: Session, *, round_id: int) -> list[ContextField]:
    """The factors of the round's survey version, for the publishing form."""
    from app.services.rounds import get_round, round_definition

    round_ = get_round(session, round_id=round_id)
    definition = round_definition(session, round_)
    survey = _survey(session, definition.slug)
    version = newest_version(session, survey_id=id_of(survey))
    assumed: dict[str, Any] = (version.record.get("context") or {}) if version else {}
    latest_of = latest_observations(session, slug=definition.slug)
    fields = []
    for factor in definition.context.factors:
        latest = latest_of.get(factor.key)
        value: FactorValue = None
        source = "no observation recorded yet"
        if latest is not None:
            value = latest.value
            source = f"observed on {latest.observed_on.isoformat()}"
        elif version is not None and assumed.get(factor.key) is not None:
            value = assumed[factor.key]
            source = f"assumed by v{version.number}"
        text = "" if value is None else f"{value:g}" if isinstance(value, float) else str(value)
        fields.append(
            ContextField.of(
                factor,
                value=text,
                source=source,
            )
        )
    return fields


def _message_of(exc: ValueError) -> str:
    """The sentence a ValueError carries (a :class:`~app.errors.Message` kept as such)."""
    first = exc.args[0] if exc.args else ""
    return first if isinstance(first, str) else str(exc)
