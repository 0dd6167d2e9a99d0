"""LCBench through the YAHPO Gym surrogate, evaluated with onnxruntime (no yahpo-gym needed).

LCBench (Zimmer, Lindauer and Hutter, "Auto-PyTorch: Multi-Fidelity MetaLearning for Efficient
and Robust AutoDL", TPAMI 2021) recorded learning curves of funnel-shaped MLPs trained with SGD
for 52 epochs on 34 OpenML datasets. YAHPO Gym (Pfisterer, Schneider, Moosbauer, Binder and
Bischl, AutoML Conf 2022) fits one neural-network surrogate to all of them and ships it as an
ONNX model. :class:`LCBench` evaluates that model directly:

- inputs: ``x_cat`` (int32, one column: the instance's code from ``encoding.json``) and
  ``x_cont`` (float32, eight columns of raw values: epoch, batch_size, learning_rate, momentum,
  weight_decay, num_layers, max_units, max_dropout); the graph does all scaling itself;
- output: six columns in target units: time (cumulative seconds up to the epoch), val_accuracy
  (percent), val_cross_entropy, val_balanced_accuracy, test_cross_entropy,
  test_balanced_accuracy (the last two for reference only; they are not tuning targets here).

The answers equal yahpo-gym 1.0.2's (``lcbench_reference_curves.json`` in the data folder holds
its answers; the tests compare against every one of them).

Losses (all minimised): ``val_accuracy`` gives the validation error ``1 - val_accuracy / 100``;
``val_balanced_accuracy`` and ``test_balanced_accuracy`` give ``1 - value``; the cross entropies
are losses already and are returned as they are. The seconds of epoch ``e`` are the increase of
the running maximum of the cumulative ``time`` from epoch ``e - 1`` to ``e`` (the surrogate's time
dips slightly in a few curves), at least :data:`MIN_EPOCH_SECONDS`.

Data: the ``lcbench`` folder of the public ``slds-lmu/yahpo_data`` repository (data version
1.0.2, Apache License 2.0), shipped with hyperrace in ``hyperrace/benchmarks/data/yahpo`` (its
``LICENSE`` and ``README.md`` say where it comes from). Another copy can be named by ``data_dir``
or by the environment variable ``HYPERRACE_YAHPO_DATA`` (the folder holding ``lcbench/``).
The model runs in one onnxruntime session
per process and model file, single-threaded so that results are deterministic; recent curves are
cached per process, so stepping one configuration through its 52 epochs costs one model call.
"""

from __future__ import annotations

import functools
import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from hyperrace._imports import require
from hyperrace.benchmarks._task import Step
from hyperrace.exceptions import ConfigurationError
from hyperrace.space import Fidelity, Float, Int, Space

__all__ = ["LCBench"]

#: The environment variable naming the YAHPO Gym data folder (the one holding ``lcbench/``).
DATA_ENV = "HYPERRACE_YAHPO_DATA"
#: The smallest number of seconds an epoch is said to take.
MIN_EPOCH_SECONDS = 1e-3
#: Where the data can be downloaded.
DATA_SOURCE = "https://github.com/slds-lmu/yahpo_data (the 'lcbench' folder, data version 1.0.2)"
#: The copy of the data shipped inside the package (Apache License 2.0, see its LICENSE).
PACKAGED_DATA = Path(__file__).resolve().parent / "data" / "yahpo"

_INSTANCES = (
    "3945", "7593", "34539", "126025", "126026", "126029", "146212", "167104", "167149",
    "167152", "167161", "167168", "167181", "167184", "167185", "167190", "167200", "167201",
    "168329", "168330", "168331", "168335", "168868", "168908", "168910", "189354", "189862",
    "189865", "189866", "189873", "189905", "189906", "189908", "189909",
)  # fmt: skip
#: The model's output columns, in order.
_OUTPUTS = (
    "time",
    "val_accuracy",
    "val_cross_entropy",
    "val_balanced_accuracy",
    "test_cross_entropy",
    "test_balanced_accuracy",
)
#: target -> (offset, scale) of its loss: ``loss = offset - scale * value``.
_TARGETS: dict[str, tuple[float, float]] = {
    "val_accuracy": (1.0, 0.01),
    "val_balanced_accuracy": (1.0, 1.0),
    "test_balanced_accuracy": (1.0, 1.0),
    "val_cross_entropy": (0.0, -1.0),
    "test_cross_entropy": (0.0, -1.0),
}
_MAX_EPOCHS = 52
_PURPOSE = "the LCBench surrogate"
_CURVE_CACHE = 4096


def _space() -> Space:
    return Space(
        batch_size=Int(16, 512, log=True),
        learning_rate=Float(1e-4, 1e-1, log=True),
        momentum=Float(0.1, 0.99),
        weight_decay=Float(1e-5, 1e-1),
        num_layers=Int(1, 5),
        max_units=Int(64, 1024, log=True),
        max_dropout=Float(0.0, 1.0),
        epoch=Fidelity(1, _MAX_EPOCHS),
    )


def _candidates() -> list[tuple[Path, str]]:
    """The folders searched for the data when none is given, each with why it is searched."""
    env = os.environ.get(DATA_ENV)
    if env:
        return [(Path(env).expanduser(), f"from ${DATA_ENV}")]
    return [(PACKAGED_DATA, "shipped with hyperrace")]


def _find_data(data_dir: str | Path | None) -> Path:
    candidates = (
        [(Path(data_dir).expanduser(), "data_dir")] if data_dir is not None else _candidates()
    )
    for folder, _why in candidates:
        if (folder / "lcbench" / "model.onnx").is_file():
            return folder.resolve()
    looked = "; ".join(f"{folder / 'lcbench' / 'model.onnx'} ({why})" for folder, why in candidates)
    raise ConfigurationError(
        f"the LCBench surrogate data was not found; looked for: {looked}. hyperrace ships it "
        f"in {PACKAGED_DATA} (reinstall hyperrace if that folder is missing), or download "
        f"{DATA_SOURCE} and pass its folder (the one holding 'lcbench/') as "
        f"LCBench(..., data_dir=...) or set the environment variable {DATA_ENV}"
    )


@functools.cache
def _session(model: str) -> Any:
    """The process's onnxruntime session of ``model`` (single-threaded: deterministic)."""
    ort = require("onnxruntime", "bench", _PURPOSE)
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    return ort.InferenceSession(model, options, providers=["CPUExecutionProvider"])


def _run(model: str, code: int, rows: npt.NDArray[np.float32]) -> npt.NDArray[np.float64]:
    """The model's six outputs for ``rows`` (n, 8) of raw inputs of instance ``code``."""
    x_cat = np.full((len(rows), 1), code, dtype=np.int32)
    out = _session(model).run(None, {"x_cat": x_cat, "x_cont": rows})[0]
    return np.asarray(out, dtype=np.float64)


def _rows(values: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    """Inputs for every epoch of each config: (n, 7) hyperparameters -> (n * 52, 8)."""
    n = len(values)
    epochs = np.tile(np.arange(1, _MAX_EPOCHS + 1, dtype=np.float32), n)
    return np.column_stack([epochs, np.repeat(values, _MAX_EPOCHS, axis=0)]).astype(np.float32)


@functools.lru_cache(maxsize=_CURVE_CACHE)
def _curve(model: str, code: int, values: tuple[float, ...]) -> npt.NDArray[np.float64]:
    """The (52, 6) outputs of one config at every epoch; cached, read-only."""
    out = _run(model, code, _rows(np.array([values], dtype=np.float32)))
    out.flags.writeable = False
    return out


def _epoch_seconds(time: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """Per-epoch seconds from cumulative times (..., 52): increments of the running maximum."""
    running: npt.NDArray[np.float64] = np.maximum.accumulate(time, axis=-1)
    previous = np.concatenate([np.zeros_like(running[..., :1]), running[..., :-1]], axis=-1)
    seconds: npt.NDArray[np.float64] = np.maximum(running - previous, MIN_EPOCH_SECONDS)
    return seconds


class LCBench:
    """One LCBench dataset as a :class:`~hyperrace.benchmarks.Task` (see the module docstring).

    Args:
        instance: the OpenML task id, one of :meth:`instances` (as str or int).
        target: what to minimise, one of :meth:`targets`: ``"val_accuracy"`` (the validation
            error ``1 - accuracy / 100``), ``"val_balanced_accuracy"`` or
            ``"test_balanced_accuracy"`` (``1 - value``), ``"val_cross_entropy"`` or
            ``"test_cross_entropy"`` (as they are).
        data_dir: the folder holding ``lcbench/model.onnx``; None searches as the module
            docstring says.

    Attributes:
        name: ``lcbench-<instance>``, with ``-<target>`` appended for targets other than
            ``val_accuracy``.
        space: batch_size, learning_rate, momentum, weight_decay, num_layers, max_units,
            max_dropout and the fidelity ``epoch = Fidelity(1, 52)``.

    Examples:
        >>> task = LCBench(3945)
        >>> task.name, task.max_epochs
        ('lcbench-3945', 52)
        >>> config = {"batch_size": 64, "learning_rate": 0.01, "momentum": 0.9,
        ...           "weight_decay": 1e-4, "num_layers": 3, "max_units": 256, "max_dropout": 0.1}
        >>> first, last = task.step(config, 1), task.step(config, 52)
        >>> round(first.value, 3), round(last.value, 3)  # validation error after 1 and 52 epochs
        (0.499, 0.082)
        >>> task.curves([config]).shape
        (1, 52)
    """

    def __init__(
        self,
        instance: str | int,
        *,
        target: str = "val_accuracy",
        data_dir: str | Path | None = None,
    ) -> None:
        if isinstance(instance, bool) or not isinstance(instance, str | int):
            raise ConfigurationError(
                f"LCBench(instance={instance!r}): the instance is an OpenML task id, a str or "
                f"int, one of {list(_INSTANCES)}"
            )
        if str(instance) not in _INSTANCES:
            raise ConfigurationError(
                f"LCBench(instance={instance!r}) is not an LCBench instance; use one of "
                f"{list(_INSTANCES)}"
            )
        if target not in _TARGETS:
            raise ConfigurationError(
                f"LCBench(target={target!r}) is not a target; use one of {list(_TARGETS)} "
                "('time' gives each step's seconds, it is not a target)"
            )
        self.instance = str(instance)
        self.target = target
        self.data_dir = _find_data(data_dir)
        suffix = "" if target == "val_accuracy" else f"-{target}"
        self.name = f"lcbench-{self.instance}{suffix}"
        self.space = _space()
        self._fidelity = Fidelity(1, _MAX_EPOCHS)
        encoding = json.loads((self.data_dir / "lcbench" / "encoding.json").read_text())
        self._code = int(encoding["OpenML_task_id"][self.instance])
        self._model = str(self.data_dir / "lcbench" / "model.onnx")
        self._column = _OUTPUTS.index(target)

    def __repr__(self) -> str:
        return (
            f"LCBench({self.instance!r}, target={self.target!r}, data_dir={str(self.data_dir)!r})"
        )

    @staticmethod
    def instances() -> tuple[str, ...]:
        """The 34 OpenML task ids of LCBench, in the surrogate's order."""
        return _INSTANCES

    @staticmethod
    def targets() -> tuple[str, ...]:
        """The targets a task can minimise (see the class docstring for their orientation)."""
        return tuple(_TARGETS)

    @property
    def max_epochs(self) -> int:
        """The maximum fidelity: 52 epochs."""
        return _MAX_EPOCHS

    def _values(self, configs: Sequence[Mapping[str, Any]]) -> npt.NDArray[np.float32]:
        """The (n, 7) raw hyperparameter values of validated configs, in the model's order."""
        names = self.space.names
        rows = []
        for config in configs:
            valid = self.space.validate(config)
            rows.append([float(valid[name]) for name in names])
        return np.array(rows, dtype=np.float32).reshape(len(rows), len(names))

    def _loss(self, values: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        offset, scale = _TARGETS[self.target]
        return offset - scale * values

    def outputs(self, configs: Sequence[Mapping[str, Any]]) -> npt.NDArray[np.float64]:
        """The surrogate's raw answers: shape (n, 52, 6), epochs 1..52, columns in the order
        time, val_accuracy, val_cross_entropy, val_balanced_accuracy, test_cross_entropy,
        test_balanced_accuracy (target units, not losses). One model call for all configs."""
        values = self._values(configs)
        out = _run(self._model, self._code, _rows(values))
        return out.reshape(len(values), _MAX_EPOCHS, len(_OUTPUTS))

    def curves(self, configs: Sequence[Mapping[str, Any]]) -> npt.NDArray[np.float64]:
        """The loss of each config after each epoch: shape (n, 52), column ``e - 1`` is
        epoch ``e``. One model call for all configs."""
        return self._loss(self.outputs(configs)[:, :, self._column])

    def epoch_seconds(self, configs: Sequence[Mapping[str, Any]]) -> npt.NDArray[np.float64]:
        """The seconds each epoch of each config takes: shape (n, 52), all > 0."""
        return _epoch_seconds(self.outputs(configs)[:, :, 0])

    def final_losses(self, configs: Sequence[Mapping[str, Any]]) -> npt.NDArray[np.float64]:
        """The loss of each config after 52 epochs: shape (n,). One model call for all."""
        values = self._values(configs)
        rows = np.column_stack(
            [np.full(len(values), _MAX_EPOCHS, dtype=np.float32), values]
        ).astype(np.float32)
        return self._loss(_run(self._model, self._code, rows)[:, self._column])

    def step(self, config: Mapping[str, Any], epoch: int) -> Step:
        """The loss after ``epoch`` (1..52) epochs of ``config`` and that epoch's seconds."""
        e = int(self._fidelity.validate("epoch", epoch))
        values = self._values([config])[0]
        out = _curve(self._model, self._code, tuple(float(v) for v in values))
        seconds = _epoch_seconds(out[:, 0])
        return Step(
            value=float(self._loss(out[e - 1, self._column])), seconds=float(seconds[e - 1])
        )
