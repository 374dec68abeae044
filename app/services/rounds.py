"""Rounds: one pass of the panel over a survey version."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import Field
from sqlmodel import Session, col, func, select

from app.db import first_or_not_found
from app.errors import Conflict, InvalidInput, Message, NotFound, RoundNotOpen
from app.i18n import N_
from app.models import (
    Expert,
    ExpertContact,
    Invitation,
    OutboxMessage,
    Rating,
    Response,
    Round,
    RubricVersion,
    Survey,
    SurveyVersion,
    id_of,
    utcnow,
)
from app.services import ReadModel
from app.services.surveys import (
    cached_definition,
    definition_of,
    expected_cells,
    get_survey_version,
    slug_of,
)
from app.survey_files import Item, SurveyDefinition


def create_round(
    session: Session,
    *,
    slug: str,
    name: str,
    version: int | None = None,
    closes_at: datetime | None = None,
) -> Round:
    """Create a draft round on a survey version (the newest unless one is named)."""
    survey_version = get_survey_version(session, slug=slug, number=version)
    if closes_at is not None and closes_at <= utcnow():
        raise InvalidInput(N_("closes_at must lie in the future"), field="closes_at")
    round_ = Round(survey_version_id=id_of(survey_version), name=name.strip(), closes_at=closes_at)
    session.add(round_)
    session.flush()
    return round_


def get_round(session: Session, *, round_id: int) -> Round:
    """The round with this id, or NotFound."""
    round_ = session.get(Round, round_id)
    if round_ is None:
        raise NotFound(_no_round(round_id))
    return round_


def list_rounds(session: Session) -> list[Round]:
    """Every round, newest first."""
    return list(session.exec(select(Round).order_by(col(Round.id).desc())).all())


def round_definition(session: Session, round_: Round) -> SurveyDefinition:
    """The survey definition a round asks about."""
    # The digest first: a definition parsed before is not read and decoded again (it is
    # tens of kilobytes of JSON, and every save needs the definition to check the answers).
    digest = session.exec(
        select(SurveyVersion.content_sha256).where(SurveyVersion.id == round_.survey_version_id)
    ).one()
    cached = cached_definition(digest)
    if cached is not None:
        return cached
    version = session.get(SurveyVersion, round_.survey_version_id)
    assert version is not None
    return definition_of(version)


def round_items(round_: Round, definition: SurveyDefinition) -> list[Item]:
    """The items asked in a round (a later Delphi round may leave settled items out)."""
    if round_.item_keys is None:
        return list(definition.items)
    keep = set(round_.item_keys)
    return [item for item in definition.items if item.key in keep]


def round_cells(round_: Round, definition: SurveyDefinition) -> list[tuple[str, str]]:
    """Every (item, dimension) an expert is asked in this round, in order."""
    keep = {item.key for item in round_items(round_, definition)}
    return [cell for cell in expected_cells(definition) if cell[0] in keep]


def open_round(session: Session, *, round_id: int) -> Round:
    """Open a draft (or re-open a closed) round; the criteria are frozen at the first opening.

    A closed round stays closed once a later Delphi round follows it or a published rubric
    rests on it: answers changed now would no longer match that feedback or that record.
    """
    round_ = locked_round(session, round_id)
    if round_.status == "open":
        raise Conflict(N_("round %(round)s is already open"), values={"round": round_id})
    refusal = reopen_refusal(session, round_) if round_.status == "closed" else None
    if refusal is not None:
        raise Conflict(refusal)
    if round_.closes_at is not None and round_.closes_at <= utcnow():
        raise Conflict(
            N_(
                "round %(round)s has a closing time in the past (%(when)s); set a later "
                "closing time first"
            ),
            values={"round": round_id, "when": round_.closes_at},
        )
    if round_.criteria is None:
        definition = round_definition(session, round_)
        round_.criteria = {
            "consensus": definition.consensus.model_dump(mode="json"),
            "reliability": definition.reliability.model_dump(mode="json"),
            "delphi": definition.delphi.model_dump(mode="json"),
            "fixed_at": utcnow().isoformat(),
        }
    round_.status = "open"
    round_.opened_at = round_.opened_at or utcnow()
    round_.closed_at = None
    session.add(round_)
    session.flush()
    return round_


def reopen_refusal(session: Session, round_: Round) -> Message | None:
    """Why a closed round may not be re-opened, or None if it may: a later Delphi round
    took its feedback from it, or a published rubric rests on it."""
    successor = next_round_of(session, round_id=id_of(round_))
    if successor is not None:
        return Message(
            N_(
                "round %(round)s cannot be re-opened: round %(next)s (%(name)s) follows it in "
                "the Delphi series and its feedback was taken from this round"
            ),
            {"round": round_.id, "next": successor.id, "name": successor.name},
        )
    version = session.get(SurveyVersion, round_.survey_version_id)
    assert version is not None
    published = session.exec(
        select(RubricVersion, Survey.slug)
        .join(Survey, col(Survey.id) == col(RubricVersion.survey_id))
        .where(RubricVersion.survey_id == version.survey_id)
        .order_by(col(RubricVersion.number))
    ).all()
    for rubric, slug in published:
        rounds_used = {r.get("id") for r in rubric.record.get("rounds", [])} | {rubric.round_id}
        if round_.id in rounds_used:
            return Message(
                N_(
                    "round %(round)s cannot be re-opened: its calibration was published as "
                    "rubric %(slug)s v%(number)s, which lists it among its rounds"
                ),
                {"round": round_.id, "slug": slug, "number": rubric.number},
            )
    return None


def close_round(session: Session, *, round_id: int) -> Round:
    """Close an open round: no rating can be written to it any more."""
    round_ = locked_round(session, round_id)
    if round_.status != "open":
        raise Conflict(
            N_("round %(round)s is %(status)s, only an open round can be closed"),
            values={"round": round_id, "status": Message(round_.status)},
        )
    round_.status = "closed"
    round_.closed_at = utcnow()
    session.add(round_)
    session.flush()
    return round_


def set_closing_time(session: Session, *, round_id: int, closes_at: datetime | None) -> Round:
    """Change (or clear) the time at which a round stops accepting answers."""
    round_ = locked_round(session, round_id)
    if round_.status == "closed":
        raise Conflict(N_("round %(round)s is closed"), values={"round": round_id})
    if closes_at is not None and closes_at <= utcnow():
        raise InvalidInput(N_("closes_at must lie in the future"), field="closes_at")
    round_.closes_at = closes_at
    session.add(round_)
    return round_


def ensure_accepting(round_: Round, *, now: datetime | None = None) -> None:
    """Raise RoundNotOpen unless experts may write to this round now."""
    now = now or utcnow()
    if round_.status == "draft":
        raise RoundNotOpen(N_("this round has not opened yet: answers can be given once it opens"))
    if round_.status != "open":
        raise RoundNotOpen(N_("this round is closed: answers can no longer be changed"))
    if round_.closes_at is not None and now >= round_.closes_at:
        raise RoundNotOpen(
            N_("this round closed at %(when)s: answers can no longer be changed"),
            values={"when": round_.closes_at},
        )


class RoundDetails(ReadModel):
    """A round with the slug and number of its survey version, as the API and pages show it."""

    id: int
    survey_version_id: int
    name: str
    sequence: int
    previous_round_id: int | None
    status: str
    closes_at: datetime | None
    opened_at: datetime | None
    closed_at: datetime | None
    criteria: dict[str, Any] | None
    item_keys: list[str] | None
    feedback: dict[str, Any] | None
    created_at: datetime
    survey: str
    survey_version: int
    #: When the worker opens the draft round (None: an admin opens it).
    opens_at: datetime | None = None
    #: Days before the closing time on which those who have not submitted are reminded.
    reminder_days: list[int] | None = None


def round_details(session: Session, round_: Round) -> RoundDetails:
    """The round with its survey's slug and version number."""
    version = session.get(SurveyVersion, round_.survey_version_id)
    assert version is not None
    return RoundDetails.of(round_, survey=slug_of(session, version), survey_version=version.number)


def get_round_details(session: Session, *, round_id: int) -> RoundDetails:
    """The round with this id with its survey's slug and version number, or NotFound."""
    return round_details(session, get_round(session, round_id=round_id))


class CellFeedback(ReadModel):
    """What the panel answered to one item and dimension in a round: the figures shown to
    the experts in the next round, and the rationales their authors agreed to share."""

    n: int
    median: float | None
    q1: float | None
    q3: float | None
    iqr: float | None
    consensus: bool | None
    histogram: dict[str, int]
    rationales: list[str] = Field(default_factory=list)


class PanelFeedback(ReadModel):
    """A round's anonymous feedback, kept with the next round (``Round.feedback``)."""

    round_id: int
    sequence: int
    items: dict[str, dict[str, CellFeedback]] = Field(default_factory=dict)

    def cell(self, item: str, dimension: str) -> CellFeedback | None:
        return self.items.get(item, {}).get(dimension)


def feedback_of(round_: Round) -> PanelFeedback | None:
    """The feedback from the previous round this round shows, if it is a later round."""
    return PanelFeedback.model_validate(round_.feedback) if round_.feedback else None


class ExpertProgress(ReadModel):
    """One invited expert's completion (pseudonymous code, never the name)."""

    expert_code: str
    organisation: str | None
    invitation_revoked: bool
    status: str
    answered: int
    expected: int
    submitted_at: datetime | None
    #: An invitation or reminder e-mail reached the expert's mail server.
    mailed: bool = False
    #: The expert has opened their link at least once.
    opened: bool = False


class PanelProgress(ReadModel):
    """Invited / mailed / opened / started / submitted counts of a round's panel (revoked
    invitations apart), and each expert's completion."""

    round_id: int
    status: str
    invited: int
    revoked: int
    mailed: int
    opened: int
    started: int
    submitted: int
    cells_expected_per_expert: int
    experts: list[ExpertProgress]


def panel_rows(
    session: Session, *, round_id: int
) -> list[tuple[Invitation, Expert, ExpertContact, Response | None]]:
    """Each invitation of a round with its expert, their contact details and their response
    (None until they first open their link), in the order they were invited."""
    rows = session.exec(
        select(Invitation, Expert, ExpertContact, Response)
        .join(Expert, col(Expert.id) == col(Invitation.expert_id))
        .join(ExpertContact, col(ExpertContact.expert_id) == col(Expert.id))
        .outerjoin(
            Response,
            (col(Response.expert_id) == col(Invitation.expert_id))
            & (col(Response.round_id) == col(Invitation.round_id)),
        )
        .where(Invitation.round_id == round_id)
        .order_by(col(Invitation.id))
    ).all()
    return [(inv, expert, contact, response) for inv, expert, contact, response in rows]


def round_progress(session: Session, *, round_id: int) -> PanelProgress:
    """Invited / started / submitted counts and per-expert completion (codes, not names)."""
    round_ = get_round(session, round_id=round_id)
    definition = round_definition(session, round_)
    expected = len(round_cells(round_, definition))
    rows = sorted(panel_rows(session, round_id=round_id), key=lambda row: row[1].code)
    answered = dict(
        session.exec(
            select(Rating.response_id, func.count())
            .join(Response, col(Response.id) == col(Rating.response_id))
            .where(Response.round_id == round_id)
            .group_by(col(Rating.response_id))
        ).all()
    )
    mailed = set(
        session.exec(
            select(OutboxMessage.invitation_id).where(
                OutboxMessage.round_id == round_id,
                OutboxMessage.status == "sent",
                col(OutboxMessage.kind).in_(("invitation", "reminder")),
            )
        ).all()
    )
    experts = [
        ExpertProgress(
            expert_code=expert.code,
            organisation=expert.organisation,
            invitation_revoked=invitation.revoked_at is not None,
            status=response_status(response),
            answered=answered.get(id_of(response), 0) if response else 0,
            expected=expected,
            submitted_at=response.submitted_at if response else None,
            mailed=invitation.id in mailed,
            opened=invitation.last_used_at is not None,
        )
        for invitation, expert, _, response in rows
    ]
    active = [e for e in experts if not e.invitation_revoked]
    return PanelProgress(
        round_id=round_id,
        status=round_.status,
        invited=len(active),
        revoked=len(experts) - len(active),
        mailed=sum(e.mailed for e in active),
        opened=sum(e.opened for e in active),
        started=sum(e.status != "not_started" for e in active),
        submitted=sum(e.status == "submitted" for e in active),
        cells_expected_per_expert=expected,
        experts=experts,
    )


def response_status(response: Response | None) -> str:
    """How far an expert got: not_started, draft, submitted, or withdrawn (answers deleted)."""
    if response is None:
        return "not_started"
    return "withdrawn" if response.withdrawn_at is not None else response.status


def next_round_of(session: Session, *, round_id: int) -> Round | None:
    """The round that continues this one in its Delphi series, if one was created."""
    query = select(Round).where(Round.previous_round_id == round_id).order_by(col(Round.id))
    return session.exec(query).first()


def contact_of(session: Session, *, expert_id: int) -> ExpertContact | None:
    """Name and e-mail of an expert (admins only)."""
    return session.get(ExpertContact, expert_id)


def locked_round(session: Session, round_id: int) -> Round:
    """The round, row-locked until the transaction ends (NotFound if there is none)."""
    query = select(Round).where(Round.id == round_id).with_for_update()
    return first_or_not_found(session, query, _no_round(round_id))


def _no_round(round_id: int) -> Message:
    return Message(N_("round %(round)s does not exist"), {"round": round_id})
