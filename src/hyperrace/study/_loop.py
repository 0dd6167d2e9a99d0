"""The race loop behind ``Study.optimize``: keep every worker busy, record every decision."""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING

from hyperrace.exceptions import ConfigurationError, ObjectiveFailingError
from hyperrace.executors import (
    Executor,
    Gpus,
    InProcessExecutor,
    Liveness,
    Objective,
    Outcome,
    ProcessExecutor,
    pause_interrupted,
    plan_gpus,
)
from hyperrace.optimizers import Done, Wait
from hyperrace.study._budget import Budget
from hyperrace.study._interrupt import raise_interrupted
from hyperrace.study._job import Job
from hyperrace.study._progress import make_progress
from hyperrace.trial import TrialStatus

if TYPE_CHECKING:
    from hyperrace.study._study import Study

__all__ = ["RaceLoop"]

logger = logging.getLogger("hyperrace")


def _executor(
    executor: Executor | str | None,
    workers: int | None,
    study: Study,
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
        return InProcessExecutor(study.clock) if n == 1 else ProcessExecutor(n)
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
    """One call of ``optimize``. See :meth:`hyperrace.Study.optimize` for the arguments."""

    def __init__(
        self,
        study: Study,
        objective: Objective,
        budget: Budget | None,
        workers: int | None,
        executor: Executor | str | None,
        progress: bool | None,
        liveness: Liveness,
        max_failures_in_a_row: int | None = None,
        gpus: Gpus = None,
        gpus_per_worker: int = 1,
    ) -> None:
        if not callable(objective):
            raise ConfigurationError(f"objective {objective!r} is not callable")
        if budget is not None and not isinstance(budget, Budget):
            raise ConfigurationError(
                f"budget={budget!r} must be a hyperrace.Budget, e.g. hr.Budget(epochs=1000)"
            )
        self.study = study
        self.objective = objective
        self.budget = budget
        self.executor = _executor(executor, workers, study, gpus, gpus_per_worker)
        self.progress = progress
        self.liveness = liveness
        self.mine: dict[int, Job] = {}
        if max_failures_in_a_row is not None and max_failures_in_a_row < 1:
            raise ConfigurationError(
                f"max_failures_in_a_row={max_failures_in_a_row!r} must be >= 1, or None"
            )
        self.max_failures = max_failures_in_a_row
        self.failures = 0

    def run(self) -> None:
        study, clock, executor = self.study, self.study.clock, self.executor
        executor.start(study.storage, self.objective)
        display = make_progress(self.progress, study.name, study.space.fidelity_name, study.best_by)
        elapsed0 = study.elapsed_seconds
        t0 = flushed = clock.wall()
        stopping = False
        interrupted: list[int] | None = None  # the trials in flight when Ctrl-C came
        try:
            while True:
                study.recover(
                    stale_after=self.liveness.stale_after, max_retries=self.liveness.max_retries
                )
                elapsed = elapsed0 + clock.wall() - t0
                last: Job | Wait | Done | None = None
                while not stopping and executor.free() > 0:
                    last = study._next(self.budget, elapsed)
                    if not isinstance(last, Job):
                        break
                    self.mine[last.trial_id] = last
                    executor.submit(study._spec(last, self.budget, self.liveness))
                outcomes = executor.wait(timeout=0.25 if self.mine else 0.0)
                for outcome in outcomes:
                    self.mine.pop(outcome.trial_id, None)
                now = clock.wall()
                if now - flushed >= 1.0:
                    study.storage.add_elapsed(study.study_id, now - flushed)
                    flushed = now
                history = study.history()
                usage = (self.budget or Budget()).usage(history, elapsed0 + now - t0)
                if display is not None:
                    for outcome in outcomes:
                        display.ended(history.trial(outcome.trial_id), history)
                    display.update(history, usage)
                for outcome in outcomes:
                    self._count_failure(outcome)
                if usage.exhausted and self.mine and not stopping:
                    stopping = True  # e.g. the time budget ran out: running trials pause
                    executor.request_stop()
                if self.mine or outcomes or isinstance(last, Job):
                    continue
                if history.running:  # trials of another driver, or not yet known as lost
                    time.sleep(min(1.0, self.liveness.heartbeat_interval / 2))
                    continue
                if isinstance(last, Wait):
                    logger.warning(
                        "optimizer %r waits (%s) but no trial is running; stopping",
                        study.optimizer.name,
                        last.reason,
                    )
                elif isinstance(last, Done) and last.reason:
                    logger.info("study %r: %s", study.name, last.reason)
                break
        except KeyboardInterrupt:
            interrupted = list(self.mine)
            raise
        finally:
            try:
                executor.shutdown(grace=2.0 if interrupted is not None else 30.0)
            finally:
                self._pause_leftovers()
                study.storage.add_elapsed(study.study_id, clock.wall() - flushed)
                if display is not None:
                    display.close()
                if interrupted is not None:
                    paused = [
                        t
                        for t in interrupted
                        if study.storage.trial(t).status is TrialStatus.PAUSED
                    ]
                    raise_interrupted(study.name, len(paused))

    def _count_failure(self, outcome: Outcome) -> None:
        """Stop the study when the objective fails every time: that is a bug, not bad luck."""
        if outcome.status is not TrialStatus.FAILED:
            self.failures = 0
            return
        self.failures += 1
        if self.max_failures is not None and self.failures >= self.max_failures:
            raise ObjectiveFailingError(
                f"the last {self.failures} runs of study {self.study.name!r} failed, so optimize "
                "stopped (the failed trials are recorded; optimize(max_failures_in_a_row=None) "
                f"never stops). The last failure, of trial {outcome.trial_id}:\n{outcome.message}"
            )

    def _pause_leftovers(self) -> None:
        """Pause trials of this loop that are still running (after Ctrl-C or an error)."""
        for trial_id in list(self.mine):
            trial = self.study.storage.trial(trial_id)
            try:
                pause_interrupted(
                    self.study.storage,
                    trial,
                    "the study was stopped while it ran",
                    clock=self.study.clock,
                    run=self.mine[trial_id].decision,
                )
            except Exception as exc:  # recovered elsewhere meanwhile: nothing to do
                logger.debug("could not pause trial %d: %s", trial_id, exc)
        self.mine.clear()
