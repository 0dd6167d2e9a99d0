"""Extraction: the records every picture is drawn from, checked on a real ASHA study."""

from __future__ import annotations

import dataclasses
import itertools
import json

import numpy as np
import pytest

import hyperrace as hr
from hyperrace.exceptions import ConfigurationError
from hyperrace.history import History
from hyperrace.testing.history import in_columns
from hyperrace.trial import Observation, TrialRecord, TrialStatus
from hyperrace.visual import (
    Snapshot,
    best_so_far,
    importance,
    marker,
    parallel_table,
    race,
    trial_detail,
)


def test_race_cuts_every_curve_into_its_runs(snap: Snapshot) -> None:
    h = snap.history
    r = race(h, snap.space)
    assert len(r.segments) == h.n_decisions == len(h.decisions)
    resumes = sum(d.kind == "resume" for d in h.decisions)
    assert resumes > 0, "ASHA should have promoted some trials"
    assert sum(s.outcome == "promoted" for s in r.segments) == resumes
    assert r.max_fidelity == 9.0 and r.fidelity_name == "epochs"
    for trial in h.trials:
        runs = [s for s in r.segments if s.trial_id == trial.trial_id]
        assert [s.run for s in runs] == list(range(len(runs)))
        # the runs follow each other: each starts where the previous one ended
        for before, after in itertools.pairwise(runs):
            assert before.outcome == "promoted"
            assert after.start == before.reached
            assert after.began >= before.ended
            assert after.fidelities[0] == before.fidelities[-1]  # drawn continuous
        # their reports, without the lead-in points, are the curve exactly
        reported = [
            (f, v) for s in runs for f, v in zip(s.fidelities, s.values, strict=True) if f > s.start
        ]
        assert reported == [(o.fidelity, o.value) for o in trial.curve]
        last = runs[-1]
        expected = {
            TrialStatus.PAUSED: "paused",
            TrialStatus.COMPLETED: "completed",
            TrialStatus.FAILED: "failed",
            TrialStatus.RUNNING: "running",
        }[trial.status]
        assert last.outcome == expected
    assert sum(s.outcome == "completed" for s in r.segments) == len(h.completed) > 0
    assert r.best_trial == h.best().trial_id  # type: ignore[union-attr]
    assert 0 < r.duration == max(s.ended for s in r.segments)


def test_without_decision_records_each_trial_is_one_segment(snap: Snapshot) -> None:
    bare = History(snap.history.direction, snap.history.trials, snap.history.n_decisions)
    r = race(bare, snap.space)
    assert len(r.segments) == len(bare.trials)
    assert all(s.decision is None and s.run == 0 for s in r.segments)
    assert [len(s.fidelities) for s in r.segments] == [len(t.curve) for t in bare.trials]


def test_best_so_far_steps_down_to_the_best_value(snap: Snapshot) -> None:
    h = snap.history
    b = best_so_far(h, snap.space)
    values = [p.value for p in b.any_fidelity]
    assert values == sorted(values, reverse=True)
    assert values[-1] == min(o.value for t in h.trials for o in t.curve)
    works = [p.work for p in b.any_fidelity]
    assert works == sorted(works) and b.total_work == works[-1] == h.work  # nothing retrained
    assert b.at_max and all(p.fidelity == 9.0 for p in b.at_max)
    assert b.at_max[-1].value == h.best().last_value  # type: ignore[union-attr]
    assert b.at_max[-1].work == b.total_work


def _best_so_far_report_by_report(history: History, max_fidelity: float | None) -> tuple:
    """The incumbent computed one report after another, as the definition reads: what the
    array computation of :func:`best_so_far` must give exactly."""
    times = [d.time for d in history.decisions if d.time > 0]
    times += [t.created for t in history.trials if t.created > 0]
    times += [t.curve[0].time for t in history.trials if t.curve and t.curve[0].time > 0]
    origin = min(times, default=0.0)
    events = sorted(
        (o.time, t.trial_id, o.fidelity, o.value) for t in history.trials for o in t.curve
    )
    highest: dict[int, float] = {}
    work = 0.0
    best_any: list[tuple] = []
    best_max: list[tuple] = []
    for time, trial_id, f, value in events:
        work += max(f - highest.get(trial_id, 0.0), 0.0)
        highest[trial_id] = max(f, highest.get(trial_id, 0.0))
        point = (work, time - origin, value, trial_id, f)
        if not best_any or history.better(value, best_any[-1][2]):
            best_any.append(point)
        at_max = max_fidelity is not None and f >= max_fidelity
        if at_max and (not best_max or history.better(value, best_max[-1][2])):
            best_max.append(point)
    end = max((e[0] for e in events), default=origin) - origin
    closed = []
    for points in (best_any, best_max):
        if points and points[-1][0] < work:
            points = [*points, (work, end, *points[-1][2:])]
        closed.append(tuple(points))
    return closed[0], closed[1], work


@pytest.mark.parametrize("seed", range(8))
def test_best_so_far_equals_the_report_by_report_definition_exactly(seed: int) -> None:
    """Retrained and skipped steps, reports out of order in time, ties in time and value,
    fractional fidelities, both directions, trial ids in and out of the numbers' order: the
    same points and sums to the last bit."""
    rng = np.random.default_rng(seed)
    direction = "minimize" if seed % 2 == 0 else "maximize"
    trials = []
    for number in range(int(rng.integers(1, 40))):
        steps = np.sort(rng.choice([0.5, 1.0, 1.5, 2.0, 3.0, 4.0], size=rng.integers(0, 6)))
        curve = tuple(
            Observation(
                float(step),
                float(rng.choice([0.25, 0.5, rng.normal()])),
                time=float(rng.integers(0, 30)) + float(rng.choice([0.0, 0.1])),
            )
            for step in np.unique(steps)
        )
        status = TrialStatus.FAILED if rng.random() < 0.1 else TrialStatus.PAUSED
        # trial ids rising with the numbers (as a storage gives them), or not (then the columns
        # are not in id order and the chart sorts them on every key)
        trial_id = 100 + 3 * number if seed < 4 else 1000 - 7 * number + 50 * (number % 3)
        trials.append(TrialRecord(trial_id, number, {}, status, curve, created=1.0))
    history = History(direction, tuple(trials))
    got = best_so_far(history, hr.Space(x=hr.Float(0.0, 1.0), f=hr.Fidelity(1, 3)))
    any_fidelity, at_max, work = _best_so_far_report_by_report(history, 3.0)
    assert [tuple(vars_of(p)) for p in got.any_fidelity] == list(any_fidelity)
    assert [tuple(vars_of(p)) for p in got.at_max] == list(at_max)
    assert got.total_work == work and type(got.total_work) is float
    assert all(type(p.work) is float and type(p.trial_id) is int for p in got.any_fidelity)
    # the same history read in columns (as PostgreSQL reads a whole study): the same chart
    held = best_so_far(in_columns(history), hr.Space(x=hr.Float(0.0, 1.0), f=hr.Fidelity(1, 3)))
    assert held == got


def vars_of(point: object) -> tuple:
    return tuple(getattr(point, k) for k in ("work", "seconds", "value", "trial_id", "fidelity"))


def test_parallel_table_has_one_row_per_trial_that_reported(snap: Snapshot) -> None:
    h = snap.history
    table = parallel_table(h, snap.space)
    reported = [t for t in h.trials if t.curve]
    assert table.numbers == tuple(t.number for t in reported)
    columns = {c.name: c for c in table.columns}
    assert set(columns) == set(snap.space.names)
    lr = columns["lr"]
    assert lr.log and lr.values[0] == reported[0].config["lr"]  # the real value
    assert (lr.low, lr.high) == (1e-4, 1e-1)
    act = columns["activation"]
    assert act.labels == ("relu", "tanh", "gelu")
    assert act.labels[int(act.values[0] or 0)] == reported[0].config["activation"]
    assert table.value == tuple(t.last_value for t in reported)


def test_trial_detail_carries_the_decisions_and_what_the_optimizer_recorded(
    snap: Snapshot,
) -> None:
    h = snap.history
    promoted = next(t for t in h.trials if t.fidelity >= 3)
    d = trial_detail(h, promoted.trial_id, snap.space)
    assert d.config == promoted.config and d.fidelity == promoted.fidelity
    assert [x[1] for x in d.decisions] == ["start"] + ["resume"] * (len(d.decisions) - 1)
    assert [x[6]["rung"] for x in d.decisions] == list(range(len(d.decisions)))
    assert len(d.segments) == len(d.decisions)
    with pytest.raises(KeyError, match=r"no trial 9999 in this study \(its trials are 1 to "):
        trial_detail(h, 9999)


def test_the_marker_changes_with_every_report(tmp_path: object) -> None:
    space = hr.Space(x=hr.Float(0.0, 1.0), epochs=hr.Fidelity(1, 3))
    study = hr.Study("m", space, storage="memory://", optimizer="random", seed=0)
    job = study.ask()
    assert isinstance(job, hr.Job)
    seen = {marker(study.history())}
    for f in (1, 2):
        study.report(job.trial_id, fidelity=f, value=1.0 / f)
        seen.add(marker(study.history()))
    study.tell(job)
    seen.add(marker(study.history()))
    assert len(seen) == 4
    assert marker(study.history()) == marker(study.history())


def _history(rng: np.random.Generator, n: int, direction: str = "minimize") -> History:
    trials = []
    for i in range(n):
        config = {
            "x": float(rng.uniform()),
            "y": float(rng.uniform()),
            "z": int(rng.integers(1, 9)),
            "c": str(rng.choice(["a", "b", "c"])),
        }
        loss = 10.0 * (config["x"] - 0.3) ** 2 + 0.01 * float(rng.normal())
        value = loss if direction == "minimize" else -loss
        curve = (Observation(1.0, value + 1.0), Observation(2.0, value))
        trials.append(TrialRecord(i + 1, i, config, TrialStatus.COMPLETED, curve))
    return History(direction, tuple(trials))  # type: ignore[arg-type]


SPACE = hr.Space(
    x=hr.Float(0.0, 1.0),
    y=hr.Float(0.0, 1.0),
    z=hr.Int(1, 8),
    c=hr.Categorical(["a", "b", "c"]),
    epochs=hr.Fidelity(1, 2),
)


@pytest.mark.parametrize("method", ["forest", "binned"])
@pytest.mark.parametrize("direction", ["minimize", "maximize"])
def test_importance_finds_the_one_parameter_that_matters(method: str, direction: str) -> None:
    h = _history(np.random.default_rng(0), 200, direction)
    imp = importance(h, SPACE, method=method)  # type: ignore[arg-type]
    assert imp.method == method and imp.fidelity == 2.0 and imp.n_trials == 200
    scores = dict(zip(imp.names, imp.scores, strict=True))
    assert imp.names[0] == "x" and scores["x"] > 0.6, scores
    assert max(scores["y"], scores["z"], scores["c"]) < 0.1, scores
    assert importance(h, SPACE, method=method, seed=0) == imp  # type: ignore[arg-type]


def test_importance_explains_the_highest_fidelity_enough_trials_reached() -> None:
    h = _history(np.random.default_rng(1), 30)
    short = [TrialRecord(t.trial_id, t.number, t.config, t.status, t.curve[:1]) for t in h][:25]
    mixed = History("minimize", (*short, *h.trials[25:]))
    assert importance(mixed, SPACE, min_trials=10).fidelity == 1.0
    assert importance(mixed, SPACE, min_trials=5).fidelity == 2.0


def test_importance_says_why_it_has_no_scores_and_rejects_bad_arguments() -> None:
    h = _history(np.random.default_rng(2), 3)
    imp = importance(h, SPACE)
    assert imp.scores == () and "importance needs at least 4" in imp.note
    assert importance(History("minimize"), SPACE).note == "no trial has reported yet"
    with pytest.raises(ConfigurationError, match=r"method='fanova' is not one of"):
        importance(h, SPACE, method="fanova")  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError, match="min_trials=1 must be an integer of at least 2"):
        importance(h, SPACE, min_trials=1)


def test_records_turn_into_json(snap: Snapshot) -> None:
    from hyperrace.visual import figure

    for view in ("race", "best", "timeline", "parallel", "importance"):
        json.dumps(figure(snap, view), allow_nan=False)


def test_a_big_study_draws_the_running_the_best_and_an_even_sample(snap: Snapshot) -> None:
    from hyperrace.visual import drawn_trials, figure

    h = snap.history
    n = len(h.trials)
    everyone = drawn_trials(h, n)
    assert everyone.ids == {t.trial_id for t in h.trials} and everyone.note == ""
    most = n // 3
    drawn = drawn_trials(h, most)
    assert len(drawn.ids) == most
    assert f"{most:,} of {n:,} trials drawn" in drawn.note
    ranked = sorted(
        (t for t in h.trials if t.curve and t.status is not TrialStatus.FAILED),
        key=lambda t: (min(o.value for o in t.curve), t.number),
    )
    assert {t.trial_id for t in ranked[: most // 2]} <= drawn.ids  # the front of the race
    numbers = sorted(t.number for t in h.trials if t.trial_id in drawn.ids)
    assert numbers[-1] - numbers[0] > n // 2  # the sample spans the study
    with pytest.raises(ConfigurationError, match="most=0"):
        drawn_trials(h, 0)
    for direction in ("minimize", "maximize"):  # the curves in columns: the same choice
        mirrored = dataclasses.replace(h, direction=direction)
        assert drawn_trials(in_columns(mirrored), most) == drawn_trials(mirrored, most)
    # the race, the timeline and the parallel coordinates draw the sample and say so
    r = race(h, snap.space, most=most)
    assert {s.trial_id for s in r.segments} <= drawn.ids and r.drawn == drawn.note
    assert set(r.configs) <= drawn.ids
    assert len(parallel_table(h, snap.space, most=most).numbers) <= most
    for view in ("race", "timeline", "parallel"):
        fig = figure(snap, view, most=most)
        assert drawn.note in fig["layout"]["title"]["text"], view
        assert "drawn" not in figure(snap, view, most=None)["layout"]["title"]["text"]
