"""What the views show, on the records and figures: hyperparameters on hover, the metric's name,
the race coloured by how far trials got (or value, or time), real values on log axes in parallel
coordinates, importance labels that fit, runs over time without start-up, and the static race's
colour legend in order."""

from __future__ import annotations

import math
from typing import Any

import pytest

import hyperrace as hr
from hyperrace._clock import ManualClock
from hyperrace.exceptions import ConfigurationError
from hyperrace.storage import InMemoryStorage
from hyperrace.visual import (
    Importance,
    Race,
    Segment,
    Snapshot,
    figure,
    importance_figure,
    parallel_figure,
    parallel_table,
    race,
    race_colouring,
    race_figure,
    read,
    summary,
    timeline_figure,
)


def _colour_traces(fig: dict[str, Any]) -> list[dict[str, Any]]:
    return [t for t in fig["data"] if t.get("legendgroup") == "colour"]


def test_every_curve_point_hovers_with_the_trials_hyperparameters(snap: Snapshot) -> None:
    r = race(snap.history, snap.space)
    for trace in _colour_traces(race_figure(r)):
        for text in trace["text"]:
            if text is not None:
                number = int(text.split(",")[0].removeprefix("trial "))
                config = r.configs[number]
                assert all(f"{k}=" in text for k in config), text
                assert f"lr={config['lr']:.4g}" in text
    ends = [t for t in race_figure(r)["data"] if t["mode"] == "markers"]
    assert all("activation=" in text for t in ends for text in t["text"])


def _segment(number: int, reached: float, value: float, began: float) -> Segment:
    fids = tuple(float(f) for f in range(1, int(reached) + 1))
    return Segment(
        number,
        number,
        0,
        number,
        0.0,
        reached,
        reached,
        fids,
        (value,) * len(fids),
        began,
        began + reached,
        "completed" if reached == 9 else "stopped",
        began,
    )


def _race(segments: list[Segment], **kw: Any) -> Race:
    return Race(tuple(segments), 0.0, 100.0, 9.0, "epochs", "minimize", None, **kw)


def test_the_race_is_coloured_by_how_far_each_trial_got_by_default(snap: Snapshot) -> None:
    r = race(snap.history, snap.space)
    paint = race_colouring(r)
    assert paint.by == "rung" and paint.title == "epochs reached"
    assert [label for label, _ in paint.bins] == ["1", "3", "9"]  # ASHA's rungs, in order
    reached = {}
    for s in r.segments:
        reached[s.number] = max(reached.get(s.number, 0.0), s.reached)
    for s, b in zip(r.segments, paint.of, strict=True):
        assert paint.bins[b][0] == f"{reached[s.number]:g}"  # every run of a trial alike
    bright = paint.bins[-1][1]
    assert bright == "#e8d21d"  # the furthest get the brightest colour


def test_one_epoch_runs_are_coloured_by_their_value_not_one_grey_column() -> None:
    segments = [_segment(i, 1, float(i), began=0.0) for i in range(16)]  # all at epoch 1, at once
    paint = race_colouring(_race(segments))
    assert paint.by == "value" and paint.title == "last value"
    colours = {paint.bins[b][1] for b in paint.of}
    assert len(colours) == 8
    assert paint.bins[paint.of[0]][1] == "#e8d21d"  # the lowest loss is the brightest
    fig = race_figure(_race(segments))
    assert len(_colour_traces(fig)) == 8
    assert "its trial's last value" in fig["layout"]["title"]["text"]


def test_time_colouring_bins_in_time_order_and_bad_colours_are_named() -> None:
    segments = [_segment(i, 3, 1.0, began=10.0 * i) for i in range(10)]
    paint = race_colouring(_race(segments), "time")
    starts = [float(label.split("–")[0]) for label, _ in paint.bins]
    assert starts == sorted(starts)
    assert list(paint.of) == sorted(paint.of)
    with pytest.raises(ConfigurationError, match=r"colour='speed' is not one of"):
        race_colouring(_race(segments), "speed")


def test_the_static_race_legend_lists_colours_in_order(snap: Snapshot) -> None:
    pytest.importorskip("matplotlib")
    from matplotlib.figure import Figure

    from hyperrace.visual._static import _race as draw_race

    # runs of trial 0 in the last time bin come before those of trial 1 in the first
    segments = [
        _segment(0, 3, 1.0, began=0.0),
        Segment(0, 0, 1, 9, 3.0, 9.0, 9.0, (3.0, 9.0), (1.0, 0.5), 95.0, 99.0, "completed", 95.0),
        _segment(1, 1, 2.0, began=40.0),
        _segment(2, 1, 2.0, began=12.0),
    ]
    ax = Figure().add_subplot()
    draw_race(ax, _race(segments), colour="time")
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert labels[0] == "run began"
    bins = labels[1 : labels.index("")]
    assert bins == sorted(bins, key=lambda label: float(label.split("–")[0])) and len(bins) == 3


def test_parallel_coordinates_put_real_values_on_log_axes() -> None:
    space = hr.Space(
        lr=hr.Float(1e-5, 1e-1, log=True),
        width=hr.Int(8, 64, log=True),
        opt=hr.Categorical(["adam", "sgd"]),
        momentum=hr.Float(0.0, 0.9).when(opt="sgd"),
    )
    study = hr.Study("pc", space, storage=InMemoryStorage(), seed=0, optimizer="random")

    def objective(trial: hr.Trial) -> float:
        return float(trial.config["lr"])

    study.optimize(objective, budget=hr.Budget(trials=12), progress=False)
    info = study.storage.get_study("pc")
    assert info is not None
    table = parallel_table(study.storage.history(info.study_id), space)
    dims = {d["label"]: d for d in parallel_figure(table)["data"][0]["dimensions"]}
    lr = dims["lr"]
    assert lr["ticktext"] == ["1e-05", "0.0001", "0.001", "0.01", "0.1"]
    assert lr["tickvals"] == pytest.approx([-5, -4, -3, -2, -1])
    assert lr["range"] == pytest.approx([-5, -1])
    config = [t.config for t in study.trials if t.curve]
    assert lr["values"] == pytest.approx([math.log10(c["lr"]) for c in config])
    assert dims["width"]["ticktext"] == ["10", "20", "50"]
    momentum = dims["momentum"]
    assert momentum["ticktext"][0] == "inactive"
    inactive = [v for v, c in zip(momentum["values"], config, strict=True) if "momentum" not in c]
    assert inactive and all(v == momentum["tickvals"][0] < 0 for v in inactive)


def test_importance_leaves_room_for_the_longest_name() -> None:
    name = "weight_decay_of_the_embedding_layer"
    fig = importance_figure(Importance((name, "lr"), (0.7, 0.2), "binned", 3.0, 10))
    assert fig["layout"]["margin"]["l"] >= 8 * len(name)
    assert fig["layout"]["yaxis"]["automargin"] is True


def _started_late() -> tuple[hr.Study, Snapshot]:
    clock = ManualClock()
    space = hr.Space(x=hr.Float(0.0, 1.0), epochs=hr.Fidelity(1, 3))
    study = hr.Study(
        "late", space, storage=InMemoryStorage(), seed=0, clock=clock, metric="val_loss"
    )
    for _ in range(2):
        job = study.ask()
        assert isinstance(job, hr.Job)
        clock.advance(20.0)  # the worker process starts
        for f in range(1, 4):
            clock.advance(5.0)
            study.report(job.trial_id, fidelity=f, value=1.0 / f, wall_seconds=5.0)
        study.tell(job)
    return study, read(study.storage, "late")


def test_runs_over_time_start_when_training_began() -> None:
    _, snap = _started_late()
    r = race(snap.history, snap.space)
    assert [(s.began, s.trained_from, s.ended) for s in r.segments] == [
        (0.0, 20.0, 35.0),
        (35.0, 55.0, 70.0),
    ]
    fig = timeline_figure(r)
    bars = next(t for t in fig["data"] if t["name"] == "completed")
    assert bars["x"][:2] == [20.0, 35.0]
    waits = next(t for t in fig["data"] if t["name"] == "starting (not training)")
    assert waits["x"][:2] == [0.0, 20.0]


def test_the_metric_is_stored_with_the_study_and_named_in_the_views() -> None:
    study, snap = _started_late()
    assert study.metric == "val_loss"
    assert hr.Study("late", storage=study.storage).metric == "val_loss"
    assert summary(snap)["metric"] == "val_loss"
    assert figure(snap, "race")["layout"]["yaxis"]["title"]["text"].startswith("val_loss")
    assert figure(snap, "best")["layout"]["yaxis"]["title"]["text"] == "best val_loss"
    parallel = figure(snap, "parallel")["data"][0]
    assert parallel["dimensions"][-1]["label"] == "val_loss"
    renamed = hr.Study("late", storage=study.storage, metric="loss")
    assert renamed.metric == "loss" and hr.Study("late", storage=study.storage).metric == "loss"
    plain = hr.Study("plain", hr.Space(x=hr.Float(0, 1)), storage=InMemoryStorage())
    assert plain.metric == "value"
    for bad in ("", " ", 3, "x" * 101):
        with pytest.raises(ConfigurationError, match="metric="):
            hr.Study("bad", hr.Space(x=hr.Float(0, 1)), storage=InMemoryStorage(), metric=bad)
