"""The abstract :class:`Dimension` every search-space axis derives from."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import TYPE_CHECKING, Any

import numpy as np

from hyperrace.exceptions import SpaceError

if TYPE_CHECKING:
    from hyperrace.space._conditions import Conditional

#: A hyperparameter value: the JSON-native scalar types.
Value = str | int | float | bool


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
        from hyperrace.space._conditions import Conditional

        return Conditional(self, **clauses)
