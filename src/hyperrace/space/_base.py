"""The abstract :class:`Dimension` every search-space axis derives from, and
:class:`Conditional`: a dimension with the condition that activates it (``dim.when(...)``)."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from hyperrace.exceptions import SpaceError
from hyperrace.space._conditions import Range, When, clause
from hyperrace.space._value import Value

__all__ = ["Conditional", "Dimension", "Value", "when_from_dict"]


class Dimension(ABC):
    """One axis of a search space: the set of values a single hyperparameter may take."""

    __slots__ = ()

    @abstractmethod
    def sample(self, rng: np.random.Generator) -> Value:
        """Draw one value at random using ``rng`` (the dimension's natural prior)."""

    @abstractmethod
    def to_unit(self, value: object) -> float:
        """Encode ``value`` (which must belong to the dimension) as a coordinate in [0, 1]."""

    @abstractmethod
    def from_unit(self, u: float) -> Value:
        """Decode the coordinate ``u`` (clipped into [0, 1]) into a value of the dimension."""

    @abstractmethod
    def validate(self, name: str, value: object) -> Value:
        """Return ``value`` normalized to its native type; raise SpaceError if it does not fit.

        ``name`` is the hyperparameter name, quoted in the error message.
        """

    @abstractmethod
    def grid(self, n: int) -> tuple[Value, ...]:
        """Return up to ``n`` representative values covering the dimension, in increasing order."""

    @abstractmethod
    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-able description with a ``"type"`` key; see :func:`dimension_from_dict`."""

    def contains(self, value: object) -> bool:
        """Return True if ``value`` is an allowed value of this dimension."""
        try:
            self.validate("value", value)
        except SpaceError:
            return False
        return True

    def when(self, **clauses: object) -> Conditional:
        """This dimension, active only when every ``parent=clause`` holds.

        A clause is a value (``optimizer="sgd"``), a list of values (``optimizer=["sgd",
        "rmsprop"]``) or a :class:`~hyperrace.space.Range` of a numeric parent
        (``layers=Range(above=1)``). Parents are hyperparameters defined earlier in the space.
        While inactive, the hyperparameter is absent from the config.
        """
        return Conditional(self, **clauses)


@dataclass(frozen=True, slots=True, init=False)
class Conditional:
    """A dimension together with the condition that activates it (made by ``dim.when(...)``).

    Pass it to :class:`~hyperrace.space.Space` like a dimension; the space keeps the plain
    dimension in ``space.dimensions`` and the condition in ``space.conditions``.
    """

    dimension: Dimension
    condition: When

    def __init__(self, dimension: Dimension, **clauses: object) -> None:
        """Make ``dimension`` active only when every ``parent=clause`` holds."""
        if isinstance(dimension, Conditional):
            raise SpaceError("a dimension takes one when(...): put every clause in it")
        if not clauses:
            raise SpaceError(
                f"{dimension!r}.when(): name at least one parent, e.g. when(optimizer='sgd')"
            )
        object.__setattr__(self, "dimension", dimension)
        object.__setattr__(self, "condition", When(tuple(clause(p, s) for p, s in clauses.items())))

    def __repr__(self) -> str:
        return f"{self.dimension!r}.when({', '.join(map(repr, self.condition.clauses))})"


def when_from_dict(dimension: Dimension, d: object) -> Conditional:
    """Rebuild ``dimension.when(...)`` from :meth:`When.to_dict` output."""
    if not isinstance(d, Mapping) or not d:
        raise SpaceError(
            f"a 'when' entry must be a non-empty mapping of parent to clause, got {d!r}"
        )
    clauses: dict[str, object] = {}
    for parent, spec in d.items():
        if isinstance(spec, Mapping) and set(spec) == {"in"} and isinstance(spec["in"], list):
            clauses[str(parent)] = list(spec["in"])
        elif isinstance(spec, Mapping) and set(spec) == {"above", "below"}:
            clauses[str(parent)] = Range(above=spec["above"], below=spec["below"])
        else:
            raise SpaceError(
                f"'when' clause {parent!r}: {spec!r} is neither {{'in': [...]}} nor "
                "{'above': ..., 'below': ...}"
            )
    return Conditional(dimension, **clauses)
