"""Checkpoints: the state a paused trial is resumed from, one folder per trial
(:func:`trial_folder`: ``trial-<id>`` in the study's artifacts folder).

A checkpoint is written to a temporary file and renamed into place, so a killed process leaves
either the previous checkpoint or the new one, never half a file. Its fidelity is part of its file
name; the storage records that fidelity in the same transaction as the report it belongs to.
Objects are written with ``torch.save`` when PyTorch is loaded in the process (state dicts of
tensors, ``.pt``), and with :mod:`pickle` otherwise (``.pkl``).

Loading never runs code by default. The artifacts folder is often shared by workers on several
machines, and unpickling a file is running whatever code its author put in it, so :meth:`load`
reads plain data only: ``torch.load(weights_only=True)`` for ``.pt`` files, and a restricted
unpickler for ``.pkl`` files. Plain data is containers (dict, list, tuple, set), numbers,
strings, bytes, ``None``, tensors, NumPy arrays and scalars, and :mod:`datetime` values: what
state dicts, :class:`~hyperrace.integrations.pytorch.TorchState` and most objectives save. A
file that holds anything else (an instance of an arbitrary class) is refused with
:class:`~hyperrace.UntrustedCheckpointError`, unless the user opts in: ``load(trusted=True)``,
``Checkpoint(..., trusted=True)``, or the environment variable
``HYPERRACE_TRUSTED_CHECKPOINTS=1`` (for every checkpoint the process loads).
"""

from __future__ import annotations

import os
import pickle
import re
import sys
import tempfile
from pathlib import Path
from typing import IO, Any

from hyperrace.exceptions import ConfigurationError, UntrustedCheckpointError

__all__ = ["TRUSTED_ENV", "Checkpoint", "trial_folder"]

_NAME = re.compile(r"^checkpoint-(?P<fidelity>[0-9.e+-]+)\.(?P<fmt>pt|pkl)$")

#: Set to ``1`` to load every checkpoint of the process with full unpickling (trusted files).
TRUSTED_ENV = "HYPERRACE_TRUSTED_CHECKPOINTS"
_TRUE = ("1", "true", "yes", "on")
_FALSE = ("", "0", "false", "no", "off")

# What a plain-data pickle may name: classes and functions that rebuild values, none of which
# calls anything the file chooses (NumPy arrays, scalars and dtypes under their NumPy 1 and 2
# module names; datetimes; the builtins that have no opcode of their own).
_SAFE_GLOBALS = frozenset(
    {
        ("builtins", "complex"),
        ("builtins", "set"),
        ("builtins", "frozenset"),
        ("builtins", "bytearray"),
        ("builtins", "slice"),
        ("builtins", "range"),
        ("collections", "OrderedDict"),
        ("datetime", "datetime"),
        ("datetime", "date"),
        ("datetime", "time"),
        ("datetime", "timedelta"),
        ("datetime", "timezone"),
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
        *(
            (f"numpy.{core}.{module}", name)
            for core in ("core", "_core")
            for module, name in (
                ("multiarray", "_reconstruct"),
                ("multiarray", "scalar"),
                ("numeric", "_frombuffer"),
            )
        ),
    }
)


def _trusted_by_env() -> bool:
    value = os.environ.get(TRUSTED_ENV, "").strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ConfigurationError(
        f"{TRUSTED_ENV}={os.environ[TRUSTED_ENV]!r} must be 1 (load checkpoints with full "
        "unpickling: only where everyone who can write the artifacts folder is trusted) or 0 "
        "(the default: plain data only)"
    )


class _Refused(Exception):
    def __init__(self, module: str, name: str) -> None:
        super().__init__(f"{module}.{name}")
        self.what = f"{module}.{name}"


class _PlainUnpickler(pickle.Unpickler):
    """Unpickles plain data only: any global outside :data:`_SAFE_GLOBALS` is refused before it
    is imported, so nothing the file names is ever called."""

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) not in _SAFE_GLOBALS:
            raise _Refused(module, name)
        return super().find_class(module, name)


def _safe_objects() -> list[Any]:
    """The objects of :data:`_SAFE_GLOBALS` that this Python and NumPy have, and NumPy's dtype
    classes: what ``torch.load(weights_only=True)`` is told it may rebuild."""
    import importlib.util

    found = []
    numpy2 = importlib.util.find_spec("numpy._core") is not None
    for module, name in _SAFE_GLOBALS:
        if numpy2 and module.startswith("numpy.core."):  # a deprecated alias in NumPy 2
            continue
        try:
            found.append(getattr(importlib.import_module(module), name))
        except (ImportError, AttributeError):
            continue
    try:  # torch.load rebuilds a dtype only of a type it was told of (numpy.dtypes.Float64DType)
        dtypes = importlib.import_module("numpy.dtypes")
    except ImportError:
        return found
    found += [
        cls
        for cls in vars(dtypes).values()
        if isinstance(cls, type) and cls.__name__.endswith("DType")
    ]
    return found


def _refusal(path: Path, what: str) -> UntrustedCheckpointError:
    return UntrustedCheckpointError(
        f"checkpoint {path} holds {what}, which loading would have to call to rebuild; it is not "
        "loaded, since whoever can write that folder could make loading run any code. If you "
        "trust everyone who can write it, load it with trial.checkpoint.load(trusted=True) (or "
        f"set {TRUSTED_ENV}=1); otherwise save plain data: dicts, lists, numbers, strings, "
        "tensors, NumPy arrays (a state_dict() rather than the object)"
    )


def trial_folder(artifacts: str | Path, trial_id: int) -> Path:
    """The checkpoint folder of a trial inside a study's artifact folder."""
    return Path(artifacts) / f"trial-{trial_id}"


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
        trusted: load with full unpickling (``True``), which runs any code a file names, or
            plain data only (``False``); ``None`` (default): as the environment variable
            ``HYPERRACE_TRUSTED_CHECKPOINTS`` says, plain data only when it is not set.
    """

    def __init__(
        self,
        folder: str | os.PathLike[str],
        fidelity: float | None = None,
        *,
        keep: int = 1,
        map_location: str = "cpu",
        trusted: bool | None = None,
    ):
        if keep < 1:
            raise ValueError(f"keep={keep}: at least one checkpoint must be kept; use keep=1")
        self.folder = Path(folder)
        self._fidelity = fidelity
        self._keep = keep
        self.map_location = map_location
        if trusted is not None and not isinstance(trusted, bool):
            raise ConfigurationError(f"trusted={trusted!r} must be True, False or None")
        self.trusted = trusted

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

    def load(self, *, map_location: str | None = None, trusted: bool | None = None) -> Any | None:
        """The state saved at :attr:`fidelity`, or ``None`` when this trial has no checkpoint.

        Args:
            map_location: where the tensors of a PyTorch checkpoint go (default: the run's
                device, :attr:`map_location`).
            trusted: ``True`` loads the file with full unpickling, which runs any code it
                names: only for files that nobody untrusted can write. ``False`` loads plain
                data only (see the module docstring). ``None`` (default): as :attr:`trusted`
                says, else the environment variable ``HYPERRACE_TRUSTED_CHECKPOINTS``, else
                plain data only.

        Raises:
            UntrustedCheckpointError: the file holds more than plain data and is not trusted;
                the message names the file and the object it would have rebuilt.
        """
        if trusted is not None and not isinstance(trusted, bool):
            raise ConfigurationError(f"trusted={trusted!r} must be True, False or None")
        if self._fidelity is None:
            return None
        path = self.path_for(self._fidelity)
        if path is None:
            return None
        if trusted is None:
            trusted = self.trusted if self.trusted is not None else _trusted_by_env()
        if path.suffix == ".pt":
            where = self.map_location if map_location is None else map_location
            return _torch_load(path, where, trusted)
        with path.open("rb") as fh:
            return _pickle_load(path, fh, trusted)


def _pickle_load(path: Path, fh: IO[bytes], trusted: bool) -> Any:
    if trusted:
        return pickle.load(fh)
    try:
        return _PlainUnpickler(fh).load()
    except _Refused as exc:
        raise _refusal(path, exc.what) from None


def _torch_load(path: Path, map_location: str, trusted: bool) -> Any:
    import torch

    if trusted:
        return torch.load(path, map_location=map_location, weights_only=False)
    try:
        with torch.serialization.safe_globals(_safe_objects()):
            return torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as exc:
        # torch says which global it refused: "Unsupported global: GLOBAL module.name ..."
        found = re.search(r"GLOBAL ([\w.]+)|got <class '([\w.]+)'>", str(exc))
        what = (found[1] or found[2]) if found else "an object outside plain data"
        raise _refusal(path, what) from exc
