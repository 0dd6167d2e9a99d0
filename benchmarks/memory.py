"""The driver's memory and time per decision over a study of many trials.

A synthetic study (``SyntheticCurves`` with ``--epochs`` epochs, random search by default: its
decisions cost nothing, so what is measured is the driver, the storage and the snapshots) runs
on the simulated clock with ``--workers`` simulated workers and its storage in a
SQLite file, up to ``--trials`` trials. Every ``--every`` trials it prints the process's resident
memory (VmRSS), the memory Python holds (tracemalloc, when ``--tracemalloc``), and the median wall
time per decision over the last stretch. ``--full-reads`` makes every snapshot a full read of the
study (as before snapshots were incremental), for comparison in one run.

    .venv/bin/python benchmarks/memory.py --trials 20000
"""

from __future__ import annotations

import argparse
import gc
import os
import statistics
import tempfile
import time
import tracemalloc
from pathlib import Path

import hyperrace as hr
from hyperrace.benchmarks import SyntheticCurves, task_objective
from hyperrace.executors import SimulatedExecutor
from hyperrace.history import History


def rss_mib() -> float:
    """The resident memory of this process, in MiB (Linux)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


class _Probe:
    """Wraps the study's history reads: times each decision's read and samples memory."""

    def __init__(self, study: hr.Study, every: int, full: bool, trace: bool) -> None:
        self.study, self.every, self.full, self.trace = study, every, full, trace
        self.read = study.history
        self.reads: list[float] = []
        self.next_mark = every
        self.t0 = time.perf_counter()
        self.rows: list[dict[str, float]] = []

    def history(self, *, decisions: bool = False) -> History:
        t = time.perf_counter()
        if self.full:
            h = self.study.storage.history(self.study.study_id, decisions=decisions)
        else:
            h = self.read(decisions=decisions)
        self.reads.append(time.perf_counter() - t)
        if len(h.trials) >= self.next_mark:
            self.mark(h)
            self.next_mark += self.every
        return h

    def mark(self, h: History) -> None:
        gc.collect()
        traced = tracemalloc.get_traced_memory()[0] / 2**20 if self.trace else float("nan")
        row = {
            "trials": len(h.trials),
            "observations": sum(len(t.curve) for t in h.trials),
            "rss_mib": rss_mib(),
            "python_mib": traced,
            "read_ms": 1000 * statistics.median(self.reads) if self.reads else float("nan"),
            "elapsed_s": time.perf_counter() - self.t0,
        }
        self.rows.append(row)
        self.reads = []
        print(
            f"{row['trials']:>7.0f} trials {row['observations']:>8.0f} obs  "
            f"RSS {row['rss_mib']:7.1f} MiB  python {row['python_mib']:7.1f} MiB  "
            f"read {row['read_ms']:7.2f} ms  {row['elapsed_s']:7.1f} s",
            flush=True,
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--trials", type=int, default=20000)
    parser.add_argument("--every", type=int, default=2000)
    parser.add_argument("--workers", type=int, default=8)
    parser.add_argument("--optimizer", default="random")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--full-reads", action="store_true")
    parser.add_argument("--tracemalloc", action="store_true")
    parser.add_argument("--storage", default=None, help="default: a SQLite file in a temp dir")
    args = parser.parse_args()
    if args.tracemalloc:
        tracemalloc.start()
    task = SyntheticCurves(0, max_epochs=args.epochs)
    with tempfile.TemporaryDirectory() as tmp:
        url = args.storage or f"sqlite:///{Path(tmp) / 'memory.db'}"
        executor = SimulatedExecutor(args.workers)
        study = hr.Study(
            "memory",
            task.space,
            storage=url,
            optimizer=args.optimizer,
            seed=0,
            clock=executor.clock,
        )
        probe = _Probe(study, args.every, args.full_reads, args.tracemalloc)
        study.history = probe.history  # type: ignore[method-assign]
        print(
            f"{args.optimizer}, {args.workers} simulated workers, {args.trials} trials, "
            f"{'full' if args.full_reads else 'incremental'} reads, pid {os.getpid()}",
            flush=True,
        )
        print(f"      0 trials                RSS {rss_mib():7.1f} MiB at the start", flush=True)
        study.optimize(
            task_objective(task),
            hr.Budget(trials=args.trials),
            executor=executor,
            progress=False,
        )
        probe.mark(study.storage.history(study.study_id))


if __name__ == "__main__":
    main()
