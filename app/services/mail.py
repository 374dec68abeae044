"""E-mail to the panel through an outbox: queued with the action that causes it, sent by a
worker, retried with backoff, recorded.

Why an outbox: an invitation is created in a database transaction, and its e-mail must go
out if and only if that transaction commits. Sending from inside the transaction would mail
people about invitations that a later error rolls back, and would hold the transaction open
while an SMTP server answers; sending after it would lose the mail when the process stops
in between. So the message is written to ``outbox`` in the same transaction, and
:func:`deliver_due` sends what is due, from any number of workers or replicas:

* a worker *claims* due rows in a short transaction (``FOR UPDATE SKIP LOCKED`` on
  PostgreSQL, so two workers never claim the same row; SQLite has one writer at a time),
  marking them ``sending`` with a lease, then sends with no transaction open;
* each result is recorded in its own transaction: ``sent``, or back to ``queued`` with the
  next attempt 1, 2, 4 ... minutes later (at most an hour), or ``failed`` after
  ``QUEUE.retry.max_attempts`` attempts (:data:`app.services.outbox.MAX_ATTEMPTS`) or at
  once when the server refuses the address for good (5xx);
* a worker that stops after claiming leaves the lease to run out; the row is then due
  again. SMTP gives no way to make "accepted by the server" and "recorded as sent" one
  step, so a worker stopped exactly between them sends that message again, with the same
  ``Message-ID``, by which mail systems and readers recognise the copy. Nothing is lost.

Without an SMTP server configured, messages are written as ``.eml`` files into a folder
(``ELICIT_MAIL_DIR``): the same outbox and worker, a different transport.
"""

from __future__ import annotations

import logging
import secrets
import smtplib
import ssl
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from pathlib import Path
from typing import TYPE_CHECKING, Protocol
from urllib.parse import unquote, urlsplit

from pydantic import SecretStr
from sqlalchemy.engine import Engine
from sqlalchemy.exc import OperationalError
from sqlmodel import Session, col, func, select

from app import i18n
from app.config import Settings, get_settings
from app.db import session_scope
from app.errors import InvalidInput, Message, RoundNotOpen
from app.i18n import N_
from app.inputs import InviteeCreate
from app.models import (
    Expert,
    ExpertContact,
    Invitation,
    OutboxMessage,
    Response,
    Round,
    User,
    id_of,
    utcnow,
)
from app.services import outbox
from app.services.invitations import (
    IssuedInvitation,
    invite_experts,
    list_invitations,
    reissue_invitation,
)
from app.services.responses import load_response_state
from app.services.rounds import (
    get_round,
    locked_round,
    round_cells,
    round_definition,
    round_progress,
)
from app.survey_files import SurveyDefinition, mail_environment

if TYPE_CHECKING:  # the schedule queues its reminders through this module
    from app.services.schedule import StepDone
    from app.services.webhooks import Delivered

_log = logging.getLogger("elicit.mail")

#: How messages are claimed and tried again: as webhook deliveries are.
QUEUE = outbox.Queue(OutboxMessage)


# --- what is sent -------------------------------------------------------------------------

# Sandboxed: the texts are data (a survey file may carry its own), never code.
_TEMPLATES = mail_environment()

# The built-in texts are translated through the interface's catalogues (N_ marks them).
INVITATION_SUBJECT = N_("Invitation: {{ survey_title }}")
INVITATION_BODY = N_("""\
Dear {{ name }},

you are invited to take part in an expert panel: {{ survey_title }} ({{ round_name }}).

Your personal link (please do not share it; it signs you in):

    {{ link }}
{% if closes_at %}
The round closes on {{ closes_at }}.
{% endif %}
You can stop and continue later: open the same link again, on any device.

Thank you.
""")

REMINDER_SUBJECT = N_("Reminder: {{ survey_title }}")
REMINDER_BODY = N_("""\
Dear {{ name }},

a reminder about the expert panel {{ survey_title }} ({{ round_name }}): so far you have
answered {{ answered }} of {{ expected }} questions, and your answers are not submitted yet.
{% if closes_at %}
The round closes on {{ closes_at }}.
{% endif %}
Your personal link (it replaces the one we sent earlier, which no longer works; please do
not share it, it signs you in):

    {{ link }}

Your answers so far are kept: the link takes you back to where you stopped.

Thank you.
""")


class Transport(Protocol):
    """Hands one message to the outside world; raises on failure."""

    def send(self, message: EmailMessage) -> None: ...


class PermanentFailure(Exception):
    """The server refused the message for good (a 5xx reply): no point in retrying."""


def render(template: str, **context: object) -> str:
    return _TEMPLATES.from_string(template).render(**context)


@dataclass(frozen=True)
class Sender:
    """Whom the panel's e-mail comes from, and the public address its links point to."""

    base_url: str
    mail_from: str

    @classmethod
    def of(cls, settings: Settings) -> Sender:
        return cls(base_url=settings.base_url, mail_from=settings.mail_from)


def queue_invitations(
    session: Session,
    *,
    round_id: int,
    issued: Sequence[IssuedInvitation],
    sender: Sender,
) -> list[OutboxMessage]:
    """Queue the invitation e-mail of each newly issued link (in the caller's transaction:
    the mail exists exactly when the invitation does)."""
    round_ = session.get(Round, round_id)
    if round_ is None:
        raise InvalidInput(
            N_("round %(round)s does not exist"), field="round_id", values={"round": round_id}
        )
    definition = round_definition(session, round_)
    queued = []
    for invitation in issued:
        language = definition.language_or_source(invitation.language)
        local = definition.localized(language)
        context = _context(round_, local.title, invitation, sender.base_url, language)
        queued.append(
            _queue(
                session,
                "invitation",
                round_id,
                invitation,
                context,
                mail_from=sender.mail_from,
                texts=texts_for(local, "invitation", language),
            )
        )
    session.flush()
    return queued


@dataclass(frozen=True)
class Reminded:
    """One expert a reminder was queued for (never the new link: it goes by e-mail only)."""

    invitation_id: int
    expert_code: str
    to_address: str


def queue_reminders(session: Session, *, round_id: int, sender: Sender) -> list[Reminded]:
    """Remind each invited expert of an open round who has not submitted (revoked
    invitations apart): their link is re-issued, since only its hash is stored, and the new
    one mailed with their progress, in the caller's transaction. Sessions stay signed in."""
    # The round row locked: two reminders at once would re-issue each link twice.
    round_ = locked_round(session, round_id)
    if round_.status != "open":
        raise RoundNotOpen(
            N_("round %(round)s is %(status)s: reminders go to an open round"),
            values={"round": round_id, "status": Message(round_.status)},
        )
    if round_.closes_at is not None and utcnow() >= round_.closes_at:
        raise RoundNotOpen(
            N_(
                "round %(round)s closed at %(when)s: nobody can answer any more, so nobody is "
                "reminded"
            ),
            values={"round": round_id, "when": round_.closes_at},
        )
    definition = round_definition(session, round_)
    answered = {e.expert_code: e for e in round_progress(session, round_id=round_id).experts}
    queued = []
    for invitation in list_invitations(session, round_id=round_id):
        if invitation.revoked_at is not None or invitation.response_status == "submitted":
            continue
        issued = reissue_invitation(session, invitation_id=invitation.id, keep_sessions=True)
        _withdraw_unsent(session, invitation.id)
        progress = answered[invitation.expert_code]
        language = definition.language_or_source(issued.language)
        local = definition.localized(language)
        context = _context(round_, local.title, issued, sender.base_url, language)
        context.update(answered=progress.answered, expected=progress.expected)
        texts = texts_for(local, "reminder", language)
        _queue(
            session, "reminder", round_id, issued, context, mail_from=sender.mail_from, texts=texts
        )
        queued.append(Reminded(issued.invitation_id, issued.expert_code, issued.email))
    session.flush()
    return queued


#: Why a message still queued was not sent: a later one carries the invitation's new link.
SUPERSEDED = "not sent: its link was replaced; a later e-mail carries the new one"


def _withdraw_unsent(session: Session, invitation_id: int) -> None:
    """Messages of an invitation not yet claimed by a worker would carry a dead link."""
    unsent = select(OutboxMessage).where(
        OutboxMessage.invitation_id == invitation_id, OutboxMessage.status == "queued"
    )
    for row in session.exec(unsent.with_for_update()).all():
        row.status, row.last_error = "failed", SUPERSEDED
        session.add(row)


def _context(
    round_: Round,
    survey_title: str,
    invitation: IssuedInvitation,
    base_url: str,
    language: str = i18n.SOURCE_LANGUAGE,
) -> dict[str, object]:
    return {
        "name": invitation.name,
        "survey_title": survey_title,
        "round_name": round_.name,
        "link": invitation.url(base_url),
        "closes_at": _utc_text(round_.closes_at, language),
    }


RECEIPT_SUBJECT = N_("Received: your answers to {{ survey_title }}")
RECEIPT_BODY = N_("""\
Dear {{ name }},

thank you: your answers to {{ survey_title }} ({{ round_name }}) were submitted on
{{ submitted_at }}, {{ answered }} of {{ expected }} questions answered. They are stored,
and the survey team sees them under a code, not your name, when it analyses the panel.

You need not do anything more. If the survey team reopens your answers, or a further
round follows, you will hear from them.

Thank you.
""")

_TEXTS = {
    "invitation": (INVITATION_SUBJECT, INVITATION_BODY),
    "reminder": (REMINDER_SUBJECT, REMINDER_BODY),
    "receipt": (RECEIPT_SUBJECT, RECEIPT_BODY),
}


def texts_for(
    definition: SurveyDefinition, kind: str, language: str = i18n.SOURCE_LANGUAGE
) -> tuple[str, str]:
    """(subject, body) templates of one kind of e-mail: the survey file's (``definition``
    is already in the reader's language), or the built-in in ``language``."""
    own = getattr(definition.mail, kind)
    if own is not None:
        return own.subject, own.body
    interface = i18n.interface_language(language)
    subject, body = _TEXTS[kind]
    return i18n.translate(interface, subject), i18n.translate(interface, body)


def _queue(
    session: Session,
    kind: str,
    round_id: int,
    invitation: IssuedInvitation,
    context: dict[str, object],
    *,
    mail_from: str,
    texts: tuple[str, str],
) -> OutboxMessage:
    subject, body = texts
    message = OutboxMessage(
        kind=kind,
        round_id=round_id,
        invitation_id=invitation.invitation_id,
        to_address=invitation.email,
        subject=render(subject, **context).strip(),
        body=render(body, **context),
        message_id=make_msgid(domain=_domain_of(mail_from)),
    )
    session.add(message)
    return message


def invite(
    session: Session,
    *,
    round_id: int,
    invitees: Sequence[InviteeCreate],
    sender: Sender | None,
    language: str | None = None,
) -> list[IssuedInvitation]:
    """Invite people to a round (in ``language`` where an invitee gives none); given a
    ``sender``, queue each one's invitation e-mail in the same transaction (the e-mails
    exist exactly when the invitations do)."""
    issued = invite_experts(session, round_id=round_id, invitees=list(invitees), language=language)
    if sender is not None:
        queue_invitations(session, round_id=round_id, issued=issued, sender=sender)
    return issued


RESET_SUBJECT = "Set a new password for elicit"
RESET_BODY = """\
Hello,

an administrator has sent you a link to set a new password for your elicit account
({{ email }}):

    {{ link }}

The link works once, until {{ expires_at }}. Setting the password signs your account out
everywhere. If you did not expect this e-mail, tell your administrator.
"""


def queue_password_reset(
    session: Session, *, user: User, token: str, expires_at: datetime, sender: Sender
) -> None:
    """Queue the e-mail carrying a password-reset link (in the caller's transaction)."""
    context = {
        "email": user.email,
        "link": f"{sender.base_url}/reset/{token}",
        "expires_at": f"{expires_at:%Y-%m-%d %H:%M} UTC",
    }
    session.add(
        OutboxMessage(
            kind="password_reset",
            to_address=user.email,
            subject=RESET_SUBJECT,
            body=render(RESET_BODY, **context),
            # Its own randomness: make_msgid's comes from the `random` module, which a
            # test harness may reseed.
            message_id=make_msgid(secrets.token_hex(8), domain=_domain_of(sender.mail_from)),
        )
    )


def queue_receipt(session: Session, *, response_id: int, sender: Sender) -> OutboxMessage | None:
    """Queue the receipt of a just-submitted response (in the submission's transaction),
    unless the survey file turns receipts off. The receipt carries no link: the expert's
    link still works, and mailing a new one would end it."""
    response = session.get(Response, response_id)
    assert response is not None and response.submitted_at is not None
    round_ = get_round(session, round_id=response.round_id)
    definition = round_definition(session, round_)
    if not definition.mail.send_receipts:
        return None
    invitation = session.exec(
        select(Invitation).where(
            Invitation.round_id == round_.id, Invitation.expert_id == response.expert_id
        )
    ).first()
    contact = session.get(ExpertContact, response.expert_id)
    if invitation is None or contact is None:
        return None
    state = load_response_state(session, response_id=response_id, language=invitation.language)
    language = state.language
    context = {
        "name": contact.name,
        "survey_title": state.definition.title,
        "round_name": round_.name,
        "closes_at": _utc_text(round_.closes_at, language),
        "answered": state.answered,
        "expected": len(state.expected),
        "submitted_at": _utc_text(response.submitted_at, language),
    }
    addressee = IssuedInvitation(
        id_of(invitation), "", contact.name, contact.email, "", id_of(round_)
    )
    return _queue(
        session,
        "receipt",
        id_of(round_),
        addressee,
        context,
        mail_from=sender.mail_from,
        texts=texts_for(state.definition, "receipt", language),
    )


def _utc_text(at: datetime | None, language: str = i18n.SOURCE_LANGUAGE) -> str:
    """A moment in an e-mail: as the reader's language writes it (English: 2026-12-31
    18:00 UTC, as it always was)."""
    if at is None:
        return ""
    if language == i18n.SOURCE_LANGUAGE:
        return f"{at:%Y-%m-%d %H:%M} UTC"
    return i18n.format_when(at, language)


@dataclass(frozen=True)
class PreviewedMail:
    """An e-mail as an expert of the round would get it (a sample link, never a real one)."""

    kind: str
    to_address: str
    subject: str
    body: str
    from_survey_file: bool


def preview(session: Session, *, round_id: int, kind: str, sender: Sender) -> PreviewedMail:
    """The round's ``kind`` e-mail rendered for its first invited expert (or a sample
    person when nobody is invited yet), so an admin sees the survey's wording before
    anything is sent."""
    if kind not in _TEXTS:
        raise InvalidInput(
            N_("no %(kind)s e-mail; there are %(kinds)s"),
            field="kind",
            values={"kind": repr(kind), "kinds": ", ".join(_TEXTS)},
        )
    round_ = get_round(session, round_id=round_id)
    definition = round_definition(session, round_)
    first = next(iter(list_invitations(session, round_id=round_id)), None)
    name, address = (first.name, first.email) if first else ("Ada Example", "ada@example.org")
    expected = len(round_cells(round_, definition))
    context: dict[str, object] = {
        "name": name,
        "survey_title": definition.title,
        "round_name": round_.name,
        "closes_at": _utc_text(round_.closes_at),
        "link": f"{sender.base_url}/i/(a personal link, made when the e-mail is queued)",
        "answered": expected // 2,
        "expected": expected,
        "submitted_at": _utc_text(utcnow()),
    }
    subject, body = texts_for(definition, kind)
    return PreviewedMail(
        kind=kind,
        to_address=address,
        subject=render(subject, **context).strip(),
        body=render(body, **context),
        from_survey_file=getattr(definition.mail, kind) is not None,
    )


def _domain_of(address: str) -> str:
    return address.rsplit("@", 1)[-1].strip(" >") or "localhost"


def as_email(row: OutboxMessage, *, mail_from: str) -> EmailMessage:
    message = EmailMessage()
    message["From"] = mail_from
    message["To"] = row.to_address
    message["Subject"] = row.subject
    message["Message-ID"] = row.message_id
    message["Date"] = format_datetime(row.created_at)
    message["Auto-Submitted"] = "auto-generated"
    message.set_content(row.body)
    return message


# --- transports -----------------------------------------------------------------------------


@dataclass(frozen=True)
class SmtpTransport:
    """``smtp://user:password@host:587`` (STARTTLS when the server offers it; required
    unless the host is local) or ``smtps://...:465`` (TLS from the start)."""

    url: str
    timeout: float = 30.0
    #: Used when the URL carries no user (ELICIT_SMTP_USER / ELICIT_SMTP_PASSWORD).
    user: str | None = None
    password: str | None = field(default=None, repr=False)

    def send(self, message: EmailMessage) -> None:
        parts = urlsplit(self.url)
        host = parts.hostname or "localhost"
        context = ssl.create_default_context()
        try:
            if parts.scheme == "smtps":
                client: smtplib.SMTP = smtplib.SMTP_SSL(
                    host, parts.port or 465, timeout=self.timeout, context=context
                )
            else:
                client = smtplib.SMTP(host, parts.port or 587, timeout=self.timeout)
            with client:
                if parts.scheme == "smtp":
                    client.ehlo()
                    if client.has_extn("starttls"):
                        client.starttls(context=context)
                        client.ehlo()
                    elif host not in ("localhost", "127.0.0.1", "::1"):
                        raise PermanentFailure(
                            f"{host} does not offer STARTTLS; use smtps:// or a local relay"
                        )
                if parts.username:
                    client.login(unquote(parts.username), unquote(parts.password or ""))
                elif self.user:
                    client.login(self.user, self.password or "")
                client.send_message(message)
        except smtplib.SMTPRecipientsRefused as exc:
            codes = [code for code, _ in exc.recipients.values()]
            if all(500 <= code < 600 for code in codes):
                raise PermanentFailure(f"address refused: {exc.recipients}") from exc
            raise


@dataclass(frozen=True)
class FolderTransport:
    """Writes each message as ``<outbox id>.eml`` into a folder (no SMTP server set)."""

    directory: Path

    def send(self, message: EmailMessage) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        name = message["Message-ID"].strip("<>").replace("/", "_") + ".eml"
        temporary = self.directory / (name + ".part")
        temporary.write_bytes(bytes(message))
        temporary.replace(self.directory / name)  # whole files only


def transport_for(
    smtp_url: str | None,
    mail_dir: Path,
    *,
    user: str | None = None,
    password: SecretStr | None = None,
) -> Transport:
    """SMTP when a server is set (its user and password from the URL or given here), else
    .eml files into ``mail_dir``."""
    if smtp_url:
        scheme = urlsplit(smtp_url).scheme
        if scheme not in ("smtp", "smtps"):
            raise InvalidInput(
                f"ELICIT_SMTP_URL must start with smtp:// or smtps://, not {scheme}://",
                field="smtp_url",
            )
        secret = password.get_secret_value() if password is not None else None
        return SmtpTransport(smtp_url, user=user, password=secret)
    return FolderTransport(mail_dir)


# --- the worker's side ----------------------------------------------------------------------


#: What one pass of :func:`deliver_due` did.
Delivery = outbox.Delivery


def deliver_due(
    engine: Engine,
    transport: Transport,
    *,
    mail_from: str,
    batch: outbox.Batch = outbox.Batch(),
) -> Delivery:
    """Send what is due now; each outcome recorded at once. Safe to run in many workers."""
    return outbox.deliver_due(
        engine,
        QUEUE,
        ready=lambda claimed: _as_emails(engine, claimed, mail_from=mail_from),
        send=lambda email: _send(transport, email),
        batch=batch,
    )


def _as_emails(
    engine: Engine, claimed: list[tuple[int, datetime]], *, mail_from: str
) -> list[outbox.Claimed[EmailMessage]]:
    """The claimed messages, read in one query, ready to send."""
    if not claimed:
        return []
    with session_scope(engine, read_only=True) as session:
        rows = session.exec(
            select(OutboxMessage).where(col(OutboxMessage.id).in_([i for i, _ in claimed]))
        ).all()
        by_id = {id_of(row): as_email(row, mail_from=mail_from) for row in rows}
    return [outbox.Claimed(message_id, lease, by_id[message_id]) for message_id, lease in claimed]


def _record(
    engine: Engine, message_id: int, lease: datetime, *, outcome: str, error: str, now: datetime
) -> str:
    """Record one attempt at a message claimed until ``lease`` (its new status), as a
    worker's pass does after each send."""
    return outbox.record(engine, QUEUE, message_id, lease, outbox.Attempt(outcome, error), now=now)


def _send(transport: Transport, email: EmailMessage) -> outbox.Attempt:
    """Hand one message to the transport: sent, refused for good (a 5xx reply), or to be
    tried again (the server or the network failed for now)."""
    try:
        transport.send(email)
    except PermanentFailure as exc:
        return outbox.Attempt("failed", str(exc))
    except (OSError, smtplib.SMTPException) as exc:
        return outbox.Attempt("retry", repr(exc))
    return outbox.Attempt("sent")


# --- what admins see ------------------------------------------------------------------------


@dataclass(frozen=True)
class MailStatus:
    """The mail of one invitation: the latest message's state."""

    invitation_id: int
    expert_code: str
    to_address: str
    kind: str
    status: str
    attempts: int
    sent_at: datetime | None
    last_error: str


def mail_log(session: Session, *, round_id: int, limit: int = 500) -> list[SentMail]:
    """Every e-mail queued in a round, newest first: what was sent to whom and when."""
    get_round(session, round_id=round_id)
    rows = session.exec(
        select(OutboxMessage, Expert.code)
        .join(Invitation, col(Invitation.id) == col(OutboxMessage.invitation_id))
        .join(Expert, col(Expert.id) == col(Invitation.expert_id))
        .where(OutboxMessage.round_id == round_id)
        .order_by(col(OutboxMessage.id).desc())
        .limit(limit)
    ).all()
    return [
        SentMail(
            _id(m.invitation_id),
            code,
            m.to_address,
            m.kind,
            m.status,
            m.attempts,
            m.sent_at,
            m.last_error,
            m.created_at,
        )
        for m, code in rows
    ]


@dataclass(frozen=True)
class SentMail(MailStatus):
    """One e-mail of a round's log: its state, and when it was queued."""

    created_at: datetime


def _id(value: int | None) -> int:
    assert value is not None  # the log's messages are joined to their invitation
    return value


def mail_status(session: Session, *, round_id: int) -> list[MailStatus]:
    """Per invitation of a round, its latest e-mail: queued, sending, sent or failed."""
    get_round(session, round_id=round_id)
    latest = (
        select(func.max(col(OutboxMessage.id)))
        .where(OutboxMessage.round_id == round_id)
        .group_by(col(OutboxMessage.invitation_id))
    )
    rows = session.exec(
        select(OutboxMessage, Invitation, Expert)
        .join(Invitation, col(Invitation.id) == col(OutboxMessage.invitation_id))
        .join(Expert, col(Expert.id) == col(Invitation.expert_id))
        .where(col(OutboxMessage.id).in_(latest))
        .order_by(col(Expert.code))
    ).all()
    return [
        MailStatus(
            id_of(invitation),
            expert.code,
            message.to_address,
            message.kind,
            message.status,
            message.attempts,
            message.sent_at,
            message.last_error,
        )
        for message, invitation, expert in rows
    ]


# --- running it -------------------------------------------------------------------------------


@contextmanager
def _failed(what: str) -> Iterator[None]:
    """Log a failed step of the worker's pass and carry on: the next pass tries again.

    A database that cannot be reached for a moment (a restart, a network blip, a lock
    held too long: SQLAlchemy's OperationalError, as the web layer answers with a 503)
    is an expected condition and gets one line; anything else gets its traceback.
    """
    try:
        yield
    except OperationalError as error:
        _log.warning("%s (the database could not answer: %s)", what, error.orig or error)
    except Exception:
        _log.exception(what)


class MailWorker:
    """Every ``interval`` seconds, carries out the rounds' scheduled steps that are due
    (opening, reminders, closing) and then sends due mail, so reminders queued go out in the
    same pass; in a background thread (inside a web worker, or in ``elicit worker``) until
    stopped. ``base_url`` (default: the BASE_URL setting) is where reminders' links point."""

    def __init__(
        self,
        engine: Engine,
        transport: Transport,
        *,
        mail_from: str,
        interval: float = 5.0,
        base_url: str | None = None,
    ) -> None:
        self.engine = engine
        self.transport = transport
        self.mail_from = mail_from
        self.interval = interval
        self.base_url = base_url
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @classmethod
    def of(cls, engine: Engine, settings: Settings, *, interval: float = 5.0) -> MailWorker:
        """A worker sending through the SMTP server or mail folder the settings name."""
        transport = transport_for(
            settings.smtp_url,
            settings.mail_dir,
            user=settings.smtp_user,
            password=settings.smtp_password,
        )
        return cls(
            engine,
            transport,
            mail_from=settings.mail_from,
            interval=interval,
            base_url=settings.base_url,
        )

    def run_once(self) -> Delivery:
        # Each step is tried on its own: one that fails (logged by _failed) does not keep
        # the others, or the mail already queued, from going out.
        with _failed("carrying out the rounds' scheduled steps failed; trying again"):
            self.run_schedule()
        with _failed("erasing contact details past their retention failed; trying again"):
            self.run_retention()
        if self._reviews_due():
            with _failed("checking the published rubrics' review dates failed; trying again"):
                self.run_reviews()
        with _failed("delivering webhooks failed; trying again"):
            self.webhooks = self.run_webhooks()
        return deliver_due(self.engine, self.transport, mail_from=self.mail_from)

    # --- rubric reviews and webhooks (their events are queued with what causes them) ----

    #: What the last pass's webhook delivery did (None before the first).
    webhooks: Delivered | None = None
    #: Seconds between two checks of the review dates (they are whole days apart; each
    #: check takes the write lock of every survey with a published version).
    review_check_every = 60.0
    _reviews_checked_at: float | None = None

    def _reviews_due(self) -> bool:
        now = time.monotonic()
        last = self._reviews_checked_at
        if last is not None and now - last < self.review_check_every:
            return False
        self._reviews_checked_at = now
        return True

    def run_reviews(self) -> int:
        """Open the reviews whose triggers have fired (review dates passed); how many."""
        from app.services.reviews import check_all

        return len(check_all(self.engine))

    def run_webhooks(self) -> Delivered:
        """POST the webhook deliveries that are due (the events of this pass's reviews too)."""
        from app.services.webhooks import deliver_due as deliver_webhooks

        settings = get_settings()
        base_url = self.base_url if self.base_url is not None else settings.base_url
        return deliver_webhooks(
            self.engine, base_url=base_url, allow_private=settings.webhook_allow_private
        )

    def run_retention(self) -> list[str]:
        """Erase the contact details kept longer than RETENTION_DAYS (codes of those erased)."""
        from app.services.privacy import mail_copies, purge_due

        settings = get_settings()
        copies = mail_copies(settings.smtp_url, settings.mail_dir)
        return purge_due(self.engine, days=settings.retention_days, now=utcnow(), mail_dir=copies)

    def run_schedule(self) -> list[StepDone]:
        """Open, remind and close the rounds whose time has come (each step once)."""
        from app.services.schedule import run_due  # it queues its reminders through here

        base_url = self.base_url if self.base_url is not None else get_settings().base_url
        sender = Sender(base_url=base_url, mail_from=self.mail_from)
        return run_due(self.engine, now=utcnow(), sender=sender)

    def run_forever(self) -> None:
        while not self._stop.is_set():
            with _failed("sending queued e-mail failed; trying again shortly"):
                self.run_once()
            self._stop.wait(self.interval)

    def start(self) -> None:
        self._thread = threading.Thread(target=self.run_forever, name="mail", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)


def where_mail_goes(
    smtp_url: str | None, mail_dir: Path, language: str = i18n.SOURCE_LANGUAGE
) -> str:
    """One line for people: where e-mail to the panel ends up (in ``language``)."""
    if smtp_url:
        parts = urlsplit(smtp_url)
        server = f"{parts.scheme}://{parts.hostname}:{parts.port or ''}".rstrip(":")
        return i18n.translate(language, "sent through %(server)s", server=server)
    return i18n.translate(
        language,
        "written as .eml files into %(folder)s: no SMTP server set (ELICIT_SMTP_URL)",
        folder=str(mail_dir),
    )
