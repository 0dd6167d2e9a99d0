"""Flat rows of a study, for data frames and ``hyperrace export``.

:func:`trial_records` gives one row per trial, with the columns Optuna users know
(``number``, ``value``, ``datetime_start``, ``datetime_complete``, ``duration``, ``params_<name>``,
``user_attrs_<key>``, ``state``) and hyperrace's own (``trial_id``, ``fidelity``, ``work``,
``reason``, ...); :func:`observation_records` one row per reported value. Times are seconds since
the Unix epoch here (:data:`TIME_COLUMNS`): ``Study.to_dataframe`` turns them into datetimes
(UTC) and durations, ``hyperrace export`` into ISO 8601 text.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from hyperrace.history import History
from hyperrace.space import Space
from hyperrace.trial import TrialRecord

__all__ = [
    "DURATION_COLUMNS",
    "TIME_COLUMNS",
    "TRIAL_COLUMNS",
    "observation_records",
    "trial_records",
    "trial_rows",
]

TRIAL_COLUMNS = ("trial_id", "number", "status", "fidelity", "value", "work", "reason")
#: Columns that hold a moment, in seconds since the Unix epoch (``None``: not yet).
TIME_COLUMNS = ("datetime_start", "datetime_complete", "datetime")
#: Columns that hold a duration, in seconds (``None``: not yet).
DURATION_COLUMNS = ("duration",)


def _params(config: Any, space: Space) -> dict[str, Any]:
    return {f"params_{k}": config.get(k) for k in space.names}


def _user_attrs(history: History) -> list[str]:
    keys: dict[str, None] = {}
    for t in history.trials:
        keys.update(dict.fromkeys(t.user_attrs))
    return list(keys)


def trial_records(history: History, space: Space) -> list[dict[str, Any]]:
    """One row per trial, in order of creation: ``number``, ``trial_id``, ``state`` (its status),
    ``value`` (at the highest fidelity it reported; ``None`` before any), ``fidelity``,
    ``datetime_start`` (when it was created), ``datetime_complete`` (when it completed or failed;
    ``None`` while it may run again), ``duration``, ``params_<name>`` for every hyperparameter,
    ``user_attrs_<key>`` for every user attribute of any trial, then ``work``, ``reason``,
    ``message``, ``wall_seconds``, ``cpu_seconds``, ``lost_count``."""
    keys = _user_attrs(history)
    out = []
    for t in history.trials:
        done = t.status.is_finished
        row: dict[str, Any] = {
            "number": t.number,
            "trial_id": t.trial_id,
            "state": t.status.value,
            "value": t.last_value,
            "fidelity": t.fidelity,
            "datetime_start": t.created,
            "datetime_complete": t.updated if done else None,
            "duration": t.updated - t.created if done else None,
        }
        row.update(_params(t.config, space))
        row.update({f"user_attrs_{k}": t.user_attrs.get(k) for k in keys})
        row.update(
            {
                "work": t.work,
                "reason": t.reason.value,
                "message": t.message,
                "wall_seconds": t.wall_seconds,
                "cpu_seconds": t.cpu_seconds,
                "lost_count": t.lost_count,
            }
        )
        out.append(row)
    return out


def observation_records(history: History, space: Space) -> list[dict[str, Any]]:
    """One row per reported value, trial by trial in increasing fidelity: ``number``,
    ``trial_id``, ``state``, ``fidelity``, ``value``, ``datetime`` (when it was reported),
    ``wall_seconds`` and ``cpu_seconds`` (of the step), ``params_<name>``. A trial that reported
    nothing has one row with ``fidelity`` and ``value`` ``None``."""
    out = []
    for t in history.trials:
        base: dict[str, Any] = {"number": t.number, "trial_id": t.trial_id, "state": t.status.value}
        params = _params(t.config, space)
        if not t.curve:
            out.append(
                {
                    **base,
                    "fidelity": None,
                    "value": None,
                    "datetime": None,
                    "wall_seconds": None,
                    "cpu_seconds": None,
                    **params,
                }
            )
        for obs in t.curve:
            out.append(
                {
                    **base,
                    "fidelity": obs.fidelity,
                    "value": obs.value,
                    "datetime": obs.time,
                    "wall_seconds": obs.wall_seconds,
                    "cpu_seconds": obs.cpu_seconds,
                    **params,
                }
            )
    return out


def trial_rows(trials: Iterable[TrialRecord], space: Space) -> list[dict[str, Any]]:
    """One row per trial of ``trials`` for ``hyperrace show``: its status, last fidelity and
    value, work, stop reason, config (columns named as the hyperparameters)."""
    out = []
    for t in trials:
        row: dict[str, Any] = {
            "trial_id": t.trial_id,
            "number": t.number,
            "status": t.status.value,
            "fidelity": t.fidelity,
            "value": t.last_value,
            "work": t.work,
            "reason": t.reason.value,
        }
        row.update({k: t.config.get(k) for k in space.names})
        out.append(row)
    return out
