"""The simulated executor (work in progress: see elapse)."""

from __future__ import annotations

import threading

__all__ = ["elapse"]

_local = threading.local()


def elapse(seconds: float) -> None:
    """Spend ``seconds`` of simulated time in the running job (nothing outside a simulation)."""
    sim = getattr(_local, "worker", None)
    if sim is not None:
        sim.sleep(seconds)
