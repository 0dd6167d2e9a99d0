"""The race's surrogate role: learn from every observation, predict a loss distribution at
(candidate, budget).

Contract
--------
A surrogate is built from keyword parameters (JSON values, reported by ``get_params``) and has
one method, ``model(data, low, high, patience) -> Model | None``:

* ``data`` is a :class:`~hyperrace.optimizers._parts.data.curve_data.CurveData`: every report of
  every trial in canonical order, failures included;
* the model must be a deterministic function of ``data`` (and the parameters): a fresh instance
  given the same data returns the same predictions bit for bit (fits go through
  :mod:`~hyperrace.optimizers._parts.surrogate.fit_chain`, memoized in the process);
* it returns None when it cannot fit yet (too little data, a failed fit): the race then falls
  back to its prior;
* ``Model.predict(queries)`` returns a :class:`Gaussian` (or any object with the same methods,
  ``log_density`` among them) for a batch of queries: the loss (lower is better) of each query's
  configuration at its budget, the query's trial curve known where it has one;
* a model may say which fit it uses (``fitted_at``, the number of points it was fitted on, and
  ``scratch``, whether that fit started from scratch): the race records them with a decision.

Implementations: :class:`~hyperrace.optimizers._parts.surrogate.power_laws.PowerLaws` (DPL),
:class:`~hyperrace.optimizers._parts.surrogate.deep_kernel.DeepKernel` (DyHPO's deep-kernel GP),
and :class:`~hyperrace.optimizers._parts.surrogate.pfn.PFN` (an in-context transformer, never
fit; its predictions are bar distributions with the same methods).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, ClassVar, Protocol

import numpy as np
import numpy.typing as npt

from hyperrace.optimizers._parts.data.curve_data import CurveData

__all__ = ["Gaussian", "Model", "Queries", "Surrogate"]

Array = npt.NDArray[np.float64]


@dataclass(frozen=True)
class Queries:
    """What to predict: configuration ``x[i]`` at fidelity ``fidelity[i]``.

    Attributes:
        x: encoded configurations, shape (m, width).
        fidelity: the budget of each query, in fidelity units, shape (m,).
        trial: per query, the index in ``data.trials`` of the trial it continues, or -1 for a
            configuration that has no trial yet, shape (m,).
    """

    x: Array
    fidelity: Array
    trial: npt.NDArray[np.int64]

    def __len__(self) -> int:
        return len(self.fidelity)


@dataclass(frozen=True)
class Gaussian:
    """Independent normal predictive distributions of losses.

    Attributes:
        mean: shape (m,).
        std: shape (m,), >= 0.
    """

    mean: Array
    std: Array

    def prob_below(self, threshold: Array | float) -> Array:
        """P(loss <= threshold) per query (1 or 0 where std is 0)."""
        from scipy.special import ndtr  # the bo extra brings scipy, as every surrogate needs it

        gap = np.asarray(threshold, dtype=np.float64) - self.mean
        safe = np.maximum(self.std, 1e-300)
        out: Array = np.where(self.std > 0, ndtr(gap / safe), (gap >= 0).astype(np.float64))
        return out

    def log_prob_below(self, threshold: Array | float) -> Array:
        """log P(loss <= threshold) per query: exact far in the tails, where P underflows to 0
        (so candidates stay ranked); 0 or -inf where std is 0."""
        from scipy.special import log_ndtr

        gap = np.asarray(threshold, dtype=np.float64) - self.mean
        safe = np.maximum(self.std, 1e-300)
        out: Array = np.where(self.std > 0, log_ndtr(gap / safe), np.where(gap >= 0, 0.0, -np.inf))
        return out

    def log_density(self, loss: Array) -> Array:
        """The log-density of each query's ``loss`` (one per query); a standard deviation of 0
        counts as 1e-12."""
        from scipy.stats import norm

        out: Array = norm.logpdf(loss, self.mean, np.maximum(self.std, 1e-12))
        return out

    def expected_improvement(self, threshold: Array | float) -> Array:
        """E[max(threshold - loss, 0)] per query: ``gap * Phi(z) + std * phi(z)``, ``z = gap /
        std``, and ``max(gap, 0)`` where std is 0."""
        from scipy.special import ndtr

        gap = np.asarray(threshold, dtype=np.float64) - self.mean
        safe = np.maximum(self.std, 1e-300)
        z = np.clip(gap / safe, -1e10, 1e10)  # std 0 is handled below; no overflow meanwhile
        density = np.exp(-0.5 * z**2) / math.sqrt(2 * math.pi)
        ei = gap * ndtr(z) + self.std * density
        out: Array = np.maximum(np.where(self.std > 0, ei, np.maximum(gap, 0.0)), 0.0)
        return out


class Model(Protocol):
    """A fitted surrogate."""

    def predict(self, queries: Queries) -> Gaussian:
        """The loss distribution of each query."""
        ...


class Surrogate(Protocol):
    """Builds models from curve data. See the module docstring."""

    name: ClassVar[str]

    def model(self, data: CurveData, low: float, high: float, patience: int) -> Model | None:
        """A model of ``data`` (fidelities in ``[low, high]``); ``patience`` is the race's
        restart rule (refit from scratch after that many points without a new best)."""
        ...

    def get_params(self) -> dict[str, Any]:
        """The keyword arguments that rebuild this surrogate (JSON values)."""
        ...
