"""Hypothesis strategies for hyperrace search spaces (needs the ``hypothesis`` package).

``spaces()`` builds random :class:`~hyperrace.space.Space` objects mixing every dimension kind,
and ``configs(space)`` builds configs that fit a given space::

    @given(data=st.data(), space=spaces())
    def test_round_trip(data, space):
        config = data.draw(configs(space))
        ...
"""

from __future__ import annotations

import keyword
from typing import Any

from hypothesis import strategies as st

from hyperrace.space import Categorical, Conditional, Dimension, Fidelity, Float, Int, Range, Space
from hyperrace.space._dimensions import FidelityUnit

__all__ = ["categoricals", "configs", "dimensions", "fidelities", "floats", "ints", "spaces"]

_NAMES = st.from_regex(r"[a-z][a-z0-9_]{0,11}", fullmatch=True).filter(
    lambda name: not keyword.iskeyword(name)
)
_CHOICE_VALUES = st.one_of(
    st.text(max_size=8),
    st.integers(-1000, 1000),
    st.floats(-1e6, 1e6, allow_nan=False, allow_infinity=False),
    st.booleans(),
)


@st.composite
def floats(draw: st.DrawFn) -> Float:
    """A :class:`Float` with a linear range inside ±2e6, or a log range inside [1e-10, 1e10]."""
    if draw(st.booleans()):
        low_exp = draw(st.floats(-10.0, 5.0))
        span = draw(st.floats(0.01, 5.0))
        return Float(10.0**low_exp, 10.0 ** (low_exp + span), log=True)
    low = draw(st.floats(-1e6, 1e6, allow_nan=False, allow_infinity=False))
    width = draw(st.floats(1e-3, 1e6))
    return Float(low, low + width)


@st.composite
def ints(draw: st.DrawFn) -> Int:
    """An :class:`Int` with a linear range inside ±2e6, or a log range with low >= 1."""
    log = draw(st.booleans())
    low = draw(st.integers(1, 1000)) if log else draw(st.integers(-(10**6), 10**6))
    return Int(low, low + draw(st.integers(1, 10**6)), log=log)


def categoricals() -> st.SearchStrategy[Categorical]:
    """A :class:`Categorical` of 1-6 unique choices mixing str, int, float and bool."""
    key = Categorical.choice_key
    choices = st.lists(_CHOICE_VALUES, min_size=1, max_size=6, unique_by=key)
    return choices.map(Categorical)


@st.composite
def fidelities(draw: st.DrawFn) -> Fidelity:
    """A :class:`Fidelity` in any unit: epochs/steps with int bounds, seconds with floats."""
    unit: FidelityUnit = draw(st.sampled_from(["epochs", "steps", "seconds"]))
    if unit == "seconds":
        low = draw(st.floats(0.1, 1e4))
        return Fidelity(low, low + draw(st.floats(1.0, 1e5)), unit="seconds")
    low_int = draw(st.integers(1, 100))
    return Fidelity(low_int, low_int + draw(st.integers(1, 10**4)), unit=unit)


def dimensions() -> st.SearchStrategy[Dimension]:
    """Any non-fidelity dimension: Float, Int or Categorical."""
    return st.one_of(floats(), ints(), categoricals())


@st.composite
def _clause(draw: st.DrawFn, parent: Dimension) -> object:
    """A clause on ``parent`` that holds for some of its values."""
    if isinstance(parent, Categorical):
        return draw(
            st.lists(st.sampled_from(parent.choices), min_size=1, unique_by=Categorical.choice_key)
        )
    assert isinstance(parent, Float | Int)
    cut = parent.from_unit(draw(st.floats(0.2, 0.8)))
    if isinstance(parent, Int) and cut in (parent.low, parent.high):
        cut = parent.low if draw(st.booleans()) else parent.high
        return Range(above=cut - 1) if cut == parent.high else Range(below=cut + 1)
    return Range(above=cut) if draw(st.booleans()) else Range(below=cut)


@st.composite
def spaces(
    draw: st.DrawFn,
    min_dims: int = 1,
    max_dims: int = 6,
    fidelity: bool | None = None,
    conditional: bool = False,
) -> Space:
    """A :class:`Space` of ``min_dims``-``max_dims`` hyperparameters of every kind.

    ``fidelity=None`` adds a :class:`Fidelity` at random; True always, False never.
    ``conditional=True`` makes some hyperparameters after the first conditional on one or two
    earlier ones (value lists on categoricals, ranges on numbers).
    """
    names = draw(st.lists(_NAMES, min_size=min_dims, max_size=max_dims, unique=True))
    kwargs: dict[str, Dimension | Conditional] = {}
    plain: dict[str, Dimension] = {}
    for name in names:
        dim = plain[name] = draw(dimensions())
        if conditional and len(plain) > 1 and draw(st.booleans()):
            parents = draw(
                st.lists(st.sampled_from(list(plain)[:-1]), min_size=1, max_size=2, unique=True)
            )
            kwargs[name] = dim.when(**{p: draw(_clause(plain[p])) for p in parents})
        else:
            kwargs[name] = dim
    if fidelity if fidelity is not None else draw(st.booleans()):
        fid_name = draw(_NAMES.filter(lambda name: name not in kwargs))
        kwargs[fid_name] = draw(fidelities())
    return Space(**kwargs)


def _values(dim: Dimension) -> st.SearchStrategy[Any]:
    if isinstance(dim, Float):
        return st.floats(dim.low, dim.high, allow_nan=False, allow_infinity=False)
    if isinstance(dim, Int):
        return st.integers(dim.low, dim.high)
    if isinstance(dim, Categorical):
        return st.sampled_from(dim.choices)
    raise TypeError(f"no value strategy for {dim!r}")


def configs(space: Space) -> st.SearchStrategy[dict[str, Any]]:
    """Configs (name -> native value) that fit ``space``, ends of every range included, and
    inactive hyperparameters left out."""
    values = st.fixed_dictionaries({name: _values(dim) for name, dim in space.dimensions.items()})
    return values.map(space.prune)
