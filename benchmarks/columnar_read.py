"""How fast can a big study's history be read on PostgreSQL: ``storage.history`` against the
parts of a read in columns by a binary ``COPY``.

The first decision of a fresh process and the dashboard's first overview of a study read the
whole history once. ``storage.history`` reads the observations of such a read as one packed
value into columns (:mod:`hyperrace.storage._packed`; before 2026-12-07 it built a million
:class:`~hyperrace.trial.Observation` records, 2.35 s on the study below); a binary ``COPY``,
timed here, was the other way measured for it. For the study ``big`` that
``benchmarks/scale.py`` builds (100,000 trials, 977,731 observations), this script times on
the same database, each a few times (the median is printed):

* ``storage.history``: ``storage.history(study_id)``, a fresh storage each time (what an
  optimizer's first decision reads);
* ``observations as columns``: every observation of the study through one binary ``COPY``
  into a numpy structured array (trial id, fidelity, value, wall and processor seconds, time,
  seq), then sorted by trial and fidelity with ``np.lexsort``; the transfer and the parse are
  timed apart;
* ``trials``: the trials' rows (id, number, config, status, target), fetched; their
  configurations decoded one ``json.loads`` each, and in one call over the joined texts.

It reads only (the database is not changed). Build the study first with ``scale.py``.

    .venv/bin/python benchmarks/columnar_read.py --url postgresql+psycopg://postgres@127.0.0.1:5432/hr_scale_100000
"""

from __future__ import annotations

import argparse
import json
import runpy
from pathlib import Path
from typing import Any

import numpy as np

#: A binary COPY tuple of the observation columns: the field count, then (length, value) each.
_ROW = np.dtype(
    [
        ("n", ">i2"),
        ("l0", ">i4"),
        ("trial_id", ">i4"),
        ("l1", ">i4"),
        ("fidelity", ">f8"),
        ("l2", ">i4"),
        ("value", ">f8"),
        ("l3", ">i4"),
        ("wall_seconds", ">f8"),
        ("l4", ">i4"),
        ("cpu_seconds", ">f8"),
        ("l5", ">i4"),
        ("time", ">f8"),
        ("l6", ">i4"),
        ("seq", ">i4"),
    ]
)
#: The binary COPY header (signature, flags, extension length) and trailer (-1).
_HEADER, _TRAILER = 19, 2


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", required=True, help="the database of the study (SQLAlchemy URL)")
    parser.add_argument("--study", default="big")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args(argv)

    import psycopg

    # the timer of the script that builds the study: the median of repeated calls
    timed = runpy.run_path(str(Path(__file__).with_name("scale.py")))["timed"]

    from hyperrace.storage import open_storage

    def history() -> Any:
        store = open_storage(args.url)
        info = store.get_study(args.study)
        if info is None:
            raise SystemExit(f"no study {args.study!r} at {args.url}; build it with scale.py")
        out = store.history(info.study_id)
        store.close()
        return out

    records_s, hist = timed(history, args.repeat)
    n_obs = sum(len(t.curve) for t in hist.trials)

    dsn = args.url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(dsn) as conn:
        row = conn.execute("SELECT study_id FROM hr_studies WHERE name = %s", (args.study,))
        (study_id,) = row.fetchone() or (None,)
        copy = (
            "COPY (SELECT o.trial_id, o.fidelity, o.value, o.wall_seconds, o.cpu_seconds, "
            "o.time, o.seq FROM hr_observations o JOIN hr_trials t USING (trial_id) "
            f"WHERE t.study_id = {int(study_id)}) TO STDOUT (FORMAT binary)"
        )

        def transfer() -> bytes:
            buf = bytearray()
            with conn.cursor().copy(copy) as cp:
                for chunk in cp:
                    buf += chunk
            return bytes(buf)

        transfer_s, raw = timed(transfer, args.repeat)

        def parse() -> dict[str, np.ndarray]:
            arr = np.frombuffer(raw[_HEADER : len(raw) - _TRAILER], dtype=_ROW)
            order = np.lexsort((arr["fidelity"], arr["trial_id"]))
            names = ("trial_id", "fidelity", "value", "wall_seconds", "cpu_seconds", "time", "seq")
            return {k: arr[k][order].astype(arr[k].dtype.newbyteorder("=")) for k in names}

        parse_s, cols = timed(parse, args.repeat)
        if len(cols["value"]) != n_obs:
            raise SystemExit(f"columns hold {len(cols['value'])} observations, records {n_obs}")
        # the same values as the records, in the same order
        values = np.fromiter((o.value for t in hist.trials for o in t.curve), float, n_obs)
        ids = np.fromiter((t.trial_id for t in hist.trials for _ in t.curve), np.int64, n_obs)
        by_id = np.lexsort((np.arange(n_obs), ids))  # records are in trial-number order
        if not np.array_equal(values[by_id], cols["value"]):
            raise SystemExit("the columns' values differ from the records'")

        trials_sql = (
            "SELECT trial_id, number, config, status, target FROM hr_trials "
            f"WHERE study_id = {int(study_id)} ORDER BY number"
        )
        fetch_s, rows = timed(lambda: conn.execute(trials_sql).fetchall(), args.repeat)
        each_s, _ = timed(lambda: [json.loads(r[2]) for r in rows], args.repeat)
        once_s, _ = timed(lambda: json.loads("[" + ",".join(r[2] for r in rows) + "]"), args.repeat)

    print(f"study {args.study!r}: {len(hist.trials)} trials, {n_obs} observations")
    print(f"median of {args.repeat}, seconds\n")
    print("| read | s |\n|---|---:|")
    print(f"| `storage.history` (fresh storage) | {records_s:.3f} |")
    print(f"| observations as columns: binary COPY, transfer | {transfer_s:.3f} |")
    print(f"| observations as columns: parse and sort | {parse_s:.3f} |")
    print(f"| trials' rows (id, number, config, status, target) | {fetch_s:.3f} |")
    print(f"| their configurations, `json.loads` each | {each_s:.3f} |")
    print(f"| their configurations, one `json.loads` | {once_s:.3f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
