"""The simulated executor: N workers on a simulated clock, for benchmarks that replay hours in
seconds.

A benchmark objective knows what each training step would have cost (a surrogate's predicted
seconds, a cost model) and says so with :func:`elapse` before it reports. Under the
:class:`SimulatedExecutor` that call spends simulated time: the job's thread sleeps until the
simulation reaches its wake-up time. Outside a simulation :func:`elapse` does nothing, so the
same objective runs unchanged with the real executors.

How it works (a discrete-event simulation on threads that take turns):

* Each job runs in a thread of its own, but only one thread runs at any moment: the race loop's
  or one job's. Control passes explicitly (``_resume`` / ``_yield``), so the simulation is
  deterministic; no job code ever runs concurrently with another.
* ``submit`` starts a job at the current simulated time and runs it until its first
  :func:`elapse` (or its end). ``elapse(s)`` files a wake-up event at ``now + s`` and hands
  control back.
* ``wait`` pops events in order of simulated time (ties: in the order they were filed), moves the
  clock there and resumes that job, until at least one job has ended; then the race loop decides
  what the freed workers do next, at that simulated time. Reports are therefore recorded in the
  order of their simulated times, and every decision sees exactly the reports that a real study
  would have seen at that moment: idle workers, stragglers and stale pending trials are measured.
* Every job sees a clock of its own (:class:`_JobClock`): wall time and timestamps are the
  simulation's, processor time is the simulated seconds the job has spent, so processor-second
  slices (``Budget(trial_cpu_seconds=...)``) stop a run at the report where they are spent.
* Heartbeats are not sent by threads (simulated hours pass in milliseconds); instead the running
  trials are marked alive at every event, so ``stale_after`` means simulated seconds without an
  event, which never happens to a running job.

The study must use the same clock: ``Study(..., clock=executor.clock)``, so that time budgets,
elapsed seconds and record timestamps are simulated too.
"""

from __future__ import annotations

import dataclasses
import heapq
import itertools
import math
import threading

from hyperrace.exceptions import ConfigurationError
from hyperrace.executors._run import Objective, Outcome, RunSpec, run_job
from hyperrace.storage import Storage

__all__ = ["SimulatedClock", "SimulatedExecutor", "elapse"]

_local = threading.local()


def elapse(seconds: float) -> None:
    """Spend ``seconds`` of simulated time in the running job; nothing outside a simulation.

    Call it in a benchmark objective before reporting the step that took ``seconds``.
    """
    job: _Job | None = getattr(_local, "job", None)
    if job is not None:
        job.sleep(seconds)


class SimulatedClock:
    """The simulation's time: moved only by the :class:`SimulatedExecutor`.

    Args:
        start: the timestamp (seconds since the Unix epoch) of simulated time 0.
    """

    def __init__(self, start: float = 1_700_000_000.0) -> None:
        self.now = 0.0
        self._start = start

    def wall(self) -> float:
        return self.now

    def cpu(self) -> float:
        return self.now

    def timestamp(self) -> float:
        return self._start + self.now


class _JobClock:
    """One job's view: the simulation's wall time, and its own spent seconds as processor time."""

    def __init__(self, clock: SimulatedClock) -> None:
        self._clock = clock
        self.spent = 0.0

    def wall(self) -> float:
        return self._clock.now

    def cpu(self) -> float:
        return self.spent

    def timestamp(self) -> float:
        return self._clock.timestamp()


class _Cancelled(BaseException):
    """Raised inside a job's thread at shutdown, to unwind it (not an objective failure)."""


class _Job:
    """A job's thread and the handshake that passes control to it and back."""

    def __init__(self, executor: SimulatedExecutor, spec: RunSpec) -> None:
        self.executor = executor
        self.spec = spec
        self.clock = _JobClock(executor.clock)
        self.started = executor.clock.now
        self.go = threading.Event()
        self.cancelled = False
        self.thread = threading.Thread(
            target=self._main, daemon=True, name=f"hyperrace-sim-{spec.trial_id}"
        )

    def _main(self) -> None:
        self.go.wait()
        self.go.clear()
        _local.job = self
        executor = self.executor
        try:
            if self.cancelled:
                raise _Cancelled
            assert executor._storage is not None and executor._objective is not None
            outcome = run_job(
                executor._storage,
                self.spec,
                executor._objective,
                clock=self.clock,
                stop_requested=lambda: executor._stop,
            )
            executor._finished(self, outcome)
        except _Cancelled:
            executor._finished(self, None)
        except BaseException as exc:  # a bug outside the objective (storage): re-raised in wait
            executor._finished(self, None, error=exc)
        finally:
            _local.job = None
            executor._back.set()

    def sleep(self, seconds: float) -> None:
        if not (isinstance(seconds, int | float) and math.isfinite(seconds) and seconds >= 0):
            raise ValueError(f"elapse({seconds!r}): simulated seconds must be a finite number >= 0")
        executor = self.executor
        self.clock.spent += seconds
        heapq.heappush(
            executor._events, (executor.clock.now + seconds, next(executor._order), self)
        )
        executor._back.set()  # hand control back ...
        self.go.wait()  # ... until the simulation reaches the wake-up time
        self.go.clear()
        if self.cancelled:
            raise _Cancelled


class SimulatedExecutor:
    """Run jobs on ``workers`` simulated workers. See the module docstring.

    Args:
        workers: how many jobs run at once.
        clock: the simulated clock (a new one by default); give the study the same one.

    Examples:
        >>> import hyperrace as hr
        >>> from hyperrace.executors import SimulatedExecutor, elapse
        >>> executor = SimulatedExecutor(workers=4)
        >>> def objective(trial):
        ...     for epoch in trial.epochs():
        ...         elapse(60.0)  # each epoch "takes" a minute
        ...         trial.report(1.0 / epoch)
        >>> space = hr.Space(x=hr.Float(0, 1), epochs=hr.Fidelity(1, 10))
        >>> study = hr.Study("sim", space, storage="memory://", optimizer="random",
        ...                  clock=executor.clock)
        >>> study.optimize(objective, hr.Budget(epochs=40), executor=executor, progress=False)
        >>> executor.clock.now  # four trials of ten epochs, side by side
        600.0
    """

    def __init__(self, workers: int = 1, clock: SimulatedClock | None = None) -> None:
        if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
            raise ConfigurationError(f"workers={workers!r} must be an integer >= 1")
        self._workers = workers
        self.clock = clock or SimulatedClock()
        self._storage: Storage | None = None
        self._objective: Objective | None = None
        self._events: list[tuple[float, int, _Job]] = []
        self._order = itertools.count()
        self._active: dict[int, _Job] = {}
        self._done: list[Outcome] = []
        self._error: BaseException | None = None
        self._back = threading.Event()
        self._stop = False
        #: Simulated seconds during which each worker ran a job, over every ``optimize`` call
        #: (busy / (workers x elapsed) is the utilisation).
        self.busy_seconds = 0.0

    @property
    def workers(self) -> int:
        return self._workers

    def start(self, storage: Storage, objective: Objective) -> None:
        self._storage, self._objective = storage, objective
        self._stop = False

    def free(self) -> int:
        return self._workers - len(self._active) if not self._done else 0

    def submit(self, spec: RunSpec) -> None:
        if self._storage is None or self._objective is None:
            raise RuntimeError("SimulatedExecutor.submit() before start()")
        if len(self._active) >= self._workers:
            raise RuntimeError("SimulatedExecutor.submit() with no free worker")
        job = _Job(self, dataclasses.replace(spec, heartbeats=False))
        self._active[spec.trial_id] = job
        job.thread.start()
        self._resume(job)

    def wait(self, timeout: float | None) -> list[Outcome]:
        while not self._done and self._events:
            at, _, job = heapq.heappop(self._events)
            self.clock.now = max(self.clock.now, at)
            self._resume(job)
            if self._active and self._storage is not None:
                self._storage.heartbeat(list(self._active), now=self.clock.timestamp())
        done, self._done = self._done, []
        return done

    def request_stop(self) -> None:
        self._stop = True

    def shutdown(self, *, grace: float = 30.0) -> None:
        """Unwind the jobs still running (their trials stay running; the race loop pauses them)."""
        for _, _, job in self._events:
            job.cancelled = True
            self._resume(job)
        self._events.clear()
        self._active.clear()
        self._done.clear()
        self._storage = self._objective = None

    # -- the handshake -------------------------------------------------------------------------

    def _resume(self, job: _Job) -> None:
        """Run ``job`` until it sleeps or ends; then raise what broke outside the objective."""
        self._back.clear()
        job.go.set()
        self._back.wait()
        if self._error is not None:
            error, self._error = self._error, None
            raise error

    def _finished(
        self, job: _Job, outcome: Outcome | None, error: BaseException | None = None
    ) -> None:
        self._active.pop(job.spec.trial_id, None)
        self.busy_seconds += self.clock.now - job.started
        if outcome is not None:
            self._done.append(outcome)
        if error is not None:
            self._error = error

    def __repr__(self) -> str:
        return f"SimulatedExecutor(workers={self._workers}, now={self.clock.now:g})"
