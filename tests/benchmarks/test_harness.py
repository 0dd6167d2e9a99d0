"""The benchmark harness: trajectories, regret and ranks, the runner and its CLI, end to end."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from hyperrace.benchmarks import SyntheticCurves
from hyperrace.benchmarks._harness import Event, RunConfig, best_at, run_ours, trajectory_record
from hyperrace.benchmarks._report import (
    curves,
    markdown,
    normalised_regret,
    overhead_medians,
    regret_table,
)
from hyperrace.benchmarks._runner import Benchmark
from hyperrace.cli import main
from hyperrace.exceptions import ConfigurationError


@pytest.fixture(autouse=True)
def _cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Reference ranges are cached in the test's folder, not the user's."""
    monkeypatch.setenv("HYPERRACE_CACHE", str(tmp_path / "cache"))


def record(optimizer: str, seed: int, steps: list[tuple[float, float]], task: str = "t") -> Any:
    events = [Event(e, 10 * e, loss) for e, loss in steps]
    return trajectory_record(
        task=task,
        optimizer=optimizer,
        seed=seed,
        unit="epochs",
        budget=100.0,
        workers=1,
        events=events,
        overhead=[(i, 0.001 * i) for i in range(5)],
        wall_seconds=0.1,
        trials=3,
    )


def test_the_trajectory_keeps_only_improvements_and_best_at_reads_it() -> None:
    r = record("a", 0, [(1, 0.9), (2, 0.95), (3, 0.5), (50, 0.6), (60, 0.2)])
    assert r["best_steps"] == [[1, 10, 0.9], [3, 30, 0.5], [60, 600, 0.2]]
    assert best_at(r, 0.5) == math.inf
    assert best_at(r, 2) == 0.9
    assert best_at(r, 59) == 0.5
    assert best_at(r, 100) == 0.2


def test_regret_is_normalised_by_the_reference_range() -> None:
    assert normalised_regret(0.3, (0.1, 0.5)) == pytest.approx(0.5)
    assert normalised_regret(math.inf, (0.1, 0.5)) == 1.0
    assert normalised_regret(0.05, (0.1, 0.5)) == pytest.approx(-0.125)


def test_regret_table_means_and_ranks() -> None:
    records = [
        record("a", 0, [(5, 0.5), (60, 0.1)]),
        record("b", 0, [(5, 0.3), (90, 0.2)]),
        record("a", 1, [(5, 0.3)]),
        record("b", 1, [(5, 0.3)]),
    ]
    table = regret_table(records, {"t": (0.0, 1.0)}, fractions=(0.1, 1.0))
    # at 10 %: a has 0.5 and 0.3, b 0.3 and 0.3
    assert table["a"][0].regret == pytest.approx(0.4)
    assert table["b"][0].regret == pytest.approx(0.3)
    assert table["a"][0].rank == pytest.approx((2 + 1.5) / 2)
    assert table["b"][0].rank == pytest.approx((1 + 1.5) / 2)
    # at 100 %: a 0.1 and 0.3, b 0.2 and 0.3
    assert table["a"][1].regret == pytest.approx(0.2)
    assert table["a"][1].rank == pytest.approx((1 + 1.5) / 2)
    text = markdown(table, overhead_medians(records), fractions=(0.1, 1.0))
    assert text.index("| a |") < text.index("| b |")  # sorted by final regret
    grid, regrets = curves(records, {"t": (0.0, 1.0)}, points=10)["t"]["a"]
    assert grid[-1] == 100.0 and regrets.shape == (2, 10)
    assert regrets[0, 0] == pytest.approx(0.5) and regrets[0, -1] == pytest.approx(0.1)


def test_run_ours_spends_exactly_the_epoch_budget_and_records_overhead() -> None:
    task = SyntheticCurves(seed=0, max_epochs=9)
    r = run_ours(task, RunConfig("asha", seed=1, budget=120, workers=3))
    assert r["epochs"] == 120
    assert r["trials"] > 120 / 9
    assert len(r["overhead"]) >= r["trials"]
    losses = [s[2] for s in r["best_steps"]]
    assert losses == sorted(losses, reverse=True)
    assert 0 < r["busy_seconds"] <= 3 * r["simulated_seconds"] + 1e-9
    assert json.loads(json.dumps(r)) == r


def test_a_seconds_budget_is_simulated_time() -> None:
    task = SyntheticCurves(seed=0, max_epochs=9)
    r = run_ours(task, RunConfig("random", seed=0, budget=60.0, unit="seconds", workers=2))
    assert 60.0 <= r["simulated_seconds"] <= 60.0 + 2 * 9 * 8.0 * 3.5
    assert all(step[1] <= r["simulated_seconds"] for step in r["best_steps"])


def _lcbench() -> Any:
    from hyperrace.benchmarks import LCBench

    return LCBench("3945")  # its data ships with the package


@pytest.mark.parametrize("which", ["synthetic", "lcbench"])
def test_random_search_through_the_harness_matches_a_direct_loop(which: str) -> None:
    """The sanity check of the protocol: random search at full fidelity through the study, the
    simulated executor and the trajectory code gives exactly what a plain loop over the task's
    curves gives for the same seeds (the configurations of decision ``i`` are drawn from
    ``decision_rng(seed, i)``), in epochs and in simulated seconds."""
    from hyperrace._rng import decision_rng

    task = SyntheticCurves(seed=2, max_epochs=9) if which == "synthetic" else _lcbench()
    trials, epochs = 6, task.max_epochs
    for seed in (0, 4):
        r = run_ours(task, RunConfig("random", seed=seed, budget=trials * epochs, workers=1))
        best, spent, seconds, steps = np.inf, 0, 0.0, []
        for index in range(trials):
            config = task.space.sample(decision_rng(seed, index))
            for epoch in range(1, epochs + 1):
                step = task.step(config, epoch)
                spent += 1
                seconds += step.seconds
                if step.value < best:
                    best = step.value
                    steps.append([float(spent), seconds, step.value])
        assert len(r["best_steps"]) == len(steps)
        for got, want in zip(r["best_steps"], steps, strict=True):
            assert got[0] == want[0] and got[2] == want[2]
            assert got[1] == pytest.approx(want[1], rel=1e-9, abs=1e-6)


def test_the_benchmark_runs_in_parallel_resumes_and_reports(tmp_path: Path) -> None:
    bench = Benchmark(
        kind="synthetic",
        instances=["0", "1"],
        optimizers=["random", "asha"],
        seeds=2,
        budget=60,
        out=tmp_path,
        jobs=2,
    )
    records = bench.run()
    assert len(records) == 8
    assert sorted({r["optimizer"] for r in records}) == ["asha", "random"]
    # a second run finds everything done and runs nothing
    calls: list[tuple[int, int, str]] = []
    again = bench.run(on_progress=lambda *a: calls.append(a))
    assert calls == [(8, 8, "")]
    assert again == records
    text = bench.report(records)
    assert "| asha |" in text and "| random |" in text
    for name in ("results.md", "regret.png", "overhead.png"):
        assert (tmp_path / name).stat().st_size > 0


def test_bad_benchmark_arguments_name_the_fix(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match=r"unknown optimizer.*nope.*choose among"):
        Benchmark("synthetic", ["0"], ["nope"], 1, 10, tmp_path)
    with pytest.raises(ConfigurationError, match="'eta' is not key=value"):
        Benchmark("synthetic", ["0"], ["asha:eta"], 1, 10, tmp_path)
    with pytest.raises(ConfigurationError, match="unknown optimizer"):
        Benchmark("synthetic", ["0"], ["nope:eta=3"], 1, 10, tmp_path)
    with pytest.raises(ConfigurationError, match="unknown task 'cifar'"):
        Benchmark("cifar", ["0"], ["random"], 1, 10, tmp_path)
    with pytest.raises(ConfigurationError, match="integer seed"):
        Benchmark("synthetic", ["x"], ["random"], 1, 10, tmp_path).run()


def test_the_cli_writes_results_table_and_plots(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(
        [
            "benchmark",
            "--task",
            "synthetic",
            "--instances",
            "0",
            "--optimizers",
            "random,hyperband,asha:eta=2",
            "--seeds",
            "2",
            "--budget",
            "50",
            "--workers",
            "2",
            "--jobs",
            "1",
            "--out",
            str(tmp_path),
            "--quiet",
        ]
    )
    assert code == 0
    out = capsys.readouterr().out
    assert "| hyperband |" in out and "regret @100%" in out
    assert "| asha:eta=2 |" in out
    assert len((tmp_path / "results.jsonl").read_text().splitlines()) == 6
    assert (tmp_path / "regret.png").stat().st_size > 10_000


def test_a_failing_run_stops_the_benchmark_and_leaves_no_worker(tmp_path: Path) -> None:
    import multiprocessing

    bench = Benchmark(
        kind="synthetic",
        instances=["0"],
        optimizers=["random", "asha:eta=1"],  # eta=1 is refused when the run builds it
        seeds=2,
        budget=30,
        out=tmp_path,
        jobs=2,
    )
    with pytest.raises(ConfigurationError, match="eta"):
        bench.run()
    assert multiprocessing.active_children() == []
