"""The registry of optimizers by name: how a study stores and rebuilds its optimizer."""

from __future__ import annotations

import difflib
import inspect
from collections.abc import Mapping
from typing import Any, TypeVar

from hyperrace.exceptions import ConfigurationError, UnknownOptimizerError
from hyperrace.optimizers._base import Optimizer

__all__ = ["available", "make_optimizer", "optimizer_class", "register", "spec_of"]

_REGISTRY: dict[str, type[Any]] = {}
C = TypeVar("C", bound=type[Any])


def register(cls: C) -> C:
    """Class decorator: enrol an optimizer under its ``name`` (unique)."""
    name = cls.name
    if name in _REGISTRY and _REGISTRY[name] is not cls:
        raise ConfigurationError(f"an optimizer named {name!r} is registered already")
    _REGISTRY[name] = cls
    return cls


def available() -> list[str]:
    """The registered optimizer names, sorted."""
    return sorted(_REGISTRY)


def optimizer_class(name: str) -> type[Any]:
    """The class registered as ``name``; the error lists the valid names."""
    try:
        return _REGISTRY[name]
    except KeyError:
        close = difflib.get_close_matches(name, _REGISTRY, n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise UnknownOptimizerError(
            f"unknown optimizer {name!r}; the registered ones are: {', '.join(available())}.{hint}"
        ) from None


def make_optimizer(name: str, params: Mapping[str, Any] | None = None) -> Optimizer:
    """Build the optimizer ``name`` with keyword ``params``; bad names are named in the error."""
    cls = optimizer_class(name)
    params = dict(params or {})
    accepted = set(inspect.signature(cls).parameters)
    unknown = sorted(set(params) - accepted)
    if unknown:
        raise ConfigurationError(
            f"optimizer {name!r} takes no parameter {', '.join(map(repr, unknown))}; "
            f"it takes: {', '.join(sorted(accepted)) or 'none'}"
        )
    optimizer: Optimizer = cls(**params)
    return optimizer


def spec_of(optimizer: Optimizer) -> dict[str, Any]:
    """``{"name": ..., "params": ...}``: what a study stores to rebuild ``optimizer``."""
    return {"name": optimizer.name, "params": optimizer.get_params()}
