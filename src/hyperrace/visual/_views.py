"""A study read once (:class:`Snapshot`), and each named view of it as a Plotly figure.

The dashboard and ``hyperrace plot`` both go through here: :func:`read` loads a study from a
storage without writing to it (the study layer's :func:`~hyperrace.study.read_study`: this
package never opens a storage itself); :func:`figure` turns a snapshot into the figure of one
view.
"""

from __future__ import annotations

import hashlib
from typing import Any

from hyperrace.exceptions import ConfigurationError
from hyperrace.history import History
from hyperrace.study import Snapshot, read_study
from hyperrace.trial import TrialStatus
from hyperrace.visual import _plotly as fig
from hyperrace.visual._data import best_so_far, parallel_table, race
from hyperrace.visual._importance import importance

__all__ = ["MOST_DRAWN", "VIEWS", "Snapshot", "figure", "marker", "metric_of", "read", "summary"]

#: The views a study can be drawn as.
VIEWS = ("race", "best", "timeline", "parallel", "importance")
#: The most trials a figure draws by default (see :func:`figure`).
MOST_DRAWN = 2000


#: Read a study once, never writing: ``read(storage, name, since=None)`` is
#: :func:`hyperrace.study.read_study` (with the decision records), a :class:`Snapshot`; ``since``
#: maps study ids to earlier histories, read on from incrementally.
read = read_study


def metric_of(snap: Snapshot) -> str:
    """The name of the study's reported values (``Study(metric=...)``), ``"value"`` if unnamed."""
    name = snap.info.attrs.get("metric")
    return name if isinstance(name, str) and name else "value"


def marker(history: History) -> str:
    """A short string that changes whenever the study does: a new decision, trial, report or
    change of status (the dashboard refreshes only when it changes)."""
    if history.version:  # the storage counts changes: its counter is the marker
        return f"v{history.version}-{history.n_decisions}"
    digest = hashlib.blake2b(digest_size=8)
    digest.update(f"{history.n_decisions}:{len(history.trials)}".encode())
    for t in history.trials:
        digest.update(f"{t.trial_id}:{t.status.value}:{len(t.curve)}:{t.updated}|".encode())
    return digest.hexdigest()


def summary(snap: Snapshot) -> dict[str, Any]:
    """The study's headline numbers, as JSON values."""
    h = snap.history
    best = h.best()
    return {
        "name": snap.info.name,
        "direction": snap.info.direction,
        "metric": metric_of(snap),
        "optimizer": dict(snap.info.optimizer),
        "fidelity": snap.space.fidelity_name,
        "n_trials": len(h.trials),
        "n_decisions": h.n_decisions,
        "status": {s.value: len(h.with_status(s)) for s in TrialStatus},
        "work": h.work,
        "elapsed_seconds": snap.info.elapsed_seconds,
        "best": None
        if best is None
        else {
            "trial_id": best.trial_id,
            "value": best.last_value,
            "fidelity": best.fidelity,
            "config": dict(best.config),
        },
    }


def figure(
    snap: Snapshot, view: str, *, colour: str = "auto", most: int | None = MOST_DRAWN
) -> dict[str, Any]:
    """The Plotly figure (a JSON-able dict) of one of :data:`VIEWS`; ``colour`` is what the
    race is coloured by (:data:`~hyperrace.visual.COLOUR_BY`). In a study of more than
    ``most`` trials the race, the timeline and the parallel coordinates draw a sample of them
    (:func:`~hyperrace.visual.drawn_trials`: the running, the best, an even sample of the rest;
    the title says so); None draws every trial.

    Raises:
        ConfigurationError: ``view`` is not one of :data:`VIEWS`, or ``colour`` is unknown.
    """
    fidelity_name = snap.space.fidelity_name or "fidelity"
    metric = metric_of(snap)
    if view == "race":
        return fig.race_figure(
            race(snap.history, snap.space, metric=metric, most=most), colour=colour
        )
    if view == "best":
        return fig.best_figure(
            best_so_far(snap.history, snap.space), fidelity_name=fidelity_name, metric=metric
        )
    if view == "timeline":
        return fig.timeline_figure(race(snap.history, snap.space, metric=metric, most=most))
    if view == "parallel":
        return fig.parallel_figure(
            parallel_table(snap.history, snap.space, metric=metric, most=most),
            direction=snap.history.direction,
        )
    if view == "importance":
        return fig.importance_figure(importance(snap.history, snap.space))
    raise ConfigurationError(f"view={view!r} is not one of {list(VIEWS)!r}")
