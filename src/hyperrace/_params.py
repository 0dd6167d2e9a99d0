"""Declared parameters: one helper validates constructor parameters, reports them and prints them.

After scikit-learn's ``sklearn/utils/_param_validation.py``: a class names each of its
constructor parameters with a constraint in ``parameters`` (made by :func:`declare`), and its
``__init__`` hands the values to :meth:`Declared._set`, which checks every one and stores it as
an attribute of the same name. :meth:`Declared.get_params` returns them (JSON values: tuples
become lists) and ``repr`` prints them. Checks that tie two parameters together stay in
``__init__``, after ``_set``.

A refused value raises a :class:`~hyperrace.exceptions.ConfigurationError` that names the class,
the parameter, the value, what would be accepted, and a value that would be: the parameter's
default in the signature (or, when that is None, one the constraint accepts).

Example:
    >>> class Ladder(Declared):
    ...     parameters = declare(eta=Integer(2), shuffle=Boolean())
    ...     def __init__(self, eta: int = 3, shuffle: bool = False) -> None:
    ...         self._set(eta=eta, shuffle=shuffle)
    >>> Ladder(eta=4)
    Ladder(eta=4, shuffle=False)
    >>> Ladder(eta=4).get_params()
    {'eta': 4, 'shuffle': False}
    >>> Ladder(eta=1)
    Traceback (most recent call last):
    ...
    hyperrace.exceptions.ConfigurationError: Ladder: eta=1 must be an integer >= 2, e.g. eta=3

:func:`validate` checks a mapping of values against constraints for code that is not a class
with declared parameters (a frozen dataclass, a function's keyword arguments).
"""

from __future__ import annotations

import inspect
import math
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from types import MappingProxyType
from typing import Any, ClassVar

from hyperrace.exceptions import ConfigurationError

__all__ = [
    "Boolean",
    "Constraint",
    "Declared",
    "Integer",
    "ListOf",
    "OneOf",
    "Real",
    "Unchecked",
    "declare",
    "validate",
]


class _Refused(Exception):
    """Raised by a constraint: ``where`` (appended to the parameter's name, e.g. ``[1]``) held
    ``value``, which is not ``what``."""

    def __init__(self, value: object, what: str, where: str = "") -> None:
        super().__init__(value, what, where)
        self.value, self.what, self.where = value, what, where


class Constraint(ABC):
    """What values a parameter accepts. Subclasses define :meth:`describe` and :meth:`convert`.

    Args:
        optional: None is accepted too (and kept).
        note: a sentence on what the values mean, added to the error in parentheses.
    """

    def __init__(self, *, optional: bool = False, note: str = "") -> None:
        self.optional = optional
        self.note = note

    @abstractmethod
    def describe(self) -> str:
        """What is accepted, e.g. ``"an integer >= 1"`` (without the ``or None``)."""

    @abstractmethod
    def convert(self, value: Any) -> Any:
        """The value as stored (e.g. a float), or :class:`_Refused`."""

    def example(self) -> Any:
        """A value this constraint accepts, for the error's "e.g." (None: no example)."""
        return None

    def check(self, value: Any) -> Any:
        """``value`` converted, or :class:`_Refused` naming what is accepted."""
        if self.optional and value is None:
            return None
        try:
            return self.convert(value)
        except _Refused as refused:
            if refused.where:
                raise
            raise _Refused(value, self.full_description()) from None

    def full_description(self) -> str:
        """:meth:`describe`, with ``or None`` when None is accepted and the note."""
        what = self.describe() + (" or None" if self.optional else "")
        return f"{what} ({self.note})" if self.note else what


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_real(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


class Integer(Constraint):
    """An int (never a bool) in ``[low, high]``; either bound may be None (unbounded)."""

    def __init__(
        self,
        low: int | None = None,
        high: int | None = None,
        *,
        optional: bool = False,
        note: str = "",
    ) -> None:
        super().__init__(optional=optional, note=note)
        self.low, self.high = low, high

    def describe(self) -> str:
        if self.low is not None and self.high is not None:
            return f"an integer in [{self.low}, {self.high}]"
        if self.low is not None:
            return f"an integer >= {self.low}"
        if self.high is not None:
            return f"an integer <= {self.high}"
        return "an integer"

    def convert(self, value: Any) -> Any:
        ok = (
            _is_int(value)
            and (self.low is None or value >= self.low)
            and (self.high is None or value <= self.high)
        )
        if not ok:
            raise _Refused(value, self.describe())
        return value

    def example(self) -> Any:
        return self.low if self.low is not None else self.high


class Real(Constraint):
    """A finite int or float (never a bool) between ``low`` and ``high``, stored as a float.

    Each bound is included unless ``low_open`` / ``high_open``; an infinite bound is no bound.
    """

    def __init__(
        self,
        low: float = -math.inf,
        high: float = math.inf,
        *,
        low_open: bool = False,
        high_open: bool = False,
        optional: bool = False,
        note: str = "",
    ) -> None:
        super().__init__(optional=optional, note=note)
        self.low, self.high = low, high
        self.low_open, self.high_open = low_open, high_open

    def describe(self) -> str:
        has_low, has_high = math.isfinite(self.low), math.isfinite(self.high)
        if has_low and has_high:
            left = "(" if self.low_open else "["
            right = ")" if self.high_open else "]"
            return f"a number in {left}{self.low}, {self.high}{right}"
        if has_low:
            return f"a finite number {'>' if self.low_open else '>='} {self.low}"
        if has_high:
            return f"a finite number {'<' if self.high_open else '<='} {self.high}"
        return "a finite number"

    def convert(self, value: Any) -> Any:
        ok = (
            _is_real(value)
            and (value > self.low if self.low_open else value >= self.low)
            and (value < self.high if self.high_open else value <= self.high)
        )
        if not ok:
            raise _Refused(value, self.describe())
        return float(value)

    def example(self) -> Any:
        if math.isfinite(self.low) and math.isfinite(self.high):
            return (self.low + self.high) / 2
        return None


class Boolean(Constraint):
    """True or False (not 0 or 1)."""

    def describe(self) -> str:
        return "True or False"

    def convert(self, value: Any) -> Any:
        if not isinstance(value, bool):
            raise _Refused(value, self.describe())
        return value


class OneOf(Constraint):
    """One of the strings ``choices``."""

    def __init__(self, *choices: str, optional: bool = False, note: str = "") -> None:
        super().__init__(optional=optional, note=note)
        self.choices = choices

    def describe(self) -> str:
        return "one of " + ", ".join(repr(c) for c in self.choices)

    def convert(self, value: Any) -> Any:
        if not isinstance(value, str) or value not in self.choices:
            raise _Refused(value, self.describe())
        return value

    def example(self) -> Any:
        return self.choices[0]


class ListOf(Constraint):
    """A non-empty list or tuple (not a string) whose every item ``item`` accepts; stored as a
    tuple of the converted items. An item refused is named by its index: ``weights[1]=1.5``."""

    def __init__(self, item: Constraint, *, optional: bool = False, note: str = "") -> None:
        super().__init__(optional=optional, note=note)
        self.item = item

    def describe(self) -> str:
        return f"a non-empty list, each item {self.item.describe()}"

    def convert(self, value: Any) -> Any:
        if isinstance(value, str | bytes) or not isinstance(value, Sequence) or not value:
            raise _Refused(value, self.describe())
        out = []
        for i, item in enumerate(value):
            try:
                out.append(self.item.check(item))
            except _Refused as refused:
                raise _Refused(refused.value, refused.what, f"[{i}]{refused.where}") from None
        return tuple(out)


class Unchecked(Constraint):
    """Any value: the constructor checks this parameter itself (before :meth:`Declared._set`)."""

    def describe(self) -> str:
        return "any value"

    def convert(self, value: Any) -> Any:
        return value


def _json(value: Any) -> Any:
    """``value`` with tuples as lists and mappings as dicts, recursively (JSON's shapes)."""
    if isinstance(value, list | tuple):
        return [_json(v) for v in value]
    if isinstance(value, Mapping):
        return {k: _json(v) for k, v in value.items()}
    return value


def validate(
    owner: str,
    constraints: Mapping[str, Constraint],
    values: Mapping[str, Any],
    defaults: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """``values`` checked by ``constraints`` (same names) and converted, in the order of
    ``constraints``; the first refused one raises a ConfigurationError naming ``owner``, the
    parameter, the value, what is accepted and an example: ``defaults[name]`` when it is not
    None, else one the constraint gives."""
    if set(values) != set(constraints):
        raise TypeError(
            f"{owner}: values for {sorted(values)} do not match the declared {sorted(constraints)}"
        )
    out: dict[str, Any] = {}
    for name, constraint in constraints.items():
        try:
            out[name] = constraint.check(values[name])
        except _Refused as refused:
            example = (defaults or {}).get(name)
            if example is None:
                example = constraint.example()
            fix = "" if example is None else f", e.g. {name}={_json(example)!r}"
            what = refused.what if refused.where else constraint.full_description()
            if refused.where and constraint.note:
                what = f"{what} ({constraint.note})"
            raise ConfigurationError(
                f"{owner}: {name}{refused.where}={refused.value!r} must be {what}{fix}"
            ) from None
    return out


def declare(**constraints: Constraint) -> Mapping[str, Constraint]:
    """The parameters of a class, each with its constraint, in the order given (read-only)."""
    return MappingProxyType(constraints)


_DEFAULTS: dict[type, dict[str, Any]] = {}


def _signature_defaults(cls: type) -> dict[str, Any]:
    """The defaults of ``cls``'s constructor parameters (those that have one), memoized."""
    if cls not in _DEFAULTS:
        _DEFAULTS[cls] = {
            name: p.default
            for name, p in inspect.signature(cls).parameters.items()
            if p.default is not inspect.Parameter.empty
        }
    return _DEFAULTS[cls]


class Declared:
    """A class whose constructor parameters are declared in :attr:`parameters` (see the module
    docstring): its ``__init__`` calls :meth:`_set` with every one of them."""

    __slots__ = ()

    #: Each constructor parameter's name and constraint, in the order of the signature.
    parameters: ClassVar[Mapping[str, Constraint]] = declare()

    def _set(self, **values: Any) -> None:
        """Check ``values`` (every declared parameter, no other) and store each as an
        attribute of its name."""
        cls = type(self)
        checked = validate(cls.__name__, cls.parameters, values, _signature_defaults(cls))
        for name, value in checked.items():
            setattr(self, name, value)

    def get_params(self) -> dict[str, Any]:
        """The keyword arguments that rebuild this object (JSON values)."""
        return {name: _json(getattr(self, name)) for name in self.parameters}

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items())
        return f"{type(self).__name__}({args})"
