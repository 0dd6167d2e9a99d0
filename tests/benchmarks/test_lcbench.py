"""LCBench on the YAHPO Gym surrogate: the same answers as yahpo-gym, the space, errors.

The surrogate data ships with the package (``hyperrace/benchmarks/data/yahpo``), so these tests
run in any checkout or installation; ``HYPERRACE_YAHPO_DATA`` names another copy.
"""

from __future__ import annotations

import itertools
import json
import pickle
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import hyperrace as hr
from hyperrace.benchmarks import LCBench, Task, task_objective
from hyperrace.benchmarks._lcbench import DATA_ENV, MIN_EPOCH_SECONDS, PACKAGED_DATA, _find_data
from hyperrace.exceptions import ConfigurationError, SpaceError
from hyperrace.space import Float, Int

DATA = PACKAGED_DATA

REFERENCE = json.loads((DATA / "lcbench_reference_curves.json").read_text())
OUTPUTS = [
    "time",
    "val_accuracy",
    "val_cross_entropy",
    "val_balanced_accuracy",
    "test_cross_entropy",
    "test_balanced_accuracy",
]
#: Relative tolerance against yahpo-gym's answers (measured: the difference is exactly 0).
RTOL = 1e-4
#: LCBench's hyperparameters, in the order of its search space.
HYPERPARAMETERS = (
    "batch_size",
    "learning_rate",
    "momentum",
    "weight_decay",
    "num_layers",
    "max_units",
    "max_dropout",
)


def _config(case: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in case["config"].items() if k != "OpenML_task_id"}


def _corners(task: LCBench) -> list[dict[str, Any]]:
    """Every combination of the bounds of the 7 hyperparameters (128 configs)."""
    dims = task.space.dimensions
    return [
        dict(zip(dims, values, strict=True))
        for values in itertools.product(*[(d.low, d.high) for d in dims.values()])  # type: ignore[attr-defined]
    ]


@pytest.mark.parametrize("index", range(len(REFERENCE["cases"])))
def test_matches_yahpo_gym_reference_curve(index: int) -> None:
    case = REFERENCE["cases"][index]
    assert case["epochs"] == list(range(1, 53))
    task = LCBench(case["instance"])
    config = _config(case)
    out = task.outputs([config])[0]
    for column, target in enumerate(OUTPUTS):
        expected = np.array(case["values"][target])
        np.testing.assert_allclose(out[:, column], expected, rtol=RTOL, atol=0, err_msg=target)
    error = 1.0 - np.array(case["values"]["val_accuracy"]) / 100
    np.testing.assert_allclose(task.curves([config])[0], error, rtol=RTOL)
    steps = [task.step(config, epoch) for epoch in range(1, 53)]
    np.testing.assert_allclose([s.value for s in steps], error, rtol=RTOL)
    running = np.maximum.accumulate(case["values"]["time"])
    expected_seconds = np.maximum(np.diff(running, prepend=0.0), MIN_EPOCH_SECONDS)
    np.testing.assert_allclose([s.seconds for s in steps], expected_seconds, rtol=RTOL)
    np.testing.assert_allclose(task.final_losses([config]), error[-1:], rtol=RTOL)


def test_reference_covers_two_instances_and_every_target() -> None:
    assert {c["instance"] for c in REFERENCE["cases"]} == {"3945", "167168"}
    assert sorted(REFERENCE["targets"]) == sorted(OUTPUTS)


@pytest.mark.parametrize(
    ("target", "column", "orient"),
    [
        ("val_balanced_accuracy", 3, lambda v: 1 - v),
        ("test_balanced_accuracy", 5, lambda v: 1 - v),
        ("val_cross_entropy", 2, lambda v: v),
        ("test_cross_entropy", 4, lambda v: v),
    ],
)
def test_other_targets_are_losses(target: str, column: int, orient: Any) -> None:
    case = REFERENCE["cases"][3]
    task = LCBench(case["instance"], target=target)
    assert task.name == f"lcbench-{case['instance']}-{target}"
    expected = orient(np.array(case["values"][OUTPUTS[column]]))
    np.testing.assert_allclose(task.curves([_config(case)])[0], expected, rtol=RTOL)
    assert task.step(_config(case), 7).value == pytest.approx(expected[6], rel=RTOL)


def test_space_and_instances_match_the_data_files() -> None:
    task = LCBench("3945")
    assert task.name == "lcbench-3945"
    assert isinstance(task, Task)
    assert task.max_epochs == 52
    fidelity = task.space.fidelity
    assert task.space.fidelity_name == "epoch"
    assert fidelity is not None and (fidelity.low, fidelity.high) == (1, 52)
    spec = json.loads((DATA / "lcbench" / "config_space.json").read_text())
    by_name = {hp["name"]: hp for hp in spec["hyperparameters"]}
    assert by_name["OpenML_task_id"]["choices"] == list(LCBench.instances())
    assert len(LCBench.instances()) == 34
    encoding = json.loads((DATA / "lcbench" / "encoding.json").read_text())["OpenML_task_id"]
    assert set(LCBench.instances()) <= set(encoding)
    assert task.space.names == HYPERPARAMETERS
    for name, dim in task.space.dimensions.items():
        hp = by_name[name]
        assert isinstance(dim, Int if hp["type"] == "uniform_int" else Float), name
        assert dim.low == pytest.approx(hp["lower"], rel=1e-12), name
        assert dim.high == pytest.approx(hp["upper"], rel=1e-12), name
        assert dim.log == hp["log"], name


def test_every_bound_of_every_hyperparameter_evaluates() -> None:
    for instance in LCBench.instances():
        task = LCBench(instance)
        corners = _corners(task)
        finals = task.final_losses(corners)
        assert finals.shape == (128,)
        assert ((finals >= -0.01) & (finals <= 1.01)).all(), instance
        if instance in ("3945", "168868"):  # whole curves too (168868's time starts near 0)
            out = task.outputs(corners)
            assert out.shape == (128, 52, 6)
            assert np.isfinite(out).all(), instance
            seconds = task.epoch_seconds(corners)
            assert (seconds >= MIN_EPOCH_SECONDS).all()
            np.testing.assert_allclose(
                seconds.sum(axis=1), np.maximum(out[:, :, 0].max(axis=1), 0.0), atol=0.06
            )


def test_instances_are_encoded_apart_and_given_as_int_or_str() -> None:
    config = LCBench(3945).space.sample(np.random.default_rng(3))
    finals = {i: float(LCBench(i).final_losses([config])[0]) for i in LCBench.instances()}
    assert len(set(finals.values())) == 34  # every instance has its own code
    assert LCBench(167168).final_losses([config])[0] == finals["167168"]
    assert LCBench(167168).name == LCBench("167168").name == "lcbench-167168"


def test_integer_valued_floats_are_accepted() -> None:
    task = LCBench("3945")
    config = {**task.space.sample(np.random.default_rng(0)), "batch_size": 32, "num_layers": 2}
    same = {**config, "batch_size": 32.0, "num_layers": 2.0}
    assert task.step(config, 10) == task.step(same, 10)


@pytest.mark.parametrize("name", HYPERPARAMETERS)
def test_values_outside_the_bounds_are_rejected(name: str) -> None:
    task = LCBench("3945")
    dim = task.space.dimensions[name]
    config = task.space.sample(np.random.default_rng(0))
    step = 1 if isinstance(dim, Int) else 1e-9 * max(1.0, abs(dim.high))  # type: ignore[attr-defined]
    for bad in (dim.low - step, dim.high + step):  # type: ignore[attr-defined]
        with pytest.raises(SpaceError, match=name):
            task.step({**config, name: bad}, 1)
        with pytest.raises(SpaceError, match=name):
            task.final_losses([config, {**config, name: bad}])
    if isinstance(dim, Int):
        with pytest.raises(SpaceError, match=name):
            task.curves([{**config, name: dim.low + 0.5}])


def test_bad_configs_and_epochs_are_rejected() -> None:
    task = LCBench("3945")
    config = task.space.sample(np.random.default_rng(0))
    with pytest.raises(SpaceError, match="missing"):
        task.step({k: v for k, v in config.items() if k != "momentum"}, 1)
    with pytest.raises(SpaceError, match="unknown"):
        task.step({**config, "epoch": 3}, 3)
    for epoch in (0, 53, 2.5):
        with pytest.raises(SpaceError, match="epoch"):
            task.step(config, epoch)  # type: ignore[arg-type]


def test_unknown_instance_and_target_list_the_valid_ones() -> None:
    with pytest.raises(ConfigurationError, match=r"12345.*'3945', '7593'.*'189909'"):
        LCBench(12345)
    with pytest.raises(ConfigurationError, match="OpenML task id"):
        LCBench(3945.0)  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError, match=r"'accuracy'.*'val_accuracy'.*'time'"):
        LCBench(3945, target="accuracy")
    with pytest.raises(ConfigurationError, match="not a target"):
        LCBench(3945, target="time")


def test_the_data_ships_with_the_package(monkeypatch: pytest.MonkeyPatch) -> None:
    """Found by default in the package itself, with its licence and provenance beside it."""
    monkeypatch.delenv(DATA_ENV, raising=False)
    package = Path(hr.__file__).resolve().parent
    assert _find_data(None) == package / "benchmarks" / "data" / "yahpo" == DATA
    assert LCBench(3945).data_dir == DATA
    for name in (
        "LICENSE",
        "README.md",
        "VERSION",
        "lcbench/LICENSE-2.0.txt",
        "lcbench/model.onnx",
    ):
        assert (DATA / name).is_file(), name
    assert "Apache License" in (DATA / "LICENSE").read_text()
    assert "slds-lmu/yahpo_data" in (DATA / "README.md").read_text()


def test_missing_data_says_where_it_looked_and_how_to_fix(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(ConfigurationError) as info:
        LCBench(3945, data_dir=tmp_path)
    message = str(info.value)
    for part in (str(tmp_path / "lcbench" / "model.onnx"), DATA_ENV, "slds-lmu/yahpo_data"):
        assert part in message
    monkeypatch.setenv(DATA_ENV, str(tmp_path / "nowhere"))
    with pytest.raises(ConfigurationError, match=rf"nowhere.*\${DATA_ENV}"):
        LCBench(3945)
    monkeypatch.setenv(DATA_ENV, str(DATA))
    assert LCBench(3945).data_dir == DATA


def test_batches_agree_with_single_configs_and_steps() -> None:
    task = LCBench("167168")
    rng = np.random.default_rng(1)
    configs = [task.space.sample(rng) for _ in range(50)]
    finals = task.final_losses(configs)
    curves = task.curves(configs)
    assert finals.shape == (50,) and curves.shape == (50, 52)
    # float32 arithmetic in the model: a batch's answer differs from a single row's by < 1e-4
    np.testing.assert_allclose(curves[:, -1], finals, atol=1e-4)
    for i in (0, 17, 49):
        assert task.step(configs[i], 52).value == pytest.approx(finals[i], abs=1e-4)
        np.testing.assert_array_equal(
            task.final_losses([configs[i]]), task.final_losses([configs[i]])
        )
    assert task.final_losses([]).shape == (0,)


def test_pickles_and_runs_a_study() -> None:
    task = pickle.loads(pickle.dumps(LCBench("3945")))
    study = hr.Study("lcbench", task.space, storage="memory://", optimizer="random", seed=0)
    study.optimize(task_objective(task), budget=hr.Budget(epochs=20), progress=False)
    trials = study.trials
    assert sum(t.work for t in trials) == 20
    for trial in trials:
        expected = task.curves([trial.config])[0][: len(trial.curve)]
        np.testing.assert_allclose([o.value for o in trial.curve], expected, atol=1e-4)


def test_importing_the_benchmarks_loads_no_heavy_extra() -> None:
    code = (
        "import sys, hyperrace.benchmarks\n"
        "heavy = ('onnxruntime', 'torch', 'sklearn')\n"
        "print(sorted(m for m in heavy if m in sys.modules))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"
