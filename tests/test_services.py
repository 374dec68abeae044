"""The service layer directly: versioning, round states, invitations, ratings and history."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlmodel import select

from app.errors import Conflict, InvalidInput, NotFound, ResponseLocked, RoundNotOpen
from app.models import Expert, Invitation, RatingChange, SurveyVersion, utcnow
from app.schemas import InviteeCreate
from app.services import invitations, responses, rounds, surveys
from app.services.answer_store import Saving
from app.services.surveys import definition_of, expected_cells
from tests.factories import make_invitations, make_response, make_round, make_survey, rating


def test_a_changed_definition_is_a_new_version_and_old_ones_stay(session):
    first = make_survey(session)
    same = make_survey(session)
    changed = make_survey(session, title="Revised")
    assert (first.number, same.id, changed.number) == (1, first.id, 2)
    stored = session.exec(select(SurveyVersion).where(SurveyVersion.number == 1)).one()
    assert stored.title == "A small survey" and stored.content_sha256 == first.content_sha256
    assert surveys.get_survey_version(session, slug="small").number == 2
    with pytest.raises(NotFound, match="version 7"):
        surveys.get_survey_version(session, slug="small", number=7)


def test_rounds_use_the_version_they_were_created_on(session):
    round_ = make_round(session)
    make_survey(
        session, title="Revised", items=[{"key": "other", "label": "Other", "description": "x"}]
    )
    definition = rounds.round_definition(session, round_)
    assert [i.key for i in definition.items] == ["weights", "evals", "methods"]


def test_expected_cells_include_the_holistic_tier(session):
    version = make_survey(session)
    cells = expected_cells(definition_of(version))
    assert len(cells) == 9 and ("weights", "tier") in cells


def test_criteria_are_frozen_when_the_round_first_opens(session):
    round_ = make_round(session, status="draft")
    assert round_.criteria is None
    rounds.open_round(session, round_id=round_.id)
    rounds.close_round(session, round_id=round_.id)
    frozen = dict(round_.criteria)
    rounds.open_round(session, round_id=round_.id)
    assert round_.criteria == frozen
    assert frozen["consensus"] == {"max_iqr": 1.0, "min_share_within_one": 0.7, "min_n": 3}


def test_a_round_past_its_closing_time_refuses_answers(session):
    round_ = make_round(session, closes_at=utcnow() + timedelta(hours=1))
    rounds.ensure_accepting(round_)
    with pytest.raises(RoundNotOpen, match="closed at"):
        rounds.ensure_accepting(round_, now=utcnow() + timedelta(hours=2))
    with pytest.raises(InvalidInput, match="future"):
        rounds.create_round(session, slug="small", name="R", closes_at=utcnow())


def test_same_email_keeps_its_code_across_rounds(session):
    first = make_round(session, name="R1")
    second = make_round(session, name="R2")
    a = make_invitations(session, first, 1)[0]
    b = make_invitations(session, second, 1)[0]
    assert a.expert_code == b.expert_code
    assert len(session.exec(select(Expert)).all()) == 1


def test_invitations_are_all_or_nothing(session):
    round_ = make_round(session)
    people = [
        InviteeCreate(name="A", email="a@example.org"),
        InviteeCreate(name="B", email="A@example.org"),
    ]
    with pytest.raises(InvalidInput, match="listed twice"):
        invitations.invite_experts(session, round_id=round_.id, invitees=people)
    session.rollback()
    assert session.exec(select(Invitation)).all() == []


def test_no_invitations_to_a_closed_round(session):
    round_ = make_round(session, status="closed")
    with pytest.raises(Conflict, match="closed"):
        make_invitations(session, round_, 1)


def test_csv_parsing_names_file_and_line():
    with pytest.raises(InvalidInput, match=r"people.csv:1: .*missing: email"):
        invitations.parse_invitees_csv("name,mail\nA,a@x.org\n", filename="people.csv")
    with pytest.raises(InvalidInput, match=r"people.csv:3: name"):
        invitations.parse_invitees_csv(
            "name,email\nA,a@example.org\n,b@example.org\n", filename="people.csv"
        )
    people = invitations.parse_invitees_csv(
        "\ufeffName,Email,Organisation,Stakeholder_group\n\nA,a@example.org,X,gov\n"
    )
    assert people[0].stakeholder_group == "gov" and people[0].organisation == "X"


def test_history_keeps_every_change_and_skips_no_ops(session):
    round_ = make_round(session)
    response = make_response(session, make_invitations(session, round_, 1)[0])
    for value in (2, 2, 4):
        responses.save_ratings(session, Saving(response.id), ratings=[rating(value=value)])
    responses.save_ratings(
        session,
        Saving(response.id),
        ratings=[rating(value=None, status="cant_judge", rationale="unsure")],
    )
    history = session.exec(select(RatingChange).order_by(RatingChange.id)).all()
    assert [(h.revision, h.status, h.value) for h in history] == [
        (1, "value", 2),
        (2, "value", 4),
        (3, "cant_judge", None),
    ]
    assert history[-1].rationale == "unsure" and history[-1].changed_by == "expert"


def test_submit_needs_consent_and_reopen_needs_an_open_round(session):
    round_ = make_round(session)
    issued = make_invitations(session, round_, 1)[0]
    response = make_response(session, issued, consent=False)
    with pytest.raises(Conflict, match="consent"):
        responses.submit_response(session, response_id=response.id)
    responses.give_consent(session, response_id=response.id)
    responses.submit_response(session, response_id=response.id)
    with pytest.raises(ResponseLocked):
        responses.save_ratings(session, Saving(response.id), ratings=[rating()])
    rounds.close_round(session, round_id=round_.id)
    with pytest.raises(RoundNotOpen):
        responses.reopen_response(session, response_id=response.id)


def test_sessions_expire_and_die_with_their_invitation(session):
    from app.services import sessions

    round_ = make_round(session)
    issued = make_invitations(session, round_, 1)[0]
    token, row = sessions.start_session(session, invitation_id=issued.invitation_id, hours=1)
    assert sessions.resolve_session(session, token=token) is not None
    row.expires_at = utcnow() - timedelta(seconds=1)
    assert sessions.resolve_session(session, token=token) is None
    assert sessions.purge_expired_sessions(session) == 1
    token, _ = sessions.start_session(session, invitation_id=issued.invitation_id, hours=1)
    invitations.revoke_invitation(session, invitation_id=issued.invitation_id)
    assert sessions.resolve_session(session, token=token) is None
