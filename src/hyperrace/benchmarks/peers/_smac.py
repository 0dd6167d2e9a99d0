"""The ``smac-mf`` peer: SMAC3's ``MultiFidelityFacade`` (Hyperband intensifier) through ask/tell.

SMAC3 (Lindauer et al., JMLR 2022) with its multi-fidelity defaults: a random-forest surrogate
proposing configurations to Hyperband brackets (eta=3; Li et al., JMLR 2018), budget = epochs
from the task's fidelity low to ``max_epochs``. Each ``ask()`` gives a configuration and a budget;
the configuration is trained from scratch to that many epochs (SMAC3's trials carry no
checkpoint: a configuration promoted to a higher budget is retrained from epoch 1) and told
``TrialValue(cost=loss, time=simulated seconds)`` with ``save=False`` (nothing is written per
trial). ``Scenario(deterministic=True, seed=config.seed)``: a configuration is evaluated once per
budget. SMAC3's output folder is a temporary one, removed after the run. Sequential only: its
Hyperband intensifier is not driven with several trials in flight here.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from hyperrace._imports import require
from hyperrace.benchmarks._harness import RunConfig
from hyperrace.benchmarks._task import Task
from hyperrace.benchmarks.peers._configspace import from_configuration, to_configspace
from hyperrace.benchmarks.peers._loop import Job, check_workers, simulate
from hyperrace.space import Space

__all__ = ["run"]

NOTE = (
    "restarts every evaluation from scratch, a promoted configuration included: charged the "
    "epochs it retrains"
)


def _never_called(config: Any, seed: int = 0, budget: float = 0.0) -> float:
    """SMAC3 wants a target function; under ask/tell it is never called."""
    raise AssertionError("SMAC3 called the target function under ask/tell")


class _Driver:
    def __init__(self, smac: Any, trial_value: Any, space: Space) -> None:
        self.smac = smac
        self.trial_value = trial_value
        self.space = space
        self.observations = 0

    def ask(self) -> Job:
        info = self.smac.ask()
        config = from_configuration(self.space, dict(info.config))
        return Job(config, 1, round(float(info.budget)), info)

    def epoch(self, job: Job, epoch: int, loss: float) -> bool:
        return True  # told only at the end of the evaluation

    def end(self, job: Job) -> None:
        assert job.last is not None  # set by simulate before end
        value = self.trial_value(cost=job.last[1], time=job.seconds)
        self.smac.tell(job.handle, value, save=False)
        self.observations += 1


def run(task: Task, config: RunConfig) -> dict[str, Any]:
    """Run ``smac-mf`` on ``task``; the harness record."""
    check_workers(config.optimizer, config.workers, allowed=False)
    smac = require("smac", "peers", "the peer 'smac-mf'")
    trial_value = require("smac.runhistory.dataclasses", "peers", "the peer 'smac-mf'").TrialValue
    fidelity = task.space.fidelity
    with tempfile.TemporaryDirectory(prefix="hyperrace-smac-") as folder:
        scenario = smac.Scenario(
            to_configspace(task.space, config.seed),
            output_directory=Path(folder),
            deterministic=True,
            n_trials=10**9,
            min_budget=float(fidelity.low) if fidelity is not None else 1.0,
            max_budget=float(task.max_epochs),
            seed=config.seed,
        )
        facade = smac.MultiFidelityFacade(
            scenario,
            _never_called,
            intensifier=smac.MultiFidelityFacade.get_intensifier(scenario, eta=3),
            overwrite=True,
            logging_level=40,
        )
        return simulate(task, config, _Driver(facade, trial_value, task.space), NOTE)
