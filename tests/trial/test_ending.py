"""The one rule that ends a run: one test per outcome of ``end_of_run``."""

from __future__ import annotations

import pytest

from hyperrace.trial import (
    Ending,
    Failed,
    HardStopped,
    Interrupted,
    InvalidReport,
    Lost,
    Observation,
    Returned,
    RunState,
    SliceSpent,
    StopReason,
    TrialRecord,
    TrialStatus,
    end_of_run,
)

PAUSED, COMPLETED, FAILED = TrialStatus.PAUSED, TrialStatus.COMPLETED, TrialStatus.FAILED

#: Reached 3 of a granted 5, the maximum being 10.
SHORT = RunState(fidelity=3, stop=5, max_fidelity=10)
#: Reached the granted 5, below the maximum.
GRANTED = RunState(fidelity=5, stop=5, max_fidelity=10)
#: Reached the maximum.
DONE = RunState(fidelity=10, stop=10, max_fidelity=10)


# -- returned, or told ----------------------------------------------------------------------


def test_returned_at_the_maximum_completes() -> None:
    assert end_of_run(DONE, Returned()) == Ending(COMPLETED, StopReason.REACHED)
    assert end_of_run(DONE, Returned(told=True)) == Ending(COMPLETED, StopReason.REACHED)


def test_returned_at_the_granted_fidelity_pauses_as_reached() -> None:
    assert end_of_run(GRANTED, Returned()) == Ending(PAUSED, StopReason.REACHED)


def test_returned_early_pauses_and_says_where() -> None:
    assert end_of_run(SHORT, Returned()) == Ending(
        PAUSED,
        StopReason.OBJECTIVE_RETURNED,
        "the objective returned at fidelity 3 before the granted 5",
    )


def test_told_early_pauses_and_says_it_was_told() -> None:
    assert end_of_run(SHORT, Returned(told=True)) == Ending(
        PAUSED, StopReason.OBJECTIVE_RETURNED, "told at fidelity 3 before the granted 5"
    )


def test_without_a_known_maximum_nothing_completes() -> None:
    state = RunState(fidelity=10, stop=10)
    assert end_of_run(state, Returned()) == Ending(PAUSED, StopReason.REACHED)


# -- time slices ----------------------------------------------------------------------------


def test_a_spent_slice_pauses_with_its_seconds_and_clock() -> None:
    assert end_of_run(SHORT, SliceSpent(2.5, "processor")) == Ending(
        PAUSED,
        StopReason.TIME_SLICE,
        "its time slice of 2.5 processor seconds was spent at fidelity 3 (granted 5)",
    )


def test_a_spent_slice_at_the_maximum_completes() -> None:
    assert end_of_run(DONE, SliceSpent(2.5, "wall-clock")) == Ending(COMPLETED, StopReason.REACHED)


def test_a_hard_stop_below_the_granted_fidelity_pauses_as_time_slice() -> None:
    assert end_of_run(SHORT, HardStopped("stopped hard")) == Ending(
        PAUSED, StopReason.TIME_SLICE, "stopped hard"
    )


def test_a_hard_stop_at_the_granted_fidelity_pauses_as_reached() -> None:
    assert end_of_run(GRANTED, HardStopped("stopped hard")) == Ending(
        PAUSED, StopReason.REACHED, "stopped hard"
    )


def test_a_hard_stop_at_the_maximum_completes() -> None:
    assert end_of_run(DONE, HardStopped("stopped hard")) == Ending(
        COMPLETED, StopReason.REACHED, "stopped hard"
    )


# -- interrupted, failed ----------------------------------------------------------------------


@pytest.mark.parametrize("state", [SHORT, GRANTED, DONE])
def test_an_interrupted_run_pauses_wherever_it_stands(state: RunState) -> None:
    assert end_of_run(state, Interrupted("interrupted (Ctrl-C)")) == Ending(
        PAUSED, StopReason.INTERRUPTED, "interrupted (Ctrl-C)"
    )


@pytest.mark.parametrize("state", [SHORT, DONE])
def test_an_objective_that_raised_fails_with_its_traceback(state: RunState) -> None:
    assert end_of_run(state, Failed("Traceback ...")) == Ending(
        FAILED, StopReason.ERROR, "Traceback ..."
    )


def test_an_invalid_report_fails_with_why() -> None:
    assert end_of_run(SHORT, InvalidReport("the reported value is NaN")) == Ending(
        FAILED, StopReason.INVALID_VALUE, "the reported value is NaN"
    )


# -- lost -----------------------------------------------------------------------------------


def test_a_lost_run_pauses_to_be_resumed_and_counts() -> None:
    assert end_of_run(SHORT, Lost("its worker died", max_retries=3)) == Ending(
        PAUSED, StopReason.LOST, "its worker died", lost=True
    )


def test_a_run_lost_more_than_max_retries_times_fails() -> None:
    state = RunState(fidelity=3, stop=5, max_fidelity=10, lost_count=2)
    ending = end_of_run(state, Lost("its worker died", max_retries=2))
    assert (ending.status, ending.reason, ending.lost) == (FAILED, StopReason.LOST, True)
    assert ending.message.startswith("its worker died; failed: its runs were lost 3 times")
    assert "max_retries=2" in ending.message
    # at the limit it is still retried, and without a limit always
    assert end_of_run(state, Lost("its worker died", max_retries=3)).status is PAUSED
    assert end_of_run(state, Lost("its worker died", max_retries=None)).status is PAUSED


def test_a_run_lost_after_its_granted_fidelity_lost_nothing() -> None:
    lost = Lost("its worker died", max_retries=0)
    assert end_of_run(GRANTED, lost) == Ending(
        PAUSED,
        StopReason.REACHED,
        "its worker died after it had reported its granted fidelity 5",
    )
    assert end_of_run(DONE, lost) == Ending(
        COMPLETED,
        StopReason.REACHED,
        "its worker died after it had reported its granted fidelity 10",
    )


# -- the state of a record ------------------------------------------------------------------


def test_the_state_of_a_trial_record() -> None:
    record = TrialRecord(
        7, 0, {}, TrialStatus.RUNNING, curve=(Observation(3.0, 0.5),), target=5.0, lost_count=1
    )
    assert RunState.of(record, 10.0) == RunState(3.0, 5.0, 10.0, 1)
    assert not RunState.of(record).done and RunState(10, 10, 10).done


def test_anything_else_is_refused() -> None:
    with pytest.raises(TypeError, match="end_of_run"):
        end_of_run(SHORT, "returned")  # type: ignore[arg-type]
