"""Engine and session handling shared by the web app and the CLI.

A unit of work is read-only or writing. Read-only work takes no write lock: on SQLite it
begins DEFERRED with ``PRAGMA query_only`` on, on PostgreSQL ``BEGIN READ ONLY``, so a
read path that tries to write fails at once in tests instead of quietly taking a lock.
Writing work on SQLite begins IMMEDIATE (the write lock up front, so two writers can never
deadlock on upgrading a read lock). ``begin_writing`` turns a read-only session into a
writing one when a read path finds it must write after all.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import event
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.pool import NullPool, QueuePool
from sqlmodel import Session, create_engine
from sqlmodel.sql.expression import SelectOfScalar

from app.errors import NotFound

_Row = TypeVar("_Row")


def first_or_not_found(
    session: Session, query: SelectOfScalar[_Row], message: str, *, field: str | None = None
) -> _Row:
    """The query's first row, or NotFound with ``message`` (naming ``field`` if given)."""
    row = session.exec(query).first()
    if row is None:
        raise NotFound(message, field=field)
    return row


#: Session.info keys.
_READ_ONLY = "elicit_read_only"
_WRITE_ENGINE = "elicit_write_engine"
_NOT_DURABLE = "elicit_not_durable"


@dataclass(frozen=True)
class EngineLimits:
    """How long the database may make a request wait, and how many connections to keep."""

    #: Connections in the pool (PostgreSQL); SQLite opens one per unit of work.
    pool_size: int = 5
    #: Seconds to wait for a pooled connection or a lock before giving up.
    wait_seconds: float = 30.0
    #: Longest single statement on PostgreSQL, in seconds (None: no limit).
    statement_seconds: float | None = None
    #: A session left idle inside a transaction this long is ended by PostgreSQL.
    idle_in_transaction_seconds: float | None = None


def make_engine(database_url: str, *, limits: EngineLimits | None = None, **kwargs: Any) -> Engine:
    """Create an engine; SQLite gets WAL, full fsync, foreign keys and immediate transactions."""
    limits = limits or EngineLimits()
    url = make_url(database_url)
    if url.get_backend_name() == "sqlite":
        if url.database and url.database != ":memory:":
            Path(url.database).parent.mkdir(parents=True, exist_ok=True)
        in_memory = not url.database or url.database == ":memory:"
        if "poolclass" not in kwargs and not in_memory:
            # Connections are kept and reused: opening one costs a file open and the WAL
            # set-up, and closing the last one checkpoints the WAL, on every request.
            kwargs.update(
                poolclass=QueuePool,
                pool_size=limits.pool_size,
                max_overflow=0,
                pool_timeout=limits.wait_seconds,
            )
        engine = create_engine(
            url,
            connect_args={"check_same_thread": False, "timeout": limits.wait_seconds},
            poolclass=kwargs.pop("poolclass", NullPool),
            **kwargs,
        )
        _configure_sqlite(engine, busy_ms=int(limits.wait_seconds * 1000))
        return engine
    if "poolclass" not in kwargs:
        kwargs.setdefault("pool_size", limits.pool_size)
        kwargs.setdefault("max_overflow", 0)
        kwargs.setdefault("pool_timeout", limits.wait_seconds)
    options = [f"-c lock_timeout={int(limits.wait_seconds * 1000)}"]
    if limits.statement_seconds:
        options.append(f"-c statement_timeout={int(limits.statement_seconds * 1000)}")
    if limits.idle_in_transaction_seconds:
        seconds = int(limits.idle_in_transaction_seconds * 1000)
        options.append(f"-c idle_in_transaction_session_timeout={seconds}")
    connect_args = {"options": " ".join(options), "connect_timeout": 5}
    connect_args.update(kwargs.pop("connect_args", {}))
    return create_engine(url, pool_pre_ping=True, connect_args=connect_args, **kwargs)


def _configure_sqlite(engine: Engine, *, busy_ms: int) -> None:
    # pysqlite's own transaction handling defers BEGIN and never takes the write lock early,
    # so two writers can deadlock on upgrade; we issue BEGIN ourselves instead (the recipe
    # from SQLAlchemy's "Serializable isolation / Savepoints" notes for pysqlite).
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        # FULL: an acknowledged commit survives power loss, not only a process crash.
        cursor.execute("PRAGMA synchronous=FULL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={busy_ms}")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        options = connection.get_execution_options()
        read_only = bool(options.get(_READ_ONLY))
        mode = "DEFERRED" if read_only else options.get("sqlite_begin", "IMMEDIATE")
        # query_only makes an accidental write on a read path fail loudly, not lock.
        connection.exec_driver_sql(f"PRAGMA query_only={1 if read_only else 0}")
        # Bookkeeping that may be lost in a power cut (failed-attempt counts) skips the
        # fsync, so it holds the write lock for microseconds, not milliseconds.
        durable = not options.get(_NOT_DURABLE)
        connection.exec_driver_sql(f"PRAGMA synchronous={'FULL' if durable else 'OFF'}")
        connection.exec_driver_sql(f"BEGIN {mode}")


def _variant(engine: Engine, *, read_only: bool, durable: bool) -> Engine:
    # Engine.execution_options builds a new engine object (sharing the pool) each call;
    # built once per kind, not once per request.
    variants: dict[tuple[bool, bool], Engine] | None = getattr(engine, "_elicit_variants", None)
    if variants is None:
        variants = {}
        engine._elicit_variants = variants  # type: ignore[attr-defined]
    kind = (read_only, durable)
    if kind not in variants:
        options: dict[str, Any] = {}
        if read_only:
            options.update({_READ_ONLY: True, "postgresql_readonly": True})
        if not durable:
            options[_NOT_DURABLE] = True
        variants[kind] = engine.execution_options(**options) if options else engine
    return variants[kind]


def make_session(engine: Engine, *, read_only: bool = False, durable: bool = True) -> Session:
    """A session for one unit of work; read-only ones can later ``begin_writing``.

    ``durable=False`` is for bookkeeping whose loss in a power cut harms nothing: on SQLite
    its commit is not synced to disk (a later durable commit syncs it).
    """
    bind = _variant(engine, read_only=read_only, durable=durable)
    session = Session(bind, expire_on_commit=False)
    session.info[_READ_ONLY] = read_only
    session.info[_WRITE_ENGINE] = engine
    return session


def begin_writing(session: Session) -> None:
    """Let a read-only session write: its read transaction ends, a writing one begins.

    Objects already loaded stay usable; read again whatever the write depends on, since a
    write may have happened in between.
    """
    if not session.info.get(_READ_ONLY):
        return
    session.commit()
    session.bind = session.info[_WRITE_ENGINE]
    session.info[_READ_ONLY] = False


def end_transaction(session: Session) -> None:
    """Commit what the session holds and give back its connection and locks (before a long
    computation whose result is not written)."""
    session.commit()


@contextmanager
def session_scope(
    engine: Engine, *, read_only: bool = False, durable: bool = True
) -> Iterator[Session]:
    """A session that commits on success and rolls back on any error."""
    with make_session(engine, read_only=read_only, durable=durable) as session:
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise
