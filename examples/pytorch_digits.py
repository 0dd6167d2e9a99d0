"""Race a plain PyTorch training loop with ASHA, checkpointing through TorchState.

An MLP on scikit-learn's bundled 8x8 handwritten digits (no download). Each trial trains over
``trial.epochs()`` and reports its validation error after every epoch with a checkpoint of the
model, optimizer, LR scheduler and random generators, so a trial that ASHA pauses at a rung and
promotes later continues from where it stopped. The study lives in a SQLite file in a temporary
folder (``--storage`` keeps it elsewhere).

    python examples/pytorch_digits.py --quick        # about 60 epochs in all: well under a minute
    python examples/pytorch_digits.py --workers 2    # two worker processes
"""

from __future__ import annotations

import argparse
import functools
import tempfile
from collections import Counter
from pathlib import Path
from typing import Any

import torch
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

import hyperrace as hr
from hyperrace.integrations.pytorch import TorchState

MAX_EPOCHS = 9

SPACE = hr.Space(
    lr=hr.Float(1e-4, 3e-2, log=True),
    weight_decay=hr.Float(1e-6, 1e-2, log=True),
    batch_size=hr.Int(16, 256, log=True),
    hidden=hr.Int(16, 128, log=True),
    dropout=hr.Float(0.0, 0.5),
    epochs=hr.Fidelity(1, MAX_EPOCHS),
)


@functools.cache
def data() -> tuple[torch.Tensor, ...]:
    """Train and validation tensors: pixel values scaled to [0, 1], a fixed stratified split."""
    x, y = load_digits(return_X_y=True)
    x_train, x_valid, y_train, y_valid = train_test_split(
        x / 16.0, y, test_size=0.25, stratify=y, random_state=0
    )
    return (
        torch.tensor(x_train, dtype=torch.float32),
        torch.tensor(y_train),
        torch.tensor(x_valid, dtype=torch.float32),
        torch.tensor(y_valid),
    )


def train(trial: hr.Trial) -> None:
    """Train ``trial.config`` up to ``trial.stop`` epochs, resuming from its checkpoint."""
    torch.set_num_threads(1)
    torch.manual_seed(trial.number)  # the initial weights; a resumed trial loads its own
    config: dict[str, Any] = trial.config
    x_train, y_train, x_valid, y_valid = data()
    model = torch.nn.Sequential(
        torch.nn.Linear(64, config["hidden"]),
        torch.nn.ReLU(),
        torch.nn.Dropout(config["dropout"]),
        torch.nn.Linear(config["hidden"], 10),
    )
    optimizer = torch.optim.AdamW(
        model.parameters(), lr=config["lr"], weight_decay=config["weight_decay"]
    )
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=MAX_EPOCHS)
    loader = torch.utils.data.DataLoader(
        torch.utils.data.TensorDataset(x_train, y_train),
        batch_size=config["batch_size"],
        shuffle=True,  # draws from the global torch generator, which TorchState saves
    )
    state = TorchState(model=model, optimizer=optimizer, scheduler=scheduler)
    state.restore(trial)  # nothing for a new trial; weights, moments, schedule and RNG otherwise

    for _epoch in trial.epochs():  # trial.start + 1, ..., trial.stop
        model.train()
        for xb, yb in loader:
            optimizer.zero_grad()
            torch.nn.functional.cross_entropy(model(xb), yb).backward()
            optimizer.step()
        scheduler.step()
        model.eval()
        with torch.no_grad():
            error = (model(x_valid).argmax(dim=1) != y_valid).float().mean().item()
        # the checkpoint is written atomically and committed with the value; once the race
        # says stop (a rung reached, the budget spent), trial.epochs() ends by itself
        trial.report(error, checkpoint=state)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a budget of 60 epochs, not 200")
    parser.add_argument("--workers", type=int, default=1, help="worker processes (default 1)")
    parser.add_argument("--storage", help="a storage URL (default: SQLite in a temporary folder)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="hyperrace-example-") as folder:
        storage = args.storage or f"sqlite:///{Path(folder) / 'digits.db'}"
        study = hr.Study("pytorch-digits", SPACE, storage=storage, optimizer="asha", seed=args.seed)
        budget = hr.Budget(epochs=60 if args.quick else 200)
        study.optimize(train, budget=budget, workers=args.workers, progress=False)

        trials = study.trials
        reached = Counter(int(t.fidelity) for t in trials)
        print(
            f"{len(trials)} trials ({', '.join(f'{n} at {f}' for f, n in sorted(reached.items()))}"
            f" epochs), {sum(t.work for t in trials):g} epochs trained in all"
        )
        best = study.best
        if best is None:
            raise SystemExit("no trial finished: raise the budget")
        config = ", ".join(
            f"{k}={v:.3g}" if isinstance(v, float) else f"{k}={v}" for k, v in best.config.items()
        )
        print(
            f"best trial: {best.trial_id}, validation error {best.last_value:.4f} "
            f"after {best.fidelity:g} epochs ({config})"
        )


if __name__ == "__main__":  # worker processes import this module: keep the study behind it
    main()
