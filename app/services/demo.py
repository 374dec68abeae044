"""The demo set-up: built-in surveys, an admin, an open round and a few invitations."""

from __future__ import annotations

from dataclasses import dataclass

from sqlmodel import Session, col, select

from app.models import ExpertContact, Invitation, Round
from app.schemas import InviteeCreate
from app.security import new_password
from app.services import invitations, rounds, surveys, users
from app.survey_files import builtin_surveys_dir, discover_survey_files, load_survey_file

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
    """Idempotent: re-running resets the demo passwords and re-issues the expert links."""
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
        select(Round).where(Round.survey_version_id == version.id, Round.name == DEMO_ROUND)
    ).first()
    if round_ is None:
        round_ = rounds.create_round(session, slug=DEMO_SURVEY, name=DEMO_ROUND)
    assert round_.id is not None
    if round_.status != "open":
        rounds.open_round(session, round_id=round_.id)
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
            assert existing[email].id is not None
            links.append(invitations.reissue_invitation(session, invitation_id=existing[email].id))
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
