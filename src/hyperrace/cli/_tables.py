"""Rendering for the command line: value formatting and tables.

Tables are drawn with :mod:`rich` when it is installed and the output is a terminal, and as plain
aligned text otherwise (pipes, files, tests), so that the output stays easy to ``grep``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any, TextIO

__all__ = ["format_time", "format_value", "render_table"]


def format_value(value: Any, digits: int = 6) -> str:
    """A short text for a table cell: ``-`` for None, ``digits`` significant digits for floats
    (integral floats such as fidelities without a decimal point)."""
    if value is None:
        return "-"
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, float):
        if value.is_integer() and abs(value) < 1e15:
            return str(int(value))
        return f"{value:.{digits}g}"
    return str(value)


def format_time(timestamp: float) -> str:
    """Seconds since the Unix epoch as local ``YYYY-MM-DD HH:MM``."""
    return dt.datetime.fromtimestamp(timestamp).strftime("%Y-%m-%d %H:%M")


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _numeric_columns(n: int, rows: Sequence[Sequence[Any]]) -> list[bool]:
    numeric = []
    for i in range(n):
        cells = [row[i] for row in rows if row[i] is not None]
        numeric.append(bool(cells) and all(_is_number(c) for c in cells))
    return numeric


def _use_rich(out: TextIO) -> bool:
    isatty = getattr(out, "isatty", None)
    if isatty is None or not isatty():
        return False
    try:
        import rich  # noqa: F401
    except ImportError:
        return False
    return True


def _rich_table(
    headers: Sequence[str],
    text: Sequence[Sequence[str]],
    numeric: Sequence[bool],
    out: TextIO,
    title: str | None,
) -> bool:
    """Print the table with rich; False (nothing printed) when it is wider than the terminal,
    where rich would cut the cells short: plain lines that wrap lose nothing."""
    from rich import box
    from rich.console import Console
    from rich.measure import Measurement
    from rich.table import Table

    console = Console(file=out)
    table = Table(title=title, title_justify="left", box=box.SIMPLE_HEAD)
    for header, right in zip(headers, numeric, strict=True):
        table.add_column(header, justify="right" if right else "left", no_wrap=True)
    for cells in text:
        table.add_row(*cells)
    wide = console.options.update(max_width=100_000)
    if Measurement.get(console, wide, table).maximum > console.width:
        return False
    console.print(table)
    return True


def render_table(
    headers: Sequence[str],
    rows: Sequence[Sequence[Any]],
    out: TextIO,
    *,
    title: str | None = None,
    formats: dict[str, int] | None = None,
) -> None:
    """Write a table of ``rows`` under ``headers`` to ``out``.

    Args:
        headers: the column names.
        rows: the raw cell values (numbers are right-aligned, None shows as ``-``).
        out: where to write.
        title: a line above the table.
        formats: significant digits of float cells per column name (default 6).
    """
    digits = formats or {}
    text = [
        [format_value(cell, digits.get(h, 6)) for h, cell in zip(headers, row, strict=True)]
        for row in rows
    ]
    numeric = _numeric_columns(len(headers), rows)
    if _use_rich(out) and _rich_table(headers, text, numeric, out, title):
        return
    widths = [max([len(h), *(len(cells[i]) for cells in text)]) for i, h in enumerate(headers)]

    def line(cells: Sequence[str]) -> str:
        parts = [
            c.rjust(w) if right else c.ljust(w)
            for c, w, right in zip(cells, widths, numeric, strict=True)
        ]
        return "  ".join(parts).rstrip()

    if title:
        out.write(title + "\n")
    out.write(line(headers) + "\n")
    out.write(line(["-" * w for w in widths]) + "\n")
    for cells in text:
        out.write(line(cells) + "\n")
