"""The executor protocol: run jobs somewhere and say when they end.

Contract
--------
* The race loop calls :meth:`Executor.start` once, then :meth:`submit` while :meth:`free` is
  above zero, and :meth:`wait` to collect the outcomes of finished jobs; :meth:`shutdown` at the
  end, always (also after an error or Ctrl-C).
* ``submit`` returns at once for asynchronous executors; the in-process one runs the job inside
  ``submit`` and returns its outcome from the next ``wait``.
* :meth:`request_stop` asks running jobs to stop at their next report (their trials are paused,
  to be resumed later); it returns immediately.
* Executors are used from one thread, the race loop's.
"""

from __future__ import annotations

from typing import Protocol

from hyperrace.executors._run import Objective, Outcome, RunSpec
from hyperrace.storage import Storage

__all__ = ["Executor"]


class Executor(Protocol):
    """Runs the objective for jobs. See the module docstring for the contract."""

    @property
    def workers(self) -> int:
        """How many jobs it runs at once."""
        ...

    def start(self, storage: Storage, objective: Objective) -> None:
        """Prepare to run ``objective`` against ``storage``."""
        ...

    def free(self) -> int:
        """How many more jobs it can take now."""
        ...

    def submit(self, spec: RunSpec) -> None:
        """Run one job."""
        ...

    def wait(self, timeout: float | None) -> list[Outcome]:
        """Outcomes of jobs that ended, waiting up to ``timeout`` seconds for at least one."""
        ...

    def request_stop(self) -> None:
        """Ask running jobs to stop at their next report."""
        ...

    def shutdown(self, *, grace: float = 30.0) -> None:
        """Stop taking jobs, give running ones ``grace`` seconds to stop, release resources."""
        ...
