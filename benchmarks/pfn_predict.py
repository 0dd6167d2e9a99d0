"""The race's surrogates judged as predictors of final values, on curves none of them trained on.

For each task, ``--others + --targets`` configurations are drawn from its space (a generator
seeded by the task and ``--seed``) with their whole learning curves. The context is the study a
surrogate would see: the ``--others`` trials observed up to a random epoch each (uniform over
1 .. the last), and the ``--targets`` trials observed up to the first 10, 25 or 50 % of the
epochs. Each surrogate gets the same context (as :class:`~hyperrace.optimizers._parts.data.
curve_data.CurveData`, as the race builds it) and predicts the targets' losses at the last epoch;
printed per fraction: the log-likelihood of the true final losses (per task its mean over the
targets, and its median, averaged over tasks; the mean punishes a confident miss without bound,
the median shows the typical target), the mean absolute error of the predicted mean and of the
predicted median (the same for a Gaussian; against the naive ``last``: the final value is the
last one seen), and the processor seconds per task. A
flat density over [0, 1] scores a log-likelihood of 0 on these errors.

Tasks: the 34 LCBench instances (YAHPO surrogate, validation error, 52 epochs) and the real
PyTorch tasks' curves (``digits``, ``digits-cnn``, ``breast-cancer``: validation error per
epoch). Those curves are trained once by random configurations and kept in ``--torch-curves``
(JSON; trained again when the file is missing).

    nice -n 19 .venv/bin/python benchmarks/pfn_predict.py --out benchmarks/results/pfn-predict.json

Surrogates: ``pfn`` (the shipped weights, or ``--weights``), ``dpl`` and ``deep_kernel`` with
their defaults, each rebuilt fresh for each context (the fits a fresh race would replay).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import time
from pathlib import Path
from typing import Any

import numpy as np

import hyperrace as hr
from hyperrace.benchmarks import (
    LCBench,
    breast_cancer_space,
    digits_cnn_space,
    digits_space,
    train_breast_cancer,
    train_digits,
    train_digits_cnn,
)
from hyperrace.optimizers._parts.data.curve_data import CurveData
from hyperrace.optimizers._parts.data.onehot import OneHot
from hyperrace.optimizers._parts.surrogate.base import Queries
from hyperrace.optimizers._race import SURROGATES
from hyperrace.space import Space
from hyperrace.trial import Observation, TrialRecord, TrialStatus

FRACTIONS = (0.1, 0.25, 0.5)
TORCH_TASKS = {
    "digits": (digits_space, train_digits),
    "digits-cnn": (digits_cnn_space, train_digits_cnn),
    "breast-cancer": (breast_cancer_space, train_breast_cancer),
}


def _rng(*key: object) -> np.random.Generator:
    digest = hashlib.sha256(repr(key).encode()).digest()
    return np.random.default_rng(int.from_bytes(digest[:8], "little"))


def torch_curves(path: Path, n: int, seed: int) -> dict[str, dict[str, Any]]:
    """Per real task: ``n`` random configurations and their validation-error curves (kept in
    ``path``)."""
    if path.exists():
        out: dict[str, dict[str, Any]] = json.loads(path.read_text())
        if all(len(v["configs"]) >= n for v in out.values()) and set(out) == set(TORCH_TASKS):
            return out
    out = {}
    for name, (space_fn, objective) in TORCH_TASKS.items():
        space = space_fn()
        assert space.fidelity is not None
        high = int(space.fidelity.high)
        study = hr.Study(
            f"curves-{name}", space, storage="memory://", seed=seed, optimizer="random"
        )
        t0 = time.time()
        study.optimize(objective, budget=hr.Budget(epochs=n * high), workers=1, progress=False)
        done = [t for t in study.trials if len(t.curve) == high]
        out[name] = {
            "configs": [dict(t.config) for t in done],
            "curves": [[o.value for o in t.curve] for t in done],
        }
        print(
            f"{name}: {len(done)} curves of {high} epochs in {time.time() - t0:.0f} s", flush=True
        )
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(out))
    return out


def context(
    space: Space,
    configs: list[dict[str, Any]],
    curves: np.ndarray,
    n_targets: int,
    frac: float,
    rng: np.random.Generator,
) -> tuple[CurveData, Queries, np.ndarray]:
    """The data a surrogate sees, the queries (targets at the last epoch) and their truths."""
    n, high = curves.shape
    prefix = rng.integers(1, high + 1, size=n)  # the others' observed epochs
    seen = max(1, round(frac * high))
    prefix[:n_targets] = seen
    trials = []
    seq = 0
    order = rng.permutation(n)  # trials created in a random order, targets among them
    for number, i in enumerate(order):
        obs = []
        for e in range(int(prefix[i])):
            seq += 1
            obs.append(Observation(float(e + 1), float(curves[i, e]), seq=seq))
        status = TrialStatus.COMPLETED if prefix[i] == high else TrialStatus.PAUSED
        trials.append(
            TrialRecord(number + 1, number, configs[i], status, tuple(obs), target=float(prefix[i]))
        )
    history = hr.History("minimize", tuple(trials))
    data = CurveData.collect(OneHot(space), history, 1.0, float(high), 1.0)
    where = {int(i): k for k, i in enumerate(order)}
    rows = np.array([where[i] for i in range(n_targets)], dtype=np.int64)
    queries = Queries(data.x[rows], np.full(n_targets, float(high)), rows)
    return data, queries, curves[:n_targets, -1]


def score(
    name: str,
    params: dict[str, Any],
    data: CurveData,
    queries: Queries,
    truth: np.ndarray,
    high: float,
) -> dict[str, float]:
    if name == "last":  # the naive baseline: the final value is the last one seen
        last = np.array([data.curves[int(i)][-1] for i in queries.trial])
        return {
            "ll": math.nan,
            "ll_median": math.nan,
            "mae": float(np.mean(np.abs(last - truth))),
            "seconds": 0.0,
        }
    surrogate = SURROGATES[name](**params)
    t0 = time.process_time()
    model = surrogate.model(data, 1.0, high, max(20, math.ceil(1.2 * high)))
    if model is None:
        return {
            "ll": math.nan,
            "ll_median": math.nan,
            "mae": math.nan,
            "seconds": time.process_time() - t0,
        }
    pred = model.predict(queries)
    seconds = time.process_time() - t0
    ll = pred.log_density(truth)
    return {
        "ll": float(np.mean(np.maximum(ll, -1e6))),
        "ll_median": float(np.median(ll)),
        "mae": float(np.mean(np.abs(pred.mean - truth))),
        "mae_median": float(
            np.mean(
                np.abs((pred.quantile(0.5) if hasattr(pred, "quantile") else pred.mean) - truth)
            )
        ),
        "seconds": seconds,
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--instances", default="all", help="LCBench instances, comma-separated")
    p.add_argument(
        "--torch", default="all", help="real tasks (digits,digits-cnn,breast-cancer) or none"
    )
    p.add_argument("--others", type=int, default=20)
    p.add_argument("--targets", type=int, default=10)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--surrogates",
        default="pfn,dpl,deep_kernel,last",
        help="race surrogates, and last (the last value seen: a baseline for the error)",
    )
    p.add_argument("--weights", default=None, help="PFN weights (default: the shipped ones)")
    p.add_argument(
        "--torch-curves",
        type=Path,
        default=Path(__file__).parent / "results" / "pfn-torch-curves.json",
    )
    p.add_argument("--out", type=Path, default=None, help="write every row here (JSON)")
    p.add_argument(
        "--rows",
        type=Path,
        action="append",
        default=[],
        help="rows of an earlier --out to add to the table (e.g. the other surrogates')",
    )
    args = p.parse_args()
    names = args.surrogates.split(",")
    params = {n: {} for n in names}
    if args.weights and "pfn" in params:
        params["pfn"] = {"weights": args.weights}
    n = args.others + args.targets

    tasks: list[tuple[str, Space, list[dict[str, Any]], np.ndarray]] = []
    instances = LCBench.instances() if args.instances == "all" else args.instances.split(",")
    for inst in [i for i in instances if i]:
        task = LCBench(inst)
        configs = [task.space.sample(_rng("lcbench", inst, args.seed, k)) for k in range(n)]
        configs = [{k: v for k, v in c.items() if k != "epoch"} for c in configs]
        tasks.append((f"lcbench/{inst}", task.space, configs, task.curves(configs)))
    if args.torch != "none":
        chosen = list(TORCH_TASKS) if args.torch == "all" else args.torch.split(",")
        cached = torch_curves(args.torch_curves, n, args.seed)
        for name in chosen:
            c = cached[name]
            tasks.append(
                (
                    name,
                    TORCH_TASKS[name][0](),
                    c["configs"][:n],
                    np.array(c["curves"][:n], dtype=np.float64),
                )
            )

    rows = []
    for extra in args.rows:
        rows.extend(r for r in json.loads(extra.read_text())["rows"] if r["surrogate"] not in names)
    names = names + sorted({r["surrogate"] for r in rows} - set(names))
    for label, space, configs, curves in tasks:
        for frac in FRACTIONS:
            rng = _rng(label, frac, args.seed)
            data, queries, truth = context(space, configs, curves, args.targets, frac, rng)
            for name in [n for n in names if n in params]:
                r = score(name, params[name], data, queries, truth, float(curves.shape[1]))
                rows.append(
                    {"task": label, "fraction": frac, "surrogate": name, "points": len(data), **r}
                )
                print(json.dumps(rows[-1]), flush=True)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(
            json.dumps({"args": {k: str(v) for k, v in vars(args).items()}, "rows": rows}, indent=1)
        )
    print()
    for family, pick in (
        ("LCBench (34)", lambda t: t.startswith("lcbench/")),
        ("PyTorch tasks", lambda t: not t.startswith("lcbench/")),
    ):
        sel = [r for r in rows if pick(r["task"])]
        if not sel:
            continue
        ntask = len({r["task"] for r in sel})
        print(f"{family}: {ntask} tasks, {args.targets} targets each, {args.others} others")
        print(
            "| surrogate | fraction | mean log-lik | median log-lik | MAE of the mean "
            "| MAE of the median | tasks with best LL | s/task |"
        )
        print("|---|---:|---:|---:|---:|---:|---:|---:|")
        for frac in FRACTIONS:
            here = [r for r in sel if r["fraction"] == frac]
            best: dict[str, int] = {}
            for t in {r["task"] for r in here}:
                cand = [r for r in here if r["task"] == t and not math.isnan(r["ll"])]
                if cand:
                    w = max(cand, key=lambda r: r["ll"])["surrogate"]
                    best[w] = best.get(w, 0) + 1
            for name in names:
                mine = [r for r in here if r["surrogate"] == name]
                if not mine:
                    continue
                ll = np.mean([r["ll"] for r in mine])
                med = np.mean([r["ll_median"] for r in mine])
                mae = np.mean([r["mae"] for r in mine])
                mmed = np.mean([r.get("mae_median", r["mae"]) for r in mine])
                sec = np.mean([r["seconds"] for r in mine])
                print(
                    f"| {name} | {frac:.0%} | {ll:.3f} | {med:.3f} | {mae:.4f} | {mmed:.4f} "
                    f"| {best.get(name, 0) if not math.isnan(ll) else '-'} | {sec:.2f} |"
                )


if __name__ == "__main__":
    main()
