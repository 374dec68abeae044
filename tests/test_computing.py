"""Reports and calibrations computed in the worker's computing process give exactly what
computing in the request gives, and a computing process that dies is replaced."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from fastapi.testclient import TestClient

from app.main import create_app
from app.services.demo import simulate_panel
from tests.factories import login, make_round, make_user


def test_child_process_gives_the_same_results_and_is_replaced(session, settings):
    make_user(session)
    round_ = make_round(session)
    simulate_panel(session, round_id=round_.id, n_experts=8, seed=3)  # type: ignore[arg-type]
    session.commit()
    inline = create_app(settings)
    pooled = create_app(settings.model_copy(update={"compute_processes": 1}))
    report = f"/api/rounds/{round_.id}/report?format=json&n_bootstrap=50&seed=7"
    calibration = f"/api/rounds/{round_.id}/calibration?n_bootstrap=30&seed=7"
    try:
        with TestClient(inline) as a, TestClient(pooled) as b:
            headers_a, headers_b = login(a), login(b)
            for path, method in ((report, "GET"), (calibration, "POST")):
                here = a.request(method, path, headers=headers_a)
                there = b.request(method, path, headers=headers_b)
                assert here.status_code == there.status_code == 200, there.text
                assert here.json() == there.json()
            # The computing process dies (out of memory, killed): the request gets a clear
            # 503, and the next one gets a new process.
            executor = pooled.state.compute._executor
            assert executor is not None
            for pid in list(executor._processes):
                os.kill(pid, signal.SIGKILL)
            lost = b.get(report, headers=headers_b)
            assert lost.status_code in (200, 503)
            if lost.status_code == 503:
                assert "try again" in lost.json()["detail"] and lost.headers["Retry-After"]
            again = b.get(report, headers=headers_b)
            expected = a.get(report, headers=headers_a).json()
            assert again.status_code == 200 and again.json() == expected
    finally:
        inline.state.engine.dispose()
        pooled.state.engine.dispose()


_WORKER_SCRIPT = """
import sys
from fastapi.testclient import TestClient
from app.config import Settings
from app.main import create_app
from tests.factories import login


def main():
    app = create_app(Settings(database_url=sys.argv[1], base_url="http://testserver",
                              compute_processes=1))
    round_id = sys.argv[2]
    with TestClient(app) as client:
        headers = login(client)
        for method, path in [
            ("GET", f"/api/rounds/{round_id}/report?format=json&n_bootstrap=20"),
            ("GET", f"/api/rounds/{round_id}/report?format=html&n_bootstrap=20"),
            ("GET", f"/api/rounds/{round_id}/report?format=csv&n_bootstrap=20"),
            ("POST", f"/api/rounds/{round_id}/calibration?n_bootstrap=20"),
            ("GET", f"/admin/rounds/{round_id}/calibration"),
        ]:
            reply = client.request(method, path, headers=headers)
            assert reply.status_code == 200, (path, reply.status_code, reply.text[:300])
    app.state.compute.shutdown()
    heavy = sorted(m for m in ("pandas", "numpy", "scipy", "matplotlib") if m in sys.modules)
    print("heavy:", ",".join(heavy))


if __name__ == "__main__":  # the computing process is spawned: it imports this file again
    main()
"""


def test_a_web_worker_leaves_the_heavy_libraries_to_its_computing_process(
    session, settings, tmp_path
):
    # Reports and calibrations (API and pages) read plain rows in the worker; pandas,
    # numpy, scipy and matplotlib are imported, and the tables built, in the child only.
    make_user(session)
    round_ = make_round(session)
    simulate_panel(session, round_id=round_.id, n_experts=6, seed=1)  # type: ignore[arg-type]
    session.commit()
    script = tmp_path / "worker.py"
    script.write_text(_WORKER_SCRIPT)
    result = subprocess.run(
        [sys.executable, str(script), settings.database_url, str(round_.id)],
        cwd=Path(__file__).resolve().parent.parent,
        env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parent.parent)},
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "heavy: \n" in result.stdout, result.stdout


_HUGEPAGE_SCRIPT = """
import sys
import app.cli  # noqa: F401  (what the elicit command imports first)
from numpy.core import multiarray

# _set_madvise_hugepage returns the setting it replaces: numpy's own state.
print("hugepage advice:", bool(multiarray._set_madvise_hugepage(False)))
"""


def _hugepage_advice(environment: dict[str, str]) -> str:
    result = subprocess.run(
        [sys.executable, "-c", _HUGEPAGE_SCRIPT],
        cwd=Path(__file__).resolve().parent.parent,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return result.stdout.strip()


def test_the_platforms_processes_do_not_ask_for_huge_pages_unless_told():
    # numpy's huge-page advice makes every fresh large array wait on memory compaction
    # where the kernel compacts on advice (see app/__init__.py); the platform turns it
    # off, and an operator's own NUMPY_MADVISE_HUGEPAGE still wins.
    environment = {k: v for k, v in os.environ.items() if k != "NUMPY_MADVISE_HUGEPAGE"}
    assert _hugepage_advice(environment) == "hugepage advice: False"
    told = {**environment, "NUMPY_MADVISE_HUGEPAGE": "1"}
    assert _hugepage_advice(told) == "hugepage advice: True"


_ORPHAN_SCRIPT = """
import os, signal, sys
from app.web.computing import ComputePool

pool = ComputePool(1)
print(pool.run(os.getpid), flush=True)  # the computing process's id
os.kill(os.getpid(), signal.SIGKILL)  # a web worker killed outright: no shutdown
"""


def test_a_computing_process_ends_when_its_web_worker_is_killed():
    # A worker killed by its supervisor's time-out or the out-of-memory killer cannot
    # shut its pool down; its computing process must not linger, holding memory, forever.
    result = subprocess.run(
        [sys.executable, "-c", _ORPHAN_SCRIPT],
        cwd=Path(__file__).resolve().parent.parent,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == -signal.SIGKILL, result.stderr[-2000:]
    child = int(result.stdout.split()[0])
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and _alive(child):
        time.sleep(0.2)
    assert not _alive(child), f"computing process {child} outlived its web worker"


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().split(")")[-1].split()[0] != "Z"  # a zombie has ended
    except FileNotFoundError:
        return False
