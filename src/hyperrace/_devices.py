"""Devices: which GPUs a worker owns, and how a run names them.

A run is given GPUs by their ids as this machine names them (``"0"``, ``"3"``, or a UUID such as
``"GPU-5b2e..."``: the entries of ``CUDA_VISIBLE_DEVICES``). A worker process that owns GPUs sees
only those (its ``CUDA_VISIBLE_DEVICES`` lists them), so PyTorch names them ``cuda:0``,
``cuda:1``, ... there; :func:`torch_names` gives those names from the ids and the environment.
Records keep the ids as ``"cuda:<id>"``, or ``"cpu"`` for a run told to train on the CPU.

Nothing here imports PyTorch at module level: :func:`torch_gpu_count` imports it when called.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping, Sequence

__all__ = [
    "CPU",
    "VISIBLE_ENV",
    "record_names",
    "torch_devices_seen",
    "torch_gpu_count",
    "torch_names",
    "visible_ids",
]

#: The environment variable that names the GPUs a CUDA process sees.
VISIBLE_ENV = "CUDA_VISIBLE_DEVICES"
#: How a run told to train on the CPU records its device.
CPU = "cpu"


def visible_ids(environ: Mapping[str, str] | None = None) -> tuple[str, ...] | None:
    """The GPU ids listed in ``CUDA_VISIBLE_DEVICES``, or ``None`` when it is not set (then a
    process sees every GPU of the machine, by index).

    >>> visible_ids({"CUDA_VISIBLE_DEVICES": "2, 3"}), visible_ids({})
    (('2', '3'), None)
    """
    env = os.environ if environ is None else environ
    text = env.get(VISIBLE_ENV)
    if text is None:
        return None
    return tuple(part.strip() for part in text.split(",") if part.strip())


def torch_names(gpus: Sequence[str], environ: Mapping[str, str] | None = None) -> tuple[str, ...]:
    """The names PyTorch gives GPUs ``gpus`` (machine ids) in a process with ``environ``.

    A GPU listed in ``CUDA_VISIBLE_DEVICES`` is named by its position there; without that
    variable by its id. No GPUs: ``("cpu",)``.

    >>> torch_names(["3"], {"CUDA_VISIBLE_DEVICES": "3"})
    ('cuda:0',)
    >>> torch_names(["1", "2"], {})
    ('cuda:1', 'cuda:2')
    >>> torch_names([], {})
    ('cpu',)
    """
    if not gpus:
        return (CPU,)
    visible = visible_ids(environ)
    names = []
    for gpu in gpus:
        if visible is not None and gpu in visible:
            names.append(f"cuda:{visible.index(gpu)}")
        elif visible is None and gpu.isdigit():
            names.append(f"cuda:{gpu}")
        else:
            shown = ",".join(visible) if visible is not None else "unset"
            raise ValueError(
                f"GPU {gpu!r} is not visible to this process ({VISIBLE_ENV}={shown}); give the "
                "ids of GPUs it sees"
            )
    return tuple(names)


def record_names(gpus: Sequence[str]) -> tuple[str, ...]:
    """How a run with ``gpus`` records its devices: ``("cuda:3",)``, or ``("cpu",)`` for none.

    >>> record_names(["3", "4"]), record_names([])
    (('cuda:3', 'cuda:4'), ('cpu',))
    """
    return tuple(f"cuda:{g}" for g in gpus) if gpus else (CPU,)


def torch_gpu_count() -> int:
    """How many GPUs PyTorch sees in this process (0 without PyTorch or without CUDA).

    Counting does not initialise CUDA in this process, so worker processes started afterwards
    may still be given other devices."""
    try:
        import torch
    except ImportError:
        return 0
    if not torch.cuda.is_available():
        return 0
    count: int = torch.cuda.device_count()
    return count


def torch_devices_seen() -> tuple[str, ...]:
    """The devices this process can train on as PyTorch sees them, when nobody assigned any:
    every visible GPU (``cuda:0``, ...) if PyTorch is loaded and sees one, else ``("cpu",)``."""
    torch = sys.modules.get("torch")
    if torch is not None and torch.cuda.is_available():
        return tuple(f"cuda:{i}" for i in range(torch.cuda.device_count()))
    return (CPU,)
