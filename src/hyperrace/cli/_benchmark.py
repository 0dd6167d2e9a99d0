"""``hyperrace benchmark``: optimizers x tasks x seeds on the simulated clock, in one command."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

__all__ = ["add_parser", "cmd_benchmark"]


def add_parser(sub: Any, positive_int: Any) -> None:
    """Add the ``benchmark`` subcommand to ``sub`` (the CLI's subparsers)."""
    from hyperrace.benchmarks._families import TASK_KINDS

    help_text = "compare optimizers on benchmark tasks (simulated clock): regret table and plots"
    p = sub.add_parser("benchmark", help=help_text, description=help_text)
    p.set_defaults(handler=cmd_benchmark)
    p.add_argument(
        "--task",
        choices=sorted(TASK_KINDS),
        default="synthetic",
        help="; ".join(f"{k}: {v}" for k, v in TASK_KINDS.items()),
    )
    p.add_argument(
        "--instances", default=None, metavar="A,B,...", help="instances of the task (default: all)"
    )
    p.add_argument(
        "--optimizers",
        default="random,asha,hyperband",
        metavar="A,B,...",
        help="registered optimizer names (default: random,asha,hyperband)",
    )
    p.add_argument("--seeds", type=positive_int, default=5, help="seeds per task (default: 5)")
    p.add_argument(
        "--first-seed",
        type=int,
        default=0,
        help="the first seed (default: 0); e.g. tune on --first-seed 100, confirm on 0..4",
    )
    p.add_argument(
        "--budget",
        type=float,
        default=1000.0,
        help="per run: epochs trained, or simulated seconds with --unit seconds (default: 1000)",
    )
    p.add_argument("--unit", choices=["epochs", "seconds"], default="epochs")
    p.add_argument(
        "--workers", type=positive_int, default=1, help="simulated workers per run (default: 1)"
    )
    p.add_argument(
        "--jobs",
        type=positive_int,
        default=None,
        help="runs side by side in separate processes (default: the number of cores)",
    )
    p.add_argument(
        "--out",
        default="benchmark-results",
        metavar="DIR",
        help="results folder: results.jsonl (runs already there are skipped), results.md, "
        "regret.png, overhead.png (default: benchmark-results)",
    )
    p.add_argument("--quiet", action="store_true", help="no progress display")


def cmd_benchmark(args: argparse.Namespace) -> int:
    import os

    from hyperrace.benchmarks._families import instances_of
    from hyperrace.benchmarks._runner import Benchmark

    bench = Benchmark(
        kind=args.task,
        instances=instances_of(args.task, args.instances),
        optimizers=[o.strip() for o in args.optimizers.split(",") if o.strip()],
        seeds=args.seeds,
        first_seed=args.first_seed,
        budget=args.budget,
        unit=args.unit,
        workers=args.workers,
        jobs=args.jobs or os.cpu_count() or 1,
        out=Path(args.out),
    )
    records = bench.run(on_progress=_progress(args.quiet))
    text = bench.report(records)
    print(text)
    print(f"results in {bench.out}/ (results.jsonl, results.md, regret.png, overhead.png)")
    return 0


def _progress(quiet: bool) -> Any:
    """A callback showing runs done of runs total: a rich bar on a terminal, lines otherwise."""
    if quiet:
        return None
    import importlib.util

    if importlib.util.find_spec("rich") is None or not sys.stderr.isatty():

        def line(done: int, total: int, what: str) -> None:
            if what:
                print(f"[{done}/{total}] {what}", file=sys.stderr, flush=True)

        return line
    from rich.progress import Progress

    progress = Progress(transient=True)
    progress.start()
    task = progress.add_task("benchmark", total=None)

    def bar(done: int, total: int, what: str) -> None:
        progress.update(task, completed=done, total=total, description=what or "benchmark")
        if done >= total:
            progress.stop()

    return bar
