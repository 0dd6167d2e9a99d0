"""Checkpoint a PyTorch training loop through the trial in one call, and resume it bit-exactly.

A :class:`TorchState` names the stateful parts of a training loop once: the model, its optimizer,
LR scheduler, AMP grad scaler, any other object with ``state_dict()`` / ``load_state_dict()``,
and, unless ``rng=False``, the random number generators the loop draws from without naming them
(the global torch generator, the CUDA generators once CUDA is in use, NumPy's global generator and
Python's :mod:`random`). :meth:`TorchState.restore` loads the trial's committed checkpoint into
all of them; the object itself is the ``checkpoint=`` callable of :meth:`Trial.report
<hyperrace.trial.Trial.report>`, called only when a report is made.

Devices: a module compiled with ``torch.compile`` is saved and restored as the module it wraps, so
a checkpoint of a compiled model loads into a plain one and back. :meth:`TorchState.restore`
loads the checkpoint onto the trial's device (``trial.device``, where the checkpoint's
``map_location`` points), so a state saved on another GPU or machine lands where this run
trains; the generators' states are moved back to the CPU, where PyTorch keeps them. With AMP,
pass the ``torch.amp.GradScaler`` as ``scaler=``.

Contract: a trial paused after step ``k`` and resumed in a fresh process reports the same values
as an uninterrupted run, provided every random draw of the loop comes from a generator the state
covers (a ``DataLoader`` with ``shuffle=True`` and no workers draws from the global torch
generator, so it is covered) and the computation is deterministic on its device. Restoring checks
that the checkpoint holds exactly the parts this object names, so a changed loop fails loudly
instead of resuming half its state.

Example (a linear model raced by ASHA in memory; the trial paused at an early rung resumes from
its checkpoint)::

    >>> import torch
    >>> import hyperrace as hr
    >>> from hyperrace.integrations.pytorch import TorchState
    >>> x = torch.linspace(-1, 1, 32).unsqueeze(1); y = 3 * x
    >>> def train(trial):
    ...     model = torch.nn.Linear(1, 1)
    ...     optimizer = torch.optim.SGD(model.parameters(), lr=trial.config["lr"])
    ...     scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=3)
    ...     state = TorchState(model=model, optimizer=optimizer, scheduler=scheduler)
    ...     state.restore(trial)               # None for a new trial, else the resumed fidelity
    ...     for epoch in trial.epochs():
    ...         optimizer.zero_grad()
    ...         loss = torch.nn.functional.mse_loss(model(x), y)
    ...         loss.backward(); optimizer.step(); scheduler.step()
    ...         trial.report(loss.item(), checkpoint=state)
    >>> space = hr.Space(lr=hr.Float(0.01, 0.5, log=True), epochs=hr.Fidelity(1, 9))
    >>> study = hr.Study("doc", space, storage="memory://", optimizer="asha", seed=0)
    >>> study.optimize(train, budget=hr.Budget(epochs=40), progress=False)
    >>> max(t.fidelity for t in study.trials)
    9.0
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import numpy as np

from hyperrace._imports import require
from hyperrace.exceptions import ConfigurationError

if TYPE_CHECKING:
    from hyperrace.trial import Trial

__all__ = ["FORMAT", "TorchState", "rng_state", "set_rng_state"]

#: The version of the checkpoint layout :class:`TorchState` writes (a key of the saved dict).
FORMAT = 1
_PURPOSE = "hyperrace.integrations.pytorch"
_NAMED = ("model", "optimizer", "scheduler", "scaler")


def _check_stateful(argument: str, obj: Any) -> None:
    if not (
        callable(getattr(obj, "state_dict", None))
        and callable(getattr(obj, "load_state_dict", None))
    ):
        raise ConfigurationError(
            f"{argument}={type(obj).__name__} has no state_dict() / load_state_dict(); pass a "
            "torch module, optimizer, LR scheduler, grad scaler, or a torch.Generator / "
            "numpy.random.Generator / random.Random"
        )


def _is_generator(obj: Any) -> bool:
    torch = require("torch", "torch", _PURPOSE)
    return isinstance(obj, torch.Generator | np.random.Generator | random.Random)


def _unwrap(obj: Any) -> Any:
    """The module a ``torch.compile``d module wraps (its state without the ``_orig_mod.``
    prefix), or ``obj`` itself."""
    torch = require("torch", "torch", _PURPOSE)
    inner = getattr(obj, "_orig_mod", None) if isinstance(obj, torch.nn.Module) else None
    return inner if isinstance(inner, torch.nn.Module) else obj


def _cpu(tensor: Any) -> Any:
    """A generator state on the CPU (checkpoints may be loaded onto a GPU)."""
    return tensor.cpu() if hasattr(tensor, "cpu") else tensor


def _get(obj: Any) -> Any:
    """The state of ``obj``: a generator's, or its ``state_dict()``."""
    torch = require("torch", "torch", _PURPOSE)
    if isinstance(obj, torch.Generator):
        return obj.get_state()
    if isinstance(obj, np.random.Generator):
        return obj.bit_generator.state
    if isinstance(obj, random.Random):
        return obj.getstate()
    return _unwrap(obj).state_dict()


def _set(obj: Any, state: Any) -> None:
    torch = require("torch", "torch", _PURPOSE)
    if isinstance(obj, torch.Generator):
        obj.set_state(_cpu(state))
    elif isinstance(obj, np.random.Generator):
        obj.bit_generator.state = state
    elif isinstance(obj, random.Random):
        obj.setstate(state)
    else:
        _unwrap(obj).load_state_dict(state)


def rng_state() -> dict[str, Any]:
    """The states of the global generators: torch (CPU), CUDA (only once CUDA is initialised, so
    that saving never starts CUDA), NumPy's global generator and Python's :mod:`random`, as
    tensors, strings and numbers (readable by ``torch.load(weights_only=True)``)."""
    torch = require("torch", "torch", _PURPOSE)
    kind, keys, pos, has_gauss, gauss = np.random.get_state(legacy=True)
    keys = np.asarray(keys)
    state: dict[str, Any] = {
        "python": random.getstate(),
        # tensors and numbers only, so that torch.load(weights_only=True) reads it back
        "numpy": (kind, torch.from_numpy(keys.astype(np.int64)), pos, has_gauss, gauss),
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: Mapping[str, Any]) -> None:
    """Restore what :func:`rng_state` returned. CUDA states are restored where CUDA is available
    (device by device, as many as both machines have) and skipped where it is not."""
    torch = require("torch", "torch", _PURPOSE)
    random.setstate(state["python"])
    kind, keys, pos, has_gauss, gauss = state["numpy"]
    np.random.set_state((kind, _cpu(keys).numpy().astype(np.uint32), pos, has_gauss, gauss))
    torch.set_rng_state(_cpu(state["torch"]))
    cuda = state.get("cuda")
    if cuda and torch.cuda.is_available():
        for device, device_state in enumerate(cuda[: torch.cuda.device_count()]):
            torch.cuda.set_rng_state(_cpu(device_state), device)


class TorchState:
    """The stateful parts of a PyTorch training loop, saved and restored together.

    Args:
        model: the ``torch.nn.Module`` (its ``state_dict``: parameters and buffers); a
            ``torch.compile``d module is saved as the module it wraps.
        optimizer: its ``torch.optim.Optimizer``.
        scheduler: its LR scheduler (any ``torch.optim.lr_scheduler`` class).
        scaler: the AMP ``torch.amp.GradScaler``.
        extra: more named parts: objects with ``state_dict()`` / ``load_state_dict()`` (an EMA
            model, a second optimizer), or generators (``torch.Generator``,
            ``numpy.random.Generator``, ``random.Random``) whose states are saved as they are.
        rng: also save and restore the global generators (see :func:`rng_state`).

    Raises:
        ConfigurationError: a part has no state to save, an ``extra`` name is taken by a named
            part, or nothing at all would be saved.
    """

    def __init__(
        self,
        *,
        model: Any = None,
        optimizer: Any = None,
        scheduler: Any = None,
        scaler: Any = None,
        extra: Mapping[str, Any] | None = None,
        rng: bool = True,
    ) -> None:
        parts: dict[str, Any] = {}
        for name, obj in zip(_NAMED, (model, optimizer, scheduler, scaler), strict=True):
            if obj is not None:
                _check_stateful(name, obj)
                parts[name] = obj
        for name, obj in (extra or {}).items():
            if not isinstance(name, str) or not name or name in _NAMED:
                raise ConfigurationError(
                    f"extra name {name!r} must be a non-empty string other than "
                    f"{', '.join(_NAMED)}; pass those parts as model=, optimizer=, ... instead"
                )
            if not _is_generator(obj):
                _check_stateful(f"extra[{name!r}]", obj)
            parts[f"extra.{name}"] = obj
        if not parts and not rng:
            raise ConfigurationError(
                "TorchState() with rng=False and no parts saves nothing; pass model=, "
                "optimizer=, scheduler=, scaler= or extra="
            )
        self._parts = parts
        self._rng = rng

    @property
    def parts(self) -> tuple[str, ...]:
        """The names of the saved parts (``extra`` ones prefixed ``extra.``), in saving order."""
        return tuple(self._parts)

    def state(self) -> dict[str, Any]:
        """The checkpoint: ``{"format": FORMAT, "parts": {name: state}, "rng": ... or None}``."""
        return {
            "format": FORMAT,
            "parts": {name: _get(obj) for name, obj in self._parts.items()},
            "rng": rng_state() if self._rng else None,
        }

    def __call__(self) -> dict[str, Any]:
        """The same as :meth:`state`, so that the object is a ``checkpoint=`` callable."""
        return self.state()

    def load(self, state: Mapping[str, Any]) -> None:
        """Load ``state`` (from :meth:`state`) into the parts and, if ``rng``, the generators.

        Raises:
            ConfigurationError: ``state`` was not written by a TorchState, or names other parts
                than this object (the loop changed between saving and restoring).
        """
        if not isinstance(state, Mapping) or state.get("format") != FORMAT:
            found = sorted(state)[:8] if isinstance(state, Mapping) else type(state).__name__
            raise ConfigurationError(
                f"the checkpoint is not a TorchState of format {FORMAT} (found {found}); load "
                "checkpoints written by other code with trial.checkpoint.load()"
            )
        saved = set(state["parts"])
        if saved != set(self._parts) or (state["rng"] is None) == self._rng:
            raise ConfigurationError(
                f"the checkpoint holds parts {sorted(saved)} with rng={state['rng'] is not None}, "
                f"but this TorchState names {sorted(self._parts)} with rng={self._rng}; restore "
                "with the same model=, optimizer=, scheduler=, scaler=, extra= and rng= as saved"
            )
        for name, obj in self._parts.items():
            _set(obj, state["parts"][name])
        if self._rng:
            set_rng_state(state["rng"])

    def restore(self, trial: Trial, *, trusted: bool | None = None) -> float | None:
        """Load the trial's committed checkpoint, if it has one, onto the trial's device (the
        checkpoint's ``map_location``).

        A TorchState checkpoint is plain data (tensors, numbers, strings), read with
        ``torch.load(weights_only=True)``; ``trusted`` is passed to
        :meth:`Checkpoint.load <hyperrace.trial.Checkpoint.load>` (``True`` only for a
        checkpoint of other code, from a folder nobody untrusted can write).

        Returns:
            the fidelity the checkpoint was saved at (``trial.start``), or ``None`` for a trial
            without a checkpoint, whose parts are left as they are.
        """
        state = trial.checkpoint.load(trusted=trusted)
        if state is None:
            return None
        self.load(state)
        return trial.checkpoint.fidelity
