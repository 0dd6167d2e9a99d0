"""Random search (Bergstra and Bengio, JMLR 2012): independent samples, each trained in full."""

from __future__ import annotations

from typing import ClassVar

import numpy as np

from hyperrace._params import Declared, Integer, declare
from hyperrace.history import History
from hyperrace.optimizers._base import Decision, Done, Start
from hyperrace.optimizers._parts.data.observations import full_fidelity
from hyperrace.optimizers._registry import register
from hyperrace.space import Space

__all__ = ["RandomSearch"]


@register
class RandomSearch(Declared):
    """Sample configurations uniformly (log-uniformly on log scales) and train each to the maximum
    fidelity.

    Args:
        max_trials: stop after this many trials (``None``: until the study's budget ends).

    Reference: J. Bergstra and Y. Bengio, "Random Search for Hyper-Parameter Optimization",
    JMLR 13, 2012.
    """

    name: ClassVar[str] = "random"
    parameters = declare(max_trials=Integer(1, optional=True))
    max_trials: int | None

    def __init__(self, max_trials: int | None = None) -> None:
        self._set(max_trials=max_trials)

    def decide(self, space: Space, history: History, rng: np.random.Generator) -> Decision:
        if self.max_trials is not None and len(history.trials) >= self.max_trials:
            return Done(f"{self.max_trials} trials were started")
        return Start(space.sample(rng), full_fidelity(space))
