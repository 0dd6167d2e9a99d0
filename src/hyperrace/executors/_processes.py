"""Local worker processes: N jobs at once, each in a separate process of this machine.

Workers are started with the ``spawn`` method (no state inherited from the driver, safe with
threads and PyTorch), open the storage by its URL, and ignore Ctrl-C: the driver catches it and
asks them to stop at their next report, so their trials are paused with what they reported. A
worker that does not stop within the grace period is killed; a worker that dies mid-job
(killed, out of memory) has its trial paused, to be resumed from its checkpoint. While a job is
in flight the driver marks its trial alive too, every heartbeat interval, as long as its worker
process lives: a job is not taken as lost by another driver while its worker process starts.

A worker enforces time slices hard (``run_job(may_exit=True)``): a run that spends its slice and
the grace period without reporting is ended in the storage and the worker exits with
:data:`~hyperrace.executors.HARD_STOP_EXIT_CODE`; the driver takes the trial's recorded
state as the outcome and starts a fresh worker for the next job. A worker whose driver died
(killed with SIGKILL, so it could not stop its workers) notices within a second, stops its job
at the next report (the trial is paused with reason ``interrupted``, to be resumed by whoever
runs the study next) and exits; so does a worker that receives SIGTERM itself.

With ``gpus`` each worker process owns its GPUs (see :mod:`hyperrace.executors._gpus`): it sets
``CUDA_VISIBLE_DEVICES`` to them before it loads the objective, and its runs know them
(``trial.devices``, recorded with the trial). A fresh process that replaces one (after a hard
stop, a crash, ``jobs_per_process``) takes over its GPUs.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import multiprocessing
import multiprocessing.connection as mpc
import os
import pickle
import signal
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from types import FrameType
from typing import Any

from hyperrace._devices import VISIBLE_ENV
from hyperrace.exceptions import ConfigurationError
from hyperrace.executors._gpus import Gpus, plan_gpus
from hyperrace.executors._guard import check_main_guard
from hyperrace.executors._run import (
    HARD_STOP_EXIT_CODE,
    InFlightHeartbeats,
    Objective,
    Outcome,
    RunSpec,
    lost_run,
    run_job,
)
from hyperrace.storage import Storage, open_storage

__all__ = ["ProcessExecutor"]

#: Seconds between two checks of a worker that its driver is still alive.
_DRIVER_CHECK_INTERVAL = 0.5

logger = logging.getLogger("hyperrace")


class _Leave:
    """Why this worker must stop its job at the next report and exit (empty: it need not).

    Set by a thread that watches the driver (its parent) and by the SIGTERM handler. ``busy``
    is True while a job runs; an idle worker that receives SIGTERM exits at once.
    """

    def __init__(self, driver_pid: int) -> None:
        self.reason = ""
        self.busy = False
        self._driver_pid = driver_pid
        self._watch = threading.Thread(target=self._loop, daemon=True, name="hyperrace-driver")
        self._watch.start()

    def _loop(self) -> None:
        # A dead parent's children are adopted by another process: the parent id changes.
        while os.getppid() == self._driver_pid:
            time.sleep(_DRIVER_CHECK_INTERVAL)
        self.reason = self.reason or "its driver process died"

    def on_sigterm(self, _signum: int, _frame: FrameType | None) -> None:
        if not self.busy:
            os._exit(0)  # nothing to stop: waiting for a job
        self.reason = self.reason or "its worker process received SIGTERM"


def _own_gpus(gpus: tuple[str, ...]) -> None:
    """Make this process see only ``gpus`` (none: the CPU), before anything starts CUDA."""
    torch = sys.modules.get("torch")
    if torch is not None and torch.cuda.is_initialized():
        logger.warning(
            "worker process %d: CUDA was started before it could be given GPUs %s (the main "
            "module starts it at import?); its runs see every GPU",
            os.getpid(),
            ",".join(gpus) or "none",
        )
    os.environ[VISIBLE_ENV] = ",".join(gpus)


def _worker_main(
    conn: Any,
    url: str,
    objective: bytes,
    stop: Any,
    driver_pid: int,
    gpus: tuple[str, ...] | None = None,
) -> None:
    """A worker's life: receive a RunSpec, run it, send the Outcome back; ``None`` ends it.

    It runs each job with ``may_exit=True`` (time slices are enforced hard here), and leaves
    after the job it is running when its driver died or it received SIGTERM. With ``gpus`` it
    sees only those (``CUDA_VISIBLE_DEVICES``) and gives them to its runs.
    """
    if gpus is not None:
        _own_gpus(gpus)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    leave = _Leave(driver_pid)
    signal.signal(signal.SIGTERM, leave.on_sigterm)
    storage = open_storage(url)
    fn = pickle.loads(objective)

    def stop_requested() -> bool | str:
        return leave.reason or stop.is_set()

    try:
        # EOF or a broken pipe: the driver went away
        with contextlib.suppress(EOFError, BrokenPipeError, ConnectionResetError):
            while not leave.reason and (spec := conn.recv()) is not None:
                leave.busy = True
                if gpus is not None:
                    spec = dataclasses.replace(spec, gpus=gpus)
                conn.send(run_job(storage, spec, fn, stop_requested=stop_requested, may_exit=True))
                leave.busy = False
    finally:
        storage.close()


@contextlib.contextmanager
def _sigint_ignored() -> Iterator[None]:
    """Ignore Ctrl-C while a worker process is started: it inherits the disposition, so it
    ignores Ctrl-C from its first instruction (the driver stops it), not only once its code
    runs. Only the main thread can change signal dispositions: elsewhere nothing changes."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


@dataclass
class _Worker:
    process: Any
    conn: Any
    slot: int
    spec: RunSpec | None = None
    jobs: int = 0


class ProcessExecutor:
    """Run jobs in ``workers`` local processes.

    Args:
        workers: processes (and jobs) at once, at least 1; ``None``: one per
            ``gpus_per_worker`` GPUs with ``gpus``, else 2.
        jobs_per_process: jobs a process runs before it is replaced by a fresh one (``None``:
            processes live for the whole ``optimize``). A fresh process per job keeps the memory
            of one trial from leaking into the next, at the price of a start (and imports) each.
        gpus: the GPUs the workers own: a list of indices or ids, ``"auto"`` (every GPU PyTorch
            sees; the CPU, with a log line, where it sees none), or ``None`` (not managed: the
            workers see what this process sees). See :mod:`hyperrace.executors._gpus`.
        gpus_per_worker: GPUs each worker owns.

    Example:
        >>> ProcessExecutor(gpus=["0", "1", "2", "3"], gpus_per_worker=2).gpus
        (('0', '1'), ('2', '3'))
    """

    def __init__(
        self,
        workers: int | None = None,
        *,
        jobs_per_process: int | None = None,
        gpus: Gpus = None,
        gpus_per_worker: int = 1,
    ) -> None:
        plan = plan_gpus(gpus, 2 if workers is None and gpus is None else workers, gpus_per_worker)
        if jobs_per_process is not None and jobs_per_process < 1:
            raise ConfigurationError(
                f"jobs_per_process={jobs_per_process!r} must be >= 1, or None to keep processes"
            )
        self._n = plan.workers
        self._groups = plan.groups
        self._jobs_per_process = jobs_per_process
        self._ctx = multiprocessing.get_context("spawn")
        self._stop = self._ctx.Event()
        self._workers: list[_Worker] = []
        self._storage: Storage | None = None
        self._payload = b""
        self._beats = InFlightHeartbeats()

    @property
    def workers(self) -> int:
        return self._n

    @property
    def gpus(self) -> tuple[tuple[str, ...], ...] | None:
        """The GPU ids of each worker slot (``()``: the CPU), or ``None`` when not managed."""
        return self._groups

    def start(self, storage: Storage, objective: Objective) -> None:
        check_main_guard(f"optimize with {self._n} worker process{'es' if self._n != 1 else ''}")
        if storage.url.startswith("memory://"):
            raise ConfigurationError(
                "worker processes cannot share an in-memory storage; use a SQLite file "
                "(storage='sqlite:///study.db') or PostgreSQL, or workers=1 without gpus="
            )
        try:
            self._payload = pickle.dumps(objective)
        except Exception as exc:
            raise ConfigurationError(
                f"the objective {objective!r} cannot be sent to worker processes ({exc}); define "
                "it at module level in an importable file (not a lambda or a nested function), "
                "or use workers=1"
            ) from exc
        self._storage = storage
        self._stop.clear()

    def _spawn(self) -> _Worker:
        assert self._storage is not None
        # the slot (and so the GPUs) of no live worker: that of the one this one replaces
        slot = min(set(range(self._n)) - {w.slot for w in self._workers})
        gpus = self._groups[slot] if self._groups is not None else None
        parent, child = self._ctx.Pipe()
        proc = self._ctx.Process(
            target=_worker_main,
            args=(child, self._storage.url, self._payload, self._stop, os.getpid(), gpus),
            daemon=True,
            name="hyperrace-worker",
        )
        with _sigint_ignored():  # a Ctrl-C while it imports must not print its traceback
            proc.start()
        child.close()
        worker = _Worker(proc, parent, slot)
        self._workers.append(worker)
        return worker

    def free(self) -> int:
        return self._n - sum(1 for w in self._workers if w.spec is not None)

    def submit(self, spec: RunSpec) -> None:
        if self._storage is None:
            raise RuntimeError("ProcessExecutor.submit() before start()")
        for worker in [w for w in self._workers if w.spec is None and not w.process.is_alive()]:
            self._retire(worker)  # died between jobs: its slot goes to a fresh one
        idle = [w for w in self._workers if w.spec is None and w.process.is_alive()]
        worker = idle[0] if idle else self._spawn()
        worker.conn.send(spec)
        worker.spec = spec

    def _retire(self, worker: _Worker) -> None:
        self._workers.remove(worker)
        with contextlib.suppress(BrokenPipeError, OSError):
            worker.conn.send(None)
        worker.conn.close()
        worker.process.join(timeout=5)
        if worker.process.is_alive():
            worker.process.kill()
            worker.process.join()

    def _died(self, worker: _Worker) -> Outcome:
        """The outcome of a job whose worker died: its trial is paused, to be resumed (or failed
        after too many lost runs).

        A worker stopped hard (:data:`HARD_STOP_EXIT_CODE`) ended the run in the storage first,
        so the outcome is the trial's recorded state (``lost_run`` returns it for a trial that
        is no longer running); had it failed to, the run is lost like any other."""
        assert worker.spec is not None and self._storage is not None
        spec = worker.spec
        self._workers.remove(worker)
        worker.conn.close()
        worker.process.join()
        code = worker.process.exitcode
        what = "was stopped hard" if code == HARD_STOP_EXIT_CODE else "died"
        return lost_run(self._storage, spec, f"its worker process {what} (exit code {code})")

    def wait(self, timeout: float | None) -> list[Outcome]:
        busy = [w for w in self._workers if w.spec is not None]
        if not busy:
            return []
        # a job is not stale while its worker process starts (imports can take long)
        if self._storage is not None:
            alive = [w.spec for w in busy if w.spec is not None and w.process.is_alive()]
            self._beats.send(self._storage, alive)
        ready = set(mpc.wait([w.conn for w in busy] + [w.process.sentinel for w in busy], timeout))
        out = []
        for worker in busy:
            if worker.conn in ready:
                try:
                    outcome: Outcome = worker.conn.recv()
                except (EOFError, OSError):
                    out.append(self._died(worker))
                    continue
                out.append(outcome)
                worker.spec = None
                worker.jobs += 1
                if self._jobs_per_process is not None and worker.jobs >= self._jobs_per_process:
                    self._retire(worker)
            elif worker.process.sentinel in ready:
                out.append(self._died(worker))
        return out

    def request_stop(self) -> None:
        self._stop.set()

    def shutdown(self, *, grace: float = 30.0) -> None:
        busy = [w for w in self._workers if w.spec is not None]
        if busy:
            self._stop.set()
            mpc.wait([w.conn for w in busy], grace)
        for worker in list(self._workers):
            if worker.spec is not None and not worker.conn.poll():
                # did not stop within the grace period (SIGTERM would only ask it again)
                worker.process.kill()
            self._retire(worker)
        self._storage = None
