"""How fast the dashboard answers with a big study: 10,000 trials in a SQLite file.

The study is written through the storage API, as an ASHA race would leave it (eta 3, 27
epochs): every trial trains 1 epoch, a third is promoted to 3, a ninth to 9, a 27th to 27, the
rest stay paused; curves come from :class:`hyperrace.benchmarks.SyntheticCurves`. The file is
kept (``--db``) and reused when it already holds the study. Then each overview endpoint is timed
through the real app (FastAPI's test client, no network): the first call (the figures computed),
a repeated call with the same marker (the cheap poll of a page that is up to date), the
importance view, a page of the trial table and one trial's page. Printed: seconds per call
(median of ``--repeat``) and response sizes.

    .venv/bin/python benchmarks/dashboard_speed.py --trials 10000
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path
from typing import Any

import numpy as np

from hyperrace.benchmarks import SyntheticCurves
from hyperrace.storage import NewDecision, open_storage
from hyperrace.trial import Observation, StopReason, TrialStatus

RUNGS = (1.0, 3.0, 9.0, 27.0)


def build(url: str, trials: int, seed: int = 0) -> None:
    """Write the study ``big`` with ``trials`` trials (if it is not there yet)."""
    storage = open_storage(url)
    if storage.get_study("big") is not None:
        storage.close()
        return
    task = SyntheticCurves(seed=seed, max_epochs=27)
    rng = np.random.default_rng(seed)
    info = storage.create_study(
        "big",
        direction="minimize",
        space=task.space.to_dict(),
        optimizer={"name": "asha", "params": {}},
        seed=seed,
        now=1.7e9,
    )
    now = 1.7e9
    index = 0
    for n in range(trials):
        config = task.space.sample(rng)
        # the highest rung this trial reaches: 0 for 2/3 of them, ..., 3 for 1/27
        top = 0
        while top < 3 and rng.uniform() < 1 / 3:
            top += 1
        trial_id = None
        fidelity = 0.0
        for rung in range(top + 1):
            stop = RUNGS[rung]
            if trial_id is None:
                decision = NewDecision("start", stop, config=config, optimizer="asha")
            else:
                decision = NewDecision("resume", stop, trial_id=trial_id, optimizer="asha")
            decision = NewDecision(
                decision.kind, stop, decision.config, decision.trial_id, "asha", {"rung": rung}
            )
            _, record = storage.apply_decision(info.study_id, index, decision, now=now)
            trial_id = record.trial_id
            index += 1
            while fidelity < stop:
                fidelity += 1.0
                now += task.step_seconds(config) / 8  # eight workers
                value = task.value(config, fidelity)
                storage.report(trial_id, Observation(fidelity, value, 1.0, 1.0, now))
            done = fidelity >= 27.0
            storage.end_run(
                trial_id,
                TrialStatus.COMPLETED if done else TrialStatus.PAUSED,
                StopReason.REACHED,
                "",
                now=now,
            )
        if (n + 1) % 1000 == 0:
            print(f"  wrote {n + 1} trials", flush=True)
    storage.close()


def timed(call: Any, repeat: int) -> tuple[float, Any]:
    times = []
    result = None
    for _ in range(repeat):
        start = time.perf_counter()
        result = call()
        times.append(time.perf_counter() - start)
    return statistics.median(times), result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--trials", type=int, default=10_000)
    parser.add_argument("--db", default="dashboard_speed.db", help="the SQLite file (kept)")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    url = f"sqlite:///{Path(args.db).resolve()}"
    start = time.perf_counter()
    build(url, args.trials)
    print(f"study ready in {time.perf_counter() - start:.1f} s ({url})")

    from fastapi.testclient import TestClient

    from hyperrace.dashboard import create_app
    from hyperrace.visual import read

    storage = open_storage(url)
    t, snap = timed(lambda: read(storage, "big"), args.repeat)
    h = snap.history
    observations = sum(len(tr.curve) for tr in h.trials)
    print(
        f"{len(h.trials)} trials, {observations} observations, {h.n_decisions} decisions; "
        f"reading the snapshot: {t:.3f} s"
    )
    client = TestClient(create_app(storage))
    first = time.perf_counter()
    response = client.get("/api/studies/big")
    cold = time.perf_counter() - first
    marker = response.json()["marker"]
    rows = [("overview, first call (figures computed)", cold, len(response.content))]
    for label, path in (
        ("overview, same marker again (cached figures)", "/api/studies/big"),
        ("poll of an up-to-date page (?since=marker)", f"/api/studies/big?since={marker}"),
        ("importance (forest), first call", "/api/studies/big/importance"),
        ("trial table, best 50", "/api/studies/big/trials?limit=50"),
        ("one trial's page", "/api/studies/big/trials/7"),
        ("list of studies", "/api/studies"),
    ):
        repeat = 1 if "first call" in label else args.repeat
        t, resp = timed(lambda path=path: client.get(path), repeat)
        assert resp.status_code == 200, resp.text
        rows.append((label, t, len(resp.content)))
    for label, seconds, size in rows:
        print(f"  {label:<48} {seconds:7.3f} s  {size / 1e6:6.2f} MB")
    payload = json.loads(client.get("/api/studies/big").content)
    points = sum(
        len([x for x in trace["x"] if x is not None])
        for trace in payload["figures"]["race"]["data"]
    )
    print(f"race figure: {len(payload['figures']['race']['data'])} traces, {points} points")
    storage.close()


if __name__ == "__main__":
    main()
