"""Frozen records of what happened in a study: observations, trials, decisions.

Records are plain values: storage builds them, :class:`~hyperrace.history.History` holds them,
optimizers, the CLI and the dashboard read them. Nothing changes a record after it is made.

An optimizer's decision is one of the closed set :data:`Decision` (:class:`Start`,
:class:`Resume`, :class:`Wait`, :class:`Done`); the study writes a Start or a Resume to the
storage, which records it as a :class:`DecisionRecord`. They live here, below both optimizers and
storage, so that both use the same records.
"""

from __future__ import annotations

import enum
import json
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from hyperrace.exceptions import ConfigurationError

__all__ = [
    "Decision",
    "DecisionRecord",
    "Done",
    "Enqueued",
    "Observation",
    "Resume",
    "Start",
    "StopReason",
    "TrialRecord",
    "TrialStatus",
    "Wait",
    "as_value",
    "check_user_attr",
    "check_value",
    "curves_from_rows",
    "observation",
    "short_repr",
]


class TrialStatus(str, enum.Enum):
    """Where a trial stands.

    ``running`` trials are being trained by some worker; ``paused`` ones can be resumed from their
    checkpoint; ``completed`` ones reached the maximum fidelity (or the optimizer closed them);
    ``failed`` ones raised, reported NaN or inf, or were lost too many times.
    """

    RUNNING = "running"
    PAUSED = "paused"
    COMPLETED = "completed"
    FAILED = "failed"

    @property
    def is_finished(self) -> bool:
        """Completed and failed trials never run again."""
        return self in (TrialStatus.COMPLETED, TrialStatus.FAILED)


class StopReason(str, enum.Enum):
    """Why a trial's last run ended (or ``none`` while it runs)."""

    NONE = "none"
    REACHED = "reached"  # it trained up to the fidelity it was granted
    TIME_SLICE = "time_slice"  # its time slice was spent; stopped at a report (or hard)
    INTERRUPTED = "interrupted"  # Ctrl-C or the study stopped it: to be resumed
    LOST = "lost"  # its worker died or stopped sending heartbeats: resumed, or failed if too often
    OBJECTIVE_RETURNED = "objective_returned"  # the objective returned before the granted fidelity
    ERROR = "error"  # the objective raised
    INVALID_VALUE = "invalid_value"  # a NaN or infinite value was reported

    @property
    def is_interruption(self) -> bool:
        """The run was cut short from outside (stopped, or its worker lost): the study resumes
        such a trial up to its granted fidelity before deciding anything new."""
        return self in (StopReason.INTERRUPTED, StopReason.LOST)


def short_repr(value: object, limit: int = 80) -> str:
    """``repr(value)``, cut to about ``limit`` characters (a refusal names the value, not a
    megabyte of it); a ``repr`` that fails says so."""
    try:
        text = repr(value)
    except Exception as exc:
        text = f"<{type(value).__name__} whose repr() raised {type(exc).__name__}>"
    if len(text) > limit:
        text = f"{text[: limit - 20]}...{text[-12:]} ({len(text)} characters)"
    return text


def check_value(value: object) -> str | None:
    """Why ``value`` cannot be recorded as a metric (NaN, infinite, too large for a float, not
    a number), or ``None``. Never raises, whatever ``value`` is."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        try:
            value = float(value)  # type: ignore[arg-type]
        except OverflowError:
            return f"the reported value {short_repr(value)} is too large for a float"
        except Exception as exc:
            return (
                f"the reported value {short_repr(value)} is not a number: report a float, e.g. "
                f"float(loss) (float() of it raised {type(exc).__name__})"
            )
    elif isinstance(value, int):
        try:
            value = float(value)
        except OverflowError:
            return f"the reported value {short_repr(value)} is too large for a float"
    if math.isnan(value):
        return "the reported value is NaN"
    if math.isinf(value):
        return f"the reported value is {value}"
    return None


def as_value(value: object) -> float:
    """The metric ``value`` as it is stored: a Python float, ``-0.0`` as ``0.0`` (so that every
    storage gives back the same). Only for a value :func:`check_value` accepts."""
    return float(value) + 0.0  # type: ignore[arg-type]


def check_user_attr(key: object, value: object) -> None:
    """Raise :class:`~hyperrace.ConfigurationError` unless ``key`` is a non-empty string and
    ``value`` a JSON value (what every storage keeps exactly)."""
    if not isinstance(key, str) or not key:
        raise ConfigurationError(f"a user attribute's key must be a non-empty string, not {key!r}")
    try:
        json.dumps(value, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise ConfigurationError(
            f"user attribute {key!r}={value!r} is not a JSON value ({exc}); store numbers, "
            "strings, booleans, None, and lists or dicts of them"
        ) from None


@dataclass(frozen=True, slots=True)
class Observation:
    """One point of a learning curve.

    Attributes:
        fidelity: the budget trained so far when the value was measured (epochs, steps, or
            seconds, as the space's fidelity says).
        value: the metric (finite; NaN and inf fail the trial instead of being stored).
        wall_seconds: wall-clock seconds spent since the previous report of this run.
        cpu_seconds: processor seconds spent since the previous report of this run.
        time: when it was reported, in seconds since the Unix epoch.
        seq: the order in which the study recorded its reports: the storage sets it to the
            study's change counter in the transaction that commits the report, so it grows with
            every report of the study and no two of its reports share one (a retrained step gets
            a new one). Unlike ``time``, it is the same for every reader and never ties: orders
            of reports sort by it. 0 in an observation not stored yet.
    """

    fidelity: float
    value: float
    wall_seconds: float = 0.0
    cpu_seconds: float = 0.0
    time: float = 0.0
    seq: int = 0


_NEW = object.__new__
_SET_FIDELITY, _SET_VALUE, _SET_WALL, _SET_CPU, _SET_TIME, _SET_SEQ = (
    Observation.__dict__[name].__set__  # the slots' descriptors: what the frozen init calls
    for name in ("fidelity", "value", "wall_seconds", "cpu_seconds", "time", "seq")
)


def observation(
    fidelity: float, value: float, wall: float, cpu: float, time: float, seq: int
) -> Observation:
    """``Observation(fidelity, value, wall, cpu, time, seq)``, built through the slots'
    descriptors (about three times faster than the frozen dataclass's ``__init__``); the values
    must already have their types, nothing is checked."""
    o = _NEW(Observation)
    _SET_FIDELITY(o, fidelity)
    _SET_VALUE(o, value)
    _SET_WALL(o, wall)
    _SET_CPU(o, cpu)
    _SET_TIME(o, time)
    _SET_SEQ(o, seq)
    return o


def curves_from_rows(
    rows: Iterable[tuple[int, float, float, float, float, float, int]],
) -> dict[int, tuple[Observation, ...]]:
    """The curves of many trials from rows ``(trial_id, fidelity, value, wall_seconds,
    cpu_seconds, time, seq)`` ordered by trial id, then fidelity: ``{trial_id: curve}``.

    The same observations as ``Observation(*row[1:])``, about three times faster: a storage
    reading a study of a million observations builds each through its slots' descriptors, not
    through the frozen dataclass's ``__init__`` (six ``object.__setattr__`` calls). The values
    must already have their types (as a database driver returns them); nothing is checked."""
    curves: dict[int, tuple[Observation, ...]] = {}
    current: list[Observation] = []
    last = None
    new, set_f, set_v, set_w, set_c, set_t, set_s = (
        _NEW,
        _SET_FIDELITY,
        _SET_VALUE,
        _SET_WALL,
        _SET_CPU,
        _SET_TIME,
        _SET_SEQ,
    )
    for trial_id, fidelity, value, wall, cpu, time, seq in rows:
        if trial_id != last:
            if last is not None:
                curves[last] = tuple(current)
            current = []
            last = trial_id
        o = new(Observation)
        set_f(o, fidelity)
        set_v(o, value)
        set_w(o, wall)
        set_c(o, cpu)
        set_t(o, time)
        set_s(o, seq)
        current.append(o)
    if last is not None:
        curves[last] = tuple(current)
    return curves


@dataclass(frozen=True, slots=True)
class TrialRecord:
    """A configuration and its learning curve.

    Attributes:
        trial_id: unique over the storage.
        number: 0, 1, 2, ... in order of creation within the study.
        config: the hyperparameters (native Python values), without the fidelity.
        status: see :class:`TrialStatus`.
        curve: observations in increasing fidelity, one per fidelity: a tuple, or a
            :class:`~hyperrace.trial.Curve` (a storage's read of a whole big study: equal to the
            tuple of the same observations, which it builds when read).
        target: the fidelity the last decision granted it (train up to here).
        checkpoint_fidelity: the fidelity of its newest saved checkpoint, if any.
        work: fidelity units actually trained, retraining included (what budgets count).
        reason: why its last run ended; ``message`` gives details (a traceback for errors).
        created, updated: seconds since the Unix epoch.
        heartbeat: when its worker last showed signs of life (running trials only; a snapshot
            may hold an older value, since heartbeats do not count as changes of the trial).
        lost_count: how many of its runs were lost (worker died, heartbeat stopped).
        user_attrs: small JSON values the user attached to it (``Trial.set_user_attr``,
            ``Study.set_user_attr``, ``Study.enqueue(..., user_attrs=)``); optimizers ignore
            them.
        devices: the devices its latest run was given, as ``"cuda:<id>"`` (the GPU's id on its
            worker's machine) or ``"cpu"``; empty when none were assigned.
    """

    trial_id: int
    number: int
    config: Mapping[str, Any]
    status: TrialStatus
    curve: Sequence[Observation] = ()
    target: float = 0.0
    checkpoint_fidelity: float | None = None
    work: float = 0.0
    reason: StopReason = StopReason.NONE
    message: str = ""
    created: float = 0.0
    updated: float = 0.0
    heartbeat: float | None = None
    lost_count: int = 0
    user_attrs: Mapping[str, Any] = field(default_factory=dict)
    devices: tuple[str, ...] = ()

    def __repr__(self) -> str:
        value = "-" if self.last_value is None else f"{self.last_value:.6g}"
        return (
            f"TrialRecord(number={self.number}, status={self.status.value}, "
            f"fidelity={self.fidelity:g}, value={value}, config={dict(self.config)!r})"
        )

    @property
    def fidelity(self) -> float:
        """The highest fidelity reported so far (0 before the first report)."""
        return self.curve[-1].fidelity if self.curve else 0.0

    @property
    def last_value(self) -> float | None:
        """The value at the highest fidelity reported, or ``None`` before the first report."""
        return self.curve[-1].value if self.curve else None

    @property
    def value(self) -> float | None:
        """The trial's value: the one at the highest fidelity reported (as :attr:`last_value`),
        or ``None`` before the first report."""
        return self.curve[-1].value if self.curve else None

    def value_at(self, fidelity: float) -> float | None:
        """The value reported at exactly ``fidelity``, or ``None``."""
        if type(self.curve) is not tuple:  # a curve in columns looks it up without records
            lookup = getattr(self.curve, "value_at", None)
            if lookup is not None:
                found: float | None = lookup(fidelity)
                return found
        for obs in self.curve:
            if obs.fidelity == fidelity:
                return obs.value
        return None

    @property
    def cpu_seconds(self) -> float:
        """Processor seconds summed over its observations."""
        return sum(obs.cpu_seconds for obs in self.curve)

    @property
    def wall_seconds(self) -> float:
        """Wall-clock seconds summed over its observations."""
        return sum(obs.wall_seconds for obs in self.curve)


@dataclass(frozen=True, slots=True)
class DecisionRecord:
    """One decision of the study, as the race loop recorded it.

    Attributes:
        index: 0, 1, 2, ... in order; the per-decision random generator is derived from it.
        kind: ``"start"`` or ``"resume"`` (waits and the end are not recorded).
        trial_id: the trial it started or resumed.
        start: the fidelity the trial had already trained (0 for a new trial).
        stop: the fidelity it was granted (train up to here).
        optimizer: the name of the optimizer that made it (or ``"study"`` for the resumption of an
            interrupted trial).
        info: numbers the optimizer chose to record (acquisition values, rung, bracket).
        time: seconds since the Unix epoch.
        key: the key the decision was written with, unique in its study (a retry of the same
            decision finds it by key instead of writing it again); empty in decisions recorded
            before keys were kept.
    """

    index: int
    kind: str
    trial_id: int
    start: float
    stop: float
    optimizer: str = ""
    info: Mapping[str, Any] = field(default_factory=dict)
    time: float = 0.0
    key: str = ""


@dataclass(frozen=True, slots=True)
class Enqueued:
    """A configuration waiting in a study's queue (``Study.enqueue``): the next trials the study
    starts, in order, before the optimizer proposes new ones.

    Attributes:
        index: 0, 1, 2, ... in order of enqueueing within the study.
        config: the hyperparameters to try; those it leaves out are the optimizer's choice.
        user_attrs: attributes the trial will carry.
    """

    index: int
    config: Mapping[str, Any]
    user_attrs: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Start:
    """Train a new configuration from scratch up to fidelity ``stop``.

    ``info`` holds numbers worth recording with the decision (acquisition value, bracket).
    """

    config: Mapping[str, Any]
    stop: float
    info: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Resume:
    """Continue paused trial ``trial_id`` from its checkpoint up to fidelity ``stop``."""

    trial_id: int
    stop: float
    info: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Wait:
    """Nothing to start now; ask again when a running trial ends."""

    reason: str = ""


@dataclass(frozen=True, slots=True)
class Done:
    """The search is over (for example, a grid is exhausted)."""

    reason: str = ""


Decision = Start | Resume | Wait | Done
