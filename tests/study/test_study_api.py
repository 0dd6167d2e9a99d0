"""Study creation, loading, ask / report / tell."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest

import hyperrace as hr
from hyperrace.trial import StopReason

SPACE = hr.Space(x=hr.Float(0.0, 1.0), epochs=hr.Fidelity(1, 4))


def test_ask_report_tell_completes_and_pauses(tmp_path: Path) -> None:
    study = hr.Study(
        "s", SPACE, storage=f"sqlite:///{tmp_path / 'a.db'}", seed=1, optimizer="random"
    )
    job = study.ask()
    assert isinstance(job, hr.Job)
    assert (job.start, job.stop, job.kind, job.decision) == (0.0, 4.0, "start", 0)
    for f in range(1, 5):
        keep_going = study.report(job.trial_id, fidelity=f, value=1.0 / f)
        assert keep_going is (f < 4)
    trial = study.tell(job)
    assert trial.status is hr.TrialStatus.COMPLETED
    assert [o.value for o in trial.curve] == [1.0, 0.5, 1 / 3, 0.25]
    assert study.best is not None and study.best.trial_id == job.trial_id

    job2 = study.ask()
    assert isinstance(job2, hr.Job)
    study.report(job2.trial_id, fidelity=1, value=0.9)
    paused = study.tell(job2)
    assert paused.status is hr.TrialStatus.PAUSED
    assert paused.reason is StopReason.OBJECTIVE_RETURNED


def test_nan_report_fails_the_trial_with_reason() -> None:
    study = hr.Study("s", SPACE, storage="memory://", seed=1, optimizer="random")
    job = study.ask()
    assert isinstance(job, hr.Job)
    study.report(job.trial_id, fidelity=1, value=0.5)
    assert study.report(job.trial_id, fidelity=2, value=float("nan")) is False
    trial = study.tell(job)
    assert trial.status is hr.TrialStatus.FAILED
    assert "NaN" in trial.message
    assert [o.value for o in trial.curve] == [0.5]


def test_tell_with_error_fails_and_keeps_reports() -> None:
    study = hr.Study("s", SPACE, storage="memory://", seed=1, optimizer="random")
    job = study.ask()
    assert isinstance(job, hr.Job)
    study.report(job.trial_id, fidelity=1, value=0.5)
    trial = study.tell(job, error="CUDA out of memory")
    assert trial.status is hr.TrialStatus.FAILED and trial.message == "CUDA out of memory"
    assert len(trial.curve) == 1


def test_report_to_finished_trial_is_a_clear_error() -> None:
    study = hr.Study("s", SPACE, storage="memory://", seed=1, optimizer="random")
    job = study.ask()
    assert isinstance(job, hr.Job)
    study.report(job.trial_id, fidelity=4, value=0.5)
    study.tell(job)
    with pytest.raises(hr.TrialStateError, match="completed, not running"):
        study.report(job.trial_id, fidelity=4, value=0.4)


def test_loading_checks_space_direction_and_seed(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'a.db'}"
    hr.Study("s", SPACE, storage=url, seed=5, direction="maximize", optimizer="random")
    loaded = hr.Study("s", storage=url)
    assert loaded.space == SPACE and loaded.direction == "maximize" and loaded.seed == 5
    other = hr.Space(x=hr.Float(0.0, 2.0), epochs=hr.Fidelity(1, 4))
    with pytest.raises(hr.StudyMismatchError, match="another space"):
        hr.Study("s", other, storage=url, optimizer="random")
    with pytest.raises(hr.StudyMismatchError, match="direction='maximize'"):
        hr.Study("s", storage=url, direction="minimize")
    with pytest.raises(hr.StudyMismatchError, match="seed=5"):
        hr.Study("s", storage=url, seed=6)


def test_missing_study_lists_the_existing_ones(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'a.db'}"
    hr.Study("alpha", SPACE, storage=url, optimizer="random")
    with pytest.raises(hr.StudyNotFoundError, match="'alpha'"):
        hr.Study("beta", storage=url)


def test_bad_arguments_name_the_value() -> None:
    with pytest.raises(hr.ConfigurationError, match="direction='up'"):
        hr.Study("s", SPACE, storage="memory://", direction="up", optimizer="random")  # type: ignore[arg-type]
    with pytest.raises(hr.UnknownOptimizerError, match=r"registered ones are: .*random"):
        hr.Study("s", SPACE, storage="memory://", optimizer="randon")
    with pytest.raises(hr.ConfigurationError, match="seed=-1"):
        hr.Study("s", SPACE, storage="memory://", seed=-1, optimizer="random")
    with pytest.raises(hr.ConfigurationError, match="study name ''"):
        hr.Study("", SPACE, storage="memory://", optimizer="random")
    with pytest.raises(hr.ConfigurationError, match=r"artifacts='s3://b/x' is a URL.*mount"):
        hr.Study("s", SPACE, storage="memory://", artifacts="s3://b/x", optimizer="random")
    with pytest.raises(hr.ConfigurationError, match=r"Budget\(epochs=0\)"):
        hr.Budget(epochs=0)
    with pytest.raises(hr.ConfigurationError, match=r"Budget\(trials=1.5\)"):
        hr.Budget(trials=1.5)  # type: ignore[arg-type]


def test_optimizer_is_stored_and_rebuilt(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'a.db'}"
    from hyperrace.optimizers import GridSearch

    hr.Study("s", SPACE, storage=url, optimizer=GridSearch(resolution=3))
    loaded = hr.Study("s", storage=url)
    assert loaded.optimizer.name == "grid"
    assert loaded.optimizer.get_params()["resolution"] == 3


def test_default_artifacts_sit_next_to_the_sqlite_file(tmp_path: Path) -> None:
    study = hr.Study(
        "my study/1", SPACE, storage=f"sqlite:///{tmp_path / 'a.db'}", optimizer="random"
    )
    assert study.artifacts == tmp_path / "hyperrace-artifacts" / "my_study_1"


def test_to_dataframe_has_one_row_per_trial_by_default_and_per_observation_on_request() -> None:
    pd = pytest.importorskip("pandas")
    study = hr.Study("s", SPACE, storage="memory://", seed=2, optimizer="random")
    empty = study.to_dataframe()
    assert len(empty) == 0 and {"number", "value", "params_x", "datetime_start"} <= set(empty)
    for i in range(3):
        job = study.ask()
        assert isinstance(job, hr.Job)
        for f in (1, 2):
            study.report(job.trial_id, f * 0.1 + i, fidelity=f)
        if i == 2:
            study.tell(job, error="boom")
        else:
            study.report(job.trial_id, 0.05, fidelity=4)
            study.tell(job)
    study.set_user_attr(study.trials[0].trial_id, "note", "first")
    df = study.to_dataframe()
    assert len(df) == 3
    assert list(df.columns[:8]) == [
        "number",
        "trial_id",
        "state",
        "value",
        "fidelity",
        "datetime_start",
        "datetime_complete",
        "duration",
    ]
    assert {"params_x", "user_attrs_note", "work", "reason", "message"} <= set(df.columns)
    assert list(df["state"]) == ["completed", "completed", "failed"]
    assert list(df["value"]) == [0.05, 0.05, 2.2]
    assert list(df["params_x"]) == [t.config["x"] for t in study.trials]
    assert df["user_attrs_note"][0] == "first" and pd.isna(df["user_attrs_note"][1])
    assert isinstance(df["datetime_start"][0], pd.Timestamp)
    assert str(df["datetime_start"].dt.tz) == "UTC"
    assert df["duration"][0] == df["datetime_complete"][0] - df["datetime_start"][0]
    assert isinstance(df["duration"][0], pd.Timedelta)

    obs = study.to_dataframe(per="observation")
    assert len(obs) == 8
    assert {"trial_id", "params_x", "fidelity", "value", "state", "datetime"} <= set(obs.columns)
    assert isinstance(obs["datetime"][0], pd.Timestamp)
    with pytest.raises(hr.ConfigurationError, match="per='rows'"):
        study.to_dataframe(per="rows")  # type: ignore[arg-type]


def test_grid_search_is_done_after_every_point() -> None:
    space = hr.Space(a=hr.Categorical(["p", "q"]), b=hr.Int(1, 3))
    study = hr.Study("g", space, storage="memory://", optimizer="grid")
    seen = []
    while isinstance(job := study.ask(), hr.Job):
        seen.append((job.config["a"], job.config["b"]))
        study.report(job.trial_id, fidelity=1, value=0.0)
        study.tell(job)
    assert isinstance(job, hr.Done)
    assert sorted(seen) == [(a, b) for a in "pq" for b in (1, 2, 3)]


def test_ask_with_a_budget_clips_jobs_and_ends() -> None:
    study = hr.Study("s", SPACE, storage="memory://", seed=1, optimizer="random")
    budget = hr.Budget(epochs=10)
    stops = []
    while isinstance(job := study.ask(budget), hr.Job):
        stops.append(job.stop)
        for f in range(1, int(job.stop) + 1):
            study.report(job.trial_id, fidelity=f, value=0.1)
        study.tell(job)
    assert stops == [4.0, 4.0, 2.0]
    assert isinstance(job, hr.Done) and "epoch budget" in job.reason


def test_report_checks_the_fidelity() -> None:
    study = hr.Study("s", SPACE, storage="memory://", seed=1, optimizer="random")
    job = study.ask()
    assert isinstance(job, hr.Job)
    for bad in (0, 5, 2.5, float("nan"), -1):
        with pytest.raises(hr.ConfigurationError, match="report whole epochs from 1 to 4"):
            study.report(job.trial_id, fidelity=bad, value=0.1)
    seconds = hr.Study(
        "t",
        hr.Space(x=hr.Float(0.0, 1.0), t=hr.Fidelity(0.5, 4.5, unit="seconds")),
        storage="memory://",
        optimizer="random",
    )
    job = seconds.ask()
    assert isinstance(job, hr.Job)
    seconds.report(job.trial_id, fidelity=4.6, value=0.1)  # seconds may overshoot
    with pytest.raises(hr.ConfigurationError, match="positive number of seconds"):
        seconds.report(job.trial_id, fidelity=-1.0, value=0.1)


# -- names and types that users of other tuners reach for ----------------------------------------


def test_best_value_and_config_by_the_names_optuna_users_reach_for() -> None:
    study = hr.Study("s", SPACE, storage="memory://", seed=1, optimizer="random")
    assert study.best is None and study.best_value is None and study.best_config is None
    for value in (0.5, 0.2, 0.7):
        job = study.ask()
        assert isinstance(job, hr.Job)
        study.report(job.trial_id, value, fidelity=4)
        study.tell(job)
    best = study.best
    assert best is not None
    assert best.value == study.best_value == 0.2
    assert best.config == study.best_config == study.trials[1].config
    assert "value=0.2" in repr(best)
    config = study.best_config
    assert config is not None
    config["x"] = 99.0  # a copy: the record does not change
    assert study.best_config != config


def test_an_integer_fidelity_gives_int_starts_and_stops() -> None:
    study = hr.Study("s", SPACE, storage="memory://", seed=1, optimizer="asha")
    job = study.ask()
    assert isinstance(job, hr.Job)
    assert type(job.start) is int and type(job.stop) is int
    for epoch in range(job.start + 1, job.stop + 1):
        study.report(job.trial_id, 1.0 / epoch, fidelity=epoch)
    study.tell(job)
    seen: list[tuple[type, type]] = []

    def objective(trial: hr.Trial) -> None:
        seen.append((type(trial.start), type(trial.stop)))
        for epoch in range(trial.start + 1, trial.stop + 1):
            trial.report(0.1, fidelity=epoch)

    study.optimize(objective, budget=hr.Budget(epochs=12), progress=False)
    assert seen and set(seen) == {(int, int)}

    seconds = hr.Study(
        "t",
        hr.Space(x=hr.Float(0.0, 1.0), t=hr.Fidelity(0.5, 4.5, unit="seconds")),
        storage="memory://",
        optimizer="random",
    )
    job = seconds.ask()
    assert isinstance(job, hr.Job) and type(job.stop) is float


def test_a_space_without_a_fidelity_reports_without_one() -> None:
    flat = hr.Study("f", hr.Space(x=hr.Float(0.0, 1.0)), storage="memory://", optimizer="random")
    job = flat.ask()
    assert isinstance(job, hr.Job) and (job.start, job.stop) == (0, 1)
    assert flat.report(job.trial_id, 0.25) is False  # its one step is done
    trial = flat.tell(job)
    assert trial.status is hr.TrialStatus.COMPLETED and trial.value == 0.25
    study = hr.Study("s", SPACE, storage="memory://", seed=1, optimizer="random")
    job = study.ask()
    assert isinstance(job, hr.Job)
    with pytest.raises(hr.ConfigurationError, match=r"needs fidelity=.*'epochs'"):
        study.report(job.trial_id, 0.25)


def test_ask_tell_saves_and_loads_checkpoints_like_a_trial(tmp_path: Path) -> None:
    study = hr.Study(
        "s", SPACE, storage=f"sqlite:///{tmp_path / 'a.db'}", seed=1, optimizer="random"
    )
    job = study.ask(hr.Budget(epochs=2))
    assert isinstance(job, hr.Job)
    assert study.checkpoint(job.trial_id).load() is None
    for epoch in range(job.start + 1, job.stop + 1):
        study.report(job.trial_id, 0.5 / epoch, fidelity=epoch, checkpoint={"epoch": epoch})
    paused = study.tell(job)
    assert paused.status is hr.TrialStatus.PAUSED and paused.checkpoint_fidelity == 2
    saved = study.checkpoint(job.trial_id)
    assert (saved.fidelity, saved.load()) == (2.0, {"epoch": 2})
    assert saved.folder == study.artifacts / f"trial-{job.trial_id}"
    # torch.save once PyTorch is loaded in the process (earlier tests may have loaded it)
    suffix = "pt" if "torch" in sys.modules else "pkl"
    assert [p.name for p in saved.folder.iterdir()] == [f"checkpoint-2.{suffix}"]  # older pruned

    resumed: list[Any] = []

    def objective(trial: hr.Trial) -> None:  # optimize resumes it from the ask/tell checkpoint
        resumed.append((trial.trial_id, trial.start, trial.checkpoint.load()))
        for epoch in trial.epochs():
            trial.report(0.1, checkpoint={"epoch": epoch})

    class ResumePaused:
        name = "resume-paused"

        def decide(self, space: hr.Space, history: hr.History, rng: Any) -> Any:
            if history.paused:
                return hr.Resume(history.paused[0].trial_id, 4.0)
            return hr.Done("nothing is paused")

        def get_params(self) -> dict[str, Any]:
            return {}

    hr.Study("s", storage=study.storage, optimizer=ResumePaused()).optimize(
        objective, progress=False
    )
    assert resumed == [(job.trial_id, 2, {"epoch": 2})]
    assert study.checkpoint(job.trial_id).load() == {"epoch": 4}
    with pytest.raises(KeyError):
        study.checkpoint(10_000)


def test_a_nan_report_saves_no_checkpoint() -> None:
    study = hr.Study("s", SPACE, storage="memory://", seed=1, optimizer="random")
    job = study.ask()
    assert isinstance(job, hr.Job)
    calls: list[int] = []
    study.report(job.trial_id, float("nan"), fidelity=1, checkpoint=lambda: calls.append(1))
    assert calls == [] and study.checkpoint(job.trial_id).load() is None
