"""Normal draws truncated to the unit interval: the one sampler that kernel densities (BOHB's
product KDE, TPE's Parzen estimator) and DYCORS's coordinate steps share.

Every entry is drawn from ``N(mean, sd)``; those outside [0, 1] are drawn again (in C order, one
generator call per round) until none is left. With ``mean`` in [0, 1] and ``sd`` <= 1.6 a round
accepts an entry with probability >= 0.27, so after :data:`ROUNDS` rounds an entry is left with
probability < 1e-27; such an entry is set to its mean, clipped to [0, 1].
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

__all__ = ["ROUNDS", "truncated_normal"]

#: The most rounds of redraws.
ROUNDS = 200

Array = npt.NDArray[np.float64]


def truncated_normal(
    mean: npt.ArrayLike,
    sd: npt.ArrayLike,
    rng: np.random.Generator,
    shape: tuple[int, ...] | None = None,
) -> Array:
    """Normal draws restricted to [0, 1], by rejection (see the module docstring).

    Args:
        mean: the means, in [0, 1].
        sd: the standard deviations (> 0).
        rng: the generator, called as ``rng.normal(means, sds)`` once per round.
        shape: the shape of the draws; ``mean`` and ``sd`` are broadcast to it (default: their
            broadcast shape).

    Returns:
        An array of ``shape``, every entry in [0, 1].
    """
    mu, s = np.broadcast_arrays(
        np.asarray(mean, dtype=np.float64), np.asarray(sd, dtype=np.float64)
    )
    if shape is not None:
        mu, s = np.broadcast_to(mu, shape), np.broadcast_to(s, shape)
    out = np.array(mu, dtype=np.float64)
    todo = np.ones(out.shape, dtype=np.bool_)
    for _ in range(ROUNDS):
        if not todo.any():
            break
        draw = rng.normal(mu[todo], s[todo])
        ok = (draw >= 0.0) & (draw <= 1.0)
        idx = np.flatnonzero(todo)
        out.flat[idx[ok]] = draw[ok]
        todo.flat[idx[ok]] = False
    result: Array = np.clip(out, 0.0, 1.0)
    return result
