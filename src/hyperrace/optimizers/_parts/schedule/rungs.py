"""Rungs read from the history: who reached a budget, with what loss, and who may go on.

Everything here is recomputed from a :class:`~hyperrace.history.History`, so an optimizer built
on it keeps no state of its own. Losses are "lower is better" whatever the study's direction;
failed trials rank last (loss ``inf``) and are never promoted.

A trial's value at a rung's budget is its first report at or past that budget: with epochs or
steps reported one by one that is the report at exactly the budget; with a fidelity in seconds a
run stops at the first report after its slice is spent, so its reports overshoot the budget.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

from hyperrace.history import History
from hyperrace.trial import Observation, TrialRecord, TrialStatus

__all__ = [
    "at_rung",
    "is_waiting_at",
    "loss_at",
    "ranked",
    "reached",
    "report_at",
    "threshold",
    "top",
]

#: Relative tolerance of fidelity comparisons (budgets computed as ``high * eta**-k``).
_TOL = 1e-9


def threshold(budget: float) -> float:
    """The lowest fidelity that counts as having reached ``budget`` (up to rounding)."""
    return budget * (1 - _TOL)


def reached(fidelity: float, budget: float) -> bool:
    """True when ``fidelity`` is at or past ``budget`` (up to rounding)."""
    return fidelity >= threshold(budget)


def report_at(trial: TrialRecord, budget: float) -> Observation | None:
    """The trial's first report at or past ``budget``, or ``None``."""
    for obs in trial.curve:
        if reached(obs.fidelity, budget):
            return obs
    return None


def loss_at(history: History, trial: TrialRecord, budget: float) -> float:
    """The trial's loss at ``budget`` (its first report at or past it); ``inf`` if it failed or
    never got there."""
    if trial.status is TrialStatus.FAILED:
        return math.inf
    obs = report_at(trial, budget)
    return math.inf if obs is None else history.loss(obs.value)


def at_rung(
    history: History, budget: float, trials: Iterable[TrialRecord] | None = None
) -> list[TrialRecord]:
    """The trials (of ``trials``, default all) that reported at or past ``budget``."""
    pool = history.trials if trials is None else trials
    return [t for t in pool if report_at(t, budget) is not None]


def ranked(history: History, budget: float, trials: Iterable[TrialRecord]) -> list[TrialRecord]:
    """``trials`` from best to worst loss at ``budget`` (ties: the older trial first)."""
    return sorted(trials, key=lambda t: (loss_at(history, t, budget), t.number))


def top(
    history: History, budget: float, trials: Iterable[TrialRecord], k: int
) -> list[TrialRecord]:
    """The ``k`` best of ``trials`` at ``budget`` that did not fail."""
    good = [
        t for t in ranked(history, budget, trials) if math.isfinite(loss_at(history, t, budget))
    ]
    return good[: max(k, 0)]


def is_waiting_at(trial: TrialRecord, budget: float) -> bool:
    """True when the trial is paused at ``budget``, the fidelity it was granted, having reached
    it (at or past it): it can be promoted from there."""
    return (
        trial.status is TrialStatus.PAUSED
        and reached(trial.fidelity, budget)
        and trial.target <= budget * (1 + _TOL)
    )
