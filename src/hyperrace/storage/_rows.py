"""Reading rows that may have been edited by hand: a column that does not hold what hyperrace
wrote (text that is not JSON, a config that is not an object, an unknown status) is refused with
a :class:`~hyperrace.StorageError` that names the row, the column and the value, never with
whatever error decoding it happened to raise."""

from __future__ import annotations

import json
from typing import Any

from hyperrace.exceptions import StorageError
from hyperrace.trial import short_repr

__all__ = ["DECODE_ERRORS", "PLAIN", "bad_row", "decoded", "load_json", "trial_row_problem"]

_JSON_NAMES = {
    dict: "object",
    list: "array",
    str: "string",
    int: "number",
    float: "number",
    bool: "boolean",
    type(None): "null",
}

#: What decoding a hand-edited column can raise: bad JSON (a ValueError), a number of more
#: digits than Python converts (ValueError), nesting deeper than the recursion limit, a value
#: of the wrong type.
DECODE_ERRORS = (ValueError, TypeError, RecursionError, KeyError, AttributeError)


def bad_row(where: str, column: str, value: object, why: str) -> StorageError:
    """The error for ``column`` of the row ``where`` (e.g. ``"trial 7"``), holding ``value``."""
    return StorageError(
        f"{where} in the storage has {column}={short_repr(value)}, which hyperrace did not write "
        f"({why}): the row was edited or damaged; restore it from a backup of the database"
    )


def _no_constant(name: str) -> Any:
    """``NaN``, ``Infinity`` and ``-Infinity`` are not JSON, and hyperrace never writes them."""
    raise ValueError(f"{name} is not a JSON value")


def _finite_float(text: str) -> float:
    """A JSON number with a fraction or exponent, refused when it overflows to infinity (e.g.
    ``1E310``): hyperrace could not write it back."""
    value = float(text)
    if value in (float("inf"), float("-inf")):
        raise ValueError(f"{text} is too large for a float")
    return value


#: One decoder for every call: ``json.loads`` with hooks builds a new one each time, which was
#: half the cost of reading the 148,147 decisions of a big study.
_HOOKS: dict[str, Any] = {"parse_constant": _no_constant, "parse_float": _finite_float}
_DECODER = json.JSONDecoder(**_HOOKS)


#: ``json.loads``'s own rules, as a decoder for :func:`decoded`.
PLAIN = json.JSONDecoder()


def decoded(decoder: json.JSONDecoder, text: str) -> Any:
    """``decoder.decode(text)``, about twice as fast for text as hyperrace writes it (no
    whitespace around the value): the decoder's scanner called directly. Anything else, errors
    included, goes through ``decoder.decode``, which raises its own error."""
    try:
        value, end = decoder.scan_once(text, 0)  # type: ignore[attr-defined]
    except Exception:  # not JSON, or not a str: the decoder's own path says why
        return decoder.decode(text)
    if end != len(text):
        return decoder.decode(text)
    return value


def load_json(text: object, where: str, column: str, kind: type | None = None) -> Any:
    """``text`` decoded from JSON, of type ``kind`` when given.

    Raises:
        StorageError: ``text`` is not JSON (or not of ``kind``); the message names the row, the
            column and the value.
    """
    try:
        # bytes from a column edited by hand, or no text at all, go through json.loads, which
        # decodes bytes and names what is neither
        value = (
            decoded(_DECODER, text) if isinstance(text, str) else json.loads(text, **_HOOKS)  # type: ignore[arg-type]
        )
    except DECODE_ERRORS as exc:
        if isinstance(exc, json.JSONDecodeError):
            why = f"not JSON: {exc}"
        elif isinstance(exc, RecursionError):
            why = "JSON nested too deeply to read"
        else:
            why = short_repr(str(exc), 120).strip("'")
        raise bad_row(where, column, text, why) from None
    if kind is not None and not isinstance(value, kind):
        found = _JSON_NAMES.get(type(value), type(value).__name__)
        raise bad_row(where, column, text, f"a JSON {found}, not an {_JSON_NAMES[kind]}")
    return value


def trial_row_problem(row: Any) -> StorageError:
    """The error for a trial row (as ``SQLStorage`` reads it) that could not be decoded: the
    first column that does not hold what hyperrace writes."""
    from hyperrace.trial import StopReason, TrialStatus

    tid, _, config, status, _, _, _, reason, _, _, _, _, _, user_attrs, devices = row
    where = f"trial {tid}"
    load_json(config, where, "config", dict)
    load_json(user_attrs, where, "user_attrs", dict)
    if devices:
        load_json(devices, where, "devices", list)
    for column, value, kind in (("status", status, TrialStatus), ("reason", reason, StopReason)):
        try:
            kind(value)
        except DECODE_ERRORS:
            known = ", ".join(repr(k.value) for k in kind)
            raise bad_row(where, column, value, f"not one of {known}") from None
    return StorageError(f"{where} in the storage cannot be read; restore it from a backup")
