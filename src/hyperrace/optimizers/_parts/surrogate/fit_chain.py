"""Surrogate fits that a fresh optimizer instance can rebuild exactly: a chain of fits at fixed
points of the history, memoized in the process.

A model-based race refits its surrogate only at *fit points*: when the number of data points
``p`` (in the history's canonical order) is below ``refit_every`` or a multiple of it. A fit at
``p`` sees the first ``p`` points only, and is either from scratch (fixed initial weights) or a
warm start from the previous fit. Which, is decided by rules that read the first ``p`` points
only (:meth:`Schedule.plan`):

* from scratch at the first fit points (``p < refit_every``), when the best loss has not
  improved over the last ``patience`` points and the last scratch fit lies at least that far
  back, after ``max_chain`` warm starts in a row, and after a fit that failed;
* otherwise warm.

So the state used at a decision is a deterministic function of the data: a fresh instance (another
process, a restarted study) replays the chain from the last scratch fit the rules name (at most
``max_chain`` warm fits), a long-lived one finds the fits in the memo (:func:`replay`). The memo
holds the last fits of the process under a hash of everything a fit depends on.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import numpy as np
import numpy.typing as npt

__all__ = ["FitFailed", "Schedule", "replay"]

S = TypeVar("S")
#: Fits memoized in this process.
_MEMO_SIZE = 32
_memo: OrderedDict[bytes, tuple[Any, bool]] = OrderedDict()
_memo_lock = threading.Lock()


class FitFailed(RuntimeError):
    """A fit could not be completed (e.g. a matrix was not positive definite); the chain keeps
    the previous state and the next fit starts from scratch."""


@dataclass(frozen=True)
class Schedule:
    """When to refit, and when from scratch (see the module docstring).

    Attributes:
        refit_every: refit every this many new data points (>= 1).
        max_chain: warm starts in a row before a fit from scratch (>= 1).
        patience: restart from scratch when the best loss did not improve over this many points.
        first: the smallest number of points a fit needs (>= 1).
    """

    refit_every: int
    max_chain: int
    patience: int
    first: int = 2

    def points(self, n: int) -> list[int]:
        """The fit points up to ``n`` data points."""
        return [
            p for p in range(self.first, n + 1) if p < self.refit_every or p % self.refit_every == 0
        ]

    def plan(self, losses: npt.NDArray[np.float64]) -> list[tuple[int, bool]]:
        """The fit points for data whose losses in canonical order are ``losses`` (inf or NaN
        for failures), each with whether its fit is from scratch by the rules."""
        finite = np.where(np.isfinite(losses), losses, np.inf)
        best = np.minimum.accumulate(finite) if len(finite) else finite
        plan: list[tuple[int, bool]] = []
        last_scratch = -(10**9)
        chain = 0
        for p in self.points(len(losses)):
            stalled = p > self.patience and best[p - 1] >= best[p - 1 - self.patience]
            scratch = (
                p < self.refit_every
                or not plan
                or chain >= self.max_chain
                or (stalled and p - last_scratch >= self.patience)
            )
            if scratch:
                last_scratch, chain = p, 0
            else:
                chain += 1
            plan.append((p, scratch))
        return plan


class _Chain(Generic[S]):
    """A chain's memo access, typed."""

    @staticmethod
    def recall(key: bytes) -> tuple[S | None, bool] | None:
        with _memo_lock:
            hit = _memo.get(key)
            if hit is not None:
                _memo.move_to_end(key)
            return hit

    @staticmethod
    def remember(key: bytes, fit: tuple[S | None, bool]) -> None:
        with _memo_lock:
            _memo[key] = fit
            while len(_memo) > _MEMO_SIZE:
                _memo.popitem(last=False)


def replay(
    plan: list[tuple[int, bool]],
    key: Callable[[int], bytes],
    fit: Callable[[int, S | None], S],
) -> tuple[S | None, int, bool]:
    """The state at the last fit point of ``plan`` (memoized; replayed on a miss).

    Args:
        plan: fit points with their scratch flags (:meth:`Schedule.plan`).
        key: the memo key of the fit at ``p`` points (a hash of all it depends on).
        fit: ``fit(p, start)`` trains on the first ``p`` points from ``start`` (None: from
            scratch) and returns the state, or raises :class:`FitFailed`.

    Returns:
        The state (None when no fit succeeded), the last fit point (0 with no plan), and whether
        that fit was from scratch by the rules.
    """
    if not plan:
        return None, 0, False
    chain: _Chain[S] = _Chain()
    last, last_scratch = plan[-1]
    hit = chain.recall(key(last))
    if hit is not None:
        return hit[0], last, last_scratch
    begin = max(i for i, (_, scratch) in enumerate(plan) if scratch)
    state: S | None = None
    failed = False
    for i in range(len(plan) - 1, begin - 1, -1):
        cached = chain.recall(key(plan[i][0]))
        if cached is not None:
            state, failed = cached
            begin = i + 1
            break
    for p, scratch in plan[begin:]:
        fresh = scratch or failed or state is None
        try:
            state = fit(p, None if fresh else state)
            failed = False
        except FitFailed:
            failed = True  # keep the previous state; the next fit starts from scratch
        chain.remember(key(p), (state, failed))
    return state, last, last_scratch
