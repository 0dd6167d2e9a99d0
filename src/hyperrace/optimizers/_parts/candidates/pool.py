"""The race's candidate pool: paused trials to continue and fresh configurations to start.

Contract
--------
:func:`paused` lists the trials that may continue (paused below the maximum fidelity, not ended
by their own objective). :func:`fresh` draws new configurations with the decision's generator,
as rows of the one-hot unit cube (:class:`~hyperrace.optimizers._parts.data.onehot.OneHot`), none
equal to a configuration of the history and none repeated:

* ``n_prior`` from the space's prior: each dimension's own distribution (uniform, log-uniform,
  integers as :meth:`Int.sample <hyperrace.space.Int.sample>` draws them, categoricals uniform);
* ``n_local`` local perturbations of the ``centers`` (the best configurations by the surrogate's
  prediction): Gaussian steps of standard deviation ``local_scale`` on the numeric coordinates
  and, with probability ``local_scale``, a new choice of each categorical; then moved onto the
  space (ints to their nearest value, values clipped into the cube).

Only the configuration the race picks is decoded (:meth:`OneHot.decode`), so a pool of hundreds
costs a few array operations. Running trials are never candidates; the acquisition fantasises
them.
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

from hyperrace.history import History
from hyperrace.optimizers._parts.data.onehot import OneHot
from hyperrace.space import Categorical, Float, Int
from hyperrace.trial import StopReason, TrialRecord

__all__ = ["decode", "fresh", "local", "paused", "prior", "snap"]

Array = npt.NDArray[np.float64]
#: Rows are compared for duplicates after rounding to this many decimals.
_DECIMALS = 9


def paused(history: History, high: float) -> list[TrialRecord]:
    """Trials that can continue: paused below ``high``, not stopped by their own objective."""
    return [
        t
        for t in history.paused
        if t.fidelity < high and t.reason is not StopReason.OBJECTIVE_RETURNED
    ]


def _int_unit(dim: Int, k: Array) -> Array:
    """Integer values ``k`` as unit coordinates (as :meth:`Int.to_unit`)."""
    if dim.log:
        out: Array = (np.log(k) - math.log(dim.low)) / (math.log(dim.high) - math.log(dim.low))
    else:
        out = (k - dim.low) / (dim.high - dim.low)
    return np.clip(out, 0.0, 1.0)


def _int_snap(dim: Int, u: Array) -> Array:
    """Unit coordinates moved onto the nearest integer's coordinate (as decode then encode)."""
    u = np.clip(u, 0.0, 1.0)
    if dim.log:
        x = np.exp(math.log(dim.low) + u * (math.log(dim.high) - math.log(dim.low)))
    else:
        x = dim.low + u * (dim.high - dim.low)
    k = np.clip(np.floor(x + 0.5), dim.low, dim.high)
    return _int_unit(dim, k)


def prior(enc: OneHot, n: int, rng: np.random.Generator) -> Array:
    """``n`` rows drawn from each dimension's prior, shape (n, width). With conditional
    hyperparameters, drawn by :meth:`Space.sample` (children only where their parents make them
    active) and encoded one by one."""
    if enc.space.conditions:
        return enc.encode_many_valid([enc.space.sample(rng) for _ in range(n)]).reshape(
            n, enc.width
        )
    out = np.zeros((n, enc.width))
    for dim, cols in zip(enc.space.dimensions.values(), enc.slices, strict=True):
        if isinstance(dim, Categorical):
            out[np.arange(n), cols.start + rng.integers(0, len(dim.choices), size=n)] = 1.0
        elif isinstance(dim, Int):
            if dim.log:
                x = np.exp(rng.uniform(math.log(dim.low - 0.5), math.log(dim.high + 0.5), size=n))
                k = np.clip(np.floor(x + 0.5), dim.low, dim.high)
            else:
                k = rng.integers(dim.low, dim.high + 1, size=n).astype(np.float64)
            out[:, cols.start] = _int_unit(dim, k)
        elif isinstance(dim, Float):
            out[:, cols.start] = rng.random(n)
        else:  # another kind of dimension: its own sampler, encoded one by one
            out[:, cols.start] = [dim.to_unit(dim.sample(rng)) for _ in range(n)]
    return out


def snap(enc: OneHot, rows: Array) -> Array:
    """``rows`` moved onto the space: clipped, ints to their nearest value, one-hot blocks
    exact (argmax); with conditional hyperparameters, decoded and encoded again, so that inactive
    ones sit at their fixed points."""
    if enc.space.conditions:
        return enc.encode_many_valid([enc.decode(r) for r in np.clip(rows, 0.0, 1.0)]).reshape(
            len(rows), enc.width
        )
    out = np.clip(np.asarray(rows, dtype=np.float64), 0.0, 1.0)
    for dim, cols in zip(enc.space.dimensions.values(), enc.slices, strict=True):
        if isinstance(dim, Categorical):
            hot = np.argmax(out[:, cols], axis=1)
            out[:, cols] = 0.0
            out[np.arange(len(out)), cols.start + hot] = 1.0
        elif isinstance(dim, Int):
            out[:, cols.start] = _int_snap(dim, out[:, cols.start])
        elif not isinstance(dim, Float):
            out[:, cols.start] = [dim.to_unit(dim.from_unit(u)) for u in out[:, cols.start]]
    return out


def local(enc: OneHot, centers: Array, n: int, scale: float, rng: np.random.Generator) -> Array:
    """``n`` perturbations of rows of ``centers`` (see the module docstring)."""
    if n <= 0 or len(centers) == 0:
        return np.zeros((0, enc.width))
    picks = centers[rng.integers(0, len(centers), size=n)]
    moved = picks + rng.normal(0.0, scale, size=picks.shape)
    flips = rng.random((n, len(enc.slices))) < scale
    for k, (dim, cols) in enumerate(zip(enc.space.dimensions.values(), enc.slices, strict=True)):
        if isinstance(dim, Categorical):
            moved[:, cols] = picks[:, cols]
            choice = rng.integers(0, cols.stop - cols.start, size=n)
            rows = np.flatnonzero(flips[:, k])
            moved[rows, cols] = 0.0
            moved[rows, cols.start + choice[rows]] = 1.0
    return snap(enc, moved)


def fresh(
    enc: OneHot,
    history_x: Array,
    rng: np.random.Generator,
    n_prior: int,
    n_local: int = 0,
    centers: Array | None = None,
    local_scale: float = 0.1,
) -> Array:
    """New configurations as encoded rows (see the module docstring): the prior's first, then
    local ones; none equal to a row of ``history_x`` (the history's encoded configurations)."""
    draws = [prior(enc, n_prior, rng)]
    if centers is not None and n_local > 0:
        draws.append(local(enc, centers, n_local, local_scale, rng))
    rows = np.vstack(draws)
    seen = keys(history_x)
    keep = []
    for i, key in enumerate(_row_keys(rows)):
        if key not in seen:
            seen.add(key)
            keep.append(i)
    out: Array = rows[keep]
    return out


def _row_keys(rows: Array) -> list[bytes]:
    return [r.tobytes() for r in np.round(rows, _DECIMALS)]


def keys(rows: Array) -> set[bytes]:
    """What makes encoded rows the same configuration for the pool (equal to ``_DECIMALS``
    decimals): a row whose key is in ``keys(history_x)`` repeats a configuration of the history."""
    return set(_row_keys(rows))


def decode(enc: OneHot, row: Array) -> dict[str, object]:
    """The configuration of one row."""
    return enc.decode(row)
