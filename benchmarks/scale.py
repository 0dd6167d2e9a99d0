"""Does a study of 100,000 trials and about 1,000,000 observations on PostgreSQL stay interactive?

The study ``big`` (minimize; five hyperparameters and ``epochs = Fidelity(3, 90)``) is created
through the storage API, then its trials, observations and decisions are written in bulk with
psycopg's COPY, in one transaction (through the API, one report at a time, it would take an
hour), as an ASHA race with eta 3 would leave it: rungs at 3, 10, 30 and 90 epochs; at each
rung the best third (by its value there) was promoted, the others are paused, the trials at 90
are completed; every trial has a start decision and one resume decision per rung it was promoted
to, and one observation per epoch (about 9.8 per trial). Values follow a power-law curve falling
to :class:`hyperrace.benchmarks.SyntheticCurves`' final loss of the configuration, drawn in
numpy. The columns are those the API would write: trial status, target, work, run and version,
observation ``seq`` numbers increasing in commit order, ``hr_studies.version`` the number of
changes (decisions + reports + ends of runs), the kept best values (``top_fidelity``,
``best_last``, ``best_curve``). After a build, ``storage.history`` is read and checked: the
counts, the versions, and the kept best values against :meth:`History.best_value`.

The database is built once and kept: by default ``hr_scale_<trials>`` on the server of
``--server``, created if missing and reused by a second run (``--url`` names another). Each run
times a throwaway copy of it (``CREATE DATABASE ... TEMPLATE``, dropped at the end; the asks
below write to it), so every run measures the same study. A kept database is reused as it
is, with the schema and server functions of the hyperrace that built it: after a change to the
schema or its migrations, drop it (``DROP DATABASE hr_scale_100000``) to build it anew.

Timed, as the first call and the median of ``--repeat`` later calls (seconds):

* ``storage.list_studies()`` (first: on a freshly opened storage);
* ``hyperrace studies --storage URL``, ``hyperrace show big --storage URL`` (its default: the
  first 1,000 trials, the count and the best trial), the same with ``--all`` (every trial
  printed) and ``hyperrace best big --storage URL``, each a fresh process, its whole wall-clock
  time; ``hyperrace --help`` for the cost of starting Python and importing the CLI;
* the dashboard through FastAPI's TestClient (no network), as a browser opens it in a fresh
  app: its start-up (the app created and its lifespan's imports, as a server does before it
  serves), then the studies page and ``/api/studies``, then the study page ``/studies/big``
  (checks that the study is there), ``/api/studies/big`` (reads the whole history; summary and
  figures computed), the poll with the marker, a page of the trial table, the importance view,
  one trial's API; later calls are the same
  requests again, the study unchanged (figures cached under its marker, history read
  incrementally);
* a decision of ASHA (eta 3, the same rungs) and of the learning-curve race (``"race"``, its
  defaults), each in a fresh process: opening ``hr.Study("big", storage=url, optimizer=...)``,
  the first ``study.ask()`` (reads the whole history), then ``--repeat`` times: the job's epochs
  reported (``study.report``, timed per report), ``study.tell``, and the next ``ask`` (reads what
  changed). A process that runs past ``--timeout`` seconds is stopped and its rows say so.

Printed: the counts, a markdown table (what, first call s, later calls median s) and the load
average; ``--out`` writes the same as JSON.

    nice -n 19 .venv/bin/python benchmarks/scale.py --trials 100000 --out scale.json
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import psycopg
import sqlalchemy as sa

from hyperrace.benchmarks import SyntheticCurves
from hyperrace.history import History
from hyperrace.optimizers._parts.schedule.ladder import rungs
from hyperrace.space import Categorical, Fidelity, Float, Int, Space
from hyperrace.storage import open_storage

STUDY = "big"
ETA = 3
LOW, HIGH = 3, 90  # rungs at 3, 10, 30, 90 epochs
WORKERS = 8  # the simulated race's clock runs as if eight workers shared the epochs
T0 = 1.7e9
SERVER = "postgresql+psycopg://postgres@127.0.0.1:5432"


def space() -> Space:
    """SyntheticCurves' hyperparameters with ``epochs = Fidelity(3, 90)``."""
    return Space(
        lr=Float(1e-4, 1e-1, log=True),
        momentum=Float(0.0, 0.99),
        width=Int(16, 512, log=True),
        layers=Int(1, 6),
        activation=Categorical(["relu", "tanh", "gelu"]),
        epochs=Fidelity(LOW, HIGH),
    )


def task() -> SyntheticCurves:
    """The task whose final losses the curves fall to (and whose values later reports take)."""
    return SyntheticCurves(seed=0, max_epochs=HIGH)


# -- the database ---------------------------------------------------------------------------


def _libpq(url: str, database: str | None = None) -> str:
    """A psycopg connection string for a SQLAlchemy URL (another database when given)."""
    u = sa.engine.make_url(url)
    if database is not None:
        u = u.set(database=database)
    return str(u.set(drivername="postgresql").render_as_string(hide_password=False))


def _admin(url: str) -> psycopg.Connection[Any]:
    return psycopg.connect(_libpq(url, "postgres"), autocommit=True)


def ensure_database(url: str) -> None:
    """Create the database of ``url`` if the server has none of that name."""
    name = sa.engine.make_url(url).database
    with _admin(url) as conn:
        if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone():
            return
        conn.execute(f'CREATE DATABASE "{name}"')


def copy_database(url: str) -> str:
    """A copy of the database of ``url`` (nobody may be connected to it); its URL."""
    name = sa.engine.make_url(url).database
    copy = f"{name}_run_{uuid.uuid4().hex[:8]}"[:63]
    with _admin(url) as conn:
        for attempt in range(10):
            try:
                conn.execute(f'CREATE DATABASE "{copy}" TEMPLATE "{name}" STRATEGY FILE_COPY')
                break
            except psycopg.errors.ObjectInUse:  # autovacuum, or a connection closing
                if attempt == 9:
                    raise
                time.sleep(2.0)
    return str(sa.engine.make_url(url).set(database=copy).render_as_string(hide_password=False))


def drop_database(url: str, attempts: int = 30) -> None:
    """Drop the database of ``url``, retrying while the server refuses connections (a busy
    server may have all its connection slots taken for a while)."""
    name = sa.engine.make_url(url).database
    for attempt in range(attempts):
        try:
            with _admin(url) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            return
        except psycopg.OperationalError:
            if attempt == attempts - 1:
                print(f"could not drop the database {name}: drop it by hand", file=sys.stderr)
                raise
            time.sleep(10.0)


# -- the study ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Built:
    """What :func:`build` wrote (or found): the counts and the kept best values."""

    study_id: int
    trials: int
    observations: int
    decisions: int
    starts: int
    version: int
    top_fidelity: float | None
    best_last: float | None
    best_curve: float | None
    seconds: float
    built: bool


def _race(n: int, seed: int) -> dict[str, Any]:
    """The race in numpy: configurations, curves, who was promoted, and the order of runs."""
    sp, tk = space(), task()
    rng = np.random.default_rng(seed)
    configs = [sp.sample(rng) for _ in range(n)]
    final = np.array([tk.final_loss(c) for c in configs])  # g(x) of SyntheticCurves
    scale = 0.5 + 2.5 * rng.uniform(size=n)  # how far above g(x) the curve starts
    rate = 0.3 + 1.2 * rng.uniform(size=n)  # how fast it falls (a power law)
    step_seconds = np.array([tk.step_seconds(c) for c in configs])
    # the noise of each (trial, epoch), drawn once: the value at a rung that decided a
    # promotion is the value stored there
    noise = rng.normal(size=(n, HIGH + 1)).astype(np.float32)
    assert sp.fidelity is not None
    ladder = [int(r) for r in rungs(sp.fidelity, ETA)]
    assert ladder == [3, 10, 30, 90], ladder

    def curve(trial: np.ndarray, epoch: np.ndarray) -> np.ndarray:
        a = rate[trial]
        end = float(HIGH) ** -a
        remaining = (epoch.astype(float) ** -a - end) / (1.0 - end)
        wiggle = noise[trial, epoch].astype(float) * 0.01 / np.sqrt(epoch)
        value = final[trial] + scale[trial] * remaining + wiggle
        return np.where(epoch >= HIGH, final[trial], value)

    # ASHA's end state: at each rung the best floor(n / eta) of the trials there went on
    top = np.zeros(n, dtype=np.int64)
    at_rung = np.arange(n)
    for k in range(len(ladder) - 1):
        values = curve(at_rung, np.full(len(at_rung), ladder[k]))
        promoted = at_rung[np.argsort(values, kind="stable")[: len(at_rung) // ETA]]
        top[promoted] = k + 1
        at_rung = np.sort(promoted)
    # the runs (trial, rung) in the order they were decided: trial i starts as decision i of
    # the starts, its promotion to rung k comes after about eta**k - 1 further starts
    run_trial = np.concatenate([np.flatnonzero(top >= k) for k in range(len(ladder))])
    run_rung = np.concatenate([np.full(int((top >= k).sum()), k) for k in range(len(ladder))])
    key = run_trial + np.where(run_rung > 0, ETA**run_rung - 0.5, 0.0)
    order = np.lexsort((run_rung, key))
    run_trial, run_rung = run_trial[order], run_rung[order]
    stops = np.array(ladder, dtype=np.int64)
    run_stop = stops[run_rung]
    run_start = np.where(run_rung > 0, stops[np.maximum(run_rung - 1, 0)], 0)
    epochs = run_stop - run_start
    # changes in commit order: the decision, one per report, the end of the run
    end_version = np.cumsum(epochs + 2)
    decision_version = end_version - epochs - 1
    seconds = epochs * step_seconds[run_trial] / WORKERS
    run_time = T0 + np.concatenate([[0.0], np.cumsum(seconds)[:-1]])
    # observations, run by run (the order they were committed in)
    obs_run = np.repeat(np.arange(len(run_trial)), epochs)
    within = np.arange(len(obs_run)) - np.repeat(np.cumsum(epochs) - epochs, epochs)
    obs_trial = run_trial[obs_run]
    obs_fidelity = run_start[obs_run] + within + 1
    return {
        "configs": configs,
        "top": top,
        "ladder": ladder,
        "run_trial": run_trial,
        "run_rung": run_rung,
        "run_start": run_start,
        "run_stop": run_stop,
        "run_time": run_time,
        "run_end_time": run_time + seconds,
        "decision_version": decision_version,
        "end_version": end_version,
        "obs_trial": obs_trial,
        "obs_fidelity": obs_fidelity,
        "obs_value": curve(obs_trial, obs_fidelity),
        "obs_seq": decision_version[obs_run] + within + 1,
        "obs_seconds": step_seconds[obs_trial],
        "obs_time": run_time[obs_run] + (within + 1) * step_seconds[obs_trial] / WORKERS,
    }


def _study_row(url: str) -> tuple[int, int, Any, Any, Any] | None:
    with psycopg.connect(_libpq(url)) as conn:
        row = conn.execute(
            "SELECT study_id, version, top_fidelity, best_last, best_curve FROM hr_studies "
            "WHERE name = %s",
            (STUDY,),
        ).fetchone()
    return None if row is None else tuple(row)  # type: ignore[return-value]


def _counts(url: str, study_id: int) -> tuple[int, int, int, int]:
    with psycopg.connect(_libpq(url)) as conn:
        row = conn.execute(
            "SELECT (SELECT count(*) FROM hr_trials WHERE study_id = %(s)s), "
            "(SELECT count(*) FROM hr_observations o JOIN hr_trials t USING (trial_id) "
            " WHERE t.study_id = %(s)s), "
            "(SELECT count(*) FROM hr_decisions WHERE study_id = %(s)s), "
            "(SELECT count(*) FROM hr_decisions WHERE study_id = %(s)s AND kind = 'start')",
            {"s": study_id},
        ).fetchone()
    assert row is not None
    return int(row[0]), int(row[1]), int(row[2]), int(row[3])


def build(url: str, trials: int, seed: int = 0, log: Callable[[str], None] = print) -> Built:
    """Write the study ``big`` with ``trials`` trials into ``url``, unless it holds it already.

    The study is created through the API, the rest written with COPY in one transaction (a
    build cut short leaves the study empty, and the next run builds it again)."""
    start = time.perf_counter()
    storage = open_storage(url)  # creates the schema at the current version
    info = storage.create_study(
        STUDY,
        direction="minimize",
        space=space().to_dict(),
        optimizer={"name": "asha", "params": {"eta": ETA, "variant": "promotion", "rule": "top"}},
        seed=seed,
        now=T0,
    )
    storage.close()
    study_id, version, top_f, last, best = _study_row(url) or (info.study_id, 0, None, None, None)
    if version > 0:
        n, obs, dec, starts = _counts(url, study_id)
        seconds = time.perf_counter() - start
        return Built(study_id, n, obs, dec, starts, version, top_f, last, best, seconds, False)

    race = _race(trials, seed)
    log(f"  race simulated in {time.perf_counter() - start:.1f} s")
    run_trial, obs_trial = race["run_trial"], race["obs_trial"]
    n_runs, n_obs = len(run_trial), len(obs_trial)
    with psycopg.connect(_libpq(url)) as conn:  # one transaction
        base_trial, base_obs, base_dec = conn.execute(
            "SELECT (SELECT coalesce(max(trial_id), 0) FROM hr_trials), "
            "(SELECT coalesce(max(observation_id), 0) FROM hr_observations), "
            "(SELECT coalesce(max(decision_id), 0) FROM hr_decisions)"
        ).fetchone() or (0, 0, 0)
        trial_ids = base_trial + 1 + np.arange(trials)
        last_run = np.zeros(trials, dtype=np.int64)
        last_run[run_trial] = np.arange(n_runs)  # runs are in order: the last one wins
        first_run = np.full(trials, -1, dtype=np.int64)
        first_run[run_trial[::-1]] = np.arange(n_runs)[::-1]
        top_stop = race["run_stop"][last_run]
        status = np.where(top_stop >= HIGH, "completed", "paused")
        with conn.cursor() as cur:
            columns = (
                "trial_id, study_id, number, config, status, reason, message, target, "
                "checkpoint_fidelity, work, lost_count, created, updated, heartbeat, version, run, "
                "user_attrs, devices"
            )
            with cur.copy(f"COPY hr_trials ({columns}) FROM STDIN") as copy:
                for row in zip(
                    trial_ids.tolist(),
                    range(trials),
                    race["configs"],
                    status.tolist(),
                    top_stop.astype(float).tolist(),
                    race["run_time"][first_run].tolist(),
                    race["run_end_time"][last_run].tolist(),
                    race["end_version"][last_run].tolist(),
                    last_run.tolist(),
                    strict=True,
                ):
                    tid, number, config, st, target, created, updated, ver, run = row
                    copy.write_row(
                        (tid, study_id, number, json.dumps(config, allow_nan=False), st,
                         "reached", "", target, None, target, 0, created, updated, None, ver,
                         run, "{}", None)
                    )  # fmt: skip
            log(f"  {trials} trials copied ({time.perf_counter() - start:.1f} s)")
            columns = (
                "observation_id, trial_id, fidelity, value, wall_seconds, cpu_seconds, time, seq"
            )
            with cur.copy(f"COPY hr_observations ({columns}) FROM STDIN") as copy:
                for row in zip(
                    (base_obs + 1 + np.arange(n_obs)).tolist(),
                    trial_ids[obs_trial].tolist(),
                    race["obs_fidelity"].astype(float).tolist(),
                    race["obs_value"].tolist(),
                    race["obs_seconds"].tolist(),
                    race["obs_seconds"].tolist(),
                    race["obs_time"].tolist(),
                    race["obs_seq"].tolist(),
                    strict=True,
                ):
                    copy.write_row(row)
            log(f"  {n_obs} observations copied ({time.perf_counter() - start:.1f} s)")
            columns = (
                "decision_id, study_id, idx, kind, trial_id, start, stop, optimizer, info, time, "
                "decision_key"
            )
            rung = race["run_rung"]
            with cur.copy(f"COPY hr_decisions ({columns}) FROM STDIN") as copy:
                for idx, (tid, k, begin, stop, at) in enumerate(
                    zip(
                        trial_ids[run_trial].tolist(),
                        rung.tolist(),
                        race["run_start"].astype(float).tolist(),
                        race["run_stop"].astype(float).tolist(),
                        race["run_time"].tolist(),
                        strict=True,
                    )
                ):
                    kind = "resume" if k else "start"
                    info = {"rung": k, "variant": "promotion"} if k else {"rung": 0}
                    copy.write_row(
                        (base_dec + 1 + idx, study_id, idx, kind, tid, begin, stop, "asha",
                         json.dumps(info), at, uuid.uuid4().hex)
                    )  # fmt: skip
            log(f"  {n_runs} decisions copied ({time.perf_counter() - start:.1f} s)")
        # the kept best values, as the API's transactions would have left them (no trial failed)
        values, fidelity = race["obs_value"], race["obs_fidelity"]
        top_f = float(fidelity.max())
        last = float(values[fidelity == top_f].min())
        best = float(values.min())
        version = int(race["end_version"][-1])
        conn.execute(
            "UPDATE hr_studies SET version = %s, top_fidelity = %s, best_last = %s, "
            "best_curve = %s, elapsed_seconds = %s WHERE study_id = %s",
            (version, top_f, last, best, float(race["run_end_time"][-1]) - T0, study_id),
        )
        for table, column in (
            ("hr_trials", "trial_id"),
            ("hr_observations", "observation_id"),
            ("hr_decisions", "decision_id"),
        ):
            conn.execute(
                f"SELECT setval(pg_get_serial_sequence('{table}', '{column}'), "
                f"(SELECT max({column}) FROM {table}))"
            )
    with psycopg.connect(_libpq(url), autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE hr_trials, hr_observations, hr_decisions, hr_studies")
    seconds = time.perf_counter() - start
    starts = int((race["run_rung"] == 0).sum())
    return Built(study_id, trials, n_obs, n_runs, starts, version, top_f, last, best, seconds, True)


def verify(url: str, built: Built) -> list[str]:
    """Read the study through the API and check it against what was written; the problems."""
    problems: list[str] = []
    storage = open_storage(url)
    try:
        h: History = storage.history(built.study_id, decisions=True)
        summary = next(s for s in storage.list_studies() if s.name == STUDY)
    finally:
        storage.close()

    def check(what: str, got: Any, expected: Any) -> None:
        if got != expected:
            problems.append(f"{what}: {got!r}, expected {expected!r}")

    check("trials", len(h.trials), built.trials)
    check("observations", sum(len(t.curve) for t in h.trials), built.observations)
    check("decisions", (h.n_decisions, len(h.decisions)), (built.decisions, built.decisions))
    check("start decisions", sum(d.kind == "start" for d in h.decisions), built.trials)
    check("version", h.version, built.decisions * 2 + built.observations)
    check("best value (list_studies)", summary.best_value, h.best_value("last"))
    check("best_last", built.best_last, h.best_value("last"))
    check("best_curve", built.best_curve, h.best_value("curve"))
    check("top_fidelity", built.top_fidelity, h.max_fidelity_reached)
    seqs = sorted(o.seq for t in h.trials for o in t.curve)
    check("seq numbers distinct", len(set(seqs)), len(seqs))
    check("seq below version", bool(seqs) and seqs[-1] < h.version, True)
    for t in h.trials:
        reached = t.curve[-1].fidelity if t.curve else 0.0
        fidelities = [o.fidelity for o in t.curve]
        ok = (
            fidelities == [float(f) for f in range(1, int(reached) + 1)]
            and t.work == reached == t.target
            and [o.seq for o in t.curve] == sorted(o.seq for o in t.curve)
            and t.status.value == ("completed" if reached >= HIGH else "paused")
        )
        if not ok:
            problems.append(f"trial {t.number} is not consistent: {t}")
            break
    return problems


# -- timing ---------------------------------------------------------------------------------


@dataclass
class Row:
    what: str
    first: float | None
    later: float | None
    note: str = ""


def timed(call: Callable[[], Any], repeat: int) -> tuple[float, Any]:
    """The median seconds of ``repeat`` calls, and the last result."""
    times, result = [], None
    for _ in range(repeat):
        start = time.perf_counter()
        result = call()
        times.append(time.perf_counter() - start)
    return statistics.median(times), result


def time_list_studies(url: str, repeat: int) -> list[Row]:
    start = time.perf_counter()
    storage = open_storage(url)
    opened = time.perf_counter() - start
    start = time.perf_counter()
    storage.list_studies()
    first = time.perf_counter() - start
    later, _ = timed(storage.list_studies, repeat)
    storage.close()
    return [Row("storage.list_studies()", first, later, f"opening the storage: {opened:.3f} s")]


def time_cli(url: str, repeat: int, timeout: float) -> list[Row]:
    rows = []
    for what, args in (
        ("`hyperrace --help` (Python start and imports)", ["--help"]),
        ("`hyperrace studies --storage URL`", ["studies", "--storage", url]),
        (
            f"`hyperrace show {STUDY} --storage URL` (the first 1,000 trials)",
            ["show", STUDY, "--storage", url],
        ),
        (
            f"`hyperrace show {STUDY} --storage URL --all` (every trial)",
            ["show", STUDY, "--storage", url, "--all"],
        ),
        (f"`hyperrace best {STUDY} --storage URL`", ["best", STUDY, "--storage", url]),
    ):
        times, size, note = [], 0, ""
        for _ in range(1 + repeat):
            start = time.perf_counter()
            try:
                done = subprocess.run(
                    [sys.executable, "-m", "hyperrace", *args],
                    capture_output=True,
                    timeout=timeout,
                    check=False,
                )
            except subprocess.TimeoutExpired:
                note = f"stopped after {timeout:g} s"
                break
            times.append(time.perf_counter() - start)
            if done.returncode != 0:
                raise RuntimeError(f"hyperrace {' '.join(args)}: {done.stderr.decode()[-2000:]}")
            size = len(done.stdout)
        later = statistics.median(times[1:]) if len(times) > 1 else None
        note = note or f"{size / 1e6:.2f} MB printed"
        rows.append(Row(what, times[0] if times else None, later, note))
    return rows


def time_dashboard(url: str, repeat: int) -> list[Row]:
    from fastapi.testclient import TestClient

    from hyperrace.dashboard import create_app

    api = f"/api/studies/{STUDY}"
    calls: list[tuple[str, str]] = [
        ("dashboard: / (studies page)", "/"),
        ("dashboard: /api/studies", "/api/studies"),
        (f"dashboard: /studies/{STUDY} (the page; checks the study is there)", f"/studies/{STUDY}"),
        (f"dashboard: {api} (reads the history; summary and figures)", api),
        (f"dashboard: {api}?since=MARKER (poll)", api + "?since={marker}"),
        ("dashboard: trial table, best 50", f"{api}/trials?offset=0&limit=50&order=best"),
        ("dashboard: importance", f"{api}/importance"),
        ("dashboard: one trial's API", api + "/trials/{trial}"),
    ]
    rows = []
    start = time.perf_counter()
    with TestClient(create_app(url)) as client:  # entered: the app's start-up has run
        what = "dashboard: start-up (the app created, what its pages use imported)"
        rows.append(Row(what, time.perf_counter() - start, None))
        found: dict[str, Any] = {}
        firsts: list[tuple[float, int]] = []
        for _, path in calls:
            path = path.format(**found)
            start = time.perf_counter()
            response = client.get(path)
            firsts.append((time.perf_counter() - start, len(response.content)))
            assert response.status_code == 200, (path, response.text[:500])
            if path == api:
                found["marker"] = response.json()["marker"]
            if "/trials?" in path:
                found["trial"] = response.json()["trials"][0]["trial_id"]
        for (what, path), (first, size) in zip(calls, firsts, strict=True):
            later, _ = timed(lambda path=path: client.get(path.format(**found)), repeat)
            rows.append(Row(what, first, later, f"{size / 1e6:.2f} MB"))
    page = sum(first for first, _ in firsts[2:7])
    rows.append(Row("dashboard: the study page complete (the five calls above)", page, None))
    return rows


def ask_part(url: str, optimizer: str, repeat: int) -> dict[str, Any]:
    """In a fresh process: open the study with ``optimizer``, ask, then report, tell, ask."""
    import hyperrace as hr
    from hyperrace.optimizers import ASHA

    tk = task()
    opt: Any = ASHA(eta=ETA) if optimizer == "asha" else optimizer
    out: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as artifacts:
        start = time.perf_counter()
        study = hr.Study(STUDY, storage=url, optimizer=opt, artifacts=artifacts)
        out["open"] = time.perf_counter() - start
        try:
            start = time.perf_counter()
            job = study.ask()
            out["first_ask"] = time.perf_counter() - start
            out["next_asks"], out["reports"], out["tells"], out["jobs"] = [], [], [], []
            for _ in range(repeat):
                if not isinstance(job, hr.Job):
                    out["jobs"].append(repr(job))
                    break
                out["jobs"].append(f"{job.kind} {job.number} {job.start:g}->{job.stop:g}")
                for epoch in range(int(job.start) + 1, int(job.stop) + 1):
                    start = time.perf_counter()
                    study.report(job.trial_id, tk.value(job.config, epoch), fidelity=epoch)
                    out["reports"].append(time.perf_counter() - start)
                start = time.perf_counter()
                study.tell(job)
                out["tells"].append(time.perf_counter() - start)
                start = time.perf_counter()
                job = study.ask()
                out["next_asks"].append(time.perf_counter() - start)
            if isinstance(job, hr.Job):
                study.tell(job)
        finally:
            study.close()
            study.storage.close()
    return out


def time_asks(url: str, optimizer: str, repeat: int, timeout: float) -> list[Row]:
    label = {"asha": "ASHA (eta 3)", "race": "race (learning-curve race)"}[optimizer]
    command = [sys.executable, __file__, "--ask", optimizer, "--url", url, "--repeat", str(repeat)]
    try:
        done = subprocess.run(command, capture_output=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        return [Row(f"{label}: first ask (fresh process)", None, None, f"over {timeout:g} s")]
    if done.returncode != 0:
        raise RuntimeError(f"{label}: {done.stderr.decode()[-3000:]}")
    out = json.loads(done.stdout.decode().strip().splitlines()[-1])

    def median(xs: Sequence[float]) -> float | None:
        return statistics.median(xs) if xs else None

    jobs = ", ".join(out["jobs"])
    return [
        Row(f"{label}: open hr.Study (fresh process)", out["open"], None),
        Row(f"{label}: ask (first: reads the whole history)", out["first_ask"],
            median(out["next_asks"]), f"jobs: {jobs}"),
        Row(f"{label}: report one epoch", None, median(out["reports"]),
            f"{len(out['reports'])} reports"),
        Row(f"{label}: tell", None, median(out["tells"])),
    ]  # fmt: skip


def markdown(rows: Sequence[Row]) -> str:
    def f(x: float | None) -> str:
        return "" if x is None else f"{x:.3f}"

    lines = ["| what | first call s | later calls median s | note |", "| --- | ---: | ---: | --- |"]
    lines += [f"| {r.what} | {f(r.first)} | {f(r.later)} | {r.note} |" for r in rows]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--trials", type=int, default=100_000)
    parser.add_argument("--server", default=SERVER, help="the PostgreSQL server (a URL)")
    parser.add_argument("--url", help="the database to build or reuse (default hr_scale_TRIALS)")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--timeout", type=float, default=900.0, help="seconds per subprocess")
    parser.add_argument("--out", help="write the figures as JSON here")
    parser.add_argument(
        "--skip", nargs="*", default=[], choices=["cli", "dashboard", "asha", "race"]
    )
    parser.add_argument("--ask", help=argparse.SUPPRESS)  # the fresh process of time_asks
    args = parser.parse_args()
    if args.ask:
        print(json.dumps(ask_part(args.url, args.ask, args.repeat)))
        return
    url = args.url or f"{args.server}/hr_scale_{args.trials}"
    load = os.getloadavg()
    print(f"load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}; {url}", flush=True)
    ensure_database(url)
    built = build(url, args.trials, log=lambda s: print(s, flush=True))
    print(
        f"study {'built' if built.built else 'found'} in {built.seconds:.1f} s: {built.trials} "
        f"trials, {built.observations} observations ({built.observations / built.trials:.2f} "
        f"per trial), {built.decisions} decisions ({built.starts} starts, "
        f"{built.decisions - built.starts} resumes), version {built.version}",
        flush=True,
    )
    problems: list[str] = []
    if built.built:
        start = time.perf_counter()
        problems = verify(url, built)
        print(f"verified through the API in {time.perf_counter() - start:.1f} s: "
              f"{'; '.join(problems) or 'consistent'}", flush=True)  # fmt: skip
        if problems:
            sys.exit(1)
    copy = copy_database(url)
    rows: list[Row] = []
    try:
        steps: list[tuple[str, Callable[[], list[Row]]]] = [
            ("list", lambda: time_list_studies(copy, args.repeat)),
            ("cli", lambda: time_cli(copy, args.repeat, args.timeout)),
            ("dashboard", lambda: time_dashboard(copy, args.repeat)),
            ("asha", lambda: time_asks(copy, "asha", args.repeat, args.timeout)),
            ("race", lambda: time_asks(copy, "race", args.repeat, args.timeout)),
        ]
        for name, step in steps:
            if name in args.skip:
                continue
            start = time.perf_counter()
            rows += step()
            print(f"  {name}: {time.perf_counter() - start:.1f} s", flush=True)
    finally:
        report(args, url, built, load, rows)
        drop_database(copy)


def report(
    args: argparse.Namespace, url: str, built: Built, load: Sequence[float], rows: list[Row]
) -> None:
    """Print the table (what was timed so far) and write the JSON of ``--out``."""
    end_load = os.getloadavg()
    print()
    print(markdown(rows))
    print(f"\nload average at the end {end_load[0]:.2f} {end_load[1]:.2f} {end_load[2]:.2f}")
    if args.out:
        result = {
            "url": sa.engine.make_url(url).render_as_string(hide_password=True),
            "trials": built.trials,
            "observations": built.observations,
            "decisions": built.decisions,
            "version": built.version,
            "build_seconds": built.seconds if built.built else None,
            "repeat": args.repeat,
            "load_average_start": list(load),
            "load_average_end": list(end_load),
            "rows": [r.__dict__ for r in rows],
        }
        with open(args.out, "w") as f:
            json.dump(result, f, indent=1)


if __name__ == "__main__":
    main()
