"""Throughput of parallel workers: jobs and steps per second with 1, 2, 4 and 8 workers.

The objective sleeps: each job trains one trial of random search through 5 steps of
``--step-seconds`` (0.1 s) of ``time.sleep``, reporting and checkpointing after every step
(:func:`hyperrace.testing.objectives.slow_learning_curve`), so that a worker costs almost no
processor time and 8 workers can run at once on a 2-core machine: what is measured is how well
the race loop, the executor and the storage keep the workers busy, not the cores. The study
(``Fidelity(1, 5)``, ``Budget(epochs=5 x --jobs)``) runs ``--jobs`` jobs (32 by default: about
16 s of sleep at 1 worker, split evenly at 2, 4 and 8).

Each measurement is one ``Study.optimize(..., workers=N)`` on a fresh storage (a new SQLite
file, or a new PostgreSQL database), timed from the call to its return, so the start of the
worker processes (or the Ray tasks) is included:

* ``processes``: ``executor=ProcessExecutor(N)`` (worker processes, spawn), for N = 1 too;
* ``ray``: ``executor="ray", workers=N`` on a local Ray instance of 8 logical CPUs started once,
  before the timed part (each job reserves 1).

jobs/s = jobs / time, steps/s = 5 x jobs / time, parallel efficiency = throughput(N) /
(N x throughput(1)) of the same executor and storage (1.0: N workers are N times faster).
"first report" is the time from the call to the first report (the start of the workers, of
their imports and of the first step); "steps/s after the first report" counts the steps between
the first and the last report, leaving that start out, with its own efficiency.
Configurations alternate within each repeat; the tables give medians over ``--repeats``. After
every run the study is checked: every trial completed, ``5 x jobs`` steps trained, none running.

Usage::

    .venv/bin/python benchmarks/throughput.py
    .venv/bin/python benchmarks/throughput.py --workers 1,2,4,8 --jobs 32 --repeats 3 \\
        --storages sqlite,postgresql --executors processes,ray --out throughput.json

PostgreSQL is skipped, with a message, when the server cannot be reached; Ray when it is not
installed.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import datetime as _dt
import importlib.util
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

# fresh PostgreSQL databases come from the harness of the fault tests (tests/faults/faultkit.py)
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "faults"))

STORAGES = ("sqlite", "postgresql")
EXECUTORS = ("processes", "ray")
STEPS = 5
STEP_ENV = "HYPERRACE_TEST_STEP_SECONDS"  # read by slow_learning_curve, in every worker


@dataclasses.dataclass
class Run:
    storage: str
    executor: str
    workers: int
    repeat: int
    seconds: float
    first_report: float  # seconds from the call of optimize to the first report
    last_report: float  # ... to the last report
    jobs: int
    steps: float


@contextlib.contextmanager
def _url(storage: str, pg: str, folder: Path) -> Iterator[str]:
    from faultkit import postgres_database

    if storage == "sqlite":
        path = Path(tempfile.mkdtemp(dir=folder)) / "study.db"
        yield f"sqlite:///{path}"
        return
    with postgres_database(pg) as url:
        yield url


def _measure(
    url: str, executor: str, workers: int, jobs: int, folder: Path
) -> tuple[float, float, float]:
    """Run one study; return the seconds ``optimize`` took, and the seconds from its call to the
    first and to the last report. Raises if the study is not whole."""
    import hyperrace as hr
    from hyperrace.executors import ProcessExecutor
    from hyperrace.testing.objectives import slow_learning_curve

    space = hr.Space(x=hr.Float(0.0, 1.0), epochs=hr.Fidelity(1, STEPS))
    study = hr.Study(
        "throughput", space, storage=url, seed=0, artifacts=folder / "artifacts", optimizer="random"
    )
    chosen: Any = ProcessExecutor(workers) if executor == "processes" else "ray"
    t0, stamp0 = time.perf_counter(), time.time()
    study.optimize(
        slow_learning_curve,
        hr.Budget(epochs=STEPS * jobs),
        workers=workers,
        executor=chosen,
        progress=False,
    )
    seconds = time.perf_counter() - t0
    h = study.history()
    study.storage.close()
    if (
        h.work != STEPS * jobs
        or len(h.trials) != jobs
        or any(t.status is not hr.TrialStatus.COMPLETED for t in h.trials)
    ):
        raise RuntimeError(
            f"the study is not whole: {len(h.trials)} trials, {h.work:g} steps, statuses "
            f"{sorted({t.status.value for t in h.trials})}"
        )
    times = sorted(o.time for t in h.trials for o in t.curve)
    return seconds, times[0] - stamp0, times[-1] - stamp0


def _pg_reachable(pg: str) -> str | None:
    from faultkit import postgres_database

    try:
        with postgres_database(pg, timeout=5.0):
            return None
    except Exception as exc:
        return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__


def _table(runs: list[Run], storage: str, executor: str, workers: list[int]) -> list[str]:
    def of(n: int) -> list[Run]:
        return [r for r in runs if (r.storage, r.executor, r.workers) == (storage, executor, n)]

    def median(values: Iterator[float]) -> float:
        return float(statistics.median(values))

    def steady(r: Run) -> float:
        """Steps per second between the first and the last report (worker start left out)."""
        return (r.steps - 1) / max(r.last_report - r.first_report, 1e-9)

    rows = []
    base = median(r.jobs / r.seconds for r in of(1)) if 1 in workers else None
    base_steady = median(steady(r) for r in of(1)) if 1 in workers else None
    for n in workers:
        jobs_s = median(r.jobs / r.seconds for r in of(n))
        steady_s = median(steady(r) for r in of(n))
        eff = f"{jobs_s / (n * base):.2f}" if base else "-"
        eff_steady = f"{steady_s / (n * base_steady):.2f}" if base_steady else "-"
        rows.append(
            f"| {executor} | {storage} | {n} | {median(r.seconds for r in of(n)):.1f} | "
            f"{median(r.first_report for r in of(n)):.1f} | {jobs_s:.2f} | {jobs_s * STEPS:.1f} | "
            f"{eff} | {steady_s:.1f} | {eff_steady} |"
        )
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workers", default="1,2,4,8", help="worker counts (1,2,4,8)")
    parser.add_argument("--jobs", type=int, default=32, help="jobs per study (32)")
    parser.add_argument(
        "--step-seconds", type=float, default=0.1, help="sleep of a step, 5 per job (0.1)"
    )
    parser.add_argument("--repeats", type=int, default=3, help="runs per measurement (3)")
    parser.add_argument("--storages", default="sqlite,postgresql", help="(sqlite,postgresql)")
    parser.add_argument("--executors", default="processes,ray", help="(processes,ray)")
    parser.add_argument(
        "--pg",
        default=os.environ.get("HYPERRACE_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432"),
        help="URL of the PostgreSQL server, without a database",
    )
    parser.add_argument("--out", default=None, help="write every run as JSON")
    args = parser.parse_args(argv)
    try:
        workers = [int(w) for w in args.workers.split(",") if w.strip()]
    except ValueError:
        parser.error(f"--workers {args.workers!r} must be integers, e.g. 1,2,4,8")
    storages = [s.strip() for s in args.storages.split(",") if s.strip()]
    executors = [e.strip() for e in args.executors.split(",") if e.strip()]
    for s in storages:
        if s not in STORAGES:
            parser.error(f"unknown storage {s!r}; use {', '.join(STORAGES)}")
    for e in executors:
        if e not in EXECUTORS:
            parser.error(f"unknown executor {e!r}; use {', '.join(EXECUTORS)}")
    if not workers or min(workers) < 1 or args.jobs < 1 or args.repeats < 1:
        parser.error("--workers, --jobs and --repeats must be positive")
    if not args.step_seconds > 0:
        parser.error(f"--step-seconds {args.step_seconds} must be positive")
    if "postgresql" in storages and (why := _pg_reachable(args.pg)) is not None:
        print(f"PostgreSQL at {args.pg} is unreachable ({why}); skipped", file=sys.stderr)
        storages.remove("postgresql")
    if "ray" in executors and importlib.util.find_spec("ray") is None:
        print("Ray is not installed (pip install 'hyperrace[ray]'); skipped", file=sys.stderr)
        executors.remove("ray")

    os.environ[STEP_ENV] = str(args.step_seconds)  # before workers (and Ray) start
    print(
        f"# throughput: {args.jobs} jobs x {STEPS} steps of {args.step_seconds:g} s sleep, "
        f"workers {workers}, {args.repeats} repeats, median shown; "
        f"{_dt.datetime.now(_dt.UTC):%Y-%m-%d}, Python {platform.python_version()}, "
        f"{os.cpu_count()} CPUs",
        file=sys.stderr,
    )
    runs: list[Run] = []
    with tempfile.TemporaryDirectory(prefix="hyperrace-throughput-") as tmp:
        folder = Path(tmp)
        with contextlib.ExitStack() as stack:
            if "ray" in executors:
                import ray

                ray.init(num_cpus=max(workers), include_dashboard=False, log_to_driver=False)
                stack.callback(ray.shutdown)
            for repeat in range(args.repeats):
                for executor in executors:
                    for storage in storages:
                        for n in workers:
                            with _url(storage, args.pg, folder) as url:
                                seconds, first, last = _measure(url, executor, n, args.jobs, folder)
                            runs.append(
                                Run(
                                    storage,
                                    executor,
                                    n,
                                    repeat,
                                    seconds,
                                    first,
                                    last,
                                    args.jobs,
                                    STEPS * args.jobs,
                                )
                            )
                            print(
                                f"repeat {repeat}: {executor} {storage} {n} workers: "
                                f"{seconds:.2f} s ({args.jobs / seconds:.2f} jobs/s)",
                                file=sys.stderr,
                                flush=True,
                            )
    print(
        "| executor | storage | workers | time (s) | first report (s) | jobs/s | steps/s | "
        "parallel efficiency | steps/s after the first report | its efficiency |"
    )
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for executor in executors:
        for storage in storages:
            print("\n".join(_table(runs, storage, executor, workers)))
    if args.out:
        Path(args.out).write_text(json.dumps([dataclasses.asdict(r) for r in runs], indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
