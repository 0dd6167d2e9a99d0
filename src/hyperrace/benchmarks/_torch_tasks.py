"""Two more real PyTorch tasks on data scikit-learn ships (no download): a CNN and a tabular MLP.

- :func:`train_digits_cnn`: a small convolutional network on the 8x8 handwritten digits as
  images (pixels scaled to [0, 1]); 10 classes, 1,437 training and 360 validation images.
- :func:`train_breast_cancer`: an MLP with dropout on the Wisconsin breast-cancer features
  (standardised); 2 classes, 455 training and 114 validation rows.

Both report the validation error (``1 - accuracy``, to minimise) after every epoch and checkpoint
the model, the optimizer and the random generators each epoch; a paused and resumed trial
reports exactly the curve of an uninterrupted run (the contract of
:func:`hyperrace.benchmarks._training.train`, shared with :func:`train_digits`). They need the
``torch`` extra, imported when they are called.
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING, Any

from hyperrace._imports import require
from hyperrace.benchmarks._training import as_tensors, split, train
from hyperrace.space import Categorical, Fidelity, Float, Int, Space

if TYPE_CHECKING:
    from hyperrace.trial import Trial

__all__ = ["breast_cancer_space", "digits_cnn_space", "train_breast_cancer", "train_digits_cnn"]

_CNN = "the digits CNN task"
_CANCER = "the breast-cancer task"


def digits_cnn_space(max_epochs: int = 20) -> Space:
    """The search space of :func:`train_digits_cnn`: learning rate, weight decay, batch size,
    channels of the first convolution (the second has twice as many), width of the dense layer,
    dropout before it, optimizer, and the number of epochs (1 to ``max_epochs``) as fidelity."""
    return Space(
        lr=Float(1e-4, 1e-1, log=True),
        weight_decay=Float(1e-6, 1e-2, log=True),
        batch_size=Int(16, 256, log=True),
        channels=Int(4, 32, log=True),
        hidden=Int(16, 128, log=True),
        dropout=Float(0.0, 0.5),
        optimizer=Categorical(["adam", "sgd"]),
        epochs=Fidelity(1, max_epochs),
    )


def breast_cancer_space(max_epochs: int = 30) -> Space:
    """The search space of :func:`train_breast_cancer`: learning rate, weight decay, batch size,
    width and number of hidden layers, dropout after each, optimizer, and the number of epochs
    (1 to ``max_epochs``) as fidelity."""
    return Space(
        lr=Float(1e-4, 1e-1, log=True),
        weight_decay=Float(1e-6, 1e-2, log=True),
        batch_size=Int(8, 128, log=True),
        hidden=Int(8, 256, log=True),
        layers=Int(1, 3),
        dropout=Float(0.0, 0.5),
        optimizer=Categorical(["adam", "sgd"]),
        epochs=Fidelity(1, max_epochs),
    )


@functools.lru_cache(maxsize=1)
def _digit_images() -> tuple[Any, Any, Any, Any]:
    """The digits split as (n, 1, 8, 8) tensors with pixels in [0, 1], and labels; cached."""
    torch = require("torch", "torch", _CNN)
    require("sklearn", "torch", _CNN)
    from sklearn.datasets import load_digits

    x, y = load_digits(return_X_y=True)
    x_train, y_train, x_valid, y_valid = split(x.reshape(-1, 1, 8, 8) / 16.0, y, _CNN)
    return as_tensors(torch, (x_train, y_train, x_valid, y_valid))


@functools.lru_cache(maxsize=1)
def _breast_cancer() -> tuple[Any, Any, Any, Any]:
    """The breast-cancer split, standardised on the training rows, as tensors; cached."""
    torch = require("torch", "torch", _CANCER)
    require("sklearn", "torch", _CANCER)
    from sklearn.datasets import load_breast_cancer
    from sklearn.preprocessing import StandardScaler

    x, y = load_breast_cancer(return_X_y=True)
    x_train, y_train, x_valid, y_valid = split(x, y, _CANCER)
    scaler = StandardScaler().fit(x_train)
    return as_tensors(
        torch, (scaler.transform(x_train), y_train, scaler.transform(x_valid), y_valid)
    )


def _cnn(torch: Any, config: dict[str, Any]) -> Any:
    nn = torch.nn
    channels, hidden = int(config["channels"]), int(config["hidden"])
    return nn.Sequential(
        nn.Conv2d(1, channels, kernel_size=3, padding=1),
        nn.ReLU(),
        nn.Conv2d(channels, 2 * channels, kernel_size=3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(2),  # 8x8 -> 4x4
        nn.Flatten(),
        nn.Dropout(float(config["dropout"])),
        nn.Linear(2 * channels * 16, hidden),
        nn.ReLU(),
        nn.Linear(hidden, 10),
    )


def _mlp(torch: Any, config: dict[str, Any]) -> Any:
    nn = torch.nn
    hidden, dropout = int(config["hidden"]), float(config["dropout"])
    layers: list[Any] = []
    width = 30
    for _ in range(int(config["layers"])):
        layers += [nn.Linear(width, hidden), nn.ReLU(), nn.Dropout(dropout)]
        width = hidden
    return nn.Sequential(*layers, nn.Linear(width, 2))


def train_digits_cnn(trial: Trial) -> None:
    """Train ``trial.config`` (from :func:`digits_cnn_space`) on the digit images for
    ``trial.epochs()``; after each epoch report the validation error with a checkpoint."""
    train(trial, _CNN, _cnn, _digit_images)


def train_breast_cancer(trial: Trial) -> None:
    """Train ``trial.config`` (from :func:`breast_cancer_space`) on the breast-cancer data for
    ``trial.epochs()``; after each epoch report the validation error with a checkpoint."""
    train(trial, _CANCER, _mlp, _breast_cancer)
