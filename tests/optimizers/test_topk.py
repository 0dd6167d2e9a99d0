"""One-epoch top-K: stage sizes, the best k finished, Done, validation, accounting."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

import hyperrace as hr
from hyperrace.optimizers import Done, Start, Wait
from hyperrace.optimizers._topk import OneEpochTopK
from hyperrace.study import Job
from hyperrace.testing.conformance import CHECKS
from hyperrace.testing.history import drive
from hyperrace.testing.objectives import curve_value, learning_curve
from hyperrace.trial import TrialStatus

SPACE = hr.Space(x=hr.Float(0.0, 1.0), y=hr.Float(1e-3, 1.0, log=True), epochs=hr.Fidelity(1, 9))


def _study(space: hr.Space = SPACE, **kw: Any) -> hr.Study:
    opt = OneEpochTopK(n_configs=10, k=3)
    return hr.Study("topk", space, storage="memory://", seed=5, optimizer=opt, **kw)


def _run(study: hr.Study, job: Job, value: Any = curve_value) -> None:
    for f in range(int(job.start) + 1, int(job.stop) + 1):
        study.report(job.trial_id, fidelity=f, value=value(dict(job.config), f))
    study.tell(job)


def test_stages_promote_the_best_k_then_done() -> None:
    study = _study()
    jobs: list[Job] = []
    assert drive(study, 100, curve_value, on_job=lambda s, j: jobs.append(j)) == 13
    assert [(j.kind, j.start, j.stop) for j in jobs] == [("start", 0, 1)] * 10 + [
        ("resume", 1, 9)
    ] * 3
    ranking = sorted(study.trials, key=lambda t: curve_value(t.config, 1))
    assert [j.trial_id for j in jobs[10:]] == [t.trial_id for t in ranking[:3]]
    assert [j.info["rank"] for j in jobs[10:]] == [0, 1, 2]
    assert isinstance(study.ask(), Done)
    assert study.history().work == 10 * 1 + 3 * 8
    assert all(t.work == t.fidelity for t in study.trials)


def test_maximize_promotes_the_highest_values() -> None:
    study = _study(direction="maximize")
    jobs: list[Job] = []
    drive(study, 100, curve_value, on_job=lambda s, j: jobs.append(j))
    ranking = sorted(study.trials, key=lambda t: -curve_value(t.config, 1))
    assert [j.trial_id for j in jobs[10:]] == [t.trial_id for t in ranking[:3]]


def test_waits_while_the_first_stage_runs() -> None:
    study = _study()
    jobs = [study.ask() for _ in range(10)]
    assert all(isinstance(j, Job) and j.stop == 1 for j in jobs)
    assert isinstance(study.ask(), Wait)
    for j in jobs[:-1]:
        assert isinstance(j, Job)
        _run(study, j)
        assert isinstance(study.ask(), Wait)
    assert isinstance(jobs[-1], Job)
    _run(study, jobs[-1])
    first = study.ask()
    assert isinstance(first, Job) and first.kind == "resume" and first.stop == 9
    second = study.ask()  # promotions go on while the first runs
    assert isinstance(second, Job) and second.kind == "resume" and second.trial_id != first.trial_id


def test_failed_trials_are_never_promoted() -> None:
    study = _study()
    drive(study, 100, curve_value, fail=lambda c: c["x"] < 0.45)
    failed = {t.trial_id for t in study.trials if t.status is TrialStatus.FAILED}
    assert failed
    resumed = [d for d in study.history(decisions=True).decisions if d.kind == "resume"]
    good = [t for t in study.trials if t.trial_id not in failed]
    assert {d.trial_id for d in resumed} == {
        t.trial_id for t in sorted(good, key=lambda t: curve_value(t.config, 1))[:3]
    }
    assert isinstance(study.ask(), Done)


def test_all_failed_ends_without_promotions() -> None:
    study = _study()
    assert drive(study, 100, curve_value, fail=lambda c: True) == 10
    assert isinstance(study.ask(), Done)


def test_without_a_fidelity_it_is_random_search_then_done() -> None:
    study = _study(hr.Space(x=hr.Float(0.0, 1.0)))
    jobs: list[Job] = []
    assert drive(study, 100, curve_value, on_job=lambda s, j: jobs.append(j)) == 10
    assert all(j.kind == "start" and j.stop == 1 for j in jobs)
    assert isinstance(study.ask(), Done)


def test_first_decision_samples_with_the_given_generator() -> None:
    opt = OneEpochTopK()
    decision = opt.decide(SPACE, hr.History("minimize"), np.random.default_rng(3))
    assert decision == Start(SPACE.sample(np.random.default_rng(3)), 1.0, {"stage": 1})


def test_checkpointed_accounting_under_optimize(tmp_path: Path) -> None:
    study = _study(artifacts=tmp_path)
    study.optimize(learning_curve, progress=False)
    h = study.history()
    assert not h.failed  # learning_curve raises when a resumed run misses its checkpoint
    assert h.work == 10 + 3 * 8
    assert sorted(t.fidelity for t in h.trials) == [1] * 7 + [9] * 3
    assert all(t.work == t.fidelity for t in h.trials)


@pytest.mark.parametrize(
    ("params", "match"),
    [
        ({"n_configs": 0}, r"n_configs=0 must be an integer >= 1"),
        ({"n_configs": 2.5}, r"n_configs=2.5 must be an integer >= 1"),
        ({"n_configs": True}, r"n_configs=True must be an integer >= 1"),
        ({"k": 0}, r"k=0 must be an integer >= 1"),
        ({"k": "3"}, r"k='3' must be an integer >= 1"),
        ({"n_configs": 4, "k": 5}, r"k=5 must not exceed n_configs=4: use k <= 4"),
    ],
)
def test_bad_parameters_are_named(params: dict[str, Any], match: str) -> None:
    with pytest.raises(hr.ConfigurationError, match=match):
        OneEpochTopK(**params)


def test_params_round_trip() -> None:
    assert OneEpochTopK(n_configs=7, k=2).get_params() == {"n_configs": 7, "k": 2}
    assert OneEpochTopK().get_params() == {"n_configs": 50, "k": 3}


@pytest.mark.parametrize("check", sorted(CHECKS))
def test_conformance_suite(check: str) -> None:
    CHECKS[check]("one_epoch_top_k")
