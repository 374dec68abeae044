"""Run Alembic migrations from code (``elicit db upgrade``, the demo and the tests)."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Engine


def _migrations_dir() -> Path:
    # A checkout has migrations/ at its top; an installed wheel carries them in app/.
    checkout = Path(__file__).resolve().parent.parent / "migrations"
    return checkout if (checkout / "env.py").exists() else Path(__file__).parent / "_migrations"


MIGRATIONS_DIR = _migrations_dir()


def alembic_config(database_url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.attributes["database_url"] = database_url
    return config


def upgrade_database(database_url: str, revision: str = "head") -> None:
    """Bring the database schema up to ``revision`` (default: the newest)."""
    command.upgrade(alembic_config(database_url), revision)


def pending_revision(engine: Engine) -> str | None:
    """The head revision if the database is behind it, else None."""
    script = ScriptDirectory.from_config(alembic_config(str(engine.url)))
    head = script.get_current_head()
    with engine.connect() as connection:
        current = MigrationContext.configure(connection).get_current_revision()
    return None if current == head else head
