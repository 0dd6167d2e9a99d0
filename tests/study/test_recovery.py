"""Lost runs are recovered on every path, without waiting for anyone to ask: the ask/tell
keeper thread, worker processes that die, and the retry limit that fails a trial."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

import hyperrace as hr
from hyperrace.testing.objectives import doomed_objective
from hyperrace.trial import StopReason, TrialStatus

SPACE = hr.Space(x=hr.Float(0.0, 1.0), epochs=hr.Fidelity(1, 4))

_ASK_AND_DIE = """
import os, sys
import hyperrace as hr
study = hr.Study("keeper", storage=sys.argv[1])
job = study.ask(heartbeat_interval=0.2)
print(job.trial_id, flush=True)
os._exit(9)  # dies holding the job: no tell, no more heartbeats
"""


def _wait_for(predicate: object, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():  # type: ignore[operator]
            return True
        time.sleep(0.05)
    return False


def test_a_dead_ask_tell_process_loses_its_job_to_a_live_one_that_does_not_ask(
    shared_url: str,
) -> None:
    watcher = hr.Study("keeper", SPACE, storage=shared_url, seed=0, optimizer="random")
    try:
        first = watcher.ask(heartbeat_interval=0.2, stale_after=0.8)  # starts its keeper
        assert isinstance(first, hr.Job)
        out = subprocess.run(
            [sys.executable, "-c", _ASK_AND_DIE, shared_url],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        lost_id = int(out.stdout.split()[0])
        # the watcher never asks again: its keeper takes the dead process's trial as lost...
        assert _wait_for(
            lambda: watcher.storage.trial(lost_id).status is TrialStatus.PAUSED, 10.0
        ), watcher.storage.trial(lost_id)
        lost = watcher.storage.trial(lost_id)
        assert lost.reason is StopReason.LOST and lost.lost_count == 1
        # ...while its own job, which it never reported to, is kept alive by its heartbeats
        time.sleep(1.0)
        assert watcher.storage.trial(first.trial_id).status is TrialStatus.RUNNING
        # the next job resumes the lost trial before anything new
        again = watcher.ask(heartbeat_interval=0.2, stale_after=0.8)
        assert isinstance(again, hr.Job) and again.trial_id == lost_id
        for job in (first, again):
            for f in range(int(job.start) + 1, int(job.stop) + 1):
                watcher.report(job.trial_id, fidelity=f, value=1.0 / f)
            watcher.tell(job)
    finally:
        watcher.close()


def test_a_closed_study_stops_heartbeating_and_its_job_is_lost(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'k.db'}"
    a = hr.Study("closed", SPACE, storage=url, seed=0, optimizer="random")
    b = hr.Study("closed", storage=url)
    job = a.ask(heartbeat_interval=0.1, stale_after=0.5)
    assert isinstance(job, hr.Job)
    time.sleep(0.8)
    assert b.recover(stale_after=0.5) == []  # a's keeper keeps it alive
    a.close()
    time.sleep(0.8)
    assert b.recover(stale_after=0.5) == [job.trial_id]


def test_bad_liveness_settings_name_the_fix() -> None:
    study = hr.Study("bad", SPACE, storage="memory://", seed=0, optimizer="random")
    with pytest.raises(hr.ConfigurationError, match=r"stale_after=1.*more than heartbeat"):
        study.ask(heartbeat_interval=2.0, stale_after=1.0)
    with pytest.raises(hr.ConfigurationError, match="heartbeat_interval=0"):
        study.ask(heartbeat_interval=0)
    with pytest.raises(hr.ConfigurationError, match="max_retries=-1"):
        study.optimize(lambda t: 0.0, budget=hr.Budget(trials=1), max_retries=-1, progress=False)
    assert study.trials == []  # nothing was decided


def test_a_trial_whose_worker_always_dies_fails_after_max_retries(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'doomed.db'}"
    study = hr.Study("doomed", SPACE, storage=url, seed=1, optimizer="random")
    study.optimize(
        doomed_objective,
        budget=hr.Budget(trials=4),
        workers=2,
        max_retries=2,
        progress=False,
    )
    h = study.history()
    doomed = h.trials[0]
    assert doomed.status is TrialStatus.FAILED and doomed.reason is StopReason.LOST
    assert doomed.lost_count == 3 and "max_retries=2" in doomed.message
    # each run resumed from the checkpoint of the one before and kept the step it made
    assert [o.fidelity for o in doomed.curve] == [1.0, 2.0, 3.0]
    assert all(t.status is TrialStatus.COMPLETED for t in h.trials[1:])


def test_a_stalled_ask_tell_job_taken_as_lost_can_no_longer_report(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 's.db'}"
    slow = hr.Study("stalled", SPACE, storage=url, seed=0, optimizer="random")
    other = hr.Study("stalled", storage=url)
    try:
        job = slow.ask(heartbeat_interval=5.0)
        assert isinstance(job, hr.Job)
        slow.report(job.trial_id, fidelity=1, value=0.5)
        # the process stalls: the others take its run as lost and resume the trial
        assert other.recover(stale_after=0.0) == [job.trial_id]
        again = other.ask(heartbeat_interval=5.0)
        assert isinstance(again, hr.Job) and again.trial_id == job.trial_id
        with pytest.raises(hr.TrialStateError, match="taken as lost"):
            slow.report(job.trial_id, fidelity=2, value=0.4)
        slow.tell(job)  # changes nothing (a warning says so)
        assert other.storage.trial(job.trial_id).status is TrialStatus.RUNNING
        other.report(again.trial_id, fidelity=2, value=0.4)
        assert other.tell(again).fidelity == 2.0
    finally:
        slow.close()
        other.close()
