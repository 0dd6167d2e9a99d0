"""Rules every storage applies the same way: legal transitions and their messages."""

from __future__ import annotations

from dataclasses import dataclass

from hyperrace.exceptions import TrialStateError
from hyperrace.trial import StopReason, TrialStatus

__all__ = ["Lost", "check_end_status", "check_run", "check_running", "lost_outcome"]


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


@dataclass(frozen=True, slots=True)
class Lost:
    """How a lost run ends its trial: status, reason, message, and whether it counts as lost."""

    status: TrialStatus
    reason: StopReason
    message: str
    counted: bool


def lost_outcome(
    lost_before: int,
    message: str,
    max_retries: int | None,
    *,
    fidelity: float,
    target: float,
    max_fidelity: float | None,
) -> Lost:
    """The end of a trial whose run was just lost (lost ``lost_before`` times before).

    A run that had reported its granted fidelity lost nothing: it ends as it would have
    (completed at ``max_fidelity``, otherwise paused, reason ``reached``) and is not counted.
    Otherwise the trial is paused to be resumed, or failed once lost more than ``max_retries``
    times.
    """
    if fidelity >= target:
        done = max_fidelity is not None and fidelity >= max_fidelity
        return Lost(
            TrialStatus.COMPLETED if done else TrialStatus.PAUSED,
            StopReason.REACHED,
            f"{message} after it had reported its granted fidelity {target:g}",
            counted=False,
        )
    lost = lost_before + 1
    if max_retries is not None and lost > max_retries:
        return Lost(
            TrialStatus.FAILED,
            StopReason.LOST,
            f"{message}; failed: its runs were lost {lost} times, more than max_retries="
            f"{max_retries} (a configuration that kills its worker, e.g. out of memory?)",
            counted=True,
        )
    return Lost(TrialStatus.PAUSED, StopReason.LOST, message, counted=True)
