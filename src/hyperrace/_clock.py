"""Clocks: the only place in hyperrace that reads the time.

A :class:`Clock` is passed to the study loop, the executors and the budget accounting. The
:class:`SystemClock` reads the machine; the :class:`ManualClock` is moved by hand, for tests and
for the simulator, so that nothing else needs to know whether time is real.
"""

from __future__ import annotations

import time
from typing import Protocol, runtime_checkable

__all__ = ["Clock", "ManualClock", "SystemClock"]


@runtime_checkable
class Clock(Protocol):
    """Where time comes from. All values are in seconds."""

    def wall(self) -> float:
        """A monotonic wall-clock reading, for measuring durations."""
        ...

    def cpu(self) -> float:
        """Processor seconds consumed by this process so far (user + system)."""
        ...

    def timestamp(self) -> float:
        """Seconds since the Unix epoch, for the dates stored with records."""
        ...


class SystemClock:
    """The machine's clocks: ``time.monotonic``, ``time.process_time`` and ``time.time``."""

    def wall(self) -> float:
        return time.monotonic()

    def cpu(self) -> float:
        return time.process_time()

    def timestamp(self) -> float:
        return time.time()


class ManualClock:
    """A clock that only moves when told to: ``advance(seconds, cpu=...)``.

    Args:
        start: the initial timestamp (seconds since the epoch).
    """

    def __init__(self, start: float = 1_700_000_000.0) -> None:
        self._wall = 0.0
        self._cpu = 0.0
        self._start = start

    def advance(self, seconds: float, *, cpu: float | None = None) -> None:
        """Move wall time by ``seconds`` and processor time by ``cpu`` (default: the same)."""
        if seconds < 0 or (cpu is not None and cpu < 0):
            raise ValueError(f"a clock cannot go back: advance({seconds}, cpu={cpu})")
        self._wall += seconds
        self._cpu += seconds if cpu is None else cpu

    def wall(self) -> float:
        return self._wall

    def cpu(self) -> float:
        return self._cpu

    def timestamp(self) -> float:
        return self._start + self._wall
