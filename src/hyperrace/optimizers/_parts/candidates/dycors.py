"""Candidates by coordinate search (DYCORS): Latin hypercube designs, perturbations of the best
point, and the choice among them by surrogate value and distance.

Everything works in the unit cube [0, 1]^d of :meth:`Space.to_unit` and uses numpy only. The
surrogate that scores the candidates is
:class:`~hyperrace.optimizers._parts.surrogate.rbf.CubicRBF`.

* :func:`latin_hypercube`: one point per stratum [k/n, (k+1)/n) in every dimension.
* :func:`perturbation_probability`, :func:`dycors_candidates` and :func:`pick_candidate`: the
  candidate step of DYCORS (Regis and Shoemaker, Engineering Optimization 45(5), 2013), as used
  by HORD (Ilievski, Akhtar, Feng and Shoemaker, AAAI 2017).
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

from hyperrace.optimizers._parts.candidates.truncated_normal import truncated_normal

__all__ = [
    "distances",
    "dycors_candidates",
    "latin_hypercube",
    "min_distances",
    "perturbation_probability",
    "pick_candidate",
]

Array = npt.NDArray[np.float64]


def distances(a: Array, b: Array) -> Array:
    """Euclidean distances between the rows of ``a`` (m, d) and of ``b`` (n, d): shape (m, n)."""
    sq = np.sum(a * a, axis=1)[:, None] + np.sum(b * b, axis=1)[None, :] - 2.0 * (a @ b.T)
    return np.asarray(np.sqrt(np.maximum(sq, 0.0)), dtype=float)


def min_distances(points: Array, others: Array) -> Array:
    """The distance from each row of ``points`` to its nearest row of ``others`` (inf if none)."""
    if len(others) == 0:
        return np.full(len(points), np.inf)
    return np.asarray(distances(points, others).min(axis=1), dtype=float)


def latin_hypercube(
    n: int, d: int, rng: np.random.Generator, first: npt.ArrayLike | None = None
) -> Array:
    """``n`` points in [0, 1]^d with exactly one in each stratum [k/n, (k+1)/n) per dimension.

    Each point lies uniformly at random in its cell. With ``first`` (a point of the cube), row 0 is
    ``first`` itself and the other rows fill the strata it leaves free.
    """
    out = np.empty((n, d))
    pin = None if first is None else np.clip(np.asarray(first, dtype=float), 0.0, 1.0)
    for j in range(d):
        if pin is None:
            strata = rng.permutation(n)
        else:
            own = min(int(pin[j] * n), n - 1)
            strata = np.concatenate([[own], rng.permutation(np.delete(np.arange(n), own))])
        out[:, j] = (strata + rng.random(n)) / n
    if pin is not None:
        out[0] = pin
    return np.minimum(out, 1.0)


def perturbation_probability(n: int, n0: int, n_max: int, d: int) -> float:
    """DYCORS's probability of perturbing each coordinate at evaluation ``n`` of ``n_max``.

    ``min(20/d, 1) * (1 - ln(n - n0 + 1) / ln(n_max - n0))`` for ``n0`` initial points, floored
    at ``1/d`` (one coordinate on average); the floor also applies when ``n_max - n0 <= 1``.
    """
    floor = min(1.0, 1.0 / d)
    if n_max - n0 <= 1:
        return floor
    shrink = 1.0 - math.log(max(n - n0, 0) + 1.0) / math.log(n_max - n0)
    return max(min(20.0 / d, 1.0) * shrink, floor)


def dycors_candidates(
    best: Array,
    sigma: float,
    prob: float,
    m: int,
    rng: np.random.Generator,
    min_step: Array | None = None,
) -> Array:
    """``m`` copies of ``best`` in which each coordinate is perturbed with probability ``prob``.

    At least one coordinate of every candidate is perturbed (chosen uniformly among all ``d``). A
    perturbation is a normal step of standard deviation ``max(sigma, min_step)`` truncated to
    [0, 1]; ``min_step`` (per dimension) keeps steps on discrete dimensions at least one value.
    """
    d = len(best)
    mask = rng.random((m, d)) < prob
    none = np.flatnonzero(~mask.any(axis=1))
    mask[none, rng.integers(d, size=len(none))] = True
    sd = np.full(d, sigma) if min_step is None else np.maximum(sigma, min_step)
    steps = truncated_normal(best, sd, rng, (m, d))
    return np.where(mask, steps, best[None, :])


def _rescale(v: Array) -> Array:
    span = float(np.max(v) - np.min(v))
    return (v - np.min(v)) / span if span > 0 else np.zeros_like(v)


def pick_candidate(values: Array, distances: Array, weight: float, tol: float) -> int | None:
    """The candidate of least merit ``w * V_s + (1 - w) * (1 - V_d)``, or None if all are too close.

    V_s is the surrogate value and V_d the distance to the nearest evaluated or pending point, both
    rescaled to [0, 1] over the candidates farther than ``tol`` from every such point.
    """
    keep = np.flatnonzero(distances > tol)
    if len(keep) == 0:
        return None
    v_s = _rescale(values[keep])
    v_d = _rescale(np.minimum(distances[keep], np.finfo(float).max))
    merit = weight * v_s + (1.0 - weight) * (1.0 - v_d)
    return int(keep[int(np.argmin(merit))])
