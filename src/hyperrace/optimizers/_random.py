"""Random search (Bergstra and Bengio, JMLR 2012): independent samples, each trained in full."""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from hyperrace.exceptions import ConfigurationError
from hyperrace.history import History
from hyperrace.optimizers._base import Decision, Done, Start
from hyperrace.optimizers._parts.observations import full_fidelity
from hyperrace.optimizers._registry import register
from hyperrace.space import Space

__all__ = ["RandomSearch"]


@register
class RandomSearch:
    """Sample configurations uniformly (log-uniformly on log scales) and train each to the maximum
    fidelity.

    Args:
        max_trials: stop after this many trials (``None``: until the study's budget ends).

    Reference: J. Bergstra and Y. Bengio, "Random Search for Hyper-Parameter Optimization",
    JMLR 13, 2012.
    """

    name: ClassVar[str] = "random"

    def __init__(self, max_trials: int | None = None) -> None:
        if max_trials is not None and (isinstance(max_trials, bool) or max_trials < 1):
            raise ConfigurationError(
                f"max_trials={max_trials!r} must be a positive integer or None"
            )
        self.max_trials = max_trials

    def get_params(self) -> dict[str, Any]:
        return {"max_trials": self.max_trials}

    def decide(self, space: Space, history: History, rng: np.random.Generator) -> Decision:
        if self.max_trials is not None and len(history.trials) >= self.max_trials:
            return Done(f"{self.max_trials} trials were started")
        return Start(space.sample(rng), full_fidelity(space))
