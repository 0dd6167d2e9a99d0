"""The race and its recipes (race, dpl, dyhpo): parameters, parts, statelessness of warm-started
fits, candidates, failures, workers, cost awareness."""

from __future__ import annotations

import itertools
import json
import math
import subprocess
import sys
from typing import Any

import numpy as np
import pytest

import hyperrace as hr
from hyperrace._clock import ManualClock
from hyperrace._rng import decision_rng
from hyperrace.exceptions import ConfigurationError
from hyperrace.optimizers import DPL, Done, DyHPO, Race, Resume, Start, Wait, make_optimizer
from hyperrace.optimizers._parts import acquisition as acq
from hyperrace.optimizers._parts.candidates import pool
from hyperrace.optimizers._parts.data.curve_data import CurveData, encode
from hyperrace.optimizers._parts.data.onehot import OneHot
from hyperrace.optimizers._parts.surrogate import fit_chain
from hyperrace.optimizers._parts.surrogate.base import Gaussian
from hyperrace.optimizers._parts.surrogate.deep_kernel import thin
from hyperrace.storage import InMemoryStorage
from hyperrace.study import Job
from hyperrace.testing.conformance import spaces
from hyperrace.testing.history import drive
from hyperrace.testing.objectives import curve_value, learning_curve
from hyperrace.trial import Observation, StopReason, TrialRecord, TrialStatus

torch = pytest.importorskip("torch")  # the surrogates need the bo extra
dk = pytest.importorskip("hyperrace.optimizers._parts.surrogate.deep_kernel_gp")
dpl = pytest.importorskip("hyperrace.optimizers._parts.surrogate.power_law_net")

SPACE = spaces()["fidelity"]
#: Small fits: these tests check behaviour, not the quality of the surrogates.
FAST_DPL: dict[str, Any] = {"name": "dpl", "scratch_steps": 20, "refine_steps": 4, "width": 16}
FAST_DK: dict[str, Any] = {
    "name": "deep_kernel",
    "scratch_steps": 15,
    "refine_steps": 4,
    "max_points": 40,
}
RECIPES = {"race": Race, "dpl": DPL, "dyhpo": DyHPO}


def _fast(name: str, **params: Any) -> dict[str, Any]:
    surrogate = dict(FAST_DK if RECIPES[name] is DyHPO else FAST_DPL)
    surrogate.update(params.pop("surrogate_params", {}))
    # the model's decisions from the first: the ASHA warm-up has its own test
    return {
        "surrogate": surrogate,
        "n_prior": 16,
        "n_local": 0 if name != "race" else 8,
        "warmup": "none",
        **params,
    }


def _study(name: str = "dyhpo", seed: int = 0, space: hr.Space = SPACE, **params: Any) -> hr.Study:
    opt = RECIPES[name](**_fast(name, **params))
    return hr.Study(name, space, storage="memory://", seed=seed, optimizer=opt)


def _fresh_decision(opt: Any, space: hr.Space, history: hr.History) -> Any:
    """The decision of a new instance in a process that memoized no fit (it replays them)."""
    fit_chain._memo.clear()
    fresh = make_optimizer(opt.name, json.loads(json.dumps(opt.get_params())))
    return fresh.decide(space, history, decision_rng(1, history.n_decisions))


# -- parameters ------------------------------------------------------------------------------


def test_recipes_defaults_round_trip_and_are_keyword_only() -> None:
    race, dpl_, dyhpo = Race().get_params(), DPL().get_params(), DyHPO().get_params()
    assert race["surrogate"] == {"name": "dpl", "scratch_steps": 1000, "refine_steps": 100}
    assert (race["acquisition"], race["promotion"], race["warmup"]) == ("pi_random", 0.0, "asha")
    assert (dpl_["warmup"], dyhpo["warmup"], Race(surrogate="pfn").warmup) == ("none",) * 3
    # a mapping without a name is laid over the recipe's surrogate, a name alone is its own
    laid = Race(surrogate={"first_weight": 0.5}).get_params()["surrogate"]
    assert laid == {"name": "dpl", "scratch_steps": 1000, "refine_steps": 100, "first_weight": 0.5}
    assert Race(surrogate="dpl").get_params()["surrogate"] == "dpl"
    assert (race["n_prior"], race["n_local"]) == (128, 0)
    assert (dpl_["surrogate"], dpl_["acquisition"], dpl_["n_initial"]) == ("dpl", "ei_max", 1)
    assert (dyhpo["surrogate"], dyhpo["acquisition"], dyhpo["promotion"]) == (
        "deep_kernel",
        "ei_step",
        0.25,
    )
    assert dyhpo["n_initial"] == 3 and dyhpo["n_prior"] == 128 and dyhpo["n_local"] == 0
    for name, cls in RECIPES.items():
        custom = cls(
            step=2,
            promotion=0.0,
            patience=7,
            max_trials=4,
            cost_exponent=1,
            cost_budget=3600,
            surrogate={"name": "dpl", "width": 8},
            acquisition="ei_max",
        ).get_params()
        assert make_optimizer(name, json.loads(json.dumps(custom))).get_params() == custom
        assert custom["surrogate"] == {"name": "dpl", "width": 8}
        with pytest.raises(TypeError):
            cls(1)  # type: ignore[call-arg]
    # parameters alone are laid over the recipe's surrogate; a name means its own defaults
    assert DPL(surrogate={"width": 8}).get_params()["surrogate"] == {"name": "dpl", "width": 8}
    assert DyHPO(surrogate={"max_points": 16}).get_params()["surrogate"] == {
        "name": "deep_kernel",
        "max_points": 16,
    }


@pytest.mark.parametrize(
    ("param", "value", "match"),
    [
        ("step", 0, r"step=0 must be a finite number > 0"),
        ("step", math.inf, r"step=inf must be a finite number"),
        ("step", True, r"step=True"),
        ("promotion", 1.5, r"promotion=1.5 must be a number in \[0.0, 1.0\]"),
        ("promotion", "0.2", r"promotion='0.2'"),
        ("n_initial", 0, r"n_initial=0 must be an integer >= 1"),
        ("n_prior", 2.0, r"n_prior=2.0 must be an integer >= 0"),
        ("n_centers", 0, r"n_centers=0 must be an integer >= 1"),
        ("local_scale", 0, r"local_scale=0 must be a number in \(0.0, 1.0\]"),
        ("patience", 0, r"patience=0 must be an integer >= 1 or None"),
        ("max_trials", 0, r"max_trials=0 must be an integer >= 1 or None"),
        ("cost_exponent", -1, r"cost_exponent=-1 must be a finite number >= 0"),
        ("cost_budget", 0, r"cost_budget=0 must be a finite number > 0 or None"),
        ("acquisition", "ucb", r"acquisition='ucb' must be one of 'ei_step', 'ei_max'"),
        ("allocation", "all", r"allocation='all' must be one of 'step', 'rung'"),
        ("incumbent", "best", r"incumbent='best' must be one of 'observed', 'predicted'"),
        ("target", "min", r"target='min' must be one of 'last', 'best'"),
        ("surrogate", "gp", r"surrogate='gp' is not a surrogate; choose one of deep_kernel, dpl"),
        ("surrogate", 3, r"surrogate=3 must be a surrogate name"),
        ("surrogate", {"name": "dpl", "depth": 3}, r"surrogate 'dpl': .*depth"),
        ("surrogate", {"name": "dpl", "width": 0}, r"width=0 must be an integer >= 1"),
        ("surrogate", {"name": "deep_kernel", "max_points": 4}, r"max_points=4 must be"),
        ("surrogate", {"first_weight": 2}, r"first_weight=2 must be a number in \[0.0, 1.0\]"),
    ],
)
def test_bad_params_are_named(param: str, value: Any, match: str) -> None:
    with pytest.raises(ConfigurationError, match=match):
        Race(**{param: value})


def test_no_fresh_configurations_is_refused() -> None:
    with pytest.raises(ConfigurationError, match=r"n_prior=0 and n_local=0 leave no fresh"):
        Race(n_prior=0, n_local=0)


@pytest.mark.parametrize("name", list(RECIPES))
def test_a_fractional_step_on_an_integer_fidelity_names_the_fix(name: str) -> None:
    study = _study(name, step=1.5)
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


# -- data and parts --------------------------------------------------------------------------


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


def _history() -> hr.History:
    return hr.History(
        "minimize",
        (
            _trial(0, CONFIGS[0], [0.9, 0.7, 0.6]),
            _trial(1, CONFIGS[1], [0.8], TrialStatus.FAILED, StopReason.INVALID_VALUE),
            _trial(2, CONFIGS[2], [0.5, 0.4]),
            _trial(3, CONFIGS[3], [], TrialStatus.FAILED, StopReason.ERROR),
        ),
    )


def test_curve_data_failures_order_and_thinning() -> None:
    history = _history()
    enc = OneHot(SPACE)
    np.testing.assert_array_equal(encode(enc, CONFIGS), enc.encode_many(CONFIGS))
    data = CurveData.collect(enc, history, 1.0, 9.0, 1.0, {})
    assert len(data) == 3 + 2 + 2 + 1  # failures add one point just after their last report
    assert np.isnan(data.loss).sum() == 2
    losses = data.losses(len(data))
    assert losses.max() == 0.9 and sorted(losses.tolist()).count(0.9) == 3  # worst loss
    assert list(data.j) == [0, 1, 2, 0, 1, 0, 1, 0]  # canonical order: time, then number
    assert data.fidelity.tolist() == [1, 2, 3, 1, 2, 1, 2, 1]
    # a fit's key depends on the first p points only
    later = CurveData.collect(
        enc,
        hr.History("minimize", (*history.trials, _trial(4, CONFIGS[4], [0.3]))),
        1.0,
        9.0,
        1.0,
        {},
    )
    assert later.key(len(data), b"s") == data.key(len(data), b"s") != later.key(len(later), b"s")
    # thinning keeps each trial's latest point first, then the most advanced trial's
    budget = (data.fidelity - 1) / 8
    kept = thin(data, len(data), 5, budget)
    assert len(kept) == 5
    latest = {int(data.trial[i]): i for i in range(len(data))}
    assert set(latest.values()) <= set(kept.tolist())


def test_curve_data_running_best_learns_each_trials_minimum_so_far() -> None:
    # a U-shaped curve (overfitting), a flat one, and a failed one
    history = hr.History(
        "minimize",
        (
            _trial(0, CONFIGS[0], [0.9, 0.5, 0.4, 0.6, 0.8]),
            _trial(1, CONFIGS[1], [0.7, 0.7]),
            _trial(2, CONFIGS[2], [0.6, 0.65], TrialStatus.FAILED, StopReason.INVALID_VALUE),
        ),
    )
    enc = OneHot(SPACE)
    last = CurveData.collect(enc, history, 1.0, 9.0, 1.0, {})
    best = CurveData.collect(enc, history, 1.0, 9.0, 1.0, {}, running_best=True)
    np.testing.assert_array_equal(best.trial, last.trial)
    np.testing.assert_array_equal(best.fidelity, last.fidelity)
    for k, t in enumerate(history.trials):
        np.testing.assert_array_equal(
            best.curves[k], np.minimum.accumulate([o.value for o in t.curve])
        )
        np.testing.assert_array_equal(last.curves[k], [o.value for o in t.curve])
        on = ~np.isnan(last.loss) & (last.trial == k)
        np.testing.assert_array_equal(best.loss[on], best.curves[k][best.j[on]])
    assert np.isnan(best.loss).sum() == np.isnan(last.loss).sum() == 1  # the failure stays
    # maximised studies learn the running minimum of the loss (the negated value)
    flipped = hr.History("maximize", (_trial(0, CONFIGS[0], [0.1, 0.5, 0.3]),))
    up = CurveData.collect(enc, flipped, 1.0, 9.0, 1.0, {}, running_best=True)
    np.testing.assert_array_equal(up.loss, [-0.1, -0.5, -0.5])


@pytest.mark.parametrize("target", ["last", "best"])
def test_the_race_fits_on_its_target(target: str, monkeypatch: pytest.MonkeyPatch) -> None:
    opt = Race(**_fast("race", target=target, n_initial=2))
    study = hr.Study("race", SPACE, storage="memory://", seed=0, optimizer=opt)
    seen: list[CurveData] = []
    model = opt._surrogate.model

    def spy(data: CurveData, *args: Any) -> Any:
        seen.append(data)
        return model(data, *args)

    monkeypatch.setattr(opt._surrogate, "model", spy)
    drive(study, 12, lambda config, f: 0.5 + (f - 3) ** 2 / 20 + config["x"] / 10)
    assert seen
    data = seen[-1]
    rising = 0
    for k, t in enumerate(data.trials):
        values = np.array([o.value for o in t.curve])
        rising += bool(np.any(np.diff(values) > 0))
        want = np.minimum.accumulate(values) if target == "best" else values
        np.testing.assert_array_equal(data.curves[k], want)
    assert rising  # some curve turned back up


def test_curve_data_follows_the_order_reports_were_recorded_not_their_times() -> None:
    """Reports numbered by the storage (``seq``) are points in that order, whatever the
    workers' clocks said: the points of an earlier snapshot stay the first points of a later
    one, even when a report recorded later carries an earlier time."""
    storage = InMemoryStorage()
    study = hr.Study("order", SPACE, storage=storage, seed=0, optimizer="random")
    jobs = [study.ask() for _ in range(3)]
    assert all(isinstance(j, Job) for j in jobs)
    ids = [j.trial_id for j in jobs]  # type: ignore[union-attr]
    made = [(ids[2], 1.0, 50.0), (ids[0], 1.0, 50.0), (ids[1], 1.0, 20.0), (ids[0], 2.0, 10.0)]
    enc = OneHot(SPACE)
    before = None
    for tid, fidelity, time in made:
        storage.report(tid, Observation(fidelity, 0.5 / fidelity + tid * 1e-3, time=time))
        if before is None:
            before = study.history()
    after = CurveData.collect(enc, study.history(), 1.0, 9.0, 1.0, {})
    number = {tid: study.history().trial(tid).number for tid in ids}
    assert [
        (int(after.trials[i].number), float(f))
        for i, f in zip(after.trial, after.fidelity, strict=True)
    ] == [(number[tid], f) for tid, f, _ in made]
    assert before is not None
    first = CurveData.collect(enc, before, 1.0, 9.0, 1.0, {})
    assert len(first) == 1 and after.key(1, b"s") == first.key(1, b"s")


def test_a_failure_adds_its_point_at_the_end_like_a_report() -> None:
    """A trial that fails (before its first report, or after reports of other trials) adds its
    failure point after every point already there: each snapshot's points are the first points
    of the next, so the fits of a chain stay in the memo."""
    study = hr.Study("fails", SPACE, storage="memory://", seed=0, optimizer="random")
    enc = OneHot(SPACE)
    jobs = [study.ask() for _ in range(4)]
    assert all(isinstance(j, Job) for j in jobs)
    a, b, c, d = jobs  # type: ignore[misc]
    snapshots = []

    def snap() -> None:
        snapshots.append(CurveData.collect(enc, study.history(), 1.0, 9.0, 1.0, {}))

    study.report(a.trial_id, fidelity=1.0, value=0.5)
    snap()
    study.report(b.trial_id, fidelity=1.0, value=0.6)
    study.report(b.trial_id, fidelity=2.0, value=0.55)
    snap()
    study.tell(c, error="fails before its first report")
    snap()
    study.tell(a, error="fails after reports of others")
    snap()
    study.report(d.trial_id, fidelity=1.0, value=0.4)
    snap()
    assert [len(s) for s in snapshots] == [1, 3, 4, 5, 6]
    for before, after in itertools.pairwise(snapshots):
        assert after.key(len(before), b"s") == before.key(len(before), b"s")
    last = snapshots[-1]
    assert np.isnan(last.loss).tolist() == [False, False, False, True, True, False]


_DECIDE = """
import json, sys
import hyperrace as hr
from hyperrace._clock import ManualClock
from hyperrace._rng import decision_rng
from hyperrace.optimizers._parts.data.curve_data import CurveData
from hyperrace.optimizers._parts.data.onehot import OneHot
study = hr.Study(sys.argv[2], storage=sys.argv[1])
h = study.history()
data = CurveData.collect(OneHot(study.space), h, 1.0, 9.0, 1.0, {})
points = zip(data.trial.tolist(), data.fidelity.tolist(), strict=True)
order = [[data.trials[i].number, f] for i, f in points]
d = study.optimizer.decide(study.space, h, decision_rng(study.seed, h.n_decisions))
print(json.dumps({"order": order, "decision": repr(d)}))
"""


def test_two_processes_decide_the_same_from_reports_whose_times_tie(shared_url: str) -> None:
    """Parallel workers report at the same instant (a clock that never moves): two processes
    reading the same storage (SQLite, PostgreSQL) order the points alike, in the order the
    reports were recorded (not by trial number), and make the same decision."""
    url = shared_url
    opt = Race(**_fast("race", n_initial=4))
    study = hr.Study("tie", SPACE, storage=url, seed=3, optimizer=opt, clock=ManualClock())
    recorded = []
    for _ in range(2):
        jobs = [study.ask() for _ in range(4)]
        assert all(isinstance(j, Job) for j in jobs)
        top = max(j.stop for j in jobs)  # type: ignore[union-attr]
        f = 1.0
        while f <= top:
            for job in reversed(jobs):  # the last trial's worker is the first to report
                assert isinstance(job, Job)
                if job.start < f <= job.stop:
                    study.report(job.trial_id, curve_value(job.config, f), fidelity=f)
                    recorded.append([job.number, f])
            f += 1.0
        for job in jobs:
            study.tell(job)  # type: ignore[arg-type]
    times = {o.time for t in study.trials for o in t.curve}
    assert len(times) == 1  # every report at the same instant
    study.close()  # its heartbeat thread and that thread's connection
    study.storage.close()
    runs = [
        json.loads(
            subprocess.run(
                [sys.executable, "-c", _DECIDE, url, "tie"],
                capture_output=True,
                text=True,
                check=True,
            ).stdout
        )
        for _ in range(2)
    ]
    assert runs[0] == runs[1]
    assert runs[0]["order"] == recorded != sorted(recorded)
    assert runs[0]["decision"].startswith(("Start(", "Resume("))


def test_fit_chain_plans_scratch_and_warm_fits_from_the_first_points_only() -> None:
    schedule = fit_chain.Schedule(refit_every=3, max_chain=2, patience=4, first=1)
    losses = np.array([5.0, 4, 3, 2, 1, 1, 1, 1, 1, 1, 1, 1, 1], dtype=float)
    plan = schedule.plan(losses)
    assert [p for p, _ in plan] == [1, 2, 3, 6, 9, 12]
    assert [s for _, s in plan] == [True, True, False, False, True, False]  # chain, then stall
    assert schedule.plan(losses[:9]) == plan[:5]  # a prefix of the data: a prefix of the plan


def test_dpl_recovers_power_laws_and_its_intervals_cover() -> None:
    rng = np.random.default_rng(0)
    x = rng.random((60, 2))
    floor, scale, rate = 0.1 + 0.3 * x[:, 0], 0.5, 0.3 + 0.6 * x[:, 1]
    budgets = np.arange(1, 21) / 20

    def curve(i: int, t: np.ndarray) -> np.ndarray:
        return floor[i] + scale * t ** -rate[i] - scale

    row, t, y = [], [], []
    for i in range(40):  # trained: 40 configurations, partial curves of 3 to 20 steps
        n = int(rng.integers(3, 21))
        row += [i] * n
        t += budgets[:n].tolist()
        y += (curve(i, budgets[:n]) + 0.003 * rng.standard_normal(n)).tolist()
    state = dpl.fit(
        dpl.PowerLawEnsemble(5, 32), x[:40], np.array(row), np.array(t), np.array(y), None, 400
    )
    final = np.array([curve(i, np.array([1.0]))[0] for i in range(60)])
    mean, std = dpl.predict(state, x, np.ones(60))
    assert np.mean(np.abs(mean[:40] - final[:40])) < 0.03
    assert np.corrcoef(mean[40:], final[40:])[0, 1] > 0.8  # configurations it never saw
    assert np.mean(np.abs(final - mean) <= 1.645 * std) >= 0.6
    # several budgets per configuration in one call
    both, _ = dpl.predict(state, x[:3], np.tile([0.5, 1.0], (3, 1)))
    assert both.shape == (3, 2)
    np.testing.assert_allclose(both[:, 1], mean[:3], rtol=1e-6)
    # deterministic: the same data give the same weights
    again = dpl.fit(
        dpl.PowerLawEnsemble(5, 32), x[:40], np.array(row), np.array(t), np.array(y), None, 400
    )
    assert all(torch.equal(a, b) for a, b in zip(state.weights, again.weights, strict=True))


def test_a_first_report_weighs_as_set_once_its_curve_goes_on() -> None:
    from hyperrace.optimizers._parts.surrogate.power_laws import PowerLaws

    history = _history()
    data = CurveData.collect(OneHot(SPACE), history, 1.0, 9.0, 1.0, {})
    weights = PowerLaws(first_weight=0.0)._point_weights(data, len(data))
    assert weights is not None
    # trials 0 and 2 reported again, trial 1 failed after its report (a failure point follows):
    # their first reports weigh 0; trial 3 failed at once and keeps its one point
    first = (data.j == 0) & np.isin(data.trial, [0, 1, 2])
    assert weights[first].tolist() == [0.0, 0.0, 0.0] and (weights[~first] == 1.0).all()
    # the first p points only: with trial 2's second report not yet among them, it counts
    p = int(np.flatnonzero((data.trial == 2) & (data.j == 1))[0])
    early = PowerLaws(first_weight=0.0)._point_weights(data, p)
    assert early is not None and early[(data.trial[:p] == 2) & (data.j[:p] == 0)].tolist() == [1.0]
    assert PowerLaws()._point_weights(data, len(data)) is None


def test_pool_draws_from_the_prior_snaps_and_never_repeats() -> None:
    enc = OneHot(SPACE)
    rng = np.random.default_rng(0)
    rows = pool.prior(enc, 500, rng)
    assert rows.shape == (500, enc.width) and rows.min() >= 0 and rows.max() <= 1
    for row in rows[:50]:
        config = enc.decode(row)
        assert SPACE.validate(config) == config
        np.testing.assert_allclose(enc.encode(config), row, atol=1e-9)  # ints on their grid
    ints = rows[:, enc.slices[SPACE.names.index("n")].start]
    assert len(np.unique(np.round(ints, 9))) == 8  # every integer of 1..8 drawn
    centers = rows[:2]
    near = pool.local(enc, centers, 200, 0.05, rng)
    gaps = np.min(np.abs(near[:, None, :] - centers[None]).max(axis=2), axis=1)
    assert np.median(gaps) < 0.2
    seen = np.vstack([rows[:5], near[:5]])
    fresh = pool.fresh(enc, seen, np.random.default_rng(1), 0, 50, seen, 0.01)
    keys = {r.tobytes() for r in np.round(fresh, 9)}
    assert len(keys) == len(fresh)
    assert not keys & {r.tobytes() for r in np.round(seen, 9)}


def test_acquisitions_query_and_score_as_documented() -> None:
    history = _history()
    cands = acq.Candidates(np.array([2.0, 3.0, 0.0]), np.array([3.0, 4.0, 1.0]))
    rng = np.random.default_rng(3)
    at, drawn = acq.queries("pi_random", cands, 1.0, 9.0, 1.0, rng)
    h = drawn["horizon"]
    assert 1 <= h <= 8
    np.testing.assert_array_equal(at, np.minimum([2 + h, 3 + h, h], 9))
    assert acq.queries("ei_max", cands, 1.0, 9.0, 1.0, rng)[0].tolist() == [9, 9, 9]
    assert acq.queries("ei_step", cands, 1.0, 9.0, 1.0, rng)[0].tolist() == [3, 4, 1]
    g = Gaussian(np.array([0.5, 0.2, 0.4, 0.3]), np.array([0.1, 0.3, 0.0, 0.0]))
    best = np.array([0.4, 0.4, 0.5, 0.2])
    ei = g.expected_improvement(best)
    for i in range(2):
        z = (best[i] - g.mean[i]) / g.std[i]
        cdf = 0.5 * (1 + math.erf(z / math.sqrt(2)))
        pdf = math.exp(-0.5 * z * z) / math.sqrt(2 * math.pi)
        assert ei[i] == pytest.approx((best[i] - g.mean[i]) * cdf + g.std[i] * pdf, rel=1e-12)
    assert ei[2] == pytest.approx(0.1) and ei[3] == 0.0
    assert g.prob_below(0.35).tolist()[2:] == [0.0, 1.0]
    np.testing.assert_allclose(np.exp(g.log_prob_below(0.4)), g.prob_below(0.4), rtol=1e-12)
    far = Gaussian(np.array([1.0, 2.0]), np.array([0.01, 0.01]))
    assert far.prob_below(0.0).tolist() == [0.0, 0.0]  # underflows, but the logs still rank
    assert far.log_prob_below(0.0)[0] > far.log_prob_below(0.0)[1] > -np.inf
    # ei_step: the best loss at exactly each budget, the best anywhere where none reached it
    _, used = acq.score(
        "ei_step",
        history,
        np.array([2.0, 3.0, 4.0]),
        np.full(3, 0.5),
        np.full(3, 0.1),
        Gaussian(np.full(3, 0.5), np.full(3, 0.1)).log_prob_below,
        Gaussian(np.full(3, 0.5), np.full(3, 0.1)).expected_improvement,
        (np.zeros(0), np.zeros(0)),
        rng,
    )
    assert used["incumbent"].tolist() == [0.4, 0.6, 0.4]
    # pi_random: the threshold asks for 0.01 % to 10 % of the incumbent (losses >= 0); a
    # running trial predicted better than the incumbent is believed
    g3 = Gaussian(np.full(3, 0.5), np.full(3, 0.1))
    _, used = acq.score(
        "pi_random",
        history,
        at,
        g3.mean,
        g3.std,
        g3.log_prob_below,
        g3.expected_improvement,
        (np.array([5.0]), np.array([0.3])),
        rng,
    )
    assert used["incumbent"] == 0.3
    assert 0.3 * (1 - 0.1) <= used["threshold"] <= 0.3 * (1 - 1e-4)


# -- decisions -------------------------------------------------------------------------------


@pytest.mark.parametrize("name", list(RECIPES))
def test_initial_design_then_model_decisions_record_their_acquisition(name: str) -> None:
    study = _study(name, n_initial=2, promotion=0.0)
    jobs: list[Job] = []
    drive(study, 30, curve_value, on_job=lambda s, j: jobs.append(j))
    assert [j.info["source"] for j in jobs[:2]] == ["initial", "initial"]
    model = [j for j in jobs if j.info.get("source") == "model"]
    assert len(model) >= 27
    for j in model:
        assert j.stop == j.start + 1  # one step per decision
        assert j.info["std"] >= 0 and math.isfinite(j.info["mean"])
        if j.info["acquisition"] != "pi_random":  # that one scores by log probabilities
            assert j.info["score"] >= 0
        assert j.info["acquisition"] == study.optimizer.acquisition  # type: ignore[attr-defined]
        assert j.info["candidates"] >= j.info["paused"]
    assert any(j.kind == "resume" for j in model)


def test_allocation_up_to_the_next_rung() -> None:
    study = _study("race", allocation="rung", n_initial=2)
    jobs: list[Job] = []
    drive(study, 12, curve_value, on_job=lambda s, j: jobs.append(j))
    ladder = [1.0, 3.0, 9.0]  # 1..9 with eta 3
    assert all(j.stop in ladder for j in jobs)
    assert any(j.kind == "resume" and j.stop > j.start + 1 for j in jobs)


@pytest.mark.parametrize("name", list(RECIPES))
def test_a_fresh_instance_replays_the_warm_started_fits_exactly(name: str) -> None:
    study = _study(name, seed=4, patience=6, surrogate_params={"refit_every": 3, "max_chain": 3})
    live = study.optimizer
    for _ in range(10):
        drive(study, 3, curve_value)
        history = study.history()
        decision = live.decide(study.space, history, decision_rng(1, history.n_decisions))
        assert _fresh_decision(live, study.space, history) == decision
        assert decision == live.decide(study.space, history, decision_rng(1, history.n_decisions))
    assert len(study.history().trials) > 3


def test_the_long_lived_instance_refits_only_at_fit_points(monkeypatch: pytest.MonkeyPatch) -> None:
    study = _study("race", seed=1, surrogate_params={"refit_every": 4})
    drive(study, 10, curve_value)
    calls: list[int] = []
    real_fit = dpl.fit

    def counting(*args: Any) -> Any:
        calls.append(len(args[3]))
        return real_fit(*args)

    monkeypatch.setattr(dpl, "fit", counting)
    fits = []
    for _ in range(8):
        before = len(calls)
        drive(study, 1, curve_value)
        fits.append(len(calls) - before)
    assert sum(fits) == 2  # 8 more points, refit every 4: two fits, nothing replayed
    assert max(fits) == 1


@pytest.mark.parametrize("name", list(RECIPES))
def test_all_failed_and_nan_configurations_are_never_offered_again(name: str) -> None:
    for space in spaces().values():
        study = _study(name, space=space)
        drive(study, 6, curve_value, fail=lambda c: True)
        decision = study.optimizer.decide(space, study.history(), decision_rng(0, 9))
        assert isinstance(decision, Start)
        assert space.validate(decision.config) == dict(decision.config)

    def nan_above(config: dict[str, Any], f: float) -> float:
        return math.nan if config["x"] > 0.5 else curve_value(config, f)

    study = _study(name, seed=2, promotion=0.5)
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
    study = _study("race", seed=3)
    study.optimize(learning_curve, budget=hr.Budget(epochs=40), progress=False)
    history = study.history(decisions=True)
    assert history.work == 40
    assert not history.failed  # learning_curve raises if it does not get its checkpoint back
    assert all(t.work == t.fidelity for t in history.trials)
    resumes = [d for d in history.decisions if d.kind == "resume"]
    assert resumes and all(d.start > 0 for d in resumes)


def test_never_a_run_past_the_maximum_and_one_step_per_decision() -> None:
    study = _study("race", seed=5, n_initial=1)
    jobs: list[Job] = []
    drive(study, 60, curve_value, on_job=lambda s, j: jobs.append(j))
    assert all(j.stop == j.start + 1 and j.stop <= 9 for j in jobs)
    assert any(t.fidelity == 9 for t in study.history().trials)


def test_wait_when_every_candidate_runs_and_no_trial_may_start() -> None:
    study = _study("dyhpo", max_trials=2)
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


def test_running_trials_are_fantasised_and_never_candidates() -> None:
    study = _study("race", seed=6, n_initial=2)
    drive(study, 10, curve_value)
    held = [study.ask() for _ in range(4)]  # four workers busy
    assert all(isinstance(j, Job) for j in held)
    ids = [j.trial_id for j in held]  # type: ignore[union-attr]
    assert len(set(ids)) == 4  # a running trial is never handed out twice
    model = [j for j in held if j.info.get("source") == "model"]  # type: ignore[union-attr]
    assert model


def test_a_predicted_incumbent_counts_the_paused_trials_predicted_finals() -> None:
    curves = [[(0.9 - 0.02 * i) / f**0.7 for f in range(1, 5)] for i in range(6)]  # falling
    trials = [_trial(i, CONFIGS[i], curve) for i, curve in enumerate(curves)]
    history = hr.History("minimize", tuple(trials), 6)
    observed = Race(**_fast("race", n_initial=2)).decide(SPACE, history, decision_rng(0, 0))
    predicted = Race(**_fast("race", n_initial=2, incumbent="predicted")).decide(
        SPACE, history, decision_rng(0, 0)
    )
    assert observed.info["source"] == predicted.info["source"] == "model"  # type: ignore[union-attr]
    best = min(o.value for t in trials for o in t.curve)
    assert observed.info["incumbent"] == pytest.approx(best)  # type: ignore[union-attr]
    # the paused trials' curves fall: their predicted losses at the maximum lower the bar
    assert predicted.info["incumbent"] < best  # type: ignore[union-attr]


def test_promotion_probability_one_promotes_by_the_asha_rule() -> None:
    trials = [_trial(i, CONFIGS[i], [0.9 - 0.05 * i]) for i in range(6)]
    history = hr.History("minimize", tuple(trials), 6)
    opt = DyHPO(**_fast("dyhpo", promotion=1.0))
    d = opt.decide(SPACE, history, decision_rng(0, 0))
    # rungs of 1..9 with eta 3 are 1, 3, 9: the best 2 of 6 at 1 may go on; the best first
    assert d == Resume(15, 3.0, {"source": "promotion", "rung": 1})
    never = DyHPO(**_fast("dyhpo", promotion=0.0)).decide(SPACE, history, decision_rng(0, 0))
    assert never.info["source"] == "model"  # type: ignore[union-attr]


@pytest.mark.parametrize(("warmup_rung", "end"), [(0, 9), (1, 3)])
def test_an_asha_warm_up_decides_as_asha_until_a_trial_reaches_its_rung(
    warmup_rung: int, end: int
) -> None:
    from hyperrace.optimizers import ASHA

    study = _study("race", seed=3, warmup="asha", n_initial=2, warmup_rung=warmup_rung)
    live = study.optimizer
    sources = []
    for _ in range(40):
        history = study.history()
        rng = decision_rng(study.seed, history.n_decisions)
        rng.random()  # the race's first draw, made whatever the branch
        asha = ASHA(eta=3).decide(SPACE, history, rng)
        job = study.ask()
        assert isinstance(job, Job)
        reached = any(t.fidelity >= end for t in history.trials)  # rungs 1, 3, 9
        sources.append(job.info["source"])
        if not reached:  # ASHA's decision, one for one
            assert job.info["source"] == "warmup"
            expected = (asha.trial_id, asha.stop) if isinstance(asha, Resume) else (None, asha.stop)
            got = (job.trial_id if job.kind == "resume" else None, job.stop)
            assert got == expected
            if isinstance(asha, Start):
                assert dict(job.config) == dict(asha.config)
        else:  # then the model's: one step per decision
            assert job.info["source"] == "model" and job.stop - job.start == 1
        for f in range(int(job.start) + 1, int(job.stop) + 1):
            study.report(job.trial_id, fidelity=f, value=curve_value(dict(job.config), f))
        study.tell(job)
    assert "warmup" in sources and "model" in sources
    # a fresh instance decides the same (the warm-up reads the history alone)
    history = study.history()
    assert _fresh_decision(live, SPACE, history) == live.decide(
        SPACE, history, decision_rng(1, history.n_decisions)
    )
    with pytest.raises(ConfigurationError, match="warmup"):
        Race(warmup="bohb")
    # a configuration ASHA draws again is drawn anew from the pool, which never repeats one
    tiny = hr.Space(c=hr.Categorical(["a", "b", "c"]), epochs=hr.Fidelity(1, 9))
    small = _study("race", space=tiny, warmup="asha")
    drive(small, 12, lambda c, f: 1.0 / f)
    configs = [t.config["c"] for t in small.history().trials]
    assert sorted(configs) == ["a", "b", "c"]


@pytest.mark.parametrize("name", list(RECIPES))
def test_maximize_and_no_fidelity(name: str) -> None:
    study = hr.Study(
        "max",
        SPACE,
        direction="maximize",
        storage="memory://",
        seed=0,
        optimizer=RECIPES[name](**_fast(name, promotion=0.0, acquisition="ei_max")),
    )
    drive(study, 8, lambda c, f: -curve_value(c, f))
    job = study.ask()
    assert isinstance(job, Job)
    everywhere = [o.value for t in study.trials for o in t.curve]
    assert job.info["incumbent"] == -max(everywhere)  # in loss units: the best value negated
    flat = _study(name, space=spaces()["no-fidelity"])
    jobs: list[Job] = []
    drive(flat, 6, curve_value, on_job=lambda s, j: jobs.append(j))
    assert all(j.kind == "start" and j.stop == 1.0 for j in jobs)


@pytest.mark.parametrize("name", list(RECIPES))
def test_a_space_that_runs_out_of_configurations_finishes_its_trials_then_is_done(
    name: str,
) -> None:
    tiny = hr.Space(c=hr.Categorical(["a", "b"]), epochs=hr.Fidelity(1, 3))
    study = _study(name, space=tiny)
    drive(study, 20, lambda c, f: 1.0 / f)
    history = study.history()
    assert len(history.trials) == 2
    assert all(t.fidelity == 3 for t in history.trials)
    assert isinstance(study.optimizer.decide(tiny, history, decision_rng(0, 0)), Done)


def test_the_cost_aware_race_prefers_cheap_steps_and_cools_down() -> None:
    """Scores per unit of predicted cost: on synthetic curves whose step cost grows with width
    and depth, the cost-aware race trains cheaper steps than the plain race for the same
    simulated time (over three seeds: one short run is noisy); with a cost budget its weight
    cools to 0 once the budget is spent."""
    from hyperrace.benchmarks import SyntheticCurves, task_objective
    from hyperrace.executors import SimulatedExecutor

    task = SyntheticCurves(seed=0, max_epochs=9)

    def run(seed: int = 0, **params: Any) -> hr.History:
        executor = SimulatedExecutor(1)
        study = hr.Study(
            "cost",
            task.space,
            storage="memory://",
            optimizer=DyHPO(promotion=0.0, n_prior=32, **params),
            seed=seed,
            clock=executor.clock,
        )
        study.optimize(
            task_objective(task), hr.Budget(epochs=60), executor=executor, progress=False
        )
        return study.history(decisions=True)

    def mean_step_seconds(history: hr.History) -> float:
        steps = [(task.step_seconds(t.config), t.fidelity) for t in history.trials]
        return sum(s * f for s, f in steps) / sum(f for _, f in steps)

    plain = [mean_step_seconds(run(seed)) for seed in range(3)]
    aware_runs = [run(seed, cost_exponent=1.0) for seed in range(3)]
    assert np.mean([mean_step_seconds(h) for h in aware_runs]) < 0.8 * np.mean(plain)
    aware = aware_runs[0]
    model = [d.info for d in aware.decisions if d.info.get("source") == "model"]
    assert model and all(i["cost_weight"] == 1.0 and i["cost"] > 0 for i in model)
    cooled = run(cost_exponent=1.0, cost_budget=10.0)
    weights = [d.info["cost_weight"] for d in cooled.decisions if "cost_weight" in d.info]
    assert weights and weights[-1] == 0.0 and weights == sorted(weights, reverse=True)


# -- a big study: the surrogate's bounded sample ---------------------------------------------


def _big_history(direction: str = "minimize") -> hr.History:
    """60 trials of 1-6 reports: some running, some failed, values falling with the number."""
    trials = []
    for n in range(60):
        length = 1 + n % 6
        values = [1.0 / (1 + n % 17) + 0.1 / f for f in range(1, length + 1)]
        if n % 11 == 3:
            status, reason = TrialStatus.FAILED, StopReason.ERROR
        elif n % 13 == 5:
            status, reason = TrialStatus.RUNNING, StopReason.NONE
        else:
            status, reason = TrialStatus.PAUSED, StopReason.REACHED
        trials.append(_trial(n, CONFIGS[n % 10], values, status, reason))
    return hr.History(direction, tuple(trials), n_decisions=90, version=400)  # type: ignore[arg-type]


def _points(history: hr.History) -> int:
    return sum(len(t.curve) + (t.status is TrialStatus.FAILED) for t in history.trials)


@pytest.mark.parametrize("direction", ["minimize", "maximize"])
def test_a_first_sample_of_thousands_of_trials_is_the_same_from_columns(
    direction: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The first decision on a big study summarises thousands of trials at once, in numpy over
    their curves' columns; the sample and every trial's summary are those computed one trial
    at a time, on records and on columns (reports on both sides of the checkpoint, failures
    with and without reports, running trials)."""
    from hyperrace.optimizers._parts.data import bounded as part
    from hyperrace.testing.history import in_columns

    trials, seq = [], 0
    r = np.random.default_rng(5)
    for n in range(2500):
        curve = []
        for f in range(1, 1 + int(r.integers(0, 7))):
            seq += int(r.integers(1, 4))
            curve.append(Observation(float(f), float(r.choice([0.5, r.random()])), seq=seq))
        status = [TrialStatus.PAUSED, TrialStatus.FAILED, TrialStatus.RUNNING][n % 7 % 3]
        trials.append(
            TrialRecord(n + 10, n, CONFIGS[n % 10], status, tuple(curve), target=len(curve))
        )
    history = hr.History(direction, tuple(trials), n_decisions=3000, version=seq + 5)  # type: ignore[arg-type]
    held = in_columns(history)
    assert part.checkpoint(history, 4000) < seq  # reports after the checkpoint too
    memos: list[dict[Any, Any]] = [{}, {}, {}]
    at_once = [part.bounded(held, 4000, memos[0]), part.bounded(history, 4000, memos[1])]
    monkeypatch.setattr(part, "_AT_ONCE", 10**9)
    one_by_one = part.bounded(history, 4000, memos[2])
    assert one_by_one.fit_trials is not None
    for sample in at_once:
        assert sample.fit_trials == one_by_one.fit_trials
        assert [t.trial_id for t in sample.history] == [t.trial_id for t in one_by_one.history]
    summaries = [{k: v[1:] for k, v in memo.items()} for memo in memos]
    assert summaries[0] == summaries[1] == summaries[2]
    assert any(v[3] is None for v in summaries[0].values())  # trials with no early report


def test_a_big_history_is_cut_to_a_fit_sample_of_the_best_and_an_even_sample() -> None:
    from hyperrace.optimizers._parts.data.bounded import bounded

    full = _big_history()
    whole = bounded(full, _points(full))
    assert whole.history is full and whole.fit_trials is None  # small enough: itself
    cut, fit = bounded(full, 60)
    assert fit is not None
    by_id = {t.trial_id: t for t in full.trials}
    assert _points(hr.History("minimize", tuple(by_id[i] for i in fit))) <= 60 < _points(full)
    kept = {t.trial_id for t in cut.trials}
    assert fit <= kept
    assert [t.number for t in cut.trials] == sorted(t.number for t in cut.trials)
    assert {t.trial_id for t in full.running} <= kept  # every running trial is a candidate
    best = sorted(
        (t for t in full.trials if t.curve and t.status is not TrialStatus.FAILED),
        key=lambda t: (min(o.value for o in t.curve), t.number),
    )
    assert {t.trial_id for t in best[:3]} <= fit  # the best (as many as half the points allow)
    assert any(by_id[i].status is TrialStatus.FAILED for i in fit)  # the sample has failures
    numbers = sorted(by_id[i].number for i in fit)
    assert numbers[0] < 10 and numbers[-1] > 50  # the sample spans the study
    assert (cut.n_decisions, cut.version, cut.direction) == (90, 400, "minimize")
    memo: dict[Any, Any] = {}
    assert bounded(full, 60, memo) == (cut, fit) == bounded(full, 60, memo)
    # maximizing: the best trials are those of the highest values
    up = bounded(_big_history("maximize"), 60)
    top = max(full.trials, key=lambda t: max((o.value for o in t.curve), default=-1.0))
    assert top.status is not TrialStatus.FAILED
    assert up.fit_trials is not None and top.trial_id in up.fit_trials
    assert up.fit_trials != fit  # another ranking, another sample


def _stored(study: hr.Study, jobs: int, flight: list[Job], rng: np.random.Generator) -> None:
    """``jobs`` asks of ``study`` with 8 jobs kept in ``flight``, as 8 workers would: once 8 are
    in flight, each ask is followed by one of them (at random) running its whole slice."""
    for _ in range(jobs):
        job = study.ask()
        if isinstance(job, Job):
            flight.append(job)
        if len(flight) >= 8 or (not isinstance(job, Job) and flight):
            done = flight.pop(int(rng.integers(len(flight))))
            f = done.start
            while f < done.stop:
                f = min(float(int(f) + 1), done.stop)
                study.report(done.trial_id, fidelity=f, value=curve_value(dict(done.config), f))
            study.tell(done)


def test_the_fit_sample_stays_put_while_workers_start_and_end_jobs() -> None:
    """Between two checkpoints of the change counter the fit sample keeps the same trials
    whatever runs (it only gains those that start), and the surrogate's training points only
    grow at the end: so a fit chain finds its fits in the memo (with the sample following the
    running trials, a study with many workers replayed its fits at every decision)."""
    from hyperrace.optimizers._parts.data.bounded import bounded, checkpoint

    study = hr.Study("wide", SPACE, storage="memory://", seed=4, optimizer=make_optimizer("asha"))
    rng = np.random.default_rng(0)
    flight: list[Job] = []
    _stored(study, 150, flight, rng)
    enc = OneHot(SPACE)
    seen: dict[int, tuple[frozenset[int], Any]] = {}
    changed = 0
    for _ in range(40):
        _stored(study, 2, flight, rng)
        history = study.history()
        assert _points(history) > 200
        cut, fit = bounded(history, 200)
        assert fit is not None
        assert {t.trial_id for t in history.running} <= {t.trial_id for t in cut.trials}
        data = CurveData.collect(enc, cut, 1.0, 9.0, 1.0, None, fit)
        assert data.fittable == sum(1 for i in data.trial if data.trials[i].trial_id in fit)
        mark = checkpoint(history, 200)
        new = {t.trial_id for t in history.trials if not any(o.seq <= mark for o in t.curve)}
        assert new <= fit  # the trials started since the checkpoint are trained on at once
        if mark in seen:
            before, old = seen[mark]
            assert before <= fit and fit - before <= new  # only trials started since join
            assert old.fittable <= data.fittable
            assert old.key(old.fittable, b"") == data.key(old.fittable, b"")
        else:
            changed += 1
        seen[mark] = (fit, data)
    assert 2 <= changed <= 20  # it moved on with the study, a checkpoint at a time


@pytest.mark.parametrize("name", list(RECIPES))
def test_past_max_observations_the_race_decides_from_the_sample_as_a_fresh_instance(
    name: str,
) -> None:
    study = _study(name, seed=6, max_observations=12)
    live = study.optimizer
    cut = False
    for _ in range(6):
        drive(study, 3, curve_value)
        history = study.history()
        decision = live.decide(study.space, history, decision_rng(1, history.n_decisions))
        assert _fresh_decision(live, study.space, history) == decision
        from hyperrace.optimizers._parts.data.bounded import bounded

        sample, _ = bounded(history, 12)
        if isinstance(decision, Resume):  # only a trial of the sample is resumed
            assert decision.trial_id in {t.trial_id for t in sample.trials}
        if decision.info.get("source") == "model":  # the sample, and its failure points
            assert decision.info["points"] == _points(sample)
            cut |= _points(sample) < _points(history)
    assert _points(study.history()) > 12
    assert cut


def test_the_mixed_acquisition_draws_ei_max_or_pi_random_per_decision() -> None:
    study = _study("race", seed=5, acquisition="mixed", n_initial=2)
    live = study.optimizer
    used = []
    for _ in range(24):
        job = study.ask()
        assert isinstance(job, Job)
        if job.info["source"] == "model":
            used.append(job.info["acquisition"])
            # what each draws: a horizon for pi_random, none for ei_max
            assert ("horizon" in job.info) == (job.info["acquisition"] == "pi_random")
        for f in range(int(job.start) + 1, int(job.stop) + 1):
            study.report(job.trial_id, fidelity=f, value=curve_value(dict(job.config), f))
        study.tell(job)
    assert set(used) == {"ei_max", "pi_random"}
    assert live.get_params()["acquisition"] == "mixed"
    rng = np.random.default_rng(0)
    draws = [acq.resolve("mixed", rng) for _ in range(400)]
    assert 150 < draws.count("ei_max") < 250
    assert acq.resolve("ei_step", rng) == "ei_step"
    # a fresh instance decides the same (the draw comes from the decision's generator)
    history = study.history()
    assert _fresh_decision(live, SPACE, history) == live.decide(
        SPACE, history, decision_rng(1, history.n_decisions)
    )
