"""Progress of ``optimize``: a live display in a terminal, a log line now and then elsewhere."""

from __future__ import annotations

import logging
import math
import sys
from typing import Any, Protocol

from hyperrace.history import History
from hyperrace.study._budget import Usage

__all__ = ["LogProgress", "Progress", "RichProgress", "make_progress"]

logger = logging.getLogger("hyperrace")


def _best_text(history: History) -> str:
    best = history.best()
    if best is None or best.last_value is None:
        return "-"
    return f"{best.last_value:.6g} (trial {best.number}, fidelity {best.fidelity:g})"


def _eta(usage: Usage) -> float | None:
    frac = usage.fraction
    if not frac or frac >= 1.0 or usage.seconds <= 0:
        return None
    return usage.seconds * (1.0 - frac) / frac


class Progress(Protocol):
    """Receives the state of the study after every event of the race loop."""

    def update(self, history: History, usage: Usage) -> None: ...

    def close(self) -> None: ...


class LogProgress:
    """Logs one line through :mod:`logging` (logger ``hyperrace``) every ``every`` updates."""

    def __init__(self, every: int = 10) -> None:
        self._every = every
        self._n = 0

    def update(self, history: History, usage: Usage) -> None:
        self._n += 1
        if self._n % self._every == 0:
            logger.info(
                "trials %d (running %d, paused %d), epochs %g, best %s",
                len(history.trials),
                len(history.running),
                len(history.paused),
                usage.epochs,
                _best_text(history),
            )

    def close(self) -> None:
        """Nothing to release."""


class RichProgress:
    """A live display: budget bar, best so far, running and paused trials, ETA (needs rich)."""

    def __init__(self, title: str) -> None:
        from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

        self._progress = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            TextColumn("{task.percentage:>3.0f}%"),
            TimeElapsedColumn(),
            TextColumn("{task.fields[status]}"),
            transient=False,
        )
        self._task = self._progress.add_task(title, total=1.0, status="")
        self._progress.start()

    def update(self, history: History, usage: Usage) -> None:
        eta = _eta(usage)
        status = (
            f"trials {len(history.trials)} · running {len(history.running)} · paused "
            f"{len(history.paused)} · epochs {usage.epochs:g} · best {_best_text(history)}"
            + (f" · ETA {math.ceil(eta)} s" if eta is not None else "")
        )
        self._progress.update(self._task, completed=usage.fraction or 0.0, status=status)

    def close(self) -> None:
        self._progress.stop()


def make_progress(progress: bool | None, title: str) -> Progress | None:
    """A live display when ``progress`` is True, or None and stderr is a terminal with rich
    installed; log lines when None and not a terminal; nothing when False."""
    if progress is False:
        return None
    stream: Any = sys.stderr
    if progress or (progress is None and hasattr(stream, "isatty") and stream.isatty()):
        try:
            return RichProgress(title)
        except ImportError:
            if progress:
                from hyperrace._imports import require

                require("rich", "progress", "optimize(progress=True)")
    return LogProgress()
