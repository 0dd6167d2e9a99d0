"""What Optuna users expect: configurations enqueued to try first, user attributes on trials."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

import hyperrace as hr
from hyperrace.testing.objectives import annotated_learning_curve, learning_curve

SPACE = hr.Space(
    x=hr.Float(0.0, 1.0), act=hr.Categorical(["relu", "tanh"]), epochs=hr.Fidelity(1, 9)
)


def test_enqueued_configurations_start_first_and_the_optimizer_races_them() -> None:
    study = hr.Study("warm", SPACE, storage="memory://", seed=0, optimizer="asha")
    assert study.enqueue({"x": 0.3, "act": "tanh"}, user_attrs={"source": "paper"}) == 0
    assert study.enqueue({"x": 0.9}) == 1  # act: the optimizer's choice
    assert [e.config for e in study.history().enqueued] == [{"x": 0.3, "act": "tanh"}, {"x": 0.9}]
    first, second = study.ask(), study.ask()
    assert isinstance(first, hr.Job) and isinstance(second, hr.Job)
    assert first.config == {"x": 0.3, "act": "tanh"} and first.info["enqueued"] == 0
    assert second.config["x"] == 0.9 and second.config["act"] in ("relu", "tanh")
    assert first.stop == second.stop == 1  # ASHA's lowest rung, as for any new trial
    assert "rung" in first.info  # the optimizer's own bookkeeping is kept
    assert study.trials[0].user_attrs == {"source": "paper"} and study.trials[1].user_attrs == {}
    assert study.history().enqueued == ()
    third = study.ask()
    assert isinstance(third, hr.Job) and "enqueued" not in third.info


def test_the_queue_outlives_the_optimizer_and_trains_to_the_maximum() -> None:
    space = hr.Space(a=hr.Categorical(["p", "q"]))
    study = hr.Study("grid", space, storage="memory://", seed=0, optimizer="grid")
    study.optimize(lambda t: 1.0, progress=False)
    assert len(study.trials) == 2  # the grid is done
    study.enqueue({"a": "q"}, user_attrs={"again": True})
    study.optimize(lambda t: 0.5, progress=False)
    last = study.trials[-1]
    assert len(study.trials) == 3 and last.config == {"a": "q"} and last.fidelity == 1
    assert last.user_attrs == {"again": True}


def test_each_queued_configuration_starts_once_with_two_studies_asking(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'q.db'}"
    a = hr.Study("q", SPACE, storage=url, seed=0, optimizer="random")
    b = hr.Study("q", storage=url)
    for x in (0.1, 0.2, 0.3):
        a.enqueue({"x": x, "act": "relu"})
    jobs = [a.ask(), b.ask(), b.ask(), a.ask()]
    xs = [j.config["x"] for j in jobs if isinstance(j, hr.Job)]
    assert xs[:3] == [0.1, 0.2, 0.3] and xs[3] not in (0.1, 0.2, 0.3)
    a.close()
    b.close()


def test_enqueue_checks_what_it_is_given() -> None:
    study = hr.Study("s", SPACE, storage="memory://", seed=0, optimizer="random")
    with pytest.raises(hr.SpaceError, match=r"\['y'\] are not hyperparameters"):
        study.enqueue({"x": 0.5, "y": 1})
    with pytest.raises(hr.SpaceError, match="'epochs' is the fidelity, which the optimizer"):
        study.enqueue({"epochs": 3})
    with pytest.raises(hr.SpaceError, match="x"):
        study.enqueue({"x": 1.5})
    with pytest.raises(hr.ConfigurationError, match="is not a JSON value"):
        study.enqueue({"x": 0.5}, user_attrs={"when": object()})
    assert study.history().enqueued == ()


def test_user_attributes_from_the_objective_and_afterwards(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'a.db'}"
    study = hr.Study("attrs", SPACE, storage=url, seed=1, optimizer="asha")
    study.optimize(annotated_learning_curve, budget=hr.Budget(epochs=30), workers=2)
    trials = study.trials
    assert {t.user_attrs["pid"] for t in trials} - {os.getpid()}, "set in the worker processes"
    for t in trials:  # one run per decision that touched it
        runs = sum(1 for d in study.history(decisions=True).decisions if d.trial_id == t.trial_id)
        assert t.user_attrs["runs"] == runs
    study.set_user_attr(trials[0].trial_id, "test_accuracy", 0.93)
    assert hr.Study("attrs", storage=url).trials[0].user_attrs["test_accuracy"] == 0.93
    with pytest.raises(hr.ConfigurationError, match="non-empty string"):
        study.set_user_attr(trials[0].trial_id, "", 1)
    with pytest.raises(hr.ConfigurationError, match="not a JSON value"):
        study.set_user_attr(trials[0].trial_id, "nan", float("nan"))

    def objective(trial: hr.Trial) -> None:
        with pytest.raises(hr.ConfigurationError, match="not a JSON value"):
            trial.set_user_attr("bad", {1, 2})
        trial.set_user_attr("seen", True)
        learning_curve(trial)

    inproc = hr.Study("inproc", SPACE, storage="memory://", seed=1, optimizer="random")
    inproc.optimize(objective, budget=hr.Budget(trials=2), progress=False)
    assert all(t.user_attrs == {"seen": True} for t in inproc.trials)
