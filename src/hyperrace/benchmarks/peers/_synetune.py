"""Syne Tune peers: DyHPO, DEHB and synchronous Hyperband (syne-tune 0.13.0), driven by our loop.

Syne Tune's schedulers are driven the way its ``Tuner`` drives them, with our simulated workers
in place of its backend: ``scheduler.suggest(trial_id)`` when a worker is free (``None``: wait),
``on_trial_add`` for a new trial, ``on_trial_result({"loss", "epoch"})`` after every epoch, whose
decision continues, pauses or stops the trial (then ``on_trial_remove``), and
``on_trial_complete`` for a trial that reached ``max_epochs``. A suggestion to resume a paused
trial (or to start one from another trial's checkpoint) continues from the checkpoint's epoch:
paused trials are resumed, not retrained. A new configuration the scheduler starts at a higher
rung (DEHB's mutants) is trained from epoch 1 to it, and those epochs are charged.

* ``synetune-dyhpo``: ``DyHPO`` (Wistuba, Kadra & Grabocka, NeurIPS 2022, in Syne Tune's
  version: its GP surrogate rather than the deep kernel; rung levels every ``grace_period``
  epochs, 1, 2, 3, ... as in the paper; SH promotion with probability 0.25).
* ``synetune-dehb``: ``DEHB`` (Awad, Mallik & Hutter, IJCAI 2021), synchronous brackets.
* ``synetune-hyperband``: ``SyncHyperband`` (Li et al., JMLR 2018), random configurations.

All with ``grace_period``/``max_resource_level`` from the task's fidelity, ``mode="min"`` and
``random_seed=config.seed``; eta is 3 for the two Hyperband ones. Workers > 1 are supported.
"""

from __future__ import annotations

import datetime
import logging
from typing import Any

from hyperrace._imports import require
from hyperrace.benchmarks._harness import RunConfig
from hyperrace.benchmarks._task import Task
from hyperrace.benchmarks.peers._loop import Job, simulate
from hyperrace.exceptions import ConfigurationError
from hyperrace.space import Categorical, Float, Int, Space

__all__ = ["config_space", "run"]

NOTE = (
    "pauses trials at rungs and resumes them from their checkpoint: charged the epochs it "
    "trains (a new configuration started at a higher rung trains from epoch 1)"
)


def config_space(space: Space) -> dict[str, Any]:
    """Our space, the fidelity excluded, as a Syne Tune config space (a dict of domains)."""
    cs = require("syne_tune.config_space", "peers", "the Syne Tune peers")
    out: dict[str, Any] = {}
    for name, dim in space.dimensions.items():
        if isinstance(dim, Float):
            make = cs.loguniform if dim.log else cs.uniform
            out[name] = make(float(dim.low), float(dim.high))
        elif isinstance(dim, Int):
            make = cs.lograndint if dim.log else cs.randint
            out[name] = make(int(dim.low), int(dim.high))
        elif isinstance(dim, Categorical):
            out[name] = cs.choice(list(dim.choices))
        else:
            raise ConfigurationError(
                f"hyperparameter {name!r} is a {type(dim).__name__}, which the Syne Tune peers "
                f"do not translate; use Float, Int or Categorical"
            )
    return out


class _Driver:
    def __init__(self, scheduler: Any, task: Task) -> None:
        self.scheduler = scheduler
        self.space = task.space
        self.max_epochs = task.max_epochs
        purpose = "the Syne Tune peers"
        self.make_trial = require("syne_tune.backend.trial_status", "peers", purpose).Trial
        self.decisions = require(
            "syne_tune.optimizer.scheduler", "peers", purpose
        ).SchedulerDecision
        self.observations = 0
        self.next_id = 0
        self.trials: dict[int, Any] = {}
        self.reached: dict[int, int] = {}  # trial id -> last epoch trained (its checkpoint)
        self.removed: set[int] = set()

    def _config(self, config: dict[str, Any]) -> dict[str, Any]:
        return self.space.validate({name: config[name] for name in self.space.names})

    def ask(self) -> Job | None:
        suggestion = self.scheduler.suggest(trial_id=self.next_id)
        if suggestion is None:
            return None
        if suggestion.spawn_new_trial_id:
            trial_id = self.next_id
            self.next_id += 1
            source = suggestion.checkpoint_trial_id
            start = 1 if source is None else self.reached.get(source, 0) + 1
            trial = self.make_trial(
                trial_id=trial_id,
                config=dict(suggestion.config),
                creation_time=datetime.datetime.now(),
            )
            self.trials[trial_id] = trial
            self.scheduler.on_trial_add(trial=trial)
        else:
            trial_id = suggestion.checkpoint_trial_id
            trial = self.trials[trial_id]
            if suggestion.config is not None:
                trial.config = dict(suggestion.config)
            start = self.reached.get(trial_id, 0) + 1
        self.reached[trial_id] = start - 1
        self.removed.discard(trial_id)
        return Job(self._config(trial.config), start, self.max_epochs, trial_id)

    def epoch(self, job: Job, epoch: int, loss: float) -> bool:
        trial_id = job.handle
        self.reached[trial_id] = epoch
        trial = self.trials[trial_id]
        decision = self.scheduler.on_trial_result(
            trial=trial, result={"loss": loss, "epoch": epoch}
        )
        self.observations += 1
        if decision in (self.decisions.STOP, self.decisions.PAUSE):
            self.scheduler.on_trial_remove(trial=trial)
            self.removed.add(trial_id)
            return False
        return True

    def end(self, job: Job) -> None:
        trial_id = job.handle
        if trial_id not in self.removed and job.last is not None:
            epoch, loss = job.last
            result = {"loss": loss, "epoch": epoch}
            self.scheduler.on_trial_complete(trial=self.trials[trial_id], result=result)


def run(task: Task, config: RunConfig) -> dict[str, Any]:
    """Run ``synetune-dyhpo``, ``synetune-dehb`` or ``synetune-hyperband`` on ``task``."""
    baselines = require("syne_tune.optimizer.baselines", "peers", f"the peer {config.optimizer!r}")
    logging.getLogger("syne_tune").setLevel(logging.WARNING)
    fidelity = task.space.fidelity
    low = int(fidelity.low) if fidelity is not None else 1
    common: dict[str, Any] = {
        "config_space": config_space(task.space),
        "metric": "loss",
        "mode": "min",
        "resource_attr": "epoch",
        "random_seed": config.seed,
    }
    if config.optimizer == "synetune-dyhpo":
        scheduler = baselines.DyHPO(
            **common, max_t=task.max_epochs, grace_period=low, rung_increment=low
        )
    elif config.optimizer == "synetune-dehb":
        scheduler = baselines.DEHB(
            **common, max_resource_level=task.max_epochs, grace_period=low, reduction_factor=3
        )
    elif config.optimizer == "synetune-hyperband":
        scheduler = baselines.SyncHyperband(
            **common, max_resource_level=task.max_epochs, grace_period=low, reduction_factor=3
        )
    else:
        raise ConfigurationError(f"{config.optimizer!r} is not a Syne Tune peer")
    return simulate(task, config, _Driver(scheduler, task), NOTE)
