"""TPE's Parzen estimators over unit-cube rows, and its good/bad split.

Bergstra, Bardenet, Bengio and Kégl, NeurIPS 2011; defaults after Watanabe, "Tree-structured
Parzen estimator: understanding its algorithm components", 2023. Rows come from
:meth:`Space.to_unit`, so a log-scaled dimension is modelled in log space, and a categorical
column holds the bin centre ``(i + 0.5) / c`` of choice ``i``.

An estimator over N rows is a mixture of N + 1 components: a *prior* component of weight
``prior_weight`` (uniform on [0, 1] for a numeric column, uniform over the choices for a
categorical one) and one component of weight 1 per row. A row's component is, per numeric column,
a Gaussian at the row's value truncated to [0, 1] (renormalised, so every component integrates to
1 there), and per categorical column a point mass on the row's choice; the prior's weight is what
smooths a categorical distribution: ``p(k) = (count(k) + prior_weight / c) / (N + prior_weight)``.

Bandwidths (both modes), per numeric column: the larger distance from a value to its neighbours
among the sorted values, where 0 and 1 bound the list; but the lowest and the highest value (when
there are two or more) take the distance to their inner neighbour only, so that a point near an
end of the cube is not widened by the empty stretch beyond it. Then the "magic clip" into
``[1 / min(100, N + 2), 1]`` (N + 1 kernels counting the prior).

* univariate (the paper's TPE): the density is the product over columns of one such mixture per
  column;
* multivariate (Falkner, Klein and Hutter, ICML 2018; Optuna's default): one mixture of product
  kernels, a row's component covering every column at once, so that the estimator sees how good
  values of different hyperparameters go together. :meth:`ParzenEstimator.sample_marginals`
  draws from its marginals instead (a component per column), recombining good values of
  different rows.

Conditional hyperparameters: ``active`` (N, d) marks the cells that were active in each row (an
inactive one holds a fixed coordinate, not a value). A column's bandwidths use its active values
only; in the univariate model an inactive cell is left out of its column's mixture, in the
multivariate one its row's component is the prior in that column. A point scored with
``active`` (m, d) counts its active columns only, and draws from a component whose cell is
inactive come from the prior.
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

from hyperrace.optimizers._parts.candidates.truncated_normal import truncated_normal

__all__ = ["ParzenEstimator", "good_count", "neighbour_bandwidths", "split_good_bad"]

Array = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
_LOG_SQRT_2PI = 0.5 * math.log(2.0 * math.pi)
_ERF = np.frompyfunc(math.erf, 1, 1)


def _normal_cdf(z: Array) -> Array:
    erf = np.asarray(_ERF(z / math.sqrt(2.0)), dtype=np.float64)
    out: Array = 0.5 * (1.0 + erf)
    return out


def good_count(n: int, gamma: float, max_good: int) -> int:
    """gamma(n) = min(ceil(gamma * n), max_good): how many of n observations are good."""
    return min(math.ceil(round(gamma * n, 9)), max_good)  # round: 0.1 * 30 is 3.0000000000000004


def split_good_bad(
    losses: npt.ArrayLike, failed: npt.ArrayLike, gamma: float, max_good: int
) -> tuple[IntArray, IntArray]:
    """Row indices (good, bad): the :func:`good_count` lowest losses among the successful rows
    (ties by position) are good, every other row (failed ones included) is bad."""
    y = np.asarray(losses, dtype=np.float64).ravel()
    bad_run = np.asarray(failed, dtype=np.bool_).ravel()
    n_good = min(good_count(y.size, gamma, max_good), int(np.sum(~bad_run)))
    order = np.lexsort((y, bad_run)).astype(np.int64)  # successes first, each by loss, stable
    return order[:n_good], order[n_good:]


def neighbour_bandwidths(column: npt.ArrayLike) -> Array:
    """Per value in [0, 1]: the larger gap to its sorted neighbours (0 and 1 bound the list),
    the lowest and highest value taking their inner gap only when there are two or more values,
    magic-clipped into ``[1 / min(100, N + 2), 1]``."""
    v = np.asarray(column, dtype=np.float64).ravel()
    n = v.size
    order = np.argsort(v, kind="stable")
    bounded = np.concatenate(([0.0], v[order], [1.0]))
    gaps = np.diff(bounded)
    width = np.maximum(gaps[:-1], gaps[1:])
    if n >= 2:
        width[0], width[-1] = gaps[1], gaps[-2]
    out = np.empty(n)
    out[order] = width
    return np.clip(out, 1.0 / min(100, n + 2), 1.0)


def _codes(column: Array, n_choices: int) -> IntArray:
    return np.clip(np.floor(column * n_choices), 0, n_choices - 1).astype(np.int64)


def _logsumexp(a: Array, axis: int) -> Array:
    top = np.max(a, axis=axis, keepdims=True)  # finite: the prior component always is
    out: Array = np.log(np.sum(np.exp(a - top), axis=axis)) + np.squeeze(top, axis=axis)
    return out


class ParzenEstimator:
    """The mixture described in the module docstring over (N, d) unit rows ``data`` (N may be
    0: then it is the prior alone). ``n_choices[j]`` is the number of choices of categorical
    column j and 0 for a numeric one; ``active`` (N, d) marks active cells (default: all)."""

    def __init__(
        self,
        data: npt.ArrayLike,
        n_choices: npt.ArrayLike,
        prior_weight: float = 1.0,
        multivariate: bool = False,
        active: npt.ArrayLike | None = None,
    ) -> None:
        self.n_choices = np.asarray(n_choices, dtype=np.int64).ravel()
        d = self.n_choices.size
        self.data = x = np.asarray(data, dtype=np.float64).reshape(-1, d)
        n = x.shape[0]
        self.active = (
            np.ones((n, d), dtype=np.bool_)
            if active is None
            else np.asarray(active, dtype=np.bool_).reshape(n, d)
        )
        self.multivariate = multivariate
        self.codes = np.zeros((n, d), dtype=np.int64)
        self.sigma = np.ones((n, d))
        numeric = self.n_choices == 0
        for j in range(d):
            on = self.active[:, j]
            if not numeric[j]:
                self.codes[:, j] = _codes(x[:, j], int(self.n_choices[j]))
            elif on.any():
                self.sigma[on, j] = neighbour_bandwidths(x[on, j])
        mass = _normal_cdf((1.0 - x) / self.sigma) - _normal_cdf(-x / self.sigma)
        self.log_mass = np.log(np.where(numeric, mass, 1.0))  # mass >= 0.34: mu in [0,1], h <= 1
        # per column, the weights of (prior, row 1, ..., row N); inactive cells weigh 0 there in
        # the univariate model
        weights = np.ones((d, n + 1))
        weights[:, 0] = prior_weight
        if not multivariate:
            weights[:, 1:] = self.active.T
        self.weights: Array = weights / weights.sum(axis=1, keepdims=True)

    def log_kernels(self, points: npt.ArrayLike) -> Array:
        """Log of every component's kernel, per column, at (m, d) ``points``: (m, d, N + 1); a
        component's kernel in a column where its row is inactive is the prior's."""
        p = np.clip(np.atleast_2d(np.asarray(points, dtype=np.float64)), 0.0, 1.0)
        m, (n, d) = p.shape[0], self.data.shape
        out = np.empty((m, d, n + 1))
        for j in range(d):
            c = int(self.n_choices[j])
            if c:
                out[:, j, 0] = -math.log(c)
                same = _codes(p[:, j], c)[:, None] == self.codes[None, :, j]
                out[:, j, 1:] = np.where(same, 0.0, -np.inf)
            else:
                out[:, j, 0] = 0.0
                z = (p[:, j, None] - self.data[None, :, j]) / self.sigma[None, :, j]
                norm = np.log(self.sigma[:, j]) + self.log_mass[:, j] + _LOG_SQRT_2PI
                out[:, j, 1:] = -0.5 * z * z - norm[None, :]
            off = ~self.active[:, j]
            if off.any():
                out[:, j, 1:][:, off] = out[:, j, :1]
        return out

    def logpdf_columns(self, points: npt.ArrayLike) -> Array:
        """Per-column log densities of the univariate model, shape (m, d) (a probability for a
        categorical column, a density on [0, 1] for a numeric one)."""
        with np.errstate(divide="ignore"):
            log_w = np.log(self.weights)
        return _logsumexp(self.log_kernels(points) + log_w[None], axis=2)

    def logpdf(self, points: npt.ArrayLike, active: npt.ArrayLike | None = None) -> Array:
        """Log density at each row of (m, d) ``points`` (clipped into [0, 1]), over the columns
        ``active`` (m, d) marks (default: all); shape (m,)."""
        p = np.atleast_2d(np.asarray(points, dtype=np.float64))
        on = np.ones(p.shape, dtype=np.bool_) if active is None else np.asarray(active, bool)
        if not self.multivariate:
            out: Array = np.where(on, self.logpdf_columns(p), 0.0).sum(axis=1)
            return out
        kernels = np.where(on[:, :, None], self.log_kernels(p), 0.0)
        joint = kernels.sum(axis=1) + np.log(self.weights[0])
        return _logsumexp(joint, axis=1)

    def sample(self, rng: np.random.Generator, size: int) -> Array:
        """``size`` draws, shape (size, d): a component per column (univariate) or per draw
        (multivariate), then a value from its kernel (from the prior's where the component's
        row is inactive); categorical values are bin centres."""
        n, d = self.data.shape
        if not self.multivariate:
            return self.sample_marginals(rng, size)
        comp = np.broadcast_to(rng.choice(n + 1, size=(size, 1), p=self.weights[0]), (size, d))
        return self._draw(rng, comp)

    def sample_marginals(self, rng: np.random.Generator, size: int) -> Array:
        """``size`` draws with a component chosen per column: values of different rows
        recombined (what :meth:`sample` draws for the univariate model)."""
        comp = np.column_stack([rng.choice(len(w), size=size, p=w) for w in self.weights])
        return self._draw(rng, comp.reshape(size, -1))

    def _draw(self, rng: np.random.Generator, comp: IntArray) -> Array:
        size, d = comp.shape
        out = np.empty((size, d))
        for j in range(d):
            row = comp[:, j] - 1  # -1: the prior
            own = row >= 0
            own[own] = self.active[row[own], j]
            c = int(self.n_choices[j])
            if c:
                code = np.asarray(rng.integers(c, size=size), dtype=np.int64)
                code[own] = self.codes[row[own], j]
                out[:, j] = (code + 0.5) / c
            else:
                out[:, j] = rng.random(size)
                mean, sd = self.data[row[own], j], self.sigma[row[own], j]
                out[own, j] = truncated_normal(mean, sd, rng)
        return out
