"""Hyperband's synchronous bracket schedule (Li et al., JMLR 2018), rebuilt from the history.

The schedule is a pure function of the history:

* **Membership.** Trials are assigned to bracket *iterations* by creation order: iteration 0 owns
  the first ``n_0`` trials (``n_0`` of its bracket), iteration 1 the next ``n_0`` of its own
  bracket, and so on. Hyperband cycles through the brackets ``s = s_max, ..., 0``; successive
  halving repeats one bracket. A new trial joins the iteration its number falls in.
* **Rungs.** Every member is at rung 0. A member is at rung ``i + 1`` when it was *promoted* from
  rung ``i``: it was granted more than ``budget_i`` (its ``target``), or it already reported at
  ``budget_{i+1}``. Rung ``i`` is *complete* when rung ``i - 1`` is complete, every promotion into
  it was granted, and each of its members is *settled* there: it reported at ``budget_i``, failed,
  was promoted further, or was paused below ``budget_i`` for a reason other than an interruption
  (the study clipped its stop to the epoch budget, a time slice ran out, the objective returned
  early). Such a member counts, but is never promoted. Running members and interrupted ones (the
  study resumes those itself) are not settled yet.
* **Promotion.** Once rung ``i`` is complete, its ``n_{i+1}`` best members by loss at
  ``budget_i`` (failed ones never) are resumed one decision at a time to ``budget_{i+1}``.

Each decision prefers promotions (oldest iteration first), then a new trial for the iteration the
next trial number falls in. When the iterations started so far only wait on running trials, the
next iteration opens so that no worker idles (as HpBandSter does), but at most :data:`LOOKAHEAD`
iterations beyond the oldest unfinished one; past that the decision is :class:`Wait`. With one
worker nothing waits: a trial that is not running is always settled or resumable.

For fidelities in seconds a rung's value is the first report at or above the rung budget.

The schedule is composed, not inherited: :func:`next_decision` takes a :data:`BracketPicker`
(which bracket iteration ``j`` runs) and a :data:`Sampler` (how a new configuration is made):
the prior for successive halving and Hyperband (:mod:`~hyperrace.optimizers._hyperband`), BOHB's
density model in :mod:`~hyperrace.optimizers._bohb`; DEHB reads the first round with
:func:`scan`, and one-epoch top-K ranks and promotes with :func:`best`, :func:`promoted` and
:func:`settled`. The space must have a fidelity.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from hyperrace.history import History
from hyperrace.optimizers._base import Decision, Resume, Start, Wait
from hyperrace.optimizers._parts.schedule.ladder import Bracket
from hyperrace.optimizers._parts.schedule.rungs import loss_at, reached
from hyperrace.space import Space
from hyperrace.trial import TrialRecord, TrialStatus

__all__ = [
    "LOOKAHEAD",
    "BracketPicker",
    "Position",
    "Sampler",
    "best",
    "cycle",
    "lookahead_wait",
    "next_decision",
    "progress",
    "promoted",
    "random_sample",
    "scan",
    "settled",
]

#: How many iterations may be open beyond the oldest unfinished one before new trials wait.
LOOKAHEAD = 2
_TOL = 1e-9


def best(
    history: History, budget: float, trials: Sequence[TrialRecord], k: int
) -> list[TrialRecord]:
    """The ``k`` best of ``trials`` by loss at ``budget`` (ties: older first), never a failed or
    unreported one."""
    scored = [(loss_at(history, t, budget), t.number, t) for t in trials]
    good = sorted((s for s in scored if math.isfinite(s[0])), key=lambda s: (s[0], s[1]))
    return [s[2] for s in good[: max(k, 0)]]


def promoted(trial: TrialRecord, budget: float, above: float | None) -> bool:
    """True when the trial went past rung ``budget``: it was granted more, or it already reported
    at the next rung ``above``."""
    if trial.target > budget * (1 + _TOL):
        return True
    return above is not None and reached(trial.fidelity, above)


def settled(trial: TrialRecord, budget: float, above: float | None) -> bool:
    """True when the trial has nothing more to do at rung ``budget`` (see the module docstring)."""
    if trial.status is TrialStatus.FAILED or promoted(trial, budget, above):
        return True
    if trial.status is TrialStatus.RUNNING:
        return False
    if reached(trial.fidelity, budget):
        return True
    interrupted = trial.reason.is_interruption and trial.fidelity < trial.target
    return not interrupted


def progress(
    history: History, members: Sequence[TrialRecord], bracket: Bracket
) -> tuple[bool, tuple[TrialRecord, int] | None]:
    """Where one iteration stands: (finished, the next promotion as (trial, rung) or None)."""
    if len(members) < bracket.sizes[0]:
        return False, None
    budgets = bracket.budgets
    at_rung = list(members)
    for i, budget in enumerate(budgets):
        above = budgets[i + 1] if i + 1 < len(budgets) else None
        if not all(settled(t, budget, above) for t in at_rung):
            return False, None
        if above is None:
            break
        for t in best(history, budget, at_rung, bracket.sizes[i + 1]):
            if t.status is TrialStatus.PAUSED and not promoted(t, budget, above):
                return False, (t, i + 1)
        at_rung = [t for t in at_rung if promoted(t, budget, above)]
    return True, None


BracketPicker = Callable[[int], Bracket]  #: which bracket iteration ``j`` runs
#: How a new configuration is made for ``rung`` of ``bracket``.
Sampler = Callable[[Space, History, np.random.Generator, Bracket, int], dict[str, Any]]


def cycle(ladder: Sequence[Bracket]) -> BracketPicker:
    """Hyperband's picker: iteration ``j`` runs ``ladder[j mod len(ladder)]``."""
    return lambda iteration: ladder[iteration % len(ladder)]


def random_sample(
    space: Space, history: History, rng: np.random.Generator, bracket: Bracket, rung: int
) -> dict[str, Any]:
    """A :data:`Sampler` that draws from the space's prior (successive halving, Hyperband)."""
    return space.sample(rng)


@dataclass(frozen=True, slots=True)
class Position:
    """Where the schedule stands: the due ``promotion`` if any, else the ``iteration`` (of
    ``bracket``) a new trial joins and the ``oldest`` unfinished iteration (None: none)."""

    promotion: Resume | None
    iteration: int
    bracket: Bracket
    oldest: int | None


def lookahead_wait(oldest: int | None, iteration: int) -> Wait | None:
    """A Wait when opening ``iteration`` would lie more than :data:`LOOKAHEAD` past ``oldest``."""
    if oldest is None or iteration - oldest <= LOOKAHEAD:
        return None
    return Wait(
        f"iterations {oldest} to {iteration - 1} wait on running trials; no more than "
        f"{LOOKAHEAD} iterations are opened beyond the oldest unfinished one"
    )


def scan(history: History, pick: BracketPicker, limit: int | None = None) -> Position:
    """Read the iterations from the history in order (at most ``limit`` of them), stopping at the
    first due promotion or at the iteration the next new trial joins."""
    trials, n = history.trials, len(history.trials)
    iteration = offset = 0
    oldest: int | None = None
    while limit is None or iteration < limit:
        bracket = pick(iteration)
        size = bracket.sizes[0]
        if offset >= n:
            break
        finished, promotion = progress(history, trials[offset : offset + size], bracket)
        if promotion is not None:
            trial, rung = promotion
            info = {"bracket": bracket.s, "rung": rung, "iteration": iteration}
            resume = Resume(trial.trial_id, bracket.budgets[rung], info)
            return Position(resume, iteration, bracket, oldest)
        if not finished and oldest is None:
            oldest = iteration
        if offset + size > n:
            break
        offset += size
        iteration += 1
    return Position(None, iteration, pick(iteration), oldest)


def next_decision(
    space: Space,
    history: History,
    rng: np.random.Generator,
    pick: BracketPicker,
    sample: Sampler,
) -> Decision:
    """The synchronous schedule's decision: the due promotion, else a new trial made by
    ``sample`` for the iteration the next trial number falls in, else a Wait (see the module
    docstring). ``rng`` is used by ``sample`` only. The space must have a fidelity."""
    pos = scan(history, pick)
    if pos.promotion is not None:
        return pos.promotion
    wait = lookahead_wait(pos.oldest, pos.iteration)
    if wait is not None:
        return wait
    bracket = pos.bracket
    info = {"bracket": bracket.s, "rung": 0, "iteration": pos.iteration}
    return Start(sample(space, history, rng, bracket, 0), bracket.budgets[0], info)
