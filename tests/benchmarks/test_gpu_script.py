"""benchmarks/gpu.py runs end to end on this machine's CPU (a few seconds per method), so that
it is ready for a GPU machine."""

from __future__ import annotations

import json
import runpy
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.torch

SCRIPT = Path(__file__).parents[2] / "benchmarks" / "gpu.py"


def test_the_gpu_benchmark_runs_and_reports(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    torch = pytest.importorskip("torch")
    pytest.importorskip("optuna")
    threads = torch.get_num_threads()  # the script runs torch on one thread on a CPU
    monkeypatch.setattr(torch, "set_num_threads", lambda n: None)
    out = tmp_path / "curves.json"
    argv = ["gpu.py", "--size", "cpu", "--seconds", "4", "--methods", "nope,asha,optuna"]
    monkeypatch.setattr(sys, "argv", [*argv, "--out", str(out)])
    with pytest.raises(SystemExit) as stop:
        runpy.run_path(str(SCRIPT), run_name="__main__")
    assert stop.value.code == 0
    captured = capsys.readouterr()
    assert "'nope' is not a registered optimizer" in captured.err
    assert "| asha | 1 |" in captured.out and "| optuna TPE+Hyperband | 1 |" in captured.out
    results = json.loads(out.read_text())
    assert [r["method"] for r in results] == ["asha", "optuna TPE+Hyperband"]
    for r in results:
        assert r["epochs"] >= 1 and r["curve"] and 0.0 <= r["curve"][-1][1] <= 1.0
        assert 0.0 < r["busy"] <= r["wall"]
    monkeypatch.setattr(sys, "argv", ["gpu.py", "--load", str(out), "--seconds", "4"])
    with pytest.raises(SystemExit):
        runpy.run_path(str(SCRIPT), run_name="__main__")
    assert "regret at the end" in capsys.readouterr().out
    assert torch.get_num_threads() == threads
