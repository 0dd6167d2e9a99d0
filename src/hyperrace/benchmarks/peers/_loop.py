"""The one loop every peer runs in: simulated workers training a task epoch by epoch.

A peer adapter implements :class:`PeerDriver`; :func:`simulate` drives it under the benchmark
protocol (:mod:`hyperrace.benchmarks._harness`) and returns the record. Call order, on one
thread: ``ask`` whenever a simulated worker is free (``None``: nothing to start now; with no job
running either, the run ends), then for each epoch of the job, in simulated-time order over all
workers, ``epoch`` (``False`` stops the job), and ``end`` once the job stops or reaches its last
epoch. A job the budget cuts short is neither told nor ended: the run is over.

Accounting:

* Every epoch trained is charged (1 epoch, and the task's seconds on its worker's clock) and is
  an :class:`~hyperrace.benchmarks._harness.Event`, so a peer that retrains epochs pays for them.
* Under an epoch budget an epoch is started only while ``epochs started + 1 <= budget``; under a
  seconds budget an epoch that would end after ``budget`` is not trained. A run never spends
  more than its budget.
* Overhead: one entry per ``ask``, ``(observations told so far, real seconds)``, where the
  seconds also include the time the peer took in ``epoch`` and ``end`` since the previous
  ``ask`` (its bookkeeping and stop/pause decisions), so the total is the peer's whole time.
"""

from __future__ import annotations

import heapq
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from hyperrace.benchmarks._harness import Event, RunConfig, trajectory_record
from hyperrace.benchmarks._task import Task
from hyperrace.exceptions import ConfigurationError

__all__ = ["Job", "PeerDriver", "check_workers", "simulate"]


@dataclass
class Job:
    """Epochs ``start`` .. ``stop`` of one trial of the peer, trained on one worker.

    Attributes:
        config: the configuration (hyperparameters of the task's space, no fidelity).
        start: the first epoch to train (1: from scratch; later: resumed from a checkpoint).
        stop: the last epoch to train (at most the task's ``max_epochs``).
        handle: the peer's own handle on the trial (a trial object, an id).
        last: the last epoch trained so far and its loss (set by :func:`simulate`).
        seconds: the simulated seconds this job has trained so far (set by :func:`simulate`).
    """

    config: Mapping[str, Any]
    start: int
    stop: int
    handle: Any = None
    last: tuple[int, float] | None = None
    seconds: float = 0.0


class PeerDriver(Protocol):
    """An adapter between a peer's API and :func:`simulate` (see the module docstring)."""

    #: Values told to the peer so far (the ``n`` of the overhead entries).
    observations: int

    def ask(self) -> Job | None:
        """The next job to run, or None when the peer has nothing to start now."""
        ...

    def epoch(self, job: Job, epoch: int, loss: float) -> bool:
        """``epoch`` of ``job`` ended with ``loss``; False stops the job there."""
        ...

    def end(self, job: Job) -> None:
        """``job`` stopped (``job.last`` is its last epoch and loss)."""
        ...


def check_workers(name: str, workers: int, allowed: bool) -> None:
    """Refuse ``workers > 1`` for a peer whose API cannot run trials side by side."""
    if workers > 1 and not allowed:
        raise ConfigurationError(
            f"the peer {name!r} runs only sequentially: its API cannot keep several trials in "
            f"flight on a simulated clock, so workers={workers} is not supported; use workers=1"
        )


@dataclass(order=True)
class _Pending:
    """An epoch in flight: it ends at ``when`` (simulated seconds)."""

    when: float
    order: int
    worker: int = field(compare=False)
    job: Job = field(compare=False)
    epoch: int = field(compare=False)
    loss: float = field(compare=False)
    seconds: float = field(compare=False)


def simulate(task: Task, config: RunConfig, driver: PeerDriver, note: str) -> dict[str, Any]:
    """Run ``driver``'s peer on ``task`` under ``config``; the record (``note`` included)."""
    seconds_budget = config.budget if config.unit == "seconds" else float("inf")
    epoch_budget = config.budget if config.unit == "epochs" else float("inf")
    started = 0  # epochs started: charged when they start under an epoch budget
    busy = 0.0
    order = 0
    now = 0.0
    pending: list[_Pending] = []
    free = list(range(config.workers))
    events: list[Event] = []
    overhead: list[tuple[int, float]] = []
    trials = 0
    since_ask = 0.0  # real seconds the peer spent in epoch/end since its last ask
    out_of_budget = False
    t_start = time.perf_counter()

    def schedule(worker: int, job: Job, epoch: int) -> bool:
        """Start ``epoch`` of ``job`` on ``worker`` now, if the budget allows it."""
        nonlocal started, order, out_of_budget
        if started + 1 > epoch_budget + 1e-9:
            out_of_budget = True
            return False
        step = task.step(job.config, epoch)
        if now + step.seconds > seconds_budget + 1e-9:  # it would end past the budget
            out_of_budget = True
            return False
        started += 1
        order += 1
        heapq.heappush(
            pending,
            _Pending(now + step.seconds, order, worker, job, epoch, step.value, step.seconds),
        )
        return True

    while True:
        idle: list[int] = []
        while free and not out_of_budget:  # every free worker asks, in worker order
            worker = free.pop(0)
            t0 = time.perf_counter()
            job = driver.ask()
            overhead.append((driver.observations, time.perf_counter() - t0 + since_ask))
            since_ask = 0.0
            if job is None:
                idle.append(worker)
                continue
            job.stop = min(job.stop, task.max_epochs)
            if not 1 <= job.start <= job.stop:
                raise ValueError(f"a peer asked for epochs {job.start}..{job.stop}")
            trials += job.start == 1
            if not schedule(worker, job, job.start):
                idle.append(worker)
        free = idle + free
        if not pending:
            break
        item = heapq.heappop(pending)
        busy += item.seconds
        now = item.when
        events.append(Event(float(len(events) + 1), now, item.loss))
        job = item.job
        job.last = (item.epoch, item.loss)
        job.seconds += item.seconds
        t0 = time.perf_counter()
        go_on = driver.epoch(job, item.epoch, item.loss)
        since_ask += time.perf_counter() - t0
        if go_on and item.epoch < job.stop:
            if not schedule(item.worker, job, item.epoch + 1):
                free.append(item.worker)
            continue
        t0 = time.perf_counter()
        driver.end(job)
        since_ask += time.perf_counter() - t0
        free.append(item.worker)
    return trajectory_record(
        task=task.name,
        optimizer=config.optimizer,
        seed=config.seed,
        unit=config.unit,
        budget=config.budget,
        workers=config.workers,
        events=events,
        overhead=overhead,
        wall_seconds=time.perf_counter() - t_start,
        trials=trials,
        busy_seconds=busy,
        simulated_seconds=now,
        note=note,
    )
