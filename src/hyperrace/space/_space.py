"""The :class:`Space`: named hyperparameter dimensions plus an optional training-budget axis."""

from __future__ import annotations

import itertools
import json
import keyword
import math
from collections.abc import Iterable, Iterator, Mapping
from types import MappingProxyType
from typing import Any, NoReturn

import numpy as np
import numpy.typing as npt

from hyperrace.exceptions import SpaceError
from hyperrace.space._base import Conditional, Dimension, Value, when_from_dict
from hyperrace.space._conditions import Clause, When
from hyperrace.space._dimensions import Fidelity, Float, Int, dimension_from_dict

#: The unit coordinate :meth:`Space.to_unit` gives an inactive hyperparameter: the centre of the
#: cube, so that models see every config where it is inactive at one point of its axis.
INACTIVE_UNIT = 0.5

_HINT = (
    "use a dimension such as hr.Float(1e-5, 1e-1, log=True), hr.Int(1, 8), "
    "hr.Categorical(['adam', 'sgd']) or hr.Fidelity(1, 50)"
)


def _check_name(name: str) -> None:
    if not name.isidentifier() or keyword.iskeyword(name):
        raise SpaceError(f"hyperparameter name {name!r} is not a valid Python identifier")
    if name.startswith("_"):
        raise SpaceError(f"hyperparameter name {name!r} starts with '_'; that prefix is reserved")


def _checked_clause(name: str, clause: Clause, dims: Mapping[str, Dimension]) -> Clause:
    """``clause`` with its values normalized by the parent's dimension; SpaceError if it names
    no earlier hyperparameter, a value outside the parent, or can never hold."""
    label = f"{name}.when({clause!r})"
    parent = dims.get(clause.parent)
    if parent is None:
        raise SpaceError(
            f"{label}: {clause.parent!r} is not a hyperparameter defined before {name!r}; "
            f"define the parent first (defined so far: {list(dims)})"
        )
    if clause.range is None:
        try:
            values = tuple(parent.validate(clause.parent, v) for v in clause.values or ())
        except SpaceError as exc:
            raise SpaceError(f"{label}: {exc}") from None
        return Clause(clause.parent, values=values)
    if not isinstance(parent, Float | Int):
        raise SpaceError(
            f"{label}: a Range needs a Float or Int parent; {clause.parent} is {parent!r}, "
            "so give its values instead, e.g. a list"
        )
    r = clause.range
    if isinstance(parent, Int):
        low = parent.low if r.above is None else max(parent.low, math.floor(r.above) + 1)
        high = parent.high if r.below is None else min(parent.high, math.ceil(r.below) - 1)
        empty = low > high
    else:
        low_f = parent.low if r.above is None else max(parent.low, r.above)
        high_f = parent.high if r.below is None else min(parent.high, r.below)
        empty = low_f > high_f or (low_f == high_f and (r.above == low_f or r.below == high_f))
    if empty:
        raise SpaceError(f"{label}: no value of {clause.parent}={parent!r} lies in the range")
    return clause


def _checked_condition(name: str, conditional: Conditional, dims: Mapping[str, Dimension]) -> When:
    clauses = tuple(_checked_clause(name, c, dims) for c in conditional.condition.clauses)
    return When(clauses)


def _clause_kwargs(cond: When) -> dict[str, object]:
    return {
        c.parent: c.range if c.range is not None else list(c.values or ()) for c in cond.clauses
    }


class Space:
    """An immutable search space: hyperparameter names mapped to dimensions.

    Create it with keyword arguments, e.g.
    ``Space(lr=Float(1e-5, 1e-1, log=True), depth=Int(2, 8), epochs=Fidelity(1, 50))``.
    Names must be Python identifiers not starting with ``"_"``. At most one argument may be a
    :class:`Fidelity`; it sets the training budget axis and is not a hyperparameter, so it is
    absent from ``names``, configs and unit encodings. Definition order is kept and fixes the
    column order of unit vectors.

    A hyperparameter made with ``dim.when(parent=...)`` is *conditional*: active only when its
    parents (defined before it) take the given values, and absent from a config otherwise.
    ``sample`` and ``from_unit`` leave it out, ``validate`` rejects it when present,
    ``to_unit`` gives it the fixed coordinate :data:`INACTIVE_UNIT`, so that models over unit
    vectors need not know about conditions:

    >>> from hyperrace.space import Categorical, Float
    >>> space = Space(
    ...     optimizer=Categorical(["adam", "sgd"]),
    ...     momentum=Float(0.0, 0.99).when(optimizer="sgd"),
    ... )
    >>> space.from_unit([0.2, 0.9])
    {'optimizer': 'adam'}
    >>> space.to_unit({"optimizer": "adam"})
    array([0.25, 0.5 ])
    >>> space.validate({"optimizer": "adam", "momentum": 0.9})
    Traceback (most recent call last):
    ...
    hyperrace.exceptions.SpaceError: config keys do not match the space: momentum is inactive \
(optimizer='adam'; it is active only when optimizer='sgd'): leave 'momentum' out of the config; \
expected exactly ['optimizer']
    """

    __slots__ = ("_conds", "_dims", "_fidelity", "_fidelity_name")

    _dims: Mapping[str, Dimension]
    _conds: Mapping[str, When]
    _fidelity: Fidelity | None
    _fidelity_name: str | None

    def __init__(self, **dimensions: Dimension | Conditional) -> None:
        """Build the space from ``name=dimension`` keyword arguments (``dim.when(...)`` for a
        conditional hyperparameter, whose parents must come before it)."""
        dims: dict[str, Dimension] = {}
        conds: dict[str, When] = {}
        fidelity: tuple[str, Fidelity] | None = None
        for name, dim in dimensions.items():
            _check_name(name)
            if isinstance(dim, Conditional):
                if isinstance(dim.dimension, Fidelity):
                    raise SpaceError(f"{name}: the fidelity cannot be conditional")
                conds[name] = _checked_condition(name, dim, dims)
                dim = dim.dimension
            if isinstance(dim, Fidelity):
                if fidelity is not None:
                    raise SpaceError(
                        f"two fidelities, {fidelity[0]!r} and {name!r}: a space has at most one "
                        "Fidelity; turn the other into an Int or Float hyperparameter"
                    )
                fidelity = (name, dim)
            elif isinstance(dim, Dimension):
                dims[name] = dim
            else:
                raise SpaceError(
                    f"{name}={dim!r} is a {type(dim).__name__}, not a dimension; {_HINT}"
                )
        if not dims:
            raise SpaceError(f"the space has no hyperparameters to search; {_HINT}")
        object.__setattr__(self, "_dims", MappingProxyType(dims))
        object.__setattr__(self, "_conds", MappingProxyType(conds))
        object.__setattr__(self, "_fidelity_name", None if fidelity is None else fidelity[0])
        object.__setattr__(self, "_fidelity", None if fidelity is None else fidelity[1])

    def __setattr__(self, name: str, value: object) -> NoReturn:
        raise AttributeError(f"Space is immutable; cannot set {name!r}")

    def __reduce__(self) -> tuple[Any, tuple[dict[str, Any]]]:
        return (Space.from_dict, (self.to_dict(),))

    # -- structure ---------------------------------------------------------------------------

    @property
    def names(self) -> tuple[str, ...]:
        """Hyperparameter names (the fidelity excluded), in definition order."""
        return tuple(self._dims)

    @property
    def dimensions(self) -> Mapping[str, Dimension]:
        """Read-only mapping of hyperparameter name to dimension (the fidelity excluded)."""
        return self._dims

    @property
    def fidelity(self) -> Fidelity | None:
        """The training-budget axis, or None if the space has none."""
        return self._fidelity

    @property
    def fidelity_name(self) -> str | None:
        """The keyword the fidelity was given under (e.g. ``"epochs"``), or None."""
        return self._fidelity_name

    def __len__(self) -> int:
        """Number of hyperparameters, i.e. the length of a unit vector."""
        return len(self._dims)

    def __iter__(self) -> Iterator[str]:
        """Iterate over the hyperparameter names in definition order."""
        return iter(self._dims)

    def __contains__(self, name: object) -> bool:
        """True if ``name`` is a hyperparameter name (the fidelity's name is not)."""
        return name in self._dims

    def __getitem__(self, name: str) -> Dimension:
        """The dimension of hyperparameter ``name``; KeyError naming the valid names if absent."""
        try:
            return self._dims[name]
        except KeyError:
            hint = "; use space.fidelity" if name == self._fidelity_name else ""
            raise KeyError(
                f"{name!r} is not a hyperparameter of this space (names: {list(self.names)}){hint}"
            ) from None

    # -- conditions --------------------------------------------------------------------------

    @property
    def conditions(self) -> Mapping[str, When]:
        """Read-only mapping of each conditional hyperparameter's name to its condition."""
        return self._conds

    def entries(self) -> dict[str, Dimension | Conditional]:
        """The keyword arguments that rebuild this space (conditions and fidelity included), for
        derived spaces: ``Space(**{**space.entries(), "epochs": Fidelity(1, 10)})``."""
        out: dict[str, Dimension | Conditional] = {}
        for name, dim in self._dims.items():
            cond = self._conds.get(name)
            out[name] = dim if cond is None else dim.when(**_clause_kwargs(cond))
        if self._fidelity is not None and self._fidelity_name is not None:
            out[self._fidelity_name] = self._fidelity
        return out

    def subspace(self, names: Iterable[str]) -> Space:
        """The space of hyperparameters ``names`` only (definition order kept, no fidelity);
        SpaceError if one of them is conditional on a hyperparameter left out."""
        keep = set(names)
        if unknown := sorted(keep - set(self._dims)):
            raise SpaceError(f"subspace: {unknown} are not hyperparameters of {list(self.names)}")
        entries = self.entries()
        for name in keep & set(self._conds):
            if lost := [p for p in self._conds[name].parents if p not in keep]:
                raise SpaceError(
                    f"subspace: {name!r} is conditional on {lost}, which are left out; "
                    "keep its parents or leave it out too"
                )
        return Space(**{n: entries[n] for n in self._dims if n in keep})

    def is_active(self, name: str, config: Mapping[str, Any]) -> bool:
        """True if hyperparameter ``name`` is active in ``config`` (a config of this space)."""
        cond = self._conds.get(name)
        return cond is None or cond.holds(config)

    def prune(self, values: Mapping[str, Any]) -> dict[str, Any]:
        """``values`` less every hyperparameter that is inactive (or absent) under its parents'
        values there, in definition order; unknown keys are dropped. Values are not validated.

        >>> from hyperrace.space import Categorical, Float
        >>> space = Space(opt=Categorical(["adam", "sgd"]), m=Float(0.0, 1.0).when(opt="sgd"))
        >>> space.prune({"opt": "adam", "m": 0.9})
        {'opt': 'adam'}
        """
        out: dict[str, Any] = {}
        for name in self._dims:
            if name in values and self.is_active(name, out):
                out[name] = values[name]
        return out

    def active_mask(self, configs: Iterable[Mapping[str, Any]]) -> npt.NDArray[np.bool_]:
        """Shape (n, len(space)): True where a hyperparameter is active in a (valid) config, in
        the column order of :meth:`to_unit_many`."""
        rows = [[name in config for name in self._dims] for config in configs]
        return np.array(rows, dtype=np.bool_).reshape(len(rows), len(self))

    # -- configs ------------------------------------------------------------------------------

    def sample(self, rng: np.random.Generator) -> dict[str, Any]:
        """Draw one config (name -> native value) from each dimension's prior using ``rng``.

        Inactive hyperparameters are left out and draw nothing from ``rng``.
        """
        config: dict[str, Any] = {}
        for name, dim in self._dims.items():
            if self.is_active(name, config):
                config[name] = dim.sample(rng)
        return config

    def validate(self, config: Mapping[str, Any]) -> dict[str, Any]:
        """Check that ``config`` fits the space and return it normalized to native types.

        The keys must be exactly the active hyperparameters (all of ``names`` when the space
        has no conditions); missing, unknown and inactive keys are all reported. Each value is
        checked by its dimension; integer-valued floats such as 3.0 become ints for
        :class:`Int`. Raises SpaceError on any mismatch.
        """
        if not isinstance(config, Mapping):
            raise SpaceError(f"a config must be a mapping of name to value, got {config!r}")
        if len(config) == len(self._dims) and not self._conds:  # the common case, fast
            try:
                return {name: dim.validate(name, config[name]) for name, dim in self._dims.items()}
            except KeyError:
                pass
        unknown = [key for key in config if key not in self._dims]
        missing: list[str] = []
        inactive: list[str] = []
        seen: dict[str, Any] = {}  # the active values, normalized
        expected: list[str] = []
        for name, dim in self._dims.items():
            active = self.is_active(name, seen)
            if active:
                expected.append(name)
            if name not in config:
                if active:
                    missing.append(name)
            elif not active:
                inactive.append(self._inactive_reason(name, config))
            elif self._conds:  # a bad value would mislead about what is active: say it first
                seen[name] = dim.validate(name, config[name])
        if missing or unknown or inactive:
            problems = []
            if missing:
                problems.append(f"missing {missing}")
            if unknown:
                problems.append(f"unknown {unknown}")
                if self._fidelity_name in unknown:
                    problems.append(
                        f"{self._fidelity_name!r} is the fidelity, not a hyperparameter"
                    )
            problems += inactive
            raise SpaceError(
                f"config keys do not match the space: {'; '.join(problems)}; "
                f"expected exactly {expected}"
            )
        return {
            name: dim.validate(name, config[name])
            for name, dim in self._dims.items()
            if name in config
        }

    def _inactive_reason(self, name: str, config: Mapping[str, Any]) -> str:
        cond = self._conds[name]
        given = ", ".join(f"{p}={config[p]!r}" if p in config else f"no {p}" for p in cond.parents)
        return (
            f"{name} is inactive ({given}; it is active only when "
            f"{', '.join(map(repr, cond.clauses))}): leave {name!r} out of the config"
        )

    def to_unit(self, config: Mapping[str, Any]) -> npt.NDArray[np.float64]:
        """Encode ``config`` as a float64 vector of shape (len(space),) with entries in [0, 1].

        An inactive hyperparameter's coordinate is :data:`INACTIVE_UNIT` (0.5).
        """
        values = self.validate(config)
        return np.array(
            [
                dim.to_unit(values[name]) if name in values else INACTIVE_UNIT
                for name, dim in self._dims.items()
            ],
            dtype=np.float64,
        )

    def to_unit_many(self, configs: Iterable[Mapping[str, Any]]) -> npt.NDArray[np.float64]:
        """Encode several configs as a float64 array of shape (n, len(space))."""
        rows = [self.to_unit(config) for config in configs]
        if not rows:
            return np.empty((0, len(self)), dtype=np.float64)
        return np.stack(rows)

    def from_unit(self, u: npt.ArrayLike) -> dict[str, Any]:
        """Decode a vector of shape (len(space),) in [0, 1] (values are clipped) into a config.

        The coordinates of hyperparameters that are inactive in the decoded config are ignored.
        """
        expected = (len(self),)
        try:
            arr = np.asarray(u, dtype=np.float64)
        except (TypeError, ValueError):
            raise SpaceError(f"from_unit expects a float array of shape {expected}") from None
        if arr.shape != expected:
            raise SpaceError(
                f"from_unit expects an array of shape {expected}, one coordinate per "
                f"hyperparameter {list(self.names)}; got shape {arr.shape}"
            )
        if not np.all(np.isfinite(arr)):
            raise SpaceError(f"from_unit got non-finite coordinates {arr.tolist()}")
        if not self._conds:
            return {
                name: dim.from_unit(float(x))
                for (name, dim), x in zip(self._dims.items(), arr, strict=True)
            }
        config: dict[str, Any] = {}
        for (name, dim), x in zip(self._dims.items(), arr, strict=True):
            if self.is_active(name, config):
                config[name] = dim.from_unit(float(x))
        return config

    def grid(self, resolution: int) -> list[dict[str, Any]]:
        """Every combination of each dimension's ``grid(resolution)`` (resolution >= 2).

        Order is deterministic: the last hyperparameter varies fastest. Categorical dimensions
        contribute all their choices; the list has at most ``resolution ** len(space)`` configs
        times the categorical sizes. With conditions, inactive hyperparameters are left out and
        each config appears once.
        """
        if isinstance(resolution, bool) or not isinstance(resolution, int) or resolution < 2:
            raise SpaceError(f"grid(resolution={resolution!r}): resolution must be an int >= 2")
        axes: list[tuple[Value, ...]] = [dim.grid(resolution) for dim in self._dims.values()]
        combos = (dict(zip(self.names, combo, strict=True)) for combo in itertools.product(*axes))
        if not self._conds:
            return list(combos)
        seen: set[str] = set()
        out: list[dict[str, Any]] = []
        for combo in combos:
            config = self.prune(combo)
            key = json.dumps([[k, type(v).__name__, v] for k, v in config.items()])
            if key not in seen:
                seen.add(key)
                out.append(config)
        return out

    # -- serialization and comparison ---------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        """JSON-able description: ``{"dimensions": [{"name": ..., "type": ...}, ...],
        "fidelity": {"name": ..., "type": "fidelity", ...} or None}``; a conditional
        hyperparameter's entry has a ``"when"`` key (see :meth:`When.to_dict`).
        """
        fidelity = None
        if self._fidelity is not None:
            fidelity = {"name": self._fidelity_name, **self._fidelity.to_dict()}
        entries = []
        for name, dim in self._dims.items():
            entry = {"name": name, **dim.to_dict()}
            if name in self._conds:
                entry["when"] = self._conds[name].to_dict()
            entries.append(entry)
        return {"dimensions": entries, "fidelity": fidelity}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Space:
        """Rebuild a space from :meth:`to_dict` output; raise SpaceError if it is malformed."""
        if not isinstance(d, Mapping) or not isinstance(d.get("dimensions"), list | tuple):
            raise SpaceError(f"a space dict needs a 'dimensions' list, got {d!r}")
        if unknown := sorted(set(d) - {"dimensions", "fidelity"}):
            raise SpaceError(f"space dict has unknown keys {unknown}")
        entries = list(d["dimensions"])
        if d.get("fidelity") is not None:
            entries.append(d["fidelity"])
        kwargs: dict[str, Dimension | Conditional] = {}
        for entry in entries:
            if not isinstance(entry, Mapping) or not isinstance(entry.get("name"), str):
                raise SpaceError(f"each space dict entry needs a string 'name', got {entry!r}")
            if entry["name"] in kwargs:
                raise SpaceError(f"space dict names {entry['name']!r} twice")
            dim = dimension_from_dict({k: v for k, v in entry.items() if k not in ("name", "when")})
            kwargs[entry["name"]] = (
                dim if "when" not in entry else when_from_dict(dim, entry["when"])
            )
        return cls(**kwargs)

    @classmethod
    def from_configspace(
        cls, configspace: Any, *, fidelity: Fidelity | None = None, fidelity_name: str = "epochs"
    ) -> Space:
        """The space of a ConfigSpace ``ConfigurationSpace`` (needs ``pip install
        'hyperrace[configspace]'``): uniform floats and ints (log scales kept), categoricals,
        ordinals and constants, with their conditions; ``fidelity`` is added under
        ``fidelity_name``. What does not translate raises SpaceError naming it (see
        :mod:`hyperrace.space._configspace`)."""
        from hyperrace.space._configspace import from_configspace

        return cls(**from_configspace(configspace, fidelity=fidelity, fidelity_name=fidelity_name))

    def _key(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Space):
            return NotImplemented
        return self._key() == other._key()

    def __hash__(self) -> int:
        return hash(self._key())

    def describe_difference(self, other: Space) -> str:
        """Describe, one change per line, how ``other`` differs from ``self``; "" if equal.

        ``self`` is read as the old space and ``other`` as the new one: lines report added,
        removed and changed hyperparameters (conditions included), a changed order, and
        fidelity changes.
        """
        if self == other:
            return ""
        old = {n: self._entry_repr(n) for n in self._dims}
        new = {n: other._entry_repr(n) for n in other._dims}
        lines = [f"added {n}={new[n]}" for n in new if n not in old]
        lines += [f"removed {n}={old[n]}" for n in old if n not in new]
        lines += [
            f"changed {n}: {old[n]} -> {new[n]}" for n in old if n in new and old[n] != new[n]
        ]
        order_old = [n for n in old if n in new]
        order_new = [n for n in new if n in old]
        if order_old != order_new:
            lines.append(f"reordered: {', '.join(order_old)} -> {', '.join(order_new)}")
        fid_old = self._fidelity_repr()
        fid_new = other._fidelity_repr()
        if fid_old != fid_new:
            lines.append(f"fidelity changed: {fid_old} -> {fid_new}")
        return "\n".join(lines) or "the spaces differ in their serialized form"

    def _fidelity_repr(self) -> str:
        if self._fidelity is None:
            return "None"
        return f"{self._fidelity_name}={self._fidelity!r}"

    def _entry_repr(self, name: str) -> str:
        dim, cond = self._dims[name], self._conds.get(name)
        if cond is None:
            return repr(dim)
        return f"{dim!r}.when({', '.join(map(repr, cond.clauses))})"

    def __repr__(self) -> str:
        parts = [f"{name}={self._entry_repr(name)}" for name in self._dims]
        if self._fidelity is not None:
            parts.append(self._fidelity_repr())
        return f"Space({', '.join(parts)})"
