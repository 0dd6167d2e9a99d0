"""The digits task: it learns, it leaves the process's global torch state alone, and a trial
paused and resumed from its checkpoint continues exactly as an uninterrupted run would."""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pytest

import hyperrace as hr
from hyperrace.benchmarks import digits_space, train_digits
from hyperrace.executors import RunSpec, run_job
from hyperrace.history import History
from hyperrace.optimizers import Start
from hyperrace.space import Space
from hyperrace.trial import Trial

torch = pytest.importorskip("torch")
pytest.importorskip("sklearn")

pytestmark = pytest.mark.torch

GOOD = {"lr": 3e-3, "weight_decay": 1e-4, "batch_size": 32, "hidden": 64, "optimizer": "adam"}


class _TwoEpochsOfGood:
    """Starts the configuration GOOD for 2 epochs, again and again."""

    name: ClassVar[str] = "two-epochs-of-good"

    def get_params(self) -> dict[str, Any]:
        return {}

    def decide(self, space: Space, history: History, rng: np.random.Generator) -> Start:
        return Start(GOOD, 2.0)


def test_digits_space() -> None:
    space = digits_space()
    assert space.names == ("lr", "weight_decay", "batch_size", "hidden", "optimizer")
    assert space.fidelity is not None and space.fidelity.high == 20
    config = space.sample(np.random.default_rng(0))
    space.validate(config)


def test_digits_trains_in_process(tmp_path: Path) -> None:
    rng_state = torch.get_rng_state()
    threads = torch.get_num_threads()
    study = hr.Study(
        "digits",
        digits_space(),
        storage=f"sqlite:///{tmp_path / 'digits.db'}",
        optimizer=_TwoEpochsOfGood(),
        seed=0,
    )
    study.optimize(train_digits, budget=hr.Budget(epochs=4), workers=1, progress=False)
    trials = study.trials
    assert [t.fidelity for t in trials] == [2, 2]
    assert sum(t.work for t in trials) == 4
    for t in trials:
        assert t.status is hr.TrialStatus.PAUSED
        assert t.checkpoint_fidelity == 2
        assert t.last_value is not None and 1.0 - t.last_value > 0.5
    # different trial numbers, different seeds: the curves differ
    assert trials[0].curve[0].value != trials[1].curve[0].value
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
        heartbeat_interval=None,
    )


def test_digits_resume_is_exact(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'resume.db'}"
    straight = hr.Study("straight", digits_space(), storage=url, optimizer="random", seed=7)
    paused = hr.Study("paused", digits_space(), storage=url, optimizer="random", seed=7)
    loaded: list[float | None] = []

    def spy(trial: Trial) -> None:
        loaded.append(trial.checkpoint.fidelity)
        train_digits(trial)

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
    again = paused.ask()
    assert isinstance(again, hr.Job)
    assert (again.kind, again.trial_id, again.start) == ("resume", first.trial_id, 2.0)
    run_job(paused.storage, _spec(paused, again, 4), spy)
    resumed = paused.storage.trial(first.trial_id)

    assert loaded == [None, None, 2.0]
    assert resumed.work == 4  # nothing was retrained
    assert [o.fidelity for o in resumed.curve] == [1, 2, 3, 4]
    assert [o.value for o in resumed.curve] == [o.value for o in reference.curve]


@pytest.mark.slow
def test_digits_demo(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from hyperrace.cli import main

    url = f"sqlite:///{tmp_path / 'demo.db'}"
    argv = ["demo", "--storage", url, "--budget", "30", "--workers", "1", "--seed", "0"]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "creating study 'digits-demo'" in out
    assert "validation accuracy" in out
    assert "hyperrace show digits-demo" in out
    assert main(argv) == 0
    again = capsys.readouterr().out
    assert "continuing study 'digits-demo'" in again
    assert "budget is spent" in again
    study = hr.Study("digits-demo", storage=url)
    assert sum(t.work for t in study.trials) == 30
