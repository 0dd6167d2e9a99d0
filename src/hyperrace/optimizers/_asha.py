"""ASHA: asynchronous successive halving, with a promotion and a stopping variant.

Reference: L. Li, K. Jamieson, A. Rostamizadeh, E. Gonina, J. Ben-Tzur, M. Hardt, B. Recht,
A. Talwalkar, "A System for Massively Parallel Hyperparameter Tuning", MLSys 2020
(arXiv:1810.05934).
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np

from hyperrace._params import Declared, Integer, OneOf, declare
from hyperrace.history import History
from hyperrace.optimizers._base import Decision, Resume, Start
from hyperrace.optimizers._parts.schedule.ladder import rungs
from hyperrace.optimizers._parts.schedule.table import Entry, RungTable, resting_at
from hyperrace.optimizers._registry import register
from hyperrace.space import Space
from hyperrace.trial import Observation, TrialRecord

__all__ = ["ASHA"]


def quantile(ordered: Sequence[Entry], q: float) -> float:
    """The ``q`` quantile of the losses of ``ordered`` (sorted, non-empty), interpolated linearly
    between order statistics as ``numpy.quantile`` does by default; infinite losses are allowed."""
    pos = q * (len(ordered) - 1)
    lo = math.floor(pos)
    frac = pos - lo
    a = ordered[lo][0]
    if frac == 0.0 or lo + 1 >= len(ordered):
        return a
    b = ordered[lo + 1][0]
    if a == b or math.isinf(b):
        return b
    return a + (b - a) * frac if frac < 0.5 else b - (b - a) * (1.0 - frac)


def passes(ordered: Sequence[Entry], entry: Entry, eta: int, rule: str) -> bool:
    """Whether ``entry`` (one of ``ordered``, the sorted reports at a rung) is within the rule.

    ``top``: among the ``floor(len / eta)`` best (ties: the older trial first). ``quantile``: loss
    at most the ``1/eta`` quantile of the rung, which needs at least 2 reports. Infinite losses
    (failed trials) never pass.
    """
    if not math.isfinite(entry[0]):
        return False
    if rule == "top":
        return bisect.bisect_left(ordered, entry) < len(ordered) // eta
    return len(ordered) >= 2 and entry[0] <= quantile(ordered, 1.0 / eta)


@register
class ASHA(Declared):
    """Asynchronous successive halving (ASHA): never waits for a rung to fill.

    The rungs are ``_parts.schedule.ladder.rungs(fidelity, eta)``: ``high * eta**-k`` anchored at
    the maximum fidelity, in the fidelity's unit (epochs and steps rounded to whole numbers), e.g.
    1, 3, 9, 27, 81 epochs for a fidelity of 1..81 and ``eta=3``, or 2, 6, 17, 52 for 1..52. A
    rung's population is every trial that reported at its budget (its first report at or past it:
    with a fidelity in seconds reports overshoot); its losses are the
    reported values ("lower is better" whatever the direction), ``inf`` for a failed trial, which
    is never promoted but counts in the population.

    ``variant="promotion"`` (the paper's ASHA): whenever a worker is free, scan the rungs
    from the second highest down to the lowest; in each, the candidates are the trials paused at
    that rung (not promoted yet) that the rule allows; resume the best of them up to the next
    rung. If no rung has one, start a new configuration at the lowest rung. It needs checkpoints:
    a promoted trial continues from its rung.

    ``variant="stopping"``: a trial runs rung by rung. Paused at a rung below the top, it goes on
    iff, when it reported there, the rule allowed it among the trials that had reported at that
    rung no later than it did (by report time, ties by trial number), itself included; with fewer
    than 2 reports it goes on. Others stay paused for good. Each decision resumes the oldest trial
    allowed to go on, else starts a new one at the lowest rung. (Syne Tune's default ASHA; there
    a trial trains on without a pause, here it pauses at each rung and resumes from its
    checkpoint, so the decision stays with the race loop.)

    Args:
        eta: the reduction factor (an integer >= 2): rungs are ``eta`` times apart and about one
            trial in ``eta`` goes on from each.
        variant: ``"promotion"`` or ``"stopping"``, as above.
        rule: which trials of a rung may go on. ``"top"`` (the paper's rule): the best
            ``floor(n / eta)`` of the ``n`` trials at the rung. ``"quantile"`` (Syne Tune's rule):
            a loss at most the linearly interpolated ``1/eta`` quantile of the rung's losses,
            which needs at least 2 of them; it promotes sooner on small rungs.

    Never returns ``Wait`` or ``Done``: it searches until the study's budget ends. A trial left
    paused between rungs (its run was cut short by the epoch budget or by its processor-time
    slice) is first resumed up to the rung above it; one whose objective returned before the
    fidelity it was granted is left alone. Without a fidelity in the space, ASHA is random search
    at full fidelity (every decision starts a new configuration with ``stop=1``).

    Reference: L. Li, K. Jamieson, A. Rostamizadeh, E. Gonina, J. Ben-Tzur, M. Hardt, B. Recht,
    A. Talwalkar, "A System for Massively Parallel Hyperparameter Tuning", MLSys 2020.
    """

    name: ClassVar[str] = "asha"
    parameters = declare(
        eta=Integer(2),
        variant=OneOf(
            "promotion",
            "stopping",
            note="'promotion' pauses and promotes, and needs checkpoints; 'stopping' continues "
            "or stops each trial at each rung",
        ),
        rule=OneOf(
            "top",
            "quantile",
            note="'top': the best floor(n/eta) of a rung, as in the paper; 'quantile': at most "
            "the 1/eta quantile of the rung, as in Syne Tune",
        ),
    )
    eta: int
    variant: str
    rule: str

    def __init__(self, eta: int = 3, variant: str = "promotion", rule: str = "top") -> None:
        self._set(eta=eta, variant=variant, rule=rule)

    def decide(self, space: Space, history: History, rng: np.random.Generator) -> Decision:
        if space.fidelity is None:
            return Start(space.sample(rng), 1.0)
        ladder = rungs(space.fidelity, self.eta)
        table = self._rung_table(ladder)
        table.update(history)
        decision = self._finish(table, ladder)
        if decision is None:
            if self.variant == "promotion":
                decision = self._promote(table, ladder)
            else:
                decision = self._continue(table, ladder)
        return decision or Start(space.sample(rng), ladder[0], {"rung": 0})

    def _rung_table(self, ladder: Sequence[float]) -> RungTable:
        """The rungs of ``ladder`` as the last decision left them (a cache: a fresh one decides
        the same; see :mod:`~hyperrace.optimizers._parts.schedule.table`)."""
        table = getattr(self, "_table", None)
        if table is None or table.ladder != tuple(ladder):
            table = RungTable(ladder)
            self._table = table
        return table

    def __getstate__(self) -> dict[str, Any]:
        # the cache stays with this process: a copy or a pickle starts without it
        return {k: v for k, v in self.__dict__.items() if k != "_table"}

    def _resume(
        self, trial: TrialRecord, rung: int, ladder: Sequence[float], **info: Any
    ) -> Resume:
        return Resume(trial.trial_id, ladder[rung], {"rung": rung, "variant": self.variant, **info})

    def _finish(self, table: RungTable, ladder: Sequence[float]) -> Resume | None:
        """Resume the oldest trial paused short of a rung (not by its objective's choice)."""
        first = table.first_unfinished()
        if first is None:
            return None
        trial_id, rung = first
        return self._resume(table.record(trial_id), rung, ladder, finish=True)

    def _promote(self, table: RungTable, ladder: Sequence[float]) -> Resume | None:
        """Promote the best promotable trial of the highest rung that has one: the best of the
        trials resting at a rung, if the rule allows it (the rule allows a trial only if it
        allows every better one, so when the best does not pass, none does)."""
        for k in range(len(ladder) - 2, -1, -1):
            if not table.resting[k]:
                continue
            entry, trial_id = table.resting[k][0]
            if passes(table.ranked[k], entry, self.eta, self.rule):
                return self._resume(table.record(trial_id), k + 1, ladder)
        return None

    def _continue(self, table: RungTable, ladder: Sequence[float]) -> Resume | None:
        """Resume the oldest trial paused at a rung that it was allowed to go on from."""
        go: list[tuple[int, int, TrialRecord]] = []
        for k in range(len(ladder) - 1):
            if not table.resting[k]:
                continue
            budget = ladder[k]
            ordered: list[Entry] = []
            for t, entry, _ in sorted(table.reports(k), key=_report_order):
                bisect.insort(ordered, entry)
                if resting_at(t, budget) and (
                    len(ordered) < 2 or passes(ordered, entry, self.eta, self.rule)
                ):
                    go.append((t.number, k, t))
        if not go:
            return None
        _, k, trial = min(go, key=lambda g: g[0])
        return self._resume(trial, k + 1, ladder)


def _report_order(report: tuple[TrialRecord, Entry, Observation]) -> tuple[int, float, int]:
    """Reports in the order the storage recorded them (``seq``; time and trial number order
    those of a history built by hand, whose ``seq`` are all 0)."""
    trial, _, obs = report
    return obs.seq, obs.time, trial.number
