"""Budgets: how much a study may spend, counted over the whole study (all runs, all workers)."""

from __future__ import annotations

import math
from dataclasses import dataclass

from hyperrace._clock import ClockName, clock_problem
from hyperrace.exceptions import ConfigurationError
from hyperrace.history import History
from hyperrace.trial import TrialStatus

__all__ = ["Budget", "Usage"]


def _check_positive(name: str, value: float | None, *, integer: bool = False) -> None:
    if value is None:
        return
    ok = not isinstance(value, bool) and isinstance(value, int | float) and math.isfinite(value)
    if integer:
        ok = ok and float(value).is_integer()
    if not ok or value <= 0:
        kind = "a positive integer" if integer else "a positive number"
        raise ConfigurationError(f"Budget({name}={value!r}): {name} must be {kind} or None")


@dataclass(frozen=True, slots=True)
class Budget:
    """Limits of a study; each ``None`` means no limit on that axis.

    Args:
        epochs: fidelity units actually trained, summed over all trials (a resumed trial pays only
            its new steps, a retrained step pays again). With a fidelity in seconds, these are
            those seconds.
        trials: trials started.
        seconds: wall-clock seconds spent in ``optimize``, summed over every call on the study.
        trial_seconds: the time slice of one run of a trial, in seconds of ``trial_clock``: once
            it is spent, the run stops at its next report, keeping the curve it reported, and
            the trial is paused.
        trial_clock: which clock ``trial_seconds`` and ``hard_stop_grace`` count: ``"wall"``
            seconds of the run (the measure on an accelerator, and the one that also ends a run
            blocked in ``time.sleep``, I/O or a lock), ``"process"`` seconds of the worker and
            its child processes (``DataLoader`` workers included; fair on a loaded CPU machine),
            or ``"auto"`` (default): wall seconds for a run given GPUs (``optimize(gpus=...)``),
            processor seconds otherwise.
        trial_cpu_seconds: the same as ``trial_seconds`` with ``trial_clock="process"``.
        hard_stop_grace: seconds (of the slice's clock) a run may go on past its slice without
            a report that stops it; then a worker process stops it hard (ends the run, keeping
            what it reported, and exits). Default (``None``): ``max(2, slice / 4)``;
            ``math.inf``: never. Only with a slice. Runs in the driver's own process
            (``workers=1``) are stopped at reports only.

    Example:
        >>> b = Budget(epochs=500, trial_seconds=60, trial_clock="wall")
        >>> b.time_slice, b.slice_clock, b.grace_in_effect
        (60, 'wall', 15.0)
        >>> Budget(trial_cpu_seconds=8).slice_clock
        'process'
    """

    epochs: float | None = None
    trials: int | None = None
    seconds: float | None = None
    trial_seconds: float | None = None
    trial_clock: ClockName = "auto"
    trial_cpu_seconds: float | None = None
    hard_stop_grace: float | None = None

    def __post_init__(self) -> None:
        _check_positive("epochs", self.epochs)
        _check_positive("trials", self.trials, integer=True)
        _check_positive("seconds", self.seconds)
        _check_positive("trial_seconds", self.trial_seconds)
        _check_positive("trial_cpu_seconds", self.trial_cpu_seconds)
        if (problem := clock_problem("trial_clock", self.trial_clock)) is not None:
            raise ConfigurationError(f"Budget: {problem}")
        if self.trial_cpu_seconds is not None and (
            self.trial_seconds is not None or self.trial_clock not in ("auto", "process")
        ):
            raise ConfigurationError(
                f"Budget(trial_cpu_seconds={self.trial_cpu_seconds!r}) is the slice in processor "
                f"seconds; it cannot be combined with trial_seconds={self.trial_seconds!r} or "
                f"trial_clock={self.trial_clock!r}: give trial_seconds= and trial_clock= alone"
            )
        if self.hard_stop_grace != math.inf:
            _check_positive("hard_stop_grace", self.hard_stop_grace)
        if self.hard_stop_grace is not None and self.time_slice is None:
            raise ConfigurationError(
                f"Budget(hard_stop_grace={self.hard_stop_grace!r}) needs a time slice to be late "
                "for: give trial_seconds (or trial_cpu_seconds) too, or leave hard_stop_grace out"
            )

    @property
    def time_slice(self) -> float | None:
        """The time slice of one run (``trial_seconds`` or ``trial_cpu_seconds``), or ``None``."""
        return self.trial_seconds if self.trial_seconds is not None else self.trial_cpu_seconds

    @property
    def slice_clock(self) -> ClockName:
        """The clock the slice and the grace count (``"process"`` for ``trial_cpu_seconds``)."""
        return "process" if self.trial_cpu_seconds is not None else self.trial_clock

    @property
    def grace_in_effect(self) -> float | None:
        """The hard-stop grace of a run in seconds of the slice's clock, ``None`` when there is
        none (no slice, or ``hard_stop_grace=math.inf``)."""
        slice_ = self.time_slice
        if slice_ is None or self.hard_stop_grace == math.inf:
            return None
        if self.hard_stop_grace is None:
            return max(2.0, 0.25 * slice_)
        return self.hard_stop_grace

    def usage(self, history: History, elapsed: float) -> Usage:
        """How much of this budget ``history`` has used, with ``elapsed`` wall seconds."""
        return Usage(self, history.work, len(history.trials), elapsed, _in_flight(history))


def _in_flight(history: History) -> float:
    """Fidelity units granted to running trials and not yet trained."""
    return sum(
        max(t.target - t.fidelity, 0.0) for t in history.trials if t.status is TrialStatus.RUNNING
    )


@dataclass(frozen=True, slots=True)
class Usage:
    """What a study has used of its budget.

    Attributes:
        budget: the budget.
        epochs: fidelity units trained.
        trials: trials started.
        seconds: wall-clock seconds in ``optimize``.
        in_flight: fidelity units granted to running trials and not trained yet.
    """

    budget: Budget
    epochs: float
    trials: int
    seconds: float
    in_flight: float

    @property
    def epochs_left(self) -> float:
        """Fidelity units that may still be granted (infinite without an epoch budget)."""
        if self.budget.epochs is None:
            return math.inf
        return max(self.budget.epochs - self.epochs - self.in_flight, 0.0)

    @property
    def exhausted(self) -> str | None:
        """Why no new work may be granted, or ``None`` while budget remains."""
        b = self.budget
        if b.epochs is not None and self.epochs >= b.epochs:
            return f"the epoch budget ({b.epochs:g}) is spent"
        if b.seconds is not None and self.seconds >= b.seconds:
            return f"the time budget ({b.seconds:g} s) is spent"
        return None

    @property
    def can_start(self) -> bool:
        """Whether a new trial may be started."""
        return self.budget.trials is None or self.trials < self.budget.trials

    @property
    def fraction(self) -> float | None:
        """The largest fraction used of any limited axis (for progress), or ``None``."""
        b = self.budget
        parts = []
        if b.epochs is not None:
            parts.append(self.epochs / b.epochs)
        if b.trials is not None:
            parts.append(self.trials / b.trials)
        if b.seconds is not None:
            parts.append(self.seconds / b.seconds)
        return min(max(parts), 1.0) if parts else None
