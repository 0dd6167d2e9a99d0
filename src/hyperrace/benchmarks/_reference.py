"""The best known final loss of a task, and the range of normalised regret.

:func:`best_known` draws ``samples`` configurations (10,000, or the task's
``reference_samples``) from the task's space with a generator seeded
by ``seed`` (``task.space.sample(rng)``, one after another), evaluates them at the maximum
fidelity with :meth:`~hyperrace.benchmarks.Task.final_losses` in chunks of
:data:`CHUNK` configurations, and returns the lowest loss; for a task that knows its optimum (an
``optimum`` attribute, as :class:`~hyperrace.benchmarks.SyntheticCurves` has) it returns the lower
of the two. Configs whose loss is NaN (diverged) are ignored. :func:`reference_range` returns
that value and the highest final loss of the same sample: normalised regret is
``(loss - best) / (worst - best)``.

Results are cached in a JSON file keyed by (task name, samples, seed): ``cache`` if given, else
``best_known.json`` in the folder named by the environment variable ``HYPERRACE_CACHE``, else in
``~/.cache/hyperrace``. A task name must therefore identify the task's losses (LCBench's names
include a non-default target). Writes re-read the file, merge the new entry and replace the file
atomically (a temporary file in the same folder, then a rename) under an exclusive lock where the
platform has ``fcntl``: processes that compute values at the same time never corrupt the file or
lose each other's entries.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from hyperrace._params import Integer, validate
from hyperrace.benchmarks._task import Task
from hyperrace.exceptions import ConfigurationError

__all__ = ["best_known", "reference_range"]

#: The environment variable naming the cache folder.
CACHE_ENV = "HYPERRACE_CACHE"
#: How many configurations the sample holds by default.
SAMPLES = 10_000
#: How many configurations are evaluated per ``final_losses`` call.
CHUNK = 2048
_FORMAT = 1
_ARGUMENTS = {"samples": Integer(1), "seed": Integer(0)}


def _cache_file(cache: str | Path | None) -> Path:
    if cache is not None:
        return Path(cache).expanduser()
    folder = os.environ.get(CACHE_ENV)
    base = Path(folder).expanduser() if folder else Path.home() / ".cache" / "hyperrace"
    return base / "best_known.json"


def _key(name: str, samples: int, seed: int) -> str:
    return json.dumps([name, samples, seed])


def _read(path: Path) -> dict[str, Any]:
    """The cache's entries (key -> record); empty if the file does not exist."""
    try:
        text = path.read_text()
    except FileNotFoundError:
        return {}
    try:
        data = json.loads(text)
        if data.get("format") != _FORMAT or not isinstance(data.get("entries"), dict):
            raise ValueError("not a best-known cache of this format")
    except (ValueError, AttributeError) as exc:
        raise ConfigurationError(
            f"{path} is not a best-known cache ({exc}); delete it, or pass best_known(..., "
            f"cache=...) another file, or set {CACHE_ENV} to another folder"
        ) from None
    entries: dict[str, Any] = data["entries"]
    return entries


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    """Hold an exclusive lock on ``path.lock`` (where the platform has ``fcntl``)."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows: atomic replace only
        yield
        return
    with open(path.with_name(path.name + ".lock"), "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _write(path: Path, key: str, record: dict[str, Any]) -> None:
    """Merge ``record`` under ``key`` into the cache file, replacing it atomically."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with _locked(path):
        entries = _read(path)
        entries[key] = record
        text = json.dumps({"format": _FORMAT, "entries": entries}, indent=1, sort_keys=True)
        fd, temp = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp", dir=path.parent)
        try:
            with os.fdopen(fd, "w") as handle:
                handle.write(text)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(temp, path)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(temp)
            raise


def _sampled_range(task: Task, samples: int, seed: int) -> tuple[float, float]:
    rng = np.random.default_rng(seed)
    best, worst = math.inf, -math.inf
    for start in range(0, samples, CHUNK):
        configs = [task.space.sample(rng) for _ in range(min(CHUNK, samples - start))]
        losses = np.asarray(task.final_losses(configs), dtype=np.float64)
        if losses.shape != (len(configs),):
            raise ConfigurationError(
                f"{task.name}.final_losses returned shape {losses.shape} for {len(configs)} "
                "configs; it must return one loss per config"
            )
        finite = losses[~np.isnan(losses)]
        if finite.size:
            best = min(best, float(finite.min()))
            worst = max(worst, float(finite.max()))
    if best == math.inf:
        raise ConfigurationError(
            f"every one of the {samples} sampled configs of task {task.name!r} has a NaN final "
            "loss; check the task, or sample more configs"
        )
    return best, worst


def best_known(
    task: Task, *, samples: int | None = None, seed: int = 0, cache: str | Path | None = None
) -> float:
    """The lowest final loss of ``task`` known: sampled, or its optimum (see the module docstring).

    Args:
        task: the task; its ``name`` keys the cache.
        samples: how many random configurations to evaluate at the maximum fidelity (>= 1);
            None: the task's ``reference_samples`` attribute where it has one (a task whose
            configurations are trained for real keeps its sample small), else 10,000.
        seed: the seed of the sample (>= 0).
        cache: the JSON cache file; None uses ``$HYPERRACE_CACHE/best_known.json``, else
            ``~/.cache/hyperrace/best_known.json``.

    Returns:
        ``min(lowest sampled final loss, task.optimum if the task has one)``.

    Examples:
        >>> import pathlib, tempfile
        >>> from hyperrace.benchmarks import LCBench
        >>> cache = pathlib.Path(tempfile.mkdtemp()) / "best_known.json"
        >>> round(best_known(LCBench(3945), samples=1000, cache=cache), 4)
        0.004
        >>> cache.exists()
        True
    """
    return reference_range(task, samples=samples, seed=seed, cache=cache)[0]


def reference_range(
    task: Task, *, samples: int | None = None, seed: int = 0, cache: str | Path | None = None
) -> tuple[float, float]:
    """``(best, worst)``: :func:`best_known` and the highest final loss of the same sample.

    The arguments are those of :func:`best_known`; both values are cached together.

    Examples:
        >>> import pathlib, tempfile
        >>> from hyperrace.benchmarks import SyntheticCurves
        >>> cache = pathlib.Path(tempfile.mkdtemp()) / "best_known.json"
        >>> best, worst = reference_range(SyntheticCurves(0), samples=500, cache=cache)
        >>> 0 <= best < 0.05 < worst
        True
    """
    if samples is None:
        samples = getattr(task, "reference_samples", SAMPLES)
    checked = validate(
        "best_known",
        _ARGUMENTS,
        {"samples": samples, "seed": seed},
        {"samples": SAMPLES, "seed": 0},
    )
    samples, seed = checked["samples"], checked["seed"]
    name = getattr(task, "name", None)
    if not isinstance(name, str) or not name:
        raise ConfigurationError(
            f"best_known needs a task with a non-empty str 'name' to key its cache, got {task!r}"
        )
    path = _cache_file(cache)
    key = _key(name, samples, seed)
    record = _read(path).get(key)
    if (
        isinstance(record, dict)
        and isinstance(record.get("value"), int | float)
        and isinstance(record.get("worst"), int | float)
    ):
        return float(record["value"]), float(record["worst"])
    sampled, worst = _sampled_range(task, samples, seed)
    optimum = getattr(task, "optimum", None)
    value = sampled if optimum is None else min(sampled, float(optimum))
    _write(
        path,
        key,
        {
            "task": name,
            "samples": samples,
            "seed": seed,
            "sampled": sampled,
            "value": value,
            "worst": worst,
        },
    )
    return value, worst
