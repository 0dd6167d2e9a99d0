"""The digits task: a two-hidden-layer MLP on scikit-learn's 8x8 handwritten digits.

Everything the objective does is determined by the trial's configuration and its number: the
train/validation split is fixed, the weights are initialised from a seed derived from the trial
number, and the order of the training data comes from a local generator whose state is part of
the checkpoint. A trial paused after epoch ``k`` and resumed therefore reports exactly the curve
an uninterrupted run of the same trial would have reported.
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING, Any

from hyperrace._imports import require
from hyperrace.space import Categorical, Fidelity, Float, Int, Space

if TYPE_CHECKING:
    from hyperrace.trial import Trial

__all__ = ["digits_space", "train_digits"]

#: The seed of the train/validation split (the same split for every trial and process).
SPLIT_SEED = 0
#: The share of the data held out for validation.
VALIDATION_FRACTION = 0.2
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
    from sklearn.model_selection import train_test_split
    from sklearn.preprocessing import StandardScaler

    x, y = load_digits(return_X_y=True)
    x_train, x_valid, y_train, y_valid = train_test_split(
        x, y, test_size=VALIDATION_FRACTION, stratify=y, random_state=SPLIT_SEED
    )
    scaler = StandardScaler().fit(x_train)
    return (
        torch.tensor(scaler.transform(x_train), dtype=torch.float32),
        torch.tensor(y_train, dtype=torch.long),
        torch.tensor(scaler.transform(x_valid), dtype=torch.float32),
        torch.tensor(y_valid, dtype=torch.long),
    )


def _seed(number: int) -> int:
    """The seed of trial ``number`` (distinct per trial, fixed across processes)."""
    return 1_000_003 * (number + 1) % (2**31 - 1)


def _build(torch: Any, config: dict[str, Any], seed: int) -> tuple[Any, Any]:
    """The model (weights drawn from ``seed`` without touching the global generator) and its
    optimizer."""
    hidden = int(config["hidden"])
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = torch.nn.Sequential(
            torch.nn.Linear(64, hidden),
            torch.nn.ReLU(),
            torch.nn.Linear(hidden, hidden),
            torch.nn.ReLU(),
            torch.nn.Linear(hidden, 10),
        )
    lr, decay = float(config["lr"]), float(config["weight_decay"])
    if config["optimizer"] == "adam":
        optimizer = torch.optim.Adam(model.parameters(), lr=lr, weight_decay=decay)
    else:
        optimizer = torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9, weight_decay=decay)
    return model, optimizer


def train_digits(trial: Trial) -> None:
    """Train ``trial.config`` on the digits for ``trial.epochs()``; after each epoch report the
    validation error (1 - accuracy, to minimize) with a checkpoint of the model, the optimizer
    and the data-order generator."""
    torch = require("torch", "torch", _PURPOSE)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        _train(torch, trial)
    finally:
        torch.set_num_threads(threads)


def _train(torch: Any, trial: Trial) -> None:
    x_train, y_train, x_valid, y_valid = _data()
    seed = _seed(trial.number)
    model, optimizer = _build(torch, trial.config, seed)
    order = torch.Generator().manual_seed(seed)
    state = trial.checkpoint.load()
    if state is not None:
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        order.set_state(state["order"])
    batch_size = int(trial.config["batch_size"])
    loss_fn = torch.nn.CrossEntropyLoss()
    n = len(x_train)
    for _epoch in trial.epochs():
        model.train()
        perm = torch.randperm(n, generator=order)
        for i in range(0, n, batch_size):
            idx = perm[i : i + batch_size]
            optimizer.zero_grad(set_to_none=True)
            loss_fn(model(x_train[idx]), y_train[idx]).backward()
            optimizer.step()
        model.eval()
        with torch.no_grad():
            accuracy = float((model(x_valid).argmax(dim=1) == y_valid).float().mean())
        trial.report(
            1.0 - accuracy,
            checkpoint=lambda: {
                "model": model.state_dict(),
                "optimizer": optimizer.state_dict(),
                "order": order.get_state(),
            },
        )
