"""ASHA (Li et al., MLSys 2020): rungs, promotions, the stopping variant, asynchrony, budgets."""

from __future__ import annotations

import dataclasses
import json
import math
import random
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import hyperrace as hr
from hyperrace._rng import decision_rng
from hyperrace.history import Direction
from hyperrace.optimizers import Decision, _registry
from hyperrace.optimizers._asha import ASHA, quantile
from hyperrace.optimizers._parts.schedule.ladder import rungs
from hyperrace.study import Job
from hyperrace.testing.conformance import CHECKS
from hyperrace.testing.history import drive
from hyperrace.testing.objectives import curve_value, learning_curve
from hyperrace.trial import Observation, StopReason, TrialRecord, TrialStatus

SPACE9 = hr.Space(x=hr.Float(0.0, 1.0), epochs=hr.Fidelity(1, 9))  # rungs 1, 3, 9
SPACE27 = hr.Space(x=hr.Float(0.0, 1.0), epochs=hr.Fidelity(1, 27))  # rungs 1, 3, 9, 27
LADDER27 = [1.0, 3.0, 9.0, 27.0]
VARIANTS = [(v, r) for v in ("promotion", "stopping") for r in ("top", "quantile")]


def rng(i: int = 0) -> np.random.Generator:
    return decision_rng(7, i)


def rec(
    number: int,
    values: dict[float, float],
    *,
    status: TrialStatus = TrialStatus.PAUSED,
    target: float | None = None,
    reason: StopReason = StopReason.REACHED,
    times: dict[float, float] | None = None,
) -> TrialRecord:
    """A hand-built trial (id = number + 100) with ``values`` reported at those fidelities."""
    times = times or {}
    curve = tuple(
        Observation(f, v, time=times.get(f, 1000.0 * number + f)) for f, v in sorted(values.items())
    )
    top = max(values) if values else 0.0
    return TrialRecord(
        number + 100,
        number,
        {"x": 0.5},
        status,
        curve,
        target=top if target is None else target,
        reason=reason,
    )


def hist(*trials: TrialRecord, direction: Direction = "minimize") -> hr.History:
    return hr.History(direction, tuple(sorted(trials, key=lambda t: t.number)), len(trials))


def agree(opt: ASHA, space: hr.Space, history: hr.History, i: int = 0) -> Decision:
    """The decision, checked against a fresh instance rebuilt from get_params."""
    decision = opt.decide(space, history, rng(i))
    fresh = ASHA(**json.loads(json.dumps(opt.get_params())))
    assert fresh.decide(space, history, rng(i)) == decision
    return decision


# -- parameters and rungs ---------------------------------------------------------------------


def test_rung_budgets_follow_li_et_al() -> None:
    assert rungs(hr.Fidelity(1, 81), 3) == [1, 3, 9, 27, 81]
    assert rungs(hr.Fidelity(1, 52), 3) == [2, 6, 17, 52]
    space52 = hr.Space(x=hr.Float(0.0, 1.0), epochs=hr.Fidelity(1, 52))
    first = ASHA().decide(space52, hist(), rng())
    assert isinstance(first, hr.Start)
    assert (first.stop, dict(first.info)) == (2.0, {"rung": 0})
    three = hist(rec(0, {2: 0.5}), rec(1, {2: 0.2}), rec(2, {2: 0.7}))
    assert ASHA().decide(space52, three, rng()) == hr.Resume(
        101, 6.0, {"rung": 1, "variant": "promotion"}
    )


def test_parameters_are_validated_and_json() -> None:
    assert ASHA().get_params() == {"eta": 3, "variant": "promotion", "rule": "top"}
    params = ASHA(eta=4, variant="stopping", rule="quantile").get_params()
    assert json.loads(json.dumps(params)) == params
    assert hr.optimizers.make_optimizer("asha", params).get_params() == params
    for bad, pattern in [
        ({"eta": 1}, "eta=1"),
        ({"eta": 2.5}, "eta=2.5"),
        ({"eta": True}, "eta=True"),
        ({"variant": "sync"}, "variant='sync'.*'promotion'"),
        ({"rule": "median"}, "rule='median'.*'quantile'"),
    ]:
        with pytest.raises(hr.ConfigurationError, match=pattern):
            ASHA(**bad)


def test_quantile_matches_numpy_and_tolerates_inf() -> None:
    r = np.random.default_rng(0)
    for n in range(1, 12):
        losses = sorted(r.random(n).tolist())
        ordered = [(v, i) for i, v in enumerate(losses)]
        for q in (1 / 2, 1 / 3, 1 / 4):
            assert quantile(ordered, q) == pytest.approx(float(np.quantile(losses, q)))
    assert quantile([(1.0, 0), (math.inf, 1)], 1 / 3) == math.inf
    assert quantile([(1.0, 0), (2.0, 1), (math.inf, 2)], 1 / 3) == pytest.approx(5 / 3)


def test_without_a_fidelity_it_is_random_search_at_full_fidelity() -> None:
    space = hr.Space(x=hr.Float(0.0, 1.0), k=hr.Int(1, 4))
    study = hr.Study("nf", space, storage="memory://", seed=0, optimizer="asha")
    jobs: list[Job] = []
    assert drive(study, 10, curve_value, on_job=lambda s, j: jobs.append(j)) == 10
    assert all(j.kind == "start" and (j.start, j.stop) == (0.0, 1.0) for j in jobs)
    assert all(t.status is TrialStatus.COMPLETED for t in study.trials)


# -- the promotion variant --------------------------------------------------------------------

BASE = [0.5, 0.9, 0.2, 0.4, 0.3, 0.6, 0.1, 0.7, 0.8, 0.95, 0.15, 0.85]


def run(study: hr.Study, job: Job, value: Callable[[int, float], float]) -> None:
    """Train ``job`` step by step, reporting ``value(number, fidelity)``, then tell."""
    for f in range(int(job.start) + 1, int(job.stop) + 1):
        study.report(job.trial_id, fidelity=f, value=value(job.number, f))
    study.tell(job)


def test_promotion_order_on_a_hand_driven_study() -> None:
    study = hr.Study("order", SPACE9, storage="memory://", seed=1, optimizer=ASHA())
    seen = []
    for _ in range(17):
        job = study.ask()
        assert isinstance(job, Job)
        seen.append((job.kind, job.number, job.start, job.stop))
        if job.kind == "resume":
            assert dict(job.info) == {"rung": [1, 3, 9].index(job.stop), "variant": "promotion"}
        else:
            assert dict(job.info) == {"rung": 0}
        run(study, job, lambda n, f: BASE[n] + 1.0 / f)
    start, resume = "start", "resume"
    assert seen == [
        (start, 0, 0, 1),
        (start, 1, 0, 1),
        (start, 2, 0, 1),  # 2 at rung 0: floor(2/3) = 0 promotable
        (resume, 2, 1, 3),  # 3 at rung 0: the best (trial 2) goes on
        (start, 3, 0, 1),
        (start, 4, 0, 1),
        (start, 5, 0, 1),
        (resume, 4, 1, 3),  # 6 at rung 0: the top 2 are trials 2 (promoted) and 4
        (start, 6, 0, 1),
        (resume, 6, 1, 3),  # 7 at rung 0: trial 6 is now the best
        (resume, 6, 3, 9),  # 3 at rung 1: trial 6 is the best there too
        (start, 7, 0, 1),
        (start, 8, 0, 1),
        (start, 9, 0, 1),  # 9 at rung 0: the top 3 (6, 2, 4) are all promoted
        (start, 10, 0, 1),
        (resume, 10, 1, 3),  # 11 at rung 0: trial 10 enters the top 3
        (start, 11, 0, 1),  # 4 at rung 1: its best (6) is completed
    ]
    assert study.trials[6].status is TrialStatus.COMPLETED


def test_the_highest_rung_is_served_first_then_the_best_candidate() -> None:
    trials = [rec(n, {1: v}) for n, v in enumerate([0.4, 0.3, 0.2, 0.6, 0.5, 0.1, 0.05])]
    # rung 0: 7 reports, top 2 = trials 6 and 5 (both paused there); rung 1: nobody yet.
    assert agree(ASHA(), SPACE9, hist(*trials)) == hr.Resume(
        106, 3.0, {"rung": 1, "variant": "promotion"}
    )
    # Trials 0..2 reached rung 1 (3 reports there): its best, trial 2, goes first, although
    # trial 6 is still a candidate at rung 0.
    trials[:3] = [rec(n, {1: 0.1 * n, 3: v}) for n, v in enumerate([0.4, 0.3, 0.2])]
    assert agree(ASHA(), SPACE9, hist(*trials)) == hr.Resume(
        102, 9.0, {"rung": 2, "variant": "promotion"}
    )
    # A running or completed trial is not a candidate (it was promoted already).
    trials[2] = rec(2, {1: 0.2, 3: 0.2}, status=TrialStatus.RUNNING, target=9)
    assert agree(ASHA(), SPACE9, hist(*trials)).trial_id == 106  # type: ignore[union-attr]


def test_top_and_quantile_rules_differ_on_small_rungs() -> None:
    top, quant = ASHA(), ASHA(rule="quantile")
    two = hist(rec(0, {1: 0.5}), rec(1, {1: 0.2}))
    assert isinstance(agree(top, SPACE9, two), hr.Start)  # floor(2/3) = 0
    assert agree(quant, SPACE9, two) == hr.Resume(101, 3.0, {"rung": 1, "variant": "promotion"})
    one = hist(rec(0, {1: 0.5}))
    assert isinstance(agree(quant, SPACE9, one), hr.Start)  # a quantile needs 2 reports
    # 4 reports: top promotes 1; the 1/3 quantile is the second best, so two are promotable.
    four = [rec(0, {1: 0.4}), rec(1, {1: 0.2}), rec(2, {1: 0.3}), rec(3, {1: 0.9})]
    four[1] = rec(1, {1: 0.2}, status=TrialStatus.RUNNING, target=3)  # the best, promoted
    assert isinstance(agree(top, SPACE9, hist(*four)), hr.Start)
    assert agree(quant, SPACE9, hist(*four)).trial_id == 102  # type: ignore[union-attr]


def test_maximize_promotes_the_highest_value() -> None:
    three = hist(rec(0, {1: 0.5}), rec(1, {1: 0.9}), rec(2, {1: 0.2}), direction="maximize")
    assert agree(ASHA(), SPACE9, three).trial_id == 101  # type: ignore[union-attr]


def test_failed_trials_count_in_the_rung_but_are_never_promoted() -> None:
    failed = rec(0, {1: 0.01, 2: 0.01}, status=TrialStatus.FAILED, reason=StopReason.ERROR)
    others = [rec(1, {1: 0.5}), rec(2, {1: 0.6})]
    # 3 reports (the failed one ranks last): the top 1 is trial 1.
    assert agree(ASHA(), SPACE9, hist(failed, *others)).trial_id == 101  # type: ignore[union-attr]
    assert isinstance(agree(ASHA(), SPACE9, hist(*others)), hr.Start)  # 2 reports: none
    stop = ASHA(variant="stopping")
    judged = [rec(1, {1: 0.5}, times={1: 5.0}), rec(2, {1: 0.6}, times={1: 6.0})]
    late = rec(0, {1: 0.01, 2: 0.01}, status=TrialStatus.FAILED, times={1: 1.0})
    # The failed trial reported first: trial 1 came second (2 reports, top 0) and trial 2 third
    # (top 1: trial 1), so both stop; without the failed report trial 1 would go on.
    assert isinstance(agree(stop, SPACE9, hist(late, *judged)), hr.Start)


def test_runs_cut_short_are_finished_and_early_returns_left_alone() -> None:
    cut = rec(0, {1: 0.5, 2: 0.4}, target=2)  # the epoch budget granted only 2 of 3
    assert agree(ASHA(), SPACE9, hist(cut)) == hr.Resume(
        100, 3.0, {"rung": 1, "variant": "promotion", "finish": True}
    )
    sliced = rec(0, {1: 0.5, 2: 0.4}, target=3, reason=StopReason.TIME_SLICE)
    assert agree(ASHA(variant="stopping"), SPACE9, hist(sliced)).stop == 3.0  # type: ignore[union-attr]
    # Trial 1 was promoted to 3 but its objective returned at 1: it is not promoted again.
    returned = rec(1, {1: 0.1}, target=3, reason=StopReason.OBJECTIVE_RETURNED)
    rung = hist(rec(0, {1: 0.5}), returned, rec(2, {1: 0.6}))
    assert isinstance(agree(ASHA(), SPACE9, rung), hr.Start)


# -- the stopping variant ---------------------------------------------------------------------


def stopping_rung() -> list[TrialRecord]:
    """Five trials paused at rung 0 (budget 1); trial 4 reported there first."""
    losses = {0: 0.5, 1: 0.6, 2: 0.1, 3: 0.4, 4: 0.9}
    times = {0: 10.0, 1: 20.0, 2: 30.0, 3: 40.0, 4: 5.0}
    return [rec(n, {1: losses[n]}, times={1: times[n]}) for n in range(5)]


def advance(trials: list[TrialRecord], decision: Any, clock: float) -> None:
    """Apply a Resume to the hand-built trials: report up to its stop, from time ``clock``."""
    assert isinstance(decision, hr.Resume)
    i = decision.trial_id - 100
    t = trials[i]
    values = {o.fidelity: o.value for o in t.curve}
    times = {o.fidelity: o.time for o in t.curve}
    for f in range(int(t.fidelity) + 1, int(decision.stop) + 1):
        values[f], times[f] = values[t.fidelity] * 0.9, clock + f
    done = decision.stop >= 9
    status = TrialStatus.COMPLETED if done else TrialStatus.PAUSED
    trials[i] = rec(i, values, times=times, status=status, target=decision.stop)


@pytest.mark.parametrize(
    ("rule", "expected"),
    [
        # top: 4 (alone) and 2 (best of 4) go on; 0 (2 reports), 1, 3 stop.
        ("top", [(102, 3), (102, 9), (104, 3), None]),
        # quantile: 4, 0 (0.5 <= 0.633), 2 and 3 (0.4 <= 0.433) go on; 1 (0.6 > 0.567) stops.
        ("quantile", [(100, 3), (100, 9), (102, 3), (102, 9), (103, 3), (104, 3), None]),
    ],
)
def test_stopping_variant_continues_the_right_trials(rule: str, expected: list[Any]) -> None:
    opt = ASHA(variant="stopping", rule=rule)
    trials = stopping_rung()
    for step, want in enumerate(expected):
        decision = agree(opt, SPACE9, hist(*trials), step)
        if want is None:
            assert isinstance(decision, hr.Start)
            assert decision.stop == 1.0
            break
        assert (decision.trial_id, decision.stop) == want, step  # type: ignore[union-attr]
        assert decision.info["variant"] == "stopping"
        advance(trials, decision, 100.0 * (step + 1))
    stopped = [t.number for t in trials if t.status is TrialStatus.PAUSED]
    assert stopped == ([0, 1, 3, 4] if rule == "top" else [1, 3, 4])
    # Stopped trials stay paused: nothing changes that, however often it is asked.
    assert all(isinstance(agree(opt, SPACE9, hist(*trials), i), hr.Start) for i in range(3))


def judged_to_continue(history: hr.History, trial: TrialRecord, budget: float, opt: ASHA) -> bool:
    """A brute-force statement of the stopping rule (numpy's quantile as the reference)."""
    me = next(o for o in trial.curve if o.fidelity == budget)
    pool = [
        (history.loss(o.value), t.number)
        for t in history.trials
        for o in t.curve
        if o.fidelity == budget and (o.time, t.number) <= (me.time, trial.number)
    ]
    if len(pool) < 2:
        return True
    mine = (history.loss(me.value), trial.number)
    if opt.rule == "top":
        return mine in sorted(pool)[: len(pool) // opt.eta]
    return bool(mine[0] <= np.quantile([p[0] for p in pool], 1 / opt.eta))


@pytest.mark.parametrize("rule", ["top", "quantile"])
def test_stopping_variant_on_a_driven_study_follows_the_rule(rule: str) -> None:
    opt = ASHA(variant="stopping", rule=rule)
    study = hr.Study("stop", SPACE27, storage="memory://", seed=4, optimizer=opt)
    jobs: list[Job] = []

    def check(s: hr.Study, job: Job) -> None:
        jobs.append(job)
        if job.kind == "resume":  # judged "continue" at the rung it paused at
            history = s.history()
            assert judged_to_continue(history, history.trial(job.trial_id), job.start, opt)
            assert job.stop == LADDER27[LADDER27.index(job.start) + 1]

    assert drive(study, 80, curve_value, on_job=check) == 80
    history = study.history()
    last = jobs[-1].trial_id
    for t in history.trials:
        for k, budget in enumerate(LADDER27[:-1]):
            if t.value_at(budget) is None or t.trial_id == last:
                continue
            went_on = t.fidelity > budget
            assert went_on == judged_to_continue(history, t, budget, opt), (t, k)
    assert any(t.fidelity == 27 for t in history.trials)
    assert any(t.status is TrialStatus.PAUSED for t in history.trials)  # some were stopped


# -- asynchrony, budgets, worker processes ----------------------------------------------------


def finish(study: hr.Study, jobs: list[Job], order: random.Random) -> None:
    """Train ``jobs`` one step each in turn (interleaved reports), then tell them shuffled."""
    steps = {j.trial_id: int(j.start) for j in jobs}
    while any(steps[j.trial_id] < j.stop for j in jobs):
        for j in jobs:
            if steps[j.trial_id] < j.stop:
                steps[j.trial_id] += 1
                f = steps[j.trial_id]
                study.report(j.trial_id, fidelity=f, value=curve_value(dict(j.config), f))
    order.shuffle(jobs)
    for j in jobs:
        study.tell(j)


@pytest.mark.parametrize(("variant", "rule"), VARIANTS)
@pytest.mark.parametrize("batch", [4, 1])
def test_asynchronous_workers_never_wait(variant: str, rule: str, batch: int) -> None:
    study = hr.Study(
        "async", SPACE27, storage="memory://", seed=2, optimizer=ASHA(variant=variant, rule=rule)
    )
    order = random.Random(5)
    in_flight: list[Job] = []
    resumed: set[tuple[int, float]] = set()
    for _ in range(160 // batch):
        while len(in_flight) < 4:  # every free worker gets a job, never a Wait
            job = study.ask()
            assert isinstance(job, Job), job
            if job.kind == "resume":
                assert job.start in LADDER27, job  # it resumes from the rung it paused at
                assert job.stop == LADDER27[LADDER27.index(job.start) + 1]
                assert (job.trial_id, job.start) not in resumed  # never promoted twice
                resumed.add((job.trial_id, job.start))
                assert study.history().trial(job.trial_id).fidelity == job.start
            in_flight.append(job)
        order.shuffle(in_flight)
        done, in_flight = in_flight[:batch], in_flight[batch:]
        finish(study, done, order)
    assert len(resumed) >= 5
    assert any(t.fidelity == 27 for t in study.trials)
    history = study.history(decisions=True)
    starts = [(d.trial_id, d.start) for d in history.decisions if d.kind == "resume"]
    assert len(starts) == len(set(starts)) == len(resumed)


@pytest.mark.parametrize(("variant", "rule"), VARIANTS)
def test_paused_trials_resume_from_their_checkpoint_and_pay_only_new_steps(
    variant: str, rule: str
) -> None:
    opt = ASHA(variant=variant, rule=rule)
    study = hr.Study("acct", SPACE27, storage="memory://", seed=0, optimizer=opt)
    study.optimize(learning_curve, budget=hr.Budget(epochs=200), progress=False)
    history = study.history(decisions=True)
    assert history.work == 200
    assert not history.failed  # learning_curve raises if it does not get its checkpoint back
    assert all(t.work == t.fidelity for t in history.trials)
    resumes = [d for d in history.decisions if d.kind == "resume"]
    assert resumes
    assert all(d.start in LADDER27 for d in resumes)
    assert any(t.status is TrialStatus.COMPLETED for t in history.trials)


class _CountingASHA(ASHA):
    """ASHA that remembers what it decided (in the process that decides: the main one)."""

    def __init__(self, **params: Any) -> None:
        super().__init__(**params)
        self.decided: list[Any] = []

    def decide(self, space: hr.Space, history: hr.History, rng: np.random.Generator) -> Any:
        decision = super().decide(space, history, rng)
        self.decided.append(decision)
        return decision


@pytest.mark.parametrize("variant", ["promotion", "stopping"])
def test_four_worker_processes_use_the_whole_budget(tmp_path: Path, variant: str) -> None:
    opt = _CountingASHA(variant=variant)
    url = f"sqlite:///{tmp_path / 'asha.db'}"
    study = hr.Study("procs", SPACE9, storage=url, seed=0, optimizer=opt)
    study.optimize(learning_curve, budget=hr.Budget(epochs=60), workers=4, progress=False)
    history = study.history(decisions=True)
    assert history.work == 60
    assert not history.failed
    assert all(t.work == t.fidelity for t in history.trials)
    assert not any(isinstance(d, hr.Wait | hr.Done) for d in opt.decided)
    assert len(opt.decided) >= history.n_decisions
    assert any(d.kind == "resume" for d in history.decisions)


# -- the conformance suite --------------------------------------------------------------------


class _StoppingASHA(ASHA):
    name = "asha-stopping-under-test"

    def __init__(self, eta: int = 3, variant: str = "stopping", rule: str = "top") -> None:
        super().__init__(eta, variant, rule)


class _QuantileASHA(ASHA):
    name = "asha-quantile-under-test"

    def __init__(self, eta: int = 3, variant: str = "promotion", rule: str = "quantile") -> None:
        super().__init__(eta, variant, rule)


@pytest.fixture
def enrolled(monkeypatch: pytest.MonkeyPatch) -> None:
    """The variants under a name of their own, in the registry for this test only."""
    for cls in (_StoppingASHA, _QuantileASHA):
        monkeypatch.setitem(_registry._REGISTRY, cls.name, cls)


@pytest.mark.parametrize("check", sorted(CHECKS))
def test_conformance(check: str) -> None:
    CHECKS[check]("asha")


@pytest.mark.parametrize("check", sorted(CHECKS))
@pytest.mark.parametrize("name", [_StoppingASHA.name, _QuantileASHA.name])
@pytest.mark.usefixtures("enrolled")
def test_conformance_of_the_other_variants(name: str, check: str) -> None:
    CHECKS[check](name)


@pytest.mark.parametrize("space", [SPACE9, hr.Space(x=hr.Float(0.0, 1.0))])
def test_a_study_built_with_the_stopping_variant_object(space: hr.Space) -> None:
    opt = ASHA(variant="stopping", rule="quantile")
    study = hr.Study("obj", space, storage="memory://", seed=3, optimizer=opt)
    for _ in range(40):
        history = study.history()
        live = study.optimizer.decide(space, history, rng(history.n_decisions))
        fresh = ASHA(**json.loads(json.dumps(opt.get_params())))
        assert fresh.decide(space, history, rng(history.n_decisions)) == live
        assert drive(study, 1, curve_value) == 1
    stored = study.storage.get_study("obj")
    assert stored is not None
    assert stored.optimizer == {"name": "asha", "params": opt.get_params()}
    study.optimize(learning_curve, budget=hr.Budget(epochs=150), progress=False)
    assert study.history().work == 150


@pytest.mark.parametrize(("variant", "rule"), VARIANTS)
def test_the_rung_table_kept_across_decisions_decides_as_a_fresh_instance(
    tmp_path: Path, variant: str, rule: str
) -> None:
    """ASHA keeps each rung ranked between decisions and updates it from the trials whose record
    changed (a storage's incremental read hands back the same record for the others): at every
    step of an asynchronous race, and for a history of another study given to the same instance,
    its decision is a fresh instance's."""
    kept = ASHA(variant=variant, rule=rule)
    study = hr.Study(
        "kept",
        SPACE27,
        storage=f"sqlite:///{tmp_path / 'kept.db'}",
        seed=3,
        optimizer=ASHA(variant=variant, rule=rule),
    )
    order = random.Random(11)
    in_flight: list[Job] = []
    other = hr.Study("other", SPACE27, storage="memory://", seed=4, optimizer=ASHA())
    for step in range(70):
        while len(in_flight) < 3:
            in_flight.append(study.ask())
        history = study.history()
        fresh = ASHA(variant=variant, rule=rule)
        assert kept.decide(SPACE27, history, rng(step)) == fresh.decide(SPACE27, history, rng(step))
        if step % 25 == 24:  # another study's history in between: the table starts again
            job = other.ask()
            finish(other, [job], order)
            h = other.history()
            assert kept.decide(SPACE27, h, rng(step)) == ASHA(variant=variant, rule=rule).decide(
                SPACE27, h, rng(step)
            )
        order.shuffle(in_flight)
        finish(study, [in_flight.pop()], order)
    assert any(t.fidelity == 27 for t in study.trials)


def _random_history(seed: int, n: int, direction: Direction) -> hr.History:
    """``n`` hand-built trials over the rungs 1, 3, 9, 27: curves of random lengths (some empty,
    some between rungs, some past a rung's fidelity), tied values, every status and reason."""
    r = random.Random(seed)
    trials = []
    for number in range(n):
        top = r.choice([0, 1, 2, 3, 3, 5, 9, 9, 12, 27])
        values = {float(f): float(r.choice([0.1, 0.2, 0.3, r.random()])) for f in range(1, top + 1)}
        if values and r.random() < 0.2:  # a report past a rung (a fidelity in seconds)
            del values[max(values)]
        status = r.choice(list(TrialStatus))
        reason = r.choice([StopReason.REACHED, StopReason.OBJECTIVE_RETURNED, StopReason.LOST])
        target = r.choice([None, float(top), float(top + 2), 27.0])
        trials.append(rec(number, values, status=status, target=target, reason=reason))
    return hist(*trials, direction=direction)


@pytest.mark.parametrize("direction", ["minimize", "maximize"])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_the_rung_table_read_from_columns_is_the_table_read_from_records(
    direction: Direction, seed: int
) -> None:
    """A first history of hundreds of trials is read whole: the trials whose curves are columns
    (as PostgreSQL reads a big study) in numpy. Its rungs, resting trials, trials cut short and
    reports are those read from the records one by one, for curves all in columns, half in
    columns, and after later changes applied one by one."""
    from hyperrace.optimizers._parts.schedule.table import RungTable
    from hyperrace.testing.history import in_columns

    history = _random_history(seed, 600, direction)
    held = in_columns(history)
    mixed = dataclasses.replace(
        history,
        trials=tuple(h if i % 2 else t for i, (t, h) in enumerate(zip(history, held, strict=True))),
    )

    def state(table: RungTable) -> Any:
        reports = [[(t.number, e, o) for t, e, o in table.reports(k)] for k in range(4)]
        return table.ranked, table.resting, table.first_unfinished(), table._unfinished, reports

    tables = []
    for h in (history, held, mixed):
        table = RungTable(LADDER27)
        table.update(h)
        tables.append(table)
    expected = state(tables[0])
    assert any(expected[1]) and expected[2] is not None  # the history has both kinds of trials
    assert state(tables[1]) == expected
    assert state(tables[2]) == expected
    # later snapshots: a few records changed, applied one by one on each table
    later = _random_history(seed + 10, 600, direction)
    changed = {7, 100, 333}
    following = tuple(later.trials[i] if i in changed else t for i, t in enumerate(held.trials))
    fresh = RungTable(LADDER27)
    fresh.update(dataclasses.replace(history, trials=following))
    tables[1].update(dataclasses.replace(held, trials=following))
    assert state(tables[1]) == state(fresh)
    for variant, rule in VARIANTS:
        opt = ASHA(variant=variant, rule=rule)
        assert opt.decide(SPACE27, held, rng()) == ASHA(variant=variant, rule=rule).decide(
            SPACE27, history, rng()
        )
