"""The objective's Trial handle and checkpoints, without a study around them."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from hyperrace._clock import ManualClock
from hyperrace.exceptions import TrialStateError
from hyperrace.trial import Checkpoint, InvalidValue, Observation, StopReason, Trial


class Sink:
    def __init__(self, go_on: bool = True) -> None:
        self.reports: list[tuple[Observation, float | None]] = []
        self.go_on = go_on

    def __call__(self, observation: Observation, checkpoint_fidelity: float | None) -> bool:
        self.reports.append((observation, checkpoint_fidelity))
        return self.go_on


def make(
    tmp_path: Path,
    *,
    start: float = 0,
    stop: float = 4,
    integer: bool = True,
    sink: Sink | None = None,
    clock: ManualClock | None = None,
    time_slice: float | None = None,
) -> Trial:
    return Trial(
        trial_id=7,
        number=0,
        config={"x": 1},
        start=start,
        stop=stop,
        integer_fidelity=integer,
        checkpoint=Checkpoint(tmp_path / "ck"),
        sink=sink or Sink(),
        clock=clock or ManualClock(),
        time_slice=time_slice,
    )


def test_epochs_run_from_start_to_stop_and_report_measures_time(tmp_path: Path) -> None:
    clock, sink = ManualClock(), Sink()
    trial = make(tmp_path, start=1, stop=4, sink=sink, clock=clock)
    steps = []
    for epoch in trial.epochs():
        clock.advance(2.0, cpu=1.5)
        steps.append(epoch)
        trial.report(1.0 / epoch)
    assert steps == [2, 3, 4]
    assert [o.fidelity for o, _ in sink.reports] == [2.0, 3.0, 4.0]
    assert all(o.wall_seconds == 2.0 and o.cpu_seconds == 1.5 for o, _ in sink.reports)
    assert trial.stop_reason is StopReason.REACHED and trial.fidelity == 4


def test_report_outside_epochs_needs_a_fidelity(tmp_path: Path) -> None:
    trial = make(tmp_path)
    with pytest.raises(TrialStateError, match="fidelity=1"):
        trial.report(0.5)
    assert trial.report(0.5, fidelity=2) is True
    with pytest.raises(TrialStateError, match="positive finite"):
        trial.report(0.5, fidelity=math.nan)


def test_nan_is_passed_on_then_raises(tmp_path: Path) -> None:
    sink = Sink(go_on=False)
    trial = make(tmp_path, sink=sink)
    with pytest.raises(InvalidValue, match="NaN at fidelity 1"):
        trial.report(math.nan, fidelity=1, checkpoint=lambda: pytest.fail("not called for NaN"))
    ((obs, ckpt),) = sink.reports
    assert math.isnan(obs.value) and ckpt is None
    assert trial.stop_reason is StopReason.INVALID_VALUE
    with pytest.raises(TrialStateError, match="has failed"):
        trial.report(0.1, fidelity=2)


def test_time_slice_ends_epochs_after_the_report_that_spent_it(tmp_path: Path) -> None:
    clock = ManualClock()
    trial = make(tmp_path, stop=10, clock=clock, time_slice=2.0)
    done = []
    for epoch in trial.epochs():
        clock.advance(0.1, cpu=0.75)
        done.append(epoch)
        keep_going = trial.report(0.5)
    assert done == [1, 2, 3] and keep_going is False
    assert trial.stop_reason is StopReason.TIME_SLICE


def test_a_sink_that_says_stop_interrupts_unless_the_stop_was_reached(tmp_path: Path) -> None:
    trial = make(tmp_path, stop=3, sink=Sink(go_on=False))
    assert trial.report(0.5, fidelity=1) is False
    assert trial.stop_reason is StopReason.INTERRUPTED
    trial2 = make(tmp_path, stop=3, sink=Sink(go_on=False))
    trial2.report(0.5, fidelity=3)
    assert trial2.stop_reason is StopReason.REACHED


def test_seconds_fidelity_counts_processor_seconds(tmp_path: Path) -> None:
    clock, sink = ManualClock(), Sink()
    trial = make(tmp_path, start=1.0, stop=3.0, integer=False, sink=sink, clock=clock)
    for _ in trial.epochs():
        clock.advance(0.1, cpu=0.5)
        trial.report(0.5)
    assert [o.fidelity for o, _ in sink.reports] == [1.5, 2.0, 2.5, 3.0]


def test_checkpoint_saves_atomically_and_loads_only_the_committed_one(tmp_path: Path) -> None:
    ck = Checkpoint(tmp_path / "t")
    assert ck.load() is None and ck.fidelity is None
    ck.save({"w": [1, 2]}, 1)
    ck.prune()
    ck.save({"w": [3]}, 2)
    ck.prune()
    # pickle, or torch.save once PyTorch is loaded in the process
    assert sorted(p.stem for p in (tmp_path / "t").iterdir()) == ["checkpoint-2"]
    # a process that starts from the storage's view (fidelity 2) ignores a later, uncommitted file
    ck.save({"w": [4]}, 3)
    reopened = Checkpoint(tmp_path / "t", fidelity=2.0)
    assert reopened.load() == {"w": [3]}
    assert not any(p.name.startswith(".tmp") for p in (tmp_path / "t").iterdir())


def test_report_saves_the_checkpoint_before_the_sink_sees_it(tmp_path: Path) -> None:
    seen = []

    def sink(observation: Observation, checkpoint_fidelity: float | None) -> bool:
        seen.append(Checkpoint(tmp_path / "ck", checkpoint_fidelity).load())
        return True

    trial = Trial(
        trial_id=1,
        number=0,
        config={},
        start=0,
        stop=2,
        integer_fidelity=True,
        checkpoint=Checkpoint(tmp_path / "ck"),
        sink=sink,
        clock=ManualClock(),
    )
    for epoch in trial.epochs():
        trial.report(0.1, checkpoint=lambda e=epoch: {"epoch": e})
    assert seen == [{"epoch": 1}, {"epoch": 2}]
    assert trial.checkpoint.load() == {"epoch": 2}


def test_a_wall_clock_slice_counts_wall_seconds(tmp_path: Path) -> None:
    clock = ManualClock()
    trial = Trial(
        trial_id=7,
        number=0,
        config={},
        start=0,
        stop=10,
        integer_fidelity=True,
        checkpoint=Checkpoint(tmp_path / "ck"),
        sink=Sink(),
        clock=clock,
        time_slice=2.0,
        slice_clock="wall",
    )
    done = []
    for epoch in trial.epochs():
        clock.advance(0.75, cpu=0.0)  # blocked: no processor time
        done.append(epoch)
        trial.report(0.5)
    assert done == [1, 2, 3] and trial.stop_reason is StopReason.TIME_SLICE
    assert trial.slice_seconds == trial.wall_seconds == 2.25 and trial.cpu_seconds == 0


def test_seconds_fidelity_on_the_wall_clock(tmp_path: Path) -> None:
    clock, sink = ManualClock(), Sink()
    trial = Trial(
        trial_id=7,
        number=0,
        config={},
        start=0.0,
        stop=1.0,
        integer_fidelity=False,
        checkpoint=Checkpoint(tmp_path / "ck"),
        sink=sink,
        clock=clock,
        fidelity_clock="wall",
    )
    for _ in trial.epochs():
        clock.advance(0.5, cpu=0.1)
        trial.report(0.5)
    assert [o.fidelity for o, _ in sink.reports] == [0.5, 1.0]


def test_alive_and_reports_are_signs_of_progress(tmp_path: Path) -> None:
    clock = ManualClock()
    trial = make(tmp_path, clock=clock)
    assert trial.last_alive == 0.0
    clock.advance(3.0)
    trial.alive()
    assert trial.last_alive == 3.0
    clock.advance(2.0)
    trial.report(0.5, fidelity=1)
    assert trial.last_alive == 5.0


def test_devices_as_assigned_or_as_this_process_sees_them(tmp_path: Path) -> None:
    trial = Trial(
        trial_id=7,
        number=0,
        config={},
        start=0,
        stop=1,
        integer_fidelity=True,
        checkpoint=Checkpoint(tmp_path / "ck"),
        sink=Sink(),
        devices=("cuda:0", "cuda:1"),
    )
    assert trial.devices == ("cuda:0", "cuda:1") and trial.device == "cuda:0"
    unassigned = make(tmp_path)
    # no GPU on this machine (or torch not loaded): the CPU
    assert unassigned.devices in (("cpu",),) or unassigned.devices[0].startswith("cuda:")


class Recorder:
    def __init__(self, fail: bool = False) -> None:
        self.seen: list[tuple[int, float, float]] = []
        self.fail = fail

    def report(self, trial: Trial, observation: Observation) -> None:
        if self.fail:
            raise RuntimeError("tracker down")
        self.seen.append((trial.trial_id, observation.fidelity, observation.value))


def test_mirrors_see_each_report_and_a_failing_one_does_not_stop_training(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    trial = make(tmp_path, stop=3)
    good, bad = Recorder(), Recorder(fail=True)
    trial.add_mirror(good)
    trial.add_mirror(bad)
    assert trial.report(0.5, fidelity=1) is True
    assert "tracker down" in caplog.text
    trial.remove_mirror(bad)
    trial.report(0.25, fidelity=2)
    trial.remove_mirror(good)
    trial.report(0.125, fidelity=3)
    assert good.seen == [(7, 1.0, 0.5), (7, 2.0, 0.25)]
