"""Fault injection, many rounds: kill workers and drivers of real studies, restart PostgreSQL, and
count what was lost, duplicated or left illegal.

The scenarios are those of ``tests/faults`` (its harness ``tests/faults/faultkit.py``), with more
rounds. A round is one study (random search, ``--epochs`` steps of 6-step trials, each step a
``--step-seconds`` sleep) faulted while it runs, resumed to its end by new drivers and audited:

* SIGKILL a worker mid-step: ``--kills`` worker processes killed in the middle of a step, while
  one driver (``Study.optimize`` in a subprocess, 2 worker processes) runs the study;
* SIGKILL a worker after its last report: trial number 0 kills its own worker process right
  after the last report of a run that reached its granted fidelity, before the run is ended in
  the storage (one kill per round);
* a hung objective: trial number 0 blocks for ever in the middle of its second step, on a lock,
  in ``time.sleep`` or reading a pipe (in turn, round after round); its worker process lives on
  and sends heartbeats. The driver's ``stall_after`` (1.5 s) stops it hard, counts a lost run
  and resumes the trial from what it reported (one hang per round; rounds 2 and 3 of every 4
  with two peer ``hyperrace worker`` processes);
* the answer of a decision lost: the driver's decision is committed, then the storage sees the
  error of a dropped connection (every second decision, ``--kills`` per round); its retry must
  return the run already recorded (0 idle runs, 0 lost runs);
* SIGKILL the driver: the driver killed ``--kills`` times (its worker processes are left to
  themselves), a new driver started each time;
* SIGKILL a peer: the same with two peer ``hyperrace worker`` processes (1 worker process each);
* the same two with the Ray executor (``--executors processes,ray``; one local Ray instance
  that every driver connects to);
* restart PostgreSQL: ``pg_ctlcluster ... restart`` mid-study (PostgreSQL only, ``--pg-restarts``
  rounds, each one restart; 0 skips it). It breaks every other connection to the server;
* random kills: for ``--random-seconds``, studies one after the other, alternately one
  ``optimize`` driver and two peer workers; every 0.1-1.5 s a random driver (30 %) or worker
  process (70 %), whatever it is doing, is killed.

Counts (all must be 0): lost = reports acknowledged to the objective (``report()`` returned and
the storage held it) but not stored at the end; duplicated = steps of one trial trained by two
processes at once, and decision indices used twice; illegal = trials running, paused by an
interruption, failed for any reason but too many lost runs, with gaps in their curve, work that
differs from their stored steps, or a study whose total work differs from its budget.

Usage::

    .venv/bin/python benchmarks/faults.py
    .venv/bin/python benchmarks/faults.py --storages sqlite,postgresql --rounds 5 --kills 3 \\
        --random-seconds 120 --pg-restarts 3 --executors processes,ray --out faults.json
    .venv/bin/python benchmarks/faults.py --scenarios last,random --random-seconds 600

PostgreSQL is skipped, with a message, when the server cannot be reached; Ray when it is not
installed.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import datetime as _dt
import importlib.util
import json
import os
import platform
import random
import shutil
import sys
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "faults"))
import faultkit
from faultkit import Setup, Tally

STORAGES = ("sqlite", "postgresql")
EXECUTORS = ("processes", "ray")
SCENARIOS = (
    "worker",
    "last",
    "hung",
    "answer",
    "driver",
    "peer",
    "ray-worker",
    "ray-driver",
    "restart",
    "random",
)


@contextmanager
def _storage(kind: str, pg: str, folder: Path) -> Iterator[Callable[[str], str]]:
    """A function giving the URL of a new storage for a study name (one SQLite file per study;
    one PostgreSQL database for the whole run, dropped at the end)."""
    if kind == "sqlite":
        yield lambda name: f"sqlite:///{folder / (name + '.db')}"
        return
    with faultkit.postgres_database(pg) as url:
        yield lambda _name: url


def _pg_reachable(pg: str) -> str | None:
    try:
        with faultkit.postgres_database(pg, timeout=5.0):
            return None
    except Exception as exc:
        return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__


@contextmanager
def _ray_instance() -> Iterator[str]:
    import ray

    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        yield str(ray.get_runtime_context().gcs_address)
    finally:
        ray.shutdown()


def _run_storage(
    kind: str, args: argparse.Namespace, ray_address: str | None, root: Path
) -> list[Tally]:
    rng = random.Random(args.seed)
    tallies: list[Tally] = []
    with _storage(kind, args.pg, root) as url_of:
        counter = iter(range(10**9))

        def setup(label: str, **changes: Any) -> Setup:
            name = f"{label}-{next(counter)}"
            base = Setup(
                url_of(name),
                name,
                root / name,
                epochs=args.epochs,
                step_seconds=args.step_seconds,
                stale_after=args.stale_after,
                seed=rng.randrange(2**31),
            )
            return dataclasses.replace(base, **changes)

        peers: dict[str, Any] = {"driver": "worker", "drivers": 2, "workers": 1}
        on_ray: dict[str, Any] = {"executor": "ray", "ray_address": ray_address}
        kills = args.kills
        plan: list[tuple[str, str, Callable[[Tally], Any]]] = [
            (
                "worker",
                "SIGKILL a worker mid-step",
                lambda t: faultkit.kill_worker_scenario(
                    setup("worker"), kills=kills, tally=t, rng=rng
                ),
            ),
            (
                "last",
                "SIGKILL a worker after its last report",
                lambda t: faultkit.die_after_last_report_scenario(setup("last"), tally=t),
            ),
            (
                "hung",
                "a hung objective (stall_after)",
                lambda t: faultkit.hung_objective_scenario(
                    setup("hung", **(peers if t.rounds % 4 in (2, 3) else {})),
                    hang_in=faultkit.HANGS[t.rounds % len(faultkit.HANGS)],
                    tally=t,
                ),
            ),
            (
                "answer",
                "the answer of a decision's commit lost",
                lambda t: faultkit.lost_answer_scenario(setup("answer"), answers=kills, tally=t),
            ),
            (
                "driver",
                "SIGKILL the driver",
                lambda t: faultkit.kill_driver_scenario(
                    setup("driver"), kills=kills, tally=t, rng=rng
                ),
            ),
            (
                "peer",
                "SIGKILL a peer `hyperrace worker`",
                lambda t: faultkit.kill_driver_scenario(
                    setup("peer", **peers), kills=kills, tally=t, rng=rng
                ),
            ),
        ]
        if ray_address is not None:
            plan += [
                (
                    "ray-worker",
                    "SIGKILL a Ray worker mid-step",
                    lambda t: faultkit.kill_worker_scenario(
                        setup("ray-worker", **on_ray), kills=kills, tally=t, rng=rng
                    ),
                ),
                (
                    "ray-driver",
                    "SIGKILL the driver (Ray)",
                    lambda t: faultkit.kill_driver_scenario(
                        setup("ray-driver", **on_ray), kills=kills, tally=t, rng=rng
                    ),
                ),
            ]
        for key, title, run in plan:
            if key in args.scenarios:
                tally = Tally(title)
                for _ in range(args.rounds):
                    run(tally)
                tallies.append(tally)
                print(_line(kind, tally), file=sys.stderr, flush=True)
        if kind == "postgresql" and args.pg_restarts > 0 and "restart" in args.scenarios:
            tally = Tally("restart PostgreSQL")
            try:
                for _ in range(args.pg_restarts):
                    faultkit.restart_postgres_scenario(setup("restart"), restarts=1, tally=tally)
                tallies.append(tally)
                print(_line(kind, tally), file=sys.stderr, flush=True)
            except faultkit.RestartUnavailable as exc:
                print(f"PostgreSQL cannot be restarted here, skipped: {exc}", file=sys.stderr)
        if args.random_seconds > 0 and "random" in args.scenarios:
            tally = faultkit.randomized_scenario(
                lambda i: setup("random", **(peers if i % 2 else {})),
                seconds=args.random_seconds,
                rng=rng,
            )
            tallies.append(tally)
            print(_line(kind, tally), file=sys.stderr, flush=True)
    return tallies


def _line(kind: str, t: Tally) -> str:
    return (
        f"{kind}: {t.scenario}: {t.rounds} rounds, {t.kills} kills, {t.acknowledged} "
        f"acknowledged, lost {t.lost}, duplicated {t.duplicated}, illegal {t.illegal} "
        f"({t.seconds:.0f} s)"
    )


def _table(kind: str, tallies: list[Tally]) -> str:
    rows = [
        f"### {kind}",
        "",
        "| scenario | rounds | kills | reports acknowledged | lost | duplicated | illegal | time |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for t in tallies:
        rows.append(
            f"| {t.scenario} | {t.rounds} | {t.kills} | {t.acknowledged} | {t.lost} | "
            f"{t.duplicated} | {t.illegal} | {t.seconds:.0f} s |"
        )
    rows.append("")
    for t in tallies:
        o = t.orphans
        notes = [
            f"{t.lost_runs} lost runs recorded",
            f"{t.idle_runs} decisions whose run never began a step",
            f"{t.refused} reports refused",
        ]
        if o.found:
            notes.append(
                f"{o.found} processes outlived a killed driver: {o.exited} exited by themselves "
                f"(the slowest after {o.seconds:.1f} s), {o.survivors} had to be killed"
            )
        if t.driver_crashes:
            notes.append(f"{t.driver_crashes} drivers crashed")
        rows.append(f"* {t.scenario}: " + "; ".join(notes) + ".")
    problems = [p for t in tallies for p in t.problems]
    if problems:
        rows += ["", "Problems:", ""] + [f"* {p.splitlines()[0]}" for p in problems[:50]]
    return "\n".join(rows) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--storages", default="sqlite,postgresql", help="(sqlite,postgresql)")
    parser.add_argument(
        "--executors",
        default="processes,ray",
        help="processes and/or ray: ray adds the Ray scenarios (processes,ray)",
    )
    parser.add_argument(
        "--scenarios",
        default=",".join(SCENARIOS),
        help=f"which to run, of {','.join(SCENARIOS)} (all; the ray ones need --executors ray)",
    )
    parser.add_argument("--rounds", type=int, default=5, help="studies per kill scenario (5)")
    parser.add_argument("--kills", type=int, default=3, help="kills per study (3)")
    parser.add_argument(
        "--random-seconds", type=float, default=120.0, help="seconds of random kills (120)"
    )
    parser.add_argument(
        "--pg-restarts", type=int, default=3, help="studies with a PostgreSQL restart (3; 0: none)"
    )
    parser.add_argument("--epochs", type=int, default=60, help="steps per study (60)")
    parser.add_argument("--step-seconds", type=float, default=0.05, help="sleep per step (0.05)")
    parser.add_argument(
        "--stale-after", type=float, default=3.0, help="seconds to a stale heartbeat (3)"
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of the kill moments (0)")
    parser.add_argument(
        "--pg",
        default=os.environ.get("HYPERRACE_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432"),
        help="URL of the PostgreSQL server, without a database",
    )
    parser.add_argument("--out", default=None, help="write the tallies as JSON")
    args = parser.parse_args(argv)
    storages = [s.strip() for s in args.storages.split(",") if s.strip()]
    executors = [e.strip() for e in args.executors.split(",") if e.strip()]
    for s in storages:
        if s not in STORAGES:
            parser.error(f"unknown storage {s!r}; use {', '.join(STORAGES)}")
    for e in executors:
        if e not in EXECUTORS:
            parser.error(f"unknown executor {e!r}; use {', '.join(EXECUTORS)}")
    args.scenarios = [c.strip() for c in args.scenarios.split(",") if c.strip()]
    for c in args.scenarios:
        if c not in SCENARIOS:
            parser.error(f"unknown scenario {c!r}; use {', '.join(SCENARIOS)}")
    if "processes" not in executors:
        parser.error("--executors must include processes (the scenarios without Ray)")
    if min(args.rounds, args.kills, args.epochs) < 1 or args.step_seconds <= 0:
        parser.error("--rounds, --kills, --epochs and --step-seconds must be positive")
    if not sys.platform.startswith("linux"):
        parser.error("the fault harness finds processes through /proc: Linux only")
    if "postgresql" in storages and (why := _pg_reachable(args.pg)) is not None:
        print(f"PostgreSQL at {args.pg} is unreachable ({why}); skipped", file=sys.stderr)
        storages.remove("postgresql")

    print(
        f"# fault injection: {args.rounds} rounds x {args.kills} kills, {args.random_seconds:g} s "
        f"of random kills, {args.pg_restarts} PostgreSQL restarts; "
        f"{_dt.datetime.now(_dt.UTC):%Y-%m-%d}, Python {platform.python_version()}, "
        f"{os.cpu_count()} CPUs",
        file=sys.stderr,
    )
    if "ray" in executors and importlib.util.find_spec("ray") is None:
        print("Ray is not installed; the Ray scenarios are skipped", file=sys.stderr)
        executors.remove("ray")
    root = Path(tempfile.mkdtemp(prefix="hyperrace-faults-"))
    results: dict[str, list[Tally]] = {}
    try:
        with contextlib.ExitStack() as stack:
            address = stack.enter_context(_ray_instance()) if "ray" in executors else None
            for kind in storages:
                results[kind] = _run_storage(kind, args, address, root / kind)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    for kind, tallies in results.items():
        print(_table(kind, tallies))
    if args.out:
        data = {kind: [dataclasses.asdict(t) for t in ts] for kind, ts in results.items()}
        Path(args.out).write_text(json.dumps(data, indent=1))
    bad = sum(t.lost + t.duplicated + t.illegal for ts in results.values() for t in ts)
    return 1 if bad else 0


if __name__ == "__main__":
    raise SystemExit(main())
