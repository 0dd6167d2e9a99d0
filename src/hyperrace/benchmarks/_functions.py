"""Standard test functions for full-fidelity optimizers, with their known minima.

Each :class:`TestFunction` has a :class:`~hyperrace.space.Space` (one ``Float`` per input,
no fidelity), ``value(config)`` and ``optimum``; ``objective(trial)`` returns the value, so a
study can run it directly. Definitions and minima as in the usual references (e.g. the Virtual
Library of Simulation Experiments of Surjanovic and Bingham).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from hyperrace.space import Float, Space
from hyperrace.trial import Trial

__all__ = ["FUNCTIONS", "TestFunction", "ackley", "branin", "hartmann6", "levy"]


@dataclass(frozen=True)
class TestFunction:
    """A function to minimise over a box.

    Attributes:
        name: e.g. ``"branin"``.
        bounds: (low, high) per input.
        optimum: the global minimum value.
        fn: the function of a 1-D numpy array.
    """

    name: str
    bounds: tuple[tuple[float, float], ...]
    optimum: float
    fn: Callable[[np.ndarray], float]
    space: Space = field(init=False)

    __test__ = False  # not a pytest test class

    def __post_init__(self) -> None:
        dims = {f"x{i}": Float(lo, hi) for i, (lo, hi) in enumerate(self.bounds)}
        object.__setattr__(self, "space", Space(**dims))

    def value(self, config: Mapping[str, Any]) -> float:
        """The function at ``config`` (keys ``x0``, ``x1``, ...)."""
        return float(self.fn(np.array([float(config[f"x{i}"]) for i in range(len(self.bounds))])))

    def objective(self, trial: Trial) -> float:
        """An objective for ``Study.optimize``: the value at ``trial.config``."""
        return self.value(trial.config)


def _branin(x: np.ndarray) -> float:
    a, b, c = 1.0, 5.1 / (4 * math.pi**2), 5 / math.pi
    r, s, t = 6.0, 10.0, 1 / (8 * math.pi)
    return float(a * (x[1] - b * x[0] ** 2 + c * x[0] - r) ** 2 + s * (1 - t) * math.cos(x[0]) + s)


_H_A = np.array(
    [
        [10, 3, 17, 3.5, 1.7, 8],
        [0.05, 10, 17, 0.1, 8, 14],
        [3, 3.5, 1.7, 10, 17, 8],
        [17, 8, 0.05, 10, 0.1, 14],
    ]
)
_H_P = 1e-4 * np.array(
    [
        [1312, 1696, 5569, 124, 8283, 5886],
        [2329, 4135, 8307, 3736, 1004, 9991],
        [2348, 1451, 3522, 2883, 3047, 6650],
        [4047, 8828, 8732, 5743, 1091, 381],
    ]
)
_H_ALPHA = np.array([1.0, 1.2, 3.0, 3.2])


def _hartmann6(x: np.ndarray) -> float:
    inner = np.sum(_H_A * (x - _H_P) ** 2, axis=1)
    return float(-np.sum(_H_ALPHA * np.exp(-inner)))


def _ackley(x: np.ndarray) -> float:
    d = len(x)
    return float(
        -20 * math.exp(-0.2 * math.sqrt(float(np.sum(x**2)) / d))
        - math.exp(float(np.sum(np.cos(2 * math.pi * x))) / d)
        + 20
        + math.e
    )


def _levy(x: np.ndarray) -> float:
    w = 1 + (x - 1) / 4
    head = math.sin(math.pi * w[0]) ** 2
    mid = np.sum((w[:-1] - 1) ** 2 * (1 + 10 * np.sin(math.pi * w[:-1] + 1) ** 2))
    tail = (w[-1] - 1) ** 2 * (1 + math.sin(2 * math.pi * w[-1]) ** 2)
    return float(head + mid + tail)


def branin() -> TestFunction:
    """Branin on [-5, 10] x [0, 15]; minimum 0.397887 at three points."""
    return TestFunction("branin", ((-5.0, 10.0), (0.0, 15.0)), 0.397887357729739, _branin)


def hartmann6() -> TestFunction:
    """Hartmann-6 on [0, 1]^6; minimum -3.32237."""
    return TestFunction("hartmann6", ((0.0, 1.0),) * 6, -3.322368011391339, _hartmann6)


def ackley(d: int = 10) -> TestFunction:
    """Ackley on [-32.768, 32.768]^d; minimum 0 at the origin."""
    return TestFunction(f"ackley{d}", ((-32.768, 32.768),) * d, 0.0, _ackley)


def levy(d: int = 10) -> TestFunction:
    """Levy on [-10, 10]^d; minimum 0 at (1, ..., 1)."""
    return TestFunction(f"levy{d}", ((-10.0, 10.0),) * d, 0.0, _levy)


#: The functions of the model-based benchmark, by name.
FUNCTIONS: dict[str, Callable[[], TestFunction]] = {
    "branin": branin,
    "hartmann6": hartmann6,
    "ackley10": ackley,
    "levy10": levy,
}
