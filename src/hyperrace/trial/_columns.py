"""Learning curves held in columns: the observations of many trials as numpy arrays, each
trial's :class:`Curve` a slice of them, its :class:`Observation` records built when read.

A storage reading a big study whole (100,000 trials, a million observations) spends most of the
read building a Python object per observation. Read as columns instead (one binary transfer into
arrays), the records are built only for what a reader looks at: the last point of a curve for
the trial's fidelity and value, every point of the curves a figure draws. Readers that scan every
curve of a study (the rungs of ASHA, the race's sample, the dashboard's incumbent trace) read the
arrays themselves (:func:`gathered`, :meth:`Curve.block`).

A :class:`Curve` is a read-only sequence of observations, equal to the tuple of the same
observations (and compares, hashes, adds and pickles as that tuple does); slicing it gives a
tuple.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from operator import attrgetter
from typing import Any, overload

import numpy as np

from hyperrace._gc import collector_paused
from hyperrace.trial._records import Observation, observation

__all__ = ["Curve", "CurveColumns", "curves_from_columns", "gathered"]

#: The columns of an observation, in :class:`Observation`'s order.
FIELDS = ("fidelity", "value", "wall_seconds", "cpu_seconds", "time", "seq")


class CurveColumns:
    """The observations of many trials, in columns ordered by trial, then fidelity.

    Attributes:
        fidelity, value, wall_seconds, cpu_seconds, time: ``float64`` arrays.
        seq: an ``int64`` array.
    """

    __slots__ = (*FIELDS, "_built")

    fidelity: np.ndarray
    value: np.ndarray
    wall_seconds: np.ndarray
    cpu_seconds: np.ndarray
    time: np.ndarray
    seq: np.ndarray

    def __init__(
        self,
        fidelity: np.ndarray,
        value: np.ndarray,
        wall_seconds: np.ndarray,
        cpu_seconds: np.ndarray,
        time: np.ndarray,
        seq: np.ndarray,
    ) -> None:
        arrays = (fidelity, value, wall_seconds, cpu_seconds, time, seq)
        if len({len(a) for a in arrays}) != 1:
            raise ValueError(f"columns of unequal lengths: {[len(a) for a in arrays]}")
        kinds = (np.float64,) * 5 + (np.int64,)
        for name, array, kind in zip(FIELDS, arrays, kinds, strict=True):
            array = np.ascontiguousarray(array, dtype=kind)
            array.flags.writeable = False  # records are never changed, nor what they are read from
            setattr(self, name, array)
        # how many rows' records were built one curve at a time, or every row's records
        self._built: int | tuple[Observation, ...] = 0

    def __len__(self) -> int:
        return len(self.fidelity)

    def observations(self, start: int, stop: int) -> tuple[Observation, ...]:
        """The records of rows ``start`` to ``stop - 1``.

        The first curves asked for are built alone (a figure drawing a few thousand of a
        study's curves builds those only); once a quarter of the rows have been built so, a
        reader is taken to be going through most of them (a surrogate's data, every trial's
        best), and every row's record is built at once (with the cyclic collector paused: a
        million records built a curve at a time cost twice as much), the later curves being
        slices of that."""
        built = self._built
        if isinstance(built, int):
            if built < len(self) // 4:
                self._built = built + (stop - start)
                return self._build(start, stop)
            with collector_paused():
                built = self._build(0, len(self))
            self._built = built
        return built[start:stop]

    def _build(self, start: int, stop: int) -> tuple[Observation, ...]:
        return tuple(
            map(
                observation,
                self.fidelity[start:stop].tolist(),
                self.value[start:stop].tolist(),
                self.wall_seconds[start:stop].tolist(),
                self.cpu_seconds[start:stop].tolist(),
                self.time[start:stop].tolist(),
                self.seq[start:stop].tolist(),
            )
        )

    def observation(self, i: int) -> Observation:
        """The record of row ``i``."""
        built = self._built
        if not isinstance(built, int):
            return built[i]
        return observation(
            self.fidelity.item(i),
            self.value.item(i),
            self.wall_seconds.item(i),
            self.cpu_seconds.item(i),
            self.time.item(i),
            self.seq.item(i),
        )


class Curve(Sequence[Observation]):
    """One trial's learning curve: rows ``start`` to ``stop - 1`` of a :class:`CurveColumns`
    (at least one). Observations are built when read; iterating builds (and keeps) them all."""

    __slots__ = ("_columns", "_last", "_records", "_start", "_stop")

    def __init__(self, columns: CurveColumns, start: int, stop: int) -> None:
        if not 0 <= start < stop <= len(columns):
            raise ValueError(f"rows {start}..{stop} are not a non-empty part of {len(columns)}")
        self._columns = columns
        self._start = start
        self._stop = stop
        self._records: tuple[Observation, ...] | None = None
        self._last: Observation | None = None

    def block(self) -> tuple[CurveColumns, int, int]:
        """``(columns, start, stop)``: where this curve's rows are."""
        return self._columns, self._start, self._stop

    def records(self) -> tuple[Observation, ...]:
        """The observations as a tuple (built once)."""
        records = self._records
        if records is None:
            records = self._columns.observations(self._start, self._stop)
            self._records = records
        return records

    def value_at(self, fidelity: float) -> float | None:
        """The value reported at exactly ``fidelity``, or ``None`` (a binary search of the
        fidelities, which increase along a curve)."""
        fidelities = self._columns.fidelity[self._start : self._stop]
        i = int(np.searchsorted(fidelities, fidelity))
        if i < len(fidelities) and fidelities[i] == fidelity:
            return float(self._columns.value[self._start + i])
        return None

    def __len__(self) -> int:
        return self._stop - self._start

    def __bool__(self) -> bool:
        return True

    @overload
    def __getitem__(self, index: int) -> Observation: ...

    @overload
    def __getitem__(self, index: slice) -> tuple[Observation, ...]: ...

    def __getitem__(self, index: int | slice) -> Observation | tuple[Observation, ...]:
        if index == -1 and self._last is not None:  # a trial's fidelity and value: the fast way
            return self._last
        if isinstance(index, slice) or self._records is not None:
            return self.records()[index]
        n = self._stop - self._start
        i = index.__index__()
        if i < 0:
            i += n
        if not 0 <= i < n:
            raise IndexError("curve index out of range")
        if i == n - 1:  # the last point (a trial's fidelity and value): kept once built
            last = self._last
            if last is None:
                last = self._last = self._columns.observation(self._start + i)
            return last
        return self._columns.observation(self._start + i)

    def __iter__(self) -> Iterator[Observation]:
        return iter(self.records())

    def __reversed__(self) -> Iterator[Observation]:
        return reversed(self.records())

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Curve):
            return self.records() == other.records()
        if isinstance(other, tuple):
            return self.records() == other
        return NotImplemented

    def __hash__(self) -> int:
        return hash(self.records())

    def __add__(self, other: Any) -> tuple[Observation, ...]:
        return self.records() + tuple(other)

    def __radd__(self, other: Any) -> tuple[Observation, ...]:
        return tuple(other) + self.records()

    def __repr__(self) -> str:
        return repr(self.records())

    def __reduce__(self) -> tuple[Any, ...]:
        return (tuple, (self.records(),))  # a copy is a plain tuple of the same observations


def curves_from_columns(trial_ids: np.ndarray, columns: CurveColumns) -> dict[int, Curve]:
    """``{trial_id: curve}`` for observations in ``columns`` whose trial ids are ``trial_ids``
    (ordered by trial id, then fidelity, as the columns are)."""
    ids = np.asarray(trial_ids)
    if len(ids) != len(columns):
        raise ValueError(f"{len(ids)} trial ids for {len(columns)} observations")
    if not len(ids):
        return {}
    starts = np.flatnonzero(np.concatenate(([True], ids[1:] != ids[:-1])))
    stops = np.append(starts[1:], len(ids))
    curves = {
        tid: Curve(columns, a, b)
        for tid, a, b in zip(ids[starts].tolist(), starts.tolist(), stops.tolist(), strict=True)
    }
    # every curve's last point (its trial's fidelity and value, which most readers look at)
    # built at once, with the cyclic collector paused
    with collector_paused():
        lasts = _taken(columns, stops - 1).observations(0, len(stops))
        for curve, last in zip(curves.values(), lasts, strict=True):
            curve._last = last
    return curves


def gathered(curves: Sequence[Sequence[Observation]]) -> tuple[np.ndarray, CurveColumns]:
    """Every observation of ``curves``, one curve after another, as columns, with the position
    in ``curves`` of the curve it belongs to: what ``[(i, o) for i, c in enumerate(curves) for
    o in c]`` gives, without building a record when the curves are parts of the same columns
    (as a storage's read of a whole study gives them; otherwise read from the records)."""
    m = len(curves)
    lengths = np.fromiter(map(len, curves), np.int64, m)
    owners = np.repeat(np.arange(m, dtype=np.int64), lengths)
    source: CurveColumns | None = None
    starts = np.zeros(m, dtype=np.int64)
    for i, curve in enumerate(curves):
        if type(curve) is Curve:
            columns, start, _ = curve.block()
            if source is None:
                source = columns
            if columns is source:
                starts[i] = start
                continue
        if len(curve):  # records, or another read's columns: read them all from the records
            source = None
            break
    else:
        if source is not None:
            ends = np.cumsum(lengths)
            rows = np.arange(int(ends[-1]), dtype=np.int64) + np.repeat(
                starts - ends + lengths, lengths
            )
            return owners, _taken(source, rows)
    flat = [o for c in curves for o in c]
    n = len(flat)

    def column(name: str, kind: Any) -> np.ndarray:
        return np.fromiter(map(attrgetter(name), flat), kind, n)

    return owners, CurveColumns(
        column("fidelity", np.float64),
        column("value", np.float64),
        column("wall_seconds", np.float64),
        column("cpu_seconds", np.float64),
        column("time", np.float64),
        column("seq", np.int64),
    )


def _taken(columns: CurveColumns, rows: np.ndarray) -> CurveColumns:
    """The rows ``rows`` of ``columns``."""
    return CurveColumns(
        columns.fidelity[rows],
        columns.value[rows],
        columns.wall_seconds[rows],
        columns.cpu_seconds[rows],
        columns.time[rows],
        columns.seq[rows],
    )
