"""The time a model-based race (race, dpl, dyhpo) takes to decide, by number of observed epochs.

One study on a benchmark task (LCBench instance ``--lcbench``, or
:class:`hyperrace.benchmarks.SyntheticCurves`) is driven through ask / report / tell (one epoch
per report) until ``--epochs`` epochs are observed: by one worker, or with ``--workers N`` as N
workers would, N jobs in flight, the oldest run to its end before each next ask. Each call of the
optimizer's ``decide`` is timed, wall and processor seconds (the study's own bookkeeping in
``ask`` is not counted). Printed: median, 90th percentile and max seconds per decision in bins of
observed epochs; the decisions that ran a fit (the fit point recorded in the decision's info
moved), split into fits from scratch and warm starts; the decisions that reused the last fit;
and the total seconds of decisions of the run.

    .venv/bin/python benchmarks/decision_time.py --optimizer race --lcbench 3945 --epochs 1000
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from typing import Any, ClassVar

import numpy as np

import hyperrace as hr
from hyperrace.benchmarks import LCBench, SyntheticCurves
from hyperrace.history import History
from hyperrace.optimizers import Decision, Optimizer, make_optimizer
from hyperrace.space import Space


class Timed:
    """An optimizer that records each ``decide`` of the one it wraps: epochs observed before it,
    wall and processor seconds, and the decision's info."""

    name: ClassVar[str] = "timed"

    def __init__(self, inner: Optimizer) -> None:
        self.inner = inner
        self.name = inner.name  # type: ignore[misc]
        self.rows: list[tuple[int, float, float, dict[str, Any]]] = []

    def get_params(self) -> dict[str, Any]:
        return self.inner.get_params()

    def decide(self, space: Space, history: History, rng: np.random.Generator) -> Decision:
        t0, c0 = time.perf_counter(), time.process_time()
        decision = self.inner.decide(space, history, rng)
        wall, cpu = time.perf_counter() - t0, time.process_time() - c0
        info = dict(getattr(decision, "info", {}))
        self.rows.append((sum(len(t.curve) for t in history.trials), wall, cpu, info))
        return decision


Row = tuple[int, float, float, dict[str, Any]]


def _stats(rows: list[Row]) -> str:
    if not rows:
        return "| - | - | - | - | 0 |"
    wall = np.array([r[1] for r in rows])
    cpu = np.array([r[2] for r in rows])
    return (
        f"| {np.median(wall):.4f} | {np.quantile(wall, 0.9):.4f} | {wall.max():.4f} "
        f"| {np.median(cpu):.4f} | {len(rows)} |"
    )


HEAD = "| median s | p90 s | max s | median CPU s | decisions |\n|---|---:|---:|---:|---:|---:|"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--epochs", type=int, default=1000, help="observe at least this many")
    parser.add_argument("--bin", type=int, default=200, help="width of an epoch bin")
    parser.add_argument("--max-epochs", type=int, default=27, help="the task's max fidelity")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--optimizer", default="race", help="a registered name")
    parser.add_argument("--params", default="{}", help="its parameters as JSON")
    parser.add_argument("--lcbench", default=None, help="an LCBench instance (default: synthetic)")
    parser.add_argument("--workers", type=int, default=1, help="jobs kept in flight")
    args = parser.parse_args(argv)
    task: Any = (
        LCBench(args.lcbench)
        if args.lcbench
        else SyntheticCurves(seed=args.seed, max_epochs=args.max_epochs)
    )
    timed = Timed(make_optimizer(args.optimizer, json.loads(args.params)))
    study = hr.Study("overhead", task.space, storage="memory://", seed=args.seed, optimizer=timed)
    epochs = 0
    t0 = time.perf_counter()
    flight: list[hr.Job] = []
    while epochs < args.epochs:
        job = study.ask()
        if isinstance(job, hr.Job):
            flight.append(job)
        if not flight:
            break
        if len(flight) < args.workers and isinstance(job, hr.Job):
            continue
        job = flight.pop(0)
        for f in range(int(job.start) + 1, int(job.stop) + 1):
            study.report(job.trial_id, fidelity=f, value=task.step(job.config, f).value)
            epochs += 1
        study.tell(job)
    rows = timed.rows
    print(repr(timed.inner))
    print(
        f"{len(rows)} decisions, {epochs} epochs observed, {len(study.trials)} trials, "
        f"{args.workers} worker(s), "
        f"{time.perf_counter() - t0:.1f} s in all, {sum(r[1] for r in rows):.1f} s deciding; "
        "wall seconds (the machine's load counts) and processor seconds (one thread)\n"
    )
    print("| observed epochs " + HEAD)
    for lo in range(0, epochs + 1, args.bin):
        sel = [r for r in rows if lo <= r[0] < lo + args.bin]
        if sel:
            print(f"| {lo}-{lo + args.bin - 1} {_stats(sel)}")
    fits: dict[str, list[Row]] = {"scratch": [], "warm": [], "none": []}
    previous = None
    for r in rows:
        if r[3].get("source") != "model":
            continue
        at = r[3].get("fitted_at")
        kind = "scratch" if r[3].get("scratch") else "warm"
        fits[kind if at != previous else "none"].append(r)
        previous = at
    print("\n| model decisions " + HEAD)
    print(f"| with a fit from scratch {_stats(fits['scratch'])}")
    print(f"| with a warm-started fit {_stats(fits['warm'])}")
    print(f"| reusing the last fit {_stats(fits['none'])}")
    late = [r for r in rows if r[0] >= 800]
    print(f"| all decisions at 800+ observed epochs {_stats(late)}")
    sources: dict[str, int] = {}
    for r in rows:
        sources[str(r[3].get("source"))] = sources.get(str(r[3].get("source")), 0) + 1
    print(
        f"\nsources: {sources}; all decisions: median {statistics.median(r[1] for r in rows):.4f} s"
        f" wall, {statistics.median(r[2] for r in rows):.4f} s CPU; in all "
        f"{sum(r[1] for r in rows):.1f} s wall, {sum(r[2] for r in rows):.1f} s CPU"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
