"""The synthetic learning-curve task: a known optimum, crossing curves, determinism."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

import hyperrace as hr
from hyperrace.benchmarks import SyntheticCurves


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_the_optimum_is_known_and_not_beaten_by_samples(seed: int) -> None:
    task = SyntheticCurves(seed=seed)
    assert 0.0 <= task.optimum < 0.01
    assert task.value(task.best_config, task.max_epochs) == task.optimum
    rng = np.random.default_rng(seed)
    finals = [task.final_loss(task.space.sample(rng)) for _ in range(2000)]
    assert min(finals) > task.optimum


def test_curves_are_deterministic_fall_and_cross() -> None:
    task = SyntheticCurves(seed=0)
    rng = np.random.default_rng(1)
    configs = [task.space.sample(rng) for _ in range(300)]
    c = configs[0]
    assert task.value(c, 3) == SyntheticCurves(seed=0).value(dict(c), 3)
    curve = [task.value(c, e) for e in range(1, task.max_epochs + 1)]
    assert curve[0] > curve[-1]
    final = [task.value(x, task.max_epochs) for x in configs]
    early = stats.spearmanr([task.value(x, 1) for x in configs], final)[0]
    late = stats.spearmanr([task.value(x, 9) for x in configs], final)[0]
    assert 0.4 < early < 0.85 < late < 1.0  # informative but misleading early, as in training


def test_objective_trains_a_study() -> None:
    task = SyntheticCurves(seed=0, max_epochs=9)
    study = hr.Study("synthetic", task.space, storage="memory://", seed=0, optimizer="random")
    study.optimize(task.objective, budget=hr.Budget(epochs=45), progress=False)
    h = study.history()
    assert h.work == 45 and len(h.trials) == 5
    best = h.best()
    assert best is not None and best.last_value == task.value(best.config, 9)
