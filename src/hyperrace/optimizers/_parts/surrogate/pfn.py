"""The in-context surrogate for the race (``surrogate="pfn"``): a prior-data fitted network reads
the study's observations as context and predicts every query in one forward pass; nothing is fit.

:class:`PFN` is the :class:`~hyperrace.optimizers._parts.surrogate.base.Surrogate` around the
transformer of :mod:`~hyperrace.optimizers._parts.surrogate.pfn_net` (imported on the first
prediction, with torch), after ifBO's FT-PFN (Rakotoarison et al., ICML 2024). The weights ship
inside the package (``weights/pfn.pt``, trained by ``benchmarks/train_pfn.py``;
docs/optimizers/pfn.md has the run), or come from a file: one of ours, or, with the ``ifbo``
extra, FT-PFN weights in ifbo's format (a pickled ``ifbo.transformer.TransformerModel`` with its
bar-distribution ``criterion``, as ifbo downloads them:
``bopfn_broken_unisep_1000curves_10params_2M.pt``).

The encoding of a study's data as tokens ``(id, t, x, y)``:

* **values**: ``y = (hi - loss) / (hi - lo)``, clipped to [0, 1] (higher is better, as the
  prior's curves), with ``(lo, hi) = loss_range`` when given; otherwise ``lo = 0`` when every
  loss is >= 0 (errors, cross-entropies: 0 is a perfect loss; losses in [0, 1] read as
  ``y = 1 - loss``, ifBO's convention for error rates), else the smallest loss minus a tenth of
  the losses' range; ``hi`` is the largest of 1 (when ``lo = 0``) and the worst loss. A failure
  point takes the worst loss of the data (so ``y`` is never better than a real report's);
* **steps**: ``t = fidelity / high`` (the maximum fidelity is 1); without a fidelity, 1;
* **configurations**: one column per hyperparameter, in [0, 1]: a numeric one as the space's
  unit encoding has it (log scales in log space, ints at their bins), a categorical one as its
  choice's index over ``choices - 1`` (0.5 for a single choice or an inactive one). A space of
  more hyperparameters than the model takes (10) is projected onto that many columns by a
  fixed random matrix with unit rows (seeded by the number of hyperparameters): ``0.5 + W
  (u - 0.5)``, clipped to [0, 1], so each column spreads as one hyperparameter does;
* **curve ids**: the trials with context points are numbered 1, 2, ... in creation order; a
  query of a trial without one has id 0;
* **context bound**: the model was trained on contexts of at most 1000 points; with more than
  ``max_context`` points, each curve keeps its last point and evenly spaced earlier ones, the
  same number per curve at most (the largest that fits); past ``max_context`` curves, the last
  points of the curves with the best last losses (and at most as many curves as the model has
  ids, 1000).

Predictions are bar distributions (:class:`BarPrediction`): the mean, the standard deviation,
P(loss <= threshold), the expected improvement and the log-density follow from the bars.
Determinism: torch on one thread, in float32, with the weights loaded once per process; the
same data and queries give the same predictions bit for bit.
"""

from __future__ import annotations

import functools
import math
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
import numpy.typing as npt

from hyperrace._params import Declared, Integer, ListOf, Real, Unchecked, declare
from hyperrace.exceptions import ConfigurationError
from hyperrace.optimizers._parts.data.curve_data import CurveData
from hyperrace.optimizers._parts.surrogate.base import Queries

if TYPE_CHECKING:
    from hyperrace.optimizers._parts.surrogate.pfn_net import Bars

__all__ = ["PFN", "SHIPPED", "BarPrediction", "encode_configs"]

Array = npt.NDArray[np.float64]
#: The weights shipped with the package.
SHIPPED = Path(__file__).resolve().parent / "weights" / "pfn.pt"
#: Configuration columns the model takes.
FEATURES = 10
_INACTIVE = 0.5
_lock = threading.Lock()


@dataclass(frozen=True)
class BarPrediction:
    """Bar-distribution predictions of losses: ``loss = hi - scale * y``, ``y`` on the bars.

    Attributes:
        probs: the bars' probabilities per query, shape (m, bins).
        bars: the bar borders (on ``y`` in [0, 1]).
        hi: the loss at ``y = 0``.
        scale: ``hi - lo`` (> 0).
    """

    probs: Array
    bars: Bars
    hi: float
    scale: float

    @functools.cached_property
    def mean(self) -> Array:
        out: Array = self.hi - self.scale * self.bars.mean(self.probs)
        return out

    @functools.cached_property
    def std(self) -> Array:
        out: Array = self.scale * np.sqrt(self.bars.var(self.probs))
        return out

    def _y(self, loss: Array | float) -> Array:
        return (self.hi - np.asarray(loss, dtype=np.float64)) / self.scale

    def prob_below(self, threshold: Array | float) -> Array:
        """P(loss <= threshold) per query."""
        return self.bars.prob_above(self.probs, self._y(threshold))

    def log_prob_below(self, threshold: Array | float) -> Array:
        """log P(loss <= threshold) per query (-inf where no bar reaches it)."""
        with np.errstate(divide="ignore"):
            out: Array = np.log(self.prob_below(threshold))
        return out

    def expected_improvement(self, threshold: Array | float) -> Array:
        """E[max(threshold - loss, 0)] per query."""
        out: Array = self.scale * self.bars.expected_gain(self.probs, self._y(threshold))
        return out

    def log_density(self, loss: Array) -> Array:
        """The log-density of each query's ``loss`` (one per query)."""
        out: Array = self.bars.log_density(self.probs, self._y(loss)) - math.log(self.scale)
        return out

    def quantile(self, q: float) -> Array:
        """The ``q``-quantile of each query's loss."""
        out: Array = self.hi - self.scale * self.bars.quantile(self.probs, 1.0 - q)
        return out


def encode_configs(x: Array, columns: tuple[tuple[int, int, int], ...]) -> Array:
    """Rows of the race's one-hot encoding ``x`` (n, width) as the model's configuration columns
    (n, <= FEATURES): see the module docstring."""
    x = np.asarray(x, dtype=np.float64)
    if not columns:
        columns = tuple((j, j + 1, 0) for j in range(x.shape[1]))
    cols = []
    for start, stop, choices in columns:
        if choices == 0:
            cols.append(np.clip(x[:, start], 0.0, 1.0))
            continue
        block = x[:, start:stop]
        index = np.argmax(block, axis=1).astype(np.float64)
        value = index / (choices - 1) if choices > 1 else np.full(len(x), _INACTIVE)
        cols.append(np.where(block.max(axis=1, initial=0.0) > 0, value, _INACTIVE))
    u = np.column_stack(cols) if cols else np.zeros((len(x), 0))
    h = u.shape[1]
    if h <= FEATURES:
        return u
    w = np.random.default_rng(h).normal(size=(FEATURES, h))
    w /= np.linalg.norm(w, axis=1, keepdims=True)
    out: Array = np.clip(0.5 + (u - 0.5) @ w.T, 0.0, 1.0)
    return out


@dataclass(frozen=True)
class _Context:
    ids: Array  # per context point, its curve id (1..)
    t: Array
    x: Array  # configuration columns (n, k)
    y: Array
    trial_id: dict[int, int]  # trial index -> curve id
    memo: dict[str, Any] = field(default_factory=dict)  # what the network computed once


class _Model:
    """A context and the network: predictions on demand."""

    def __init__(
        self, net: Any, ctx: _Context, columns: Any, high: float, lo: float, hi: float, batch: int
    ) -> None:
        self._net = net
        self._ctx = ctx
        self._columns = columns
        self._high = high
        self._lo, self._hi = lo, hi
        self._batch = batch

    def predict(self, queries: Queries) -> BarPrediction:
        m = len(queries)
        x = encode_configs(queries.x, self._columns)
        t = np.clip(np.asarray(queries.fidelity, dtype=np.float64) / self._high, 0.0, 1.0)
        ids = np.array(
            [self._ctx.trial_id.get(int(i), 0) if i >= 0 else 0 for i in queries.trial],
            dtype=np.float64,
        )
        parts = [
            self._net.probs(
                self._ctx, ids[s : s + self._batch], t[s : s + self._batch], x[s : s + self._batch]
            )
            for s in range(0, m, self._batch)
        ]
        probs = np.vstack(parts) if parts else np.zeros((0, len(self._net.bars.widths)))
        return BarPrediction(probs, self._net.bars, self._hi, self._hi - self._lo)


class _OwnNet:
    """Weights in hyperrace's format (:func:`pfn_net.state`)."""

    def __init__(self, path: Path) -> None:
        import torch

        from hyperrace.optimizers._parts.surrogate import pfn_net

        blob = torch.load(path, map_location="cpu", weights_only=True)
        self.net, self.bars, self.meta = pfn_net.load(blob)
        self.features = self.net.config.features
        self.max_ids = self.net.config.max_ids

    def probs(self, ctx: _Context, ids: Array, t: Array, x: Array) -> Array:
        import torch

        from hyperrace._imports import torch_one_thread
        from hyperrace.optimizers._parts.surrogate import pfn_net

        q, used = pfn_net.tokens(ids, t, x, self.features)
        with _lock, torch_one_thread(), torch.no_grad():
            kv = ctx.memo.get("kv")
            if kv is None:  # the context's keys and values, once per model
                c, _ = pfn_net.tokens(ctx.ids, ctx.t, ctx.x, self.features)
                cy = torch.from_numpy(ctx.y.astype(np.float32))[None]
                kv = ctx.memo["kv"] = self.net.context(c, cy, used)
            logits = self.net.queries(kv, q, used)[0]
            return self.bars.probs(logits)  # the softmax on one thread too


class _IfboNet:
    """FT-PFN weights in ifbo's format: a pickled ``ifbo.transformer.TransformerModel`` whose
    ``criterion`` is its bar distribution (``borders``); tokens ``[id, t, x]``, ``y`` for the
    context, called as ``model((x, y), single_eval_pos=n)`` (ifbo's ``FTPFN.forward``)."""

    def __init__(self, path: Path) -> None:
        import torch

        from hyperrace._imports import require
        from hyperrace.optimizers._parts.surrogate.pfn_net import Bars

        require("ifbo", "ifbo", f"the FT-PFN weights {str(path)!r}")
        # a pickled module: only load files you trust (ifbo loads its own the same way)
        model = torch.load(path, map_location="cpu", weights_only=False)
        if not hasattr(model, "criterion") or not hasattr(model.criterion, "borders"):
            raise ConfigurationError(
                f"{str(path)!r} is neither hyperrace PFN weights nor an ifbo FT-PFN model (a "
                "pickled ifbo.transformer.TransformerModel with a bar-distribution criterion)"
            )
        model.eval()
        self.net = model
        borders = model.criterion.borders.detach().double().cpu().numpy()
        # ifbo allows bars of width 0: their mass goes to the next bar of positive width
        keep = np.r_[True, np.diff(borders) > 0]
        self.bars = Bars(borders[keep])
        self._into = np.minimum(
            np.searchsorted(np.flatnonzero(np.diff(borders) > 0), np.arange(len(borders) - 1)),
            len(self.bars.widths) - 1,
        )
        self.features = FEATURES
        self.max_ids = 1000
        self.meta: dict[str, Any] = {"format": "ifbo"}

    def probs(self, ctx: _Context, ids: Array, t: Array, x: Array) -> Array:
        import torch

        from hyperrace._imports import torch_one_thread

        k = ctx.x.shape[1]
        if k == 0:  # no hyperparameter: one constant column (ifbo's encoder needs one)
            ctx = _Context(ctx.ids, ctx.t, np.full((len(ctx.y), 1), 0.5), ctx.y, ctx.trial_id, {})
            x, k = np.full((len(ids), 1), 0.5), 1
        ctx_tok = np.column_stack([ctx.ids, ctx.t, ctx.x]) if len(ctx.y) else np.zeros((0, 2 + k))
        qry_tok = np.column_stack([ids, t, x])
        tok = torch.from_numpy(np.vstack([ctx_tok, qry_tok]).astype(np.float32))[:, None]
        y = torch.from_numpy(ctx.y.astype(np.float32))[:, None]
        with _lock, torch_one_thread(), torch.no_grad():
            logits = self.net((tok, y), single_eval_pos=len(ctx.y))
            raw = torch.softmax(logits.reshape(len(ids), -1).double(), dim=-1).numpy()
        out = np.zeros((len(ids), len(self.bars.widths)))
        np.add.at(out.T, self._into, raw.T)
        return out


@functools.lru_cache(maxsize=4)
def _load(path: str) -> _OwnNet | _IfboNet:
    import torch

    p = Path(path)
    if not p.is_file():
        raise ConfigurationError(
            f"weights={path!r} is not a file; pass the path of a weights file, or leave weights "
            "out for the weights shipped with hyperrace"
        )
    try:
        torch.load(p, map_location="cpu", weights_only=True)
    except Exception:  # not a plain dict of tensors: ifbo's pickled module?
        return _IfboNet(p)
    return _OwnNet(p)


def _range(loss: Array, given: tuple[float, float] | None) -> tuple[float, float]:
    if given is not None:
        return given
    finite = loss[np.isfinite(loss)]
    if not len(finite):
        return 0.0, 1.0
    least, worst = float(finite.min()), float(finite.max())
    if least >= 0:
        lo, hi = 0.0, max(1.0, worst)
    else:
        lo, hi = least - 0.1 * max(worst - least, 1e-12), worst
    if hi <= lo:
        hi = lo + 1.0
    return lo, hi


def _thin(trial: npt.NDArray[np.int64], loss: Array, limit: int) -> npt.NDArray[np.int64]:
    """Indices of at most ``limit`` points (see the module docstring's context bound), sorted."""
    n = len(trial)
    if n <= limit:
        return np.arange(n)
    curves: dict[int, list[int]] = {}
    for p in range(n):
        curves.setdefault(int(trial[p]), []).append(p)
    if len(curves) > limit:
        chosen = sorted(curves, key=lambda c: (float(loss[curves[c][-1]]), c))[:limit]
        return np.sort(np.array([curves[c][-1] for c in chosen], dtype=np.int64))
    sizes = np.array([len(v) for v in curves.values()])
    per = 1
    lo, hi = 1, int(sizes.max())
    while lo <= hi:  # the largest per-curve cap that fits
        mid = (lo + hi) // 2
        if int(np.minimum(sizes, mid).sum()) <= limit:
            per, lo = mid, mid + 1
        else:
            hi = mid - 1
    out: list[int] = []
    for points in curves.values():
        if len(points) <= per:
            out.extend(points)
        else:
            pick = np.unique(np.round(np.linspace(len(points) - 1, 0, per)).astype(np.int64))
            out.extend(points[i] for i in pick)
    return np.sort(np.array(out, dtype=np.int64))


class PFN(Declared):
    """In-context learning-curve surrogate (a PFN, after ifBO's FT-PFN); nothing is ever fit.

    Args:
        weights: the path of a weights file (hyperrace's format, or ifbo's FT-PFN format with
            the ``ifbo`` extra), or None for the weights shipped with hyperrace.
        max_context: the most observations in the context (>= 1; the shipped model was trained
            on up to 1000).
        batch: queries per forward pass (>= 1).
        loss_range: ``[lo, hi]``, the losses read as the best (``y = 1``) and the worst
            (``y = 0``) values; None: from the data (see the module docstring).
    """

    name: ClassVar[str] = "pfn"
    parameters = declare(
        weights=Unchecked(),
        max_context=Integer(1),
        batch=Integer(1),
        loss_range=ListOf(Real(), optional=True),
    )
    weights: str | None
    max_context: int
    batch: int
    loss_range: tuple[float, ...] | None

    def __init__(
        self,
        *,
        weights: str | None = None,
        max_context: int = 1000,
        batch: int = 2000,
        loss_range: tuple[float, float] | list[float] | None = None,
    ) -> None:
        if weights is not None and not isinstance(weights, str | Path):
            raise ConfigurationError(
                f"PFN: weights={weights!r} must be the path of a weights file (a string), or "
                "None for the weights shipped with hyperrace"
            )
        if weights is not None and not Path(weights).is_file():
            raise ConfigurationError(
                f"PFN: weights={str(weights)!r} is not a file; pass the path of a weights file, "
                "or leave weights out for the weights shipped with hyperrace"
            )
        self._set(
            weights=None if weights is None else str(weights),
            max_context=max_context,
            batch=batch,
            loss_range=loss_range,
        )
        if self.loss_range is not None and (
            len(self.loss_range) != 2 or not self.loss_range[0] < self.loss_range[1]
        ):
            raise ConfigurationError(
                f"PFN: loss_range={list(self.loss_range)!r} must be [lo, hi] with lo < hi "
                "(the best and the worst loss), e.g. loss_range=[0.0, 1.0] for error rates"
            )

    def network(self) -> _OwnNet | _IfboNet:
        """The network (loaded once per process and path)."""
        return _load(str(SHIPPED if self.weights is None else self.weights))

    def model(self, data: CurveData, low: float, high: float, patience: int) -> _Model | None:
        net = self.network()
        loss = data.losses(len(data))
        rng = None if self.loss_range is None else (self.loss_range[0], self.loss_range[1])
        lo, hi = _range(data.loss, rng)
        keep = _thin(data.trial, loss, self.max_context)
        keep = _thin_ids(data.trial, loss, keep, net.max_ids)
        trials = data.trial[keep]
        ordered = sorted(set(int(i) for i in trials))
        trial_id = {i: k + 1 for k, i in enumerate(ordered)}
        x = encode_configs(data.x, data.columns)
        top = high if high > 0 else 1.0
        ctx = _Context(
            ids=np.array([trial_id[int(i)] for i in trials], dtype=np.float64),
            t=np.clip(data.fidelity[keep] / top, 0.0, 1.0),
            x=x[trials] if len(trials) else np.zeros((0, x.shape[1])),
            y=np.clip((hi - loss[keep]) / (hi - lo), 0.0, 1.0),
            trial_id=trial_id,
        )
        return _Model(net, ctx, data.columns, top, lo, hi, self.batch)


def _thin_ids(
    trial: npt.NDArray[np.int64], loss: Array, keep: npt.NDArray[np.int64], max_ids: int
) -> npt.NDArray[np.int64]:
    """``keep`` reduced to the points of at most ``max_ids`` curves (those with the best last
    losses)."""
    curves = np.unique(trial[keep])
    if len(curves) <= max_ids:
        return keep
    last = {int(trial[p]): float(loss[p]) for p in keep}
    chosen = set(sorted(last, key=lambda c: (last[c], c))[:max_ids])
    out: npt.NDArray[np.int64] = keep[np.isin(trial[keep], list(chosen))]
    return out
