"""The digits task: a two-hidden-layer MLP on scikit-learn's 8x8 handwritten digits.

Everything the objective does is determined by the trial's configuration and its number: the
train/validation split is fixed, the weights are initialised from a seed derived from the trial
number, and the order of the training data comes from a local generator whose state is part of
the checkpoint. A trial paused after epoch ``k`` and resumed therefore reports exactly the curve
an uninterrupted run of the same trial would have reported (the loop is
:func:`hyperrace.benchmarks._training.train`).
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING, Any

from hyperrace._imports import require
from hyperrace.benchmarks._training import (
    SPLIT_SEED,
    VALIDATION_FRACTION,
    as_tensors,
    split,
    train,
)
from hyperrace.space import Categorical, Fidelity, Float, Int, Space

if TYPE_CHECKING:
    from hyperrace.trial import Trial

__all__ = ["SPLIT_SEED", "VALIDATION_FRACTION", "digits_space", "train_digits"]

_PURPOSE = "the digits task"


def digits_space(max_epochs: int = 20) -> Space:
    """The search space of :func:`train_digits`: learning rate, weight decay, batch size, width
    of the hidden layers, optimizer, and the number of epochs (1 to ``max_epochs``) as fidelity."""
    return Space(
        lr=Float(1e-4, 1e-1, log=True),
        weight_decay=Float(1e-6, 1e-2, log=True),
        batch_size=Int(16, 256, log=True),
        hidden=Int(16, 256, log=True),
        optimizer=Categorical(["adam", "sgd"]),
        epochs=Fidelity(1, max_epochs),
    )


@functools.lru_cache(maxsize=1)
def _data() -> tuple[Any, Any, Any, Any]:
    """The standardised split (x_train, y_train, x_valid, y_valid) as tensors; cached."""
    torch = require("torch", "torch", _PURPOSE)
    require("sklearn", "torch", _PURPOSE)
    from sklearn.datasets import load_digits
    from sklearn.preprocessing import StandardScaler

    x, y = load_digits(return_X_y=True)
    x_train, y_train, x_valid, y_valid = split(x, y, _PURPOSE)
    scaler = StandardScaler().fit(x_train)
    return as_tensors(
        torch, (scaler.transform(x_train), y_train, scaler.transform(x_valid), y_valid)
    )


def _model(torch: Any, config: dict[str, Any]) -> Any:
    hidden = int(config["hidden"])
    return torch.nn.Sequential(
        torch.nn.Linear(64, hidden),
        torch.nn.ReLU(),
        torch.nn.Linear(hidden, hidden),
        torch.nn.ReLU(),
        torch.nn.Linear(hidden, 10),
    )


def train_digits(trial: Trial) -> None:
    """Train ``trial.config`` on the digits for ``trial.epochs()``; after each epoch report the
    validation error (1 - accuracy, to minimize) with a checkpoint of the model, the optimizer
    and the random generators."""
    train(trial, _PURPOSE, _model, _data)
