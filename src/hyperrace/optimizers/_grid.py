"""Grid search: every combination of a per-dimension grid, in a shuffled order."""

from __future__ import annotations

import json
from typing import Any, ClassVar

import numpy as np

from hyperrace._params import Boolean, Declared, Integer, declare
from hyperrace.history import History
from hyperrace.optimizers._base import Decision, Done, Start
from hyperrace.optimizers._parts.data.observations import full_fidelity
from hyperrace.optimizers._registry import register
from hyperrace.space import Space

__all__ = ["GridSearch"]


def _key(config: Any) -> str:
    return json.dumps(config, sort_keys=True)


@register
class GridSearch(Declared):
    """Train every point of a grid to the maximum fidelity, each once, then stop.

    Float and Int dimensions get ``resolution`` evenly spaced values (log-spaced on a log scale,
    both ends included); categorical ones all their choices. The order is shuffled once from
    ``shuffle_seed`` so that a study cut short still covers the space evenly; points already
    started (any status) are skipped, so a resumed study never repeats one.

    Args:
        resolution: values per numeric dimension (at least 2).
        shuffle: visit the grid in a random order (True) or in the cartesian order (False).
        shuffle_seed: the seed of that order; the same seed gives the same order everywhere.
    """

    name: ClassVar[str] = "grid"
    parameters = declare(
        resolution=Integer(2, note="values per numeric dimension"),
        shuffle=Boolean(),
        shuffle_seed=Integer(0),
    )
    resolution: int
    shuffle: bool
    shuffle_seed: int

    def __init__(self, resolution: int = 5, shuffle: bool = True, shuffle_seed: int = 0) -> None:
        self._set(resolution=resolution, shuffle=shuffle, shuffle_seed=shuffle_seed)
        self._cache: tuple[str, list[dict[str, Any]]] | None = None

    def points(self, space: Space) -> list[dict[str, Any]]:
        """The grid in visiting order (cached per space)."""
        key = _key(space.to_dict())
        if self._cache is None or self._cache[0] != key:
            grid = space.grid(self.resolution)
            if self.shuffle:
                order = np.random.default_rng(self.shuffle_seed).permutation(len(grid))
                grid = [grid[i] for i in order]
            self._cache = (key, grid)
        return self._cache[1]

    def decide(self, space: Space, history: History, rng: np.random.Generator) -> Decision:
        seen = {_key(dict(t.config)) for t in history.trials}
        for point in self.points(space):
            if _key(point) not in seen:
                return Start(point, full_fidelity(space), {"grid_size": len(self.points(space))})
        return Done(f"all {len(self.points(space))} grid points were started")
