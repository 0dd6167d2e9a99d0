"""Each rung's population kept ranked across decisions, updated from what changed.

ASHA's decision reads every rung: who reported there, with what loss, who rests there waiting
for a promotion, who was cut short between rungs. Recomputed from the whole history at each
decision that costs a scan of every trial's curve (1.6 s at 100,000 trials). A
:class:`RungTable` keeps those facts per trial and, given the next :class:`History`, recomputes
them only for the trials whose record changed: a storage's incremental read hands back the very
same record object for every trial that did not change, so an identity test finds the changed
ones. What it answers is exactly what a scan of the history would give (the table is a cache,
not a state: a fresh table built from the same history answers the same, which keeps the
optimizer using it stateless); a history that does not extend the one before it (another study,
another direction, trials missing) rebuilds it from scratch.

Losses are "lower is better" whatever the study's direction; a failed trial's loss is ``inf``.
A rung's entry is ``(loss, trial number)``: sorted lists of entries rank a rung, ties to the
older trial.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, cast

import numpy as np

from hyperrace._gc import collector_paused
from hyperrace.history import History
from hyperrace.optimizers._parts.schedule.rungs import is_waiting_at, threshold
from hyperrace.trial import Curve, CurveColumns, Observation, StopReason, TrialRecord, TrialStatus

__all__ = ["Entry", "RungTable", "resting_at"]

#: One report at a rung: (loss, trial number).
Entry = tuple[float, int]

#: Up to this many changed trials are moved in the sorted lists one by one (each a binary search
#: and a shift of the list); more, and every list is rebuilt and sorted once.
_ONE_BY_ONE = 256


def resting_at(trial: TrialRecord, budget: float) -> bool:
    """Paused at ``budget`` and granted no more: it may go on from there (not promoted yet)."""
    return is_waiting_at(trial, budget) and trial.target <= budget


@dataclass(frozen=True, slots=True)
class _Facts:
    """What one trial record contributes to the table."""

    record: TrialRecord
    #: its entry at each rung it reached, from the lowest (its first report at or past each)
    entries: tuple[tuple[Entry, Observation], ...]
    #: the rungs it rests at (waiting for a promotion): one, or none (several only when its
    #: reports overshot the fidelity it was granted)
    resting: tuple[int, ...]
    #: the rung above it when it was cut short between rungs (paused, not at a rung, not by its
    #: objective's choice), or -1
    unfinished: int


class RungTable:
    """The rungs of a ladder, ranked, for a study's successive histories.

    Args:
        ladder: the rung budgets, lowest first.

    After :meth:`update` with a history, :attr:`ranked` ``[k]`` holds the sorted entries of
    every trial that reported at rung ``k``; :attr:`resting` ``[k]`` the sorted ``(entry,
    trial_id)`` of the trials resting at rung ``k``; :meth:`first_unfinished` the oldest trial
    cut short between rungs; :meth:`reports` the trials and reports at a rung.

    The table keeps each trial's record; what a record contributes (its facts) is a function of
    the record alone, recomputed when it leaves the table. A first history (or a rebuild) is
    read whole: the trials whose curves are columns (:class:`~hyperrace.trial.Curve`, as a
    storage reads a big study) in numpy, a pass over the columns per rung, the others one by one.
    """

    def __init__(self, ladder: Sequence[float]) -> None:
        self.ladder = tuple(ladder)
        self._lows = tuple(threshold(b) for b in self.ladder)
        self._direction = ""
        self._records: dict[int, TrialRecord] = {}
        self.ranked: list[list[Entry]] = [[] for _ in self.ladder]
        self.resting: list[list[tuple[Entry, int]]] = [[] for _ in self.ladder]
        # (trial number, trial id, rung above) of the trials cut short between rungs
        self._unfinished: list[tuple[int, int, int]] = []

    def update(self, history: History) -> None:
        """Bring the table to ``history``: recompute the trials whose record changed."""
        if history.direction != self._direction:
            self._reset(history.direction)
        records = self._records
        before = len(records)
        known = 0
        changed: list[TrialRecord] = []
        for trial in history.trials:
            old = records.get(trial.trial_id)
            if old is not None:
                known += 1
                if old is trial:
                    continue
            changed.append(trial)
        if known < before:
            # some trial of the table is not in this history: not a later snapshot of the same
            # study; start again from this one
            self._reset(history.direction)
            records = self._records
            changed = list(history.trials)
        if len(changed) > _ONE_BY_ONE:
            # many changes (the first history, a rebuild): every list built again at once
            with collector_paused():
                for trial in changed:
                    records[trial.trial_id] = trial
                self._build(list(records.values()))
            return
        for trial in changed:
            old = records.get(trial.trial_id)
            if old is not None:
                self._remove(self._facts_of(old))
            self._add(self._facts_of(trial))

    def first_unfinished(self) -> tuple[int, int] | None:
        """``(trial_id, rung above)`` of the oldest trial cut short between rungs, or ``None``."""
        if not self._unfinished:
            return None
        _, trial_id, rung = self._unfinished[0]
        return trial_id, rung

    def record(self, trial_id: int) -> TrialRecord:
        return self._records[trial_id]

    def reports(self, k: int) -> list[tuple[TrialRecord, Entry, Observation]]:
        """Every trial that reported at rung ``k``, with its entry and its report there, oldest
        trial first."""
        out = []
        for record in self._records.values():
            if record.fidelity >= self._lows[k]:
                facts = self._facts_of(record)
                out.append((record, *facts.entries[k]))
        out.sort(key=lambda report: report[0].number)
        return out

    def _reset(self, direction: str) -> None:
        self._direction = direction
        self._records = {}
        self.ranked = [[] for _ in self.ladder]
        self.resting = [[] for _ in self.ladder]
        self._unfinished = []

    def _build(self, records: list[TrialRecord]) -> None:
        """Every list built from ``records`` and sorted."""
        self.ranked = [[] for _ in self.ladder]
        self.resting = [[] for _ in self.ladder]
        self._unfinished = []
        columns = None
        columnar: list[TrialRecord] = []
        others: list[TrialRecord] = []
        for record in records:
            curve = record.curve
            if type(curve) is Curve:
                if columns is None:
                    columns = curve.block()[0]
                if curve.block()[0] is columns:
                    columnar.append(record)
                    continue
            others.append(record)
        if columns is not None:
            self._build_columns(columnar, columns)
        mixed = bool(columnar)
        for record in others:
            f = self._facts_of(record)
            tid = record.trial_id
            for k, (entry, _) in enumerate(f.entries):
                self.ranked[k].append(entry)
            for k in f.resting:
                self.resting[k].append((f.entries[k][0], tid))
            if f.unfinished >= 0:
                self._unfinished.append((record.number, tid, f.unfinished))
        if others or not mixed:
            for ranked in self.ranked:
                ranked.sort()
            for resting in self.resting:
                resting.sort()
            self._unfinished.sort()

    def _build_columns(self, records: list[TrialRecord], columns: CurveColumns) -> None:
        """The lists of ``records``, whose curves are all parts of ``columns``, sorted: each
        rung's reports found with one pass over the columns (a curve's fidelities increase, so
        those below a rung's threshold are the first ones of its curve)."""
        m = len(records)
        blocks = [cast(Curve, r.curve).block() for r in records]
        starts = np.fromiter((b[1] for b in blocks), np.int64, m)
        stops = np.fromiter((b[2] for b in blocks), np.int64, m)
        numbers = np.fromiter((r.number for r in records), np.int64, m)
        ids = np.fromiter((r.trial_id for r in records), np.int64, m)
        failed = np.fromiter((r.status is TrialStatus.FAILED for r in records), bool, m)
        paused = np.fromiter((r.status is TrialStatus.PAUSED for r in records), bool, m)
        targets = np.fromiter((r.target for r in records), np.float64, m)
        returned = np.fromiter(
            (r.reason is StopReason.OBJECTIVE_RETURNED for r in records), bool, m
        )
        fidelity, value = columns.fidelity, columns.value
        last = fidelity[stops - 1]
        sign = 1.0 if self._direction == "minimize" else -1.0
        resting_any = np.zeros(m, bool)
        for k, low in enumerate(self._lows):
            below = np.concatenate(([0], np.cumsum(fidelity < low)))
            at = starts + (below[stops] - below[starts])  # the first report at or past ``low``
            has = at < stops
            loss = np.where(failed, np.inf, sign * value[np.minimum(at, stops - 1)])
            sel = np.flatnonzero(has)
            order = sel[np.lexsort((numbers[sel], loss[sel]))]
            self.ranked[k] = list(zip(loss[order].tolist(), numbers[order].tolist(), strict=True))
            rests = np.flatnonzero(paused & has & (targets <= self.ladder[k]))
            resting_any[rests] = True
            order = rests[np.lexsort((ids[rests], numbers[rests], loss[rests]))]
            self.resting[k] = list(
                zip(
                    zip(loss[order].tolist(), numbers[order].tolist(), strict=True),
                    ids[order].tolist(),
                    strict=True,
                )
            )
        # cut short between rungs: paused, resting at no rung, not by its objective's choice;
        # the rung above is the first one past its fidelity (none past the top rung)
        above = np.searchsorted(np.asarray(self.ladder), last, side="right")
        cut = np.flatnonzero(paused & ~resting_any & ~returned & (above < len(self.ladder)))
        order = cut[np.lexsort((above[cut], ids[cut], numbers[cut]))]
        self._unfinished = list(
            zip(numbers[order].tolist(), ids[order].tolist(), above[order].tolist(), strict=True)
        )

    def _facts_of(self, trial: TrialRecord) -> _Facts:
        # one pass over the curve (in increasing fidelity): each rung's report is the first at
        # or past its budget, as ``report_at`` finds it
        lows, ladder = self._lows, self.ladder
        n = len(lows)
        failed = trial.status is TrialStatus.FAILED
        sign = 1.0 if self._direction == "minimize" else -1.0
        entries: list[tuple[Entry, Observation]] = []
        k = 0
        for obs in trial.curve:
            while k < n and obs.fidelity >= lows[k]:
                entries.append(((math.inf if failed else sign * obs.value, trial.number), obs))
                k += 1
            if k == n:
                break
        resting: tuple[int, ...] = ()
        unfinished = -1
        if trial.status is TrialStatus.PAUSED:
            fidelity, target = trial.fidelity, trial.target
            # resting_at(trial, ladder[k]), for each rung
            resting = tuple(i for i in range(n) if fidelity >= lows[i] and target <= ladder[i])
            if not resting and trial.reason is not StopReason.OBJECTIVE_RETURNED:
                unfinished = next((i for i in range(n) if ladder[i] > fidelity), -1)
        return _Facts(trial, tuple(entries), resting, unfinished)

    def _add(self, f: _Facts) -> None:
        tid = f.record.trial_id
        self._records[tid] = f.record
        for k, (entry, _) in enumerate(f.entries):
            bisect.insort(self.ranked[k], entry)
        for k in f.resting:
            bisect.insort(self.resting[k], (f.entries[k][0], tid))
        if f.unfinished >= 0:
            bisect.insort(self._unfinished, (f.record.number, tid, f.unfinished))

    def _remove(self, f: _Facts) -> None:
        tid = f.record.trial_id
        for k, (entry, _) in enumerate(f.entries):
            _discard(self.ranked[k], entry)
        for k in f.resting:
            _discard(self.resting[k], (f.entries[k][0], tid))
        if f.unfinished >= 0:
            _discard(self._unfinished, (f.record.number, tid, f.unfinished))
        del self._records[tid]


def _discard(ordered: list[Any], item: object) -> None:
    """Remove ``item`` from the sorted list ``ordered`` (it is there)."""
    i = bisect.bisect_left(ordered, item)
    if i < len(ordered) and ordered[i] == item:
        del ordered[i]
