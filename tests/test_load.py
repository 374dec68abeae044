"""A small panel under load against the real server (the full one is bench/load.py).

More requests in flight than a worker has threads and connections, with password guessers
and a researcher downloading reports (computed in the worker's computing process) at the
same time: nothing may fail, hang or be lost, and the service must answer at once after.
"""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


def _bench_load():  # type: ignore[no-untyped-def]
    spec = importlib.util.spec_from_file_location("bench_load", REPO / "bench" / "load.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["bench_load"] = module
    spec.loader.exec_module(module)
    return module


load = _bench_load()

# In flight at once: well over one worker's 40 threads and its connections.
EXPERTS = {"sqlite": 60, "postgresql": 100}


@pytest.mark.slow
def test_a_burst_of_experts_is_served_without_errors_or_losses(backend: str) -> None:
    config = load.LoadConfig(
        backend=backend,
        experts=EXPERTS[backend],
        workers=1,
        pause=(0.0, 0.0),
        guessers=5,
        report_loop=True,
        items=3,
        client_timeout=20.0,
        postgres_url=os.environ.get("TEST_POSTGRES_URL", load.DEFAULT_PG),
        baseline=False,
    )
    result = load.run_load(config)
    summary = load.describe(result)
    assert result.errors == [], summary
    assert result.timeouts == [] and result.dropped == [], summary
    assert result.submitted == config.experts, summary
    # Every save is acknowledged in the end (503s are retried, as the pages do) ...
    saves = EXPERTS[backend] * 3 + EXPERTS[backend] // 10
    acknowledged = [s for s in result.samples if s.endpoint == "save" and s.status == 200]
    assert len(acknowledged) == saves, summary
    # ... and stored exactly once, with the acknowledged value.
    assert result.lost == [] and result.duplicated == [], summary
    assert result.idle_in_transaction in (None, 0), summary
    assert result.recovery_seconds is not None and result.recovery_seconds < 1.0, summary
    # The researcher got reports while the panel was saving, and guessers were stopped.
    statuses = {s.status for s in result.samples if s.endpoint == "report"}
    assert 200 in statuses, summary
    guesses = [s.status for s in result.samples if s.endpoint == "login (guess)"]
    assert set(guesses) <= {401, 429, 503}, summary
