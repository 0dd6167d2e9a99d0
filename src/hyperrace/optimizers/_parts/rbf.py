"""DYCORS's pieces: a cubic RBF surrogate, Latin hypercube designs, and candidate search.

Everything works in the unit cube [0, 1]^d of :meth:`Space.to_unit` and uses numpy only.

* :class:`CubicRBF`: s(x) = sum_i lam_i |x - x_i|^3 + c0 + c.x, the interpolant of the data
  (the cubic kernel is conditionally positive definite of order 2, hence the linear tail). Fitted
  by solving the saddle system [[Phi, P], [P^T, 0]] [lam; c] = [f; 0] with P = [1, X].
* :func:`latin_hypercube`: one point per stratum [k/n, (k+1)/n) in every dimension.
* :func:`perturbation_probability`, :func:`dycors_candidates` and :func:`pick_candidate`: the
  candidate step of DYCORS (Regis and Shoemaker, Engineering Optimization 45(5), 2013), as used
  by HORD (Ilievski, Akhtar, Feng and Shoemaker, AAAI 2017).
"""

from __future__ import annotations

import contextlib
import math

import numpy as np
import numpy.typing as npt

__all__ = [
    "CubicRBF",
    "dycors_candidates",
    "latin_hypercube",
    "min_distances",
    "perturbation_probability",
    "pick_candidate",
    "truncated_normal",
]

Array = npt.NDArray[np.float64]


def _distances(a: Array, b: Array) -> Array:
    """Euclidean distances between the rows of ``a`` (m, d) and of ``b`` (n, d): shape (m, n)."""
    sq = np.sum(a * a, axis=1)[:, None] + np.sum(b * b, axis=1)[None, :] - 2.0 * (a @ b.T)
    return np.asarray(np.sqrt(np.maximum(sq, 0.0)), dtype=float)


def min_distances(points: Array, others: Array) -> Array:
    """The distance from each row of ``points`` to its nearest row of ``others`` (inf if none)."""
    if len(others) == 0:
        return np.full(len(points), np.inf)
    return np.asarray(_distances(points, others).min(axis=1), dtype=float)


class CubicRBF:
    """The cubic radial basis function interpolant with a linear tail, fitted on (x, f) pairs.

    Duplicate rows are merged (their values averaged) so that the system stays regular. The
    system is solved exactly; if it is singular (for example, points on a hyperplane leave the
    tail undetermined), a tiny ridge ``eta`` is added to Phi's diagonal and the least-squares
    solution of minimum norm is taken. The tail is centred on the points' mean, so that with too
    few points it leans to a constant rather than to a slope.
    """

    def __init__(self, x: npt.ArrayLike, f: npt.ArrayLike, *, eta: float = 1e-8) -> None:
        x = np.atleast_2d(np.asarray(x, dtype=float))
        f = np.asarray(f, dtype=float).ravel()
        if len(x) != len(f) or len(x) == 0:
            raise ValueError(f"need as many values as points (>= 1), got {len(x)} and {len(f)}")
        x, inverse = np.unique(x, axis=0, return_inverse=True)
        f = np.bincount(inverse.ravel(), weights=f) / np.bincount(inverse.ravel())
        n, d = x.shape
        self.centers = x
        self.shift = x.mean(axis=0)  # a centred tail: when underdetermined, prefer a constant
        phi = _distances(x, x) ** 3
        p = np.hstack([np.ones((n, 1)), x - self.shift])
        a = np.block([[phi, p], [p.T, np.zeros((d + 1, d + 1))]])
        rhs = np.concatenate([f, np.zeros(d + 1)])
        coef = self._solve(a, rhs, n, eta)
        self.lam = coef[:n]
        self.tail = coef[n:]

    @staticmethod
    def _solve(a: Array, rhs: Array, n: int, eta: float) -> Array:
        scale = float(np.max(np.abs(rhs))) + 1.0
        with contextlib.suppress(np.linalg.LinAlgError):  # singular: regularise below
            coef = np.linalg.solve(a, rhs)
            if np.all(np.isfinite(coef)) and np.max(np.abs(a @ coef - rhs)) <= 1e-8 * scale:
                return np.asarray(coef, dtype=float)
        reg = a.copy()
        reg[np.arange(n), np.arange(n)] += eta * (1.0 + float(np.max(np.abs(a[:n, :n]))))
        return np.asarray(np.linalg.lstsq(reg, rhs, rcond=None)[0], dtype=float)

    def __call__(self, y: npt.ArrayLike) -> Array:
        """The interpolant at the rows of ``y`` (shape (m, d)); shape (m,)."""
        y = np.atleast_2d(np.asarray(y, dtype=float))
        kernel = _distances(y, self.centers) ** 3
        linear = (y - self.shift) @ self.tail[1:]
        return np.asarray(kernel @ self.lam + self.tail[0] + linear, dtype=float)


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


def truncated_normal(
    mean: npt.ArrayLike, sd: npt.ArrayLike, rng: np.random.Generator, shape: tuple[int, ...]
) -> Array:
    """Normal draws of ``shape`` truncated to [0, 1], by rejection (``mean`` lies in [0, 1])."""
    mu = np.broadcast_to(np.asarray(mean, dtype=float), shape)
    s = np.broadcast_to(np.asarray(sd, dtype=float), shape)
    out = mu + s * rng.standard_normal(shape)
    for _ in range(200):
        bad = (out < 0.0) | (out > 1.0)
        if not bad.any():
            break
        out[bad] = mu[bad] + s[bad] * rng.standard_normal(int(bad.sum()))
    return np.clip(out, 0.0, 1.0)


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
