"""The migrations build exactly the schema the models declare, on both backends."""

from __future__ import annotations

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import text
from sqlalchemy.exc import DatabaseError
from sqlmodel import SQLModel

import app.models  # noqa: F401
from app.migrate import alembic_config, pending_revision, upgrade_database
from app.services import responses
from app.services.answer_store import Saving
from tests.factories import make_invitations, make_response, make_round, rating


def test_upgrade_head_leaves_nothing_for_autogenerate(engine):
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        assert compare_metadata(context, SQLModel.metadata) == []
    assert pending_revision(engine) is None


def test_downgrade_to_base_and_back(database_url, engine):
    command.downgrade(alembic_config(database_url), "base")
    assert pending_revision(engine) is not None
    upgrade_database(database_url)
    assert pending_revision(engine) is None


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE rating_changes SET value = 5",
        "DELETE FROM rating_changes",
    ],
)
def test_rating_history_is_append_only_in_the_database(session, engine, statement):
    round_ = make_round(session)
    issued = make_invitations(session, round_, 1)[0]
    response = make_response(session, issued)
    responses.save_ratings(session, Saving(response.id), ratings=[rating(value=2)])
    session.commit()
    with pytest.raises(DatabaseError, match="append-only"), engine.begin() as connection:
        connection.execute(text(statement))
    with engine.connect() as connection:
        assert connection.execute(text("SELECT count(*) FROM rating_changes")).scalar() == 1


@pytest.mark.parametrize(
    "statement",
    ["UPDATE audit_log SET actor = 'someone else'", "DELETE FROM audit_log"],
)
def test_the_audit_trail_is_append_only_in_the_database(session, engine, statement):
    from app.services import audit

    audit.record(session, "admin@example.org", "round.opened", "round", 1)
    session.commit()
    with pytest.raises(DatabaseError, match="append-only"), engine.begin() as connection:
        connection.execute(text(statement))
    with engine.connect() as connection:
        assert connection.execute(text("SELECT actor FROM audit_log")).scalar() == (
            "admin@example.org"
        )
