"""A child process per web worker for analyses that compute for seconds.

Why: a report or a calibration is seconds of pandas and numpy work, much of it holding
Python's global interpreter lock. Run in a web worker's thread, it slows every other request
of that worker (each must win the lock back, every few milliseconds). In a child process,
at a lower scheduling priority, it only takes processor time the workers leave over.

The process starts on first use (workers start fast) and is replaced if it dies.
``compute_processes = 0`` computes in the calling thread instead (tests, tiny set-ups).
"""

from __future__ import annotations

import multiprocessing
import os
import threading
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any, TypeVar

from app.web.admission import Overloaded

T = TypeVar("T")


def _prepare_child() -> None:
    # Below the web workers: computing waits when experts are being served.
    os.nice(10)
    import analysis.plots
    import analysis.summary  # noqa: F401


class ComputePool:
    def __init__(self, processes: int) -> None:
        self.processes = processes
        self._executor: ProcessPoolExecutor | None = None
        self._lock = threading.Lock()

    def _get(self) -> ProcessPoolExecutor:
        with self._lock:
            if self._executor is None:
                self._executor = ProcessPoolExecutor(
                    max_workers=self.processes,
                    mp_context=multiprocessing.get_context("spawn"),
                    initializer=_prepare_child,
                )
            return self._executor

    def run(self, fn: Callable[..., T], *args: Any) -> T:
        """``fn(*args)`` in the child process (or here, with no processes configured)."""
        if self.processes <= 0:
            return fn(*args)
        executor = self._get()
        try:
            return executor.submit(fn, *args).result()
        except BrokenProcessPool as exc:
            with self._lock:
                if self._executor is executor:
                    self._executor = None
            executor.shutdown(wait=False, cancel_futures=True)
            raise Overloaded(
                "the analysis stopped unexpectedly; please try again", retry_after=5
            ) from exc

    def shutdown(self) -> None:
        with self._lock:
            executor, self._executor = self._executor, None
        if executor is not None:
            executor.shutdown(wait=False, cancel_futures=True)
