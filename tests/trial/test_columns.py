"""Curves held in columns: equal to the tuple of their observations in every way a reader uses
one, built when read; PostgreSQL's packed read of a study."""

from __future__ import annotations

import pickle

import numpy as np
import pytest

from hyperrace.exceptions import StorageError
from hyperrace.storage._packed import PACKED, unpack_observations
from hyperrace.trial import (
    Curve,
    CurveColumns,
    Observation,
    TrialRecord,
    TrialStatus,
    curves_from_columns,
    gathered,
)


def columns(n: int) -> CurveColumns:
    f = np.arange(n, dtype=float) % 4 + 1
    return CurveColumns(f, f / 10, f * 2, f * 3, 1000.0 + np.arange(n), np.arange(n) + 7)


def test_a_curve_is_the_tuple_of_its_observations() -> None:
    cols = columns(8)
    curve = Curve(cols, 4, 8)
    as_tuple = tuple(
        Observation(float(f), f / 10, 2.0 * f, 3.0 * f, 1004.0 + i, 11 + i)
        for i, f in enumerate((1, 2, 3, 4))
    )
    assert curve == as_tuple and as_tuple == curve
    assert not curve.__ne__(as_tuple)
    assert hash(curve) == hash(as_tuple)
    assert len(curve) == 4 and bool(curve)
    assert curve[0] == as_tuple[0] and curve[-1] == as_tuple[-1] and curve[-4] == as_tuple[0]
    assert curve[1:3] == as_tuple[1:3] and type(curve[1:3]) is tuple
    assert list(curve) == list(as_tuple) and list(reversed(curve)) == list(reversed(as_tuple))
    first = (as_tuple[0],)
    assert curve + first == (*as_tuple, as_tuple[0])
    assert first + curve == (as_tuple[0], *as_tuple)
    assert repr(curve) == repr(as_tuple)
    assert as_tuple[2] in curve and curve.index(as_tuple[3]) == 3
    copy = pickle.loads(pickle.dumps(curve))
    assert type(copy) is tuple and copy == as_tuple
    assert curve != Curve(cols, 0, 4) and curve != [1] and curve != as_tuple[:3]
    with pytest.raises(IndexError):
        curve[4]
    with pytest.raises(IndexError):
        curve[-5]
    # the observations are plain Python numbers, as a database driver gives them
    assert type(curve[0].fidelity) is float and type(curve[0].seq) is int
    # a record holding it answers as with the tuple
    record = TrialRecord(1, 0, {}, TrialStatus.PAUSED, curve)
    same = TrialRecord(1, 0, {}, TrialStatus.PAUSED, as_tuple)
    assert record == same and record.fidelity == 4.0 and record.value == 0.4
    assert record.value_at(2.0) == 0.2 and record.wall_seconds == 20.0
    for f in (0.5, 1, 2.0, 3.5, 4.0, 4.5, float("nan"), float("inf")):
        assert record.value_at(f) == same.value_at(f)
        assert type(record.value_at(f)) is type(same.value_at(f))


def test_columns_are_read_only_and_checked() -> None:
    cols = columns(3)
    with pytest.raises(ValueError, match="read-only"):
        cols.value[0] = 1.0
    with pytest.raises(ValueError, match="unequal lengths"):
        CurveColumns(np.zeros(2), np.zeros(3), np.zeros(2), np.zeros(2), np.zeros(2), np.zeros(2))
    with pytest.raises(ValueError, match="not a non-empty part"):
        Curve(cols, 2, 2)
    with pytest.raises(ValueError, match="not a non-empty part"):
        Curve(cols, 1, 4)


def test_curves_from_columns_split_by_trial() -> None:
    cols = columns(6)
    curves = curves_from_columns(np.array([3, 3, 5, 9, 9, 9]), cols)
    assert list(curves) == [3, 5, 9]
    assert [len(c) for c in curves.values()] == [2, 1, 3]
    assert curves[9][0] == cols.observation(3)
    assert curves_from_columns(np.array([], dtype=np.int64), columns(0)) == {}
    with pytest.raises(ValueError, match="2 trial ids for 6 observations"):
        curves_from_columns(np.array([1, 2]), cols)


def test_a_packed_read_is_unpacked_sorted_by_trial_and_fidelity() -> None:
    rows = np.array(
        [(5, 2.0, 0.2, 1.0, 2.0, 10.0, 3), (2, 1.0, 0.5, 0, 0, 9.0, 1), (5, 1.0, 0.3, 0, 0, 8, 2)],
        dtype=PACKED,
    )
    ids, cols = unpack_observations(rows.tobytes())
    assert ids.tolist() == [2, 5, 5]
    assert cols.fidelity.tolist() == [1.0, 1.0, 2.0] and cols.seq.tolist() == [1, 2, 3]
    assert cols.value.tolist() == [0.5, 0.3, 0.2] and cols.time.tolist() == [9.0, 8.0, 10.0]
    assert len(unpack_observations(None)[1]) == 0  # a study without observations
    with pytest.raises(StorageError, match="not a multiple of 48"):
        unpack_observations(rows.tobytes()[:-1])


def test_gathered_reads_columns_or_records_alike() -> None:
    cols = columns(10)
    curves = curves_from_columns(np.array([1, 1, 1, 2, 4, 4, 4, 4, 6, 6]), cols)
    held = [curves[4], (), curves[1], curves[6], (), curves[2]]  # not in the columns' order
    plain = [tuple(c) for c in held]
    other = [tuple(c) if i % 2 else c for i, c in enumerate(held)]  # records and columns
    results = [gathered(x) for x in (held, plain, other)]
    expected = [(i, o) for i, c in enumerate(plain) for o in c]
    for owners, got in results:
        assert owners.tolist() == [i for i, _ in expected]
        rows = [got.observation(k) for k in range(len(got))]
        assert rows == [o for _, o in expected]
    assert len(gathered([(), ()])[1]) == 0 and len(gathered([])[0]) == 0
