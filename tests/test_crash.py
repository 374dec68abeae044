"""Durability: the server is SIGKILLed while experts save; every acknowledged save survives.

Several client threads save ratings through the expert API against a real server process.
Each save carries a unique tag in its rationale, so the stored state tells exactly which
save produced it. After N acknowledged saves the server gets SIGKILL (no shutdown, no
flush), is started again on the same database, and then:

- every cell holds its last acknowledged save (highest acknowledged revision), or a later
  save that was in flight when the server died (sent, no answer received);
- the history (rating_changes) holds every acknowledged revision, unbroken 1..current,
  ending in the current state, and nothing that no client ever sent;
- a save in flight at the kill landed completely or not at all (saves are atomic).

Runs once on SQLite (a file in WAL mode) and once on PostgreSQL.
"""

from __future__ import annotations

import http.client
import json
import random
import threading
import time
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

import pytest
from sqlalchemy import text

from app.db import make_engine
from tests.live_server import DemoInfo, free_port, live_server, run_demo

pytestmark = pytest.mark.slow

N_THREADS = 8
KILL_AFTER_ACKS = 150
ACK_DEADLINE_S = 20

Cell = tuple[str, str]  # (item, dimension)


@dataclass
class Save:
    """One PUT /api/expert/ratings: a few cells of one expert, tagged in the rationale."""

    tag: str
    expert: str
    cells: dict[Cell, tuple[str, int | None]]  # cell -> (status, value)
    acked: bool = False
    revisions: dict[Cell, int] = field(default_factory=dict)


@dataclass
class Run:
    saves: list[Save] = field(default_factory=list)
    acks: int = 0
    errors: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    stop: threading.Event = field(default_factory=threading.Event)


def _request(
    conn: http.client.HTTPConnection, method: str, path: str, token: str, body: Any = None
) -> tuple[int, Any]:
    payload = None if body is None else json.dumps(body).encode()
    headers = {"Authorization": f"Bearer {token}", "Accept": "application/json"}
    if payload is not None:
        headers["Content-Type"] = "application/json"
    conn.request(method, path, body=payload, headers=headers)
    answer = conn.getresponse()
    data = answer.read()
    return answer.status, (json.loads(data) if data else None)


def _survey_cells(port: int, token: str) -> dict[Cell, list[int]]:
    """Every (item, dimension) of the round with its allowed values, from the expert API."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        status, data = _request(conn, "GET", "/api/expert/survey", token)
    finally:
        conn.close()
    assert status == 200, data
    survey = data["survey"]
    scales = {
        d["key"]: list(range(d["scale"]["min"], d["scale"]["max"] + 1))
        for d in survey["dimensions"]
    }
    if survey["holistic_tier"]["enabled"]:
        scales["tier"] = list(range(len(survey["tiers"])))
    return {
        (item, dim): values for item in data["round"]["items"] for dim, values in scales.items()
    }


def _writer(
    index: int, port: int, token: str, code: str, cells: dict[Cell, list[int]], run: Run
) -> None:
    rng = random.Random(index)
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=15)
    keys = sorted(cells)
    sequence = 0
    while not run.stop.is_set():
        sequence += 1
        chosen = rng.sample(keys, rng.randint(1, 3))
        save = Save(tag=f"w{index}-{sequence}", expert=code, cells={})
        body = []
        for item, dim in chosen:
            if rng.random() < 0.1:
                status, value = "cant_judge", None
            else:
                status, value = "value", rng.choice(cells[(item, dim)])
            save.cells[(item, dim)] = (status, value)
            body.append(
                {
                    "item": item,
                    "dimension": dim,
                    "status": status,
                    "value": value,
                    "confidence": rng.choice(["low", "medium", "high"]),
                    "rationale": f"{save.tag} «{item}/{dim}»",
                }
            )
        with run.lock:
            run.saves.append(save)  # counted as in flight until acknowledged
        try:
            status_code, data = _request(
                conn, "PUT", "/api/expert/ratings", token, {"ratings": body}
            )
        except (OSError, http.client.HTTPException):
            return  # the server is gone: this save stays "in flight"
        if status_code != 200:
            with run.lock:
                run.errors.append(f"{save.tag}: HTTP {status_code} {data}")
            run.stop.set()
            return
        with run.lock:
            save.acked = True
            save.revisions = {(r["item"], r["dimension"]): r["revision"] for r in data}
            run.acks += 1


def _stored_state(
    database_url: str,
) -> tuple[dict[tuple[str, Cell], dict[str, Any]], dict[tuple[str, Cell], list[dict[str, Any]]]]:
    """Current ratings and their history per (expert code, cell), read from the database."""
    engine = make_engine(database_url)
    try:
        with engine.connect() as connection:
            current = {
                (row.code, (row.item_key, row.dimension_key)): row._asdict()
                for row in connection.execute(
                    text(
                        "SELECT e.code, r.item_key, r.dimension_key, r.status, r.value, "
                        "r.rationale, r.revision FROM ratings r "
                        "JOIN responses p ON p.id = r.response_id "
                        "JOIN experts e ON e.id = p.expert_id"
                    )
                )
            }
            history: dict[tuple[str, Cell], list[dict[str, Any]]] = defaultdict(list)
            for row in connection.execute(
                text(
                    "SELECT e.code, c.item_key, c.dimension_key, c.status, c.value, "
                    "c.rationale, c.revision FROM rating_changes c "
                    "JOIN responses p ON p.id = c.response_id "
                    "JOIN experts e ON e.id = p.expert_id ORDER BY c.id"
                )
            ):
                history[(row.code, (row.item_key, row.dimension_key))].append(row._asdict())
    finally:
        engine.dispose()
    return current, history


def _tag(rationale: str) -> str:
    return rationale.split(" ", 1)[0]


def test_acknowledged_saves_survive_sigkill(database_url: str, tmp_path) -> None:  # type: ignore[no-untyped-def]
    started = time.monotonic()
    port = free_port()
    demo: DemoInfo = run_demo(database_url, f"http://127.0.0.1:{port}")
    experts = [(link.expert_code, link.token) for link in demo.links]
    run = Run()

    with live_server(database_url, port=port, log_dir=tmp_path) as server:
        cells = _survey_cells(server.port, experts[0][1])
        # More writers than experts: some experts save from two threads at once.
        threads = [
            threading.Thread(
                target=_writer,
                args=(i, server.port, token, code, cells, run),
                daemon=True,
            )
            for i, (code, token) in enumerate(experts[k % len(experts)] for k in range(N_THREADS))
        ]
        for thread in threads:
            thread.start()
        saving_started = time.monotonic()
        deadline = saving_started + ACK_DEADLINE_S
        while run.acks < KILL_AFTER_ACKS and not run.stop.is_set():
            assert time.monotonic() < deadline, (
                f"only {run.acks} saves acknowledged in {ACK_DEADLINE_S} s\n{server.log()}"
            )
            time.sleep(0.005)
        server.kill()  # mid-way: the writers are still sending
        saving_time = time.monotonic() - saving_started
        run.stop.set()
        for thread in threads:
            thread.join(timeout=20)
        assert not any(t.is_alive() for t in threads), "a writer thread hangs"
    assert not run.errors, run.errors

    acked = [s for s in run.saves if s.acked]
    in_flight = [s for s in run.saves if not s.acked]
    assert len(acked) >= KILL_AFTER_ACKS

    # Restart on the same database: it must come up and serve the same answers.
    with live_server(database_url, log_dir=tmp_path) as again:
        api_ratings = {}
        for code, token in experts:
            conn = http.client.HTTPConnection("127.0.0.1", again.port, timeout=10)
            try:
                status, data = _request(conn, "GET", "/api/expert/response", token)
            finally:
                conn.close()
            assert status == 200, data
            for r in data["ratings"]:
                api_ratings[(code, (r["item"], r["dimension"]))] = r
    current, history = _stored_state(database_url)

    # The API after restart and the database agree.
    assert set(api_ratings) == set(current)
    for key, row in current.items():
        api = api_ratings[key]
        assert (api["status"], api["value"], api["rationale"], api["revision"]) == (
            row["status"],
            row["value"],
            row["rationale"],
            row["revision"],
        ), key

    last_ack: dict[tuple[str, Cell], tuple[int, Save]] = {}
    for save in acked:
        for cell, revision in save.revisions.items():
            key = (save.expert, cell)
            if key not in last_ack or revision > last_ack[key][0]:
                last_ack[key] = (revision, save)
    flying: dict[tuple[str, Cell], dict[str, Save]] = defaultdict(dict)
    for save in in_flight:
        for cell in save.cells:
            flying[(save.expert, cell)][save.tag] = save
    sent_tags = {s.tag for s in run.saves}

    # 1. Each cell holds its last acknowledged save, or a later one that was in flight.
    lost = []
    for key, (revision, save) in last_ack.items():
        row = current.get(key)
        if row is None or row["revision"] < revision:
            lost.append((key, revision, save.tag, row))
            continue
        tag = _tag(row["rationale"])
        if row["revision"] == revision:
            assert tag == save.tag, (key, row, save)
            expected = save.cells[key[1]]
        else:
            assert tag in flying[key], f"{key}: revision {row['revision']} from {tag} unexplained"
            expected = flying[key][tag].cells[key[1]]
        assert (row["status"], row["value"]) == expected, (key, row, expected)
    assert not lost, f"{len(lost)} acknowledged saves lost after SIGKILL: {lost[:5]}"
    for key, row in current.items():
        if key not in last_ack:  # only in-flight saves ever reached this cell
            assert _tag(row["rationale"]) in flying[key], (key, row)

    # 2. The history holds every acknowledged revision, unbroken, ending in the current state.
    for save in acked:
        for cell, revision in save.revisions.items():
            rows = [h for h in history[(save.expert, cell)] if h["revision"] == revision]
            assert len(rows) == 1, (save.expert, cell, revision, rows)
            status, value = save.cells[cell]
            assert (rows[0]["status"], rows[0]["value"], _tag(rows[0]["rationale"])) == (
                status,
                value,
                save.tag,
            )
    for key, row in current.items():
        revisions = [h["revision"] for h in history[key]]
        assert revisions == list(range(1, row["revision"] + 1)), (key, revisions)
        last = history[key][-1]
        assert (last["status"], last["value"], last["rationale"]) == (
            row["status"],
            row["value"],
            row["rationale"],
        )
        assert all(_tag(h["rationale"]) in sent_tags for h in history[key]), key
    assert set(history) == set(current)

    # 3. A save cut off by the kill landed whole or not at all.
    landed_cells: dict[str, int] = defaultdict(int)
    for (_code, _cell), rows in history.items():
        for h in rows:
            landed_cells[_tag(h["rationale"])] += 1
    for save in in_flight:
        assert landed_cells[save.tag] in (0, len(save.cells)), (save, landed_cells[save.tag])
    for save in acked:
        assert landed_cells[save.tag] == len(save.cells), save

    print(
        f"{len(acked)} saves acknowledged in {saving_time:.1f} s, {len(in_flight)} in flight "
        f"at the kill ({sum(1 for s in in_flight if landed_cells[s.tag])} of them landed); "
        f"{time.monotonic() - started:.1f} s in all"
    )
