"""BOHB: Hyperband's schedule, new configurations from a kernel density model.

BOHB runs synchronous Hyperband exactly (:mod:`hyperrace.optimizers._hyperband`: the same
iterations, budgets, rung sizes, promotions and waits); only the way a *new* configuration is made
differs. Instead of the prior it calls
:func:`~hyperrace.optimizers._parts.density.kde.bohb_sample` over the Hyperband rung budgets: with
probability ``random_fraction``, or while no budget has enough observations, a draw from the
prior; otherwise the best of ``num_samples`` candidates by ``g(x) / l(x)`` under the densities of
good (l) and bad (g) configurations fitted on the *largest* budget with enough observations
(at least ``max(d + 1, min_points_in_model)``, and more than ``d`` rows in each of the two sets).
Everything follows from the history: the model is refitted at each decision.

Without a fidelity in the space there is one budget, the full one: BOHB is then TPE-like
Bayesian optimization with the same model, fitted on the trials that reported at fidelity 1, and
every trial starts with stop 1.

Reference: S. Falkner, A. Klein and F. Hutter, "BOHB: Robust and Efficient Hyperparameter
Optimization at Scale", ICML 2018; defaults from their reference code (HpBandSter ``CG_BOHB``).
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from hyperrace._params import Declared, Integer, declare
from hyperrace.history import History
from hyperrace.optimizers._base import Decision, Start
from hyperrace.optimizers._parts.density.kde import BOHB_PARAMETERS, BOHBParams, bohb_sample
from hyperrace.optimizers._parts.schedule.brackets import Sampler, cycle, next_decision
from hyperrace.optimizers._parts.schedule.ladder import Bracket, brackets, rungs
from hyperrace.optimizers._registry import register
from hyperrace.space import Space

__all__ = ["BOHB"]


def kde_sampler(budgets: list[float], params: BOHBParams) -> Sampler:
    """A Hyperband :data:`~hyperrace.optimizers._parts.schedule.brackets.Sampler` that draws from
    BOHB's model
    of the largest of ``budgets`` with enough observations (the bracket and rung do not matter)."""
    kwargs = params.to_dict()

    def sample(
        space: Space, history: History, rng: np.random.Generator, bracket: Bracket, rung: int
    ) -> dict[str, Any]:
        return bohb_sample(space, history, rng, budgets, **kwargs)

    return sample


@register
class BOHB(Declared):
    """Hyperband with model-based sampling (Falkner, Klein and Hutter, ICML 2018).

    Iterations, brackets, budgets and promotions are Hyperband's (Li et al.'s bracket convention;
    for fidelity 1..81 epochs and ``eta=3``: 81/27/9/3/1, 34/11/3/1, 15/5/1, 8/2 and 5
    configurations at 1, 3, 9, 27, 81 epochs); each new configuration comes from a TPE-like pair
    of product kernel density estimators (see :mod:`hyperrace.optimizers._parts.density.kde`) fitted
    on the largest rung budget with enough observations. Without a fidelity: TPE-like optimization
    at full fidelity (see the module docstring).

    Args:
        eta: Hyperband's halving rate (an integer >= 2).
        min_points_in_model: observations a budget needs before it gets a model; ``None`` means
            ``d + 1`` for ``d`` hyperparameters, and smaller values are raised to ``d + 1``.
        top_n_percent: the percentage of observations (ranked by loss) that make the good set,
            in (0, 100).
        num_samples: candidates drawn around good points for each model-based proposal (>= 1).
        random_fraction: the probability of drawing from the prior instead, in [0, 1].
        bandwidth_factor: candidates are drawn with the good density's bandwidths times this
            (> 0), to explore more than the model does.
        min_bandwidth: the smallest kernel bandwidth, in unit-cube coordinates (> 0).

    Reference: S. Falkner, A. Klein and F. Hutter, "BOHB: Robust and Efficient Hyperparameter
    Optimization at Scale", ICML 2018.
    """

    name: ClassVar[str] = "bohb"
    parameters = declare(eta=Integer(2), **BOHB_PARAMETERS)
    eta: int
    min_points_in_model: int | None
    top_n_percent: float
    num_samples: int
    random_fraction: float
    bandwidth_factor: float
    min_bandwidth: float

    def __init__(
        self,
        *,
        eta: int = 3,
        min_points_in_model: int | None = None,
        top_n_percent: float = 15.0,
        num_samples: int = 64,
        random_fraction: float = 1 / 3,
        bandwidth_factor: float = 3.0,
        min_bandwidth: float = 1e-3,
    ) -> None:
        self._set(
            eta=eta,
            min_points_in_model=min_points_in_model,
            top_n_percent=top_n_percent,
            num_samples=num_samples,
            random_fraction=random_fraction,
            bandwidth_factor=bandwidth_factor,
            min_bandwidth=min_bandwidth,
        )
        self.params = BOHBParams(**{name: getattr(self, name) for name in BOHB_PARAMETERS})

    def decide(self, space: Space, history: History, rng: np.random.Generator) -> Decision:
        if space.fidelity is None:
            return Start(bohb_sample(space, history, rng, [1.0], **self.params.to_dict()), 1.0)
        budgets = rungs(space.fidelity, self.eta)
        pick = cycle(brackets(space.fidelity, self.eta))
        return next_decision(space, history, rng, pick, kde_sampler(budgets, self.params))
