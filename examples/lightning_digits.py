"""Race Lightning ``Trainer.fit`` runs with Hyperband through HyperraceCallback.

A LightningModule (an MLP) on scikit-learn's bundled 8x8 handwritten digits (no download). The
callback reports ``val_loss`` after each validation epoch, saves the trainer's full state through
the trial's checkpoint, and stops the fit when the race says so; a promoted trial resumes through
``Trainer.fit(ckpt_path=callback.ckpt_path)`` at the epoch it reached. The study lives in a SQLite
file in a temporary folder (``--storage`` keeps it elsewhere).

    python examples/lightning_digits.py --quick      # one Hyperband iteration: under a minute
"""

from __future__ import annotations

import argparse
import functools
import logging
import tempfile
import warnings
from collections import Counter
from pathlib import Path
from typing import Any

import lightning.pytorch as pl
import torch
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

import hyperrace as hr
from hyperrace.integrations.lightning import HyperraceCallback

MAX_EPOCHS = 9

SPACE = hr.Space(
    lr=hr.Float(1e-4, 3e-2, log=True),
    weight_decay=hr.Float(1e-6, 1e-2, log=True),
    hidden=hr.Int(16, 128, log=True),
    dropout=hr.Float(0.0, 0.5),
    epochs=hr.Fidelity(1, MAX_EPOCHS),
)


class DigitsModule(pl.LightningModule):
    """An MLP classifier; logs ``val_loss`` and ``val_error`` at each validation epoch."""

    def __init__(self, lr: float, weight_decay: float, hidden: int, dropout: float) -> None:
        super().__init__()
        self.save_hyperparameters()
        self.net = torch.nn.Sequential(
            torch.nn.Linear(64, hidden),
            torch.nn.ReLU(),
            torch.nn.Dropout(dropout),
            torch.nn.Linear(hidden, 10),
        )

    def training_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
        x, y = batch
        return torch.nn.functional.cross_entropy(self.net(x), y)

    def validation_step(self, batch: Any, batch_idx: int) -> None:
        x, y = batch
        logits = self.net(x)
        self.log("val_loss", torch.nn.functional.cross_entropy(logits, y))
        self.log("val_error", (logits.argmax(dim=1) != y).float().mean())

    def configure_optimizers(self) -> Any:
        optimizer = torch.optim.AdamW(
            self.parameters(), lr=self.hparams.lr, weight_decay=self.hparams.weight_decay
        )
        scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=MAX_EPOCHS)
        return [optimizer], [scheduler]


@functools.cache
def datasets() -> tuple[torch.utils.data.TensorDataset, torch.utils.data.TensorDataset]:
    """Train and validation sets: pixel values scaled to [0, 1], a fixed stratified split."""
    x, y = load_digits(return_X_y=True)
    x_train, x_valid, y_train, y_valid = train_test_split(
        x / 16.0, y, test_size=0.25, stratify=y, random_state=0
    )

    def tensors(x: Any, y: Any) -> torch.utils.data.TensorDataset:
        return torch.utils.data.TensorDataset(torch.tensor(x, dtype=torch.float32), torch.tensor(y))

    return tensors(x_train, y_train), tensors(x_valid, y_valid)


def quiet() -> None:
    """Keep the output to the study's: Lightning's banner lines, and two warnings that do not
    apply here (in-memory tensors need no loader workers; the FutureWarning that torch 2.13
    raises inside Lightning 2.6's ``isinstance(treespec, LeafSpec)``)."""
    logging.getLogger("lightning.pytorch").setLevel(logging.WARNING)
    warnings.filterwarnings("ignore", message=r"The '\w+' does not have many workers")
    warnings.filterwarnings("ignore", message=r"`isinstance\(treespec, LeafSpec\)` is deprecated")


def train(trial: hr.Trial) -> None:
    """Fit ``trial.config`` up to ``trial.stop`` epochs, resuming from its checkpoint."""
    quiet()
    torch.set_num_threads(1)
    torch.manual_seed(trial.number)  # the initial weights; a resumed trial loads its own
    train_set, valid_set = datasets()
    callback = HyperraceCallback(trial, monitor="val_error")
    trainer = pl.Trainer(
        max_epochs=int(trial.stop),
        callbacks=[callback],
        accelerator="cpu",
        logger=False,
        enable_checkpointing=False,  # the trial's checkpoint is the one that counts
        enable_progress_bar=False,
        enable_model_summary=False,
        num_sanity_val_steps=0,
    )
    trainer.fit(
        DigitsModule(**trial.config),
        torch.utils.data.DataLoader(train_set, batch_size=64, shuffle=True),
        torch.utils.data.DataLoader(valid_set, batch_size=512),
        ckpt_path=callback.ckpt_path,  # None for a new trial: then it starts from scratch
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="one Hyperband iteration only")
    parser.add_argument("--workers", type=int, default=1, help="worker processes (default 1)")
    parser.add_argument("--storage", help="a storage URL (default: SQLite in a temporary folder)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="hyperrace-example-") as folder:
        storage = args.storage or f"sqlite:///{Path(folder) / 'digits.db'}"
        study = hr.Study(
            "lightning-digits", SPACE, storage=storage, optimizer="hyperband", seed=args.seed
        )
        budget = hr.Budget(epochs=45 if args.quick else 150)
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
