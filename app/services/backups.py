"""Backups of the whole database and restoring them, on SQLite and PostgreSQL.

SQLite is copied with its online backup API: one consistent snapshot while the service
keeps running (WAL readers never block writers). PostgreSQL is dumped with ``pg_dump
--format=custom`` in the snapshot the counts were read in, and restored with ``pg_restore
--clean --if-exists --no-owner`` in one transaction. The password of a PostgreSQL URL goes
to the tools through PGPASSWORD in their environment, never on a command line. A restored
database is migrated to the newest schema, so an older backup restores into a newer app.
"""

from __future__ import annotations

import os
import re
import shutil
import sqlite3
import subprocess
from collections.abc import Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple
from urllib.parse import quote

from sqlalchemy import create_engine, inspect, text
from sqlalchemy.engine import Connection, Engine, make_url
from sqlalchemy.engine.url import URL
from sqlalchemy.pool import NullPool

from app.errors import Conflict, DomainError, InvalidInput, NotFound

SQLITE_HEADER = b"SQLite format 3\x00"
PG_DUMP_HEADER = b"PGDMP"  # the custom archive format of pg_dump
#: Tables whose row counts describe a backup (others are counted as "other rows").
COUNTED = (
    "users",
    "surveys",
    "survey_versions",
    "rounds",
    "experts",
    "expert_contacts",
    "invitations",
    "responses",
    "ratings",
    "rating_changes",
    "rubric_versions",
    "web_sessions",
)
_VERSION_TABLE = "alembic_version"
#: State of the moment rather than records: a database holding only these counts as empty.
_EPHEMERAL = {"web_sessions", "auth_failures"}


class BackupFailed(DomainError):
    """A backup or restore tool failed, or is missing."""


@dataclass(frozen=True)
class BackupSummary:
    """What a backup file holds: its kind, size and row counts."""

    path: Path
    kind: str  # "sqlite" or "postgresql"
    size_bytes: int
    revision: str | None
    counts: dict[str, int]

    @property
    def rounds(self) -> int:
        return self.counts.get("rounds", 0)

    @property
    def ratings(self) -> int:
        return self.counts.get("ratings", 0)


def backend_of(database_url: str) -> str:
    """'sqlite' or 'postgresql' (any other backend is refused)."""
    backend = make_url(database_url).get_backend_name()
    if backend not in ("sqlite", "postgresql"):
        raise InvalidInput(f"backups support SQLite and PostgreSQL, not {backend}")
    return backend


def backup_kind(path: Path) -> str:
    """The kind of backup in a file, from its first bytes: 'sqlite' or 'postgresql'."""
    try:
        with path.open("rb") as handle:
            head = handle.read(len(SQLITE_HEADER))
    except FileNotFoundError:
        raise NotFound(f"{path}: no such file", field="file") from None
    except OSError as exc:
        raise InvalidInput(f"{path}: cannot read: {exc.strerror or exc}", field="file") from exc
    if head == SQLITE_HEADER:
        return "sqlite"
    if head.startswith(PG_DUMP_HEADER):
        return "postgresql"
    raise InvalidInput(
        f"{path} is not an elicit backup: neither an SQLite database nor a pg_dump custom "
        "archive (elicit backup makes one of these)",
        field="file",
    )


def backup_database(*, database_url: str, path: Path) -> BackupSummary:
    """Write a consistent backup of the whole database to ``path`` (replaced atomically;
    readable by the owner only: it holds e-mail addresses and password hashes)."""
    backend = backend_of(database_url)
    partial = path.with_name(path.name + ".partial")
    _create_private(partial)
    try:
        if backend == "sqlite":
            revision, counts = _sqlite_backup(_sqlite_path(database_url), partial)
        else:
            revision, counts = _pg_backup(database_url, partial)
        os.replace(partial, path)
    finally:
        partial.unlink(missing_ok=True)
    return BackupSummary(path, backend, path.stat().st_size, revision, counts)


def restore_database(*, database_url: str, path: Path, force: bool = False) -> BackupSummary:
    """Replace the database with a backup, migrate it to the newest schema and end every
    session (staff sign in again, experts open their links again).

    Refused when the backup is of the other backend, when it is newer than this software,
    or (unless ``force``) when the database already holds data.
    """
    backend = backend_of(database_url)
    kind = backup_kind(path)
    if kind != backend:
        raise InvalidInput(
            f"{path} is a {_NAMES[kind]} backup but the database is {_NAMES[backend]}; "
            f"restore it into a {_NAMES[kind]} database",
            field="file",
        )
    revision = _sqlite_check_backup(path) if backend == "sqlite" else _pg_check_backup(path)
    _ensure_known(revision, path)
    held = _held(database_url, backend)
    if any(held.values()) and not force:
        raise Conflict(
            f"the database already holds data ({describe_counts(held)}); "
            "restore --force replaces all of it with the backup",
            field="force",
        )
    if backend == "sqlite":
        _sqlite_restore(path, _sqlite_path(database_url))
    else:
        _pg_restore(database_url, path, revision)
    from app.migrate import upgrade_database

    upgrade_database(database_url)
    engine = _engine(database_url)
    try:
        with engine.begin() as connection:
            # Sessions are not history: a restored one could be one that a password change
            # or a deactivation ended after the backup was made. Everyone signs in again.
            connection.execute(text("DELETE FROM web_sessions"))
        counts = _counts(engine)
        with engine.connect() as connection:
            current = _revision(connection)
    finally:
        engine.dispose()
    return BackupSummary(path, kind, path.stat().st_size, current, counts)


def describe_counts(counts: dict[str, int]) -> str:
    """'2 rounds, 18 ratings, ...' for the tables that have rows."""
    shown = [f"{n} {table.replace('_', ' ')}" for table, n in counts.items() if n]
    return ", ".join(shown) or "no rows"


_NAMES = {"sqlite": "SQLite", "postgresql": "PostgreSQL"}


def _held(database_url: str, backend: str) -> dict[str, int]:
    """Row counts of the records a restore would replace (none for a missing file)."""
    if backend == "sqlite" and not _sqlite_path(database_url).exists():
        return {}
    engine = _engine(database_url)
    try:
        with engine.connect() as connection:
            return _count_rows(connection, ignore=_EPHEMERAL)
    finally:
        engine.dispose()


def _create_private(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.unlink(missing_ok=True)
    os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))


def _engine(database_url: str) -> Engine:
    return create_engine(database_url, poolclass=NullPool)


def _counts(engine: Engine) -> dict[str, int]:
    with engine.connect() as connection:
        return _count_rows(connection)


def _count_rows(connection: Connection, *, ignore: set[str] | None = None) -> dict[str, int]:
    tables = set(inspect(connection).get_table_names()) - {_VERSION_TABLE} - (ignore or set())
    counts = {t: _count(connection, t) for t in COUNTED if t in tables}
    other = sum(_count(connection, t) for t in sorted(tables - set(COUNTED)))
    if other:
        counts["other rows"] = other
    return counts


def _count(connection: Connection, table: str) -> int:
    quoted = connection.dialect.identifier_preparer.quote(table)
    return int(connection.execute(text(f"SELECT count(*) FROM {quoted}")).scalar_one())  # noqa: S608


def _revision(connection: Connection) -> str | None:
    if not inspect(connection).has_table(_VERSION_TABLE):
        return None
    return connection.execute(text(f"SELECT version_num FROM {_VERSION_TABLE}")).scalar()  # noqa: S608


def _ensure_known(revision: str | None, path: Path) -> None:
    from alembic.script import ScriptDirectory
    from alembic.util import CommandError

    from app.migrate import alembic_config

    if revision is None:
        raise InvalidInput(
            f"{path} is not an elicit backup: it has no schema version", field="file"
        )
    script = ScriptDirectory.from_config(alembic_config("sqlite://"))
    try:
        known = script.get_revision(revision) is not None
    except CommandError:
        known = False
    if not known:
        raise InvalidInput(
            f"{path} comes from a newer version of elicit (schema {revision}); restore it "
            "with that version or a later one",
            field="file",
        )


# --- SQLite --------------------------------------------------------------------------------


def _sqlite_path(database_url: str) -> Path:
    database = make_url(database_url).database
    if not database or database == ":memory:":
        raise InvalidInput("an in-memory SQLite database cannot be backed up or restored")
    return Path(database)


def _sqlite_backup(source: Path, target: Path) -> tuple[str | None, dict[str, int]]:
    if not source.exists():
        raise NotFound(f"no database at {source}")
    with (
        closing(sqlite3.connect(source, timeout=30)) as live,
        closing(sqlite3.connect(target)) as copy,
    ):
        live.backup(copy)  # one step: a single consistent snapshot
        # A self-contained file (no -wal beside it) that opens without write access.
        copy.execute("PRAGMA journal_mode=DELETE")
        problems = copy.execute("PRAGMA quick_check").fetchall()
        if problems != [("ok",)]:
            raise BackupFailed(f"the copy of {source} fails its integrity check: {problems[:3]}")
    return _sqlite_describe(target)


def _sqlite_describe(path: Path) -> tuple[str | None, dict[str, int]]:
    engine = _engine(f"sqlite:///{path}")
    try:
        with engine.connect() as connection:
            return _revision(connection), _count_rows(connection)
    finally:
        engine.dispose()


def _sqlite_check_backup(path: Path) -> str | None:
    try:
        with closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as backup:
            problems = backup.execute("PRAGMA quick_check").fetchall()
    except sqlite3.DatabaseError as exc:
        raise InvalidInput(f"{path} is a damaged SQLite file: {exc}", field="file") from exc
    if problems != [("ok",)]:
        raise InvalidInput(f"{path} is a damaged SQLite file: {problems[:3]}", field="file")
    return _sqlite_describe(path)[0]


def _sqlite_restore(backup: Path, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    with (
        closing(sqlite3.connect(f"file:{backup}?mode=ro", uri=True)) as source,
        closing(sqlite3.connect(target, timeout=30)) as live,
    ):
        # Page by page into the live file, under its lock: running servers see the
        # restored database on their next transaction.
        source.backup(live)
        live.execute("PRAGMA journal_mode=WAL")


# --- PostgreSQL ----------------------------------------------------------------------------


class LibpqTarget(NamedTuple):
    """Where pg_dump and psql connect: a libpq URI without the password, and the
    environment the tools run in, which carries it."""

    uri: str
    env: dict[str, str]


def libpq_target(database_url: str) -> LibpqTarget:
    """A libpq connection URI without the password, and the environment carrying it."""
    url: URL = make_url(database_url)
    host = url.host or ""
    if ":" in host:
        host = f"[{host}]"
    user = quote(url.username, safe="") + "@" if url.username else ""
    port = f":{url.port}" if url.port else ""
    database = quote(url.database or "", safe="")
    query = "&".join(
        f"{quote(key, safe='')}={quote(value, safe='')}"
        for key, values in url.query.items()
        for value in ((values,) if isinstance(values, str) else values)
    )
    uri = f"postgresql://{user}{host}{port}/{database}" + (f"?{query}" if query else "")
    env = dict(os.environ)
    if url.password is not None:
        env["PGPASSWORD"] = str(url.password)
    return LibpqTarget(uri, env)


def _tool(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        raise BackupFailed(
            f"{name} is not installed: install the PostgreSQL client tools of the server's "
            "major version or newer (Debian: postgresql-client)"
        )
    return found


def _run(args: list[str], env: dict[str, str], what: str) -> str:
    result = subprocess.run(args, env=env, capture_output=True, text=True, check=False)  # noqa: S603
    if result.returncode != 0:
        detail = result.stderr.strip() or f"exit status {result.returncode}"
        raise BackupFailed(f"{what} failed: {detail}")
    return result.stdout


@contextmanager
def _exported_snapshot(engine: Engine) -> Iterator[tuple[str, Connection]]:
    # pg_dump --snapshot reads exactly what this transaction sees, so the counts we print
    # describe the dump; the transaction stays open until pg_dump is done.
    with engine.connect() as connection:
        connection = connection.execution_options(isolation_level="REPEATABLE READ")
        with connection.begin():
            connection.execute(text("SET TRANSACTION READ ONLY"))
            snapshot = connection.execute(text("SELECT pg_export_snapshot()")).scalar_one()
            yield str(snapshot), connection


def _pg_backup(database_url: str, target: Path) -> tuple[str | None, dict[str, int]]:
    pg_dump = _tool("pg_dump")
    uri, env = libpq_target(database_url)
    engine = _engine(database_url)
    try:
        with _exported_snapshot(engine) as (snapshot, connection):
            revision, counts = _revision(connection), _count_rows(connection)
            _run(
                [
                    pg_dump,
                    "--format=custom",
                    f"--snapshot={snapshot}",
                    f"--file={target}",
                    f"--dbname={uri}",
                ],
                env,
                "pg_dump",
            )
    finally:
        engine.dispose()
    return revision, counts


_COPY_VERSION = re.compile(
    r"^COPY \S*alembic_version \(version_num\) FROM stdin;\n([^\n]*)\n", re.M
)


def _pg_check_backup(path: Path) -> str | None:
    pg_restore = _tool("pg_restore")
    env = dict(os.environ)
    try:
        listing = _run([pg_restore, "--list", str(path)], env, "reading the archive")
    except BackupFailed as exc:
        raise InvalidInput(
            f"{path} is not a readable pg_dump archive: {exc.message}", field="file"
        ) from exc
    # Reading the whole archive (to nowhere) finds a damaged or truncated file before the
    # database is touched.
    try:
        _run([pg_restore, f"--file={os.devnull}", str(path)], env, "reading the archive")
    except BackupFailed as exc:
        raise InvalidInput(
            f"{path} is a damaged pg_dump archive: {exc.message}", field="file"
        ) from exc
    if not re.search(rf"^\d+; \d+ \d+ TABLE \S+ {_VERSION_TABLE} ", listing, re.M):
        raise InvalidInput(
            f"{path} is not an elicit backup: it has no schema version", field="file"
        )
    script = _run(
        [pg_restore, "--data-only", f"--table={_VERSION_TABLE}", "--file=-", str(path)],
        env,
        "reading the archive",
    )
    found = _COPY_VERSION.search(script)
    return (found.group(1).strip() or None) if found else None


def _pg_restore(database_url: str, backup: Path, revision: str | None) -> None:
    pg_restore = _tool("pg_restore")
    _step_back_to(database_url, revision)
    uri, env = libpq_target(database_url)
    _run(
        [
            pg_restore,
            "--clean",
            "--if-exists",
            "--no-owner",
            "--no-privileges",
            "--single-transaction",
            "--exit-on-error",
            f"--dbname={uri}",
            str(backup),
        ],
        env,
        "pg_restore",
    )


def _step_back_to(database_url: str, revision: str | None) -> None:
    """Downgrade a database whose schema is newer than the backup's to the backup's, so
    that after pg_restore no newer table is left over for the upgrade to trip on."""
    from alembic import command
    from alembic.script import ScriptDirectory
    from alembic.script.revision import RevisionError

    from app.migrate import alembic_config

    engine = _engine(database_url)
    try:
        with engine.connect() as connection:
            current = _revision(connection)
    finally:
        engine.dispose()
    if current is None or revision is None or current == revision:
        return
    config = alembic_config(database_url)
    script = ScriptDirectory.from_config(config)
    try:
        between = [r.revision for r in script.iterate_revisions(current, revision)]
    except RevisionError:  # the database is not a later schema of the backup's
        return
    if current in between:
        command.downgrade(config, revision)
