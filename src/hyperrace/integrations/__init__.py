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

Integrations depend only on :mod:`hyperrace.trial`: they see the :class:`~hyperrace.trial.Trial`
handle an objective receives, never the study or the storage.
"""

__all__: list[str] = []
