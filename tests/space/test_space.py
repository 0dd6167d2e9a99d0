"""Tests for hyperrace.space: dimensions, Space, unit encoding, grids and serialization."""

from __future__ import annotations

import json
import math
import pickle
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hyperrace.exceptions import HyperraceError, SpaceError
from hyperrace.space import Categorical, Dimension, Fidelity, Float, Int, Space
from hyperrace.space._dimensions import dimension_from_dict
from hyperrace.testing.strategies import configs, spaces

PROPERTY = settings(max_examples=150, deadline=None, database=None)
NATIVE = (str, int, float, bool)


def _rng(seed: int = 0) -> np.random.Generator:
    return np.random.default_rng(seed)


def _assert_same_value(dim: Dimension, got: Any, want: Any) -> None:
    """Exact equality for Int/Categorical; floats to rel 1e-9 (abs term scaled to the bounds)."""
    assert type(got) is type(want) or isinstance(dim, Float)
    if isinstance(dim, Float):
        scale = max(abs(dim.low), abs(dim.high))
        assert math.isclose(got, want, rel_tol=1e-9, abs_tol=1e-12 * scale), (got, want)
        assert dim.low <= got <= dim.high
    else:
        assert got == want


# -- construction errors ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("make", "match"),
    [
        (lambda: Float(1.0, 0.5), r"Float\(low=1.0, high=0.5\): low must be < high; swap them"),
        (
            lambda: Float(0.0, 1.0, log=True),
            r"Float\(low=0.0, high=1.0, log=True\): a log scale needs low > 0; "
            r"use low=1e-8 or log=False",
        ),
        (lambda: Float(1.0, 1.0), "low == high leaves a single value"),
        (lambda: Float(0.0, math.inf), r"high=inf is not finite"),
        (lambda: Float(math.nan, 1.0), r"low=nan is not finite"),
        (lambda: Float(-1e308, 1e308), "overflows"),
        (lambda: Float("0", 1.0), "low must be a real number, got str"),  # type: ignore[arg-type]
        (lambda: Int(0.5, 3), r"Int\(low=0.5, high=3\): low=0.5 is a float.*use Float"),  # type: ignore[arg-type]
        (lambda: Int(1, 10.0), "high=10.0 is a float"),  # type: ignore[arg-type]
        (lambda: Int(True, 3), "is a bool, not an int"),
        (lambda: Int(5, 2), "low must be < high; swap them"),
        (lambda: Int(0, 10, log=True), "a log scale needs low >= 1; use low=1 or log=False"),
        (lambda: Int(0, 2**41), r"outside ±2\*\*40"),
        (lambda: Categorical([]), "needs at least one choice"),
        (lambda: Categorical(["a", "b", "a"]), "choice 'a' appears twice"),
        (lambda: Categorical([1, 1.0]), "appears twice"),
        (lambda: Categorical("abc"), "pass a list"),
        (lambda: Categorical({"a", "b"}), "pass a list"),  # type: ignore[arg-type]
        (lambda: Categorical([None]), "has type NoneType.*JSON-native"),  # type: ignore[list-item]
        (lambda: Categorical([math.nan]), "not finite"),
        (lambda: Fidelity(1, 10, unit="hours"), "unit must be one of 'epochs', 'steps', 'seconds'"),  # type: ignore[arg-type]
        (lambda: Fidelity(0, 10), "low must be >= 1 epochs; use low=1"),
        (lambda: Fidelity(1.5, 10, unit="steps"), "low=1.5 is a float"),
        (lambda: Fidelity(0.0, 10.0, unit="seconds"), "low must be > 0 seconds"),
        (lambda: Fidelity(10, 1), "swap them"),
        (lambda: Fidelity(1.0, 9.0, unit="seconds", clock="gpu"), "clock='gpu' must be 'wall'"),  # type: ignore[arg-type]
        (lambda: Fidelity(1, 9, clock="wall"), "a fidelity in epochs has none"),
    ],
)
def test_invalid_dimension_raises_space_error(make: Any, match: str) -> None:
    with pytest.raises(SpaceError, match=match):
        make()


def test_space_error_is_a_value_error_and_hyperrace_error() -> None:
    assert issubclass(SpaceError, ValueError)
    assert issubclass(SpaceError, HyperraceError)


def test_bounds_are_normalized() -> None:
    f = Float(1, 2)
    assert type(f.low) is float
    assert type(f.high) is float
    assert Int(np.int64(1), np.int64(5)) == Int(1, 5)  # type: ignore[arg-type]
    assert type(Int(np.int64(1), 5).low) is int  # type: ignore[arg-type]
    assert Categorical([np.float64(0.5), np.str_("a")]).choices == (0.5, "a")
    assert Categorical([1, True]).choices == (1, True)  # a bool is not the int 1
    assert Categorical(x for x in "ab").choices == ("a", "b")  # type: ignore[arg-type]
    assert type(Fidelity(1, 5, unit="seconds").low) is float


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"lr": 0.1}, r"lr=0.1 is a float, not a dimension; use .*hr.Float.*hr.Int"),
        ({"a": Fidelity(1, 5)}, "no hyperparameters to search"),
        ({}, "no hyperparameters to search"),
        (
            {"a": Float(0, 1), "epochs": Fidelity(1, 5), "steps": Fidelity(1, 9, unit="steps")},
            "two fidelities, 'epochs' and 'steps'",
        ),
        ({"_a": Float(0, 1)}, "'_a' starts with '_'"),
        ({"1a": Float(0, 1)}, "'1a' is not a valid Python identifier"),
        ({"class": Float(0, 1)}, "'class' is not a valid Python identifier"),
    ],
)
def test_invalid_space_raises(kwargs: dict[str, Any], match: str) -> None:
    with pytest.raises(SpaceError, match=match):
        Space(**kwargs)


# -- sampling --------------------------------------------------------------------------------


def test_samples_are_native_and_in_bounds() -> None:
    rng = _rng()
    dims: list[Dimension] = [
        Float(-2.0, 3.0),
        Float(1e-4, 1.0, log=True),
        Int(-3, 3),
        Int(1, 100, log=True),
        Categorical(["a", 2, 0.5, False]),
    ]
    for dim in dims:
        for _ in range(500):
            value = dim.sample(rng)
            assert type(value) in NATIVE
            assert dim.contains(value)


def test_log_float_is_log_uniform() -> None:
    dim = Float(1e-6, 1.0, log=True)
    rng = _rng(1)
    logs = np.log10([dim.sample(rng) for _ in range(20_000)])
    assert abs(float(np.median(logs)) - (-3.0)) < 0.1
    assert abs(float(np.mean(logs < -4.5)) - 0.25) < 0.02


def test_linear_float_is_uniform() -> None:
    dim = Float(10.0, 20.0)
    rng = _rng(2)
    values = np.array([dim.sample(rng) for _ in range(20_000)])
    assert abs(float(np.median(values)) - 15.0) < 0.15
    assert values.min() >= 10.0
    assert values.max() <= 20.0


def test_int_log_reaches_both_ends_and_every_integer() -> None:
    rng = _rng(3)
    small = Int(1, 10, log=True)
    assert {small.sample(rng) for _ in range(5_000)} == set(range(1, 11))
    mid = Int(1, 100, log=True)  # P(100) = log(100.5 / 99.5) / log(201) ~ 0.19%
    seen = {mid.sample(rng) for _ in range(20_000)}
    assert min(seen) == 1
    assert max(seen) == 100
    wide = Int(1, 1000, log=True)
    logs = np.log10([wide.sample(rng) for _ in range(20_000)])
    # Sampled log-uniformly on [0.5, 1000.5] (each end integer keeps its full rounding bin).
    assert abs(float(np.median(logs)) - math.log10(math.sqrt(0.5 * 1000.5))) < 0.05


def test_int_linear_reaches_every_integer() -> None:
    rng = _rng(4)
    assert {Int(-2, 2).sample(rng) for _ in range(1_000)} == {-2, -1, 0, 1, 2}


def test_fidelity_clock_round_trips_and_defaults_to_auto() -> None:
    wall = Fidelity(1.0, 60.0, unit="seconds", clock="wall")
    assert wall.to_dict() == {
        "type": "fidelity",
        "low": 1.0,
        "high": 60.0,
        "unit": "seconds",
        "clock": "wall",
    }
    space = Space(a=Float(0, 1), t=wall)
    assert Space.from_dict(space.to_dict()) == space
    auto = Fidelity(1.0, 60.0, unit="seconds")
    assert auto.clock == "auto" and "clock" not in auto.to_dict()  # stored spaces stay as they were
    assert Space(a=Float(0, 1), t=auto) != space


def test_space_sample_is_deterministic_per_seed() -> None:
    space = Space(a=Float(0, 1), b=Int(1, 9), c=Categorical(["x", "y"]), n=Fidelity(1, 3))
    assert space.sample(_rng(7)) == space.sample(_rng(7))
    assert list(space.sample(_rng(7))) == ["a", "b", "c"]


# -- unit encoding ---------------------------------------------------------------------------


@PROPERTY
@given(data=st.data(), space=spaces())
def test_unit_round_trip_of_generated_configs(data: st.DataObject, space: Space) -> None:
    config = data.draw(configs(space))
    u = space.to_unit(config)
    assert u.shape == (len(space),)
    assert u.dtype == np.float64
    assert np.all((u >= 0.0) & (u <= 1.0))
    back = space.from_unit(u)
    assert list(back) == list(space.names)
    for name, dim in space.dimensions.items():
        _assert_same_value(dim, back[name], config[name])


@PROPERTY
@given(space=spaces(), seed=st.integers(0, 2**32 - 1))
def test_unit_round_trip_of_sampled_configs(space: Space, seed: int) -> None:
    config = space.sample(_rng(seed))
    assert space.validate(config) == config
    assert all(type(v) in NATIVE for v in config.values())
    back = space.from_unit(space.to_unit(config))
    for name, dim in space.dimensions.items():
        _assert_same_value(dim, back[name], config[name])


@PROPERTY
@given(data=st.data(), space=spaces())
def test_from_unit_of_any_vector_gives_a_valid_config(data: st.DataObject, space: Space) -> None:
    coords = st.floats(-0.5, 1.5, allow_nan=False)
    u = data.draw(st.lists(coords, min_size=len(space), max_size=len(space)))
    config = space.from_unit(u)
    assert space.validate(config) == config
    assert all(type(v) in NATIVE for v in config.values())


def test_unit_encoding_of_ends_and_bins() -> None:
    assert Float(2.0, 4.0).to_unit(3.0) == 0.5
    assert Float(1e-3, 1e3, log=True).to_unit(1.0) == pytest.approx(0.5)
    assert Float(1e-3, 1e3, log=True).from_unit(1.0) == 1e3
    assert Int(0, 10).to_unit(0) == 0.0
    assert Int(0, 10).to_unit(10) == 1.0
    assert Int(0, 10).from_unit(0.26) == 3
    assert Int(0, 10).from_unit(7) == 10  # clipped into [0, 1]
    cat = Categorical(["a", "b", "c", "d"])
    assert [cat.to_unit(c) for c in cat.choices] == [0.125, 0.375, 0.625, 0.875]
    assert [cat.from_unit(u) for u in (0.0, 0.2499, 0.25, 0.99, 1.0, -1.0)] == [
        "a", "a", "b", "d", "d", "a",
    ]  # fmt: skip
    with pytest.raises(SpaceError, match="not a number"):
        cat.from_unit(math.nan)
    with pytest.raises(SpaceError, match="out of range"):
        Float(0, 1).to_unit(2.0)


def test_to_unit_many_and_from_unit_shape() -> None:
    space = Space(a=Float(0, 1), b=Int(0, 4), epochs=Fidelity(1, 10))
    many = space.to_unit_many([{"a": 0.5, "b": 2}, {"a": 1.0, "b": 4}])
    assert many.shape == (2, 2)
    assert many.dtype == np.float64
    np.testing.assert_allclose(many, [[0.5, 0.5], [1.0, 1.0]])
    assert space.to_unit_many([]).shape == (0, 2)
    with pytest.raises(SpaceError, match=r"shape \(2,\).*got shape \(3,\)"):
        space.from_unit([0.1, 0.2, 0.3])
    with pytest.raises(SpaceError, match=r"shape \(2,\).*got shape \(1, 2\)"):
        space.from_unit([[0.1, 0.2]])
    with pytest.raises(SpaceError, match="non-finite"):
        space.from_unit([0.1, math.inf])


# -- grids -----------------------------------------------------------------------------------


def test_dimension_grids() -> None:
    assert Float(0.0, 1.0).grid(5) == (0.0, 0.25, 0.5, 0.75, 1.0)
    log_grid = Float(1e-4, 1.0, log=True).grid(5)
    assert log_grid[0] == 1e-4
    assert log_grid[-1] == 1.0
    assert log_grid[2] == pytest.approx(1e-2)
    assert Int(0, 100).grid(3) == (0, 50, 100)
    assert Int(1, 3).grid(10) == (1, 2, 3)
    assert Int(0, 9).grid(10) == tuple(range(10))
    assert Int(1, 1000, log=True).grid(4) == (1, 10, 100, 1000)
    assert Categorical(["a", "b", "c"]).grid(2) == ("a", "b", "c")
    assert Fidelity(1, 9).grid(3) == (1, 5, 9)
    with pytest.raises(SpaceError, match="n must be >= 2"):
        Float(0, 1).grid(1)


@PROPERTY
@given(space=spaces(max_dims=3), resolution=st.integers(2, 4))
def test_space_grid_size_ends_and_order(space: Space, resolution: int) -> None:
    grid = space.grid(resolution)
    sizes = [len(dim.grid(resolution)) for dim in space.dimensions.values()]
    assert len(grid) == math.prod(sizes)
    for dim, size in zip(space.dimensions.values(), sizes, strict=True):
        assert size <= resolution or isinstance(dim, Categorical)
    for config in grid:
        assert space.validate(config) == config
    first = {n: d.grid(resolution)[0] for n, d in space.dimensions.items()}
    last = {n: d.grid(resolution)[-1] for n, d in space.dimensions.items()}
    assert grid[0] == first
    assert grid[-1] == last
    assert space.grid(resolution) == grid


def test_space_grid_order_last_varies_fastest() -> None:
    space = Space(a=Int(0, 1), b=Categorical(["x", "y"]))
    assert space.grid(2) == [
        {"a": 0, "b": "x"},
        {"a": 0, "b": "y"},
        {"a": 1, "b": "x"},
        {"a": 1, "b": "y"},
    ]
    with pytest.raises(SpaceError, match="resolution must be an int >= 2"):
        space.grid(1)


# -- validate --------------------------------------------------------------------------------


def test_validate_normalizes_values() -> None:
    space = Space(lr=Float(1e-3, 1.0, log=True), depth=Int(1, 8), opt=Categorical(["adam", 1]))
    out = space.validate({"depth": 3.0, "lr": 1, "opt": 1.0})
    assert out == {"lr": 1.0, "depth": 3, "opt": 1}
    assert list(out) == ["lr", "depth", "opt"]
    assert type(out["lr"]) is float
    assert type(out["depth"]) is int
    assert type(out["opt"]) is int
    out = space.validate({"lr": np.float32(0.5), "depth": np.int64(2), "opt": np.str_("adam")})
    assert [type(v) for v in out.values()] == [float, int, str]


@pytest.mark.parametrize(
    ("config", "match"),
    [
        ({"lr": 0.1, "depth": 3.5, "opt": "adam"}, r"depth=3.5 is not an integer; Int\(low=1"),
        ({"lr": 0.1, "depth": 9, "opt": "adam"}, r"depth=9 is out of range.*in \[1, 8\]"),
        ({"lr": 0.1, "depth": True, "opt": "adam"}, "depth=True is not a finite number"),
        ({"lr": math.nan, "depth": 1, "opt": "adam"}, "lr=nan is not a finite number"),
        ({"lr": 0.1, "depth": 1, "opt": "rmsprop"}, r"opt='rmsprop' is not one of \['adam', 1\]"),
        ({"lr": 0.1, "depth": 1, "opt": True}, r"opt=True is not one of"),
        ({"lr": 0.1, "opt": "adam", "width": 3}, r"missing \['depth'\]; unknown \['width'\]"),
        ({"lr": 0.1, "depth": 1, "opt": "adam", "epochs": 3}, "'epochs' is the fidelity"),
    ],
)
def test_validate_rejects(config: dict[str, Any], match: str) -> None:
    space = Space(
        lr=Float(1e-3, 1.0, log=True),
        depth=Int(1, 8),
        opt=Categorical(["adam", 1]),
        epochs=Fidelity(1, 20),
    )
    with pytest.raises(SpaceError, match=match):
        space.validate(config)


# -- structure, serialization, comparison -----------------------------------------------------


def test_space_structure() -> None:
    fid = Fidelity(1, 50)
    space = Space(lr=Float(1e-4, 1.0, log=True), epochs=fid, depth=Int(1, 8))
    assert space.names == ("lr", "depth")
    assert list(space) == ["lr", "depth"]
    assert len(space) == 2
    assert "lr" in space
    assert "epochs" not in space
    assert space.fidelity == fid
    assert space.fidelity_name == "epochs"
    assert space["depth"] == Int(1, 8)
    assert dict(space.dimensions) == {"lr": Float(1e-4, 1.0, log=True), "depth": Int(1, 8)}
    with pytest.raises(KeyError, match=r"use space\.fidelity"):
        space["epochs"]
    with pytest.raises(AttributeError, match="immutable"):
        space.foo = 1
    assert repr(space) == (
        "Space(lr=Float(low=0.0001, high=1.0, log=True), depth=Int(low=1, high=8, log=False), "
        "epochs=Fidelity(low=1, high=50, unit='epochs'))"
    )
    plain = Space(x=Float(0, 1))
    assert plain.fidelity is None
    assert plain.fidelity_name is None


def test_fidelity() -> None:
    epochs = Fidelity(1, 50)
    assert epochs.is_integer
    assert epochs.unit == "epochs"
    assert epochs.clip(0) == 1
    assert epochs.clip(80) == 50
    assert epochs.clip(7.6) == 8
    assert type(epochs.clip(7.6)) is int
    seconds = Fidelity(0.5, 60, unit="seconds")
    assert not seconds.is_integer
    assert seconds.clip(100) == 60.0
    assert seconds.clip(3) == 3.0
    assert type(seconds.clip(3)) is float
    with pytest.raises(SpaceError, match="must be a number"):
        seconds.clip(math.nan)
    assert epochs.validate("epochs", 3.0) == 3
    assert epochs.from_unit(epochs.to_unit(17)) == 17


@PROPERTY
@given(space=spaces())
def test_dict_round_trip_through_json(space: Space) -> None:
    data = json.loads(json.dumps(space.to_dict()))
    again = Space.from_dict(data)
    assert again == space
    assert hash(again) == hash(space)
    assert again.names == space.names
    assert again.fidelity == space.fidelity
    assert again.fidelity_name == space.fidelity_name
    assert space.describe_difference(again) == ""
    assert pickle.loads(pickle.dumps(space)) == space
    for dim in space.dimensions.values():
        assert dimension_from_dict(json.loads(json.dumps(dim.to_dict()))) == dim


def test_to_dict_format_and_malformed_dicts() -> None:
    space = Space(x=Int(1, 4, log=True), epochs=Fidelity(1, 9, unit="steps"))
    assert space.to_dict() == {
        "dimensions": [{"name": "x", "type": "int", "low": 1, "high": 4, "log": True}],
        "fidelity": {"name": "epochs", "type": "fidelity", "low": 1, "high": 9, "unit": "steps"},
    }
    with pytest.raises(SpaceError, match="'type' must be one of"):
        dimension_from_dict({"type": "complex", "low": 0})
    with pytest.raises(SpaceError, match=r"lacks \['high'\]"):
        dimension_from_dict({"type": "float", "low": 0.0})
    with pytest.raises(SpaceError, match=r"unknown keys \['step'\]"):
        dimension_from_dict({"type": "int", "low": 0, "high": 3, "step": 1})
    with pytest.raises(SpaceError, match="needs a 'dimensions' list"):
        Space.from_dict({"dims": []})
    with pytest.raises(SpaceError, match="names 'a' twice"):
        Space.from_dict({"dimensions": [{"name": "a", "type": "float", "low": 0, "high": 1}] * 2})


def test_equality_distinguishes_choice_types_and_order() -> None:
    assert Categorical([1, 2]) != Categorical([1.0, 2.0])
    assert Categorical([True]) != Categorical([1])
    assert Space(a=Float(0, 1), b=Int(0, 3)) != Space(b=Int(0, 3), a=Float(0, 1))
    assert Space(a=Float(0, 1), n=Fidelity(1, 3)) == Space(n=Fidelity(1, 3), a=Float(0, 1))
    assert Space(a=Float(0, 1)) != "Space(a=Float(0, 1))"


def test_describe_difference() -> None:
    old = Space(lr=Float(1e-4, 1.0, log=True), depth=Int(1, 8), opt=Categorical(["adam"]))
    assert old.describe_difference(old) == ""
    new = Space(
        depth=Int(1, 16),
        lr=Float(1e-4, 1.0, log=True),
        width=Int(8, 64, log=True),
        epochs=Fidelity(1, 30),
    )
    lines = old.describe_difference(new).splitlines()
    assert lines == [
        "added width=Int(low=8, high=64, log=True)",
        "removed opt=Categorical(choices=('adam',))",
        "changed depth: Int(low=1, high=8, log=False) -> Int(low=1, high=16, log=False)",
        "reordered: lr, depth -> depth, lr",
        "fidelity changed: None -> epochs=Fidelity(low=1, high=30, unit='epochs')",
    ]
    assert "fidelity changed: epochs=" in new.describe_difference(old)
