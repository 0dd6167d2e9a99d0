"""The digits CNN and breast-cancer tasks: they learn, they leave the process's global torch state
alone, and a trial paused and resumed from its checkpoint continues exactly as an uninterrupted
run would (dropout included: its generator is part of the checkpoint). And the three real tasks
as benchmark tasks (``--task torch``): trained for real, on demand."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import hyperrace as hr
from hyperrace.benchmarks import (
    breast_cancer_space,
    digits_cnn_space,
    digits_space,
    reference_range,
    train_breast_cancer,
    train_digits,
    train_digits_cnn,
)
from hyperrace.benchmarks._families import instances_of, make_task
from hyperrace.benchmarks._harness import RunConfig, run_ours
from hyperrace.benchmarks._torch_task import TORCH_TASKS, TorchTask
from hyperrace.benchmarks._training import capped_loss
from hyperrace.cli import main
from hyperrace.exceptions import ConfigurationError
from hyperrace.executors import RunSpec, run_job
from hyperrace.history import History
from hyperrace.optimizers import Start
from hyperrace.space import Space
from hyperrace.trial import Trial

torch = pytest.importorskip("torch")
pytest.importorskip("sklearn")

pytestmark = pytest.mark.torch

CNN = {
    "lr": 3e-3,
    "weight_decay": 1e-4,
    "batch_size": 64,
    "channels": 6,
    "hidden": 32,
    "dropout": 0.3,
    "optimizer": "adam",
}
MLP = {
    "lr": 3e-3,
    "weight_decay": 1e-4,
    "batch_size": 32,
    "hidden": 32,
    "layers": 2,
    "dropout": 0.3,
    "optimizer": "adam",
}
DIGITS_MLP = {
    "lr": 3e-3,
    "weight_decay": 1e-4,
    "batch_size": 64,
    "hidden": 64,
    "optimizer": "adam",
}
TASKS: dict[str, tuple[Callable[[], Space], Callable[[Trial], None], dict[str, Any]]] = {
    "digits": (digits_space, train_digits, DIGITS_MLP),
    "digits-cnn": (digits_cnn_space, train_digits_cnn, CNN),
    "breast-cancer": (breast_cancer_space, train_breast_cancer, MLP),
}


class _Always:
    """Starts one configuration up to ``stop`` epochs, again and again."""

    name = "always"

    def __init__(self, config: dict[str, Any], stop: float) -> None:
        self.config, self.stop = config, stop

    def get_params(self) -> dict[str, Any]:
        return {"config": self.config, "stop": self.stop}

    def decide(self, space: Space, history: History, rng: np.random.Generator) -> Start:
        return Start(self.config, self.stop)


def test_spaces() -> None:
    cnn = digits_cnn_space()
    assert cnn.names == tuple(CNN)
    assert cnn.fidelity is not None and cnn.fidelity.high == 20
    mlp = breast_cancer_space(max_epochs=12)
    assert mlp.names == tuple(MLP)
    assert mlp.fidelity is not None and mlp.fidelity.high == 12
    rng = np.random.default_rng(0)
    for space in (cnn, mlp):
        space.validate(space.sample(rng))


@pytest.mark.parametrize("name", TASKS)
def test_trains_in_process(name: str, tmp_path: Path) -> None:
    space, objective, config = TASKS[name]
    rng_state = torch.get_rng_state()
    threads = torch.get_num_threads()
    study = hr.Study(
        name,
        space(),
        storage=f"sqlite:///{tmp_path / 'study.db'}",
        optimizer=_Always(config, 3.0),
        seed=0,
    )
    study.optimize(objective, budget=hr.Budget(epochs=6), workers=1, progress=False)
    trials = study.trials
    assert [t.fidelity for t in trials] == [3, 3]
    for t in trials:
        assert t.status is hr.TrialStatus.PAUSED and t.checkpoint_fidelity == 3
        errors = [o.value for o in t.curve]
        assert len(errors) == 3 and errors[-1] < errors[0]
        assert errors[-1] < 0.25  # learns: far better than chance (0.9 and ~0.37 error)
    # different trial numbers, different seeds: the curves differ
    assert [o.value for o in trials[0].curve] != [o.value for o in trials[1].curve]
    assert torch.equal(torch.get_rng_state(), rng_state)
    assert torch.get_num_threads() == threads


def _spec(study: hr.Study, job: hr.Job, stop: float) -> RunSpec:
    return RunSpec(
        study_id=study.study_id,
        trial_id=job.trial_id,
        stop=stop,
        max_fidelity=20,
        integer_fidelity=True,
        artifacts=str(study.artifacts),
        heartbeats=False,
    )


@pytest.mark.parametrize("name", TASKS)
def test_resume_is_exact(name: str, tmp_path: Path) -> None:
    space, objective, config = TASKS[name]
    url = f"sqlite:///{tmp_path / 'resume.db'}"
    straight = hr.Study("straight", space(), storage=url, optimizer=_Always(config, 4.0), seed=7)
    paused = hr.Study("paused", space(), storage=url, optimizer=_Always(config, 4.0), seed=7)
    loaded: list[float | None] = []
    saved: list[dict[str, Any]] = []

    def spy(trial: Trial) -> None:
        loaded.append(trial.checkpoint.fidelity)
        objective(trial)
        saved.append(trial.checkpoint.load())

    # uninterrupted: epochs 1..4 in one run
    job = straight.ask()
    assert isinstance(job, hr.Job)
    run_job(straight.storage, _spec(straight, job, 4), spy)
    reference = straight.storage.trial(job.trial_id)

    # interrupted after epoch 2 (as Ctrl-C does), then resumed by the study up to epoch 4
    first = paused.ask()
    assert isinstance(first, hr.Job)
    assert first.number == job.number and dict(first.config) == dict(job.config)
    reports = 0

    def stop_after_two() -> bool:
        nonlocal reports
        reports += 1
        return reports >= 2

    outcome = run_job(
        paused.storage, _spec(paused, first, first.stop), spy, stop_requested=stop_after_two
    )
    assert outcome.status is hr.TrialStatus.PAUSED and outcome.fidelity == 2
    # the global generator moves on in between, as other work in the process would move it
    torch.rand(1000)
    again = paused.ask()
    assert isinstance(again, hr.Job)
    assert (again.kind, again.trial_id, again.start) == ("resume", first.trial_id, 2.0)
    run_job(paused.storage, _spec(paused, again, 4), spy)
    resumed = paused.storage.trial(first.trial_id)

    assert loaded == [None, None, 2.0]
    assert resumed.work == 4  # nothing was retrained
    assert [o.fidelity for o in resumed.curve] == [1, 2, 3, 4]
    assert [o.value for o in resumed.curve] == [o.value for o in reference.curve]
    # finer than the error rate: the weights after epoch 4 are the same, bit for bit
    straight_weights, resumed_weights = saved[0]["model"], saved[2]["model"]
    assert list(straight_weights) == list(resumed_weights)
    for key, tensor in straight_weights.items():
        assert torch.equal(tensor, resumed_weights[key]), key


def test_the_family() -> None:
    assert instances_of("torch", None) == list(TORCH_TASKS)
    assert instances_of("torch", "all") == list(TORCH_TASKS)
    task = make_task("torch", "breast-cancer")
    assert isinstance(task, TorchTask)
    assert task.name == "torch-breast-cancer" and task.max_epochs == 30
    assert task.space.fidelity_name == "epochs"
    with pytest.raises(ConfigurationError, match=r"'mnist'.*digits, digits-cnn, breast-cancer"):
        make_task("torch", "mnist")
    # the same tasks reporting the validation cross-entropy
    assert instances_of("torch", "all-loss") == [f"{name}-loss" for name in TORCH_TASKS]
    loss = make_task("torch", "digits-cnn-loss")
    assert isinstance(loss, TorchTask) and loss.metric == "loss"
    assert loss.name == "torch-digits-cnn-loss" and loss.max_epochs == 20
    assert TorchTask("digits", metric="loss").name == "torch-digits-loss"
    with pytest.raises(ConfigurationError, match=r"metric='accuracy' is not one of error, loss"):
        TorchTask("digits", metric="accuracy")
    with pytest.raises(ConfigurationError, match=r"'mnist-loss'.*'-loss' appended"):
        make_task("torch", "mnist-loss")


def test_a_curve_is_trained_on_demand_resumed_and_a_function_of_the_configuration() -> None:
    task = TorchTask("breast-cancer")
    # epoch by epoch, as the objective asks, and then back to an epoch already trained
    piecewise = [task.step(MLP, e).value for e in (1, 2, 3)] + [task.step(MLP, 6).value]
    assert task.step(MLP, 2).value == piecewise[1]
    # a fresh task object trains the same configuration straight to epoch 6: the same curve
    other = TorchTask("breast-cancer")
    straight = other.step(MLP, 6).value
    assert straight == piecewise[-1]
    assert [other.step(MLP, e).value for e in (1, 2, 3)] == piecewise[:3]
    # the fidelity in the configuration does not matter; another configuration differs
    assert task.step({**MLP, "epochs": 30}, 6).value == straight
    wider = {**MLP, "hidden": 64}
    assert [task.step(wider, e).value for e in (1, 2, 3)] != piecewise[:3]
    # it learns: far below chance (0.37) after six epochs
    assert straight < 0.2
    with pytest.raises(ConfigurationError, match=r"epoch=31 is outside 1\.\.30"):
        task.step(MLP, 31)


def test_the_loss_tasks_report_the_validation_cross_entropy_of_the_same_training() -> None:
    error, loss = TorchTask("breast-cancer"), TorchTask("breast-cancer-loss")
    errors = [error.step(MLP, e).value for e in range(1, 7)]
    piecewise = [loss.step(MLP, e).value for e in (1, 2, 3)] + [loss.step(MLP, 6).value]
    # resumed or straight, the same curve
    straight = TorchTask("breast-cancer", metric="loss")
    assert [straight.step(MLP, e).value for e in (6, 1, 2, 3)] == [piecewise[-1], *piecewise[:3]]
    # the error task trained the same network: its weights after epoch 6 (the checkpoint the
    # task keeps) score the loss task's value at epoch 6, and the error task's
    (progress,) = error._progress.values()
    net = error._build(torch, MLP)
    net.load_state_dict(progress.state["model"])
    net.eval()
    _, _, x_valid, y_valid = error._data()
    with torch.no_grad():
        logits = net(x_valid)
    assert float(torch.nn.functional.cross_entropy(logits, y_valid)) == pytest.approx(
        piecewise[-1], rel=1e-6
    )
    assert 1.0 - float((logits.argmax(dim=1) == y_valid).float().mean()) == errors[5]
    # a continuous value, not a multiple of one validation row; it falls as the net learns
    curve = loss._curve(MLP, 6)
    rows = len(y_valid)
    assert all(abs(v * rows - round(v * rows)) > 1e-6 for v in curve)
    assert curve[5] < curve[0]
    assert errors[5] < 0.2 and 0 < curve[5] < np.log(2)


def test_the_loss_is_capped_at_the_uniform_guess() -> None:
    assert capped_loss(0.25, 2) == 0.25
    assert capped_loss(740_056.75, 2) == capped_loss(float("nan"), 2) == np.log(2)
    assert capped_loss(float("inf"), 10) == np.log(10)
    # a network made to diverge (SGD at a huge step): its reports are the guess's loss
    task = TorchTask("breast-cancer-loss")
    wild = {**MLP, "optimizer": "sgd", "lr": 1e4, "weight_decay": 0.0, "dropout": 0.0}
    values = [task.step(wild, e).value for e in (1, 2, 3)]
    assert max(values) <= np.log(2) and np.log(2) in values


def test_seconds_follow_the_work() -> None:
    task = TorchTask("breast-cancer")
    small = task.seconds(MLP)
    assert small > 0
    assert task.seconds({**MLP, "hidden": 256, "layers": 3}) > small  # a bigger model
    assert task.seconds({**MLP, "batch_size": 8}) > small  # more batches
    assert task.step(MLP, 1).seconds == small  # a model, not a measurement: always the same


def test_reference_sample_is_the_tasks_own(tmp_path: Path) -> None:
    task = TorchTask("breast-cancer")
    task.reference_samples = 3  # type: ignore[misc]  # keep the test short
    best, worst = reference_range(task, cache=tmp_path / "ref.json")
    record = next(iter(json.loads((tmp_path / "ref.json").read_text())["entries"].values()))
    assert record["samples"] == 3
    rng = np.random.default_rng(0)
    finals = task.final_losses([task.space.sample(rng) for _ in range(3)])
    assert (best, worst) == (float(finals.min()), float(finals.max()))


def test_a_benchmark_run_on_a_real_task() -> None:
    task = TorchTask("breast-cancer")
    record: dict[str, Any] = run_ours(task, RunConfig("asha", seed=0, budget=20))
    assert record["task"] == "torch-breast-cancer"
    assert record["epochs"] == pytest.approx(20)
    assert record["best_steps"] and 0 <= record["best_steps"][-1][2] < 0.5


def test_the_cli_runs_the_torch_family(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # the reference is cached: given here, so that the test does not train 256 configurations
    cache = tmp_path / "cache"
    cache.mkdir()
    monkeypatch.setenv("HYPERRACE_CACHE", str(cache))
    entry = {"task": "torch-breast-cancer", "samples": 256, "seed": 0}
    entry.update(sampled=0.01, value=0.01, worst=0.6)
    key = json.dumps(["torch-breast-cancer", 256, 0])
    (cache / "best_known.json").write_text(json.dumps({"format": 1, "entries": {key: entry}}))
    code = main(
        [
            "benchmark",
            "--task",
            "torch",
            "--instances",
            "breast-cancer",
            "--optimizers",
            "random",
            "--seeds",
            "1",
            "--budget",
            "30",
            "--jobs",
            "1",
            "--quiet",
            "--out",
            str(tmp_path / "out"),
        ]
    )
    assert code == 0
    rows = [
        json.loads(line) for line in (tmp_path / "out" / "results.jsonl").read_text().splitlines()
    ]
    assert [(r["task"], r["optimizer"]) for r in rows] == [("torch-breast-cancer", "random")]
    # one decision, made before any observation: the overhead plot still draws it
    assert rows[0]["overhead"] == [[0, pytest.approx(rows[0]["overhead"][0][1])]]
    assert (tmp_path / "out" / "overhead.png").stat().st_size > 0
    assert "| random |" in (tmp_path / "out" / "results.md").read_text()
