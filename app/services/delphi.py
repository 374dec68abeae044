"""Delphi rounds: round N+1 from a closed round N, with the panel's anonymous feedback."""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlmodel import Session, col, select

from app.errors import Conflict, InvalidInput, Message, NotFound
from app.i18n import N_
from app.inputs import InviteeCreate
from app.models import (
    Expert,
    ExpertContact,
    Invitation,
    Rating,
    Response,
    Round,
    SurveyVersion,
    id_of,
)
from app.services import invitations
from app.services.reports import ratings_frame
from app.services.rounds import CellFeedback, PanelFeedback, get_round, round_definition
from app.services.surveys import definition_of, get_survey_version, slug_of
from app.survey_files import HOLISTIC_TIER_KEY, SurveyDefinition

if TYPE_CHECKING:
    from analysis.stability import Stability


def create_next_round(
    session: Session,
    *,
    round_id: int,
    version: int | None = None,
    name: str | None = None,
) -> tuple[Round, list[invitations.IssuedInvitation]]:
    """Make round N+1 from closed round N: same panel (new links), same frozen criteria,
    and the panel's feedback from round N fixed into the new round.

    A revised survey version may be used if its item and dimension keys match round N's
    (and matched dimensions keep their scales); the consensus criterion cannot change
    within a Delphi series.
    """
    previous = get_round(session, round_id=round_id)
    if previous.status != "closed":
        raise Conflict(
            N_("round %(round)s is %(status)s; close it before the next round"),
            values={"round": round_id, "status": Message(previous.status)},
        )
    if session.exec(select(Round).where(Round.previous_round_id == round_id)).first():
        raise Conflict(N_("round %(round)s already has a next round"), values={"round": round_id})
    old = round_definition(session, previous)
    old_version = session.get(SurveyVersion, previous.survey_version_id)
    assert old_version is not None
    new_version = (
        old_version
        if version is None
        else get_survey_version(session, slug=slug_of(session, old_version), number=version)
    )
    new = definition_of(new_version)
    _check_matching(old, new)
    criteria = dict(previous.criteria or {})
    if new_version.id != old_version.id:
        _check_criteria_kept(criteria, new)
    feedback = panel_feedback(session, round_=previous, definition=old)
    asked = [i.key for i in new.items]
    if new.delphi.drop_items_with_consensus:
        reached = _items_with_consensus(feedback, new)
        asked = [key for key in asked if key not in reached] or asked
    round_ = Round(
        survey_version_id=id_of(new_version),
        name=name or f"Round {previous.sequence + 1}",
        sequence=previous.sequence + 1,
        previous_round_id=previous.id,
        criteria=criteria or None,
        item_keys=asked if len(asked) < len(new.items) else None,
        feedback=feedback.model_dump(mode="json"),
    )
    session.add(round_)
    session.flush()
    people = _same_panel(session, round_id=round_id, languages=new.languages)
    issued = (
        invitations.invite_experts(session, round_id=id_of(round_), invitees=people)
        if people
        else []
    )
    return round_, issued


def _check_criteria_kept(criteria: dict[str, Any], new: SurveyDefinition) -> None:
    """A revised survey version may not change what round 1 of the series froze."""
    for part, now in (
        ("consensus", new.consensus),
        ("reliability", new.reliability),
        ("delphi", new.delphi),
    ):
        frozen = criteria.get(part) or {}
        current = now.model_dump(mode="json")
        # Compare what was frozen: settings added by later software keep their defaults.
        if any(key in current and current[key] != value for key, value in frozen.items()):
            raise InvalidInput(
                N_(
                    "the %(part)s settings (consensus criterion and stopping rule) were fixed "
                    "when round 1 of this series opened; the revised survey version changes "
                    "them. Start a new series to use new ones"
                ),
                field="version",
                values={"part": part},
            )


def _same_panel(session: Session, *, round_id: int, languages: list[str]) -> list[InviteeCreate]:
    """The experts of a round whose invitation was not revoked, as invitees of the next,
    each in the language they last read the survey in (when the next round's survey
    version is given in it)."""
    panel = session.exec(
        select(ExpertContact, Expert, Invitation)
        .join(Invitation, col(Invitation.expert_id) == col(ExpertContact.expert_id))
        .join(Expert, col(Expert.id) == col(ExpertContact.expert_id))
        .where(Invitation.round_id == round_id, col(Invitation.revoked_at).is_(None))
        .order_by(col(Invitation.id))
    ).all()
    return [
        InviteeCreate(
            name=contact.name,
            email=contact.email,
            organisation=expert.organisation,
            stakeholder_group=expert.stakeholder_group,
            language=invitation.language if invitation.language in languages else None,
        )
        for contact, expert, invitation in panel
    ]


def _check_matching(old: SurveyDefinition, new: SurveyDefinition) -> None:
    if old.slug != new.slug:
        raise InvalidInput(
            N_("the next round must use a version of the same survey"), field="version"
        )
    old_items, new_items = {i.key for i in old.items}, {i.key for i in new.items}
    if not old_items & new_items:
        raise InvalidInput(
            N_("the revised version shares no item key with the previous round"),
            field="version",
        )
    for dimension in new.dimensions:
        try:
            before = old.dimension(dimension.key)
        except KeyError:
            continue
        if before.scale.values != dimension.scale.values:
            raise InvalidInput(
                N_(
                    "dimension %(dimension)s changed its scale; feedback from the previous round "
                    "would not fit it"
                ),
                field="version",
                values={"dimension": repr(dimension.key)},
            )


def panel_feedback(
    session: Session, *, round_: Round, definition: SurveyDefinition
) -> PanelFeedback:
    """Per item and dimension of a round: n, median, quartiles, histogram and the
    rationales their authors agreed to share (text only: never a name or code)."""
    round_id = id_of(round_)
    frame = ratings_frame(session, round_id=round_id)
    if frame.empty:
        return PanelFeedback(round_id=round_id, sequence=round_.sequence)
    from analysis.consensus import item_consensus  # heavy: imported where used

    stats = item_consensus(
        frame, criterion=round_.criteria.get("consensus") if round_.criteria else None
    )
    levels = {d.key: d.scale.values for d in definition.dimensions}
    if definition.holistic_tier.enabled:
        levels[HOLISTIC_TIER_KEY] = list(range(len(definition.tiers)))
    counts = frame.dropna(subset=["value"]).groupby(["item", "dimension", "value"]).size().to_dict()
    shared_by_cell: dict[tuple[str, str], list[str]] = {}
    shared = session.exec(
        select(Rating.item_key, Rating.dimension_key, Rating.rationale)
        .join(Response, col(Response.id) == col(Rating.response_id))
        .where(
            Response.round_id == round_id,
            Response.status == "submitted",
            col(Rating.share_rationale).is_(True),
            Rating.rationale != "",
        )
        .order_by(col(Rating.item_key), col(Rating.dimension_key), col(Rating.id))
    ).all()
    for item, dim, text in shared:
        if text.strip():
            shared_by_cell.setdefault((item, dim), []).append(text.strip())
    items: dict[str, dict[str, CellFeedback]] = {}
    for s in stats:
        item, dim = str(s.item), str(s.dimension)
        if dim not in levels:
            continue
        items.setdefault(item, {})[dim] = CellFeedback.of(
            s,
            histogram={
                str(level): int(counts.get((item, dim, float(level)), 0)) for level in levels[dim]
            },
            rationales=shared_by_cell.get((item, dim), []),
        )
    return PanelFeedback(round_id=round_id, sequence=round_.sequence, items=items)


def _items_with_consensus(feedback: PanelFeedback, definition: SurveyDefinition) -> set[str]:
    dims = [d.key for d in definition.dimensions]
    return {
        item
        for item, cells in feedback.items.items()
        if dims and all(cells.get(d) is not None and cells[d].consensus for d in dims)
    }


def previous_answers(session: Session, *, response: Response) -> dict[tuple[str, str], Rating]:
    """The same expert's answers in the previous round of this response's round."""
    round_ = session.get(Round, response.round_id)
    if round_ is None or round_.previous_round_id is None:
        return {}
    earlier = session.exec(
        select(Response).where(
            Response.round_id == round_.previous_round_id,
            Response.expert_id == response.expert_id,
        )
    ).first()
    if earlier is None:
        return {}
    return {
        (r.item_key, r.dimension_key): r
        for r in session.exec(select(Rating).where(Rating.response_id == earlier.id)).all()
    }


def series(session: Session, *, round_id: int) -> list[Round]:
    """The Delphi series a round belongs to, first round first."""
    round_ = get_round(session, round_id=round_id)
    chain = [round_]
    while chain[0].previous_round_id is not None:
        earlier = session.get(Round, chain[0].previous_round_id)
        if earlier is None:
            raise NotFound(
                N_("round %(round)s does not exist"), values={"round": chain[0].previous_round_id}
            )
        chain.insert(0, earlier)
    return chain


@dataclass(frozen=True)
class RoundStability:
    """How answers moved from round ``previous_round_id`` to round ``round_id``."""

    round_id: int
    previous_round_id: int
    stability: Stability

    def to_dict(self) -> dict[str, Any]:
        return {
            **self.stability.to_dict(),
            "previous_round_id": self.previous_round_id,
            "round_id": self.round_id,
        }


def round_stability(session: Session, *, round_id: int) -> RoundStability:
    """How answers moved from the previous round to this one, with a stopping suggestion."""
    from analysis.stability import compare_rounds

    round_ = get_round(session, round_id=round_id)
    if round_.previous_round_id is None:
        raise Conflict(
            N_("round %(round)s is a first round; stability compares two rounds"),
            values={"round": round_id},
        )
    definition = round_definition(session, round_)
    before = ratings_frame(session, round_id=round_.previous_round_id)
    after = ratings_frame(session, round_id=round_id)
    if before.empty or after.empty:
        raise Conflict(N_("both rounds need submitted ratings to compare them"))
    levels: dict[Hashable, str] = {d.key: d.measurement for d in definition.dimensions}
    dimensions = [d.key for d in definition.dimensions]
    frozen = round_.criteria or {}
    criterion = frozen.get("consensus") or definition.consensus.model_dump()
    # The stopping rule frozen with the series wins over the current file's.
    rule = {**definition.delphi.model_dump(), **(frozen.get("delphi") or {})}
    try:
        result = compare_rounds(
            before,
            after,
            dimensions=dimensions,
            levels=levels,
            consensus=criterion,
            stable_change=rule["stable_max_share_changed"],
            stable_alpha=rule["stable_max_alpha_change"],
        )
    except ValueError as exc:
        raise InvalidInput(
            N_("cannot compare the rounds: %(problem)s"), values={"problem": str(exc)}
        ) from exc
    return RoundStability(round_id, round_.previous_round_id, result)
