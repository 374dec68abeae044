"""Test fixtures: every database test runs once on SQLite and once on PostgreSQL.

``--db sqlite`` or ``--db postgresql`` narrows the run; PostgreSQL is reached through
``TEST_POSTGRES_URL`` (default: the local server's ``test`` database as user postgres).
Each test gets an empty, migrated database: SQLite copies a migrated template file,
PostgreSQL truncates the tables of a database migrated once per run.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.engine import Engine, make_url
from sqlmodel import Session, SQLModel

from app.config import Settings
from app.db import make_engine
from app.migrate import upgrade_database
from app.services import throttle

DEFAULT_PG = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--db",
        action="store",
        default="both",
        choices=("both", "sqlite", "postgresql"),
        help="database backends to run the database tests on",
    )


def _backends(config: pytest.Config) -> list[str]:
    choice = config.getoption("--db")
    return ["sqlite", "postgresql"] if choice == "both" else [choice]


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "backend" in metafunc.fixturenames:
        metafunc.parametrize("backend", _backends(metafunc.config), scope="session")


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("template") / "template.db"
    upgrade_database(f"sqlite:///{path}")
    return path


@pytest.fixture(scope="session")
def postgres_database() -> Iterator[str]:
    admin_url = Settings(database_url=os.environ.get("TEST_POSTGRES_URL", DEFAULT_PG)).database_url
    name = f"elicit_test_{uuid.uuid4().hex[:10]}"
    admin = make_engine(admin_url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as exc:  # pragma: no cover - environment problem
        pytest.fail(
            f"PostgreSQL is not reachable at {make_url(admin_url).render_as_string()}: {exc}. "
            "Start it, set TEST_POSTGRES_URL, or run with --db sqlite."
        )
    url = make_url(admin_url).set(database=name).render_as_string(hide_password=False)
    upgrade_database(url)
    yield url
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def empty_postgres(url: str) -> None:
    """Delete every row of a migrated PostgreSQL database and restart its sequences.

    DELETE, not TRUNCATE: a test leaves a few rows, and TRUNCATE of every table gives each
    a new file on disk (about 0.2 s a test here, against a few milliseconds); the result is
    the same, sequences included (TRUNCATE ... RESTART IDENTITY).
    """
    engine = make_engine(url)
    deletes = "; ".join(f'DELETE FROM "{t.name}"' for t in SQLModel.metadata.sorted_tables)
    with engine.begin() as connection:
        # Replica mode skips the triggers that guard the append-only tables in production,
        # and the foreign keys' triggers, so the order of the deletes does not matter.
        connection.execute(text("SET LOCAL session_replication_role = replica"))
        connection.exec_driver_sql(deletes)
        connection.execute(text("SELECT setval(seqrelid, seqstart, false) FROM pg_sequence"))
    engine.dispose()


@pytest.fixture
def database_url(backend: str, request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    throttle.forget_blocks()  # blocks remembered from an earlier test's (emptied) database
    if backend == "sqlite":
        template = request.getfixturevalue("sqlite_template")
        path = tmp_path / "elicit.db"
        shutil.copyfile(template, path)
        yield f"sqlite:///{path}"
        return
    url = request.getfixturevalue("postgres_database")
    empty_postgres(url)
    yield url


@pytest.fixture
def settings(database_url: str) -> Settings:
    # Reports compute in the request here; tests/test_load.py covers the computing process.
    return Settings(database_url=database_url, base_url="http://testserver", compute_processes=0)


@pytest.fixture
def engine(settings: Settings) -> Iterator[Engine]:
    engine = make_engine(settings.database_url)
    yield engine
    engine.dispose()


@pytest.fixture
def session(engine: Engine) -> Iterator[Session]:
    # Deferred on SQLite: a test's own reads must not hold the write lock the app needs.
    with Session(
        engine.execution_options(sqlite_begin="DEFERRED"), expire_on_commit=False
    ) as session:
        yield session
        session.rollback()


@pytest.fixture
def app(settings: Settings):  # type: ignore[no-untyped-def]
    from app.main import create_app

    application = create_app(settings)
    yield application
    application.state.engine.dispose()


@pytest.fixture
def client(app):  # type: ignore[no-untyped-def]
    from fastapi.testclient import TestClient

    with TestClient(app, base_url="http://testserver", follow_redirects=False) as c:
        yield c


@pytest.fixture
def elicit(database_url: str, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    """Run an ``elicit`` command on the test database; ``ok=False`` allows a failure."""
    from typer.testing import CliRunner

    from app.cli import cli
    from app.config import get_settings

    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.setenv("BASE_URL", "http://panel.example.org")
    # `elicit serve` switches the mail worker on in the environment: undone after the test.
    monkeypatch.setenv("MAIL_WORKER", "false")
    get_settings.cache_clear()
    runner = CliRunner()

    def run(*args: str, ok: bool = True):  # type: ignore[no-untyped-def]
        result = runner.invoke(cli, list(args))
        if ok:
            assert result.exit_code == 0, result.output
        return result

    yield run
    get_settings.cache_clear()


class SmtpCollector:
    """An aiosmtpd handler keeping every message it accepts."""

    def __init__(self) -> None:
        import email.message

        self.messages: list[email.message.Message] = []

    async def handle_DATA(self, server, session, envelope):  # type: ignore[no-untyped-def]
        import email

        self.messages.append(email.message_from_bytes(envelope.content))
        return "250 OK"


@pytest.fixture
def smtp_server() -> Iterator[tuple[str, SmtpCollector]]:
    """A real SMTP server on a free local port: its ``smtp://`` URL and what it received."""
    from aiosmtpd.controller import Controller

    from tests.live_server import free_port

    collector = SmtpCollector()
    port = free_port()
    controller = Controller(collector, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield f"smtp://127.0.0.1:{port}", collector
    finally:
        controller.stop()


# --- the browser tests' shared pieces ----------------------------------------------------


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Debian's headless Chromium, one per test module (skips where it is missing)."""
    from tests.browser_support import chromium

    with chromium() as launched:
        yield launched


@pytest.fixture(scope="module")
def screenshots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where a module's screenshots go for a person to look at (``$ELICIT_SCREENSHOTS``)."""
    from tests.browser_support import screenshot_dir

    return screenshot_dir(tmp_path_factory)
