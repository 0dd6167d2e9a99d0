"""DEHB's differential-evolution part: rand/1 mutation, binomial crossover, bounds, sizes."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from hyperrace.exceptions import ConfigurationError
from hyperrace.optimizers._parts.candidates.evolution import (
    crossover_bin,
    dehb_subpopulation_sizes,
    fix_bounds,
    mutate_rand1,
    rand1_bin,
    top_up,
)
from hyperrace.optimizers._parts.schedule.ladder import brackets
from hyperrace.space import Fidelity

POOL = np.array([[0.1, 0.2, 0.3], [0.5, 0.5, 0.5], [0.9, 0.4, 0.0]])


def test_mutant_formula_on_a_hand_example() -> None:
    seed = 3
    i1, i2, i3 = np.random.default_rng(seed).choice(3, size=3, replace=False)
    got = mutate_rand1(POOL, 0.5, np.random.default_rng(seed))
    assert np.allclose(got, POOL[i1] + 0.5 * (POOL[i2] - POOL[i3]))
    # r1 = [0.1, 0.2, 0.3], r2 = [0.5, 0.5, 0.5], r3 = [0.9, 0.4, 0.0] gives exactly this vector:
    assert np.allclose(POOL[0] + 0.5 * (POOL[1] - POOL[2]), [-0.1, 0.25, 0.55])


def test_mutant_uses_three_distinct_rows() -> None:
    allowed = [POOL[a] + 0.8 * (POOL[b] - POOL[c]) for a, b, c in itertools.permutations(range(3))]
    seen = set()
    for seed in range(200):
        got = mutate_rand1(POOL, 0.8, np.random.default_rng(seed))
        match = [k for k, v in enumerate(allowed) if np.allclose(got, v)]
        assert len(match) == 1  # never r2 == r3 (which would give a pool row back)
        seen.add(match[0])
    assert seen == set(range(6))  # every ordered triple occurs


def test_mutation_needs_three_rows() -> None:
    with pytest.raises(ValueError, match="top_up"):
        mutate_rand1(POOL[:2], 0.5, np.random.default_rng(0))


def test_top_up() -> None:
    source = np.arange(15, dtype=float).reshape(5, 3)
    rng = np.random.default_rng(0)
    assert np.array_equal(top_up(POOL, source, rng), POOL)  # already big enough
    grown = top_up(POOL[:1], source, rng)
    assert grown.shape == (3, 3) and np.array_equal(grown[0], POOL[0])
    assert {tuple(r) for r in grown[1:]} <= {tuple(r) for r in source}
    assert not np.array_equal(grown[1], grown[2])  # without replacement while possible
    assert top_up(np.empty((0, 3)), source[:1], rng).tolist() == [source[0].tolist()] * 3
    assert top_up(POOL[:1], source, rng, size=5).shape == (5, 3)
    with pytest.raises(ValueError, match="empty"):
        top_up(POOL[:1], np.empty((0, 3)), rng)


def test_crossover_takes_at_least_one_mutant_coordinate() -> None:
    target, mutant = np.zeros(6), np.ones(6)
    for seed in range(100):
        child = crossover_bin(target, mutant, 0.0, np.random.default_rng(seed))
        assert child.sum() == 1.0  # exactly the forced coordinate
    assert crossover_bin(target, mutant, 1.0, np.random.default_rng(0)).tolist() == [1.0] * 6
    with pytest.raises(ValueError, match="equal length"):
        crossover_bin(np.zeros(3), np.ones(4), 0.5, np.random.default_rng(0))


@pytest.mark.parametrize("cr", [0.2, 0.5, 0.9])
def test_crossover_respects_cr(cr: float) -> None:
    d, n = 10, 4000
    rng = np.random.default_rng(42)
    share = np.mean([crossover_bin(np.zeros(d), np.ones(d), cr, rng).mean() for _ in range(n)])
    expected = cr + (1 - cr) / d  # each coordinate: CR, or the forced one
    assert share == pytest.approx(expected, abs=0.01)  # sd of the estimate is below 0.0025


def test_fix_bounds() -> None:
    v = np.array([-0.5, 0.0, 0.3, 1.0, 1.7, np.nan])
    clipped = fix_bounds(v, np.random.default_rng(0), mode="clip")
    assert clipped.tolist() == [0.0, 0.0, 0.3, 1.0, 1.0, 0.5]
    fixed = fix_bounds(v, np.random.default_rng(0))
    assert fixed[1:4].tolist() == [0.0, 0.3, 1.0]  # inside coordinates untouched
    assert np.all((fixed >= 0) & (fixed <= 1))
    assert np.array_equal(fixed, fix_bounds(v, np.random.default_rng(0)))
    assert np.isnan(v[-1])  # the input is not modified
    with pytest.raises(ConfigurationError, match="mode"):
        fix_bounds(v, np.random.default_rng(0), mode="reflect")  # type: ignore[arg-type]


def test_rand1_bin_gives_a_deterministic_unit_vector() -> None:
    parent = np.array([0.5, 0.5, 0.5])
    for pool in (POOL, POOL[:1]):
        child = rand1_bin(parent, pool, np.random.default_rng(1), F=0.9, CR=0.7)
        assert child.shape == (3,) and np.all((child >= 0) & (child <= 1))
        assert np.array_equal(
            child, rand1_bin(parent, pool, np.random.default_rng(1), F=0.9, CR=0.7)
        )
    child = rand1_bin(parent, POOL[:2], np.random.default_rng(2), extra_source=POOL, mode="clip")
    assert np.all((child >= 0) & (child <= 1))


def test_subpopulation_sizes_li_et_al() -> None:
    sizes = dehb_subpopulation_sizes(brackets(Fidelity(1, 81), 3))
    assert sizes == {1.0: 81, 3.0: 34, 9.0: 15, 27.0: 8, 81.0: 5}
    assert dehb_subpopulation_sizes([]) == {}
    lcbench = dehb_subpopulation_sizes(brackets(Fidelity(1, 52), 3))
    assert list(lcbench) == [2.0, 6.0, 17.0, 52.0]
