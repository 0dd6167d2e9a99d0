"""Peers on the benchmark protocol: real Optuna, dehb, Syne Tune and SMAC3 runs on SyntheticCurves.

The Optuna peers run in this interpreter (the ``bench`` extra). The others need ``.venv-peers``
(``bash scripts/peers-env``; .ci/run builds it): where it is missing their tests skip, except
under ``CI=true``, where they fail.

Each run is checked through a task that records every epoch it is asked to train, so the tests
see what a peer really trained: the record's epochs are exactly those, within the budget;
resuming peers never train an epoch of a configuration twice; restarting ones do, and say so.
"""

from __future__ import annotations

import itertools
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from hyperrace.benchmarks._harness import RunConfig
from hyperrace.benchmarks.peers import PEERS, peers_python, run_peer
from hyperrace.cli import main
from hyperrace.exceptions import ConfigurationError, MissingDependencyError

HERE = ("optuna-tpe-hb", "optuna-tpe-sh")
ELSEWHERE = ("dehb-package", "synetune-dyhpo", "synetune-dehb", "synetune-hyperband", "smac-mf")
RESTARTING = ("dehb-package", "smac-mf")
#: Budgets (epochs) per peer: DyHPO fits a GP at every decision, so it gets a smaller one.
BUDGET = {name: 30.0 if name == "synetune-dyhpo" else 80.0 for name in PEERS}

# Runs each RunConfig given (a JSON list) on SyntheticCurves(0), in one process, through a task
# that logs each epoch it trains; prints [{"record": ..., "trained": [[config, epoch], ...]}, ...].
_LOGGED = textwrap.dedent(
    """
    import json, sys
    from hyperrace.benchmarks import SyntheticCurves
    from hyperrace.benchmarks._harness import RunConfig
    from hyperrace.benchmarks.peers import run_peer_on

    class Logged:
        def __init__(self, task):
            self.task, self.trained = task, []
            self.name, self.space, self.max_epochs = task.name, task.space, task.max_epochs

        def step(self, config, epoch):
            self.trained.append([json.dumps(sorted(config.items())), epoch])
            return self.task.step(config, epoch)

        def final_losses(self, configs):
            return self.task.final_losses(configs)

    out = []
    for config in json.loads(sys.argv[1]):
        task = Logged(SyntheticCurves(seed=0))
        record = run_peer_on(task, RunConfig(**config))
        out.append({"record": record, "trained": task.trained})
    print(json.dumps(out))
    """
)

Run = tuple[dict[str, Any], list[Any]]


def _python(name: str) -> str:
    if name in HERE:
        return sys.executable
    python = peers_python()
    if python is None or not python.exists():
        if os.environ.get("CI") == "true":
            pytest.fail(f"{name} needs .venv-peers under CI=true: run `bash scripts/peers-env`")
        pytest.skip(f"{name} needs .venv-peers: run `bash scripts/peers-env`")
    return str(python)


def _logged_runs(name: str, configs: list[RunConfig]) -> list[Run]:
    """Run ``configs`` of peer ``name`` in one fresh process (in .venv-peers where needed)."""
    done = subprocess.run(
        [_python(name), "-c", _LOGGED, json.dumps([c.__dict__ for c in configs])],
        capture_output=True,
        text=True,
        timeout=280,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return [(r["record"], r["trained"]) for r in json.loads(done.stdout.strip().splitlines()[-1])]


def _logged_run(name: str, seed: int = 0, **kwargs: Any) -> Run:
    config = RunConfig(name, seed, kwargs.pop("budget", BUDGET[name]), **kwargs)
    return _logged_runs(name, [config])[0]


_SEEDED: dict[str, list[Run]] = {}


def _seeded(name: str) -> list[Run]:
    """Seed 0 at the full test budget, then seeds 3 and 4 at a small one: one process per peer,
    shared by the tests below (a peer's package takes seconds to import)."""
    if name not in _SEEDED:
        small = 20.0 if name == "synetune-dyhpo" else 40.0
        configs = [RunConfig(name, 0, BUDGET[name]), RunConfig(name, 3, small)]
        _SEEDED[name] = _logged_runs(name, [*configs, RunConfig(name, 4, small)])
    return _SEEDED[name]


@pytest.mark.parametrize("name", [*HERE, *ELSEWHERE])
def test_a_peer_writes_a_valid_record_within_budget_and_charges_what_it_trains(name: str) -> None:
    record, trained = _seeded(name)[0]
    budget = BUDGET[name]
    assert record["optimizer"] == name
    assert record["task"] == "synthetic-0"
    assert (record["seed"], record["unit"], record["budget"], record["workers"]) == (
        0,
        "epochs",
        budget,
        1,
    )
    # it spent the whole budget and no more, and every epoch it trained is charged
    assert record["epochs"] == len(trained) == budget
    steps = record["best_steps"]
    assert steps, "no improvement recorded"
    assert [s[0] for s in steps] == sorted(s[0] for s in steps)
    assert [s[1] for s in steps] == sorted(s[1] for s in steps)
    losses = [s[2] for s in steps]
    assert all(a > b for a, b in itertools.pairwise(losses))
    assert steps[-1][0] <= budget
    assert record["seconds"] <= record["simulated_seconds"] + 1e-9
    assert record["busy_seconds"] == pytest.approx(record["simulated_seconds"])  # one worker
    assert record["trials"] >= 2
    assert record["overhead"][0][0] == 0
    assert all(s >= 0 for _, s in record["overhead"])
    assert [n for n, _ in record["overhead"]] == sorted(n for n, _ in record["overhead"])
    # resuming peers never retrain an epoch; restarting ones do, and say so
    pairs = [tuple(p) for p in trained]
    retrained = len(pairs) - len(set(pairs))
    if name in RESTARTING:
        assert retrained > 0, "a restarting peer retrained nothing: no promotion?"
        assert "retrain" in record["note"]
    else:
        assert retrained == 0
        assert "charged the epochs it trains" in record["note"]


@pytest.mark.parametrize("name", [*HERE, *ELSEWHERE])
def test_a_peer_is_deterministic_for_a_seed_also_in_a_fresh_process(name: str) -> None:
    _, (first, trained), (_, trained_other) = _seeded(name)
    ((again, trained_again),) = _logged_runs(name, [RunConfig(name, 3, first["budget"])])
    assert trained == trained_again
    assert first["best_steps"] == again["best_steps"]
    assert first["trials"] == again["trials"]
    assert trained != trained_other  # another seed, other decisions


def test_optuna_runs_several_simulated_workers_and_a_seconds_budget() -> None:
    record, trained = _logged_run("optuna-tpe-hb", budget=60.0, workers=3)
    assert record["epochs"] == len(trained) == 60
    # three workers: the simulated clock runs about a third of the busy time
    assert record["simulated_seconds"] < 0.6 * record["busy_seconds"]
    record, _ = _logged_run("optuna-tpe-sh", budget=100.0, unit="seconds")
    assert record["unit"] == "seconds"
    assert record["simulated_seconds"] <= 100.0
    assert record["best_steps"][-1][1] <= 100.0


def test_a_syne_tune_peer_runs_several_simulated_workers() -> None:
    record, trained = _logged_run("synetune-hyperband", budget=60.0, workers=2)
    assert record["epochs"] == len(trained) == 60
    assert record["simulated_seconds"] < 0.8 * record["busy_seconds"]


def test_smac_refuses_several_workers_with_an_error_naming_it() -> None:
    _python("smac-mf")
    with pytest.raises(ConfigurationError, match=r"'smac-mf' runs only sequentially.*workers=2"):
        run_peer("synthetic", "0", RunConfig("smac-mf", 0, 20.0, workers=2))


def test_a_missing_peers_environment_says_which_script_builds_it(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("HYPERRACE_PEERS_PYTHON", str(tmp_path / "nowhere" / "python"))
    with pytest.raises(MissingDependencyError, match=r"'dehb-package'.*bash scripts/peers-env"):
        run_peer("synthetic", "0", RunConfig("dehb-package", 0, 10.0))


def test_no_peer_shadows_one_of_our_optimizers() -> None:
    from hyperrace.optimizers import available

    assert not set(PEERS) & set(available())
    assert set(PEERS) == {*HERE, *ELSEWHERE}


def test_an_unknown_peer_lists_the_known_ones() -> None:
    with pytest.raises(ConfigurationError, match=r"unknown peer 'optuna-cmaes'.*optuna-tpe-hb"):
        run_peer("synthetic", "0", RunConfig("optuna-cmaes", 0, 10.0))


def test_one_benchmark_command_runs_ours_and_peers_from_both_environments(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _python("dehb-package")
    monkeypatch.setenv("HYPERRACE_CACHE", str(tmp_path / "cache"))
    out = tmp_path / "bench"
    code = main(
        [
            "benchmark",
            "--optimizers",
            "asha,dehb,optuna-tpe-hb,dehb-package,synetune-hyperband",
            "--instances",
            "0",
            "--seeds",
            "1",
            "--budget",
            "30",
            "--jobs",
            "1",
            "--quiet",
            "--out",
            str(out),
        ]
    )
    assert code == 0
    records = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]
    assert sorted(r["optimizer"] for r in records) == [
        "asha",
        "dehb",
        "dehb-package",
        "optuna-tpe-hb",
        "synetune-hyperband",
    ]
    assert all(r["epochs"] <= 30 for r in records)
    assert "dehb-package" in (out / "results.md").read_text()
