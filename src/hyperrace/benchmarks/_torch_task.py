"""The real PyTorch tasks as benchmark tasks: curves trained for real, on demand, epoch by epoch.

:class:`TorchTask` wraps one of the three real training tasks (``digits``, ``digits-cnn``,
``breast-cancer``: :func:`~hyperrace.benchmarks.train_digits`,
:func:`~hyperrace.benchmarks.train_digits_cnn`, :func:`~hyperrace.benchmarks.train_breast_cancer`)
in the :class:`~hyperrace.benchmarks.Task` protocol, so that ``hyperrace benchmark --task torch``
runs every optimizer on them under the same protocol as LCBench (simulated workers, a budget of
epochs, normalised regret).

* **Curves.** ``step(config, epoch)`` trains the configuration for real, with the task's own loop
  (:func:`hyperrace.benchmarks._training.train`): the first epochs it has not trained yet, resumed
  from the last epoch it trained (kept in memory, per configuration, for the life of the task
  object). A configuration's curve is a function of the configuration alone: its seeds come from
  a hash of it and of the instance (not from a trial number, nor from the metric), so the same
  configuration gets the same curve in every study, process and run, and two runs of a
  benchmark agree.
* **Seconds.** The seconds of an epoch are a cost model, not a measurement (a measurement would
  depend on the machine's load and make runs with several simulated workers irreproducible):
  ``batches * 6e-4 + (3 * train + valid) * mults / 2e10`` (``mults``: the model's multiply-adds
  per example, forward; backward twice that), fitted roughly (within about 2x) to one core of
  the machine the benchmarks ran on: 0.6 ms per batch and 20 G multiply-adds per second. It
  orders the configurations' costs the way training does (bigger models, smaller batches cost
  more), which is what cost-aware optimizers and simulated workers need.
* **Metric.** By default a step's value is the validation error (``1 - accuracy``), as the
  training functions report it; with ``metric="loss"`` (instance names ending in ``-loss``:
  ``digits-loss``, ...; ``all-loss`` for the three) it is the validation cross-entropy, capped
  at the uniform guess's ``log(classes)`` (a diverged network reports that too:
  :func:`hyperrace.benchmarks._training.capped_loss`). The error moves in steps of one
  validation row (1/114 on breast-cancer, 1/360 on the digits), so that within a budget of a
  few full trainings most optimizers tie on it; the cross-entropy is continuous and tells them
  apart. Uncapped, the worst of the reference sample (a confidently wrong network: 740,057 on
  breast-cancer) would make every normalised regret zero.
* **Reference.** :meth:`final_losses` trains every configuration to the end, so the sample that
  normalises the regret is small: :attr:`reference_samples` (256) configurations, against
  LCBench's 10,000 (``reference_range`` reads the attribute).

Needs the ``torch`` extra (and scikit-learn, in it), imported on the first step.
"""

from __future__ import annotations

import hashlib
import json
from collections import OrderedDict
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from hyperrace.benchmarks._task import Step
from hyperrace.exceptions import ConfigurationError
from hyperrace.space import Space

__all__ = ["LOSS_SUFFIX", "TORCH_TASKS", "TorchTask"]

#: The instances of ``--task torch`` (each also as ``<name>-loss``: see :class:`TorchTask`).
TORCH_TASKS = ("digits", "digits-cnn", "breast-cancer")
#: The end of an instance name whose steps report the validation cross-entropy.
LOSS_SUFFIX = "-loss"
#: Configurations whose training state a task keeps (the least recently used go first; a
#: configuration that comes back after that is trained again from the start, to the same curve).
KEEP = 4096
_BATCH_SECONDS = 6e-4
_FLOPS = 2e10


@dataclass
class _Progress:
    """A configuration's curve so far and the checkpoint after its last epoch."""

    curve: list[float] = field(default_factory=list)
    state: Any = None


class _Checkpoint:
    def __init__(self, progress: _Progress) -> None:
        self._progress = progress

    def load(self) -> Any:
        return self._progress.state


class _Run:
    """The part of :class:`hyperrace.Trial` the training loop uses: its configuration and
    number, the epochs to train, a report that records, and the last checkpoint."""

    def __init__(self, config: dict[str, Any], number: int, progress: _Progress, stop: int):
        self.config = config
        self.number = number
        self._progress = progress
        self._stop = stop
        self.checkpoint = _Checkpoint(progress)

    def epochs(self) -> Iterator[int]:
        return iter(range(len(self._progress.curve) + 1, self._stop + 1))

    def report(self, value: float, *, checkpoint: Callable[[], Any]) -> None:
        self._progress.curve.append(float(value))
        self._progress.state = checkpoint()


def _seed_number(name: str, pairs: list[tuple[str, str]]) -> int:
    """A trial number for the training loop's seeds, from the task and the configuration (its
    sorted ``(name, repr(value))`` pairs)."""
    text = json.dumps([name, pairs])
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:4], "little") % 1_000_000


#: The multiply-adds per example of a task's model, forward (see the module docstring).
_Mults = Callable[[Mapping[str, Any]], int]


def _mlp2_mults(config: Mapping[str, Any]) -> int:
    hidden = int(config["hidden"])
    return 64 * hidden + hidden * hidden + hidden * 10


def _cnn_mults(config: Mapping[str, Any]) -> int:
    c, hidden = int(config["channels"]), int(config["hidden"])
    return 64 * 9 * c + 64 * 9 * c * 2 * c + 32 * c * hidden + hidden * 10


def _mlp_mults(config: Mapping[str, Any]) -> int:
    hidden, layers = int(config["hidden"]), int(config["layers"])
    return 30 * hidden + (layers - 1) * hidden * hidden + hidden * 2


class TorchTask:
    """One of the real PyTorch tasks as a benchmark :class:`~hyperrace.benchmarks.Task` (see
    the module docstring).

    Args:
        instance: ``"digits"``, ``"digits-cnn"`` or ``"breast-cancer"``; with
            :data:`LOSS_SUFFIX` appended (``"digits-loss"``), the same as ``metric="loss"``.
        metric: ``"error"`` (the validation error) or ``"loss"`` (the validation
            cross-entropy): what a step's value is. The name is ``torch-<instance>``, with
            ``-loss`` appended for the cross-entropy.
    """

    reference_samples = 256

    def __init__(self, instance: str, metric: str = "error") -> None:
        from hyperrace.benchmarks import _digits, _torch_tasks

        tasks: dict[str, tuple[Callable[[], Space], Any, Any, Any, _Mults]] = {
            "digits": (
                _digits.digits_space,
                _digits._model,
                _digits._data,
                _digits._PURPOSE,
                _mlp2_mults,
            ),
            "digits-cnn": (
                _torch_tasks.digits_cnn_space,
                _torch_tasks._cnn,
                _torch_tasks._digit_images,
                _torch_tasks._CNN,
                _cnn_mults,
            ),
            "breast-cancer": (
                _torch_tasks.breast_cancer_space,
                _torch_tasks._mlp,
                _torch_tasks._breast_cancer,
                _torch_tasks._CANCER,
                _mlp_mults,
            ),
        }
        from hyperrace.benchmarks._training import _check_metric

        _check_metric(metric)
        if instance.endswith(LOSS_SUFFIX) and instance[: -len(LOSS_SUFFIX)] in tasks:
            instance, metric = instance[: -len(LOSS_SUFFIX)], "loss"
        if instance not in tasks:
            raise ConfigurationError(
                f"torch task {instance!r} is not one of {', '.join(TORCH_TASKS)} (or one of "
                f"them with {LOSS_SUFFIX!r} appended); e.g. --task torch --instances digits"
            )
        space_fn, self._build, self._data, self._purpose, self._mults = tasks[instance]
        self.instance = instance
        self.metric = metric
        self._space = space_fn()
        fid = self._space.fidelity
        assert fid is not None
        self._max = int(fid.high)
        self._fidelity_name = self._space.fidelity_name
        self._progress: OrderedDict[str, _Progress] = OrderedDict()

    @property
    def name(self) -> str:
        suffix = LOSS_SUFFIX if self.metric == "loss" else ""
        return f"torch-{self.instance}{suffix}"

    @property
    def space(self) -> Space:
        return self._space

    @property
    def max_epochs(self) -> int:
        return self._max

    def _config(self, config: Mapping[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in config.items() if k != self._fidelity_name}

    def _curve(self, config: Mapping[str, Any], epochs: int) -> list[float]:
        from hyperrace.benchmarks._training import train

        plain = self._config(config)
        pairs = sorted((k, repr(v)) for k, v in plain.items())
        key = json.dumps(pairs)
        progress = self._progress.get(key)
        if progress is None:
            progress = self._progress[key] = _Progress()
            while len(self._progress) > KEEP:
                self._progress.popitem(last=False)
        else:
            self._progress.move_to_end(key)
        if len(progress.curve) < epochs:
            # seeded by the task without its metric: both metrics score the same training
            run = _Run(plain, _seed_number(f"torch-{self.instance}", pairs), progress, epochs)
            train(
                run,  # type: ignore[arg-type]
                self._purpose,
                self._build,
                self._data,
                metric=self.metric,
            )
        return progress.curve

    def step(self, config: Mapping[str, Any], epoch: int) -> Step:
        if not 1 <= epoch <= self._max:
            raise ConfigurationError(
                f"epoch={epoch!r} is outside 1..{self._max} of the task {self.name!r}"
            )
        value = self._curve(config, epoch)[epoch - 1]
        return Step(value, self.seconds(config))

    def seconds(self, config: Mapping[str, Any]) -> float:
        """The cost model's seconds of one epoch of ``config`` (see the module docstring)."""
        x_train, _, x_valid, _ = self._data()
        n, n_valid = len(x_train), len(x_valid)
        batches = -(-n // int(config["batch_size"]))
        mults = self._mults(config)
        return float(batches * _BATCH_SECONDS + (3 * n + n_valid) * mults / _FLOPS)

    def final_losses(self, configs: Sequence[Mapping[str, Any]]) -> npt.NDArray[np.float64]:
        return np.array([self._curve(c, self._max)[-1] for c in configs], dtype=np.float64)
