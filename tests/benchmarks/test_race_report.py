"""benchmarks/race_report.py: the race's scorecard computed from records whose figures are known
by hand (regret, ratio to the best other, instances within 1.2x Hyperband, paired wins)."""

from __future__ import annotations

import runpy
from pathlib import Path
from typing import Any

import pytest

SCRIPT = Path(__file__).parents[2] / "benchmarks" / "race_report.py"


@pytest.fixture(scope="module")
def report() -> dict[str, Any]:
    return runpy.run_path(str(SCRIPT))


def _record(optimizer: str, task: str, seed: int, early: float, final: float) -> dict[str, Any]:
    """A run whose best loss is ``early`` from epoch 50 and ``final`` from epoch 500."""
    steps = [[50.0, 50.0, early], [500.0, 500.0, final]]
    return {"task": task, "optimizer": optimizer, "seed": seed, "budget": 1000.0,
            "workers": 1, "unit": "epochs", "best_steps": steps, "epochs": 1000.0}  # fmt: skip


def test_the_scorecard_of_known_records(report: dict[str, Any]) -> None:
    refs = {"a": (0.0, 1.0), "b": (0.0, 1.0)}  # regret equals the loss
    records = []
    for seed in (0, 1):
        records += [
            _record("race", "a", seed, 0.4, 0.01),
            _record("hyperband", "a", seed, 0.2, 0.04),
            _record("race", "b", seed, 0.4, 0.05 if seed == 0 else 0.01),
            _record("hyperband", "b", seed, 0.2, 0.02),
        ]
    card = report["scorecard"](records, refs, "race", "hyperband", 1.2)
    epochs = list(report["EPOCHS"])
    final, at100 = epochs.index(1000), epochs.index(100)
    assert card["mean"]["race"][final] == pytest.approx(0.02)  # (0.01 + 0.03) / 2
    assert card["mean"]["hyperband"][final] == pytest.approx(0.03)
    assert card["ratio"][final] == pytest.approx(0.02 / 0.03)
    assert card["ratio"][at100] == pytest.approx(2.0)
    # instance a: 0.01 against 0.04; b: 0.03 against 0.02, more than 1.2x
    assert card["within"] == 1 and card["versus"]["b"] == pytest.approx((0.03, 0.02))
    wins, runs, diff, _, by_seeds = card["paired"]["hyperband"][final]
    assert (wins, runs) == (3, 4) and diff == pytest.approx((-0.03 - 0.03 + 0.03 - 0.01) / 4)
    # seed 0: (-0.03 + 0.03) / 2 = 0, seed 1: (-0.03 - 0.01) / 2 = -0.02; their SE is 0.01
    assert by_seeds == pytest.approx(0.01)
    assert card["paired"]["hyperband"][at100][:2] == (0, 4)
    text = report["markdown"](card, "race", "hyperband", 1.2)
    assert "| hyperband | 0/4, +0.2000 +- 0.0000 (seeds: +- 0.0000) |" in text
    assert "at most 1.2x hyperband's: 1 of 2; the others: b (0.0300 vs 0.0200)" in text


def test_the_standing_per_instance(report: dict[str, Any]) -> None:
    refs = {"a": (0.0, 1.0), "b": (0.0, 1.0), "c": (0.0, 1.0)}
    records = []
    for seed, (ra, rb, rc) in enumerate([(0.01, 0.05, 0.30), (0.03, 0.01, 0.32)]):
        records += [
            _record("race", "a", seed, 0.5, ra),  # a: race first (0.02 against 0.04)
            _record("asha", "a", seed, 0.5, 0.04),
            _record("race", "b", seed, 0.5, rb),  # b: 0.03 +- 0.02 against 0.02 +- 0
            _record("asha", "b", seed, 0.5, 0.02),
            _record("race", "c", seed, 0.5, rc),  # c: 0.31 +- 0.01 against 0.10 +- 0
            _record("asha", "c", seed, 0.5, 0.10),
        ]
    card = report["scorecard"](records, refs, "race", "hyperband", 1.2)
    assert card["final"]["b"]["race"] == pytest.approx((0.03, 0.02))
    assert card["final"]["b"]["asha"] == pytest.approx((0.02, 0.0))
    places = {t: report["standing"](per, "race") for t, per in card["final"].items()}
    assert places == {"a": "first", "b": "within 1 SE", "c": "behind"}
    text = report["markdown"](card, "race", "hyperband", 1.2, per_instance=True)
    assert "| b | **0.0200 +- 0.0000** | 0.0300 +- 0.0200 | within 1 SE |" in text
    assert "| c | **0.1000 +- 0.0000** | 0.3100 +- 0.0100 | behind |" in text
    assert "standing" not in report["markdown"](card, "race", "hyperband", 1.2)


def test_each_instance_best_other_picked_after_the_fact(report: dict[str, Any]) -> None:
    refs = {"a": (0.0, 1.0), "b": (0.0, 1.0)}
    records = []
    for seed in (0, 1):
        records += [
            _record("race", "a", seed, 0.4, 0.01),
            _record("race", "b", seed, 0.4, 0.01),
            _record("hyperband", "a", seed, 0.2, 0.04),  # best other on a
            _record("hyperband", "b", seed, 0.3, 0.08),
            _record("asha", "a", seed, 0.3, 0.06),
            _record("asha", "b", seed, 0.1, 0.02),  # best other on b
        ]
    card = report["scorecard"](records, refs, "race", "hyperband", 1.2)
    epochs = list(report["EPOCHS"])
    final, at100 = epochs.index(1000), epochs.index(100)
    assert card["oracle"][final] == pytest.approx((0.04 + 0.02) / 2)
    assert card["oracle"][at100] == pytest.approx((0.2 + 0.1) / 2)
    # lower than either optimizer's own mean (hyperband 0.06, asha 0.04 at the end)
    assert card["oracle"][final] < min(
        card["mean"]["hyperband"][final], card["mean"]["asha"][final]
    )
    text = report["markdown"](card, "race", "hyperband", 1.2)
    assert "picked after the fact" in text and "1000 ep: 0.0300" in text
