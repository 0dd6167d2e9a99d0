"""BOHB: Hyperband's schedule; prior draws until a budget has a model, then model proposals."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import hyperrace as hr
from hyperrace._rng import decision_rng
from hyperrace.optimizers import Start, make_optimizer
from hyperrace.optimizers._bohb import BOHB
from hyperrace.study import Job
from hyperrace.testing.conformance import CHECKS
from hyperrace.testing.history import drive
from hyperrace.testing.objectives import curve_value, learning_curve
from hyperrace.trial import TrialStatus

SPACE = hr.Space(x=hr.Float(0.0, 1.0), y=hr.Float(1e-3, 1.0, log=True), epochs=hr.Fidelity(1, 27))
NO_FIDELITY = hr.Space(x=hr.Float(0.0, 1.0), y=hr.Float(1e-3, 1.0, log=True))
DEFAULTS = {
    "eta": 3,
    "min_points_in_model": None,
    "top_n_percent": 15.0,
    "num_samples": 64,
    "random_fraction": 1 / 3,
    "bandwidth_factor": 3.0,
    "min_bandwidth": 1e-3,
}


def _study(optimizer: Any, space: hr.Space = SPACE, seed: int = 7, **kw: Any) -> hr.Study:
    return hr.Study("bohb", space, storage="memory://", seed=seed, optimizer=optimizer, **kw)


def _floor(config: dict[str, Any]) -> float:
    """The loss curve_value tends to: smallest at x = 0.3 and small y."""
    return float((config["x"] - 0.3) ** 2 + 0.1 * abs(config["y"]))


@pytest.mark.parametrize("check", sorted(CHECKS))
def test_conformance_suite(check: str) -> None:
    CHECKS[check]("bohb")


def test_defaults_are_the_papers_and_params_round_trip_as_json() -> None:
    assert BOHB().get_params() == DEFAULTS
    params = BOHB(eta=2, min_points_in_model=10, random_fraction=0.0).get_params()
    again = make_optimizer("bohb", json.loads(json.dumps(params)))
    assert again.get_params() == params
    with pytest.raises(TypeError):
        BOHB(3)  # type: ignore[call-arg]


@pytest.mark.parametrize(
    ("param", "value", "match"),
    [
        ("eta", 1, r"eta=1 must be an integer >= 2"),
        ("eta", 2.5, r"eta=2.5"),
        ("min_points_in_model", 0, r"min_points_in_model=0 must be an integer >= 1 or None"),
        ("top_n_percent", 0, r"top_n_percent=0 must be a number in \(0, 100\)"),
        ("top_n_percent", 100, r"top_n_percent=100"),
        ("num_samples", 0, r"num_samples=0 must be an integer >= 1"),
        ("random_fraction", 1.5, r"random_fraction=1.5 must be a number in \[0, 1\]"),
        ("bandwidth_factor", 0.0, r"bandwidth_factor=0.0 must be a finite number > 0"),
        ("min_bandwidth", float("nan"), r"min_bandwidth=nan must be a finite number > 0"),
    ],
)
def test_bad_params_are_named(param: str, value: Any, match: str) -> None:
    with pytest.raises(hr.ConfigurationError, match=match):
        BOHB(**{param: value})


def _schedule(optimizer: Any, jobs: int) -> list[tuple[str, float, float, dict[str, Any]]]:
    study = _study(optimizer)
    out: list[tuple[str, float, float, dict[str, Any]]] = []
    drive(
        study,
        jobs,
        curve_value,
        on_job=lambda s, j: out.append((j.kind, j.start, j.stop, dict(j.info))),
    )
    return out


def test_the_schedule_is_hyperbands() -> None:
    jobs = (
        69 + 40
    )  # one full Hyperband round over 1..27 epochs (27/9/3/1, 12/4/1, 6/2, 4), then more
    bohb = _schedule("bohb", jobs)
    assert len(bohb) == jobs
    assert bohb == _schedule("hyperband", jobs)  # same budgets, rung sizes, iterations, kinds
    assert bohb[0] == ("start", 0.0, 1.0, {"bracket": 3, "rung": 0, "iteration": 0})


def test_first_configurations_come_from_the_prior() -> None:
    """With d = 2 a budget needs 6 observations (3 good, more than 2 bad) before it has a model:
    until then each config is the prior draw that follows bohb_sample's one uniform draw."""
    study = _study("bohb")
    configs: list[dict[str, Any]] = []
    drive(study, 27, curve_value, on_job=lambda s, j: configs.append(dict(j.config)))

    def prior(index: int) -> dict[str, Any]:
        rng = decision_rng(7, index)
        rng.random()  # the random_fraction coin
        return SPACE.sample(rng)

    assert configs[:6] == [prior(i) for i in range(6)]
    model_based = [i for i in range(6, 27) if configs[i] != prior(i)]
    uniform_coin = [i for i in range(6, 27) if decision_rng(7, i).random() >= 1 / 3]
    assert model_based == uniform_coin and len(model_based) >= 8


def _new_configs(optimizer: Any, space: hr.Space, jobs: int, skip: int) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for seed in range(3):
        study = _study(optimizer, space, seed=seed)
        starts: list[dict[str, Any]] = []

        def keep(s: hr.Study, j: Job, starts: list[dict[str, Any]] = starts) -> None:
            if j.kind == "start":
                starts.append(dict(j.config))

        drive(study, jobs, curve_value, on_job=keep)
        out += starts[skip:]
    return out


def test_model_based_proposals_concentrate_near_the_optimum() -> None:
    """After the first 27 random configs at 1 epoch, new configs cluster around x = 0.3."""
    bohb = _new_configs("bohb", SPACE, 120, skip=27)
    hb = _new_configs("hyperband", SPACE, 120, skip=27)
    assert len(bohb) == len(hb) == 3 * 60
    near = [float(np.mean([abs(c["x"] - 0.3) < 0.1 for c in cs])) for cs in (bohb, hb)]
    assert near[0] >= 0.5 and near[0] >= 2 * near[1]  # about 0.7 against 0.2 for these seeds
    assert np.mean([_floor(c) for c in bohb]) < 0.6 * np.mean([_floor(c) for c in hb])


def test_without_a_fidelity_it_is_tpe_at_full_fidelity() -> None:
    opt = BOHB()
    decision = opt.decide(NO_FIDELITY, hr.History("minimize"), np.random.default_rng(1))
    rng = np.random.default_rng(1)
    rng.random()
    assert decision == Start(NO_FIDELITY.sample(rng), 1.0)
    study = _study("bohb", NO_FIDELITY)
    stops: list[float] = []
    drive(study, 30, curve_value, on_job=lambda s, j: stops.append(j.stop))
    assert stops == [1.0] * 30 and all(t.status is TrialStatus.COMPLETED for t in study.trials)
    bohb = _new_configs("bohb", NO_FIDELITY, 60, skip=20)
    rs = _new_configs("random", NO_FIDELITY, 60, skip=20)
    assert np.mean([_floor(c) for c in bohb]) < 0.6 * np.mean([_floor(c) for c in rs])


def test_epoch_budget_accounting_with_checkpoints(tmp_path: Path) -> None:
    study = _study("bohb", artifacts=tmp_path)
    study.optimize(learning_curve, budget=hr.Budget(epochs=357), progress=False)
    h = study.history(decisions=True)
    assert h.work == 357  # exactly one Hyperband round over 1..27
    assert not h.failed  # learning_curve raises when a resumed run misses its checkpoint
    assert sum(d.kind == "resume" for d in h.decisions) == 9 + 3 + 1 + 4 + 1 + 2
    assert all(t.work == t.fidelity for t in h.trials)
    job = study.ask()
    assert isinstance(job, Job) and job.info == {"bracket": 3, "rung": 0, "iteration": 4}
