"""PostgreSQL's read of a whole study: its curves are packed on a second connection while the
first reads the trials and the decisions, both in one snapshot (the reader's, exported and
imported), so that what is committed meanwhile is in neither; a connection lost meanwhile
makes the whole read go again, and no thread or connection is left behind."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest
from pg_sessions import drop_connections

from hyperrace.exceptions import StorageError
from hyperrace.history import History
from hyperrace.storage import NewDecision, _sql
from hyperrace.storage._sql import SQLStorage
from hyperrace.trial import Curve, Observation

SPACE = {"x": {"type": "float", "low": 0.0, "high": 1.0}}


def _study(storage: SQLStorage) -> tuple[int, list[int]]:
    sid = storage.create_study(
        "s", direction="minimize", space=SPACE, optimizer={"name": "random"}, seed=1, now=1.0
    ).study_id
    ids = []
    for i in range(3):
        _, trial = storage.apply_decision(
            sid, i, NewDecision("start", 5.0, config={"x": 0.1 * i}), now=2.0 + i
        )
        for step in (1.0, 2.0):
            storage.report(trial.trial_id, Observation(step, 1.0 / (i + step), time=3.0 + i), run=i)
        ids.append(trial.trial_id)
    return sid, ids


def _shape(history: History) -> list[tuple[int, str, list[tuple[float, float]]]]:
    return [
        (t.trial_id, t.status.value, [(o.fidelity, o.value) for o in t.curve])
        for t in history.trials
    ]


@pytest.mark.parametrize("deciding", [False, True], ids=["plain", "deciding"])
def test_commits_during_the_packed_read_are_in_neither_half(
    pg_url: str, monkeypatch: pytest.MonkeyPatch, deciding: bool
) -> None:
    storage, writer = SQLStorage(pg_url), SQLStorage(pg_url)
    try:
        sid, ids = _study(storage)
        before = storage.history(sid, decisions=True)
        original = _sql._PackedElsewhere._read
        wrote: list[bool] = []

        def write_first(self: Any) -> None:
            # after the reader's snapshot was taken and exported, before the packing starts:
            # a report to a trial, a new trial with its report, a trial ended
            if not wrote:
                writer.report(ids[0], Observation(3.0, 0.01, time=9.0), run=0)
                _, new = writer.apply_decision(
                    sid, 3, NewDecision("start", 5.0, config={"x": 0.9}), now=9.0
                )
                writer.report(new.trial_id, Observation(1.0, 0.02, time=9.5), run=3)
                wrote.append(True)
            original(self)

        monkeypatch.setattr(_sql._PackedElsewhere, "_read", write_first)
        if deciding:
            with storage.deciding(sid):
                during = storage.history(sid, decisions=True)
        else:
            during = storage.history(sid, decisions=True)
        assert wrote
        assert during.version == before.version and during.n_decisions == 3
        assert _shape(during) == _shape(before)  # the curves as the trial rows: one snapshot
        assert all(type(t.curve) is Curve for t in during.trials)
        after = storage.history(sid, decisions=True)
        assert after.n_decisions == 4 and len(after.trials) == 4
        assert [o.fidelity for o in after.trials[0].curve] == [1.0, 2.0, 3.0]
        assert [o.value for o in after.trials[3].curve] == [0.02]
    finally:
        writer.close()
        storage.close()


def test_a_connection_lost_during_the_packed_read_reads_it_all_again(
    pg_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    storage = SQLStorage(pg_url)
    try:
        sid, _ = _study(storage)
        expected = _shape(storage.history(sid))
        read, decisions = _sql._PackedElsewhere._read, _sql.SQLStorage._decisions
        dropped: list[int] = []
        killed = threading.Event()

        def drop_first(self: Any) -> None:
            if not dropped:  # the reader's session is killed while it reads the rest,
                dropped.append(drop_connections(pg_url))
                killed.set()
                time.sleep(1.0)  # and this packing is still going when the reader fails
            read(self)

        def after_the_kill(conn: Any, study_id: int, start: int) -> Any:
            killed.wait(10)
            return decisions(conn, study_id, start)

        monkeypatch.setattr(_sql._PackedElsewhere, "_read", drop_first)
        monkeypatch.setattr(_sql.SQLStorage, "_decisions", staticmethod(after_the_kill))
        fresh = SQLStorage(pg_url)
        try:
            history = fresh.history(sid, decisions=True)
        finally:
            fresh.close()
        assert dropped and dropped[0] >= 1
        assert _shape(history) == expected and history.n_decisions == 3
        # the failed read waited for its packing before reading again: no thread left
        assert not [t for t in threading.enumerate() if t.name == "hyperrace-packed-read"]
    finally:
        storage.close()


def test_an_error_of_the_packed_read_reaches_the_reader(
    pg_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    storage = SQLStorage(pg_url)
    try:
        sid, _ = _study(storage)

        def broken(conn: Any, study_id: int) -> Any:
            raise StorageError("a packed read of observations gave 47 bytes")

        monkeypatch.setattr(_sql, "_packed_curves", broken)
        with pytest.raises(StorageError, match="gave 47 bytes"):
            storage.history(sid)
        monkeypatch.undo()
        assert len(storage.history(sid).trials) == 3  # the storage still reads
    finally:
        storage.close()
