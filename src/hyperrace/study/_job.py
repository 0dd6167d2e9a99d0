"""A job: one grant of budget to one trial, as ``Study.ask`` hands it out."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

__all__ = ["Job"]


@dataclass(frozen=True, slots=True)
class Job:
    """Train trial ``trial_id`` (configuration ``config``) from ``start`` up to ``stop``.

    ``start`` and ``stop`` are ints for a fidelity in epochs or steps (and for a space without a
    fidelity, whose one step is 1), so ``range(job.start + 1, job.stop + 1)`` counts the steps
    to train; floats for seconds.

    Attributes:
        trial_id: the trial: its identity everywhere (``Study.report``, ``Study.tell``,
            ``Study.checkpoint``, the CLI, the dashboard, the checkpoint folder ``trial-<id>``).
        number: the trial's position in the study (0, 1, ...).
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
