"""Our :class:`~hyperrace.space.Space` as a ConfigSpace ``ConfigurationSpace``, and back.

Used by the peers built on ConfigSpace (dehb, SMAC3): ``Float`` and ``Int`` become uniform float
and integer hyperparameters (``log`` kept), ``Categorical`` a categorical one; the fidelity is
left out (each peer gets it as its budget). :func:`from_configuration` turns a configuration the
peer proposes back into plain Python values of our space.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from hyperrace._imports import require
from hyperrace.exceptions import ConfigurationError
from hyperrace.space import Categorical, Float, Int, Space

__all__ = ["from_configuration", "to_configspace"]


def to_configspace(space: Space, seed: int) -> Any:
    """A ``ConfigSpace.ConfigurationSpace`` of ``space``'s hyperparameters, seeded."""
    cs = require("ConfigSpace", "peers", "the ConfigSpace-based peers")
    hyperparameters: list[Any] = []
    for name, dim in space.dimensions.items():
        if isinstance(dim, Float):
            hyperparameters.append(
                cs.UniformFloatHyperparameter(name, float(dim.low), float(dim.high), log=dim.log)
            )
        elif isinstance(dim, Int):
            hyperparameters.append(
                cs.UniformIntegerHyperparameter(name, int(dim.low), int(dim.high), log=dim.log)
            )
        elif isinstance(dim, Categorical):
            hyperparameters.append(
                cs.CategoricalHyperparameter(name, [str(c) for c in dim.choices])
            )
        else:
            raise ConfigurationError(
                f"hyperparameter {name!r} is a {type(dim).__name__}, which the ConfigSpace peers "
                f"do not translate; use Float, Int or Categorical"
            )
    configspace = cs.ConfigurationSpace(seed=seed)
    configspace.add(hyperparameters)
    return configspace


def from_configuration(space: Space, configuration: Mapping[str, Any]) -> dict[str, Any]:
    """A config of ``space`` from a ConfigSpace configuration (numpy scalars made plain)."""
    config: dict[str, Any] = {}
    for name, dim in space.dimensions.items():
        value = configuration[name]
        if isinstance(dim, Float):
            config[name] = float(value)
        elif isinstance(dim, Int):
            config[name] = round(float(value))
        elif isinstance(dim, Categorical):
            config[name] = next(c for c in dim.choices if str(c) == str(value))
    return space.validate(config)
