"""A cubic radial basis function surrogate (HORD's), in the unit cube, with numpy only.

:class:`CubicRBF`: s(x) = sum_i lam_i |x - x_i|^3 + c0 + c.x, the interpolant of the data (the
cubic kernel is conditionally positive definite of order 2, hence the linear tail). Fitted by
solving the saddle system [[Phi, P], [P^T, 0]] [lam; c] = [f; 0] with P = [1, X].

Reference: I. Ilievski, T. Akhtar, J. Feng and C. A. Shoemaker, "Efficient Hyperparameter
Optimization of Deep Learning Algorithms Using Deterministic RBF Surrogates", AAAI 2017.
"""

from __future__ import annotations

import contextlib

import numpy as np
import numpy.typing as npt

from hyperrace.optimizers._parts.candidates.dycors import distances

__all__ = ["CubicRBF"]

Array = npt.NDArray[np.float64]


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
        phi = distances(x, x) ** 3
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
        kernel = distances(y, self.centers) ** 3
        linear = (y - self.shift) @ self.tail[1:]
        return np.asarray(kernel @ self.lam + self.tail[0] + linear, dtype=float)
