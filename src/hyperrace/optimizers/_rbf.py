"""HORD: DYCORS search on a deterministic cubic RBF surrogate, at full fidelity.

Ilievski, Akhtar, Feng and Shoemaker, "Efficient Hyperparameter Optimization of Deep Learning
Algorithms Using Deterministic RBF Surrogates", AAAI 2017; the candidate search is DYCORS (Regis
and Shoemaker, "Combining radial basis function surrogates and dynamic coordinate search in
high-dimensional expensive black-box optimization", Engineering Optimization 45(5), 2013).

The search runs in *restarts*. Each begins with a Latin hypercube design of ``n_initial`` points
(default ``2(d + 1)``); then every proposal is the best of ``100 d`` candidates made by
perturbing coordinates of the restart's best point (see
:mod:`hyperrace.optimizers._parts.candidates.dycors`), scored by the cubic RBF fitted on the
restart's results and by the distance to every evaluated or running configuration. The step size
sigma (a fraction of the unit range) adapts: halved after ``max(5, d)`` failures in a row, doubled
after 3 successes in a row (never above ``sigma_init``); a result is a success when it beats the
restart's best loss by more than ``1e-3 * |best|``. Once sigma falls below ``sigma_min`` the restart
ends: the next trial opens a new design, and the model and incumbent start afresh.

Nothing is stored: each decision replays the whole schedule (restart boundaries, sigma, counters,
the weight cycle) from the trials in creation order, so a fresh instance decides the same.

* The design's first point is drawn uniformly from the decision's ``rng``; the other points come
  from a generator seeded by that point's unit encoding, so any decision can rebuild the design.
* Trial ``i`` of a restart is design point ``i`` while ``i < n_initial``, whether or not the
  earlier ones have finished. The adaptive phase needs ``min(n_initial, d + 1)`` results in the
  restart: until then it waits for running trials.
* Results are taken in creation order; a running trial counts once it finishes (a trial started
  after it may already have been judged). Failed trials get the worst loss seen.
* The perturbation schedule counts evaluations within the restart: ``n`` is the trial's index in
  it and the budget the ``max_evaluations`` left when the restart began.
* Categorical dimensions are coordinates in [0, 1] split into equal bins, one per choice, decoded
  by :meth:`Categorical.from_unit`; the RBF treats them as ordered. Steps on Int and Categorical
  dimensions are at least one value wide, and candidates are snapped to the values they decode to.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from hyperrace._params import Declared, Integer, ListOf, Real, declare
from hyperrace.exceptions import ConfigurationError
from hyperrace.history import History
from hyperrace.optimizers._base import Decision, Done, Start, Wait
from hyperrace.optimizers._parts.candidates.dycors import (
    dycors_candidates,
    latin_hypercube,
    min_distances,
    perturbation_probability,
    pick_candidate,
)
from hyperrace.optimizers._parts.data.observations import full_fidelity, results
from hyperrace.optimizers._parts.surrogate.rbf import CubicRBF
from hyperrace.optimizers._registry import register
from hyperrace.space import Categorical, Int, Space
from hyperrace.trial import TrialStatus

__all__ = ["RBFDycors", "Schedule", "replay"]

SUCCESS_TOLERANCE = 3


@dataclass(frozen=True)
class Schedule:
    """The adaptive state after replaying a sequence of trials.

    Attributes:
        restart_start: index of the current restart's first trial.
        restarts: how many restarts ended.
        sigma: the current step size (fraction of the unit range).
        counter: > 0: successes in a row; < 0: failures in a row.
        adaptive: adaptive (non-design) trials started so far: the weight cycle's position.
    """

    restart_start: int
    restarts: int
    sigma: float
    counter: int
    adaptive: int


def replay(
    losses: Sequence[float | None], n0: int, d: int, sigma_init: float, sigma_min: float
) -> Schedule:
    """Replay DYCORS's schedule over trial losses in creation order (None: no result yet)."""
    fail_tolerance = max(5, d)
    start, restarts, sigma, counter, adaptive = 0, 0, sigma_init, 0, 0
    best = math.inf
    for i, loss in enumerate(losses):
        design = i - start < n0
        adaptive += not design
        if loss is None:
            continue
        if design or best == math.inf:
            best = min(best, loss)
            continue
        success = loss < best - 1e-3 * abs(best)
        counter = max(1, counter + 1) if success else min(-1, counter - 1)
        best = min(best, loss)
        if counter >= SUCCESS_TOLERANCE:
            sigma, counter = min(2.0 * sigma, sigma_init), 0
        elif counter <= -fail_tolerance:
            sigma, counter = sigma / 2.0, 0
        if sigma < sigma_min:
            start, restarts, sigma, counter, best = i + 1, restarts + 1, sigma_init, 0, math.inf
    return Schedule(start, restarts, sigma, counter, adaptive)


def _rows(history: History, top: float) -> list[str]:
    """Each trial's part in :func:`results`: "e" evaluated, "p" pending (running), "o" neither."""
    kinds = []
    for t in history.trials:
        if t.status is TrialStatus.RUNNING:
            kinds.append("p")
        elif t.status is TrialStatus.FAILED:
            kinds.append("e")
        else:
            reached = t.value_at(top) is not None or bool(t.curve and t.curve[-1].fidelity >= top)
            kinds.append("e" if reached else "o")
    return kinds


def _seed(point: np.ndarray) -> int:
    data = np.ascontiguousarray(point, dtype="<f8").tobytes()
    return int.from_bytes(hashlib.blake2b(data, digest_size=8).digest(), "little")


def _steps(space: Space, best: np.ndarray) -> np.ndarray:
    """The width of one value step around ``best`` on each discrete dimension (0 for Float)."""
    out = np.zeros(len(space))
    for j, dim in enumerate(space.dimensions.values()):
        if isinstance(dim, Categorical):
            out[j] = 1.0 / len(dim.choices)
        elif isinstance(dim, Int):
            k = dim.from_unit(float(best[j]))
            other = k + 1 if k < dim.high else k - 1
            out[j] = abs(dim.to_unit(other) - dim.to_unit(k))
    return out


def _snap(space: Space, points: np.ndarray) -> np.ndarray:
    """Move discrete coordinates to the encoding of the value they decode to.

    Vectorized ``dim.to_unit(dim.from_unit(u))`` for Int and Categorical (Float is left as is).
    """
    out = points.copy()
    for j, dim in enumerate(space.dimensions.values()):
        u = np.clip(points[:, j], 0.0, 1.0)
        if isinstance(dim, Categorical):
            n = len(dim.choices)
            out[:, j] = (np.minimum(np.floor(u * n), n - 1) + 0.5) / n
        elif isinstance(dim, Int):
            low, high = float(dim.low), float(dim.high)
            if dim.log:
                a, b = math.log(low), math.log(high)
                k = np.clip(np.floor(np.exp(a + u * (b - a)) + 0.5), low, high)
                out[:, j] = np.clip((np.log(k) - a) / (b - a), 0.0, 1.0)
            else:
                k = np.clip(np.floor(low + u * (high - low) + 0.5), low, high)
                out[:, j] = (k - low) / (high - low)
    return out


@register
class RBFDycors(Declared):
    """HORD: a cubic RBF surrogate searched by DYCORS, every trial at full fidelity.

    Args:
        max_evaluations: the evaluation budget N of the perturbation schedule; Done after this
            many trials.
        n_initial: points of each Latin hypercube design (``None``: ``2 (d + 1)``).
        sigma_init: the initial (and largest) step size, a fraction of the unit range, in (0, 1].
        sigma_min: a restart begins when the step size falls below this, in (0, sigma_init).
        weights: the cycle of weights on the surrogate score (the rest on distance), in [0, 1].

    Reference: I. Ilievski, T. Akhtar, J. Feng and C. A. Shoemaker, "Efficient Hyperparameter
    Optimization of Deep Learning Algorithms Using Deterministic RBF Surrogates", AAAI 2017;
    R. G. Regis and C. A. Shoemaker, Engineering Optimization 45(5), 2013 (DYCORS).
    """

    name: ClassVar[str] = "rbf_dycors"
    parameters = declare(
        max_evaluations=Integer(1),
        n_initial=Integer(1, optional=True),
        sigma_init=Real(0, 1, low_open=True),
        sigma_min=Real(0, 1, low_open=True),
        weights=ListOf(Real(0, 1)),
    )
    max_evaluations: int
    n_initial: int | None
    sigma_init: float
    sigma_min: float
    weights: tuple[float, ...]

    def __init__(
        self,
        *,
        max_evaluations: int = 200,
        n_initial: int | None = None,
        sigma_init: float = 0.2,
        sigma_min: float = 0.005,
        weights: Sequence[float] = (0.3, 0.5, 0.8, 0.95),
    ) -> None:
        self._set(
            max_evaluations=max_evaluations,
            n_initial=n_initial,
            sigma_init=sigma_init,
            sigma_min=sigma_min,
            weights=weights,
        )
        if self.sigma_min >= self.sigma_init:
            raise ConfigurationError(
                f"sigma_min={sigma_min!r} must be below sigma_init={sigma_init!r}; e.g. 0.005"
            )

    def decide(self, space: Space, history: History, rng: np.random.Generator) -> Decision:
        n_trials = len(history.trials)
        if n_trials >= self.max_evaluations:
            return Done(f"{self.max_evaluations} evaluations were started")
        d, top = len(space), full_fidelity(space)
        n0 = self.n_initial if self.n_initial is not None else 2 * (d + 1)
        res = results(space, history)
        kinds = _rows(history, top)
        if kinds.count("e") != len(res) or kinds.count("p") != len(res.pending):
            raise RuntimeError("rbf_dycors: trial classification disagrees with results()")
        rows = np.cumsum([k == "e" for k in kinds]) - 1
        losses = [
            float(res.losses[r]) if k == "e" else None for k, r in zip(kinds, rows, strict=True)
        ]
        state = replay(losses, n0, d, self.sigma_init, self.sigma_min)
        position = n_trials - state.restart_start
        info: dict[str, Any] = {"restart": state.restarts, "sigma": state.sigma}
        if position == 0:
            return Start(space.from_unit(rng.random(d)), top, {**info, "design": 0})
        if position < n0:
            first = space.to_unit(history.trials[state.restart_start].config)
            design = latin_hypercube(n0, d, np.random.default_rng(_seed(first)), first=first)
            return Start(space.from_unit(design[position]), top, {**info, "design": position})
        s = state.restart_start
        mine = [int(r) for k, r in zip(kinds[s:], rows[s:], strict=True) if k == "e"]
        if len(mine) < min(n0, d + 1):
            if len(res.pending):
                return Wait("rbf_dycors waits for the initial design's results")
            return Start(space.from_unit(rng.random(d)), top, {**info, "fallback": 1})
        x, f = res.x[mine], res.losses[mine]
        best = x[int(np.argmin(f))]
        budget = self.max_evaluations - state.restart_start
        prob = perturbation_probability(position, n0, budget, d)
        candidates = dycors_candidates(best, state.sigma, prob, 100 * d, rng, _steps(space, best))
        candidates = _snap(space, candidates)
        values = CubicRBF(x, f)(candidates)
        distances = min_distances(candidates, np.vstack([res.x, res.pending]))
        weight = self.weights[state.adaptive % len(self.weights)]
        pick = pick_candidate(values, distances, weight, 1e-3 * math.sqrt(d))
        if pick is None:
            return Start(space.from_unit(rng.random(d)), top, {**info, "fallback": 1})
        info.update(weight=weight, probability=prob, predicted=float(values[pick]))
        return Start(space.from_unit(candidates[pick]), top, info)
