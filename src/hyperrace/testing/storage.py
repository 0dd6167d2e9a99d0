"""The storage conformance suite: checks every storage backend must pass.

Each check takes a fresh, empty :class:`~hyperrace.storage.Storage` and raises
``AssertionError`` on the first thing it gets wrong. :data:`CHECKS` hold for every backend (in
memory, SQLite, PostgreSQL): studies, decisions and their keys, reports committed when made,
NaN and inf, exact floats, transitions, lost runs and retries, incremental snapshots, threads
writing at once, the queue, user attributes, devices, the listed best values.
:data:`LOST_ANSWER_CHECKS` hold for the storages behind SQLAlchemy: a commit whose answer is
lost (:func:`lose_commit_answers`) is applied once. ``tests/storage/test_storage_suite.py``
runs them against memory, a SQLite file and the real PostgreSQL::

    @pytest.mark.parametrize("check", sorted(CHECKS))
    def test_storage_conformance(storage_url, check):
        storage = open_storage(storage_url)
        try:
            CHECKS[check](storage)
        finally:
            storage.close()
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import os
import re
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hyperrace.exceptions import ConfigurationError, TrialStateError
from hyperrace.history import History
from hyperrace.space import Float, Space
from hyperrace.storage import DecisionConflict, NewDecision, Storage
from hyperrace.study import Job, Study
from hyperrace.trial import Observation, StopReason, TrialStatus

__all__ = ["CHECKS", "LOST_ANSWER_CHECKS", "LostAnswers", "lose_commit_answers"]

Check = Callable[[Storage], None]

SPACE = {"x": {"type": "float", "low": 0.0, "high": 1.0, "log": False}}


@contextlib.contextmanager
def _raises(kind: type[BaseException], match: str = "") -> Iterator[None]:
    """The block raises ``kind`` with a message in which ``match`` (a regular expression) is
    found."""
    try:
        yield
    except kind as exc:
        message = f"{type(exc).__name__}({exc!s})"
        if not re.search(match, str(exc)):
            raise AssertionError(f"{message} does not match {match!r}") from exc
    else:
        raise AssertionError(f"{kind.__name__} was not raised")


def _study(storage: Storage, name: str = "s") -> int:
    info = storage.create_study(
        name,
        direction="minimize",
        space=SPACE,
        optimizer={"name": "random", "params": {}},
        seed=7,
        now=100.0,
    )
    return info.study_id


def _start(storage: Storage, sid: int, index: int, x: float = 0.5, stop: float = 3.0) -> int:
    _, trial = storage.apply_decision(
        sid, index, NewDecision("start", stop, config={"x": x}, optimizer="random"), now=1.0
    )
    return trial.trial_id


def check_create_study_is_idempotent_and_keeps_what_it_was_given(storage: Storage) -> None:
    a = storage.create_study(
        "s",
        direction="maximize",
        space=SPACE,
        optimizer={"name": "grid", "params": {"a": 1}},
        seed=2**62 + 3,
        now=5.0,
    )
    b = storage.create_study(
        "s", direction="minimize", space={}, optimizer={"name": "other"}, seed=1, now=6.0
    )
    assert a == b
    assert a.direction == "maximize" and a.seed == 2**62 + 3 and dict(a.space) == SPACE
    assert storage.get_study("nope") is None
    assert [s.name for s in storage.list_studies()] == ["s"]


def check_decisions_are_numbered_and_conflicts_detected(storage: Storage) -> None:
    sid = _study(storage)
    t0 = _start(storage, sid, 0)
    with _raises(DecisionConflict):
        _start(storage, sid, 0)
    with _raises(DecisionConflict):
        _start(storage, sid, 5)
    t1 = _start(storage, sid, 1, x=0.25)
    h = storage.history(sid, decisions=True)
    assert h.n_decisions == 2
    assert [d.trial_id for d in h.decisions] == [t0, t1]
    assert [t.number for t in h.trials] == [0, 1]
    assert h.trials[1].config == {"x": 0.25}
    assert all(t.status is TrialStatus.RUNNING for t in h.trials)


def check_a_decision_made_while_deciding_reads_and_writes_as_any_other(storage: Storage) -> None:
    sid = _study(storage)
    t0 = _start(storage, sid, 0)
    with storage.deciding(sid):
        h = storage.history(sid)
        with _raises(DecisionConflict):  # a failed write inside leaves the block usable
            _start(storage, sid, 0)
        t1 = _start(storage, sid, h.n_decisions, x=0.25)
        storage.report(t1, Observation(1.0, 0.5, 2.0), run=1)
        assert storage.trial(t1).curve[0].value == 0.5
        # another thread is not held up by this one's block (it does not decide)
        seen: list[float] = []
        other = threading.Thread(
            target=lambda: seen.append(len(storage.history(sid).trials)), daemon=True
        )
        other.start()
        other.join(30)
        assert seen == [2], f"another thread read {seen} while one was deciding, not [2]"
    with _raises(RuntimeError, "raised inside"), storage.deciding(sid):
        raise RuntimeError("raised inside")
    with storage.deciding(sid):  # entered again after an error inside
        _start(storage, sid, 2)
    h = storage.history(sid, decisions=True)
    assert [d.index for d in h.decisions] == [0, 1, 2]
    assert h.trials[0].trial_id == t0 and h.trials[1].curve[0].value == 0.5


def check_report_commits_and_replaces_a_retrained_step(storage: Storage) -> None:
    sid = _study(storage)
    tid = _start(storage, sid, 0)
    for f in (1.0, 2.0):
        status = storage.report(tid, Observation(f, 1.0 / f, 0.5, 0.25, 10.0 + f), work=1.0)
        assert status.status is TrialStatus.RUNNING and status.target == 3.0
    storage.report(tid, Observation(2.0, 0.125, 0.5, 0.25, 20.0), work=1.0, checkpoint_fidelity=2.0)
    t = storage.trial(tid)
    assert [(o.fidelity, o.value) for o in t.curve] == [(1.0, 1.0), (2.0, 0.125)]
    assert t.work == 3.0
    assert t.checkpoint_fidelity == 2.0
    assert t.curve[0] == Observation(1.0, 1.0, 0.5, 0.25, 11.0, seq=t.curve[0].seq)
    assert 0 < t.curve[0].seq < t.curve[1].seq  # the retrained step was recorded last


def check_non_finite_value_fails_the_trial_and_is_not_stored(storage: Storage) -> None:
    sid = _study(storage)
    for index, bad in enumerate((math.nan, math.inf, -math.inf)):
        tid = _start(storage, sid, index)
        storage.report(tid, Observation(1.0, 0.5), work=1.0)
        assert storage.report(tid, Observation(2.0, bad), work=1.0).status is TrialStatus.FAILED
        t = storage.trial(tid)
        assert t.status is TrialStatus.FAILED and t.reason is StopReason.INVALID_VALUE
        assert ("NaN" if math.isnan(bad) else "inf") in t.message
        assert [o.value for o in t.curve] == [0.5]
        with _raises(TrialStateError, match="failed, not running"):
            storage.report(tid, Observation(3.0, 0.1), work=1.0)


def check_floats_round_trip_exactly(storage: Storage) -> None:
    sid = _study(storage)
    x = 0.1 + 0.2
    tid = _start(storage, sid, 0, x=x)
    v = 1.0 / 3.0
    storage.report(tid, Observation(1.0, v, 1e-9, 1e300, 1.7e9 + 0.123456), work=1.0)
    t = storage.history(sid).trials[0]
    assert t.config["x"] == x
    assert t.curve[0] == Observation(1.0, v, 1e-9, 1e300, 1.7e9 + 0.123456, seq=t.curve[0].seq)


def check_transitions_pause_resume_complete(storage: Storage) -> None:
    sid = _study(storage)
    tid = _start(storage, sid, 0, stop=1.0)
    storage.report(tid, Observation(1.0, 0.4), work=1.0)
    storage.end_run(tid, TrialStatus.PAUSED, StopReason.REACHED, "", now=3.0)
    with _raises(TrialStateError):
        storage.end_run(tid, TrialStatus.PAUSED, StopReason.REACHED, "", now=3.0)
    with _raises(TrialStateError):
        storage.report(tid, Observation(2.0, 0.3), work=1.0)
    record, trial = storage.apply_decision(
        sid, 1, NewDecision("resume", 3.0, trial_id=tid, optimizer="x", info={"ei": 0.5}), now=4.0
    )
    assert (record.kind, record.start, record.stop, dict(record.info)) == (
        "resume",
        1.0,
        3.0,
        {"ei": 0.5},
    )
    assert trial.status is TrialStatus.RUNNING and trial.target == 3.0
    with _raises(DecisionConflict):  # not paused any more
        storage.apply_decision(sid, 2, NewDecision("resume", 3.0, trial_id=tid), now=5.0)
    storage.report(tid, Observation(3.0, 0.2), work=2.0)
    storage.end_run(tid, TrialStatus.COMPLETED, StopReason.REACHED, "", now=6.0)
    t = storage.trial(tid)
    assert t.status is TrialStatus.COMPLETED and t.work == 3.0 and t.fidelity == 3.0
    with _raises(TrialStateError):
        storage.end_run(tid, TrialStatus.RUNNING, StopReason.NONE, "", now=7.0)


def check_recover_stale_pauses_only_silent_running_trials(storage: Storage) -> None:
    sid = _study(storage)
    old = _start(storage, sid, 0)
    fresh = _start(storage, sid, 1)
    storage.heartbeat([fresh], now=50.0)
    assert storage.recover_stale(sid, older_than=10.0, now=60.0) == [old]
    t = storage.trial(old)
    assert t.status is TrialStatus.PAUSED and t.reason is StopReason.LOST
    assert t.lost_count == 1 and "heartbeat" in t.message
    assert storage.trial(fresh).status is TrialStatus.RUNNING
    assert storage.recover_stale(sid, older_than=10.0, now=60.0) == []


def check_a_trial_lost_more_than_max_retries_times_fails_with_the_reason(storage: Storage) -> None:
    sid = _study(storage)
    tid = _start(storage, sid, 0)
    storage.report(tid, Observation(1.0, 0.5), checkpoint_fidelity=1.0)
    for i in range(2):  # lost twice with max_retries=2: paused both times, curve kept
        status = storage.lose_run(tid, "its worker process died", now=10.0 + i, max_retries=2)
        assert status is TrialStatus.PAUSED
        t = storage.trial(tid)
        assert t.reason is StopReason.LOST and t.lost_count == i + 1 and t.fidelity == 1.0
        storage.apply_decision(sid, 1 + i, NewDecision("resume", 3.0, trial_id=tid), now=11.0 + i)
    # the third loss, this time by a stopped heartbeat, is one too many
    assert storage.recover_stale(sid, older_than=100.0, now=100.0, max_retries=2) == [tid]
    t = storage.trial(tid)
    assert t.status is TrialStatus.FAILED and t.reason is StopReason.LOST and t.lost_count == 3
    assert "lost 3 times" in t.message and "max_retries=2" in t.message
    assert [o.fidelity for o in t.curve] == [1.0]  # what it reported is kept
    # a run that ended before its loss was noticed is left alone
    assert storage.lose_run(tid, "late", now=200.0, max_retries=2) is None
    assert storage.trial(tid).status is TrialStatus.FAILED


def check_study_attributes_and_elapsed(storage: Storage) -> None:
    sid = _study(storage)
    storage.add_elapsed(sid, 1.5)
    storage.add_elapsed(sid, 2.0)
    storage.set_study_attr(sid, "artifacts", "/tmp/a")
    storage.set_study_optimizer(sid, {"name": "grid", "params": {"resolution": 3}})
    info = storage.get_study("s")
    assert info is not None
    assert info.elapsed_seconds == 3.5
    assert info.attrs == {"artifacts": "/tmp/a"}
    assert info.optimizer == {"name": "grid", "params": {"resolution": 3}}


def check_delete_study_removes_only_that_study(storage: Storage) -> None:
    a, b = _study(storage, "a"), _study(storage, "b")
    ta = _start(storage, a, 0)
    storage.report(ta, Observation(1.0, 0.5), work=1.0)
    _start(storage, b, 0)
    assert storage.delete_study("a") is True
    assert storage.delete_study("a") is False
    assert [s.name for s in storage.list_studies()] == ["b"]
    assert len(storage.history(b).trials) == 1


def check_list_studies_counts(storage: Storage) -> None:
    sid = _study(storage)
    t0 = _start(storage, sid, 0)
    _start(storage, sid, 1)
    storage.report(t0, Observation(3.0, 0.25), work=3.0)
    storage.end_run(t0, TrialStatus.COMPLETED, StopReason.REACHED, "", now=1.0)
    (summary,) = storage.list_studies()
    assert (summary.n_trials, summary.n_running, summary.n_completed, summary.n_failed) == (
        2,
        1,
        1,
        0,
    )
    assert summary.best_value == 0.25


def check_threads_report_concurrently_without_loss(storage: Storage) -> None:
    sid = _study(storage)
    tids = [_start(storage, sid, i) for i in range(4)]

    def work(tid: int) -> None:
        for f in range(1, 26):
            storage.report(tid, Observation(float(f), tid + f / 100), work=1.0)

    threads = [threading.Thread(target=work, args=(t,)) for t in tids]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    h = storage.history(sid)
    assert sum(len(t.curve) for t in h.trials) == 100
    for t in h.trials:
        assert [o.value for o in t.curve] == [t.trial_id + f / 100 for f in range(1, 26)]
        assert [o.seq for o in t.curve] == sorted(o.seq for o in t.curve)  # as reported
    assert len({o.seq for t in h.trials for o in t.curve}) == 100  # no two share a number
    # the best values kept under concurrent reports are those of the snapshot
    assert storage.list_studies()[0].best_value == h.best_value() == min(tids) + 0.25
    storage.set_study_attr(sid, "best_by", "curve")
    assert storage.list_studies()[0].best_value == h.best_value("curve") == min(tids) + 0.01


def check_work_defaults_to_the_new_steps_beyond_the_highest_reported(storage: Storage) -> None:
    sid = _study(storage)
    tid = _start(storage, sid, 0, stop=5.0)
    storage.report(tid, Observation(2.0, 0.5))  # 2 steps from nothing
    storage.report(tid, Observation(3.0, 0.4))  # 1 more
    storage.report(tid, Observation(1.0, 0.6))  # a retrained earlier step: no new work
    assert storage.trial(tid).work == 3.0


def _without_heartbeats(history: History) -> History:
    """The snapshot with heartbeat times blanked: they are not changes (see Storage.history)."""
    trials = tuple(dataclasses.replace(t, heartbeat=None) for t in history.trials)
    return dataclasses.replace(history, trials=trials)


def _same(a: History, b: History) -> bool:
    return _without_heartbeats(a) == _without_heartbeats(b)


def check_a_snapshot_read_since_another_equals_a_full_read(storage: Storage) -> None:
    """Every kind of change (start, report, failure, end, resume, loss, new decisions) shows in
    the incremental read exactly as in a full read, and unchanged records are shared."""
    sid = _study(storage)
    other = _study(storage, "other")  # changes of another study are not this one's
    a = _start(storage, sid, 0, x=0.1)
    b = _start(storage, sid, 1, x=0.2)
    first = storage.history(sid, decisions=True)
    assert storage.history(sid, decisions=True, since=first) is first  # nothing changed
    storage.heartbeat([a, b], now=5.0)  # heartbeats are not changes
    assert storage.history(sid, decisions=True, since=first) is first

    _start(storage, other, 0)
    storage.report(a, Observation(1.0, 0.5), checkpoint_fidelity=1.0)
    c = _start(storage, sid, 2, x=0.3)
    second = storage.history(sid, decisions=True, since=first)
    assert _same(second, storage.history(sid, decisions=True))
    assert second.version > first.version
    assert second.trial(b) is first.trial(b)  # unchanged: shared, not read again
    assert [(o.fidelity, o.value) for o in second.trial(a).curve] == [(1.0, 0.5)]
    assert [d.trial_id for d in second.decisions] == [a, b, c]

    storage.report(b, Observation(1.0, math.nan))  # fails b
    storage.end_run(a, TrialStatus.PAUSED, StopReason.REACHED, "", now=6.0)
    storage.lose_run(c, "its worker process died", now=7.0)
    storage.apply_decision(sid, 3, NewDecision("resume", 3.0, trial_id=a), now=8.0)
    d = _start(storage, sid, 4, x=0.4)
    for want in (True, False):
        third = storage.history(sid, decisions=want, since=second)
        assert _same(third, storage.history(sid, decisions=want))
        assert third.n_decisions == 5 and len(third.decisions) == (5 if want else 0)
    statuses = [t.status for t in third.trials]
    assert statuses == [
        TrialStatus.RUNNING,
        TrialStatus.FAILED,
        TrialStatus.PAUSED,
        TrialStatus.RUNNING,
    ]
    assert third.trial(d).number == 3
    # a snapshot without decisions, continued with decisions, reads all of them
    assert storage.history(sid, decisions=True, since=third).decisions == (
        storage.history(sid, decisions=True).decisions
    )


def check_incremental_snapshots_follow_concurrent_writers(storage: Storage) -> None:
    """Writers in threads report while a reader follows incrementally: each snapshot equals a
    full read made at the same version, and the last one holds every report."""
    sid = _study(storage)
    ids = [_start(storage, sid, i, x=i / 10) for i in range(4)]
    errors: list[BaseException] = []

    def write(tid: int) -> None:
        try:
            for f in range(1, 31):
                storage.report(tid, Observation(float(f), f / 100.0))
        except BaseException as exc:  # pragma: no cover - shown by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(t,)) for t in ids]
    for t in threads:
        t.start()
    snapshot = storage.history(sid)
    while any(t.is_alive() for t in threads):
        snapshot = storage.history(sid, since=snapshot)
        for trial in snapshot.trials:  # a curve is never seen half-written
            assert [o.fidelity for o in trial.curve] == [
                float(i) for i in range(1, 1 + len(trial.curve))
            ]
    for t in threads:
        t.join()
    assert not errors
    snapshot = storage.history(sid, since=snapshot)
    assert _same(snapshot, storage.history(sid))
    assert all(len(t.curve) == 30 for t in snapshot.trials)


def check_a_report_repeated_after_a_lost_answer_counts_once(storage: Storage) -> None:
    """A retry of a committed report (same value, same time) changes nothing; a retrained step
    (a new time) replaces the value and counts its work."""
    sid = _study(storage)
    tid = _start(storage, sid, 0)
    storage.report(tid, Observation(1.0, 0.5, time=10.0))
    first = storage.trial(tid).curve
    storage.report(tid, Observation(1.0, 0.5, time=10.0), work=1.0)
    assert storage.trial(tid).work == 1.0
    assert storage.trial(tid).curve == first  # its place in the order of reports too
    storage.report(tid, Observation(1.0, 0.4, time=11.0), work=1.0)
    t = storage.trial(tid)
    assert t.work == 2.0 and t.curve == (Observation(1.0, 0.4, time=11.0, seq=t.curve[0].seq),)
    assert t.curve[0].seq > first[0].seq


def check_a_stale_run_cannot_touch_its_trial_once_another_run_has_it(storage: Storage) -> None:
    sid = _study(storage)
    tid = _start(storage, sid, 0)  # run of decision 0
    storage.report(tid, Observation(1.0, 0.5), run=0)
    assert storage.lose_run(tid, "no heartbeat", now=5.0) is TrialStatus.PAUSED
    storage.apply_decision(sid, 1, NewDecision("resume", 3.0, trial_id=tid), now=6.0)
    with _raises(TrialStateError, match=r"run of decision 0.*run of decision 1"):
        storage.report(tid, Observation(2.0, 0.4), run=0)
    with _raises(TrialStateError, match="run of decision 0"):
        storage.end_run(tid, TrialStatus.PAUSED, StopReason.REACHED, "", now=7.0, run=0)
    # the stale run's worker dies later: that must not lose the run that has the trial now
    assert storage.lose_run(tid, "its worker process died", now=8.0, run=0) is None
    t = storage.trial(tid)
    assert t.status is TrialStatus.RUNNING and t.lost_count == 1 and t.fidelity == 1.0
    storage.report(tid, Observation(2.0, 0.4), run=1)
    storage.end_run(tid, TrialStatus.PAUSED, StopReason.REACHED, "", now=9.0, run=1)
    assert storage.trial(tid).fidelity == 2.0


def check_a_run_lost_after_its_last_report_ends_as_it_would_have(storage: Storage) -> None:
    sid = _study(storage)
    top = _start(storage, sid, 0, stop=3.0)
    mid = _start(storage, sid, 1, stop=2.0)
    for f in (1.0, 2.0, 3.0):
        storage.report(top, Observation(f, 1.0 / f))
    for f in (1.0, 2.0):
        storage.report(mid, Observation(f, 1.0 / f))
    assert storage.lose_run(top, "died", now=5.0, max_fidelity=3.0) is TrialStatus.COMPLETED
    assert storage.recover_stale(sid, older_than=50.0, now=50.0, max_fidelity=3.0) == [mid]
    for tid, status in ((top, TrialStatus.COMPLETED), (mid, TrialStatus.PAUSED)):
        t = storage.trial(tid)
        assert t.status is status and t.reason is StopReason.REACHED and t.lost_count == 0
        assert "after it had reported its granted fidelity" in t.message


def check_the_queue_is_taken_in_order_once_with_its_user_attrs(storage: Storage) -> None:
    sid = _study(storage)
    assert storage.history(sid).enqueued == ()
    before = storage.history(sid)
    assert storage.enqueue(sid, {"x": 0.125}, {"source": "paper"}, now=1.0) == 0
    assert storage.enqueue(sid, {"x": 0.75}, {}, now=2.0) == 1
    h = storage.history(sid, since=before)  # an enqueue is a change: read incrementally
    assert [(e.index, dict(e.config), dict(e.user_attrs)) for e in h.enqueued] == [
        (0, {"x": 0.125}, {"source": "paper"}),
        (1, {"x": 0.75}, {}),
    ]
    _, trial = storage.apply_decision(
        sid, 0, NewDecision("start", 3.0, config={"x": 0.125}, enqueued=0), now=3.0
    )
    assert dict(trial.user_attrs) == {"source": "paper"}
    with _raises(DecisionConflict, match="queued configuration 0"):
        storage.apply_decision(
            sid, 1, NewDecision("start", 3.0, config={"x": 0.125}, enqueued=0), now=4.0
        )
    h = storage.history(sid, since=h)
    assert [e.index for e in h.enqueued] == [1]
    assert dict(h.trial(trial.trial_id).user_attrs) == {"source": "paper"}
    _start(storage, sid, 1)  # a start that takes nothing leaves the queue as it is
    assert [e.index for e in storage.history(sid).enqueued] == [1]
    assert storage.delete_study("s")
    sid = _study(storage)
    assert storage.history(sid).enqueued == ()


def check_user_attributes_are_kept_in_any_status_and_read_incrementally(storage: Storage) -> None:
    sid = _study(storage)
    tid = _start(storage, sid, 0)
    assert storage.trial(tid).user_attrs == {}
    storage.set_trial_user_attr(tid, "n_params", 1024)
    h = storage.history(sid)
    storage.report(tid, Observation(1.0, 0.5, time=1.0))
    storage.end_run(tid, TrialStatus.COMPLETED, StopReason.REACHED, "", now=2.0)
    storage.set_trial_user_attr(tid, "test", {"accuracy": 0.91, "seeds": [1, 2]})
    storage.set_trial_user_attr(tid, "n_params", 2048)
    later = storage.history(sid, since=h)
    full = storage.history(sid)
    assert later.trials == full.trials
    assert dict(full.trial(tid).user_attrs) == {
        "n_params": 2048,
        "test": {"accuracy": 0.91, "seeds": [1, 2]},
    }
    with _raises(KeyError):
        storage.set_trial_user_attr(10_000, "k", 1)


def check_the_devices_of_a_run_are_recorded_and_seen_by_incremental_snapshots(
    storage: Storage,
) -> None:
    sid = _study(storage)
    tid = _start(storage, sid, 0)
    assert storage.trial(tid).devices == ()
    before = storage.history(sid)
    storage.set_devices(tid, ["cuda:3", "cuda:4"], run=0)
    assert storage.trial(tid).devices == ("cuda:3", "cuda:4")
    after = storage.history(sid, since=before)
    assert after.version > before.version
    assert after.trial(tid).devices == ("cuda:3", "cuda:4")
    with _raises(TrialStateError, match="run of decision 1"):
        storage.set_devices(tid, ["cpu"], run=1)
    storage.set_devices(tid, [], run=0)  # none assigned
    assert storage.trial(tid).devices == ()
    storage.set_devices(tid, ["cpu"])
    storage.end_run(tid, TrialStatus.PAUSED, StopReason.REACHED, "", now=2.0)
    assert storage.trial(tid).devices == ("cpu",)  # kept with the trial once its run ended
    with _raises(TrialStateError, match="not running"):
        storage.set_devices(tid, ["cuda:0"])


def check_a_decision_applied_again_with_its_key_returns_the_run_it_started(
    storage: Storage,
) -> None:
    sid = _study(storage)
    start = NewDecision("start", 2.0, config={"x": 0.5}, optimizer="random", info={"a": 1})
    record, trial = storage.apply_decision(sid, 0, start, now=1.0)
    assert record.key == start.key and len(start.key) == 32
    storage.report(trial.trial_id, Observation(1.0, 0.25, time=2.0))
    # the same decision again (at its index, or at the next one after a conflict): nothing new
    for index in (0, 1):
        again, same = storage.apply_decision(sid, index, start, now=3.0)
        assert again == record
        assert same == storage.trial(trial.trial_id) and same.fidelity == 1.0
    h = storage.history(sid, decisions=True)
    assert h.n_decisions == 1 and [d.key for d in h.decisions] == [start.key]
    assert [t.trial_id for t in h.trials] == [trial.trial_id]
    # a resume likewise, and two decisions never share a key by default
    storage.report(trial.trial_id, Observation(2.0, 0.125, time=4.0))
    storage.end_run(trial.trial_id, TrialStatus.PAUSED, StopReason.REACHED, "", now=5.0)
    resume = NewDecision("resume", 3.0, trial_id=trial.trial_id, optimizer="random")
    assert resume.key != start.key
    first = storage.apply_decision(sid, 1, resume, now=6.0)
    assert storage.apply_decision(sid, 1, resume, now=7.0) == first
    assert first[0].start == 2.0 and first[1].status is TrialStatus.RUNNING
    assert storage.history(sid).n_decisions == 2
    # a key of another decision is refused, naming the key and the fix
    other = NewDecision("start", 1.0, config={"x": 0.25}, key=start.key)
    with _raises(ConfigurationError, match=f"{start.key}.*decision 0.*key of its own"):
        storage.apply_decision(sid, 2, other, now=8.0)
    # an explicit key works like a made one; the same key in another study is another decision
    mine = NewDecision("start", 1.0, config={"x": 0.75}, key="client-7:decision-2")
    assert storage.apply_decision(sid, 2, mine, now=9.0)[0].key == "client-7:decision-2"
    sid2 = _study(storage, "t")
    assert storage.apply_decision(sid2, 0, mine, now=9.0)[1].trial_id != trial.trial_id
    assert storage.history(sid, decisions=True).decisions[2].key == "client-7:decision-2"


def check_a_decision_whose_answer_was_lost_is_applied_once(storage: Storage) -> None:
    """The commit goes through, then the connection drops before the answer: the storage's
    retry finds the decision by its key and returns it; one decision, one run."""
    sid = _study(storage)
    storage.enqueue(sid, {"x": 0.125}, {"source": "paper"}, now=0.5)
    start = NewDecision("start", 2.0, config={"x": 0.125}, optimizer="random", enqueued=0)
    with lose_commit_answers("hr_decisions") as lost:
        record, trial = storage.apply_decision(sid, 0, start, now=1.0)
    assert lost.lost == 1
    h = storage.history(sid, decisions=True)
    assert h.decisions == (record,) and record.key == start.key
    assert h.trials == (trial,) and trial.status is TrialStatus.RUNNING
    assert dict(trial.user_attrs) == {"source": "paper"} and h.enqueued == ()
    storage.report(trial.trial_id, Observation(2.0, 0.5, time=2.0))
    storage.end_run(trial.trial_id, TrialStatus.PAUSED, StopReason.REACHED, "", now=3.0)
    resume = NewDecision("resume", 3.0, trial_id=trial.trial_id)
    with lose_commit_answers("hr_decisions") as lost:
        record, trial = storage.apply_decision(sid, 1, resume, now=4.0)
    assert lost.lost == 1
    h = storage.history(sid, decisions=True)
    assert h.decisions[1] == record and (record.kind, record.start) == ("resume", 2.0)
    assert h.trials == (trial,) and trial.status is TrialStatus.RUNNING
    assert trial.lost_count == 0


def check_a_study_whose_decision_answer_was_lost_asks_once(storage: Storage) -> None:
    """A study's ``ask`` whose decision's answer is lost gets the run it started."""
    study = Study("lost", Space(x=Float(0.0, 1.0)), storage=storage, optimizer="random", seed=1)
    with lose_commit_answers("hr_decisions", every=2, times=2) as lost:
        jobs = [study.ask() for _ in range(4)]
    assert lost.lost == 2
    assert all(isinstance(job, Job) for job in jobs)
    h = study.history(decisions=True)
    assert [d.index for d in h.decisions] == [0, 1, 2, 3]
    assert [t.trial_id for t in h.trials] == [j.trial_id for j in jobs]  # type: ignore[union-attr]
    assert [t.status for t in h.trials] == [TrialStatus.RUNNING] * 4


def check_reports_are_numbered_in_the_order_the_study_recorded_them(storage: Storage) -> None:
    """``seq`` orders a study's reports as they were committed, whatever their times say (here
    they tie, or run backwards as from workers whose clocks disagree); a report of another
    study does not take a number of this one."""
    sid, other = _study(storage), _study(storage, "other")
    a, b = _start(storage, sid, 0), _start(storage, sid, 1, x=0.25)
    o = _start(storage, other, 0)
    made = [(b, 1.0, 50.0), (a, 1.0, 50.0), (o, 1.0, 10.0), (a, 2.0, 40.0), (b, 2.0, 50.0)]
    for tid, fidelity, time in made:
        storage.report(tid, Observation(fidelity, 0.5, time=time))
    storage.end_run(b, TrialStatus.PAUSED, StopReason.REACHED, "", now=60.0)
    storage.report(a, Observation(3.0, 0.25, time=30.0))
    h = storage.history(sid)
    ordered = sorted((obs.seq, t.trial_id, obs.fidelity) for t in h.trials for obs in t.curve)
    assert [(tid, f) for _, tid, f in ordered] == [(b, 1.0), (a, 1.0), (a, 2.0), (b, 2.0), (a, 3.0)]
    seqs = [s for s, _, _ in ordered]
    assert len(set(seqs)) == len(seqs) and seqs[0] > 0 and seqs[-1] <= h.version
    # a retrained step takes a new place, after every report before it
    storage.report(a, Observation(3.0, 0.2, time=1.0))
    again = storage.history(sid, since=h)
    assert again.trial(a).curve[2].seq > max(seqs)
    assert storage.history(other).trial(o).curve[0].seq > 0


def check_the_listed_best_is_the_studys_best_after_reports_and_failures(
    storage: Storage,
) -> None:
    """The best value a list of studies shows is :meth:`History.best_value` under the study's
    ranking rule, after every kind of change: new reports at the top fidelity and below it, a
    retrained step that replaces the best with a worse value, and trials that fail (a NaN, an
    error, too many lost runs) while they hold the best; for either direction."""
    for direction in ("minimize", "maximize"):
        _listed_best(storage, direction)


def _listed_best(storage: Storage, direction: str) -> None:
    name = f"best-{direction}"
    sid = storage.create_study(
        name,
        direction=direction,  # type: ignore[arg-type]
        space=SPACE,
        optimizer={"name": "random", "params": {}},
        seed=7,
        now=100.0,
    ).study_id
    sign = 1.0 if direction == "minimize" else -1.0

    def listed() -> float | None:
        (value,) = [s.best_value for s in storage.list_studies() if s.name == name]
        return value

    def check(by: str) -> None:
        storage.set_study_attr(sid, "best_by", by)
        history = storage.history(sid)
        assert listed() == history.best_value(by)  # type: ignore[arg-type]
        assert storage.best_trial(sid, by) == history.best(by)  # type: ignore[arg-type]

    def check_both() -> None:
        check("curve")
        check("last")

    check_both()  # no reports: None
    a, b, c = (_start(storage, sid, i, x=0.1 * i, stop=5.0) for i in range(3))
    steps = [(a, 1.0, 0.5), (b, 1.0, 0.4), (a, 2.0, 0.45), (c, 1.0, 0.1), (b, 2.0, 0.3)]
    for tid, fidelity, loss in steps:
        storage.report(tid, Observation(fidelity, sign * loss, time=fidelity))
        check_both()
    assert listed() == sign * 0.3  # "last": at fidelity 2
    storage.report(b, Observation(2.0, sign * 0.6, time=9.0))  # retrained: the best gets worse
    check_both()
    storage.report(c, Observation(2.0, math.nan))  # c held the best of any curve
    check_both()
    storage.end_run(a, TrialStatus.FAILED, StopReason.ERROR, "boom", now=10.0)  # held "last"
    check_both()
    storage.lose_run(b, "worker died", now=11.0, max_retries=0)  # failed: the last one
    assert storage.trial(b).status is TrialStatus.FAILED
    check_both()
    assert listed() is None
    d = _start(storage, sid, 3, x=0.9)
    storage.report(d, Observation(1.0, sign * 0.7, time=12.0))
    storage.end_run(d, TrialStatus.PAUSED, StopReason.REACHED, "", now=13.0)
    check_both()
    storage.set_study_attr(sid, "best_by", "unknown rule")  # ranks as "last"
    assert listed() == sign * 0.7
    e = _start(storage, sid, 4, x=0.95)
    storage.report(e, Observation(1.0, sign * 0.2, time=14.0))
    assert storage.recover_stale(sid, older_than=1e9, now=15.0, max_retries=0) == [e]
    check_both()  # e failed, lost too often


def check_a_page_of_trials_and_the_best_trial_read_alone_match_the_history(
    storage: Storage,
) -> None:
    """:meth:`Storage.trials` gives the trials of a range of numbers as the history has them
    (curves included; numbers no trial has are left out; another study's trials never), and
    :meth:`Storage.best_trial` the trial :meth:`History.best` names, ties going to the older
    trial; bad arguments are refused with the value named."""
    sid = _study(storage, "paged")
    other = _study(storage, "paged-other")
    assert storage.trials(sid, range(0, 10)) == ()
    assert storage.best_trial(sid) is None and storage.best_trial(sid, "curve") is None
    ids = [_start(storage, sid, i, x=0.1 * i, stop=5.0) for i in range(5)]
    _start(storage, other, 0)
    for tid, values in zip(ids, ([0.5, 0.3], [0.4, 0.3], [0.2], [0.9, 0.6, 0.2], []), strict=True):
        for step, value in enumerate(values, start=1):
            storage.report(tid, Observation(float(step), value, time=float(step)))
    storage.end_run(ids[2], TrialStatus.PAUSED, StopReason.REACHED, "", now=5.0)
    history = storage.history(sid)
    assert storage.trials(sid, range(0, 5)) == history.trials
    assert storage.trials(sid, range(1, 3)) == history.trials[1:3]
    assert storage.trials(sid, range(3, 1000)) == history.trials[3:]
    assert storage.trials(sid, range(-4, 1)) == history.trials[:1]
    assert storage.trials(sid, range(7, 9)) == () and storage.trials(sid, range(3, 3)) == ()
    assert storage.trials(sid, range(0, 2**40)) == history.trials
    # "last": trial 3 alone is at fidelity 3; "curve": 0.2 twice, the older trial (2) wins
    assert storage.best_trial(sid) == history.best() == history.trials[3]
    assert storage.best_trial(sid, "curve") == history.best("curve") == history.trials[2]
    storage.end_run(ids[3], TrialStatus.FAILED, StopReason.ERROR, "boom", now=6.0)
    history = storage.history(sid)
    # at fidelity 2, trials 0 and 1 tie at 0.3: the older one
    assert storage.best_trial(sid) == history.best() == history.trials[0]
    assert storage.best_trial(sid, "curve") == history.best("curve") == history.trials[2]
    with _raises(ConfigurationError, r"numbers=\[0, 1\] must be a range"):
        storage.trials(sid, [0, 1])  # type: ignore[arg-type]
    with _raises(ConfigurationError, r"numbers=range\(0, 4, 2\)"):
        storage.trials(sid, range(0, 4, 2))
    with _raises(ConfigurationError, "by='first' is not a ranking rule"):
        storage.best_trial(sid, "first")  # type: ignore[arg-type]
    with _raises(KeyError, "no study"):
        storage.trials(10**6, range(0, 1))
    with _raises(KeyError, "no study"):
        storage.best_trial(10**6)


@dataclass
class LostAnswers:
    """What :func:`lose_commit_answers` did: how many commits it let through and then failed."""

    lost: int = 0
    seen: int = 0


@contextlib.contextmanager
def lose_commit_answers(
    table: str = "hr_decisions",
    *,
    every: int = 1,
    times: int = 1,
    marker_dir: str | Path | None = None,
) -> Iterator[LostAnswers]:
    """Within the block, lose the answers of commits: a transaction of any SQL storage of this
    process that inserted into ``table`` is committed for real, then its commit raises the
    ``OperationalError`` of a dropped connection, as when the server restarts between the
    commit and its reply. The storage cannot tell whether its write went through.

    Args:
        table: the table whose inserting transactions lose their answers.
        every: lose the answer of every ``every``-th such commit (1: each one).
        times: lose at most this many answers.
        marker_dir: touch a file ``lost-answer-<pid>-<n>`` there for each answer lost, so that
            a scenario can count them across processes.

    Yields the counts, updated as commits happen.
    """
    import sqlalchemy as sa
    from sqlalchemy.engine import Connection, Engine
    from sqlalchemy.exc import OperationalError

    if every < 1 or times < 0:
        raise ConfigurationError(f"every={every} must be at least 1 and times={times} at least 0")
    prefix = f"INSERT INTO {table.upper()} "
    flag = "hyperrace_faults_inserted"
    counts = LostAnswers()

    # on PostgreSQL a report and a decision are one call of a function, committed on its own
    function = {"hr_decisions": "FROM HR_DECIDE(", "hr_observations": "FROM HR_REPORT("}.get(
        table.lower()
    )

    def after_execute(conn: Connection, _cursor: Any, statement: str, *_: Any) -> None:
        text = statement.lstrip().upper()
        if text.startswith(prefix):
            conn.info[flag] = True
        elif function is not None and function in text:
            conn.info[flag] = True
            lose(conn, committed=True)  # the call was its own transaction

    def on_commit(conn: Connection) -> None:
        lose(conn, committed=False)

    def lose(conn: Connection, committed: bool) -> None:
        if not conn.info.pop(flag, False):
            return
        counts.seen += 1
        if counts.lost >= times or counts.seen % every:
            return
        if not committed:
            dbapi = conn.connection.dbapi_connection
            assert dbapi is not None
            dbapi.commit()  # the write goes through ...
        counts.lost += 1
        if marker_dir is not None:
            (Path(marker_dir) / f"lost-answer-{os.getpid()}-{counts.lost}").touch()
        # ... and the answer is lost
        raise OperationalError(
            "COMMIT",
            None,
            ConnectionError("server closed the connection unexpectedly (answer lost on purpose)"),
        )

    def on_rollback(conn: Connection) -> None:
        conn.info.pop(flag, None)

    listeners: list[tuple[str, Callable[..., Any]]] = [
        ("after_cursor_execute", after_execute),
        ("commit", on_commit),
        ("rollback", on_rollback),
    ]
    for name, fn in listeners:
        sa.event.listen(Engine, name, fn)
    try:
        yield counts
    finally:
        for name, fn in listeners:
            sa.event.remove(Engine, name, fn)


#: The checks every storage passes, by name.
CHECKS: dict[str, Check] = {
    f.__name__.removeprefix("check_"): f
    for f in (
        check_create_study_is_idempotent_and_keeps_what_it_was_given,
        check_decisions_are_numbered_and_conflicts_detected,
        check_a_decision_made_while_deciding_reads_and_writes_as_any_other,
        check_report_commits_and_replaces_a_retrained_step,
        check_non_finite_value_fails_the_trial_and_is_not_stored,
        check_floats_round_trip_exactly,
        check_transitions_pause_resume_complete,
        check_recover_stale_pauses_only_silent_running_trials,
        check_a_trial_lost_more_than_max_retries_times_fails_with_the_reason,
        check_study_attributes_and_elapsed,
        check_delete_study_removes_only_that_study,
        check_list_studies_counts,
        check_threads_report_concurrently_without_loss,
        check_work_defaults_to_the_new_steps_beyond_the_highest_reported,
        check_a_snapshot_read_since_another_equals_a_full_read,
        check_incremental_snapshots_follow_concurrent_writers,
        check_a_report_repeated_after_a_lost_answer_counts_once,
        check_a_stale_run_cannot_touch_its_trial_once_another_run_has_it,
        check_a_run_lost_after_its_last_report_ends_as_it_would_have,
        check_the_queue_is_taken_in_order_once_with_its_user_attrs,
        check_user_attributes_are_kept_in_any_status_and_read_incrementally,
        check_the_devices_of_a_run_are_recorded_and_seen_by_incremental_snapshots,
        check_a_decision_applied_again_with_its_key_returns_the_run_it_started,
        check_reports_are_numbered_in_the_order_the_study_recorded_them,
        check_the_listed_best_is_the_studys_best_after_reports_and_failures,
        check_a_page_of_trials_and_the_best_trial_read_alone_match_the_history,
    )
}

#: The checks of a commit whose answer is lost (:func:`lose_commit_answers`), by name: for the
#: storages behind SQLAlchemy (SQLite, PostgreSQL).
LOST_ANSWER_CHECKS: dict[str, Check] = {
    f.__name__.removeprefix("check_"): f
    for f in (
        check_a_decision_whose_answer_was_lost_is_applied_once,
        check_a_study_whose_decision_answer_was_lost_asks_once,
    )
}
