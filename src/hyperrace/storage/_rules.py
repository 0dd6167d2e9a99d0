"""Rules every storage applies the same way: legal transitions and their messages. (How a
lost run ends is :func:`hyperrace.trial.end_of_run`, as for every other end of a run.)"""

from __future__ import annotations

from hyperrace.exceptions import TrialStateError
from hyperrace.trial import TrialStatus

__all__ = ["check_end_status", "check_run", "check_running"]


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


def check_run(trial_id: int, run: int | None, current: int | None, action: str) -> None:
    """Raise :class:`TrialStateError` when ``run`` (the decision that started the caller's run)
    is not the trial's current run: the caller's run was taken as lost and the trial resumed by
    another, whose reports must not be mixed with a stale run's."""
    if run is not None and current is not None and run != current:
        raise TrialStateError(
            f"cannot {action} trial {trial_id} from the run of decision {run}: that run was "
            f"taken as lost and the trial is now trained by the run of decision {current}"
        )
