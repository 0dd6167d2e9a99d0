"""TensorBoard and MLflow mirrors, with the real libraries: a race with resumed trials is read
back from the TensorBoard event files and from an MLflow file store, and matches the storage."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

import hyperrace as hr
from hyperrace.exceptions import MissingDependencyError
from hyperrace.testing.objectives import curve_value

pytestmark = pytest.mark.torch

SPACE = hr.Space(x=hr.Float(0.0, 1.0), epochs=hr.Fidelity(1, 9))


def _need(module: str) -> None:
    if os.environ.get("CI") == "true":
        __import__(module)  # the extras are installed in CI: a missing one is a failure
    else:
        pytest.importorskip(module)


def _race(objective: hr.Objective) -> hr.Study:
    """ASHA in memory: trials promoted to later rungs are resumed, run after run."""
    study = hr.Study("mirror", SPACE, storage="memory://", optimizer="asha", seed=0)
    study.optimize(objective, budget=hr.Budget(epochs=40), progress=False)
    assert any(len({d for d in t.curve}) > 1 for t in study.trials)
    return study


def test_tensorboard_event_files_hold_every_report(tmp_path: Path) -> None:
    _need("tensorboard")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    from hyperrace.integrations.tensorboard import TensorBoardMirror

    log_dir = tmp_path / "tb"

    def objective(trial: hr.Trial) -> None:
        with TensorBoardMirror(trial, log_dir, tag="val_loss"):
            for step in trial.epochs():
                trial.report(curve_value(trial.config, step), checkpoint={"step": step})

    study = _race(objective)
    promoted = [t for t in study.trials if t.fidelity > 1]
    assert promoted
    for t in study.trials:
        events = EventAccumulator(str(log_dir / f"trial-{t.number:04d}"))
        events.Reload()
        scalars = sorted(events.Scalars("val_loss"), key=lambda e: e.step)  # one file per run
        assert [e.step for e in scalars] == [int(o.fidelity) for o in t.curve]
        assert [e.value for e in scalars] == pytest.approx([o.value for o in t.curve], rel=1e-6)
        assert [e.wall_time for e in scalars] == pytest.approx([o.time for o in t.curve])
        texts = events.Tensors("config/text_summary")
        assert len(texts) == len(
            [d for d in study.history(decisions=True).decisions if d.trial_id == t.trial_id]
        )  # once per run
        assert f'"x": {t.config["x"]!r}'.encode() in texts[0].tensor_proto.string_val[0]


def test_mlflow_keeps_one_run_per_trial_with_params_and_metrics(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _need("mlflow")
    from mlflow.tracking import MlflowClient

    from hyperrace.integrations.mlflow import TRIAL_TAG, MLflowMirror

    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")  # a file store, in tmp_path
    uri = (tmp_path / "mlruns").as_uri()

    def objective(trial: hr.Trial) -> None:
        with MLflowMirror(trial, experiment="mirror", tracking_uri=uri):
            for step in trial.epochs():
                trial.report(curve_value(trial.config, step), checkpoint={"step": step})

    study = _race(objective)
    client = MlflowClient(tracking_uri=uri)
    experiment = client.get_experiment_by_name("mirror")
    assert experiment is not None
    runs = client.search_runs([experiment.experiment_id], max_results=1000)
    assert len(runs) == len(study.trials)  # a resumed trial continued its own run
    by_trial = {int(r.data.tags[TRIAL_TAG]): r for r in runs}
    for t in study.trials:
        run = by_trial[t.trial_id]
        assert run.info.status == "FINISHED"
        assert run.info.run_name == f"trial-{t.number:04d}"
        assert run.data.params == {"x": repr(t.config["x"])}
        history = sorted(client.get_metric_history(run.info.run_id, "value"), key=lambda m: m.step)
        assert [(m.step, m.value) for m in history] == [(int(o.fidelity), o.value) for o in t.curve]
        assert [m.timestamp for m in history] == [round(o.time * 1000) for o in t.curve]


def test_a_failing_objective_marks_its_mlflow_run_failed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _need("mlflow")
    from mlflow.tracking import MlflowClient

    from hyperrace.integrations.mlflow import MLflowMirror

    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")
    uri = (tmp_path / "mlruns").as_uri()

    def objective(trial: hr.Trial) -> None:
        with MLflowMirror(trial, experiment="fails", tracking_uri=uri, metric="loss"):
            trial.report(0.5, fidelity=1)
            raise RuntimeError("diverged")

    study = hr.Study("fails", SPACE, storage="memory://", seed=0)
    study.optimize(objective, budget=hr.Budget(trials=1), progress=False)
    assert study.trials[0].status is hr.TrialStatus.FAILED
    client = MlflowClient(tracking_uri=uri)
    (run,) = client.search_runs([client.get_experiment_by_name("fails").experiment_id])
    assert run.info.status == "FAILED"
    assert [m.value for m in client.get_metric_history(run.info.run_id, "loss")] == [0.5]


def test_missing_trackers_name_the_extra(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from hyperrace.integrations.mlflow import MLflowMirror
    from hyperrace.integrations.tensorboard import TensorBoardMirror

    study = hr.Study("missing", SPACE, storage="memory://", seed=0)

    def objective(trial: hr.Trial) -> None:
        monkeypatch.setitem(sys.modules, "torch.utils.tensorboard", None)
        with pytest.raises(MissingDependencyError, match=r"hyperrace\[tensorboard\]"):
            TensorBoardMirror(trial, tmp_path)
        monkeypatch.setitem(sys.modules, "mlflow.tracking", None)
        with pytest.raises(MissingDependencyError, match=r"hyperrace\[mlflow\]"):
            MLflowMirror(trial, experiment="x")
        with pytest.raises(hr.ConfigurationError, match="experiment=''"):
            MLflowMirror(trial, experiment="")
        trial.report(0.5, fidelity=1)

    study.optimize(objective, budget=hr.Budget(trials=1), progress=False)
