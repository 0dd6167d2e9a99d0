"""A connection that the PostgreSQL server dropped (a restart, an administrator, an idle
timeout) is replaced by the next call, which goes through once: the storage does not ping
before each use, so the first statement on the dead connection fails before anything is
written, and is run again on a new one."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from pg_sessions import drop_connections

from hyperrace.storage import NewDecision
from hyperrace.storage._sql import SQLStorage
from hyperrace.trial import Observation

SPACE = {"x": {"type": "float", "low": 0.0, "high": 1.0}}


def _report(storage: SQLStorage, sid: int, tid: int) -> None:
    storage.report(tid, Observation(2.0, 0.25, time=3.0), run=0)


def _full_read(storage: SQLStorage, sid: int, tid: int) -> None:
    assert storage.history(sid).trials[0].trial_id == tid


def _following_read(storage: SQLStorage, sid: int, tid: int) -> None:
    since = storage.history(sid)
    drop_connections(storage.url)
    assert storage.history(sid, since=since).n_decisions == 1


def _decide(storage: SQLStorage, sid: int, tid: int) -> None:
    with storage.deciding(sid):
        h = storage.history(sid)
        storage.apply_decision(
            sid, h.n_decisions, NewDecision("start", 1.0, config={"x": 0.3}), now=4.0
        )


def _trial(storage: SQLStorage, sid: int, tid: int) -> None:
    assert storage.trial(tid).trial_id == tid


@pytest.mark.parametrize(
    "call", [_report, _full_read, _following_read, _decide, _trial], ids=lambda f: f.__name__
)
def test_a_dropped_connection_is_replaced_and_the_call_goes_through_once(
    pg_url: str, call: Callable[[SQLStorage, int, int], None]
) -> None:
    storage = SQLStorage(pg_url)
    try:
        sid = storage.create_study(
            "s", direction="minimize", space=SPACE, optimizer={"name": "random"}, seed=1, now=1.0
        ).study_id
        _, trial = storage.apply_decision(
            sid, 0, NewDecision("start", 5.0, config={"x": 0.5}), now=2.0
        )
        storage.report(trial.trial_id, Observation(1.0, 0.5, time=2.5), run=0)
        assert drop_connections(pg_url) >= 1  # the storage's pooled connection
        call(storage, sid, trial.trial_id)
        h = storage.history(sid, decisions=True)
        expected_decisions = 2 if call is _decide else 1
        assert h.n_decisions == expected_decisions
        curve = h.trials[0].curve
        assert [o.fidelity for o in curve] == ([1.0, 2.0] if call is _report else [1.0])
    finally:
        storage.close()
