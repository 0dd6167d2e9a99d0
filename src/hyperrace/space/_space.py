"""The :class:`Space`: named hyperparameter dimensions plus an optional training-budget axis."""

from __future__ import annotations

import itertools
import json
import keyword
from collections.abc import Iterable, Iterator, Mapping
from types import MappingProxyType
from typing import Any, NoReturn

import numpy as np
import numpy.typing as npt

from hyperrace.exceptions import SpaceError
from hyperrace.space._base import Dimension, Value
from hyperrace.space._dimensions import Fidelity, dimension_from_dict

_HINT = (
    "use a dimension such as hr.Float(1e-5, 1e-1, log=True), hr.Int(1, 8), "
    "hr.Categorical(['adam', 'sgd']) or hr.Fidelity(1, 50)"
)


def _check_name(name: str) -> None:
    if not name.isidentifier() or keyword.iskeyword(name):
        raise SpaceError(f"hyperparameter name {name!r} is not a valid Python identifier")
    if name.startswith("_"):
        raise SpaceError(f"hyperparameter name {name!r} starts with '_'; that prefix is reserved")


class Space:
    """An immutable search space: hyperparameter names mapped to dimensions.

    Create it with keyword arguments, e.g.
    ``Space(lr=Float(1e-5, 1e-1, log=True), depth=Int(2, 8), epochs=Fidelity(1, 50))``.
    Names must be Python identifiers not starting with ``"_"``. At most one argument may be a
    :class:`Fidelity`; it sets the training budget axis and is not a hyperparameter, so it is
    absent from ``names``, configs and unit encodings. Definition order is kept and fixes the
    column order of unit vectors.
    """

    __slots__ = ("_dims", "_fidelity", "_fidelity_name")

    _dims: Mapping[str, Dimension]
    _fidelity: Fidelity | None
    _fidelity_name: str | None

    def __init__(self, **dimensions: Dimension) -> None:
        """Build the space from ``name=dimension`` keyword arguments."""
        dims: dict[str, Dimension] = {}
        fidelity: tuple[str, Fidelity] | None = None
        for name, dim in dimensions.items():
            _check_name(name)
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

    # -- configs ------------------------------------------------------------------------------

    def sample(self, rng: np.random.Generator) -> dict[str, Any]:
        """Draw one config (name -> native value) from each dimension's prior using ``rng``."""
        return {name: dim.sample(rng) for name, dim in self._dims.items()}

    def validate(self, config: Mapping[str, Any]) -> dict[str, Any]:
        """Check that ``config`` fits the space and return it normalized to native types.

        The keys must be exactly ``names``; missing and unknown keys are both reported. Each
        value is checked by its dimension; integer-valued floats such as 3.0 become ints for
        :class:`Int`. Raises SpaceError on any mismatch.
        """
        if not isinstance(config, Mapping):
            raise SpaceError(f"a config must be a mapping of name to value, got {config!r}")
        missing = [name for name in self._dims if name not in config]
        unknown = [key for key in config if key not in self._dims]
        if missing or unknown:
            problems = []
            if missing:
                problems.append(f"missing {missing}")
            if unknown:
                problems.append(f"unknown {unknown}")
                if self._fidelity_name in unknown:
                    problems.append(
                        f"{self._fidelity_name!r} is the fidelity, not a hyperparameter"
                    )
            raise SpaceError(
                f"config keys do not match the space: {'; '.join(problems)}; "
                f"expected exactly {list(self.names)}"
            )
        return {name: dim.validate(name, config[name]) for name, dim in self._dims.items()}

    def to_unit(self, config: Mapping[str, Any]) -> npt.NDArray[np.float64]:
        """Encode ``config`` as a float64 vector of shape (len(space),) with entries in [0, 1]."""
        values = self.validate(config)
        return np.array(
            [dim.to_unit(values[name]) for name, dim in self._dims.items()], dtype=np.float64
        )

    def to_unit_many(self, configs: Iterable[Mapping[str, Any]]) -> npt.NDArray[np.float64]:
        """Encode several configs as a float64 array of shape (n, len(space))."""
        rows = [self.to_unit(config) for config in configs]
        if not rows:
            return np.empty((0, len(self)), dtype=np.float64)
        return np.stack(rows)

    def from_unit(self, u: npt.ArrayLike) -> dict[str, Any]:
        """Decode a vector of shape (len(space),) in [0, 1] (values are clipped) into a config."""
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
        return {
            name: dim.from_unit(float(x))
            for (name, dim), x in zip(self._dims.items(), arr, strict=True)
        }

    def grid(self, resolution: int) -> list[dict[str, Any]]:
        """Every combination of each dimension's ``grid(resolution)`` (resolution >= 2).

        Order is deterministic: the last hyperparameter varies fastest. Categorical dimensions
        contribute all their choices; the list has at most ``resolution ** len(space)`` configs
        times the categorical sizes.
        """
        if isinstance(resolution, bool) or not isinstance(resolution, int) or resolution < 2:
            raise SpaceError(f"grid(resolution={resolution!r}): resolution must be an int >= 2")
        axes: list[tuple[Value, ...]] = [dim.grid(resolution) for dim in self._dims.values()]
        return [dict(zip(self.names, combo, strict=True)) for combo in itertools.product(*axes)]

    # -- serialization and comparison ---------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        """JSON-able description: ``{"dimensions": [{"name": ..., "type": ...}, ...],
        "fidelity": {"name": ..., "type": "fidelity", ...} or None}``.
        """
        fidelity = None
        if self._fidelity is not None:
            fidelity = {"name": self._fidelity_name, **self._fidelity.to_dict()}
        return {
            "dimensions": [{"name": name, **dim.to_dict()} for name, dim in self._dims.items()],
            "fidelity": fidelity,
        }

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
        kwargs: dict[str, Dimension] = {}
        for entry in entries:
            if not isinstance(entry, Mapping) or not isinstance(entry.get("name"), str):
                raise SpaceError(f"each space dict entry needs a string 'name', got {entry!r}")
            if entry["name"] in kwargs:
                raise SpaceError(f"space dict names {entry['name']!r} twice")
            kwargs[entry["name"]] = dimension_from_dict(
                {k: v for k, v in entry.items() if k != "name"}
            )
        return cls(**kwargs)

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
        removed and changed hyperparameters, a changed order, and fidelity changes.
        """
        if self == other:
            return ""
        old, new = self._dims, other._dims
        lines = [f"added {n}={new[n]!r}" for n in new if n not in old]
        lines += [f"removed {n}={old[n]!r}" for n in old if n not in new]
        lines += [
            f"changed {n}: {old[n]!r} -> {new[n]!r}" for n in old if n in new and old[n] != new[n]
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

    def __repr__(self) -> str:
        parts = [f"{name}={dim!r}" for name, dim in self._dims.items()]
        if self._fidelity is not None:
            parts.append(self._fidelity_repr())
        return f"Space({', '.join(parts)})"
