"""An in-context learning-curve model: a small prior-data fitted network (PFN) over curve tokens.

The model of ifBO's FT-PFN (Rakotoarison, Adriaensen, Mallik, Garibov, Bergman, Hutter, "In-Context
Freeze-Thaw Bayesian Optimization for Hyperparameter Optimization", ICML 2024), written here and
sized for training on a CPU: a transformer trained once, offline, on synthetic learning curves,
that reads every observation of a study as context and returns, in one forward pass, a predictive
distribution of the value of any (configuration, step) query.

This module imports torch at import time: import it lazily, never from a module that
``import hyperrace`` loads.

Tokens. A point is ``(id, t, x, y)``:

* ``id``: the curve's number in ``1..max_ids`` (context points of one curve share it); a query of
  a configuration with no context point has id 0;
* ``t``: the normalised step, the fidelity over the maximum fidelity, in [0, 1];
* ``x``: the configuration in [0, 1]^k, ``k <= features`` columns (the rest are padding, marked
  unused);
* ``y``: the value, higher is better, in [0, 1]; context points only.

A token's embedding is ``E_id[id] + W_t t' + W_x [x' * used, used] + W_c c (+ W_y y' for context)``,
with ``t' = (t - 0.5) * sqrt(12)`` (and the same centring for ``x`` and ``y``). A learned memory
token is always in the context, so an empty context is valid.

Attention. Every layer (pre-norm: ``h + attn(norm(h))``, ``h + mlp(norm(h))``) lets every token
(context and query) attend to the context tokens and the memory token only: the context is one
set (no order, no position), and each query is predicted from the context alone, independently
of the other queries of the batch, so queries can be batched in any grouping.

Curve features. Every token also gets its curve's summary from the context (:func:`curve_table`:
whether the curve has context points, the steps and values of its last two, their number), so
that a model trained briefly on a CPU reads where a curve stands at once, instead of learning to
match its points through 1000 random id embeddings (ifBO's FT-PFN relies on the embeddings
alone).

Output. Logits over the ``bins`` bars of a bar distribution (:class:`Bars`): a piecewise-constant
density on [0, 1], from which the mean, the quantiles, P(y >= threshold) and the expected
improvement follow exactly.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any, cast

import numpy as np
import numpy.typing as npt
import torch
from torch import nn
from torch.nn import functional

__all__ = ["Bars", "NetConfig", "PFNNet", "tokens"]

Array = npt.NDArray[np.float64]
_CENTRE = math.sqrt(12.0)


@dataclass(frozen=True)
class NetConfig:
    """The architecture.

    Attributes:
        features: hyperparameter columns the model takes.
        width: the embedding width.
        layers: transformer layers.
        heads: attention heads (divides ``width``).
        hidden: hidden units of each layer's feed-forward block and of the output head.
        bins: bars of the output distribution on [0, 1].
        max_ids: the largest curve id.
    """

    features: int = 10
    width: int = 128
    layers: int = 4
    heads: int = 4
    hidden: int = 256
    bins: int = 1000
    max_ids: int = 1000

    def to_dict(self) -> dict[str, int]:
        return asdict(self)


class _Layer(nn.Module):
    def __init__(self, width: int, heads: int, hidden: int) -> None:
        super().__init__()
        self.heads = heads
        self.norm1 = nn.LayerNorm(width)
        self.qkv = nn.Linear(width, 3 * width)
        self.out = nn.Linear(width, width)
        self.norm2 = nn.LayerNorm(width)
        self.mlp = nn.Sequential(nn.Linear(width, hidden), nn.GELU(), nn.Linear(hidden, width))

    def _split(self, z: torch.Tensor) -> torch.Tensor:
        b, s, w = z.shape
        return z.view(b, s, self.heads, w // self.heads).transpose(1, 2)

    def _rest(
        self, h: torch.Tensor, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor
    ) -> torch.Tensor:
        b, s, w = h.shape
        a = functional.scaled_dot_product_attention(q, k, v)
        h = h + self.out(a.transpose(1, 2).reshape(b, s, w))
        out: torch.Tensor = h + self.mlp(self.norm2(h))
        return out

    def forward(self, h: torch.Tensor, n_ctx: int) -> torch.Tensor:
        """``h``: (batch, n_ctx + m, width), the context first; every token attends to the first
        ``n_ctx``."""
        w = h.shape[2]
        q, k, v = self.qkv(self.norm1(h)).split(w, dim=-1)
        return self._rest(h, self._split(q), self._split(k[:, :n_ctx]), self._split(v[:, :n_ctx]))

    def context(self, h: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """The layer on context tokens alone: their new states, and their keys and values
        (batch, heads, n, width / heads) for the queries."""
        q, k, v = (self._split(z) for z in self.qkv(self.norm1(h)).split(h.shape[2], dim=-1))
        return self._rest(h, q, k, v), k, v

    def keys(self, h: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The context's keys and values alone (:meth:`context` without the layer's output:
        what the last layer needs, since only queries read past it)."""
        w = h.shape[2]
        kv = functional.linear(self.norm1(h), self.qkv.weight[w:], self.qkv.bias[w:])
        return self._split(kv[..., :w]), self._split(kv[..., w:])

    def query(self, h: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        """The layer on query tokens ``h`` given the context's keys and values."""
        w = h.shape[2]
        q = functional.linear(self.norm1(h), self.qkv.weight[:w], self.qkv.bias[:w])
        return self._rest(h, self._split(q), k, v)


#: Per-curve features a token gets: whether its curve has context points, and of its last two
#: (by step; the last one twice when it has one): t, y, t, y; and the number of them over 50.
CURVE_FEATURES = 6


def curve_table(ctx: torch.Tensor, ctx_y: torch.Tensor, max_ids: int) -> torch.Tensor:
    """Per batch item and curve id, the features of its context points: (batch, max_ids + 1,
    CURVE_FEATURES) (zeros for an id without context points, and for id 0)."""
    b, n = ctx.shape[:2]
    table = torch.zeros(b, max_ids + 1, CURVE_FEATURES)
    if n == 0:
        return table
    ids = ctx[..., 0].long()
    t = ctx[..., 1]
    order = torch.argsort(ids.double() * 4 + t.double(), dim=1, stable=True)
    sid = torch.gather(ids, 1, order)
    st = torch.gather(t, 1, order)
    sy = torch.gather(ctx_y, 1, order)
    last = torch.ones_like(sid, dtype=torch.bool)
    last[:, :-1] = sid[:, 1:] != sid[:, :-1]
    first = torch.ones_like(sid, dtype=torch.bool)
    first[:, 1:] = sid[:, 1:] != sid[:, :-1]
    prev = torch.arange(n).expand(b, n) - (~first).long()  # the point before, within the curve
    pt = torch.gather(st, 1, prev)
    py = torch.gather(sy, 1, prev)
    count = torch.zeros(b, max_ids + 1).scatter_add_(1, sid, torch.ones(b, n))
    rows = (
        torch.stack([torch.ones(b, n), st, sy, pt, py, torch.zeros(b, n)], dim=-1) * last[..., None]
    )
    index = torch.where(last, sid, torch.zeros_like(sid))  # others written to id 0, then cleared
    table.scatter_(1, index[..., None].expand(-1, -1, CURVE_FEATURES), rows)
    table[:, 0] = 0.0
    table[..., 5] = count / 50.0
    table[:, 0, 5] = 0.0
    return table


def _curve_features(table: torch.Tensor, tok: torch.Tensor) -> torch.Tensor:
    ids = tok[..., 0].long().clamp(0, table.shape[1] - 1)
    return torch.gather(table, 1, ids[..., None].expand(-1, -1, table.shape[2]))


class PFNNet(nn.Module):
    """The transformer (see the module docstring)."""

    def __init__(self, config: NetConfig) -> None:
        super().__init__()
        if config.width % config.heads:
            raise ValueError(f"width={config.width} is not a multiple of heads={config.heads}")
        self.config = config
        w = config.width
        self.id_embed = nn.Embedding(config.max_ids + 1, w)
        self.t_enc = nn.Linear(1, w)
        self.x_enc = nn.Linear(2 * config.features, w)
        self.y_enc = nn.Linear(1, w)
        self.curve_enc = nn.Linear(CURVE_FEATURES, w)
        self.memory = nn.Parameter(torch.zeros(1, 1, w))
        self.layers = nn.ModuleList(
            _Layer(w, config.heads, config.hidden) for _ in range(config.layers)
        )
        self.norm = nn.LayerNorm(w)
        self.head = nn.Sequential(
            nn.Linear(w, config.hidden), nn.GELU(), nn.Linear(config.hidden, config.bins)
        )
        nn.init.normal_(self.id_embed.weight, std=0.02)
        nn.init.normal_(self.memory, std=0.02)

    def _embed(self, tok: torch.Tensor, used: torch.Tensor, table: torch.Tensor) -> torch.Tensor:
        """``tok``: (batch, n, 2 + features) = [id, t, x]; ``used``: (batch, features) 0/1;
        ``table``: :func:`curve_table` of the context."""
        ids = tok[..., 0].long()
        t = (tok[..., 1:2] - 0.5) * _CENTRE
        u = used[:, None, :].expand(-1, tok.shape[1], -1)
        x = (tok[..., 2:] - 0.5) * _CENTRE * u
        c = _curve_features(table, tok)
        c = torch.cat([c[..., :1], (c[..., 1:5] - 0.5) * _CENTRE * c[..., :1], c[..., 5:]], -1)
        out: torch.Tensor = (
            self.id_embed(ids)
            + self.t_enc(t)
            + self.x_enc(torch.cat([x, u], -1))
            + self.curve_enc(c)
        )
        return out

    def forward(
        self, ctx: torch.Tensor, ctx_y: torch.Tensor, qry: torch.Tensor, used: torch.Tensor
    ) -> torch.Tensor:
        """Logits (batch, m, bins) of the queries ``qry`` (batch, m, 2 + features) given the
        context ``ctx`` (batch, n, 2 + features) with values ``ctx_y`` (batch, n); ``used``
        (batch, features) marks the configuration columns in use."""
        b = ctx.shape[0]
        table = curve_table(ctx, ctx_y, self.config.max_ids)
        hc = self._embed(ctx, used, table) + self.y_enc((ctx_y[..., None] - 0.5) * _CENTRE)
        hq = self._embed(qry, used, table)
        h = torch.cat([self.memory.expand(b, 1, -1), hc, hq], dim=1)
        n_ctx = 1 + ctx.shape[1]
        for layer in self.layers:
            h = layer(h, n_ctx)
        out: torch.Tensor = self.head(self.norm(h[:, n_ctx:]))
        return out

    def context(
        self, ctx: torch.Tensor, ctx_y: torch.Tensor, used: torch.Tensor
    ) -> tuple[torch.Tensor, list[tuple[torch.Tensor, torch.Tensor]]]:
        """The context's per-curve table and each layer's keys and values (with the memory
        token's): what :meth:`queries` needs, computed once for any number of query batches."""
        b = ctx.shape[0]
        table = curve_table(ctx, ctx_y, self.config.max_ids)
        hc = self._embed(ctx, used, table) + self.y_enc((ctx_y[..., None] - 0.5) * _CENTRE)
        h = torch.cat([self.memory.expand(b, 1, -1), hc], dim=1)
        kv = []
        layers = cast(list[_Layer], list(self.layers))
        for layer in layers[:-1]:
            h, k, v = layer.context(h)
            kv.append((k, v))
        kv.append(layers[-1].keys(h))  # the context's own states past the last layer go unused
        return table, kv

    def queries(
        self,
        memo: tuple[torch.Tensor, list[tuple[torch.Tensor, torch.Tensor]]],
        qry: torch.Tensor,
        used: torch.Tensor,
    ) -> torch.Tensor:
        """Logits (batch, m, bins) of ``qry`` given :meth:`context`'s table, keys and values:
        the same as :meth:`forward` (up to rounding)."""
        table, kv = memo
        h = self._embed(qry, used, table)
        for layer, (k, v) in zip(cast(list[_Layer], list(self.layers)), kv, strict=True):
            h = layer.query(h, k, v)
        out: torch.Tensor = self.head(self.norm(h))
        return out


def tokens(ids: Array, t: Array, x: Array, features: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Token tensors (1, n, 2 + features) and the ``used`` mask (1, features) of points with
    curve ids ``ids`` (n,), normalised steps ``t`` (n,) and configurations ``x`` (n, k) in
    [0, 1], ``k <= features``."""
    n, k = x.shape
    if k > features:
        raise ValueError(f"{k} configuration columns, the model takes at most {features}")
    tok = np.zeros((n, 2 + features), dtype=np.float32)
    tok[:, 0] = ids
    tok[:, 1] = t
    tok[:, 2 : 2 + k] = x
    used = np.zeros((1, features), dtype=np.float32)
    used[0, :k] = 1.0
    return torch.from_numpy(tok)[None], torch.from_numpy(used)


class Bars:
    """A bar distribution: ``len(borders) - 1`` bars on [borders[0], borders[-1]], each a uniform
    density over its interval, weighted by the softmax of the logits.

    Args:
        borders: increasing bar borders, shape (bins + 1,).
    """

    def __init__(self, borders: Array) -> None:
        b = np.asarray(borders, dtype=np.float64)
        if b.ndim != 1 or len(b) < 2 or not np.all(np.diff(b) > 0):
            raise ValueError("borders must be a strictly increasing vector of at least 2 values")
        self.borders = b
        self.widths = np.diff(b)

    @staticmethod
    def uniform(bins: int, low: float = 0.0, high: float = 1.0) -> Bars:
        return Bars(np.linspace(low, high, bins + 1))

    def nll(self, logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """The negative log density of ``y`` (any shape, within the borders), per element, for
        training: ``-log softmax(logits)[bin] + log width[bin]``."""
        borders = torch.as_tensor(self.borders, dtype=logits.dtype, device=logits.device)
        widths = borders[1:] - borders[:-1]
        k = torch.searchsorted(borders, y.contiguous(), right=True) - 1
        k = k.clamp(0, len(widths) - 1)
        logp = torch.log_softmax(logits, dim=-1).gather(-1, k[..., None])[..., 0]
        return -(logp - torch.log(widths[k]))

    def probs(self, logits: torch.Tensor) -> Array:
        """The bars' probabilities (…, bins), in float64 (the softmax in float32)."""
        out: Array = torch.softmax(logits.float(), dim=-1).cpu().numpy().astype(np.float64)
        return out

    def log_density(self, p: Array, y: Array) -> Array:
        """log density of ``y`` (m,) under the bar probabilities ``p`` (m, bins); ``-inf`` outside
        the borders."""
        y = np.asarray(y, dtype=np.float64)
        k = np.clip(np.searchsorted(self.borders, y, side="right") - 1, 0, len(self.widths) - 1)
        dens = p[np.arange(len(y)), k] / self.widths[k]
        inside = (y >= self.borders[0]) & (y <= self.borders[-1])
        with np.errstate(divide="ignore"):
            out: Array = np.where(inside, np.log(dens), -np.inf)
        return out

    def mean(self, p: Array) -> Array:
        mid = (self.borders[:-1] + self.borders[1:]) / 2
        # einsum's own loop: numpy's BLAS would spin a second core on a product this small
        out: Array = np.einsum("ij,j->i", p, mid)
        return out

    def var(self, p: Array) -> Array:
        lo, hi = self.borders[:-1], self.borders[1:]
        second = (lo**2 + lo * hi + hi**2) / 3
        out: Array = np.maximum(np.einsum("ij,j->i", p, second) - self.mean(p) ** 2, 0.0)
        return out

    def prob_above(self, p: Array, threshold: Array) -> Array:
        """P(y >= threshold) per row (threshold (m,) or scalar)."""
        thr = np.broadcast_to(np.asarray(threshold, dtype=np.float64), (p.shape[0],))
        bins = len(self.widths)
        k = np.clip(np.searchsorted(self.borders, thr, side="right") - 1, 0, bins - 1)
        rows = np.arange(p.shape[0])
        # the mass of the bars above k (a sum of the tail alone, so that small tails stay
        # exact), and the part of bar k above the threshold
        distinct = np.unique(k)
        if len(distinct) <= 8:  # one threshold for every row (MFPI-random), or a few
            tail = np.zeros(p.shape[0])
            for kk in distinct:
                sel = k == kk
                tail[sel] = p[sel, kk + 1 :].sum(axis=1)
        else:
            above = np.zeros((p.shape[0], bins + 1))
            np.cumsum(p[:, ::-1], axis=1, out=above[:, bins - 1 :: -1])
            tail = above[rows, k + 1]
        frac = np.clip((self.borders[k + 1] - thr) / self.widths[k], 0.0, 1.0)
        out: Array = np.clip(tail + p[rows, k] * frac, 0.0, 1.0)
        return out

    def expected_gain(self, p: Array, threshold: Array) -> Array:
        """E[max(y - threshold, 0)] per row."""
        thr = np.broadcast_to(np.asarray(threshold, dtype=np.float64), (p.shape[0],))
        lo, hi = self.borders[None, :-1], self.borders[None, 1:]
        t = thr[:, None]
        a = np.maximum(lo, t)
        # the mean of (y - t) over the part of each bar above t, times that part's mass
        part = np.clip((hi - a) / (hi - lo), 0.0, 1.0)
        gain = ((a + hi) / 2 - t) * part
        out: Array = np.maximum((p * gain).sum(axis=1), 0.0)
        return out

    def quantile(self, p: Array, q: float) -> Array:
        c = np.cumsum(p, axis=1)
        k = np.clip((c < q).sum(axis=1), 0, p.shape[1] - 1)
        rows = np.arange(p.shape[0])
        before = np.where(k > 0, c[rows, np.maximum(k - 1, 0)], 0.0)
        within = np.where(p[rows, k] > 0, (q - before) / np.maximum(p[rows, k], 1e-300), 0.5)
        out: Array = self.borders[k] + np.clip(within, 0.0, 1.0) * self.widths[k]
        return out


def state(net: PFNNet, bars: Bars, meta: dict[str, Any]) -> dict[str, Any]:
    """What a weights file holds: the architecture, the bar borders, the weights and ``meta``
    (how it was trained)."""
    return {
        "format": "hyperrace-pfn/1",
        "config": net.config.to_dict(),
        "borders": torch.as_tensor(bars.borders),
        "weights": {k: v.detach().clone() for k, v in net.state_dict().items()},
        "meta": meta,
    }


def load(blob: dict[str, Any]) -> tuple[PFNNet, Bars, dict[str, Any]]:
    """The model, its bars and its training record from :func:`state`'s dict."""
    if blob.get("format") != "hyperrace-pfn/1":
        raise ValueError(f"not a hyperrace PFN weights file (format={blob.get('format')!r})")
    net = PFNNet(NetConfig(**blob["config"]))
    net.load_state_dict(blob["weights"])
    net.eval()
    return net, Bars(np.asarray(blob["borders"], dtype=np.float64)), dict(blob.get("meta", {}))
