"""How a run ends: one rule from where its trial stands and what happened to what is recorded.

Every place that ends a run asks :func:`end_of_run`: ``Study.tell``, the end of ``run_job``,
the watchdog's hard stop, a study or executor pausing the trials it leaves running, and the
storages ending a lost run. The function is pure: it reads a :class:`RunState` (the fidelity
the trial reached, the one its run was granted, the space's maximum, its runs lost before) and
one of the closed set :data:`RunEnd` (what happened), and returns an :class:`Ending`: the
status, reason and message to record, and whether the run counts as lost. Writing it, and
deciding whether the trial is still running, are the caller's.

What happened, and how it ends (``done``: the trial reached the maximum fidelity):

========================  ==================================================================
:class:`Returned`         done: completed, ``reached``; at its granted fidelity: paused,
                          ``reached``; below it: paused, ``objective_returned``
:class:`SliceSpent`       done: completed, ``reached``; else paused, ``time_slice``
:class:`HardStopped`      completed if done, else paused; ``reached`` at its granted
                          fidelity, else ``time_slice``; the watchdog's message
:class:`Interrupted`      paused, ``interrupted`` (resumed first)
:class:`Failed`           failed, ``error`` (a traceback, or why)
:class:`InvalidReport`    failed, ``invalid_value``
:class:`Lost`             at its granted fidelity it lost nothing: as :class:`Returned`, not
                          counted; else paused, ``lost``, counted; failed once lost more than
                          ``max_retries`` times
========================  ==================================================================

Example:
    >>> state = RunState(fidelity=3, stop=5, max_fidelity=10)
    >>> ending = end_of_run(state, Returned())
    >>> ending.status.value, ending.reason.value, ending.message
    ('paused', 'objective_returned', 'the objective returned at fidelity 3 before the granted 5')
    >>> end_of_run(RunState(3, 5, 10, lost_count=1), Lost("its worker died", 1)).status.value
    'failed'
"""

from __future__ import annotations

from dataclasses import dataclass

from hyperrace.trial._records import StopReason, TrialRecord, TrialStatus

__all__ = [
    "Ending",
    "Failed",
    "HardStopped",
    "Interrupted",
    "InvalidReport",
    "Lost",
    "Returned",
    "RunEnd",
    "RunState",
    "SliceSpent",
    "end_of_run",
]


@dataclass(frozen=True, slots=True)
class RunState:
    """Where a running trial stands as its run ends.

    Attributes:
        fidelity: the highest fidelity it reported (0 before its first report).
        stop: the fidelity its run was granted (train up to here).
        max_fidelity: the space's maximum fidelity: a trial that reached it is completed
            (``None``: not known, never completed by reaching it).
        lost_count: how many of its runs were lost before this one.
    """

    fidelity: float
    stop: float
    max_fidelity: float | None = None
    lost_count: int = 0

    @classmethod
    def of(cls, record: TrialRecord, max_fidelity: float | None = None) -> RunState:
        """The state of the trial of ``record``, granted its ``target``."""
        return cls(record.fidelity, record.target, max_fidelity, record.lost_count)

    @property
    def done(self) -> bool:
        """Whether it reached the maximum fidelity."""
        return self.max_fidelity is not None and self.fidelity >= self.max_fidelity


@dataclass(frozen=True, slots=True)
class Returned:
    """The run ended by itself: its objective returned, or (``told``) its job was told over
    (``Study.tell``)."""

    told: bool = False


@dataclass(frozen=True, slots=True)
class SliceSpent:
    """The run stopped at a report because its time slice was spent: ``time_slice`` seconds of
    the clock named by ``clock`` (``"wall-clock"`` or ``"processor"``)."""

    time_slice: float
    clock: str


@dataclass(frozen=True, slots=True)
class HardStopped:
    """The watchdog stopped the run hard, past its time slice and grace; ``message`` says
    how."""

    message: str


@dataclass(frozen=True, slots=True)
class Interrupted:
    """The run was stopped from outside (Ctrl-C, the study stopping, a signal), to be resumed;
    ``message`` says by what."""

    message: str


@dataclass(frozen=True, slots=True)
class Failed:
    """The objective raised (``message``: the traceback), or ended so that resuming it would
    only repeat the failure (``message``: why)."""

    message: str


@dataclass(frozen=True, slots=True)
class InvalidReport:
    """The run reported a value that cannot be recorded (NaN, infinite, not a number)."""

    message: str


@dataclass(frozen=True, slots=True)
class Lost:
    """The run was lost: its worker died, stopped sending heartbeats, or hung. A trial lost
    more than ``max_retries`` times fails (``None``: never)."""

    message: str
    max_retries: int | None


#: What happened to a run: one of a closed set of records.
RunEnd = Returned | SliceSpent | HardStopped | Interrupted | Failed | InvalidReport | Lost


@dataclass(frozen=True, slots=True)
class Ending:
    """What to record at the end of a run.

    Attributes:
        status: the trial's new status (never running).
        reason: why the run ended.
        message: details (a traceback for errors); may be empty.
        lost: the run counts as lost (the trial's ``lost_count`` grows by one).
    """

    status: TrialStatus
    reason: StopReason
    message: str = ""
    lost: bool = False


def _returned(state: RunState, told: bool) -> Ending:
    if state.done:
        return Ending(TrialStatus.COMPLETED, StopReason.REACHED)
    if state.fidelity >= state.stop:
        return Ending(TrialStatus.PAUSED, StopReason.REACHED)
    what = "told" if told else "the objective returned"
    return Ending(
        TrialStatus.PAUSED,
        StopReason.OBJECTIVE_RETURNED,
        f"{what} at fidelity {state.fidelity:g} before the granted {state.stop:g}",
    )


def _lost(state: RunState, what: Lost) -> Ending:
    if state.fidelity >= state.stop:
        return Ending(
            TrialStatus.COMPLETED if state.done else TrialStatus.PAUSED,
            StopReason.REACHED,
            f"{what.message} after it had reported its granted fidelity {state.stop:g}",
        )
    lost = state.lost_count + 1
    if what.max_retries is not None and lost > what.max_retries:
        return Ending(
            TrialStatus.FAILED,
            StopReason.LOST,
            f"{what.message}; failed: its runs were lost {lost} times, more than max_retries="
            f"{what.max_retries} (a configuration that kills its worker, e.g. out of memory?)",
            lost=True,
        )
    return Ending(TrialStatus.PAUSED, StopReason.LOST, what.message, lost=True)


def end_of_run(state: RunState, what: RunEnd) -> Ending:
    """How the run of a trial standing at ``state`` ends after ``what`` happened (see the
    module's table)."""
    match what:
        case Returned(told=told):
            return _returned(state, told)
        case SliceSpent(time_slice=time_slice, clock=clock):
            if state.done:
                return Ending(TrialStatus.COMPLETED, StopReason.REACHED)
            return Ending(
                TrialStatus.PAUSED,
                StopReason.TIME_SLICE,
                f"its time slice of {time_slice:g} {clock} seconds was spent at fidelity "
                f"{state.fidelity:g} (granted {state.stop:g})",
            )
        case HardStopped(message=message):
            return Ending(
                TrialStatus.COMPLETED if state.done else TrialStatus.PAUSED,
                StopReason.REACHED if state.fidelity >= state.stop else StopReason.TIME_SLICE,
                message,
            )
        case Interrupted(message=message):
            return Ending(TrialStatus.PAUSED, StopReason.INTERRUPTED, message)
        case Failed(message=message):
            return Ending(TrialStatus.FAILED, StopReason.ERROR, message)
        case InvalidReport(message=message):
            return Ending(TrialStatus.FAILED, StopReason.INVALID_VALUE, message)
        case Lost():
            return _lost(state, what)
    raise TypeError(f"end_of_run() takes one of {RunEnd}, not {what!r}")
