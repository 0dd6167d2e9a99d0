"""A real small study for the extraction tests: ASHA on synthetic curves, four simulated
workers, in a SQLite file (trials are paused, promoted and completed)."""

from __future__ import annotations

from pathlib import Path

import pytest

import hyperrace as hr
from hyperrace.benchmarks import SyntheticCurves
from hyperrace.executors import SimulatedExecutor, elapse
from hyperrace.storage import open_storage
from hyperrace.trial import Trial
from hyperrace.visual import Snapshot, read

TASK = SyntheticCurves(seed=0, max_epochs=9)


def synthetic_objective(trial: Trial) -> None:
    """Report the synthetic curve, spending each epoch's simulated seconds first."""
    for epoch in trial.epochs():
        elapse(TASK.step_seconds(trial.config))
        trial.report(TASK.value(trial.config, epoch), checkpoint={"epoch": epoch})


def build_race_study(folder: Path, name: str = "race", epochs: int = 150) -> str:
    """Run the study into ``folder / 'study.db'``; return the storage URL."""
    url = f"sqlite:///{folder / 'study.db'}"
    executor = SimulatedExecutor(workers=4)
    study = hr.Study(name, TASK.space, storage=url, optimizer="asha", seed=0, clock=executor.clock)
    study.optimize(
        synthetic_objective, budget=hr.Budget(epochs=epochs), executor=executor, progress=False
    )
    study.storage.close()
    return url


@pytest.fixture(scope="session")
def race_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    return build_race_study(tmp_path_factory.mktemp("race"))


@pytest.fixture(scope="module")
def snap(race_url: str) -> Snapshot:
    """The snapshot of the race study, read once per test module."""
    storage = open_storage(race_url)
    try:
        return read(storage, "race")
    finally:
        storage.close()
