"""Checkpoints: the state a paused trial is resumed from, one folder per trial.

A checkpoint is written to a temporary file and renamed into place, so a killed process leaves
either the previous checkpoint or the new one, never half a file. Its fidelity is part of its file
name; the storage records that fidelity in the same transaction as the report it belongs to.
Objects are written with ``torch.save`` when PyTorch is loaded in the process (state dicts of
tensors), and with :mod:`pickle` otherwise.
"""

from __future__ import annotations

import os
import pickle
import re
import sys
import tempfile
from pathlib import Path
from typing import Any

__all__ = ["Checkpoint"]

_NAME = re.compile(r"^checkpoint-(?P<fidelity>[0-9.e+-]+)\.(?P<fmt>pt|pkl)$")


def _format_fidelity(fidelity: float) -> str:
    return str(int(fidelity)) if float(fidelity).is_integer() else repr(float(fidelity))


class Checkpoint:
    """The checkpoint folder of one trial.

    Args:
        folder: the trial's own folder (created on the first save).
        fidelity: the fidelity of the checkpoint the storage knows of, or ``None``: :meth:`load`
            returns that one, so a file written by a process killed before its report was
            committed is never used.
        keep: how many checkpoints to keep (the newest ones).
        map_location: where :meth:`load` puts the tensors of a PyTorch checkpoint: the device
            of the run (``"cuda:0"``), so that a checkpoint saved on another GPU or machine
            loads onto this run's device.
    """

    def __init__(
        self,
        folder: str | os.PathLike[str],
        fidelity: float | None = None,
        *,
        keep: int = 1,
        map_location: str = "cpu",
    ):
        if keep < 1:
            raise ValueError(f"keep={keep}: at least one checkpoint must be kept; use keep=1")
        self.folder = Path(folder)
        self._fidelity = fidelity
        self._keep = keep
        self.map_location = map_location

    @property
    def fidelity(self) -> float | None:
        """The fidelity of the checkpoint :meth:`load` returns, or ``None`` if there is none."""
        return self._fidelity

    def _files(self) -> list[tuple[float, Path]]:
        if not self.folder.is_dir():
            return []
        found = []
        for path in self.folder.iterdir():
            match = _NAME.match(path.name)
            if match:
                found.append((float(match["fidelity"]), path))
        return sorted(found)

    def path_for(self, fidelity: float) -> Path | None:
        """The file that holds the checkpoint at ``fidelity``, if it exists."""
        for f, path in self._files():
            if f == fidelity:
                return path
        return None

    def save(self, state: Any, fidelity: float) -> Path:
        """Write ``state`` as the checkpoint at ``fidelity`` atomically; return its path.

        The new checkpoint becomes the one :meth:`load` returns. Older files beyond ``keep`` are
        removed only by :meth:`prune`, which the trial calls once the report is committed.
        """
        self.folder.mkdir(parents=True, exist_ok=True)
        use_torch = "torch" in sys.modules
        target = (
            self.folder / f"checkpoint-{_format_fidelity(fidelity)}.{'pt' if use_torch else 'pkl'}"
        )
        fd, tmp = tempfile.mkstemp(dir=self.folder, prefix=".tmp-", suffix=".part")
        try:
            with os.fdopen(fd, "wb") as fh:
                if use_torch:
                    sys.modules["torch"].save(state, fh)
                else:
                    pickle.dump(state, fh, protocol=pickle.HIGHEST_PROTOCOL)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        self._fidelity = float(fidelity)
        return target

    def prune(self) -> None:
        """Remove all but the newest ``keep`` checkpoints up to the current one, and later ones."""
        files = self._files()
        current = self._fidelity
        keep = [p for f, p in files if current is not None and f <= current][-self._keep :]
        for _, path in files:
            if path not in keep:
                path.unlink(missing_ok=True)

    def load(self, *, map_location: str | None = None) -> Any | None:
        """The state saved at :attr:`fidelity`, or ``None`` when this trial has no checkpoint.

        Tensors of a PyTorch checkpoint are loaded onto ``map_location`` (default: the run's
        device, :attr:`map_location`)."""
        if self._fidelity is None:
            return None
        path = self.path_for(self._fidelity)
        if path is None:
            return None
        if path.suffix == ".pt":
            import torch

            where = self.map_location if map_location is None else map_location
            return torch.load(path, map_location=where, weights_only=False)
        with path.open("rb") as fh:
            return pickle.load(fh)
