"""Running the web service: worker processes forked from one that has loaded the app.

Why not ``uvicorn --workers N``: uvicorn starts each worker as a new interpreter, which
imports FastAPI, SQLAlchemy, pydantic and the app again (more than a second of processor
time each, all at once when N workers start together, and again whenever one is replaced).
Gunicorn with ``preload_app`` imports and builds the app once, then forks: a worker is
serving within milliseconds, and the supervisor replaces a worker that dies. The workers
run uvicorn's event loop (``uvicorn_worker.UvicornWorker``), with uvloop and httptools.

What must not cross the fork: open database connections (the pool is emptied in each new
worker without closing the parent's sockets) and the analysis process (started on first use
inside each worker). Building the app opens neither.

Where gunicorn does not run (Windows), uvicorn serves a single process instead.
"""

from __future__ import annotations

import importlib.util
import os
import signal
import sys
from typing import Any

#: Seconds a worker may take to finish its requests on shutdown or restart.
GRACEFUL_SECONDS = 20


def serve(*, host: str, port: int, workers: int, log_level: str = "info") -> None:
    """Serve the app from the settings in the environment until stopped."""
    if os.name == "posix" and importlib.util.find_spec("gunicorn") is not None:
        _serve_forked(host=host, port=port, workers=workers, log_level=log_level)
        return
    import uvicorn

    uvicorn.run(
        "app.asgi:create",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_level=log_level,
        proxy_headers=True,
    )


def _after_fork(server: Any, worker: Any) -> None:
    _stop_with_parent(worker.ppid)
    # The parent's pool must not be shared: forget its connections, close none of them
    # (closing would end the parent's sessions; there are none today, but a hook that
    # opens one must not break the workers).
    app = server.app.callable
    if app is not None:
        app.state.engine.dispose(close=False)


def _stop_with_parent(parent: int) -> None:
    """Ask the kernel to send this worker SIGTERM when the supervisor dies.

    Why by hand: a supervisor killed outright (SIGKILL, the out-of-memory killer) cannot
    stop its workers, and uvicorn's worker notices a new parent only at its next heartbeat,
    a minute later; meanwhile it keeps the port and serves as if nothing had happened.
    Linux's prctl(PR_SET_PDEATHSIG) makes the end immediate (and graceful: SIGTERM lets
    requests in progress finish). Elsewhere the heartbeat check remains.
    """
    if not sys.platform.startswith("linux"):
        return
    import ctypes

    pr_set_pdeathsig = 1
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(pr_set_pdeathsig, signal.SIGTERM)
    if os.getppid() != parent:  # the supervisor died before the request was in place
        os.kill(os.getpid(), signal.SIGTERM)


def _serve_forked(*, host: str, port: int, workers: int, log_level: str) -> None:
    from gunicorn.app.base import BaseApplication

    class Service(BaseApplication):  # type: ignore[misc]
        def load_config(self) -> None:
            options = {
                "bind": [f"[{host}]:{port}" if ":" in host else f"{host}:{port}"],
                "workers": workers,
                "worker_class": "uvicorn_worker.UvicornWorker",
                "preload_app": True,
                "post_fork": _after_fork,
                "graceful_timeout": GRACEFUL_SECONDS,
                # The event loop reports to the supervisor between requests, and requests
                # run in threads; a worker silent this long is stuck and is replaced.
                "timeout": 60,
                "keepalive": 5,
                "loglevel": log_level,
                "errorlog": "-",
                "accesslog": "-",
                "proc_name": "elicit",
                # No run-time control socket: one per user's home would be shared by every
                # server this user starts (tests start several at once).
                "control_socket_disable": True,
            }
            for key, value in options.items():
                if key in self.cfg.settings:  # control_socket_disable: gunicorn 25 on
                    self.cfg.set(key, value)

        def load(self) -> Any:
            from app.asgi import create

            return create()

    Service().run()
