"""The declared-parameters helper: each constraint refuses what it should with a message that
names the value and a fix; declared classes report and print their parameters."""

from __future__ import annotations

import inspect
import math
from typing import Any

import pytest

from hyperrace._params import (
    Boolean,
    Constraint,
    Declared,
    Integer,
    ListOf,
    OneOf,
    Real,
    Unchecked,
    declare,
    validate,
)
from hyperrace.exceptions import ConfigurationError
from hyperrace.optimizers import available, optimizer_class
from hyperrace.optimizers._parts.surrogate.deep_kernel import DeepKernel
from hyperrace.optimizers._parts.surrogate.power_laws import PowerLaws


class Toy(Declared):
    parameters = declare(
        n=Integer(1),
        rate=Real(0.0, 1.0, low_open=True),
        mode=OneOf("fast", "slow", note="'fast' skips the checks"),
        fair=Boolean(),
        weights=ListOf(Real(0, 1)),
        limit=Integer(0, optional=True),
        extra=Unchecked(),
    )
    n: int
    rate: float
    mode: str
    fair: bool
    weights: tuple[float, ...]
    limit: int | None
    extra: Any

    def __init__(
        self,
        n: int = 4,
        rate: float = 0.5,
        mode: str = "fast",
        fair: bool = True,
        weights: tuple[float, ...] = (0.5, 1.0),
        limit: int | None = None,
        extra: Any = None,
    ) -> None:
        self._set(n=n, rate=rate, mode=mode, fair=fair, weights=weights, limit=limit, extra=extra)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"n": 0}, "Toy: n=0 must be an integer >= 1, e.g. n=4"),
        ({"n": 2.0}, "Toy: n=2.0 must be an integer >= 1, e.g. n=4"),
        ({"n": True}, "Toy: n=True must be an integer >= 1, e.g. n=4"),
        ({"n": "3"}, "Toy: n='3' must be an integer >= 1, e.g. n=4"),
        ({"rate": 0.0}, "Toy: rate=0.0 must be a number in (0.0, 1.0], e.g. rate=0.5"),
        ({"rate": math.nan}, "Toy: rate=nan must be a number in (0.0, 1.0], e.g. rate=0.5"),
        ({"rate": False}, "Toy: rate=False must be a number in (0.0, 1.0], e.g. rate=0.5"),
        (
            {"mode": "slowest"},
            "Toy: mode='slowest' must be one of 'fast', 'slow' ('fast' skips the checks), "
            "e.g. mode='fast'",
        ),
        ({"fair": 1}, "Toy: fair=1 must be True or False, e.g. fair=True"),
        (
            {"weights": []},
            "Toy: weights=[] must be a non-empty list, each item a number in [0, 1], "
            "e.g. weights=[0.5, 1.0]",
        ),
        (
            {"weights": "0.5"},
            "Toy: weights='0.5' must be a non-empty list, each item a number in [0, 1], "
            "e.g. weights=[0.5, 1.0]",
        ),
        (
            {"weights": [0.2, 1.5]},
            "Toy: weights[1]=1.5 must be a number in [0, 1], e.g. weights=[0.5, 1.0]",
        ),
        ({"limit": -1}, "Toy: limit=-1 must be an integer >= 0 or None, e.g. limit=0"),
    ],
)
def test_each_constraint_refuses_a_bad_value_by_name_with_a_fix(
    kwargs: dict[str, Any], message: str
) -> None:
    with pytest.raises(ConfigurationError) as info:
        Toy(**kwargs)
    assert str(info.value) == message


def test_descriptions_of_bounds() -> None:
    assert Integer().describe() == "an integer"
    assert Integer(high=9).describe() == "an integer <= 9"
    assert Integer(1, 9).describe() == "an integer in [1, 9]"
    assert Real().describe() == "a finite number"
    assert Real(0, low_open=True).describe() == "a finite number > 0"
    assert Real(high=1).describe() == "a finite number <= 1"
    assert Real(0, 1, high_open=True).describe() == "a number in [0, 1)"
    with pytest.raises(ConfigurationError, match=r"x=inf must be a finite number >= 0$"):
        validate("f", {"x": Real(0)}, {"x": math.inf})
    with pytest.raises(ConfigurationError, match=r"x=10 must be an integer in \[1, 9\], e.g. x=1"):
        validate("f", {"x": Integer(1, 9)}, {"x": 10})


def test_accepted_values_are_converted_and_reported_as_json() -> None:
    toy = Toy(n=3, rate=1, weights=[0, 1], limit=None, extra={"a": (1, 2)})
    assert (toy.rate, type(toy.rate)) == (1.0, float)
    assert toy.weights == (0.0, 1.0)
    params = toy.get_params()
    assert params == {
        "n": 3,
        "rate": 1.0,
        "mode": "fast",
        "fair": True,
        "weights": [0.0, 1.0],
        "limit": None,
        "extra": {"a": [1, 2]},
    }
    assert list(params) == list(Toy.parameters)  # in the declared order
    assert Toy(**params).get_params() == params


def test_repr_prints_the_parameters() -> None:
    assert repr(Toy(limit=2)) == (
        "Toy(n=4, rate=0.5, mode='fast', fair=True, weights=[0.5, 1.0], limit=2, extra=None)"
    )

    class Sub(Toy):
        """Declares nothing of its own: the repr names the subclass, with the inherited
        parameters."""

    assert repr(Sub()).startswith("Sub(n=4, ")


def test_values_must_match_the_declaration() -> None:
    with pytest.raises(TypeError, match="do not match the declared"):
        validate("f", {"x": Integer()}, {"y": 1})
    with pytest.raises(TypeError):
        Declared()._set(x=1)
    assert validate("f", {"x": Integer(0, optional=True)}, {"x": None}) == {"x": None}
    with pytest.raises(TypeError):
        Toy.parameters["n"] = Integer()  # type: ignore[index]  # read-only


def test_an_unfinished_constraint_says_so() -> None:
    with pytest.raises(TypeError, match="abstract"):
        Constraint()  # type: ignore[abstract]


DECLARED = [optimizer_class(name) for name in available()] + [PowerLaws, DeepKernel]


@pytest.mark.parametrize("cls", DECLARED, ids=lambda c: c.__name__)
def test_optimizers_declare_their_parameters_and_write_neither_get_params_nor_repr(
    cls: type,
) -> None:
    assert issubclass(cls, Declared)
    assert list(cls.parameters) == list(inspect.signature(cls).parameters)
    for method in ("get_params", "__repr__"):
        assert getattr(cls, method) is getattr(Declared, method), f"{cls.__name__}.{method}"
