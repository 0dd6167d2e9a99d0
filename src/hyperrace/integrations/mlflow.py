"""Mirror a trial's reports to MLflow: one MLflow run per trial, its configuration as params and
each report as a metric.

:class:`MLflowMirror` attaches to the trial an objective receives. It opens the MLflow run of the
trial (tagged ``hyperrace.trial_id``), creating it with the configuration as params the first
time; a resumed trial continues the same MLflow run, so its metric history is its whole curve::

    from hyperrace.integrations.mlflow import MLflowMirror

    def objective(trial):
        with MLflowMirror(trial, experiment="mnist", tracking_uri="sqlite:///mlflow.db"):
            for epoch in trial.epochs():
                trial.report(train_one_epoch(trial.config))

Each report is logged with ``step`` its fidelity (milliseconds for a fidelity in seconds) and
``timestamp`` the time it was reported. When the objective returns the MLflow run is marked
``FINISHED`` (``FAILED`` if it raised); a later run of the trial marks it ``RUNNING`` again.
The mirror uses an ``MlflowClient`` of its own, not MLflow's active run, so it leaves an
objective's own ``mlflow.start_run()`` alone. Needs the extra ``mlflow`` (``mlflow-skinny`` is
enough).
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from hyperrace._imports import require
from hyperrace.exceptions import ConfigurationError
from hyperrace.integrations.tensorboard import step_of

if TYPE_CHECKING:
    from hyperrace.trial import Observation, Trial

__all__ = ["TRIAL_TAG", "MLflowMirror"]

_PURPOSE = "hyperrace.integrations.mlflow"

#: The MLflow tag that names the hyperrace trial of an MLflow run.
TRIAL_TAG = "hyperrace.trial_id"


def _param(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, default=str)


class MLflowMirror:
    """Log each committed report of ``trial`` to its MLflow run.

    Args:
        trial: the trial the objective was given.
        experiment: the MLflow experiment's name (created if missing); one per study, say.
        tracking_uri: where MLflow stores runs (``"sqlite:///mlflow.db"``, a server's URL);
            ``None``: MLflow's default (``MLFLOW_TRACKING_URI``).
        metric: the metric's name (``"value"``: the reported metric).

    It attaches itself to the trial when made. Use it as a context manager (the MLflow run ends
    on exit), or call :meth:`close` yourself.
    """

    def __init__(
        self,
        trial: Trial,
        *,
        experiment: str,
        tracking_uri: str | None = None,
        metric: str = "value",
    ) -> None:
        if not isinstance(experiment, str) or not experiment:
            raise ConfigurationError(
                f"experiment={experiment!r} must be the name of an MLflow experiment, e.g. the "
                "study's name"
            )
        if not isinstance(metric, str) or not metric:
            raise ConfigurationError(f"metric={metric!r} must be a non-empty string")
        tracking = require("mlflow.tracking", "mlflow", _PURPOSE)
        self.trial = trial
        self.metric = metric
        self.client: Any = tracking.MlflowClient(tracking_uri=tracking_uri)
        found = self.client.get_experiment_by_name(experiment)
        self.experiment_id: str = (
            found.experiment_id if found is not None else self.client.create_experiment(experiment)
        )
        runs = self.client.search_runs(
            [self.experiment_id],
            filter_string=f"tags.`{TRIAL_TAG}` = '{trial.trial_id}'",
            max_results=1,
        )
        if runs:
            self.run_id: str = runs[0].info.run_id
            self.client.update_run(self.run_id, status="RUNNING")
        else:
            run = self.client.create_run(
                self.experiment_id,
                tags={
                    TRIAL_TAG: str(trial.trial_id),
                    "hyperrace.trial_number": str(trial.number),
                    "mlflow.runName": f"trial-{trial.number:04d}",
                },
            )
            self.run_id = run.info.run_id
            for name, value in trial.config.items():
                self.client.log_param(self.run_id, name, _param(value))
        trial.add_mirror(self)

    def report(self, trial: Trial, observation: Observation) -> None:
        """Log ``observation`` (called by the trial after each committed report)."""
        self.client.log_metric(
            self.run_id,
            self.metric,
            observation.value,
            timestamp=round(observation.time * 1000) if observation.time else None,
            step=step_of(observation.fidelity),
        )

    def close(self, *, failed: bool = False) -> None:
        """Stop mirroring; mark the MLflow run ``FINISHED`` (``FAILED`` with ``failed``)."""
        self.trial.remove_mirror(self)
        self.client.set_terminated(self.run_id, status="FAILED" if failed else "FINISHED")

    def __enter__(self) -> MLflowMirror:
        return self

    def __exit__(self, exc_type: object, *exc: object) -> None:
        self.close(failed=exc_type is not None)

    def __repr__(self) -> str:
        return f"MLflowMirror(run_id={self.run_id!r}, metric={self.metric!r})"
