"""Objectives for tests and examples: cheap, deterministic, importable by worker processes.

Each one behaves like a training loop: it resumes from its checkpoint, trains over
``trial.epochs()`` and reports a value per step with a checkpoint.
"""

from __future__ import annotations

import math
import os
import time
from typing import Any

from hyperrace.trial import Trial

__all__ = [
    "annotated_learning_curve",
    "curve_value",
    "dying_objective",
    "failing_objective",
    "learning_curve",
    "slow_learning_curve",
]


def curve_value(config: dict[str, Any] | Any, step: float) -> float:
    """A learning curve that decays towards a config-dependent floor: the loss after ``step``.

    The floor is smallest at ``x = 0.3`` (and at small ``y`` if present), so the best config is
    known; the curve converges at a config-dependent rate, so curves cross.
    """
    x = float(config.get("x", 0.5))
    y = float(config.get("y", 0.0))
    floor = (x - 0.3) ** 2 + 0.1 * abs(y)
    rate = 0.2 + 0.8 * abs(math.sin(3.0 * x + 1.0))
    return floor + math.exp(-rate * step)


def learning_curve(trial: Trial) -> None:
    """Report :func:`curve_value` at every step, checkpointing the step count.

    The checkpoint holds the number of steps trained; resuming checks that it matches
    ``trial.start`` (raising if a resumed run did not get its own checkpoint back).
    """
    state = trial.checkpoint.load()
    trained = 0 if state is None else int(state["trained"])
    if trained != int(trial.start):
        raise RuntimeError(f"checkpoint says {trained} steps, trial.start is {trial.start}")
    for step in trial.epochs():
        trained += 1
        trial.report(curve_value(trial.config, step), checkpoint={"trained": trained})


def annotated_learning_curve(trial: Trial) -> None:
    """:func:`learning_curve` that also records user attributes: the process it ran in
    (``pid``), and ``runs``, counting its runs (one more than the attribute it started with)."""
    trial.set_user_attr("pid", os.getpid())
    trial.set_user_attr("runs", int(trial.user_attrs.get("runs", 0)) + 1)
    learning_curve(trial)


def slow_learning_curve(trial: Trial) -> None:
    """:func:`learning_curve` with a pause of ``HYPERRACE_TEST_STEP_SECONDS`` (default 0.05 s)
    per step, for tests that kill or interrupt a study mid-step."""
    delay = float(os.environ.get("HYPERRACE_TEST_STEP_SECONDS", "0.05"))
    state = trial.checkpoint.load()
    trained = 0 if state is None else int(state["trained"])
    for step in trial.epochs():
        time.sleep(delay)
        trained += 1
        trial.report(curve_value(trial.config, step), checkpoint={"trained": trained})


def failing_objective(trial: Trial) -> None:
    """Reports one step, then raises for configs with ``x > 0.5``; NaN at step 2 otherwise."""
    for step in trial.epochs():
        if step == 2 and float(trial.config["x"]) > 0.5:
            raise ValueError(f"diverged at x={trial.config['x']}")
        trial.report(math.nan if step == 2 else curve_value(trial.config, step))


def dying_objective(trial: Trial) -> None:
    """:func:`learning_curve`, except that trial number 0 kills its own process at step 2 on its
    first run (as an out-of-memory kill would)."""
    state = trial.checkpoint.load()
    trained = 0 if state is None else int(state["trained"])
    for step in trial.epochs():
        if step == 2 and trial.number == 0 and state is None:
            os._exit(3)
        trained += 1
        trial.report(curve_value(trial.config, step), checkpoint={"trained": trained})


def doomed_objective(trial: Trial) -> None:
    """:func:`learning_curve`, except that trial number 0 kills its own process at its second
    step of every run (as a configuration that always runs out of memory would)."""
    state = trial.checkpoint.load()
    trained = 0 if state is None else int(state["trained"])
    for step in trial.epochs():
        if trial.number == 0 and step > trial.start + 1:
            os._exit(3)
        trained += 1
        trial.report(curve_value(trial.config, step), checkpoint={"trained": trained})
