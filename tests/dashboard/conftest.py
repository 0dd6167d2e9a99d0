"""The dashboard served by uvicorn in a thread, against a real study, and Debian's Chromium.

The study is ASHA on synthetic curves, run on four simulated workers into a SQLite file, so
that trials are paused, promoted and completed. Browser tests drive ``/usr/bin/chromium``
(``apt-get install chromium``) with Playwright; where it is missing they skip, except under
``CI=true``, where they fail.
"""

from __future__ import annotations

import os
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import hyperrace as hr
from hyperrace.benchmarks import SyntheticCurves
from hyperrace.executors import SimulatedExecutor, elapse
from hyperrace.trial import Trial

CHROMIUM = os.environ.get("HYPERRACE_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
#: Screenshots the browser tests leave for a person to look at (git-ignored).
ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"
TASK = SyntheticCurves(seed=0, max_epochs=27)


def synthetic_objective(trial: Trial) -> None:
    for epoch in trial.epochs():
        elapse(TASK.step_seconds(trial.config))
        trial.report(TASK.value(trial.config, epoch), checkpoint={"epoch": epoch})


@pytest.fixture(scope="session")
def study_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    folder = tmp_path_factory.mktemp("dashboard")
    url = f"sqlite:///{folder / 'study.db'}"
    executor = SimulatedExecutor(workers=4)
    study = hr.Study(
        "race", TASK.space, storage=url, optimizer="asha", seed=0, clock=executor.clock
    )
    study.optimize(
        synthetic_objective, budget=hr.Budget(epochs=300), executor=executor, progress=False
    )
    study.storage.close()
    return url


class Server:
    """uvicorn serving an app on a free port of 127.0.0.1, in a daemon thread."""

    def __init__(self, app: Any) -> None:
        import uvicorn

        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        config = uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning")
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, daemon=True)

    def __enter__(self) -> Server:
        self._thread.start()
        deadline = time.monotonic() + 30
        while not self._server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError("uvicorn did not start within 30 seconds")
            time.sleep(0.02)
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=10)


@pytest.fixture(scope="session")
def server_class() -> type[Server]:
    """The :class:`Server` context manager, for tests that serve an app of their own."""
    return Server


@pytest.fixture(scope="session")
def artifacts() -> Path:
    """The folder for screenshots a person should look at (created)."""
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS


@pytest.fixture(scope="session")
def server(study_url: str) -> Iterator[Server]:
    from hyperrace.dashboard import create_app

    with Server(create_app(study_url, refresh_seconds=0.5)) as running:
        yield running


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    """Chromium driven by Playwright (skips without it; fails under CI=true)."""
    problem = None
    if not Path(CHROMIUM).is_file() and shutil.which(CHROMIUM) is None:
        problem = f"{CHROMIUM} is missing; install it with: apt-get install -y chromium"
    else:
        try:
            from playwright.sync_api import sync_playwright
        except ImportError:
            problem = "playwright is missing; install it with: pip install 'hyperrace[dev]'"
    if problem is not None:
        if os.environ.get("CI") == "true":
            pytest.fail(f"the browser tests are required under CI=true: {problem}")
        pytest.skip(problem)
    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    """A fresh page that records console errors and uncaught exceptions in ``page.errors``."""
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    tab = context.new_page()
    errors: list[str] = []
    tab.on("console", lambda m: errors.append(f"console: {m.text}") if m.type == "error" else None)
    tab.on("pageerror", lambda e: errors.append(f"page error: {e}"))
    tab.on("requestfailed", lambda r: errors.append(f"request failed: {r.url}"))
    tab.errors = errors
    try:
        yield tab
    finally:
        context.close()
