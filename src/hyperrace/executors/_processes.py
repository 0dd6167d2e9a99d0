"""Local worker processes: N jobs at once, each in a separate process of this machine.

Workers are started with the ``spawn`` method (no state inherited from the driver, safe with
threads and PyTorch), open the storage by its URL, and ignore Ctrl-C: the driver catches it and
asks them to stop at their next report, so their trials are paused with what they reported.
"""

from __future__ import annotations

import concurrent.futures as cf
import multiprocessing
import pickle
import signal
from typing import Any

from hyperrace.exceptions import ConfigurationError
from hyperrace.executors._run import Objective, Outcome, RunSpec, run_job
from hyperrace.storage import Storage, open_storage

__all__ = ["ProcessExecutor"]

_worker: dict[str, Any] = {}


def _init_worker(url: str, objective: bytes, stop_event: Any) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _worker["storage"] = open_storage(url)
    _worker["objective"] = pickle.loads(objective)
    _worker["stop"] = stop_event


def _run_in_worker(spec: RunSpec) -> Outcome:
    stop = _worker["stop"]
    return run_job(_worker["storage"], spec, _worker["objective"], stop_requested=stop.is_set)


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
        self._workers = workers
        self._jobs_per_process = jobs_per_process
        self._ctx = multiprocessing.get_context("spawn")
        self._stop = self._ctx.Event()
        self._pool: cf.ProcessPoolExecutor | None = None
        self._running: set[cf.Future[Outcome]] = set()

    @property
    def workers(self) -> int:
        return self._workers

    def start(self, storage: Storage, objective: Objective) -> None:
        if storage.url.startswith("memory://"):
            raise ConfigurationError(
                "worker processes cannot share an in-memory storage; use a SQLite file "
                "(storage='sqlite:///study.db') or PostgreSQL, or workers=1"
            )
        try:
            payload = pickle.dumps(objective)
        except Exception as exc:
            raise ConfigurationError(
                f"the objective {objective!r} cannot be sent to worker processes ({exc}); define "
                "it at module level in an importable file (not a lambda or a nested function), "
                "or use workers=1"
            ) from exc
        self._stop.clear()
        self._pool = cf.ProcessPoolExecutor(
            max_workers=self._workers,
            mp_context=self._ctx,
            initializer=_init_worker,
            initargs=(storage.url, payload, self._stop),
            max_tasks_per_child=self._jobs_per_process,
        )

    def free(self) -> int:
        return self._workers - len(self._running)

    def submit(self, spec: RunSpec) -> None:
        if self._pool is None:
            raise RuntimeError("ProcessExecutor.submit() before start()")
        self._running.add(self._pool.submit(_run_in_worker, spec))

    def wait(self, timeout: float | None) -> list[Outcome]:
        if not self._running:
            return []
        done, _ = cf.wait(self._running, timeout=timeout, return_when=cf.FIRST_COMPLETED)
        out = []
        for fut in done:
            self._running.discard(fut)
            out.append(fut.result())
        return out

    def request_stop(self) -> None:
        self._stop.set()

    def shutdown(self, *, grace: float = 30.0) -> None:
        if self._pool is None:
            return
        if self._running:
            self._stop.set()
            cf.wait(self._running, timeout=grace)
        self._pool.shutdown(wait=not self._running, cancel_futures=True)
        if self._running:  # still busy after the grace period: end them
            for proc in list(getattr(self._pool, "_processes", {}).values()):
                proc.terminate()
        self._running.clear()
        self._pool = None
