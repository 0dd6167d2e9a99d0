"""Running one job: build the objective's Trial handle, call the objective, end the run.

This is what every executor does for a job, wherever it runs (this process, a worker process).

Time slices are enforced in two ways. The cooperative stop is the normal path: the Trial handle
ends the run at the first report after its slice (``RunSpec.time_slice`` seconds of
``RunSpec.slice_clock``: wall-clock or processor seconds) is spent. An objective that does not
report for longer than ``RunSpec.hard_stop_grace`` seconds (of the same clock) past its slice is
stopped hard, but only where the run owns its process (``run_job(may_exit=True)``, as worker
processes do): a watchdog thread ends the run in the storage, keeping what it reported, and ends
the process with :data:`HARD_STOP_EXIT_CODE`. With the wall clock this also stops a run blocked
in ``time.sleep``, I/O, a lock or a CUDA call, which spends no processor time.

A run that shows no progress (no report, no ``trial.alive()``) for ``stall_after`` wall-clock
seconds (of the job's :class:`~hyperrace.executors.Liveness`) is hung: the watchdog counts it as
a lost run (paused, reason ``lost``, to be resumed from its checkpoint; failed once lost more
than ``max_retries`` times) and ends the process the same way. A thread cannot be stopped from
outside, so in the driver's own process the slice is only enforced at reports, and a hung run is
only logged.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import sys
import threading
import traceback
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from hyperrace._clock import Clock, ClockName, SystemClock, resolve_clock
from hyperrace._devices import record_names, torch_names
from hyperrace.exceptions import TrialStateError
from hyperrace.executors._liveness import Liveness
from hyperrace.storage import Storage
from hyperrace.trial import (
    Checkpoint,
    Failed,
    HardStopped,
    Interrupted,
    InvalidReport,
    InvalidValue,
    Observation,
    Returned,
    RunEnd,
    RunState,
    SliceSpent,
    StopReason,
    Trial,
    TrialRecord,
    TrialStatus,
    check_value,
    end_of_run,
    trial_folder,
)

__all__ = [
    "HARD_STOP_EXIT_CODE",
    "NO_REPORT_MESSAGE",
    "InFlightHeartbeats",
    "Objective",
    "Outcome",
    "RunSpec",
    "lost_run",
    "pause_interrupted",
    "recorded_outcome",
    "run_job",
]

Objective = Callable[[Trial], Any]

#: The exit status of a worker process whose run was stopped hard: its time slice and grace
#: period were spent without a report that could stop it, or it made no progress for
#: ``Liveness.stall_after`` seconds. The run is already ended in the storage (the trial paused
#: with what it reported, or counted as lost), so the driver takes the recorded state as the
#: job's outcome.
HARD_STOP_EXIT_CODE = 86

#: Why a run whose objective returned ``None`` without a report failed: nothing was learnt, and
#: resuming it would only repeat that (a study would start such trials for ever).
NO_REPORT_MESSAGE = (
    "the objective returned None without reporting a value: call trial.report(value) after each "
    "epoch (for epoch in trial.epochs(): ...; trial.report(val_loss)), or return the final value"
)

#: Seconds between two looks of the watchdog at a run's time and progress.
_WATCH_INTERVAL = 0.2

_CLOCK_WORDS = {"wall": "wall-clock", "process": "processor"}

logger = logging.getLogger("hyperrace")


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
        time_slice: seconds (of ``slice_clock``) the run may spend before it stops at a report.
        slice_clock: ``"wall"``, ``"process"`` or ``"auto"`` (wall for a run given GPUs,
            processor seconds otherwise): what ``time_slice`` and ``hard_stop_grace`` count.
        fidelity_clock: the same choice for a fidelity in seconds.
        liveness: the study's liveness settings: the run's heartbeats come every
            ``heartbeat_interval`` seconds; a run without progress for ``stall_after`` seconds
            is hung; a trial whose runs were lost more than ``max_retries`` times fails
            instead of being resumed.
        heartbeats: whether the run sends heartbeats (False where the executor marks its trials
            alive itself, as the simulated one does).
        hard_stop_grace: seconds (of ``slice_clock``) an objective may run past ``time_slice``
            without reporting before a worker process that may exit (``run_job(may_exit=True)``)
            stops it hard; ``None``: the slice is only enforced at reports.
        gpus: the GPUs the run trains on, as this machine names them (``("0",)``); ``()``:
            the CPU; ``None``: none were assigned. Set by the executor.
        decision: the index of the decision that made this job: the storage refuses reports
            and ends from the run once it is not the trial's current run (it was taken as lost
            and the trial resumed elsewhere). ``None``: not checked.
    """

    study_id: int
    trial_id: int
    stop: float
    max_fidelity: float
    integer_fidelity: bool
    artifacts: str
    time_slice: float | None = None
    liveness: Liveness = field(default_factory=Liveness)
    heartbeats: bool = True
    hard_stop_grace: float | None = None
    decision: int | None = None
    slice_clock: ClockName = "auto"
    fidelity_clock: ClockName = "auto"
    gpus: tuple[str, ...] | None = None

    @property
    def accelerated(self) -> bool:
        """Whether the run was given GPUs (``"auto"`` clocks then count wall seconds)."""
        return bool(self.gpus)


@dataclass(frozen=True, slots=True)
class Outcome:
    """How a run ended: the trial's new status, why, and the fidelity it reached."""

    trial_id: int
    status: TrialStatus
    reason: StopReason
    fidelity: float
    message: str = ""


def lost_run(storage: Storage, spec: RunSpec, message: str) -> Outcome:
    """The outcome of a job whose worker was lost (died, killed, unreachable): the trial is
    paused at what it reported, to be resumed from its checkpoint, or failed once it was lost
    more than ``spec.liveness.max_retries`` times. A trial already ended elsewhere is left as it
    is."""
    storage.lose_run(
        spec.trial_id,
        message,
        now=SystemClock().timestamp(),
        max_retries=spec.liveness.max_retries,
        run=spec.decision,
        max_fidelity=spec.max_fidelity,
    )
    # also when nothing changed (it ended before it was lost, e.g. the worker died after ending
    # the run): the outcome is what is recorded now
    return recorded_outcome(storage, spec.trial_id)


def pause_interrupted(
    storage: Storage, trial: TrialRecord, message: str, *, clock: Clock, run: int | None
) -> None:
    """End the run of a job that did not end by itself (the study or the executor stopped while
    it ran): its trial, read as ``trial``, is paused with reason ``interrupted`` and
    ``message``, to be resumed first, if it is still running; a trial already ended is left as
    it is. ``run`` is the job's decision. Raises what ``Storage.end_run`` raises (e.g.
    :class:`~hyperrace.TrialStateError`: it ended, or its run was taken as lost, meanwhile)."""
    if trial.status is TrialStatus.RUNNING:
        end = end_of_run(RunState.of(trial), Interrupted(message))
        storage.end_run(
            trial.trial_id, end.status, end.reason, end.message, now=clock.timestamp(), run=run
        )


def recorded_outcome(storage: Storage, trial_id: int) -> Outcome:
    """The outcome of a job as its trial's record says it ended."""
    t = storage.trial(trial_id)
    return Outcome(trial_id, t.status, t.reason, t.fidelity, t.message)


class InFlightHeartbeats:
    """The driver's heartbeats for jobs in flight (a worker process that is still starting, a
    task queued by Ray): their runs send none yet, and they must not be taken as lost. Each
    :meth:`send` marks the given jobs' trials alive if their shortest interval has passed."""

    def __init__(self) -> None:
        self._clock = SystemClock()
        self._next = -math.inf

    def send(self, storage: Storage, specs: Iterable[RunSpec]) -> float | None:
        """Heartbeat ``specs`` if due; return the seconds until the next beat is due
        (``None``: none of them wants heartbeats)."""
        wanted = [s for s in specs if s.heartbeats]
        if not wanted:
            return None
        now = self._clock.wall()
        if now >= self._next:
            self._next = now + min(s.liveness.heartbeat_interval for s in wanted)
            ids = [s.trial_id for s in wanted]
            try:
                storage.heartbeat(ids, now=self._clock.timestamp())
            except Exception as exc:  # retried at the next beat
                logger.debug("could not send the heartbeats of %s: %s", ids, exc)
        return max(self._next - now, 0.0)


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


class _Watchdog:
    """A daemon thread that stops a run hard once it is overdue or hung, by ending its process.

    A run is overdue once the seconds it spent on its slice's clock (``Trial.slice_seconds``)
    pass ``time_slice + grace``; a run told to stop at a report later than its slice gets
    ``grace`` seconds from that report instead, to return. When that happens the watchdog
    takes ``lock`` (held by reports while they are committed, so none is committed after it),
    ends the run in the storage (the trial paused with reason ``time_slice`` at what it
    reported; ``reached`` if that was its granted fidelity, completed if the maximum) and calls
    ``os._exit(HARD_STOP_EXIT_CODE)``.

    A run is hung once ``stall_after`` wall-clock seconds passed since its last sign of
    progress (``Trial.last_alive``: a report, ``trial.alive()``, or its start). Then the run is
    counted as lost (:meth:`Storage.lose_run
    <hyperrace.storage.Storage.lose_run>`: paused with reason ``lost``, or failed once lost
    more than ``max_retries`` times) and the process ends the same way. With ``may_exit``
    False (the driver's own process) a hung run is only logged, once.

    The watchdog looks every ``_WATCH_INTERVAL`` seconds. :meth:`close` stops it for good.
    """

    def __init__(
        self,
        storage: Storage,
        spec: RunSpec,
        trial: Trial,
        clock: Clock,
        lock: threading.Lock,
        grace: float | None,
        *,
        may_exit: bool,
    ) -> None:
        self._storage, self._spec, self._trial, self._clock = storage, spec, trial, clock
        self._lock = lock
        self._slice = trial.time_slice if grace is not None else None
        self._grace = grace or 0.0
        self._stall = spec.liveness.stall_after
        self._may_exit = may_exit
        self._closed = threading.Event()
        self._thread = threading.Thread(
            target=self._loop, daemon=True, name=f"hyperrace-watchdog-{spec.trial_id}"
        )
        self._thread.start()

    def _loop(self) -> None:
        told_at: float | None = None  # slice seconds when the run was first seen told to stop
        warned = False
        while not self._closed.wait(_WATCH_INTERVAL):
            trial = self._trial
            if self._slice is not None and self._may_exit:
                spent = trial.slice_seconds
                if told_at is None and trial.should_stop:
                    told_at = spent
                if spent > max(self._slice, told_at or 0.0) + self._grace:
                    with self._lock:  # a report in progress finishes first
                        if self._closed.is_set():
                            return
                        if told_at is None and trial.should_stop:
                            continue  # that report stopped it: it gets the grace to return
                        self._stop_overdue(trial.slice_seconds, told_at)
            if self._stall is not None:
                quiet = self._clock.wall() - trial.last_alive
                if quiet <= self._stall:
                    warned = False
                elif not self._may_exit:
                    if not warned:
                        warned = True
                        logger.warning(
                            "trial %d has shown no progress (no report, no trial.alive()) for "
                            "%.1f s, more than stall_after=%g s; in this process it cannot be "
                            "stopped (worker processes stop such a run)",
                            self._spec.trial_id,
                            quiet,
                            self._stall,
                        )
                else:
                    with self._lock:
                        if self._closed.is_set():
                            return
                        quiet = self._clock.wall() - trial.last_alive
                        if quiet > self._stall:  # else a report just came in
                            self._stop_stalled(quiet)

    def _stop_overdue(self, spent: float, told_at: float | None) -> None:
        spec, fidelity = self._spec, self._trial.fidelity
        words = _CLOCK_WORDS[self._trial.slice_clock]
        if told_at is None:
            what = (
                f"stopped hard after {spent:.1f} {words} seconds without reporting (time slice "
                f"{self._slice:g} s, grace {self._grace:g} s)"
            )
        else:
            what = (
                f"stopped hard: told to stop at a report, it was still running "
                f"{spent - told_at:.1f} {words} seconds later (grace {self._grace:g} s)"
            )
        message = f"{what}, at fidelity {fidelity:g} (what it reported is kept)"
        state = RunState(fidelity, spec.stop, spec.max_fidelity)
        end = end_of_run(state, HardStopped(message))
        try:
            self._storage.end_run(
                spec.trial_id,
                end.status,
                end.reason,
                end.message,
                now=self._clock.timestamp(),
                run=spec.decision,
            )
        except Exception as exc:  # closed elsewhere, or unreachable: the driver sees the code
            logger.warning(
                "trial %d: could not end the run before the hard stop: %s", spec.trial_id, exc
            )
        self._exit(message)

    def _stop_stalled(self, quiet: float) -> None:
        spec, fidelity = self._spec, self._trial.fidelity
        message = (
            f"hung: no report and no trial.alive() for {quiet:.1f} wall-clock seconds "
            f"(stall_after {self._stall:g} s), stopped hard at fidelity {fidelity:g} (what it "
            "reported is kept)"
        )
        try:
            self._storage.lose_run(
                spec.trial_id,
                message,
                now=self._clock.timestamp(),
                max_retries=spec.liveness.max_retries,
                run=spec.decision,
                max_fidelity=spec.max_fidelity,
            )
        except Exception as exc:  # unreachable: the driver counts the lost run itself
            logger.warning("trial %d: could not record the hung run: %s", spec.trial_id, exc)
        self._exit(message)

    def _exit(self, message: str) -> None:
        logger.warning("trial %d %s; its worker process exits", self._spec.trial_id, message)
        with contextlib.suppress(Exception):
            sys.stderr.flush()
        os._exit(HARD_STOP_EXIT_CODE)

    def close(self) -> None:
        with self._lock:  # a watchdog firing now finishes first (and ends the process)
            self._closed.set()
        self._thread.join(timeout=5)


def _warn_if_overdue(spec: RunSpec, trial: Trial, grace: float) -> None:
    """Log a run that a worker process would have stopped hard (this process cannot)."""
    assert trial.time_slice is not None
    spent = trial.slice_seconds
    if spent > trial.time_slice + grace:
        logger.warning(
            "trial %d ran %.1f %s seconds, past its time slice of %g s and the grace of %g s, "
            "because it reported too rarely: in this process the slice is only enforced at "
            "reports (worker processes stop such a run hard); report more often",
            spec.trial_id,
            spent,
            _CLOCK_WORDS[trial.slice_clock],
            trial.time_slice,
            grace,
        )


def run_job(
    storage: Storage,
    spec: RunSpec,
    objective: Objective,
    *,
    clock: Clock | None = None,
    stop_requested: Callable[[], bool | str] | None = None,
    may_exit: bool = False,
) -> Outcome:
    """Run ``objective`` for one job and record how it ended.

    A job whose trial is no longer running when it begins (ended, or taken as lost, meanwhile)
    runs nothing: its outcome is the trial's recorded state.

    The trial resumes from its checkpoint (``trial.start`` is the checkpoint's fidelity, 0 when it
    has none, so an objective that does not checkpoint retrains from scratch). An objective may
    also just return its final value: it is reported at ``stop`` if the run reported nothing
    there. An objective that returns ``None`` without reporting anything fails the trial
    (:data:`NO_REPORT_MESSAGE`), as a bug to fix rather than a run to resume. An exception fails
    the trial with its traceback; ``KeyboardInterrupt`` pauses it and
    propagates. ``stop_requested`` is polled at each report; when it answers True (or a
    non-empty string: the reason to record) the run stops there and the trial is paused, with
    reason ``interrupted``, to be resumed first.

    With ``may_exit`` (the caller's process exists for this run, as a worker process does) and
    both ``spec.time_slice`` and ``spec.hard_stop_grace``, a run that is overdue is stopped hard:
    ended in the storage, then its process exits with :data:`HARD_STOP_EXIT_CODE`; so is a run
    that shows no progress for ``spec.liveness.stall_after`` seconds, counted as a lost run (see
    :class:`_Watchdog`). Without ``may_exit`` the slice is only enforced at reports, a run that
    went past its slice and grace without reporting is logged as a warning, and so is a hung
    run.

    The run trains on ``spec.gpus`` (named for PyTorch in this process: ``trial.devices``);
    when they were assigned, the trial's record says so (``TrialRecord.devices``). ``"auto"``
    clocks count wall seconds for a run given GPUs, processor seconds otherwise.
    """
    clock = clock or SystemClock()
    record = storage.trial(spec.trial_id)
    if record.status is not TrialStatus.RUNNING:  # ended, or taken as lost, before it began
        return recorded_outcome(storage, spec.trial_id)
    devices = torch_names(spec.gpus) if spec.gpus is not None else None
    if spec.gpus is not None or record.devices:  # say which devices, or that none were given
        with contextlib.suppress(TrialStateError):  # taken away meanwhile: its reports will say
            storage.set_devices(
                spec.trial_id,
                record_names(spec.gpus) if spec.gpus is not None else (),
                run=spec.decision,
            )
    checkpoint = Checkpoint(
        trial_folder(spec.artifacts, spec.trial_id),
        record.checkpoint_fidelity,
        map_location=devices[0] if devices else "cpu",
    )
    start = record.checkpoint_fidelity or 0.0
    closed = False
    why_stopped = "stopped by the study"
    lock = threading.Lock()  # a report commits whole before a hard stop, or not at all

    def sink(observation: Observation, checkpoint_fidelity: float | None) -> bool:
        nonlocal closed, why_stopped
        with lock:
            try:
                status = storage.report(
                    spec.trial_id,
                    observation,
                    work=observation.fidelity - trial.fidelity,
                    checkpoint_fidelity=checkpoint_fidelity,
                    run=spec.decision,
                )
            except TrialStateError:
                closed = True  # closed elsewhere (recovered as stale, study stopped): stop here
                return False
        asked = stop_requested() if stop_requested is not None else False
        if asked and isinstance(asked, str):
            why_stopped = asked
        return status.status is TrialStatus.RUNNING and not asked

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
        time_slice=spec.time_slice,
        slice_clock=resolve_clock(spec.slice_clock, accelerated=spec.accelerated),
        fidelity_clock=resolve_clock(spec.fidelity_clock, accelerated=spec.accelerated),
        devices=devices,
        user_attrs=record.user_attrs,
        attr_sink=lambda key, value: storage.set_trial_user_attr(spec.trial_id, key, value),
    )
    beat = (
        _Heartbeat(storage, spec.trial_id, spec.liveness.heartbeat_interval, clock)
        if spec.heartbeats
        else None
    )
    grace = spec.hard_stop_grace if spec.time_slice is not None else None
    watchdog = (
        _Watchdog(storage, spec, trial, clock, lock, grace if may_exit else None, may_exit=may_exit)
        if (may_exit and grace is not None) or spec.liveness.stall_after is not None
        else None
    )

    def end(what: RunEnd) -> Outcome:
        """Record how the run ended (unless it was closed elsewhere); return its outcome."""
        e = end_of_run(RunState(trial.fidelity, spec.stop, spec.max_fidelity), what)
        if not closed and not isinstance(what, InvalidReport):  # the report failed it already
            with contextlib.suppress(TrialStateError):  # closed elsewhere: nothing to end
                storage.end_run(
                    spec.trial_id,
                    e.status,
                    e.reason,
                    e.message,
                    now=clock.timestamp(),
                    run=spec.decision,
                )
        return Outcome(spec.trial_id, e.status, e.reason, trial.fidelity, e.message)

    try:
        try:
            result = objective(trial)
        finally:
            if watchdog is not None:
                watchdog.close()
            if beat is not None:
                beat.close()
            if not may_exit and grace is not None:
                _warn_if_overdue(spec, trial, grace)
    except InvalidValue as exc:
        return end(InvalidReport(str(exc)))
    except KeyboardInterrupt:
        end(Interrupted("interrupted (Ctrl-C)"))
        raise
    except Exception:
        return end(Failed(traceback.format_exc()))
    if result is not None and not trial.should_stop and not closed:
        problem = check_value(result)
        if problem is not None or trial.fidelity < spec.stop:
            try:
                trial.report(result, fidelity=spec.stop)
            except InvalidValue as exc:
                return end(InvalidReport(str(exc)))
    if result is None and trial.reports == 0 and not closed:
        return end(Failed(NO_REPORT_MESSAGE))
    if closed or trial.stop_reason is StopReason.INTERRUPTED:
        return end(Interrupted("" if closed else why_stopped))
    if trial.stop_reason is StopReason.TIME_SLICE and trial.time_slice is not None:
        return end(SliceSpent(trial.time_slice, _CLOCK_WORDS[trial.slice_clock]))
    return end(Returned())
