"""GPUs for local workers: each worker process owns its devices, seen through the environment
of that process (this machine has no GPU: what is checked is what each process is told)."""

from __future__ import annotations

import json
import logging
import os
import time
from pathlib import Path
from typing import Any

import pytest

import hyperrace as hr
from hyperrace.cli import main
from hyperrace.executors import ProcessExecutor, plan_gpus
from hyperrace.testing.objectives import curve_value

SPACE = hr.Space(x=hr.Float(0.0, 1.0), epochs=hr.Fidelity(1, 3))


def records_its_devices(trial: hr.Trial) -> None:
    """Logs what its process sees: pid, CUDA_VISIBLE_DEVICES, trial.devices, start and end."""
    begin = time.time()
    for step in trial.epochs():
        time.sleep(0.05)
        trial.report(curve_value(trial.config, step))
    row = [
        os.getpid(),
        os.environ.get("CUDA_VISIBLE_DEVICES"),
        list(trial.devices),
        trial.checkpoint.map_location,
        begin,
        time.time(),
    ]
    with open(os.environ["HYPERRACE_TEST_LOG"], "a", encoding="utf-8") as fh:
        fh.write(json.dumps(row) + "\n")


@pytest.fixture
def event_log(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "devices.log"
    monkeypatch.setenv("HYPERRACE_TEST_LOG", str(path))
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    return path


def _rows(path: Path) -> list[list[Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_two_workers_with_gpus_0_and_1_each_see_one_distinct_device(
    tmp_path: Path, event_log: Path
) -> None:
    study = hr.Study(
        "two", SPACE, storage=f"sqlite:///{tmp_path / 't.db'}", seed=0, optimizer="random"
    )
    study.optimize(
        records_its_devices, budget=hr.Budget(trials=8), gpus=[0, 1], progress=False
    )  # workers: one per GPU
    rows = _rows(event_log)
    assert len(rows) == 8
    seen: dict[int, set[str]] = {}
    for pid, visible, devices, map_location, _, _ in rows:
        seen.setdefault(pid, set()).add(visible)
        assert devices == ["cuda:0"] and map_location == "cuda:0"  # its one GPU, as torch names it
    assert len(seen) == 2 and all(len(v) == 1 for v in seen.values())
    assert sorted(v for values in seen.values() for v in values) == ["0", "1"]
    # the trials' records say which GPU of the machine each run had
    assert {t.devices for t in study.trials} == {("cuda:0",), ("cuda:1",)}


def test_fresh_processes_take_over_the_gpus_and_running_workers_never_share_one(
    tmp_path: Path, event_log: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # this process sees GPUs 5, 6, 7 of the machine: indices 1 and 2 are GPUs 6 and 7
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "5,6,7")
    study = hr.Study(
        "fresh", SPACE, storage=f"sqlite:///{tmp_path / 'f.db'}", seed=0, optimizer="random"
    )
    executor = ProcessExecutor(2, jobs_per_process=1, gpus=[1, 2])
    assert executor.gpus == (("6",), ("7",))
    study.optimize(
        records_its_devices, budget=hr.Budget(trials=6), executor=executor, progress=False
    )
    rows = _rows(event_log)
    assert len(rows) == 6 and len({r[0] for r in rows}) == 6  # a fresh process per job
    assert {r[1] for r in rows} == {"6", "7"}
    for i, a in enumerate(rows):
        for b in rows[i + 1 :]:
            if a[4] < b[5] and b[4] < a[5]:  # ran at the same time
                assert a[1] != b[1], f"processes {a[0]} and {b[0]} shared GPU {a[1]}"


def test_auto_without_a_gpu_falls_back_to_the_cpu_with_one_log_line(
    tmp_path: Path, event_log: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="hyperrace")
    study = hr.Study(
        "auto", SPACE, storage=f"sqlite:///{tmp_path / 'a.db'}", seed=0, optimizer="random"
    )
    study.optimize(records_its_devices, budget=hr.Budget(trials=2), gpus="auto", progress=False)
    lines = [r.getMessage() for r in caplog.records if "gpu" in r.getMessage().lower()]
    assert lines == [
        "gpus='auto': PyTorch sees no GPU on this machine; the 1 worker trains on the CPU"
    ]
    rows = _rows(event_log)
    assert [(r[1], r[2], r[3]) for r in rows] == [("", ["cpu"], "cpu")] * 2
    assert [t.devices for t in study.trials] == [("cpu",), ("cpu",)]


def test_the_gpu_plan(caplog: pytest.LogCaptureFixture) -> None:
    assert plan_gpus(None, None).workers == 1 and plan_gpus(None, None).groups is None
    assert plan_gpus([0, 1], None, environ={}).groups == (("0",), ("1",))
    assert plan_gpus([0, 1, 2, 3], 2, 2, environ={}).groups == (("0", "1"), ("2", "3"))
    assert plan_gpus(["GPU-aa", "GPU-bb"], 1, 2, environ={}).groups == (("GPU-aa", "GPU-bb"),)
    assert plan_gpus([0, 0, 1, 1], None, environ={}).workers == 4  # shared, as listed
    visible = {"CUDA_VISIBLE_DEVICES": "4,5"}
    assert plan_gpus([1], None, environ=visible).groups == (("5",),)
    assert plan_gpus("auto", None, count=lambda: 2, environ=visible).groups == (("4",), ("5",))
    assert plan_gpus("auto", None, 2, count=lambda: 4, environ={}).groups == (
        ("0", "1"),
        ("2", "3"),
    )
    caplog.set_level(logging.WARNING, logger="hyperrace")
    assert plan_gpus([0, 1, 2], 2, environ={}).groups == (("0",), ("1",))
    assert "GPU 2 left unused" in caplog.text
    bad: list[tuple[Any, Any, int, str]] = [
        ([0, 1], 4, 1, r"gives 2 GPUs \(0, 1\), but 4 worker\(s\).*gpus=\[0, 0, 1, 1\]"),
        ([0], None, 2, "need 2"),
        ([0, 0], 1, 2, "gives one worker GPU 0 twice"),
        ([], None, 1, "non-empty list"),
        ("0,1", None, 1, "non-empty list"),
        ([0, True], None, 1, "True is not a GPU"),
        ([-1], None, 1, "negative"),
        ([0], None, 0, "gpus_per_worker=0"),
        (None, None, 2, "needs gpus="),
        ([0], 0, 1, "workers=0"),
    ]
    for gpus, workers, per_worker, match in bad:
        with pytest.raises(hr.ConfigurationError, match=match):
            plan_gpus(gpus, workers, per_worker, environ={})
    with pytest.raises(hr.ConfigurationError, match="index 2 is none of them"):
        plan_gpus([2], None, environ=visible)


def test_gpus_with_another_executor_or_a_memory_storage_are_refused() -> None:
    study = hr.Study("refused", SPACE, storage="memory://", seed=0)
    with pytest.raises(hr.ConfigurationError, match="give the devices to the executor"):
        study.optimize(records_its_devices, executor="ray", gpus=[0], progress=False)
    with pytest.raises(hr.ConfigurationError, match=r"in-memory storage.*without gpus="):
        study.optimize(records_its_devices, gpus=[0], progress=False)


def test_hyperrace_worker_gpus(tmp_path: Path, event_log: Path) -> None:
    url = f"sqlite:///{tmp_path / 'w.db'}"
    hr.Study("cli", SPACE, storage=url, seed=0, optimizer="random")
    spec = ["--objective", "test_devices:records_its_devices", "--path", str(Path(__file__).parent)]
    code = main(
        [
            "worker",
            "--storage",
            url,
            "--study",
            "cli",
            *spec,
            "--gpus",
            "0,1",
            "--budget-trials",
            "4",
        ]
    )
    assert code == 0
    rows = _rows(event_log)
    assert len(rows) == 4 and {r[1] for r in rows} == {"0", "1"}
    assert len({r[0] for r in rows}) == 2  # two processes (one per GPU), each with its own
    for pid in {r[0] for r in rows}:
        assert len({r[1] for r in rows if r[0] == pid}) == 1
    assert main(["worker", "--storage", url, "--study", "cli", *spec, "--gpus", "0,,1"]) == 2
