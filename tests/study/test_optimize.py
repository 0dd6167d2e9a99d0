"""study.optimize: budgets, time slices, failures, checkpoints, Ctrl-C, worker processes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

import hyperrace as hr
from hyperrace._clock import ManualClock
from hyperrace.testing.objectives import curve_value, failing_objective, learning_curve
from hyperrace.trial import StopReason

SPACE = hr.Space(x=hr.Float(0.0, 1.0), epochs=hr.Fidelity(1, 5))


def test_epoch_budget_is_spent_exactly_and_counted_over_calls(tmp_path: Path) -> None:
    study = hr.Study(
        "s", SPACE, storage=f"sqlite:///{tmp_path / 'a.db'}", seed=0, optimizer="random"
    )
    study.optimize(learning_curve, budget=hr.Budget(epochs=23), progress=False)
    h = study.history()
    assert h.work == 23
    assert len(h.trials) == 5  # four full trials and one clipped to 3 epochs
    assert h.trials[-1].target == 3 and h.trials[-1].status is hr.TrialStatus.PAUSED
    study.optimize(learning_curve, budget=hr.Budget(epochs=23), progress=False)
    assert study.history().work == 23  # spent already: nothing more
    study.optimize(learning_curve, budget=hr.Budget(epochs=30), progress=False)
    assert study.history().work == 30


def test_trial_budget_and_returned_values() -> None:
    space = hr.Space(x=hr.Float(-2.0, 2.0))
    study = hr.Study("s", space, storage="memory://", seed=0, optimizer="random")
    study.optimize(lambda t: (t.config["x"] - 1.0) ** 2, budget=hr.Budget(trials=7), progress=False)
    trials = study.trials
    assert len(trials) == 7
    assert all(t.status is hr.TrialStatus.COMPLETED and len(t.curve) == 1 for t in trials)
    assert study.best is not None
    assert study.best.last_value == min(t.last_value for t in trials)  # type: ignore[type-var]


def test_failing_objective_fails_its_trial_not_the_study() -> None:
    study = hr.Study("s", SPACE, storage="memory://", seed=4, optimizer="random")
    study.optimize(failing_objective, budget=hr.Budget(trials=8), progress=False)
    trials = study.trials
    assert len(trials) == 8
    errors = [t for t in trials if t.reason is StopReason.ERROR]
    nans = [t for t in trials if t.reason is StopReason.INVALID_VALUE]
    assert errors and nans and len(errors) + len(nans) == 8
    assert all("ValueError: diverged" in t.message and "Traceback" in t.message for t in errors)
    assert all(t.status is hr.TrialStatus.FAILED and len(t.curve) == 1 for t in errors + nans)


def test_time_slice_stops_at_a_report_and_keeps_the_partial_curve() -> None:
    clock = ManualClock()
    study = hr.Study("s", SPACE, storage="memory://", seed=0, clock=clock, optimizer="random")

    def objective(trial: hr.Trial) -> None:
        for epoch in trial.epochs():
            clock.advance(0.5, cpu=1.0)  # one processor second per epoch
            trial.report(curve_value(trial.config, epoch))

    study.optimize(objective, budget=hr.Budget(trials=2, trial_cpu_seconds=2.5), progress=False)
    for trial in study.trials:
        assert [o.fidelity for o in trial.curve] == [1, 2, 3]
        assert trial.status is hr.TrialStatus.PAUSED and trial.reason is StopReason.TIME_SLICE
        assert trial.work == 3 and trial.cpu_seconds == 3.0
        assert "2.5 processor seconds" in trial.message


def test_time_budget_in_wall_seconds() -> None:
    clock = ManualClock()
    study = hr.Study("s", SPACE, storage="memory://", seed=0, clock=clock, optimizer="random")

    def objective(trial: hr.Trial) -> None:
        for epoch in trial.epochs():
            clock.advance(1.0)
            trial.report(curve_value(trial.config, epoch))

    study.optimize(objective, budget=hr.Budget(seconds=12), progress=False)
    assert study.elapsed_seconds == pytest.approx(15.0)  # the running trial ends its run
    assert len(study.trials) == 3


def test_resume_pays_only_new_steps_and_sees_its_checkpoint() -> None:
    study = hr.Study("s", SPACE, storage="memory://", seed=0, optimizer="random")
    job = study.ask()
    assert isinstance(job, hr.Job)
    seen: list[Any] = []

    def objective(trial: hr.Trial) -> None:
        seen.append((trial.start, trial.checkpoint.load()))
        for epoch in trial.epochs():
            trial.report(curve_value(trial.config, epoch), checkpoint={"epoch": epoch})
            if epoch == 2 and len(seen) == 1:
                raise KeyboardInterrupt

    # first run: the in-process loop is interrupted at epoch 2 (as Ctrl-C would)
    study2 = hr.Study("s", storage=study.storage)
    study.tell(job, error="dropped")  # the asked job is not used further
    with pytest.raises(KeyboardInterrupt):
        study2.optimize(objective, budget=hr.Budget(trials=2), progress=False)
    interrupted = study2.trials[-1]
    assert interrupted.status is hr.TrialStatus.PAUSED
    assert interrupted.reason is StopReason.INTERRUPTED
    assert [o.fidelity for o in interrupted.curve] == [1, 2] and interrupted.work == 2
    # second run resumes it first, from its checkpoint
    study2.optimize(objective, budget=hr.Budget(trials=2), progress=False)
    resumed = study2.history().trial(interrupted.trial_id)
    assert resumed.status is hr.TrialStatus.COMPLETED
    assert [o.fidelity for o in resumed.curve] == [1, 2, 3, 4, 5]
    assert resumed.work == 5  # nothing trained twice
    assert seen[0] == (0.0, None) and seen[1] == (2.0, {"epoch": 2})
    decisions = study2.history(decisions=True).decisions
    assert decisions[-1].kind == "resume" and decisions[-1].start == 2.0


def test_objective_without_checkpoint_retrains_and_pays_again() -> None:
    study = hr.Study("s", SPACE, storage="memory://", seed=0, optimizer="random")
    calls = []

    def objective(trial: hr.Trial) -> None:
        calls.append(trial.start)
        for epoch in trial.epochs():
            trial.report(curve_value(trial.config, epoch))
            if epoch == 3 and len(calls) == 1:
                raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        study.optimize(objective, budget=hr.Budget(trials=1), progress=False)
    study.optimize(objective, budget=hr.Budget(trials=1), progress=False)
    (trial,) = study.trials
    assert calls == [0.0, 0.0]
    assert [o.fidelity for o in trial.curve] == [1, 2, 3, 4, 5]
    assert trial.work == 8  # 3 epochs, then 5 from scratch


def test_worker_processes_share_a_sqlite_study(tmp_path: Path) -> None:
    study = hr.Study(
        "s", SPACE, storage=f"sqlite:///{tmp_path / 'a.db'}", seed=0, optimizer="random"
    )
    study.optimize(learning_curve, budget=hr.Budget(epochs=40), workers=2, progress=False)
    h = study.history()
    assert h.work == 40
    assert all(t.status is hr.TrialStatus.COMPLETED for t in h.trials)
    assert sum(len(t.curve) for t in h.trials) == 40
    assert all(t.checkpoint_fidelity == 5 for t in h.trials)


def test_worker_processes_refuse_memory_storage_and_lambdas(tmp_path: Path) -> None:
    study = hr.Study("s", SPACE, storage="memory://", seed=0, optimizer="random")
    with pytest.raises(hr.ConfigurationError, match="in-memory storage"):
        study.optimize(learning_curve, budget=hr.Budget(epochs=5), workers=2, progress=False)
    study = hr.Study(
        "s", SPACE, storage=f"sqlite:///{tmp_path / 'a.db'}", seed=0, optimizer="random"
    )
    with pytest.raises(hr.ConfigurationError, match="module level"):
        study.optimize(lambda t: 0.0, budget=hr.Budget(epochs=5), workers=2, progress=False)
    assert study.trials == []


def test_a_worker_process_that_dies_pauses_its_trial_which_is_resumed(tmp_path: Path) -> None:
    from hyperrace.testing.objectives import dying_objective

    study = hr.Study(
        "s", SPACE, storage=f"sqlite:///{tmp_path / 'a.db'}", seed=0, optimizer="random"
    )
    study.optimize(dying_objective, budget=hr.Budget(epochs=20), workers=2, progress=False)
    h = study.history(decisions=True)
    assert h.work == 20
    first = h.trials[0]
    assert first.status is hr.TrialStatus.COMPLETED
    assert [o.fidelity for o in first.curve] == [1, 2, 3, 4, 5]
    assert first.work == 5  # resumed from its checkpoint at step 1
    assert [d.kind for d in h.decisions if d.trial_id == first.trial_id] == ["start", "resume"]


def test_an_objective_that_always_fails_stops_optimize_with_its_error() -> None:
    study = hr.Study("s", SPACE, storage="memory://", seed=0, optimizer="random")

    def broken(trial: hr.Trial) -> None:
        raise ImportError("No module named 'mymodel'")

    with pytest.raises(hr.ObjectiveFailingError, match=r"last 5 runs(.|\n)*No module named"):
        study.optimize(broken, budget=hr.Budget(epochs=100), max_failures_in_a_row=5)
    assert len(study.trials) == 5
    assert all(t.status is hr.TrialStatus.FAILED for t in study.trials)
