"""Throughput of rating saves: through the HTTP API versus the service layer alone.

Prints saves per second for SQLite (file, WAL, synchronous=FULL) and, when reachable,
PostgreSQL, with the ratio API / service measured in the same run. Each save writes one
item's ratings (3 cells) and their history in one transaction, as the questionnaire does.

    .venv/bin/python bench/service.py [--saves 300] [--postgres URL]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
import uuid
from pathlib import Path

# Run as a script, this folder comes first on sys.path and bench/analysis.py would shadow
# the analysis package: put the repository root there instead.
_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:] = [os.path.dirname(_HERE)] + [p for p in sys.path if os.path.abspath(p or ".") != _HERE]

from sqlalchemy import text  # noqa: E402

from app.config import Settings  # noqa: E402
from app.db import make_engine, session_scope  # noqa: E402
from app.migrate import upgrade_database  # noqa: E402
from app.schemas import InviteeCreate, RatingInput  # noqa: E402
from app.services import invitations, responses, rounds, surveys  # noqa: E402
from app.services.answer_store import Saving  # noqa: E402
from app.survey_files import builtin_surveys_dir, load_survey_file  # noqa: E402


def _setup(url: str, experts: int) -> tuple[int, list[str]]:
    upgrade_database(url)
    engine = make_engine(url)
    with session_scope(engine) as session:
        definition = load_survey_file(builtin_surveys_dir() / "aisi-information-sharing.yaml")
        surveys.load_survey(session, definition=definition, source_name="bench")
        round_ = rounds.create_round(session, slug=definition.slug, name="bench")
        rounds.open_round(session, round_id=round_.id)
        issued = invitations.invite_experts(
            session,
            round_id=round_.id,
            invitees=[
                InviteeCreate(name=f"B{i}", email=f"b{i}@example.org") for i in range(experts)
            ],
        )
        round_id = round_.id
    engine.dispose()
    return round_id, [i.token for i in issued]


def _batches(n: int) -> list[list[dict]]:
    items = [
        i.key
        for i in load_survey_file(builtin_surveys_dir() / "aisi-information-sharing.yaml").items
    ]
    out = []
    for k in range(n):
        item = items[k % len(items)]
        value = 1 + k % 5
        out.append(
            [
                {"item": item, "dimension": "proprietary", "value": value, "rationale": f"r{k}"},
                {"item": item, "dimension": "misuse", "value": 6 - value},
                {"item": item, "dimension": "tier", "value": k % 3},
            ]
        )
    return out


def bench(url: str, saves: int) -> None:
    from fastapi.testclient import TestClient

    from app.main import create_app

    round_id, tokens = _setup(url, experts=2)
    batches = _batches(saves)
    # Baseline: the service layer alone, one transaction per save.
    engine = make_engine(url)
    with session_scope(engine) as session:
        invitation = invitations.find_invitation(session, token=tokens[0])
        response_id = responses.start_response(session, invitation=invitation).id
    start = time.perf_counter()
    for batch in batches:
        with session_scope(engine) as session:
            responses.save_ratings(
                session, Saving(response_id), ratings=[RatingInput(**r) for r in batch]
            )
    service = time.perf_counter() - start
    engine.dispose()
    # The same saves through HTTP (in-process client: routing, auth, validation, JSON).
    app = create_app(Settings(database_url=url))
    with TestClient(app) as client:
        headers = {"Authorization": f"Bearer {tokens[1]}"}
        start = time.perf_counter()
        for batch in batches:
            reply = client.put("/api/expert/ratings", headers=headers, json={"ratings": batch})
            assert reply.status_code == 200, reply.text
        api = time.perf_counter() - start
    app.state.engine.dispose()
    name = url.split(":", 1)[0]
    print(
        f"{name:<22} service {saves / service:8.0f} saves/s   API {saves / api:8.0f} saves/s"
        f"   ratio API/service time {api / service:4.2f}x   ({saves} saves, round {round_id})"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--saves", type=int, default=300)
    parser.add_argument("--postgres", default="postgresql://postgres@127.0.0.1:5432/test")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        bench(f"sqlite:///{Path(folder) / 'bench.db'}", args.saves)
    admin_url = Settings(database_url=args.postgres).database_url
    name = f"elicit_bench_{uuid.uuid4().hex[:8]}"
    try:
        admin = make_engine(admin_url, isolation_level="AUTOCOMMIT")
        with admin.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as exc:
        print(f"postgresql skipped: {exc}")
        return
    try:
        bench(admin_url.rsplit("/", 1)[0] + f"/{name}", args.saves)
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


if __name__ == "__main__":
    main()
