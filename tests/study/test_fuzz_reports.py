"""Hypothesis: a reported value of any Python type, through ``Study.report`` / ``tell`` and
``trial.report``, on every backend this process can hold. A number is stored as a float (-0.0 as
0.0); anything else (NaN, inf, an int too large for a float, text, containers, objects whose
``float()`` raises) fails its trial with a reason that names the value. Nothing raises, and the
reports made before it are kept."""

from __future__ import annotations

import decimal
import fractions
import math
import numbers
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import hyperrace as hr
from hyperrace.trial import StopReason, as_value, check_value, short_repr

FUZZ = settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
SPACE = hr.Space(x=hr.Float(0.0, 1.0), epochs=hr.Fidelity(1, 3))


class FailingFloat:
    """An object whose ``float()`` raises something other than TypeError or ValueError."""

    def __float__(self) -> float:
        raise RuntimeError("float() of this object fails")

    def __repr__(self) -> str:
        return "FailingFloat()"


class NotANumber:
    """An object whose ``float()`` gives NaN."""

    def __float__(self) -> float:
        return math.nan


class BadRepr:
    """An object whose ``repr()`` raises too: the refusal must still be made."""

    def __repr__(self) -> str:
        raise RuntimeError("no repr")


def values() -> st.SearchStrategy[Any]:
    """Anything a user's code may hand to ``report``."""
    scalars = st.one_of(
        st.floats(),  # NaN, inf, -0.0, subnormal, huge
        st.sampled_from([-0.0, 1e308, -1e308, 5e-324, math.inf, -math.inf, math.nan]),
        st.integers(),
        st.integers(min_value=10**300, max_value=10**400),
        st.integers(min_value=-(10**400), max_value=-(10**300)),
        st.booleans(),
        st.none(),
        st.text(max_size=30),
        st.from_regex(r"\s*-?[0-9]{1,5}(\.[0-9]{0,4})?(e-?[0-9]{1,3})?\s*", fullmatch=True),
        st.sampled_from(["nan", "inf", "-inf", "1e999", "NaN", "  2.5  ", "1_000"]),
        st.binary(max_size=10),
        st.complex_numbers(),
        st.decimals(),
        st.fractions(),
        st.floats(width=32).map(np.float32),
        st.floats().map(np.float64),
        st.integers(-(2**63), 2**63 - 1).map(np.int64),
        st.sampled_from([FailingFloat(), NotANumber(), BadRepr(), object()]),
    )
    return st.one_of(
        scalars,
        st.lists(scalars, max_size=3),
        st.dictionaries(st.text(max_size=3), scalars, max_size=2),
        st.floats().map(lambda v: np.array([v])),
        st.tuples(scalars),
    )


def expected(value: Any) -> tuple[bool, float | None]:
    """Whether ``value`` is accepted, and the float it is stored as."""
    problem = check_value(value)
    return (problem is None, None if problem else as_value(value))


def check_refusal(record: hr.TrialRecord, value: Any) -> None:
    assert record.status is hr.TrialStatus.FAILED
    assert record.reason is StopReason.INVALID_VALUE
    named = record.message
    assert "at fidelity 2" in named, named
    problem = check_value(value)
    assert problem is not None and problem in named, (problem, named)
    assert "NaN" in named or "inf" in named or short_repr(value) in named, named


def test_check_value_names_the_value_and_never_raises() -> None:
    assert (
        check_value(10**400) == f"the reported value {short_repr(10**400)} is too large for a float"
    )
    assert "FailingFloat()" in str(check_value(FailingFloat()))
    assert "RuntimeError" in str(check_value(FailingFloat()))
    assert check_value(NotANumber()) == "the reported value is NaN"
    assert "whose repr() raised RuntimeError" in str(check_value(BadRepr()))
    long = short_repr("x" * 10_000)
    assert len(long) < 100 and "(10002 characters)" in long
    assert as_value(-0.0) == 0.0 and math.copysign(1.0, as_value(-0.0)) == 1.0
    assert type(as_value(np.float32(1.5))) is float and as_value(decimal.Decimal("0.5")) == 0.5
    assert as_value(fractions.Fraction(1, 4)) == 0.25


@pytest.fixture(scope="module", params=["memory", "sqlite"])
def study(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> hr.Study:
    if request.param == "memory":
        url = "memory://"
    else:
        url = f"sqlite:///{tmp_path_factory.mktemp('fuzz') / 'reports.db'}"
    return hr.Study("reports", SPACE, storage=url, optimizer="random", seed=0)


@FUZZ
@given(value=values())
def test_study_report_takes_any_value(study: hr.Study, value: Any) -> None:
    job = study.ask()
    assert job.start == 0  # a new trial each time (random never resumes)
    assert study.report(job.trial_id, 0.25, fidelity=1) is True
    accepted, stored = expected(value)
    study.report(job.trial_id, value, fidelity=2)  # never raises, whatever the value
    record = study.tell(job)
    curve = [(o.fidelity, o.value) for o in record.curve]
    if accepted:
        assert record.status is hr.TrialStatus.PAUSED, record
        assert curve == [(1.0, 0.25), (2.0, stored)]
        assert all(type(v) is float for _, v in curve)
        assert math.copysign(1.0, curve[1][1]) == 1.0 or curve[1][1] != 0.0, "-0.0 is stored"
    else:
        check_refusal(record, value)
        assert curve == [(1.0, 0.25)]  # what came before is kept
    assert study.storage.trial(job.trial_id) == record


@FUZZ
@given(value=values())
def test_trial_report_takes_any_value(value: Any) -> None:
    study = hr.Study("reports", SPACE, storage="memory://", optimizer="random", seed=0)
    raised: list[BaseException] = []

    def objective(trial: hr.Trial) -> None:
        for epoch in trial.epochs():
            try:
                trial.report(0.25 if epoch == 1 else value, checkpoint={"epoch": epoch})
            except Exception as exc:  # InvalidValue unwinds the objective, as it should
                raised.append(exc)
                raise

    study.optimize(objective, budget=hr.Budget(trials=1), progress=False)
    (record,) = study.trials
    accepted, stored = expected(value)
    if accepted:
        assert not raised
        assert record.status is hr.TrialStatus.COMPLETED
        assert [o.value for o in record.curve] == [0.25, stored, stored]
        assert study.checkpoint(record.trial_id).load() == {"epoch": 3}
    else:
        assert [type(e).__name__ for e in raised] == ["InvalidValue"]
        check_refusal(record, value)
        assert [o.value for o in record.curve] == [0.25]
        assert study.checkpoint(record.trial_id).load() == {"epoch": 1}


def finite_non_negative(x: Any) -> bool:
    if isinstance(x, bool | np.bool_) or not isinstance(x, numbers.Real):
        return False
    try:
        return math.isfinite(x) and x >= 0
    except OverflowError:
        return False


NUMBERS_AND_MORE = st.one_of(
    st.floats(),
    st.integers(min_value=-(10**400), max_value=10**400),
    st.integers(1, 3).map(np.int64),
    st.floats(0.5, 4).map(np.float32),
    st.sampled_from(["1", "2.0", b"1"]),
    st.text(max_size=5),
    st.none(),
    st.booleans(),
)


@FUZZ
@given(seconds=NUMBERS_AND_MORE, fidelity=NUMBERS_AND_MORE.filter(lambda f: f is not None))
def test_study_report_checks_its_seconds_and_fidelity(seconds: Any, fidelity: Any) -> None:
    study = hr.Study("seconds", SPACE, storage="memory://", optimizer="random", seed=0)
    job = study.ask()
    if not (finite_non_negative(fidelity) and float(fidelity) in (1.0, 2.0, 3.0)):
        with pytest.raises(hr.ConfigurationError, match="fidelity=") as info:
            study.report(job.trial_id, 0.5, fidelity=fidelity)
        assert short_repr(fidelity) in str(info.value)
    elif finite_non_negative(seconds):
        study.report(job.trial_id, 0.5, fidelity=fidelity, wall_seconds=seconds)
        assert study.storage.trial(job.trial_id).curve[0].wall_seconds == float(seconds)
        return
    else:
        with pytest.raises(hr.ConfigurationError, match="wall_seconds=") as info:
            study.report(job.trial_id, 0.5, fidelity=fidelity, wall_seconds=seconds)
        assert short_repr(seconds) in str(info.value)
    assert study.storage.trial(job.trial_id).curve == ()  # a refused report writes nothing


@FUZZ
@given(fidelity=NUMBERS_AND_MORE.filter(lambda f: f is not None))  # None: the default
def test_trial_report_checks_its_fidelity(fidelity: Any) -> None:
    study = hr.Study("fidelity", SPACE, storage="memory://", optimizer="random", seed=0)
    errors: list[str] = []

    def objective(trial: hr.Trial) -> None:
        try:
            trial.report(0.5, fidelity=fidelity)
        except hr.TrialStateError as exc:
            errors.append(str(exc))
            raise

    study.optimize(objective, budget=hr.Budget(trials=1), progress=False)
    (record,) = study.trials
    if finite_non_negative(fidelity) and float(fidelity) > 0:
        assert not errors and record.curve[0].fidelity == float(fidelity)
    else:
        assert len(errors) == 1 and f"fidelity={short_repr(fidelity)}" in errors[0]
        assert record.status is hr.TrialStatus.FAILED and record.curve == ()


def test_sqlite_stores_floats_without_negative_zero(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 's.db'}"
    study = hr.Study("s", SPACE, storage=url, optimizer="random", seed=0)
    job = study.ask()
    study.report(job.trial_id, -0.0, fidelity=1)
    study.report(job.trial_id, np.float32(0.5), fidelity=2)
    reopened = hr.Study("s", storage=url)
    values = [o.value for o in reopened.storage.trial(job.trial_id).curve]
    assert values == [0.0, 0.5] and [math.copysign(1.0, v) for v in values] == [1.0, 1.0]
