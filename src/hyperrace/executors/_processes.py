"""Local worker processes: N jobs at once, each in a separate process of this machine.

Workers are started with the ``spawn`` method (no state inherited from the driver, safe with
threads and PyTorch), open the storage by its URL, and ignore Ctrl-C: the driver catches it and
asks them to stop at their next report, so their trials are paused with what they reported. A
worker that does not stop within the grace period is terminated; a worker that dies mid-job
(killed, out of memory) has its trial paused, to be resumed from its checkpoint.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import multiprocessing.connection as mpc
import pickle
import signal
from dataclasses import dataclass
from typing import Any

from hyperrace.exceptions import ConfigurationError
from hyperrace.executors._run import Objective, Outcome, RunSpec, lost_run, run_job
from hyperrace.storage import Storage, open_storage

__all__ = ["ProcessExecutor"]


def _worker_main(conn: Any, url: str, objective: bytes, stop: Any) -> None:
    """A worker's life: receive a RunSpec, run it, send the Outcome back; ``None`` ends it."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    storage = open_storage(url)
    fn = pickle.loads(objective)
    try:
        with contextlib.suppress(EOFError):  # EOF: the driver went away
            while (spec := conn.recv()) is not None:
                conn.send(run_job(storage, spec, fn, stop_requested=stop.is_set))
    finally:
        storage.close()


@dataclass
class _Worker:
    process: Any
    conn: Any
    spec: RunSpec | None = None
    jobs: int = 0


class ProcessExecutor:
    """Run jobs in ``workers`` local processes.

    Args:
        workers: processes (and jobs) at once, at least 1.
        jobs_per_process: jobs a process runs before it is replaced by a fresh one (``None``:
            processes live for the whole ``optimize``). A fresh process per job keeps the memory
            of one trial from leaking into the next, at the price of a start (and imports) each.
    """

    def __init__(self, workers: int = 2, *, jobs_per_process: int | None = None) -> None:
        if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
            raise ConfigurationError(f"workers={workers!r} must be an integer >= 1")
        if jobs_per_process is not None and jobs_per_process < 1:
            raise ConfigurationError(
                f"jobs_per_process={jobs_per_process!r} must be >= 1, or None to keep processes"
            )
        self._n = workers
        self._jobs_per_process = jobs_per_process
        self._ctx = multiprocessing.get_context("spawn")
        self._stop = self._ctx.Event()
        self._workers: list[_Worker] = []
        self._storage: Storage | None = None
        self._payload = b""

    @property
    def workers(self) -> int:
        return self._n

    def start(self, storage: Storage, objective: Objective) -> None:
        if storage.url.startswith("memory://"):
            raise ConfigurationError(
                "worker processes cannot share an in-memory storage; use a SQLite file "
                "(storage='sqlite:///study.db') or PostgreSQL, or workers=1"
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
        parent, child = self._ctx.Pipe()
        proc = self._ctx.Process(
            target=_worker_main,
            args=(child, self._storage.url, self._payload, self._stop),
            daemon=True,
            name="hyperrace-worker",
        )
        proc.start()
        child.close()
        worker = _Worker(proc, parent)
        self._workers.append(worker)
        return worker

    def free(self) -> int:
        return self._n - sum(1 for w in self._workers if w.spec is not None)

    def submit(self, spec: RunSpec) -> None:
        if self._storage is None:
            raise RuntimeError("ProcessExecutor.submit() before start()")
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
        after too many lost runs)."""
        assert worker.spec is not None and self._storage is not None
        spec, code = worker.spec, worker.process.exitcode
        self._workers.remove(worker)
        worker.conn.close()
        worker.process.join()
        return lost_run(self._storage, spec, f"its worker process died (exit code {code})")

    def wait(self, timeout: float | None) -> list[Outcome]:
        busy = [w for w in self._workers if w.spec is not None]
        if not busy:
            return []
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
                worker.process.terminate()  # did not stop within the grace period
            self._retire(worker)
        self._storage = None
