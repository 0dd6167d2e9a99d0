"""A unit-cube encoding with categorical dimensions one-hot, for models over continuous inputs.

:meth:`Space.to_unit` gives a categorical dimension one column (its bin centre), which imposes an
order on the choices that a kernel model would read as distance. :class:`OneHot` keeps every
numeric dimension's column as :meth:`Space.to_unit` makes it (log scales already applied) and
gives a categorical of ``c`` choices ``c`` columns, 1.0 on its choice and 0.0 elsewhere. In the
continuous relaxation a block may hold any values in [0, 1]; decoding takes its argmax (the first
choice on ties), and numeric columns decode with the dimension's ``from_unit`` (ints rounded).

A conditional hyperparameter that is inactive in a config is encoded at a fixed point, so that
every config where it is inactive agrees on its columns: a numeric column at
:data:`~hyperrace.space.INACTIVE_UNIT` (as :meth:`Space.to_unit` does), a one-hot block all 0.0.
Decoding leaves out what the decoded parents make inactive, whatever its columns hold. Models
over these vectors thus need not know about conditions.

Examples:

>>> from hyperrace.space import INACTIVE_UNIT, Categorical, Float, Space
>>> enc = OneHot(Space(lr=Float(1e-4, 1e-1, log=True), opt=Categorical(["adam", "sgd"])))
>>> enc.encode({"lr": 1e-3, "opt": "sgd"})
array([0.33333333, 0.        , 1.        ])
>>> enc.decode([0.5, 0.2, 0.7])
{'lr': 0.00316..., 'opt': 'sgd'}
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from hyperrace.exceptions import SpaceError
from hyperrace.space import INACTIVE_UNIT, Categorical, Float, Space

__all__ = ["OneHot"]

Array = npt.NDArray[np.float64]


@dataclass(frozen=True, init=False)
class OneHot:
    """The one-hot encoding of ``space``.

    Attributes:
        space: the space encoded.
        slices: per hyperparameter (in ``space.names`` order), its columns.
        width: the number of columns (the sum of 1 per numeric and ``c`` per categorical).
    """

    space: Space
    slices: tuple[slice, ...]
    width: int

    def __init__(self, space: Space) -> None:
        slices = []
        start = 0
        for dim in space.dimensions.values():
            size = len(dim.choices) if isinstance(dim, Categorical) else 1
            slices.append(slice(start, start + size))
            start += size
        object.__setattr__(self, "space", space)
        object.__setattr__(self, "slices", tuple(slices))
        object.__setattr__(self, "width", start)

    def encode(self, config: Mapping[str, Any]) -> Array:
        """``config`` as a vector of shape (width,) in [0, 1]; SpaceError if it does not fit."""
        return self.encode_valid(self.space.validate(config))

    def encode_valid(self, config: Mapping[str, Any]) -> Array:
        """:meth:`encode` of a config known to be valid (as stored trials' are), unchecked."""
        z = np.zeros(self.width, dtype=np.float64)
        for (name, dim), cols in zip(self.space.dimensions.items(), self.slices, strict=True):
            if name not in config:
                if not isinstance(dim, Categorical):
                    z[cols.start] = INACTIVE_UNIT
            elif isinstance(dim, Categorical):
                z[cols.start + dim.index(config[name])] = 1.0
            else:
                z[cols.start] = dim.to_unit(config[name])
        return z

    def encode_many(self, configs: Iterable[Mapping[str, Any]]) -> Array:
        """Several configs as an array of shape (n, width)."""
        return self.encode_many_valid([self.space.validate(c) for c in configs])

    def encode_many_valid(self, configs: Iterable[Mapping[str, Any]]) -> Array:
        """:meth:`encode_many` of configs known to be valid, unchecked."""
        rows = [self.encode_valid(c) for c in configs]
        return np.stack(rows) if rows else np.zeros((0, self.width), dtype=np.float64)

    def decode(self, z: npt.ArrayLike) -> dict[str, Any]:
        """The config of vector ``z`` of shape (width,): argmax per one-hot block, numeric columns
        through ``from_unit`` (clipped into [0, 1], ints rounded)."""
        arr = np.asarray(z, dtype=np.float64)
        if arr.shape != (self.width,) or not np.all(np.isfinite(arr)):
            raise SpaceError(
                f"decode expects {self.width} finite coordinates for {list(self.space.names)}, "
                f"got shape {arr.shape}"
            )
        config: dict[str, Any] = {}
        for (name, dim), cols in zip(self.space.dimensions.items(), self.slices, strict=True):
            if not self.space.is_active(name, config):
                continue
            if isinstance(dim, Categorical):
                config[name] = dim.choices[int(np.argmax(arr[cols]))]
            else:
                config[name] = dim.from_unit(float(arr[cols.start]))
        return config

    def project(self, z: npt.ArrayLike) -> Array:
        """Rows of ``z`` (shape (n, width)) moved onto encodings of the configs they decode to:
        one-hot blocks become exact, ints land on their grid points, floats are clipped, and the
        columns of what is inactive take their fixed values."""
        arr = np.clip(np.asarray(z, dtype=np.float64).reshape(-1, self.width), 0.0, 1.0)
        if self.space.conditions:
            return self.encode_many_valid([self.decode(row) for row in arr])
        for dim, cols in zip(self.space.dimensions.values(), self.slices, strict=True):
            if isinstance(dim, Categorical):
                hot = np.argmax(arr[:, cols], axis=1)
                arr[:, cols] = 0.0
                arr[np.arange(len(arr)), cols.start + hot] = 1.0
            elif not isinstance(dim, Float):
                arr[:, cols.start] = [dim.to_unit(dim.from_unit(u)) for u in arr[:, cols.start]]
        return arr
