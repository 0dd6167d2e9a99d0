"""Lazy imports of optional extras, with an error that names the ``pip install`` that fixes it."""

from __future__ import annotations

import importlib
from types import ModuleType

from hyperrace.exceptions import MissingDependencyError

__all__ = ["require"]


def require(module: str, extra: str, purpose: str) -> ModuleType:
    """Import ``module`` or raise :class:`MissingDependencyError` naming the extra to install.

    Args:
        module: the importable module name, e.g. ``"pandas"``.
        extra: the hyperrace extra that provides it, e.g. ``"dataframe"``.
        purpose: what the caller wanted to do, for the message, e.g. ``"Study.to_dataframe()"``.
    """
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise MissingDependencyError(
            f"{purpose} needs the optional package {module!r}, which is not installed; "
            f"install it with: pip install 'hyperrace[{extra}]'"
        ) from exc
