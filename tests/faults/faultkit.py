"""Fault injection: kill the workers and drivers of real studies, restart PostgreSQL, and count
what the study lost, duplicated or left in an illegal state.

Shared by ``tests/faults`` (short runs in the test suite) and ``benchmarks/faults.py`` (many
rounds); not part of the ``hyperrace`` package. It is imported as ``faultkit`` with this folder
on the Python path: pytest puts it there for the tests of this folder, and the benchmark
scripts put it there themselves. The processes of a fault study find it the same way: a driver
is the script ``driver.py`` of this folder (Python puts a script's folder on its path, and Ray
adds that folder to the path of its workers), and a ``hyperrace worker`` driver is given this
folder with ``--path``; the worker processes of either inherit the path. Every scenario runs
real processes against a real SQLite file or PostgreSQL database:

* a **driver** is a separate process that runs the study: ``Study.optimize`` (see :func:`drive`)
  with worker processes or Ray tasks, or a peer ``hyperrace worker`` (several may run at once).
  Each one runs in a process group of its own, so that the processes it leaves behind when it
  is killed (orphans) can be watched and, if they linger, cleaned up;
* the objective, :class:`LoggedObjective`, trains by sleeping, checkpoints every step, checks
  that each run resumes from its own checkpoint, and logs every step to a file of its process:
  a ``begin`` record before the step and an ``end`` record once ``report()`` returned, with the
  value and whether the storage holds it (an acknowledged report). It can also hang, blocked
  for ever in the middle of a step (in ``time.sleep``, on a lock or reading a pipe), to be
  stopped by ``stall_after``;
* the answer of a commit can be lost (:func:`~hyperrace.testing.storage.lose_commit_answers`,
  of the storage conformance suite): the driver's decision is committed, then the storage sees
  the error of a dropped connection and retries;
* after the faults the study is resumed to the end by new drivers and :func:`audit` counts

  - **lost**: acknowledged reports that the storage does not hold at the end (or holds with
    another value);
  - **duplicated**: steps of one trial trained by two runs at once (overlapping steps from two
    processes in the logs), and decision indices used twice or skipped;
  - **idle runs** (not a fault by itself: a driver killed right after a decision leaves one):
    decisions whose run never began a step;
  - **illegal**: trials not in a legal final state: running, paused by an interruption, failed
    for any reason but too many lost runs (the objective never fails on its own), a curve that
    is not 1, 2, ..., n, ``work`` that differs from the steps stored (a step counted twice), a
    completed trial short of the maximum fidelity, or total work that differs from the budget.

Processes are found through ``/proc``, so this module works on Linux only.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import math
import os
import random
import shutil
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import hyperrace as hr
from hyperrace._clock import SystemClock
from hyperrace.exceptions import ConfigurationError
from hyperrace.executors import ProcessExecutor
from hyperrace.storage import Storage, open_storage
from hyperrace.testing.objectives import curve_value
from hyperrace.testing.storage import lose_commit_answers
from hyperrace.trial import StopReason, Trial, TrialStatus

__all__ = [
    "DIE_ENV",
    "HANGS",
    "HANG_ENV",
    "HANG_IN_ENV",
    "HERE",
    "LOG_DIR_ENV",
    "LOSE_ENV",
    "SPACE",
    "STEP_SECONDS_ENV",
    "STORAGE_ENV",
    "Audit",
    "Driver",
    "LoggedObjective",
    "Orphans",
    "RestartUnavailable",
    "Setup",
    "Step",
    "Tally",
    "audit",
    "die_after_last_report_scenario",
    "drive",
    "hung_objective_scenario",
    "kill_driver_scenario",
    "kill_worker_scenario",
    "logged_objective",
    "lost_answer_scenario",
    "postgres_database",
    "randomized_scenario",
    "read_steps",
    "restart_postgres",
    "restart_postgres_scenario",
]

#: The space of every fault study: one hyperparameter, six steps per trial.
SPACE = hr.Space(x=hr.Float(0.0, 1.0), epochs=hr.Fidelity(1, 6))
#: How a hung objective hangs (:class:`LoggedObjective`).
HANGS = ("lock", "sleep", "io")
_CLOCK = SystemClock()
_POLL = 0.05


# -- processes, through /proc ------------------------------------------------------------------


def _stat(pid: int) -> tuple[str, int, int, int] | None:
    """(state, parent pid, process group, start time in clock ticks) of a process, or ``None``
    when there is no such process."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except (OSError, ValueError):
        return None
    fields = text[text.rindex(")") + 2 :].split()
    return fields[0], int(fields[1]), int(fields[2]), int(fields[19])


def _alive(pid: int, started: int | None = None) -> bool:
    """Whether ``pid`` runs (zombies are dead), and is the process that started at ``started``."""
    stat = _stat(pid)
    if stat is None or stat[0] in ("Z", "X"):
        return False
    return started is None or stat[3] == started


def _group(pgid: int) -> list[int]:
    """Live processes of the process group ``pgid``."""
    out = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            stat = _stat(int(entry.name))
            if stat is not None and stat[2] == pgid and stat[0] not in ("Z", "X"):
                out.append(int(entry.name))
    return sorted(out)


def _start_time() -> int:
    stat = _stat(os.getpid())
    assert stat is not None
    return stat[3]


# -- the objective -----------------------------------------------------------------------------

_STORAGES: dict[str, Storage] = {}


@dataclass(frozen=True)
class LoggedObjective:
    """An objective that trains by sleeping ``step_seconds`` per step and logs every step.

    Each process appends JSON records to ``log_dir/<pid>.jsonl``: ``{"event": "begin", ...}``
    before a step, ``{"event": "end", ...}`` once ``trial.report`` returned, with the value, the
    wall-clock interval of the step and ``stored``: True when the storage acknowledged the report
    (``report()`` returned; for a run told to stop at that report, which is also how a refused
    report ends a run, the storage held the value when read right after), False when it refused
    it (the trial was taken away from this run, e.g. recovered as stale). A run that does not
    start from its own checkpoint raises, which fails the trial: the audit counts that as
    illegal.

    Args:
        log_dir: the folder of the step logs.
        step_seconds: the time.sleep of a step.
        storage: the study's storage URL, to check the reports that end a run.
        die_after_last_report: the number of a trial whose first run that reaches its granted
            fidelity kills its own process (SIGKILL) right after its last report, before the
            run is ended in the storage (``None``: none does).
        hang: the number of a trial whose first run hangs in the middle of its second step
            (its process lives on and keeps sending heartbeats), once (``None``: none does).
            It touches ``log_dir/hung-<trial_id>`` with the fidelity of that step first.
        hang_in: how it hangs: ``"lock"`` (blocked acquiring a lock it holds), ``"sleep"``
            (in a ``time.sleep`` of an hour) or ``"io"`` (reading a pipe nothing writes to).
    """

    log_dir: str
    step_seconds: float
    storage: str
    die_after_last_report: int | None = None
    hang: int | None = None
    hang_in: str = "lock"

    def __post_init__(self) -> None:
        if self.hang_in not in HANGS:
            raise ConfigurationError(f"hang_in={self.hang_in!r} must be one of {HANGS}")

    def _storage(self) -> Storage:
        storage = _STORAGES.get(self.storage)
        if storage is None:
            storage = _STORAGES[self.storage] = open_storage(self.storage)
        return storage

    def _stored(self, trial_id: int, fidelity: float, value: float) -> bool:
        try:
            return self._storage().trial(trial_id).value_at(fidelity) == value
        except Exception:  # cannot tell: count it as acknowledged (the stricter audit)
            return True

    def __call__(self, trial: Trial) -> None:
        self._storage()  # opened now, so that checking the last report reads and nothing more
        state = trial.checkpoint.load()
        trained = 0 if state is None else int(state["trained"])
        if trained != int(trial.start):
            raise RuntimeError(
                f"trial {trial.trial_id} resumed at {trial.start} from a checkpoint of {trained}"
            )
        pid, started = os.getpid(), _start_time()
        path = Path(self.log_dir) / f"{pid}.jsonl"
        with path.open("a", encoding="utf-8") as log:

            def write(record: dict[str, Any]) -> None:
                log.write(json.dumps(record) + "\n")
                log.flush()

            for step in trial.epochs():
                begin = _CLOCK.timestamp()
                write(
                    {
                        "event": "begin",
                        "pid": pid,
                        "started": started,
                        "trial_id": trial.trial_id,
                        "fidelity": float(step),
                        "begin": begin,
                    }
                )
                if trial.number == self.hang and step == int(trial.start) + 2:
                    marker = Path(self.log_dir) / f"hung-{trial.trial_id}"
                    if not marker.exists():
                        marker.write_text(str(step))
                        _hang(self.hang_in)
                time.sleep(self.step_seconds)
                trained += 1
                value = curve_value(trial.config, step) + trial.trial_id * 1e-6
                go_on = trial.report(value, checkpoint={"trained": trained})
                end = _CLOCK.timestamp()
                # report() returned: the storage acknowledged it, unless the run was told to
                # stop there, which is also how a refused report ends a run (the trial was
                # taken away from it): then read whether the value is stored
                stored = (
                    go_on
                    or trial.stop_reason is not StopReason.INTERRUPTED
                    or self._stored(trial.trial_id, float(step), value)
                )
                write(
                    {
                        "event": "end",
                        "pid": pid,
                        "trial_id": trial.trial_id,
                        "fidelity": float(step),
                        "value": value,
                        "begin": begin,
                        "end": end,
                        "stored": stored,
                    }
                )
        if trial.number == self.die_after_last_report and trial.fidelity >= trial.stop:
            marker = Path(self.log_dir) / f"died-{trial.trial_id}"
            if not marker.exists():
                marker.touch()
                os.kill(pid, signal.SIGKILL)


def _hang(how: str) -> None:
    """Block for ever (an hour for ``"sleep"``), as a hung objective does."""
    if how == "sleep":
        time.sleep(3600.0)
        return
    if how == "io":
        read, _write = os.pipe()  # the write end stays open: the read waits for ever
        os.read(read, 1)
        return
    lock = threading.Lock()
    lock.acquire()
    lock.acquire()  # held by this very thread: never granted


#: Environment variables that configure :func:`logged_objective` (set by :class:`Driver`), and
#: the number of decision answers a :func:`drive` process loses (:func:`lose_commit_answers`).
LOG_DIR_ENV, STEP_SECONDS_ENV, STORAGE_ENV, DIE_ENV, HANG_ENV, HANG_IN_ENV, LOSE_ENV = (
    "HYPERRACE_FAULTS_LOG_DIR",
    "HYPERRACE_FAULTS_STEP_SECONDS",
    "HYPERRACE_FAULTS_STORAGE",
    "HYPERRACE_FAULTS_DIE_AFTER_LAST_REPORT",
    "HYPERRACE_FAULTS_HANG",
    "HYPERRACE_FAULTS_HANG_IN",
    "HYPERRACE_FAULTS_LOSE_ANSWERS",
)


def _env_int(name: str) -> int | None:
    text = os.environ.get(name)
    return int(text) if text else None


def logged_objective(trial: Trial) -> None:
    """:class:`LoggedObjective` configured by environment variables (``HYPERRACE_FAULTS_LOG_DIR``,
    ``HYPERRACE_FAULTS_STEP_SECONDS``, ``HYPERRACE_FAULTS_STORAGE`` and, optionally,
    ``HYPERRACE_FAULTS_DIE_AFTER_LAST_REPORT``, ``HYPERRACE_FAULTS_HANG`` and
    ``HYPERRACE_FAULTS_HANG_IN``): the objective that
    ``hyperrace worker --objective faultkit:logged_objective --path FOLDER`` imports (FOLDER:
    this module's folder)."""
    _objective_from_env()(trial)


def _objective_from_env() -> LoggedObjective:
    return LoggedObjective(
        os.environ[LOG_DIR_ENV],
        float(os.environ[STEP_SECONDS_ENV]),
        os.environ[STORAGE_ENV],
        _env_int(DIE_ENV),
        _env_int(HANG_ENV),
        os.environ.get(HANG_IN_ENV) or "lock",
    )


@dataclass(frozen=True)
class Step:
    """One step of the logs: ``end`` is ``None`` for a step whose process died in it."""

    pid: int
    trial_id: int
    fidelity: float
    begin: float
    end: float | None = None
    value: float | None = None
    stored: bool = False
    started: int = 0


def read_steps(log_dir: str | Path) -> list[Step]:
    """Every step of the logs in ``log_dir``, in the order each process made them."""
    steps: list[Step] = []
    for path in sorted(Path(log_dir).glob("*.jsonl")):
        open_steps: dict[tuple[int, float], int] = {}  # begun, not ended: where in ``steps``
        lines = path.read_text(encoding="utf-8").split("\n")
        for line in lines[:-1]:  # the text after the last newline is a record being written
            r = json.loads(line)
            key = (r["trial_id"], r["fidelity"])
            if r["event"] == "begin":
                open_steps[key] = len(steps)
                steps.append(
                    Step(r["pid"], r["trial_id"], r["fidelity"], r["begin"], started=r["started"])
                )
                continue
            at = open_steps.pop(key, None)
            done = Step(
                r["pid"],
                r["trial_id"],
                r["fidelity"],
                r["begin"],
                r["end"],
                r["value"],
                r["stored"],
                steps[at].started if at is not None else 0,
            )
            if at is not None:
                steps[at] = done
            else:
                steps.append(done)
    return steps


# -- drivers -----------------------------------------------------------------------------------


#: This module's folder: driver processes run its ``driver.py`` and import this module from it.
HERE = Path(__file__).resolve().parent


@dataclass(frozen=True)
class Setup:
    """One fault study: where it lives and how its drivers run it.

    Attributes:
        url: the storage URL (a SQLite file or a PostgreSQL database).
        study: the study's name.
        folder: step logs, checkpoints and driver outputs go here.
        epochs: the study's budget (steps over all trials; 6 per trial).
        workers: worker processes per driver.
        step_seconds: the sleep of one step.
        heartbeat_interval: seconds between heartbeats of a running trial.
        stale_after: seconds without heartbeat after which a running trial counts as lost; the
            shorter, the sooner a new driver resumes the trials that a killed one left running.
        max_retries: lost runs of one trial before it fails.
        executor: ``"processes"`` (:class:`~hyperrace.executors.ProcessExecutor`) or ``"ray"``
            (:class:`~hyperrace.executors.RayExecutor`).
        ray_address: the Ray instance the drivers connect to (``RAY_ADDRESS``); ``None``: each
            driver of ``executor="ray"`` starts a local one of its own, which takes seconds.
        seed: the study's seed.
        driver: what a driver process is: ``"optimize"`` (:func:`drive`: ``Study.optimize``)
            or ``"worker"`` (the ``hyperrace worker`` command, with worker processes).
        drivers: driver processes at once, all peers on the study.
        die_after_last_report: see :class:`LoggedObjective`.
        hang, hang_in: see :class:`LoggedObjective`.
        stall_after: the drivers' ``stall_after`` (``None``: none).
        lose_answers: each ``driver="optimize"`` process loses the answers of this many
            commits of its decisions (every second one; see :func:`lose_commit_answers`).
    """

    url: str
    study: str
    folder: Path
    epochs: int = 60
    workers: int = 2
    step_seconds: float = 0.05
    heartbeat_interval: float = 0.25
    stale_after: float = 3.0
    max_retries: int | None = 3
    executor: str = "processes"
    seed: int = 0
    driver: str = "optimize"
    drivers: int = 1
    ray_address: str | None = None
    die_after_last_report: int | None = None
    hang: int | None = None
    hang_in: str = "lock"
    stall_after: float | None = None
    lose_answers: int = 0

    def __post_init__(self) -> None:
        if self.hang_in not in HANGS:
            raise ConfigurationError(f"hang_in={self.hang_in!r} must be one of {HANGS}")
        if self.lose_answers < 0 or (self.lose_answers and self.driver != "optimize"):
            raise ConfigurationError(
                f"lose_answers={self.lose_answers} must be at least 0, and 0 unless "
                "driver='optimize' (the process that loses them)"
            )
        if self.driver not in ("optimize", "worker"):
            raise ConfigurationError(f"driver={self.driver!r} must be 'optimize' or 'worker'")
        if self.executor not in ("processes", "ray"):
            raise ConfigurationError(f"executor={self.executor!r} must be 'processes' or 'ray'")
        if self.driver == "worker" and self.executor != "processes":
            raise ConfigurationError(
                "driver='worker' runs its jobs in worker processes; use executor='processes'"
            )
        if self.drivers < 1 or self.workers < 1:
            raise ConfigurationError(
                f"drivers={self.drivers} and workers={self.workers} must be at least 1"
            )

    @property
    def log_dir(self) -> Path:
        return self.folder / "steps"

    def create(self) -> hr.Study:
        """Create the study (and the folders); return it."""
        self.log_dir.mkdir(parents=True, exist_ok=True)
        return hr.Study(
            self.study,
            SPACE,
            storage=self.url,
            seed=self.seed,
            artifacts=self.folder / "artifacts",
            optimizer="random",
        )

    def command(self) -> list[str]:
        """The command line of one driver process of this setup."""
        common = ["--storage", self.url, "--study", self.study]
        common += ["--heartbeat-interval", str(self.heartbeat_interval)]
        common += ["--stale-after", str(self.stale_after)]
        if self.max_retries is not None:
            common += ["--max-retries", str(self.max_retries)]
        if self.stall_after is not None:
            common += ["--stall-after", str(self.stall_after)]
        if self.driver == "worker":
            return [
                sys.executable,
                "-c",
                "import sys; from hyperrace.cli import main; sys.exit(main())",
                "worker",
                *common,
                "--objective",
                "faultkit:logged_objective",
                "--path",
                str(HERE),
                "--processes",
                str(self.workers),
                "--budget-epochs",
                str(self.epochs),
            ]
        return [
            sys.executable,
            str(HERE / "driver.py"),
            *common,
            "--log-dir",
            str(self.log_dir),
            "--epochs",
            str(self.epochs),
            "--workers",
            str(self.workers),
            "--step-seconds",
            str(self.step_seconds),
            "--executor",
            self.executor,
        ]

    def environment(self) -> dict[str, str]:
        """The environment of a driver process (:func:`logged_objective` reads it)."""
        env = {
            **os.environ,
            LOG_DIR_ENV: str(self.log_dir),
            STEP_SECONDS_ENV: str(self.step_seconds),
            STORAGE_ENV: self.url,
        }
        if self.ray_address is not None:
            env["RAY_ADDRESS"] = self.ray_address
        if self.die_after_last_report is not None:
            env[DIE_ENV] = str(self.die_after_last_report)
        if self.hang is not None:
            env[HANG_ENV] = str(self.hang)
            env[HANG_IN_ENV] = self.hang_in
        if self.lose_answers:
            env[LOSE_ENV] = str(self.lose_answers)
        return env


def drive(argv: list[str] | None = None) -> int:
    """A driver process: run the study of a :class:`Setup` (given as arguments) to its end."""
    parser = argparse.ArgumentParser(prog="driver.py")
    parser.add_argument("--storage", required=True)
    parser.add_argument("--study", required=True)
    parser.add_argument("--log-dir", required=True)
    parser.add_argument("--epochs", type=int, required=True)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--step-seconds", type=float, default=0.05)
    parser.add_argument("--heartbeat-interval", type=float, default=0.25)
    parser.add_argument("--stale-after", type=float, default=3.0)
    parser.add_argument("--max-retries", type=int, default=None)
    parser.add_argument("--stall-after", type=float, default=None)
    parser.add_argument("--executor", choices=("processes", "ray"), default="processes")
    args = parser.parse_args(argv)
    study = hr.Study(args.study, storage=args.storage)
    objective = LoggedObjective(
        args.log_dir,
        args.step_seconds,
        args.storage,
        _env_int(DIE_ENV),
        _env_int(HANG_ENV),
        os.environ.get(HANG_IN_ENV) or "lock",
    )
    lose = _env_int(LOSE_ENV) or 0
    with (
        lose_commit_answers("hr_decisions", every=2, times=lose, marker_dir=args.log_dir)
        if lose
        else contextlib.nullcontext()
    ):
        study.optimize(
            objective,
            hr.Budget(epochs=args.epochs),
            workers=args.workers,
            executor=ProcessExecutor(args.workers) if args.executor == "processes" else "ray",
            progress=False,
            heartbeat_interval=args.heartbeat_interval,
            stale_after=args.stale_after,
            max_retries=args.max_retries,
            stall_after=args.stall_after,
        )
    return 0


@dataclass
class Orphans:
    """What the processes of a killed driver did: how many there were, how many exited by
    themselves (and how long the last one took), how many had to be killed."""

    found: int = 0
    exited: int = 0
    survivors: int = 0
    seconds: float = 0.0


class Driver:
    """A driver process of a :class:`Setup`, in a process group of its own.

    Args:
        setup: the study it runs.
        number: numbers its output files (``folder/drivers/<number>.out`` and ``.err``).
    """

    def __init__(self, setup: Setup, number: int) -> None:
        self.setup = setup
        folder = setup.folder / "drivers"
        folder.mkdir(parents=True, exist_ok=True)
        self.err_path = folder / f"{number}.err"
        with (folder / f"{number}.out").open("w") as out, self.err_path.open("w") as err:
            self.process = subprocess.Popen(
                setup.command(),
                env=setup.environment(),
                stdout=out,
                stderr=err,
                start_new_session=True,
            )
        self.pid = self.process.pid

    def running(self) -> bool:
        return self.process.poll() is None

    def stderr_tail(self, chars: int = 2000) -> str:
        return self.err_path.read_text(errors="replace")[-chars:]

    def kill(self, *, orphan_timeout: float = 30.0) -> Orphans:
        """SIGKILL the driver alone, then watch the processes it leaves in its process group
        (its worker processes): they should stop their job and exit by themselves; those still
        alive after ``orphan_timeout`` seconds are killed and counted as survivors."""
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.pid, signal.SIGKILL)
        self.process.wait()
        t0 = time.monotonic()
        left = _group(self.pid)
        report = Orphans(found=len(left))
        while left and time.monotonic() - t0 < orphan_timeout:
            time.sleep(_POLL)
            left = _group(self.pid)
        report.seconds = time.monotonic() - t0
        report.survivors = len(left)
        report.exited = report.found - report.survivors
        self.stop()
        return report

    def stop(self) -> None:
        """Kill whatever is left of the driver and its group (cleanup)."""
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout=10)

    def wait(self, timeout: float) -> int | None:
        """The driver's exit code once it ended, or ``None`` after ``timeout`` seconds."""
        try:
            return self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return None


def _acknowledged(setup: Setup) -> int:
    return sum(1 for s in read_steps(setup.log_dir) if s.end is not None and s.stored)


def _worker_candidates(
    setup: Setup, drivers: list[Driver], *, mid_step: bool
) -> list[tuple[int, int]]:
    """(pid, start time) of live processes that run the study's objective: those in the middle
    of a step (``mid_step``), or all of them (those of the step logs, and the multiprocessing
    children of the drivers that have not run a step yet). Drivers themselves are left out.

    A process in the middle of a step is in the first 60 % of the step's sleep: a kill then
    lands before the step's report, so the run is lost for sure. Later in the step it may land
    after the report is stored, and if that report was the run's last, the run ends as it
    would have and no run is lost (the storage's rule), which the scenarios do not expect."""
    last: dict[int, Step] = {}
    for step in read_steps(setup.log_dir):
        last[step.pid] = step
    own = {d.pid for d in drivers}
    now = _CLOCK.timestamp()

    def in_step(s: Step) -> bool:
        return s.end is None and now - s.begin < 0.6 * setup.step_seconds

    found = {
        (s.pid, s.started)
        for s in last.values()
        if (in_step(s) or not mid_step) and s.pid not in own and _alive(s.pid, s.started)
    }
    if not mid_step:
        for driver in drivers:
            for pid in _group(driver.pid):
                stat = _stat(pid)
                try:
                    cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
                except OSError:
                    continue
                if pid not in own and b"spawn_main" in cmdline and stat is not None:
                    found.add((pid, stat[3]))
    return sorted(found)


class _Round:
    """One study of a scenario: its driver processes (numbered in the order they started) and
    the tally it adds to."""

    def __init__(self, setup: Setup, tally: Tally) -> None:
        self.setup = setup
        self.tally = tally
        self.started = 0
        setup.create().storage.close()
        self.drivers = [self._start() for _ in range(setup.drivers)]

    def _start(self) -> Driver:
        self.started += 1
        return Driver(self.setup, self.started)

    def running(self) -> list[Driver]:
        return [d for d in self.drivers if d.running()]

    def wait(self, seconds: float) -> bool:
        """Wait up to ``seconds``; True once every driver ended."""
        deadline = time.monotonic() + seconds
        while self.running():
            if time.monotonic() >= deadline:
                return False
            time.sleep(_POLL)
        return True

    def wait_for_steps(self, n: int, timeout: float = 120.0) -> bool:
        """Wait until ``n`` reports were acknowledged; False if every driver ended first."""
        deadline = time.monotonic() + timeout
        while _acknowledged(self.setup) < n:
            if not self.running():
                return False
            if time.monotonic() > deadline:
                raise TimeoutError(f"study {self.setup.study!r} made no progress in {timeout:g} s")
            time.sleep(_POLL)
        return True

    def kill_driver(self, rng: random.Random) -> bool:
        """SIGKILL a running driver (its orphans are watched), then start another one."""
        running = self.running()
        if not running:
            return False
        driver = rng.choice(running)
        self.tally.add_orphans(driver.kill())
        self.tally.kills += 1
        self.drivers[self.drivers.index(driver)] = self._start()
        return True

    def kill_worker(self, rng: random.Random, *, mid_step: bool = True) -> bool:
        """SIGKILL a worker process, in the middle of a step (``mid_step``, waiting up to 30 s
        for one) or whatever it is doing; False if none was found."""
        deadline = time.monotonic() + (30.0 if mid_step else 0.0)
        while True:
            found = _worker_candidates(self.setup, self.drivers, mid_step=mid_step)
            if found or time.monotonic() >= deadline or not self.running():
                break
            time.sleep(_POLL)
        if not found:
            return False
        pid, started = rng.choice(found)
        if not _alive(pid, started):
            return False
        os.kill(pid, signal.SIGKILL)
        self.tally.kills += 1
        return True

    def finish(self, timeout: float = 300.0) -> None:
        """Run the study to its end (a driver that crashed is replaced, three times at most),
        then audit it."""
        try:
            replaced = 0
            for i in range(len(self.drivers)):
                while True:
                    driver = self.drivers[i]
                    code = driver.wait(timeout)
                    if code == 0:
                        break
                    if code is None:
                        self.tally.problems.append(f"a driver did not end in {timeout:g} s")
                        driver.stop()
                    else:
                        self.tally.driver_crashes += 1
                        self.tally.problems.append(
                            f"a driver exited with code {code}:\n{driver.stderr_tail()}"
                        )
                    replaced += 1
                    if replaced > 3:
                        self.tally.problems.append("the study could not be resumed to its end")
                        break
                    self.drivers[i] = self._start()
        finally:
            for driver in self.drivers:
                driver.stop()
        self.tally.add(audit(self.setup))


# -- the audit ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Audit:
    """What a finished fault study shows. See the module docstring for the counts."""

    acknowledged: int
    lost: int
    duplicated: int
    illegal: int
    refused: int
    lost_runs: int
    problems: tuple[str, ...]
    idle_runs: int = 0


def audit(setup: Setup) -> Audit:
    """Check the study of ``setup`` against its step logs (after it was resumed to the end)."""
    study = hr.Study(setup.study, storage=setup.url)
    try:
        h = study.history(decisions=True)
    finally:
        study.storage.close()
    problems: list[str] = []
    stored = {(t.trial_id, o.fidelity): o.value for t in h.trials for o in t.curve}
    steps = read_steps(setup.log_dir)
    ended = [s for s in steps if s.end is not None]
    acked = [s for s in ended if s.stored]
    lost = 0
    for s in acked:
        if stored.get((s.trial_id, s.fidelity)) != s.value:
            lost += 1
            problems.append(
                f"lost: trial {s.trial_id} step {s.fidelity:g} = {s.value} (pid {s.pid}) was "
                f"acknowledged; the storage holds {stored.get((s.trial_id, s.fidelity))}"
            )

    duplicated = 0
    by_trial: dict[int, list[Step]] = {}
    for s in ended:
        by_trial.setdefault(s.trial_id, []).append(s)
    for trial_id, trial_steps in by_trial.items():
        trial_steps.sort(key=lambda s: s.begin)
        for i, a in enumerate(trial_steps):
            for b in trial_steps[i + 1 :]:
                assert a.end is not None and b.end is not None
                if b.begin >= a.end:
                    break
                if a.pid != b.pid:
                    duplicated += 1
                    problems.append(
                        f"duplicated: trial {trial_id} trained step {a.fidelity:g} in pid "
                        f"{a.pid} and step {b.fidelity:g} in pid {b.pid} at the same time"
                    )
    indices = [d.index for d in h.decisions]
    if indices != list(range(h.n_decisions)):
        duplicated += max(len(indices) - len(set(indices)), 1)
        problems.append(f"duplicated: decision indices {indices} are not 0..{h.n_decisions - 1}")

    idle_runs = 0  # a run's first step begins after its decision, before the trial's next one
    for i, d in enumerate(h.decisions):
        until = next((e.time for e in h.decisions[i + 1 :] if e.trial_id == d.trial_id), math.inf)
        if not any(
            s.trial_id == d.trial_id and s.fidelity == d.start + 1 and d.time <= s.begin < until
            for s in steps
        ):
            idle_runs += 1

    illegal = 0
    high = float(SPACE.fidelity.high) if SPACE.fidelity is not None else 1.0
    for t in h.trials:
        why = []
        if t.status is TrialStatus.RUNNING:
            why.append("still running")
        elif t.status is TrialStatus.PAUSED and (t.reason.is_interruption or t.fidelity < t.target):
            why.append(f"paused ({t.reason.value}) at {t.fidelity:g} of {t.target:g}")
        elif t.status is TrialStatus.FAILED:
            lost_too_often = t.reason is StopReason.LOST and (
                setup.max_retries is not None and t.lost_count > setup.max_retries
            )
            if not lost_too_often or not t.message:
                why.append(f"failed ({t.reason.value}): {t.message.strip()[-300:]}")
        elif t.status is TrialStatus.COMPLETED and t.fidelity != high:
            why.append(f"completed at fidelity {t.fidelity:g}, not {high:g}")
        fidelities = [o.fidelity for o in t.curve]
        if fidelities != [float(f) for f in range(1, len(fidelities) + 1)]:
            why.append(f"curve at fidelities {fidelities}")
        if t.work != len(t.curve):
            why.append(f"work {t.work:g} for {len(t.curve)} steps stored")
        if why:
            illegal += 1
            problems.append(f"illegal: trial {t.trial_id}: " + "; ".join(why))
    if h.work != setup.epochs:
        illegal += 1
        problems.append(
            f"illegal: the study trained {h.work:g} steps, its budget is {setup.epochs}"
        )
    return Audit(
        acknowledged=len(acked),
        lost=lost,
        duplicated=duplicated,
        illegal=illegal,
        refused=len(ended) - len(acked),
        lost_runs=sum(t.lost_count for t in h.trials),
        problems=tuple(problems),
        idle_runs=idle_runs,
    )


# -- scenarios ---------------------------------------------------------------------------------


@dataclass
class Tally:
    """The counts of one scenario over its rounds (a round: one study, faulted, resumed to the
    end and audited)."""

    scenario: str
    rounds: int = 0
    kills: int = 0
    acknowledged: int = 0
    lost: int = 0
    duplicated: int = 0
    illegal: int = 0
    refused: int = 0
    lost_runs: int = 0
    idle_runs: int = 0
    driver_crashes: int = 0
    orphans: Orphans = field(default_factory=Orphans)
    seconds: float = 0.0
    problems: list[str] = field(default_factory=list)

    def add(self, result: Audit) -> None:
        self.rounds += 1
        self.acknowledged += result.acknowledged
        self.lost += result.lost
        self.duplicated += result.duplicated
        self.illegal += result.illegal
        self.refused += result.refused
        self.lost_runs += result.lost_runs
        self.idle_runs += result.idle_runs
        self.problems.extend(result.problems)

    def add_orphans(self, orphans: Orphans) -> None:
        self.orphans.found += orphans.found
        self.orphans.exited += orphans.exited
        self.orphans.survivors += orphans.survivors
        self.orphans.seconds = max(self.orphans.seconds, orphans.seconds)


def _kill_scenario(
    setup: Setup,
    tally: Tally,
    kills: int,
    rng: random.Random,
    kill: Callable[[_Round, random.Random], object],
) -> Tally:
    """One round in which ``kill`` strikes ``kills`` times, spread over the study, each time in
    the middle of a step; the drivers (or new ones) resume the study to its end."""
    t0 = time.monotonic()
    round_ = _Round(setup, tally)
    try:
        for k in range(kills):
            target = (k + 1) * setup.epochs // (kills + 2)
            if not round_.wait_for_steps(target):
                break
            time.sleep(rng.uniform(0.0, setup.step_seconds))
            kill(round_, rng)
    finally:
        round_.finish()
    tally.seconds += time.monotonic() - t0
    return tally


def kill_worker_scenario(
    setup: Setup, *, kills: int = 2, tally: Tally | None = None, rng: random.Random | None = None
) -> Tally:
    """SIGKILL ``kills`` worker processes, each in the middle of a step, while the drivers run
    the study; they resume the trials. Returns the tally (``tally`` if given)."""
    tally = tally or Tally("SIGKILL a worker mid-step")
    return _kill_scenario(setup, tally, kills, rng or random.Random(0), _Round.kill_worker)


def kill_driver_scenario(
    setup: Setup, *, kills: int = 1, tally: Tally | None = None, rng: random.Random | None = None
) -> Tally:
    """SIGKILL a driver ``kills`` times mid-study (its worker processes are left to themselves:
    the tally counts how they ended), each time starting a new driver that resumes the study.
    Returns the tally."""
    tally = tally or Tally("SIGKILL the driver")
    return _kill_scenario(setup, tally, kills, rng or random.Random(0), _Round.kill_driver)


def die_after_last_report_scenario(
    setup: Setup, *, trial_number: int = 0, tally: Tally | None = None
) -> Tally:
    """Trial ``trial_number`` kills its own worker process right after the last report of its
    first run that reaches its granted fidelity, before the run is ended in the storage; the
    driver goes on. Kills counts that one. Returns the tally."""
    tally = tally or Tally("SIGKILL a worker after its last report")
    t0 = time.monotonic()
    round_ = _Round(dataclasses.replace(setup, die_after_last_report=trial_number), tally)
    round_.finish()
    if any(setup.log_dir.glob("died-*")):
        tally.kills += 1
    tally.seconds += time.monotonic() - t0
    return tally


def hung_objective_scenario(
    setup: Setup,
    *,
    trial_number: int = 0,
    stall_after: float = 1.5,
    hang_in: str = "lock",
    tally: Tally | None = None,
) -> Tally:
    """Trial ``trial_number`` hangs in the middle of its second step (blocked for ever on a
    lock, in ``time.sleep`` or reading a pipe: ``hang_in``; its worker process lives on and
    sends heartbeats, so only the drivers' ``stall_after`` can end it): the worker process stops
    it hard and counts it as a lost run, the trial is paused with the curve it reported and
    resumed from there (a problem is recorded otherwise), and the study goes on to its end.
    Kills counts the hang. Returns the tally."""
    tally = tally or Tally("a hung objective (stall_after)")
    t0 = time.monotonic()
    hung = dataclasses.replace(setup, hang=trial_number, hang_in=hang_in, stall_after=stall_after)
    round_ = _Round(hung, tally)
    round_.finish()
    for marker in setup.log_dir.glob("hung-*"):
        tally.kills += 1
        trial_id, step = int(marker.name.split("-")[1]), float(marker.read_text())
        study = hr.Study(setup.study, storage=setup.url)
        try:
            h = study.history(decisions=True)
        finally:
            study.storage.close()
        # the hung run had reported the step before the hang: the trial resumed from there
        resumed = [d.start for d in h.decisions if d.trial_id == trial_id and d.kind == "resume"]
        if h.trial(trial_id).lost_count < 1 or step - 1 not in resumed:
            tally.problems.append(
                f"the hung trial {trial_id} (hung in step {step:g}) was lost "
                f"{h.trial(trial_id).lost_count} times and resumed from {resumed}, not from "
                f"{step - 1:g}"
            )
    tally.seconds += time.monotonic() - t0
    return tally


def lost_answer_scenario(setup: Setup, *, answers: int = 2, tally: Tally | None = None) -> Tally:
    """The driver (``driver="optimize"``) loses the answers of ``answers`` commits of its
    decisions (every second one, see :func:`lose_commit_answers`): each is committed, then the
    connection seems to drop. The storage's retry must find the decision it wrote and return
    its run: no decision is made twice, no run is left for nobody to train (idle runs) and no
    run is lost. Kills counts the answers lost. Returns the tally."""
    tally = tally or Tally("the answer of a decision's commit lost")
    t0 = time.monotonic()
    round_ = _Round(dataclasses.replace(setup, lose_answers=answers), tally)
    round_.finish()
    tally.kills += len(list(setup.log_dir.glob("lost-answer-*")))
    tally.seconds += time.monotonic() - t0
    return tally


def restart_postgres_scenario(
    setup: Setup, *, restarts: int = 1, tally: Tally | None = None
) -> Tally:
    """Restart the PostgreSQL server ``restarts`` times while the drivers run the study (see
    :func:`restart_postgres`; it raises :class:`RestartUnavailable` when that cannot be done).
    Kills counts the restarts. Returns the tally."""
    tally = tally or Tally("restart PostgreSQL")
    t0 = time.monotonic()
    round_ = _Round(setup, tally)
    try:
        for k in range(restarts):
            target = (k + 1) * setup.epochs // (restarts + 2)
            if not round_.wait_for_steps(target):
                break
            restart_postgres(setup.url)
            tally.kills += 1
    finally:
        round_.finish()
    tally.seconds += time.monotonic() - t0
    return tally


def randomized_scenario(
    make_setup: Callable[[int], Setup],
    *,
    seconds: float,
    rng: random.Random,
    driver_share: float = 0.3,
    tally: Tally | None = None,
) -> Tally:
    """Studies one after the other for about ``seconds``: while a study runs, wait a random
    0.1 to 1.5 s, then SIGKILL a driver (with probability ``driver_share``) or one of the
    worker processes, whatever it is doing; each study is resumed to its end and audited.
    ``make_setup(i)`` gives the setup of study ``i``. Returns the tally."""
    tally = tally or Tally("random kills")
    t0 = time.monotonic()
    i = 0
    while time.monotonic() - t0 < seconds:
        setup = make_setup(i)
        i += 1
        round_ = _Round(setup, tally)
        try:
            while time.monotonic() - t0 < seconds:
                if round_.wait(rng.uniform(0.1, 1.5)):
                    break
                if rng.random() < driver_share:
                    round_.kill_driver(rng)
                else:
                    round_.kill_worker(rng, mid_step=False)
        finally:
            round_.finish()
    tally.seconds += time.monotonic() - t0
    return tally


# -- PostgreSQL --------------------------------------------------------------------------------


class RestartUnavailable(RuntimeError):
    """The PostgreSQL server cannot be restarted from here (not local, no ``pg_ctlcluster``,
    not permitted); the message says why."""


def _pg_dsn(url: str, database: str | None = None) -> str:
    import sqlalchemy as sa

    parsed = sa.engine.make_url(url)
    if database is not None:
        parsed = parsed.set(database=database)
    return parsed.set(drivername="postgresql").render_as_string(hide_password=False)


def _pg_connect(url: str, timeout: float) -> Any:
    """An autocommit connection to the server's ``postgres`` database, retried for ``timeout``
    seconds (the server may be restarting)."""
    from hyperrace._imports import require

    psycopg = require("psycopg", "postgres", "fault injection on PostgreSQL")
    deadline = time.monotonic() + timeout
    while True:
        try:
            return psycopg.connect(_pg_dsn(url, "postgres"), autocommit=True, connect_timeout=2)
        except psycopg.OperationalError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def restart_postgres(url: str, *, timeout: float = 60.0) -> float:
    """Restart the local PostgreSQL cluster that serves ``url`` (``pg_ctlcluster
    --skip-systemctl-redirect VERSION NAME restart``, Debian's tools) and wait until it accepts
    connections again; return the seconds that took.

    Raises:
        RestartUnavailable: the server is not on this machine, the tools are missing, or the
            restart was refused (e.g. not permitted).
    """
    import sqlalchemy as sa

    parsed = sa.engine.make_url(url)
    if parsed.host not in ("127.0.0.1", "localhost", "::1"):
        raise RestartUnavailable(f"PostgreSQL at {parsed.host} is not on this machine")
    port = parsed.port or 5432
    ctl, ls = shutil.which("pg_ctlcluster"), shutil.which("pg_lsclusters")
    if ctl is None or ls is None:
        raise RestartUnavailable("pg_ctlcluster and pg_lsclusters (postgresql-common) are missing")
    listing = subprocess.run([ls, "--no-header"], capture_output=True, text=True, check=False)
    clusters = [line.split() for line in listing.stdout.splitlines() if line.strip()]
    mine = [c for c in clusters if len(c) > 2 and c[2] == str(port)]
    if not mine:
        raise RestartUnavailable(f"no local PostgreSQL cluster listens on port {port}")
    version, name = mine[0][0], mine[0][1]
    t0 = time.monotonic()
    done = subprocess.run(
        [ctl, "--skip-systemctl-redirect", version, name, "restart"],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if done.returncode != 0:
        raise RestartUnavailable(
            f"pg_ctlcluster {version} {name} restart failed (exit code {done.returncode}): "
            f"{(done.stderr or done.stdout).strip()}"
        )
    _pg_connect(url, timeout).close()
    return time.monotonic() - t0


@contextlib.contextmanager
def postgres_database(base_url: str, *, timeout: float = 60.0) -> Iterator[str]:
    """A fresh PostgreSQL database on the server of ``base_url`` (a URL without a database),
    dropped on exit. Each of the two uses its own connection, so a server restarted meanwhile
    does not stop the drop."""
    name = f"hr_faults_{uuid.uuid4().hex[:12]}"
    conn = _pg_connect(base_url, timeout)
    try:
        conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        conn.close()
    try:
        yield f"{base_url.rstrip('/')}/{name}"
    finally:
        conn = _pg_connect(base_url, timeout)
        try:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            conn.close()
