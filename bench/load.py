"""A panel under load: the real service (uvicorn workers) driven over loopback.

N experts, each with their own invitation, open the survey, consent, save every item one
request at a time (a tenth of them re-save an item twice at once, as two tabs would) and
submit, while guessers try passwords and a researcher downloads the report in a loop.
Experts pause 2-5 s between requests, as people do (``--no-pause``: as fast as they can).

Prints p50/p95/p99 per endpoint, throughput, errors, time-outs and 503s (which the client
retries after Retry-After, like the expert pages), then checks that every acknowledged
save is stored exactly once, that no database connection is left idle in a transaction,
and that the service answers within 1 s after the load. In the same run, a bare endpoint
(no framework, no checks) doing the same inserts under the same load gives the baseline.

    .venv/bin/python bench/load.py --backend postgresql --workers 4 --experts 200
    .venv/bin/python bench/load.py --backend sqlite --workers 1 --experts 100
    .venv/bin/python bench/load.py --backend postgresql --experts 1000 --no-pause

The database is a new one (a temporary SQLite file, or a new PostgreSQL database on the
server of ``--postgres`` / TEST_POSTGRES_URL), dropped afterwards. Only loopback is used.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import random
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

# Run as a script, this folder comes first on sys.path and bench/analysis.py would shadow
# the analysis package: put the repository root there instead.
_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:] = [os.path.dirname(_HERE)] + [p for p in sys.path if os.path.abspath(p or ".") != _HERE]

import aiohttp  # noqa: E402
from sqlalchemy import text  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402

from app.config import Settings  # noqa: E402
from app.db import make_engine, session_scope  # noqa: E402
from app.migrate import upgrade_database  # noqa: E402
from app.schemas import InviteeCreate  # noqa: E402
from app.security import hash_token  # noqa: E402
from app.services import invitations, rounds, surveys, users  # noqa: E402
from app.survey_files import builtin_surveys_dir, load_survey_file  # noqa: E402

DEFAULT_PG = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
SURVEY = "aisi-information-sharing.yaml"
RESEARCHER = ("researcher@example.org", "researcher-password-1")
BIN = Path(sys.executable).parent


@dataclass
class LoadConfig:
    backend: str = "sqlite"
    experts: int = 100
    workers: int = 1
    pause: tuple[float, float] = (2.0, 5.0)
    guessers: int = 20
    guess_rate: float = 2.0
    report_loop: bool = True
    items: int | None = None  # None: every item of the survey
    client_timeout: float = 30.0
    postgres_url: str = DEFAULT_PG
    baseline: bool = True
    env: dict[str, str] = field(default_factory=dict)
    server_log: Path | None = None  # keep the server's log here


@dataclass
class Sample:
    endpoint: str
    status: int  # 0: time-out, -1: connection error
    seconds: float
    at: float = 0.0  # when it was sent, seconds since the load began


@dataclass
class Ack:
    token: str
    item: str
    dimension: str
    revision: int
    value: int | None


@dataclass
class LoadResult:
    config: LoadConfig
    samples: list[Sample]
    acks: list[Ack]
    wall_seconds: float
    submitted: int
    lost: list[str]
    duplicated: list[str]
    idle_in_transaction: int | None
    recovery_seconds: float | None
    retried_503: int
    baseline: dict[str, float] | None = None
    baseline_async: dict[str, float] | None = None
    startup_seconds: float | None = None
    client_lag: list[tuple[float, float]] = field(default_factory=list)
    worker_replacement_seconds: float | None = None

    def by_endpoint(self) -> dict[str, list[Sample]]:
        out: dict[str, list[Sample]] = defaultdict(list)
        for s in self.samples:
            out[s.endpoint].append(s)
        return dict(out)

    @property
    def errors(self) -> list[Sample]:
        """Answers that are neither expected nor a clean, retried 503."""
        expected = {200, 201, 204, 401, 429, 503}
        return [
            s
            for s in self.samples
            if s.status > 0
            and s.status not in expected
            # A report asked for before the first save: "no ratings yet".
            and not (s.endpoint == "report" and s.status == 409)
        ]

    @property
    def timeouts(self) -> list[Sample]:
        return [s for s in self.samples if s.status == 0]

    @property
    def dropped(self) -> list[Sample]:
        """Connections that failed (each retried by the client, as the pages do)."""
        return [s for s in self.samples if s.status < 0]

    def p(self, endpoint: str, q: float) -> float:
        values = sorted(s.seconds for s in self.samples if s.endpoint == endpoint and s.status > 0)
        return _quantile(values, q)


def _quantile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    index = min(len(values) - 1, max(0, round(q * (len(values) - 1))))
    return values[index]


# --- set-up ------------------------------------------------------------------------------


@contextmanager
def bench_database(config: LoadConfig) -> Iterator[str]:
    """A new, empty database URL for one run; removed afterwards."""
    if config.backend == "sqlite":
        with tempfile.TemporaryDirectory(prefix="elicit-load-") as directory:
            yield f"sqlite:///{Path(directory) / 'load.db'}"
        return
    admin_url = Settings(database_url=config.postgres_url).database_url
    name = f"elicit_load_{uuid.uuid4().hex[:10]}"
    admin = make_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(admin_url).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@dataclass(frozen=True)
class Panel:
    round_id: int
    tokens: list[str]
    cells: dict[str, list[tuple[str, int, int]]]  # item -> [(dimension, min, max)]
    admin_email: str


def set_up_panel(url: str, experts: int, items: int | None) -> Panel:
    upgrade_database(url)
    definition = load_survey_file(builtin_surveys_dir() / SURVEY)
    engine = make_engine(url)
    with session_scope(engine) as session:
        surveys.load_survey(session, definition=definition, source_name=SURVEY)
        round_ = rounds.create_round(session, slug=definition.slug, name="load")
        rounds.open_round(session, round_id=round_.id)  # type: ignore[arg-type]
        issued = invitations.invite_experts(
            session,
            round_id=round_.id,  # type: ignore[arg-type]
            invitees=[
                InviteeCreate(name=f"Load {i}", email=f"load{i}@example.org")
                for i in range(experts)
            ],
        )
        users.create_user(session, email=RESEARCHER[0], password=RESEARCHER[1], role="researcher")
        users.create_user(session, email="admin@example.org", password="x" * 24, role="admin")
        round_id = round_.id
    engine.dispose()
    cells: dict[str, list[tuple[str, int, int]]] = {}
    chosen = definition.items[:items] if items else definition.items
    for item in chosen:
        cells[item.key] = [
            (d.key, int(d.scale.min), int(d.scale.max)) for d in definition.dimensions
        ]
    assert round_id is not None
    return Panel(round_id, [i.token for i in issued], cells, "admin@example.org")


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


#: How long each server took from its command to its first answer, by base URL.
STARTUP_SECONDS: dict[str, float] = {}
#: Each running server's process and log, by base URL.
RUNNING: dict[str, tuple[subprocess.Popen[bytes], IO[bytes]]] = {}


def worker_replacement_seconds(base: str) -> float | None:
    """Kill one worker outright and time until its replacement has started (Linux: the
    workers are read from /proc); None where that cannot be seen."""
    process, log = RUNNING[base]
    children = Path(f"/proc/{process.pid}/task/{process.pid}/children")
    pids = children.read_text().split() if children.exists() else []
    if not pids:
        return None

    def started_count() -> int:
        log.seek(0)
        return log.read().count(b"Application startup complete")

    before = started_count()
    began = time.monotonic()
    os.kill(int(pids[0]), signal.SIGKILL)
    while time.monotonic() - began < 30:
        if started_count() > before:
            return time.monotonic() - began
        time.sleep(0.002)
    return None


@contextmanager
def running_server(
    argv: list[str],
    url: str,
    port: int,
    env_extra: dict[str, str],
    workers: int = 1,
    log_path: Path | None = None,
) -> Iterator[str]:
    base = f"http://127.0.0.1:{port}"
    env = dict(os.environ, DATABASE_URL=url, BASE_URL=base, PYTHONUNBUFFERED="1")
    env.update(env_extra)
    # closed in the finally below
    log = log_path.open("w+b") if log_path else tempfile.TemporaryFile()  # noqa: SIM115
    started = time.monotonic()
    process = subprocess.Popen(
        argv, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            if process.poll() is not None:
                log.seek(0)
                raise RuntimeError("server exited:\n" + log.read().decode(errors="replace"))
            # Every worker must be up before the load starts: connections kept alive stay
            # with the worker that accepted them, so an early start would load one worker.
            log.seek(0)
            ready = log.read().count(b"Application startup complete")
            if ready >= workers and _answers(f"{base}/healthz", timeout=2):
                STARTUP_SECONDS[base] = time.monotonic() - started
                RUNNING[base] = (process, log)
                break
            if time.monotonic() > deadline:
                raise RuntimeError("server did not answer within 60 s")
            time.sleep(0.1)
        yield base
    finally:
        RUNNING.pop(base, None)
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        log.close()


def elicit_serve(port: int, workers: int) -> list[str]:
    script = BIN / "elicit"
    command = [str(script)] if script.exists() else [sys.executable, "-m", "app.cli"]
    return [*command, "serve", "--no-upgrade", "--port", str(port), "--workers", str(workers)]


def bare_serve(port: int, workers: int) -> list[str]:
    return [
        sys.executable,
        "-m",
        "uvicorn",
        "--factory",
        "bench.bare_app:create",
        "--port",
        str(port),
        "--workers",
        str(workers),
        "--log-level",
        "info",
        "--app-dir",
        os.path.dirname(_HERE),
    ]


# --- the simulated people ----------------------------------------------------------------


class Driver:
    def __init__(self, base: str, config: LoadConfig, panel: Panel, seed: int = 0) -> None:
        self.base = base
        self.config = config
        self.panel = panel
        self.samples: list[Sample] = []
        self.acks: list[Ack] = []
        self.submitted = 0
        self.retried_503 = 0
        self.random = random.Random(seed)
        self.stop = asyncio.Event()
        self.began = time.perf_counter()
        #: (when, how late) for each wake-up of the lag probe: the client's own stalls.
        self.lag: list[tuple[float, float]] = []

    async def request(
        self,
        http: aiohttp.ClientSession,
        endpoint: str,
        method: str,
        path: str,
        *,
        retry: bool = True,
        **kwargs: object,
    ) -> tuple[int, object]:
        """One request as a person's page sends it: a 503 is retried after Retry-After."""
        dropped = 0
        while True:
            started = time.perf_counter()
            try:
                async with http.request(
                    method,
                    self.base + path,
                    timeout=aiohttp.ClientTimeout(total=self.config.client_timeout),
                    **kwargs,  # type: ignore[arg-type]
                ) as answer:
                    body = await answer.read()
                    status = answer.status
                    retry_after = answer.headers.get("Retry-After")
            except TimeoutError:
                self.samples.append(
                    Sample(endpoint, 0, time.perf_counter() - started, started - self.began)
                )
                return 0, None
            except aiohttp.ClientError:
                # A dropped connection (say a kept-alive one the server had just closed): the
                # expert pages send again, so does this client, a few times.
                self.samples.append(
                    Sample(endpoint, -1, time.perf_counter() - started, started - self.began)
                )
                dropped += 1
                if retry and dropped <= 8:
                    await asyncio.sleep(1 + self.random.random())
                    continue
                return -1, None
            self.samples.append(
                Sample(endpoint, status, time.perf_counter() - started, started - self.began)
            )
            if status == 503 and retry:
                self.retried_503 += 1
                await asyncio.sleep(float(retry_after or 1) * (0.5 + self.random.random()))
                continue
            try:
                return status, json.loads(body) if body else None
            except ValueError:
                return status, body

    async def think(self) -> None:
        low, high = self.config.pause
        if high > 0:
            await asyncio.sleep(self.random.uniform(low, high))

    async def expert(self, http: aiohttp.ClientSession, token: str, twin: bool) -> None:
        auth = {"Authorization": f"Bearer {token}"}
        await self.think()
        await self.request(http, "open", "GET", "/api/expert/survey", headers=auth)
        await self.think()
        await self.request(http, "consent", "POST", "/api/expert/consent", headers=auth)
        for index, (item, dims) in enumerate(self.panel.cells.items()):
            await self.think()
            ratings = [
                {"item": item, "dimension": d, "value": self.random.randint(lo, hi)}
                for d, lo, hi in dims
            ]
            if twin and index == 0:
                # Another answer to the same item at the same moment (a second tab).
                other = [
                    {**r, "value": hi if r["value"] == lo else lo}
                    for r, (_, lo, hi) in zip(ratings, dims, strict=True)
                ]
                await asyncio.gather(
                    self.save(http, token, auth, ratings), self.save(http, token, auth, other)
                )
            else:
                await self.save(http, token, auth, ratings)
        await self.think()
        status, _ = await self.request(http, "submit", "POST", "/api/expert/submit", headers=auth)
        if status == 200:
            self.submitted += 1

    async def save(
        self, http: aiohttp.ClientSession, token: str, auth: dict[str, str], ratings: list[dict]
    ) -> None:
        status, body = await self.request(
            http, "save", "PUT", "/api/expert/ratings", headers=auth, json={"ratings": ratings}
        )
        if status == 200 and isinstance(body, list):
            for r in body:
                self.acks.append(Ack(token, r["item"], r["dimension"], r["revision"], r["value"]))

    async def guesser(self, http: aiohttp.ClientSession, number: int) -> None:
        interval = 1.0 / self.config.guess_rate
        while not self.stop.is_set():
            email = self.panel.admin_email if number % 2 == 0 else f"nobody{number}@example.org"
            await self.request(
                http,
                "login (guess)",
                "POST",
                "/api/auth/login",
                retry=False,
                json={"email": email, "password": f"guess-{self.random.random()}"},
            )
            with suppress(TimeoutError):
                await asyncio.wait_for(self.stop.wait(), timeout=interval)

    async def sign_in_researcher(self, http: aiohttp.ClientSession) -> dict[str, str] | None:
        status, body = await self.request(
            http,
            "login",
            "POST",
            "/api/auth/login",
            json={"email": RESEARCHER[0], "password": RESEARCHER[1]},
        )
        if status != 200 or not isinstance(body, dict):
            return None
        return {"Authorization": f"Bearer {body['token']}"}

    async def researcher(self, http: aiohttp.ClientSession, auth: dict[str, str]) -> None:
        path = f"/api/rounds/{self.panel.round_id}/report?format=json&n_bootstrap=100"
        while not self.stop.is_set():
            await self.request(http, "report", "GET", path + "&include_drafts=true", headers=auth)
            with suppress(TimeoutError):
                await asyncio.wait_for(self.stop.wait(), timeout=1.0)

    async def probe_lag(self) -> None:
        """How late this client's event loop wakes up: a late wake-up delays every request
        measured at that moment, and says the figures are the client's, not the server's."""
        step = 0.01
        while not self.stop.is_set():
            before = time.perf_counter()
            await asyncio.sleep(step)
            self.lag.append((before - self.began, time.perf_counter() - before - step))

    async def run(self) -> float:
        connector = aiohttp.TCPConnector(limit=0, force_close=False)
        async with aiohttp.ClientSession(connector=connector) as http:
            started = self.began = time.perf_counter()
            # The researcher is signed in before the guessing starts (the guessers share this
            # client's address, whose failed sign-ins soon block every sign-in from it).
            researcher = await self.sign_in_researcher(http) if self.config.report_loop else None
            if self.config.report_loop and researcher is None:
                raise RuntimeError("the researcher could not sign in")
            background = [
                asyncio.ensure_future(self.guesser(http, n)) for n in range(self.config.guessers)
            ]
            if researcher is not None:
                background.append(asyncio.ensure_future(self.researcher(http, researcher)))
            background.append(asyncio.ensure_future(self.probe_lag()))
            count = len(self.panel.tokens)
            twins = set(self.random.sample(range(count), count // 10))
            await asyncio.gather(
                *(
                    self.expert(http, token, index in twins)
                    for index, token in enumerate(self.panel.tokens)
                )
            )
            wall = time.perf_counter() - started
            self.stop.set()
            await asyncio.gather(*background)
            return wall


# --- checks after the load ---------------------------------------------------------------


def check_stored(url: str, acks: list[Ack]) -> tuple[list[str], list[str]]:
    """Acknowledged saves missing from the history, and any stored more than once."""
    engine = make_engine(url)
    lost: list[str] = []
    duplicated: list[str] = []
    with engine.connect() as connection:
        responses = {
            token_hash: response_id
            for token_hash, response_id in connection.execute(
                text(
                    "SELECT i.token_hash, r.id FROM invitations i JOIN responses r "
                    "ON r.round_id = i.round_id AND r.expert_id = i.expert_id"
                )
            )
        }
        counts: dict[tuple[int, str, str, int], tuple[int, int | None]] = {}
        for response_id, item, dimension, revision, value, n in connection.execute(
            text(
                "SELECT response_id, item_key, dimension_key, revision, MIN(value), COUNT(*) "
                "FROM rating_changes GROUP BY response_id, item_key, dimension_key, revision"
            )
        ):
            counts[(response_id, item, dimension, revision)] = (n, value)
    engine.dispose()
    for ack in acks:
        response_id = responses.get(hash_token(ack.token))
        label = f"{ack.token[:6]}… {ack.item}/{ack.dimension} revision {ack.revision}"
        stored = counts.get((response_id, ack.item, ack.dimension, ack.revision))  # type: ignore[arg-type]
        if stored is None or stored[1] != ack.value:
            lost.append(label)
        elif stored[0] != 1:
            duplicated.append(label)
    return lost, duplicated


def idle_in_transaction(url: str, samples: int = 5, every: float = 0.2) -> int | None:
    """Connections left idle in a transaction: the fewest over a few samples, so a worker
    caught between two statements of a short transaction (the scheduler, the review check)
    is not taken for a leaked one, which stays in every sample."""
    if not url.startswith("postgresql"):
        return None
    name = make_url(url).database
    engine = make_engine(url)
    counts = []
    with engine.connect() as connection:
        for _ in range(samples):
            counts.append(
                connection.execute(
                    text(
                        "SELECT count(*) FROM pg_stat_activity WHERE datname = :name "
                        "AND state LIKE 'idle in transaction%' AND pid <> pg_backend_pid()"
                    ),
                    {"name": name},
                ).scalar_one()
            )
            connection.rollback()
            time.sleep(every)
    engine.dispose()
    return int(min(counts))


def recovery_seconds(base: str, limit: float = 5.0) -> float | None:
    """How long until the service answers /healthz after the load (None: not within limit)."""
    started = time.perf_counter()
    while time.perf_counter() - started < limit:
        if _answers(f"{base}/healthz", timeout=limit):
            return time.perf_counter() - started
        time.sleep(0.05)
    return None


def _answers(url: str, timeout: float) -> bool:
    """Whether the server gives any HTTP answer but 503 (an older build has no /healthz)."""
    try:
        with urllib.request.urlopen(url, timeout=timeout):
            return True
    except urllib.error.HTTPError as exc:
        return exc.code != 503
    except OSError:
        return False


# --- one run -----------------------------------------------------------------------------


def run_load(config: LoadConfig) -> LoadResult:
    """Set up a panel, serve it, drive it, check it; the baseline too if asked."""
    with bench_database(config) as url:
        panel = set_up_panel(url, config.experts, config.items)
        port = free_port()
        env = {"WORKERS": str(config.workers), **config.env}
        serve = elicit_serve(port, config.workers)
        with running_server(serve, url, port, env, config.workers, config.server_log) as base:
            startup = STARTUP_SECONDS.get(base)
            driver = Driver(base, config, panel)
            wall = _without_collector(lambda: asyncio.run(driver.run()))
            time.sleep(0.5)
            recovered = recovery_seconds(base)
            idle = idle_in_transaction(url)
            replaced = worker_replacement_seconds(base)
        lost, duplicated = check_stored(url, driver.acks)
        result = LoadResult(
            config,
            driver.samples,
            driver.acks,
            wall,
            driver.submitted,
            lost,
            duplicated,
            idle,
            recovered,
            driver.retried_503,
            startup_seconds=startup,
            client_lag=driver.lag,
            worker_replacement_seconds=replaced,
        )
        if config.baseline:
            result.baseline = run_baseline(url, config, panel)
            if config.backend == "postgresql":
                result.baseline_async = run_baseline(url, config, panel, "/save-async")
    return result


def _without_collector(run: Callable[[], float]) -> float:
    """Run the load with Python's cycle collector paused in this client: with tens of
    thousands of samples kept, its full passes stalled the client's event loop for ~100 ms,
    delaying every request measured at that moment (seen in the lag probe) and charging the
    server for it. Memory is still freed by reference counting."""
    gc.collect()
    gc.disable()
    try:
        return run()
    finally:
        gc.enable()


def run_baseline(
    url: str, config: LoadConfig, panel: Panel, path: str = "/save"
) -> dict[str, float]:
    """The same saves against a bare endpoint: same server, workers, database and pauses."""
    port = free_port()
    with running_server(bare_serve(port, config.workers), url, port, {}, config.workers) as base:
        driver = Driver(base, config, panel, seed=1)

        async def drive() -> float:
            connector = aiohttp.TCPConnector(limit=0)
            async with aiohttp.ClientSession(connector=connector) as http:
                started = time.perf_counter()

                async def one(token: str) -> None:
                    for item, dims in panel.cells.items():
                        await driver.think()
                        ratings = [
                            {"item": item, "dimension": d, "value": driver.random.randint(lo, hi)}
                            for d, lo, hi in dims
                        ]
                        await driver.request(
                            http, "save", "PUT", path, json={"token": token, "ratings": ratings}
                        )

                await asyncio.gather(*(one(t) for t in panel.tokens))
                return time.perf_counter() - started

        wall = _without_collector(lambda: asyncio.run(drive()))
    saves = [s for s in driver.samples if s.endpoint == "save" and s.status == 200]
    values = sorted(s.seconds for s in saves)
    return {
        "p50": _quantile(values, 0.5),
        "p99": _quantile(values, 0.99),
        "saves_per_s": len(saves) / wall if wall else float("nan"),
        "errors": float(sum(1 for s in driver.samples if s.status != 200)),
    }


# --- output ------------------------------------------------------------------------------


def describe(result: LoadResult) -> str:
    c = result.config
    pause = "no pauses" if c.pause[1] == 0 else f"pauses {c.pause[0]:g}-{c.pause[1]:g} s"
    started = result.startup_seconds
    lines = [
        f"{c.backend}, {c.workers} worker(s), {c.experts} experts, {pause}, "
        f"{c.guessers} password guessers, report loop {'on' if c.report_loop else 'off'}",
        "server up (command to every worker answering): "
        + (f"{started:.2f} s" if started is not None else "n/a")
        + "; a worker killed outright is replaced and serving in "
        + (
            f"{result.worker_replacement_seconds * 1000:.0f} ms"
            if result.worker_replacement_seconds is not None
            else "n/a"
        ),
        f"{'endpoint':<16}{'n':>7}{'p50 ms':>9}{'p95 ms':>9}{'p99 ms':>9}{'max ms':>9}"
        f"{'503':>6}{'other':>7}{'p99 answered':>14}",
    ]
    for endpoint, samples in sorted(result.by_endpoint().items()):
        ok = [s for s in samples if s.status > 0]
        unusual = sum(1 for s in samples if s.status <= 0 or (s.status >= 500 and s.status != 503))
        lines.append(
            f"{endpoint:<16}{len(samples):>7}"
            f"{result.p(endpoint, 0.5) * 1000:>9.0f}{result.p(endpoint, 0.95) * 1000:>9.0f}"
            f"{result.p(endpoint, 0.99) * 1000:>9.0f}"
            f"{max((s.seconds for s in ok), default=float('nan')) * 1000:>9.0f}"
            f"{sum(1 for s in samples if s.status == 503):>6}{unusual:>7}"
            # Answers proper (not the 503s that ask the client to come back):
            f"{_quantile(sorted(s.seconds for s in ok if s.status != 503), 0.99) * 1000:>14.0f}"
        )
    for endpoint, samples in sorted(result.by_endpoint().items()):
        counts: dict[int, int] = defaultdict(int)
        for sample in samples:
            counts[sample.status] += 1
        shown = ", ".join(
            f"{'time-out' if k == 0 else 'refused' if k < 0 else k} x{n}"
            for k, n in sorted(counts.items())
        )
        lines.append(f"  {endpoint}: {shown}")
    saves = sum(1 for s in result.samples if s.endpoint == "save" and s.status == 200)
    total = sum(1 for s in result.samples if s.status > 0)
    lines += [
        f"wall {result.wall_seconds:.1f} s; {total / result.wall_seconds:.0f} requests/s, "
        f"{saves / result.wall_seconds:.1f} saves/s; submitted {result.submitted}/{c.experts}",
        f"errors {len(result.errors)}, time-outs {len(result.timeouts)}, "
        f"503s retried {result.retried_503}, dropped connections retried "
        f"{len(result.dropped)}",
        f"acknowledged saves {len(result.acks)}: lost {len(result.lost)}, "
        f"stored twice {len(result.duplicated)}",
        "idle in transaction after the load: "
        + (
            "n/a (SQLite)"
            if result.idle_in_transaction is None
            else str(result.idle_in_transaction)
        ),
        "answers after the load: "
        + (
            f"in {result.recovery_seconds * 1000:.0f} ms"
            if result.recovery_seconds is not None
            else "NOT within 5 s"
        ),
    ]
    if result.client_lag:
        lags = sorted(lag for _, lag in result.client_lag)
        lines.append(
            f"load client's own lag (event loop wake-ups late): p99 "
            f"{_quantile(lags, 0.99) * 1000:.0f} ms, max {lags[-1] * 1000:.0f} ms"
        )
    p99 = result.p("save", 0.99)
    for name, b in (
        ("bare endpoint (sync, threadpool)", result.baseline),
        ("bare endpoint (async driver)", result.baseline_async),
    ):
        if b:
            lines.append(
                f"{name}, same inserts: save p50 {b['p50'] * 1000:.0f} ms, "
                f"p99 {b['p99'] * 1000:.0f} ms, {b['saves_per_s']:.1f} saves/s, "
                f"errors {b['errors']:.0f}; ratio save p99 elicit / bare {p99 / b['p99']:.1f}x"
            )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backend", choices=("sqlite", "postgresql"), default="postgresql")
    parser.add_argument("--experts", type=int, default=200)
    parser.add_argument("--workers", type=int, default=None)
    parser.add_argument("--no-pause", action="store_true", help="experts do not pause")
    parser.add_argument("--guessers", type=int, default=20)
    parser.add_argument("--no-report", action="store_true", help="no researcher report loop")
    parser.add_argument("--items", type=int, default=None, help="items per expert")
    parser.add_argument("--no-baseline", action="store_true")
    parser.add_argument("--samples", type=Path, help="also write every request's timing here")
    parser.add_argument("--server-log", type=Path, help="keep the server's log here")
    parser.add_argument(
        "--postgres", default=os.environ.get("TEST_POSTGRES_URL", DEFAULT_PG), help="server URL"
    )
    args = parser.parse_args()
    workers = args.workers or (4 if args.backend == "postgresql" else 1)
    config = LoadConfig(
        backend=args.backend,
        experts=args.experts,
        workers=workers,
        pause=(0.0, 0.0) if args.no_pause else (2.0, 5.0),
        guessers=args.guessers,
        report_loop=not args.no_report,
        items=args.items,
        postgres_url=args.postgres,
        baseline=not args.no_baseline,
        server_log=args.server_log,
    )
    result = run_load(config)
    print(describe(result), flush=True)
    if args.samples:
        args.samples.write_text(
            json.dumps({"samples": [s.__dict__ for s in result.samples], "lag": result.client_lag})
        )


if __name__ == "__main__":
    main()
