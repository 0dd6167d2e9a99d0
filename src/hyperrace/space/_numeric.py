"""Numeric helpers shared by the Float, Int and Fidelity dimensions.

Every function here works on plain Python numbers and raises :class:`SpaceError` with a message
that names the offending value and how to fix it.
"""

from __future__ import annotations

import math

import numpy as np

from hyperrace.exceptions import SpaceError

#: Largest absolute Int bound; keeps every integer exact through the float [0, 1] encoding.
INT_LIMIT = 2**40


def as_real(value: object) -> int | float | None:
    """Return ``value`` as a native int or float, or None if it is not a real number.

    Bools (Python and numpy) are not numbers here; numpy integer/float scalars are converted.
    """
    if isinstance(value, np.generic) and not isinstance(value, np.bool_):
        value = value.item()
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return value


def check_float_bounds(
    label: str, low: object, high: object, *, log: object
) -> tuple[float, float]:
    """Validate the bounds of a real-valued range and return them as floats."""
    if not isinstance(log, bool):
        raise SpaceError(f"{label}: log must be True or False, got {log!r}")
    bounds: list[float] = []
    for name, raw in (("low", low), ("high", high)):
        value = as_real(raw)
        if value is None:
            raise SpaceError(f"{label}: {name} must be a real number, got {type(raw).__name__}")
        if not is_finite(value):
            raise SpaceError(
                f"{label}: {name}={raw!r} is not finite; bounds must be finite numbers"
            )
        try:
            bounds.append(float(value) + 0.0)  # + 0.0 turns -0.0 into 0.0
        except OverflowError:
            raise SpaceError(f"{label}: {name}={raw!r} is too large for a float") from None
    lo, hi = bounds
    _check_order(label, lo, hi)
    if not math.isfinite(hi - lo):
        raise SpaceError(f"{label}: high - low overflows a float; narrow the range")
    if log and lo <= 0:
        raise SpaceError(f"{label}: a log scale needs low > 0; use low=1e-8 or log=False")
    if log and not math.log(hi) > math.log(lo):
        raise SpaceError(f"{label}: low and high are too close for a log scale; use log=False")
    return lo, hi


def check_int_bounds(label: str, low: object, high: object, *, log: object) -> tuple[int, int]:
    """Validate the bounds of an integer range and return them as ints."""
    if not isinstance(log, bool):
        raise SpaceError(f"{label}: log must be True or False, got {log!r}")
    bounds: list[int] = []
    for name, raw in (("low", low), ("high", high)):
        if isinstance(raw, bool | np.bool_):
            raise SpaceError(
                f"{label}: {name}={raw!r} is a bool, not an int; use Categorical([False, True])"
            )
        value = as_real(raw)
        if isinstance(value, float):
            raise SpaceError(
                f"{label}: {name}={raw!r} is a float; Int needs integer bounds, "
                "use Float for a real-valued range"
            )
        if value is None:
            raise SpaceError(f"{label}: {name} must be an int, got {type(raw).__name__}")
        if abs(value) > INT_LIMIT:
            raise SpaceError(
                f"{label}: {name}={raw!r} is outside ±2**40; use Float for so wide a range"
            )
        bounds.append(value)
    lo, hi = bounds
    _check_order(label, lo, hi)
    if log and lo < 1:
        raise SpaceError(f"{label}: a log scale needs low >= 1; use low=1 or log=False")
    return lo, hi


def _check_order(label: str, low: float, high: float) -> None:
    if low == high:
        raise SpaceError(
            f"{label}: low == high leaves a single value; widen the range, "
            "or drop the hyperparameter and pass the constant to your training function"
        )
    if low > high:
        raise SpaceError(f"{label}: low must be < high; swap them")


def check_number(
    owner: object, name: str, value: object, low: float, high: float, *, integer: bool
) -> float:
    """Validate one value of a numeric dimension; return it as a float (integral if ``integer``).

    ``owner`` is the dimension (its repr is quoted in errors, and built only then: this runs for
    every value an optimizer encodes) and ``name`` the hyperparameter name. Integer-valued floats
    such as 3.0 are accepted for integer dimensions.
    """
    real = as_real(value)
    if real is None or not is_finite(real):
        problem = "is not a finite number"
    elif integer and isinstance(real, float) and not real.is_integer():
        problem = "is not an integer"
    elif not low <= real <= high:
        problem = "is out of range"
    else:
        return float(real)
    kind = "an integer" if integer else "a number"
    raise SpaceError(f"{name}={value!r} {problem}; {owner!r} expects {kind} in [{low!r}, {high!r}]")


def is_finite(x: float) -> bool:
    """``math.isfinite`` that also accepts ints too large for a float (they count as finite)."""
    return isinstance(x, int) or math.isfinite(x)


def clip_unit(u: object) -> float:
    """Return the unit coordinate ``u`` clipped into [0, 1]; NaN and non-numbers are errors."""
    real = as_real(u)
    if real is None or (isinstance(real, float) and math.isnan(real)):
        raise SpaceError(f"u={u!r} is not a number; a unit coordinate lies in [0, 1]")
    return float(min(1.0, max(0.0, real)))


def encode(value: float, low: float, high: float, *, log: bool) -> float:
    """Map ``value`` in [low, high] linearly (or log-linearly) onto [0, 1]."""
    if log:
        t = (math.log(value) - math.log(low)) / (math.log(high) - math.log(low))
    else:
        t = (value - low) / (high - low)
    return min(1.0, max(0.0, t))


def decode(u: object, low: float, high: float, *, log: bool) -> float:
    """Inverse of :func:`encode`: map ``u`` (clipped into [0, 1]) back onto [low, high]."""
    return interpolate(clip_unit(u), float(low), float(high), log=log)


def interpolate(t: float, low: float, high: float, *, log: bool) -> float:
    """The point a fraction ``t`` in [0, 1] of the way from low to high (in log space if ``log``).

    Exact at both ends and always clipped into [low, high].
    """
    if t <= 0.0:
        return low
    if t >= 1.0:
        return high
    if log:
        log_low = math.log(low)
        try:
            x = math.exp(log_low + t * (math.log(high) - log_low))
        except OverflowError:
            x = high
    else:
        x = low + t * (high - low)
    return min(high, max(low, x))


def round_int(x: float, low: int, high: int) -> int:
    """Round ``x`` half up to the nearest integer and clip it into [low, high]."""
    return min(high, max(low, math.floor(x + 0.5)))


def check_grid_size(label: str, n: object) -> int:
    """Validate a grid size: an int >= 2, so that both ends of the range are included."""
    if isinstance(n, bool) or not isinstance(n, int | np.integer):
        raise SpaceError(f"{label}.grid(n={n!r}): n must be an int >= 2")
    if n < 2:
        raise SpaceError(f"{label}.grid(n={n!r}): n must be >= 2 so both ends are included")
    return int(n)


def real_grid(low: float, high: float, n: int, *, log: bool) -> list[float]:
    """``n`` floats evenly (or log-evenly) spaced over [low, high], both ends exact."""
    return [interpolate(i / (n - 1), low, high, log=log) for i in range(n)]


def int_grid(low: int, high: int, n: int, *, log: bool) -> list[int]:
    """Up to ``n`` distinct ints evenly (or log-evenly) spaced over [low, high], ends included."""
    values: list[int] = []
    for x in real_grid(float(low), float(high), n, log=log):
        k = round_int(x, low, high)
        if not values or k != values[-1]:
            values.append(k)
    return values
