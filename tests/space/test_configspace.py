"""Space.from_configspace: ConfigSpace spaces with conditions, log scales, categoricals, ints."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from hyperrace.exceptions import SpaceError
from hyperrace.space import Categorical, Fidelity, Float, Int, Range, Space

CS = pytest.importorskip("ConfigSpace")


def _configspace() -> Any:
    cs = CS.ConfigurationSpace(seed=1)
    opt = CS.CategoricalHyperparameter("optimizer", ["adam", "sgd", "rmsprop"])
    lr = CS.UniformFloatHyperparameter("lr", 1e-5, 1e-1, log=True)
    momentum = CS.UniformFloatHyperparameter("momentum", 0.0, 0.99)
    nesterov = CS.CategoricalHyperparameter("nesterov", [True, False])
    layers = CS.UniformIntegerHyperparameter("layers", 1, 4)
    width2 = CS.UniformIntegerHyperparameter("width2", 8, 512, log=True)
    act = CS.OrdinalHyperparameter("act", ["relu", "gelu"])
    seed = CS.Constant("seed", 7)
    decay = CS.UniformFloatHyperparameter("decay", 0.0, 1.0)
    cs.add([width2, nesterov, momentum, opt, lr, layers, act, seed, decay])
    cs.add(
        [
            CS.InCondition(momentum, opt, ["sgd", "rmsprop"]),
            CS.AndConjunction(
                CS.EqualsCondition(nesterov, opt, "sgd"),
                CS.GreaterThanCondition(nesterov, momentum, 0.5),
            ),
            CS.GreaterThanCondition(width2, layers, 1),
            CS.AndConjunction(
                CS.NotEqualsCondition(decay, opt, "adam"), CS.LessThanCondition(decay, lr, 0.01)
            ),
        ]
    )
    return cs


def test_a_configspace_with_conditions_translates() -> None:
    space = Space.from_configspace(_configspace(), fidelity=Fidelity(1, 20))
    expected = Space(
        act=Categorical(["relu", "gelu"]),
        layers=Int(1, 4),
        lr=Float(1e-5, 1e-1, log=True),
        optimizer=Categorical(["adam", "sgd", "rmsprop"]),
        seed=Categorical([7]),
        width2=Int(8, 512, log=True).when(layers=Range(above=1)),
        decay=Float(0.0, 1.0).when(optimizer=["sgd", "rmsprop"], lr=Range(below=0.01)),
        momentum=Float(0.0, 0.99).when(optimizer=["sgd", "rmsprop"]),
        nesterov=Categorical([True, False]).when(optimizer="sgd", momentum=Range(above=0.5)),
        epochs=Fidelity(1, 20),
    )
    assert space.conditions == expected.conditions
    assert {n: space[n] for n in space.names} == {n: expected[n] for n in expected.names}
    for name, cond in space.conditions.items():  # parents first
        assert all(space.names.index(p) < space.names.index(name) for p in cond.parents)
    assert space.fidelity == Fidelity(1, 20)


def test_activity_agrees_with_configspace() -> None:
    cs = _configspace()
    space = Space.from_configspace(cs)
    for configuration in cs.sample_configuration(300):
        values = dict(configuration)
        config = space.validate(values)  # ConfigSpace leaves inactive ones out too
        assert set(config) == set(values)
    rng = np.random.default_rng(0)
    for _ in range(300):
        config = space.sample(rng)
        CS.Configuration(cs, values=config).check_valid_configuration()


@pytest.mark.parametrize(
    ("build", "match"),
    [
        (
            lambda cs: cs.add(CS.NormalFloatHyperparameter("x", mu=0, sigma=1, lower=-3, upper=3)),
            "'x' is a NormalFloatHyperparameter",
        ),
        (
            lambda cs: cs.add(CS.CategoricalHyperparameter("c", ["a", "b"], weights=[1, 3])),
            "weights",
        ),
        (
            lambda cs: (
                cs.add(
                    [
                        a := CS.CategoricalHyperparameter("a", ["p", "q"]),
                        b := CS.UniformFloatHyperparameter("b", 0, 1),
                    ]
                ),
                cs.add(
                    CS.OrConjunction(CS.EqualsCondition(b, a, "p"), CS.EqualsCondition(b, a, "q"))
                ),
            ),
            "OrConjunction",
        ),
        (
            lambda cs: (
                cs.add(a := CS.CategoricalHyperparameter("a", ["p", "q"])),
                cs.add(CS.ForbiddenEqualsClause(a, "q")),
            ),
            "forbidden clauses",
        ),
        (
            lambda cs: (
                cs.add(
                    [
                        a := CS.UniformFloatHyperparameter("a", 0, 1),
                        b := CS.UniformFloatHyperparameter("b", 0, 1),
                    ]
                ),
                cs.add(CS.NotEqualsCondition(b, a, 0.5)),
            ),
            "NotEqualsCondition",
        ),
    ],
)
def test_what_does_not_translate_is_named(build: Any, match: str) -> None:
    cs = CS.ConfigurationSpace()
    build(cs)
    with pytest.raises(SpaceError, match=match):
        Space.from_configspace(cs)


def test_not_a_configspace_and_a_taken_fidelity_name() -> None:
    with pytest.raises(SpaceError, match=r"expects a ConfigSpace\.ConfigurationSpace, got dict"):
        Space.from_configspace({"x": (0, 1)})
    cs = CS.ConfigurationSpace()
    cs.add(CS.UniformIntegerHyperparameter("epochs", 1, 5))
    with pytest.raises(SpaceError, match="fidelity_name='epochs' is a hyperparameter"):
        Space.from_configspace(cs, fidelity=Fidelity(1, 9))
