"""Rules every storage applies the same way: legal transitions and their messages."""

from __future__ import annotations

from hyperrace.exceptions import TrialStateError
from hyperrace.trial import TrialStatus

__all__ = ["check_end_status", "check_running"]


def check_running(trial_id: int, status: TrialStatus, action: str) -> None:
    """Raise :class:`TrialStateError` unless the trial is running."""
    if status is not TrialStatus.RUNNING:
        raise TrialStateError(
            f"cannot {action} trial {trial_id}: it is {status.value}, not running "
            "(only a running trial takes reports; ask for a new job to resume a paused one)"
        )


def check_end_status(status: TrialStatus) -> None:
    """A run ends paused, completed or failed, never running."""
    if status is TrialStatus.RUNNING:
        raise TrialStateError(
            "a run cannot end with status 'running'; use paused, completed or failed"
        )
