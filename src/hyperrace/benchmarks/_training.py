"""What the real PyTorch tasks share: the split, per-trial seeds and an exactly resumable loop.

Contract of :func:`train` (and :func:`fit`, its loop): everything it does is determined by the
trial's configuration, its number and the data. The weights are drawn from :func:`trial_seed`
without touching torch's global generator; the order of the
training data comes from a local generator seeded from it; dropout draws from torch's global
generator, which :func:`fit` forks (the caller's global state is left as it was) and seeds from
the trial too. After each epoch it reports the validation error (``1 - accuracy``), or with
``metric="loss"`` the validation cross-entropy (mean over the validation rows, capped at the
uniform guess's: :func:`capped_loss`), with a
checkpoint of the model, the optimizer, the data-order generator and the global generator, and it
starts from the trial's checkpoint when there is one, so a trial paused after epoch ``k`` and
resumed reports exactly the curve of an uninterrupted run. Torch runs single-threaded inside
(:func:`hyperrace._imports.torch_one_thread`), for reproducible timings and to share a few
cores between workers.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from hyperrace._imports import require, torch_one_thread
from hyperrace.exceptions import ConfigurationError

if TYPE_CHECKING:
    from hyperrace.trial import Trial

__all__ = [
    "METRICS",
    "SPLIT_SEED",
    "VALIDATION_FRACTION",
    "as_tensors",
    "capped_loss",
    "fit",
    "make_optimizer",
    "split",
    "train",
    "trial_seed",
]

#: The seed of the train/validation split (the same split for every trial and process).
SPLIT_SEED = 0
#: The share of the data held out for validation.
VALIDATION_FRACTION = 0.2
_PRIME = 2**31 - 1
#: What the loop can report after each epoch, on the validation rows: ``"error"``
#: (``1 - accuracy``; moves in steps of one row) or ``"loss"`` (the mean cross-entropy,
#: continuous, capped by :func:`capped_loss`).
METRICS = ("error", "loss")


def capped_loss(loss: float, classes: int) -> float:
    """The validation cross-entropy as the ``"loss"`` metric reports it: at most ``log(classes)``,
    the loss of the uniform guess, which it also is when the loss is not a number (a network
    that diverged). A model worse than guessing counts as guessing: its loss could otherwise
    be anything up to millions (confidently wrong logits), which would say nothing more about
    it and would swamp every average and the range that normalises a benchmark's regret."""
    chance = math.log(classes)
    return loss if loss <= chance else chance  # NaN compares false: the guess


def split(
    x: npt.NDArray[Any], y: npt.NDArray[Any], purpose: str
) -> tuple[npt.NDArray[Any], npt.NDArray[Any], npt.NDArray[Any], npt.NDArray[Any]]:
    """The fixed stratified split ``(x_train, y_train, x_valid, y_valid)`` of ``(x, y)``."""
    require("sklearn", "torch", purpose)
    from sklearn.model_selection import train_test_split

    x_train, x_valid, y_train, y_valid = train_test_split(
        x, y, test_size=VALIDATION_FRACTION, stratify=y, random_state=SPLIT_SEED
    )
    return x_train, y_train, x_valid, y_valid


def trial_seed(number: int) -> int:
    """The seed of trial ``number`` (distinct per trial, fixed across processes)."""
    return 1_000_003 * (number + 1) % _PRIME


def make_optimizer(torch: Any, model: Any, config: dict[str, Any]) -> Any:
    """Adam, or SGD with momentum 0.9, as ``config["optimizer"]`` says, with ``config["lr"]``
    and ``config["weight_decay"]``."""
    lr, decay = float(config["lr"]), float(config["weight_decay"])
    if config["optimizer"] == "adam":
        return torch.optim.Adam(model.parameters(), lr=lr, weight_decay=decay)
    return torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9, weight_decay=decay)


def fit(
    torch: Any,
    trial: Trial,
    model: Any,
    optimizer: Any,
    data: tuple[Any, Any, Any, Any],
    *,
    batch_size: int,
    seed: int,
    metric: str = "error",
) -> None:
    """Train ``model`` for ``trial.epochs()`` on ``data`` (tensors x_train, y_train, x_valid,
    y_valid; labels are class indices) with cross-entropy, reporting the validation ``metric``
    (one of :data:`METRICS`) after each epoch. See the module docstring for the resume
    contract."""
    _check_metric(metric)
    x_train, y_train, x_valid, y_valid = data
    order = torch.Generator().manual_seed(seed)
    loss_fn = torch.nn.CrossEntropyLoss()
    n = len(x_train)
    with torch_one_thread(), torch.random.fork_rng(devices=[]):
        torch.manual_seed((seed + 1) % _PRIME)
        state = trial.checkpoint.load()
        if state is not None:
            model.load_state_dict(state["model"])
            optimizer.load_state_dict(state["optimizer"])
            order.set_state(state["order"])
            if "rng" in state:  # absent from checkpoints written before it was added
                torch.set_rng_state(state["rng"])
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
                logits = model(x_valid)
                if metric == "loss":
                    value = capped_loss(float(loss_fn(logits, y_valid)), logits.shape[1])
                else:
                    value = 1.0 - float((logits.argmax(dim=1) == y_valid).float().mean())
            trial.report(
                value,
                checkpoint=lambda: {
                    "model": model.state_dict(),
                    "optimizer": optimizer.state_dict(),
                    "order": order.get_state(),
                    "rng": torch.get_rng_state(),
                },
            )


def as_tensors(
    torch: Any,
    arrays: tuple[npt.NDArray[Any], npt.NDArray[Any], npt.NDArray[Any], npt.NDArray[Any]],
) -> tuple[Any, Any, Any, Any]:
    """``(x_train, y_train, x_valid, y_valid)`` as float32 features and int64 labels."""
    x_train, y_train, x_valid, y_valid = arrays
    return (
        torch.tensor(np.asarray(x_train), dtype=torch.float32),
        torch.tensor(np.asarray(y_train), dtype=torch.long),
        torch.tensor(np.asarray(x_valid), dtype=torch.float32),
        torch.tensor(np.asarray(y_valid), dtype=torch.long),
    )


def train(
    trial: Trial,
    purpose: str,
    build: Callable[[Any, dict[str, Any]], Any],
    data: Callable[[], tuple[Any, Any, Any, Any]],
    *,
    metric: str = "error",
) -> None:
    """Train the model ``build(torch, trial.config)`` on ``data()`` with :func:`fit`, reporting
    the validation ``metric`` (one of :data:`METRICS`).

    ``trial.config`` must hold ``lr``, ``weight_decay``, ``optimizer`` (see
    :func:`make_optimizer`) and ``batch_size``; the weights are drawn from the trial's seed.
    ``purpose`` names the task in the error raised when torch is not installed.
    """
    torch = require("torch", "torch", purpose)
    seed = trial_seed(trial.number)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = build(torch, trial.config)
    optimizer = make_optimizer(torch, model, trial.config)
    batch_size = int(trial.config["batch_size"])
    fit(torch, trial, model, optimizer, data(), batch_size=batch_size, seed=seed, metric=metric)


def _check_metric(metric: str) -> None:
    if metric not in METRICS:
        raise ConfigurationError(
            f"metric={metric!r} is not one of {', '.join(METRICS)}: 'error' reports the "
            "validation error, 'loss' the validation cross-entropy"
        )
