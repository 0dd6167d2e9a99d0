"""The ifBO learning-curve prior, vectorised: the distribution of ``ifbo.priors.ftpfn_prior.
get_batch`` (ifbo 0.4.1, the ``ifbo`` extra), drawn with array operations instead of loops over
points and curves (about 4x faster on this machine; ``benchmarks/train_pfn.py --prior fast``).

Per task, as in the reference: a number of fidelity levels ``n = round(10 ** U(0, 3))``; curve
weights ``Gamma(a, a)``, ``a = 10 ** U(-4, -1)``; the task's ``seq`` points are ``seq`` draws
without replacement from the (curve, level) pairs with probability proportional to the curve's
weight (drawn here by exponential races, the same law as sequential weighted sampling); the first
``n_ctx`` points are the context, each curve's context points are its first levels ``1..c`` and
its query points distinct random levels above ``c``. The curves' parameters come from ifbo's
random-MLP dataset prior (``DatasetPrior``, used as is); each curve is a weighted mix of four
basis growth curves (pow4, exponential, log-power, Hill) from ``Y0`` to ``Yinf`` that break at
their saturation points, plus Gaussian noise, clipped to [0, 1]. Curve ids are 1 + the curve's
index for context points and for queries of a curve already in the context or already queried,
0 for the first query of a curve with no context point (the reference's numbering).
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import torch

_EPS = 1e-9


def _families(
    x: np.ndarray, y0: float, yinf: np.ndarray, prec: np.ndarray, xsat: np.ndarray, a: np.ndarray
) -> list[np.ndarray]:
    """The four basis curves at ``x`` (already broken), each row's parameters given per row."""
    with np.errstate(all="ignore"):
        pow_ = yinf - (yinf - y0) * (((prec[0] ** (1 / a[0])) - 1) / xsat[0] * x[0] + 1) ** -a[0]
        exp_ = yinf - (yinf - y0) * prec[1] ** (-((x[1] / xsat[1]) ** a[1]))
        log_ = yinf - (yinf - y0) * np.log(a[2]) / np.log(
            (a[2] ** prec[2] - a[2]) * x[2] / xsat[2] + a[2]
        )
        hill = yinf - (yinf - y0) / ((x[3] / xsat[3]) ** a[3] * (prec[3] - 1) + 1)
    return [pow_, exp_, log_, hill]


def _curves(
    x: np.ndarray,
    y0: float,
    yinf: np.ndarray,
    w: np.ndarray,
    alpha: np.ndarray,
    xsat: np.ndarray,
    prec: np.ndarray,
    rpsat: np.ndarray,
    sigma: np.ndarray,
) -> np.ndarray:
    """Noisy values at ``x`` (m,) of curves whose per-point parameters are given: ``yinf``,
    ``sigma`` (m,); ``w``, ``alpha``, ``xsat``, ``prec``, ``rpsat`` (m, 4)."""
    a_, x_, p_, r_ = alpha.T, xsat.T, prec.T, rpsat.T
    broken = np.where(x[None, :] < x_, x[None, :], r_ * (x[None, :] - x_) + x_)
    e1 = np.full((4, len(x)), _EPS)
    f = _families(broken, y0, yinf, p_, x_, a_)
    g1 = _families(e1, y0, yinf, p_, x_, a_)
    g2 = _families(2 * e1, y0, yinf, p_, x_, a_)
    y = np.zeros(len(x))
    with np.errstate(all="ignore"):
        for k in range(4):
            grad = (g2[k] - g1[k]) / _EPS
            tail = y0 * np.exp(broken[k] * (grad + _EPS) / y0)
            y = y + w[:, k] * np.where(broken[k] > 0, f[k], tail)
    y = y + np.random.normal(size=len(x)) * sigma
    out: np.ndarray = np.clip(y, 0.0, 1.0)
    return out


def _parameters(prior: Any, configs: np.ndarray) -> dict[str, Any]:
    """The curve parameters of ``configs`` under ifbo's dataset prior (its code, vectorised)."""
    from ifbo.priors import ftpfn_prior as fp

    out = prior.output_for_config(configs)
    rng = fp.MyRNG(np.searchsorted(fp.OUTPUT_SORTED, out, side="left"))
    y0 = prior.y0
    yinf = rng.uniform(a=y0, b=prior.ymax)
    w = np.stack([rng.gamma(a=1) for _ in range(4)]).T
    w = w / w.sum(axis=1, keepdims=True)
    alpha = np.stack(
        [
            np.exp(rng.normal(1, 1)),
            np.exp(rng.normal(0, 1)),
            1.0 + np.exp(rng.normal(-4, 1)),
            np.exp(rng.normal(0.5, 0.5)),
        ]
    ).T
    xsat_max = 10 ** rng.normal(0, 1)
    rel = np.stack([rng.gamma(a=1) for _ in range(4)]).T
    xsat = ((xsat_max.T * rel.T) / np.max(rel, axis=1)).T
    prec = np.stack([1.0 / 10 ** rng.uniform(-3, 0) for _ in range(4)]).T
    rpsat = np.stack([1.0 - rng.exponential(scale=1) for _ in range(4)]).T
    sigma = np.exp(rng.normal(loc=-5, scale=1))
    return {
        "y0": y0,
        "yinf": yinf,
        "w": w,
        "alpha": alpha,
        "xsat": xsat,
        "prec": prec,
        "rpsat": rpsat,
        "sigma": sigma,
    }


def _task(prior: Any, seq: int, n_ctx: int, k: int) -> tuple[np.ndarray, np.ndarray]:
    """One task: tokens (seq, 2 + k) = [id, t, x] and values (seq,)."""
    n_levels = int(np.round(10 ** np.random.uniform(0, 3)))
    a = 10 ** np.random.uniform(-4, -1)
    weights = np.random.gamma(a, a, seq) + _EPS
    # exponential races: the order of the smallest keys (Exp(1) / weight) is sequential
    # sampling without replacement with probabilities proportional to the weights; a curve's
    # n_levels keys are i.i.d., so only its smallest min(n_levels, seq) matter
    m = min(n_levels, seq)
    gaps = np.random.exponential(size=(seq, m)) / (n_levels - np.arange(m))[None, :]
    first = np.cumsum(gaps, axis=1)  # the smallest m of n_levels Exp(1) keys, in order
    first = first / weights[:, None]
    keys = first.ravel()
    smallest = np.argpartition(keys, seq - 1)[:seq] if len(keys) > seq else np.arange(len(keys))
    flat = smallest[np.argsort(keys[smallest], kind="stable")]
    ordering = flat // m
    epochs = np.bincount(ordering, minlength=seq)
    cutoff = np.bincount(ordering[:n_ctx], minlength=seq)
    prior.new_dataset()
    configs = np.random.uniform(size=(seq, k))
    par = _parameters(prior, configs)
    # per point: its rank within its curve
    order = np.argsort(ordering, kind="stable")
    rank = np.empty(seq, dtype=np.int64)
    starts = np.r_[0, np.cumsum(epochs)[:-1]]
    rank[order] = np.arange(seq) - np.repeat(starts, epochs)
    # a curve's r-th point: level r + 1 while r < cutoff, else a distinct random level above
    level = rank + 1.0
    for cid in np.nonzero(epochs > cutoff)[0]:
        c, e = cutoff[cid], epochs[cid]
        picks = np.random.choice(np.arange(c + 1, n_levels + 1), size=e - c, replace=False)
        level[order[starts[cid] + c : starts[cid] + e]] = picks
    t = level / n_levels
    y = _curves(
        t,
        par["y0"],
        par["yinf"][ordering],
        par["w"][ordering],
        par["alpha"][ordering],
        par["xsat"][ordering],
        par["prec"][ordering],
        par["rpsat"][ordering],
        par["sigma"][ordering],
    )
    pos = np.arange(seq)
    ids = np.where((pos < n_ctx) | (rank > 0), ordering + 1, 0)
    tok = np.column_stack([ids, t, configs[ordering]])
    return tok, y


def get_batch(batch: int, seq: int, n_ctx: int, k: int) -> tuple[torch.Tensor, torch.Tensor]:
    """``batch`` tasks: tokens (batch, seq, 2 + k) and values (batch, seq), float32, drawn with
    numpy's and torch's global generators."""
    from ifbo.priors import ftpfn_prior as fp

    prior = fp.DatasetPrior(k, 23)
    toks, ys = [], []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for _ in range(batch):
            tok, y = _task(prior, seq, n_ctx, k)
            toks.append(tok)
            ys.append(y)
    return (
        torch.from_numpy(np.stack(toks)).float(),
        torch.from_numpy(np.stack(ys)).float(),
    )
