"""Numeric dimensions :class:`Float`, :class:`Int`, :class:`Fidelity`, and (de)serialization.

Every dimension is an immutable value object. Besides sampling, each one encodes its values
onto the unit interval [0, 1], which is the coordinate system model-based optimizers work in.
All values handed out are native Python types (float, int, str, bool), never numpy scalars.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from hyperrace._clock import ClockName, clock_problem
from hyperrace.exceptions import SpaceError
from hyperrace.space import _numeric as num
from hyperrace.space._base import Dimension
from hyperrace.space._categorical import Categorical

#: Units a :class:`Fidelity` budget can be counted in.
FidelityUnit = Literal["epochs", "steps", "seconds"]
_UNITS: tuple[str, ...] = ("epochs", "steps", "seconds")


def _label(kind: str, low: object, high: object, extra: str = "") -> str:
    return f"{kind}(low={low!r}, high={high!r}{extra})"


@dataclass(frozen=True, slots=True)
class Float(Dimension):
    """A real-valued hyperparameter in the closed interval [low, high].

    ``low`` and ``high`` are in the hyperparameter's own units (e.g. a learning rate); they must be
    finite with low < high. With ``log=True`` values are sampled and encoded uniformly in log
    space, which suits scale parameters such as learning rates; this needs low > 0.
    """

    low: float
    high: float
    log: bool = field(default=False, kw_only=True)

    def __post_init__(self) -> None:
        label = _label("Float", self.low, self.high, ", log=True" if self.log is True else "")
        low, high = num.check_float_bounds(label, self.low, self.high, log=self.log)
        object.__setattr__(self, "low", low)
        object.__setattr__(self, "high", high)

    def sample(self, rng: np.random.Generator) -> float:
        """Draw a float uniformly (log-uniformly if ``log``) from [low, high]."""
        if self.log:
            return num.interpolate(float(rng.random()), self.low, self.high, log=True)
        return min(self.high, max(self.low, float(rng.uniform(self.low, self.high))))

    def to_unit(self, value: object) -> float:
        """Encode ``value``: low maps to 0.0, high to 1.0 (linearly, or linearly in log space)."""
        x = self.validate("value", value)
        return num.encode(x, self.low, self.high, log=self.log)

    def from_unit(self, u: float) -> float:
        """Decode ``u`` in [0, 1] (clipped) into a float in [low, high]."""
        return num.decode(u, self.low, self.high, log=self.log)

    def validate(self, name: str, value: object) -> float:
        """Return ``value`` as a float if it is a finite number in [low, high]."""
        return num.check_number(self, name, value, self.low, self.high, integer=False)

    def grid(self, n: int) -> tuple[float, ...]:
        """Return ``n`` >= 2 floats evenly (log-evenly if ``log``) spaced, including both ends."""
        n = num.check_grid_size(repr(self), n)
        return tuple(num.real_grid(self.low, self.high, n, log=self.log))

    def to_dict(self) -> dict[str, Any]:
        """Return ``{"type": "float", "low": ..., "high": ..., "log": ...}``."""
        return {"type": "float", "low": self.low, "high": self.high, "log": self.log}


@dataclass(frozen=True, slots=True)
class Int(Dimension):
    """An integer hyperparameter in the closed interval [low, high] (e.g. a layer count).

    Bounds must be ints (not floats, not bools) within ±2**40 with low < high. With
    ``log=True`` values are spread uniformly in log space (needs low >= 1), and every integer
    in the range can still be drawn.
    """

    low: int
    high: int
    log: bool = field(default=False, kw_only=True)

    def __post_init__(self) -> None:
        label = _label("Int", self.low, self.high, ", log=True" if self.log is True else "")
        low, high = num.check_int_bounds(label, self.low, self.high, log=self.log)
        object.__setattr__(self, "low", low)
        object.__setattr__(self, "high", high)

    def sample(self, rng: np.random.Generator) -> int:
        """Draw an int uniformly, or log-uniformly (in log space, then rounded) if ``log``."""
        if not self.log:
            return int(rng.integers(self.low, self.high + 1))
        # Widen by half a step on each side so both end integers get their full rounding bin.
        x = math.exp(rng.uniform(math.log(self.low - 0.5), math.log(self.high + 0.5)))
        return num.round_int(x, self.low, self.high)

    def to_unit(self, value: object) -> float:
        """Encode ``value``: low maps to 0.0, high to 1.0 (linearly, or linearly in log space)."""
        k = self.validate("value", value)
        if not self.log:
            return (k - self.low) / (self.high - self.low)
        return num.encode(float(k), float(self.low), float(self.high), log=True)

    def from_unit(self, u: float) -> int:
        """Decode ``u`` in [0, 1] (clipped) into the nearest int in [low, high]."""
        x = num.decode(u, float(self.low), float(self.high), log=self.log)
        return num.round_int(x, self.low, self.high)

    def validate(self, name: str, value: object) -> int:
        """Return ``value`` as an int if it is an integer in [low, high]; 3.0 is accepted as 3."""
        x = num.check_number(self, name, value, self.low, self.high, integer=True)
        return int(x)

    def grid(self, n: int) -> tuple[int, ...]:
        """Return up to ``n`` >= 2 distinct ints evenly (log-evenly) spaced, both ends included."""
        n = num.check_grid_size(repr(self), n)
        return tuple(num.int_grid(self.low, self.high, n, log=self.log))

    def to_dict(self) -> dict[str, Any]:
        """Return ``{"type": "int", "low": ..., "high": ..., "log": ...}``."""
        return {"type": "int", "low": self.low, "high": self.high, "log": self.log}


@dataclass(frozen=True, slots=True)
class Fidelity(Dimension):
    """The training budget axis: how long a configuration is trained before it is judged.

    ``low`` is the smallest budget worth evaluating, ``high`` the full budget, both counted in
    ``unit``: ``"epochs"`` or ``"steps"`` (ints, low >= 1) or ``"seconds"`` (floats, low > 0)
    of ``clock``: ``"wall"`` seconds of training (the measure on an accelerator),
    ``"process"`` seconds of the worker and its child processes, or ``"auto"`` (default): wall
    seconds for a run given GPUs, processor seconds otherwise. A space holds at most one
    Fidelity; it is not a hyperparameter and is never part of a config.

    Example:
        >>> Fidelity(5.0, 300.0, unit="seconds", clock="wall").to_dict()["clock"]
        'wall'
    """

    low: int | float
    high: int | float
    unit: FidelityUnit = field(default="epochs", kw_only=True)
    clock: ClockName = field(default="auto", kw_only=True)

    def __post_init__(self) -> None:
        extra = f", unit={self.unit!r}" + (
            f", clock={self.clock!r}" if self.clock != "auto" else ""
        )
        label = _label("Fidelity", self.low, self.high, extra)
        if self.unit not in _UNITS:
            raise SpaceError(f"{label}: unit must be one of {', '.join(map(repr, _UNITS))}")
        if (problem := clock_problem("clock", self.clock)) is not None:
            raise SpaceError(f"{label}: {problem}")
        if self.clock != "auto" and self.unit != "seconds":
            raise SpaceError(
                f"{label}: a clock counts a fidelity in seconds; a fidelity in {self.unit} has "
                "none: leave clock out, or use unit='seconds'"
            )
        low: int | float
        high: int | float
        if self.is_integer:
            low, high = num.check_int_bounds(label, self.low, self.high, log=False)
            if low < 1:
                raise SpaceError(f"{label}: low must be >= 1 {self.unit}; use low=1")
        else:
            low, high = num.check_float_bounds(label, self.low, self.high, log=False)
            if low <= 0:
                raise SpaceError(f"{label}: low must be > 0 seconds; use e.g. low=1.0")
        object.__setattr__(self, "low", low)
        object.__setattr__(self, "high", high)

    def __repr__(self) -> str:
        clock = f", clock={self.clock!r}" if self.clock != "auto" else ""
        return f"Fidelity(low={self.low!r}, high={self.high!r}, unit={self.unit!r}{clock})"

    @property
    def is_integer(self) -> bool:
        """True when budgets are whole numbers (unit "epochs" or "steps"), False for seconds."""
        return self.unit != "seconds"

    def clip(self, x: float) -> int | float:
        """Clip the budget ``x`` into [low, high]; integer units round it to the nearest int."""
        real = num.as_real(x)
        if real is None or (isinstance(real, float) and math.isnan(real)):
            raise SpaceError(f"{self!r}.clip({x!r}): the budget must be a number")
        clipped = float(min(self.high, max(self.low, real)))
        return num.round_int(clipped, *self._ints()) if self.is_integer else clipped

    def _ints(self) -> tuple[int, int]:
        return int(self.low), int(self.high)

    def sample(self, rng: np.random.Generator) -> int | float:
        """Draw a budget uniformly from [low, high] (an int for integer units)."""
        if self.is_integer:
            return int(rng.integers(int(self.low), int(self.high) + 1))
        return self.clip(float(rng.uniform(self.low, self.high)))

    def to_unit(self, value: object) -> float:
        """Encode the budget ``value`` linearly: low maps to 0.0, high to 1.0."""
        x = self.validate("value", value)
        return num.encode(float(x), float(self.low), float(self.high), log=False)

    def from_unit(self, u: float) -> int | float:
        """Decode ``u`` in [0, 1] (clipped) into a budget (rounded for integer units)."""
        return self.clip(num.decode(u, float(self.low), float(self.high), log=False))

    def validate(self, name: str, value: object) -> int | float:
        """Return the budget ``value`` as an int (integer units) or float if it lies in range."""
        integer = self.is_integer
        x = num.check_number(self, name, value, self.low, self.high, integer=integer)
        return int(x) if integer else x

    def grid(self, n: int) -> tuple[int | float, ...]:
        """Return up to ``n`` >= 2 budgets evenly spaced over [low, high], both ends included."""
        n = num.check_grid_size(repr(self), n)
        if self.is_integer:
            return tuple(num.int_grid(*self._ints(), n, log=False))
        return tuple(num.real_grid(float(self.low), float(self.high), n, log=False))

    def to_dict(self) -> dict[str, Any]:
        """Return ``{"type": "fidelity", "low": ..., "high": ..., "unit": ...}``, with
        ``"clock"`` when it is not ``"auto"``."""
        out: dict[str, Any] = {
            "type": "fidelity",
            "low": self.low,
            "high": self.high,
            "unit": self.unit,
        }
        if self.clock != "auto":
            out["clock"] = self.clock
        return out


_KEYS: dict[str, tuple[frozenset[str], frozenset[str]]] = {
    "float": (frozenset({"low", "high"}), frozenset({"log"})),
    "int": (frozenset({"low", "high"}), frozenset({"log"})),
    "categorical": (frozenset({"choices"}), frozenset()),
    "fidelity": (frozenset({"low", "high"}), frozenset({"unit", "clock"})),
}


def dimension_from_dict(d: Mapping[str, Any]) -> Dimension:
    """Rebuild a dimension from the output of its ``to_dict()``; raise SpaceError if malformed."""
    if not isinstance(d, Mapping):
        raise SpaceError(f"a dimension dict must be a mapping, got {type(d).__name__}")
    kind = d.get("type")
    if kind not in _KEYS:
        raise SpaceError(f"dimension dict {dict(d)!r}: 'type' must be one of {sorted(_KEYS)}")
    required, optional = _KEYS[kind]
    keys = set(d) - {"type"}
    if missing := sorted(required - keys):
        raise SpaceError(f"{kind} dimension dict {dict(d)!r} lacks {missing}")
    if unknown := sorted(keys - required - optional):
        raise SpaceError(f"{kind} dimension dict {dict(d)!r} has unknown keys {unknown}")
    args = {k: v for k, v in d.items() if k != "type"}
    if kind == "float":
        return Float(**args)
    if kind == "int":
        return Int(**args)
    if kind == "categorical":
        if not isinstance(args["choices"], list | tuple):
            raise SpaceError(f"categorical dimension dict {dict(d)!r}: 'choices' must be a list")
        return Categorical(args["choices"])
    return Fidelity(**args)
