"""Summaries of benchmark records: regret at budget fractions, ranks, overhead; table and plots.

Extraction (:func:`regret_table`, :func:`curves`, :func:`overhead_medians`) is separate from
drawing (:func:`markdown`, :func:`plot_regret`, :func:`plot_overhead`): the same numbers feed the
markdown table, the plots and tests. Plots need matplotlib (the ``bench`` extra).
"""

from __future__ import annotations

import itertools
import math
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from hyperrace._imports import require
from hyperrace.benchmarks._harness import best_at

__all__ = [
    "FRACTIONS",
    "Cell",
    "curves",
    "markdown",
    "normalised_regret",
    "overhead_medians",
    "plot_overhead",
    "plot_regret",
    "regret_table",
]

#: Budget fractions at which regret and rank are reported.
FRACTIONS = (0.1, 0.25, 0.5, 1.0)

Array = npt.NDArray[np.float64]


def normalised_regret(loss: float, reference: tuple[float, float]) -> float:
    """``(loss - best) / (worst - best)``; 1 where nothing was reported yet (``loss`` inf)."""
    best, worst = reference
    if not math.isfinite(loss):
        return 1.0
    scale = worst - best
    return (loss - best) / scale if scale > 0 else loss - best


@dataclass(frozen=True)
class Cell:
    """One optimizer on the whole benchmark at one budget fraction."""

    regret: float  # mean normalised regret over tasks x seeds
    rank: float  # mean rank among optimizers (1 is best; ties share the mean rank)


def regret_table(
    records: Iterable[Mapping[str, Any]],
    references: Mapping[str, tuple[float, float]],
    fractions: Sequence[float] = FRACTIONS,
) -> dict[str, list[Cell]]:
    """Mean regret and mean rank of each optimizer at each fraction of the budget.

    Ranks are taken per (task, seed) among the optimizers that ran it, then averaged; a (task,
    seed) that not every optimizer ran is left out of the ranks (its regrets still count).
    """
    by_run: dict[tuple[str, int], dict[str, list[float]]] = defaultdict(dict)
    for r in records:
        regrets = [
            normalised_regret(best_at(r, f * r["budget"]), references[r["task"]]) for f in fractions
        ]
        by_run[(r["task"], r["seed"])][r["optimizer"]] = regrets
    optimizers = sorted({name for runs in by_run.values() for name in runs})
    regret_sums: dict[str, Array] = {o: np.zeros(len(fractions)) for o in optimizers}
    regret_counts: dict[str, int] = dict.fromkeys(optimizers, 0)
    rank_sums: dict[str, Array] = {o: np.zeros(len(fractions)) for o in optimizers}
    rank_counts: dict[str, int] = dict.fromkeys(optimizers, 0)
    for runs in by_run.values():
        for name, regrets in runs.items():
            regret_sums[name] += regrets
            regret_counts[name] += 1
        if len(runs) != len(optimizers):
            continue
        names = list(runs)
        matrix = np.array([runs[n] for n in names])  # (optimizers, fractions)
        for j in range(len(fractions)):
            ranks = _ranks(matrix[:, j])
            for name, rank in zip(names, ranks, strict=True):
                rank_sums[name][j] += rank
        for name in names:
            rank_counts[name] += 1
    return {
        o: [
            Cell(
                float(regret_sums[o][j] / max(regret_counts[o], 1)),
                float(rank_sums[o][j] / rank_counts[o]) if rank_counts[o] else math.nan,
            )
            for j in range(len(fractions))
        ]
        for o in optimizers
    }


def _ranks(values: Array) -> Array:
    """Ranks from 1 (smallest), ties sharing their mean rank."""
    order = np.argsort(values, kind="stable")
    ranks = np.empty(len(values))
    sorted_values = values[order]
    i = 0
    while i < len(values):
        j = i
        while j + 1 < len(values) and sorted_values[j + 1] == sorted_values[i]:
            j += 1
        ranks[order[i : j + 1]] = (i + j) / 2 + 1
        i = j + 1
    return ranks


def curves(
    records: Iterable[Mapping[str, Any]],
    references: Mapping[str, tuple[float, float]],
    points: int = 100,
) -> dict[str, dict[str, tuple[Array, Array]]]:
    """Regret against budget for plotting: ``{task: {optimizer: (budget grid, regrets)}}`` with
    regrets of shape (seeds, points)."""
    grouped: dict[str, dict[str, list[Mapping[str, Any]]]] = defaultdict(lambda: defaultdict(list))
    for r in records:
        grouped[r["task"]][r["optimizer"]].append(r)
    out: dict[str, dict[str, tuple[Array, Array]]] = {}
    for task, by_optimizer in grouped.items():
        out[task] = {}
        for name, runs in by_optimizer.items():
            budget = max(r["budget"] for r in runs)
            grid = np.linspace(budget / points, budget, points)
            regrets = np.array(
                [[normalised_regret(best_at(r, x), references[task]) for x in grid] for r in runs]
            )
            out[task][name] = (grid, regrets)
    return out


def overhead_medians(
    records: Iterable[Mapping[str, Any]], bins: Sequence[int] = (10, 100, 300, 1000, 3000)
) -> dict[str, list[float]]:
    """Median seconds per decision of each optimizer, by observations seen: one value per bin
    ``[bins[k-1], bins[k])`` (the first from 0), NaN where no decision fell in it."""
    seconds: dict[str, list[list[float]]] = defaultdict(lambda: [[] for _ in bins])
    edges = [0, *bins]
    for r in records:
        for n, s in r["overhead"]:
            for k in range(len(bins)):
                if edges[k] <= n < edges[k + 1]:
                    seconds[r["optimizer"]][k].append(s)
                    break
    return {
        name: [float(np.median(b)) if b else math.nan for b in per_bin]
        for name, per_bin in sorted(seconds.items())
    }


def markdown(
    table: Mapping[str, Sequence[Cell]],
    overhead: Mapping[str, Sequence[float]],
    fractions: Sequence[float] = FRACTIONS,
    bins: Sequence[int] = (10, 100, 300, 1000, 3000),
) -> str:
    """The tables as markdown: regret and rank at each fraction (best first), then overhead."""
    heads = [f"{f:.0%}" for f in fractions]
    lines = [
        "| optimizer | "
        + " | ".join(f"regret @{h}" for h in heads)
        + " | "
        + " | ".join(f"rank @{h}" for h in heads)
        + " |",
        "|---|" + "---:|" * (2 * len(fractions)),
    ]
    for name in sorted(table, key=lambda o: (table[o][-1].regret, o)):
        cells = table[name]
        lines.append(
            f"| {name} | "
            + " | ".join(f"{c.regret:.4f}" for c in cells)
            + " | "
            + " | ".join(f"{c.rank:.2f}" for c in cells)
            + " |"
        )
    edges = [0, *bins]
    lines += [
        "",
        "Median seconds per decision, by observations seen:",
        "",
        "| optimizer | "
        + " | ".join(f"{edges[k]}-{edges[k + 1] - 1}" for k in range(len(bins)))
        + " |",
        "|---|" + "---:|" * len(bins),
    ]
    for name, medians in overhead.items():
        lines.append(
            f"| {name} | " + " | ".join("" if math.isnan(m) else f"{m:.4f}" for m in medians) + " |"
        )
    return "\n".join(lines) + "\n"


def _pyplot() -> Any:
    matplotlib = require("matplotlib", "bench", "benchmark plots")
    matplotlib.use("Agg")
    return require("matplotlib.pyplot", "bench", "benchmark plots")


def plot_regret(
    data: Mapping[str, Mapping[str, tuple[Array, Array]]], out: str | Path, unit: str
) -> Path:
    """One panel per task (and the mean over tasks): mean regret against budget, with a band of
    one standard error over seeds; log scale. Returns the PNG's path."""
    plt = _pyplot()
    tasks = sorted(data)
    panels = [*tasks, "mean over tasks"] if len(tasks) > 1 else tasks
    ncols = min(3, len(panels))
    nrows = -(-len(panels) // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(5 * ncols, 3.6 * nrows), squeeze=False)
    names = sorted({name for per in data.values() for name in per})
    colours, styles = _styles(plt, names)
    for ax, panel in zip(axes.flat, panels, strict=False):
        for name in names:
            if panel == "mean over tasks":
                per_task = [data[t][name] for t in tasks if name in data[t]]
                if len(per_task) != len(tasks):
                    continue
                grid = per_task[0][0]
                runs = np.concatenate([np.mean(r, axis=0, keepdims=True) for _, r in per_task])
            elif name in data[panel]:
                grid, runs = data[panel][name]
            else:
                continue
            floor = 1e-4
            mean = np.maximum(runs.mean(axis=0), floor)
            se = runs.std(axis=0) / math.sqrt(len(runs)) if len(runs) > 1 else 0 * mean
            ax.plot(grid, mean, label=name, color=colours[name], ls=styles[name], lw=1.6)
            ax.fill_between(
                grid,
                np.maximum(mean - se, floor),
                np.maximum(mean + se, floor),
                color=colours[name],
                alpha=0.18,
                lw=0,
            )
        ax.set_yscale("log")
        ax.set_title(panel, fontsize=10)
        ax.set_xlabel(f"budget ({unit})")
        ax.set_ylabel("normalised regret")
        ax.grid(alpha=0.3, which="both")
    for ax in list(axes.flat)[len(panels) :]:
        ax.set_visible(False)
    handles: dict[str, Any] = {}
    for ax in axes.flat:
        for handle, label in zip(*ax.get_legend_handles_labels(), strict=True):
            handles.setdefault(label, handle)
    legend = max(1.8, 0.075 * max((len(label) for label in handles), default=0))
    width = 5 * ncols + legend
    fig.set_size_inches(width, 3.6 * nrows)
    fig.legend(list(handles.values()), list(handles), loc="center right", frameon=False, fontsize=9)
    fig.tight_layout(rect=(0, 0, 1 - legend / width, 1))
    path = Path(out)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def _styles(plt: Any, names: Sequence[str]) -> tuple[dict[str, Any], dict[str, str]]:
    """A colour per optimizer (tab20 beyond 10 of them) and a line style: dashed for peers."""
    from hyperrace.benchmarks.peers import PEERS

    cmap, n = (plt.cm.tab10, 10) if len(names) <= 10 else (plt.cm.tab20, 20)
    colours = {name: cmap(i % n) for i, name in enumerate(names)}
    styles = {name: "--" if name.split(":")[0] in PEERS else "-" for name in names}
    return colours, styles


def plot_overhead(records: Iterable[Mapping[str, Any]], out: str | Path) -> Path:
    """Seconds per decision against observations seen, per optimizer (medians in log bins)."""
    plt = _pyplot()
    points: dict[str, list[tuple[int, float]]] = defaultdict(list)
    for r in records:
        points[r["optimizer"]].extend((int(n), float(s)) for n, s in r["overhead"])
    fig, ax = plt.subplots(figsize=(7.5, 4))
    colours, styles = _styles(plt, sorted(points))
    for name, pts in sorted(points.items()):
        if not pts:
            continue
        n = np.array([p[0] for p in pts], dtype=float)
        s = np.array([p[1] for p in pts], dtype=float)
        # the decisions made before any observation fall in [0, 1), drawn at 0.5
        edges = np.unique([0, *np.geomspace(1, max(n.max(), 2) + 1, 16).astype(int)])
        centres, medians = [], []
        for lo, hi in itertools.pairwise(edges):
            mask = (n >= lo) & (n < hi)
            if mask.any():
                centres.append(math.sqrt(lo * hi) if lo > 0 else 0.5)
                medians.append(max(float(np.median(s[mask])), 1e-6))
        ax.plot(
            centres, medians, marker="o", ms=3, label=name, color=colours[name], ls=styles[name]
        )
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("observations seen")
    ax.set_ylabel("seconds per decision (median)")
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=7, frameon=False, loc="center left", bbox_to_anchor=(1.0, 0.5))
    fig.tight_layout()
    path = Path(out)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
