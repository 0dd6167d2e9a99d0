"""The optimizer conformance suite: checks every registered optimizer must pass.

``tests/optimizers/test_conformance.py`` enrols every name in the registry automatically::

    @pytest.mark.parametrize(("name", "check"), all_checks())
    def test_conformance(name, check):
        check(name)

An optimizer that cannot meet a check lists it in :data:`EXEMPT` with the reason.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

from hyperrace.exceptions import ConfigurationError
from hyperrace.optimizers import Done, Resume, Start, Wait, available, make_optimizer, spec_of
from hyperrace.space import Categorical, Fidelity, Float, Int, Range, Space
from hyperrace.storage import InMemoryStorage
from hyperrace.study import Budget, Job, Study
from hyperrace.testing.history import drive, in_columns
from hyperrace.testing.objectives import curve_value, learning_curve

__all__ = ["CHECKS", "EXEMPT", "all_checks", "spaces"]

Check = Callable[[str], None]

#: (optimizer name, check name) -> why the optimizer is exempt from that check.
EXEMPT: dict[tuple[str, str], str] = {}


def spaces() -> dict[str, Space]:
    """Spaces every optimizer must handle: with and without a fidelity, mixed types, and
    conditional hyperparameters (on a categorical and on a numeric parent, nested)."""
    return {
        "conditional": Space(
            kind=Categorical(["plain", "scaled", "tuned"]),
            x=Float(0.0, 1.0),
            y=Float(1e-3, 1.0, log=True).when(kind=["scaled", "tuned"]),
            c=Categorical(["a", "b"]).when(kind="tuned", y=Range(above=0.01)),
            n=Int(1, 8),
            k=Int(2, 64, log=True).when(n=Range(above=4)),
            epochs=Fidelity(1, 9),
        ),
        "fidelity": Space(
            x=Float(0.0, 1.0),
            y=Float(1e-3, 1.0, log=True),
            n=Int(1, 8),
            c=Categorical(["a", "b", "c"]),
            epochs=Fidelity(1, 9),
        ),
        "no-fidelity": Space(
            x=Float(0.0, 1.0), k=Int(2, 64, log=True), c=Categorical([True, False])
        ),
    }


def _study(name: str, space: Space, seed: int = 3) -> Study:
    return Study(f"conformance-{name}", space, storage=InMemoryStorage(), seed=seed, optimizer=name)


def _check_decision(study: Study, job: Job) -> None:
    space = study.space
    assert space.validate(job.config) == dict(job.config), "config does not validate"
    high = float(space.fidelity.high) if space.fidelity else 1.0
    low = float(space.fidelity.low) if space.fidelity else 1.0
    assert low <= job.stop <= high, f"stop {job.stop} outside [{low}, {high}]"
    assert job.stop > job.start, f"stop {job.stop} not above start {job.start}"


def check_valid_decisions(name: str) -> None:
    """Every job is a valid config with a stop in the fidelity range, for 40 jobs."""
    for space in spaces().values():
        study = _study(name, space)
        ran = drive(study, 40, curve_value, on_job=_check_decision)
        assert ran > 0, "no job on an empty history"


def check_failed_history(name: str) -> None:
    """A history whose every trial failed (raised or NaN) still gets valid decisions."""
    for space in spaces().values():
        study = _study(name, space)
        drive(study, 10, curve_value, on_job=_check_decision, fail=lambda c: True)
        decision = study.optimizer.decide(study.space, study.history(), _rng(0))
        assert isinstance(decision, Start | Resume | Wait | Done)
        study2 = _study(name, space)

        def nan_value(config: dict[str, Any], f: float) -> float:
            return float("nan")

        drive(study2, 10, nan_value, on_job=_check_decision)
        assert all(t.status.value == "failed" for t in study2.trials)


def _rng(i: int) -> Any:
    from hyperrace._rng import decision_rng

    return decision_rng(11, i)


def check_fresh_instance_agrees(name: str) -> None:
    """A fresh instance rebuilt from get_params makes the long-lived one's decision, every step."""
    for space in spaces().values():
        study = _study(name, space)
        for _ in range(30):
            history = study.history()
            live = study.optimizer.decide(study.space, history, _rng(history.n_decisions))
            fresh = make_optimizer(name, json.loads(json.dumps(study.optimizer.get_params())))
            again = fresh.decide(study.space, history, _rng(history.n_decisions))
            assert live == again, f"fresh instance decided {again}, long-lived {live}"
            if drive(study, 1, curve_value) == 0:
                break


def check_columns_agree(name: str) -> None:
    """The same history with its curves in columns (as PostgreSQL reads a whole study) gets the
    same decision, every step."""
    study = _study(name, spaces()["fidelity"])
    for _ in range(20):
        history = study.history()
        rng = _rng(history.n_decisions)
        plain = make_optimizer(name, study.optimizer.get_params()).decide(study.space, history, rng)
        held = in_columns(history)
        rng = _rng(history.n_decisions)
        again = make_optimizer(name, study.optimizer.get_params()).decide(study.space, held, rng)
        assert plain == again, f"on columns decided {again}, on records {plain}"
        if drive(study, 1, curve_value) == 0:
            break


def check_params_round_trip(name: str) -> None:
    """get_params is JSON and rebuilds an optimizer with the same parameters; unknown ones fail."""
    opt = make_optimizer(name)
    params = opt.get_params()
    assert json.loads(json.dumps(params)) == params, "get_params is not JSON"
    assert make_optimizer(name, params).get_params() == params
    assert spec_of(opt) == {"name": name, "params": params}
    try:
        make_optimizer(name, {"surely_not_a_parameter": 1})
    except ConfigurationError as exc:
        message = str(exc)
    else:
        raise AssertionError("an unknown parameter was accepted")
    assert "surely_not_a_parameter" in message


def check_same_seed_same_decisions(name: str) -> None:
    """Two studies with the same seed make the same decisions; another seed differs."""

    def run(seed: int) -> list[Any]:
        study = _study(name, spaces()["fidelity"], seed=seed)
        jobs: list[Any] = []
        drive(study, 15, curve_value, on_job=lambda s, j: jobs.append((dict(j.config), j.stop)))
        return jobs

    assert run(5) == run(5)


def check_conditional_space(name: str) -> None:
    """On a conditional space, every config leaves out exactly what is inactive (it validates),
    and every conditional hyperparameter is seen both active and inactive among the first 30
    configurations started (within at most 300 jobs: a race spends most of its jobs resuming
    configurations it started already, which say nothing new of the space)."""
    study = _study(name, spaces()["conditional"])
    started: list[dict[str, Any]] = []

    def on_job(s: Study, job: Job) -> None:
        _check_decision(s, job)
        if job.kind == "start":
            started.append(dict(job.config))

    for _ in range(300):
        if len(started) >= 30 or not drive(study, 1, curve_value, on_job=on_job):
            break
    assert started, "no configuration was started"
    for dim in study.space.conditions:
        active = sum(dim in config for config in started)
        assert 0 < active < len(started), (
            f"{dim!r} active in {active} of the {len(started)} configurations started"
        )


def check_ends_within_budget(name: str) -> None:
    """optimize with an epoch budget trains at most that much, and uses most of it."""
    study = _study(name, spaces()["fidelity"])
    study.optimize(learning_curve, budget=Budget(epochs=60), progress=False)
    work = study.history().work
    assert work <= 60, f"trained {work} epochs on a budget of 60"
    done_early = isinstance(study.optimizer.decide(study.space, study.history(), _rng(999)), Done)
    assert work == 60 or done_early, f"stopped at {work} of 60 epochs without being done"


CHECKS: dict[str, Check] = {
    f.__name__.removeprefix("check_"): f
    for f in (
        check_valid_decisions,
        check_failed_history,
        check_fresh_instance_agrees,
        check_columns_agree,
        check_params_round_trip,
        check_same_seed_same_decisions,
        check_conditional_space,
        check_ends_within_budget,
    )
}


def all_checks() -> Iterator[tuple[str, str]]:
    """(optimizer name, check name) for every registered optimizer and check, less exemptions."""
    for name in available():
        for check in CHECKS:
            if (name, check) not in EXEMPT:
                yield name, check
