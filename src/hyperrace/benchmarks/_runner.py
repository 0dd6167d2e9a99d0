"""Run a benchmark: optimizers x tasks x seeds, independent runs in parallel processes.

Results go to ``<out>/results.jsonl`` (one record per run, appended as runs end, so an
interrupted benchmark continues where it stopped: runs already in the file are skipped), then
``<out>/results.md`` (the tables) and ``<out>/regret.png`` / ``<out>/overhead.png``.
"""

from __future__ import annotations

import json
import multiprocessing
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hyperrace.benchmarks._families import TASK_KINDS, make_task
from hyperrace.benchmarks._harness import RunConfig, parse_label, run_ours
from hyperrace.benchmarks._report import (
    curves,
    markdown,
    overhead_medians,
    plot_overhead,
    plot_regret,
    regret_table,
)
from hyperrace.benchmarks._task import Task
from hyperrace.exceptions import ConfigurationError
from hyperrace.optimizers import available

__all__ = ["Benchmark"]

_TASKS: dict[tuple[str, str], Task] = {}


def _task(kind: str, instance: str) -> Task:
    key = (kind, instance)
    if key not in _TASKS:
        _TASKS[key] = make_task(kind, instance)
    return _TASKS[key]


def _run(kind: str, instance: str, config: RunConfig) -> dict[str, Any]:
    """One run, in a worker process (tasks are built there and cached per process). Runs are
    single-threaded (the optimizers that use torch run it on one thread, onnxruntime too):
    parallelism comes from running seeds side by side."""
    from hyperrace.benchmarks.peers import PEERS, run_peer

    if config.optimizer in PEERS:
        return run_peer(kind, instance, config)
    return run_ours(_task(kind, instance), config)


def _run_packed(args: tuple[str, str, RunConfig]) -> dict[str, Any]:
    return _run(*args)


def _reference(kind: str, instance: str) -> tuple[str, tuple[float, float]]:
    from hyperrace.benchmarks._reference import reference_range

    task = _task(kind, instance)
    return task.name, reference_range(task)


@dataclass
class Benchmark:
    """One benchmark: every optimizer on every instance of one task family, with every seed.

    Args:
        kind: a key of :data:`TASK_KINDS`.
        instances: instance names of that family.
        optimizers: registered optimizer names.
        seeds: how many seeds (``first_seed`` .. ``first_seed + seeds - 1``).
        budget: per run, in ``unit``.
        unit: "epochs" or "seconds" (simulated).
        workers: simulated workers per run.
        jobs: runs side by side in separate processes.
        out: the results folder.
        first_seed: the first seed (>= 0): seeds kept apart for tuning and for confirming.
    """

    kind: str
    instances: Sequence[str]
    optimizers: Sequence[str]
    seeds: int
    budget: float
    out: Path
    unit: str = "epochs"
    workers: int = 1
    jobs: int = 1
    params: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    first_seed: int = 0

    def __post_init__(self) -> None:
        if self.kind not in TASK_KINDS:
            raise ConfigurationError(
                f"unknown task {self.kind!r}; choose one of {', '.join(TASK_KINDS)}"
            )
        from hyperrace.benchmarks.peers import PEERS

        known = [*available(), *PEERS]
        unknown = [o for o in self.optimizers if parse_label(o)[0] not in known]
        if unknown:
            raise ConfigurationError(
                f"unknown optimizer(s) {', '.join(unknown)}; choose among {', '.join(known)}"
            )
        if self.seeds < 1:
            raise ConfigurationError(f"seeds={self.seeds!r} must be >= 1")
        if self.first_seed < 0:
            raise ConfigurationError(f"first_seed={self.first_seed!r} must be >= 0")
        if self.jobs < 1:
            raise ConfigurationError(f"jobs={self.jobs!r} must be >= 1")
        self.out = Path(self.out)

    @property
    def seed_range(self) -> range:
        """The seeds of this benchmark."""
        return range(self.first_seed, self.first_seed + self.seeds)

    @property
    def results_path(self) -> Path:
        return self.out / "results.jsonl"

    def runs(self) -> list[tuple[str, RunConfig]]:
        """Every (instance, run) of the benchmark, in a fixed order."""
        return [
            (
                instance,
                RunConfig(
                    optimizer,
                    seed,
                    self.budget,
                    self.unit,
                    self.workers,
                    self.params.get(optimizer),
                ),
            )
            for instance in self.instances
            for seed in self.seed_range
            for optimizer in self.optimizers
        ]

    def load(self) -> list[dict[str, Any]]:
        """The records in the results file (none if it does not exist)."""
        if not self.results_path.exists():
            return []
        with self.results_path.open() as f:
            return [json.loads(line) for line in f if line.strip()]

    def run(
        self, on_progress: Callable[[int, int, str], None] | None = None
    ) -> list[dict[str, Any]]:
        """Run what is not in the results file yet; return every record of this benchmark."""
        self.out.mkdir(parents=True, exist_ok=True)
        names = {i: _task(self.kind, i).name for i in self.instances}
        done = {
            (r["task"], r["optimizer"], r["seed"], r["unit"], r["budget"], r["workers"])
            for r in self.load()
        }
        todo = [
            (instance, c)
            for instance, c in self.runs()
            if (names[instance], c.optimizer, c.seed, c.unit, c.budget, c.workers) not in done
        ]
        total, finished = len(self.runs()), len(self.runs()) - len(todo)
        if on_progress:
            on_progress(finished, total, "")
        with self.results_path.open("a") as f:
            for record in self._map(todo):
                f.write(json.dumps(record) + "\n")
                f.flush()
                finished += 1
                if on_progress:
                    on_progress(
                        finished,
                        total,
                        f"{record['optimizer']} on {record['task']} seed {record['seed']}",
                    )
        return self.records()

    def records(self) -> list[dict[str, Any]]:
        """This benchmark's records in the results file (other runs in the file are ignored)."""
        names = {_task(self.kind, i).name for i in self.instances}
        return [
            r
            for r in self.load()
            if r["task"] in names
            and r["optimizer"] in self.optimizers
            and r["seed"] in self.seed_range
            and r["unit"] == self.unit
            and r["budget"] == self.budget
            and r["workers"] == self.workers
        ]

    def references(self) -> dict[str, tuple[float, float]]:
        """(best, worst) final loss of each task, from a cached large random sample."""
        out: dict[str, tuple[float, float]] = {}
        for instance in self.instances:
            name, reference = _reference(self.kind, instance)
            out[name] = reference
        return out

    def report(self, records: Sequence[Mapping[str, Any]]) -> str:
        """Write results.md, regret.png and overhead.png; return the markdown."""
        references = self.references()
        table = regret_table(records, references)
        text = markdown(table, overhead_medians(records))
        notes = sorted({(r["optimizer"], r["note"]) for r in records if r.get("note")})
        if notes:
            text += "\nHow they pay for their budget:\n\n" + "".join(
                f"- {name}: {note}\n" for name, note in notes
            )
        (self.out / "results.md").write_text(text)
        plot_regret(curves(records, references), self.out / "regret.png", self.unit)
        plot_overhead(records, self.out / "overhead.png")
        return text

    def _map(self, todo: Sequence[tuple[str, RunConfig]]) -> Any:
        if self.jobs == 1 or len(todo) <= 1:
            for instance, config in todo:
                yield _run(self.kind, instance, config)
            return
        context = multiprocessing.get_context("spawn")
        pool = context.Pool(min(self.jobs, len(todo), os.cpu_count() or 1))
        try:
            yield from pool.imap_unordered(_run_packed, [(self.kind, i, c) for i, c in todo])
            pool.close()
        finally:
            pool.terminate()  # an error or Ctrl-C here: no run goes on in the background
            pool.join()
