"""`elicit backup` and `elicit restore` on both backends: a round trip gives back the same
ratings and the same append-only history, the guards survive it, a backup taken while
experts save is consistent, and a restore refuses what it should."""

from __future__ import annotations

import os
import shutil
import sqlite3
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DatabaseError
from sqlmodel import Session, SQLModel, select
from typer.testing import CliRunner

from app.config import Settings
from app.db import make_engine
from app.errors import Conflict, InvalidInput, NotFound
from app.migrate import upgrade_database
from app.models import Rating, RatingChange, Response
from app.services import backups, responses, rounds, rubrics
from app.services.answer_store import Saving
from app.services.demo import simulate_panel
from tests.conftest import DEFAULT_PG
from tests.factories import make_invitations, make_response, make_round, make_user, rating

runner = CliRunner()
#: Tables that are state of the moment, not records: a restore ends every session.
EPHEMERAL = {"web_sessions", "auth_failures"}


@pytest.fixture
def tools(backend: str) -> None:
    if backend == "postgresql" and not (shutil.which("pg_dump") and shutil.which("pg_restore")):
        pytest.skip("pg_dump / pg_restore are not installed (PostgreSQL client tools)")


@pytest.fixture
def new_database(backend: str, tmp_path: Path) -> Iterator[Any]:
    """Makes more databases: a file path that does not exist yet (SQLite) or a new, empty
    PostgreSQL database, dropped after the test."""
    created: list[str] = []
    admin_url = Settings(database_url=os.environ.get("TEST_POSTGRES_URL", DEFAULT_PG)).database_url
    admin = make_engine(admin_url, isolation_level="AUTOCOMMIT")

    def make() -> str:
        if backend == "sqlite":
            return f"sqlite:///{tmp_path / uuid.uuid4().hex / 'elicit.db'}"
        name = f"elicit_restore_{uuid.uuid4().hex[:10]}"
        with admin.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{name}"'))
        created.append(name)
        return make_url(admin_url).set(database=name).render_as_string(hide_password=False)

    yield make
    with admin.connect() as connection:
        for name in created:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture
def blank_url(new_database: Any) -> str:
    return new_database()


def _lasting(counts: dict[str, int]) -> dict[str, int]:
    return {table: n for table, n in counts.items() if table not in EPHEMERAL}


def _contents(url: str) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table (sessions aside), in primary-key order."""
    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            return {
                table.name: [
                    tuple(row)
                    for row in connection.execute(
                        table.select().order_by(*table.primary_key.columns)
                    )
                ]
                for table in SQLModel.metadata.sorted_tables
                if table.name not in EPHEMERAL
            }
    finally:
        engine.dispose()


def _panel(session: Session) -> dict[str, int]:
    """A closed, published round, and an open one with drafts revised several times."""
    admin = make_user(session)
    published = make_round(session, name="Published")
    simulate_panel(session, round_id=published.id, n_experts=6, seed=7)
    rounds.close_round(session, round_id=published.id)
    rubrics.publish_rubric(
        session, round_id=published.id, publisher=admin, justification="test", n_bootstrap=20
    )
    session.commit()
    live = make_round(session, name="Live")
    for link in make_invitations(session, live, 2, prefix="live"):
        response = make_response(session, link)
        for value in (1, 4, 2):
            responses.save_ratings(
                session,
                Saving(response.id),
                ratings=[rating("weights", "sensitivity", value, rationale=f"now {value}")],
            )
            session.commit()
    return {"published": published.id, "live": live.id}


def test_round_trip_gives_back_the_same_ratings_and_history(
    session, engine, database_url, blank_url, tmp_path, tools, backend
):
    ids = _panel(session)
    before = _contents(database_url)
    assert len(before["rating_changes"]) > len(before["ratings"]) > 0
    file = tmp_path / "elicit.backup"
    made = backups.backup_database(database_url=database_url, path=file)
    assert made.kind == backend and made.size_bytes == file.stat().st_size > 0
    assert made.counts["ratings"] == len(before["ratings"])
    assert made.counts["rating_changes"] == len(before["rating_changes"])
    assert (
        made.counts["rounds"] == 2 and made.rounds == 2 and made.ratings == made.counts["ratings"]
    )
    assert oct(file.stat().st_mode & 0o777) == "0o600"

    # Later work that the restore must undo: another revision and another round.
    response = session.exec(select(Response).where(Response.round_id == ids["live"])).first()
    responses.save_ratings(session, Saving(response.id), ratings=[rating(value=5)])
    make_round(session, name="After the backup")
    session.commit()
    session.close()
    assert _contents(database_url) != before

    with pytest.raises(Conflict, match="already holds data"):
        backups.restore_database(database_url=database_url, path=file)
    restored = backups.restore_database(database_url=database_url, path=file, force=True)
    assert _lasting(restored.counts) == _lasting(made.counts)
    assert _contents(database_url) == before

    # Into a database that does not exist yet (SQLite) or is empty (PostgreSQL).
    backups.restore_database(database_url=blank_url, path=file)
    assert _contents(blank_url) == before
    _check_guards_and_sequences(blank_url, ids["live"])


def _check_guards_and_sequences(url: str, live_round: int) -> None:
    engine = make_engine(url)
    try:
        # The append-only history and the published rubric are still guarded.
        for statement in (
            "UPDATE rating_changes SET rationale = 'edited'",
            "DELETE FROM rubric_versions",
        ):
            with pytest.raises(DatabaseError), engine.begin() as connection:
                connection.execute(text(statement))
        # New rows get new ids (PostgreSQL's sequences came back too).
        with Session(engine) as session:
            newest = max(session.exec(select(RatingChange.id)).all())
            response = session.exec(select(Response).where(Response.round_id == live_round)).first()
            responses.save_ratings(session, Saving(response.id), ratings=[rating(value=3)])
            session.commit()
            assert max(session.exec(select(RatingChange.id)).all()) > newest
    finally:
        engine.dispose()


def test_an_older_backup_restores_into_a_newer_schema(
    tmp_path, new_database, blank_url, tools, backend
):
    from alembic import command

    from app.migrate import alembic_config

    # Rows are written with today's models, then the schema is taken back to 0002 (the
    # models cannot write into an old schema that lacks their newer columns).
    old_url = new_database()
    upgrade_database(old_url)
    engine = make_engine(old_url)
    try:
        with Session(engine) as session:
            round_ = make_round(session, name="Old")
            make_invitations(session, round_, 2)
    finally:
        engine.dispose()
    command.downgrade(alembic_config(old_url), "0002")
    file = tmp_path / "old.backup"
    assert backups.backup_database(database_url=old_url, path=file).revision == "0002"
    upgrade_database(blank_url)  # the new server was set up (and migrated) first
    restored = backups.restore_database(database_url=blank_url, path=file)
    assert restored.revision != "0002" and restored.counts["invitations"] == 2
    engine = make_engine(blank_url)
    try:
        with engine.connect() as connection:
            head = connection.execute(text("SELECT version_num FROM alembic_version")).scalar()
        assert head == restored.revision
    finally:
        engine.dispose()


def test_a_backup_taken_while_experts_save_is_consistent(
    session, database_url, blank_url, tmp_path, tools, backend
):
    round_ = make_round(session)
    links = make_invitations(session, round_, 3)
    response_ids = [make_response(session, link).id for link in links]
    session.close()
    stop = threading.Event()
    saved = []

    def save(response_id: int) -> None:
        engine = make_engine(database_url)
        value = 0
        try:
            while not stop.is_set():
                with Session(engine) as own:
                    answers = [
                        rating(item, dimension, value % 5 + 1)
                        for item in ("weights", "evals")
                        for dimension in ("sensitivity", "misuse")
                    ]
                    responses.save_ratings(own, Saving(response_id), ratings=answers)
                    own.commit()
                saved.append(response_id)
                value += 1
        finally:
            engine.dispose()

    writers = [threading.Thread(target=save, args=(rid,)) for rid in response_ids]
    for writer in writers:
        writer.start()
    try:
        while len(saved) < 6:
            stop.wait(0.01)
        file = tmp_path / "during.backup"
        backups.backup_database(database_url=database_url, path=file)
    finally:
        stop.set()
        for writer in writers:
            writer.join()
    backups.restore_database(database_url=blank_url, path=file)
    engine = make_engine(blank_url)
    try:
        with Session(engine) as restored:
            ratings = restored.exec(select(Rating)).all()
            changes = restored.exec(select(RatingChange)).all()
    finally:
        engine.dispose()
    assert ratings
    # Each save writes a rating's new revision and its history row in one transaction: a
    # consistent snapshot holds exactly `revision` history rows for every rating.
    per_rating: dict[int, int] = {}
    for change in changes:
        per_rating[change.rating_id] = per_rating.get(change.rating_id, 0) + 1
    assert {r.id: r.revision for r in ratings} == per_rating


def test_restore_checks_the_file(session, database_url, tmp_path, tools, backend):
    make_round(session)
    session.close()
    missing = tmp_path / "missing.backup"
    with pytest.raises(NotFound, match="no such file"):
        backups.restore_database(database_url=database_url, path=missing, force=True)
    text_file = tmp_path / "notes.txt"
    text_file.write_text("name,email\n", encoding="utf-8")
    with pytest.raises(InvalidInput, match="not an elicit backup"):
        backups.restore_database(database_url=database_url, path=text_file, force=True)
    other = tmp_path / "other-kind.backup"
    if backend == "sqlite":
        other.write_bytes(backups.PG_DUMP_HEADER + b"\x01\x0e\x00" + b"\x00" * 64)
        expected = "is a PostgreSQL backup but the database is SQLite"
    else:
        other.write_bytes(backups.SQLITE_HEADER + b"\x00" * 84)
        expected = "is a SQLite backup but the database is PostgreSQL"
    with pytest.raises(InvalidInput, match=expected):
        backups.restore_database(database_url=database_url, path=other, force=True)
    truncated = tmp_path / "truncated.backup"
    good = tmp_path / "good.backup"
    backups.backup_database(database_url=database_url, path=good)
    truncated.write_bytes(good.read_bytes()[: good.stat().st_size // 3])
    with pytest.raises(InvalidInput, match=r"damaged|not a readable"):
        backups.restore_database(database_url=database_url, path=truncated, force=True)
    assert _contents(database_url)["rounds"]  # nothing was touched


def test_a_backup_from_newer_software_is_refused(session, database_url, tmp_path, backend):
    if backend != "sqlite":
        pytest.skip("the check is the same on PostgreSQL; SQLite lets the test edit a backup")
    make_round(session)
    session.close()
    file = tmp_path / "newer.backup"
    backups.backup_database(database_url=database_url, path=file)
    with sqlite3.connect(file) as connection:
        connection.execute("UPDATE alembic_version SET version_num = '9999_from_the_future'")
    connection.close()
    with pytest.raises(InvalidInput, match="newer version of elicit"):
        backups.restore_database(database_url=database_url, path=file, force=True)


def test_the_password_reaches_the_tools_through_the_environment(monkeypatch):
    uri, env = backups.libpq_target(
        "postgresql+psycopg://ann%40lab:p%40ss%3Aword@db.example.org:5433/el%2Fcit?sslmode=require"
    )
    assert uri == "postgresql://ann%40lab@db.example.org:5433/el%2Fcit?sslmode=require"
    assert env["PGPASSWORD"] == "p@ss:word"
    uri, env = backups.libpq_target("postgresql+psycopg://postgres@[::1]:5432/test")
    assert uri == "postgresql://postgres@[::1]:5432/test"
    monkeypatch.delenv("PGPASSWORD", raising=False)
    assert "PGPASSWORD" not in backups.libpq_target("postgresql+psycopg://u@h/d")[1]


def test_backup_with_a_password_keeps_it_off_the_command_line(
    session, database_url, tmp_path, monkeypatch, tools, backend
):
    if backend != "postgresql":
        pytest.skip("SQLite backups run no external tool")
    # The test server trusts local connections, so any password is accepted.
    with_password = make_url(database_url).set(password="s3cret-word")
    url = with_password.render_as_string(hide_password=False)
    seen: list[tuple[list[str], dict[str, str]]] = []
    real_run = backups.subprocess.run

    def spy(args, **kwargs):  # type: ignore[no-untyped-def]
        seen.append((list(args), dict(kwargs["env"])))
        return real_run(args, **kwargs)

    monkeypatch.setattr(backups.subprocess, "run", spy)
    backups.backup_database(database_url=url, path=tmp_path / "b.backup")
    assert seen and all("s3cret-word" not in " ".join(args) for args, _ in seen)
    assert all(env.get("PGPASSWORD") == "s3cret-word" for _, env in seen)


def test_backup_and_restore_commands(session, elicit, database_url, tmp_path, tools, backend):
    _panel(session)
    session.close()
    before = _contents(database_url)
    file = tmp_path / "cli.backup"
    made = elicit("backup", str(file)).output
    assert f"to {file} (" in made and "KiB" in made
    assert "2 rounds" in made and f"{len(before['ratings'])} ratings" in made
    refused = elicit("restore", str(file), ok=False)
    assert refused.exit_code == 1 and "already holds data" in refused.output
    assert "--force" in refused.output
    done = elicit("restore", str(file), "--force").output
    assert "restored" in done and f"{len(before['ratings'])} ratings" in done
    assert _contents(database_url) == before
    bad = elicit("restore", str(tmp_path / "nope.backup"), ok=False)
    assert bad.exit_code == 1 and "no such file" in bad.output


def test_a_database_with_only_failed_sign_ins_counts_as_empty(
    session, database_url, blank_url, tmp_path, tools, backend
):
    from app.services import throttle

    make_round(session)
    session.commit()
    file = tmp_path / "b.backup"
    backups.backup_database(database_url=database_url, path=file)
    upgrade_database(blank_url)
    engine = make_engine(blank_url)
    try:
        with Session(engine) as other:
            throttle.record_failure(other, keys=[throttle.token_key(address="192.0.2.1")])
            other.commit()
    finally:
        engine.dispose()
    assert backups.restore_database(database_url=blank_url, path=file).counts["rounds"] == 1
