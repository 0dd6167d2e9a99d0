"""A learned cost model: seconds per fidelity step as a function of the hyperparameters.

Every observation carries the processor (and wall) seconds its run spent since the previous
report. Training cost is close to multiplicative in the hyperparameters that set it (batch size,
width, depth): its logarithm is close to linear in their log-scaled values, which is what the
unit-cube encoding already holds. So the model is a ridge regression of ``log(seconds per step)``
on the one-hot unit encoding (:class:`~hyperrace.optimizers._parts.data.onehot.OneHot`), the simple,
low-variance kind of cost model that predicts training time well (ALGORITHMS.md section 6), with
the ridge penalty picked by exact leave-one-out error over ``exp(-4) .. exp(4)``.

One row per trial: the median of its per-step costs, leaving out its first report (data-loader
and compilation warm-up) when it has others. A step is one unit of an epochs or steps fidelity,
or one report for a fidelity in seconds (where what varies is how much training a second buys).
Processor seconds are used where recorded, wall seconds otherwise; failed and unreported trials
give no row.

:meth:`CostModel.effects` says how much each hyperparameter moves the cost across its range:
the expensive ones (batch size, width, depth) against the cheap ones (learning rate, decay).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from hyperrace.history import History
from hyperrace.optimizers._parts.data.onehot import OneHot
from hyperrace.space import Categorical, Space
from hyperrace.trial import Observation, TrialRecord, TrialStatus

__all__ = ["CostModel", "spent_seconds", "step_costs"]

Array = npt.NDArray[np.float64]
_ALPHAS = np.exp(np.arange(-4.0, 4.5, 0.5))
#: The cost floor, so that a zero timing (a clock's resolution) has a finite logarithm.
_FLOOR = 1e-6


def spent_seconds(obs: Observation) -> float:
    """The seconds a report's run spent since its previous report: processor seconds where
    they were measured, wall seconds otherwise."""
    return obs.cpu_seconds if obs.cpu_seconds > 0 else obs.wall_seconds


def step_costs(trial: TrialRecord, integer_fidelity: bool) -> list[float]:
    """The trial's seconds per fidelity step, one per report (see the module docstring)."""
    out: list[float] = []
    previous = 0.0
    for obs in trial.curve:
        seconds = spent_seconds(obs)
        steps = obs.fidelity - previous if integer_fidelity else 1.0
        previous = obs.fidelity
        if steps > 0 and seconds > 0:
            out.append(seconds / steps)
    return out


def _trial_cost(trial: TrialRecord, integer_fidelity: bool) -> float | None:
    if trial.status is TrialStatus.FAILED:
        return None
    costs = step_costs(trial, integer_fidelity)
    if len(costs) > 1:
        costs = costs[1:]
    return float(np.median(costs)) if costs else None


@dataclass(frozen=True)
class CostModel:
    """A fitted model of ``log(seconds per step)``; build it with :meth:`fit`.

    Attributes:
        encoding: the one-hot encoding of the space.
        coef: the weights of the encoded columns.
        intercept: the mean log cost.
        alpha: the ridge penalty chosen by leave-one-out error.
        n: the number of trials it was fitted on.
        residual_sd: the leave-one-out root mean squared error (log seconds).
    """

    encoding: OneHot
    coef: Array
    intercept: float
    alpha: float
    n: int
    residual_sd: float

    @classmethod
    def fit(cls, space: Space, history: History, *, min_trials: int = 3) -> CostModel | None:
        """Fit on every trial of ``history`` with timings; ``None`` with fewer than
        ``min_trials`` of them."""
        integer = space.fidelity is None or space.fidelity.is_integer
        rows: list[Mapping[str, Any]] = []
        ys: list[float] = []
        for trial in history.trials:
            cost = _trial_cost(trial, integer)
            if cost is not None:
                rows.append(trial.config)
                ys.append(math.log(max(cost, _FLOOR)))
        if len(rows) < max(min_trials, 2):
            return None
        encoding = OneHot(space)
        x = np.array([encoding.encode(r) for r in rows], dtype=np.float64)
        return cls._solve(encoding, x, np.array(ys))

    @classmethod
    def _solve(cls, encoding: OneHot, x: Array, y: Array) -> CostModel:
        x_mean, y_mean = x.mean(axis=0), float(y.mean())
        xc, yc = x - x_mean, y - y_mean
        best: tuple[float, float, Array] | None = None
        u, s, vt = np.linalg.svd(xc, full_matrices=False)
        uy = u.T @ yc
        for alpha in _ALPHAS:
            shrink = s / (s**2 + alpha)
            coef = vt.T @ (shrink * uy)
            # the hat matrix of ridge on centred data, plus 1/n for the intercept
            hat = np.einsum("ij,j,ij->i", u, s**2 / (s**2 + alpha), u) + 1.0 / len(y)
            residual = (yc - xc @ coef) / np.maximum(1.0 - hat, 1e-9)
            error = float(np.mean(residual**2))
            if best is None or error < best[0] - 1e-12:
                best = (error, float(alpha), coef)
        assert best is not None
        error, alpha, coef = best
        intercept = y_mean - float(x_mean @ coef)
        return cls(encoding, coef, intercept, alpha, len(y), math.sqrt(error))

    def predict(self, configs: Iterable[Mapping[str, Any]]) -> Array:
        """Predicted seconds per step of each config."""
        x = np.array([self.encoding.encode(c) for c in configs], dtype=np.float64)
        if x.size == 0:
            return np.zeros(0)
        return np.exp(self.intercept + x @ self.coef)

    def effects(self) -> dict[str, float]:
        """Per hyperparameter, how much the log cost moves across its range: the coefficient of
        a numeric one (from its low end to its high end, signed), the spread between the
        cheapest and dearest choice of a categorical one (>= 0)."""
        out: dict[str, float] = {}
        space = self.encoding.space
        for name, block in zip(space.names, self.encoding.slices, strict=True):
            weights = self.coef[block]
            if isinstance(space[name], Categorical):
                out[name] = float(weights.max() - weights.min())
            else:
                out[name] = float(weights[0])
        return out

    def expensive(self, factor: float = 1.5) -> dict[str, float]:
        """The hyperparameters that change the cost of a step by more than ``factor`` across
        their range, with their effect (see :meth:`effects`)."""
        threshold = math.log(factor)
        return {n: e for n, e in self.effects().items() if abs(e) > threshold}

    def cheapest_choice(self, name: str) -> Any:
        """The choice of categorical ``name`` with the lowest predicted cost."""
        dim = self.encoding.space[name]
        if not isinstance(dim, Categorical):
            raise TypeError(f"{name!r} is not categorical")
        block = self.encoding.slices[self.encoding.space.names.index(name)]
        return dim.choices[int(np.argmin(self.coef[block]))]
