"""Flat rows of a study, for data frames and ``hyperrace export``."""

from __future__ import annotations

from typing import Any

from hyperrace.history import History
from hyperrace.space import Space

__all__ = ["TRIAL_COLUMNS", "rows", "trial_rows"]

TRIAL_COLUMNS = ("trial_id", "number", "status", "fidelity", "value", "work", "reason")


def rows(history: History, space: Space) -> list[dict[str, Any]]:
    """One row per observation: trial columns, ``param_<name>`` columns, the observation."""
    out = []
    for t in history.trials:
        base: dict[str, Any] = {
            "trial_id": t.trial_id,
            "number": t.number,
            "status": t.status.value,
        }
        base.update({f"param_{k}": t.config.get(k) for k in space.names})
        if not t.curve:
            out.append({**base, "fidelity": None, "value": None})
        for obs in t.curve:
            out.append(
                {
                    **base,
                    "fidelity": obs.fidelity,
                    "value": obs.value,
                    "wall_seconds": obs.wall_seconds,
                    "cpu_seconds": obs.cpu_seconds,
                    "time": obs.time,
                }
            )
    return out


def trial_rows(history: History, space: Space) -> list[dict[str, Any]]:
    """One row per trial: its status, last fidelity and value, work, stop reason, config."""
    out = []
    for t in history.trials:
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
