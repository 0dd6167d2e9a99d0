"""GPUs for local workers: which worker process owns which devices.

``optimize(workers=N, gpus=[0, 1, ...] | "auto", gpus_per_worker=k)`` splits the listed GPUs
into N groups of k, in order: worker ``i`` owns ``gpus[i*k:(i+1)*k]``. A worker process sees only
its own (its ``CUDA_VISIBLE_DEVICES`` lists them, so PyTorch names them ``cuda:0``, ...). No two
workers share a GPU unless it is listed twice (``gpus=[0, 0, 1, 1]``: two workers on each).
``"auto"`` takes every GPU PyTorch sees here; where it sees none, the workers train on the CPU
and one log line says so.

GPUs are given by index, as this process sees them (the entries of its own
``CUDA_VISIBLE_DEVICES`` when it is set, else the machine's), or by id (a UUID such as
``"GPU-5b2e..."`` or a MIG id), as CUDA names them.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal, TypeAlias

from hyperrace._devices import torch_gpu_count, visible_ids
from hyperrace.exceptions import ConfigurationError

__all__ = ["GpuPlan", "Gpus", "plan_gpus"]

logger = logging.getLogger("hyperrace")

#: What ``gpus=`` accepts: a list of GPU indices or ids, ``"auto"``, or ``None`` (not managed:
#: every process sees what the driver sees).
Gpus: TypeAlias = Sequence[int | str] | Literal["auto"] | None


@dataclass(frozen=True, slots=True)
class GpuPlan:
    """How many workers run, and the GPU ids each worker slot owns.

    Attributes:
        workers: worker processes (jobs at once).
        groups: per worker slot, the ids of its GPUs (``()``: the CPU); ``None`` when GPUs are
            not managed.
    """

    workers: int
    groups: tuple[tuple[str, ...], ...] | None


def _ids(gpus: Sequence[int | str], environ: Mapping[str, str] | None) -> list[str]:
    visible = visible_ids(environ)
    out = []
    for gpu in gpus:
        if isinstance(gpu, bool) or not isinstance(gpu, int | str):
            raise ConfigurationError(
                f"gpus={list(gpus)!r}: {gpu!r} is not a GPU; give indices (0, 1, ...) or ids "
                "('GPU-5b2e...')"
            )
        if isinstance(gpu, str):
            if not gpu.strip() or "," in gpu:
                raise ConfigurationError(f"gpus={list(gpus)!r}: {gpu!r} is not a GPU id")
            if not gpu.strip().isdigit():
                out.append(gpu.strip())
                continue
            gpu = int(gpu)
        if gpu < 0:
            raise ConfigurationError(f"gpus={list(gpus)!r}: GPU index {gpu} is negative")
        if visible is not None:
            if gpu >= len(visible):
                raise ConfigurationError(
                    f"gpus={list(gpus)!r}: this process sees {len(visible)} GPUs "
                    f"(CUDA_VISIBLE_DEVICES={','.join(visible)}), so index {gpu} is none of them"
                )
            out.append(visible[gpu])
        else:
            out.append(str(gpu))
    return out


def plan_gpus(
    gpus: Gpus,
    workers: int | None,
    gpus_per_worker: int = 1,
    *,
    count: Callable[[], int] = torch_gpu_count,
    environ: Mapping[str, str] | None = None,
) -> GpuPlan:
    """Split ``gpus`` among ``workers`` (``None``: one worker per ``gpus_per_worker`` GPUs).

    Args:
        gpus: see :data:`Gpus`.
        workers: worker processes; ``None`` picks from the GPUs (1 without them).
        gpus_per_worker: GPUs each worker owns.
        count: how many GPUs ``"auto"`` finds (default: what PyTorch sees).
        environ: the environment to read ``CUDA_VISIBLE_DEVICES`` from (default: this one's).

    Raises:
        ConfigurationError: a malformed list, too few GPUs for the workers, or a worker that
            would own one GPU twice.

    Example:
        >>> plan_gpus([0, 1, 2, 3], None, 2, environ={}).groups
        (('0', '1'), ('2', '3'))
        >>> plan_gpus([0, 0, 1, 1], 4, environ={}).groups  # two workers per GPU, as asked
        (('0',), ('0',), ('1',), ('1',))
    """
    if isinstance(gpus_per_worker, bool) or not isinstance(gpus_per_worker, int):
        raise ConfigurationError(f"gpus_per_worker={gpus_per_worker!r} must be an integer >= 1")
    if gpus_per_worker < 1:
        raise ConfigurationError(f"gpus_per_worker={gpus_per_worker!r} must be an integer >= 1")
    if workers is not None and (
        isinstance(workers, bool) or not isinstance(workers, int) or workers < 1
    ):
        raise ConfigurationError(f"workers={workers!r} must be an integer >= 1")
    if gpus is None:
        if gpus_per_worker != 1:
            raise ConfigurationError(
                f"gpus_per_worker={gpus_per_worker} needs gpus=[...] or gpus='auto'"
            )
        return GpuPlan(workers or 1, None)
    if isinstance(gpus, str) and gpus == "auto":
        n = count()
        visible = visible_ids(environ)
        ids = list(visible[:n]) if visible is not None else [str(i) for i in range(n)]
        if not ids:
            n_workers = workers or 1
            logger.warning(
                "gpus='auto': PyTorch sees no GPU on this machine; the %d worker%s train%s on "
                "the CPU",
                n_workers,
                "" if n_workers == 1 else "s",
                "s" if n_workers == 1 else "",
            )
            return GpuPlan(n_workers, ((),) * n_workers)
        shown = "'auto'"
    elif isinstance(gpus, str) or not isinstance(gpus, Sequence) or not gpus:
        raise ConfigurationError(
            f"gpus={gpus!r} must be a non-empty list of GPU indices or ids (gpus=[0, 1]), "
            "'auto' (every GPU PyTorch sees), or None"
        )
    else:
        ids = _ids(gpus, environ)
        shown = repr(list(gpus))
    n_workers = workers if workers is not None else len(ids) // gpus_per_worker
    needed = n_workers * gpus_per_worker
    if n_workers < 1 or needed > len(ids):
        raise ConfigurationError(
            f"gpus={shown} gives {len(ids)} GPU{'' if len(ids) == 1 else 's'} "
            f"({', '.join(ids)}), but {max(n_workers, 1)} worker(s) with gpus_per_worker="
            f"{gpus_per_worker} need {max(needed, gpus_per_worker)}: use fewer workers or fewer "
            "GPUs per worker, or list a GPU twice to share it between workers "
            "(gpus=[0, 0, 1, 1])"
        )
    groups = tuple(
        tuple(ids[i * gpus_per_worker : (i + 1) * gpus_per_worker]) for i in range(n_workers)
    )
    for group in groups:
        if len(set(group)) != len(group):
            raise ConfigurationError(
                f"gpus={shown} with gpus_per_worker={gpus_per_worker} gives one worker GPU "
                f"{group[0] if group.count(group[0]) > 1 else group[-1]} twice ({list(group)}); "
                "order the list so that each worker's GPUs differ"
            )
    if needed < len(ids):
        logger.warning(
            "gpus=%s: GPU%s %s left unused by %d worker%s with gpus_per_worker=%d",
            shown,
            "" if len(ids) - needed == 1 else "s",
            ", ".join(ids[needed:]),
            n_workers,
            "" if n_workers == 1 else "s",
            gpus_per_worker,
        )
    return GpuPlan(n_workers, groups)
