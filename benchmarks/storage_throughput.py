"""Storage throughput: reports per second written by hyperrace and by Optuna, side by side.

Each cell of the table is one (backend, processes) pair. In every cell both libraries run the same
workload in the same run, alternating repeat by repeat, so that their ratio is not skewed by the
machine drifting between two separate runs:

* hyperrace: ``job = study.ask()`` (a space of one Float and a ``Fidelity(1, 20)``, optimizer
  ``"random"``), ``study.report(job.trial_id, fidelity=f, value=...)`` for f = 1..20, then
  ``study.tell(job)``; repeated until the process has written ``--reports`` reports.
* Optuna: ``trial = study.ask({"x": FloatDistribution(-5, 5)})`` (RandomSampler),
  ``trial.report(value, step)`` for step = 1..20 (Optuna's intermediate-value write), then
  ``study.tell(trial, value)``; repeated the same way.

Both studies are created before the timed part, every worker process (multiprocessing, spawn)
opens its own storage and loads the study, then all workers wait on one barrier; the time is
measured from the barrier to the last worker's finish. Reports/s = processes x reports / time.
Each measurement runs ``--repeats`` times on a fresh storage (a new SQLite file, a new PostgreSQL
database); the table gives medians. After every hyperrace run the stored history is checked: it
must hold exactly processes x reports observations, each (trial, fidelity) exactly once and each
one that a worker reported.

Usage::

    .venv/bin/python benchmarks/storage_throughput.py
    .venv/bin/python benchmarks/storage_throughput.py --reports 500 --repeats 3 \
        --processes 1,4 --backends sqlite,postgresql --out results.json

PostgreSQL is skipped, with a message, when the server cannot be reached.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import multiprocessing as mp
import os
import platform
import shutil
import sqlite3
import statistics
import sys
import tempfile
import time
import traceback
from collections import Counter
from dataclasses import asdict, dataclass, field
from typing import Any

FIDELITY_HIGH = 20
IMPLEMENTATIONS = ("hyperrace", "optuna")
BACKENDS = ("sqlite", "postgresql")
BARRIER_TIMEOUT = 300.0
SQLITE_TIMEOUT = 60.0  # seconds a SQLite writer waits for the lock, hyperrace's default too


# -- the workloads (run in the worker processes) ----------------------------------------------


def _value(x: float, fidelity: int) -> float:
    """A made-up learning curve: decreasing in the fidelity, shifted by the config."""
    return (x - 1.0) ** 2 + 1.0 / fidelity


def _hyperrace_setup(url: str, study_name: str, artifacts: str) -> Any:
    import hyperrace as hr

    return hr.Study(study_name, storage=url, artifacts=artifacts)


def _hyperrace_run(study: Any, n_reports: int) -> list[tuple[int, float]]:
    import hyperrace as hr

    written: list[tuple[int, float]] = []
    while len(written) < n_reports:
        job = study.ask()
        if not isinstance(job, hr.Job):
            raise RuntimeError(f"study.ask() gave {job!r}, not a job")
        x = float(job.config["x"])
        for f in range(1, FIDELITY_HIGH + 1):
            if len(written) >= n_reports:
                break
            study.report(job.trial_id, fidelity=f, value=_value(x, f))
            written.append((job.trial_id, float(f)))
        study.tell(job)
    return written


def _optuna_storage(url: str) -> Any:
    import optuna

    kwargs: dict[str, Any] = {}
    if url.startswith("sqlite"):
        # the sqlite3 default is 5 s, too short for 4 writers; give Optuna hyperrace's 60 s
        kwargs["connect_args"] = {"timeout": SQLITE_TIMEOUT}
    return optuna.storages.RDBStorage(url, engine_kwargs=kwargs)


def _optuna_setup(url: str, study_name: str, seed: int) -> Any:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    return optuna.load_study(
        study_name=study_name,
        storage=_optuna_storage(url),
        sampler=optuna.samplers.RandomSampler(seed=seed),
    )


def _optuna_run(study: Any, n_reports: int) -> list[tuple[int, float]]:
    import optuna

    dist = {"x": optuna.distributions.FloatDistribution(-5.0, 5.0)}
    written: list[tuple[int, float]] = []
    while len(written) < n_reports:
        trial = study.ask(dist)
        x = float(trial.params["x"])
        value = float("nan")
        for step in range(1, FIDELITY_HIGH + 1):
            if len(written) >= n_reports:
                break
            value = _value(x, step)
            trial.report(value, step)  # Optuna's intermediate-value write
            written.append((trial._trial_id, float(step)))
        study.tell(trial, value)
    return written


def _worker(
    impl: str,
    url: str,
    study_name: str,
    n_reports: int,
    rank: int,
    artifacts: str,
    barrier: Any,
    results: Any,
    profile_dir: str | None,
) -> None:
    """Open the storage, wait for everyone, run the workload, send back times and what was
    written."""
    try:
        if impl == "hyperrace":
            study = _hyperrace_setup(url, study_name, artifacts)
            run = _hyperrace_run
        else:
            study = _optuna_setup(url, study_name, seed=1000 + rank)
            run = _optuna_run
    except BaseException:
        barrier.abort()
        results.put((rank, False, 0.0, 0.0, traceback.format_exc()))
        return
    try:
        barrier.wait(BARRIER_TIMEOUT)
    except BaseException:
        results.put((rank, False, 0.0, 0.0, "the barrier broke: " + traceback.format_exc()))
        return
    try:
        start = time.monotonic()  # CLOCK_MONOTONIC: one clock for every process of the machine
        if profile_dir is not None:
            import cProfile

            prof = cProfile.Profile()
            written = prof.runcall(run, study, n_reports)
            prof.dump_stats(os.path.join(profile_dir, f"{impl}-{rank}.prof"))
        else:
            written = run(study, n_reports)
        end = time.monotonic()
        results.put((rank, True, start, end, written))
    except BaseException:
        results.put((rank, False, 0.0, 0.0, traceback.format_exc()))


# -- storages ---------------------------------------------------------------------------------


@dataclass
class Postgres:
    """Creates and drops one fresh database per measurement on the server."""

    admin_conninfo: str
    prefix: str = field(default_factory=lambda: f"bench_{os.getpid()}")
    created: list[str] = field(default_factory=list)
    server_version: str = ""

    def reachable(self) -> str | None:
        """None when the server answers, else why not."""
        try:
            import psycopg
        except ImportError as exc:
            return f"psycopg is not installed ({exc})"
        try:
            with psycopg.connect(self.admin_conninfo, autocommit=True, connect_timeout=5) as conn:
                row = conn.execute("SHOW server_version").fetchone()
                self.server_version = str(row[0]) if row else ""
        except Exception as exc:
            return f"{type(exc).__name__}: {' '.join(str(exc).split())}"
        return None

    def new_database(self) -> str:
        """A fresh database; returns its SQLAlchemy URL (psycopg 3)."""
        import psycopg
        from psycopg.conninfo import conninfo_to_dict

        name = f"{self.prefix}_{len(self.created)}"
        with psycopg.connect(self.admin_conninfo, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
            conn.execute(f'CREATE DATABASE "{name}"')
        self.created.append(name)
        info = conninfo_to_dict(self.admin_conninfo)
        user = info.get("user") or "postgres"
        host = info.get("host") or "127.0.0.1"
        port = info.get("port") or 5432
        auth = user if not info.get("password") else f"{user}:{info['password']}"
        return f"postgresql+psycopg://{auth}@{host}:{port}/{name}"

    def drop(self, name: str) -> None:
        import psycopg

        with psycopg.connect(self.admin_conninfo, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def drop_all(self) -> None:
        for name in self.created:
            try:
                self.drop(name)
            except Exception as exc:
                print(f"warning: could not drop database {name}: {exc}", file=sys.stderr)
        self.created.clear()


# -- one measurement --------------------------------------------------------------------------


@dataclass
class Measurement:
    impl: str
    backend: str
    processes: int
    repeat: int
    reports_per_process: int
    seconds: float
    reports_per_second: float
    verified: bool | None
    check: str


def _create_study(impl: str, url: str, name: str, artifacts: str) -> None:
    if impl == "hyperrace":
        import hyperrace as hr

        space = hr.Space(x=hr.Float(-5.0, 5.0), epochs=hr.Fidelity(1, FIDELITY_HIGH))
        study = hr.Study(name, space, storage=url, optimizer="random", seed=0, artifacts=artifacts)
        study.storage.close()
    else:
        import optuna

        optuna.logging.set_verbosity(optuna.logging.WARNING)
        storage = _optuna_storage(url)
        optuna.create_study(study_name=name, storage=storage, direction="minimize")
        storage.remove_session()
        storage.engine.dispose()


def _verify_hyperrace(
    url: str, name: str, processes: int, n_reports: int, written: list[list[tuple[int, float]]]
) -> tuple[bool, str]:
    """The history holds processes x n_reports observations, each (trial, fidelity) once, each
    one that exactly one worker reported; trials given 20 reports are completed."""
    import hyperrace as hr

    study = hr.Study(name, storage=url)
    try:
        history = study.history()
    finally:
        study.storage.close()
    stored = [(t.trial_id, float(o.fidelity)) for t in history.trials for o in t.curve]
    expected = processes * n_reports
    problems = []
    if len(stored) != expected:
        problems.append(f"{len(stored)} observations stored, {expected} expected")
    dup = [k for k, n in Counter(stored).items() if n > 1]
    if dup:
        problems.append(f"{len(dup)} (trial, fidelity) pairs stored more than once")
    sent = Counter(pair for w in written for pair in w)
    twice = [k for k, n in sent.items() if n > 1]
    if twice:
        problems.append(f"{len(twice)} (trial, fidelity) pairs reported by two workers")
    if set(sent) != set(stored):
        problems.append(
            f"{len(set(sent) - set(stored))} reported but not stored, "
            f"{len(set(stored) - set(sent))} stored but never reported"
        )
    owners: dict[int, set[int]] = {}
    for rank, w in enumerate(written):
        for tid, _ in w:
            owners.setdefault(tid, set()).add(rank)
    shared = [tid for tid, ranks in owners.items() if len(ranks) > 1]
    if shared:
        problems.append(f"{len(shared)} trials were handed to more than one worker")
    full = [t for t in history.trials if len(t.curve) == FIDELITY_HIGH]
    not_done = [t.trial_id for t in full if t.status is not hr.TrialStatus.COMPLETED]
    if not_done:
        problems.append(f"{len(not_done)} trials with {FIDELITY_HIGH} reports are not completed")
    if problems:
        return False, "; ".join(problems)
    return True, (
        f"{len(stored)} observations in {len(history.trials)} trials, each (trial, fidelity) once"
    )


def _verify_optuna(url: str, name: str, processes: int, n_reports: int) -> tuple[bool, str]:
    """Sanity check of the Optuna side: the number of intermediate values written."""
    import optuna

    storage = _optuna_storage(url)
    try:
        trials = optuna.load_study(study_name=name, storage=storage).get_trials(deepcopy=False)
    finally:
        storage.remove_session()
        storage.engine.dispose()
    n = sum(len(t.intermediate_values) for t in trials)
    expected = processes * n_reports
    if n != expected:
        return False, f"{n} intermediate values stored, {expected} expected"
    return True, f"{n} intermediate values in {len(trials)} trials"


def measure(
    impl: str,
    backend: str,
    processes: int,
    repeat: int,
    n_reports: int,
    postgres: Postgres | None,
    profile_dir: str | None = None,
) -> Measurement:
    tmp = tempfile.mkdtemp(prefix="hr-bench-")
    artifacts = os.path.join(tmp, "artifacts")
    db_name = None
    try:
        if backend == "sqlite":
            url = f"sqlite:///{os.path.join(tmp, 'bench.db')}"
        else:
            assert postgres is not None
            url = postgres.new_database()
            db_name = url.rsplit("/", 1)[1]
        study_name = f"throughput-{impl}-{processes}p-{repeat}"
        _create_study(impl, url, study_name, artifacts)

        ctx = mp.get_context("spawn")
        barrier = ctx.Barrier(processes)
        results = ctx.Queue()
        workers = [
            ctx.Process(
                target=_worker,
                args=(
                    impl,
                    url,
                    study_name,
                    n_reports,
                    rank,
                    artifacts,
                    barrier,
                    results,
                    profile_dir,
                ),
                daemon=True,
            )
            for rank in range(processes)
        ]
        for w in workers:
            w.start()
        got = [results.get(timeout=BARRIER_TIMEOUT + 3600) for _ in workers]
        for w in workers:
            w.join()
        failed = [r for r in got if not r[1]]
        if failed:
            raise RuntimeError(
                f"{impl} on {backend} with {processes} processes: worker {failed[0][0]} failed:\n"
                f"{failed[0][4]}"
            )
        got.sort(key=lambda r: r[0])
        seconds = max(r[3] for r in got) - min(r[2] for r in got)
        written = [r[4] for r in got]
        if impl == "hyperrace":
            ok, check = _verify_hyperrace(url, study_name, processes, n_reports, written)
        else:
            ok, check = _verify_optuna(url, study_name, processes, n_reports)
        return Measurement(
            impl,
            backend,
            processes,
            repeat,
            n_reports,
            seconds,
            processes * n_reports / seconds,
            ok,
            check,
        )
    finally:
        if db_name is not None and postgres is not None:
            postgres.drop(db_name)
            postgres.created.remove(db_name)
        shutil.rmtree(tmp, ignore_errors=True)


# -- the run ----------------------------------------------------------------------------------


def _environment(postgres: Postgres | None) -> dict[str, Any]:
    from importlib.metadata import version

    def v(pkg: str) -> str:
        try:
            return version(pkg)
        except Exception:
            return "-"

    return {
        "date": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "cpus_usable": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "hyperrace": v("hyperrace"),
        "optuna": v("optuna"),
        "sqlalchemy": v("sqlalchemy"),
        "psycopg": v("psycopg"),
        "sqlite": sqlite3.sqlite_version,
        "postgresql": postgres.server_version if postgres else None,
    }


def _table(medians: dict[tuple[str, str, int], float], runs: list[Measurement]) -> str:
    lines = [
        "| backend | processes | hyperrace reports/s | optuna reports/s | hyperrace / optuna | "
        "hyperrace verified |",
        "|---|---:|---:|---:|---:|---|",
    ]
    cells = sorted(
        {(m.backend, m.processes) for m in runs}, key=lambda c: (BACKENDS.index(c[0]), c[1])
    )
    for backend, procs in cells:
        hr_rate = medians.get(("hyperrace", backend, procs))
        op_rate = medians.get(("optuna", backend, procs))
        ratio = f"{hr_rate / op_rate:.2f}" if hr_rate and op_rate else "-"
        hr_runs = [
            m
            for m in runs
            if m.impl == "hyperrace" and (m.backend, m.processes) == (backend, procs)
        ]
        verified = "-" if not hr_runs else "yes" if all(m.verified for m in hr_runs) else "NO"

        def fmt(rate: float | None) -> str:
            return f"{rate:,.0f}" if rate else "-"

        lines.append(
            f"| {backend} | {procs} | {fmt(hr_rate)} | {fmt(op_rate)} | {ratio} | {verified} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--reports", type=int, default=500, help="reports per process (500)")
    parser.add_argument("--repeats", type=int, default=3, help="runs per measurement (3)")
    parser.add_argument("--processes", default="1,4", help="process counts, comma-separated (1,4)")
    parser.add_argument(
        "--backends", default="sqlite,postgresql", help="sqlite and/or postgresql (both)"
    )
    parser.add_argument(
        "--impls", default="hyperrace,optuna", help="hyperrace and/or optuna (both)"
    )
    parser.add_argument(
        "--pg",
        default="postgresql://postgres@127.0.0.1:5432/test",
        help="libpq URL of an existing database to connect to for CREATE/DROP DATABASE",
    )
    parser.add_argument("--out", default=None, help="write every run and the medians as JSON")
    parser.add_argument(
        "--profile",
        default=None,
        metavar="DIR",
        help="cProfile each worker's timed part into DIR/<impl>-<rank>.prof (slows the run)",
    )
    args = parser.parse_args(argv)

    processes = [int(p) for p in args.processes.split(",") if p.strip()]
    backends = [b.strip() for b in args.backends.split(",") if b.strip()]
    impls = [i.strip() for i in args.impls.split(",") if i.strip()]
    for b in backends:
        if b not in BACKENDS:
            parser.error(f"unknown backend {b!r}; use {', '.join(BACKENDS)}")
    for i in impls:
        if i not in IMPLEMENTATIONS:
            parser.error(f"unknown implementation {i!r}; use {', '.join(IMPLEMENTATIONS)}")
    if args.reports < 1 or args.repeats < 1 or not processes or min(processes) < 1:
        parser.error("--reports, --repeats and --processes must be positive")
    if args.profile:
        os.makedirs(args.profile, exist_ok=True)

    postgres: Postgres | None = None
    skipped: dict[str, str] = {}
    if "postgresql" in backends:
        postgres = Postgres(args.pg)
        why = postgres.reachable()
        if why is not None:
            msg = f"PostgreSQL at {args.pg} is unreachable ({why}); skipping the postgresql backend"
            print(msg, file=sys.stderr)
            skipped["postgresql"] = msg
            backends.remove("postgresql")
            postgres = None

    env = _environment(postgres)
    print(
        f"# storage throughput: {args.reports} reports per process, {args.repeats} repeats, "
        f"median shown\n# {env['date']}, Python {env['python']}, {env['cpus_usable']} CPUs, "
        f"optuna {env['optuna']}, SQLAlchemy {env['sqlalchemy']}, SQLite {env['sqlite']}"
        + (f", PostgreSQL {env['postgresql']}" if env["postgresql"] else ""),
        file=sys.stderr,
    )

    runs: list[Measurement] = []
    try:
        for backend in backends:
            for procs in processes:
                for repeat in range(args.repeats):
                    for impl in impls:  # alternate so both see the same machine state
                        m = measure(
                            impl, backend, procs, repeat, args.reports, postgres, args.profile
                        )
                        runs.append(m)
                        print(
                            f"  {backend:10s} {procs}p  {impl:9s} run {repeat + 1}: "
                            f"{m.reports_per_second:8.0f} reports/s ({m.seconds:.2f} s)  "
                            f"{'ok' if m.verified else 'FAILED'}: {m.check}",
                            file=sys.stderr,
                        )
    finally:
        if postgres is not None:
            postgres.drop_all()

    medians: dict[tuple[str, str, int], float] = {}
    for key in {(m.impl, m.backend, m.processes) for m in runs}:
        medians[key] = statistics.median(
            m.reports_per_second for m in runs if (m.impl, m.backend, m.processes) == key
        )

    print()
    print(
        f"Reports per second (median of {args.repeats}; {args.reports} reports per process, "
        f"{FIDELITY_HIGH} per trial, ask and tell included). Optuna's trial.report(value, step) "
        "is its intermediate-value write."
    )
    print()
    print(_table(medians, runs) if runs else "(nothing was measured)")
    for backend, msg in skipped.items():
        print(f"\n{backend}: skipped - {msg}")

    if args.out:
        payload = {
            "environment": env,
            "settings": {
                "reports_per_process": args.reports,
                "repeats": args.repeats,
                "processes": processes,
                "backends": backends,
                "fidelity_high": FIDELITY_HIGH,
                "sqlite_timeout_s": SQLITE_TIMEOUT,
            },
            "skipped": skipped,
            "runs": [asdict(m) for m in runs],
            "medians": [
                {"impl": i, "backend": b, "processes": p, "reports_per_second": r}
                for (i, b, p), r in sorted(medians.items())
            ],
            "ratios": [
                {
                    "backend": b,
                    "processes": p,
                    "hyperrace_over_optuna": medians[("hyperrace", b, p)]
                    / medians[("optuna", b, p)],
                }
                for (i, b, p) in sorted(medians)
                if i == "hyperrace" and ("optuna", b, p) in medians
            ],
        }
        with open(args.out, "w") as fh:
            json.dump(payload, fh, indent=2)
        print(f"\nwritten: {args.out}", file=sys.stderr)

    return 0 if all(m.verified for m in runs) else 1


if __name__ == "__main__":
    sys.exit(main())
