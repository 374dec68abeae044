"""Faults of the database: a clear 503 while it cannot answer, recovery without restarting
the app, nothing acknowledged lost, nothing corrupted."""

from __future__ import annotations

import json
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import event, text
from sqlalchemy.engine import make_url
from sqlmodel import func, select

from app.db import make_engine
from app.models import RatingChange
from tests.factories import bearer, make_invitations, make_round
from tests.live_server import live_server


def _put(url: str, token: str, body: dict[str, Any]) -> tuple[int, dict[str, Any] | list[Any]]:
    request = urllib.request.Request(
        url,
        method="PUT",
        data=json.dumps(body).encode(),
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"{}")


def _saver(
    base: str, token: str, stop: threading.Event, acks: list[tuple[int, int]], seen: list[int]
) -> Callable[[], None]:
    def run() -> None:
        value = 1
        while not stop.is_set():
            status, body = _put(
                base + "/api/expert/ratings",
                token,
                {"ratings": [{"item": "weights", "dimension": "sensitivity", "value": value}]},
            )
            seen.append(status)
            if status == 200:
                assert isinstance(body, list)
                acks.append((body[0]["revision"], value))
                value = value % 5 + 1
            elif status == 503:
                assert isinstance(body, dict) and "nothing was saved" in body["detail"]
                time.sleep(0.2)
            time.sleep(0.02)

    return run


@pytest.mark.slow
def test_database_outage_mid_load_gives_503_then_recovers(backend, session, database_url):
    """Every connection of the app killed and new ones refused for 3 s (what a PostgreSQL
    restart looks like to the app): clear 503s, never a 500; saves resume by themselves."""
    if backend != "postgresql":
        pytest.skip("a database server outage (SQLite has none)")
    round_ = make_round(session)
    issued = make_invitations(session, round_, 4)
    name = make_url(database_url).database
    # From another database: one cannot lock oneself out.
    other = make_url(database_url).set(database="postgres").render_as_string(hide_password=False)
    admin = make_engine(other, isolation_level="AUTOCOMMIT")
    stop = threading.Event()
    acks: dict[str, list[tuple[int, int]]] = {i.token: [] for i in issued}
    seen: list[int] = []
    with live_server(database_url, workers=2) as server:
        threads = [
            threading.Thread(target=_saver(server.url, i.token, stop, acks[i.token], seen))
            for i in issued
        ]
        for thread in threads:
            thread.start()
        time.sleep(1.5)
        before = len(seen)
        with admin.connect() as connection:
            connection.execute(text(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false'))
            outage = time.monotonic()
            connection.execute(
                text(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE datname = :name AND pid <> pg_backend_pid()"
                ),
                {"name": name},
            )
            try:
                time.sleep(3)
                during = list(seen[before:])
            finally:
                connection.execute(text(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true'))
        assert time.monotonic() - outage < 10
        recovered_at = len(seen)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and seen[recovered_at:].count(200) < 20:
            time.sleep(0.1)
        stop.set()
        for thread in threads:
            thread.join(timeout=30)
        log = server.log()
    admin.dispose()
    assert 503 in during, during
    assert all(status in (200, 503) for status in seen), sorted(set(seen))
    assert seen[recovered_at:].count(200) >= 20, "saves did not resume without a restart"
    assert "Traceback" not in log
    # Every acknowledged save is in the history, exactly once, with its value.
    session.rollback()
    for invitation in issued:
        for revision, value in acks[invitation.token]:
            rows = session.exec(
                select(RatingChange.value).where(
                    RatingChange.revision == revision,
                    RatingChange.item_key == "weights",
                    RatingChange.response_id.in_(  # type: ignore[attr-defined]
                        text(
                            "SELECT r.id FROM responses r JOIN invitations i ON "
                            "r.round_id = i.round_id AND r.expert_id = i.expert_id "
                            "WHERE i.id = :id"
                        ).bindparams(id=invitation.invitation_id)
                    ),
                )
            ).all()
            assert rows == [value]


def _save(client: TestClient, issued: Any, value: int) -> Any:
    return client.put(
        "/api/expert/ratings",
        headers=bearer(issued),
        json={"ratings": [{"item": "weights", "dimension": "sensitivity", "value": value}]},
    )


def test_full_sqlite_disk_is_a_clear_503_and_corrupts_nothing(backend, session, app, client):
    if backend != "sqlite":
        pytest.skip("SQLite's own file")
    round_ = make_round(session)
    issued = make_invitations(session, round_, 1)[0]
    assert _save(client, issued, 2).status_code == 200
    engine = app.state.engine
    engine.dispose()
    with engine.connect() as connection:
        pages = connection.exec_driver_sql("PRAGMA page_count").scalar_one()
    engine.dispose()

    # No room for one more page, as on a full disk.
    @event.listens_for(engine, "connect")
    def _full(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.execute(f"PRAGMA max_page_count={pages}")

    big = [
        {"item": item, "dimension": dim, "value": 3, "rationale": f"{item} {dim} " + "x" * 9000}
        for item in ("evals", "methods")
        for dim in ("sensitivity", "misuse")
    ]
    reply = client.put("/api/expert/ratings", headers=bearer(issued), json={"ratings": big})
    assert reply.status_code == 503, reply.text
    assert "disk is full" in reply.json()["detail"]
    assert reply.headers["Retry-After"]
    event.remove(engine, "connect", _full)
    engine.dispose()
    with engine.connect() as connection:
        assert connection.exec_driver_sql("PRAGMA integrity_check").scalar_one() == "ok"
    # What was acknowledged is there; what was refused is not.
    stored = client.get("/api/expert/response", headers=bearer(issued)).json()["ratings"]
    assert [(r["item"], r["value"]) for r in stored] == [("weights", 2)]
    assert _save(client, issued, 4).status_code == 200


def test_read_only_sqlite_file_is_a_clear_503(backend, session, settings, database_url):
    if backend != "sqlite":
        pytest.skip("SQLite's own file")
    from app.config import Settings
    from app.main import create_app

    round_ = make_round(session)
    issued = make_invitations(session, round_, 1)[0]
    session.close()
    path = make_url(database_url).database
    read_only = Settings(
        database_url=f"sqlite:///file:{path}?mode=ro&uri=true",
        base_url="http://testserver",
        compute_processes=0,
    )
    app = create_app(read_only)
    with TestClient(app) as client:
        # Reading works; writing says what is wrong instead of failing obscurely.
        assert client.get("/api/expert/response", headers=bearer(issued)).status_code in (
            200,
            503,
        )
        reply = _save(client, issued, 3)
        assert reply.status_code == 503, reply.text
        assert "read-only" in reply.json()["detail"]
    app.state.engine.dispose()
    engine = make_engine(database_url)
    with engine.connect() as connection:
        assert connection.exec_driver_sql("PRAGMA integrity_check").scalar_one() == "ok"
        assert connection.execute(select(func.count()).select_from(RatingChange)).scalar() == 0
    engine.dispose()
