"""A child process per web worker for analyses that compute for seconds.

Why: a report or a calibration is seconds of pandas and numpy work, much of it holding
Python's global interpreter lock. Run in a web worker's thread, it slows every other request
of that worker (each must win the lock back, every few milliseconds). In a child process,
at a lower scheduling priority, it only takes processor time the workers leave over.

The process starts on first use (workers start fast) and is replaced if it dies.
``compute_processes = 0`` computes in the calling thread instead (tests, tiny set-ups).
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from contextlib import suppress
from multiprocessing.context import SpawnContext, SpawnProcess
from typing import Any, TypeVar

from app.web.admission import Overloaded

T = TypeVar("T")


#: The computing process's scheduling priority (nice): below the web workers, so computing
#: waits while experts are being served.
NICENESS = 10


def _lower_priority(pid: int) -> None:
    with suppress(OSError, AttributeError):  # not everywhere; a process may lower only itself
        current = os.getpriority(os.PRIO_PROCESS, pid)
        os.setpriority(os.PRIO_PROCESS, pid, max(current, NICENESS))


class _LowPriorityProcess(SpawnProcess):
    def start(self) -> None:
        super().start()
        # At once, from the parent: the new interpreter's own start-up (importing this app
        # to unpickle its work, then numpy, pandas, scipy, matplotlib) is a second or more
        # of processor time, which must not be taken from the experts' requests either.
        assert self.pid is not None
        _lower_priority(self.pid)


class _LowPriorityContext(SpawnContext):
    Process = _LowPriorityProcess


#: How often the computing process checks that its web worker is still there (seconds).
PARENT_CHECK = 1.0


def _leave_with_the_parent() -> None:
    """End this process once the web worker that started it is gone.

    A worker killed outright (by its supervisor's time-out, SIGKILL, the out-of-memory
    killer) cannot shut its pool down, and its computing process would wait for work
    forever: it holds both ends of its task pipe, so it never reads an end of file. An
    orphan is adopted by another process, so a changed parent id is the sign to leave.
    """
    parent = os.getppid()

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(PARENT_CHECK)
        os._exit(0)  # nothing to hand over: whoever asked for the result is gone

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()


def _prepare_child() -> None:
    _lower_priority(0)  # in case the parent could not
    _leave_with_the_parent()
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
                    mp_context=_LowPriorityContext(),
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
