"""Progress of ``optimize``: a live display in a terminal, one line per ended run elsewhere.

Outside a terminal (notebooks, ``nohup``, CI, batch jobs) :class:`LineProgress` writes one line
to standard error each time a run of a trial ends (paused, completed or failed), with its value
and the best so far, as Optuna does. In a terminal with rich installed, :class:`RichProgress`
shows a live budget bar with the counts of running, paused and failed trials, and prints the
line of each failed run above it.
"""

from __future__ import annotations

import datetime as dt
import math
import sys
from collections.abc import Callable
from typing import Any, Protocol, TextIO

from hyperrace.history import BestBy, History
from hyperrace.study._budget import Usage
from hyperrace.trial import StopReason, TrialRecord, TrialStatus

__all__ = ["LineProgress", "Progress", "RichProgress", "make_progress", "run_line"]

#: The longest config shown in a line, in characters (longer ones are cut with "...").
_CONFIG_WIDTH = 160


def _fmt(value: float) -> str:
    return f"{value:.6g}"


def _at(fidelity: float, fidelity_name: str | None) -> str:
    """`` at epochs 3``; nothing without a fidelity, or before the first report."""
    return "" if fidelity_name is None or fidelity <= 0 else f" at {fidelity_name} {fidelity:g}"


def best_text(history: History, fidelity_name: str | None, by: BestBy = "last") -> str:
    """``best 0.123 (trial 7 at epochs 12)``, or ``best -`` before any value."""
    best = history.best(by)
    value = history.best_value(by)
    if best is None or value is None:
        return "best -"
    return f"best {_fmt(value)} (trial {best.trial_id}{_at(best.fidelity, fidelity_name)})"


def _config_text(config: Any) -> str:
    text = "{" + ", ".join(f"{k}: {_short(v)}" for k, v in dict(config).items()) + "}"
    return text if len(text) <= _CONFIG_WIDTH else text[: _CONFIG_WIDTH - 3] + "..."


def _short(value: Any) -> str:
    return _fmt(value) if isinstance(value, float) else repr(value)


def _failure(message: str) -> str:
    """The line that says what went wrong: a traceback's last line, or the message itself."""
    lines = [line.strip() for line in message.strip().splitlines() if line.strip()]
    return lines[-1] if lines else "no reason recorded"


def run_line(
    trial: TrialRecord,
    history: History,
    *,
    study: str,
    fidelity_name: str | None,
    by: BestBy = "last",
) -> str:
    """One line about a run of ``trial`` that just ended, e.g.::

    [12:03:04] trial 3 paused at epochs 3 with value 0.2113; best 0.18 (trial 1 at epochs 9)
    [12:03:05] trial 5 failed at epochs 2: ZeroDivisionError: division by zero
    (see: hyperrace show NAME --trial 5)
    """
    clock = dt.datetime.fromtimestamp(trial.updated).strftime("%H:%M:%S") if trial.updated else ""
    head = f"[{clock}] " if clock else ""
    where = _at(trial.fidelity, fidelity_name)
    if trial.status is TrialStatus.FAILED:
        return (
            f"{head}trial {trial.trial_id} failed{where}: {_failure(trial.message)} "
            f"(see: hyperrace show {study} --trial {trial.trial_id})"
        )
    value = "no value" if trial.last_value is None else f"value {_fmt(trial.last_value)}"
    why = ""
    if trial.status is TrialStatus.PAUSED and trial.reason not in (
        StopReason.REACHED,
        StopReason.NONE,
    ):
        why = f" ({trial.reason.value})"
    return (
        f"{head}trial {trial.trial_id} {trial.status.value}{why}{where} with {value} and config "
        f"{_config_text(trial.config)}; {best_text(history, fidelity_name, by)}"
    )


class Progress(Protocol):
    """Receives the state of the study after every event of the race loop."""

    def update(self, history: History, usage: Usage) -> None:
        """The study now (called after every event of the loop)."""
        ...

    def ended(self, trial: TrialRecord, history: History) -> None:
        """A run of ``trial`` ended (``trial`` as it is recorded after that run)."""
        ...

    def close(self) -> None: ...


class LineProgress:
    """Writes :func:`run_line` of every ended run to ``stream`` (default: standard error, looked
    up at each line so that redirections made later are followed)."""

    def __init__(
        self,
        study: str,
        fidelity_name: str | None,
        by: BestBy = "last",
        stream: Callable[[], TextIO] | None = None,
    ) -> None:
        self._study, self._fidelity_name, self._by = study, fidelity_name, by
        self._stream = stream or (lambda: sys.stderr)

    def update(self, history: History, usage: Usage) -> None:
        """Nothing between runs: one line per ended run is the whole output."""

    def ended(self, trial: TrialRecord, history: History) -> None:
        out = self._stream()
        line = run_line(
            trial, history, study=self._study, fidelity_name=self._fidelity_name, by=self._by
        )
        out.write(line + "\n")
        out.flush()

    def close(self) -> None:
        """Nothing to release."""


def _eta(usage: Usage) -> float | None:
    frac = usage.fraction
    if not frac or frac >= 1.0 or usage.seconds <= 0:
        return None
    return usage.seconds * (1.0 - frac) / frac


class RichProgress:
    """A live display: budget bar, best so far, running, paused and failed trials, ETA (needs
    rich); the line of each failed run is printed above it."""

    def __init__(self, study: str, fidelity_name: str | None, by: BestBy = "last") -> None:
        from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

        self._study, self._fidelity_name, self._by = study, fidelity_name, by
        self._progress = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            TextColumn("{task.percentage:>3.0f}%"),
            TimeElapsedColumn(),
            TextColumn("{task.fields[status]}"),
            transient=False,
        )
        self._task = self._progress.add_task(study, total=1.0, status="")
        self._progress.start()

    def update(self, history: History, usage: Usage) -> None:
        eta = _eta(usage)
        status = (
            f"trials {len(history.trials)} · running {len(history.running)} · paused "
            f"{len(history.paused)} · failed {len(history.failed)} · epochs {usage.epochs:g} · "
            f"{best_text(history, self._fidelity_name, self._by)}"
            + (f" · ETA {math.ceil(eta)} s" if eta is not None else "")
        )
        self._progress.update(self._task, completed=usage.fraction or 0.0, status=status)

    def ended(self, trial: TrialRecord, history: History) -> None:
        if trial.status is TrialStatus.FAILED:
            line = run_line(
                trial, history, study=self._study, fidelity_name=self._fidelity_name, by=self._by
            )
            self._progress.console.print(line, markup=False, highlight=False)

    def close(self) -> None:
        self._progress.stop()


def make_progress(
    progress: bool | None, study: str, fidelity_name: str | None, by: BestBy = "last"
) -> Progress | None:
    """A live display when ``progress`` is True, or None and standard error is a terminal with
    rich installed; one line per ended run on standard error when None otherwise (or rich is
    missing); nothing when False."""
    if progress is False:
        return None
    stream: Any = sys.stderr
    if progress or (progress is None and hasattr(stream, "isatty") and stream.isatty()):
        try:
            return RichProgress(study, fidelity_name, by)
        except ImportError:
            if progress:
                from hyperrace._imports import require

                require("rich", "progress", "optimize(progress=True)")
    return LineProgress(study, fidelity_name, by)
