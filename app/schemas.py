"""Request and response shapes of the JSON API (one family of names per entity)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    EmailStr,
    Field,
    StrictInt,
    StringConstraints,
)

# The input types the services take live in app.inputs; the API's request shapes are built
# from them, and they are part of this module's public names for the API's callers.
from app.inputs import Confidence as Confidence
from app.inputs import Input
from app.inputs import InviteeCreate as InviteeCreate
from app.inputs import Language as Language
from app.inputs import RatingInput as RatingInput
from app.inputs import RatingStatus as RatingStatus
from app.inputs import SensitivityInput as SensitivityInput
from app.inputs import Text as Text
from app.inputs import text_problem as text_problem
from app.services.audit import RatingHistoryEntry
from app.services.invitations import InvitationSummary
from app.services.rounds import PanelProgress
from app.services.schedule import Schedule, Step, StepDone
from app.services.webhooks import CreatedSubscription, DeliveryShown, Subscription

#: Largest id, version or rubric number the database holds (PostgreSQL's INTEGER; SQLite's
#: range is wider, so the narrower one rules).
DB_INT_MAX = 2**31 - 1
#: Seeds of the bootstrap: what numpy's legacy generators and most tools accept.
SEED_MAX = 2**32 - 1

Role = Literal["admin", "researcher"]

_In = Input


class _Out(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class LoginRequest(_In):
    email: Text = Field(max_length=320, examples=["admin@example.org"])
    password: Text = Field(max_length=1000)
    code: Text | None = Field(
        default=None,
        max_length=12,
        description="The current 6-digit code of an account with a second factor (TOTP)",
        examples=["123456"],
    )


class LoginPublic(_Out):
    token: str
    role: Role
    email: str


class UserCreate(_In):
    email: EmailStr
    password: Text | None = Field(
        default=None,
        min_length=12,
        max_length=1000,
        description="Omitted: the new colleague is e-mailed a link to set their own",
    )
    role: Role


class UserUpdate(_In):
    role: Role | None = None
    is_active: bool | None = Field(
        default=None, description="false ends every session of the account at once"
    )


class UserPublic(_Out):
    id: int
    email: str
    role: Role
    is_active: bool


class UserAccount(UserPublic):
    """A staff account as admins see it (never a secret)."""

    totp_enabled: bool
    created_at: datetime
    password_changed_at: datetime | None
    last_signed_in_at: datetime | None = Field(description="Start of its newest live session")


class PasswordResetSent(_Out):
    """A one-time link was queued by e-mail; the link itself is never shown."""

    email: str
    expires_at: datetime


class StaffLanguage(_In):
    """A staff member's language for their pages (null: the browser's)."""

    language: Literal["en", "fr", "ar"] | None = Field(
        description="One of the languages the interface is shipped in; null follows the "
        "browser's (Accept-Language)",
        examples=["fr"],
    )


class PasswordChange(_In):
    current_password: Text = Field(max_length=1000)
    new_password: Text = Field(min_length=12, max_length=1000)


class AuditEntryPublic(_Out):
    id: int
    at: datetime
    actor: str = Field(description='E-mail of the staff member, or "cli"')
    action: str = Field(examples=["round.opened"])
    target_type: str
    target_id: str | None
    round_id: int | None
    details: dict[str, Any]


class AuditPagePublic(_Out):
    """Newest first; pass `next_before` as `before` for the next page (null: no more)."""

    entries: list[AuditEntryPublic]
    next_before: int | None


class RatingChangePublic(RatingHistoryEntry, _Out):
    """One saved state of one expert's rating."""


class SurveyLoad(_In):
    """A survey file's text (YAML) and the name to report errors against."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "filename": "surveys/my-survey.yaml",
                    "content": 'slug: my-survey\nversion: "1.0"\n...',
                }
            ]
        },
    )

    filename: Text = Field(max_length=255, examples=["surveys/my-survey.yaml"])
    content: Text = Field(max_length=1_000_000)
    accept_translations: bool = Field(
        default=False,
        description="The translations were checked: keep no stale-translation warnings "
        "(and clear those of an unchanged version)",
    )


class SurveyVersionPublic(_Out):
    id: int
    slug: str
    number: int
    label: str
    title: str
    content_sha256: str
    created_at: datetime


class SurveyVersionLoaded(SurveyVersionPublic):
    created: bool = Field(description="False when the same content was already loaded")
    warnings: list[str] = Field(
        default=[],
        description="Translations that may be stale: 'file:line path: source changed, "
        "translation unchanged: check translations.fr.items.x.label'",
    )


class SurveyVersionDetail(SurveyVersionPublic):
    definition: dict[str, Any]


class RoundCreate(_In):
    survey: Text = Field(
        max_length=200, description="Survey slug", examples=["aisi-information-sharing"]
    )
    version: int | None = Field(
        default=None, ge=1, le=DB_INT_MAX, description="Survey version number; newest if omitted"
    )
    name: Text = Field(min_length=1, max_length=200, examples=["Round 1"])
    closes_at: datetime | None = None


class RoundPublic(_Out):
    id: int
    survey_version_id: int
    survey: str
    survey_version: int
    name: str
    sequence: int
    status: Literal["draft", "open", "closed"]
    closes_at: datetime | None
    opened_at: datetime | None
    closed_at: datetime | None
    criteria: dict[str, Any] | None
    opens_at: datetime | None = Field(
        default=None, description="When the worker opens the draft round (UTC)"
    )
    reminder_days: list[int] | None = Field(
        default=None, description="Days before the closing time on which reminders go out"
    )


def _utc_if_naive(value: datetime | None) -> datetime | None:
    return value.replace(tzinfo=UTC) if value is not None and value.tzinfo is None else value


#: A time given with its offset (or Z); a time without one is taken as UTC.
UtcTime = Annotated[datetime, AfterValidator(_utc_if_naive)]


class RoundSchedule(_In):
    opens_at: UtcTime | None = Field(
        default=None,
        description="When the worker opens the draft round; null: an admin opens it",
        examples=["2026-12-01T09:00:00+01:00"],
    )
    closes_at: UtcTime | None = Field(
        default=None,
        description="When the worker closes the round; null for no closing time",
        examples=["2026-12-31T18:00:00Z"],
    )
    reminder_days: list[StrictInt] = Field(
        default_factory=list,
        max_length=50,
        description="Days before the closing time on which those who have not submitted are "
        "reminded (each once, at most 10)",
        examples=[[7, 2]],
    )


class SchedulePublic(Schedule, _Out):
    pass


class StepPublic(Step, _Out):
    pass


class StepDonePublic(StepDone, _Out):
    pass


class RoundSchedulePublic(RoundPublic):
    """A round with its schedule, the steps the worker did and the next one."""

    schedule: SchedulePublic
    steps_done: list[StepDonePublic]
    next_step: StepPublic | None


class RoundUpdate(_In):
    closes_at: datetime | None = Field(
        description="When the round stops accepting answers (UTC); null for no closing time",
        examples=["2026-12-31T18:00:00Z"],
    )


class NextRoundCreate(_In):
    version: int | None = Field(
        default=None,
        ge=1,
        le=DB_INT_MAX,
        description="A revised survey version whose keys match; same if omitted",
    )
    name: Text | None = Field(default=None, max_length=200, examples=["Round 2"])


class InvitationsCreate(_In):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "invitees": [
                        {
                            "name": "Ada Lovelace",
                            "email": "ada@example.org",
                            "organisation": "UK AISI",
                            "stakeholder_group": "government",
                            "language": "fr",
                        }
                    ]
                }
            ]
        },
    )

    invitees: list[InviteeCreate] = Field(min_length=1, max_length=5000)


class InvitationIssued(_Out):
    """Shown once: the token cannot be recovered later, only re-issued."""

    invitation_id: int
    expert_code: str
    name: str
    email: str
    url: str


class InvitationPublic(InvitationSummary, _Out):
    response_status: Literal["not_started", "draft", "submitted", "withdrawn"]


class MailPreviewPublic(_Out):
    """An e-mail as an expert of the round would read it."""

    kind: Literal["invitation", "reminder", "receipt"]
    to_address: str
    subject: str
    body: str
    from_survey_file: bool


class MailStatusPublic(_Out):
    """The latest e-mail of one invitation."""

    invitation_id: int
    expert_code: str
    to_address: str
    kind: Literal["invitation", "reminder", "receipt"]
    status: Literal["queued", "sending", "sent", "failed"]
    attempts: int
    sent_at: datetime | None
    last_error: str


class RemindedPublic(_Out):
    invitation_id: int
    expert_code: str
    to_address: str


class RemindersQueued(_Out):
    """Reminders queued for the worker; each expert's new link goes by e-mail only."""

    round_id: int
    queued: int
    reminded: list[RemindedPublic]


class NextRoundPublic(_Out):
    round: RoundPublic
    invitations: list[InvitationIssued]


class RoundProgress(PanelProgress, _Out):
    pass


class LanguageChoice(_In):
    language: Language = Field(examples=["fr"])


class ExpertLanguage(_Out):
    """The language the expert reads the survey in, and the languages it is given in."""

    language: str
    languages: list[str]


class RatingsSave(_In):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "ratings": [
                        {
                            "item": "model_weights",
                            "dimension": "proprietary",
                            "value": 5,
                            "confidence": "high",
                            "rationale": "Core trade secret",
                            "share_rationale": True,
                        },
                        {"item": "model_weights", "dimension": "misuse", "status": "cant_judge"},
                    ]
                }
            ]
        },
    )

    ratings: list[RatingInput] = Field(min_length=1, max_length=5000)


class RatingPublic(_Out):
    item: str
    dimension: str
    status: RatingStatus
    value: int | None
    confidence: Confidence | None
    rationale: str
    share_rationale: bool
    revision: int
    updated_at: datetime
    #: The language the survey was shown in when the answer was saved.
    language: str | None = None


class SensitivityPublic(_Out):
    item: str
    #: The factors that would change the rating; empty: none of them would.
    factors: list[str]
    updated_at: datetime
    language: str | None = None

    @classmethod
    def of(cls, row: Any) -> SensitivityPublic:
        """From a stored answer (``FactorSensitivity``)."""
        return cls(
            item=row.item_key, factors=row.factors, updated_at=row.updated_at, language=row.language
        )


class ResponsePublic(_Out):
    round_id: int
    expert_code: str
    status: Literal["draft", "submitted"]
    consent_given: bool
    submitted_at: datetime | None
    answered: int
    expected: int
    missing: list[dict[str, str]]
    ratings: list[RatingPublic]
    #: Per item, which context factors would change your rating (when the survey asks).
    factor_sensitivities: list[SensitivityPublic] = []


class ErrorPublic(BaseModel):
    detail: str
    field: str | None = None


ContextKey = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]*$", max_length=64)]
ContextValue = Annotated[str, StringConstraints(max_length=20_000)] | float | None


class PublishRequest(_In):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "context": {
                        "company_relations": "moderate",
                        "network_members": 10,
                        "notes": "Voluntary access agreements in force",
                    },
                    "justification": None,
                    "n_bootstrap": 1000,
                    "seed": 0,
                }
            ]
        },
    )

    context: dict[ContextKey, ContextValue] = Field(
        default_factory=dict,
        max_length=60,
        description="The value the rubric assumes for each of the survey's context factors "
        "(a choice's key, a number, a YYYY-MM-DD date or text), and free-text `notes`; a "
        "factor left out is recorded as not stated",
    )
    justification: Text | None = Field(
        default=None,
        max_length=20_000,
        description="Required when a rule dimension's alpha is below the survey's minimum",
    )
    n_bootstrap: int = Field(default=1000, ge=100, le=10_000)
    seed: int = Field(default=0, ge=0, le=SEED_MAX)
    weighting: Literal["equal", "performance", "severity"] = Field(
        default="equal",
        description="How the experts count in the items' tiers: equally, by Cooke's "
        "performance weights from the seed questions, or by severity-adjusted scores",
    )


class RubricPublished(_Out):
    survey: str
    number: int
    digest: str
    url: str


# --- webhook subscriptions ------------------------------------------------------------------


class WebhookCreate(_In):
    url: Text = Field(
        min_length=1,
        max_length=2000,
        examples=["https://hooks.example.org/elicit"],
        description="The subscriber's public http(s) address; each request to it is signed",
    )
    survey: Text | None = Field(
        default=None,
        max_length=80,
        examples=["aisi-information-sharing"],
        description="Only this survey's events; left out, every survey's",
    )


class WebhookPublic(Subscription, _Out):
    """A webhook subscription (its secret is never shown again)."""


class WebhookCreated(CreatedSubscription, _Out):
    """A subscription just made. `secret` signs every request (`X-Elicit-Signature`): it is
    shown this once, so keep it where the subscriber checks signatures."""


class WebhookDeliveryPublic(DeliveryShown, _Out):
    """One rubric event delivered, or being delivered, to one subscriber."""
