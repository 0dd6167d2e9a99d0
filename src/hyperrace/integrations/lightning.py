"""A Lightning callback that races a ``Trainer.fit`` run: report, checkpoint, stop, resume.

:class:`HyperraceCallback` reports ``trainer.callback_metrics[monitor]`` after each validation
run that ends a training epoch, at fidelity ``current_epoch + 1`` (fidelity in epochs). With each
report it saves the whole trainer through the trial's checkpoint (model, optimizers, LR
schedulers, loops, callbacks, precision plugin: what ``Trainer.save_checkpoint`` writes) plus the
global random number generators. It sets ``trainer.should_stop`` when the report returns False
(the race paused the trial, its time slice is spent) and once the granted fidelity
``trial.stop`` is reached, validated or not.

A resumed trial continues through Lightning's own resume: pass ``ckpt_path=callback.ckpt_path``
to ``Trainer.fit``. Lightning then restores every state and starts at epoch ``trial.start``; the
callback refuses, at the start of training, a fit of a trial with a checkpoint that was not given
it (that would retrain from scratch and report epochs twice)::

    callback = HyperraceCallback(trial, monitor="val_loss")
    trainer = lightning.Trainer(max_epochs=int(trial.stop), callbacks=[callback])
    trainer.fit(module, datamodule, ckpt_path=callback.ckpt_path)

The trainer trains on the trial's devices when given the callback's ``accelerator`` and
``devices`` (``"gpu"`` and ``[0]`` in a worker process that owns one GPU, ``"cpu"`` and ``1`` on
the CPU); a fit on a device that is not the trial's is refused at its start::

    trainer = lightning.Trainer(
        max_epochs=int(trial.stop),
        accelerator=callback.accelerator,
        devices=callback.devices,
        callbacks=[callback],
    )

Validation in the middle of an epoch (``val_check_interval`` below one epoch) is not reported.
The callback drives one process; distributed training (several ranks) is not supported.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hyperrace.exceptions import ConfigurationError, MissingDependencyError
from hyperrace.integrations.pytorch import rng_state, set_rng_state

try:
    import lightning.pytorch as pl
    import torch
except ImportError as exc:  # pragma: no cover - the extra is part of the test environment
    raise MissingDependencyError(
        "hyperrace.integrations.lightning needs the optional package 'lightning', which is not "
        "installed; install it with: pip install 'hyperrace[lightning]'"
    ) from exc

if TYPE_CHECKING:
    from hyperrace.trial import Trial

__all__ = ["HyperraceCallback"]


class HyperraceCallback(pl.Callback):
    """Report a metric of each validation epoch to ``trial``, checkpoint through it, and stop
    training when the race says so.

    Args:
        trial: the trial the objective was given.
        monitor: the logged metric to report (``self.log("val_loss", ...)`` in the module); it
            must be in ``trainer.callback_metrics`` after validation.
        rng: also save and restore the global generators (torch, CUDA, NumPy, :mod:`random`),
            so that a resumed trial shuffles and drops out exactly as an uninterrupted one.

    Raises:
        ConfigurationError: ``monitor`` is not a non-empty string.
    """

    def __init__(self, trial: Trial, monitor: str = "val_loss", *, rng: bool = True) -> None:
        if not isinstance(monitor, str) or not monitor:
            raise ConfigurationError(
                f"monitor={monitor!r} must be the name of a metric the module logs, "
                'e.g. monitor="val_loss"'
            )
        self.trial = trial
        self.monitor = monitor
        self.rng = rng
        self._pending_rng: dict[str, Any] | None = None

    @property
    def ckpt_path(self) -> str | None:
        """The trial's committed checkpoint file, for ``Trainer.fit(ckpt_path=...)``; ``None``
        for a trial that starts from scratch."""
        fidelity = self.trial.checkpoint.fidelity
        if fidelity is None:
            return None
        path = self.trial.checkpoint.path_for(fidelity)
        return None if path is None else str(path)

    @property
    def accelerator(self) -> str:
        """``Trainer(accelerator=...)`` for the trial's devices: ``"gpu"`` or ``"cpu"``."""
        return "gpu" if self.trial.device.startswith("cuda") else "cpu"

    @property
    def devices(self) -> list[int] | int:
        """``Trainer(devices=...)`` for the trial's devices: the indices of its GPUs
        (``[0]``, ``[0, 1]``), or ``1`` (one CPU process)."""
        gpus = [int(d.split(":", 1)[1]) for d in self.trial.devices if d.startswith("cuda:")]
        return gpus if gpus else 1

    @property
    def state_key(self) -> str:
        return "HyperraceCallback"

    def state_dict(self) -> dict[str, Any]:
        return {"rng": rng_state() if self.rng else None}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        # applied at the start of training: the sanity check that Lightning runs before it
        # draws from the global generator (each DataLoader iterator draws its base seed)
        self._pending_rng = state_dict.get("rng") if self.rng else None

    def on_fit_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        device = trainer.strategy.root_device
        name = f"{device.type}:{device.index or 0}" if device.type == "cuda" else device.type
        if name not in self.trial.devices:
            raise ConfigurationError(
                f"the trainer trains on {name}, which is not among trial {self.trial.trial_id}'s "
                f"devices {list(self.trial.devices)}; pass Trainer(accelerator="
                "callback.accelerator, devices=callback.devices)"
            )
        max_epochs = trainer.max_epochs
        if max_epochs is not None and max_epochs >= 0 and max_epochs < self.trial.stop:
            raise ConfigurationError(
                f"Trainer(max_epochs={max_epochs}) ends before the fidelity trial "
                f"{self.trial.trial_id} is granted ({self.trial.stop:g} epochs); use "
                "Trainer(max_epochs=int(trial.stop))"
            )

    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if self._pending_rng is not None:
            set_rng_state(self._pending_rng)
            self._pending_rng = None
        expected = self.ckpt_path
        given = trainer.ckpt_path
        if expected is not None and (given is None or Path(given) != Path(expected)):
            raise ConfigurationError(
                f"trial {self.trial.trial_id} resumes from its checkpoint at epoch "
                f"{self.trial.start:g}, but Trainer.fit was given ckpt_path={given!r}; call "
                "trainer.fit(module, ..., ckpt_path=callback.ckpt_path)"
            )

    def on_validation_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if trainer.sanity_checking or not trainer.fit_loop.epoch_loop.batch_progress.is_last_batch:
            return
        metrics = trainer.callback_metrics
        if self.monitor not in metrics:
            raise ConfigurationError(
                f"monitor={self.monitor!r} is not among the logged metrics "
                f"{sorted(metrics)}; log it in validation_step with self.log({self.monitor!r}, "
                "...) or pass one of those"
            )
        value = float(metrics[self.monitor])
        epoch = trainer.current_epoch + 1
        go_on = self.trial.report(
            value,
            fidelity=epoch,
            checkpoint=lambda: self._trainer_state(trainer),
        )
        if not go_on:
            trainer.should_stop = True

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if trainer.current_epoch + 1 >= self.trial.stop:
            trainer.should_stop = True

    def _trainer_state(self, trainer: pl.Trainer) -> dict[str, Any]:
        """What ``trainer.save_checkpoint`` writes, as a dict (written to a scratch file through
        Lightning's public API, then read back)."""
        with tempfile.TemporaryDirectory(prefix="hyperrace-lightning-") as folder:
            path = Path(folder) / "trainer.ckpt"
            trainer.save_checkpoint(path)
            state: dict[str, Any] = torch.load(path, map_location="cpu", weights_only=False)
        return state
