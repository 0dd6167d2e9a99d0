"""Conditional hyperparameters: active only for some values of earlier ones."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import hyperrace as hr
from hyperrace.exceptions import SpaceError
from hyperrace.optimizers._parts.data.onehot import OneHot
from hyperrace.space import INACTIVE_UNIT, Categorical, Fidelity, Float, Int, Range, Space
from hyperrace.testing.strategies import configs, spaces


def _space() -> Space:
    return Space(
        optimizer=Categorical(["adam", "sgd", "rmsprop"]),
        momentum=Float(0.0, 0.99).when(optimizer=["sgd", "rmsprop"]),
        nesterov=Categorical([True, False]).when(optimizer="sgd", momentum=Range(above=0.5)),
        layers=Int(1, 4),
        width2=Int(8, 64, log=True).when(layers=Range(above=1)),
        epochs=Fidelity(1, 9),
    )


def test_sample_leaves_out_exactly_what_is_inactive() -> None:
    space = _space()
    rng = np.random.default_rng(0)
    samples = [space.sample(rng) for _ in range(2000)]
    for config in samples:
        assert space.validate(config) == config
        assert ("momentum" in config) == (config["optimizer"] != "adam")
        assert ("nesterov" in config) == (config["optimizer"] == "sgd" and config["momentum"] > 0.5)
        assert ("width2" in config) == (config["layers"] > 1)
    share = np.mean(["momentum" in c for c in samples])
    assert 0.6 < share < 0.73  # two of three optimizers
    assert any("nesterov" in c for c in samples)


def test_validate_names_inactive_and_missing_hyperparameters() -> None:
    space = _space()
    with pytest.raises(SpaceError, match=r"momentum is inactive \(optimizer='adam'.*leave"):
        space.validate({"optimizer": "adam", "momentum": 0.9, "layers": 1})
    with pytest.raises(SpaceError, match=r"missing \['momentum'\]"):
        space.validate({"optimizer": "sgd", "layers": 1})
    with pytest.raises(SpaceError, match=r"missing.*width2"):
        space.validate({"optimizer": "adam", "layers": 3})
    with pytest.raises(SpaceError, match="nesterov is inactive"):
        space.validate({"optimizer": "sgd", "momentum": 0.2, "nesterov": True, "layers": 1})
    with pytest.raises(SpaceError, match=r"momentum=2\.0 is out of range"):
        space.validate({"optimizer": "sgd", "momentum": 2.0, "layers": 1})
    assert space.validate(
        {"optimizer": "sgd", "momentum": 0.9, "nesterov": True, "layers": 2.0, "width2": 8}
    ) == {"optimizer": "sgd", "momentum": 0.9, "nesterov": True, "layers": 2, "width2": 8}


@pytest.mark.parametrize(
    ("make", "match"),
    [
        (
            lambda: Space(m=Float(0, 1).when(opt="sgd"), opt=Categorical(["sgd"])),
            "define the parent first",
        ),
        (
            lambda: Space(opt=Categorical(["sgd", "adam"]), m=Float(0, 1).when(opt="sdg")),
            r"m.when\(opt='sdg'\).*not one of",
        ),
        (
            lambda: Space(opt=Categorical(["a", "b"]), m=Float(0, 1).when(opt=Range(above=1))),
            "needs a Float or Int parent",
        ),
        (lambda: Space(n=Int(1, 3), m=Float(0, 1).when(n=Range(above=3))), "no value of n"),
        (lambda: Space(x=Float(0, 1), m=Float(0, 1).when(x=Range(above=1.0))), "no value of x"),
        (
            lambda: Space(x=Float(0, 1), e=Fidelity(1, 9).when(x=Range(above=0.5))),
            "fidelity cannot be conditional",
        ),
        (lambda: Float(0, 1).when(), "name at least one parent"),
        (lambda: Float(0, 1).when(x=[]), "at least one value"),
        (lambda: Range(), "give above=, below= or both"),
        (lambda: Range(above=2, below=1), "above must be less than below"),
        (lambda: Range(above=float("nan")), "finite"),
    ],
)
def test_bad_conditions_raise(make: Any, match: str) -> None:
    with pytest.raises(SpaceError, match=match):
        make()


def test_unit_encoding_fixes_inactive_coordinates_and_decoding_drops_them() -> None:
    space = _space()
    u = space.to_unit({"optimizer": "adam", "layers": 1})
    assert u.tolist() == [1 / 6, INACTIVE_UNIT, INACTIVE_UNIT, 0.0, INACTIVE_UNIT]
    assert space.from_unit([0.1, 0.9, 0.1, 0.0, 0.7]) == {"optimizer": "adam", "layers": 1}
    assert space.from_unit([0.5, 0.9, 0.1, 1.0, 0.0]) == {
        "optimizer": "sgd",
        "momentum": 0.99 * 0.9,
        "nesterov": True,
        "layers": 4,
        "width2": 8,
    }
    mask = space.active_mask([{"optimizer": "adam", "layers": 1}])
    assert mask.tolist() == [[True, False, False, True, False]]


@settings(max_examples=60, deadline=None)
@given(data=st.data(), space=spaces(min_dims=2, conditional=True))
def test_unit_round_trip_of_conditional_configs(data: st.DataObject, space: Space) -> None:
    config = data.draw(configs(space))
    assert space.validate(config) == config
    back = space.from_unit(space.to_unit(config))
    assert set(back) == set(config)
    assert space.validate(back) == back


@settings(max_examples=60, deadline=None)
@given(data=st.data(), space=spaces(min_dims=2, conditional=True))
def test_any_vector_decodes_to_a_valid_conditional_config(
    data: st.DataObject, space: Space
) -> None:
    u = data.draw(st.lists(st.floats(0, 1), min_size=len(space), max_size=len(space)))
    config = space.from_unit(u)
    assert space.validate(config) == config
    enc = OneHot(space)
    z = data.draw(st.lists(st.floats(0, 1), min_size=enc.width, max_size=enc.width))
    config = enc.decode(z)
    assert space.validate(config) == config
    assert np.allclose(enc.project([z])[0], enc.encode(config), rtol=0, atol=1e-6)


@settings(max_examples=40, deadline=None)
@given(space=spaces(min_dims=2, conditional=True))
def test_conditional_space_round_trips_through_json(space: Space) -> None:
    again = Space.from_dict(json.loads(json.dumps(space.to_dict())))
    assert again == space
    assert again.conditions == space.conditions
    assert repr(again) == repr(space)


def test_to_dict_format_equality_and_difference() -> None:
    space = _space()
    entry = space.to_dict()["dimensions"][2]
    assert entry["when"] == {
        "optimizer": {"in": ["sgd"]},
        "momentum": {"above": 0.5, "below": None},
    }
    plain = Space(**{**space.entries(), "momentum": Float(0.0, 0.99)})
    assert plain != space
    assert "changed momentum: Float(low=0.0, high=0.99, log=False).when(optimizer=['sgd', " in (
        space.describe_difference(plain)
    )
    with pytest.raises(SpaceError, match="'when' clause"):
        Space.from_dict(
            {
                "dimensions": [
                    {"name": "a", "type": "float", "low": 0, "high": 1},
                    {"name": "b", "type": "float", "low": 0, "high": 1, "when": {"a": {"more": 1}}},
                ]
            }
        )


def test_grid_leaves_out_inactive_values_once() -> None:
    space = Space(opt=Categorical(["adam", "sgd"]), m=Float(0.0, 1.0).when(opt="sgd"))
    assert space.grid(3) == [
        {"opt": "adam"},
        {"opt": "sgd", "m": 0.0},
        {"opt": "sgd", "m": 0.5},
        {"opt": "sgd", "m": 1.0},
    ]


def test_subspace_keeps_conditions_and_refuses_orphans() -> None:
    space = _space()
    sub = space.subspace(["optimizer", "momentum", "layers"])
    assert sub.names == ("optimizer", "momentum", "layers")
    assert sub.conditions["momentum"] == space.conditions["momentum"]
    with pytest.raises(SpaceError, match="'width2' is conditional on \\['layers'\\]"):
        space.subspace(["optimizer", "width2"])


def test_onehot_encodes_inactive_blocks_at_fixed_points() -> None:
    space = _space()
    enc = OneHot(space)
    z = enc.encode({"optimizer": "adam", "layers": 1})
    assert z.tolist() == [1, 0, 0, INACTIVE_UNIT, 0, 0, 0.0, INACTIVE_UNIT]
    assert enc.decode(z) == {"optimizer": "adam", "layers": 1}


def test_a_study_rebuilds_its_conditional_space(tmp_path: Any) -> None:
    url = f"sqlite:///{tmp_path / 'c.db'}"
    space = _space()
    study = hr.Study("cond", space, storage=url, seed=1, optimizer="random")

    def objective(trial: hr.Trial) -> None:
        for _ in trial.epochs():
            trial.report(float(trial.config.get("momentum", 0.5)))

    study.optimize(objective, budget=hr.Budget(trials=6), progress=False)
    again = hr.Study("cond", storage=url)
    assert again.space == space
    assert again.space.conditions == space.conditions
    for t in again.trials:
        assert again.space.validate(t.config) == dict(t.config)
