"""Conditions: a hyperparameter that is *active* only for some values of others.

A conditional dimension (:class:`~hyperrace.space.Conditional`, kept in ``_base`` with the
:class:`~hyperrace.space.Dimension` it wraps) is made with :meth:`Dimension.when`, one keyword
per parent hyperparameter; every clause must hold (and every parent be active) for the dimension
to be active. A clause is a value (equality), a list of values (any of them) or a :class:`Range`
of a numeric parent (strict bounds). An inactive hyperparameter is absent from a config.

Example:

>>> from hyperrace.space import Categorical, Float, Int, Range, Space
>>> space = Space(
...     optimizer=Categorical(["adam", "sgd"]),
...     momentum=Float(0.0, 0.99).when(optimizer="sgd"),
...     layers=Int(1, 4),
...     width2=Int(8, 64).when(layers=Range(above=1)),
... )
>>> space.validate({"optimizer": "adam", "layers": 1})
{'optimizer': 'adam', 'layers': 1}
>>> space.conditions["momentum"]
When(optimizer='sgd')
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence, Set
from dataclasses import dataclass
from typing import Any

from hyperrace.exceptions import SpaceError
from hyperrace.space._value import Value

__all__ = ["Clause", "Range", "When", "clause"]


def _bound(label: str, x: object) -> float | None:
    if x is None:
        return None
    if isinstance(x, bool) or not isinstance(x, int | float) or not math.isfinite(x):
        raise SpaceError(f"{label}: bounds must be finite numbers or None, got {x!r}")
    return float(x)


@dataclass(frozen=True, slots=True)
class Range:
    """The values of a numeric parent strictly between ``above`` and ``below`` (None: no bound).

    ``Range(above=2)`` holds for ``x > 2``; ``Range(above=0.1, below=0.5)`` for ``0.1 < x < 0.5``.
    """

    above: float | None = None
    below: float | None = None

    def __post_init__(self) -> None:
        label = f"Range(above={self.above!r}, below={self.below!r})"
        above, below = _bound(label, self.above), _bound(label, self.below)
        if above is None and below is None:
            raise SpaceError(f"{label}: give above=, below= or both")
        if above is not None and below is not None and above >= below:
            raise SpaceError(f"{label}: above must be less than below")
        object.__setattr__(self, "above", above)
        object.__setattr__(self, "below", below)

    def __repr__(self) -> str:
        bounds = {"above": self.above, "below": self.below}
        return f"Range({', '.join(f'{k}={v!r}' for k, v in bounds.items() if v is not None)})"

    def holds(self, x: float) -> bool:
        """True if ``above < x < below``."""
        return (self.above is None or x > self.above) and (self.below is None or x < self.below)


@dataclass(frozen=True, slots=True)
class Clause:
    """One parent's requirement: its value is one of ``values``, or lies in ``range``."""

    parent: str
    values: tuple[Value, ...] | None = None
    range: Range | None = None

    def holds(self, value: object) -> bool:
        """True if ``value`` (the parent's, active) satisfies the clause."""
        if self.range is not None:
            is_number = isinstance(value, int | float) and not isinstance(value, bool)
            return is_number and self.range.holds(float(value))  # type: ignore[arg-type]
        assert self.values is not None
        return any(_same(value, v) for v in self.values)

    def __repr__(self) -> str:
        if self.range is not None:
            return f"{self.parent}={self.range!r}"
        assert self.values is not None
        if len(self.values) == 1:
            return f"{self.parent}={self.values[0]!r}"
        return f"{self.parent}={list(self.values)!r}"


def _same(a: object, b: object) -> bool:
    """Equality of hyperparameter values: bools never equal numbers."""
    return isinstance(a, bool) == isinstance(b, bool) and a == b


@dataclass(frozen=True, slots=True)
class When:
    """The condition under which a dimension is active: every clause holds."""

    clauses: tuple[Clause, ...]

    @property
    def parents(self) -> tuple[str, ...]:
        """The hyperparameters the condition reads."""
        return tuple(c.parent for c in self.clauses)

    def holds(self, config: Mapping[str, Any]) -> bool:
        """True if every parent is in ``config`` (so active) and satisfies its clause."""
        return all(c.parent in config and c.holds(config[c.parent]) for c in self.clauses)

    def to_dict(self) -> dict[str, Any]:
        """``{parent: {"in": [...]}}`` or ``{parent: {"above": x, "below": y}}`` per clause."""
        out: dict[str, Any] = {}
        for c in self.clauses:
            if c.range is not None:
                out[c.parent] = {"above": c.range.above, "below": c.range.below}
            else:
                out[c.parent] = {"in": list(c.values or ())}
        return out

    def __repr__(self) -> str:
        return f"When({', '.join(map(repr, self.clauses))})"


def clause(parent: str, spec: object) -> Clause:
    """The clause ``parent=spec`` of ``dim.when(...)``: a value, a list of values or a Range."""
    if isinstance(spec, Range):
        return Clause(parent, range=spec)
    if isinstance(spec, Mapping):
        raise SpaceError(
            f"when({parent}={spec!r}): a clause is a value, a list of values or a Range"
        )
    if isinstance(spec, Sequence | Set) and not isinstance(spec, str | bytes):
        values = list(spec)
        if not values:
            raise SpaceError(f"when({parent}=[]): give at least one value")
        return Clause(parent, values=tuple(values))
    return Clause(parent, values=(spec,))  # type: ignore[arg-type]
