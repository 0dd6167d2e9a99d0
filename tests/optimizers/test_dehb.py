"""DEHB: Hyperband's first round, then DE offspring per rung, all replayed from the history."""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import hyperrace as hr
from hyperrace._rng import decision_rng
from hyperrace.optimizers import Wait, make_optimizer
from hyperrace.optimizers._dehb import DEHB, POPULATION, populations
from hyperrace.optimizers._parts.candidates.evolution import dehb_subpopulation_sizes, rand1_bin
from hyperrace.optimizers._parts.schedule.ladder import brackets
from hyperrace.study import Job
from hyperrace.testing.conformance import CHECKS
from hyperrace.testing.history import drive
from hyperrace.testing.objectives import curve_value, learning_curve

SEED = 7
SPACE = hr.Space(x=hr.Float(0.0, 1.0), y=hr.Float(1e-3, 1.0, log=True), epochs=hr.Fidelity(1, 27))
LADDER = brackets(hr.Fidelity(1, 27), 3)  # 27/9/3/1 at 1,3,9,27; 12/4/1; 6/2; 4
S = len(LADDER)
FIRST_ROUND = sum(sum(b.sizes) for b in LADDER)  # 69 jobs
SIZES = {1.0: 27, 3.0: 12, 9.0: 6, 27.0: 4}


def _study(optimizer: Any = "dehb", space: hr.Space = SPACE, **kw: Any) -> hr.Study:
    return hr.Study("dehb", space, storage="memory://", seed=SEED, optimizer=optimizer, **kw)


@pytest.mark.parametrize("check", sorted(CHECKS))
def test_conformance_suite(check: str) -> None:
    CHECKS[check]("dehb")


def test_params_defaults_and_json() -> None:
    params = DEHB().get_params()
    assert params == {"eta": 3, "mutation_factor": 0.5, "crossover_prob": 0.5, "boundary": "random"}
    clip = DEHB(eta=2, mutation_factor=1, crossover_prob=0, boundary="clip").get_params()
    assert make_optimizer("dehb", json.loads(json.dumps(clip))).get_params() == clip
    assert clip["mutation_factor"] == 1.0 and isinstance(clip["mutation_factor"], float)
    with pytest.raises(TypeError):
        DEHB(3)  # type: ignore[call-arg]


@pytest.mark.parametrize(
    ("param", "value", "match"),
    [
        ("eta", 1, r"eta=1 must be an integer >= 2"),
        ("mutation_factor", 0, r"mutation_factor=0 must be a number in \(0, 2\]"),
        ("mutation_factor", 2.5, r"mutation_factor=2.5"),
        ("mutation_factor", float("nan"), r"mutation_factor=nan"),
        ("mutation_factor", True, r"mutation_factor=True"),
        ("crossover_prob", -0.1, r"crossover_prob=-0.1 must be a number in \[0, 1\]"),
        ("boundary", "reflect", r"boundary='reflect' must be one of 'random', 'clip'"),
    ],
)
def test_bad_params_are_named(param: str, value: Any, match: str) -> None:
    with pytest.raises(hr.ConfigurationError, match=match):
        DEHB(**{param: value})


def _jobs(optimizer: Any, n: int) -> list[tuple[Any, ...]]:
    jobs: list[Job] = []
    drive(_study(optimizer), n, curve_value, on_job=lambda s, j: jobs.append(j))
    return [(j.trial_id, j.kind, dict(j.config), j.start, j.stop, j.info) for j in jobs]


def test_the_first_round_is_hyperbands() -> None:
    dehb = _jobs("dehb", FIRST_ROUND + 1)
    hyperband = _jobs("hyperband", FIRST_ROUND + 1)
    assert dehb[:FIRST_ROUND] == hyperband[:FIRST_ROUND]  # configs, promotions, budgets, info
    kind, stop, info = dehb[FIRST_ROUND][1], dehb[FIRST_ROUND][4], dehb[FIRST_ROUND][5]
    assert (kind, stop) == ("start", 1.0) and info["iteration"] == S and "slot" in info
    assert dehb[FIRST_ROUND][2] != hyperband[FIRST_ROUND][2]  # bred, not drawn from the prior


def test_subpopulations_after_the_first_round() -> None:
    assert dehb_subpopulation_sizes(LADDER) == SIZES
    study = _study()
    drive(study, FIRST_ROUND, curve_value)
    h = study.history()
    pops, later = populations(h, LADDER)
    assert {b: len(p) for b, p in pops.items()} == SIZES
    assert all(later_b == [] for later_b in later.values())
    assert [ind[0].number for ind in pops[1.0] if ind] == list(range(27))  # one evaluation each
    for b, pop in pops.items():
        for ind in pop:
            assert ind is not None
            trial, loss = ind
            assert loss == trial.value_at(b) == curve_value(trial.config, b)


def _expected_child(h: hr.History, info: Mapping[str, Any]) -> tuple[dict[str, Any], int]:
    """Recompute a later offspring from the recorded decisions and curve_value (one worker)."""
    trials = {t.trial_id: t for t in h.trials}
    streams: dict[float, list[tuple[int, int, bool]]] = defaultdict(list)  # (number, id, later)
    for d in h.decisions:
        streams[d.stop].append((trials[d.trial_id].number, d.trial_id, d.info["iteration"] >= S))
    pops: dict[float, list[tuple[float, int, int] | None]] = {}
    for b, size in SIZES.items():
        pops[b] = [None] * size
        counts = {False: 0, True: 0}
        for number, tid, is_later in sorted(streams[b]):
            slot = counts[is_later] % size
            counts[is_later] += 1
            loss, occupant = curve_value(trials[tid].config, b), pops[b][slot]
            if occupant is None or loss <= occupant[0]:
                pops[b][slot] = (loss, number, tid)
    bracket = LADDER[info["iteration"] % S]
    budget = bracket.budgets[info["rung"]]
    m = sum(1 for _, _, is_later in streams[budget] if is_later)
    occupant = pops[budget][m % SIZES[budget]]
    assert occupant is not None and info["slot"] == m % SIZES[budget]

    def unit(entries: list[tuple[float, int, int]]) -> np.ndarray[Any, Any]:
        return SPACE.to_unit_many(trials[tid].config for _, _, tid in entries)

    everyone = unit([e for pop in pops.values() for e in pop if e is not None])
    if info["rung"] == 0:
        pool = everyone
    else:
        lower = sorted(e for e in pops[bracket.budgets[info["rung"] - 1]] if e is not None)
        pool = unit(lower[: bracket.sizes[info["rung"]]])
    parent = SPACE.to_unit(trials[occupant[2]].config)
    rng = decision_rng(SEED, h.n_decisions)
    child = rand1_bin(parent, pool, rng, F=0.5, CR=0.5, extra_source=everyone, mode="random")
    return SPACE.from_unit(child), occupant[2]


def test_later_trials_are_de_offspring_trained_from_scratch() -> None:
    study = _study()
    drive(study, FIRST_ROUND, curve_value)
    checked: dict[int, int] = defaultdict(int)
    for _ in range(2 * FIRST_ROUND):  # a later round has as many trials as a first has jobs
        h = study.history(decisions=True)
        job = study.ask()
        assert isinstance(job, Job) and job.kind == "start" and job.start == 0
        bracket = LADDER[job.info["iteration"] % S]
        assert job.stop == bracket.budgets[job.info["rung"]]
        config, parent = _expected_child(h, job.info)
        assert dict(job.config) == config
        assert job.info["parent"] == parent
        checked[job.info["rung"]] += 1
        for f in range(1, int(job.stop) + 1):
            study.report(job.trial_id, fidelity=f, value=curve_value(dict(job.config), f))
        study.tell(job)
    assert checked == {0: 2 * 49, 1: 2 * 15, 2: 2 * 4, 3: 2 * 1}
    decisions = study.history(decisions=True).decisions
    for it in range(S, 3 * S):  # every later iteration has the bracket's rung sizes and budgets
        bracket = LADDER[it % S]
        records = [d for d in decisions if d.info.get("iteration") == it]
        by_rung = [
            [d.stop for d in records if d.info["rung"] == k] for k in range(len(bracket.sizes))
        ]
        assert by_rung == [[b] * n for n, b in zip(bracket.sizes, bracket.budgets, strict=True)]
    assert all(t.work == t.fidelity for t in study.trials)


def _interleave(study: hr.Study, workers: int, asks: int, seed: int) -> list[tuple[Job, set[int]]]:
    """Keep ``workers`` jobs out, finish a random one at a time; return each job with the trials
    that had been told when it was asked."""
    rng = np.random.default_rng(seed)
    out: list[Job] = []
    told: set[int] = set()
    asked: list[tuple[Job, set[int]]] = []
    for _ in range(asks):
        while len(out) < workers:
            job = study.ask()
            if isinstance(job, Wait):
                assert out, "a wait with no job running"
                break
            assert isinstance(job, Job)
            asked.append((job, set(told)))
            out.append(job)
        job = out.pop(int(rng.integers(len(out))))
        for f in range(int(job.start) + 1, int(job.stop) + 1):
            study.report(job.trial_id, fidelity=f, value=curve_value(dict(job.config), f))
        study.tell(job)
        told.add(job.trial_id)
    return asked


@pytest.mark.parametrize(("workers", "seed"), [(3, 0), (7, 1), (20, 2)])
def test_interleaved_workers_keep_the_membership_exact(workers: int, seed: int) -> None:
    study = _study()
    asked = _interleave(study, workers, 400, seed)
    members: dict[tuple[int, int], list[int]] = defaultdict(list)
    per_budget: dict[float, list[int]] = defaultdict(list)
    for job, told in asked:
        if job.info["iteration"] < S:
            continue
        assert job.kind == "start" and job.start == 0  # later trials are never resumed
        it, rung = job.info["iteration"], job.info["rung"]
        if rung:  # synchronous: the rung below was complete when this one was filled
            below = members[(it, rung - 1)]
            assert len(below) == LADDER[it % S].sizes[rung - 1] and set(below) <= told
        members[(it, rung)].append(job.trial_id)
        per_budget[job.stop].append(it)
    for b, its in per_budget.items():  # per budget, iterations fill their rungs in order, in full
        expected = [
            it
            for it in range(S, S + len(its) * S)
            for n, budget in zip(LADDER[it % S].sizes, LADDER[it % S].budgets, strict=True)
            if budget == b
            for _ in range(n)
        ]
        assert its == expected[: len(its)]
    complete = [
        it
        for it in range(S, 4 * S)
        if all(len(members[(it, k)]) == n for k, n in enumerate(LADDER[it % S].sizes))
    ]
    assert len(complete) >= S


def test_without_a_fidelity_it_is_plain_de_at_full_fidelity() -> None:
    space = hr.Space(x=hr.Float(0.0, 1.0), n=hr.Int(1, 8), c=hr.Categorical(["a", "b", "c"]))
    study = _study(space=space)
    for i in range(POPULATION + 30):
        h = study.history()
        job = study.ask()
        assert isinstance(job, Job) and job.kind == "start" and job.stop == 1.0
        rng = decision_rng(SEED, i)
        if i < POPULATION:
            assert dict(job.config) == space.sample(rng) and job.info == {"slot": i}
        else:  # bred from slot i mod POPULATION; the population replayed by hand
            pop = list(h.trials[:POPULATION])
            for k, t in enumerate(h.trials[POPULATION:], POPULATION):
                if curve_value(t.config, 1) <= curve_value(pop[k % POPULATION].config, 1):
                    pop[k % POPULATION] = t
            parent = pop[i % POPULATION]
            assert job.info == {"slot": i % POPULATION, "parent": parent.trial_id}
            pool = space.to_unit_many(t.config for t in pop)
            child = rand1_bin(space.to_unit(parent.config), pool, rng, F=0.5, CR=0.5)
            assert dict(job.config) == space.from_unit(child)
        study.report(job.trial_id, fidelity=1, value=curve_value(dict(job.config), 1))
        study.tell(job)


def test_epoch_budget_accounting_with_checkpoints(tmp_path: Path) -> None:
    space = hr.Space(
        x=hr.Float(0.0, 1.0), y=hr.Float(1e-3, 1.0, log=True), epochs=hr.Fidelity(1, 9)
    )
    ladder = brackets(hr.Fidelity(1, 9), 3)  # 9/3/1 at 1, 3, 9; 5/1 at 3, 9; 3 at 9: 69 epochs
    study = _study(space=space, artifacts=tmp_path)
    study.optimize(learning_curve, budget=hr.Budget(epochs=300), progress=False)
    h = study.history(decisions=True)
    assert h.work == 300
    assert not h.failed  # learning_curve raises when a resumed run misses its checkpoint
    assert all(t.work == t.fidelity for t in h.trials)  # resumed from checkpoints, no retraining
    resumes = [d for d in h.decisions if d.kind == "resume"]
    assert len(resumes) == 3 + 1 + 1 and all(d.info["iteration"] < 3 for d in resumes)
    later = [d for d in h.decisions if d.info["iteration"] >= 3]
    assert later and all(d.kind == "start" and d.start == 0 for d in later)
    assert all(
        d.stop == ladder[d.info["iteration"] % 3].budgets[d.info["rung"]] for d in later[:-1]
    )
    assert max(d.info["iteration"] for d in later) >= 3 + 3 * 2  # (300 - 69) / 78 rounds and more


def test_a_clipped_later_trial_does_not_derail_the_schedule(tmp_path: Path) -> None:
    space = hr.Space(x=hr.Float(0.0, 1.0), epochs=hr.Fidelity(1, 9))
    study = _study(space=space, artifacts=tmp_path)
    study.optimize(learning_curve, budget=hr.Budget(epochs=69 + 9 + 3 + 2), progress=False)
    clipped = study.trials[-1]
    assert clipped.target == 2 and clipped.fidelity == 2  # bred for rung 3, granted 2 epochs
    study.optimize(learning_curve, budget=hr.Budget(epochs=400), progress=False)
    h = study.history(decisions=True)
    assert h.work == 400 and not h.failed
    assert h.trial(clipped.trial_id).fidelity == 2  # counted at its rung, never resumed


def test_seconds_fidelity_rungs() -> None:
    space = hr.Space(x=hr.Float(0.0, 1.0), t=hr.Fidelity(0.5, 4.5, unit="seconds"))
    study = _study(space=space)
    jobs: list[Job] = []
    assert drive(study, 120, curve_value, on_job=lambda s, j: jobs.append(j)) == 120
    later = [j for j in jobs if j.info["iteration"] >= 3]
    assert later and {j.stop for j in later} == {0.5, 1.5, 4.5}
    assert all(j.kind == "start" and "parent" in j.info for j in later)
    assert sum(1 for j in jobs if j.kind == "resume") == 3 + 1 + 1


def test_a_single_bracket_still_explores() -> None:
    """1..2 epochs with eta=3 has one bracket of one configuration: the population is a single
    trial, so the mutation pool is topped up with uniform vectors instead of copies of it."""
    space = hr.Space(x=hr.Float(0.0, 1.0), y=hr.Float(0.0, 1.0), epochs=hr.Fidelity(1, 2))
    study = _study(space=space)
    jobs: list[Job] = []
    assert drive(study, 12, curve_value, on_job=lambda s, j: jobs.append(j)) == 12
    assert [j.stop for j in jobs] == [2.0] * 12 and all(j.kind == "start" for j in jobs)
    assert len({tuple(j.config.values()) for j in jobs}) == 12
