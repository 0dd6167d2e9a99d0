"""Differential evolution operators for DEHB (Awad, Mallik and Hutter, IJCAI 2021).

DEHB searches the unit cube (:meth:`Space.to_unit` vectors) with ``rand/1/bin`` DE, one
sub-population per rung budget. Defaults as in the reference code: mutation factor ``F = 0.5``,
crossover probability ``CR = 0.5``, out-of-bounds coordinates redrawn uniformly ("random").
Every function takes a numpy Generator; none touches global random state.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Literal

import numpy as np
import numpy.typing as npt

from hyperrace.exceptions import ConfigurationError
from hyperrace.optimizers._parts.schedule.ladder import Bracket

__all__ = [
    "BoundMode",
    "crossover_bin",
    "dehb_subpopulation_sizes",
    "fix_bounds",
    "mutate_rand1",
    "rand1_bin",
    "top_up",
]

Array = npt.NDArray[np.float64]
BoundMode = Literal["random", "clip"]


def _rows(pool: npt.ArrayLike) -> Array:
    arr = np.asarray(pool, dtype=np.float64)
    if arr.ndim == 1:
        arr = arr[None, :] if arr.size else arr.reshape(0, 0)
    if arr.ndim != 2:
        raise ValueError(f"a pool must be an (m, d) array, got shape {arr.shape}")
    return arr


def top_up(
    pool: npt.ArrayLike, extra_source: npt.ArrayLike, rng: np.random.Generator, size: int = 3
) -> Array:
    """``pool`` with rows of ``extra_source`` appended until it has ``size`` rows.

    The extra rows are drawn without replacement (with replacement only when the source is too
    small), e.g. from DEHB's global population or from fresh uniform vectors
    ``rng.random((3, d))``. A pool that is already big enough comes back unchanged.
    """
    rows = _rows(pool)
    need = size - rows.shape[0]
    if need <= 0:
        return rows
    extra = _rows(extra_source)
    if extra.shape[0] == 0:
        raise ValueError(f"the pool has {rows.shape[0]} rows < {size} and extra_source is empty")
    if rows.shape[0] and extra.shape[1] != rows.shape[1]:
        raise ValueError(f"extra_source has {extra.shape[1]} columns, the pool {rows.shape[1]}")
    pick = rng.choice(extra.shape[0], size=need, replace=extra.shape[0] < need)
    return np.concatenate([rows.reshape(-1, extra.shape[1]), extra[pick]])


def mutate_rand1(pool: npt.ArrayLike, F: float, rng: np.random.Generator) -> Array:  # noqa: N803
    """``r1 + F * (r2 - r3)`` for three distinct rows r1, r2, r3 of ``pool`` (m >= 3 rows; use
    :func:`top_up` first). The mutant may leave [0, 1]; see :func:`fix_bounds`."""
    rows = _rows(pool)
    if rows.shape[0] < 3:
        raise ValueError(f"rand/1 mutation needs >= 3 pool rows, got {rows.shape[0]}; top_up()")
    r1, r2, r3 = rows[rng.choice(rows.shape[0], size=3, replace=False)]
    mutant: Array = r1 + F * (r2 - r3)
    return mutant


def crossover_bin(
    target: npt.ArrayLike,
    mutant: npt.ArrayLike,
    CR: float,  # noqa: N803
    rng: np.random.Generator,
) -> Array:
    """Binomial crossover: each coordinate from ``mutant`` with probability ``CR``, else from
    ``target``; one coordinate, drawn uniformly, always comes from the mutant."""
    t = np.asarray(target, dtype=np.float64)
    m = np.asarray(mutant, dtype=np.float64)
    if t.shape != m.shape or t.ndim != 1:
        raise ValueError(f"target {t.shape} and mutant {m.shape} must be vectors of equal length")
    take = rng.random(t.size) < CR
    take[rng.integers(t.size)] = True
    out: Array = np.where(take, m, t)
    return out


def fix_bounds(
    vector: npt.ArrayLike, rng: np.random.Generator, mode: BoundMode = "random"
) -> Array:
    """``vector`` brought into [0, 1]: coordinates outside (or NaN) are redrawn uniformly
    (``"random"``, DEHB's default) or clipped to the nearest bound (``"clip"``, NaN -> 0.5)."""
    v = np.array(vector, dtype=np.float64)
    bad = ~((v >= 0.0) & (v <= 1.0))
    if mode == "random":
        v[bad] = rng.random(int(bad.sum()))
    elif mode == "clip":
        v = np.clip(np.nan_to_num(v, nan=0.5), 0.0, 1.0)
    else:
        raise ConfigurationError(f"boundary fix mode={mode!r} must be 'random' or 'clip'")
    return v


def rand1_bin(
    parent: npt.ArrayLike,
    pool: npt.ArrayLike,
    rng: np.random.Generator,
    *,
    F: float = 0.5,  # noqa: N803
    CR: float = 0.5,  # noqa: N803
    extra_source: npt.ArrayLike | None = None,
    mode: BoundMode = "random",
) -> Array:
    """One DEHB offspring in [0, 1]^d: mutate from ``pool`` (topped up to 3 rows from
    ``extra_source``, default fresh uniform vectors), cross with ``parent``, fix bounds."""
    p = np.asarray(parent, dtype=np.float64)
    rows = _rows(pool)
    if rows.shape[0] < 3:
        source = rng.random((3, p.size)) if extra_source is None else extra_source
        rows = top_up(rows, source, rng)
    return fix_bounds(crossover_bin(p, mutate_rand1(rows, F, rng), CR, rng), rng, mode)


def dehb_subpopulation_sizes(brackets: Iterable[Bracket]) -> dict[float, int]:
    """For each budget, the most configurations it holds in any bracket, lowest budget first.

    >>> from hyperrace.space import Fidelity
    >>> from hyperrace.optimizers._parts.schedule.ladder import brackets
    >>> dehb_subpopulation_sizes(brackets(Fidelity(1, 81), 3))
    {1.0: 81, 3.0: 34, 9.0: 15, 27.0: 8, 81.0: 5}
    """
    sizes: dict[float, int] = {}
    for bracket in brackets:
        for n, budget in zip(bracket.sizes, bracket.budgets, strict=True):
            sizes[budget] = max(sizes.get(budget, 0), n)
    return dict(sorted(sizes.items()))
