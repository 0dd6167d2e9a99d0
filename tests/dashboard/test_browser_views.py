"""What the dashboard's views show, in a real browser (Debian's Chromium through Playwright):
hyperparameters on hover, a log scale for the values, the metric's name, the race's colouring,
parallel coordinates on real values, importance labels in full, spinners while panels load, and
runs over time without the workers' start-up."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import hyperrace as hr
from hyperrace._clock import ManualClock

pytestmark = pytest.mark.browser

LONG = "weight_decay_of_the_embedding_layer"
STARTUP = 20.0  # seconds between a decision and the objective's first step (a worker starting)
STEP = 5.0  # seconds of training per epoch


def rendered(page: Any, path: str, server: Any) -> None:
    page.goto(server.url + path)
    page.wait_for_selector("body[data-rendered=yes]", timeout=60_000)


@pytest.fixture(scope="module")
def named(tmp_path_factory: pytest.TempPathFactory, server_class: Any) -> Iterator[Any]:
    """A study of 10 trials with metric="val_loss", a long hyperparameter name, a conditional
    one, and a start-up of 20 s before each run trains (ask/report on a manual clock)."""
    from hyperrace.dashboard import create_app

    url = f"sqlite:///{tmp_path_factory.mktemp('named') / 'named.db'}"
    space = hr.Space(
        lr=hr.Float(1e-4, 1e-1, log=True),
        opt=hr.Categorical(["adam", "sgd"]),
        momentum=hr.Float(0.0, 0.99).when(opt="sgd"),
        **{LONG: hr.Float(1e-6, 1e-2, log=True)},
        epochs=hr.Fidelity(1, 3),
    )
    clock = ManualClock()
    study = hr.Study(
        "named", space, storage=url, optimizer="random", seed=1, clock=clock, metric="val_loss"
    )
    for _ in range(10):
        job = study.ask()
        assert isinstance(job, hr.Job)
        clock.advance(STARTUP)
        for f in range(1, 4):
            clock.advance(STEP)
            value = (job.config["lr"] * 100 - 1) ** 2 + 1.0 / f
            study.report(job.trial_id, fidelity=f, value=value, wall_seconds=STEP)
        study.tell(job)
    study.storage.close()
    with server_class(create_app(url, refresh_seconds=0.5)) as running:
        yield running


def test_hovering_a_curve_shows_the_trials_hyperparameters(page: Any, server: Any) -> None:
    rendered(page, "/studies/race", server)
    # the mouse over the middle point of the first curve of the first colour
    x, y = page.evaluate(
        """() => {
        const gd = document.getElementById('plot-race');
        const t = gd.data[0];
        let i = t.x.indexOf(null);
        i = Math.max(0, Math.floor((i < 0 ? t.x.length : i) / 2));
        const fl = gd._fullLayout, box = gd.getBoundingClientRect();
        return [box.left + fl._size.l + fl.xaxis.d2p(t.x[i]),
                box.top + fl._size.t + fl.yaxis.d2p(t.y[i])];
    }"""
    )
    page.mouse.move(x - 30, y - 30)
    page.mouse.move(x, y, steps=5)
    hover = page.wait_for_selector("#plot-race .hoverlayer .hovertext", timeout=10_000)
    text = hover.text_content() or ""
    assert re.search(r"trial \d+", text), text
    for name in ("lr=", "momentum=", "width=", "layers=", "activation="):
        assert name in text, text
    assert page.errors == []


def test_the_value_axis_switches_to_a_log_scale(page: Any, server: Any, artifacts: Path) -> None:
    rendered(page, "/studies/race", server)
    axis_type = "document.getElementById('plot-{}').layout.yaxis.type"
    assert page.evaluate(axis_type.format("race")) == "linear"
    page.check("#log-values")
    page.wait_for_function(f"{axis_type.format('race')} === 'log'", timeout=10_000)
    assert page.evaluate(axis_type.format("best")) == "log"
    page.locator("#plot-race").screenshot(path=str(artifacts / "race-log.png"))
    page.uncheck("#log-values")
    page.wait_for_function(f"{axis_type.format('race')} === 'linear'", timeout=10_000)
    assert page.errors == []


def test_the_metric_is_named_instead_of_value(page: Any, named: Any) -> None:
    rendered(page, "/studies/named", named)
    race_axis = page.locator("#plot-race .g-ytitle").text_content() or ""
    assert race_axis.startswith("val_loss"), race_axis
    assert "best val_loss" in (page.locator("#plot-best .g-ytitle").text_content() or "")
    assert "BEST VAL_LOSS" in page.locator("#summary").inner_text().upper()
    assert "val_loss" in page.locator("#trials thead").inner_text()
    assert "log scale for val_loss" in page.locator("#log-values-label").inner_text()
    page.locator("#trials tbody tr a").first.click()
    page.wait_for_selector("body[data-page=trial][data-rendered=yes]", timeout=60_000)
    assert (page.locator("#plot-trial .g-ytitle").text_content() or "") == "val_loss"
    assert "VAL_LOSS" in page.locator("main .cards").inner_text().upper()
    assert page.errors == []


def _legend(page: Any) -> str:
    return page.locator("#plot-race .legend").text_content() or ""


def test_the_race_is_coloured_by_how_far_trials_got_value_or_time(
    page: Any, server: Any, artifacts: Path
) -> None:
    rendered(page, "/studies/race", server)
    assert "epochs reached" in _legend(page)
    names, colours = page.evaluate(
        "[0, 1].map(k => document.getElementById('plot-race').data"
        ".filter(t => t.legendgroup === 'colour').map(t => [t.name, t.line.color][k]))"
    )
    assert names == ["1", "3", "9", "27"]  # ASHA's rungs, in order
    assert len(set(colours)) == 4
    marker = page.evaluate("document.body.dataset.marker")
    page.select_option("#race-colour", "time")
    page.wait_for_function(
        "document.querySelector('#plot-race .legend').textContent.includes('run began')",
        timeout=30_000,
    )
    names = page.evaluate(
        "document.getElementById('plot-race').data"
        ".filter(t => t.legendgroup === 'colour').map(t => t.name)"
    )
    starts = [float(n.split("–")[0]) for n in names]
    assert starts == sorted(starts) and len(starts) >= 4
    page.select_option("#race-colour", "value")
    page.wait_for_function(
        "document.querySelector('#plot-race .legend').textContent.includes('last value')",
        timeout=30_000,
    )
    page.locator("#plot-race").screenshot(path=str(artifacts / "race-by-value.png"))
    assert page.evaluate("document.body.dataset.marker") == marker  # same study, new colours
    assert page.errors == []


def test_parallel_coordinates_show_real_values_on_log_axes(page: Any, server: Any) -> None:
    rendered(page, "/studies/race", server)
    axis_titles = page.locator("#plot-parallel .axis-title").all_text_contents()
    assert "lr" in axis_titles and not any("log10" in t for t in axis_titles)
    ticks = page.locator("#plot-parallel .tick text").all_text_contents()
    assert {"0.0001", "0.001", "0.01", "0.1"} <= set(ticks), ticks  # lr in [1e-4, 1e-1], log
    assert page.errors == []


def test_parallel_coordinates_place_inactive_values_apart(page: Any, named: Any) -> None:
    rendered(page, "/studies/named", named)
    ticks = page.locator("#plot-parallel .tick text").all_text_contents()
    assert "inactive" in ticks  # momentum, with adam
    assert page.errors == []


def test_importance_labels_are_not_clipped(page: Any, named: Any, artifacts: Path) -> None:
    rendered(page, "/studies/named", named)
    page.wait_for_selector("#plot-importance .ytick text", timeout=30_000)
    labels = page.locator("#plot-importance .ytick text")
    texts = labels.all_text_contents()
    assert any(LONG in t for t in texts), texts
    box = page.locator("#plot-importance").bounding_box()
    for i in range(labels.count()):
        label = labels.nth(i).bounding_box()
        assert label["x"] >= box["x"], (texts[i], label, box)
    page.locator("#plot-importance").screenshot(path=str(artifacts / "importance.png"))
    assert page.errors == []


def test_loading_panels_show_a_spinner(page: Any, server: Any) -> None:
    held: list[Any] = []
    page.route("**/importance", lambda route: held.append(route))  # held until released
    page.goto(server.url + "/studies/race")
    page.wait_for_selector("#plot-race .main-svg", timeout=60_000)
    assert page.locator("#plot-race .spinner").count() == 0
    spinner = page.locator("#plot-importance .spinner")
    assert spinner.is_visible() and "loading" in spinner.inner_text()
    assert page.locator("#trials .spinner").is_visible()  # the table comes after importance
    page.wait_for_function("true", timeout=1_000)
    assert held, "the importance request was not made"
    for route in held:
        route.continue_()
    page.unroute("**/importance")
    page.wait_for_selector("body[data-rendered=yes]", timeout=60_000)
    assert page.locator("#plot-importance .main-svg").count() >= 1
    assert page.locator(".spinner").count() == 0


def test_runs_over_time_do_not_count_a_workers_start_up(page: Any, named: Any) -> None:
    rendered(page, "/studies/named", named)
    assert "starting (not training)" in (
        page.locator("#plot-timeline .legend").text_content() or ""
    )
    bars = page.evaluate(
        "document.getElementById('plot-timeline').data"
        ".filter(t => t.name === 'completed').map(t => t.x)[0]"
    )
    # trial 0: decided at 0 s, started training at 20 s, ended at 35 s (in minutes: the study
    # took 350 s)
    assert "minutes" in (page.locator("#plot-timeline .g-xtitle").text_content() or "")
    assert bars[0] == pytest.approx(STARTUP / 60) and bars[1] == pytest.approx(35 / 60)
    assert page.errors == []
