"""The cost model and the staged optimizer: cheap hyperparameters first, expensive ones grown."""

from __future__ import annotations

import collections
from typing import Any

import numpy as np
import pytest

import hyperrace as hr
from hyperrace.benchmarks import SyntheticCurves, task_objective
from hyperrace.executors import SimulatedExecutor
from hyperrace.optimizers import Staged, Start, Wait
from hyperrace.optimizers._parts.schedule.ladder import rungs
from hyperrace.optimizers._parts.surrogate.cost import CostModel
from hyperrace.trial import Observation, TrialRecord, TrialStatus

TASK = SyntheticCurves(seed=0)


def simulated(optimizer: Any, seconds: float, seed: int = 1, workers: int = 2) -> hr.History:
    executor = SimulatedExecutor(workers)
    study = hr.Study(
        "s", TASK.space, storage="memory://", optimizer=optimizer, seed=seed, clock=executor.clock
    )
    study.optimize(
        task_objective(TASK), hr.Budget(seconds=seconds), executor=executor, progress=False
    )
    return study.history(decisions=True)


def test_the_cost_model_finds_what_sets_the_cost_of_a_step() -> None:
    history = simulated("random", 600.0)
    model = CostModel.fit(TASK.space, history)
    assert model is not None and model.n == len(history.trials)
    # SyntheticCurves: seconds per epoch = 0.5 * width / 64 * (0.5 + 0.5 * layers)
    assert set(model.expensive()) == {"width", "layers"}
    effects = model.effects()
    assert effects["width"] == pytest.approx(np.log(512 / 16), rel=0.05)
    assert abs(effects["lr"]) < 0.1 and effects["activation"] < 0.1
    configs = [t.config for t in history.trials]
    truth = np.array([TASK.step_seconds(c) for c in configs])
    assert np.median(np.abs(model.predict(configs) / truth - 1)) < 0.15
    assert model.cheapest_choice("activation") in ("relu", "tanh", "gelu")


def test_the_cost_model_skips_the_warm_up_report_and_failed_trials() -> None:
    space = hr.Space(width=hr.Int(1, 8, log=True), lr=hr.Float(0, 1), epochs=hr.Fidelity(1, 5))

    def trial(number: int, width: int, status: TrialStatus = TrialStatus.PAUSED) -> TrialRecord:
        curve = [Observation(1.0, 0.5, cpu_seconds=100.0)]  # compilation, data loading
        curve += [Observation(2.0, 0.5, cpu_seconds=float(width))]
        return TrialRecord(number, number, {"width": width, "lr": 0.5}, status, tuple(curve))

    history = hr.History("minimize", tuple(trial(i, 1 + i % 8) for i in range(16)))
    model = CostModel.fit(space, history)
    assert model is not None
    assert model.predict([{"width": 1, "lr": 0.1}])[0] == pytest.approx(1.0, rel=0.1)
    assert model.predict([{"width": 8, "lr": 0.1}])[0] == pytest.approx(8.0, rel=0.1)
    failed = hr.History("minimize", tuple(trial(i, 2, TrialStatus.FAILED) for i in range(8)))
    assert CostModel.fit(space, failed) is None


def test_staged_probes_then_holds_the_expensive_low_on_cheap_budgets_then_grows_them() -> None:
    history = simulated(Staged(), 3000.0)
    ladder = rungs(TASK.space.fidelity, 3)  # 1, 3, 9, 27
    starts = [d for d in history.decisions if d.kind == "start"]
    n_probe = 2 * (len(TASK.space) + 1)
    assert [d.info["stage"] for d in starts[:n_probe]] == [0] * n_probe
    assert all(d.stop == ladder[0] for d in starts[:n_probe])
    by_trial = {d.trial_id: d for d in starts}
    stage_of = {t.trial_id: by_trial[t.trial_id].info["stage"] for t in history.trials}
    counts = collections.Counter(stage_of.values())
    assert counts[1] > 10 and counts[2] > 10
    for t in history.trials:
        info = by_trial[t.trial_id].info
        if info["stage"] == 1:
            assert info["expensive"] == ["width", "layers"]
            assert t.config["width"] == 16 and t.config["layers"] == 1
            assert t.fidelity <= ladder[-2]  # cheap budgets only
        if info["stage"] == 2:
            share = info["level"] / 3
            assert TASK.space["width"].to_unit(t.config["width"]) <= share + 1e-9
    grown = [t for t in history.trials if stage_of[t.trial_id] == 2 and t.fidelity == 27]
    assert grown, "stage 2 trains to the maximum fidelity"
    assert (
        max(by_trial[t.trial_id].info["level"] for t in history.trials if stage_of[t.trial_id] == 2)
        >= 2
    )


def test_staged_can_stop_when_the_last_level_stalls() -> None:
    executor = SimulatedExecutor(2)
    study = hr.Study(
        "s",
        TASK.space,
        storage="memory://",
        optimizer=Staged(stop_on_stall=True),
        seed=1,
        clock=executor.clock,
    )
    study.optimize(
        task_objective(TASK), hr.Budget(seconds=20_000.0), executor=executor, progress=False
    )
    assert executor.clock.now < 20_000.0  # Done, long before the budget ended
    levels = [d.info.get("level") for d in study.history(decisions=True).decisions]
    assert 3 in levels


def test_staged_waits_for_the_probes_it_needs() -> None:
    staged = Staged(n_probe=3)
    rng = np.random.default_rng(0)
    running = tuple(
        TrialRecord(i, i, TASK.space.sample(rng), TrialStatus.RUNNING, target=1.0) for i in range(3)
    )
    decision = staged.decide(TASK.space, hr.History("minimize", running), rng)
    assert isinstance(decision, Wait) and "probes" in decision.reason
    decision = staged.decide(TASK.space, hr.History("minimize", running[:2]), rng)
    assert isinstance(decision, Start) and decision.info == {"stage": 0}


def test_staged_without_an_expensive_hyperparameter_searches_everything() -> None:
    space = hr.Space(x=hr.Float(0, 1), y=hr.Float(0, 1), epochs=hr.Fidelity(1, 9))

    def objective(trial: hr.Trial) -> None:
        from hyperrace.executors import elapse

        for epoch in trial.epochs():
            elapse(1.0)
            trial.report((trial.config["x"] - 0.3) ** 2 + 1 / epoch)

    executor = SimulatedExecutor(1)
    study = hr.Study("flat", space, storage="memory://", optimizer="staged", clock=executor.clock)
    study.optimize(objective, hr.Budget(epochs=300), executor=executor, progress=False)
    history = study.history(decisions=True)
    later = [d for d in history.decisions if d.kind == "start" and d.info.get("stage") == 1]
    assert later and all(d.info["expensive"] == [] for d in later)
    assert len({round(history.trial(d.trial_id).config["y"], 6) for d in later}) == len(later)


@pytest.mark.parametrize(
    ("params", "match"),
    [
        ({"cost_factor": 1.0}, "cost_factor=1.0 must be a finite number > 1"),
        ({"patience": 0}, "patience=0 must be an integer >= 1"),
        ({"levels": 0}, "levels=0"),
        ({"n_probe": 1}, "n_probe=1 must be an integer >= 2"),
        ({"min_improvement": 1.5}, r"min_improvement=1.5 must be a number in \[0, 1\)"),
        ({"stop_on_stall": 1}, "stop_on_stall=1 must be True or False"),
    ],
)
def test_bad_parameters_name_the_value(params: dict[str, Any], match: str) -> None:
    with pytest.raises(hr.ConfigurationError, match=match):
        Staged(**params)
