"""TPE: random start, good/bad split, Parzen estimators, constant liar, and it beats random."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pytest

import hyperrace as hr
from hyperrace._rng import decision_rng
from hyperrace.benchmarks._functions import TestFunction, branin, hartmann6
from hyperrace.history import History
from hyperrace.optimizers import Done, Start, make_optimizer
from hyperrace.optimizers._parts.density.parzen import (
    ParzenEstimator,
    good_count,
    neighbour_bandwidths,
    split_good_bad,
)
from hyperrace.optimizers._tpe import TPE, _snap_integers
from hyperrace.testing.conformance import CHECKS
from hyperrace.trial import Observation, TrialRecord, TrialStatus

LINE = hr.Space(x=hr.Float(0.0, 1.0))
DEFAULTS = {
    "n_startup": 10,
    "n_ei_candidates": 24,
    "gamma": 0.1,
    "max_good": 25,
    "prior_weight": 1.0,
    "multivariate": True,
    "recombine": 0.0,
    "max_trials": None,
}


def _history(
    done: Sequence[tuple[Mapping[str, Any], float]],
    failed: Sequence[Mapping[str, Any]] = (),
    running: Sequence[Mapping[str, Any]] = (),
    fidelity: float = 1.0,
) -> History:
    """Completed trials (config, loss) at ``fidelity``, then failed ones, then running ones."""
    trials: list[TrialRecord] = []
    for config, loss in done:
        curve = (Observation(fidelity, float(loss)),)
        trials.append(TrialRecord(len(trials), len(trials), config, TrialStatus.COMPLETED, curve))
    for config in failed:
        trials.append(TrialRecord(len(trials), len(trials), config, TrialStatus.FAILED))
    for config in running:
        trials.append(TrialRecord(len(trials), len(trials), config, TrialStatus.RUNNING))
    return History("minimize", tuple(trials), len(trials))


def _line_history(n: int = 20, **kw: Any) -> History:
    """n evenly spread points on [0, 1], loss (x - 0.3)^2."""
    xs = (np.arange(n) + 0.5) / n
    return _history([({"x": float(x)}, (x - 0.3) ** 2) for x in xs], **kw)


def _proposals(opt: TPE, space: hr.Space, history: History, key: str, n: int = 100) -> np.ndarray:
    out = []
    for seed in range(n):
        decision = opt.decide(space, history, np.random.default_rng(seed))
        assert isinstance(decision, Start)
        out.append(decision.config[key])
    return np.array(out)


# -- the contract ------------------------------------------------------------------------------


@pytest.mark.parametrize("check", sorted(CHECKS))
def test_conformance_suite(check: str) -> None:
    CHECKS[check]("tpe")


def test_defaults_and_params_round_trip_as_json() -> None:
    assert TPE().get_params() == DEFAULTS
    params = TPE(n_startup=3, gamma=0.25, multivariate=False, max_trials=40).get_params()
    again = make_optimizer("tpe", json.loads(json.dumps(params)))
    assert isinstance(again, TPE)
    assert again.get_params() == params
    with pytest.raises(TypeError):
        TPE(10)  # type: ignore[call-arg]


@pytest.mark.parametrize(
    ("param", "value", "match"),
    [
        ("n_startup", -1, r"n_startup=-1 must be an integer >= 0"),
        ("n_startup", 2.0, r"n_startup=2.0 must be an integer"),
        ("n_ei_candidates", 0, r"n_ei_candidates=0 must be an integer >= 1"),
        ("gamma", 0.0, r"gamma=0.0 must be a number in \(0, 1\]"),
        ("gamma", 1.5, r"gamma=1.5 must be"),
        ("gamma", float("nan"), r"gamma=nan must be"),
        ("max_good", 0, r"max_good=0 must be an integer >= 1"),
        ("max_good", True, r"max_good=True must be an integer"),
        ("prior_weight", 0, r"prior_weight=0 must be a finite number > 0"),
        ("prior_weight", float("inf"), r"prior_weight=inf must be"),
        ("multivariate", 1, r"multivariate=1 must be True or False"),
        ("recombine", 1.5, r"recombine=1.5 must be a number in \[0, 1\]"),
        ("max_trials", 0, r"max_trials=0 must be an integer >= 1 or None"),
    ],
)
def test_bad_params_are_named_with_a_fix(param: str, value: Any, match: str) -> None:
    with pytest.raises(hr.ConfigurationError, match=match):
        TPE(**{param: value})


def test_random_start_then_the_model_at_full_fidelity_and_max_trials() -> None:
    space = hr.Space(x=hr.Float(0.0, 1.0), epochs=hr.Fidelity(1, 9))
    opt = TPE(n_startup=5, max_trials=12)
    done = [({"x": x}, x) for x in (0.1, 0.2, 0.3, 0.4)]
    first = opt.decide(space, _history(done, fidelity=9.0), decision_rng(1, 4))
    assert first == Start(space.sample(decision_rng(1, 4)), 9.0)  # a prior draw
    # results below the full fidelity are not observations: still the random start
    five = [*done, ({"x": 0.5}, 0.5)]
    assert opt.decide(space, _history(five), decision_rng(1, 5)).info == {}  # type: ignore[union-attr]
    later = opt.decide(space, _history(five, fidelity=9.0), decision_rng(1, 5))
    assert isinstance(later, Start)
    assert later.stop == 9.0
    assert set(later.info) == {"log_l_over_g", "n_good"}
    assert later.info["n_good"] == 1
    assert isinstance(opt.decide(space, _line_history(12), decision_rng(1, 12)), Done)


# -- the good/bad split ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("n", "expected"), [(0, 0), (1, 1), (10, 1), (11, 2), (30, 3), (100, 10), (249, 25), (900, 25)]
)
def test_good_count_is_ceil_of_a_tenth_capped_at_25(n: int, expected: int) -> None:
    assert good_count(n, 0.1, 25) == expected


def test_split_takes_the_lowest_losses_and_never_a_failed_trial() -> None:
    losses = np.array([5.0, 1.0, 3.0, 1.0, 9.0, 0.5, 2.0, 7.0, 8.0, 6.0, 4.0, 9.0])
    failed = np.zeros(12, dtype=bool)
    good, bad = split_good_bad(losses, failed, 0.25, 25)
    assert good.tolist() == [5, 1, 3]  # ceil(0.25 * 12) = 3; ties by position
    assert sorted(bad.tolist()) == sorted(set(range(12)) - {1, 3, 5})
    assert split_good_bad(losses, failed, 1.0, 4)[0].size == 4  # the cap
    failed[[5, 1]] = True  # failed trials are bad even with a low recorded loss
    good, bad = split_good_bad(losses, failed, 0.25, 25)
    assert good.tolist() == [3, 6, 2]
    assert {1, 5} <= set(bad.tolist())
    good, bad = split_good_bad(losses, np.ones(12, dtype=bool), 0.25, 25)
    assert good.size == 0 and bad.size == 12


def test_estimators_use_the_split_failed_trials_and_pending_ones_as_bad() -> None:
    history = _line_history(20, failed=[{"x": 0.3}], running=[{"x": 0.31}, {"x": 0.29}])
    l_model, g_model = TPE().estimators(LINE, history)
    assert l_model.data.shape == (3, 1)  # ceil(0.1 * 21) evaluated trials
    assert g_model.data.shape == (21 - 3 + 2, 1)
    assert np.all(np.abs(l_model.data[:, 0] - 0.3) < 0.11)
    assert {0.3, 0.31, 0.29} <= set(np.round(g_model.data[:, 0], 6).tolist())


# -- the Parzen estimators ---------------------------------------------------------------------


@pytest.mark.parametrize("multivariate", [False, True])
def test_numeric_estimator_integrates_to_one_and_peaks_at_its_points(multivariate: bool) -> None:
    data = np.array([[0.25], [0.28], [0.3], [0.32], [0.35], [0.9], [0.02]])
    kde = ParzenEstimator(data, [0], prior_weight=1.0, multivariate=multivariate)
    grid = np.linspace(0.0, 1.0, 20001)
    density = np.exp(kde.logpdf(grid[:, None]))
    assert np.trapezoid(density, grid) == pytest.approx(1.0, abs=1e-4)
    assert kde.logpdf([[0.3]])[0] > math.log(2) + kde.logpdf([[0.6], [0.65]]).max()
    draws = kde.sample(np.random.default_rng(0), 4000)[:, 0]
    assert draws.min() >= 0.0 and draws.max() <= 1.0
    assert np.mean(np.abs(draws - 0.3) < 0.1) > 1.4 * 0.2  # well above the uniform share


def test_joint_estimator_integrates_to_one_in_two_dimensions_and_sees_correlation() -> None:
    data = np.repeat(np.linspace(0.1, 0.9, 9)[:, None], 2, axis=1)  # on the diagonal
    joint = ParzenEstimator(data, [0, 0], multivariate=True)
    axis = np.linspace(0.0, 1.0, 401)
    gx, gy = np.meshgrid(axis, axis)
    dens = np.exp(joint.logpdf(np.column_stack([gx.ravel(), gy.ravel()]))).reshape(gx.shape)
    assert np.trapezoid(np.trapezoid(dens, axis), axis) == pytest.approx(1.0, abs=1e-3)
    # the product of marginals cannot tell the diagonal from the anti-diagonal; the joint can
    split = ParzenEstimator(data, [0, 0], multivariate=False)
    on, off = [[0.2, 0.2]], [[0.2, 0.8]]
    assert split.logpdf(on)[0] == pytest.approx(split.logpdf(off)[0])
    assert joint.logpdf(on)[0] > joint.logpdf(off)[0] + 1.5
    draws = joint.sample(np.random.default_rng(3), 2000)
    assert float(np.corrcoef(draws[:, 0], draws[:, 1])[0, 1]) > 0.3


def test_categorical_estimator_is_counts_smoothed_by_the_prior_weight() -> None:
    codes = np.array([0, 0, 0, 2])
    data = ((codes + 0.5) / 3)[:, None]
    kde = ParzenEstimator(data, [3], prior_weight=2.0)
    centres = (np.arange(3) + 0.5) / 3
    probs = np.exp(kde.logpdf(centres[:, None]))
    expected = (np.array([3, 0, 1]) + 2.0 / 3) / (4 + 2.0)
    np.testing.assert_allclose(probs, expected)
    assert probs.sum() == pytest.approx(1.0)
    draws = kde.sample(np.random.default_rng(5), 30000)[:, 0]
    freq = np.array([np.mean(np.isclose(draws, c)) for c in centres])
    np.testing.assert_allclose(freq, expected, atol=0.01)
    empty = ParzenEstimator(np.zeros((0, 1)), [3])
    np.testing.assert_allclose(np.exp(empty.logpdf(centres[:, None])), 1 / 3)


def test_bandwidths_neighbour_gaps_inner_at_the_ends_and_magic_clip() -> None:
    np.testing.assert_allclose(neighbour_bandwidths([0.3]), [0.7])  # one value: the larger end
    # the outer values take their inner gap, not the stretch to 0 or 1
    # (0.1 for 0.6, not its 0.4 to 1; the clip floor 1 / (3 + 2) lifts it to 0.2)
    np.testing.assert_allclose(neighbour_bandwidths([0.1, 0.5, 0.6]), [0.4, 0.4, 0.2])
    xs = [0.9, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.35, 0.4, 0.45, 0.5, 0.55]  # floor 1/14
    np.testing.assert_allclose(neighbour_bandwidths(xs)[[0, 1]], [0.35, 1 / 14])
    tight = neighbour_bandwidths(np.full(50, 0.5))  # identical points: the clip floor
    np.testing.assert_allclose(tight, 1 / 52)
    assert neighbour_bandwidths(np.linspace(0, 1, 500)).min() == pytest.approx(0.01)


def _decades(log: bool) -> tuple[hr.Space, History]:
    """lr in [1e-6, 1], the best at 1e-3, the others spread over the decades and near 0.1-0.5."""
    space = hr.Space(lr=hr.Float(1e-6, 1.0, log=log))
    done = [({"lr": 1e-3}, 0.0)] + [({"lr": 10.0**-k}, 1.0) for k in (0, 1, 5, 6)]
    done += [({"lr": v}, 1.0) for v in (0.5, 0.3, 0.2, 0.15, 0.12)]
    return space, _history(done)


def test_log_dimensions_are_modelled_in_log_space() -> None:
    space, history = _decades(log=True)
    l_model, _ = TPE().estimators(space, history)
    assert l_model.data[0, 0] == pytest.approx(0.5)  # 1e-3 is the middle of 1e-6..1 in log
    # the kernel is symmetric in log lr: a decade either side is equally likely
    up, down = space.to_unit({"lr": 1e-2}), space.to_unit({"lr": 1e-4})
    assert l_model.logpdf([up])[0] == pytest.approx(l_model.logpdf([down])[0])
    # proposals land within decades of 1e-3 ...
    lrs = _proposals(TPE(), space, history, "lr", n=60)
    assert np.mean((lrs > 1e-5) & (lrs < 1e-1)) > 0.9
    assert np.median(np.abs(np.log10(lrs) + 3)) < 0.5
    # ... where a linear scale puts 1e-3 next to 0 and its kernel spreads linearly (over 1e-2)
    linear_space, linear_history = _decades(log=False)
    lrs = _proposals(TPE(), linear_space, linear_history, "lr", n=60)
    assert np.mean((lrs > 1e-5) & (lrs < 1e-1)) < 0.2
    assert np.median(np.abs(np.log10(lrs) + 3)) > 2


def test_integer_candidates_are_scored_where_they_will_be_trained() -> None:
    space = hr.Space(n=hr.Int(1, 4), c=hr.Categorical(["a", "b"]))
    raw = np.random.default_rng(0).random((50, 2))
    snapped = _snap_integers(space, raw)
    np.testing.assert_allclose(snapped[:, 0] * 3, np.round(raw[:, 0] * 3))  # n = 1, 2, 3, 4
    np.testing.assert_array_equal(snapped[:, 1], raw[:, 1])  # other columns untouched
    done = [({"n": k, "c": c}, float(k != 3 or c != "b")) for k in (1, 2, 3, 4) for c in "ab"]
    done += [({"n": 1, "c": "a"}, 1.0), ({"n": 4, "c": "b"}, 1.0)]
    configs = [tuple(c.items()) for c in map(dict, _configs(TPE(), space, _history(done)))]
    assert max(set(configs), key=configs.count) == (("n", 3), ("c", "b"))


def _configs(opt: TPE, space: hr.Space, history: History) -> list[Mapping[str, Any]]:
    out = []
    for seed in range(40):
        decision = opt.decide(space, history, np.random.default_rng(seed))
        assert isinstance(decision, Start)
        out.append(decision.config)
    return out


# -- behaviour ---------------------------------------------------------------------------------


def test_pending_trials_push_proposals_away() -> None:
    alone = _proposals(TPE(), LINE, _line_history(20), "x")
    pending = [{"x": x} for x in (0.26, 0.28, 0.3, 0.32, 0.34)]
    crowded = _proposals(TPE(), LINE, _line_history(20, running=pending), "x")
    assert np.mean(np.abs(alone - 0.3) < 0.05) > 0.5
    assert np.mean(np.abs(crowded - 0.3)) > 1.5 * np.mean(np.abs(alone - 0.3))
    assert np.mean(np.abs(crowded - 0.3) < 0.05) < 0.5 * np.mean(np.abs(alone - 0.3) < 0.05)


def test_failed_trials_steer_proposals_away() -> None:
    alone = _proposals(TPE(), LINE, _line_history(20), "x")
    failed = [{"x": x} for x in (0.26, 0.28, 0.3, 0.32, 0.34)]
    avoided = _proposals(TPE(), LINE, _line_history(20, failed=failed), "x")
    assert np.mean(np.abs(avoided - 0.3)) > 1.5 * np.mean(np.abs(alone - 0.3))


def _best_after(opt_name: str, fn: TestFunction, seed: int, n: int, **params: Any) -> float:
    opt = make_optimizer(opt_name, params)
    done: list[tuple[Mapping[str, Any], float]] = []
    for i in range(n):
        decision = opt.decide(fn.space, _history(done), decision_rng(seed, i))
        assert isinstance(decision, Start)
        done.append((decision.config, fn.value(decision.config)))
    return min(loss for _, loss in done) - fn.optimum


@pytest.mark.parametrize(
    ("fn", "params"),
    [(branin(), {}), (hartmann6(), {}), (branin(), {"multivariate": False})],
    ids=["branin", "hartmann6", "branin-univariate"],
)
def test_beats_random_at_50_evaluations(fn: TestFunction, params: dict[str, Any]) -> None:
    """Simple regret after 50 evaluations, 5 fixed seeds (measured: mean regret ratio to random
    0.04 on Branin, 0.24 on Hartmann-6, 0.4 on Branin with the univariate estimator)."""
    seeds = range(5)
    tpe = [_best_after("tpe", fn, s, 50, **params) for s in seeds]
    rnd = [_best_after("random", fn, s, 50) for s in seeds]
    assert np.mean(tpe) < 0.6 * np.mean(rnd), (tpe, rnd)
    assert np.median(tpe) < 0.6 * np.median(rnd), (tpe, rnd)


def test_multivariate_decisions_are_reproducible_by_a_fresh_instance() -> None:
    space = hr.Space(x=hr.Float(0.0, 1.0), k=hr.Int(2, 64, log=True), c=hr.Categorical([1, 2]))
    rng = np.random.default_rng(0)
    done = [(c, float(rng.random())) for c in (space.sample(rng) for _ in range(15))]
    history = _history(done, running=[space.sample(rng)])
    opt = TPE(multivariate=True)
    first = opt.decide(space, history, decision_rng(2, 16))
    fresh = make_optimizer("tpe", json.loads(json.dumps(opt.get_params())))
    assert fresh.decide(space, history, decision_rng(2, 16)) == first
    assert isinstance(first, Start)
    assert space.validate(first.config) == dict(first.config)
    assert math.isfinite(first.info["log_l_over_g"])


def test_regret_at_40_evaluations_on_branin_and_60_on_hartmann6() -> None:
    """10 fixed seeds, one evaluation at a time. Optuna's TPESampler ends at mean regret 0.27 on
    Branin at 40 (BENCHMARKS.md, the same protocol); measured here: 0.24 on Branin at 40, 0.30
    on Hartmann-6 at 60 (0.53 and 0.60 with the univariate estimator and end-widened
    bandwidths this TPE had before)."""
    seeds = range(10)
    assert np.mean([_best_after("tpe", branin(), s, 40) for s in seeds]) < 0.3
    assert np.mean([_best_after("tpe", hartmann6(), s, 60) for s in seeds]) < 0.45


# -- conditional hyperparameters ---------------------------------------------------------------

COND = hr.Space(
    opt=hr.Categorical(["adam", "sgd"]),
    lr=hr.Float(0.0, 1.0),
    momentum=hr.Float(0.0, 1.0).when(opt="sgd"),
)


def _conditional_history() -> History:
    """sgd with momentum near 0.8 and lr near 0.3 is best; adam is mediocre everywhere."""
    rng = np.random.default_rng(0)
    done: list[tuple[Mapping[str, Any], float]] = []
    for _ in range(40):
        config = COND.sample(rng)
        loss = (config["lr"] - 0.3) ** 2
        loss += (config["momentum"] - 0.8) ** 2 if "momentum" in config else 0.3
        done.append((config, loss))
    return _history(done)


@pytest.mark.parametrize("multivariate", [True, False])
def test_conditional_dimensions_are_learnt_where_active_only(multivariate: bool) -> None:
    history = _conditional_history()
    _, g_model = TPE(multivariate=multivariate).estimators(COND, history)
    inactive = ~g_model.active[:, 2]
    assert inactive.any() and (~inactive).any()
    assert np.all(g_model.data[inactive, 2] == hr.space.INACTIVE_UNIT)
    # the inactive cells do not narrow the momentum column: a draw from g's components there is
    # as likely anywhere as the prior
    grid = np.linspace(0, 1, 2001)
    pts = np.column_stack([np.full_like(grid, 0.75), np.full_like(grid, 0.3), grid])
    density = np.exp(
        g_model.logpdf(pts, np.ones(pts.shape, bool))
        - g_model.logpdf(pts, np.tile([True, True, False], (len(grid), 1)))
    )
    assert np.trapezoid(density, grid) == pytest.approx(1.0, abs=1e-3)
    configs = _configs(TPE(multivariate=multivariate), COND, history)
    for config in configs:
        assert COND.validate(config) == dict(config)
    sgd = [c for c in configs if c["opt"] == "sgd"]
    assert len(sgd) > 0.7 * len(configs)
    assert np.median([abs(c["momentum"] - 0.8) for c in sgd]) < 0.2


def test_an_inactive_cell_is_scored_by_the_prior_and_drawn_from_it() -> None:
    data = np.array([[0.2, 0.9], [0.25, 0.5]])
    active = np.array([[True, True], [True, False]])
    kde = ParzenEstimator(data, [0, 0], multivariate=True, active=active)
    draws = kde.sample(np.random.default_rng(1), 6000)
    # column 1: the first row's kernel (at 0.9, width 0.9: its larger gap to an end), the second
    # row's and the prior uniform
    phi = [0.5 * (1 + math.erf(z / math.sqrt(2))) for z in (0.1 / 0.9, -0.1 / 0.9, -1.0)]
    tail = (phi[0] - phi[1]) / (phi[0] - phi[2])
    assert np.mean(draws[:, 1] > 0.8) == pytest.approx(tail / 3 + 2 / 3 * 0.2, abs=0.02)
    split = ParzenEstimator(data, [0, 0], multivariate=False, active=active)
    np.testing.assert_allclose(split.weights[1], [0.5, 0.5, 0.0])  # left out of its column
    assert split.sigma[0, 1] == pytest.approx(0.9)  # the one active value's larger end gap


def test_recombine_draws_a_share_of_candidates_from_the_marginals() -> None:
    data = np.array([[0.1, 0.9], [0.9, 0.1]] * 10)
    kde = ParzenEstimator(data, [0, 0], prior_weight=0.01, multivariate=True)
    rng = np.random.default_rng(0)
    joint, marginal = kde.sample(rng, 4000), kde.sample_marginals(rng, 4000)

    def share_off_diagonal(x: np.ndarray) -> float:
        return float(np.mean((x[:, 0] < 0.5) == (x[:, 1] < 0.5)))

    assert share_off_diagonal(joint) < 0.15  # the joint keeps the pairs together
    assert share_off_diagonal(marginal) == pytest.approx(0.5, abs=0.05)  # recombined
    history = _line_history(20)
    a = TPE(recombine=0.5).decide(LINE, history, decision_rng(0, 20))
    b = TPE(recombine=0.0).decide(LINE, history, decision_rng(0, 20))
    assert isinstance(a, Start) and isinstance(b, Start) and a != b
