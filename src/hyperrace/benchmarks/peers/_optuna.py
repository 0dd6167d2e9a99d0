"""Optuna peers: TPE with a Hyperband or a successive-halving pruner, through ask/tell.

Each trial is asked for (``study.ask()`` and one ``suggest_*`` per hyperparameter), then trained
from epoch 1 towards ``max_epochs``, reporting every epoch (``trial.report(loss, epoch)``) and
asking the pruner (``trial.should_prune()``) after each: a pruned trial is told
``TrialState.PRUNED``, a finished one its final loss. A trial continues rather than restarts,
so it pays only the epochs it trains. Optuna never resumes a pruned trial.

Pruners (Li et al., JMLR 2018; Jamieson & Talwalkar, AISTATS 2016, asynchronous as in Li et al.,
MLSys 2020): ``HyperbandPruner(min_resource=<fidelity low>, max_resource=max_epochs,
reduction_factor=3)`` and ``SuccessiveHalvingPruner(min_resource=<fidelity low>,
reduction_factor=3)``, with ``TPESampler(seed=config.seed)`` (Bergstra et al., NeurIPS 2011).
Workers > 1 are supported: asked trials stay in flight side by side (TPE sees them as running).
"""

from __future__ import annotations

from typing import Any

from hyperrace._imports import require
from hyperrace.benchmarks._harness import RunConfig
from hyperrace.benchmarks._task import Task
from hyperrace.benchmarks.peers._loop import Job, simulate
from hyperrace.exceptions import ConfigurationError
from hyperrace.space import Categorical, Float, Int, Space

__all__ = ["run", "suggest"]

NOTE = (
    "continues each trial epoch by epoch (trial.report/should_prune) and never restarts one: "
    "charged the epochs it trains"
)


def suggest(trial: Any, space: Space) -> dict[str, Any]:
    """Our space, the fidelity excluded, as Optuna ``suggest_*`` calls on ``trial``."""
    config: dict[str, Any] = {}
    for name, dim in space.dimensions.items():
        if isinstance(dim, Float):
            config[name] = trial.suggest_float(name, dim.low, dim.high, log=dim.log)
        elif isinstance(dim, Int):
            config[name] = trial.suggest_int(name, dim.low, dim.high, log=dim.log)
        elif isinstance(dim, Categorical):
            config[name] = trial.suggest_categorical(name, list(dim.choices))
        else:
            raise ConfigurationError(
                f"hyperparameter {name!r} is a {type(dim).__name__}, which the Optuna peers do "
                f"not translate; use Float, Int or Categorical"
            )
    return config


class _Driver:
    def __init__(self, optuna: Any, study: Any, space: Space, max_epochs: int) -> None:
        self.optuna = optuna
        self.study = study
        self.space = space
        self.max_epochs = max_epochs
        self.observations = 0

    def ask(self) -> Job:
        trial = self.study.ask()
        return Job(suggest(trial, self.space), 1, self.max_epochs, trial)

    def epoch(self, job: Job, epoch: int, loss: float) -> bool:
        job.handle.report(loss, epoch)
        self.observations += 1
        return not bool(job.handle.should_prune())

    def end(self, job: Job) -> None:
        assert job.last is not None  # set by simulate before end
        epoch, loss = job.last
        if epoch < job.stop:
            self.study.tell(job.handle, state=self.optuna.trial.TrialState.PRUNED)
        else:
            self.study.tell(job.handle, loss)


def run(task: Task, config: RunConfig) -> dict[str, Any]:
    """Run ``optuna-tpe-hb`` or ``optuna-tpe-sh`` on ``task``; the harness record."""
    optuna = require("optuna", "bench", f"the peer {config.optimizer!r}")
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    fidelity = task.space.fidelity
    min_resource = int(fidelity.low) if fidelity is not None else 1
    if config.optimizer == "optuna-tpe-hb":
        pruner = optuna.pruners.HyperbandPruner(
            min_resource=min_resource, max_resource=task.max_epochs, reduction_factor=3
        )
    elif config.optimizer == "optuna-tpe-sh":
        pruner = optuna.pruners.SuccessiveHalvingPruner(
            min_resource=min_resource, reduction_factor=3
        )
    else:
        raise ConfigurationError(f"{config.optimizer!r} is not an Optuna peer")
    study = optuna.create_study(
        # the Hyperband pruner picks a trial's bracket from a hash of the study name
        study_name=f"{config.optimizer}-{task.name}-{config.seed}",
        direction="minimize",
        sampler=optuna.samplers.TPESampler(seed=config.seed),
        pruner=pruner,
    )
    driver = _Driver(optuna, study, task.space, task.max_epochs)
    return simulate(task, config, driver, NOTE)
