"""The real PyTorch tasks as benchmark tasks (``--task torch``): real training, on demand."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from hyperrace.benchmarks import reference_range
from hyperrace.benchmarks._families import instances_of, make_task
from hyperrace.benchmarks._harness import RunConfig, run_ours
from hyperrace.benchmarks._torch_task import TORCH_TASKS, TorchTask
from hyperrace.cli import main
from hyperrace.exceptions import ConfigurationError

torch = pytest.importorskip("torch")
pytest.importorskip("sklearn")

pytestmark = pytest.mark.torch

MLP = {
    "lr": 3e-3,
    "weight_decay": 1e-4,
    "batch_size": 32,
    "hidden": 32,
    "layers": 2,
    "dropout": 0.3,
    "optimizer": "adam",
}


@pytest.fixture(autouse=True)
def _cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HYPERRACE_CACHE", str(tmp_path / "cache"))


def test_the_family() -> None:
    assert instances_of("torch", None) == list(TORCH_TASKS)
    assert instances_of("torch", "all") == list(TORCH_TASKS)
    task = make_task("torch", "breast-cancer")
    assert isinstance(task, TorchTask)
    assert task.name == "torch-breast-cancer" and task.max_epochs == 30
    assert task.space.fidelity_name == "epochs"
    with pytest.raises(ConfigurationError, match=r"'mnist'.*digits, digits-cnn, breast-cancer"):
        make_task("torch", "mnist")


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


def test_the_cli_runs_the_torch_family(tmp_path: Path) -> None:
    # the reference is cached: given here, so that the test does not train 256 configurations
    cache = tmp_path / "cache"
    cache.mkdir()
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
