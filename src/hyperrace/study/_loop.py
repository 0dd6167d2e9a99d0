"""The race loop behind ``Study.optimize`` and ``hyperrace worker``: keep every worker busy,
record every decision (through a :class:`~hyperrace.study._race.Race`).

What a caller adds to the loop goes through :class:`Hooks`: a word when a job is claimed and
when one ends, and a way to leave the race between two waits (the loop then stops claiming, asks
its running trials to stop at their next report, and returns once they have). The loop's own
messages (why it stopped) go to the logger named :data:`LOGGER`.
"""

from __future__ import annotations

import logging
import time

from hyperrace._clock import Clock
from hyperrace.exceptions import ConfigurationError, ObjectiveFailingError
from hyperrace.executors import (
    Executor,
    Gpus,
    InProcessExecutor,
    Objective,
    Outcome,
    ProcessExecutor,
    pause_interrupted,
    plan_gpus,
)
from hyperrace.history import BestBy
from hyperrace.optimizers import Done, Wait
from hyperrace.study._budget import Budget
from hyperrace.study._interrupt import raise_interrupted
from hyperrace.study._job import Job
from hyperrace.study._progress import make_progress
from hyperrace.study._race import Race
from hyperrace.trial import TrialStatus

__all__ = ["LOGGER", "Hooks", "RaceLoop"]

#: The name of the race loop's logger (a child of ``hyperrace``).
LOGGER = "hyperrace.race"

logger = logging.getLogger(LOGGER)


class Hooks:
    """What a caller of the race loop is told, and how it leaves; the loop calls each method
    from its own thread. This base class is told nothing and never leaves (``optimize``)."""

    def claimed(self, job: Job) -> None:
        """``job`` was recorded for this loop; the executor runs it next."""

    def ended(self, outcome: Outcome) -> None:
        """A run of this loop ended."""

    def leave(self, running: int) -> str | None:
        """Asked before each round of claims and after each wait, with the number of this loop's
        runs in flight: a reason to leave the race, or ``None`` to go on. Once given, the loop
        claims no more jobs, asks its runs to stop at their next report (they are paused with
        what they reported) and returns the reason once they ended."""
        return None


def _executor(
    executor: Executor | str | None,
    workers: int | None,
    clock: Clock,
    gpus: Gpus,
    gpus_per_worker: int,
) -> Executor:
    if executor is None:
        if gpus is not None:  # each worker process owns its GPUs, even a single one
            return ProcessExecutor(workers, gpus=gpus, gpus_per_worker=gpus_per_worker)
        if gpus_per_worker != 1:
            raise ConfigurationError(
                f"gpus_per_worker={gpus_per_worker!r} needs gpus=[...] or gpus='auto'"
            )
        n = plan_gpus(None, workers).workers
        return InProcessExecutor(clock) if n == 1 else ProcessExecutor(n)
    if gpus is not None or gpus_per_worker != 1:
        raise ConfigurationError(
            f"gpus={gpus!r} is for the local worker processes of optimize(workers=N); with "
            f"executor={executor!r} give the devices to the executor (ProcessExecutor(gpus=...), "
            "RayExecutor(num_gpus=...))"
        )
    n_jobs = plan_gpus(None, workers).workers
    if executor == "ray":
        from hyperrace.executors import RayExecutor

        return RayExecutor(n_jobs)
    if isinstance(executor, str):
        raise ConfigurationError(
            f"executor={executor!r} is not an executor; pass 'ray', an executor object such as "
            "hyperrace.executors.ProcessExecutor(4), or None with workers=N"
        )
    return executor


class RaceLoop:
    """One race over ``race``'s study: ``optimize`` builds one per call, ``hyperrace worker``
    one per round. See :meth:`hyperrace.Study.optimize` for the arguments; ``best_by`` is how
    the progress display ranks trials, ``hooks`` what the caller adds (default: nothing). The
    liveness settings (heartbeats, lost and hung runs) are ``race.liveness``."""

    def __init__(
        self,
        race: Race,
        objective: Objective,
        *,
        budget: Budget | None = None,
        workers: int | None = None,
        executor: Executor | str | None = None,
        progress: bool | None = None,
        best_by: BestBy = "last",
        max_failures_in_a_row: int | None = None,
        gpus: Gpus = None,
        gpus_per_worker: int = 1,
        hooks: Hooks | None = None,
    ) -> None:
        if not callable(objective):
            raise ConfigurationError(f"objective {objective!r} is not callable")
        if budget is not None and not isinstance(budget, Budget):
            raise ConfigurationError(
                f"budget={budget!r} must be a hyperrace.Budget, e.g. hr.Budget(epochs=1000)"
            )
        self.race = race
        self.objective = objective
        self.budget = budget
        self.executor = _executor(executor, workers, race.clock, gpus, gpus_per_worker)
        self.progress = progress
        self.best_by = best_by
        self.hooks = hooks if hooks is not None else Hooks()
        self.mine: dict[int, Job] = {}
        if max_failures_in_a_row is not None and max_failures_in_a_row < 1:
            raise ConfigurationError(
                f"max_failures_in_a_row={max_failures_in_a_row!r} must be >= 1, or None"
            )
        self.max_failures = max_failures_in_a_row
        self.failures = 0

    def run(self) -> str | None:
        """Race until the budget is spent, the optimizer is done, or the hooks leave. Returns
        the reason :meth:`Hooks.leave` gave, or ``None`` when the race ended by itself."""
        race, clock, executor, hooks = self.race, self.race.clock, self.executor, self.hooks
        executor.start(race.storage, self.objective)
        display = make_progress(self.progress, race.name, race.space.fidelity_name, self.best_by)
        elapsed0 = race.elapsed_seconds
        t0 = flushed = clock.wall()
        stopping = False
        leaving: str | None = None  # the reason the hooks gave to leave
        interrupted: list[int] | None = None  # the trials in flight when Ctrl-C came
        try:
            while True:
                race.recover()
                leaving = leaving or hooks.leave(len(self.mine))
                if leaving is not None and not self.mine:
                    break
                if leaving is not None and not stopping:
                    stopping = True  # the runs in flight stop at their next report
                    executor.request_stop()
                elapsed = elapsed0 + clock.wall() - t0
                last: Job | Wait | Done | None = None
                while not stopping and executor.free() > 0:
                    last = race.next(self.budget, elapsed=elapsed)
                    if not isinstance(last, Job):
                        break
                    self.mine[last.trial_id] = last
                    hooks.claimed(last)
                    executor.submit(race.spec(last, budget=self.budget))
                outcomes = executor.wait(timeout=0.25 if self.mine else 0.0)
                for outcome in outcomes:
                    self.mine.pop(outcome.trial_id, None)
                    hooks.ended(outcome)
                now = clock.wall()
                if now - flushed >= 1.0:
                    race.storage.add_elapsed(race.study_id, now - flushed)
                    flushed = now
                history = race.history()
                usage = (self.budget or Budget()).usage(history, elapsed0 + now - t0)
                if display is not None:
                    for outcome in outcomes:
                        display.ended(history.trial(outcome.trial_id), history)
                    display.update(history, usage)
                for outcome in outcomes:
                    self._count_failure(outcome)
                leaving = leaving or hooks.leave(len(self.mine))
                if leaving is not None and not self.mine:
                    break
                if (usage.exhausted or leaving is not None) and self.mine and not stopping:
                    stopping = True  # e.g. the time budget ran out: running trials pause
                    executor.request_stop()
                if self.mine or outcomes or isinstance(last, Job):
                    continue
                if history.running:  # trials of another driver, or not yet known as lost
                    time.sleep(min(1.0, race.liveness.heartbeat_interval / 2))
                    continue
                if isinstance(last, Wait):
                    logger.warning(
                        "optimizer %r waits (%s) but no trial is running; stopping",
                        race.optimizer.name,
                        last.reason,
                    )
                elif isinstance(last, Done) and last.reason:
                    logger.info("study %r: %s", race.name, last.reason)
                break
        except KeyboardInterrupt:
            interrupted = list(self.mine)
            raise
        finally:
            try:
                executor.shutdown(grace=2.0 if interrupted is not None else 30.0)
            finally:
                self._pause_leftovers()
                race.storage.add_elapsed(race.study_id, clock.wall() - flushed)
                if display is not None:
                    display.close()
                if interrupted is not None:
                    paused = [
                        t for t in interrupted if race.storage.trial(t).status is TrialStatus.PAUSED
                    ]
                    raise_interrupted(race.name, len(paused))
        return leaving

    def _count_failure(self, outcome: Outcome) -> None:
        """Stop the study when the objective fails every time: that is a bug, not bad luck."""
        if outcome.status is not TrialStatus.FAILED:
            self.failures = 0
            return
        self.failures += 1
        if self.max_failures is not None and self.failures >= self.max_failures:
            raise ObjectiveFailingError(
                f"the last {self.failures} runs of study {self.race.name!r} failed, so optimize "
                "stopped (the failed trials are recorded; optimize(max_failures_in_a_row=None) "
                f"never stops). The last failure, of trial {outcome.trial_id}:\n{outcome.message}"
            )

    def _pause_leftovers(self) -> None:
        """Pause trials of this loop that are still running (after Ctrl-C or an error)."""
        storage, clock = self.race.storage, self.race.clock
        for trial_id in list(self.mine):
            trial = storage.trial(trial_id)
            try:
                pause_interrupted(
                    storage,
                    trial,
                    "the study was stopped while it ran",
                    clock=clock,
                    run=self.mine[trial_id].decision,
                )
            except Exception as exc:  # recovered elsewhere meanwhile: nothing to do
                logger.debug("could not pause trial %d: %s", trial_id, exc)
        self.mine.clear()
