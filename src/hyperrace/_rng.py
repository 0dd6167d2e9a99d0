"""Per-decision random generators, derived from (study seed, decision index).

Optimizers never touch the global ``random``, ``numpy.random`` or torch generators: each decision
gets its own generator, so the same seed and history give the same decision in any process.
"""

from __future__ import annotations

import numpy as np

__all__ = ["decision_rng", "new_seed"]


def decision_rng(seed: int, index: int) -> np.random.Generator:
    """The generator for decision number ``index`` (0-based) of a study seeded with ``seed``."""
    return np.random.Generator(np.random.PCG64(np.random.SeedSequence([seed, index])))


def new_seed() -> int:
    """A fresh seed from the operating system's entropy, for studies created without one."""
    return int(np.random.SeedSequence().entropy % (2**63))  # type: ignore[operator]
