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
from typing import Any

from hyperrace._gc import collector_paused
from hyperrace.history import History
from hyperrace.optimizers._parts.schedule.rungs import is_waiting_at, threshold
from hyperrace.trial import Observation, StopReason, TrialRecord, TrialStatus

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
    """

    def __init__(self, ladder: Sequence[float]) -> None:
        self.ladder = tuple(ladder)
        self._lows = tuple(threshold(b) for b in self.ladder)
        self._direction = ""
        self._facts: dict[int, _Facts] = {}
        self.ranked: list[list[Entry]] = [[] for _ in self.ladder]
        self.resting: list[list[tuple[Entry, int]]] = [[] for _ in self.ladder]
        # (trial number, trial id, rung above) of the trials cut short between rungs
        self._unfinished: list[tuple[int, int, int]] = []

    def update(self, history: History) -> None:
        """Bring the table to ``history``: recompute the trials whose record changed."""
        if history.direction != self._direction:
            self._reset(history.direction)
        facts = self._facts
        before = len(facts)
        known = 0
        changed: list[TrialRecord] = []
        for trial in history.trials:
            old = facts.get(trial.trial_id)
            if old is not None:
                known += 1
                if old.record is trial:
                    continue
            changed.append(trial)
        if known < before:
            # some trial of the table is not in this history: not a later snapshot of the same
            # study; start again from this one
            self._reset(history.direction)
            facts = self._facts
            changed = list(history.trials)
        if len(changed) > _ONE_BY_ONE:
            # many changes (the first history, a rebuild): sort each list once
            with collector_paused():
                for trial in changed:
                    facts[trial.trial_id] = self._facts_of(history, trial)
                self._sort_all()
            return
        for trial in changed:
            old = facts.get(trial.trial_id)
            if old is not None:
                self._remove(old)
            self._add(self._facts_of(history, trial))

    def first_unfinished(self) -> tuple[int, int] | None:
        """``(trial_id, rung above)`` of the oldest trial cut short between rungs, or ``None``."""
        if not self._unfinished:
            return None
        _, trial_id, rung = self._unfinished[0]
        return trial_id, rung

    def record(self, trial_id: int) -> TrialRecord:
        return self._facts[trial_id].record

    def reports(self, k: int) -> list[tuple[TrialRecord, Entry, Observation]]:
        """Every trial that reported at rung ``k``, with its entry and its report there, oldest
        trial first."""
        out = [(f.record, *f.entries[k]) for f in self._facts.values() if len(f.entries) > k]
        out.sort(key=lambda report: report[0].number)
        return out

    def _reset(self, direction: str) -> None:
        self._direction = direction
        self._facts = {}
        self.ranked = [[] for _ in self.ladder]
        self.resting = [[] for _ in self.ladder]
        self._unfinished = []

    def _sort_all(self) -> None:
        """Every list rebuilt from the facts and sorted."""
        self.ranked = [[] for _ in self.ladder]
        self.resting = [[] for _ in self.ladder]
        self._unfinished = []
        for tid, f in self._facts.items():
            for k, (entry, _) in enumerate(f.entries):
                self.ranked[k].append(entry)
            for k in f.resting:
                self.resting[k].append((f.entries[k][0], tid))
            if f.unfinished >= 0:
                self._unfinished.append((f.record.number, tid, f.unfinished))
        for ranked in self.ranked:
            ranked.sort()
        for resting in self.resting:
            resting.sort()
        self._unfinished.sort()

    def _facts_of(self, history: History, trial: TrialRecord) -> _Facts:
        # one pass over the curve (in increasing fidelity): each rung's report is the first at
        # or past its budget, as ``report_at`` finds it; written out, since a study of 100,000
        # trials runs it 100,000 times on its first decision
        lows, ladder = self._lows, self.ladder
        n = len(lows)
        failed = trial.status is TrialStatus.FAILED
        sign = 1.0 if history.direction == "minimize" else -1.0
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
        self._facts[tid] = f
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
        del self._facts[tid]


def _discard(ordered: list[Any], item: object) -> None:
    """Remove ``item`` from the sorted list ``ordered`` (it is there)."""
    i = bisect.bisect_left(ordered, item)
    if i < len(ordered) and ordered[i] == item:
        del ordered[i]
