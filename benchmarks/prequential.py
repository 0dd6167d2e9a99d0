"""The race's surrogates judged on what a race asks of them: the next reports of a run.

One run of an optimizer (``--optimizer``, a ``name:key=value`` label as ``hyperrace benchmark``
takes; ``race`` by default) on each instance, under the benchmark's protocol (simulated clock,
one worker, ``--budget`` epochs). Then, every ``--every`` reports from the 30th, each surrogate
(``--surrogates``: the race's own, built as ``race`` builds it, so with the race's parameters)
gets the study as it was after the first ``p`` reports (as
:class:`~hyperrace.optimizers._parts.data.curve_data.CurveData`, the way the race reads it) and
predicts the next ``--window`` reports, each at its configuration and fidelity (a continuation
of a trial it knows, or a configuration it has not seen): this is prequential, every prediction
made before its value was seen. Per instance and surrogate, over the cutoffs:

* ``ll``: the mean and median log density of the reported losses (the mean punishes a confident
  miss without bound; the median shows the typical cutoff);
* ``rho``: Spearman's rank correlation between the predicted means and the reported losses,
  averaged over the cutoffs: how well the surrogate orders what comes next, which is what a
  race's choice between candidates rests on;
* ``mae``: the mean absolute error of the predicted means, and ``std`` the median predicted
  standard deviation;
* ``z new`` and ``z cont``: the median of ``|loss - mean| / std`` over the reports of
  configurations the surrogate had not seen and over continuations of trials it had (0.67 for a
  calibrated normal prediction; larger: too sure). A race weighs a fresh configuration against a
  continuation by these two spreads, so their ratio matters where one common factor would not.

A probability-of-improvement acquisition ranks candidates by ``(threshold - mean) / std``, so a
surrogate whose every standard deviation is off by one common factor ranks them the same: the
log density measures calibration, the rank correlation the ordering.

    nice .venv/bin/python benchmarks/prequential.py --task torch --instances all-loss --seed 100 \
        --budget 200 --out benchmarks/results/prequential/torch-loss.json
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from hyperrace.benchmarks._families import make_task
from hyperrace.benchmarks._harness import RunConfig, parse_label, simulate
from hyperrace.benchmarks._task import Task
from hyperrace.history import History
from hyperrace.optimizers import make_optimizer
from hyperrace.optimizers._parts.data.curve_data import CurveData
from hyperrace.optimizers._parts.data.onehot import OneHot
from hyperrace.optimizers._parts.surrogate.base import Queries, Surrogate
from hyperrace.optimizers._race import Race
from hyperrace.trial import TrialStatus

_FIRST = 30


def run(task: Task, label: str, seed: int, budget: float) -> History:
    """The history of one run of ``label`` on ``task`` (one simulated worker)."""
    name, params = parse_label(label)
    config = RunConfig(label, seed, budget)
    study, _, _ = simulate(task, config, make_optimizer(name, params))
    return study.history()


def score(
    task: Task, history: History, models: Mapping[str, Surrogate], window: int, every: int
) -> dict[str, Any]:
    """Each surrogate's prequential scores along ``history`` (see the module docstring), by
    name."""
    from scipy.stats import spearmanr

    fidelity = task.space.fidelity
    assert fidelity is not None
    low, high = float(fidelity.low), float(fidelity.high)
    enc = OneHot(task.space)
    patience = Race()._patience(low, high)  # the race's default
    reports = sorted(
        ((o.seq, t.trial_id, o) for t in history.trials for o in t.curve), key=lambda r: r[0]
    )
    configs = {t.trial_id: t.config for t in history.trials}
    rows: dict[str, list[tuple[float, ...]]] = {s: [] for s in models}
    seconds = dict.fromkeys(models, 0.0)
    for p in range(_FIRST, len(reports) - window + 1, every):
        kept: dict[int, list[Any]] = {}
        for _, tid, obs in reports[:p]:
            kept.setdefault(tid, []).append(obs)
        # a trial cut short was paused then (a failure counts once its last report is in)
        trials = tuple(
            dataclasses.replace(
                t,
                curve=tuple(kept[t.trial_id]),
                status=t.status if len(kept[t.trial_id]) == len(t.curve) else TrialStatus.PAUSED,
            )
            for t in history.trials
            if t.trial_id in kept
        )
        data = CurveData.collect(
            enc, dataclasses.replace(history, trials=trials, decisions=()), low, high, 1.0
        )
        index = {t.trial_id: i for i, t in enumerate(data.trials)}
        nxt = reports[p : p + window]
        queries = Queries(
            np.vstack([enc.encode_valid(configs[tid]) for _, tid, _ in nxt]),
            np.array([o.fidelity for _, _, o in nxt], dtype=np.float64),
            np.array([index.get(tid, -1) for _, tid, _ in nxt], dtype=np.int64),
        )
        y = np.array([history.loss(o.value) for _, _, o in nxt], dtype=np.float64)
        for s, surrogate in models.items():
            t0 = time.process_time()
            model = surrogate.model(data, low, high, patience)
            if model is None:
                continue
            pred = model.predict(queries)
            seconds[s] += time.process_time() - t0
            rho = float(spearmanr(pred.mean, y).statistic) if np.ptp(y) > 0 else float("nan")
            z = np.abs(y - pred.mean) / np.maximum(pred.std, 1e-12)
            new = queries.trial < 0
            rows[s].append(
                (
                    float(np.mean(pred.log_density(y))),
                    rho,
                    float(np.mean(np.abs(pred.mean - y))),
                    float(np.median(pred.std)),
                    float(np.median(z[new])) if new.any() else float("nan"),
                    float(np.median(z[~new])) if (~new).any() else float("nan"),
                )
            )
    out: dict[str, Any] = {"reports": len(reports), "trials": len(history.trials)}
    for s, r in rows.items():
        a = np.array(r, dtype=np.float64).reshape(-1, 6)
        out[s] = {
            "cutoffs": len(a),
            "ll_mean": float(np.mean(a[:, 0])),
            "ll_median": float(np.median(a[:, 0])),
            "rho": float(np.nanmean(a[:, 1])),
            "mae": float(np.mean(a[:, 2])),
            "std": float(np.median(a[:, 3])),
            "z_new": float(np.nanmedian(a[:, 4])),
            "z_cont": float(np.nanmedian(a[:, 5])),
            "cpu_seconds": seconds[s],
        }
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--task", choices=("lcbench", "torch"), default="lcbench")
    parser.add_argument("--instances", default="3945,167152,189354")
    parser.add_argument("--optimizer", default="race", help="the run's optimizer label")
    parser.add_argument("--surrogates", default="dpl,pfn")
    parser.add_argument("--seed", type=int, default=100)
    parser.add_argument("--budget", type=float, default=1000.0)
    parser.add_argument("--window", type=int, default=20, help="reports predicted per cutoff")
    parser.add_argument("--every", type=int, default=10, help="reports between cutoffs")
    parser.add_argument("--out", type=Path, default=None, help="JSON results")
    args = parser.parse_args()
    if args.window < 2 or args.every < 1:
        parser.error(f"--window {args.window} must be >= 2 and --every {args.every} >= 1")
    instances = args.instances
    if args.task == "torch" and instances in ("all", "all-loss"):
        suffix = "-loss" if instances == "all-loss" else ""
        instances = ",".join(f"{n}{suffix}" for n in ("breast-cancer", "digits", "digits-cnn"))
    surrogates = args.surrogates.split(",")
    results: dict[str, Any] = {"args": {k: str(v) for k, v in vars(args).items()}}
    heads = " | ".join(f"{s}: ll mean / median, rho, mae, std, z new / cont" for s in surrogates)
    print(f"| instance | reports | {heads} |")
    print(f"|---|---:|{'---:|' * len(surrogates)}")
    for name in instances.split(","):
        task = make_task(args.task, name)
        history = run(task, args.optimizer, args.seed, args.budget)
        models = {s: Race(surrogate=s)._surrogate for s in surrogates}
        res = score(task, history, models, args.window, args.every)
        results[task.name] = res
        cells = [
            f"{res[s]['ll_mean']:.2f} / {res[s]['ll_median']:.2f}, {res[s]['rho']:.2f}, "
            f"{res[s]['mae']:.3f}, {res[s]['std']:.3f}, "
            f"{res[s]['z_new']:.2f} / {res[s]['z_cont']:.2f}"
            for s in surrogates
        ]
        print(f"| {task.name} | {res['reports']} | {' | '.join(cells)} |", flush=True)
        if args.out is not None:
            args.out.write_text(json.dumps(results, indent=1) + "\n")


if __name__ == "__main__":
    main()
