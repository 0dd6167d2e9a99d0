"""The digits CNN and breast-cancer tasks: they learn, they leave the process's global torch state
alone, and a trial paused and resumed from its checkpoint continues exactly as an uninterrupted
run would (dropout included: its generator is part of the checkpoint)."""

from __future__ import annotations

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
    train_breast_cancer,
    train_digits,
    train_digits_cnn,
)
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
