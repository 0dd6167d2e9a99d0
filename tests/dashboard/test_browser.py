"""Every page rendered by a real browser (Debian's Chromium through Playwright) with data, no
console errors, live refresh while the study runs, and a screenshot of the race to look at
(``tests/artifacts/race.png``)."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest

import hyperrace as hr

pytestmark = pytest.mark.browser


def rendered(page: Any, path: str, server: Any) -> None:
    page.goto(server.url + path)
    page.wait_for_selector("body[data-rendered=yes]", timeout=60_000)


def test_studies_page_lists_the_study(page: Any, server: Any) -> None:
    page.goto(server.url + "/")
    link = page.wait_for_selector("#studies table a", timeout=30_000)
    assert link.inner_text() == "race"
    link.click()
    page.wait_for_selector("body[data-page=study][data-rendered=yes]", timeout=60_000)
    assert page.errors == []


def test_study_overview_draws_every_view(
    page: Any, server: Any, tmp_path: Path, artifacts: Path
) -> None:
    rendered(page, "/studies/race", server)
    for view in ("race", "best", "timeline", "parallel", "importance"):
        plot = page.locator(f"#plot-{view}")
        assert plot.locator(".main-svg").count() >= 1, view
        title = plot.locator(".gtitle").first.text_content() or ""
        assert title and "no trial" not in title, (view, title)
    legend = page.locator("#plot-race .legend").text_content() or ""
    assert "promoted" in legend and "paused" in legend and "completed" in legend
    assert "best: trial" in legend
    assert page.locator("#trials tbody tr").count() == 50
    cards = page.locator("#summary").inner_text()
    assert "ASHA" in cards.upper() and "EPOCHS TRAINED" in cards.upper()
    shot = tmp_path / "race.png"
    page.locator("#plot-race").screenshot(path=str(shot))
    assert shot.read_bytes().startswith(b"\x89PNG") and shot.stat().st_size > 30_000
    shutil.copy(shot, artifacts / "race.png")
    page.screenshot(path=str(artifacts / "overview.png"), full_page=True)
    assert page.errors == []


def test_trial_page_shows_curve_config_checkpoints_and_decisions(
    page: Any, server: Any, artifacts: Path
) -> None:
    rendered(page, "/studies/race", server)
    link = page.locator("#trials tbody tr a").first
    trial_id = link.inner_text()  # the table, the page, its title and its folder: one identity
    link.click()
    page.wait_for_selector("body[data-page=trial][data-rendered=yes]", timeout=60_000)
    assert page.url.endswith(f"/studies/race/trials/{trial_id}")
    assert page.locator("h1").inner_text() == f"Trial {trial_id}"
    assert f"trial-{trial_id}" in page.locator("#checkpoints").inner_text()
    assert page.locator("#plot-trial .main-svg").count() >= 1
    assert "run 1" in (page.locator("#plot-trial .legend").text_content() or "")
    config = page.locator("#config").inner_text()
    assert "lr" in config and "activation" in config
    assert "checkpoint-" in page.locator("#checkpoints").inner_text()
    decisions = page.locator("#decisions").inner_text()
    assert "resume" in decisions and "rung=1" in decisions
    page.screenshot(path=str(artifacts / "trial.png"), full_page=True)
    assert page.errors == []


def test_the_page_refreshes_while_the_study_runs(
    page: Any, server_class: Any, tmp_path: Path
) -> None:
    from hyperrace.dashboard import create_app

    url = f"sqlite:///{tmp_path / 'live.db'}"
    space = hr.Space(x=hr.Float(0.0, 1.0), epochs=hr.Fidelity(1, 5))
    study = hr.Study("live", space, storage=url, optimizer="random", seed=0)
    first = study.ask()
    assert isinstance(first, hr.Job)
    study.report(first.trial_id, fidelity=1, value=0.5)
    with server_class(create_app(url, refresh_seconds=0.3)) as live:
        rendered(page, "/studies/live", live)
        marker = page.evaluate("document.body.dataset.marker")
        assert "running" in page.locator("#trials").inner_text()
        for f in range(2, 6):
            study.report(first.trial_id, fidelity=f, value=0.5 / f)
        study.tell(first)
        page.wait_for_function(
            f"document.body.dataset.marker && document.body.dataset.marker !== '{marker}'",
            timeout=30_000,
        )
        page.wait_for_function(
            "document.querySelector('#trials').innerText.includes('completed')", timeout=30_000
        )
    study.storage.close()
    assert page.errors == []


def test_trial_page_shows_the_devices_of_its_run(
    page: Any, server_class: Any, tmp_path: Path
) -> None:
    from hyperrace.dashboard import create_app

    url = f"sqlite:///{tmp_path / 'gpu.db'}"
    space = hr.Space(x=hr.Float(0.0, 1.0), epochs=hr.Fidelity(1, 5))
    study = hr.Study("gpu", space, storage=url, optimizer="random", seed=0)
    jobs = [study.ask(), study.ask()]
    assert all(isinstance(j, hr.Job) for j in jobs)
    study.storage.set_devices(jobs[0].trial_id, ["cuda:3", "cuda:4"])  # type: ignore[union-attr]
    study.close()
    with server_class(create_app(url)) as server:
        rendered(page, f"/studies/gpu/trials/{jobs[0].trial_id}", server)
        cards = page.locator("#head").inner_text().lower()
        assert "devices" in cards and "cuda:3, cuda:4" in cards
        rendered(page, f"/studies/gpu/trials/{jobs[1].trial_id}", server)
        assert "not assigned" in page.locator("#head").inner_text()
    study.storage.close()
    assert page.errors == []
