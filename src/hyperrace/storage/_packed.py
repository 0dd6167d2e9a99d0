"""PostgreSQL: a whole study's observations in one packed value, read into columns.

Reading a study of a million observations as rows makes the driver build a Python tuple and six
Python numbers per observation, and the storage an :class:`~hyperrace.trial.Observation` each:
seconds. Here the server packs every observation of the study into one ``bytea`` instead: per
observation the binary send forms of its columns (``int4send``, ``float8send``: big-endian, fixed
size) concatenated, 48 bytes, the observations aggregated with ``string_agg`` in any order. The
client reads that value as a numpy structured array without a Python object per value, sorts it
by trial and fidelity, and each trial's curve is a :class:`~hyperrace.trial.Curve` over the
columns, its records built when read.

Measured on a study of 977,731 observations (``benchmarks/scale.py``'s): 0.7 s, nearly all of it
the server's packing, against 0.9 s for a binary ``COPY`` (whose driver hands back one message
per row) plus its parse, and about 2.5 s for rows.
"""

from __future__ import annotations

import numpy as np

from hyperrace.exceptions import StorageError
from hyperrace.trial import CurveColumns

__all__ = ["PACKED", "packed_statement", "unpack_observations"]

#: One packed observation, as :func:`packed_statement` writes it.
PACKED = np.dtype(
    [
        ("trial_id", ">i4"),
        ("fidelity", ">f8"),
        ("value", ">f8"),
        ("wall_seconds", ">f8"),
        ("cpu_seconds", ">f8"),
        ("time", ">f8"),
        ("seq", ">i4"),
    ]
)


def packed_statement(observations: str, trials: str) -> str:
    """The select of one ``bytea``: every observation of the study (bound parameter
    ``study_id``) packed as :data:`PACKED` (tables named ``observations`` and ``trials``; their
    columns are ``NOT NULL``). ``NULL`` when the study has no observation."""
    packed = " || ".join(
        f"{'int4send' if PACKED[name] == np.dtype('>i4') else 'float8send'}(o.{name})"
        for name in PACKED.names or ()
    )
    return (
        f"SELECT string_agg({packed}, ''::bytea) FROM {observations} o "
        f"JOIN {trials} t ON t.trial_id = o.trial_id WHERE t.study_id = %(study_id)s"
    )


def unpack_observations(data: bytes | None) -> tuple[np.ndarray, CurveColumns]:
    """``(trial_ids, columns)`` from the value of :func:`packed_statement`, ordered by trial
    id, then fidelity. ``StorageError`` if its length is not a whole number of observations."""
    data = data or b""
    if len(data) % PACKED.itemsize:
        raise StorageError(
            f"a packed read of observations gave {len(data)} bytes, not a multiple of "
            f"{PACKED.itemsize}: the server's columns are not the expected types"
        )
    rows = np.frombuffer(data, dtype=PACKED)
    ids = rows["trial_id"].astype(np.int64)
    fidelity = rows["fidelity"].astype(np.float64)
    order = np.lexsort((fidelity, ids))
    return ids[order], CurveColumns(
        fidelity[order],
        rows["value"][order],
        rows["wall_seconds"][order],
        rows["cpu_seconds"][order],
        rows["time"][order],
        rows["seq"][order],
    )
