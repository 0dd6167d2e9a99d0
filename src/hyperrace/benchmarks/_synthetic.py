"""Synthetic learning curves with a known optimum: fast tasks for tests and benchmarks.

A configuration ``x`` (its unit-cube encoding ``u``) has a final loss ``g(x) >= 0``, zero at a
known optimum, and a power-law learning curve that falls from ``g(x) + c(x)`` after one epoch to
``g(x)`` at the maximum fidelity, at a configuration-dependent rate ``a(x)``::

    loss(x, b) = g(x) + c(x) * (b ** -a(x) - b_max ** -a(x)) / (1 - b_max ** -a(x)) + noise(x, b)

``c`` and ``a`` vary with ``x`` so that curves cross: the best configuration after one epoch is
not always the best at the end, as in real training. The noise is a deterministic function of
(task seed, config, fidelity), so a configuration evaluated twice gets the same curve, and its
size shrinks with training. A cost model gives the seconds one step would take, growing with
some hyperparameters (like batch size or width would).
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from hyperrace.benchmarks._task import Step
from hyperrace.space import Categorical, Fidelity, Float, Int, Space
from hyperrace.trial import Trial

__all__ = ["SyntheticCurves"]


def _unit_hash(*parts: Any) -> float:
    digest = hashlib.blake2b(json.dumps(parts, sort_keys=True).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little") / 2**64


@dataclass(frozen=True)
class SyntheticCurves:
    """A synthetic multi-fidelity task.

    Args:
        seed: which task of the family (the optimum's location and the curve shapes).
        max_epochs: the maximum fidelity (epochs, from 1).
        noise: the standard deviation of the noise after one epoch (it shrinks as 1/sqrt(epoch)).

    Attributes:
        space: five hyperparameters (two floats, one on a log scale, an int, a categorical) and
            ``epochs = Fidelity(1, max_epochs)``.
    Examples:
        >>> task = SyntheticCurves(seed=0)
        >>> task.value(task.best_config, task.max_epochs) == task.optimum < 0.01
        True
    """

    seed: int = 0
    max_epochs: int = 27
    noise: float = 0.01
    space: Space = field(init=False)
    _target: np.ndarray = field(init=False, repr=False)

    def __post_init__(self) -> None:
        space = Space(
            lr=Float(1e-4, 1e-1, log=True),
            momentum=Float(0.0, 0.99),
            width=Int(16, 512, log=True),
            layers=Int(1, 6),
            activation=Categorical(["relu", "tanh", "gelu"]),
            epochs=Fidelity(1, self.max_epochs),
        )
        rng = np.random.default_rng(self.seed)
        target = rng.uniform(0.15, 0.85, size=len(space))
        target[-1] = (int(rng.integers(3)) + 0.5) / 3  # the best activation's bin centre
        object.__setattr__(self, "space", space)
        object.__setattr__(self, "_target", target)

    @property
    def best_config(self) -> dict[str, Any]:
        """The configuration with the lowest final loss (each hyperparameter minimises its own
        term: the loss is a sum over them; integers are searched exhaustively)."""
        config = self.space.from_unit(self._target)
        for name, dim in self.space.dimensions.items():
            if isinstance(dim, Int):
                i = self.space.names.index(name)
                config[name] = min(
                    range(dim.low, dim.high + 1),
                    key=lambda v: (dim.to_unit(v) - self._target[i]) ** 2,
                )
        return config

    @property
    def optimum(self) -> float:
        """The lowest final loss any configuration reaches (about 0)."""
        return self.final_loss(self.best_config)

    def final_loss(self, config: Mapping[str, Any]) -> float:
        """``g(x)``: the loss at the maximum fidelity, without noise; 0 at the optimum."""
        u = self.space.to_unit(config)
        weights = np.array([4.0, 1.0, 2.0, 1.0, 0.0])
        loss = float(np.sum(weights * (u - self._target) ** 2))
        if abs(u[-1] - self._target[-1]) > 1e-9:
            loss += 0.05  # a wrong activation costs a constant
        return loss

    def value(self, config: Mapping[str, Any], epoch: float) -> float:
        """The loss of ``config`` after ``epoch`` epochs, noise included."""
        g = self.final_loss(config)
        key = (self.seed, sorted(config.items()))
        c = 0.5 + 2.5 * _unit_hash("c", key)
        a = 0.3 + 1.2 * _unit_hash("a", key)
        if epoch >= self.max_epochs:
            return g
        end: float = float(self.max_epochs) ** -a
        # 1 after one epoch, 0 at the end
        remaining: float = (float(epoch) ** -a - end) / (1.0 - end)
        u1, u2 = _unit_hash("n1", key, epoch), _unit_hash("n2", key, epoch)
        normal = math.sqrt(-2.0 * math.log(max(u1, 1e-300))) * math.cos(2 * math.pi * u2)
        return g + c * remaining + self.noise * normal / math.sqrt(epoch)

    def step_seconds(self, config: Mapping[str, Any]) -> float:
        """Seconds one epoch of ``config`` would take: grows with width and depth."""
        return 0.5 * float(config["width"]) / 64 * (0.5 + 0.5 * float(config["layers"]))

    @property
    def name(self) -> str:
        """``synthetic-<seed>``."""
        return f"synthetic-{self.seed}"

    def step(self, config: Mapping[str, Any], epoch: int) -> Step:
        """The loss after ``epoch`` epochs and the seconds one epoch takes (the Task protocol)."""
        return Step(self.value(config, epoch), self.step_seconds(config))

    def final_losses(self, configs: Sequence[Mapping[str, Any]]) -> npt.NDArray[np.float64]:
        """The noise-free loss of each config at the maximum fidelity."""
        return np.array([self.final_loss(c) for c in configs], dtype=np.float64)

    def objective(self, trial: Trial) -> None:
        """Report the curve from ``trial.start`` to ``trial.stop``; the checkpoint is the step."""
        for epoch in trial.epochs():
            trial.report(self.value(trial.config, epoch), checkpoint={"epoch": epoch})
