"""Lazy imports of optional extras, with an error that names the ``pip install`` that fixes it."""

from __future__ import annotations

import contextlib
import importlib
from collections.abc import Iterator
from types import ModuleType

from hyperrace.exceptions import MissingDependencyError

__all__ = ["require", "torch_one_thread"]


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


@contextlib.contextmanager
def torch_one_thread() -> Iterator[None]:
    """Run torch on one thread inside, restoring the caller's thread count after.

    The models hyperrace trains itself (surrogates, the small benchmark networks) are small:
    intra-op parallelism saves nothing on them, its threads stall when the cores are busy, and one
    thread makes results independent of the core count. Not thread-safe by itself (the thread
    count is global): callers in several threads hold a lock around it. Needs torch installed.
    """
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)
