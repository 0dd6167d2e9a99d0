"""A job: one grant of budget to one trial, as ``Study.ask`` hands it out."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

__all__ = ["Job"]


@dataclass(frozen=True, slots=True)
class Job:
    """Train trial ``trial_id`` (configuration ``config``) from ``start`` up to ``stop``.

    Attributes:
        trial_id: the trial, for ``Study.report`` and ``Study.tell``.
        number: the trial's number within the study.
        config: its hyperparameters.
        start: the fidelity it has already trained (0 for a new trial).
        stop: train up to this fidelity, then ``tell``.
        kind: ``"start"`` or ``"resume"``.
        decision: the index of the decision that made this job.
        info: what the optimizer recorded with its decision.
    """

    trial_id: int
    number: int
    config: Mapping[str, Any]
    start: float
    stop: float
    kind: str
    decision: int
    info: Mapping[str, Any]
