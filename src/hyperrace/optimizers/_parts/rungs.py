"""Rungs read from the history: who reached a budget, with what loss, and who may go on.

Everything here is recomputed from a :class:`~hyperrace.history.History`, so an optimizer built
on it keeps no state of its own. Losses are "lower is better" whatever the study's direction;
failed trials rank last (loss ``inf``) and are never promoted.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

from hyperrace.history import History
from hyperrace.trial import TrialRecord, TrialStatus

__all__ = ["at_rung", "is_waiting_at", "loss_at", "ranked", "top"]


def loss_at(history: History, trial: TrialRecord, budget: float) -> float:
    """The trial's loss at exactly ``budget``; ``inf`` if it failed or never reported there."""
    if trial.status is TrialStatus.FAILED:
        return math.inf
    value = trial.value_at(budget)
    return math.inf if value is None else history.loss(value)


def at_rung(
    history: History, budget: float, trials: Iterable[TrialRecord] | None = None
) -> list[TrialRecord]:
    """The trials (of ``trials``, default all) that reported at exactly ``budget``."""
    pool = history.trials if trials is None else trials
    return [t for t in pool if t.value_at(budget) is not None]


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
    """True when the trial is paused exactly at ``budget``: it can be promoted from there."""
    return trial.status is TrialStatus.PAUSED and trial.fidelity == budget
