"""Clocks: the only place in hyperrace that reads the time.

A :class:`Clock` is passed to the study loop, the executors and the budget accounting. The
:class:`SystemClock` reads the machine; the :class:`ManualClock` is moved by hand, for tests and
for the simulator, so that nothing else needs to know whether time is real.

Two clocks measure a run (:data:`ClockName`): ``"wall"`` seconds (``Clock.wall``), the right
measure of a run on an accelerator, whose kernels run while the Python thread waits, and of a
run blocked in I/O or a lock; and ``"process"`` seconds (``Clock.cpu``), the processor time of
the process and of its child processes (``DataLoader`` workers), the fair measure of a CPU run
on a loaded machine. ``"auto"`` picks wall seconds for a run given accelerators, processor
seconds otherwise (:func:`resolve_clock`).
"""

from __future__ import annotations

import math
import os
import resource
import threading
import time
from pathlib import Path
from typing import Literal, Protocol, runtime_checkable

__all__ = [
    "CLOCK_NAMES",
    "Clock",
    "ClockName",
    "ManualClock",
    "SystemClock",
    "children_cpu_seconds",
    "clock_problem",
    "resolve_clock",
]

#: Which clock a time budget counts: ``"wall"``, ``"process"``, or ``"auto"`` (wall seconds for
#: a run given accelerators, processor seconds otherwise).
ClockName = Literal["auto", "wall", "process"]
CLOCK_NAMES: tuple[ClockName, ...] = ("auto", "wall", "process")


def clock_problem(argument: str, value: object) -> str | None:
    """Why ``value`` is not a :data:`ClockName` (a message naming ``argument`` and the
    choices), or ``None`` when it is one.

    >>> clock_problem("clock", "cpu")[:36]
    "clock='cpu' must be 'wall' (wall-clo"
    """
    if isinstance(value, str) and value in CLOCK_NAMES:
        return None
    return (
        f"{argument}={value!r} must be 'wall' (wall-clock seconds, for accelerators), "
        "'process' (processor seconds of the process and its children) or 'auto' (wall "
        "seconds for a run given accelerators, processor seconds otherwise)"
    )


def resolve_clock(name: ClockName, *, accelerated: bool) -> Literal["wall", "process"]:
    """The clock that ``name`` means for a run with (``accelerated``) or without accelerators.

    >>> resolve_clock("auto", accelerated=True), resolve_clock("auto", accelerated=False)
    ('wall', 'process')
    >>> resolve_clock("process", accelerated=True)
    'process'
    """
    if name == "auto":
        return "wall" if accelerated else "process"
    return name


@runtime_checkable
class Clock(Protocol):
    """Where time comes from. All values are in seconds."""

    def wall(self) -> float:
        """A monotonic wall-clock reading, for measuring durations."""
        ...

    def cpu(self) -> float:
        """Processor seconds consumed so far (user + system) by this process and its child
        processes."""
        ...

    def timestamp(self) -> float:
        """Seconds since the Unix epoch, for the dates stored with records."""
        ...


_TICK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
_PROC = Path("/proc")


def _live_children(pid: int) -> list[int]:
    """The live child processes of ``pid`` (Linux ``/proc``; empty where it is missing)."""
    out: list[int] = []
    try:
        tasks = list((_PROC / str(pid) / "task").iterdir())
    except OSError:
        return out
    for task in tasks:
        try:
            out.extend(int(c) for c in (task / "children").read_text().split())
        except (OSError, ValueError):
            continue
    return out


def _stat_cpu(pid: int) -> float | None:
    """Processor seconds of ``pid`` and of its children it waited for, or ``None`` if gone."""
    try:
        text = (_PROC / str(pid) / "stat").read_text()
    except OSError:
        return None
    fields = text[text.rindex(")") + 2 :].split()
    utime, stime, cutime, cstime = (int(f) for f in fields[11:15])
    return (utime + stime + cutime + cstime) / _TICK


#: Seconds between two scans of ``/proc`` for this process's live children: a child started
#: in between is counted from the next scan on (its whole time, since it is cumulative).
_RESCAN_SECONDS = 1.0
_scan_lock = threading.Lock()
_scan: tuple[int, float, tuple[int, ...]] = (-1, -math.inf, ())  # (pid, when, live children)


def _descendants() -> tuple[int, ...]:
    """This process's live descendants (children first), scanned at most every
    ``_RESCAN_SECONDS``; a forked child scans its own."""
    global _scan
    pid, now = os.getpid(), time.monotonic()
    with _scan_lock:
        scanned_pid, when, found = _scan
        if scanned_pid == pid and now - when < _RESCAN_SECONDS:
            return found
        out: list[int] = []
        pending = _live_children(pid)
        while pending:
            child = pending.pop()
            if child not in out:
                out.append(child)
                pending.extend(_live_children(child))
        _scan = (pid, now, tuple(out))
        return _scan[2]


def children_cpu_seconds() -> float:
    """Processor seconds of this process's child processes: those that ended and were waited
    for (``resource.getrusage(RUSAGE_CHILDREN)``), plus, on Linux, the live ones and their own
    descendants (read from ``/proc``), such as the workers of a PyTorch ``DataLoader``.

    A descendant that ended but was not yet waited for by a live parent is counted by that
    parent's ``/proc`` record; one waited for by this process moves to ``getrusage``."""
    ended = resource.getrusage(resource.RUSAGE_CHILDREN)
    total = ended.ru_utime + ended.ru_stime
    # read after getrusage: a child reaped in between is missed once, never counted twice
    for pid in _descendants():
        seconds = _stat_cpu(pid)
        if seconds is not None:
            total += seconds
    return total


class SystemClock:
    """The machine's clocks: ``time.monotonic``, ``time.process_time`` plus the processor time
    of child processes (:func:`children_cpu_seconds`), and ``time.time``.

    ``cpu`` never goes back: a child process that ends between two readings of its time could
    otherwise be missed for one reading.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._cpu = 0.0

    def wall(self) -> float:
        return time.monotonic()

    def cpu(self) -> float:
        now = time.process_time() + children_cpu_seconds()
        with self._lock:
            self._cpu = max(self._cpu, now)
            return self._cpu

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
