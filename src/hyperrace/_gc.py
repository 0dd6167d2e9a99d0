"""Python's cyclic garbage collector paused while many records are built at once.

Building a history of a million observations (or an optimizer's table of 100,000 trials)
allocates millions of objects, none of them in a reference cycle; the collector would run every
few hundred allocations and rescan the young ones, and now and then every object alive: about
half of the building time. Pausing it for that span and restoring it after is safe (reference
counting still frees everything not in a cycle).
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["collector_paused"]


@contextmanager
def collector_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector inside the ``with`` block; restored as it was."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()
