"""The ``dehb-package`` peer: DEHB (Awad, Mallik & Hutter, IJCAI 2021) through the dehb package.

Named apart from hyperrace's own ``dehb`` optimizer, which it is compared with.

``DEHB(cs=<our space as ConfigSpace>, min_fidelity=<fidelity low>, max_fidelity=max_epochs,
eta=3, n_workers=1, seed=config.seed)``; each ``ask()`` gives a configuration and a fidelity,
which is trained from scratch to that many epochs (the package has no checkpoints: a configuration
promoted to a higher fidelity is retrained from epoch 1) and told ``{"fitness": loss at that
fidelity, "cost": its simulated seconds}``. Workers > 1 keep several asked jobs in flight (the
package's asynchronous mode); its Dask pool is not used. The package writes its log to a
temporary folder that is removed after the run.
"""

from __future__ import annotations

import tempfile
from typing import Any

from hyperrace._imports import require
from hyperrace.benchmarks._harness import RunConfig
from hyperrace.benchmarks._task import Task
from hyperrace.benchmarks.peers._configspace import from_configuration, to_configspace
from hyperrace.benchmarks.peers._loop import Job, simulate
from hyperrace.space import Space

__all__ = ["run"]

NOTE = (
    "restarts every evaluation from scratch, a promoted configuration included: charged the "
    "epochs it retrains"
)


class _Driver:
    def __init__(self, dehb: Any, task: Task) -> None:
        self.dehb = dehb
        self.task = task
        self.space: Space = task.space
        self.observations = 0

    def ask(self) -> Job:
        info = self.dehb.ask()
        config = from_configuration(self.space, dict(info["config"]))
        return Job(config, 1, round(float(info["fidelity"])), info)

    def epoch(self, job: Job, epoch: int, loss: float) -> bool:
        return True  # told only at the end of the evaluation

    def end(self, job: Job) -> None:
        assert job.last is not None  # set by simulate before end
        self.dehb.tell(job.handle, {"fitness": job.last[1], "cost": job.seconds})
        self.observations += 1


def run(task: Task, config: RunConfig) -> dict[str, Any]:
    """Run ``dehb-package`` on ``task``; the harness record."""
    package = require("dehb", "peers", "the peer 'dehb-package'")
    fidelity = task.space.fidelity
    with tempfile.TemporaryDirectory(prefix="hyperrace-dehb-") as folder:
        dehb = package.DEHB(
            cs=to_configspace(task.space, config.seed),
            dimensions=len(task.space),
            min_fidelity=float(fidelity.low) if fidelity is not None else 1.0,
            max_fidelity=float(task.max_epochs),
            eta=3,
            n_workers=1,
            seed=config.seed,
            output_path=folder,
            save_freq="end",
            log_level="WARNING",
        )
        return simulate(task, config, _Driver(dehb, task), NOTE)
