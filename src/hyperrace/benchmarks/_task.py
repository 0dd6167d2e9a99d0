"""The benchmark task protocol: a learning curve and the seconds each step of it costs.

A :class:`Task` answers, for a configuration and an epoch, the loss after that epoch and the
seconds that epoch would have taken. Tabular and surrogate tasks (LCBench) answer from a model;
synthetic ones from a formula; real training tasks (digits) train instead and are not tasks in
this sense (they are plain objectives). From a task, :func:`task_objective` makes an objective for
any study: it reports the curve and, under the simulated executor, spends the step's seconds on
the simulated clock (elsewhere it spends nothing: the seconds are only recorded by the real clock).

All tasks minimise: a task built on an accuracy reports an error (e.g. ``1 - accuracy``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt

from hyperrace.executors import elapse
from hyperrace.space import Space
from hyperrace.trial import Trial

__all__ = ["Step", "Task", "task_objective"]


@dataclass(frozen=True, slots=True)
class Step:
    """One epoch of a task's curve.

    Attributes:
        value: the loss after the epoch (to minimise).
        seconds: the seconds the epoch took (training and validation), > 0.
    """

    value: float
    seconds: float


@runtime_checkable
class Task(Protocol):
    """A multi-fidelity benchmark task. See the module docstring."""

    @property
    def name(self) -> str:
        """A short identifier, unique among tasks of a benchmark (e.g. ``lcbench-3945``)."""
        ...

    @property
    def space(self) -> Space:
        """The search space; its fidelity is in epochs, from 1 to ``max_epochs``."""
        ...

    @property
    def max_epochs(self) -> int:
        """The maximum fidelity."""
        ...

    def step(self, config: Mapping[str, Any], epoch: int) -> Step:
        """The loss after ``epoch`` epochs of ``config`` and the seconds that epoch took."""
        ...

    def final_losses(self, configs: Sequence[Mapping[str, Any]]) -> npt.NDArray[np.float64]:
        """The loss of each config at ``max_epochs`` (batched: used to estimate the best value
        of a task from a large random sample)."""
        ...


@dataclass(frozen=True)
class task_objective:  # noqa: N801 - used like a function; a class so that it pickles
    """An objective that reports ``task``'s curve from ``trial.start`` to ``trial.stop``.

    Each epoch first spends its seconds (:func:`hyperrace.executors.elapse`: simulated time under
    the simulated executor, nothing otherwise), then reports the loss with a checkpoint (the epoch
    reached), so a paused trial resumes where it stopped. It pickles when the task does, so worker
    processes can run it.
    """

    task: Task

    def __call__(self, trial: Trial) -> None:
        for epoch in trial.epochs():
            step = self.task.step(trial.config, epoch)
            elapse(step.seconds)
            trial.report(step.value, checkpoint={"epoch": epoch})
