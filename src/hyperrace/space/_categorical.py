"""The :class:`Categorical` dimension: one of a fixed, ordered set of choices."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence, Set
from dataclasses import dataclass
from typing import Any

import numpy as np

from hyperrace.exceptions import SpaceError
from hyperrace.space import _numeric as num
from hyperrace.space._base import Dimension, Value


def _choice_key(value: Value) -> tuple[str, Value]:
    """Equality key for choices: bools never match numbers, but 1 and 1.0 do."""
    kind = "bool" if isinstance(value, bool) else "str" if isinstance(value, str) else "number"
    return kind, value


def _native_choice(label: str, value: object) -> Value:
    if isinstance(value, np.generic):
        value = value.item()
    if type(value) not in (str, int, float, bool) or not isinstance(value, str | int | float):
        raise SpaceError(
            f"{label}: choice {value!r} has type {type(value).__name__}; "
            "choices must be str, int, float or bool (JSON-native)"
        )
    if isinstance(value, float):
        if not math.isfinite(value):
            raise SpaceError(f"{label}: choice {value!r} is not finite")
        return value + 0.0  # -0.0 -> 0.0
    return value


@dataclass(frozen=True, slots=True, init=False, eq=False)
class Categorical(Dimension):
    """A hyperparameter taking one of a fixed, ordered set of choices (e.g. an optimizer name).

    Choices must be non-empty, unique and of the JSON-native types str, int, float or bool;
    they are stored as a tuple. ``True`` and ``1`` are different choices; ``1`` and ``1.0`` are
    duplicates. On the unit interval choice ``i`` of ``n`` owns the bin [i/n, (i+1)/n).
    """

    choices: tuple[Value, ...]

    def __init__(self, choices: Sequence[Value]) -> None:
        """Create the dimension from a sequence (list, tuple, ...) of choices."""
        label = f"Categorical(choices={choices!r})"
        if isinstance(choices, str | bytes | Mapping | Set):
            raise SpaceError(f"{label}: choices must be an ordered sequence; pass a list")
        try:
            items = tuple(choices)
        except TypeError:
            raise SpaceError(f"{label}: choices must be a sequence; pass a list") from None
        if not items:
            raise SpaceError(f"{label}: needs at least one choice")
        natives = tuple(_native_choice(label, c) for c in items)
        seen: set[tuple[str, Value]] = set()
        for c in natives:
            if _choice_key(c) in seen:
                raise SpaceError(f"{label}: choice {c!r} appears twice; choices must be unique")
            seen.add(_choice_key(c))
        object.__setattr__(self, "choices", natives)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Categorical):
            return NotImplemented
        return self._typed() == other._typed()

    def __hash__(self) -> int:
        return hash(self._typed())

    def _typed(self) -> tuple[tuple[str, Value], ...]:
        return tuple((type(c).__name__, c) for c in self.choices)

    @staticmethod
    def choice_key(value: Value) -> tuple[str, Value]:
        """Key under which two choices are duplicates: ``1 == 1.0``, but bools never equal ints."""
        return _choice_key(value)

    def index(self, value: object) -> int:
        """Return the position of ``value`` among the choices; raise SpaceError if absent."""
        return self._index("value", value)

    def _index(self, name: str, value: object) -> int:
        if isinstance(value, np.generic):
            value = value.item()
        if isinstance(value, str | int | float):
            key = _choice_key(value)
            for i, c in enumerate(self.choices):
                if _choice_key(c) == key:
                    return i
        raise SpaceError(f"{name}={value!r} is not one of {list(self.choices)!r}")

    def sample(self, rng: np.random.Generator) -> Value:
        """Draw one choice uniformly at random."""
        return self.choices[int(rng.integers(len(self.choices)))]

    def to_unit(self, value: object) -> float:
        """Encode ``value`` as the centre (i + 0.5) / n of its bin, i its index of n choices."""
        return (self._index("value", value) + 0.5) / len(self.choices)

    def from_unit(self, u: float) -> Value:
        """Decode ``u`` (clipped into [0, 1]) as the choice whose bin contains it."""
        n = len(self.choices)
        return self.choices[min(int(num.clip_unit(u) * n), n - 1)]

    def validate(self, name: str, value: object) -> Value:
        """Return the stored choice equal to ``value``; raise SpaceError if there is none."""
        return self.choices[self._index(name, value)]

    def grid(self, n: int) -> tuple[Value, ...]:
        """Return all choices, whatever ``n`` is."""
        return self.choices

    def to_dict(self) -> dict[str, Any]:
        """Return ``{"type": "categorical", "choices": [...]}``."""
        return {"type": "categorical", "choices": list(self.choices)}
