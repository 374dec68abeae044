"""Database tables. Only tables live here; request/response shapes are in ``schemas.py``."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any, Protocol

from sqlalchemy import (
    JSON,
    CheckConstraint,
    Column,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlmodel import Field, SQLModel

# Named constraints so migrations can refer to them on every backend.
SQLModel.metadata = MetaData(
    naming_convention={
        "ix": "ix_%(column_0_label)s",
        "uq": "uq_%(table_name)s_%(column_0_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)


def utcnow() -> datetime:
    return datetime.now(UTC)


class _Stored(Protocol):
    id: int | None


def id_of(row: _Stored) -> int:
    """The primary key of a row that has been stored (added and flushed, or loaded).

    Table models declare ``id: int | None`` because a new row has none until it is
    flushed; code holding a stored row uses this instead of passing ``int | None`` on.
    """
    if row.id is None:
        raise RuntimeError(f"{type(row).__name__} has no id yet: flush it first")
    return row.id


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on every backend (SQLite drops the zone on its own)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given; use timezone-aware UTC datetimes")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


def _ts(*, nullable: bool = False, default: bool = True) -> Any:
    if default:
        return Field(default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=nullable))
    return Field(default=None, sa_column=Column(UTCDateTime(), nullable=nullable))


def _fk(target: str, *, nullable: bool = False, ondelete: str | None = None) -> Any:
    return Field(
        default=None,
        sa_column=Column(
            Integer, ForeignKey(target, ondelete=ondelete), nullable=nullable, index=True
        ),
    )


class User(SQLModel, table=True):
    __tablename__ = "users"
    __table_args__ = (CheckConstraint("role IN ('admin', 'researcher')", name="role"),)

    id: int | None = Field(default=None, primary_key=True)
    email: str = Field(max_length=320, unique=True)
    password_hash: str = Field(max_length=255)
    role: str = Field(max_length=20)
    is_active: bool = True
    created_at: datetime = _ts()
    #: Base32 secret of the optional TOTP second factor (None: not enrolled).
    totp_secret: str | None = Field(default=None, max_length=64)
    password_changed_at: datetime | None = _ts(nullable=True, default=False)
    #: The language of the staff pages for this account (None: the browser's choice).
    language: str | None = Field(default=None, max_length=16)


class PasswordReset(SQLModel, table=True):
    """A one-time link to set a new password: only the token's hash is kept; it expires,
    and using it (or any later password change) ends every session of the account."""

    __tablename__ = "password_resets"

    id: int | None = Field(default=None, primary_key=True)
    user_id: int = _fk("users.id", ondelete="CASCADE")
    token_hash: str = Field(max_length=64, unique=True)
    created_at: datetime = _ts()
    expires_at: datetime = _ts()
    used_at: datetime | None = _ts(nullable=True, default=False)


class Survey(SQLModel, table=True):
    __tablename__ = "surveys"

    id: int | None = Field(default=None, primary_key=True)
    slug: str = Field(max_length=80, unique=True)
    created_at: datetime = _ts()


class SurveyVersion(SQLModel, table=True):
    """One immutable version of a survey definition, numbered 1, 2, ... per survey."""

    __tablename__ = "survey_versions"
    __table_args__ = (
        UniqueConstraint("survey_id", "number", name="uq_survey_versions_survey_id_number"),
        UniqueConstraint(
            "survey_id", "content_sha256", name="uq_survey_versions_survey_id_content"
        ),
    )

    id: int | None = Field(default=None, primary_key=True)
    survey_id: int = _fk("surveys.id")
    number: int
    label: str = Field(max_length=40)
    title: str = Field(max_length=300)
    definition: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
    content_sha256: str = Field(max_length=64)
    source_name: str = Field(max_length=255)
    created_at: datetime = _ts()
    #: Translations that may be stale: their source text changed from the version before
    #: and they did not (file, line, path, message each); None when there are none or
    #: they were confirmed (``elicit survey load --accept-translations``).
    translation_warnings: list[dict[str, Any]] | None = Field(
        default=None, sa_column=Column(JSON, nullable=True)
    )


class Round(SQLModel, table=True):
    __tablename__ = "rounds"
    __table_args__ = (
        CheckConstraint("status IN ('draft', 'open', 'closed')", name="status"),
        CheckConstraint("sequence >= 1", name="sequence"),
    )

    id: int | None = Field(default=None, primary_key=True)
    survey_version_id: int = _fk("survey_versions.id")
    name: str = Field(max_length=200)
    #: Position in a Delphi series (1 for a first round).
    sequence: int = 1
    previous_round_id: int | None = _fk("rounds.id", nullable=True)
    status: str = Field(default="draft", max_length=10)
    closes_at: datetime | None = _ts(nullable=True, default=False)
    #: When the worker opens a draft round by itself (None: an admin opens it).
    opens_at: datetime | None = _ts(nullable=True, default=False)
    #: Days before ``closes_at`` on which those who have not submitted are reminded.
    reminder_days: list[int] | None = Field(default=None, sa_column=Column(JSON, nullable=True))
    opened_at: datetime | None = _ts(nullable=True, default=False)
    closed_at: datetime | None = _ts(nullable=True, default=False)
    #: Consensus criterion and stopping rule, frozen when the round first opens.
    criteria: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON, nullable=True))
    #: Items asked in this round (None: every item of the survey version).
    item_keys: list[str] | None = Field(default=None, sa_column=Column(JSON, nullable=True))
    #: The panel's anonymous feedback from the previous round, fixed when this round is made.
    feedback: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON, nullable=True))
    created_at: datetime = _ts()


class Expert(SQLModel, table=True):
    """A participant, known to analyses only by a pseudonymous code."""

    __tablename__ = "experts"

    id: int | None = Field(default=None, primary_key=True)
    code: str = Field(max_length=20, unique=True)
    organisation: str | None = Field(default=None, max_length=200)
    stakeholder_group: str | None = Field(default=None, max_length=200)
    created_at: datetime = _ts()
    #: When the person's name and e-mail were erased (the code may stay with anonymised
    #: answers; ``services/privacy.py``).
    erased_at: datetime | None = _ts(nullable=True, default=False)


class ExpertContact(SQLModel, table=True):
    """Name and e-mail, kept apart from the pseudonymous expert record."""

    __tablename__ = "expert_contacts"

    expert_id: int = Field(
        sa_column=Column(Integer, ForeignKey("experts.id", ondelete="CASCADE"), primary_key=True)
    )
    name: str = Field(max_length=200)
    email: str = Field(max_length=320, unique=True)


class Invitation(SQLModel, table=True):
    __tablename__ = "invitations"
    __table_args__ = (
        UniqueConstraint("round_id", "expert_id", name="uq_invitations_round_id_expert_id"),
    )

    id: int | None = Field(default=None, primary_key=True)
    round_id: int = _fk("rounds.id")
    expert_id: int = _fk("experts.id")
    #: SHA-256 of the secret token; the token itself is never stored.
    token_hash: str = Field(max_length=64, unique=True)
    created_at: datetime = _ts()
    revoked_at: datetime | None = _ts(nullable=True, default=False)
    last_used_at: datetime | None = _ts(nullable=True, default=False)
    #: The language the expert reads the survey in (one of the survey's ``languages``; the
    #: expert may switch); None: the survey's source language.
    language: str | None = Field(default=None, max_length=16)


class Response(SQLModel, table=True):
    __tablename__ = "responses"
    __table_args__ = (
        UniqueConstraint("round_id", "expert_id", name="uq_responses_round_id_expert_id"),
        CheckConstraint("status IN ('draft', 'submitted')", name="status"),
    )

    id: int | None = Field(default=None, primary_key=True)
    round_id: int = _fk("rounds.id")
    expert_id: int = _fk("experts.id")
    status: str = Field(default="draft", max_length=10)
    consent_at: datetime | None = _ts(nullable=True, default=False)
    #: SHA-256 of the consent text agreed to at ``consent_at`` (its text in ``consent_texts``).
    consent_sha256: str | None = Field(default=None, max_length=64)
    #: When the expert withdrew from the round: their answers and history were deleted then.
    withdrawn_at: datetime | None = _ts(nullable=True, default=False)
    started_at: datetime = _ts()
    updated_at: datetime = _ts()
    submitted_at: datetime | None = _ts(nullable=True, default=False)
    reopened_count: int = 0


class ConsentText(SQLModel, table=True):
    """A consent text experts agreed to, kept once under its SHA-256 (``Response.consent_sha256``
    names it), so the text each expert agreed to can be shown later."""

    __tablename__ = "consent_texts"

    sha256: str = Field(max_length=64, primary_key=True)
    text: str = Field(sa_column=Column(Text, nullable=False))
    created_at: datetime = _ts()


RATING_STATUSES = ("value", "cant_judge", "outside_expertise")
CONFIDENCES = ("low", "medium", "high")


class Rating(SQLModel, table=True):
    """The current answer of one response for one item on one dimension."""

    __tablename__ = "ratings"
    __table_args__ = (
        UniqueConstraint(
            "response_id", "item_key", "dimension_key", name="uq_ratings_response_item_dimension"
        ),
        CheckConstraint("status IN ('value', 'cant_judge', 'outside_expertise')", name="status"),
        CheckConstraint(
            "(status = 'value' AND value IS NOT NULL) OR (status <> 'value' AND value IS NULL)",
            name="value_matches_status",
        ),
        CheckConstraint(
            "confidence IS NULL OR confidence IN ('low', 'medium', 'high')", name="confidence"
        ),
    )

    id: int | None = Field(default=None, primary_key=True)
    response_id: int = _fk("responses.id")
    item_key: str = Field(max_length=64)
    dimension_key: str = Field(max_length=64)
    status: str = Field(max_length=20)
    value: int | None = None
    confidence: str | None = Field(default=None, max_length=10)
    rationale: str = Field(default="", sa_column=Column(Text, nullable=False))
    share_rationale: bool = False
    revision: int = 1
    updated_at: datetime = _ts()
    #: The language the survey was shown in when this answer was saved (None: before
    #: surveys had languages).
    language: str | None = Field(default=None, max_length=16)


class FactorSensitivity(SQLModel, table=True):
    """One response's answer, for one item, to which context factors would change its
    ratings if they changed (asked when the survey has ``context.sensitivity_question``)."""

    __tablename__ = "factor_sensitivities"
    __table_args__ = (
        UniqueConstraint("response_id", "item_key", name="uq_factor_sensitivities_response_item"),
    )

    id: int | None = Field(default=None, primary_key=True)
    response_id: int = _fk("responses.id")
    item_key: str = Field(max_length=64)
    #: The factors' keys, sorted; empty: the expert said none of them would.
    factors: list[str] = Field(sa_column=Column(JSON, nullable=False))
    updated_at: datetime = _ts()
    #: The language the survey was shown in when this answer was saved.
    language: str | None = Field(default=None, max_length=16)


class RatingChange(SQLModel, table=True):
    """Append-only history: one row per saved state of a rating (triggers refuse edits)."""

    __tablename__ = "rating_changes"

    id: int | None = Field(default=None, primary_key=True)
    rating_id: int = _fk("ratings.id")
    response_id: int = _fk("responses.id")
    item_key: str = Field(max_length=64)
    dimension_key: str = Field(max_length=64)
    revision: int
    status: str = Field(max_length=20)
    value: int | None = None
    confidence: str | None = Field(default=None, max_length=10)
    rationale: str = Field(default="", sa_column=Column(Text, nullable=False))
    share_rationale: bool = False
    changed_by: str = Field(max_length=20)
    changed_at: datetime = _ts()
    #: The language the survey was shown in when this state was saved (None: saved before
    #: the history kept languages).
    language: str | None = Field(default=None, max_length=16)


class WebSession(SQLModel, table=True):
    """A signed-in browser or API client: either a staff user or an invited expert."""

    __tablename__ = "web_sessions"
    __table_args__ = (
        CheckConstraint("(user_id IS NULL) <> (invitation_id IS NULL)", name="one_subject"),
    )

    id: int | None = Field(default=None, primary_key=True)
    token_hash: str = Field(max_length=64, unique=True)
    user_id: int | None = _fk("users.id", nullable=True, ondelete="CASCADE")
    invitation_id: int | None = _fk("invitations.id", nullable=True, ondelete="CASCADE")
    csrf_token: str = Field(max_length=64)
    created_at: datetime = _ts()
    expires_at: datetime = _ts(default=False)


class RubricVersion(SQLModel, table=True):
    """A published, immutable calibrated rubric (triggers refuse edits and deletes)."""

    __tablename__ = "rubric_versions"
    __table_args__ = (
        UniqueConstraint("survey_id", "number", name="uq_rubric_versions_survey_id_number"),
    )

    id: int | None = Field(default=None, primary_key=True)
    survey_id: int = _fk("surveys.id")
    number: int
    survey_version_id: int = _fk("survey_versions.id")
    round_id: int = _fk("rounds.id")
    #: The whole published record, as canonical JSON is computed from it.
    record: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
    #: SHA-256 of the record's canonical JSON.
    digest: str = Field(max_length=64)
    published_by_id: int = _fk("users.id")
    published_at: datetime = _ts()


class AuthFailure(SQLModel, table=True):
    """A failed sign-in or invitation-token attempt, counted to slow down guessing.

    ``key`` is a SHA-256 of what was attempted ("account:<e-mail>", "address:<ip>", ...), so
    the table holds no e-mail address or token in clear. Rows older than the throttling
    window are deleted as new failures come in.
    """

    __tablename__ = "auth_failures"
    __table_args__ = (Index("ix_auth_failures_key_failed_at", "key", "failed_at"),)

    id: int | None = Field(default=None, primary_key=True)
    key: str = Field(max_length=64)
    failed_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False, index=True)
    )


class OutboxMessage(SQLModel, table=True):
    """An e-mail to send (the outbox): written in the same transaction as the action that
    causes it, sent afterwards by the mail worker, kept as the record of what was sent.

    ``status``: queued -> sending (claimed by one worker until ``lease_until``) -> sent, or
    back to queued after a failure (``next_attempt_at`` later each time), or failed for good.
    ``message_id`` stays the same through retries, so a copy sent twice (a worker stopped
    between the server's acceptance and the record of it) is recognisable as the same mail.
    """

    __tablename__ = "outbox"
    __table_args__ = (
        CheckConstraint("status IN ('queued', 'sending', 'sent', 'failed')", name="status"),
        CheckConstraint(
            "kind IN ('invitation', 'reminder', 'receipt', 'password_reset')", name="kind"
        ),
        Index("ix_outbox_status_next_attempt_at", "status", "next_attempt_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    kind: str = Field(max_length=20)
    round_id: int | None = _fk("rounds.id", nullable=True)
    invitation_id: int | None = _fk("invitations.id", nullable=True)
    to_address: str = Field(max_length=320)
    subject: str = Field(max_length=300)
    body: str = Field(sa_column=Column(Text, nullable=False))
    message_id: str = Field(max_length=200, unique=True)
    status: str = Field(default="queued", max_length=10)
    attempts: int = 0
    next_attempt_at: datetime = _ts()
    lease_until: datetime | None = _ts(nullable=True, default=False)
    last_error: str = Field(default="", sa_column=Column(Text, nullable=False))
    created_at: datetime = _ts()
    sent_at: datetime | None = _ts(nullable=True, default=False)


class RoundEvent(SQLModel, table=True):
    """A scheduled step of a round that the worker carried out: opening, a reminder, closing.

    One row per (round, kind), inserted in the transaction that does the step, so a step is
    done once however many workers run and however often they look."""

    __tablename__ = "round_events"
    __table_args__ = (UniqueConstraint("round_id", "kind", name="uq_round_events_round_id_kind"),)

    id: int | None = Field(default=None, primary_key=True)
    round_id: int = _fk("rounds.id", ondelete="CASCADE")
    #: "open", "close" or "remind:N" (N days before the closing time).
    kind: str = Field(max_length=30)
    due_at: datetime = _ts()
    done_at: datetime = _ts()
    detail: str = Field(default="", sa_column=Column(Text, nullable=False))


class AuditEntry(SQLModel, table=True):
    """One action of staff (or of the worker on their behalf): who, what, on what, when.

    Append-only: nothing in the application updates or deletes these rows."""

    __tablename__ = "audit_log"
    __table_args__ = (Index("ix_audit_log_at", "at"),)

    id: int | None = Field(default=None, primary_key=True)
    at: datetime = _ts()
    #: The staff member's e-mail, "cli" for the command line, "worker" for the scheduler.
    actor: str = Field(max_length=320)
    action: str = Field(max_length=60)
    target_type: str = Field(max_length=30)
    target_id: str | None = Field(default=None, max_length=80)
    round_id: int | None = _fk("rounds.id", nullable=True)
    details: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON, nullable=True))


class FactorObservation(SQLModel, table=True):
    """What staff observed of a survey's context factor: the value, when, and the source.

    Append-only: a correction is a newer observation."""

    __tablename__ = "factor_observations"
    __table_args__ = (
        Index("ix_factor_observations_survey_factor", "survey_id", "factor_key", "observed_on"),
    )

    id: int | None = Field(default=None, primary_key=True)
    survey_id: int = _fk("surveys.id")
    factor_key: str = Field(max_length=64)
    #: The value as the factor's type has it (a choice's key, a number, an ISO date, text).
    value: Any = Field(sa_column=Column(JSON, nullable=True))
    observed_on: date
    source_url: str = Field(default="", max_length=2000)
    note: str = Field(default="", sa_column=Column(Text, nullable=False))
    recorded_by: str = Field(max_length=320)
    created_at: datetime = _ts()


class RubricReview(SQLModel, table=True):
    """A trigger that fired for a published version: while it is open the version is
    "under review" on its public page. One row per (version, trigger), so a trigger checked
    again, by the worker or another observation, fires once."""

    __tablename__ = "rubric_reviews"
    __table_args__ = (
        UniqueConstraint(
            "rubric_version_id", "trigger_key", name="uq_rubric_reviews_version_trigger"
        ),
        CheckConstraint("kind IN ('assumption', 'review_date', 'indicator')", name="kind"),
    )

    id: int | None = Field(default=None, primary_key=True)
    rubric_version_id: int = _fk("rubric_versions.id")
    #: What fired: kind, factor and the value observed (a hash) or the date due, e.g.
    #: "review_date:legal_powers:2027-06-01".
    trigger_key: str = Field(max_length=200)
    kind: str = Field(max_length=20)
    factor_key: str = Field(max_length=64)
    reason: str = Field(sa_column=Column(Text, nullable=False))
    observation_id: int | None = _fk("factor_observations.id", nullable=True)
    #: The items whose tiers the factor bears on.
    item_keys: list[str] = Field(sa_column=Column(JSON, nullable=False))
    opened_at: datetime = _ts()
    closed_at: datetime | None = _ts(nullable=True, default=False)
    closed_by: str | None = Field(default=None, max_length=320)
    resolution: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    #: The round started to re-rate the affected items, if one was.
    round_id: int | None = _fk("rounds.id", nullable=True)


class RubricEvent(SQLModel, table=True):
    """Something subscribers are told about: a version published, a review opened or
    closed. The Atom feed lists these; each is delivered to the webhooks subscribed."""

    __tablename__ = "rubric_events"
    __table_args__ = (
        CheckConstraint("kind IN ('published', 'under_review', 'review_closed')", name="kind"),
    )

    id: int | None = Field(default=None, primary_key=True)
    survey_id: int = _fk("surveys.id")
    rubric_version_id: int = _fk("rubric_versions.id")
    kind: str = Field(max_length=20)
    title: str = Field(max_length=300)
    summary: str = Field(sa_column=Column(Text, nullable=False))
    review_id: int | None = _fk("rubric_reviews.id", nullable=True)
    created_at: datetime = _ts()


class WebhookSubscription(SQLModel, table=True):
    """An address told of rubric events (all surveys', or one survey's), each request
    signed with HMAC-SHA256 under ``secret``, which the subscriber also holds."""

    __tablename__ = "webhook_subscriptions"

    id: int | None = Field(default=None, primary_key=True)
    url: str = Field(max_length=2000)
    #: The shared signing key (it has to be kept to sign; it is shown once, when created).
    secret: str = Field(max_length=128)
    survey_id: int | None = _fk("surveys.id", nullable=True)
    active: bool = True
    created_by: str = Field(max_length=320)
    created_at: datetime = _ts()


class WebhookDelivery(SQLModel, table=True):
    """One event to deliver to one subscription (an outbox, like the e-mail one):
    queued -> sending (leased) -> sent, or queued again later, or failed for good."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        UniqueConstraint(
            "subscription_id", "event_id", name="uq_webhook_deliveries_subscription_event"
        ),
        CheckConstraint("status IN ('queued', 'sending', 'sent', 'failed')", name="status"),
        Index("ix_webhook_deliveries_status_next_attempt_at", "status", "next_attempt_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    subscription_id: int = _fk("webhook_subscriptions.id", ondelete="CASCADE")
    event_id: int = _fk("rubric_events.id")
    status: str = Field(default="queued", max_length=10)
    attempts: int = 0
    next_attempt_at: datetime = _ts()
    lease_until: datetime | None = _ts(nullable=True, default=False)
    response_status: int | None = None
    last_error: str = Field(default="", sa_column=Column(Text, nullable=False))
    sent_at: datetime | None = _ts(nullable=True, default=False)


class QuantileAnswer(SQLModel, table=True):
    """The current answer of one response to one quantity question: three quantiles."""

    __tablename__ = "quantile_answers"
    __table_args__ = (
        UniqueConstraint(
            "response_id", "question_key", name="uq_quantile_answers_response_question"
        ),
        CheckConstraint("q05 < q50 AND q50 < q95", name="increasing"),
    )

    id: int | None = Field(default=None, primary_key=True)
    response_id: int = _fk("responses.id")
    question_key: str = Field(max_length=64)
    q05: float
    q50: float
    q95: float
    revision: int = 1
    updated_at: datetime = _ts()
    #: The language the survey was shown in when this answer was saved.
    language: str | None = Field(default=None, max_length=16)


class QuantileAnswerChange(SQLModel, table=True):
    """Append-only history of quantile answers, as ``RatingChange`` is of ratings (deleted
    only with a withdrawn response)."""

    __tablename__ = "quantile_answer_changes"

    id: int | None = Field(default=None, primary_key=True)
    answer_id: int = _fk("quantile_answers.id")
    response_id: int = _fk("responses.id")
    question_key: str = Field(max_length=64)
    revision: int
    q05: float
    q50: float
    q95: float
    changed_by: str = Field(max_length=20)
    changed_at: datetime = _ts()
