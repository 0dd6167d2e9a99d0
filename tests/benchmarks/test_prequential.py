"""benchmarks/prequential.py: surrogates scored on the next reports of a real (simulated) run,
with surrogates whose predictions are known: one that knows every value, one that orders them
backwards, one that predicts a single constant with no spread."""

from __future__ import annotations

import runpy
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from hyperrace.benchmarks._families import make_task
from hyperrace.optimizers._parts.data.curve_data import CurveData
from hyperrace.optimizers._parts.surrogate.base import Gaussian, Queries

SCRIPT = Path(__file__).parents[2] / "benchmarks" / "prequential.py"


@pytest.fixture(scope="module")
def script() -> dict[str, Any]:
    return runpy.run_path(str(SCRIPT))


class _Known:
    """Predicts ``sign * value`` with spread ``std`` from a table of the run's true losses,
    keyed by encoded configuration and fidelity; records what it was given."""

    name = "known"

    def __init__(self, truth: dict[tuple[bytes, float], float], sign: float, std: float) -> None:
        self.truth, self.sign, self.std = truth, sign, std
        self.points: list[int] = []

    def model(self, data: CurveData, low: float, high: float, patience: int) -> Any:
        self.points.append(len(data))
        return self

    def predict(self, q: Queries) -> Gaussian:
        mean = np.array(
            [self.truth[(x.tobytes(), f)] for x, f in zip(q.x, q.fidelity, strict=True)]
        )
        return Gaussian(self.sign * mean, np.full(len(q), self.std))

    def get_params(self) -> dict[str, Any]:
        return {}


def test_prequential_scores_of_surrogates_whose_predictions_are_known(
    script: dict[str, Any],
) -> None:
    from hyperrace.optimizers._parts.data.onehot import OneHot

    task = make_task("synthetic", "0")
    history = script["run"](task, "asha", 3, 120.0)
    enc = OneHot(task.space)
    truth = {
        (enc.encode_valid(t.config).tobytes(), o.fidelity): history.loss(o.value)
        for t in history.trials
        for o in t.curve
    }
    oracle, backwards = _Known(truth, 1.0, 0.5), _Known(truth, -1.0, 0.5)
    out = script["score"](task, history, {"oracle": oracle, "backwards": backwards}, 10, 20)

    reports = sum(len(t.curve) for t in history.trials)
    cutoffs = list(range(30, reports - 10 + 1, 20))
    assert out["reports"] == reports and out["oracle"]["cutoffs"] == len(cutoffs)
    # each model saw exactly the first p reports of the run (no trial failed on these curves)
    assert oracle.points == cutoffs
    # the oracle: no error, perfect order, and the density of a zero residual under N(0, 0.5)
    assert out["oracle"]["mae"] == 0.0 and out["oracle"]["rho"] == pytest.approx(1.0)
    assert out["oracle"]["ll_mean"] == pytest.approx(-np.log(0.5 * np.sqrt(2 * np.pi)))
    assert out["oracle"]["z_new"] == 0.0 and out["oracle"]["z_cont"] == 0.0
    # backwards: the reverse order, and the error twice the losses
    assert out["backwards"]["rho"] == pytest.approx(-1.0)
    losses = [history.loss(o.value) for t in history.trials for o in t.curve]
    assert out["backwards"]["mae"] > 2 * min(losses)
    assert out["backwards"]["std"] == 0.5 and out["backwards"]["z_new"] > 0.0
