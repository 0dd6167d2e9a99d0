"""How busy N asynchronous workers stay, on the simulated clock.

Each run is a study on a benchmark task driven by the simulated executor with ``--workers``
workers, under an epoch budget. Utilisation is the simulated seconds the workers spent running
jobs over ``workers x`` the simulated time the study took; "until the tail" stops the clock at
the moment the budget left no new job to start (the first decision that found the epoch budget
granted to running trials), so the unavoidable drain at the end is reported apart.

    .venv/bin/python benchmarks/utilisation.py --workers 32 --optimizers asha,dyhpo,hyperband
"""

from __future__ import annotations

import argparse
import statistics
import time
from typing import Any

import hyperrace as hr
from hyperrace.benchmarks import LCBench, SyntheticCurves, Task, task_objective
from hyperrace.executors import SimulatedExecutor


def run(task: Task, optimizer: str, workers: int, epochs: float, seed: int) -> dict[str, Any]:
    executor = SimulatedExecutor(workers)
    study = hr.Study(
        f"{optimizer}-{seed}",
        task.space,
        storage="memory://",
        optimizer=optimizer,
        seed=seed,
        clock=executor.clock,
    )
    t0 = time.perf_counter()
    study.optimize(
        task_objective(task), hr.Budget(epochs=epochs), executor=executor, progress=False
    )
    history = study.history()
    # the tail: from the last job start to the end, no new job could start
    origin = executor.clock.timestamp() - executor.clock.now
    starts = sorted(t.created - origin for t in history.trials)
    last_start = starts[-1] if starts else 0.0
    busy_until_tail = _busy_until(history, origin, last_start)
    return {
        "optimizer": optimizer,
        "utilisation": executor.busy_seconds / (workers * executor.clock.now),
        "until_tail": busy_until_tail / (workers * last_start) if last_start > 0 else 1.0,
        "trials": len(history.trials),
        "simulated_hours": executor.clock.now / 3600,
        "wall": time.perf_counter() - t0,
    }


def _busy_until(history: hr.History, origin: float, until: float) -> float:
    """Seconds of training done before ``until``: each report covers the seconds since the
    previous report of its run (its ``wall_seconds``)."""
    busy = 0.0
    for trial in history.trials:
        for obs in trial.curve:
            end = obs.time - origin
            start = end - obs.wall_seconds
            busy += max(0.0, min(end, until) - start)
    return busy


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--optimizers", default="asha,hyperband")
    parser.add_argument("--workers", type=int, default=32)
    parser.add_argument("--task", default="lcbench", choices=["lcbench", "synthetic"])
    parser.add_argument("--instance", default="3945")
    parser.add_argument("--epochs", type=float, default=4000)
    parser.add_argument("--seeds", type=int, default=3)
    args = parser.parse_args()
    task: Task = (
        LCBench(args.instance) if args.task == "lcbench" else SyntheticCurves(int(args.instance))
    )
    print(
        f"{args.task} {args.instance}, {args.workers} simulated workers, "
        f"{args.epochs:g} epochs, {args.seeds} seeds"
    )
    print()
    print("| optimizer | busy (whole run) | busy (until the tail) | trials | simulated hours |")
    print("|---|---:|---:|---:|---:|")
    for optimizer in args.optimizers.split(","):
        rows = [run(task, optimizer, args.workers, args.epochs, s) for s in range(args.seeds)]
        med = {k: statistics.median(r[k] for r in rows) for k in rows[0] if k != "optimizer"}
        print(
            f"| {optimizer} | {med['utilisation']:.1%} | {med['until_tail']:.1%} | "
            f"{med['trials']:.0f} | {med['simulated_hours']:.2f} |",
            flush=True,
        )


if __name__ == "__main__":
    main()
