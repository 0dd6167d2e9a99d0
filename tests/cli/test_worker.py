"""``hyperrace worker``: real worker commands on one study, on SQLite and PostgreSQL.

The objective is a module written into the test's folder and imported by the workers
(``--objective wobj:objective``). It appends one JSON line per step to the file named by
``HR_TEST_STEPS``: ``["begin", driver pid, pid, trial id, fidelity, start time]`` before the step
and ``["step", driver pid, pid, trial id, fidelity, start time, end time]`` once it is reported,
so the test can prove who trained what, and when.
"""

from __future__ import annotations

import itertools
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

import hyperrace as hr
from hyperrace.cli import main
from hyperrace.optimizers import OneEpochTopK
from hyperrace.trial import StopReason, TrialStatus

OBJECTIVE = '''
import json, os, time
from hyperrace.testing.objectives import curve_value

not_callable = 42


def _log(row):
    with open(os.environ["HR_TEST_STEPS"], "a", encoding="utf-8") as fh:
        fh.write(json.dumps(row) + "\\n")


def _steps_of_others(trial_id):
    with open(os.environ["HR_TEST_STEPS"], encoding="utf-8") as fh:
        rows = [json.loads(line) for line in fh]
    return {r[3] for r in rows if r[0] == "step" and r[3] != trial_id}


def _hold_first(trial):
    """Trial number 0's first step waits until HR_TEST_HOLD_FIRST other trials reported, and
    1.5 s more."""
    others = int(os.environ.get("HR_TEST_HOLD_FIRST", "0"))
    if others and trial.number == 0 and trial.start == 0:
        deadline = time.monotonic() + 60
        while len(_steps_of_others(trial.trial_id)) < others and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(1.5)


def _hold_step_2():
    """Step 2 waits while the file HR_TEST_HOLD (if set) does not exist."""
    release = os.environ.get("HR_TEST_HOLD")
    deadline = time.monotonic() + 60
    while release and not os.path.exists(release) and time.monotonic() < deadline:
        time.sleep(0.02)


def objective(trial):
    delay = float(os.environ.get("HR_TEST_STEP_SECONDS", "0.05"))
    state = trial.checkpoint.load()
    trained = 0 if state is None else state["trained"]
    if trained != int(trial.start):
        raise RuntimeError(f"checkpoint says {trained} steps, trial.start is {trial.start}")
    for step in trial.epochs():
        t0 = time.time()
        _log(["begin", os.getppid(), os.getpid(), trial.trial_id, step, t0])
        if step == 1:
            _hold_first(trial)
        elif step == 2:
            _hold_step_2()
        time.sleep(delay)
        trained += 1
        trial.report(curve_value(trial.config, step), checkpoint={"trained": trained})
        _log(["step", os.getppid(), os.getpid(), trial.trial_id, step, t0, time.time()])
'''

HYPERRACE = shutil.which("hyperrace", path=str(Path(sys.executable).parent))


class Workers:
    """``hyperrace worker`` processes started in ``folder`` (each in a session of its own, so
    that a test can signal one with its worker processes), and what they wrote."""

    def __init__(self, folder: Path, url: str, study: str) -> None:
        assert HYPERRACE is not None, "the hyperrace console script is not installed"
        self.folder, self.url, self.study = folder, url, study
        self.steps = folder / "steps.log"
        (folder / "wobj.py").write_text(OBJECTIVE)
        self.procs: list[subprocess.Popen[bytes]] = []
        self.exited: dict[int, float] = {}

    def start(self, *args: str, env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
        i = len(self.procs)
        cmd = [HYPERRACE, "worker", "--storage", self.url, "--study", self.study]
        cmd += ["--objective", "wobj:objective", *args]
        full_env = {**os.environ, "HR_TEST_STEPS": str(self.steps), **(env or {})}
        with open(self.folder / f"worker{i}.err", "wb") as err:
            proc = subprocess.Popen(
                cmd,
                cwd=self.folder,
                env=full_env,
                stdout=subprocess.DEVNULL,
                stderr=err,
                start_new_session=True,
            )
        self.procs.append(proc)
        return proc

    def log(self, i: int) -> str:
        return (self.folder / f"worker{i}.err").read_text()

    def rows(self) -> list[list[Any]]:
        if not self.steps.exists():
            return []
        return [json.loads(line) for line in self.steps.read_text().splitlines()]

    def wait_for(self, what: str, predicate: Any, timeout: float = 90.0) -> Any:
        deadline = time.monotonic() + timeout
        while not (found := predicate()):
            for i, proc in enumerate(self.procs):
                if proc.poll() is not None and proc.pid not in self.exited:
                    self.exited[proc.pid] = time.time()
                    if proc.returncode not in (0, -signal.SIGKILL):
                        pytest.fail(f"worker {i} exited with {proc.returncode}:\n{self.log(i)}")
            assert time.monotonic() < deadline, f"timed out waiting for {what}"
            time.sleep(0.02)
        return found

    def wait_all(self, timeout: float = 120.0) -> None:
        def done() -> bool:
            for proc in self.procs:
                if proc.poll() is not None and proc.pid not in self.exited:
                    self.exited[proc.pid] = time.time()
            return all(p.poll() is not None for p in self.procs)

        self.wait_for("every worker to exit", done, timeout)

    def kill_all(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()


@pytest.fixture
def workers_at(tmp_path: Path) -> Any:
    started: list[Workers] = []

    def make(url: str, study: str) -> Workers:
        started.append(Workers(tmp_path, url, study))
        return started[-1]

    yield make
    for w in started:
        w.kill_all()


def _check_runs(rows: list[list[Any]], killed_at: dict[int, float] | None = None) -> None:
    """No trial had two runs at once: its steps, in any process, never overlap in time. A step
    begun in a process killed at time T lasted until T."""
    killed_at = killed_at or {}
    ended = {(r[2], r[3], r[4], r[5]): r[6] for r in rows if r[0] == "step"}
    spans: dict[int, list[tuple[float, float, int]]] = {}
    for r in rows:
        if r[0] == "begin":
            end = ended.get((r[2], r[3], r[4], r[5]))
            if end is None:
                assert r[2] in killed_at, f"a step that never ended, in a process not killed: {r}"
                end = killed_at[r[2]]
            spans.setdefault(r[3], []).append((r[5], end, r[2]))
    for trial_id, steps in spans.items():
        steps.sort()
        for (_, end, pid), (begin, _, other) in itertools.pairwise(steps):
            assert begin >= end, f"trial {trial_id}: processes {pid} and {other} overlapped"


def _check_decisions(study: hr.Study) -> hr.History:
    h = study.history(decisions=True)
    indices = [d.index for d in h.decisions]
    assert sorted(indices) == list(range(h.n_decisions)) and len(set(indices)) == len(indices)
    return h


def _observed(h: hr.History) -> dict[tuple[int, float], float]:
    return {(t.trial_id, o.fidelity): o.value for t in h.trials for o in t.curve}


def test_three_workers_complete_a_study_each_step_trained_once(
    shared_url: str, workers_at: Any
) -> None:
    space = hr.Space(x=hr.Float(0.0, 1.0), epochs=hr.Fidelity(1, 6))
    study = hr.Study("peers", space, storage=shared_url, optimizer=OneEpochTopK(n_configs=9, k=3))
    w = workers_at(shared_url, "peers")
    for _ in range(3):  # trial number 0 holds its first step until the 8 others reported
        w.start("--budget-epochs", "20", env={"HR_TEST_HOLD_FIRST": "8"})
    w.wait_all()
    assert [p.returncode for p in w.procs] == [0, 0, 0], [w.log(i) for i in range(3)]

    h = _check_decisions(study)
    assert h.work == 20  # the budget is the whole study's, not each worker's
    assert not h.running and len(h.trials) == 9
    rows = w.rows()
    _check_runs(rows)
    trained = Counter((r[3], float(r[4])) for r in rows if r[0] == "step")
    assert set(trained.values()) == {1}, "a step was trained twice"
    assert set(trained) == set(_observed(h))
    assert len({r[1] for r in rows}) >= 2  # the work was shared
    # stage 1 waited on trial number 0: the waiting workers stayed until the study was done
    assert any("waiting for 1 running trial" in w.log(i) for i in range(3))
    last_report = max(o.time for t in h.trials for o in t.curve)
    assert all(t >= last_report for t in w.exited.values())
    for i in range(3):
        log = w.log(i)
        assert "joined study 'peers'" in log and "leaving (the study is done)" in log
        assert log.count("claimed trial") == log.count(" at fidelity ")


def test_a_worker_killed_mid_step_is_recovered_by_the_others(
    pg_url: str, workers_at: Any, tmp_path: Path
) -> None:
    space = hr.Space(x=hr.Float(0.0, 1.0), epochs=hr.Fidelity(2, 8))
    study = hr.Study("killed", space, storage=pg_url, optimizer=OneEpochTopK(n_configs=6, k=2))
    w = workers_at(pg_url, "killed")
    fast = ("--heartbeat-interval", "0.2", "--stale-after", "1.0")
    victim = w.start(*fast, env={"HR_TEST_HOLD": str(tmp_path / "never")})
    held = w.wait_for(
        "the first worker's step 2",
        lambda: [r for r in w.rows() if r[0] == "begin" and r[1] == victim.pid and r[4] == 2],
    )[0]
    others = [w.start(*fast), w.start(*fast)]
    w.wait_for("the others to claim jobs", lambda: all("claimed" in w.log(i) for i in (1, 2)))
    before = _observed(study.history())
    os.killpg(victim.pid, signal.SIGKILL)  # the worker and its worker process, mid-step
    victim.wait()
    killed_at = time.time()
    w.wait_all()
    assert [p.returncode for p in others] == [0, 0], [w.log(i) for i in (1, 2)]

    h = _check_decisions(study)
    assert not h.running
    after = _observed(h)
    assert before.items() <= after.items(), "a report made before the kill was lost or changed"
    trial = h.trial(held[3])
    assert trial.lost_count == 1 and trial.fidelity >= 2
    resumed = [d for d in h.decisions if d.trial_id == trial.trial_id and d.kind == "resume"]
    assert resumed[0].info == {"resumed": "interrupted"} and resumed[0].start == 1
    assert h.work == 6 * 2 + 2 * 6  # stage 1, then 2 trials to 8: the killed step is not work
    _check_runs(w.rows(), {held[2]: killed_at})
    assert any(f"claimed trial {trial.trial_id}: " in w.log(i) for i in (1, 2))


def _pid_gone(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return True
    return stat.rsplit(")", 1)[1].split()[0] == "Z"  # exited, not yet reaped by its new parent


def test_worker_processes_of_a_killed_driver_pause_their_trial_and_exit(
    tmp_path: Path, workers_at: Any
) -> None:
    url = f"sqlite:///{tmp_path / 'orphan.db'}"
    space = hr.Space(x=hr.Float(0.0, 1.0), epochs=hr.Fidelity(1, 6))
    study = hr.Study(
        "orphan", space, storage=url, seed=0, optimizer="random"
    )  # random: each trial to 6
    w = workers_at(url, "orphan")
    release = tmp_path / "release"
    driver = w.start("--budget-trials", "2", env={"HR_TEST_HOLD": str(release)})
    held = w.wait_for("step 2", lambda: [r for r in w.rows() if r[0] == "begin" and r[4] == 2])[0]
    os.kill(driver.pid, signal.SIGKILL)  # the driver only: its worker process lives on
    driver.wait()
    time.sleep(1.0)  # the worker process notices within a second
    release.touch()
    w.wait_for("the worker process to exit", lambda: _pid_gone(held[2]), timeout=30)
    trial = study.storage.trial(held[3])
    assert (trial.status, trial.reason) == (TrialStatus.PAUSED, StopReason.INTERRUPTED)
    assert trial.message == "its driver process died"
    assert [o.fidelity for o in trial.curve] == [1.0, 2.0]  # the step in flight was finished

    w.start("--budget-trials", "2")  # another worker resumes it first, from its checkpoint
    w.wait_all()
    assert w.procs[1].returncode == 0, w.log(1)
    h = _check_decisions(study)
    assert all(t.status is TrialStatus.COMPLETED for t in h.trials) and len(h.trials) == 2
    first = h.decisions[1]
    assert (first.kind, first.trial_id, first.start) == ("resume", trial.trial_id, 2.0)
    assert h.trial(trial.trial_id).work == 6  # no step trained twice
    _check_runs(w.rows())


@pytest.mark.parametrize(
    ("signum", "code"), [(signal.SIGTERM, 0), (signal.SIGINT, 130)], ids=["SIGTERM", "SIGINT"]
)
def test_sigterm_and_ctrl_c_pause_running_trials_at_their_next_report(
    tmp_path: Path, workers_at: Any, signum: int, code: int
) -> None:
    url = f"sqlite:///{tmp_path / 'stop.db'}"
    space = hr.Space(x=hr.Float(0.0, 1.0), epochs=hr.Fidelity(1, 6))
    study = hr.Study("stop", space, storage=url, seed=0, optimizer="random")
    w = workers_at(url, "stop")
    release = tmp_path / "release"
    proc = w.start("--processes", "2", env={"HR_TEST_HOLD": str(release)})
    w.wait_for(
        "two runs at step 2",
        lambda: len({r[3] for r in w.rows() if r[0] == "begin" and r[4] == 2}) == 2,
    )
    os.killpg(proc.pid, signum)  # as a terminal or a service manager: the whole group
    time.sleep(0.5)
    assert proc.poll() is None  # it waits for the running trials' next report
    release.touch()
    assert proc.wait(timeout=60) == code, w.log(0)
    h = study.history()
    assert len(h.trials) == 2 and not h.running
    for trial in h.trials:
        assert (trial.status, trial.reason) == (TrialStatus.PAUSED, StopReason.INTERRUPTED)
        assert [o.fidelity for o in trial.curve] == [1.0, 2.0]
    assert signal.Signals(signum).name in w.log(0)


def test_bad_objective_specs_say_what_is_wrong(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    url = f"sqlite:///{tmp_path / 'bad.db'}"
    hr.Study("bad", hr.Space(x=hr.Float(0.0, 1.0)), storage=url, optimizer="random")
    (tmp_path / "hr_test_wobj.py").write_text(OBJECTIVE)
    (tmp_path / "hr_test_broken.py").write_text("import hr_test_not_installed_anywhere\n")
    (tmp_path / "hr_test_syntax.py").write_text("def objective(trial) return 1\n")
    monkeypatch.setattr(sys, "path", list(sys.path))
    for name in ("hr_test_wobj", "hr_test_broken", "hr_test_syntax"):
        monkeypatch.delitem(sys.modules, name, raising=False)
    base = ["worker", "--storage", url, "--study", "bad", "--path", str(tmp_path)]
    cases = {
        "nocolon": "is not MODULE:FUNCTION",
        "hr_test_wobj:": "is not MODULE:FUNCTION",
        "hr_test_wobj:not-a-name": "is not MODULE:FUNCTION",
        "hr_test_absent:objective": "there is no module 'hr_test_absent' in",
        "hr_test_broken:objective": "importing module 'hr_test_broken' failed: No module named",
        "hr_test_syntax:objective": "SyntaxError",
        "hr_test_wobj:objectiv": "has no 'objectiv'; the functions it defines: objective",
        "hr_test_wobj:not_callable": "is not a function (it is int 42)",
    }
    try:
        for spec, expected in cases.items():
            assert main([*base, "--objective", spec]) == 2, spec
            err = capsys.readouterr().err
            assert err.startswith(f"error: --objective {spec!r}"), err
            assert expected in err, err
        assert main([*base, "--objective", "x:y", "--path", str(tmp_path / "no")]) == 2
        assert "is not a folder" in capsys.readouterr().err
    finally:
        for name in ("hr_test_wobj", "hr_test_broken", "hr_test_syntax"):
            sys.modules.pop(name, None)


def test_a_missing_study_or_database_is_named(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sys, "path", list(sys.path))
    url = f"sqlite:///{tmp_path / 'there.db'}"
    for name in ("alpha", "beta"):
        hr.Study(name, hr.Space(x=hr.Float(0.0, 1.0)), storage=url, optimizer="random")
    spec = ["--objective", "hyperrace.testing.objectives:learning_curve"]
    assert main(["worker", "--storage", url, "--study", "nope", *spec]) == 2
    err = capsys.readouterr().err
    assert "study 'nope' does not exist" in err and "'alpha', 'beta'" in err
    absent = tmp_path / "absent.db"
    assert main(["worker", "--storage", f"sqlite:///{absent}", "--study", "nope", *spec]) == 2
    assert "there is no database at" in capsys.readouterr().err and not absent.exists()
    grace = ["--hard-stop-grace", "3"]
    assert main(["worker", "--storage", url, "--study", "alpha", *spec, *grace]) == 2
    assert "--hard-stop-grace needs --trial-seconds" in capsys.readouterr().err
    both_slices = ["--trial-cpu-seconds", "3", "--trial-clock", "wall"]
    assert main(["worker", "--storage", url, "--study", "alpha", *spec, *both_slices]) == 2
    assert "give one or the other" in capsys.readouterr().err
    assert main(["worker", "--storage", url, "--study", "alpha", *spec, "--max-retries", "-1"]) == 2
    assert "max_retries=-1 must be an integer >= 0" in capsys.readouterr().err
    stale = ["--heartbeat-interval", "2", "--stale-after", "1"]
    assert main(["worker", "--storage", url, "--study", "alpha", *spec, *stale]) == 2
    assert "stale_after=1.0 must be more than heartbeat_interval=2.0" in capsys.readouterr().err
    both = ["--until-done", "--idle-exit", "5"]
    assert main(["worker", "--storage", url, "--study", "alpha", *spec, *both]) == 2
    assert "not allowed with argument" in capsys.readouterr().err


def test_idle_exit_leaves_while_others_run(tmp_path: Path, workers_at: Any) -> None:
    url = f"sqlite:///{tmp_path / 'idle.db'}"
    space = hr.Space(x=hr.Float(0.0, 1.0), epochs=hr.Fidelity(1, 6))
    study = hr.Study("idle", space, storage=url, seed=0, optimizer="random")
    w = workers_at(url, "idle")
    release = tmp_path / "release"
    busy = w.start("--budget-trials", "1", env={"HR_TEST_HOLD": str(release)})
    w.wait_for("step 2", lambda: [r for r in w.rows() if r[0] == "begin" and r[4] == 2])
    idle = w.start("--budget-trials", "1", "--idle-exit", "1")
    assert idle.wait(timeout=60) == 0, w.log(1)
    assert "leaving (no job for 1 seconds) after 0 jobs" in w.log(1)
    assert busy.poll() is None  # the study is not done: its trial still runs
    release.touch()
    assert busy.wait(timeout=60) == 0, w.log(0)
    (trial,) = study.trials
    assert trial.status is TrialStatus.COMPLETED
