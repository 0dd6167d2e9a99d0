"""SIGKILL in the middle of a study loses nothing that was reported; the study resumes."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import hyperrace as hr
from hyperrace.testing import stress
from hyperrace.testing.objectives import slow_learning_curve
from hyperrace.trial import StopReason

SPACE = hr.Space(x=hr.Float(0.0, 1.0), epochs=hr.Fidelity(1, 6))

_DRIVER = """
import sys
import hyperrace as hr
from hyperrace.testing import stress
from hyperrace.testing.objectives import slow_learning_curve
study = hr.Study("crash", storage=sys.argv[1])
study.optimize(slow_learning_curve, budget=hr.Budget(epochs=60), heartbeat_interval=0.2,
               progress=False)
"""


def _observations(study: hr.Study) -> dict[tuple[int, float], float]:
    return {(t.trial_id, o.fidelity): o.value for t in study.history().trials for o in t.curve}


def _wait_for_reports(study: hr.Study, n: int, proc: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + 120
    while len(_observations(study)) < n:
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, "the driver made no progress"
        time.sleep(0.05)


def test_sigkill_of_the_driver_mid_optimize_then_resume(shared_url: str) -> None:
    study = hr.Study("crash", SPACE, storage=shared_url, seed=3, optimizer="random")
    env = {**os.environ, "HYPERRACE_TEST_STEP_SECONDS": "0.03"}
    proc = subprocess.Popen(
        [sys.executable, "-c", _DRIVER, shared_url],
        env=env,
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    _wait_for_reports(study, 15, proc)
    before = _observations(study)
    proc.send_signal(signal.SIGKILL)
    proc.communicate()
    at_kill = _observations(study)
    assert before.items() <= at_kill.items()
    assert len(study.history().running) == 1  # the killed run, left behind

    # resume in this process: the lost run is recovered after its heartbeat goes stale
    os.environ["HYPERRACE_TEST_STEP_SECONDS"] = "0.0"
    try:
        study.optimize(
            slow_learning_curve,
            budget=hr.Budget(epochs=60),
            heartbeat_interval=0.2,
            stale_after=0.5,
            progress=False,
        )
    finally:
        del os.environ["HYPERRACE_TEST_STEP_SECONDS"]
    after = _observations(study)
    h = study.history(decisions=True)
    assert at_kill.items() <= after.items(), "a report made before the kill was lost or changed"
    assert h.work == 60 and not h.running
    assert all(t.status is hr.TrialStatus.COMPLETED for t in h.trials)
    assert all([o.fidelity for o in t.curve] == [1, 2, 3, 4, 5, 6] for t in h.trials)
    resumed = [d for d in h.decisions if d.kind == "resume"]
    assert len(resumed) == 1 and resumed[0].info == {"resumed": "interrupted"}
    killed = h.trial(resumed[0].trial_id)
    assert killed.work == 6  # resumed from its checkpoint: no step trained twice


def test_sigkill_of_ask_tell_workers_loses_no_committed_report(
    shared_url: str, tmp_path: Path
) -> None:
    study = hr.Study(
        "killed",
        hr.Space(x=hr.Float(0.0, 1.0), epochs=hr.Fidelity(1, 20)),
        storage=shared_url,
        optimizer="random",
    )
    logs = [tmp_path / f"w{i}.log" for i in range(2)]
    procs = [
        stress.spawn(shared_url, "killed", 100000, log=str(log), capture=False) for log in logs
    ]
    seen = 0
    for rounds in range(3):
        deadline = time.monotonic() + 120
        while sum(len(log.read_text().splitlines()) for log in logs if log.exists()) < seen + 40:
            assert time.monotonic() < deadline, "the workers made no progress"
            time.sleep(0.05)
        time.sleep(0.1 * rounds)  # kill at a different point of the work each round
        for p in procs:
            p.send_signal(signal.SIGKILL)
            p.communicate()
        committed = [
            tuple(json.loads(line))
            for log in logs
            if log.exists()
            for line in log.read_text().splitlines()
        ]
        stored = _observations(study)
        assert len(committed) >= seen + 40
        seen = len(committed)
        for trial_id, fidelity, value in committed:
            assert stored[(trial_id, fidelity)] == value
        if rounds < 2:
            procs = [
                stress.spawn(shared_url, "killed", 100000, log=str(log), capture=False)
                for log in logs
            ]
    assert study.recover(stale_after=0.0)  # the killed workers' trials come back as paused
    h = study.history()
    assert not h.running
    assert all(t.reason is StopReason.LOST for t in h.paused if t.fidelity < t.target)


_WORKERS = """
import sys
import hyperrace as hr
from hyperrace.testing import stress
from hyperrace.testing.objectives import slow_learning_curve
if __name__ == "__main__":
    study = hr.Study("ctrl-c", storage=sys.argv[1])
    try:
        study.optimize(slow_learning_curve, budget=hr.Budget(epochs=48), workers=2,
                       progress=False)
    except KeyboardInterrupt:
        print("interrupted")
        sys.exit(130)
"""


def test_ctrl_c_with_worker_processes_pauses_running_trials(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'a.db'}"
    study = hr.Study("ctrl-c", SPACE, storage=url, seed=1, optimizer="random")
    script = tmp_path / "drive.py"
    script.write_text(_WORKERS)
    env = {**os.environ, "HYPERRACE_TEST_STEP_SECONDS": "0.1"}
    proc = subprocess.Popen(
        [sys.executable, str(script), url],
        env=env,
        text=True,
        start_new_session=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    _wait_for_reports(study, 8, proc)
    os.killpg(proc.pid, signal.SIGINT)  # as a terminal's Ctrl-C: the whole process group
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "interrupted" in out
    h = study.history()
    assert not h.running
    stopped = [t for t in h.paused if t.reason is StopReason.INTERRUPTED]
    assert stopped, [(t.status, t.reason) for t in h.trials]
    before = _observations(study)
    study.optimize(slow_learning_curve, budget=hr.Budget(epochs=48), progress=False)
    h = study.history()
    assert h.work == 48
    assert before.items() <= _observations(study).items()
    assert all(t.status is hr.TrialStatus.COMPLETED for t in h.trials)
    for t in stopped:  # resumed from their checkpoints: nothing trained twice
        assert h.trial(t.trial_id).work == 6
