"""One-epoch top-K (Egele et al., 2023): rank many configurations after the lowest fidelity, then
train only the best few in full."""

from __future__ import annotations

from typing import ClassVar

import numpy as np

from hyperrace._params import Declared, Integer, declare
from hyperrace.exceptions import ConfigurationError
from hyperrace.history import History
from hyperrace.optimizers._base import Decision, Done, Resume, Start, Wait
from hyperrace.optimizers._parts.schedule.brackets import best, promoted, settled
from hyperrace.optimizers._registry import register
from hyperrace.space import Space
from hyperrace.trial import TrialStatus

__all__ = ["OneEpochTopK"]


@register
class OneEpochTopK(Declared):
    """Train ``n_configs`` random configurations to the lowest fidelity, then the best ``k`` of
    them to the maximum fidelity, and stop.

    Stage 1 starts the first ``n_configs`` trials (by creation order) at ``fidelity.low`` (one
    epoch for ``Fidelity(1, ...)``) and waits until every one of them has reported there, failed,
    or was paused short of it (a clipped or time-sliced run: it counts, but is never promoted).
    Stage 2 resumes the ``k`` best by loss at ``fidelity.low`` from their checkpoints to
    ``fidelity.high``, one decision each, paying only the new steps; failed trials are never
    picked. Once the last of them is granted its full budget the decision is :class:`Done` (the
    study lets the running ones finish). The cost is ``n_configs * low + k * (high - low)``
    fidelity units (epochs, steps or seconds).

    Without a fidelity in the space it is random search of ``n_configs`` configurations at full
    fidelity, then Done.

    Args:
        n_configs: configurations of stage 1 (a positive integer).
        k: configurations trained in full in stage 2 (1 <= k <= n_configs).

    Reference: R. Egele, I. Guyon, Y. Sun and P. Balaprakash, "Is One Epoch All You Need for
    Multi-Fidelity Hyperparameter Optimization?", ESANN 2023 (arXiv 2307.15422).
    """

    name: ClassVar[str] = "one_epoch_top_k"
    parameters = declare(n_configs=Integer(1), k=Integer(1))
    n_configs: int
    k: int

    def __init__(self, *, n_configs: int = 50, k: int = 3) -> None:
        self._set(n_configs=n_configs, k=k)
        if k > n_configs:
            raise ConfigurationError(
                f"k={k} must not exceed n_configs={n_configs}: use k <= {n_configs}, or raise "
                "n_configs"
            )

    def decide(self, space: Space, history: History, rng: np.random.Generator) -> Decision:
        trials = history.trials
        if space.fidelity is None:
            if len(trials) >= self.n_configs:
                return Done(f"{self.n_configs} configurations were started")
            return Start(space.sample(rng), 1.0, {"stage": 1})
        low, high = float(space.fidelity.low), float(space.fidelity.high)
        if len(trials) < self.n_configs:
            return Start(space.sample(rng), low, {"stage": 1})
        members = trials[: self.n_configs]
        if not all(settled(t, low, high) for t in members):
            return Wait(f"stage 1 waits for all {self.n_configs} trials to report at {low:g}")
        for rank, t in enumerate(best(history, low, members, self.k)):
            if t.status is TrialStatus.PAUSED and not promoted(t, low, high):
                return Resume(t.trial_id, high, {"stage": 2, "rank": rank})
        return Done(f"the best {self.k} of {self.n_configs} configurations were granted {high:g}")
