"""Mirror a trial's reports to TensorBoard: one ``SummaryWriter`` folder per trial.

:class:`TensorBoardMirror` attaches to the trial an objective receives; from then on each report
the storage commits is also written as a scalar, at the step of its fidelity. A resumed trial
writes to the same folder, so TensorBoard shows its whole curve, run after run::

    from hyperrace.integrations.tensorboard import TensorBoardMirror

    def objective(trial):
        with TensorBoardMirror(trial, "runs/mnist"):     # runs/mnist/trial-0003
            for epoch in trial.epochs():
                trial.report(train_one_epoch(trial.config))

then ``tensorboard --logdir runs/mnist``. The configuration is written once per run as text
(tag ``config``). The step of a fidelity in epochs or steps is that number; of a fidelity in
seconds, milliseconds (TensorBoard steps are integers). Needs the extra ``tensorboard``
(``tensorboard`` and PyTorch, whose ``torch.utils.tensorboard.SummaryWriter`` writes the files).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hyperrace._imports import require
from hyperrace.exceptions import ConfigurationError

if TYPE_CHECKING:
    from hyperrace.trial import Observation, Trial

__all__ = ["TensorBoardMirror", "step_of"]

_PURPOSE = "hyperrace.integrations.tensorboard"


def step_of(fidelity: float) -> int:
    """The integer step of a fidelity: itself for whole numbers (epochs, steps), else
    milliseconds (a fidelity in seconds).

    >>> step_of(3.0), step_of(2.5)
    (3, 2500)
    """
    return int(fidelity) if float(fidelity).is_integer() else round(fidelity * 1000)


class TensorBoardMirror:
    """Write each committed report of ``trial`` to ``log_dir/trial-NNNN`` as a TensorBoard scalar.

    Args:
        trial: the trial the objective was given.
        log_dir: the folder of the study's TensorBoard runs (one subfolder per trial, named by
            its number).
        tag: the scalar's name (``"value"``: the reported metric).

    It attaches itself to the trial when made. Use it as a context manager (the writer is closed
    on exit), or call :meth:`close` yourself.
    """

    def __init__(self, trial: Trial, log_dir: str | os.PathLike[str], *, tag: str = "value"):
        if not isinstance(tag, str) or not tag:
            raise ConfigurationError(f"tag={tag!r} must be a non-empty string, e.g. 'val_loss'")
        tensorboard = require("torch.utils.tensorboard", "tensorboard", _PURPOSE)
        self.trial = trial
        self.tag = tag
        self.folder = Path(log_dir) / f"trial-{trial.number:04d}"
        self._writer: Any = tensorboard.SummaryWriter(log_dir=str(self.folder))
        config = json.dumps(dict(trial.config), sort_keys=True, default=str)
        self._writer.add_text("config", config, global_step=step_of(trial.start))
        trial.add_mirror(self)

    def report(self, trial: Trial, observation: Observation) -> None:
        """Write ``observation`` (called by the trial after each committed report)."""
        self._writer.add_scalar(
            self.tag,
            observation.value,
            global_step=step_of(observation.fidelity),
            walltime=observation.time or None,
        )
        self._writer.flush()

    def close(self) -> None:
        """Stop mirroring and close the writer (its files are complete)."""
        self.trial.remove_mirror(self)
        self._writer.close()

    def __enter__(self) -> TensorBoardMirror:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"TensorBoardMirror({str(self.folder)!r}, tag={self.tag!r})"
