"""The DPL surrogate for the race: deep power-law ensembles fitted on every observation.

:class:`PowerLaws` is the :class:`~hyperrace.optimizers._parts.surrogate.base.Surrogate` around
:mod:`~hyperrace.optimizers._parts.surrogate.power_law_net` (imported on the first fit, with torch).
Budgets enter the power law as ``t = fidelity / high`` (DPL's convention: ``t`` in (0, 1], 1 at the
maximum fidelity); without a fidelity every point has ``t = 1``. Failure points take the worst loss
of the data. Fits follow :mod:`~hyperrace.optimizers._parts.surrogate.fit_chain`: a fit every
``refit_every`` new points, from scratch (``scratch_steps`` Adam steps) or continued from the
previous fit (``refine_steps``).

Reference: A. Kadra, M. Janowski, M. Wistuba and J. Grabocka, "Scaling Laws for Hyperparameter
Optimization", NeurIPS 2023.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

import numpy as np

from hyperrace._params import Boolean, Declared, Integer, Real, declare
from hyperrace.optimizers._parts.data.curve_data import CurveData
from hyperrace.optimizers._parts.surrogate.base import Gaussian, Queries
from hyperrace.optimizers._parts.surrogate.fit_chain import Schedule, replay

if TYPE_CHECKING:
    from hyperrace.optimizers._parts.surrogate.power_law_net import PowerLawState

__all__ = ["PowerLaws"]


@dataclass(frozen=True)
class _Model:
    state: PowerLawState
    high: float
    seen: np.ndarray  # encoded configurations with observations, (n, width)
    lengthscale: float | None
    spread: float  # the standard deviation of the predicted final losses of ``seen``
    fitted_at: int = 0  # the fit point of the state
    scratch: bool = False  # whether that fit was from scratch

    def predict(self, queries: Queries) -> Gaussian:
        from hyperrace.optimizers._parts.surrogate import power_law_net as dpl

        mean, std = dpl.predict(self.state, queries.x, _budget(queries.fidelity, self.high))
        if self.lengthscale is not None and len(self.seen):
            novel = _novelty(queries.x, self.seen, self.lengthscale)
            std = np.sqrt(std**2 + novel * self.spread**2)
        return Gaussian(mean, std)


def _novelty(x: np.ndarray, seen: np.ndarray, lengthscale: float) -> np.ndarray:
    """``1 - exp(-d**2 / (2 l**2))`` of each row of ``x``, ``d`` its distance to the nearest row
    of ``seen`` over the square root of the width: 0 at a seen configuration, near 1 far from
    every one."""
    width = max(1, x.shape[1])
    d2 = np.full(len(x), np.inf)
    for start in range(0, len(seen), 512):
        block = seen[start : start + 512]
        gap = ((x[:, None, :] - block[None, :, :]) ** 2).sum(axis=2) / width
        d2 = np.minimum(d2, gap.min(axis=1))
    out: np.ndarray = 1.0 - np.exp(-d2 / (2 * lengthscale**2))
    return out


def _budget(fidelity: np.ndarray, high: float) -> np.ndarray:
    out: np.ndarray = np.asarray(fidelity, dtype=np.float64) / high if high > 0 else fidelity
    return out


class PowerLaws(Declared):
    """Deep power-law ensemble (DPL) surrogate.

    Args:
        members: networks in the ensemble (>= 1; 5 in the reference).
        width: units per hidden layer (>= 1; 128 in the reference).
        refit_every: refit every this many new observations (>= 1).
        scratch_steps: full-batch Adam steps of a fit from scratch (>= 1).
        refine_steps: Adam steps of a fit continued from the previous one (>= 1).
        max_chain: continued fits in a row before one from scratch (>= 1).
        lr: Adam's learning rate, on losses scaled to [0, 1] (> 0).
        bootstrap: each member trains on a bootstrap resample of the configurations (Poisson(1)
            weights from a hash of the member and the trial number), for a spread that grows
            where data are few; False: every member sees every point (the reference).
        first_weight: the weight in [0, 1] of a trial's first report once the trial has
            reported again (1: as any other, the reference). The first step of a training is
            its noisiest and least telling point (warm-up, a learning rate that has not yet
            settled: on LCBench, the loss after epoch 1 ranks configurations by their final loss
            little better than chance, the loss after epoch 2 well); a curve's later points say
            more about where it goes. A trial with one report keeps it at full weight.
        novelty: a lengthscale ``l`` > 0 in the unit cube (distances over the square root of
            the width), or None (the reference). With it, the predictive variance adds
            ``(1 - exp(-d**2 / (2 l**2))) * s**2``, ``d`` the distance of the configuration to
            the nearest one with observations and ``s`` the spread of the predicted final
            losses of those: the ensemble alone is as sure of a configuration nobody tried as of
            one it trained on, so a race would never leave a mediocre curve it knows for the
            unknown.
    """

    name: ClassVar[str] = "dpl"
    parameters = declare(
        members=Integer(1),
        width=Integer(1),
        refit_every=Integer(1),
        scratch_steps=Integer(1),
        refine_steps=Integer(1),
        max_chain=Integer(1),
        lr=Real(0.0, low_open=True),
        bootstrap=Boolean(),
        first_weight=Real(0.0, 1.0),
        novelty=Real(0.0, low_open=True, optional=True),
    )
    members: int
    width: int
    refit_every: int
    scratch_steps: int
    refine_steps: int
    max_chain: int
    lr: float
    bootstrap: bool
    first_weight: float
    novelty: float | None

    def __init__(
        self,
        *,
        members: int = 5,
        width: int = 64,
        refit_every: int = 5,
        scratch_steps: int = 300,
        refine_steps: int = 30,
        max_chain: int = 20,
        lr: float = 0.01,
        bootstrap: bool = False,
        first_weight: float = 1.0,
        novelty: float | None = None,
    ) -> None:
        self._set(
            members=members,
            width=width,
            refit_every=refit_every,
            scratch_steps=scratch_steps,
            refine_steps=refine_steps,
            max_chain=max_chain,
            lr=lr,
            bootstrap=bootstrap,
            first_weight=first_weight,
            novelty=novelty,
        )

    def _point_weights(self, data: CurveData, p: int) -> np.ndarray | None:
        """``first_weight`` for the first report of each trial that has reported again among
        the first ``p`` points, 1 elsewhere (None when all are 1)."""
        if self.first_weight == 1.0:
            return None
        counts = np.bincount(data.trial[:p], minlength=len(data.trials))
        first = (data.j[:p] == 0) & (counts[data.trial[:p]] > 1)
        out: np.ndarray = np.where(first, self.first_weight, 1.0)
        return out

    def model(self, data: CurveData, low: float, high: float, patience: int) -> _Model | None:
        from hyperrace.optimizers._parts.surrogate import power_law_net as dpl

        shape = dpl.PowerLawEnsemble(self.members, self.width)
        schedule = Schedule(self.refit_every, self.max_chain, patience, first=1)
        salt = repr((self.name, sorted(self.get_params().items()))).encode()

        def fit(p: int, start: PowerLawState | None) -> PowerLawState:
            used = np.unique(data.trial[:p])
            row = np.searchsorted(used, data.trial[:p])
            t = _budget(data.fidelity[:p], high)
            steps = self.scratch_steps if start is None else self.refine_steps
            weights = None
            if self.bootstrap:
                numbers = np.array([data.trials[i].number for i in used], dtype=np.int64)
                weights = dpl.bootstrap_weights(numbers, self.members)
            return dpl.fit(
                shape,
                data.x[used],
                row,
                t,
                data.losses(p),
                start,
                steps,
                self.lr,
                weights,
                self._point_weights(data, p),
            )

        state, fitted_at, scratch = replay(
            schedule.plan(data.loss[: data.fittable]), lambda p: data.key(p, salt), fit
        )
        if state is None:
            return None
        reported = np.unique(data.trial[np.isfinite(data.loss)])
        seen = data.x[reported]
        spread = 0.0
        if self.novelty is not None and len(seen) > 1:
            final, _ = dpl.predict(state, seen, np.ones(len(seen)))
            spread = float(np.std(final))
        return _Model(state, high, seen, self.novelty, spread, fitted_at, scratch)
