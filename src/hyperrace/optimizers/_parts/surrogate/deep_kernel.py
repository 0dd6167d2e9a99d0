"""DyHPO's deep-kernel GP as a race surrogate.

:class:`DeepKernel` is the :class:`~hyperrace.optimizers._parts.surrogate.base.Surrogate` around
:mod:`~hyperrace.optimizers._parts.surrogate.deep_kernel_gp` (imported on the first fit, with
torch). A point is (configuration, budget ``(b - low) / (high - low)``, the curve reported before
``b``, the loss at ``b``); a query continues its trial's curve (a fresh configuration has an empty
one).

**Cost.** A fit and a prediction condition the GP on at most ``max_points`` points (cubic in
them). When there are more, the data are thinned: every trial's latest point first, then the
points of the most advanced trials (highest fidelity, then best loss), newest first. Fits follow
:mod:`~hyperrace.optimizers._parts.surrogate.fit_chain` (every ``refit_every`` points, from scratch
with ``scratch_steps`` Adam steps or continued with ``refine_steps``); between fit points the last
fit's weights are conditioned on the current data.

Reference: M. Wistuba, A. Kadra and J. Grabocka, "Supervising the Multi-Fidelity Race of
Hyperparameter Configurations", NeurIPS 2022.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

import numpy as np
import numpy.typing as npt

from hyperrace._params import Declared, Integer, Real, declare
from hyperrace.optimizers._parts.data.curve_data import CurveData
from hyperrace.optimizers._parts.surrogate.base import Gaussian, Queries
from hyperrace.optimizers._parts.surrogate.fit_chain import FitFailed, Schedule, replay

if TYPE_CHECKING:
    from hyperrace.optimizers._parts.surrogate.deep_kernel_gp import Points, State

__all__ = ["DeepKernel", "curves", "thin"]

Array = npt.NDArray[np.float64]
#: Curves longer than this enter the model as their last _WINDOW values.
_WINDOW = 64


def thin(data: CurveData, p: int, cap: int, budget: Array) -> npt.NDArray[np.int64]:
    """Indices (sorted) of at most ``cap`` of the first ``p`` points: each trial's latest point
    first, then the points of the most advanced trials (highest budget, then best loss), newest
    first."""
    if p <= cap:
        return np.arange(p)
    trial, reach_of, loss = data.trial[:p], budget[:p], data.loss[:p]
    reach = np.zeros(len(data.trials))
    best = np.full(len(data.trials), np.inf)
    np.maximum.at(reach, trial, reach_of)
    np.minimum.at(best, trial, np.where(np.isfinite(loss), loss, np.inf))
    latest = np.zeros(p, dtype=bool)
    last_of: dict[int, int] = {}
    for i, t in enumerate(trial):
        last_of[int(t)] = i
    latest[list(last_of.values())] = True
    # sort keys, most important first: latest, trial reach (desc), trial best (asc), newer first
    order = np.lexsort((-np.arange(p), best[trial], -reach[trial], ~latest))
    return np.sort(order[:cap])


def curves(rows: Sequence[Array]) -> tuple[Array, npt.NDArray[np.int64]]:
    """Curves as a right-padded matrix of their last :data:`_WINDOW` values, and their lengths."""
    tails = [r[-_WINDOW:] for r in rows]
    lengths = np.array([len(r) for r in tails], dtype=np.int64)
    out = np.zeros((len(tails), max(1, int(lengths.max(initial=0)))), dtype=np.float64)
    for i, r in enumerate(tails):
        out[i, : len(r)] = r
    return out, lengths


def _budget(fidelity: Array, low: float, high: float) -> Array:
    span = high - low
    out: Array = (
        (np.asarray(fidelity, dtype=np.float64) - low) / span
        if span > 0
        else np.ones(len(fidelity))
    )
    return out


def _points(data: CurveData, p: int, cap: int, low: float, high: float) -> Points:
    """The training set from the first ``p`` points (thinned to ``cap``); failure points at the
    worst loss among them."""
    from hyperrace.optimizers._parts.surrogate.deep_kernel_gp import Points

    budget = _budget(data.fidelity, low, high)
    idx = thin(data, p, cap, budget)
    y = data.losses(p)[idx]
    rows, lengths = curves([data.curves[data.trial[i]][: data.j[i]] for i in idx])
    return Points(data.x[data.trial[idx]], budget[idx], rows, lengths, y)


@dataclass(frozen=True)
class _Model:
    state: State
    train: Points
    data: CurveData
    low: float
    high: float
    fitted_at: int = 0  # the fit point of the state
    scratch: bool = False  # whether that fit was from scratch

    def predict(self, queries: Queries) -> Gaussian:
        from hyperrace.optimizers._parts.surrogate import deep_kernel_gp as dk

        rows, lengths = curves(
            [self.data.curves[i] if i >= 0 else np.zeros(0) for i in queries.trial]
        )
        test = dk.Points(
            queries.x, _budget(queries.fidelity, self.low, self.high), rows, lengths, np.zeros(0)
        )
        try:
            pred = dk.predict(self.state, self.train, test)
        except dk.FitError as exc:
            raise FitFailed(str(exc)) from exc
        return Gaussian(pred.mean, pred.std)


class DeepKernel(Declared):
    """DyHPO's deep-kernel GP surrogate (see the module docstring).

    Args:
        max_points: the most data points the GP is fitted and conditioned on (>= 8).
        refit_every: refit network and GP every this many new data points (>= 1).
        scratch_steps: Adam steps of a fit from scratch (>= 1).
        refine_steps: Adam steps of a warm-started fit (>= 1).
        max_chain: warm starts in a row before a fit from scratch (>= 1).
        lr: Adam's learning rate, on standardized targets (> 0).
    """

    name: ClassVar[str] = "deep_kernel"
    parameters = declare(
        max_points=Integer(8),
        refit_every=Integer(1),
        scratch_steps=Integer(1),
        refine_steps=Integer(1),
        max_chain=Integer(1),
        lr=Real(0.0, low_open=True),
    )
    max_points: int
    refit_every: int
    scratch_steps: int
    refine_steps: int
    max_chain: int
    lr: float

    def __init__(
        self,
        *,
        max_points: int = 128,
        refit_every: int = 5,
        scratch_steps: int = 200,
        refine_steps: int = 20,
        max_chain: int = 20,
        lr: float = 0.01,
    ) -> None:
        self._set(
            max_points=max_points,
            refit_every=refit_every,
            scratch_steps=scratch_steps,
            refine_steps=refine_steps,
            max_chain=max_chain,
            lr=lr,
        )

    def model(self, data: CurveData, low: float, high: float, patience: int) -> _Model | None:
        from hyperrace.optimizers._parts.surrogate import deep_kernel_gp as dk

        if len(data) < 2:
            return None
        schedule = Schedule(self.refit_every, self.max_chain, patience, first=2)
        salt = repr((self.name, sorted(self.get_params().items()))).encode()

        def fit(p: int, start: State | None) -> State:
            points = _points(data, p, self.max_points, low, high)
            steps = self.scratch_steps if start is None else self.refine_steps
            try:
                return dk.fit(points, start, steps, self.lr)
            except dk.FitError as exc:
                raise FitFailed(str(exc)) from exc

        state, fitted_at, scratch = replay(
            schedule.plan(data.loss[: data.fittable]), lambda p: data.key(p, salt), fit
        )
        if state is None:
            return None
        train = _points(data, len(data), self.max_points, low, high)
        return _Model(state, train, data, low, high, fitted_at, scratch)
