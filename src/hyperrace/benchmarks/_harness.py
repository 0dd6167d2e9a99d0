"""The benchmark protocol: one optimizer on one task with one seed, on the simulated clock.

Protocol (docs/benchmarks.md says it for users):

* A run is a study on a :class:`~hyperrace.benchmarks.Task` driven by the
  :class:`~hyperrace.executors.SimulatedExecutor` with ``workers`` simulated workers, under a
  budget in epochs actually trained (a resumed trial pays only its new epochs) or in simulated
  seconds. Everything the optimizer sees is what a real study would have seen at that moment.
* Its trajectory is the best loss reported so far, at any fidelity, against the epochs and the
  simulated seconds spent when it was reported (the common protocol of multi-fidelity
  benchmarks: what a user would have in hand if they stopped there).
* Regret is normalised per task: ``(best so far - best) / (worst - best)`` with ``best`` and
  ``worst`` the lowest and highest final loss of a large random sample (cached; see
  :func:`~hyperrace.benchmarks.reference_range`), so 0 is as good as the best of the sample and
  1 as bad as its worst. Below 0 beats the sample's best.
* Optimizer overhead is measured separately from the simulated time: the real seconds each
  ``decide`` took, against the number of observations it saw.

Results are plain dicts (JSON lines on disk) so that peers, run in an environment of their own,
write the same records (:func:`trajectory_record`).
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from hyperrace.benchmarks._task import Task, task_objective
from hyperrace.exceptions import ConfigurationError
from hyperrace.executors import SimulatedExecutor
from hyperrace.history import History
from hyperrace.optimizers import Decision, make_optimizer
from hyperrace.space import Space
from hyperrace.study import Budget, Study

__all__ = ["Event", "RunConfig", "parse_label", "run_ours", "simulate", "trajectory_record"]


_PART = re.compile(r":(?=[A-Za-z_][A-Za-z0-9_.]*=)")


def parse_label(label: str) -> tuple[str, dict[str, Any]]:
    """An optimizer label's name and parameters: ``"dyhpo:cost_exponent=1:promotion=0.5"`` is
    ``dyhpo`` with those parameters (values read as JSON, else kept as strings), so that
    variants of one optimizer run side by side under their own labels. A dotted key sets a
    parameter of a part: ``race:surrogate.width=128`` is ``{"surrogate": {"width": 128}}``; a
    JSON value may hold colons (``race:surrogate={"name": "dpl"}``).

    Examples:
        >>> parse_label("asha:eta=4:variant=stopping")
        ('asha', {'eta': 4, 'variant': 'stopping'})
        >>> parse_label("race:surrogate.bootstrap=true:n_local=64")
        ('race', {'surrogate': {'bootstrap': True}, 'n_local': 64})
    """
    name, *parts = _PART.split(label)
    if ":" in name:
        bad = name.split(":", 1)[1]
        raise ConfigurationError(
            f"optimizer label {label!r}: {bad!r} is not key=value; write e.g. {name.split(':')[0]}"
            ":eta=4"
        )
    params: dict[str, Any] = {}
    for part in parts:
        key, _, text = part.partition("=")
        try:
            value: Any = json.loads(text)
        except ValueError:
            value = text
        *path, last = key.split(".")
        into = params
        for step in path:
            nested = into.setdefault(step, {})
            if not isinstance(nested, dict):
                raise ConfigurationError(
                    f"optimizer label {label!r}: {key!r} sets a part of {step!r}, which is "
                    f"already {nested!r}"
                )
            into = nested
        into[last] = value
    return name, params


@dataclass(frozen=True, slots=True)
class Event:
    """One reported epoch: when (epochs and simulated seconds spent so far) and its loss."""

    epochs: float
    seconds: float
    loss: float


@dataclass(frozen=True)
class RunConfig:
    """What one benchmark run is: optimizer, task, seed, budget and workers.

    Attributes:
        optimizer: a registered optimizer name (``hyperrace.optimizers.available()``).
        budget: epochs (``unit="epochs"``) or simulated seconds (``unit="seconds"``).
        params: keyword arguments of the optimizer.
    """

    optimizer: str
    seed: int
    budget: float
    unit: str = "epochs"
    workers: int = 1
    params: Mapping[str, Any] | None = None

    def __post_init__(self) -> None:
        if self.unit not in ("epochs", "seconds"):
            raise ConfigurationError(f"unit={self.unit!r} must be 'epochs' or 'seconds'")
        if not self.budget > 0:
            raise ConfigurationError(f"budget={self.budget!r} must be > 0")
        if self.workers < 1:
            raise ConfigurationError(f"workers={self.workers!r} must be >= 1")


class _Timed:
    """Wraps an optimizer to time each ``decide`` (real seconds) against observations seen."""

    name: ClassVar[str] = "timed"

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.name = inner.name  # type: ignore[misc]  # the study records the inner name
        self.overhead: list[tuple[int, float]] = []

    def decide(self, space: Space, history: History, rng: np.random.Generator) -> Decision:
        n = sum(len(t.curve) for t in history.trials)
        t0 = time.perf_counter()
        decision: Decision = self.inner.decide(space, history, rng)
        self.overhead.append((n, time.perf_counter() - t0))
        return decision

    def get_params(self) -> dict[str, Any]:
        params: dict[str, Any] = self.inner.get_params()
        return params


def simulate(
    task: Task, config: RunConfig, optimizer: Any
) -> tuple[Study, SimulatedExecutor, float]:
    """Run ``optimizer`` (an optimizer instance) on ``task`` under the protocol of ``config``:
    an in-memory study seeded by ``config.seed`` on ``config.workers`` simulated workers, until
    its budget is spent. Returns the study, its executor and the real seconds of the run."""
    executor = SimulatedExecutor(workers=config.workers)
    study = Study(
        f"{config.optimizer}-{task.name}-{config.seed}",
        task.space,
        storage="memory://",
        optimizer=optimizer,
        seed=config.seed,
        clock=executor.clock,
    )
    budget = (
        Budget(epochs=config.budget) if config.unit == "epochs" else Budget(seconds=config.budget)
    )
    t0 = time.perf_counter()
    study.optimize(
        task_objective(task),
        budget,
        executor=executor,
        progress=False,
        max_failures_in_a_row=None,
    )
    return study, executor, time.perf_counter() - t0


def run_ours(task: Task, config: RunConfig) -> dict[str, Any]:
    """Run one of hyperrace's optimizers on ``task`` under the protocol; a JSON-able record."""
    name, params = parse_label(config.optimizer)
    optimizer = _Timed(make_optimizer(name, {**params, **(config.params or {})}))
    study, executor, wall = simulate(task, config, optimizer)
    history = study.history()
    origin = executor.clock.timestamp() - executor.clock.now
    reports = sorted(
        (obs.time - origin, t.trial_id, obs.fidelity, obs.value)
        for t in history.trials
        for obs in t.curve
    )
    events = [
        Event(float(i + 1), seconds, value) for i, (seconds, _, _, value) in enumerate(reports)
    ]
    return trajectory_record(
        task=task.name,
        optimizer=config.optimizer,
        seed=config.seed,
        unit=config.unit,
        budget=config.budget,
        workers=config.workers,
        events=events,
        overhead=optimizer.overhead,
        wall_seconds=wall,
        trials=len(history.trials),
        busy_seconds=executor.busy_seconds,
        simulated_seconds=executor.clock.now,
    )


def trajectory_record(
    *,
    task: str,
    optimizer: str,
    seed: int,
    unit: str,
    budget: float,
    workers: int,
    events: Sequence[Event],
    overhead: Sequence[tuple[int, float]],
    wall_seconds: float,
    trials: int,
    busy_seconds: float | None = None,
    simulated_seconds: float | None = None,
    note: str = "",
) -> dict[str, Any]:
    """The record of one run: the best-so-far steps (only where the best improved, plus the end),
    the overhead per decision and totals. Peers build theirs with this function too."""
    best = np.inf
    steps: list[list[float]] = []
    for event in events:
        if event.loss < best:
            best = event.loss
            steps.append([event.epochs, event.seconds, event.loss])
    end_epochs = events[-1].epochs if events else 0.0
    end_seconds = events[-1].seconds if events else 0.0
    return {
        "task": task,
        "optimizer": optimizer,
        "seed": seed,
        "unit": unit,
        "budget": budget,
        "workers": workers,
        "best_steps": steps,
        "epochs": end_epochs,
        "seconds": end_seconds,
        "overhead": [[n, round(s, 6)] for n, s in overhead],
        "wall_seconds": round(wall_seconds, 3),
        "trials": trials,
        "busy_seconds": busy_seconds,
        "simulated_seconds": simulated_seconds,
        "note": note,
    }


def best_at(record: Mapping[str, Any], spent: float) -> float:
    """The best loss of a run once ``spent`` (in the run's unit) was used; inf before any."""
    column = 0 if record["unit"] == "epochs" else 1
    best = np.inf
    for step in record["best_steps"]:
        if step[column] <= spent + 1e-9:
            best = step[2]
        else:
            break
    return float(best)
