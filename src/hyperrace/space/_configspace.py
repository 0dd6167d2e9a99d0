"""A ConfigSpace ``ConfigurationSpace`` as a :class:`~hyperrace.space.Space` (optional extra).

What translates:

* ``UniformFloatHyperparameter`` (``log`` kept) becomes :class:`Float`,
  ``UniformIntegerHyperparameter`` :class:`Int`, ``CategoricalHyperparameter`` (uniform weights)
  :class:`Categorical`, ``OrdinalHyperparameter`` a :class:`Categorical` of its sequence (in
  order) and ``Constant`` a :class:`Categorical` of its one value;
* ``EqualsCondition`` and ``InCondition`` become value clauses, ``NotEqualsCondition`` on a
  categorical parent a clause of its other choices, ``GreaterThanCondition`` and
  ``LessThanCondition`` a :class:`Range`, and ``AndConjunction`` of these one condition (clauses
  on the same parent intersected);
* hyperparameters are reordered so that every parent comes before its children.

Anything else (normal and beta priors, non-uniform categorical weights, ``OrConjunction``,
forbidden clauses) raises :class:`~hyperrace.exceptions.SpaceError` naming it. Default values are
not kept: hyperrace has no notion of a default configuration.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from hyperrace._imports import require
from hyperrace.exceptions import SpaceError
from hyperrace.space._base import Conditional, Dimension
from hyperrace.space._categorical import Categorical
from hyperrace.space._conditions import Range
from hyperrace.space._dimensions import Fidelity, Float, Int

__all__ = ["from_configspace"]

_PURPOSE = "Space.from_configspace()"


def _plain(value: object) -> Any:
    return value.item() if isinstance(value, np.generic) else value


def _dimension(cs: Any, hp: Any) -> Dimension:
    name = hp.name
    if isinstance(hp, cs.UniformFloatHyperparameter):
        return Float(float(hp.lower), float(hp.upper), log=bool(hp.log))
    if isinstance(hp, cs.UniformIntegerHyperparameter):
        return Int(int(hp.lower), int(hp.upper), log=bool(hp.log))
    if isinstance(hp, cs.CategoricalHyperparameter):
        weights = getattr(hp, "weights", None)
        if weights is not None and len(set(map(float, weights))) > 1:
            raise SpaceError(
                f"ConfigSpace hyperparameter {name!r} has weights {list(weights)}: hyperrace "
                "draws categorical choices uniformly; remove the weights"
            )
        return Categorical([_plain(c) for c in hp.choices])
    if isinstance(hp, cs.OrdinalHyperparameter):
        return Categorical([_plain(c) for c in hp.sequence])
    if isinstance(hp, cs.Constant):
        return Categorical([_plain(hp.value)])
    raise SpaceError(
        f"ConfigSpace hyperparameter {name!r} is a {type(hp).__name__}, which hyperrace does not "
        "translate; use a uniform float or integer (log scale allowed), a categorical, an "
        "ordinal or a constant"
    )


def _literals(cs: Any, condition: Any) -> list[Any]:
    if isinstance(condition, cs.OrConjunction):
        raise SpaceError(
            f"ConfigSpace condition {condition} is an OrConjunction, which hyperrace does not "
            "translate; a hyperparameter is active when all of its clauses hold"
        )
    if isinstance(condition, cs.AndConjunction):
        return [lit for part in condition.components for lit in _literals(cs, part)]
    return [condition]


def _clause(cs: Any, lit: Any, parent: Dimension) -> object:
    if isinstance(lit, cs.EqualsCondition):
        return [_plain(lit.value)]
    if isinstance(lit, cs.InCondition):
        return [_plain(v) for v in lit.values]
    if isinstance(lit, cs.NotEqualsCondition) and isinstance(parent, Categorical):
        other = Categorical.choice_key(_plain(lit.value))
        return [c for c in parent.choices if Categorical.choice_key(c) != other]
    if isinstance(lit, cs.GreaterThanCondition):
        return Range(above=float(lit.value))
    if isinstance(lit, cs.LessThanCondition):
        return Range(below=float(lit.value))
    raise SpaceError(
        f"ConfigSpace condition {lit} ({type(lit).__name__}) is not translated; use equals, "
        "in, greater-than or less-than conditions (not-equals on a categorical parent)"
    )


def _merge(child: str, parent: str, a: object, b: object) -> object:
    """Two clauses on one parent, both to hold: value lists intersect, ranges narrow."""
    if isinstance(a, Range) and isinstance(b, Range):
        above = max((x for x in (a.above, b.above) if x is not None), default=None)
        below = min((x for x in (a.below, b.below) if x is not None), default=None)
        return Range(above=above, below=below)
    if isinstance(a, list) and isinstance(b, list):
        keys = {Categorical.choice_key(v) for v in b}
        both = [v for v in a if Categorical.choice_key(v) in keys]
        if both:
            return both
    raise SpaceError(
        f"ConfigSpace conditions of {child!r} on {parent!r} cannot be combined into one clause"
    )


def from_configspace(
    configspace: Any, *, fidelity: Fidelity | None = None, fidelity_name: str = "epochs"
) -> dict[str, Dimension | Conditional]:
    """The keyword arguments of the :class:`Space` equivalent to ``configspace``, parents first;
    ``fidelity`` (if given) is added under ``fidelity_name``."""
    cs = require("ConfigSpace", "configspace", _PURPOSE)
    if not isinstance(configspace, cs.ConfigurationSpace):
        raise SpaceError(
            f"{_PURPOSE} expects a ConfigSpace.ConfigurationSpace, got {type(configspace).__name__}"
        )
    if configspace.forbidden_clauses:
        raise SpaceError(
            f"the ConfigurationSpace has forbidden clauses {list(configspace.forbidden_clauses)}, "
            "which hyperrace does not translate; remove them (and reject such configs in the "
            "objective by raising, which fails the trial)"
        )
    dims = {hp.name: _dimension(cs, hp) for hp in configspace.values()}
    clauses: dict[str, dict[str, object]] = {}
    for condition in configspace.conditions:
        for lit in _literals(cs, condition):
            child, parent = lit.child.name, lit.parent.name
            clause = _clause(cs, lit, dims[parent])
            own = clauses.setdefault(child, {})
            own[parent] = _merge(child, parent, own[parent], clause) if parent in own else clause
    entries: dict[str, Dimension | Conditional] = {}
    pending = list(dims)
    while pending:  # parents first, otherwise in the ConfigurationSpace's order
        ready = [n for n in pending if all(p in entries for p in clauses.get(n, {}))]
        if not ready:
            raise SpaceError(f"the conditions of {pending} form a cycle")
        for name in ready:
            dim = dims[name]
            entries[name] = dim.when(**clauses[name]) if name in clauses else dim
        pending = [n for n in pending if n not in entries]
    if fidelity is not None:
        if fidelity_name in entries:
            raise SpaceError(
                f"fidelity_name={fidelity_name!r} is a hyperparameter of the ConfigurationSpace; "
                "pass another name"
            )
        entries[fidelity_name] = fidelity
    return entries
