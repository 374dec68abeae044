"""The app keeps no state of its own: several worker processes serve one database."""

from __future__ import annotations

import json
import os
import re
import signal
import sys
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from tests.live_server import live_server, run_demo

pytestmark = pytest.mark.slow


def _call(url, method="GET", body=None, headers=None):
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(
        url,
        data=data,
        method=method,
        headers={"Content-Type": "application/json", **(headers or {})},
    )
    with urllib.request.urlopen(request, timeout=30) as reply:
        return reply.status, json.loads(reply.read() or b"null"), reply.headers


def test_three_workers_share_sessions_and_answers(database_url):
    demo = run_demo(database_url, "http://127.0.0.1:1")
    with live_server(database_url, workers=3) as server:
        status, body, _ = _call(
            f"{server.url}/api/auth/login",
            "POST",
            {"email": "admin@example.org", "password": demo.admin_password},
        )
        assert status == 200
        staff = {"Authorization": f"Bearer {body['token']}"}

        def who(_):
            status, me, _ = _call(f"{server.url}/api/me", headers=staff)
            return status, me["email"]

        # The token minted by one worker is honoured by whichever worker answers.
        with ThreadPoolExecutor(8) as pool:
            answers = list(pool.map(who, range(40)))
        assert set(answers) == {(200, "admin@example.org")}
        expert = {"Authorization": f"Bearer {demo.links[0].token}"}

        def save(value):
            rating = {"item": "model_weights", "dimension": "proprietary", "value": value}
            return _call(f"{server.url}/api/expert/ratings", "PUT", {"ratings": [rating]}, expert)[
                0
            ]

        with ThreadPoolExecutor(6) as pool:
            assert set(pool.map(save, [1, 2, 3, 4, 5, 4, 3, 2, 1, 5, 5, 5])) == {200}
        _, state, _ = _call(f"{server.url}/api/expert/response", headers=expert)
        cell = [r for r in state["ratings"] if r["item"] == "model_weights"]
        assert len(cell) == 1 and cell[0]["revision"] >= 2
        log = server.log()
        pids = set(re.findall(r"Started server process \[(\d+)\]", log))
        assert len(pids) == 3, log


def _children(pid: int) -> set[int]:
    path = Path(f"/proc/{pid}/task/{pid}/children")
    return {int(p) for p in path.read_text().split()} if path.exists() else set()


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/healthz", timeout=2) as reply:
            return reply.status == 200
    except OSError:
        return False


def _wait_for(condition, seconds: float = 10) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.1)
    return condition()


linux_only = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")


@linux_only
def test_a_worker_that_dies_is_replaced(database_url):
    with live_server(database_url, workers=2) as server:
        assert _wait_for(lambda: len(_children(server.pid)) == 2)
        first = _children(server.pid)
        victim = min(first)
        os.kill(victim, signal.SIGKILL)
        # The supervisor forks a new worker from the loaded app: serving again at once.
        assert _wait_for(
            lambda: len(_children(server.pid)) == 2 and victim not in _children(server.pid)
        )
        assert _answers(server.url)
        replacement = _children(server.pid) - first
        assert len(replacement) == 1


@linux_only
def test_workers_end_with_a_supervisor_killed_outright(database_url):
    with live_server(database_url, workers=2) as server:
        assert _wait_for(lambda: len(_children(server.pid)) == 2)
        workers = _children(server.pid)
        server.kill()
        # No orphan keeps the port and serves on: every worker is gone within seconds.
        assert _wait_for(lambda: not any(Path(f"/proc/{pid}").exists() for pid in workers))
        assert not _answers(server.url)
