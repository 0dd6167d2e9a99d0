"""Jobs as Ray tasks: N jobs at once anywhere on a Ray cluster, or on a local Ray instance.

Each job is one Ray task that calls :func:`run_job` with the storage at the study's URL (each
Ray worker process opens it once and keeps it for its next tasks), so every Ray worker must
reach the storage (PostgreSQL; a SQLite file only when every worker runs on this
machine) and the study's artifacts folder (a shared folder mounted at the same path on every
node), where a trial's checkpoints are written by one worker and read by the next.

* The objective is serialized once (with Ray's cloudpickle: closures and functions of the
  driver's script work too) and put in the object store; every task reads it from there.
* :meth:`RayExecutor.request_stop` sets a flag held by a small actor; a running task asks it at a
  report (at most once a second) and stops there: its trial is paused with what it reported.
* A task whose worker or node died (killed, out of memory, node lost) is a lost run: its trial
  is paused to be resumed from its checkpoint, or failed after ``max_retries`` lost runs (the
  job's ``RunSpec.liveness``).
  Ray itself never retries a job (``max_retries=0``): retrying is the study's decision, recorded.
* Time slices are enforced hard, as in local worker processes (``run_job(may_exit=True)``): an
  overdue run is ended in the storage and its worker exits; the driver takes the recorded state.
* A job waiting for resources on a busy cluster is running in the storage but not yet on a
  worker, so it sends no heartbeat: the driver sends the heartbeats of its jobs while Ray holds
  them, and a stale-heartbeat check does not take a job in Ray's queue as lost.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import re
from collections.abc import Mapping
from pathlib import PurePosixPath
from typing import Any

from hyperrace._clock import SystemClock
from hyperrace._imports import require
from hyperrace.exceptions import ConfigurationError, StorageError, TrialStateError
from hyperrace.executors._run import (
    InFlightHeartbeats,
    Objective,
    Outcome,
    RunSpec,
    lost_run,
    pause_interrupted,
    run_job,
)
from hyperrace.storage import Storage, mask_url, open_storage

__all__ = ["RayExecutor"]

logger = logging.getLogger("hyperrace")

#: Seconds between two looks of a running task at the stop flag.
_POLL_SECONDS = 1.0
#: Seconds a task waits for the stop flag's answer before it goes on without it.
_POLL_TIMEOUT = 10.0
#: Seconds to wait for force-cancelled tasks to be gone before their trials are paused.
_CANCEL_WAIT = 10.0
# a path component like "s3:" or "gs:": what pathlib leaves of "s3://bucket/folder"
_URL_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*:")


def _ray() -> Any:
    return require("ray", "ray", "the Ray executor")


class _StopFlag:
    """The flag of :meth:`RayExecutor.request_stop`, held by an actor that tasks ask."""

    def __init__(self) -> None:
        self._set = False

    def set(self) -> None:
        self._set = True

    def is_set(self) -> bool:
        return self._set


class _StopPoll:
    """``stop_requested`` of a job inside a task: asks the flag actor at most once per
    ``interval`` seconds (so a report costs nothing in between) and keeps its last answer; once
    set, the flag stays set. An unreachable flag (its node died) counts as not set: the job goes
    on (if its driver died, Ray ends the job's task itself)."""

    def __init__(self, flag: Any, interval: float = _POLL_SECONDS) -> None:
        self._flag = flag
        self._interval = interval
        self._clock = SystemClock()
        self._next = self._clock.wall()
        self._stop = False

    def __call__(self) -> bool:
        now = self._clock.wall()
        if self._stop or now < self._next:
            return self._stop
        self._next = now + self._interval
        ray = _ray()
        try:
            self._stop = bool(ray.get(self._flag.is_set.remote(), timeout=_POLL_TIMEOUT))
        except ray.exceptions.RayError as exc:
            logger.debug("the stop flag did not answer: %s", exc)
        return self._stop


#: The storages a Ray worker process opened, by URL, newest last: a worker runs many tasks, and
#: opening a storage (an engine, a connection, the schema's version checked) for each would
#: cost more than a short job's reports.
_OPEN: dict[str, Storage] = {}
_KEEP_OPEN = 4


def _worker_storage(url: str) -> Storage:
    """This worker process's storage at ``url``, opened on first use and kept for the next
    tasks (the least recently used closed beyond :data:`_KEEP_OPEN`)."""
    storage = _OPEN.pop(url, None)
    if storage is None:
        storage = open_storage(url)
    _OPEN[url] = storage
    while len(_OPEN) > _KEEP_OPEN:
        _OPEN.pop(next(iter(_OPEN))).close()
    return storage


def _run_task(url: str, spec: RunSpec, objective: Objective, flag: Any) -> Outcome:
    """One job inside a Ray worker: run the objective with the worker's storage at ``url``
    (opened by its first task and kept for the next ones; see :func:`_worker_storage`).

    The run may end the worker process (``may_exit=True``): a run overdue on its time slice is
    ended in the storage and the worker exits; Ray starts a fresh one for the next task. A task
    that reserved GPUs trains on those Ray gave it (``CUDA_VISIBLE_DEVICES``, set by Ray).
    """
    gpus = _ray().get_gpu_ids()
    if gpus:
        spec = dataclasses.replace(spec, gpus=tuple(str(g) for g in gpus))
    storage = _worker_storage(url)
    try:
        return run_job(storage, spec, objective, stop_requested=_StopPoll(flag), may_exit=True)
    except StorageError:
        # the next task opens it anew rather than reuse what may be a broken engine
        if _OPEN.pop(url, None) is not None:
            storage.close()
        raise


def _check_artifacts(artifacts: str) -> None:
    """Refuse an artifacts location that is a URL (or what pathlib left of one): Ray workers
    write checkpoints to a folder, which must be mounted at the same path on every node."""
    parts = PurePosixPath(artifacts).parts
    if "://" in artifacts or any(_URL_SCHEME.fullmatch(part) for part in parts):
        raise ConfigurationError(
            f"artifacts={artifacts!r} looks like a URL; the Ray executor writes checkpoints to a "
            "folder that every Ray worker reaches at the same path: mount the bucket or share on "
            "every node (NFS, a cloud file system, s3fs, gcsfuse, ...) and pass the mount path, "
            "e.g. hr.Study(..., artifacts='/mnt/shared/hyperrace')"
        )


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _lost_errors(ray: Any) -> tuple[type[BaseException], ...]:
    """The Ray errors that mean the job's worker, node or result is gone (not a bug)."""
    e = ray.exceptions
    return (
        e.WorkerCrashedError,  # the worker process died: killed, crashed, kernel OOM killer
        e.OutOfMemoryError,  # Ray's memory monitor killed the worker
        e.NodeDiedError,
        e.LocalRayletDiedError,
        e.ObjectLostError,  # the result is lost with its node (OwnerDiedError among them)
        e.TaskCancelledError,  # cancelled by someone else than this executor
    )


class RayExecutor:
    """Run jobs as Ray tasks: ``workers`` at once, on a Ray cluster or a local Ray instance.

    Each job is one task that reaches the storage by its URL, so the storage must be PostgreSQL
    (or a SQLite file when every Ray worker runs on this machine; ``memory://`` is refused), and
    the study's artifacts folder must be one that every Ray worker reaches at the same path (a
    shared folder: NFS, a mounted bucket), since a trial is resumed from its checkpoint on any
    node. See ``docs/storage-and-workers.md``.

    Args:
        workers: jobs at once, at least 1. Jobs beyond what the cluster's free resources hold
            wait in Ray's queue (their trials are running in the study meanwhile).
        address: the cluster to connect to when this process is not connected to Ray yet:
            ``"ray://host:10001"`` (Ray Client), ``"host:6379"``, ``"auto"`` (the cluster of this
            machine, started with ``ray start``), or ``None`` (``RAY_ADDRESS``, else the local
            cluster, else a new local instance). Ignored when Ray is already initialised.
        num_cpus: CPUs each job reserves (fractions allowed).
        num_gpus: GPUs each job reserves; Ray sets ``CUDA_VISIBLE_DEVICES`` in the task.
        runtime_env: Ray's runtime environment of each job (``env_vars``, ``working_dir``,
            ``pip``, ...), e.g. to ship the objective's code to a remote cluster.
        init_kwargs: more arguments of ``ray.init`` when this executor connects (``num_cpus``
            of a local instance, ``namespace``, ``log_to_driver``, ...; not ``address``).
    """

    def __init__(
        self,
        workers: int = 2,
        *,
        address: str | None = None,
        num_cpus: float = 1.0,
        num_gpus: float = 0.0,
        runtime_env: Mapping[str, Any] | None = None,
        init_kwargs: Mapping[str, Any] | None = None,
    ) -> None:
        if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
            raise ConfigurationError(f"workers={workers!r} must be an integer >= 1")
        if address is not None and (not isinstance(address, str) or not address.strip()):
            raise ConfigurationError(
                f"address={address!r} must be a Ray address such as 'ray://head:10001' or "
                "'auto', or None for a local instance"
            )
        for name, value in (("num_cpus", num_cpus), ("num_gpus", num_gpus)):
            if isinstance(value, bool) or not isinstance(value, int | float) or not value >= 0:
                raise ConfigurationError(f"{name}={value!r} must be a number >= 0")
        if runtime_env is not None and not isinstance(runtime_env, Mapping):
            raise ConfigurationError(
                f"runtime_env={runtime_env!r} must be a dict of Ray's runtime environment, "
                "e.g. {'env_vars': {'OMP_NUM_THREADS': '1'}}, or None"
            )
        if init_kwargs is not None and not isinstance(init_kwargs, Mapping):
            raise ConfigurationError(
                f"init_kwargs={init_kwargs!r} must be a dict of ray.init arguments, or None"
            )
        if init_kwargs is not None and "address" in init_kwargs:
            raise ConfigurationError(
                f"init_kwargs={dict(init_kwargs)!r} holds 'address'; pass it as "
                "RayExecutor(address=...) instead"
            )
        self._n = workers
        self._address = address
        self._num_cpus = float(num_cpus)
        self._num_gpus = float(num_gpus)
        self._runtime_env = dict(runtime_env) if runtime_env is not None else None
        self._init_kwargs = dict(init_kwargs or {})
        self._clock = SystemClock()
        self._storage: Storage | None = None
        self._task: Any = None  # the remote function, with its options
        self._objective: Any = None  # the objective's reference in the object store
        self._flag: Any = None  # the stop flag's actor
        self._owns_ray = False  # this executor connected to Ray, so it disconnects
        self._pending: dict[Any, RunSpec] = {}  # object reference of a task -> its job
        self._beats = InFlightHeartbeats()  # for tasks still queued by Ray

    @property
    def workers(self) -> int:
        return self._n

    def start(self, storage: Storage, objective: Objective) -> None:
        if storage.url.startswith("memory://"):
            raise ConfigurationError(
                "Ray workers cannot share an in-memory storage; use PostgreSQL "
                "(storage='postgresql+psycopg://user@host/db'), or a SQLite file "
                "(storage='sqlite:///study.db') when every Ray worker runs on this machine"
            )
        ray = _ray()
        if ray.is_initialized():
            if self._address is not None or self._init_kwargs:
                logger.warning(
                    "Ray is already initialised in this process: RayExecutor uses that "
                    "connection and ignores address=%r and init_kwargs=%r",
                    self._address,
                    self._init_kwargs,
                )
        else:
            ray.init(address=self._address, **self._init_kwargs)
            self._owns_ray = True
        try:
            try:
                self._objective = ray.put(objective)
            except Exception as exc:
                raise ConfigurationError(
                    f"the objective {objective!r} cannot be sent to Ray workers ({exc}); pass a "
                    "function that does not hold locks, open files or connections (open those "
                    "inside the objective)"
                ) from exc
            env = {"runtime_env": self._runtime_env} if self._runtime_env else {}
            self._task = ray.remote(_run_task).options(
                num_cpus=self._num_cpus,
                num_gpus=self._num_gpus,
                max_retries=0,  # a lost run is the study's to retry (or fail), not Ray's
                retry_exceptions=False,
                **env,
            )
            self._flag = ray.remote(_StopFlag).options(num_cpus=0, **env).remote()
            try:
                self._warn_about_cluster(ray, storage)
            except Exception as exc:  # advice only: never a reason not to run
                logger.debug("could not read the Ray cluster's resources: %s", exc)
        except BaseException:
            self._disconnect(ray)
            raise
        self._storage = storage
        self._pending = {}

    def _warn_about_cluster(self, ray: Any, storage: Storage) -> None:
        """Say when jobs will wait for resources, or cannot reach a SQLite file."""
        resources = ray.cluster_resources()
        cpus, gpus = resources.get("CPU", 0.0), resources.get("GPU", 0.0)
        if cpus < self._n * self._num_cpus or gpus < self._n * self._num_gpus:
            logger.warning(
                "the Ray cluster has %g CPUs and %g GPUs; %d jobs of %g CPUs and %g GPUs each "
                "do not fit at once: the others wait for resources (unless the cluster scales up)",
                cpus,
                gpus,
                self._n,
                self._num_cpus,
                self._num_gpus,
            )
        nodes = sum(1 for node in ray.nodes() if node.get("Alive"))
        if storage.url.startswith("sqlite") and nodes > 1:
            logger.warning(
                "the storage is a SQLite file but the Ray cluster has %d nodes: jobs on other "
                "machines cannot reach it; use PostgreSQL",
                nodes,
            )

    def free(self) -> int:
        return self._n - len(self._pending)

    def submit(self, spec: RunSpec) -> None:
        if self._storage is None:
            raise RuntimeError("RayExecutor.submit() before start()")
        _check_artifacts(spec.artifacts)
        ref = self._task.remote(self._storage.url, spec, self._objective, self._flag)
        self._pending[ref] = spec

    def wait(self, timeout: float | None) -> list[Outcome]:
        if not self._pending:
            return []
        return self._collect(self._ready(timeout), strict=True)

    def _ready(self, timeout: float | None) -> list[Any]:
        """The references of finished tasks, waiting up to ``timeout`` seconds for one and
        sending the heartbeats of the jobs in Ray's hands meanwhile."""
        ray = _ray()
        refs = list(self._pending)
        deadline = None if timeout is None else self._clock.wall() + timeout
        while True:
            step = (
                self._beats.send(self._storage, self._pending.values())
                if self._storage is not None
                else None
            )
            left = None if deadline is None else max(deadline - self._clock.wall(), 0.0)
            if left is not None:
                step = left if step is None else min(step, left)
            ready, _ = ray.wait(refs, num_returns=1, timeout=step)
            if ready or (deadline is not None and self._clock.wall() >= deadline):
                break
        if not ready:
            return []
        ready, _ = ray.wait(refs, num_returns=len(refs), timeout=0)
        return list(ready)

    def _collect(self, refs: list[Any], *, strict: bool) -> list[Outcome]:
        """The outcomes of finished tasks. An error of hyperrace's runner (not of the objective,
        which fails its trial) is raised when ``strict``, after the other outcomes are taken;
        otherwise its trial is paused."""
        outcomes: list[Outcome] = []
        error: BaseException | None = None
        for ref in refs:
            spec = self._pending[ref]
            try:
                outcomes.append(self._outcome(ref, spec))
            except Exception as exc:
                if strict:
                    error = error or exc
                    continue  # left pending: shutdown pauses its trial
                logger.warning("the Ray task of trial %d failed: %s", spec.trial_id, exc)
                self._pause(spec, f"its Ray task failed: {_first_line(exc)}")
            del self._pending[ref]
        if error is not None:
            raise error
        return outcomes

    def _outcome(self, ref: Any, spec: RunSpec) -> Outcome:
        """The outcome of one finished task, the run of a lost worker included."""
        assert self._storage is not None
        ray = _ray()
        errors = ray.exceptions
        try:
            outcome: Outcome = ray.get(ref)
            return outcome
        except errors.RayTaskError as exc:
            if isinstance(exc, _lost_errors(ray)):
                # e.g. KeyboardInterrupt in the task (a TaskCancelledError): run_job paused the
                # trial, unless it came before; or an argument lost with its node
                message = f"its Ray task was lost ({type(exc).__name__}: {_first_line(exc)})"
                return lost_run(self._storage, spec, message)
            if isinstance(exc, errors.RaySystemError):  # its arguments could not be loaded
                cause = _first_line(exc.cause) if exc.cause is not None else _first_line(exc)
                raise ConfigurationError(
                    f"the Ray workers cannot load the objective ({cause}): its module, and "
                    "hyperrace, must be importable on every Ray worker (on this machine, the "
                    "driver's script folder and working directory are on their path); install "
                    "it there, or ship it with RayExecutor(runtime_env={'working_dir': '.'}) or "
                    "{'py_modules': [...]}"
                ) from exc
            exc.add_note(
                f"hyperrace: the Ray task of trial {spec.trial_id} failed outside the objective "
                "(an error of the objective fails its trial instead): can this Ray worker reach "
                f"the storage {mask_url(self._storage.url)!r} and import hyperrace?"
            )
            raise
        except _lost_errors(ray) as exc:
            # a worker stopped hard (time slice overdue) ended the run in the storage first:
            # lost_run then gives the trial's recorded state
            message = f"its Ray worker was lost ({type(exc).__name__}: {_first_line(exc)})"
            return lost_run(self._storage, spec, message)
        except (errors.RuntimeEnvSetupError, errors.TaskUnschedulableError) as exc:
            raise ConfigurationError(
                f"Ray cannot run the jobs: {_first_line(exc)} (check runtime_env="
                f"{self._runtime_env!r}, num_cpus={self._num_cpus:g} and "
                f"num_gpus={self._num_gpus:g} against the cluster)"
            ) from exc

    def _pause(self, spec: RunSpec, message: str) -> None:
        """Pause the trial of a job that did not end by itself, if it is still running."""
        assert self._storage is not None
        with contextlib.suppress(TrialStateError, KeyError):  # ended meanwhile, or no trial
            trial = self._storage.trial(spec.trial_id)
            pause_interrupted(self._storage, trial, message, clock=self._clock, run=spec.decision)

    def request_stop(self) -> None:
        if self._flag is not None:
            self._flag.set.remote()

    def shutdown(self, *, grace: float = 30.0) -> None:
        if self._storage is None:
            return
        ray = _ray()
        try:
            if self._pending:
                self.request_stop()
                deadline = self._clock.wall() + grace
                while self._pending and (left := deadline - self._clock.wall()) > 0:
                    self._collect(self._ready(left), strict=False)
            if self._pending:  # did not stop within the grace period: cancel them
                refs = list(self._pending)
                for ref in refs:
                    with contextlib.suppress(Exception):
                        ray.cancel(ref, force=True)
                ray.wait(refs, num_returns=len(refs), timeout=_CANCEL_WAIT)
                for spec in self._pending.values():
                    self._pause(
                        spec,
                        f"the study stopped and its Ray task did not stop within {grace:g} "
                        "seconds: it was cancelled",
                    )
                self._pending = {}
            if self._flag is not None:
                with contextlib.suppress(Exception):
                    ray.kill(self._flag)
        finally:
            self._storage = self._task = self._objective = self._flag = None
            self._pending = {}
            self._disconnect(ray)

    def _disconnect(self, ray: Any) -> None:
        """Disconnect from Ray if this executor connected (a local instance it started stops)."""
        if self._owns_ray:
            self._owns_ray = False
            ray.shutdown()
