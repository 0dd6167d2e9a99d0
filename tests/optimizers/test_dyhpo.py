"""DyHPO: parameters, the deep kernel, statelessness of warm-started fits, candidates, failures."""

from __future__ import annotations

import json
import math
from typing import Any

import numpy as np
import pytest

import hyperrace as hr
from hyperrace._rng import decision_rng
from hyperrace.exceptions import ConfigurationError
from hyperrace.optimizers import Done, Resume, Start, Wait, _dyhpo, make_optimizer
from hyperrace.optimizers._dyhpo import DyHPO, _collect, _dataset, _encode, _incumbents, _thin
from hyperrace.optimizers._parts.onehot import OneHot
from hyperrace.study import Job
from hyperrace.testing.conformance import spaces
from hyperrace.testing.history import drive
from hyperrace.testing.objectives import curve_value, learning_curve
from hyperrace.trial import Observation, StopReason, TrialRecord, TrialStatus

torch = pytest.importorskip("torch")  # the model needs the bo extra
dk = pytest.importorskip("hyperrace.optimizers._parts.deep_kernel")

SPACE = spaces()["fidelity"]
#: Small fits: these tests check behaviour, not the quality of the surrogate.
FAST: dict[str, Any] = {
    "scratch_steps": 15,
    "refine_steps": 4,
    "n_candidates": 16,
    "max_points": 40,
}


def _study(seed: int = 0, space: hr.Space = SPACE, **params: Any) -> hr.Study:
    opt = DyHPO(**{**FAST, **params})
    return hr.Study("dyhpo", space, storage="memory://", seed=seed, optimizer=opt)


def _fresh_decision(opt: DyHPO, space: hr.Space, history: hr.History) -> Any:
    """The decision of a new instance in a process that memoized no fit (it replays them)."""
    _dyhpo._memo.clear()
    fresh = make_optimizer("dyhpo", json.loads(json.dumps(opt.get_params())))
    return fresh.decide(space, history, decision_rng(1, history.n_decisions))


# -- parameters ------------------------------------------------------------------------------


def test_params_defaults_round_trip_and_are_keyword_only() -> None:
    params = DyHPO().get_params()
    assert params == {
        "step": 1,
        "n_initial": 3,
        "n_candidates": 128,
        "promotion": 0.25,
        "max_points": 128,
        "refit_every": 5,
        "scratch_steps": 200,
        "refine_steps": 20,
        "restart_after": None,
        "max_chain": 20,
        "max_trials": None,
        "cost_exponent": 0.0,
        "cost_budget": None,
    }
    custom = DyHPO(
        step=2, promotion=0.0, restart_after=7, max_trials=4, cost_exponent=1, cost_budget=3600
    ).get_params()
    assert make_optimizer("dyhpo", json.loads(json.dumps(custom))).get_params() == custom
    with pytest.raises(TypeError):
        DyHPO(1)  # type: ignore[call-arg]


@pytest.mark.parametrize(
    ("param", "value", "match"),
    [
        ("step", 0, r"step=0 must be a positive number"),
        ("step", math.inf, r"step=inf must be a positive number"),
        ("step", True, r"step=True"),
        ("promotion", 1.5, r"promotion=1.5 must be a probability in \[0, 1\]"),
        ("promotion", "0.2", r"promotion='0.2'"),
        ("n_initial", 0, r"n_initial=0 must be an integer >= 1"),
        ("n_candidates", 2.0, r"n_candidates=2.0 must be an integer >= 1"),
        ("max_points", 4, r"max_points=4 must be an integer >= 8"),
        ("refit_every", 0, r"refit_every=0 must be an integer >= 1"),
        ("scratch_steps", None, r"scratch_steps=None"),
        ("restart_after", 0, r"restart_after=0 must be an integer >= 1 or None"),
        ("max_chain", 0, r"max_chain=0"),
        ("max_trials", 0, r"max_trials=0 must be an integer >= 1 or None"),
        ("cost_exponent", -1, r"cost_exponent=-1 must be a number >= 0"),
        ("cost_budget", 0, r"cost_budget=0 must be a positive number of seconds"),
    ],
)
def test_bad_params_are_named(param: str, value: Any, match: str) -> None:
    with pytest.raises(ConfigurationError, match=match):
        DyHPO(**{param: value})


def test_a_fractional_step_on_an_integer_fidelity_names_the_fix() -> None:
    study = _study(step=1.5)
    with pytest.raises(ConfigurationError, match=r"step=1.5 must be a whole number .*'epochs'"):
        study.ask()


# -- the deep kernel -------------------------------------------------------------------------


def _curves_family(n: int, seed: int, length: int = 12) -> Any:
    """Power-law curves whose floor and rate depend on x: a simple family to learn."""
    rng = np.random.default_rng(seed)
    x = rng.random((n, 3))
    j = rng.integers(1, length + 1, n)
    curves = np.zeros((n, length))
    y = np.zeros(n)
    for i in range(n):
        c = (x[i, 0] - 0.3) ** 2 + 0.5 * np.arange(1, j[i] + 1) ** -(0.3 + x[i, 1])
        curves[i, : j[i] - 1] = c[:-1]
        y[i] = c[-1] + 0.005 * rng.standard_normal()
    return dk.Points(x, (j - 1) / (length - 1), curves, (j - 1).astype(np.int64), y)


def test_the_deep_kernel_fits_a_curve_family_much_better_than_a_constant() -> None:
    torch.set_num_threads(1)
    train, test = _curves_family(80, 0), _curves_family(200, 1)
    state = dk.fit(train, None, 150, 1e-2)
    pred = dk.predict(state, train, test)
    mse = float(np.mean((pred.mean - test.y) ** 2))
    constant = float(np.mean((train.y.mean() - test.y) ** 2))
    assert mse < constant / 5, (mse, constant)
    # a warm start from a fitted state does not undo the fit
    assert dk.nll(dk.fit(train, state, 10, 1e-2), train) < dk.nll(dk.fit(train, None, 10), train)


def test_masked_pooling_ignores_padding_and_short_curves_use_their_first_value() -> None:
    points = _curves_family(6, 2)
    state = dk.fit(points, None, 3, 1e-2)
    junk = points.curves.copy()
    for i, n in enumerate(points.lengths):
        junk[i, n:] = 1e6 * (i + 1)  # anything beyond a curve's length must not matter
    wide = np.hstack([junk, np.full((len(points), 5), -1e6)])
    other = dk.Points(points.x, points.budget, wide, points.lengths, points.y)
    a, b = dk.predict(state, points, points), dk.predict(state, points, other)
    np.testing.assert_allclose(a.mean, b.mean, rtol=0, atol=1e-12)
    np.testing.assert_allclose(a.std, b.std, rtol=0, atol=1e-12)
    # a curve of one value reads as that value repeated to the kernel's width
    one = dk.Points(points.x[:1], points.budget[:1], np.array([[0.7]]), np.array([1]), np.zeros(0))
    three = dk.Points(
        points.x[:1], points.budget[:1], np.array([[0.7, 0.7, 0.7]]), np.array([3]), np.zeros(0)
    )
    assert dk.predict(state, points, one).mean == pytest.approx(
        dk.predict(state, points, three).mean, abs=1e-12
    )


def test_predictions_are_batched_and_sigma_is_latent() -> None:
    train = _curves_family(30, 3)
    state = dk.fit(train, None, 20, 1e-2)
    test = _curves_family(25, 4)
    batch = dk.predict(state, train, test)
    for i in (0, 7, 24):
        one = dk.Points(
            test.x[i : i + 1],
            test.budget[i : i + 1],
            test.curves[i : i + 1],
            test.lengths[i : i + 1],
            np.zeros(0),
        )
        single = dk.predict(state, train, one)
        assert single.mean[0] == pytest.approx(batch.mean[i], abs=1e-9)
        assert single.std[0] == pytest.approx(batch.std[i], abs=1e-9)
    # at a training input the latent variance is at most the noise variance (the predictive
    # one, noise added, would be above it)
    noise = 1e-4 + float(torch.nn.functional.softplus(state["raw_noise"]))
    at_train = dk.predict(state, train, train)
    assert np.all(at_train.std <= math.sqrt(noise) * float(np.std(train.y)) * (1 + 1e-9))


def test_expected_improvement_matches_the_closed_form() -> None:
    mean = np.array([0.5, 0.2, 0.4, 0.3])
    std = np.array([0.1, 0.3, 0.0, 0.0])
    best = np.array([0.4, 0.4, 0.5, 0.2])
    got = dk.expected_improvement(mean, std, best)
    for i in range(2):
        z = (best[i] - mean[i]) / std[i]
        cdf = 0.5 * (1 + math.erf(z / math.sqrt(2)))
        pdf = math.exp(-0.5 * z * z) / math.sqrt(2 * math.pi)
        assert got[i] == pytest.approx((best[i] - mean[i]) * cdf + std[i] * pdf, rel=1e-12)
    assert got[2] == pytest.approx(0.1) and got[3] == 0.0


# -- data ------------------------------------------------------------------------------------


def _trial(
    number: int,
    config: dict[str, Any],
    values: list[float],
    status: TrialStatus = TrialStatus.PAUSED,
    reason: StopReason = StopReason.REACHED,
) -> TrialRecord:
    curve = tuple(
        Observation(float(f), v, time=100.0 * number + f) for f, v in enumerate(values, 1)
    )
    return TrialRecord(
        number + 10,
        number,
        config,
        status,
        curve,
        target=float(len(values)),
        reason=reason,
        updated=100.0 * number + 50,
    )


CONFIGS = [
    {"x": 0.1 * i, "y": 0.01 * (i + 1), "n": 1 + i % 8, "c": "abc"[i % 3]} for i in range(10)
]


def test_points_failures_thinning_and_incumbents() -> None:
    history = hr.History(
        "minimize",
        (
            _trial(0, CONFIGS[0], [0.9, 0.7, 0.6]),
            _trial(1, CONFIGS[1], [0.8], TrialStatus.FAILED, StopReason.INVALID_VALUE),
            _trial(2, CONFIGS[2], [0.5, 0.4]),
            _trial(3, CONFIGS[3], [], TrialStatus.FAILED, StopReason.ERROR),
        ),
    )
    enc = OneHot(SPACE)
    np.testing.assert_array_equal(_encode(enc, CONFIGS), enc.encode_many(CONFIGS))
    data = _collect(enc, history, 1.0, 9.0, 1.0, {})
    assert len(data) == 3 + 2 + 2 + 1  # failures add one point just after their last report
    assert np.isnan(data.loss).sum() == 2
    full = _dataset(data, len(data), 100)
    assert full.y.max() == 0.9  # the failure points take the worst loss
    assert sorted(full.y.tolist()).count(0.9) == 3
    assert list(full.lengths) == [0, 1, 2, 0, 1, 0, 1, 0]  # canonical order: time, then number
    # thinning keeps each trial's latest point first, then the most advanced trial's
    kept = _thin(data, len(data), 5)
    assert len(kept) == 5
    latest = {int(data.trial[i]): i for i in range(len(data))}
    assert set(latest.values()) <= set(kept.tolist())
    assert _dataset(data, len(data), 5).x.shape == (5, enc.width)
    best, where = _incumbents(history, [2.0, 3.0, 4.0])
    assert best.tolist() == [0.4, 0.6, 0.4] and where == ["budget", "budget", "overall"]


# -- decisions -------------------------------------------------------------------------------


def test_initial_design_then_model_decisions_record_their_acquisition() -> None:
    study = _study(n_initial=2, promotion=0.0)
    jobs: list[Job] = []
    drive(study, 12, curve_value, on_job=lambda s, j: jobs.append(j))
    assert [j.info["source"] for j in jobs[:2]] == ["initial", "initial"]
    model = [j for j in jobs if j.info.get("source") == "model"]
    assert len(model) == 10
    for j in model:
        assert j.stop == j.start + 1  # one step per decision
        assert j.info["ei"] >= 0 and j.info["std"] >= 0
        assert j.info["incumbent_at"] in ("budget", "overall")
        assert j.info["budget"] == j.stop and j.info["fit"] in ("scratch", "warm")
        assert j.info["candidates"] == 16 + j.info["paused"]
    assert any(j.kind == "resume" for j in model)


def test_a_fresh_instance_replays_the_warm_started_fits_exactly() -> None:
    study = _study(seed=4, refit_every=3, max_chain=3, restart_after=6)
    live = study.optimizer
    assert isinstance(live, DyHPO)
    for _ in range(14):
        drive(study, 3, curve_value)
        history = study.history()
        decision = live.decide(study.space, history, decision_rng(1, history.n_decisions))
        assert _fresh_decision(live, study.space, history) == decision
        assert decision == live.decide(study.space, history, decision_rng(1, history.n_decisions))
    assert len(study.history().trials) > 3


def test_the_long_lived_instance_refits_only_at_fit_points(monkeypatch: pytest.MonkeyPatch) -> None:
    study = _study(seed=1, refit_every=4, promotion=0.0)
    drive(study, 10, curve_value)
    calls: list[int] = []
    real_fit = dk.fit

    def counting(points: Any, *args: Any) -> Any:
        calls.append(len(points))
        return real_fit(points, *args)

    monkeypatch.setattr(dk, "fit", counting)
    fits = []
    for _ in range(8):
        before = len(calls)
        drive(study, 1, curve_value)
        fits.append(len(calls) - before)
    assert sum(fits) == 2  # 8 more points, refit every 4: two fits, nothing replayed
    assert max(fits) == 1


def test_all_failed_and_nan_configurations_are_never_offered_again() -> None:
    for space in spaces().values():
        study = _study(space=space)
        drive(study, 6, curve_value, fail=lambda c: True)
        decision = study.optimizer.decide(space, study.history(), decision_rng(0, 9))
        assert isinstance(decision, Start)
        assert space.validate(decision.config) == dict(decision.config)

    def nan_above(config: dict[str, Any], f: float) -> float:
        return math.nan if config["x"] > 0.5 else curve_value(config, f)

    study = _study(seed=2, promotion=0.5)
    drive(study, 40, nan_above)
    history = study.history()
    failed = {json.dumps(t.config, sort_keys=True) for t in history.failed}
    assert failed
    seen: set[str] = set()
    for t in history.trials:  # a config is started once: failed ones never come back
        key = json.dumps(t.config, sort_keys=True)
        assert key not in seen
        seen.add(key)
    for _ in range(3):
        d = study.optimizer.decide(SPACE, history, decision_rng(5, history.n_decisions))
        if isinstance(d, Resume):
            assert history.trial(d.trial_id).status is TrialStatus.PAUSED
        else:
            assert isinstance(d, Start)
            assert json.dumps(dict(d.config), sort_keys=True) not in failed


def test_paused_trials_are_resumed_from_their_checkpoint_not_restarted() -> None:
    study = _study(seed=3)
    study.optimize(learning_curve, budget=hr.Budget(epochs=40), progress=False)
    history = study.history(decisions=True)
    assert history.work == 40
    assert not history.failed  # learning_curve raises if it does not get its checkpoint back
    assert all(t.work == t.fidelity for t in history.trials)
    resumes = [d for d in history.decisions if d.kind == "resume"]
    assert resumes and all(d.start > 0 for d in resumes)


def test_wait_when_every_candidate_runs_and_no_trial_may_start() -> None:
    study = _study(max_trials=2)
    a, b = study.ask(), study.ask()
    assert isinstance(a, Job) and isinstance(b, Job)
    assert isinstance(study.ask(), Wait)  # both running, no third trial allowed
    study.report(a.trial_id, fidelity=1, value=0.5)
    study.tell(a)
    again = study.ask()
    assert isinstance(again, Job) and again.trial_id == a.trial_id and again.start == 1
    for job in (again, b):
        for f in range(int(job.start) + 1, 10):
            study.report(job.trial_id, fidelity=f, value=1.0 / f)
        study.tell(job)
    assert isinstance(study.ask(), Done)


def test_promotion_probability_one_promotes_by_the_asha_rule() -> None:
    trials = [_trial(i, CONFIGS[i], [0.9 - 0.05 * i]) for i in range(6)]
    history = hr.History("minimize", tuple(trials), 6)
    opt = DyHPO(**FAST, promotion=1.0)
    d = opt.decide(SPACE, history, decision_rng(0, 0))
    # rungs of 1..9 with eta 3 are 1, 3, 9: the best 2 of 6 at 1 may go on; the best first
    assert d == Resume(15, 3.0, {"source": "promotion", "rung": 1})
    never = DyHPO(**FAST, promotion=0.0).decide(SPACE, history, decision_rng(0, 0))
    assert never.info["source"] == "model"  # type: ignore[union-attr]


def test_maximize_and_no_fidelity() -> None:
    study = hr.Study(
        "max",
        SPACE,
        direction="maximize",
        storage="memory://",
        seed=0,
        optimizer=DyHPO(**FAST, promotion=0.0),
    )
    drive(study, 8, lambda c, f: -curve_value(c, f))
    job = study.ask()
    assert isinstance(job, Job)
    at = [o.value for t in study.trials for o in t.curve if o.fidelity == job.stop]
    everywhere = [o.value for t in study.trials for o in t.curve]
    best = max(at) if job.info["incumbent_at"] == "budget" else max(everywhere)
    assert job.info["incumbent"] == -best  # in loss units: the best value negated
    flat = _study(space=spaces()["no-fidelity"])
    jobs: list[Job] = []
    drive(flat, 6, curve_value, on_job=lambda s, j: jobs.append(j))
    assert all(j.kind == "start" and j.stop == 1.0 for j in jobs)


def test_a_space_that_runs_out_of_configurations_finishes_its_trials_then_is_done() -> None:
    tiny = hr.Space(c=hr.Categorical(["a", "b"]), epochs=hr.Fidelity(1, 3))
    study = _study(space=tiny)
    drive(study, 20, lambda c, f: 1.0 / f)
    history = study.history()
    assert len(history.trials) == 2
    assert all(t.fidelity == 3 for t in history.trials)
    assert isinstance(study.optimizer.decide(tiny, history, decision_rng(0, 0)), Done)


def test_the_cost_aware_race_prefers_cheap_steps_and_cools_down() -> None:
    """EI per unit of predicted cost: on synthetic curves whose step cost grows with width and
    depth, the cost-aware race trains cheaper steps than the plain race for the same simulated
    time; with a cost budget its weight cools to 0 once the budget is spent."""
    from hyperrace.benchmarks import SyntheticCurves, task_objective
    from hyperrace.executors import SimulatedExecutor

    task = SyntheticCurves(seed=0, max_epochs=9)

    def run(**params: Any) -> hr.History:
        executor = SimulatedExecutor(1)
        study = hr.Study(
            "cost",
            task.space,
            storage="memory://",
            optimizer=DyHPO(promotion=0.0, n_candidates=32, **params),
            seed=0,
            clock=executor.clock,
        )
        study.optimize(
            task_objective(task), hr.Budget(epochs=60), executor=executor, progress=False
        )
        return study.history(decisions=True)

    def mean_step_seconds(history: hr.History) -> float:
        steps = [(task.step_seconds(t.config), t.fidelity) for t in history.trials]
        return sum(s * f for s, f in steps) / sum(f for _, f in steps)

    plain, aware = run(), run(cost_exponent=1.0)
    assert mean_step_seconds(aware) < 0.8 * mean_step_seconds(plain)
    model = [d.info for d in aware.decisions if d.info.get("source") == "model"]
    assert model and all(i["cost_weight"] == 1.0 and i["cost"] > 0 for i in model)
    cooled = run(cost_exponent=1.0, cost_budget=10.0)
    weights = [d.info["cost_weight"] for d in cooled.decisions if "cost_weight" in d.info]
    assert weights and weights[-1] == 0.0 and weights == sorted(weights, reverse=True)
