"""The :class:`Trial` handle: what an objective function sees and calls.

An objective trains one configuration from ``trial.start`` up to ``trial.stop``::

    def objective(trial):
        model = build(trial.config)
        if (state := trial.checkpoint.load()) is not None:
            model.load_state_dict(state)
        for epoch in trial.epochs():
            train_one_epoch(model)
            trial.report(evaluate(model), checkpoint=model.state_dict)

The handle does not know where reports go: the study gives it a ``sink`` (a callable that commits
one observation and answers whether the trial may go on), so this module stays below storage.
Mirrors (:class:`ReportMirror`, e.g. a TensorBoard or MLflow one from ``hyperrace.integrations``)
see each committed report too.
"""

from __future__ import annotations

import logging
import math
import numbers
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any, Literal, Protocol

import numpy as np

from hyperrace._clock import Clock, SystemClock
from hyperrace._devices import torch_devices_seen
from hyperrace.exceptions import TrialStateError
from hyperrace.trial._checkpoint import Checkpoint
from hyperrace.trial._records import (
    Observation,
    StopReason,
    as_value,
    check_user_attr,
    check_value,
    short_repr,
)

__all__ = ["InvalidValue", "ReportMirror", "ReportSink", "Trial"]

logger = logging.getLogger("hyperrace")


class InvalidValue(Exception):
    """Raised by :meth:`Trial.report` after a NaN or infinite value failed the trial.

    It unwinds the objective; the executor knows the trial is already recorded as failed.
    """


def _native(fidelity: float, integer: bool) -> float:
    """An int for epochs and steps (so ``range(trial.start + 1, trial.stop + 1)`` works)."""
    return int(fidelity) if integer and float(fidelity).is_integer() else fidelity


class ReportSink(Protocol):
    """Commits one observation of a trial; returns False when the trial must not go on."""

    def __call__(self, observation: Observation, checkpoint_fidelity: float | None) -> bool: ...


class ReportMirror(Protocol):
    """Sees every report of a run once the storage committed it (an experiment tracker)."""

    def report(self, trial: Trial, observation: Observation) -> None:
        """Mirror ``observation``, just committed for ``trial``."""
        ...


class Trial:
    """One run of one configuration, from ``start`` to ``stop``.

    Args:
        trial_id: the trial's identity (shown as "trial <trial_id>" everywhere; its checkpoint
            folder is ``trial-<trial_id>``).
        number: its position in the study (0, 1, ...).
        config: its hyperparameters.
        start: the fidelity it resumes from: that of its checkpoint (0 when it has none); an
            int for epochs and steps.
        stop: the fidelity it is granted: train up to here (an int for epochs and steps).
        integer_fidelity: True when the fidelity counts steps or epochs, False for seconds.
        checkpoint: its checkpoint folder.
        sink: where reports go.
        clock: the clock that measures wall and processor seconds.
        user_attrs: the trial's user attributes so far.
        attr_sink: where :meth:`set_user_attr` commits one (``None``: kept in this handle only).
        time_slice: seconds of ``slice_clock`` this run may spend; it stops at the first report
            after that.
        slice_clock: ``"wall"`` or ``"process"``: what ``time_slice`` counts.
        fidelity_clock: ``"wall"`` or ``"process"``: what a fidelity in seconds counts.
        devices: the devices this run trains on, as PyTorch names them in this process
            (``("cuda:0",)``, ``("cpu",)``); ``None``: none were assigned (see :attr:`devices`).
    """

    def __init__(
        self,
        *,
        trial_id: int,
        number: int,
        config: Mapping[str, Any],
        start: float,
        stop: float,
        integer_fidelity: bool,
        checkpoint: Checkpoint,
        sink: ReportSink,
        clock: Clock | None = None,
        user_attrs: Mapping[str, Any] | None = None,
        attr_sink: Callable[[str, Any], None] | None = None,
        time_slice: float | None = None,
        slice_clock: Literal["wall", "process"] = "process",
        fidelity_clock: Literal["wall", "process"] = "process",
        devices: Sequence[str] | None = None,
    ) -> None:
        self.trial_id = trial_id
        self.number = number
        self.config = dict(config)
        self.start = _native(start, integer_fidelity)
        self.stop = _native(stop, integer_fidelity)
        self.checkpoint = checkpoint
        self.time_slice = time_slice
        self.slice_clock = slice_clock
        self.fidelity_clock = fidelity_clock
        self._devices = tuple(devices) if devices is not None else None
        self._integer = integer_fidelity
        self._sink = sink
        self._clock = clock or SystemClock()
        self._cpu0 = self._last_cpu = self._clock.cpu()
        self._wall0 = self._last_wall = self._clock.wall()
        self._last_alive = self._wall0
        self._current: float | None = None
        self._last_reported = start
        self._reports = 0
        self._user_attrs = dict(user_attrs or {})
        self._attr_sink = attr_sink
        self._mirrors: list[ReportMirror] = []
        self.stop_reason = StopReason.NONE

    @property
    def fidelity(self) -> float:
        """The fidelity reached by the last report of this run (``start`` before any)."""
        return self._last_reported

    @property
    def user_attrs(self) -> dict[str, Any]:
        """The trial's user attributes (a copy): those it had, and those this run set."""
        return dict(self._user_attrs)

    def set_user_attr(self, key: str, value: Any) -> None:
        """Attach ``value`` (a JSON value: number, string, bool, None, or lists and dicts of
        them) to the trial under ``key``, committed at once; ``TrialRecord.user_attrs``,
        ``Study.to_dataframe()`` (``user_attrs_<key>`` columns) and ``hyperrace show --trial``
        show it. Optimizers ignore user attributes.
        """
        check_user_attr(key, value)
        if self._attr_sink is not None:
            self._attr_sink(key, value)
        self._user_attrs[key] = value

    @property
    def reports(self) -> int:
        """How many values this run has reported so far."""
        return self._reports

    @property
    def cpu_seconds(self) -> float:
        """Processor seconds this run has spent so far (its process and child processes)."""
        return self._clock.cpu() - self._cpu0

    @property
    def wall_seconds(self) -> float:
        """Wall-clock seconds since this run began."""
        return self._clock.wall() - self._wall0

    def seconds(self, clock: Literal["wall", "process"]) -> float:
        """Seconds this run has spent so far on ``clock``."""
        return self.wall_seconds if clock == "wall" else self.cpu_seconds

    @property
    def slice_seconds(self) -> float:
        """Seconds this run has spent on the clock of its time slice."""
        return self.seconds(self.slice_clock)

    @property
    def devices(self) -> tuple[str, ...]:
        """The devices to train on, as PyTorch names them in this process: the GPUs this run's
        worker owns (``("cuda:0",)``, ``("cuda:0", "cuda:1")``; a worker process that owns GPU 3
        sees it as ``cuda:0``), ``("cpu",)`` when it was told to use none; and when nobody
        assigned devices, every GPU PyTorch sees here, or ``("cpu",)``."""
        return self._devices if self._devices is not None else torch_devices_seen()

    @property
    def device(self) -> str:
        """The first of :attr:`devices`: ``model.to(trial.device)``."""
        return self.devices[0]

    @property
    def should_stop(self) -> bool:
        """True once the run must end: its granted fidelity is reached or its time slice spent."""
        return self.stop_reason is not StopReason.NONE

    @property
    def last_alive(self) -> float:
        """The wall-clock reading (``clock.wall()``) of this run's last sign of progress: its
        last report or :meth:`alive` call, or its start."""
        return self._last_alive

    def alive(self) -> None:
        """Say that the run makes progress, between reports (every batch of a long epoch, say).

        Nothing is written: a run that neither reports nor calls this for ``stall_after``
        seconds (``optimize(stall_after=...)``) is taken as hung, and a worker process stops it.
        """
        self._last_alive = self._clock.wall()

    def add_mirror(self, mirror: ReportMirror) -> None:
        """Show each report committed from now on to ``mirror`` too (an experiment tracker)."""
        self._mirrors.append(mirror)

    def remove_mirror(self, mirror: ReportMirror) -> None:
        """Stop showing reports to ``mirror``."""
        if mirror in self._mirrors:
            self._mirrors.remove(mirror)

    def epochs(self) -> Iterator[int]:
        """The steps to train: ``start + 1, ..., stop`` for epochs/steps.

        For a fidelity in seconds it counts 1, 2, ... while the seconds trained (the
        checkpoint's plus this run's, on the fidelity's clock) stay below ``stop``. It ends
        early, after a report, when the run's time slice is spent.
        """
        step = int(self.start) if self._integer else 0
        while not self.should_stop:
            if self._integer:
                if step >= self.stop:
                    break
            elif self.start + self.seconds(self.fidelity_clock) >= self.stop:
                break
            step += 1
            self._current = step
            yield step

    def report(
        self,
        value: float,
        *,
        fidelity: float | None = None,
        checkpoint: Callable[[], Any] | Any | None = None,
    ) -> bool:
        """Record ``value`` at ``fidelity`` and, optionally, a checkpoint; commit both at once.

        Args:
            value: the metric; NaN or inf fail the trial and raise :class:`InvalidValue`.
            fidelity: the budget trained so far. Default: the step :meth:`epochs` is at (epochs)
                or the seconds trained, on the fidelity's clock (seconds).
            checkpoint: the state to resume from later, or a callable returning it (called only
                now, after the value was checked). Saved before the report is committed.

        Returns:
            True while the run may go on; False once it must stop (granted fidelity reached, time
            slice spent, or the trial was closed elsewhere).
        """
        if self.stop_reason in (StopReason.ERROR, StopReason.INVALID_VALUE):
            raise TrialStateError(f"trial {self.trial_id} has failed; it takes no more reports")
        if fidelity is None:
            if self._integer:
                if self._current is None:
                    raise TrialStateError(
                        "report() needs fidelity= when the loop does not use trial.epochs(); "
                        f"for example trial.report(value, fidelity={int(self.start) + 1})"
                    )
                fidelity = self._current
            else:
                fidelity = self.start + self.seconds(self.fidelity_clock)
        given = fidelity
        try:  # a real number (NumPy's too), not a bool, text or an int too large for a float
            real = isinstance(given, numbers.Real) and not isinstance(given, bool | np.bool_)
            fidelity = float(given) if real else math.nan
        except Exception:
            fidelity = math.nan
        if not math.isfinite(fidelity) or fidelity <= 0:
            raise TrialStateError(
                f"fidelity={short_repr(given)} must be a positive finite number, e.g. "
                "trial.report(value, fidelity=epoch)"
            )
        wall, cpu = self._clock.wall(), self._clock.cpu()
        problem = check_value(value)
        obs = Observation(
            fidelity=fidelity,
            # a value that is refused goes to the storage as it is, which fails the trial with
            # the reason naming it
            value=value if problem else as_value(value),
            wall_seconds=wall - self._last_wall,
            cpu_seconds=cpu - self._last_cpu,
            time=self._clock.timestamp(),
        )
        self._last_wall, self._last_cpu = wall, cpu
        ckpt_fidelity = None
        if problem is None and checkpoint is not None:
            state = checkpoint() if callable(checkpoint) else checkpoint
            self.checkpoint.save(state, fidelity)
            ckpt_fidelity = fidelity
        go_on = self._sink(obs, ckpt_fidelity)
        self._reports += 1
        self._last_alive = self._clock.wall()
        if problem is not None:
            self.stop_reason = StopReason.INVALID_VALUE
            raise InvalidValue(f"trial {self.trial_id} failed: {problem} at fidelity {fidelity}")
        if ckpt_fidelity is not None:
            self.checkpoint.prune()
        self._last_reported = max(self._last_reported, fidelity)
        if fidelity >= self.stop:
            self.stop_reason = StopReason.REACHED  # done, even if a stop was requested meanwhile
        elif not go_on:
            self.stop_reason = StopReason.INTERRUPTED
        elif self.time_slice is not None and self.slice_seconds >= self.time_slice:
            self.stop_reason = StopReason.TIME_SLICE
        for mirror in list(self._mirrors):
            try:
                mirror.report(self, obs)
            except Exception as exc:  # a tracker that fails must not stop the training
                logger.warning(
                    "trial %d: %r could not mirror the report at fidelity %g: %s",
                    self.trial_id,
                    mirror,
                    fidelity,
                    exc,
                )
        return not self.should_stop
