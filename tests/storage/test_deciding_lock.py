"""PostgreSQL's decision lock (``SQLStorage.deciding``): the study's other deciders wait for the
one that decides, go on without it after ``deciding_wait`` seconds, and find it freed when the
process holding it dies; the decider's statements run on the one connection it holds. Each
decider here reads the study first, as a race does (a full read, or one that follows a
snapshot: one pipelined round trip)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from hyperrace.history import History
from hyperrace.storage import DecisionConflict, NewDecision
from hyperrace.storage._sql import SQLStorage

SPACE = {"x": {"type": "float", "low": 0.0, "high": 1.0}}


def _study(storage: SQLStorage, name: str = "s") -> int:
    return storage.create_study(
        name, direction="minimize", space=SPACE, optimizer={"name": "random"}, seed=1, now=1.0
    ).study_id


def _read(storage: SQLStorage, sid: int, since: History | None) -> History:
    """The decider's first statement: a full read, or one that follows ``since`` (the
    pipelined read that asks for the lock in its own round trip)."""
    return storage.history(sid, since=since)


class Decider:
    """A thread that enters ``storage.deciding(sid)``, reads the study, and stays until
    :meth:`leave`."""

    def __init__(self, storage: SQLStorage, sid: int, since: History | None = None) -> None:
        self.entered, self._leave = threading.Event(), threading.Event()
        self._thread = threading.Thread(target=self._run, args=(storage, sid, since), daemon=True)
        self._thread.start()

    def _run(self, storage: SQLStorage, sid: int, since: History | None) -> None:
        with storage.deciding(sid):
            _read(storage, sid, since)
            self.entered.set()
            self._leave.wait(60)

    def leave(self) -> None:
        self._leave.set()
        self._thread.join(60)
        assert not self._thread.is_alive()


@pytest.mark.parametrize("first", ["full", "following"])
def test_a_second_decider_waits_until_the_first_leaves(pg_url: str, first: str) -> None:
    a, b = SQLStorage(pg_url), SQLStorage(pg_url)
    try:
        sid = _study(a)
        other = _study(a, "other")
        since = a.history(sid) if first == "following" else None
        with a.deciding(sid):
            _read(a, sid, since)
            waiting = Decider(b, sid, since)
            assert not waiting.entered.wait(1.0), "a second decider of the study did not wait"
            # a decider of another study does not wait
            elsewhere = Decider(b, other)
            assert elsewhere.entered.wait(10)
            elsewhere.leave()
        assert waiting.entered.wait(10), "the second decider still waits after the first left"
        waiting.leave()
    finally:
        a.close()
        b.close()


def test_a_decider_that_waited_too_long_goes_on_without_the_lock(pg_url: str) -> None:
    a, b = SQLStorage(pg_url), SQLStorage(pg_url)
    b.deciding_wait = 0.3
    try:
        sid = _study(a)
        since = a.history(sid)
        with a.deciding(sid):
            _read(a, sid, since)
            late = Decider(b, sid, since)
            assert late.entered.wait(10), "a decider waited past deciding_wait"
            late.leave()
            # and its decisions are still checked: the index it read is the one it must take
            a.apply_decision(sid, 0, NewDecision("start", 1.0, config={"x": 0.5}), now=2.0)
        assert b.history(sid).n_decisions == 1
    finally:
        a.close()
        b.close()


def test_a_process_killed_while_deciding_frees_the_lock(pg_url: str, tmp_path: Path) -> None:
    a = SQLStorage(pg_url)
    try:
        sid = _study(a)
        code = (
            "import sys, time\n"
            "from hyperrace.storage._sql import SQLStorage\n"
            f"s = SQLStorage({pg_url!r})\n"
            f"with s.deciding({sid}):\n"
            f"    s.history({sid}, since=s.history({sid}))\n"
            "    print('held', flush=True)\n"
            "    time.sleep(600)\n"
        )
        env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2] / "src")}
        holder = subprocess.Popen(
            [sys.executable, "-c", code], stdout=subprocess.PIPE, text=True, env=env
        )
        try:
            assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
            waiting = Decider(a, sid)
            assert not waiting.entered.wait(1.0), "the lock of a live holder was not held"
            holder.send_signal(signal.SIGKILL)
            holder.wait(30)
            # freed when the server sees the connection close, long before deciding_wait (10 s)
            start = time.monotonic()
            assert waiting.entered.wait(8), "the lock of a killed process was not freed"
            assert time.monotonic() - start < 8
            waiting.leave()
        finally:
            if holder.poll() is None:
                holder.kill()
                holder.wait(30)
            if holder.stdout is not None:
                holder.stdout.close()
    finally:
        a.close()


def test_a_decision_holds_one_connection_for_its_reads_and_writes(pg_url: str) -> None:
    storage = SQLStorage(pg_url)
    try:
        sid = _study(storage)
        pool = storage._write.pool
        since = storage.history(sid)
        with storage.deciding(sid):
            assert pool.checkedout() == 1
            h = storage.history(sid, since=since)
            _, trial = storage.apply_decision(
                sid, h.n_decisions, NewDecision("start", 1.0, config={"x": 0.5}), now=2.0
            )
            storage.trial(trial.trial_id)
            assert pool.checkedout() == 1, "a statement of the decision took another connection"
        assert pool.checkedout() == 0
    finally:
        storage.close()


@pytest.mark.parametrize("fail", ["statement", "conflict"])
def test_the_connection_is_left_clean_after_a_failure_inside(pg_url: str, fail: str) -> None:
    storage = SQLStorage(pg_url)
    try:
        sid = _study(storage)
        with storage.deciding(sid):
            _read(storage, sid, None)
            if fail == "statement":
                with pytest.raises(KeyError):
                    storage.trial(10**9)
            else:
                storage.apply_decision(
                    sid, 0, NewDecision("start", 1.0, config={"x": 0.1}), now=2.0
                )
                with pytest.raises(DecisionConflict):
                    storage.apply_decision(
                        sid, 0, NewDecision("start", 1.0, config={"x": 0.2}), now=2.0
                    )
        # the lock is released and the pooled connection answers in every isolation level
        other = SQLStorage(pg_url)
        other.deciding_wait = 5.0
        try:
            start = time.monotonic()
            with other.deciding(sid):
                _read(other, sid, None)
                assert time.monotonic() - start < 4, "the lock was left held"
        finally:
            other.close()
        assert storage.history(sid).n_decisions == (1 if fail == "conflict" else 0)
    finally:
        storage.close()


def test_the_decision_itself_frees_the_lock(pg_url: str) -> None:
    a, b = SQLStorage(pg_url), SQLStorage(pg_url)
    try:
        sid = _study(a)
        with a.deciding(sid):
            _read(a, sid, None)
            waiting = Decider(b, sid)
            assert not waiting.entered.wait(0.5)
            a.apply_decision(sid, 0, NewDecision("start", 1.0, config={"x": 0.5}), now=2.0)
            # free once the decision is written, before the block ends
            assert waiting.entered.wait(10), "the lock outlived the decision it guarded"
            waiting.leave()
        # and the block's end does not release a lock it no longer holds (nor another's)
        with b.deciding(sid):
            _read(b, sid, None)
            still = Decider(a, sid)
            assert not still.entered.wait(0.5), "b's lock was released by a's block"
        assert still.entered.wait(10)
        still.leave()
    finally:
        a.close()
        b.close()
