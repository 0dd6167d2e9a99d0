"""Checks of optimizer parameters: each returns the value or raises a ConfigurationError that
names the parameter, the value and what would be accepted.

Example:
    >>> check_int("n_initial", 3, 1)
    3
    >>> check_number("promotion", 1.5, low=0.0, high=1.0)
    Traceback (most recent call last):
    ...
    hyperrace.exceptions.ConfigurationError: promotion=1.5 must be a number in [0.0, 1.0]
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from hyperrace.exceptions import ConfigurationError

__all__ = ["check_choice", "check_int", "check_number"]


def check_int(name: str, value: object, low: int, *, optional: bool = False) -> Any:
    """``value`` as an int >= ``low`` (None too when ``optional``)."""
    if optional and value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        extra = " or None" if optional else ""
        raise ConfigurationError(f"{name}={value!r} must be an integer >= {low}{extra}")
    return value


def check_number(
    name: str,
    value: object,
    *,
    low: float = -math.inf,
    high: float = math.inf,
    low_open: bool = False,
    optional: bool = False,
) -> Any:
    """``value`` as a finite float in ``[low, high]`` (``(low, high]`` with ``low_open``)."""
    if optional and value is None:
        return None
    ok = (
        not isinstance(value, bool)
        and isinstance(value, int | float)
        and math.isfinite(value)
        and (value > low if low_open else value >= low)
        and value <= high
    )
    if not ok:
        left = "(" if low_open else "["
        extra = " or None" if optional else ""
        raise ConfigurationError(
            f"{name}={value!r} must be a number in {left}{low}, {high}]{extra}"
        )
    return float(value)  # type: ignore[arg-type]


def check_choice(name: str, value: object, choices: Sequence[str]) -> str:
    """``value`` as one of ``choices``."""
    if not isinstance(value, str) or value not in choices:
        raise ConfigurationError(
            f"{name}={value!r} must be one of {', '.join(repr(c) for c in choices)}"
        )
    return value
