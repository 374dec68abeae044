"""Personal data of the panel: versioned consent, withdrawal from a round, an export of
everything stored about a person, erasure, and erasure after a retention period.

What is personal here: an expert's name and e-mail (``expert_contacts``), the e-mails sent
to them (``outbox``: address, and a body with their name and link), and the free text they
typed (rating rationales, which may name them or their employer). The pseudonymous code,
organisation and numeric answers are what analyses use; once the name and e-mail are gone,
nothing in the database links the code to a person.

Choices, stated once (the privacy page says the same):

- **Withdrawal** from a round deletes the expert's answers in it and their history; later
  analyses of the round go without them. Their link stops working and no more e-mail for
  that round is sent. A rubric already published from the round keeps its figures: a
  published version is immutable and holds only the panel's aggregates, never an answer,
  a code or a name.
- **Erasure** removes the name and e-mail everywhere (the contact record, every e-mail in
  the outbox and its file copy) and blanks every rationale; the answers stay under the
  code, anonymised, unless the admin chooses to delete them with the code.
- **Retention**: ``RETENTION_DAYS`` after the last round a person was invited to closed,
  the worker erases them (answers kept anonymised).
"""

from __future__ import annotations

import copy
import hashlib
import logging
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from pydantic import Field
from sqlalchemy import and_, or_, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Engine
from sqlalchemy.sql.elements import ColumnElement
from sqlmodel import Session, col, delete, exists, select

from app import i18n
from app.db import first_or_not_found, session_scope
from app.errors import Message, NotFound
from app.i18n import N_
from app.models import (
    ConsentText,
    Expert,
    ExpertContact,
    FactorSensitivity,
    Invitation,
    OutboxMessage,
    Rating,
    RatingChange,
    Response,
    Round,
    WebSession,
    id_of,
    utcnow,
)
from app.services import ReadModel, answer_store, audit
from app.services.quantities import quantile_answers, quantile_history
from app.survey_files import SurveyDefinition

_log = logging.getLogger("elicit.privacy")

#: What the expert ticks to agree (part of the consent text, which is kept with its hash).
CONSENT_STATEMENT = N_(
    "I agree to take part. My answers are stored under a pseudonymous code; my name is never "
    "shown to other experts or in analyses. I can download what is stored about me, withdraw "
    "from this round, or have my name and e-mail erased at any time, as the privacy page "
    "explains."
)

#: What takes the place of erased text.
ERASED = "(erased)"
#: The actor of the audit entries of erasures after the retention period.
WORKER = "worker"


# --- consent ------------------------------------------------------------------------------


def consent_text(definition: SurveyDefinition, language: str | None = None) -> str:
    """The text an expert agrees to in a round: the survey's title and introduction (what
    they take part in) and the consent statement beside the box they tick, in ``language``
    (the survey's source language when None)."""
    language = definition.language_or_source(language)
    local = definition.localized(language)
    statement = i18n.translate(i18n.interface_language(language), CONSENT_STATEMENT)
    return "\n\n".join(
        part for part in (local.title.strip(), local.introduction.strip(), statement) if part
    )


def consent_texts(definition: SurveyDefinition) -> list[str]:
    """The consent text in each of the survey's languages (agreeing to one is agreeing)."""
    return [consent_text(definition, language) for language in definition.languages]


def text_digest(text: str) -> str:
    """SHA-256 (hex) of a text's UTF-8 bytes."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def keep_consent_text(session: Session, *, text: str) -> str:
    """Store a consent text once (by its SHA-256) and return the digest."""
    digest = text_digest(text)
    if session.get(ConsentText, digest) is None:
        # Many experts consent at once to the same new text: INSERT ... ON CONFLICT DO
        # NOTHING lets all of them store it "once" (a plain insert fails all but the first
        # with a unique violation; PostgreSQL makes the others wait, then skip).
        dialect = session.get_bind().dialect.name
        insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
        session.execute(
            insert(ConsentText)
            .values(sha256=digest, text=text, created_at=utcnow())
            .on_conflict_do_nothing(index_elements=["sha256"])
        )
    return digest


# --- withdrawal ---------------------------------------------------------------------------


class Withdrawal(ReadModel):
    """What withdrawing from a round did."""

    round_id: int
    expert_code: str
    withdrawn_at: datetime
    ratings_deleted: int


def withdraw_from_round(
    session: Session, *, response_id: int, now: datetime | None = None
) -> Withdrawal:
    """The expert leaves the round: their answers and history in it are deleted, their link
    revoked, their sessions ended, unsent e-mail for it dropped. Shared rationales are taken
    out of the feedback later rounds show. Done once; a second call changes nothing."""
    now = now or utcnow()
    response = first_or_not_found(
        session,
        select(Response).where(Response.id == response_id).with_for_update(),
        Message(N_("response %(response)s does not exist"), {"response": response_id}),
    )
    expert = session.get(Expert, response.expert_id)
    assert expert is not None
    deleted = 0
    if response.withdrawn_at is None:
        response.withdrawn_at = now
        response.updated_at = now
        session.add(response)
        _scrub_feedback(session, _shared_rationales(session, [response_id]))
        deleted = _delete_answers(session, [response_id])
        invitation = session.exec(
            select(Invitation).where(
                Invitation.round_id == response.round_id,
                Invitation.expert_id == response.expert_id,
            )
        ).first()
        if invitation is not None:
            _close_invitations(session, [invitation], now=now, reason=WITHDRAWN)
        audit.record(
            session,
            actor="expert",
            action="response.withdrawn",
            target_type="expert",
            target_id=expert.code,
            round_id=response.round_id,
            ratings_deleted=deleted,
        )
    assert response.withdrawn_at is not None
    return Withdrawal(
        round_id=response.round_id,
        expert_code=expert.code,
        withdrawn_at=response.withdrawn_at,
        ratings_deleted=deleted,
    )


#: Why a message queued for a withdrawn or erased expert was not sent.
WITHDRAWN = "not sent: the expert withdrew"
ERASED_NOT_SENT = "not sent: the person's contact details were erased"


def _delete_answers(session: Session, response_ids: list[int]) -> int:
    """Delete every answer of withdrawn responses with its history (ratings, factor answers,
    quantile answers); how many ratings."""
    if not response_ids:
        return 0
    session.flush()  # the guard on the history reads responses.withdrawn_at
    ratings = 0
    for table in answer_store.ANSWER_TABLES:
        result = session.exec(delete(table).where(col(table.response_id).in_(response_ids)))
        if table is Rating:
            ratings = int(result.rowcount or 0)
    return ratings


def _close_invitations(
    session: Session, invitations: Iterable[Invitation], *, now: datetime, reason: str
) -> None:
    """Revoke the links, end their sessions and drop their unsent e-mail."""
    ids = []
    for invitation in invitations:
        ids.append(id_of(invitation))
        if invitation.revoked_at is None:
            invitation.revoked_at = now
            session.add(invitation)
    if not ids:
        return
    session.exec(delete(WebSession).where(col(WebSession.invitation_id).in_(ids)))
    session.execute(
        update(OutboxMessage)
        .where(col(OutboxMessage.invitation_id).in_(ids), col(OutboxMessage.status) == "queued")
        .values(status="failed", last_error=reason)
    )


def _shared_rationales(session: Session, response_ids: list[int]) -> set[str]:
    """Every rationale these responses shared with the panel (current and earlier states)."""
    if not response_ids:
        return set()
    texts = set(
        session.exec(
            select(Rating.rationale).where(
                col(Rating.response_id).in_(response_ids), col(Rating.share_rationale).is_(True)
            )
        ).all()
    )
    texts |= set(
        session.exec(
            select(RatingChange.rationale).where(
                col(RatingChange.response_id).in_(response_ids),
                col(RatingChange.share_rationale).is_(True),
            )
        ).all()
    )
    return {text for text in texts if text.strip()}


def _scrub_feedback(session: Session, texts: set[str]) -> None:
    """Take these rationales out of the anonymous feedback rounds show (``Round.feedback``)."""
    if not texts:
        return
    for round_ in session.exec(select(Round).where(col(Round.feedback).is_not(None))).all():
        # A copy: a JSON value changed in place would look unchanged to the flush.
        feedback = copy.deepcopy(round_.feedback or {})
        changed = False
        for cells in (feedback.get("items") or {}).values():
            for cell in cells.values():
                kept = [t for t in cell.get("rationales") or [] if t not in texts]
                if kept != (cell.get("rationales") or []):
                    cell["rationales"] = kept
                    changed = True
        if changed:
            round_.feedback = feedback
            session.add(round_)


# --- export -------------------------------------------------------------------------------


class ContactData(ReadModel):
    name: str
    email: str


class InvitationData(ReadModel):
    round_id: int
    round_name: str
    created_at: datetime
    revoked_at: datetime | None
    last_used_at: datetime | None


class RatingData(audit.RatedCell):
    """A rating as the person's export lists it."""

    status: str
    value: int | None
    confidence: str | None
    rationale: str
    share_rationale: bool
    revision: int
    updated_at: datetime


#: One kept state of a rating, as the person's export lists it.
RatingChangeData = audit.RatingState


class SensitivityData(ReadModel):
    """An answer to which context factors would change a rating, as the export lists it."""

    item_key: str
    factors: list[str]
    updated_at: datetime
    language: str | None


class ResponseData(ReadModel):
    round_id: int
    round_name: str
    status: str
    started_at: datetime
    updated_at: datetime
    submitted_at: datetime | None
    reopened_count: int
    consent_at: datetime | None
    consent_sha256: str | None
    #: The consent text agreed to (None: not recorded, or not given).
    consent_text: str | None
    withdrawn_at: datetime | None
    ratings: list[RatingData]
    history: list[RatingChangeData]
    #: Answers to quantity questions (5/50/95% quantiles) and their kept states.
    quantiles: list[QuantileData] = Field(default_factory=list)
    quantile_history: list[QuantileChangeData] = Field(default_factory=list)
    #: Which context factors would change the person's rating, per item.
    factor_sensitivities: list[SensitivityData] = Field(default_factory=list)


class QuantileData(ReadModel):
    """A quantile answer as the person's export lists it."""

    question_key: str
    q05: float
    q50: float
    q95: float
    revision: int
    updated_at: datetime


class QuantileChangeData(ReadModel):
    """One kept state of a quantile answer."""

    question_key: str
    revision: int
    q05: float
    q50: float
    q95: float
    changed_by: str
    changed_at: datetime


class MessageData(ReadModel):
    kind: str
    round_id: int | None
    to_address: str
    subject: str
    body: str
    status: str
    created_at: datetime
    sent_at: datetime | None


class PersonalData(ReadModel):
    """Everything stored about one person, as they may ask for it (GDPR art. 15 and 20)."""

    generated_at: datetime
    expert_code: str
    organisation: str | None
    stakeholder_group: str | None
    created_at: datetime
    #: When the name and e-mail were erased (then ``contact`` is None).
    erased_at: datetime | None
    contact: ContactData | None
    invitations: list[InvitationData]
    responses: list[ResponseData]
    emails: list[MessageData]


def find_person(session: Session, *, email: str) -> Expert:
    """The expert with this e-mail address (NotFound, naming the field, when none)."""
    address = email.strip().lower()
    query = select(Expert).join(ExpertContact).where(ExpertContact.email == address)
    expert = session.exec(query).first()
    if expert is None or expert.erased_at is not None:
        raise NotFound(N_("no expert has this e-mail address"), field="email")
    return expert


def personal_data(session: Session, *, expert_id: int, now: datetime | None = None) -> PersonalData:
    """Everything stored about the expert: contact details, invitations, responses with the
    consent text agreed to, ratings with their history, and the e-mails sent to them."""
    expert = session.get(Expert, expert_id)
    if expert is None:
        raise NotFound(N_("expert %(expert)s does not exist"), values={"expert": expert_id})
    contact = session.get(ExpertContact, expert_id) if expert.erased_at is None else None
    round_names = dict(session.exec(select(Round.id, Round.name)).all())
    invitations = list(
        session.exec(
            select(Invitation).where(Invitation.expert_id == expert_id).order_by(col(Invitation.id))
        ).all()
    )
    return PersonalData(
        generated_at=now or utcnow(),
        expert_code=expert.code,
        organisation=expert.organisation,
        stakeholder_group=expert.stakeholder_group,
        created_at=expert.created_at,
        erased_at=expert.erased_at,
        contact=ContactData(name=contact.name, email=contact.email) if contact else None,
        invitations=[
            InvitationData.of(i, round_name=round_names.get(i.round_id, "")) for i in invitations
        ],
        responses=_responses_data(session, expert_id, round_names),
        emails=_messages_data(session, [id_of(i) for i in invitations], contact),
    )


def _responses_data(
    session: Session, expert_id: int, round_names: dict[int | None, str]
) -> list[ResponseData]:
    rows = session.exec(
        select(Response).where(Response.expert_id == expert_id).order_by(col(Response.id))
    ).all()
    out = []
    for response in rows:
        ratings = session.exec(
            select(Rating)
            .where(Rating.response_id == response.id)
            .order_by(col(Rating.item_key), col(Rating.dimension_key))
        ).all()
        history = session.exec(
            select(RatingChange)
            .where(RatingChange.response_id == response.id)
            .order_by(col(RatingChange.id))
        ).all()
        text = (
            session.get(ConsentText, response.consent_sha256) if response.consent_sha256 else None
        )
        out.append(
            ResponseData.of(
                response,
                round_name=round_names.get(response.round_id, ""),
                consent_text=text.text if text else None,
                ratings=[RatingData.model_validate(r) for r in ratings],
                history=[RatingChangeData.model_validate(c) for c in history],
                quantiles=[
                    QuantileData.of(a)
                    for a in sorted(
                        quantile_answers(session, response_id=id_of(response)).values(),
                        key=lambda a: a.question_key,
                    )
                ],
                quantile_history=[
                    QuantileChangeData.of(c)
                    for c in quantile_history(session, response_id=id_of(response))
                ],
                factor_sensitivities=[
                    SensitivityData.of(row)
                    for row in session.exec(
                        select(FactorSensitivity)
                        .where(FactorSensitivity.response_id == response.id)
                        .order_by(col(FactorSensitivity.item_key))
                    ).all()
                ],
            )
        )
    return out


def _messages_of(
    session: Session, invitation_ids: list[int], contact: ExpertContact | None
) -> list[OutboxMessage]:
    """The outbox rows of these invitations, and any other sent to this address."""
    conditions: list[ColumnElement[bool]] = [col(OutboxMessage.invitation_id).in_(invitation_ids)]
    if contact is not None:
        conditions.append(col(OutboxMessage.to_address) == contact.email)
    query = select(OutboxMessage).where(or_(*conditions)).order_by(col(OutboxMessage.id))
    return list(session.exec(query).all())


def _messages_data(
    session: Session, invitation_ids: list[int], contact: ExpertContact | None
) -> list[MessageData]:
    return [MessageData.of(m) for m in _messages_of(session, invitation_ids, contact)]


def export_person(
    session: Session, *, email: str, actor: str, now: datetime | None = None
) -> PersonalData:
    """An admin's export of a person's data by e-mail address, recorded in the audit trail
    (by code: the entry holds no name or address)."""
    expert = find_person(session, email=email)
    audit.record(
        session, actor=actor, action="person.exported", target_type="expert", target_id=expert.code
    )
    return personal_data(session, expert_id=id_of(expert), now=now)


# --- erasure ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Erasing:
    """How a person is erased: by whom, whether their answers stay anonymised under their
    code (else they go with it), and the folder of ``.eml`` copies of the e-mail sent to
    them, which are removed too (None: no copies are kept)."""

    actor: str
    keep_ratings: bool = True
    mail_dir: Path | None = None


class Erasure(ReadModel):
    """What erasing a person did (no personal data: the code only while it is kept)."""

    #: The pseudonymous code, when the answers were kept under it (None: deleted with it).
    expert_code: str | None
    ratings_kept: bool
    responses: int
    ratings_deleted: int
    rationales_blanked: int
    messages_scrubbed: int
    mail_files_removed: int


class PersonSummary(ReadModel):
    """What an admin sees of a person before exporting or erasing their data."""

    expert_code: str
    name: str
    email: str
    organisation: str | None
    rounds: list[str]
    responses: list[ResponseData]


def person_summary(session: Session, *, email: str) -> PersonSummary:
    """The person with this address: code, rounds, and each response with its consent."""
    expert = find_person(session, email=email)
    data = personal_data(session, expert_id=id_of(expert))
    assert data.contact is not None
    return PersonSummary(
        expert_code=expert.code,
        name=data.contact.name,
        email=data.contact.email,
        organisation=expert.organisation,
        rounds=[f"{i.round_name} (round {i.round_id})" for i in data.invitations],
        responses=data.responses,
    )


def erase_person(
    session: Session, *, email: str, erasing: Erasing, now: datetime | None = None
) -> Erasure:
    """Erase a person found by e-mail address, in the caller's transaction: name and e-mail
    everywhere (contact record, outbox addresses, subjects and bodies, and the ``.eml`` copies
    in ``erasing.mail_dir``), every rationale blanked, links revoked and sessions ended. The
    answers stay anonymised under the code when ``erasing.keep_ratings``, else they go with
    the code. Published rubric versions hold no personal data and are not touched."""
    expert = find_person(session, email=email)
    return _erase(session, id_of(expert), erasing, now=now or utcnow(), reason="request")


def _erase(
    session: Session, expert_id: int, erasing: Erasing, *, now: datetime, reason: str
) -> Erasure:
    expert = session.exec(select(Expert).where(Expert.id == expert_id).with_for_update()).one()
    contact = session.get(ExpertContact, expert_id)
    invitations = list(session.exec(select(Invitation).where(Invitation.expert_id == expert_id)))
    response_ids = [
        id_of(r) for r in session.exec(select(Response).where(Response.expert_id == expert_id))
    ]
    _close_invitations(session, invitations, now=now, reason=ERASED_NOT_SENT)
    messages = _messages_of(session, [id_of(i) for i in invitations], contact)
    files = _remove_mail_files(erasing.mail_dir, [m.message_id for m in messages])
    _scrub_feedback(session, _shared_rationales(session, response_ids))
    blanked = _blank_rationales(session, response_ids)
    deleted = 0
    code: str | None = expert.code
    if erasing.keep_ratings:
        for message in messages:
            message.to_address, message.subject, message.body = _erased_address(expert), ERASED, ""
            message.last_error = ERASED if message.last_error else ""
            if message.status in ("queued", "sending"):
                message.status = "failed"
            session.add(message)
        if contact is not None:
            contact.name, contact.email = ERASED, _erased_address(expert)
            session.add(contact)
        expert.erased_at = now
        session.add(expert)
    else:
        code = None
        session.execute(
            update(Response)
            .where(col(Response.id).in_(response_ids), col(Response.withdrawn_at).is_(None))
            .values(withdrawn_at=now)
        )
        deleted = _delete_answers(session, response_ids)
        session.exec(delete(Response).where(col(Response.id).in_(response_ids)))
        session.exec(delete(OutboxMessage).where(col(OutboxMessage.id).in_(_ids(messages))))
        session.exec(delete(Invitation).where(col(Invitation.expert_id) == expert_id))
        session.exec(delete(ExpertContact).where(col(ExpertContact.expert_id) == expert_id))
        session.exec(delete(Expert).where(col(Expert.id) == expert_id))
    session.flush()
    result = Erasure(
        expert_code=code,
        ratings_kept=erasing.keep_ratings,
        responses=len(response_ids),
        ratings_deleted=deleted,
        rationales_blanked=blanked,
        messages_scrubbed=len(messages),
        mail_files_removed=files,
    )
    audit.record(
        session,
        actor=erasing.actor,
        action="person.erased",
        target_type="expert",
        target_id=code,
        reason=reason,
        ratings="kept anonymised" if erasing.keep_ratings else "deleted",
        responses=result.responses,
        messages=result.messages_scrubbed,
    )
    return result


def _ids(rows: Iterable[OutboxMessage]) -> list[int]:
    return [id_of(row) for row in rows]


def _erased_address(expert: Expert) -> str:
    # Unique (the column is) and undeliverable: .invalid is reserved (RFC 2606).
    return f"{expert.code.lower()}@erased.invalid"


def _blank_rationales(session: Session, response_ids: list[int]) -> int:
    """Blank the free text of these responses' ratings and history; how many ratings."""
    if not response_ids:
        return 0
    result = session.execute(
        update(Rating)
        .where(col(Rating.response_id).in_(response_ids), col(Rating.rationale) != "")
        .values(rationale="")
    )
    session.execute(
        update(RatingChange)
        .where(col(RatingChange.response_id).in_(response_ids), col(RatingChange.rationale) != "")
        .values(rationale="")
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]  # an UPDATE's CursorResult


def mail_copies(smtp_url: str | None, mail_dir: Path) -> Path | None:
    """Where the file transport keeps copies of sent e-mail (None: sent by SMTP)."""
    return None if smtp_url else mail_dir


def _remove_mail_files(mail_dir: Path | None, message_ids: list[str]) -> int:
    """Delete the ``.eml`` copies the file transport wrote of these messages."""
    if mail_dir is None or not mail_dir.is_dir():
        return 0
    removed = 0
    for message_id in message_ids:
        path = mail_dir / (message_id.strip("<>").replace("/", "_") + ".eml")
        try:
            path.unlink()
            removed += 1
        except FileNotFoundError:
            continue
    return removed


# --- retention ----------------------------------------------------------------------------


def due_for_erasure(session: Session, *, days: int, now: datetime) -> list[Expert]:
    """Experts not yet erased whose every round closed more than ``days`` days ago."""
    cutoff = now - timedelta(days=days)
    recent = (
        select(Invitation.id)
        .join(Round, col(Round.id) == col(Invitation.round_id))
        .where(
            col(Invitation.expert_id) == col(Expert.id),
            or_(
                col(Round.status) != "closed",
                col(Round.closed_at).is_(None),
                col(Round.closed_at) > cutoff,
            ),
        )
    )
    invited = select(Invitation.id).where(col(Invitation.expert_id) == col(Expert.id))
    query = (
        select(Expert)
        .where(and_(col(Expert.erased_at).is_(None), exists(invited), ~exists(recent)))
        .order_by(col(Expert.code))
    )
    return list(session.exec(query).all())


def purge_expired(
    session: Session,
    *,
    days: int,
    now: datetime,
    actor: str,
    mail_dir: Path | None = None,
    dry_run: bool = False,
) -> list[str]:
    """Erase (answers kept anonymised) every expert whose rounds all closed more than
    ``days`` days ago; the codes of those erased (or, with ``dry_run``, who would be)."""
    due = due_for_erasure(session, days=days, now=now)
    codes = [expert.code for expert in due]
    if dry_run:
        return codes
    erasing = Erasing(actor, keep_ratings=True, mail_dir=mail_dir)
    for expert in due:
        _erase(session, id_of(expert), erasing, now=now, reason="retention")
    return codes


def purge_due(
    engine: Engine, *, days: int | None, now: datetime, mail_dir: Path | None = None
) -> list[str]:
    """The worker's step: with a retention period set, erase those past it (one transaction)."""
    if days is None:
        return []
    with session_scope(engine) as session:
        codes = purge_expired(session, days=days, now=now, actor=WORKER, mail_dir=mail_dir)
    if codes:
        _log.info("erased the contact details of %d expert(s) past retention", len(codes))
    return codes
