"""BOHB's model: product kernel density estimators l (good) and g (bad) over unit vectors.

Falkner, Klein and Hutter, ICML 2018; defaults as in their reference code. Rows come from
:meth:`Space.to_unit` (a categorical column holds the bin centre ``(i + 0.5) / n``). Bandwidths,
with N rows of d columns and Scott's factor ``f = 1.06 * N ** (-1 / (4 + d))``:

* continuous (Float, Int) column, Gaussian kernel: ``h = max(f * std, min_bandwidth)`` (std with
  ddof=0; statsmodels' "normal_reference");
* categorical column of c choices, Aitchison-Aitken kernel (weight ``1 - lam`` on the datum's
  choice, ``lam / (c - 1)`` on each other): the same rule on the choice indices, clipped,
  ``lam = min(max(f * std(indices), min_bandwidth), (c - 1) / c)``; the upper clip (the uniform
  kernel) keeps the datum's own choice the likeliest, which the unclipped rule does not.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, fields
from typing import Any

import numpy as np
import numpy.typing as npt

from hyperrace._params import Integer, Real, declare, validate
from hyperrace.history import History
from hyperrace.optimizers._parts.candidates.truncated_normal import truncated_normal
from hyperrace.optimizers._parts.schedule.rungs import loss_at, report_at
from hyperrace.space import Categorical, Space
from hyperrace.trial import TrialRecord, TrialStatus

__all__ = [
    "BOHB_PARAMETERS",
    "BOHBParams",
    "KDEModel",
    "ProductKDE",
    "bohb_model_for",
    "bohb_sample",
    "categorical_layout",
    "split_good_bad",
]

ArrayLike = npt.ArrayLike
Array = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]
_DENSITY_FLOOR = 1e-32
_LOG_SQRT_2PI = 0.5 * math.log(2.0 * math.pi)


#: BOHB's model and sampling parameters, each with what it accepts.
BOHB_PARAMETERS = declare(
    min_points_in_model=Integer(
        1, optional=True, note="None means d + 1; smaller values are raised to d + 1"
    ),
    top_n_percent=Real(0, 100, low_open=True, high_open=True),
    num_samples=Integer(1),
    random_fraction=Real(0, 1),
    bandwidth_factor=Real(0, low_open=True),
    min_bandwidth=Real(0, low_open=True),
)


@dataclass(frozen=True, slots=True)
class BOHBParams:
    """BOHB's model and sampling parameters (defaults: the paper's reference code).

    ``min_points_in_model`` None means ``d + 1``; smaller values are raised to ``d + 1``.
    """

    min_points_in_model: int | None = None
    top_n_percent: float = 15.0
    num_samples: int = 64
    random_fraction: float = 1 / 3
    bandwidth_factor: float = 3.0
    min_bandwidth: float = 1e-3

    def __post_init__(self) -> None:
        defaults = {f.name: f.default for f in fields(self)}
        for name, value in validate("BOHB", BOHB_PARAMETERS, asdict(self), defaults).items():
            object.__setattr__(self, name, value)

    def n_min(self, d: int) -> int:
        """Observations a model needs at least, for ``d`` hyperparameters."""
        return max(d + 1, self.min_points_in_model or 0)

    def to_dict(self) -> dict[str, Any]:
        """The parameters as a plain dict (for ``get_params``)."""
        return asdict(self)


def categorical_layout(space: Space) -> tuple[BoolArray, IntArray]:
    """Per unit column of ``space``: is it categorical, and its number of choices (0 if not)."""
    dims = list(space.dimensions.values())
    mask = np.array([isinstance(d, Categorical) for d in dims], dtype=np.bool_)
    n = [len(d.choices) if isinstance(d, Categorical) else 0 for d in dims]
    return mask, np.array(n, dtype=np.int64)


def split_good_bad(
    losses: npt.ArrayLike, n_min: int, top_n_percent: float, dim: int | None = None
) -> tuple[IntArray, IntArray] | None:
    """Row indices (good, bad), ranked by loss (NaN, inf last; ties by position): the best
    ``max(n_min, floor(q N / 100))`` rows, then the next ``max(n_min, floor((100 - q) N / 100))``.
    None when N < n_min or either set has <= ``dim`` rows (default ``n_min - 1``)."""
    y = np.nan_to_num(np.asarray(losses, dtype=np.float64).ravel(), nan=np.inf)
    n, d = y.size, n_min - 1 if dim is None else dim
    if n < n_min:
        return None
    n_good = max(n_min, math.floor(top_n_percent * n / 100))
    n_bad = max(n_min, math.floor((100 - top_n_percent) * n / 100))
    order = np.argsort(y, kind="stable").astype(np.int64)
    good, bad = order[:n_good], order[n_good : n_good + n_bad]
    if good.size <= d or bad.size <= d:
        return None
    return good, bad


def _as_indices(column: Array, n_choices: int) -> IntArray:
    return np.clip(np.floor(column * n_choices), 0, n_choices - 1).astype(np.int64)


class ProductKDE:
    """A product-kernel density over (N, d) unit vectors ``data``: Gaussian kernels, and
    Aitchison-Aitken ones where ``categorical_mask`` is True (``n_choices`` choices there)."""

    def __init__(
        self,
        data: ArrayLike,
        categorical_mask: ArrayLike,
        n_choices: ArrayLike,
        min_bandwidth: float = 1e-3,
    ) -> None:
        x = np.atleast_2d(np.asarray(data, dtype=np.float64))
        n, d = x.shape
        if n < 1:
            raise ValueError("a KDE needs at least one data row")
        self.data = x
        self.categorical = np.asarray(categorical_mask, dtype=np.bool_).reshape(d)
        self.n_choices = np.asarray(n_choices, dtype=np.int64).reshape(d)
        self.codes = np.zeros((n, d), dtype=np.int64)  # choice indices (categorical columns)
        factor = 1.06 * n ** (-1.0 / (4 + d))
        self.bandwidths = bw = np.empty(d)
        for j in range(d):
            if self.categorical[j]:
                c = int(self.n_choices[j])
                self.codes[:, j] = _as_indices(x[:, j], c)
                lam = factor * float(np.std(self.codes[:, j]))
                bw[j] = min(max(lam, min_bandwidth), (c - 1) / c) if c > 1 else 0.0
            else:
                bw[j] = max(factor * float(np.std(x[:, j])), min_bandwidth)

    def logpdf(self, points: npt.ArrayLike) -> Array:
        """Log density at each row of ``points`` (m, d); returns shape (m,)."""
        p = np.atleast_2d(np.asarray(points, dtype=np.float64))
        total = np.zeros((p.shape[0], self.data.shape[0]))  # log kernel, point x datum
        for j, h in enumerate(self.bandwidths):
            c = int(self.n_choices[j])
            if self.categorical[j] and c > 1:
                same = _as_indices(p[:, j], c)[:, None] == self.codes[None, :, j]
                total += np.where(same, np.log1p(-h), math.log(h / (c - 1)))
            elif not self.categorical[j]:
                z = (p[:, j, None] - self.data[None, :, j]) / h
                total -= 0.5 * z * z + _LOG_SQRT_2PI + math.log(h)
        top = total.max(axis=1)  # every term is finite: a stable log-mean-exp
        out: Array = np.log(np.exp(total - top[:, None]).mean(axis=1)) + top
        return out

    def pdf(self, points: npt.ArrayLike) -> Array:
        """Density at each row of ``points`` (m, d); returns shape (m,)."""
        return np.exp(self.logpdf(points))


class KDEModel:
    """BOHB's pair of densities, l over good and g over bad configurations, and its proposal."""

    def __init__(self, params: BOHBParams | None = None) -> None:
        self.params = params or BOHBParams()
        self.good: ProductKDE | None = None
        self.bad: ProductKDE | None = None
        self.budget: float | None = None  # set by bohb_model_for: the budget it was fitted on

    @property
    def is_fitted(self) -> bool:
        """True once :meth:`fit` built both densities."""
        return self.good is not None and self.bad is not None

    def fit(
        self,
        x_unit: ArrayLike,
        losses: ArrayLike,
        categorical_mask: ArrayLike,
        n_choices: ArrayLike,
    ) -> bool:
        """Build l and g from (N, d) unit rows and their losses; False (and unfitted) when there
        are too few rows for :func:`split_good_bad`."""
        x = np.atleast_2d(np.asarray(x_unit, dtype=np.float64))
        d = x.shape[1]
        split = split_good_bad(losses, self.params.n_min(d), self.params.top_n_percent, d)
        self.good = self.bad = None
        if split is None:
            return False
        mb = self.params.min_bandwidth
        self.good = ProductKDE(x[split[0]], categorical_mask, n_choices, mb)
        self.bad = ProductKDE(x[split[1]], categorical_mask, n_choices, mb)
        return True

    def _fitted(self) -> tuple[ProductKDE, ProductKDE]:
        if self.good is None or self.bad is None:
            raise RuntimeError("KDEModel used before a successful fit()")
        return self.good, self.bad

    def acquisition(self, points: npt.ArrayLike) -> Array:
        """g(x) / l(x) at each row (lower is better); both densities floored at 1e-32."""
        good, bad = self._fitted()
        lg = np.maximum(good.logpdf(points), math.log(_DENSITY_FLOOR))
        lb = np.maximum(bad.logpdf(points), math.log(_DENSITY_FLOOR))
        ratio: Array = np.exp(np.minimum(lb - lg, 700.0))
        return ratio

    def propose(self, rng: np.random.Generator) -> Array:
        """The best of ``num_samples`` draws around random good points, as a unit vector."""
        kde, k = self._fitted()[0], self.params.num_samples
        rows = rng.integers(kde.data.shape[0], size=k)
        cand = kde.data[rows]  # a copy: the centres, then the candidates
        cont = ~kde.categorical
        if cont.any():
            sd = np.tile(kde.bandwidths[cont] * self.params.bandwidth_factor, (k, 1))
            cand[:, cont] = truncated_normal(cand[:, cont], sd, rng)
        for j in np.flatnonzero(kde.categorical):
            c = int(kde.n_choices[j])
            code = kde.codes[rows, j]
            move = rng.random(k) >= 1.0 - kde.bandwidths[j]
            other = rng.integers(max(c - 1, 1), size=k)
            other = other + (other >= code)  # uniform among the other choices
            cand[:, j] = (np.where(move & (c > 1), other, code) + 0.5) / c
        score = self.acquisition(cand)
        return np.array(cand[int(np.argmin(score))])


def _crashed_at(trial: TrialRecord, budget: float) -> bool:
    return trial.status is TrialStatus.FAILED and trial.target == budget


def bohb_model_for(
    history: History,
    space: Space,
    budgets: Sequence[float],
    params: BOHBParams | Mapping[str, Any] | None = None,
) -> KDEModel | None:
    """The model of the largest budget in ``budgets`` with enough observations, or None.
    Observed at ``b``: trials that reported at ``b`` (their first report at or past it) and failed
    trials whose target was ``b``, with losses from
    :func:`~hyperrace.optimizers._parts.schedule.rungs.loss_at`."""
    p = params if isinstance(params, BOHBParams) else BOHBParams(**(params or {}))
    mask, n_choices = categorical_layout(space)
    for b in sorted(set(budgets), reverse=True):
        seen = [t for t in history.trials if report_at(t, b) is not None or _crashed_at(t, b)]
        y = np.array([loss_at(history, t, b) for t in seen], dtype=np.float64)
        model = KDEModel(p)
        if seen and model.fit(space.to_unit_many(t.config for t in seen), y, mask, n_choices):
            model.budget = b
            return model
    return None


def bohb_sample(
    space: Space,
    history: History,
    rng: np.random.Generator,
    budgets: Sequence[float],
    **params: Any,
) -> dict[str, Any]:
    """A config from BOHB's model, or from ``space.sample(rng)`` with probability
    ``random_fraction`` or while no budget has a model. ``params`` are :class:`BOHBParams`."""
    p = BOHBParams(**params)
    if rng.random() < p.random_fraction:
        return space.sample(rng)
    model = bohb_model_for(history, space, budgets, p)
    if model is None:
        return space.sample(rng)
    return space.from_unit(model.propose(rng))
