"""The runnable examples run as their users would run them (a subprocess, ``--quick``), end with
a best trial, and train no epoch twice: every resumed trial continued from its checkpoint."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("torch")
pytest.importorskip("sklearn")

pytestmark = pytest.mark.torch

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


@pytest.mark.parametrize(
    ("script", "needs"),
    [("pytorch_digits.py", "torch"), ("lightning_digits.py", "lightning")],
)
def test_example_runs_to_a_best_trial(script: str, needs: str, tmp_path: Path) -> None:
    pytest.importorskip(needs)
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    result = subprocess.run(
        [sys.executable, str(EXAMPLES / script), "--quick"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=env,
        timeout=240,
    )
    assert result.returncode == 0, result.stderr[-4000:]
    lines = result.stdout.strip().splitlines()
    summary, best = lines[-2], lines[-1]
    match = re.fullmatch(r"best trial: \d+, validation error (\S+) after (\d+) epochs \(.+\)", best)
    assert match, result.stdout
    assert float(match[1]) < 0.2  # chance is 0.9
    assert int(match[2]) == 9  # the maximum fidelity
    reached = re.findall(r"(\d+) at (\d+)", summary)
    trained = re.search(r"(\d+) epochs trained in all", summary)
    assert reached and trained, summary
    assert sum(int(n) * int(f) for n, f in reached) == int(trained[1]), summary
    assert not list(tmp_path.iterdir()), "the example left files in the working directory"
