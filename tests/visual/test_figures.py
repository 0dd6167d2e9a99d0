"""Figures and exports: drawn from the records, valid JSON, light with many trials, and the
``hyperrace plot`` command writing PNG and HTML files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from hyperrace.cli import main
from hyperrace.exceptions import ConfigurationError
from hyperrace.visual import (
    OUTCOMES,
    VIEWS,
    Race,
    Segment,
    Snapshot,
    figure,
    plotly_js_path,
    race,
    race_figure,
    write_html,
    write_png,
)

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def test_race_figure_groups_curves_into_few_traces(snap: Snapshot) -> None:
    r = race(snap.history, snap.space)
    fig = race_figure(r)
    traces = fig["data"]
    assert len(traces) <= 8 + 1 + len(OUTCOMES)
    lines = [t for t in traces if t["mode"] == "lines" and t.get("legendgroup") == "colour"]
    drawn = sum(len([x for x in t["x"] if x is not None]) for t in lines)
    assert drawn == sum(len(s.fidelities) for s in r.segments)
    markers = {t["name"].split(" (")[0]: t for t in traces if t["mode"] == "markers"}
    assert len(markers["promoted"]["x"]) == sum(s.outcome == "promoted" for s in r.segments)
    best = next(t for t in traces if t["name"].startswith("best"))
    assert best["line"]["color"] == "#000000"


def test_race_figure_thins_long_curves_to_the_point_budget() -> None:
    segments = tuple(
        Segment(
            i,
            i,
            0,
            i,
            0.0,
            1000.0,
            1000.0,
            tuple(range(1, 1001)),
            (1.0,) * 1000,
            i,
            i + 1,
            "completed",
            i,
        )
        for i in range(100)
    )
    fig = race_figure(
        Race(segments, 0.0, 101.0, 1000.0, "steps", "minimize", None), max_points=5_000
    )
    points = sum(
        len([x for x in t["x"] if x is not None]) for t in fig["data"] if t["mode"] == "lines"
    )
    assert points <= 5_000 + 200
    last = next(t for t in fig["data"] if t["mode"] == "lines")["x"]
    assert last[0] == 1 and 1000 in last  # first and last points kept


@pytest.mark.parametrize("view", VIEWS)
def test_every_view_exports_to_png_and_html(snap: Snapshot, view: str, tmp_path: Path) -> None:
    png = write_png(snap, view, tmp_path / f"{view}.png")
    data = png.read_bytes()
    assert data.startswith(PNG_MAGIC) and len(data) > 20_000
    page = write_html(snap, view, tmp_path / f"{view}.html").read_text()
    assert plotly_js_path().read_text()[:200] in page  # Plotly.js inlined: no network needed
    start = page.index("const fig = ") + len("const fig = ")
    fig = json.loads(page[start : page.index(";\nPlotly.newPlot")].replace("<\\/", "</"))
    assert fig == json.loads(json.dumps(figure(snap, view)))


def test_an_unknown_view_is_named(snap: Snapshot, tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match=r"view='curves' is not one of \['race'"):
        write_png(snap, "curves", tmp_path / "x.png")
    with pytest.raises(ConfigurationError, match=r"view='curves' is not one of"):
        figure(snap, "curves")


def test_plot_command_writes_png_and_html(
    race_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "race.png"
    assert main(["plot", "race", "--storage", race_url, "--out", str(out)]) == 0
    assert out.read_bytes().startswith(PNG_MAGIC)
    assert f"wrote the race view of 'race' to {out}" in capsys.readouterr().out
    html = tmp_path / "best.html"
    assert main(["plot", "race", "--storage", race_url, "--out", str(html), "--view", "best"]) == 0
    assert "Best so far against budget consumed" in html.read_text()


def test_plot_command_explains_bad_input(
    race_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["plot", "race", "--storage", race_url, "--out", str(tmp_path / "r.gif")]) == 2
    assert "must end in .png, .svg or .pdf (a picture) or .html" in capsys.readouterr().err
    assert main(["plot", "nope", "--storage", race_url, "--out", str(tmp_path / "r.png")]) == 2
    assert "study 'nope' does not exist" in capsys.readouterr().err
    missing = f"sqlite:///{tmp_path / 'none.db'}"
    assert main(["plot", "race", "--storage", missing, "--out", str(tmp_path / "r.png")]) == 2
    assert "there is no database at" in capsys.readouterr().err
    assert not (tmp_path / "none.db").exists()
