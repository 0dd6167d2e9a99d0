"""The optimizer protocol and its decisions.

The decisions (:class:`Start`, :class:`Resume`, :class:`Wait`, :class:`Done`) are frozen records
of :mod:`hyperrace.trial`, where storage reads them too; they are re-exported here.

An optimizer is a function of (space, history, rng) to a :data:`Decision`::

    class MyOptimizer:
        name = "mine"
        def decide(self, space, history, rng): ...
        def get_params(self): ...

Contract
--------
* ``decide`` is called by the study's race loop, the only writer of decisions, whenever a worker
  is free. It returns one of the closed set :class:`Start` (train a new configuration up to
  ``stop``), :class:`Resume` (continue paused trial ``trial_id`` up to ``stop``), :class:`Wait`
  (nothing to do until a running trial ends) or :class:`Done` (the search is over).
* Everything it decides must follow from ``history`` and ``rng``: it keeps no state it cannot
  rebuild from the history. Caches are fine, provided a fresh instance given the same history and
  generator makes the same decision. That is what makes resume after a crash and many workers
  exact. ``rng`` is derived from (study seed, decision index); never use global generators.
* ``decide`` must not modify its arguments, and must be fast enough to call once per job.
* ``stop`` lies within the space's fidelity range (the maximum when the space has no fidelity is
  1). A Resume names a paused trial and a ``stop`` above its current fidelity.
* ``get_params`` returns the keyword arguments that rebuild the optimizer: JSON values only.
* Optimizers are not shared between threads.
"""

from __future__ import annotations

from typing import Any, ClassVar, Protocol, runtime_checkable

import numpy as np

from hyperrace.history import History
from hyperrace.space import Space
from hyperrace.trial import Decision, Done, Resume, Start, Wait

__all__ = ["Decision", "Done", "Optimizer", "Resume", "Start", "Wait"]


@runtime_checkable
class Optimizer(Protocol):
    """Decides which configuration gets the next slice of budget. See the module docstring."""

    name: ClassVar[str]

    def decide(self, space: Space, history: History, rng: np.random.Generator) -> Decision:
        """The next decision for this history."""
        ...

    def get_params(self) -> dict[str, Any]:
        """The keyword arguments that rebuild this optimizer (JSON values)."""
        ...
