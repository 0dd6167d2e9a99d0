"""Full-fidelity model-based optimizers against random search on standard test functions.

Each optimizer minimises Branin, Hartmann-6, Ackley-10 and Levy-10 (their minima are known) for
``--evaluations`` evaluations, one at a time through ask / report / tell, with the same seeds.
Printed: the mean simple regret (best value found less the minimum) at each checkpoint of
``--at``, in how many paired runs each optimizer beat random search there, and the median time
of one decision (``Study.ask``: history read, model fit, acquisition) by number of observations.
Independent runs go to ``--jobs`` processes.

The peer ``optuna-tpe`` is Optuna's ``TPESampler(seed=seed)`` with its defaults (its ask and one
``suggest_*`` per hyperparameter are the decision), ``optuna-tpe-mv`` the same with
``multivariate=True``; both need the ``bench`` extra. A hyperrace optimizer can be given
parameters as ``name:key=value+key=value`` (JSON values), e.g. ``tpe:recombine=0.5``.

    .venv/bin/python benchmarks/fullfidelity.py --seeds 10 --evaluations 200 --at 50,200
"""

from __future__ import annotations

import argparse
import concurrent.futures as cf
import json
import statistics
import sys
import time
from typing import Any

import numpy as np

import hyperrace as hr
from hyperrace.benchmarks import FUNCTIONS
from hyperrace.optimizers import make_optimizer

#: peers run through their own API: name -> TPESampler keyword arguments
OPTUNA = {"optuna-tpe": {}, "optuna-tpe-mv": {"multivariate": True}}


def run_optuna(optimizer: str, function: str, seed: int, evaluations: int) -> dict[str, Any]:
    """:func:`run` for an Optuna peer: its ask and suggestions are the decision."""
    import warnings

    import optuna

    from hyperrace.benchmarks.peers._optuna import suggest

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
    f = FUNCTIONS[function]()
    sampler = optuna.samplers.TPESampler(seed=seed, **OPTUNA[optimizer])
    study = optuna.create_study(direction="minimize", sampler=sampler)
    best, regret, seconds = np.inf, [], []
    for _ in range(evaluations):
        t0 = time.perf_counter()
        trial = study.ask()
        config = suggest(trial, f.space)
        seconds.append(time.perf_counter() - t0)
        value = f.value(config)
        study.tell(trial, value)
        best = min(best, value)
        regret.append(best - f.optimum)
    return {
        "optimizer": optimizer,
        "function": function,
        "seed": seed,
        "regret": regret,
        "seconds": seconds,
    }


def run(optimizer: str, function: str, seed: int, evaluations: int) -> dict[str, Any]:
    """One run: best-so-far regret after each evaluation, seconds of each decision."""
    if optimizer in OPTUNA:
        return run_optuna(optimizer, function, seed, evaluations)
    f = FUNCTIONS[function]()
    name, _, given = optimizer.partition(":")
    params = {k: json.loads(v) for k, v in (p.split("=", 1) for p in given.split("+") if p)}
    study = hr.Study(
        f"{optimizer}-{function}-{seed}",
        f.space,
        storage="memory://",
        seed=seed,
        optimizer=make_optimizer(name, params),
    )
    best, regret, seconds = np.inf, [], []
    for _ in range(evaluations):
        t0 = time.perf_counter()
        job = study.ask()
        seconds.append(time.perf_counter() - t0)
        if not isinstance(job, hr.Job):
            break
        value = f.value(job.config)
        study.report(job.trial_id, fidelity=1, value=value)
        study.tell(job)
        best = min(best, value)
        regret.append(best - f.optimum)
    return {
        "optimizer": optimizer,
        "function": function,
        "seed": seed,
        "regret": regret,
        "seconds": seconds,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--optimizers", default="random,gp_ei,rbf_dycors,tpe")
    parser.add_argument("--functions", default=",".join(FUNCTIONS))
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--evaluations", type=int, default=200)
    parser.add_argument("--at", default="50,200")
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--out", default=None, help="write every run as JSON lines")
    args = parser.parse_args(argv)
    names, functions = args.optimizers.split(","), args.functions.split(",")
    at = [int(a) for a in args.at.split(",")]
    tasks = [
        (n, fn, s, args.evaluations) for fn in functions for s in range(args.seeds) for n in names
    ]
    rows = []
    with cf.ProcessPoolExecutor(args.jobs) as pool:
        for row in pool.map(run, *zip(*tasks, strict=True)):
            rows.append(row)
            print(
                f"{row['function']} seed {row['seed']} {row['optimizer']}: regret "
                f"{row['regret'][-1]:.4g}",
                file=sys.stderr,
            )
    if args.out:
        with open(args.out, "w", encoding="utf-8") as fh:
            for row in rows:
                fh.write(json.dumps(row) + "\n")
    print(report(rows, names, functions, at, args))
    return 0


def report(
    rows: list[dict[str, Any]], names: list[str], functions: list[str], at: list[int], args: Any
) -> str:
    by = {(r["optimizer"], r["function"], r["seed"]): r for r in rows}
    out = [
        f"{args.seeds} seeds, {args.evaluations} evaluations, one at a time. Mean regret "
        "(wins over random in paired runs):",
        "",
    ]
    head = "| function | " + " | ".join(f"{n} @{a}" for a in at for n in names) + " |"
    out += [head, "|---|" + "---:|" * (len(at) * len(names))]
    for fn in functions:
        cells = []
        for a in at:
            for n in names:
                vals = [by[(n, fn, s)]["regret"][a - 1] for s in range(args.seeds)]
                cell = f"{statistics.mean(vals):.3g}"
                if n != "random" and "random" in names:
                    rand = [by[("random", fn, s)]["regret"][a - 1] for s in range(args.seeds)]
                    cell += f" ({sum(v < r for v, r in zip(vals, rand, strict=True))}/{len(vals)})"
                cells.append(cell)
        out.append(f"| {fn} | " + " | ".join(cells) + " |")
    marks = [m for m in (10, 50, 100, 200, 300, 500) if m <= args.evaluations]
    out += [
        "",
        "Median seconds per decision by observations so far (all functions, seeds):",
        "",
        "| optimizer | " + " | ".join(str(m) for m in marks) + " | max |",
        "|---|" + "---:|" * (len(marks) + 1),
    ]
    for n in names:
        runs = [r for r in rows if r["optimizer"] == n]
        cells = [f"{statistics.median(r['seconds'][m - 1] for r in runs):.4f}" for m in marks]
        worst = max(max(r["seconds"]) for r in runs)
        out.append(f"| {n} | " + " | ".join(cells) + f" | {worst:.3f} |")
    return "\n".join(out)


if __name__ == "__main__":
    raise SystemExit(main())
