"""Settings, read from the environment (prefix-free names) or passed in by tests."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from platformdirs import user_data_dir
from pydantic import AliasChoices, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


def default_database_url() -> str:
    """SQLite file in the user's data directory (``~/.local/share/elicit/elicit.db`` on Linux)."""
    directory = Path(user_data_dir("elicit", appauthor=False))
    return f"sqlite:///{directory / 'elicit.db'}"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=None, extra="ignore")

    #: SQLAlchemy URL. ``postgresql://`` URLs use psycopg 3.
    database_url: str = Field(default_factory=default_database_url)
    #: The public base URL used to build invitation links (no trailing slash).
    base_url: str = "http://127.0.0.1:8000"
    #: Let ``serve`` listen on a public interface while links point to this machine itself
    #: (a container tried out on one's own computer). Off: ``serve`` refuses, since nobody
    #: else could open such a link.
    allow_local_links: bool = False
    #: Mark cookies Secure (set when served over HTTPS).
    secure_cookies: bool = False
    #: Lifetime of an expert or staff session, in hours.
    session_hours: int = 24 * 14
    #: Largest request body accepted, in bytes.
    max_body_bytes: int = 1024 * 1024
    #: Directory holding the built-in survey files.
    surveys_dir: Path | None = None
    #: Database connections each worker process keeps (PostgreSQL); also how many requests
    #: one worker lets talk to the database at once. The rest wait their turn (see below).
    db_pool_size: int = Field(default=10, ge=1, le=200)
    #: Requests that may wait for a turn in one worker; beyond that the answer is 503 at once.
    max_queue: int = Field(default=200, ge=0, le=100_000)
    #: Seconds a request may wait for its turn and for database locks before it is answered
    #: 503 with Retry-After (the expert pages retry by themselves).
    request_timeout: float = Field(default=10.0, gt=0, le=600)
    #: Seconds an expert's or a page's request may wait for its turn when a worker is busy;
    #: a request that would wait longer gets 503 with Retry-After at once (the pages retry),
    #: so under overload an answer is either quick or a prompt "come back".
    queue_wait: float = Field(default=0.5, gt=0, le=600)
    #: Processes each worker starts (on first use) to compute reports and calibrations
    #: away from the requests it serves; 0 computes inside the request.
    compute_processes: int = Field(default=1, ge=0, le=16)
    #: SMTP server for e-mail to the panel: ``smtp://user:password@host:587`` (STARTTLS) or
    #: ``smtps://user:password@host:465``. Unset: messages are written as .eml files into
    #: ``mail_dir`` instead.
    smtp_url: str | None = Field(
        default=None, validation_alias=AliasChoices("elicit_smtp_url", "smtp_url")
    )
    #: SMTP user and password, when they are not in ``smtp_url`` (a password with
    #: characters a URL would need escaped, or one kept in a secret store of its own).
    smtp_user: str | None = Field(
        default=None, validation_alias=AliasChoices("elicit_smtp_user", "smtp_user")
    )
    smtp_password: SecretStr | None = Field(
        default=None, validation_alias=AliasChoices("elicit_smtp_password", "smtp_password")
    )
    #: Sender address of e-mail to the panel.
    mail_from: str = Field(
        default="elicit <noreply@localhost>",
        validation_alias=AliasChoices("elicit_mail_from", "mail_from"),
    )
    #: Where messages go as .eml files when no SMTP server is set.
    mail_dir: Path = Field(
        default_factory=lambda: Path(user_data_dir("elicit", appauthor=False)) / "mail",
        validation_alias=AliasChoices("elicit_mail_dir", "mail_dir"),
    )
    #: Send queued e-mail from inside each web worker (``elicit serve`` and ``elicit demo``
    #: switch it on unless given ``--no-mail-worker``; ``elicit worker`` is the alternative).
    mail_worker: bool = False
    #: Worker processes ``elicit serve`` starts when ``--workers`` is not given.
    workers: int = Field(default=1, ge=1, le=64)
    #: Admins must use a second factor (TOTP): one without it is sent to set it up on the
    #: account page before anything else, and cannot sign in to the API.
    require_admin_totp: bool = Field(
        default=False,
        validation_alias=AliasChoices("elicit_require_admin_totp", "require_admin_totp"),
    )
    #: Days after a round closes when the worker erases the name and e-mail of its experts
    #: who take part in no later round (their anonymised answers stay). Unset: kept until
    #: an admin erases them (``elicit person erase``) or runs ``elicit person purge``.
    retention_days: int | None = Field(default=None, ge=1, le=36_500)
    #: Who experts contact about their personal data (an e-mail address or a sentence);
    #: shown on the privacy page when set.
    privacy_contact: str | None = Field(default=None, max_length=300)
    #: Let webhook subscriptions point at loopback, private or link-local addresses (a
    #: receiver on this machine or the internal network). Off: such addresses are refused
    #: when a subscription is made and again at each delivery, so the server cannot be made
    #: to call into its own network.
    webhook_allow_private: bool = Field(
        default=False,
        validation_alias=AliasChoices("elicit_webhook_allow_private", "webhook_allow_private"),
    )

    @field_validator("database_url")
    @classmethod
    def _psycopg3(cls, value: str) -> str:
        # Plain postgresql:// would pick psycopg2, which we do not install.
        for prefix in ("postgresql://", "postgres://"):
            if value.startswith(prefix):
                return "postgresql+psycopg://" + value[len(prefix) :]
        return value

    @field_validator("base_url")
    @classmethod
    def _no_trailing_slash(cls, value: str) -> str:
        return value.rstrip("/")


@lru_cache
def get_settings() -> Settings:
    return Settings()
