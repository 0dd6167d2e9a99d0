"""The simulated executor: event order with N workers, simulated time budgets and slices."""

from __future__ import annotations

from typing import Any

import pytest

import hyperrace as hr
from hyperrace.benchmarks import SyntheticCurves, task_objective
from hyperrace.executors import SimulatedClock, SimulatedExecutor, elapse
from hyperrace.trial import StopReason, TrialStatus

SPACE = hr.Space(cost=hr.Float(1.0, 10.0), epochs=hr.Fidelity(1, 5))


def costly(trial: hr.Trial) -> None:
    """Each epoch costs ``cost`` simulated seconds; the loss is the cost (cheap is good)."""
    for _ in trial.epochs():
        elapse(trial.config["cost"])
        trial.report(trial.config["cost"])


def study(executor: SimulatedExecutor, optimizer: Any = "random", seed: int = 0) -> hr.Study:
    return hr.Study(
        "sim", SPACE, storage="memory://", optimizer=optimizer, seed=seed, clock=executor.clock
    )


def observations(s: hr.Study) -> list[tuple[float, int, hr.Observation]]:
    """Every observation with its trial, in the order the storage recorded them."""
    return sorted(
        ((obs.time, t.trial_id, obs) for t in s.trials for obs in t.curve),
        key=lambda row: row[0],
    )


@pytest.mark.parametrize("workers", [1, 3, 8])
def test_each_report_is_recorded_at_its_simulated_time(workers: int) -> None:
    executor = SimulatedExecutor(workers=workers)
    s = study(executor)
    s.optimize(costly, hr.Budget(trials=20), executor=executor, progress=False)
    t0 = executor.clock.timestamp() - executor.clock.now
    for trial in s.trials:
        assert trial.status is TrialStatus.COMPLETED
        # a trial's reports are `cost` seconds apart, from the time it started
        times = [obs.time - t0 for obs in trial.curve]
        cost = trial.config["cost"]
        start = times[0] - cost
        assert times == pytest.approx([start + cost * k for k in range(1, 6)], abs=1e-5)
        assert [obs.wall_seconds for obs in trial.curve] == pytest.approx([cost] * 5, abs=1e-5)
        assert [obs.cpu_seconds for obs in trial.curve] == pytest.approx([cost] * 5, abs=1e-5)


def test_a_freed_worker_starts_the_next_trial_at_once() -> None:
    """With N workers there are always N trials running until the trial budget is spent: each
    trial starts at the simulated moment an earlier one ended (or at 0)."""
    executor = SimulatedExecutor(workers=3)
    s = study(executor)
    s.optimize(costly, hr.Budget(trials=12), executor=executor, progress=False)
    t0 = executor.clock.timestamp() - executor.clock.now
    spans = []
    for trial in s.trials:
        cost = trial.config["cost"]
        first = trial.curve[0].time - t0
        spans.append((first - cost, trial.curve[-1].time - t0))
    spans.sort()
    starts, ends = [a for a, _ in spans], sorted(b for _, b in spans)
    assert starts[:3] == pytest.approx([0.0, 0.0, 0.0], abs=1e-5)
    # the k-th later start is the k-th end: no worker idles while trials remain to start
    assert starts[3:] == pytest.approx(ends[: len(starts) - 3], abs=1e-5)
    assert executor.clock.now == pytest.approx(max(ends), abs=1e-5)
    assert executor.busy_seconds == pytest.approx(sum(b - a for a, b in spans), abs=1e-5)


def test_stragglers_do_not_hold_the_others_back() -> None:
    """One slow trial on one worker; the other worker runs many fast ones meanwhile."""

    class Fixed:
        name = "fixed"

        def decide(self, space: hr.Space, history: Any, rng: Any) -> Any:
            from hyperrace.optimizers import Start

            cost = 10.0 if len(history.trials) == 0 else 1.0
            return Start({"cost": cost}, stop=5)

        def get_params(self) -> dict[str, Any]:
            return {}

    executor = SimulatedExecutor(workers=2)
    s = study(executor, optimizer=Fixed())
    s.optimize(costly, hr.Budget(trials=11), executor=executor, progress=False)
    slow = next(t for t in s.trials if t.config["cost"] == 10.0)
    t0 = executor.clock.timestamp() - executor.clock.now
    assert slow.curve[-1].time - t0 == pytest.approx(50.0, abs=1e-5)
    fast_done_by_50 = [
        t for t in s.trials if t.config["cost"] == 1.0 and t.curve[-1].time - t0 <= 50.0
    ]
    assert len(fast_done_by_50) == 10
    assert executor.clock.now == pytest.approx(50.0, abs=1e-5)


def test_a_time_budget_is_simulated_seconds_and_pauses_running_trials() -> None:
    executor = SimulatedExecutor(workers=2)
    s = study(executor)
    s.optimize(costly, hr.Budget(seconds=100.0), executor=executor, progress=False)
    # the budget is checked when a job ends; running trials stop at their next report
    assert 100.0 <= executor.clock.now <= 100.0 + 2 * 10.0
    assert s.elapsed_seconds == pytest.approx(executor.clock.now, abs=1e-5)
    statuses = {t.status for t in s.trials}
    assert TrialStatus.RUNNING not in statuses
    assert executor.clock.now < 1000.0


def test_a_processor_second_slice_stops_the_run_at_a_report() -> None:
    executor = SimulatedExecutor(workers=2)
    s = study(executor)
    s.optimize(
        costly,
        hr.Budget(trials=6, trial_cpu_seconds=12.0),
        executor=executor,
        progress=False,
    )
    for trial in s.trials:
        cost = trial.config["cost"]
        # a run stops at the first report at which 12 s are spent
        expected = min(5, -int(-12.0 // cost))
        if expected < 5:
            assert trial.reason is StopReason.TIME_SLICE, trial
        assert trial.fidelity == expected


def test_the_same_seed_replays_the_same_study() -> None:
    task = SyntheticCurves(seed=1, max_epochs=9)

    def run() -> list[Any]:
        executor = SimulatedExecutor(workers=4)
        s = hr.Study(
            "race", task.space, storage="memory://", optimizer="asha", seed=3, clock=executor.clock
        )
        s.optimize(task_objective(task), hr.Budget(epochs=120), executor=executor, progress=False)
        return [(t.config, [(o.fidelity, o.value, o.time) for o in t.curve]) for t in s.trials]

    assert run() == run()


def test_an_objective_error_fails_the_trial_and_the_simulation_goes_on() -> None:
    def flaky(trial: hr.Trial) -> None:
        for epoch in trial.epochs():
            elapse(1.0)
            if trial.number % 2 and epoch == 2:
                raise RuntimeError("diverged")
            trial.report(0.5)

    executor = SimulatedExecutor(workers=2)
    s = study(executor)
    s.optimize(flaky, hr.Budget(trials=6), executor=executor, progress=False)
    failed = [t for t in s.trials if t.status is TrialStatus.FAILED]
    assert len(failed) == 3 and all("diverged" in t.message for t in failed)
    assert all(t.fidelity == 1 for t in failed)


def test_an_interrupted_simulation_leaves_no_trial_running() -> None:
    calls = 0

    def interrupted(trial: hr.Trial) -> None:
        nonlocal calls
        for _ in trial.epochs():
            elapse(1.0)
            calls += 1
            if calls == 7:
                raise KeyboardInterrupt
            trial.report(0.5)

    executor = SimulatedExecutor(workers=3)
    s = study(executor)
    with pytest.raises(KeyboardInterrupt):
        s.optimize(interrupted, hr.Budget(trials=6), executor=executor, progress=False)
    assert all(t.status is not TrialStatus.RUNNING for t in s.trials)
    assert any(t.status is TrialStatus.PAUSED for t in s.trials)


def test_bad_arguments_are_refused() -> None:
    with pytest.raises(hr.ConfigurationError, match="workers=0"):
        SimulatedExecutor(workers=0)

    def negative(trial: hr.Trial) -> None:
        elapse(-1.0)

    executor = SimulatedExecutor(workers=1)
    s = study(executor)
    s.optimize(
        negative,
        hr.Budget(trials=1),
        executor=executor,
        progress=False,
        max_failures_in_a_row=None,
    )
    (trial,) = s.trials
    assert trial.status is TrialStatus.FAILED and "elapse(-1.0)" in trial.message


def test_elapse_outside_a_simulation_does_nothing() -> None:
    clock = SimulatedClock()
    elapse(5.0)
    assert clock.now == 0.0
