"""Successive halving and Hyperband: bracket tables, promotions, accounting, interleaved workers."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import hyperrace as hr
from hyperrace.optimizers import Resume, Start, Wait
from hyperrace.optimizers._hyperband import Hyperband, SuccessiveHalving
from hyperrace.optimizers._parts.schedule.brackets import LOOKAHEAD
from hyperrace.optimizers._parts.schedule.ladder import Bracket, brackets
from hyperrace.optimizers._parts.schedule.rungs import loss_at as rung_loss
from hyperrace.study import Job
from hyperrace.testing.conformance import CHECKS
from hyperrace.testing.history import drive
from hyperrace.testing.objectives import curve_value, learning_curve
from hyperrace.trial import DecisionRecord, Observation, TrialRecord, TrialStatus

SPACE = hr.Space(x=hr.Float(0.0, 1.0), y=hr.Float(1e-3, 1.0, log=True), epochs=hr.Fidelity(1, 27))
LADDER = brackets(hr.Fidelity(1, 27), 3)  # 27/9/3/1 at 1,3,9,27; 12/4/1; 6/2; 4


def _table(fidelity: hr.Fidelity, eta: int) -> list[tuple[int, tuple[int, ...], tuple[float, ...]]]:
    return [(b.s, b.sizes, b.budgets) for b in brackets(fidelity, eta)]


def test_bracket_tables_li_et_al() -> None:
    assert _table(hr.Fidelity(1, 81), 3) == [
        (4, (81, 27, 9, 3, 1), (1, 3, 9, 27, 81)),
        (3, (34, 11, 3, 1), (3, 9, 27, 81)),
        (2, (15, 5, 1), (9, 27, 81)),
        (1, (8, 2), (27, 81)),
        (0, (5,), (81,)),
    ]
    assert _table(hr.Fidelity(1, 52), 3) == [
        (3, (27, 9, 3, 1), (2, 6, 17, 52)),
        (2, (12, 4, 1), (6, 17, 52)),
        (1, (6, 2), (17, 52)),
        (0, (4,), (52,)),
    ]
    assert _table(hr.Fidelity(1, 8), 2) == [
        (3, (8, 4, 2, 1), (1, 2, 4, 8)),
        (2, (6, 3, 1), (2, 4, 8)),
        (1, (4, 2), (4, 8)),
        (0, (4,), (8,)),
    ]
    assert _table(hr.Fidelity(1, 64), 4) == [
        (3, (64, 16, 4, 1), (1, 4, 16, 64)),
        (2, (22, 5, 1), (4, 16, 64)),
        (1, (8, 2), (16, 64)),
        (0, (4,), (64,)),
    ]


def test_bracket_tables_for_seconds() -> None:
    table = _table(hr.Fidelity(1.0, 81.0, unit="seconds"), 3)
    assert [t[1] for t in table] == [(81, 27, 9, 3, 1), (34, 11, 3, 1), (15, 5, 1), (8, 2), (5,)]
    assert table[0][2] == (1.0, 3.0, 9.0, 27.0, 81.0)
    (s, sizes, budgets), *_ = _table(hr.Fidelity(0.5, 10.0, unit="seconds"), 3)
    assert (s, sizes) == (2, (9, 3, 1))
    assert budgets == pytest.approx((10 / 9, 10 / 3, 10.0))


@pytest.mark.parametrize("eta", [1, 0, -3, 2.5, True, "3", None])
def test_bad_eta_is_named(eta: Any) -> None:
    for cls in (Hyperband, SuccessiveHalving):
        with pytest.raises(hr.ConfigurationError, match=r"eta=.*integer >= 2"):
            cls(eta=eta)


@pytest.mark.parametrize("bracket", [-1, 1.5, True, "2"])
def test_bad_bracket_is_named(bracket: Any) -> None:
    with pytest.raises(hr.ConfigurationError, match=r"bracket=.*integer >= 0"):
        SuccessiveHalving(bracket=bracket)


def test_bracket_above_s_max_fails_at_decide_time_with_the_fix() -> None:
    opt = SuccessiveHalving(bracket=4)
    with pytest.raises(hr.ConfigurationError, match=r"bracket=4 is above s_max=3.*from 0 to 3"):
        opt.decide(SPACE, hr.History("minimize"), np.random.default_rng(0))


def test_params_are_keyword_only_and_json() -> None:
    with pytest.raises(TypeError):
        Hyperband(3)  # type: ignore[call-arg]
    assert Hyperband(eta=4).get_params() == {"eta": 4}
    assert SuccessiveHalving().get_params() == {"eta": 3, "bracket": None}


def _study(optimizer: Any, space: hr.Space = SPACE, **kw: Any) -> hr.Study:
    return hr.Study("hb", space, storage="memory://", seed=7, optimizer=optimizer, **kw)


def _decisions(study: hr.Study) -> list[DecisionRecord]:
    return list(study.history(decisions=True).decisions)


def _check_iteration(study: hr.Study, bracket: Bracket, it: int) -> None:
    """Every rung of iteration ``it`` has the table's size and holds the best of the rung below."""
    records = [d for d in _decisions(study) if d.info.get("iteration") == it]
    configs = {t.trial_id: dict(t.config) for t in study.trials}
    by_rung: dict[int, list[DecisionRecord]] = defaultdict(list)
    for d in records:
        assert d.info["bracket"] == bracket.s
        by_rung[d.info["rung"]].append(d)
    assert [len(by_rung[i]) for i in range(len(bracket.sizes))] == list(bracket.sizes)
    for i, budget in enumerate(bracket.budgets):
        assert all(d.stop == budget for d in by_rung[i])
        assert all(d.start == (bracket.budgets[i - 1] if i else 0.0) for d in by_rung[i])
        if i + 1 < len(bracket.budgets):
            ranking = sorted(
                (d.trial_id for d in by_rung[i]), key=lambda t: curve_value(configs[t], budget)
            )
            promoted = [d.trial_id for d in by_rung[i + 1]]
            assert promoted == ranking[: len(promoted)]  # the best, best first


def test_hyperband_runs_every_bracket_with_the_right_promotions_and_work() -> None:
    study = _study("hyperband")
    jobs = sum(sum(b.sizes) for b in LADDER)
    assert drive(study, jobs, curve_value) == jobs
    for it, bracket in enumerate(LADDER):
        _check_iteration(study, bracket, it)
    starts = [d for d in _decisions(study) if d.kind == "start"]
    numbers = {t.trial_id: t.number for t in study.trials}
    iterations = [d.info["iteration"] for d in sorted(starts, key=lambda d: numbers[d.trial_id])]
    assert iterations == sorted(iterations)  # iterations own consecutive trial numbers
    expected = sum(
        n * (b - (bk.budgets[i - 1] if i else 0.0))
        for bk in LADDER
        for i, (n, b) in enumerate(zip(bk.sizes, bk.budgets, strict=True))
    )
    assert study.history().work == expected == 81 + 78 + 90 + 108
    assert all(t.work == t.fidelity for t in study.trials)
    job = study.ask()  # the cycle starts over with the most exploratory bracket
    assert isinstance(job, Job) and job.kind == "start" and job.stop == 1
    assert job.info == {"bracket": 3, "rung": 0, "iteration": 4}


def test_successive_halving_repeats_its_bracket() -> None:
    study = _study(SuccessiveHalving(bracket=1))
    assert drive(study, 16, curve_value) == 16
    for it in (0, 1):
        _check_iteration(study, LADDER[2], it)
    default = _study(SuccessiveHalving())
    drive(default, 40, curve_value)
    _check_iteration(default, LADDER[0], 0)


def test_failed_members_count_but_are_never_promoted() -> None:
    study = _study(SuccessiveHalving(bracket=2))  # 12/4/1 at 3, 9, 27
    drive(study, 17, curve_value, fail=lambda c: c["x"] < 0.5)
    members = study.trials[:12]
    good = [t for t in members if t.status is not TrialStatus.FAILED]
    assert 0 < len(good) < 12
    resumed = [d for d in _decisions(study) if d.kind == "resume" and d.stop == 9]
    assert {d.trial_id for d in resumed} == {
        t.trial_id for t in sorted(good, key=lambda t: curve_value(t.config, 3))[:4]
    }


def test_epoch_budget_accounting_with_checkpoints(tmp_path: Path) -> None:
    study = _study("hyperband", artifacts=tmp_path)
    study.optimize(learning_curve, budget=hr.Budget(epochs=357), progress=False)
    h = study.history()
    assert h.work == 357
    assert not h.failed  # learning_curve raises when a resumed run misses its checkpoint
    resumed = [d for d in _decisions(study) if d.kind == "resume"]
    assert len(resumed) == 9 + 3 + 1 + 4 + 1 + 2
    assert all(t.work == t.fidelity for t in h.trials)
    for it, bracket in enumerate(LADDER):
        _check_iteration(study, bracket, it)


def test_a_clipped_run_does_not_block_its_rung(tmp_path: Path) -> None:
    study = _study("hyperband", artifacts=tmp_path)
    study.optimize(learning_curve, budget=hr.Budget(epochs=30), progress=False)
    clipped = [t for t in study.trials if t.status is TrialStatus.PAUSED and t.fidelity == 2]
    assert len(clipped) == 1 and clipped[0].target == 2  # granted 1 of the 2 epochs to rung 3
    study.optimize(learning_curve, budget=hr.Budget(epochs=300), progress=False)
    h = study.history()
    assert h.work == 300 and not h.failed
    assert h.trial(clipped[0].trial_id).fidelity == 2  # counted, never promoted
    assert all(t.work == t.fidelity for t in h.trials)
    assert max(d.info.get("iteration", 0) for d in _decisions(study)) >= 2


def _interleave(study: hr.Study, workers: int, asks: int, seed: int) -> int:
    """Keep ``workers`` jobs out, finish a random one at a time; return how many waits."""
    rng = np.random.default_rng(seed)
    space, waits = study.space, 0
    out: list[Job] = []
    for _ in range(asks):
        while len(out) < workers:
            job = study.ask()
            if isinstance(job, Wait):
                assert out, "a wait with no job running"
                waits += 1
                break
            assert isinstance(job, Job)
            assert space.validate(job.config) == dict(job.config)
            assert 1 <= job.stop <= 27 and job.stop > job.start
            out.append(job)
        job = out.pop(int(rng.integers(len(out))))
        for f in range(int(job.start) + 1, int(job.stop) + 1):
            study.report(job.trial_id, fidelity=f, value=curve_value(dict(job.config), f))
        study.tell(job)
    return waits


@pytest.mark.parametrize(("workers", "seed"), [(3, 0), (5, 1), (9, 2)])
def test_interleaved_workers_never_promote_twice(workers: int, seed: int) -> None:
    study = _study("hyperband")
    _interleave(study, workers, 150, seed)
    records = _decisions(study)
    seen: dict[int, list[float]] = defaultdict(list)
    for d in records:
        seen[d.trial_id].append(d.stop)
    assert all(stops == sorted(set(stops)) for stops in seen.values())  # each rung once
    complete = 0
    for it in range(max(d.info["iteration"] for d in records) + 1):
        bracket = LADDER[it % len(LADDER)]
        if sum(1 for d in records if d.info["iteration"] == it) == sum(bracket.sizes):
            _check_iteration(study, bracket, it)
            complete += 1
    assert complete >= 4


def test_new_iterations_open_while_others_wait_up_to_the_lookahead() -> None:
    study = _study(SuccessiveHalving(bracket=0))  # iterations of 4 trials at 27 epochs
    jobs = []
    while isinstance(job := study.ask(), Job):
        jobs.append(job)
    assert isinstance(job, Wait) and "iterations" in job.reason
    assert len(jobs) == 4 * (LOOKAHEAD + 1)
    for j in jobs[4:]:
        drive_job(study, j)
    assert isinstance(study.ask(), Wait)  # iteration 0 is still unfinished
    for j in jobs[:4]:
        drive_job(study, j)
    job = study.ask()
    assert isinstance(job, Job) and job.info["iteration"] == LOOKAHEAD + 1


def drive_job(study: hr.Study, job: Job) -> None:
    for f in range(int(job.start) + 1, int(job.stop) + 1):
        study.report(job.trial_id, fidelity=f, value=curve_value(dict(job.config), f))
    study.tell(job)


def test_without_a_fidelity_it_is_random_search_at_full_fidelity() -> None:
    space = hr.Space(x=hr.Float(0.0, 1.0))
    for opt in (Hyperband(), SuccessiveHalving(bracket=3)):
        history = hr.History("minimize")
        decision = opt.decide(space, history, np.random.default_rng(1))
        assert decision == Start(space.sample(np.random.default_rng(1)), 1.0)


def test_seconds_rungs_read_the_first_report_past_the_budget() -> None:
    curve = (Observation(0.7, 5.0), Observation(1.3, 4.0), Observation(2.1, 3.0))
    trial = TrialRecord(1, 0, {}, TrialStatus.PAUSED, curve, target=1.0)
    history = hr.History("minimize", (trial,))
    assert rung_loss(history, trial, 1.0) == 4.0
    assert rung_loss(history, trial, 1.3) == 4.0
    assert rung_loss(history, trial, 3.0) == float("inf")
    assert rung_loss(hr.History("maximize", (trial,)), trial, 2.0) == -3.0
    space = hr.Space(x=hr.Float(0.0, 1.0), t=hr.Fidelity(0.5, 4.5, unit="seconds"))
    study = _study("hyperband", space)
    kinds = []
    drive(study, 40, curve_value, on_job=lambda s, j: kinds.append((j.kind, j.stop)))
    assert ("resume", 1.5) in kinds and ("resume", 4.5) in kinds


@pytest.mark.parametrize("name", ["hyperband", "successive_halving"])
@pytest.mark.parametrize("check", sorted(CHECKS))
def test_conformance_suite(name: str, check: str) -> None:
    CHECKS[check](name)


def test_promotion_decision_carries_its_rung() -> None:
    study = _study(SuccessiveHalving(bracket=1))  # 6/2 at 9, 27
    drive(study, 6, curve_value)
    decision = study.optimizer.decide(study.space, study.history(), np.random.default_rng(0))
    assert isinstance(decision, Resume) and decision.stop == 27
    assert decision.info == {"bracket": 1, "rung": 1, "iteration": 0}
