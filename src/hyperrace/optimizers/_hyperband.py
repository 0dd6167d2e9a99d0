"""Successive halving and Hyperband (Li et al., JMLR 2018), synchronous, rebuilt from the history.

Both run the bracket schedule of :mod:`~hyperrace.optimizers._parts.schedule.brackets`
(membership of iterations by creation order, rungs, promotions, waits), with new configurations
drawn from the prior. Without a fidelity both are random search at stop 1.
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np

from hyperrace._params import Declared, Integer, declare
from hyperrace.exceptions import ConfigurationError
from hyperrace.history import History
from hyperrace.optimizers._base import Decision, Start
from hyperrace.optimizers._parts.schedule.brackets import cycle, next_decision, random_sample
from hyperrace.optimizers._parts.schedule.ladder import brackets
from hyperrace.optimizers._registry import register
from hyperrace.space import Space

__all__ = ["Hyperband", "SuccessiveHalving"]


@register
class SuccessiveHalving(Declared):
    """Synchronous successive halving: one Hyperband bracket, run again and again.

    Each iteration starts ``n_0`` random configurations at the bracket's lowest budget, waits for
    all of them, and resumes the best ``1/eta`` from their checkpoints to the next budget (paying
    only the new steps), up to the maximum fidelity: for 1..81 epochs and ``eta=3`` bracket 4
    trains 81, 27, 9, 3, 1 configurations to 1, 3, 9, 27, 81 epochs. See
    :mod:`~hyperrace.optimizers._parts.schedule.brackets` for membership, failures, clipped runs and
    waits. Without a fidelity: random search.

    Args:
        eta: the halving rate: each rung keeps the best ``1/eta`` and trains them ``eta`` times
            longer (an integer >= 2; 3 is the usual choice).
        bracket: which bracket ``s`` to run, from 0 (all to the maximum fidelity) to ``s_max =
            floor(log_eta(high / low))`` (start at the lowest budget); ``None`` means ``s_max``.

    Reference: L. Li, K. Jamieson, G. DeSalvo, A. Rostamizadeh and A. Talwalkar, "Hyperband: A
    Novel Bandit-Based Approach to Hyperparameter Optimization", JMLR 18(185), 2018; successive
    halving after K. Jamieson and A. Talwalkar, AISTATS 2016.
    """

    name: ClassVar[str] = "successive_halving"
    parameters = declare(
        eta=Integer(2),
        bracket=Integer(
            0,
            optional=True,
            note="0 trains every configuration to the maximum fidelity, None runs the most "
            "exploratory bracket",
        ),
    )
    eta: int
    bracket: int | None

    def __init__(self, *, eta: int = 3, bracket: int | None = None) -> None:
        self._set(eta=eta, bracket=bracket)

    def decide(self, space: Space, history: History, rng: np.random.Generator) -> Decision:
        if space.fidelity is None:
            return Start(space.sample(rng), 1.0)
        ladder = brackets(space.fidelity, self.eta)
        top = ladder[0].s
        if self.bracket is not None and self.bracket > top:
            raise ConfigurationError(
                f"bracket={self.bracket} is above s_max={top} for this space's fidelity with "
                f"eta={self.eta}; use a bracket from 0 to {top}, or bracket=None"
            )
        chosen = ladder[0 if self.bracket is None else top - self.bracket]
        return next_decision(space, history, rng, lambda iteration: chosen, random_sample)


@register
class Hyperband(Declared):
    """Synchronous Hyperband: successive halving over every bracket in turn.

    Iteration ``j`` runs bracket ``s = s_max - (j mod (s_max + 1))``: from the most exploratory
    (many configurations at the lowest budget) to plain random search at the maximum fidelity,
    then again; for fidelity 1..81 epochs and ``eta=3`` the brackets keep 81/27/9/3/1,
    34/11/3/1, 15/5/1, 8/2 and 5 configurations
    (:mod:`~hyperrace.optimizers._parts.schedule.ladder`). Promoted trials resume from their
    checkpoints, paying only the new steps. See
    :mod:`~hyperrace.optimizers._parts.schedule.brackets` for membership, failures, clipped runs and
    waits. Without a fidelity: random search.

    Args:
        eta: the halving rate: each rung keeps the best ``1/eta`` and trains them ``eta`` times
            longer (an integer >= 2; 3 is the usual choice).

    Reference: L. Li, K. Jamieson, G. DeSalvo, A. Rostamizadeh and A. Talwalkar, "Hyperband: A
    Novel Bandit-Based Approach to Hyperparameter Optimization", JMLR 18(185), 2018.
    """

    name: ClassVar[str] = "hyperband"
    parameters = declare(eta=Integer(2))
    eta: int

    def __init__(self, *, eta: int = 3) -> None:
        self._set(eta=eta)

    def decide(self, space: Space, history: History, rng: np.random.Generator) -> Decision:
        if space.fidelity is None:
            return Start(space.sample(rng), 1.0)
        pick = cycle(brackets(space.fidelity, self.eta))
        return next_decision(space, history, rng, pick, random_sample)
