"""Multi-fidelity optimizers against random search on synthetic learning curves.

Every optimizer gets the same epoch budget (epochs actually trained, a resumed trial paying only
its new epochs) on the same tasks (:class:`hyperrace.benchmarks.SyntheticCurves`, whose optimum
is known) with the same seeds, driven one job at a time through ``Study.ask(budget)``. The
regret of a run is the true final loss (noise-free, at the maximum fidelity) of the incumbent —
the best trial among those at the highest fidelity reached — less the task's optimum. Printed:
mean regret over tasks x seeds at 25, 50 and 100 % of the budget, the mean rank, and in how many
of the paired runs each optimizer beat random search at the end.

    .venv/bin/python benchmarks/multifidelity.py --seeds 10 --tasks 3
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from typing import Any

import numpy as np

import hyperrace as hr
from hyperrace.benchmarks import SyntheticCurves
from hyperrace.optimizers import available, make_optimizer

FRACTIONS = (0.25, 0.5, 1.0)


def make(optimizer: str, task: SyntheticCurves, budget: float) -> Any:
    """The optimizer by name; one-epoch top-K is sized to spend the budget (half of it ranking
    configurations after one epoch, half training the best in full), since it stops by itself."""
    if optimizer == "one_epoch_top_k":
        half = budget / 2
        return make_optimizer(
            optimizer, {"n_configs": int(half), "k": max(1, int(half // (task.max_epochs - 1)))}
        )
    return make_optimizer(optimizer)


def run(optimizer: str, task: SyntheticCurves, seed: int, budget: float) -> dict[str, Any]:
    """One run; returns the regret of the incumbent at each budget fraction."""
    study = hr.Study(
        f"{optimizer}-{seed}",
        task.space,
        storage="memory://",
        seed=seed,
        optimizer=make(optimizer, task, budget),
    )
    marks = [f * budget for f in FRACTIONS]
    regrets: list[float] = []
    t0 = time.perf_counter()
    decisions = 0
    while True:
        job = study.ask(hr.Budget(epochs=budget))
        if not isinstance(job, hr.Job):
            break
        decisions += 1
        for epoch in range(int(job.start) + 1, int(job.stop) + 1):
            study.report(job.trial_id, fidelity=epoch, value=task.value(job.config, epoch))
            work = study.history().work if marks and len(regrets) < len(marks) else 0.0
            while len(regrets) < len(marks) and work >= marks[len(regrets)]:
                regrets.append(_regret(study, task))
        study.tell(job)
    while len(regrets) < len(marks):
        regrets.append(_regret(study, task))
    return {
        "optimizer": optimizer,
        "task": task.seed,
        "seed": seed,
        "regret": regrets,
        "decisions": decisions,
        "seconds": time.perf_counter() - t0,
        "work": study.history().work,
        "trials": len(study.trials),
    }


def _regret(study: hr.Study, task: SyntheticCurves) -> float:
    best = study.history().best()
    if best is None:
        return float("inf")
    return task.final_loss(best.config) - task.optimum


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--optimizers",
        default=",".join(
            n
            for n in (
                "random",
                "successive_halving",
                "hyperband",
                "asha",
                "bohb",
                "dehb",
                "one_epoch_top_k",
            )
            if n in available()
        ),
    )
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--tasks", type=int, default=3)
    parser.add_argument("--max-epochs", type=int, default=27)
    parser.add_argument(
        "--budget", type=float, default=None, help="epochs per run (default: 40 full trainings)"
    )
    parser.add_argument("--out", default=None, help="write every run as JSON lines")
    args = parser.parse_args(argv)
    names = args.optimizers.split(",")
    budget = args.budget or 40.0 * args.max_epochs
    rows = []
    for task_seed in range(args.tasks):
        task = SyntheticCurves(seed=task_seed, max_epochs=args.max_epochs)
        for seed in range(args.seeds):
            for name in names:
                rows.append(run(name, task, seed, budget))
                print(
                    f"task {task_seed} seed {seed} {name:20s} regret {rows[-1]['regret'][-1]:.4f}",
                    file=sys.stderr,
                )
    if args.out:
        with open(args.out, "w", encoding="utf-8") as fh:
            for row in rows:
                fh.write(json.dumps(row) + "\n")
    print(table(rows, names, budget, args))
    return 0


def table(rows: list[dict[str, Any]], names: list[str], budget: float, args: Any) -> str:
    by = {(r["optimizer"], r["task"], r["seed"]): r for r in rows}
    keys = sorted({(r["task"], r["seed"]) for r in rows})
    final = np.array([[by[(n, *k)]["regret"][-1] for n in names] for k in keys])
    ranks = np.array([np.argsort(np.argsort(row)) + 1 for row in final])  # ties: by order
    lines = [
        f"Synthetic curves, {args.tasks} tasks x {args.seeds} seeds, budget {budget:g} epochs "
        f"(max fidelity {args.max_epochs}), one worker. Mean regret (sem) of the incumbent:",
        "",
        "| optimizer | 25 % | 50 % | 100 % | mean rank | beats random (paired runs) | s per run |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for j, n in enumerate(names):
        cells = []
        for i in range(len(FRACTIONS)):
            vals = [by[(n, *k)]["regret"][i] for k in keys]
            sem = statistics.stdev(vals) / len(vals) ** 0.5 if len(vals) > 1 else 0.0
            cells.append(f"{statistics.mean(vals):.4f} ({sem:.4f})")
        wins = "-"
        if "random" in names and n != "random":
            r = names.index("random")
            wins = f"{int(np.sum(final[:, j] < final[:, r]))}/{len(keys)}"
        secs = statistics.median(by[(n, *k)]["seconds"] for k in keys)
        lines.append(
            f"| {n} | {' | '.join(cells)} | {ranks[:, j].mean():.2f} | {wins} | {secs:.2f} |"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    raise SystemExit(main())
