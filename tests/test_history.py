"""``History.best``: the rules as the docstring states them, against the definition written out
on random histories (ties in fidelity and value, failed trials, both directions)."""

from __future__ import annotations

import numpy as np
import pytest

from hyperrace.history import History
from hyperrace.trial import Observation, TrialRecord, TrialStatus


def _definition(history: History) -> TrialRecord | None:
    healthy = [t for t in history.trials if t.curve and t.status is not TrialStatus.FAILED]
    if not healthy:
        return None
    top = max(t.fidelity for t in healthy)
    return min(
        (t for t in healthy if t.fidelity == top),
        key=lambda t: (history.loss(t.curve[-1].value), t.number),
    )


@pytest.mark.parametrize("seed", range(20))
def test_best_is_the_highest_fidelity_then_the_best_value_then_the_oldest(seed: int) -> None:
    rng = np.random.default_rng(seed)
    trials = []
    for number in rng.permutation(int(rng.integers(0, 30))).tolist():
        steps = np.unique(rng.choice([0.5, 1.0, 1.25, 1.5, 2.0], size=int(rng.integers(0, 4))))
        curve = tuple(Observation(float(f), float(rng.choice([0.5, 0.25, -1.0]))) for f in steps)
        status = TrialStatus.FAILED if rng.random() < 0.2 else TrialStatus.PAUSED
        trials.append(TrialRecord(number + 7, number, {}, status, curve))
    for direction in ("minimize", "maximize"):
        history = History(direction, tuple(trials))
        assert history.best() is _definition(history)
