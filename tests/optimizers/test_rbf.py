"""RBF + DYCORS (HORD): the surrogate, the design, the schedule replay, quality, determinism."""

from __future__ import annotations

import json
import math
from typing import Any

import numpy as np
import pytest

import hyperrace as hr
from hyperrace.benchmarks._functions import TestFunction, branin, hartmann6
from hyperrace.exceptions import ConfigurationError
from hyperrace.optimizers import Done, Start, Wait, make_optimizer
from hyperrace.optimizers._parts.candidates.dycors import (
    dycors_candidates,
    latin_hypercube,
    perturbation_probability,
    pick_candidate,
)
from hyperrace.optimizers._parts.surrogate.rbf import CubicRBF
from hyperrace.optimizers._rbf import RBFDycors, _snap, replay
from hyperrace.study import Job
from hyperrace.testing.conformance import CHECKS
from hyperrace.testing.history import drive
from hyperrace.testing.objectives import curve_value

MIXED = hr.Space(
    x=hr.Float(0.0, 1.0),
    lr=hr.Float(1e-4, 1e-1, log=True),
    k=hr.Int(2, 64, log=True),
    n=hr.Int(1, 5),
    c=hr.Categorical(["a", "b", "c"]),
)


def _mixed_value(config: dict[str, Any], f: float) -> float:
    bonus = {"a": 0.3, "b": 0.0, "c": 0.6}[config["c"]]
    return (
        (config["x"] - 0.3) ** 2
        + (math.log10(config["lr"]) + 2.5) ** 2 / 4
        + (math.log2(config["k"]) - 4) ** 2 / 10
        + abs(config["n"] - 2) / 5
        + bonus
    )


def _study(space: hr.Space, seed: int = 0, **params: Any) -> hr.Study:
    return hr.Study("rbf", space, storage="memory://", seed=seed, optimizer=RBFDycors(**params))


@pytest.mark.parametrize("check", sorted(CHECKS))
def test_conformance(check: str) -> None:
    CHECKS[check]("rbf_dycors")


# --- the surrogate ------------------------------------------------------------------------------


def test_rbf_interpolates_its_data_exactly() -> None:
    rng = np.random.default_rng(0)
    x = rng.random((30, 4))
    f = np.sin(5 * x[:, 0]) + x[:, 1] ** 2 - 3 * x[:, 2] * x[:, 3]
    model = CubicRBF(x, f)
    np.testing.assert_allclose(model(x), f, atol=1e-8)
    assert np.all(np.isfinite(model(rng.random((50, 4)))))


def test_rbf_reproduces_a_linear_function_through_its_tail() -> None:
    rng = np.random.default_rng(1)
    x = rng.random((12, 3))
    coef = np.array([2.0, -1.0, 0.5])
    model = CubicRBF(x, 4.0 + x @ coef)
    y = rng.random((40, 3))
    np.testing.assert_allclose(model(y), 4.0 + y @ coef, atol=1e-8)
    np.testing.assert_allclose(model.lam, 0.0, atol=1e-8)


def test_rbf_survives_duplicates_and_a_degenerate_tail() -> None:
    rng = np.random.default_rng(2)
    x = rng.random((10, 3))
    x[:, 2] = 0.5  # a one-choice categorical: the tail's column is constant
    f = x[:, 0] + x[:, 1] ** 2
    model = CubicRBF(np.vstack([x, x[:3]]), np.concatenate([f, f[:3] + 1.0]))
    pred = model(x)
    assert np.all(np.isfinite(pred))
    np.testing.assert_allclose(pred[3:], f[3:], atol=1e-6)
    np.testing.assert_allclose(pred[:3], f[:3] + 0.5, atol=1e-6)  # duplicates averaged
    np.testing.assert_allclose(CubicRBF(x[:1], f[:1])(rng.random((5, 3))), f[0], atol=1e-9)


# --- the design and the candidates --------------------------------------------------------------


def _one_per_stratum(points: np.ndarray) -> bool:
    n = len(points)
    strata = np.minimum((points * n).astype(int), n - 1)
    return all(sorted(strata[:, j]) == list(range(n)) for j in range(points.shape[1]))


def test_latin_hypercube_has_one_point_per_stratum() -> None:
    for n, d, seed in [(6, 2, 0), (14, 6, 1), (9, 12, 2), (1, 3, 3)]:
        points = latin_hypercube(n, d, np.random.default_rng(seed))
        assert points.shape == (n, d)
        assert np.all((points >= 0) & (points <= 1))
        assert _one_per_stratum(points)
    first = np.array([0.0, 0.99, 0.5, 1.0])
    pinned = latin_hypercube(7, 4, np.random.default_rng(4), first=first)
    np.testing.assert_array_equal(pinned[0], first)
    assert _one_per_stratum(pinned)
    again = latin_hypercube(7, 4, np.random.default_rng(4), first=first)
    np.testing.assert_array_equal(pinned, again)


def test_the_initial_design_of_a_study_is_a_latin_hypercube() -> None:
    fn = hartmann6()
    study = _study(fn.space, seed=3)
    drive(study, 14, lambda c, f: fn.value(c))
    x = study.space.to_unit_many([t.config for t in study.trials])
    assert _one_per_stratum(x)


def test_perturbation_probability_formula() -> None:
    # n = n0: the full min(20/d, 1)
    assert perturbation_probability(14, 14, 200, 6) == 1.0
    assert perturbation_probability(82, 82, 200, 40) == pytest.approx(0.5)
    # n - n0 + 1 = 10 of n_max - n0 = 100: halfway on a log scale
    assert perturbation_probability(19, 10, 110, 6) == pytest.approx(0.5)
    assert perturbation_probability(19, 10, 110, 40) == pytest.approx(0.25)
    assert perturbation_probability(19, 10, 110, 400) == pytest.approx(0.025)
    # floored at 1/d, also when the budget is used up or too small
    assert perturbation_probability(109, 10, 110, 6) == pytest.approx(1 / 6)
    assert perturbation_probability(500, 10, 110, 6) == pytest.approx(1 / 6)
    assert perturbation_probability(11, 10, 11, 4) == pytest.approx(0.25)
    assert perturbation_probability(3, 2, 100, 1) == 1.0


def test_candidates_perturb_at_least_one_coordinate_within_bounds() -> None:
    rng = np.random.default_rng(5)
    best = np.array([0.0, 0.5, 1.0, 0.25])
    c = dycors_candidates(best, 0.2, 0.0, 400, rng)
    changed = c != best
    assert np.all(changed.sum(axis=1) == 1)  # prob 0: exactly the forced one
    assert set(np.flatnonzero(changed.any(axis=0))) == {0, 1, 2, 3}  # the last one included
    assert np.all((c >= 0) & (c <= 1))
    full = dycors_candidates(best, 0.05, 1.0, 200, rng, min_step=np.array([0, 0, 0, 0.5]))
    assert np.all(full != best)
    assert np.std(full[:, 1]) < 0.08 < np.std(full[:, 3])


def test_snapping_matches_the_space_round_trip() -> None:
    space = hr.Space(
        a=hr.Int(2, 64, log=True),
        b=hr.Int(-3, 7),
        c=hr.Categorical(["x", "y", "z"]),
        d=hr.Float(1e-3, 1.0, log=True),
        e=hr.Int(1, 2**40),
    )
    u = np.random.default_rng(6).random((300, 5))
    u[:3] = [[0.0] * 5, [1.0] * 5, [0.5] * 5]
    expected = np.array([space.to_unit(space.from_unit(row)) for row in u])
    np.testing.assert_allclose(_snap(space, u), expected, atol=1e-12)


def test_pick_candidate_weighs_value_against_distance() -> None:
    values = np.array([0.0, 1.0, 0.5, -5.0])
    distances = np.array([0.1, 1.0, 0.5, 0.0])
    assert pick_candidate(values, distances, 1.0, 1e-3) == 0  # the last one is too close
    assert pick_candidate(values, distances, 0.0, 1e-3) == 1
    assert pick_candidate(np.array([0.0, 1.0, 0.2]), np.array([0.1, 1.0, 0.8]), 0.5, 1e-3) == 2
    assert pick_candidate(values, np.zeros(4), 0.5, 1e-3) is None


# --- the schedule -------------------------------------------------------------------------------


def test_sigma_halves_after_max_5_d_failures_in_a_row() -> None:
    design = [10.0, 9.0]
    assert replay([*design, 9.0, 9.0, 9.0, 9.0], 2, 2, 0.2, 0.005).sigma == 0.2
    state = replay([*design, *[9.0] * 5], 2, 2, 0.2, 0.005)
    assert (state.sigma, state.counter, state.adaptive) == (0.1, 0, 5)
    # d = 8: eight failures are needed; a tiny improvement is a failure too
    eight = [*design, 9.0, 8.9999, *[9.5] * 5]
    assert replay(eight, 2, 8, 0.2, 0.005).sigma == 0.2
    assert replay([*eight, 9.5], 2, 8, 0.2, 0.005).sigma == 0.1


def test_sigma_doubles_after_3_successes_capped_at_sigma_init() -> None:
    halved_twice = [10.0, 9.0, *[9.0] * 10]
    assert replay(halved_twice, 2, 2, 0.2, 0.005).sigma == 0.05
    state = replay([*halved_twice, 8.0, 7.0], 2, 2, 0.2, 0.005)
    assert (state.sigma, state.counter) == (0.05, 2)
    state = replay([*halved_twice, 8.0, 7.0, 6.0], 2, 2, 0.2, 0.005)
    assert (state.sigma, state.counter) == (0.1, 0)
    # a failure resets the run of successes
    assert replay([*halved_twice, 8.0, 7.0, 7.5, 6.0], 2, 2, 0.2, 0.005).sigma == 0.05
    capped = replay([10.0, 9.0, 8.0, 7.0, 6.0, 5.0, 4.0, 3.0], 2, 2, 0.2, 0.005)
    assert capped.sigma == 0.2


def test_a_restart_comes_when_sigma_falls_below_sigma_min() -> None:
    design = [10.0, 9.0]
    five_halvings = [*design, *[9.0] * 25]
    state = replay(five_halvings, 2, 2, 0.2, 0.005)
    assert (state.sigma, state.restarts, state.restart_start) == (0.00625, 0, 0)
    state = replay([*five_halvings, *[9.0] * 5], 2, 2, 0.2, 0.005)
    assert (state.sigma, state.restarts, state.restart_start) == (0.2, 1, 32)
    # the new restart has its own design (no sigma updates) and its own incumbent
    after = replay([*five_halvings, *[9.0] * 5, 50.0, 40.0, 45.0], 2, 2, 0.2, 0.005)
    assert (after.restart_start, after.counter, after.adaptive) == (32, -1, 31)
    # pending trials (None) hold their place but change nothing
    pending = replay([*design, None, None, 8.0], 2, 2, 0.2, 0.005)
    assert (pending.counter, pending.adaptive) == (1, 3)
    assert replay([None, None, 5.0], 2, 2, 0.2, 0.005).counter == 0


def test_weights_cycle_over_the_adaptive_proposals() -> None:
    fn = branin()
    jobs: list[Job] = []
    study = _study(fn.space, seed=1, max_evaluations=30)
    drive(study, 40, lambda c, f: fn.value(c), on_job=lambda s, j: jobs.append(j))
    assert len(jobs) == 30
    assert [j.info["design"] for j in jobs[:6]] == list(range(6))
    assert [j.info["weight"] for j in jobs[6:]] == [0.3, 0.5, 0.8, 0.95] * 6
    jobs.clear()
    study = _study(fn.space, seed=1, max_evaluations=12, weights=[1.0, 0.0])
    drive(study, 40, lambda c, f: fn.value(c), on_job=lambda s, j: jobs.append(j))
    assert [j.info["weight"] for j in jobs[6:]] == [1.0, 0.0] * 3


# --- behaviour ----------------------------------------------------------------------------------


def _best(fn: TestFunction, optimizer: Any, seed: int) -> float:
    study = hr.Study("bench", fn.space, storage="memory://", seed=seed, optimizer=optimizer)
    assert drive(study, 50, lambda c, f: fn.value(c)) == 50
    return min(fn.value(t.config) for t in study.trials)


@pytest.mark.parametrize("fn", [branin(), hartmann6()], ids=lambda f: f.name)
def test_beats_random_search_at_50_evaluations(fn: TestFunction) -> None:
    seeds = range(5)
    rbf = np.array([_best(fn, RBFDycors(max_evaluations=50), s) for s in seeds]) - fn.optimum
    rand = np.array([_best(fn, "random", s) for s in seeds]) - fn.optimum
    assert np.mean(rbf) < 0.25 * np.mean(rand), (rbf, rand)
    assert np.sum(rbf < rand) >= 4, (rbf, rand)


@pytest.mark.parametrize(
    "params",
    [{"max_evaluations": 60}, {"max_evaluations": 60, "n_initial": 4, "sigma_min": 0.1}],
    ids=["defaults", "restarts"],
)
def test_a_fresh_instance_agrees_at_every_step(params: dict[str, Any]) -> None:
    study = _study(MIXED, seed=7, **params)
    restarts = set()
    for step in range(61):
        history = study.history()
        rng_seed = [7, history.n_decisions]
        live = study.optimizer.decide(study.space, history, np.random.default_rng(rng_seed))
        fresh = make_optimizer("rbf_dycors", json.loads(json.dumps(study.optimizer.get_params())))
        assert fresh.decide(study.space, history, np.random.default_rng(rng_seed)) == live
        if isinstance(live, Done):
            assert step == 60
            break
        assert isinstance(live, Start)
        restarts.add(live.info["restart"])
        assert drive(study, 1, _mixed_value) == 1
    assert len(study.trials) == 60
    if "sigma_min" in params:
        assert len(restarts) >= 2


def test_trains_at_full_fidelity_and_is_done_after_max_evaluations() -> None:
    space = hr.Space(x=hr.Float(0.0, 1.0), c=hr.Categorical([True, False]), e=hr.Fidelity(1, 4))
    jobs: list[Job] = []
    study = _study(space, max_evaluations=12)
    assert drive(study, 50, curve_value, on_job=lambda s, j: jobs.append(j)) == 12
    assert all(j.kind == "start" and j.start == 0 and j.stop == 4 for j in jobs)
    assert isinstance(study.ask(), Done)


def test_waits_for_the_design_and_keeps_running_points_apart() -> None:
    fn = branin()
    study = _study(fn.space, seed=2)
    design = [study.ask() for _ in range(6)]
    assert all(isinstance(j, Job) for j in design)
    assert isinstance(study.ask(), Wait)  # nothing evaluated yet: no model
    for job in design:
        assert isinstance(job, Job)
        study.report(job.trial_id, fidelity=1, value=fn.value(dict(job.config)))
        study.tell(job)
    running = [study.ask() for _ in range(8)]
    assert all(isinstance(j, Job) for j in running)
    x = study.space.to_unit_many([dict(j.config) for j in running if isinstance(j, Job)])
    gaps = np.linalg.norm(x[:, None] - x[None, :], axis=-1)[np.triu_indices(8, 1)]
    assert gaps.min() > 1e-3


def test_a_design_with_running_points_is_rebuilt_from_its_first_point() -> None:
    space = hr.Space(a=hr.Float(0.0, 1.0), b=hr.Float(0.0, 1.0))
    first = _study(space, seed=9)
    jobs = [first.ask() for _ in range(6)]
    other = _study(space, seed=9)
    assert [other.ask() for _ in range(6)] == jobs
    x = space.to_unit_many([dict(j.config) for j in jobs if isinstance(j, Job)])
    assert _one_per_stratum(x)


@pytest.mark.parametrize(
    ("params", "fragment"),
    [
        ({"max_evaluations": 0}, "max_evaluations=0"),
        ({"max_evaluations": True}, "max_evaluations=True"),
        ({"max_evaluations": 2.5}, "max_evaluations=2.5"),
        ({"n_initial": 0}, "n_initial=0"),
        ({"n_initial": "6"}, "n_initial='6'"),
        ({"sigma_init": 0}, "sigma_init=0"),
        ({"sigma_init": 1.5}, "sigma_init=1.5"),
        ({"sigma_init": "big"}, "sigma_init='big'"),
        ({"sigma_min": 0.0}, "sigma_min=0.0"),
        ({"sigma_min": float("nan")}, "sigma_min=nan"),
        ({"sigma_min": 0.3}, "below sigma_init"),
        ({"weights": []}, "weights=[]"),
        ({"weights": "0.5"}, "weights='0.5'"),
        ({"weights": [0.3, 1.5]}, "weights[1]=1.5"),
        ({"weights": [-0.1]}, "weights[0]=-0.1"),
        ({"weights": [True]}, "weights[0]=True"),
    ],
)
def test_bad_parameters_are_named(params: dict[str, Any], fragment: str) -> None:
    with pytest.raises(ConfigurationError) as info:
        RBFDycors(**params)
    assert fragment in str(info.value)
    assert "e.g." in str(info.value)


def test_params_are_json_and_weights_a_list() -> None:
    opt = RBFDycors(max_evaluations=80, n_initial=5, sigma_init=0.3, weights=(0.5, 1))
    params = opt.get_params()
    assert params == {
        "max_evaluations": 80,
        "n_initial": 5,
        "sigma_init": 0.3,
        "sigma_min": 0.005,
        "weights": [0.5, 1.0],
    }
    assert make_optimizer("rbf_dycors", json.loads(json.dumps(params))).get_params() == params
