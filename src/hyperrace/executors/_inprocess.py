"""The in-process executor: runs each job in the calling process, one at a time."""

from __future__ import annotations

from hyperrace._clock import Clock, SystemClock
from hyperrace.executors._run import Objective, Outcome, RunSpec, run_job
from hyperrace.storage import Storage

__all__ = ["InProcessExecutor"]


class InProcessExecutor:
    """Run jobs in this process, in ``submit``. The simplest, and the one to debug with.

    Args:
        clock: the clock the trial handles measure time with.
    """

    def __init__(self, clock: Clock | None = None) -> None:
        self._clock = clock or SystemClock()
        self._storage: Storage | None = None
        self._objective: Objective | None = None
        self._done: list[Outcome] = []
        self._stop = False

    @property
    def workers(self) -> int:
        return 1

    def start(self, storage: Storage, objective: Objective) -> None:
        self._storage, self._objective = storage, objective
        self._stop = False

    def free(self) -> int:
        return 0 if self._done else 1

    def submit(self, spec: RunSpec) -> None:
        if self._storage is None or self._objective is None:
            raise RuntimeError("InProcessExecutor.submit() before start()")
        self._done.append(
            run_job(
                self._storage,
                spec,
                self._objective,
                clock=self._clock,
                stop_requested=lambda: self._stop,
            )
        )

    def wait(self, timeout: float | None) -> list[Outcome]:
        done, self._done = self._done, []
        return done

    def request_stop(self) -> None:
        self._stop = True

    def shutdown(self, *, grace: float = 30.0) -> None:
        self._storage = self._objective = None
