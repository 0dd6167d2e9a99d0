"""Integrations with training frameworks; each lives in its own module and imports its framework
only when used, so ``import hyperrace`` stays light.

- :mod:`hyperrace.integrations.pytorch`: :class:`~hyperrace.integrations.pytorch.TorchState`
  saves a model, its optimizer, LR scheduler, AMP grad scaler and the random number generators
  through the trial's checkpoint in one call, and restores them, so that a paused trial resumes
  bit-exactly (extra ``torch``).
- :mod:`hyperrace.integrations.lightning`:
  :class:`~hyperrace.integrations.lightning.HyperraceCallback` reports a Lightning metric at each
  validation epoch, checkpoints the whole trainer through the trial, and stops the trainer when
  the race says so (extra ``lightning``).
- :mod:`hyperrace.integrations.tensorboard` and :mod:`hyperrace.integrations.mlflow`:
  :class:`~hyperrace.integrations.tensorboard.TensorBoardMirror` and
  :class:`~hyperrace.integrations.mlflow.MLflowMirror` mirror each committed report of a trial
  to a TensorBoard folder or an MLflow run of its own (extras ``tensorboard``, ``mlflow``).

Integrations depend only on :mod:`hyperrace.trial`: they see the :class:`~hyperrace.trial.Trial`
handle an objective receives, never the study or the storage.
"""

__all__: list[str] = []
