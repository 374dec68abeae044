"""A real server in a subprocess, for tests that need a socket (browser, crash).

``live_server(database_url)`` starts ``elicit serve`` from the same virtualenv as the test
run, waits until it answers, and stops it on exit; ``run_demo(database_url, base_url)`` runs
``elicit demo --no-serve`` and parses the admin password and expert links it prints.
Paths come from ``sys.executable``, so any clone or virtualenv works.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

BIN = Path(sys.executable).parent
REPO = Path(__file__).resolve().parent.parent


def elicit_command() -> list[str]:
    """The ``elicit`` console script of this virtualenv (or ``python -m app.cli``)."""
    script = BIN / "elicit"
    if script.exists():
        return [str(script)]
    return [sys.executable, "-m", "app.cli"]


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _env(database_url: str, base_url: str) -> dict[str, str]:
    env = dict(os.environ)
    env["DATABASE_URL"] = database_url
    env["BASE_URL"] = base_url
    env.setdefault("PYTHONUNBUFFERED", "1")
    return env


# --- the demo set-up ---------------------------------------------------------------------


@dataclass(frozen=True)
class DemoLink:
    expert_code: str
    url: str

    @property
    def token(self) -> str:
        return self.url.rsplit("/i/", 1)[1]


@dataclass(frozen=True)
class DemoInfo:
    admin_email: str
    admin_password: str
    researcher_email: str
    researcher_password: str
    round_id: int
    links: list[DemoLink]
    output: str


_ADMIN = re.compile(r"^\s*admin:\s+(\S+)\s+password:\s+(\S+)\s*$", re.M)
_RESEARCHER = re.compile(r"^\s*researcher:\s+(\S+)\s+password:\s+(\S+)\s*$", re.M)
_ROUND = re.compile(r"^Round:.*\(id (\d+),", re.M)
_LINK = re.compile(r"^\s+(E-[A-Z0-9]+)\s+(https?://\S+/i/\S+)\s*$", re.M)


def parse_demo_output(text: str) -> DemoInfo:
    """The admin login, round id and expert links printed by ``elicit demo``."""
    admin = _ADMIN.search(text)
    researcher = _RESEARCHER.search(text)
    round_ = _ROUND.search(text)
    links = [DemoLink(code, url) for code, url in _LINK.findall(text)]
    if not (admin and researcher and round_ and links):
        raise ValueError(f"unexpected output from elicit demo:\n{text}")
    return DemoInfo(
        admin_email=admin.group(1),
        admin_password=admin.group(2),
        researcher_email=researcher.group(1),
        researcher_password=researcher.group(2),
        round_id=int(round_.group(1)),
        links=links,
        output=text,
    )


def run_demo(database_url: str, base_url: str, *, timeout: float = 120) -> DemoInfo:
    """Run ``elicit demo --no-serve`` on a database (migrates it) and parse what it prints."""
    port = base_url.rsplit(":", 1)[-1].strip("/")
    result = subprocess.run(
        [*elicit_command(), "demo", "--no-serve", "--port", port if port.isdigit() else "8000"],
        env=_env(database_url, base_url),
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if result.returncode != 0:
        raise RuntimeError(
            f"elicit demo failed ({result.returncode}):\n{result.stdout}\n{result.stderr}"
        )
    return parse_demo_output(result.stdout)


# --- the server --------------------------------------------------------------------------


@dataclass
class LiveServer:
    """A running ``elicit serve`` process."""

    process: subprocess.Popen[bytes]
    port: int
    log_path: Path
    _log: object = field(repr=False)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        return self.process.pid

    def log(self) -> str:
        try:
            return self.log_path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return ""

    def kill(self) -> None:
        """SIGKILL: no shutdown handlers, no flushing; what is committed is all there is."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=10)

    def stop(self, timeout: float = 10) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=timeout)


def wait_until_up(url: str, process: subprocess.Popen[bytes], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    last_error: Exception | None = None
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the server exited with status {process.returncode}")
        try:
            with urllib.request.urlopen(url + "/", timeout=2) as answer:
                if answer.status == 200:
                    return
        except urllib.error.HTTPError as exc:
            last_error = exc
        except OSError as exc:  # refused while starting
            last_error = exc
        time.sleep(0.1)
    raise TimeoutError(f"the server at {url} did not answer within {timeout} s: {last_error}")


@contextmanager
def live_server(
    database_url: str,
    *,
    port: int | None = None,
    base_url: str | None = None,
    upgrade: bool = False,
    timeout: float = 30,
    log_dir: Path | None = None,
    workers: int = 1,
) -> Iterator[LiveServer]:
    """Serve ``database_url`` on 127.0.0.1 (a free port unless given) until the block ends.

    ``upgrade=False`` passes ``--no-upgrade``: the database must already be migrated (the
    test fixtures and ``run_demo`` do that)."""
    port = port or free_port()
    base_url = base_url or f"http://127.0.0.1:{port}"
    log_dir = log_dir or Path(tempfile.mkdtemp(prefix="elicit-server-"))
    log_path = log_dir / f"server-{port}.log"
    log = log_path.open("wb")
    command = [
        *elicit_command(),
        "serve",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        str(workers),
    ]
    if not upgrade:
        command.append("--no-upgrade")
    process = subprocess.Popen(
        command,
        env=_env(database_url, base_url),
        cwd=REPO,
        stdin=subprocess.DEVNULL,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    server = LiveServer(process, port, log_path, log)
    try:
        try:
            wait_until_up(server.url, process, timeout)
        except (RuntimeError, TimeoutError) as exc:
            raise RuntimeError(f"{exc}\n--- server log ---\n{server.log()}") from exc
        yield server
    finally:
        server.stop()
        log.close()
