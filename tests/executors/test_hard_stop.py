"""Time slices enforced hard in worker processes, cooperatively everywhere.

The objectives below run in real worker processes (``spawn``): they are module-level functions
of this test module, which the workers import by name, and they write what they do to the file
named by ``HYPERRACE_TEST_LOG`` (one JSON list per line), since a worker shares nothing else
with the test.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import multiprocessing
import os
import time
from pathlib import Path
from typing import Any

import pytest

import hyperrace as hr
from hyperrace.executors import (
    HARD_STOP_EXIT_CODE,
    InProcessExecutor,
    Liveness,
    Outcome,
    ProcessExecutor,
    RunSpec,
)
from hyperrace.optimizers import ASHA
from hyperrace.testing.objectives import curve_value
from hyperrace.trial import StopReason, TrialStatus

SPACE = hr.Space(x=hr.Float(0.0, 1.0), epochs=hr.Fidelity(2, 4))


def _log(*row: Any) -> None:
    with open(os.environ["HYPERRACE_TEST_LOG"], "a", encoding="utf-8") as fh:
        fh.write(json.dumps([os.getpid(), *row]) + "\n")


def _spin(cpu_seconds: float) -> None:
    """Spend ``cpu_seconds`` of this process's processor time (at most 30 s of wall time)."""
    t0, deadline = time.process_time(), time.monotonic() + 30
    while time.process_time() - t0 < cpu_seconds and time.monotonic() < deadline:
        pass


def spins_after_its_first_report(trial: hr.Trial) -> None:
    """Reports each step with a checkpoint; a first run then spins without reporting for
    ``HYPERRACE_TEST_SPIN`` processor seconds (default 5: far past any slice of these tests)."""
    _log("run", trial.trial_id, trial.start)
    for step in trial.epochs():
        trial.report(curve_value(trial.config, step), checkpoint={"step": step})
        _log("report", trial.trial_id, step)
        if trial.start == 0:
            _spin(float(os.environ.get("HYPERRACE_TEST_SPIN", "5")))
    _log("returned", trial.trial_id, trial.fidelity)


def reports_often(trial: hr.Trial) -> None:
    """Reports every 0.02 processor seconds: a slice always ends at a report, soon after."""
    _log("run", trial.trial_id, trial.start)
    for step in trial.epochs():
        _spin(0.02)
        trial.report(curve_value(trial.config, step))
    _log("returned", trial.trial_id, trial.fidelity)


def _events(path: Path) -> list[list[Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def _spec(study: hr.Study, job: hr.Job, **slice_: float) -> RunSpec:
    return RunSpec(
        study_id=study.study_id,
        trial_id=job.trial_id,
        stop=job.stop,
        max_fidelity=float(study.space.fidelity.high),  # type: ignore[union-attr]
        integer_fidelity=True,
        artifacts=str(study.artifacts),
        liveness=Liveness(heartbeat_interval=0.5),
        **slice_,  # type: ignore[arg-type]
    )


def _run_one(executor: ProcessExecutor, spec: RunSpec) -> tuple[Outcome, Any]:
    """Submit one job, wait for its outcome; return it and the worker process that ran it."""
    executor.submit(spec)
    (worker,) = [p for p in multiprocessing.active_children() if p.name == "hyperrace-worker"]
    deadline = time.monotonic() + 60
    while not (outcomes := executor.wait(timeout=0.5)):
        assert time.monotonic() < deadline, "the job did not end"
    assert len(outcomes) == 1
    return outcomes[0], worker


@pytest.fixture
def event_log(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "events.log"
    monkeypatch.setenv("HYPERRACE_TEST_LOG", str(path))  # worker processes inherit it
    return path


def test_a_run_that_stops_reporting_is_stopped_hard_then_resumed(
    tmp_path: Path, event_log: Path
) -> None:
    study = hr.Study(
        "hard", SPACE, storage=f"sqlite:///{tmp_path / 'h.db'}", optimizer=ASHA(eta=2), seed=0
    )
    executor = ProcessExecutor(1)
    executor.start(study.storage, spins_after_its_first_report)
    try:
        job = study.ask()
        assert isinstance(job, hr.Job) and job.stop == 2
        t0 = time.monotonic()
        outcome, worker = _run_one(executor, _spec(study, job, time_slice=0.3, hard_stop_grace=0.3))
        seconds = time.monotonic() - t0
    finally:
        executor.shutdown()
        study.close()  # the ask/tell heartbeats of the job
    assert worker.exitcode == HARD_STOP_EXIT_CODE
    assert seconds < 20, "the hard stop came long after the slice and grace"
    trial = study.storage.trial(job.trial_id)
    assert (outcome.status, outcome.reason) == (TrialStatus.PAUSED, StopReason.TIME_SLICE)
    assert (trial.status, trial.reason) == (TrialStatus.PAUSED, StopReason.TIME_SLICE)
    assert outcome.fidelity == trial.fidelity == 1.0
    assert "stopped hard after" in trial.message and "without reporting" in trial.message
    assert "at fidelity 1 (what it reported is kept)" in trial.message
    assert outcome.message == trial.message
    assert [o.fidelity for o in trial.curve] == [1.0] and trial.checkpoint_fidelity == 1.0
    spent = float(trial.message.split("after ")[1].split(" ")[0])
    assert 0.6 <= spent < 2.0  # past slice + grace, within a few looks of the watchdog
    first = _events(event_log)
    assert [e[1] for e in first] == ["run", "report"]  # it never returned

    # the study goes on: the optimizer finishes the sliced run, from its checkpoint
    study.optimize(
        spins_after_its_first_report,
        budget=hr.Budget(trials=1, trial_cpu_seconds=30.0),
        executor=ProcessExecutor(1),
        progress=False,
    )
    resumed = study.storage.trial(job.trial_id)
    assert resumed.curve[0] == trial.curve[0]  # the first run's report, as it was made
    assert [o.fidelity for o in resumed.curve][:2] == [1.0, 2.0]
    assert resumed.status is not TrialStatus.RUNNING
    runs = [e for e in _events(event_log) if e[1] == "run"]
    assert runs[1][2:] == [job.trial_id, 1.0]  # started from the kept checkpoint
    assert runs[1][0] != runs[0][0]  # in a fresh worker process


def test_a_run_that_reports_is_stopped_at_a_report_and_its_worker_lives_on(
    tmp_path: Path, event_log: Path
) -> None:
    space = hr.Space(x=hr.Float(0.0, 1.0), epochs=hr.Fidelity(1, 1000))
    study = hr.Study(
        "soft", space, storage=f"sqlite:///{tmp_path / 's.db'}", seed=0, optimizer="random"
    )
    executor = ProcessExecutor(1)
    executor.start(study.storage, reports_often)
    workers = []
    try:
        for _ in range(2):
            job = study.ask()
            assert isinstance(job, hr.Job)
            outcome, worker = _run_one(
                executor, _spec(study, job, time_slice=0.4, hard_stop_grace=0.2)
            )
            workers.append(worker)
            trial = study.storage.trial(job.trial_id)
            assert (outcome.status, outcome.reason) == (TrialStatus.PAUSED, StopReason.TIME_SLICE)
            assert trial.reason is StopReason.TIME_SLICE
            assert "its time slice of 0.4 processor seconds was spent" in trial.message
            assert "hard" not in trial.message
            assert 5 <= trial.fidelity < 1000 and len(trial.curve) == trial.fidelity
        assert workers[0] is workers[1] and workers[0].is_alive()  # no exit, no new process
    finally:
        executor.shutdown()
        study.close()
    assert workers[0].exitcode == 0  # retired at shutdown, not stopped hard
    events = _events(event_log)
    assert [e[1] for e in events] == ["run", "returned"] * 2
    assert len({e[0] for e in events}) == 1


def test_in_process_runs_are_only_stopped_at_reports(
    tmp_path: Path,
    event_log: Path,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("HYPERRACE_TEST_SPIN", "0.6")
    study = hr.Study(
        "inproc", SPACE, storage=f"sqlite:///{tmp_path / 'i.db'}", seed=0, optimizer="random"
    )
    caplog.set_level(logging.WARNING, logger="hyperrace")
    budget = hr.Budget(trials=1, trial_cpu_seconds=0.2, hard_stop_grace=0.2)
    study.optimize(spins_after_its_first_report, budget=budget, progress=False)
    (trial,) = study.trials
    # this process could not be ended: the run went on to its next report, and stopped there
    assert [o.fidelity for o in trial.curve] == [1.0, 2.0]
    assert trial.status is TrialStatus.PAUSED
    assert [e[1:] for e in _events(event_log)] == [
        ["run", trial.trial_id, 0.0],
        ["report", trial.trial_id, 1],
        ["report", trial.trial_id, 2],
        ["returned", trial.trial_id, 2.0],
    ]
    warned = [r.getMessage() for r in caplog.records if "only enforced at reports" in r.message]
    assert len(warned) == 1 and f"trial {trial.trial_id} ran" in warned[0]

    # a run that reports often stops at a report, without a warning
    caplog.clear()
    space = hr.Space(x=hr.Float(0.0, 1.0), epochs=hr.Fidelity(1, 1000))
    other = hr.Study("often", space, storage=study.storage, seed=0, optimizer="random")
    executor = InProcessExecutor()
    executor.start(other.storage, reports_often)
    job = other.ask()
    assert isinstance(job, hr.Job)
    executor.submit(_spec(other, job, time_slice=0.2, hard_stop_grace=0.2))
    (outcome,) = executor.wait(0)
    other.close()
    assert outcome.reason is StopReason.TIME_SLICE and 3 <= outcome.fidelity < 1000
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]


def test_budget_hard_stop_grace() -> None:
    assert hr.Budget(trial_cpu_seconds=4.0).grace_in_effect == 2.0
    assert hr.Budget(trial_cpu_seconds=60.0).grace_in_effect == 15.0
    assert hr.Budget(trial_cpu_seconds=60.0, hard_stop_grace=5).grace_in_effect == 5
    assert hr.Budget(trial_cpu_seconds=60.0, hard_stop_grace=math.inf).grace_in_effect is None
    assert hr.Budget(epochs=10).grace_in_effect is None
    with pytest.raises(hr.ConfigurationError, match="needs a time slice"):
        hr.Budget(hard_stop_grace=3.0)
    for bad in (0, -1.0, math.nan, True):
        with pytest.raises(hr.ConfigurationError, match="hard_stop_grace"):
            hr.Budget(trial_cpu_seconds=1.0, hard_stop_grace=bad)
    study = hr.Study("spec", SPACE, storage="memory://", seed=0, optimizer="random")
    job = study.ask()
    assert isinstance(job, hr.Job)
    study.close()
    spec = study._race.spec(job, budget=hr.Budget(trial_cpu_seconds=40.0))
    assert (spec.time_slice, spec.slice_clock, spec.hard_stop_grace) == (40.0, "process", 10.0)


def sleeps_after_its_first_report(trial: hr.Trial) -> None:
    """Reports each step with a checkpoint; a first run then blocks in ``time.sleep`` (no
    processor time spent) for ``HYPERRACE_TEST_SLEEP`` seconds (default 60)."""
    _log("run", trial.trial_id, trial.start, list(trial.devices))
    for step in trial.epochs():
        trial.report(curve_value(trial.config, step), checkpoint={"step": step})
        _log("report", trial.trial_id, step)
        if trial.start == 0:
            time.sleep(float(os.environ.get("HYPERRACE_TEST_SLEEP", "60")))
    _log("returned", trial.trial_id, trial.fidelity)


def test_a_run_blocked_in_sleep_past_its_wall_clock_slice_is_stopped_hard_and_paused(
    tmp_path: Path, event_log: Path
) -> None:
    study = hr.Study(
        "wall", SPACE, storage=f"sqlite:///{tmp_path / 'w.db'}", optimizer=ASHA(eta=2), seed=0
    )
    executor = ProcessExecutor(1)
    executor.start(study.storage, sleeps_after_its_first_report)
    try:
        job = study.ask()
        assert isinstance(job, hr.Job) and job.stop == 2
        spec = _spec(study, job, time_slice=0.5, hard_stop_grace=0.5)
        spec = dataclasses.replace(spec, slice_clock="wall")
        t0 = time.monotonic()
        outcome, worker = _run_one(executor, spec)
        seconds = time.monotonic() - t0
    finally:
        executor.shutdown()
        study.close()
    assert worker.exitcode == HARD_STOP_EXIT_CODE
    assert seconds < 30, "the sleeping run was not stopped near its slice and grace"
    trial = study.storage.trial(job.trial_id)
    assert (outcome.status, outcome.reason) == (TrialStatus.PAUSED, StopReason.TIME_SLICE)
    assert (trial.status, trial.reason) == (TrialStatus.PAUSED, StopReason.TIME_SLICE)
    assert "wall-clock seconds without reporting" in trial.message
    # its curve and the step it really took are kept, with its checkpoint
    assert [o.fidelity for o in trial.curve] == [1.0] and trial.checkpoint_fidelity == 1.0
    assert trial.work == 1.0 and trial.lost_count == 0
    spent = float(trial.message.split("after ")[1].split(" ")[0])
    assert 1.0 <= spent < 5.0
    assert [e[1] for e in _events(event_log)] == ["run", "report"]


def test_the_same_run_on_the_process_clock_is_not_stopped_by_its_slice(
    tmp_path: Path, event_log: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # asleep, it spends no processor time: a processor-time slice never ends it (stall_after
    # does, below); here it wakes after 1.5 s and reports its next step, where the slice stops it
    monkeypatch.setenv("HYPERRACE_TEST_SLEEP", "1.5")
    study = hr.Study(
        "proc", SPACE, storage=f"sqlite:///{tmp_path / 'p.db'}", optimizer=ASHA(eta=2), seed=0
    )
    executor = ProcessExecutor(1)
    executor.start(study.storage, sleeps_after_its_first_report)
    try:
        job = study.ask()
        assert isinstance(job, hr.Job)
        spec = _spec(study, job, time_slice=0.5, hard_stop_grace=0.5)
        outcome, worker = _run_one(executor, dataclasses.replace(spec, slice_clock="process"))
    finally:
        executor.shutdown()
        study.close()
    assert worker.exitcode == 0
    assert outcome.reason is StopReason.REACHED and outcome.fidelity == 2.0


def test_a_hung_run_is_stopped_after_stall_after_and_counted_as_lost(
    tmp_path: Path, event_log: Path
) -> None:
    study = hr.Study(
        "hung", SPACE, storage=f"sqlite:///{tmp_path / 'g.db'}", optimizer=ASHA(eta=2), seed=0
    )
    executor = ProcessExecutor(1)
    executor.start(study.storage, sleeps_after_its_first_report)
    try:
        job = study.ask()
        assert isinstance(job, hr.Job)
        liveness = Liveness(heartbeat_interval=0.5, stall_after=1.0, max_retries=3)
        spec = dataclasses.replace(_spec(study, job), liveness=liveness)
        t0 = time.monotonic()
        outcome, worker = _run_one(executor, spec)
        seconds = time.monotonic() - t0
    finally:
        executor.shutdown()
        study.close()
    assert worker.exitcode == HARD_STOP_EXIT_CODE
    assert seconds < 30
    trial = study.storage.trial(job.trial_id)
    assert (trial.status, trial.reason, trial.lost_count) == (
        TrialStatus.PAUSED,
        StopReason.LOST,
        1,
    )
    assert (outcome.status, outcome.reason) == (TrialStatus.PAUSED, StopReason.LOST)
    assert "hung: no report and no trial.alive() for" in trial.message
    assert "stall_after 1 s" in trial.message
    assert [o.fidelity for o in trial.curve] == [1.0] and trial.checkpoint_fidelity == 1.0

    # the study resumes it first, from its checkpoint, in a fresh worker process
    study.optimize(
        sleeps_after_its_first_report,
        budget=hr.Budget(trials=1),
        executor=ProcessExecutor(1),
        progress=False,
        stall_after=30.0,
    )
    resumed = study.storage.trial(job.trial_id)
    assert resumed.curve[0] == trial.curve[0]
    assert [o.fidelity for o in resumed.curve][:2] == [1.0, 2.0]
    assert resumed.lost_count == 1
    runs = [e for e in _events(event_log) if e[1] == "run"]
    assert runs[1][2:4] == [job.trial_id, 1.0] and runs[1][0] != runs[0][0]


def alive_while_sleeping(trial: hr.Trial) -> None:
    """Trains its steps in 0.1 s sleeps, saying it is alive after each, with no report until the
    end of a step of 1.5 s: longer than stall_after, but never without a sign of progress."""
    for step in trial.epochs():
        for _ in range(15):
            time.sleep(0.1)
            trial.alive()
        trial.report(curve_value(trial.config, step))


def test_a_run_that_says_it_is_alive_is_not_taken_as_hung(tmp_path: Path) -> None:
    study = hr.Study("alive", SPACE, storage=f"sqlite:///{tmp_path / 'a.db'}", seed=0)
    study.optimize(
        alive_while_sleeping,
        budget=hr.Budget(trials=1),
        workers=2,
        progress=False,
        stall_after=1.0,
    )
    (trial,) = study.trials
    assert trial.lost_count == 0 and trial.reason is StopReason.REACHED


def test_in_process_a_hung_run_is_logged(
    tmp_path: Path,
    event_log: Path,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("HYPERRACE_TEST_SLEEP", "1.2")
    caplog.set_level(logging.WARNING, logger="hyperrace")
    study = hr.Study("inproc-hung", SPACE, storage="memory://", seed=0)
    study.optimize(
        sleeps_after_its_first_report, budget=hr.Budget(trials=1), progress=False, stall_after=0.5
    )
    (trial,) = study.trials
    assert trial.lost_count == 0 and trial.fidelity == 4  # it woke up each time and went on
    warned = [r.getMessage() for r in caplog.records if "no progress" in r.getMessage()]
    # once per stall (it slept after each of its 4 steps), not at every look of the watchdog
    assert 1 <= len(warned) <= 4
    assert all("cannot be stopped" in w for w in warned)


def test_stall_after_is_validated(tmp_path: Path) -> None:
    study = hr.Study("bad", SPACE, storage="memory://", seed=0)
    for bad in (0, -1.0, math.inf, True, "10"):
        with pytest.raises(hr.ConfigurationError, match="stall_after"):
            study.optimize(reports_often, progress=False, stall_after=bad)  # type: ignore[arg-type]


def test_budget_trial_seconds_and_its_clock() -> None:
    b = hr.Budget(trial_seconds=8.0, trial_clock="wall")
    assert (b.time_slice, b.slice_clock, b.grace_in_effect) == (8.0, "wall", 2.0)
    assert hr.Budget(trial_seconds=8.0).slice_clock == "auto"
    assert hr.Budget(trial_cpu_seconds=8.0).slice_clock == "process"
    assert hr.Budget(trial_seconds=8.0, hard_stop_grace=1.0).grace_in_effect == 1.0
    with pytest.raises(hr.ConfigurationError, match="trial_clock='gpu' must be 'wall'"):
        hr.Budget(trial_seconds=8.0, trial_clock="gpu")  # type: ignore[arg-type]
    with pytest.raises(hr.ConfigurationError, match="cannot be combined"):
        hr.Budget(trial_seconds=8.0, trial_cpu_seconds=8.0)
    with pytest.raises(hr.ConfigurationError, match="cannot be combined"):
        hr.Budget(trial_cpu_seconds=8.0, trial_clock="wall")
    with pytest.raises(hr.ConfigurationError, match="trial_seconds"):
        hr.Budget(trial_seconds=0)
    study = hr.Study("spec-clock", SPACE, storage="memory://", seed=0)
    job = study.ask()
    assert isinstance(job, hr.Job)
    study.close()
    spec = study._race.spec(job, budget=hr.Budget(trial_seconds=40.0, trial_clock="wall"))
    assert (spec.time_slice, spec.slice_clock, spec.hard_stop_grace) == (40.0, "wall", 10.0)
