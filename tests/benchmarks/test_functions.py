"""The test functions take their known minima at their known minimisers."""

from __future__ import annotations

import numpy as np
import pytest

from hyperrace.benchmarks import FUNCTIONS

MINIMISERS = {
    "branin": [(-np.pi, 12.275), (np.pi, 2.275), (9.42478, 2.475)],
    "hartmann6": [(0.20169, 0.150011, 0.476874, 0.275332, 0.311652, 0.6573)],
    "ackley10": [(0.0,) * 10],
    "levy10": [(1.0,) * 10],
}


@pytest.mark.parametrize("name", sorted(FUNCTIONS))
def test_minimum_at_the_minimiser_and_above_it_elsewhere(name: str) -> None:
    f = FUNCTIONS[name]()
    for point in MINIMISERS[name]:
        config = {f"x{i}": v for i, v in enumerate(point)}
        assert f.value(config) == pytest.approx(f.optimum, abs=1e-4)
    rng = np.random.default_rng(0)
    samples = [f.value(f.space.sample(rng)) for _ in range(500)]
    assert min(samples) > f.optimum
    assert len(f.space) == len(MINIMISERS[name][0])
