"""Fidelity ladders and Hyperband brackets, in Li et al.'s convention (JMLR 2018, Algorithm 1).

With ``R = high / low`` and ``s_max = floor(log_eta(R))`` (computed without floating-point
logarithms, so no rung is lost to rounding), bracket ``s`` (``s_max`` down to 0) starts
``n = ceil((s_max + 1) / (s + 1) * eta**s)`` configurations at ``high * eta**-s`` and keeps
``n_i = floor(n * eta**-i)`` of them at ``high * eta**(i - s)`` for ``i = 0..s``. Budgets are
anchored at the maximum fidelity; for integer fidelities (epochs, steps) each is rounded to the
nearest integer, and never below ``low``.

For fidelity 1..81 and eta=3 the brackets are 81/27/9/3/1, 34/11/3/1, 15/5/1, 8/2, 5
configurations at budgets 1, 3, 9, 27, 81; for 1..52 (LCBench) rungs sit at 2, 6, 17 and 52.
"""

from __future__ import annotations

from dataclasses import dataclass

from hyperrace.exceptions import ConfigurationError
from hyperrace.space import Fidelity

__all__ = ["Bracket", "brackets", "rungs", "s_max"]

_TOL = 1e-9


def s_max(low: float, high: float, eta: int) -> int:
    """The largest ``s`` with ``low * eta**s <= high``: the number of rungs less one."""
    if not 0 < low <= high:
        raise ConfigurationError(f"fidelity range [{low}, {high}] must satisfy 0 < low <= high")
    s = 0
    while low * eta ** (s + 1) <= high * (1 + _TOL):
        s += 1
    return s


def _budget(fidelity: Fidelity, k: int, eta: int) -> float:
    """The budget ``high * eta**-k`` (k rungs below the top), rounded for integer fidelities."""
    value: float = float(fidelity.high) / float(eta**k)
    if fidelity.is_integer:
        value = float(round(value))
    return max(value, float(fidelity.low))


def rungs(fidelity: Fidelity, eta: int) -> list[float]:
    """Every rung budget, lowest first: ``high * eta**-k`` for k = s_max down to 0."""
    top = s_max(float(fidelity.low), float(fidelity.high), eta)
    return [_budget(fidelity, k, eta) for k in range(top, -1, -1)]


@dataclass(frozen=True, slots=True)
class Bracket:
    """One successive-halving bracket: ``sizes[i]`` configurations trained to ``budgets[i]``."""

    s: int
    sizes: tuple[int, ...]
    budgets: tuple[float, ...]


def brackets(fidelity: Fidelity, eta: int) -> list[Bracket]:
    """Hyperband's brackets, most exploratory first (``s = s_max`` down to 0)."""
    top = s_max(float(fidelity.low), float(fidelity.high), eta)
    out = []
    for s in range(top, -1, -1):
        n = -(-((top + 1) * eta**s) // (s + 1))  # ceil in integers
        sizes = tuple(n // eta**i for i in range(s + 1))
        budgets = tuple(_budget(fidelity, s - i, eta) for i in range(s + 1))
        out.append(Bracket(s, sizes, budgets))
    return out
