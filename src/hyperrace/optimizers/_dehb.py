"""DEHB: Hyperband's brackets, new configurations bred by differential evolution.

Everything is rebuilt from the history (trials in creation order); decision info is never read.
With ``S`` brackets (Li et al.'s ladder, :mod:`hyperrace.optimizers._parts.schedule.ladder`):

* **First round.** Iterations ``0 .. S-1`` are exactly Hyperband's (same members, draws from the
  prior, promotions by Resume, waits): they are read with :func:`~._parts.schedule.brackets.scan`
  and own the first ``N_1`` trials, ``N_1`` the sum of the brackets' ``n_0``.
* **Later iterations** ``j >= S`` run bracket ``j mod S`` too, but rung ``k`` is filled with
  ``n_k`` *new* trials trained from scratch to ``b_k`` (``Start(config, stop=b_k)``), never
  resumed. A later trial's *budget* is the smallest rung budget at or above its ``target`` (which
  is ``b_k`` unless the study clipped it to its epoch budget). For each budget ``b`` the later
  trials of budget ``b``, in creation order, fill the later iterations' rungs at ``b`` in
  iteration order. Rung ``k`` is filled once rung ``k - 1`` is *complete* (every member settled,
  as in Hyperband). To keep that membership exact, a rung at ``b`` is filled only while no older
  iteration has an unfilled rung at ``b``; an iteration that cannot go on is passed over for
  younger ones (iterations overlap as a pipeline), a new one opens at most
  :data:`~._parts.schedule.brackets.LOOKAHEAD` beyond the oldest unfinished one, and otherwise DEHB
  waits. With one worker it never waits.
* **Sub-populations**, one per rung budget ``b`` with ``size_b`` slots (the most configurations
  ``b`` has in any bracket, :func:`~._parts.candidates.evolution.dehb_subpopulation_sizes`), are
  replayed in creation order. Evaluated at ``b``: a first-round trial of a bracket with rung ``b``
  that reported at ``b`` (or failed on its way there: loss inf), and a later trial of budget ``b``
  that did. The ``i``-th first-round evaluation at ``b`` targets slot ``i mod size_b``; the ``m``-th
  later trial of budget ``b`` targets slot ``m mod size_b`` (its parent's slot, fixed when it is
  bred).
  *Selection*: an evaluated trial takes its slot when the slot is empty or its loss at ``b`` is
  not worse than the occupant's. With one worker the occupant met in the replay is exactly the
  parent the trial was bred from. A later trial paused below ``b`` (clipped to the epoch budget,
  out of time) keeps its place among the trials of budget ``b`` but is never evaluated there.
* **Breeding** the ``m``-th later trial of budget ``b_k`` (rung ``k``): the parent is the occupant
  of slot ``m mod size`` (a uniform random vector while the slot is empty); the mutation pool is
  the best ``n_k`` (loss, then trial number) of the sub-population at ``b_{k-1}``, or for a
  bracket's lowest rung the global population (every occupant of every sub-population), topped up
  from the global population (from uniform vectors when it has < 3 rows) to 3 rows; ``rand/1/bin``
  with ``mutation_factor`` and ``crossover_prob`` and the boundary fix, in unit-cube coordinates
  (:meth:`Space.to_unit` / :meth:`Space.from_unit`). ``rng`` draws the random parent, if any,
  then what :func:`~._parts.candidates.evolution.rand1_bin` draws.

Without a fidelity DEHB is plain asynchronous DE at stop 1 with a population of
:data:`POPULATION`: the first ``POPULATION`` trials are drawn from the prior and hold the slots
(loss inf until evaluated); trial ``i`` after them is bred from the occupant of slot
``i mod POPULATION`` with the whole population as mutation pool, and takes that slot when it is
not worse.

Reference: N. Awad, N. Mallik and F. Hutter, "DEHB: Evolutionary Hyperband for Scalable, Robust
and Efficient Hyperparameter Optimization", IJCAI 2021; defaults from ``automl/DEHB``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import ClassVar

import numpy as np
import numpy.typing as npt
from numpy.random import Generator

from hyperrace._params import Declared, Integer, OneOf, Real, declare
from hyperrace.history import History
from hyperrace.optimizers._base import Decision, Start
from hyperrace.optimizers._parts.candidates.evolution import (
    BoundMode,
    dehb_subpopulation_sizes,
    rand1_bin,
)
from hyperrace.optimizers._parts.schedule.brackets import cycle, lookahead_wait, scan, settled
from hyperrace.optimizers._parts.schedule.ladder import Bracket, brackets
from hyperrace.optimizers._parts.schedule.rungs import reached
from hyperrace.optimizers._registry import register
from hyperrace.space import Space
from hyperrace.trial import TrialRecord, TrialStatus

__all__ = ["DEHB", "POPULATION", "Populations", "populations"]

#: The population size of plain DE, used when the space has no fidelity.
POPULATION = 20
Individual = tuple[TrialRecord, float]  # a sub-population's occupant: (trial, loss at the budget)
Populations = dict[float, list[Individual | None]]
Array = npt.NDArray[np.float64]


def evaluated(history: History, trial: TrialRecord, budget: float) -> float | None:
    """The trial's loss at ``budget``: its first report at or past it, ``inf`` if it failed on
    its way there, None if it was not evaluated there (yet)."""
    for obs in trial.curve:
        if reached(obs.fidelity, budget):
            return history.loss(obs.value)
    failed = trial.status is TrialStatus.FAILED and reached(trial.target, budget)
    return math.inf if failed else None


def _select(pop: list[Individual | None], slot: int, trial: TrialRecord, loss: float) -> None:
    occupant = pop[slot]
    if occupant is None or loss <= occupant[1]:
        pop[slot] = (trial, loss)


def budget_of(trial: TrialRecord, budgets: Sequence[float]) -> float:
    """A later trial's rung budget: the smallest of ``budgets`` (sorted) at or above its target."""
    return next((b for b in budgets if reached(b, trial.target)), budgets[-1])


def populations(
    history: History, ladder: Sequence[Bracket]
) -> tuple[Populations, dict[float, list[TrialRecord]]]:
    """The sub-populations (slots per budget, lowest budget first) and, per budget, the later
    trials of that budget in creation order (see the module docstring)."""
    sizes = dehb_subpopulation_sizes(ladder)
    pops: Populations = {b: [None] * n for b, n in sizes.items()}
    later: dict[float, list[TrialRecord]] = {b: [] for b in sizes}
    count = dict.fromkeys(sizes, 0)
    trials, offset = history.trials, 0
    for bracket in ladder:
        for trial in trials[offset : offset + bracket.sizes[0]]:
            for b in bracket.budgets:
                loss = evaluated(history, trial, b)
                if loss is None:
                    break
                _select(pops[b], count[b] % sizes[b], trial, loss)
                count[b] += 1
        offset += bracket.sizes[0]
    budgets = sorted(sizes)
    for trial in trials[offset:]:
        b = budget_of(trial, budgets)
        slot = len(later[b]) % sizes[b]
        later[b].append(trial)
        loss = evaluated(history, trial, b)
        if loss is not None:
            _select(pops[b], slot, trial, loss)
    return pops, later


@register
class DEHB(Declared):
    """Differential evolution over Hyperband's brackets (Awad, Mallik and Hutter, IJCAI 2021).

    The first Hyperband round is Hyperband's; afterwards every rung of a bracket is filled with
    new configurations bred by ``rand/1/bin`` differential evolution from one sub-population per
    rung budget and trained from scratch to that budget. Sub-populations, parents and selection
    are replayed from the history (see the module docstring). Without a fidelity: plain DE with a
    population of :data:`POPULATION` at full fidelity.

    Args:
        eta: Hyperband's halving rate (an integer >= 2); budgets are in the fidelity's unit.
        mutation_factor: ``F`` in ``r1 + F * (r2 - r3)``, in (0, 2].
        crossover_prob: ``CR``, the probability that a coordinate comes from the mutant, in
            [0, 1] (one coordinate always does).
        boundary: how coordinates outside [0, 1] are fixed: ``"random"`` redraws them uniformly,
            ``"clip"`` clips them.

    Reference: N. Awad, N. Mallik and F. Hutter, "DEHB: Evolutionary Hyperband for Scalable,
    Robust and Efficient Hyperparameter Optimization", IJCAI 2021.
    """

    name: ClassVar[str] = "dehb"
    parameters = declare(
        eta=Integer(2),
        mutation_factor=Real(0, 2, low_open=True),
        crossover_prob=Real(0, 1),
        boundary=OneOf("random", "clip"),
    )
    eta: int
    mutation_factor: float
    crossover_prob: float
    boundary: BoundMode

    def __init__(
        self,
        *,
        eta: int = 3,
        mutation_factor: float = 0.5,
        crossover_prob: float = 0.5,
        boundary: BoundMode = "random",
    ) -> None:
        self._set(
            eta=eta,
            mutation_factor=mutation_factor,
            crossover_prob=crossover_prob,
            boundary=boundary,
        )

    def decide(self, space: Space, history: History, rng: np.random.Generator) -> Decision:
        if space.fidelity is None:
            return self._plain(space, history, rng)
        ladder = brackets(space.fidelity, self.eta)
        pos = scan(history, cycle(ladder), limit=len(ladder))
        if pos.promotion is not None:
            return pos.promotion
        if pos.iteration < len(ladder):  # the first round still takes new trials
            wait = lookahead_wait(pos.oldest, pos.iteration)
            if wait is not None:
                return wait
            info = {"bracket": pos.bracket.s, "rung": 0, "iteration": pos.iteration}
            return Start(space.sample(rng), pos.bracket.budgets[0], info)
        return self._later(space, history, rng, ladder, pos.oldest)

    def _later(
        self,
        space: Space,
        history: History,
        rng: np.random.Generator,
        ladder: Sequence[Bracket],
        oldest: int | None,
    ) -> Decision:
        pops, later = populations(history, ladder)
        used = dict.fromkeys(later, 0)
        pending: set[float] = set()  # budgets with an unfilled rung in an older iteration
        iteration = len(ladder)
        while True:
            bracket = ladder[iteration % len(ladder)]
            members = []
            for n, b in zip(bracket.sizes, bracket.budgets, strict=True):
                members.append(later[b][used[b] : used[b] + n])
                used[b] += len(members[-1])
            if not any(members):  # opening a new iteration
                wait = lookahead_wait(oldest, iteration)
                if wait is not None:
                    return wait
            full = [len(m) == n for m, n in zip(members, bracket.sizes, strict=True)]
            done = [
                f and all(settled(t, b, None) for t in m)
                for f, m, b in zip(full, members, bracket.budgets, strict=True)
            ]
            rung = full.index(False) if not all(full) else None
            if rung is not None and (rung == 0 or done[rung - 1]):
                budget = bracket.budgets[rung]
                if budget not in pending:
                    m = len(later[budget])
                    return self._breed(space, rng, pops, bracket, rung, iteration, m)
            if oldest is None and not all(done):
                oldest = iteration
            pending.update(b for f, b in zip(full, bracket.budgets, strict=True) if not f)
            iteration += 1

    def _breed(
        self,
        space: Space,
        rng: np.random.Generator,
        pops: Populations,
        bracket: Bracket,
        rung: int,
        iteration: int,
        m: int,
    ) -> Start:
        budget = bracket.budgets[rung]
        everyone = [ind for pop in pops.values() for ind in pop if ind is not None]
        global_x = space.to_unit_many(t.config for t, _ in everyone)
        slot = m % len(pops[budget])
        occupant = pops[budget][slot]
        parent = space.to_unit(occupant[0].config) if occupant else rng.random(len(space))
        if rung == 0:
            pool = global_x
        else:
            lower = [ind for ind in pops[bracket.budgets[rung - 1]] if ind is not None]
            ranked = sorted(lower, key=lambda ind: (ind[1], ind[0].number))
            pool = space.to_unit_many(t.config for t, _ in ranked[: bracket.sizes[rung]])
        child = self._child(parent, pool, global_x if len(global_x) >= 3 else None, rng)
        info = {"bracket": bracket.s, "rung": rung, "iteration": iteration, "slot": slot}
        if occupant is not None:
            info["parent"] = occupant[0].trial_id
        return Start(space.from_unit(child), budget, info)

    def _child(self, parent: Array, pool: Array, extra: Array | None, rng: Generator) -> Array:
        f, cr, mode = self.mutation_factor, self.crossover_prob, self.boundary
        return rand1_bin(parent, pool, rng, F=f, CR=cr, extra_source=extra, mode=mode)

    def _plain(self, space: Space, history: History, rng: np.random.Generator) -> Start:
        n = len(history.trials)
        if n < POPULATION:
            return Start(space.sample(rng), 1.0, {"slot": n})
        pop: list[Individual] = []
        for i, trial in enumerate(history.trials):
            loss = evaluated(history, trial, 1.0)
            if i < POPULATION:
                pop.append((trial, math.inf if loss is None else loss))
            elif loss is not None and loss <= pop[i % POPULATION][1]:
                pop[i % POPULATION] = (trial, loss)
        slot = n % POPULATION
        parent = pop[slot][0]
        pool = space.to_unit_many(t.config for t, _ in pop)
        child = self._child(space.to_unit(parent.config), pool, None, rng)
        return Start(space.from_unit(child), 1.0, {"slot": slot, "parent": parent.trial_id})
