"""BOHB's KDE model part: the good/bad split, the densities, the proposal, model selection."""

from __future__ import annotations

import math

import numpy as np
import pytest

from hyperrace.exceptions import ConfigurationError
from hyperrace.history import History
from hyperrace.optimizers._parts.density.kde import (
    BOHBParams,
    KDEModel,
    ProductKDE,
    bohb_model_for,
    bohb_sample,
    categorical_layout,
    split_good_bad,
)
from hyperrace.space import Categorical, Fidelity, Float, Int, Space
from hyperrace.trial import Observation, TrialRecord, TrialStatus

# -- split --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("n", "n_min", "q", "sizes"),
    [
        (100, 3, 15, (15, 85)),  # floor(15) good, floor(85) bad
        (10, 3, 15, (3, 7)),  # good raised to n_min; bad is what is left of max(3, 8)
        (6, 3, 15, (3, 3)),  # 2(d+1) rows: the least that works for d = 2
        (40, 3, 15, (6, 34)),
        (40, 8, 15, (8, 32)),  # n_min above floor(q N / 100)
        (33, 3, 50, (16, 16)),  # the 33rd row is in neither set
    ],
)
def test_split_sizes(n: int, n_min: int, q: float, sizes: tuple[int, int]) -> None:
    losses = np.random.default_rng(n).permutation(n).astype(float)
    split = split_good_bad(losses, n_min, q)
    assert split is not None
    good, bad = split
    assert (good.size, bad.size) == sizes
    assert np.all(losses[good].max() < losses[bad])  # good ranks above bad
    assert np.array_equal(np.sort(losses[good]), np.arange(sizes[0]))
    assert np.array_equal(np.sort(losses[bad]), np.arange(sizes[0], sizes[0] + sizes[1]))


@pytest.mark.parametrize(("n", "n_min", "dim"), [(2, 3, None), (5, 3, None), (7, 5, 2)])
def test_split_refuses_too_few_rows(n: int, n_min: int, dim: int | None) -> None:
    # (2, 3): fewer rows than n_min; (5, 3): 3 good leave 2 bad <= d; (7, 5, d=2): 2 bad <= 2
    assert split_good_bad(np.arange(n, dtype=float), n_min, 15, dim) is None


def test_split_puts_inf_and_nan_last_and_breaks_ties_by_position() -> None:
    losses = [math.inf, 0.5, math.nan, 0.5, 0.1, 0.3, 0.9, 0.2]
    split = split_good_bad(losses, 3, 15)
    assert split is not None
    good, bad = split
    assert good.tolist() == [4, 7, 5]
    assert bad.tolist() == [1, 3, 6, 0, 2]  # tie 0.5: index 1 before 3; inf, NaN at the end


# -- densities ----------------------------------------------------------------------------------


def test_continuous_pdf_integrates_to_one() -> None:
    data = np.random.default_rng(0).random((20, 1))
    kde = ProductKDE(data, [False], [0])
    grid = np.linspace(-2.0, 3.0, 50_001)
    mass = kde.pdf(grid[:, None]).sum() * (grid[1] - grid[0])
    assert mass == pytest.approx(1.0, abs=1e-6)


def test_scott_bandwidth_and_floor() -> None:
    data = np.random.default_rng(1).random((30, 2))
    kde = ProductKDE(data, [False, False], [0, 0])
    expected = 1.06 * data.std(axis=0) * 30 ** (-1 / 6)
    assert np.allclose(kde.bandwidths, expected)
    flat = ProductKDE(np.full((10, 1), 0.4), [False], [0])
    assert flat.bandwidths.tolist() == [1e-3]
    wide = ProductKDE(data, [False, False], [0, 0], min_bandwidth=0.5)
    assert wide.bandwidths.tolist() == [0.5, 0.5]
    assert np.all(np.isfinite(flat.logpdf([[0.4], [0.9]])))  # far from a narrow kernel: finite


def test_categorical_pmf_sums_to_one_and_bandwidth_is_clipped() -> None:
    codes = np.random.default_rng(2).integers(4, size=(25, 1))
    kde = ProductKDE((codes + 0.5) / 4, [True], [4])
    centres = (np.arange(4)[:, None] + 0.5) / 4
    assert kde.pdf(centres).sum() == pytest.approx(1.0)
    assert 1e-3 <= kde.bandwidths[0] <= 0.75
    same = ProductKDE(np.full((8, 1), 0.375), [True], [4])  # all choice 1
    assert same.bandwidths.tolist() == [1e-3]
    assert same.pdf(centres).tolist() == pytest.approx([1e-3 / 3, 1 - 1e-3, 1e-3 / 3, 1e-3 / 3])
    single = ProductKDE(np.full((3, 1), 0.5), [True], [1])  # a one-choice column: density 1
    assert single.pdf([[0.5]]).tolist() == pytest.approx([1.0])


def test_mixed_density_integrates_to_one() -> None:
    rng = np.random.default_rng(3)
    data = np.column_stack([rng.random(15), (rng.integers(3, size=15) + 0.5) / 3])
    kde = ProductKDE(data, [False, True], [0, 3])
    grid = np.linspace(-2.0, 3.0, 20_001)
    step = grid[1] - grid[0]
    mass = sum(
        kde.pdf(np.column_stack([grid, np.full_like(grid, (i + 0.5) / 3)])).sum() * step
        for i in range(3)
    )
    assert mass == pytest.approx(1.0, abs=1e-6)


# -- the model and its proposal -----------------------------------------------------------------


def _bowl(n: int, seed: int, centre: tuple[float, float]) -> tuple[np.ndarray, np.ndarray]:
    x = np.random.default_rng(seed).random((n, 2))
    return x, np.linalg.norm(x - np.array(centre), axis=1)


def test_propose_concentrates_near_good_points_and_away_from_bad() -> None:
    centre = (0.6, 0.4)
    x, y = _bowl(80, 0, centre)
    model = KDEModel()
    assert model.fit(x, y, [False, False], [0, 0])
    assert model.good is not None and model.bad is not None
    assert model.good.data.shape == (12, 2) and model.bad.data.shape == (68, 2)
    proposals = np.array([model.propose(np.random.default_rng(s)) for s in range(200)])
    assert np.all((proposals >= 0) & (proposals <= 1))
    dist = np.linalg.norm(proposals - np.array(centre), axis=1)
    uniform = np.linalg.norm(np.random.default_rng(9).random((200, 2)) - centre, axis=1)
    assert np.median(dist) < 0.12 < 0.35 < np.median(uniform)  # near the optimum
    assert np.mean(dist > 0.3) < 0.02 and np.mean(uniform > 0.3) > 0.5  # away from the bad


def test_propose_is_deterministic_per_seed() -> None:
    x, y = _bowl(40, 4, (0.3, 0.7))
    model = KDEModel(BOHBParams(num_samples=16))
    assert model.fit(x, y, [False, False], [0, 0])
    a = model.propose(np.random.default_rng(11))
    assert np.array_equal(a, model.propose(np.random.default_rng(11)))
    assert not np.array_equal(a, model.propose(np.random.default_rng(12)))


def test_model_needs_enough_rows_and_refits_cleanly() -> None:
    x, y = _bowl(40, 5, (0.5, 0.5))
    model = KDEModel()
    assert model.fit(x, y, [False, False], [0, 0]) and model.is_fitted
    assert not model.fit(x[:5], y[:5], [False, False], [0, 0])  # 3 good, 2 bad <= d
    assert not model.is_fitted
    with pytest.raises(RuntimeError, match="fit"):
        model.propose(np.random.default_rng(0))


def test_mixed_categorical_and_continuous() -> None:
    space = Space(x=Float(0.0, 1.0), opt=Categorical(["a", "b", "c"]), k=Int(1, 9))
    mask, n_choices = categorical_layout(space)
    assert mask.tolist() == [False, True, False] and n_choices.tolist() == [0, 3, 0]
    rng = np.random.default_rng(6)
    configs = [space.sample(rng) for _ in range(60)]
    losses = [abs(c["x"] - 0.7) + 0.5 * (c["opt"] != "b") for c in configs]
    model = KDEModel()
    assert model.fit(space.to_unit_many(configs), losses, mask, n_choices)
    picks = [model.propose(np.random.default_rng(s)) for s in range(100)]
    assert {p[1] for p in picks} <= {1 / 6, 0.5, 5 / 6}  # bin centres
    decoded = [space.from_unit(p) for p in picks]
    assert sum(c["opt"] == "b" for c in decoded) >= 90
    assert all(space.validate(c) == c for c in decoded)


def test_params_are_validated() -> None:
    assert BOHBParams().to_dict() == {
        "min_points_in_model": None,
        "top_n_percent": 15.0,
        "num_samples": 64,
        "random_fraction": 1 / 3,
        "bandwidth_factor": 3.0,
        "min_bandwidth": 1e-3,
    }
    assert BOHBParams().n_min(4) == 5 and BOHBParams(min_points_in_model=2).n_min(4) == 5
    assert BOHBParams(min_points_in_model=9).n_min(4) == 9
    bad: list[dict[str, object]] = [
        {"top_n_percent": 0},
        {"num_samples": 0},
        {"num_samples": 2.5},
        {"random_fraction": 1.5},
        {"min_bandwidth": 0.0},
        {"bandwidth_factor": math.nan},
        {"min_points_in_model": True},
    ]
    for kwargs in bad:
        with pytest.raises(ConfigurationError, match=next(iter(kwargs))):
            BOHBParams(**kwargs)  # type: ignore[arg-type]


# -- model selection from a history and the sampler ----------------------------------------------

SPACE = Space(x=Float(0.0, 1.0), y=Float(0.0, 1.0), epochs=Fidelity(1, 9))


def _history(per_budget: dict[float, int], failed_at: float | None = None) -> History:
    """Trials promoted up the ladder 1 -> 3 -> 9: ``per_budget[b]`` of them reported at b."""
    rng = np.random.default_rng(7)
    trials = []
    budgets = sorted(per_budget)
    for i in range(max(per_budget.values())):
        config = SPACE.sample(rng)
        curve = tuple(
            Observation(b, (config["x"] - 0.3) ** 2 + b) for b in budgets if i < per_budget[b]
        )
        trials.append(
            TrialRecord(i, i, config, TrialStatus.PAUSED, curve=curve, target=curve[-1].fidelity)
        )
    if failed_at is not None:
        trials.append(TrialRecord(99, 99, SPACE.sample(rng), TrialStatus.FAILED, target=failed_at))
    return History("minimize", tuple(trials))


def test_model_for_picks_the_largest_budget_with_enough_data() -> None:
    history = _history({1.0: 20, 3.0: 8, 9.0: 5})  # d = 2: 6 rows needed
    model = bohb_model_for(history, SPACE, [1.0, 3.0, 9.0])
    assert model is not None and model.budget == 3.0
    assert model.good is not None and model.bad is not None
    assert model.good.data.shape[0] + model.bad.data.shape[0] == 8
    only_low = bohb_model_for(history, SPACE, [9.0, 1.0])
    assert only_low is not None and only_low.budget == 1.0
    assert bohb_model_for(_history({1.0: 5}), SPACE, [1.0, 3.0]) is None
    assert bohb_model_for(History("minimize"), SPACE, [1.0]) is None


def test_model_for_counts_a_crash_at_its_target_as_bad() -> None:
    history = _history({1.0: 20, 9.0: 5}, failed_at=9.0)  # 5 + the crash = 6 rows at 9
    model = bohb_model_for(history, SPACE, [1.0, 9.0], {"top_n_percent": 15})
    assert model is not None and model.budget == 9.0 and model.bad is not None
    crashed = SPACE.to_unit(history.trial(99).config)
    assert any(np.array_equal(row, crashed) for row in model.bad.data)


def test_bohb_sample_falls_back_to_random_and_uses_the_model() -> None:
    history = _history({1.0: 30})
    rng = np.random.default_rng(5)
    rng.random()  # bohb_sample draws once for the random fraction
    assert bohb_sample(SPACE, History("minimize"), np.random.default_rng(5), [1.0]) == (
        SPACE.sample(rng)
    )
    always = bohb_sample(SPACE, history, np.random.default_rng(8), [1.0], random_fraction=1.0)
    rng = np.random.default_rng(8)
    rng.random()
    assert always == SPACE.sample(rng)
    picks = [
        bohb_sample(SPACE, history, np.random.default_rng(s), [1.0], random_fraction=0.0)
        for s in range(30)
    ]
    assert all(SPACE.validate(p) == p for p in picks)
    assert np.median([abs(p["x"] - 0.3) for p in picks]) < 0.1  # the loss is (x - 0.3)^2
    again = bohb_sample(SPACE, history, np.random.default_rng(3), [1.0], random_fraction=0.0)
    assert again == picks[3]
