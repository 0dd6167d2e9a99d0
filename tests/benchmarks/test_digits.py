"""The digits task: it learns, it leaves the process's global torch state alone, and a trial
paused and resumed from its checkpoint continues exactly as an uninterrupted run would."""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pytest

import hyperrace as hr
from hyperrace.benchmarks import digits_space, train_digits
from hyperrace.history import History
from hyperrace.optimizers import Start
from hyperrace.space import Space

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


@pytest.mark.slow
def test_digits_demo(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from hyperrace.cli import main

    url = f"sqlite:///{tmp_path / 'demo.db'}"
    argv = ["demo", "--storage", url, "--budget", "30", "--workers", "1", "--seed", "0"]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "creating study 'digits-demo'" in out
    assert "with asha (the default for a space with an epochs fidelity)" in out
    assert "validation accuracy" in out
    assert "hyperrace show digits-demo" in out
    assert main(argv) == 0
    again = capsys.readouterr().out
    assert "continuing study 'digits-demo'" in again
    assert "budget is spent" in again
    study = hr.Study("digits-demo", storage=url)
    assert sum(t.work for t in study.trials) == 30
    assert study.optimizer.name == "asha"
