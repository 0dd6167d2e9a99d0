"""The race's scorecard on a benchmark grid: the figures its issue asks for, from results files.

Reads the records of ``hyperrace benchmark`` runs (one or more ``results.jsonl``) and prints, for
one candidate optimizer (``--candidate``, default ``race``) against every other optimizer in the
records:

* mean normalised regret at fixed epochs (100, 300, 1000) and at 10/25/50/100 % of the budget:
  per instance the mean over its seeds, then the mean over instances;
* mean rank at 10/25/50/100 % of the budget, per (instance, seed) among the optimizers that ran
  it (a (instance, seed) not every optimizer ran is left out, as ``hyperrace benchmark`` does);
* the candidate's mean regret over the best other optimizer's, at each of those budgets;
* per instance, the candidate's mean regret over ``--versus``'s (default ``hyperband``), and on
  how many instances it is at most ``--within`` (default 1.2) times it;
* the same on a subset of instances (``--confirm``: those not looked at while tuning);
* with ``--per-instance``, each instance's final regret per optimizer (mean +- standard error
  over seeds) and the candidate's standing there: first, within one standard error of the
  first (its mean at most the first's plus the larger of the two errors), or behind.

Regret is normalised by the best and worst final loss of 10,000 random configurations of each
instance, 256 for the real PyTorch tasks of ``--task torch``
(``hyperrace.benchmarks.reference_range``; cached).

Usage::

    .venv/bin/python benchmarks/race_report.py benchmarks/results/lcbench-all/results.jsonl \\
        --candidate race --confirm-exclude 3945,7593,... [--seeds 0-4] [--out report.md]
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from hyperrace.benchmarks._families import make_task
from hyperrace.benchmarks._harness import best_at
from hyperrace.benchmarks._report import normalised_regret

EPOCHS = (100.0, 300.0, 1000.0)
FRACTIONS = (0.1, 0.25, 0.5, 1.0)


def load(paths: Iterable[str]) -> list[dict[str, Any]]:
    """Every record of the files (a later record of the same run replaces an earlier one)."""
    runs: dict[tuple[Any, ...], dict[str, Any]] = {}
    for path in paths:
        with open(path) as f:
            for line in f:
                if line.strip():
                    r = json.loads(line)
                    key = (r["task"], r["optimizer"], r["seed"], r["budget"], r["workers"])
                    runs[key] = r
    return list(runs.values())


def references(tasks: Iterable[str]) -> dict[str, tuple[float, float]]:
    from hyperrace.benchmarks._reference import reference_range

    out = {}
    for name in tasks:
        kind, instance = name.split("-", 1)
        out[name] = reference_range(make_task(kind, instance))
    return out


def _ranks(values: np.ndarray) -> np.ndarray:
    order = np.argsort(values, kind="stable")
    ranks = np.empty(len(values))
    i = 0
    while i < len(values):
        j = i
        while j + 1 < len(values) and values[order[j + 1]] == values[order[i]]:
            j += 1
        ranks[order[i : j + 1]] = (i + j) / 2 + 1
        i = j + 1
    return ranks


def scorecard(
    records: Sequence[Mapping[str, Any]],
    refs: Mapping[str, tuple[float, float]],
    candidate: str,
    versus: str,
    within: float,
) -> dict[str, Any]:
    """The figures (see the module docstring) of ``records``."""
    points = [("epochs", e) for e in EPOCHS] + [("fraction", f) for f in FRACTIONS]
    regret: dict[tuple[str, str], dict[int, list[float]]] = defaultdict(dict)
    for r in records:
        values = []
        for kind, x in points:
            spent = x if kind == "epochs" else x * r["budget"]
            values.append(normalised_regret(best_at(r, spent), refs[r["task"]]))
        regret[(r["optimizer"], r["task"])][r["seed"]] = values
    optimizers = sorted({o for o, _ in regret})
    tasks = sorted({t for _, t in regret})
    # per instance: mean over its seeds
    per_task = {
        (o, t): np.mean(list(regret[(o, t)].values()), axis=0)
        for o in optimizers
        for t in tasks
        if (o, t) in regret
    }
    complete = [o for o in optimizers if all((o, t) in per_task for t in tasks)]
    mean = {o: np.mean([per_task[(o, t)] for t in tasks], axis=0) for o in complete}
    # ranks per (instance, seed) among the optimizers that all ran it
    rank_sum = {o: np.zeros(len(FRACTIONS)) for o in optimizers}
    rank_n = dict.fromkeys(optimizers, 0)
    seeds = sorted({s for runs in regret.values() for s in runs})
    for t in tasks:
        for s in seeds:
            names = [o for o in optimizers if s in regret.get((o, t), {})]
            if len(names) != len(optimizers):
                continue
            matrix = np.array([regret[(o, t)][s][len(EPOCHS) :] for o in names])
            for j in range(len(FRACTIONS)):
                for o, rank in zip(names, _ranks(matrix[:, j]), strict=True):
                    rank_sum[o][j] += rank
            for o in names:
                rank_n[o] += 1
    ranks = {o: rank_sum[o] / rank_n[o] if rank_n[o] else np.full(4, math.nan) for o in optimizers}
    out: dict[str, Any] = {"optimizers": optimizers, "tasks": tasks, "mean": mean, "ranks": ranks}
    # per instance: the final regret's mean over seeds and its standard error
    final = len(points) - 1
    out["final"] = {
        t: {
            o: _mean_se([v[final] for v in regret[(o, t)].values()])
            for o in optimizers
            if (o, t) in regret
        }
        for t in tasks
    }
    if candidate in mean:
        others = [o for o in complete if o != candidate]
        if others:
            best_other = np.min([mean[o] for o in others], axis=0)
            out["best_other"] = [
                others[int(np.argmin([mean[o][j] for o in others]))] for j in range(len(points))
            ]
            with np.errstate(divide="ignore", invalid="ignore"):  # a best other of 0: inf
                out["ratio"] = mean[candidate] / best_other
            # each instance's best other optimizer, picked after the fact: no one method of the
            # table reaches this mean (a floor for what the table's methods show possible)
            out["oracle"] = np.mean(
                [np.min([per_task[(o, t)] for o in others], axis=0) for t in tasks], axis=0
            )
        out["paired"] = _paired(regret, candidate, [o for o in optimizers if o != candidate])
        if versus in mean:
            final = len(EPOCHS) - 1
            per = {
                t: (per_task[(candidate, t)][final], per_task[(versus, t)][final]) for t in tasks
            }
            out["versus"] = per
            out["within"] = sum(1 for c, v in per.values() if c <= within * v or c <= 0.0)
    return out


def _mean_se(values: Sequence[float]) -> tuple[float, float]:
    """The mean and its standard error (NaN for one value)."""
    a = np.asarray(values, dtype=np.float64)
    se = float(a.std(ddof=1) / math.sqrt(len(a))) if len(a) > 1 else math.nan
    return float(a.mean()), se


def standing(per: Mapping[str, tuple[float, float]], candidate: str) -> str:
    """The candidate's place on one instance by final regret: "first", "within 1 SE" (its mean
    is at most the first's mean plus the larger of the two standard errors) or "behind"."""
    first = min(per, key=lambda o: per[o][0])
    if first == candidate or per[candidate][0] <= per[first][0]:
        return "first"
    mean, se = per[candidate]
    slack = max((x for x in (se, per[first][1]) if not math.isnan(x)), default=0.0)
    return "within 1 SE" if mean <= per[first][0] + slack else "behind"


def _paired(
    regret: Mapping[tuple[str, str], Mapping[int, Sequence[float]]],
    candidate: str,
    others: Sequence[str],
) -> dict[str, list[tuple[int, int, float, float, float]]]:
    """Per other optimizer and fixed epoch budget, over the (instance, seed) runs both made: the
    candidate's wins (lower regret), the runs, the mean difference of regret (candidate minus
    other), its standard error over the runs, and its standard error over the seeds (each
    seed's mean difference over the instances).

    The second is the honest one where the instances share a space: a study's draws depend on
    its seed alone, so on every LCBench instance seed ``s`` starts the same configurations, and
    the runs of one seed are not independent samples (the first error counts them as if they
    were)."""
    out: dict[str, list[tuple[int, int, float, float, float]]] = {}
    for o in others:
        rows = []
        for j in range(len(EPOCHS)):
            pairs = [
                (s, runs[s][j] - regret[(o, t)][s][j])
                for (name, t), runs in regret.items()
                if name == candidate
                for s in runs
                if s in regret.get((o, t), {})
            ]
            if not pairs:
                break
            diffs = np.array([d for _, d in pairs])
            mean, sem = _mean_se(diffs)
            by_seed: dict[int, list[float]] = defaultdict(list)
            for s, d in pairs:
                by_seed[s].append(d)
            _, sem_seeds = _mean_se([float(np.mean(v)) for v in by_seed.values()])
            rows.append((int((diffs < 0).sum()), len(diffs), mean, sem, sem_seeds))
        if rows:
            out[o] = rows
    return out


def markdown(
    card: Mapping[str, Any],
    candidate: str,
    versus: str,
    within: float,
    per_instance: bool = False,
) -> str:
    mean, ranks = card["mean"], card["ranks"]
    head = [f"{int(e)} ep" for e in EPOCHS] + [f"{int(f * 100)} %" for f in FRACTIONS]
    lines = [
        f"{len(card['tasks'])} instances; mean normalised regret (per instance over its seeds, "
        "then over instances) and mean rank:",
        "",
        "| optimizer | "
        + " | ".join(f"regret @{h}" for h in head)
        + " | "
        + " | ".join(f"rank @{int(f * 100)} %" for f in FRACTIONS)
        + " |",
        "|---|" + "---:|" * (len(head) + len(FRACTIONS)),
    ]
    order = sorted(mean, key=lambda o: mean[o][len(EPOCHS) - 1])
    for o in order:
        cells = [f"{v:.4f}" for v in mean[o]] + [f"{v:.2f}" for v in ranks[o]]
        name = f"**{o}**" if o == candidate else o
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    if "ratio" in card:
        lines += [
            "",
            f"{candidate} / best other: "
            + ", ".join(
                f"{h}: {r:.2f} ({b})"
                for h, r, b in zip(head, card["ratio"], card["best_other"], strict=True)
            ),
        ]
        lines.append(
            "each instance's best other optimizer, picked after the fact (its mean over seeds; "
            "then the mean over instances): "
            + ", ".join(f"{h}: {v:.4f}" for h, v in zip(head, card["oracle"], strict=True))
        )
        first = [
            j
            for j in range(len(FRACTIONS))
            if all(ranks[candidate][j] <= ranks[o][j] for o in ranks)
        ]
        lines.append(
            f"{candidate} has the best mean rank at: "
            + (", ".join(f"{int(FRACTIONS[j] * 100)} %" for j in first) or "none")
        )
    if card.get("paired"):
        lines += [
            "",
            f"Paired runs (same instance and seed): {candidate}'s wins / runs, and the mean "
            f"difference of regret ({candidate} minus the other) +- its standard error over the "
            "runs, and over the seeds (each seed's mean over the instances: the one to trust "
            "where the instances share a space, since a seed draws the same configurations on "
            "each):",
            "",
            "| against | " + " | ".join(f"@{int(e)} ep" for e in EPOCHS) + " |",
            "|---|" + "---:|" * len(EPOCHS),
        ]
        for o, rows in sorted(card["paired"].items()):
            cells = [
                f"{w}/{n}, {d:+.4f} +- {e:.4f} (seeds: +- {es:.4f})" for w, n, d, e, es in rows
            ]
            lines.append(f"| {o} | " + " | ".join(cells) + " |")
        lines.append("")
    if per_instance and card.get("final"):
        lines += [
            "",
            "Per instance, the final regret (mean over seeds +- its standard error; the first in "
            f"bold) and {candidate}'s standing:",
            "",
            "| instance | " + " | ".join(order) + f" | {candidate}'s standing |",
            "|---|" + "---:|" * len(order) + "---|",
        ]
        for t, per in sorted(card["final"].items()):
            first = min(per, key=lambda o: per[o][0])
            cells = [
                ("**{:.4f} +- {:.4f}**" if o == first else "{:.4f} +- {:.4f}").format(*per[o])
                if o in per
                else "-"
                for o in order
            ]
            place = standing(per, candidate) if candidate in per else "-"
            lines.append(f"| {t} | " + " | ".join(cells) + f" | {place} |")
        lines.append("")
    if "versus" in card:
        worse = sorted(
            (c / v if v > 0 else math.inf, t, c, v)
            for t, (c, v) in card["versus"].items()
            if not (c <= within * v or c <= 0.0)
        )
        lines.append(
            f"Instances where {candidate}'s final mean regret is at most {within}x {versus}'s: "
            f"{card['within']} of {len(card['versus'])}"
            + (
                "; the others: " + ", ".join(f"{t} ({c:.4f} vs {v:.4f})" for _, t, c, v in worse)
                if worse
                else ""
            )
        )
    return "\n".join(lines) + "\n"


def _seeds(text: str | None) -> set[int] | None:
    if not text:
        return None
    out: set[int] = set()
    for part in text.split(","):
        a, _, b = part.partition("-")
        out.update(range(int(a), int(b or a) + 1))
    return out


def _cuttable(r: dict[str, Any], budget: float) -> bool:
    return bool(r.get("unit") == "epochs" and r["budget"] > budget)


def _cut(r: dict[str, Any], budget: float) -> dict[str, Any]:
    """A run of a larger budget in epochs as if it had stopped at ``budget``."""
    if not _cuttable(r, budget):
        return r
    return {**r, "budget": budget, "best_steps": [s for s in r["best_steps"] if s[0] <= budget]}


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("results", nargs="+", help="results.jsonl files")
    p.add_argument("--candidate", default="race")
    p.add_argument("--versus", default="hyperband")
    p.add_argument("--within", type=float, default=1.2)
    p.add_argument("--optimizers", default=None, help="only these (comma-separated)")
    p.add_argument("--seeds", default=None, help="only these seeds, e.g. 0-4 or 0,1,2")
    p.add_argument(
        "--instances",
        default=None,
        help="only these LCBench instances (comma-separated ids), e.g. while a grid is partial",
    )
    p.add_argument("--workers", type=int, default=1)
    p.add_argument("--budget", type=float, default=1000.0)
    p.add_argument(
        "--cut-longer",
        action="store_true",
        help="runs of a larger budget (in epochs) count too, as if they had stopped at --budget "
        "(their best so far up to it): a 300-epoch grid against a 1000-epoch one",
    )
    p.add_argument(
        "--confirm-exclude",
        default=None,
        help="instances looked at while tuning: a second scorecard leaves them out",
    )
    p.add_argument(
        "--per-instance",
        action="store_true",
        help="add the final regret per instance (mean +- standard error over seeds) and the "
        "candidate's standing there: first, within one standard error of the first, or behind",
    )
    p.add_argument("--out", default=None, help="also write the markdown here")
    args = p.parse_args(argv)
    records = [
        _cut(r, args.budget) if args.cut_longer else r
        for r in load(args.results)
        if r["workers"] == args.workers
        and (r["budget"] == args.budget or (args.cut_longer and _cuttable(r, args.budget)))
    ]
    if args.optimizers:
        keep = set(args.optimizers.split(","))
        records = [r for r in records if r["optimizer"] in keep]
    if args.instances:
        wanted = {f"lcbench-{i}" for i in args.instances.split(",")}
        records = [r for r in records if r["task"] in wanted]
    seeds = _seeds(args.seeds)
    if seeds is not None:
        records = [r for r in records if r["seed"] in seeds]
    if not records:
        print("no records match", file=sys.stderr)
        return 1
    refs = references({r["task"] for r in records})
    text = "## All instances\n\n" + markdown(
        scorecard(records, refs, args.candidate, args.versus, args.within),
        args.candidate,
        args.versus,
        args.within,
        args.per_instance,
    )
    if args.confirm_exclude:
        tuned = {f"lcbench-{i}" for i in args.confirm_exclude.split(",")}
        held = [r for r in records if r["task"] not in tuned]
        if held:
            text += "\n## Instances not looked at while tuning\n\n" + markdown(
                scorecard(held, refs, args.candidate, args.versus, args.within),
                args.candidate,
                args.versus,
                args.within,
            )
    print(text)
    if args.out:
        Path(args.out).write_text(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
