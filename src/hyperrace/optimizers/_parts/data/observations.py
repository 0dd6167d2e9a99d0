"""What full-fidelity model-based optimizers learn from: results at the maximum fidelity.

Losses are "lower is better" whatever the study's direction. A failed trial (it raised, or
reported NaN or inf) has no value to learn from; :func:`results` gives it the worst loss seen so
far, so that a model steers away from it without being distorted by an arbitrary constant.
Running trials are *pending*: a model must not propose them again while they train.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from hyperrace.history import History
from hyperrace.space import Space
from hyperrace.trial import TrialStatus

__all__ = ["Results", "full_fidelity", "results"]


def full_fidelity(space: Space) -> float:
    """The fidelity a full-fidelity optimizer trains to (1 when the space has none)."""
    return float(space.fidelity.high) if space.fidelity is not None else 1.0


@dataclass(frozen=True)
class Results:
    """Results at the maximum fidelity, in creation order.

    Attributes:
        configs: the evaluated configurations (failed ones included).
        x: their unit-cube encodings, shape (n, d).
        losses: their losses, shape (n,); failed ones get the worst finite loss seen (or 0.0
            when nothing has succeeded yet); ``failed`` marks them.
        failed: shape (n,), True for failed trials.
        pending: configurations of running trials, shape (m, d) in the unit cube.
        pending_configs: the same as dicts.
        active: shape (n, d), True where a hyperparameter is active in ``configs`` (all True
            without conditions; an inactive one's coordinate in ``x`` is a fixed point).
        pending_active: the same for ``pending``, shape (m, d).
    """

    configs: list[Mapping[str, Any]]
    x: np.ndarray
    losses: np.ndarray
    failed: np.ndarray
    pending: np.ndarray
    pending_configs: list[Mapping[str, Any]]
    active: np.ndarray
    pending_active: np.ndarray

    def __len__(self) -> int:
        return len(self.configs)

    @property
    def n_success(self) -> int:
        return int(np.sum(~self.failed))


def results(space: Space, history: History) -> Results:
    """The evaluated configurations, their losses at the maximum fidelity, and the pending ones.

    A trial counts as evaluated once it reported at the maximum fidelity or failed; paused trials
    below it (clipped by the budget) and running ones are pending or ignored accordingly.
    """
    top = full_fidelity(space)
    configs: list[Mapping[str, Any]] = []
    losses: list[float] = []
    failed: list[bool] = []
    pending: list[Mapping[str, Any]] = []
    for t in history.trials:
        if t.status is TrialStatus.RUNNING:
            pending.append(t.config)
        elif t.status is TrialStatus.FAILED:
            configs.append(t.config)
            losses.append(np.nan)
            failed.append(True)
        else:
            value = t.value_at(top)
            if value is None and t.curve and t.curve[-1].fidelity >= top:
                value = t.curve[-1].value
            if value is not None:
                configs.append(t.config)
                losses.append(history.loss(value))
                failed.append(False)
    loss = np.asarray(losses, dtype=float)
    bad = np.asarray(failed, dtype=bool)
    if bad.any():
        loss[bad] = np.max(loss[~bad]) if (~bad).any() else 0.0
    d = len(space)
    return Results(
        configs=configs,
        x=space.to_unit_many(configs) if configs else np.zeros((0, d)),
        losses=loss,
        failed=bad,
        pending=space.to_unit_many(pending) if pending else np.zeros((0, d)),
        pending_configs=pending,
        active=space.active_mask(configs),
        pending_active=space.active_mask(pending),
    )
