"""The demo set-up: built-in surveys, an admin, an open round and a few invitations."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlmodel import Session, col, select

from app.errors import Conflict
from app.inputs import InviteeCreate
from app.models import ExpertContact, Invitation, Round, id_of
from app.security import new_password
from app.services import invitations, rounds, surveys, users
from app.services.answer_store import Saving
from app.survey_files import (
    Item,
    SurveyDefinition,
    builtin_surveys_dir,
    discover_survey_files,
    load_survey_file,
)

DEMO_ADMIN = "admin@example.org"
DEMO_RESEARCHER = "researcher@example.org"
DEMO_SURVEY = "aisi-information-sharing"
DEMO_ROUND = "Demo round 1"
DEMO_EXPERTS = [
    ("Demo Expert A", "expert.a@example.org", "Institute A", "government"),
    ("Demo Expert B", "expert.b@example.org", "Institute B", "government"),
    ("Demo Expert C", "expert.c@example.org", "University C", "academia"),
    ("Demo Expert D", "expert.d@example.org", "Lab D", "industry"),
    ("Demo Expert E", "expert.e@example.org", "NGO E", "civil society"),
]


@dataclass(frozen=True)
class DemoSetup:
    admin_email: str
    admin_password: str
    researcher_email: str
    researcher_password: str
    round_id: int
    round_name: str
    survey: str
    links: list[invitations.IssuedInvitation]
    loaded: list[str]


def load_builtin_surveys(session: Session) -> list[str]:
    """Load every file in the built-in survey directory; returns 'slug vN' per file."""
    loaded = []
    for path in discover_survey_files(builtin_surveys_dir()):
        definition = load_survey_file(path)
        version, _ = surveys.load_survey(
            session, definition=definition, source_name=f"surveys/{path.name}"
        )
        loaded.append(f"{definition.slug} v{version.number}")
    return loaded


def set_up_demo(session: Session) -> DemoSetup:
    """Idempotent: re-running resets the demo passwords (signing the demo accounts out
    everywhere) and re-issues the expert links."""
    loaded = load_builtin_surveys(session)
    passwords = {}
    for email, role in ((DEMO_ADMIN, "admin"), (DEMO_RESEARCHER, "researcher")):
        password = new_password()
        if users.get_user_by_email(session, email=email) is None:
            users.create_user(session, email=email, password=password, role=role)
        else:
            users.set_password(session, email=email, password=password)
        passwords[email] = password
    version = surveys.get_survey_version(session, slug=DEMO_SURVEY)
    round_ = session.exec(
        select(Round)
        .where(Round.survey_version_id == version.id, Round.name == DEMO_ROUND)
        .order_by(col(Round.id).desc())
    ).first()
    if round_ is not None and round_.status != "open":
        try:
            rounds.open_round(session, round_id=id_of(round_))
        except Conflict:
            round_ = None  # it has moved on (a next round, a published rubric): start afresh
    if round_ is None:
        round_ = rounds.create_round(session, slug=DEMO_SURVEY, name=DEMO_ROUND)
        rounds.open_round(session, round_id=id_of(round_))
    assert round_.id is not None
    existing = {
        contact.email: invitation
        for invitation, contact in session.exec(
            select(Invitation, ExpertContact)
            .join(ExpertContact, col(ExpertContact.expert_id) == col(Invitation.expert_id))
            .where(Invitation.round_id == round_.id)
        ).all()
    }
    links = []
    new_people = []
    for name, email, organisation, group in DEMO_EXPERTS:
        if email in existing:
            invitation_id = id_of(existing[email])
            links.append(invitations.reissue_invitation(session, invitation_id=invitation_id))
        else:
            new_people.append(
                InviteeCreate(
                    name=name, email=email, organisation=organisation, stakeholder_group=group
                )
            )
    if new_people:
        links += invitations.invite_experts(session, round_id=round_.id, invitees=new_people)
    links.sort(key=lambda link: link.name)
    return DemoSetup(
        admin_email=DEMO_ADMIN,
        admin_password=passwords[DEMO_ADMIN],
        researcher_email=DEMO_RESEARCHER,
        researcher_password=passwords[DEMO_RESEARCHER],
        round_id=round_.id,
        round_name=round_.name,
        survey=f"{DEMO_SURVEY} v{version.number}",
        links=links,
        loaded=loaded,
    )


def _simulate_sensitivities(
    session: Session,
    response_id: int,
    definition: SurveyDefinition,
    items: list[Item],
    rng: Any,
) -> None:
    """When the survey asks which factors would change a rating: a simulated expert answers
    for most items, naming a factor the item depends on more often than one it does not."""
    from app.inputs import SensitivityInput
    from app.services import sensitivity

    if definition.context.sensitivity_question is None:
        return
    for item in items:
        if rng.random() < 0.15:
            continue
        declared = {f.key for f in definition.factors_of(item.key)}
        named = [
            f.key
            for f in definition.factors_offered(item.key)
            if rng.random() < (0.6 if f.key in declared else 0.1)
        ]
        sensitivity.save_sensitivity(
            session,
            response_id=response_id,
            answer=SensitivityInput(item=item.key, factors=named),
        )


def simulate_panel(session: Session, *, round_id: int, n_experts: int, seed: int = 0) -> int:
    """Add ``n_experts`` simulated, submitted responses to an open round (for trying the
    reports). Each item has a latent score per dimension; each simulated expert adds a
    personal severity and noise, abstains now and then, and judges the tier from the
    survey's own rule. Returns the number of ratings written."""
    import numpy as np

    from app.inputs import RatingInput
    from app.services import responses
    from app.services.surveys import expected_cells
    from app.survey_files import HOLISTIC_TIER_KEY

    round_ = rounds.get_round(session, round_id=round_id)
    definition = rounds.round_definition(session, round_)
    rng = np.random.default_rng(seed)
    latent = {
        (item.key, dim.key): rng.uniform(dim.scale.min, dim.scale.max)
        for item in definition.items
        for dim in definition.dimensions
    }
    people = [
        InviteeCreate(
            name=f"Simulated expert {i + 1}",
            email=f"simulated.{round_id}.{seed}.{i + 1}@example.org",
            organisation=f"Simulated institute {'ABC'[i % 3]}",
            stakeholder_group=("government", "academia", "industry")[i % 3],
            # A survey given in several languages: the simulated panel reads it in each.
            language=definition.languages[i % len(definition.languages)],
        )
        for i in range(n_experts)
    ]
    issued = invitations.invite_experts(session, round_id=round_id, invitees=people)
    rule = definition.tier_rule
    # Its own generator, so the ratings are the same whether or not the survey asks this.
    factor_rng = np.random.default_rng([seed, 1])
    written = 0
    for link in issued:
        invitation = invitations.find_invitation(session, token=link.token)
        response = responses.start_response(session, invitation=invitation)
        assert response.id is not None
        responses.give_consent(session, response_id=response.id)
        severity = rng.normal(0, 0.4)
        ratings = []
        scores: dict[str, dict[str, float]] = {}
        for item_key, dim_key in expected_cells(definition):
            if dim_key == HOLISTIC_TIER_KEY:
                continue
            dim = definition.dimension(dim_key)
            if rng.random() < 0.04:
                ratings.append(RatingInput(item=item_key, dimension=dim_key, status="cant_judge"))
                continue
            raw = latent[(item_key, dim_key)] + severity + rng.normal(0, 0.6)
            value = int(np.clip(np.rint(raw), dim.scale.min, dim.scale.max))
            scores.setdefault(item_key, {})[dim_key] = value
            ratings.append(
                RatingInput(
                    item=item_key,
                    dimension=dim_key,
                    value=value,
                    confidence=("low", "medium", "high")[int(rng.integers(0, 3))],
                )
            )
        if definition.holistic_tier.enabled:
            for item in definition.items:
                values = [scores.get(item.key, {}).get(d) for d in rule.dimensions]
                known = [v for v in values if v is not None]
                if not known:
                    ratings.append(
                        RatingInput(item=item.key, dimension=HOLISTIC_TIER_KEY, status="cant_judge")
                    )
                    continue
                score = {"max": max, "min": min}.get(rule.aggregate, lambda v: sum(v) / len(v))(
                    known
                ) + rng.normal(0, 0.3)
                tier = sum(score >= rule.thresholds[t.key] for t in definition.tiers[1:])
                ratings.append(
                    RatingInput(item=item.key, dimension=HOLISTIC_TIER_KEY, value=int(tier))
                )
        saving = Saving(id_of(response), language=invitation.language)
        responses.save_ratings(session, saving, ratings=ratings)
        _simulate_sensitivities(
            session, response.id, definition, rounds.round_items(round_, definition), factor_rng
        )
        responses.submit_response(session, response_id=response.id)
        written += len(ratings)
    return written
