"""Clocks: processor seconds of a run include its child processes (DataLoader workers)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from hyperrace._clock import SystemClock, children_cpu_seconds, clock_problem, resolve_clock
from hyperrace.trial import Checkpoint, Observation, Trial


def _spin(seconds: float) -> None:
    t0 = time.process_time()
    while time.process_time() - t0 < seconds:
        pass


class _Burning:
    """A dataset whose every item costs 0.05 processor seconds to load."""

    def __len__(self) -> int:
        return 24

    def __getitem__(self, i: int) -> Any:
        import torch

        _spin(0.05)
        return torch.tensor([float(i)])


def _trial(tmp_path: Path, reports: list[Observation]) -> Trial:
    def sink(observation: Observation, _ckpt: float | None) -> bool:
        reports.append(observation)
        return True

    return Trial(
        trial_id=1,
        number=0,
        config={},
        start=0,
        stop=2,
        integer_fidelity=True,
        checkpoint=Checkpoint(tmp_path / "ck"),
        sink=sink,
        clock=SystemClock(),
    )


@pytest.mark.torch
@pytest.mark.parametrize("persistent", [False, True])
def test_processor_seconds_include_the_dataloader_workers(tmp_path: Path, persistent: bool) -> None:
    torch = pytest.importorskip("torch")
    loader = torch.utils.data.DataLoader(
        _Burning(), batch_size=4, num_workers=2, persistent_workers=persistent
    )
    reports: list[Observation] = []
    trial = _trial(tmp_path, reports)
    own0 = time.process_time()
    for epoch in trial.epochs():
        total = sum(float(batch.sum()) for batch in loader)
        # with persistent workers they are still alive here: read from /proc; otherwise they
        # ended with the epoch and were waited for: counted by getrusage(RUSAGE_CHILDREN)
        trial.report(total, fidelity=epoch)
    own = time.process_time() - own0
    children = 2 * 24 * 0.05  # two epochs of 24 items
    assert [o.fidelity for o in reports] == [1.0, 2.0]
    assert sum(o.cpu_seconds for o in reports) >= own + 0.8 * children
    assert trial.cpu_seconds >= own + 0.8 * children
    del loader


def test_children_seconds_count_a_live_child_and_never_go_back(tmp_path: Path) -> None:
    import subprocess
    import sys

    clock = SystemClock()
    before, children0 = clock.cpu(), children_cpu_seconds()
    code = "import time\nt = time.process_time()\nwhile time.process_time() - t < 0.5: pass\n"
    child = subprocess.Popen([sys.executable, "-c", code + "time.sleep(30)"])
    try:
        deadline = time.monotonic() + 60
        while children_cpu_seconds() - children0 < 0.5 and time.monotonic() < deadline:
            time.sleep(0.05)
        live = clock.cpu()
        assert live - before >= 0.5  # counted while the child lives
    finally:
        child.kill()
        child.wait()
    assert clock.cpu() >= live


def test_clock_names() -> None:
    assert resolve_clock("auto", accelerated=True) == "wall"
    assert resolve_clock("auto", accelerated=False) == "process"
    assert resolve_clock("wall", accelerated=False) == "wall"
    assert clock_problem("clock", "wall") is None
    problem = clock_problem("clock", "gpu")
    assert problem is not None and "clock='gpu'" in problem and "'process'" in problem
