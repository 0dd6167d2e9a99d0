"""Running one job: build the objective's Trial handle, call the objective, end the run.

This is what every executor does for a job, wherever it runs (this process, a worker process).
"""

from __future__ import annotations

import contextlib
import threading
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hyperrace._clock import Clock, SystemClock
from hyperrace.exceptions import TrialStateError
from hyperrace.storage import Storage
from hyperrace.trial import (
    Checkpoint,
    InvalidValue,
    Observation,
    StopReason,
    Trial,
    TrialStatus,
    check_value,
)

__all__ = ["Objective", "Outcome", "RunSpec", "lost_run", "run_job", "trial_folder"]

Objective = Callable[[Trial], Any]


@dataclass(frozen=True, slots=True)
class RunSpec:
    """What a worker needs to run one job.

    Attributes:
        study_id: the study.
        trial_id: the trial to train (already running in the storage).
        stop: train up to this fidelity.
        max_fidelity: the space's maximum fidelity (a run that reaches it completes the trial).
        integer_fidelity: epochs/steps (True) or seconds (False).
        artifacts: the study's artifact folder; the trial's checkpoints go in a subfolder.
        cpu_slice: processor seconds the run may spend before it stops at a report.
        heartbeat_interval: seconds between heartbeats (``None``: none are sent).
        max_retries: runs of the trial that may be lost (worker died, heartbeat stopped) before
            it fails instead of being resumed (``None``: no limit).
    """

    study_id: int
    trial_id: int
    stop: float
    max_fidelity: float
    integer_fidelity: bool
    artifacts: str
    cpu_slice: float | None = None
    heartbeat_interval: float | None = 10.0
    max_retries: int | None = 3


@dataclass(frozen=True, slots=True)
class Outcome:
    """How a run ended: the trial's new status, why, and the fidelity it reached."""

    trial_id: int
    status: TrialStatus
    reason: StopReason
    fidelity: float
    message: str = ""


def trial_folder(artifacts: str | Path, trial_id: int) -> Path:
    """The checkpoint folder of a trial inside a study's artifact folder."""
    return Path(artifacts) / f"trial-{trial_id}"


def lost_run(storage: Storage, spec: RunSpec, message: str) -> Outcome:
    """The outcome of a job whose worker was lost (died, killed, unreachable): the trial is
    paused at what it reported, to be resumed from its checkpoint, or failed once it was lost
    more than ``spec.max_retries`` times. A trial already ended elsewhere is left as it is."""
    status = storage.lose_run(
        spec.trial_id, message, now=SystemClock().timestamp(), max_retries=spec.max_retries
    )
    trial = storage.trial(spec.trial_id)
    if status is None:  # ended before it was lost (e.g. the worker died after ending the run)
        return Outcome(spec.trial_id, trial.status, trial.reason, trial.fidelity, trial.message)
    return Outcome(spec.trial_id, status, StopReason.LOST, trial.fidelity, trial.message)


class _Heartbeat:
    """A daemon thread that marks a running trial alive every ``interval`` seconds."""

    def __init__(self, storage: Storage, trial_id: int, interval: float, clock: Clock) -> None:
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=self._loop,
            args=(storage, trial_id, interval, clock),
            daemon=True,
            name=f"hyperrace-heartbeat-{trial_id}",
        )
        self._thread.start()

    def _loop(self, storage: Storage, trial_id: int, interval: float, clock: Clock) -> None:
        while not self._stop.wait(interval):
            try:
                storage.heartbeat([trial_id], now=clock.timestamp())
            except Exception:  # a missed heartbeat is retried at the next tick
                continue

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)


def run_job(
    storage: Storage,
    spec: RunSpec,
    objective: Objective,
    *,
    clock: Clock | None = None,
    stop_requested: Callable[[], bool] | None = None,
) -> Outcome:
    """Run ``objective`` for one job and record how it ended.

    The trial resumes from its checkpoint (``trial.start`` is the checkpoint's fidelity, 0 when it
    has none, so an objective that does not checkpoint retrains from scratch). An objective may
    also just return its final value: it is reported at ``stop`` if the run reported nothing
    there. An exception fails the trial with its traceback; ``KeyboardInterrupt`` pauses it and
    propagates. ``stop_requested`` is polled at each report; when it answers True the run stops
    there and the trial is paused (to be resumed later).
    """
    clock = clock or SystemClock()
    record = storage.trial(spec.trial_id)
    if record.status is not TrialStatus.RUNNING:
        raise TrialStateError(f"trial {spec.trial_id} is {record.status.value}; it cannot be run")
    checkpoint = Checkpoint(trial_folder(spec.artifacts, spec.trial_id), record.checkpoint_fidelity)
    start = record.checkpoint_fidelity or 0.0
    closed = False

    def sink(observation: Observation, checkpoint_fidelity: float | None) -> bool:
        nonlocal closed
        try:
            status = storage.report(
                spec.trial_id,
                observation,
                work=observation.fidelity - trial.fidelity,
                checkpoint_fidelity=checkpoint_fidelity,
            )
        except TrialStateError:
            closed = True  # closed elsewhere (recovered as stale, study stopped): stop here
            return False
        return status.status is TrialStatus.RUNNING and not (stop_requested and stop_requested())

    trial = Trial(
        trial_id=spec.trial_id,
        number=record.number,
        config=record.config,
        start=start,
        stop=spec.stop,
        integer_fidelity=spec.integer_fidelity,
        checkpoint=checkpoint,
        sink=sink,
        clock=clock,
        cpu_slice=spec.cpu_slice,
    )
    beat = (
        _Heartbeat(storage, spec.trial_id, spec.heartbeat_interval, clock)
        if spec.heartbeat_interval
        else None
    )

    def end(status: TrialStatus, reason: StopReason, message: str = "") -> Outcome:
        if not closed:
            with contextlib.suppress(TrialStateError):  # closed elsewhere: nothing to end
                storage.end_run(spec.trial_id, status, reason, message, now=clock.timestamp())
        return Outcome(spec.trial_id, status, reason, trial.fidelity, message)

    try:
        try:
            result = objective(trial)
        finally:
            if beat is not None:
                beat.close()
    except InvalidValue as exc:
        return Outcome(
            spec.trial_id, TrialStatus.FAILED, StopReason.INVALID_VALUE, trial.fidelity, str(exc)
        )
    except KeyboardInterrupt:
        end(TrialStatus.PAUSED, StopReason.INTERRUPTED, "interrupted (Ctrl-C)")
        raise
    except Exception:
        return end(TrialStatus.FAILED, StopReason.ERROR, traceback.format_exc())
    if result is not None and not trial.should_stop and not closed:
        problem = check_value(result)
        if problem is not None or trial.fidelity < spec.stop:
            try:
                trial.report(result, fidelity=spec.stop)
            except InvalidValue as exc:
                return Outcome(
                    spec.trial_id,
                    TrialStatus.FAILED,
                    StopReason.INVALID_VALUE,
                    trial.fidelity,
                    str(exc),
                )
    if closed or trial.stop_reason is StopReason.INTERRUPTED:
        if not closed:
            return end(TrialStatus.PAUSED, StopReason.INTERRUPTED, "stopped by the study")
        return Outcome(spec.trial_id, TrialStatus.PAUSED, StopReason.INTERRUPTED, trial.fidelity)
    if trial.fidelity >= spec.max_fidelity:
        return end(TrialStatus.COMPLETED, StopReason.REACHED)
    if trial.stop_reason is StopReason.TIME_SLICE:
        return end(
            TrialStatus.PAUSED,
            StopReason.TIME_SLICE,
            f"its time slice of {spec.cpu_slice:g} processor seconds was spent at fidelity "
            f"{trial.fidelity:g} (granted {spec.stop:g})",
        )
    if trial.fidelity >= spec.stop:
        return end(TrialStatus.PAUSED, StopReason.REACHED)
    return end(
        TrialStatus.PAUSED,
        StopReason.OBJECTIVE_RETURNED,
        f"the objective returned at fidelity {trial.fidelity:g} before the granted {spec.stop:g}",
    )
