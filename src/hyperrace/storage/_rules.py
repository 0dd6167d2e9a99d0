"""Rules every storage applies the same way: legal transitions and their messages."""

from __future__ import annotations

from hyperrace.exceptions import TrialStateError
from hyperrace.trial import TrialStatus

__all__ = ["check_end_status", "check_running", "lost_outcome"]


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


def lost_outcome(
    lost_before: int, message: str, max_retries: int | None
) -> tuple[TrialStatus, str]:
    """The status and message of a trial whose run was just lost, lost ``lost_before`` times
    before: paused to be resumed, or failed once it was lost more than ``max_retries`` times."""
    lost = lost_before + 1
    if max_retries is not None and lost > max_retries:
        return TrialStatus.FAILED, (
            f"{message}; failed: its runs were lost {lost} times, more than max_retries="
            f"{max_retries} (a configuration that kills its worker, e.g. out of memory?)"
        )
    return TrialStatus.PAUSED, message
