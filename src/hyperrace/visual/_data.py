"""What the pictures of a study show, extracted from its :class:`~hyperrace.history.History`.

Every function here is pure: records in, frozen records out, no drawing and no I/O. The
dashboard, the ``hyperrace plot`` command and the static exports all draw from these records, so
they always agree, and the tests check the records rather than pixels.

The race
    :func:`race` cuts every learning curve into *segments*, one per run: the fidelity range a
    decision granted and what the trial reported in it, when the run began and ended (seconds
    since the study's first record), and how it ended: ``promoted`` (a later decision resumed
    it), ``interrupted`` (lost or stopped; the study resumed it), ``paused``, ``stopped`` (closed
    below the maximum fidelity), ``completed``, ``failed`` or still ``running``. A trial without
    decision records (a history loaded without them) gives one segment for its whole curve.

Best so far
    :func:`best_so_far` walks every observation in the order it was reported and records each
    improvement of the incumbent against the budget consumed (fidelity units trained). Steps
    retrained after a resume from an older checkpoint replace the older observations in the
    storage, so they count once here (``History.work`` counts them twice).
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from hyperrace.exceptions import ConfigurationError, SpaceError
from hyperrace.history import Direction, History
from hyperrace.space import Categorical, Space
from hyperrace.trial import (
    Curve,
    DecisionRecord,
    Observation,
    TrialRecord,
    TrialStatus,
    gathered,
)

__all__ = [
    "OUTCOMES",
    "BestPoint",
    "BestSoFar",
    "Drawn",
    "Outcome",
    "ParallelColumn",
    "ParallelTable",
    "Race",
    "Segment",
    "TrialDetail",
    "best_so_far",
    "drawn_trials",
    "parallel_table",
    "race",
    "trial_detail",
]

Outcome = Literal["promoted", "interrupted", "paused", "stopped", "completed", "failed", "running"]
#: Every outcome of a run, in the order the pictures list them.
OUTCOMES: tuple[Outcome, ...] = (
    "promoted",
    "interrupted",
    "paused",
    "stopped",
    "completed",
    "failed",
    "running",
)


@dataclass(frozen=True, slots=True)
class Segment:
    """One run of one trial: the part of its learning curve one decision paid for.

    Attributes:
        trial_id: the trial (its identity, shown as "trial <trial_id>"); number: its position in
            the study (0, 1, ...).
        run: 0 for its first run, 1 for the first resume, ...
        decision: the index of the decision that granted the run (``None`` without records).
        start: the fidelity already trained when the run began (0 for a new trial).
        granted: the fidelity the decision granted (train up to here).
        reached: the highest fidelity reported in this run (``start`` if it reported nothing).
        fidelities, values: the points to draw: the trial's value at ``start`` (when it has one,
            so that the curve is continuous), then every report of the run, in fidelity order.
        began, ended: seconds since the study's first record.
        outcome: how the run ended (see the module docstring).
        trained_from: when the run's training began, in seconds since the study's first record:
            its first report less the wall seconds that report measured (from the moment the
            objective was handed the trial), so that a worker process's start-up between the
            decision (``began``) and the objective is not counted as training; ``began`` when
            the run reported nothing.
    """

    trial_id: int
    number: int
    run: int
    decision: int | None
    start: float
    granted: float
    reached: float
    fidelities: tuple[float, ...]
    values: tuple[float, ...]
    began: float
    ended: float
    outcome: Outcome
    trained_from: float


@dataclass(frozen=True, slots=True)
class Race:
    """Every run of every trial.

    Attributes:
        segments: ordered by trial number, then run.
        origin: the study's first record, in seconds since the Unix epoch (times count from it).
        duration: seconds from ``origin`` to the last record.
        max_fidelity: the space's maximum fidelity (``None`` for a space without one).
        fidelity_name: the fidelity's name (``"fidelity"`` for a space without one).
        direction: the study's direction.
        best_trial: the ``trial_id`` of :meth:`History.best`'s trial, or ``None``.
        configs: each trial's hyperparameters, by ``trial_id``.
        metric: what the values are (``Study(metric=...)``, ``"value"`` by default).
        drawn: empty when every trial is in ``segments``; else what part of the study is (see
            :func:`drawn_trials`), for a figure's title.
    """

    segments: tuple[Segment, ...]
    origin: float
    duration: float
    max_fidelity: float | None
    fidelity_name: str
    direction: Direction
    best_trial: int | None
    configs: Mapping[int, Mapping[str, Any]] = field(default_factory=dict)
    metric: str = "value"
    drawn: str = ""


def _origin(history: History) -> float:
    for kept, origin in _LAST_ORIGIN:
        if kept is history:
            return origin  # the figures of one snapshot share it: found once
    origin = _find_origin(history)
    _LAST_ORIGIN[:] = [(history, origin)]
    return origin


#: The last :func:`_origin` found, as [(the history, its origin)]; it holds the history itself,
#: so that its identity names it while it is kept.
_LAST_ORIGIN: list[tuple[History, float]] = []


def _find_origin(history: History) -> float:
    times = [d.time for d in history.decisions if d.time > 0]
    times += [t.created for t in history.trials if t.created > 0]
    curves = [t.curve for t in history.trials if t.curve]
    if curves and type(curves[0]) is Curve:  # in columns: every first point without records
        owners, columns = gathered(curves)
        firsts = columns.time[np.flatnonzero(np.diff(owners, prepend=-1))]
        times += firsts[firsts > 0].tolist()
    else:
        times += [c[0].time for c in curves if c[0].time > 0]
    return min(times, default=0.0)


def _last_outcome(trial: TrialRecord, reached: float, max_fidelity: float | None) -> Outcome:
    if trial.status == TrialStatus.RUNNING:
        return "running"
    if trial.status == TrialStatus.FAILED:
        return "failed"
    if trial.status == TrialStatus.PAUSED:
        return "interrupted" if trial.reason.is_interruption else "paused"
    if max_fidelity is None or reached >= max_fidelity:
        return "completed"
    return "stopped"


@dataclass(frozen=True, slots=True)
class _Points:
    """One trial's curve as lists (rising fidelities), what its segments are cut from."""

    fidelity: list[float]
    value: list[float]
    time: list[float]
    wall_seconds: list[float]


def _points_of(curves: Sequence[Sequence[Observation]]) -> list[_Points]:
    """The points of each curve, read through :func:`gathered`: no record is built for a curve
    in columns (the figures of a big study cut the runs of thousands of trials)."""
    owners, columns = gathered(curves)
    ends = np.searchsorted(owners, np.arange(1, len(curves) + 1)).tolist()
    fidelity, value = columns.fidelity.tolist(), columns.value.tolist()
    time, wall = columns.time.tolist(), columns.wall_seconds.tolist()
    out = []
    begin = 0
    for end in ends:
        out.append(_Points(fidelity[begin:end], value[begin:end], time[begin:end], wall[begin:end]))
        begin = end
    return out


def _segments(
    trial: TrialRecord,
    runs: list[DecisionRecord],
    origin: float,
    max_fidelity: float | None,
    points: _Points,
) -> list[Segment]:
    fids, values, times = points.fidelity, points.value, points.time
    if not runs:
        began = (times[0] if fids else trial.created) - origin
        reached = fids[-1] if fids else 0.0
        return [
            Segment(
                trial.trial_id,
                trial.number,
                0,
                None,
                0.0,
                trial.target or reached,
                reached,
                tuple(fids),
                tuple(values),
                began,
                (times[-1] if fids else trial.updated) - origin,
                _last_outcome(trial, reached, max_fidelity),
                _trained_from(points, 0 if fids else None, began + origin, origin),
            )
        ]
    out = []
    for k, d in enumerate(runs):
        nxt = runs[k + 1] if k + 1 < len(runs) else None
        # the run's points: fidelities in (start, next run's start]; the curve's point at its
        # start leads the line when there is one
        lo = bisect.bisect_right(fids, d.start)
        hi = bisect.bisect_right(fids, nxt.start) if nxt is not None else len(fids)
        hi = max(hi, lo)
        first = lo - 1 if d.start > 0 and lo > 0 and fids[lo - 1] == d.start else lo
        reached = fids[hi - 1] if hi > lo else d.start
        ended = max(times[lo:hi], default=d.time)
        if nxt is not None:
            outcome: Outcome = "interrupted" if nxt.optimizer == "study" else "promoted"
        else:
            outcome = _last_outcome(trial, reached, max_fidelity)
        out.append(
            Segment(
                trial.trial_id,
                trial.number,
                k,
                d.index,
                d.start,
                d.stop,
                reached,
                tuple(fids[first:hi]),
                tuple(values[first:hi]),
                d.time - origin,
                max(ended, d.time) - origin,
                outcome,
                _trained_from(points, lo if hi > lo else None, d.time, origin),
            )
        )
    return out


def _trained_from(points: _Points, first: int | None, began: float, origin: float) -> float:
    """When training began: the run's first report (``points``' row ``first``; ``None``: it has
    none) less the wall seconds it measured, never before the run's decision (``began``,
    seconds since the epoch) nor after the report."""
    if first is None or points.time[first] <= 0:
        return began - origin
    time = points.time[first]
    return min(time, max(began, time - max(points.wall_seconds[first], 0.0))) - origin


def race(
    history: History,
    space: Space | None = None,
    *,
    metric: str = "value",
    most: int | None = None,
) -> Race:
    """Cut every learning curve of ``history`` into its runs (see the module docstring).

    Args:
        history: a snapshot with its decision records (``storage.history(id, decisions=True)``);
            without them each trial is one segment.
        space: the study's space, for the maximum fidelity and its name (optional).
        metric: the name of the reported values.
        most: the most trials whose runs are cut (None: all); a bigger study gives the runs of
            :func:`drawn_trials` only, and says so in :attr:`Race.drawn`.
    """
    shown = drawn_trials(history, most) if most is not None else None
    fidelity = space.fidelity if space is not None else None
    max_fidelity = float(fidelity.high) if fidelity is not None else None
    origin = _origin(history)
    by_trial: dict[int, list[DecisionRecord]] = {}
    for d in sorted(history.decisions, key=lambda d: d.index):
        if shown is None or d.trial_id in shown.ids:
            by_trial.setdefault(d.trial_id, []).append(d)
    cut = [t for t in history.trials if shown is None or t.trial_id in shown.ids]
    segments: list[Segment] = []
    for trial, points in zip(cut, _points_of([t.curve for t in cut]), strict=True):
        segments.extend(
            _segments(trial, by_trial.get(trial.trial_id, []), origin, max_fidelity, points)
        )
    best = history.best()
    return Race(
        segments=tuple(segments),
        origin=origin,
        duration=max((s.ended for s in segments), default=0.0),
        max_fidelity=max_fidelity,
        fidelity_name=(space.fidelity_name or "fidelity") if space is not None else "fidelity",
        direction=history.direction,
        best_trial=best.trial_id if best is not None else None,
        configs={
            t.trial_id: dict(t.config)
            for t in history.trials
            if shown is None or t.trial_id in shown.ids
        },
        metric=metric,
        drawn=shown.note if shown is not None else "",
    )


@dataclass(frozen=True, slots=True)
class Drawn:
    """The trials a figure of a big study draws: ``ids``, and ``note`` saying which (empty when
    every trial is drawn)."""

    ids: frozenset[int]
    note: str


def drawn_trials(history: History, most: int) -> Drawn:
    """At most ``most`` trials to draw (at least the running ones): every trial when there are
    no more; else the running trials, the best ones (by the best value on their curve; failed
    trials are not ranked) up to half of ``most``, and an even sample of the others by trial
    number (failures included) up to ``most``. A figure of 100,000 trials would send tens of
    megabytes to the browser and draw lines no one can tell apart; this keeps the front of the
    race and the shape of the rest."""
    if most < 1:
        raise ConfigurationError(f"most={most!r} must be an integer >= 1")
    trials = history.trials
    if len(trials) <= most:
        return Drawn(frozenset(t.trial_id for t in trials), "")
    for kept, kept_most, choice in _LAST_DRAWN[-1:]:
        if kept is history and kept_most == most:
            return choice  # the figures of one snapshot draw the same trials: chosen once
    keep = {t.trial_id for t in trials if t.status is TrialStatus.RUNNING}
    sign = 1.0 if history.direction == "minimize" else -1.0
    # each curve's best value, as a loss: the minimum of sign * value over its points
    ranked_trials = [
        t
        for t in trials
        if t.curve and t.status is not TrialStatus.FAILED and t.trial_id not in keep
    ]
    owners, columns = gathered([t.curve for t in ranked_trials])
    firsts = np.flatnonzero(np.diff(owners, prepend=-1))
    bests = np.minimum.reduceat(sign * columns.value, firsts) if len(firsts) else np.empty(0)
    numbers = np.fromiter((t.number for t in ranked_trials), np.int64, len(ranked_trials))
    ranked = np.lexsort((numbers, bests))  # by best value, then number (unique in a study)
    n_best = max(0, min(len(ranked), most // 2 - len(keep)))
    keep.update(ranked_trials[i].trial_id for i in ranked[:n_best].tolist())
    rest = [t.trial_id for t in trials if t.trial_id not in keep]
    room = most - len(keep)
    if room > 0 and rest:
        keep.update(rest[:: max(1, math.ceil(len(rest) / room))][:room])
    running = sum(1 for t in trials if t.status is TrialStatus.RUNNING)
    note = (
        f"{len(keep):,} of {len(trials):,} trials drawn: "
        + (f"the {running:,} running, " if running else "")
        + f"the best {n_best:,} and an even sample of the others"
    )
    drawn = Drawn(frozenset(keep), note)
    _LAST_DRAWN[:] = [(history, most, drawn)]
    return drawn


#: The last choice of :func:`drawn_trials`, as [(the history it was made for, ``most``, the
#: choice)]. It holds the history itself, so that its identity names it while it is kept.
_LAST_DRAWN: list[tuple[History, int, Drawn]] = []


@dataclass(frozen=True, slots=True)
class BestPoint:
    """The incumbent after some budget was consumed.

    Attributes:
        work: fidelity units trained by then, over all trials.
        seconds: seconds since the study's first record.
        value: the best value reported so far (in the study's direction).
        trial_id: the trial that reported it, at ``fidelity``.
    """

    work: float
    seconds: float
    value: float
    trial_id: int
    fidelity: float


@dataclass(frozen=True, slots=True)
class BestSoFar:
    """The incumbent against the budget consumed.

    Attributes:
        any_fidelity: each improvement of the best value reported at any fidelity, then a last
            point at ``total_work`` (a step chart).
        at_max: the same over values reported at the maximum fidelity only (empty when no trial
            reached it, or the space has none).
        total_work: fidelity units trained over all reports.
        max_fidelity: the space's maximum fidelity, or ``None``.
    """

    any_fidelity: tuple[BestPoint, ...]
    at_max: tuple[BestPoint, ...]
    total_work: float
    max_fidelity: float | None


def best_so_far(history: History, space: Space | None = None) -> BestSoFar:
    """The incumbent after every report that improved it (see the module docstring).

    The reports are taken in the order of their times (then trial id, fidelity, value); each
    adds the fidelity it went beyond its trial's highest so far to the work. Computed in numpy
    over all reports at once (a study of a million reports in a fraction of a second), with
    the same sums in the same order as report by report."""
    fidelity = space.fidelity if space is not None else None
    max_fidelity = float(fidelity.high) if fidelity is not None else None
    origin = _origin(history)
    n = sum(len(t.curve) for t in history.trials)
    if n == 0:
        return BestSoFar((), (), 0.0, max_fidelity)
    trials = history.trials
    owners, columns = gathered([t.curve for t in trials])
    trial_ids = np.fromiter((t.trial_id for t in trials), np.int64, len(trials))
    times, ids = columns.time, trial_ids[owners]
    fids, values = columns.fidelity, columns.value
    if len(trial_ids) < 2 or bool(np.all(trial_ids[1:] > trial_ids[:-1])):
        # the columns come by trial (ids rising), each curve by rising fidelity: already in
        # the order of (trial id, fidelity, value), so a stable sort by time gives the order
        # below, at a quarter of its cost on a million reports
        order = np.argsort(times, kind="stable")
    else:
        order = np.lexsort((values, fids, ids, times))  # by time, then trial id, fidelity, value
    times, ids, fids, values = times[order], ids[order], fids[order], values[order]
    work = np.cumsum(_new_work(ids, fids))  # one addition after another, as a loop would
    loss = values if history.direction == "minimize" else -values

    def improvements(where: npt.NDArray[np.bool_]) -> list[BestPoint]:
        at = np.flatnonzero(where)
        if len(at) == 0:
            return []
        running = np.minimum.accumulate(loss[at])
        better = np.empty(len(at), dtype=bool)
        better[0] = True
        better[1:] = loss[at][1:] < running[:-1]  # strictly better than every one before
        chosen = at[better]
        return [
            BestPoint(w, t - origin, v, i, f)
            for w, t, v, i, f in zip(
                work[chosen].tolist(),
                times[chosen].tolist(),
                values[chosen].tolist(),
                ids[chosen].tolist(),
                fids[chosen].tolist(),
                strict=True,
            )
        ]

    best_any = improvements(np.ones(n, dtype=bool))
    best_max = improvements(fids >= max_fidelity) if max_fidelity is not None else []
    total = float(work[-1])
    end = float(times.max()) - origin

    def closed(points: list[BestPoint]) -> tuple[BestPoint, ...]:
        if points and points[-1].work < total:
            last = points[-1]
            points = [*points, BestPoint(total, end, last.value, last.trial_id, last.fidelity)]
        return tuple(points)

    return BestSoFar(closed(best_any), closed(best_max), total, max_fidelity)


def _new_work(ids: npt.NDArray[np.int64], fids: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """For reports in time order: how far each went beyond the highest fidelity its trial had
    reported before it (0 at first: a trial starts from nothing), never negative.

    The running highest fidelity of each trial is a running maximum within groups, made exact
    by working on the ranks of the fidelities: a trial's ranks are lifted above every rank of
    the trials before it, so that one running maximum over all of them restarts per trial."""
    n = len(ids)
    by_trial = np.argsort(ids, kind="stable")  # each trial's reports together, in time order
    grouped = ids[by_trial]
    trial = np.zeros(n, dtype=np.int64)  # 0, 1, 2, ... per trial, in that order
    np.cumsum(grouped[1:] != grouped[:-1], out=trial[1:])
    levels, rank = np.unique(np.maximum(fids[by_trial], 0.0), return_inverse=True)
    lifted = trial * (len(levels) + 1) + rank.astype(np.int64) + 1
    highest = np.maximum.accumulate(lifted) - trial * (len(levels) + 1)  # 1 + rank, per trial
    before = np.zeros(n, dtype=np.float64)
    again = np.flatnonzero(trial[1:] == trial[:-1]) + 1  # not a trial's first report
    before[again] = levels[highest[again - 1] - 1]
    new = np.empty(n, dtype=np.float64)
    new[by_trial] = np.maximum(fids[by_trial] - before, 0.0)
    return new


@dataclass(frozen=True, slots=True)
class ParallelColumn:
    """One axis of the parallel-coordinates view.

    Attributes:
        name: the hyperparameter.
        values: one per row: the value itself for numbers (drawn on a log axis when ``log``),
            the index of the choice for categoricals; ``None`` where the hyperparameter was
            inactive (a conditional one).
        labels: the choices of a categorical (``values`` index them), else ``None``.
        log: the hyperparameter is log-scaled.
        low, high: the dimension's range (numbers), or ``None``.
    """

    name: str
    values: tuple[float | None, ...]
    labels: tuple[str, ...] | None = None
    log: bool = False
    low: float | None = None
    high: float | None = None


@dataclass(frozen=True, slots=True)
class ParallelTable:
    """One row per trial that reported, one column per hyperparameter, then the fidelity
    reached and the last value (the value at that fidelity)."""

    numbers: tuple[int, ...]
    columns: tuple[ParallelColumn, ...]
    fidelity: tuple[float, ...]
    value: tuple[float, ...]
    fidelity_name: str
    metric: str = "value"
    #: empty when every trial that reported is a row; else which are (:func:`drawn_trials`)
    drawn: str = ""


def _choice_index(dim: Categorical, config: Mapping[str, Any], name: str) -> float | None:
    """The index of ``config[name]`` among the choices; ``None`` where it has none (an inactive
    conditional, or a config edited by hand to a value that is not a choice)."""
    if name not in config:
        return None
    try:
        return float(dim.index(config[name]))
    except (SpaceError, TypeError, ValueError):
        return None


def _number(config: Mapping[str, Any], name: str) -> float | None:
    """``config[name]`` as a finite float, ``None`` where it is absent or not a number."""
    value = config.get(name)
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    try:
        number = float(value)
    except OverflowError:
        return None
    return number if math.isfinite(number) else None


def parallel_table(
    history: History, space: Space, *, metric: str = "value", most: int | None = None
) -> ParallelTable:
    """The configurations and last values of every trial that reported (failed ones too); of
    :func:`drawn_trials` only with ``most`` in a bigger study."""
    shown = drawn_trials(history, most) if most is not None else None
    rows = [t for t in history.trials if t.curve and (shown is None or t.trial_id in shown.ids)]
    columns = []
    for name, dim in space.dimensions.items():
        if isinstance(dim, Categorical):
            labels = tuple(str(c) for c in dim.choices)
            values = tuple(_choice_index(dim, t.config, name) for t in rows)
            columns.append(ParallelColumn(name, values, labels))
        else:
            raw = tuple(_number(t.config, name) for t in rows)
            low, high = float(getattr(dim, "low", 0.0)), float(getattr(dim, "high", 1.0))
            log = bool(getattr(dim, "log", False))
            columns.append(ParallelColumn(name, raw, None, log, low, high))
    return ParallelTable(
        numbers=tuple(t.number for t in rows),
        columns=tuple(columns),
        fidelity=tuple(t.fidelity for t in rows),
        value=tuple(t.curve[-1].value for t in rows),
        fidelity_name=space.fidelity_name or "fidelity",
        metric=metric,
        drawn=shown.note if shown is not None else "",
    )


@dataclass(frozen=True, slots=True)
class TrialDetail:
    """Everything the page of one trial shows.

    Attributes:
        trial_id, status, reason, message: the trial; number: its position in the study.
        config: its hyperparameters (JSON values).
        fidelity, value: the highest fidelity reported and the value there.
        target: the fidelity it was last granted.
        checkpoint_fidelity: the fidelity of its newest checkpoint, or ``None``.
        work: fidelity units it trained, retraining included.
        wall_seconds, cpu_seconds: summed over its reports.
        devices: the devices its latest run was given (``"cuda:3"``, ``"cpu"``); empty when
            none were assigned.
        segments: its runs, as in :func:`race`.
        decisions: ``(index, kind, start, stop, optimizer, seconds, info)`` of every decision that
            touched it, with the numbers the optimizer recorded (acquisition values, rung).
    """

    number: int
    trial_id: int
    status: str
    reason: str
    message: str
    config: Mapping[str, Any]
    fidelity: float
    value: float | None
    target: float
    checkpoint_fidelity: float | None
    work: float
    wall_seconds: float
    cpu_seconds: float
    devices: tuple[str, ...]
    segments: tuple[Segment, ...]
    decisions: tuple[tuple[int, str, float, float, str, float, Mapping[str, Any]], ...]


def trial_detail(history: History, trial_id: int, space: Space | None = None) -> TrialDetail:
    """The page of trial ``trial_id``; ``KeyError`` naming the id if there is none."""
    trial = next((t for t in history.trials if t.trial_id == trial_id), None)
    if trial is None:
        ids = [t.trial_id for t in history.trials]
        known = f"its trials are {min(ids)} to {max(ids)}" if ids else "it has no trials"
        raise KeyError(f"no trial {trial_id} in this study ({known})")
    origin = _origin(history)
    fidelity = space.fidelity if space is not None else None
    max_fidelity = float(fidelity.high) if fidelity is not None else None
    runs = sorted(
        (d for d in history.decisions if d.trial_id == trial.trial_id), key=lambda d: d.index
    )
    return TrialDetail(
        number=trial.number,
        trial_id=trial.trial_id,
        status=trial.status.value,
        reason=trial.reason.value,
        message=trial.message,
        config=dict(trial.config),
        fidelity=trial.fidelity,
        value=trial.last_value,
        target=trial.target,
        checkpoint_fidelity=trial.checkpoint_fidelity,
        work=trial.work,
        wall_seconds=trial.wall_seconds,
        cpu_seconds=trial.cpu_seconds,
        devices=trial.devices,
        segments=tuple(_segments(trial, runs, origin, max_fidelity, _points_of([trial.curve])[0])),
        decisions=tuple(
            (d.index, d.kind, d.start, d.stop, d.optimizer, d.time - origin, dict(d.info))
            for d in runs
        ),
    )
