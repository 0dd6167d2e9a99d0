"""Task families by name: what ``hyperrace benchmark --task`` and the peers' runs build.

:func:`make_task` builds the task of a family (:data:`TASK_KINDS`) and an instance name, in
whatever process runs it (a benchmark's worker process, or the peers' environment).
"""

from __future__ import annotations

from hyperrace.benchmarks._task import Task
from hyperrace.exceptions import ConfigurationError

__all__ = ["TASK_KINDS", "instances_of", "make_task"]

#: Task families by name, and what their instances are.
TASK_KINDS = {
    "synthetic": "SyntheticCurves seeds (integers, e.g. 0,1,2)",
    "lcbench": "LCBench instances (OpenML task ids, e.g. 3945,7593; 'all' for the 34)",
    "torch": (
        "real PyTorch training: digits, digits-cnn, breast-cancer ('all' for the 3), "
        "reporting the validation error; with -loss appended (digits-loss; 'all-loss'), "
        "the validation cross-entropy"
    ),
}


def make_task(kind: str, instance: str) -> Task:
    """The task of family ``kind`` named ``instance`` (see :data:`TASK_KINDS`)."""
    if kind == "synthetic":
        from hyperrace.benchmarks._synthetic import SyntheticCurves

        try:
            seed = int(instance)
        except ValueError:
            raise ConfigurationError(
                f"synthetic instance {instance!r} must be an integer seed, e.g. 0"
            ) from None
        return SyntheticCurves(seed=seed)
    if kind == "lcbench":
        from hyperrace.benchmarks._lcbench import LCBench

        return LCBench(instance)
    if kind == "torch":
        from hyperrace.benchmarks._torch_task import TorchTask

        return TorchTask(instance)
    raise ConfigurationError(f"unknown task {kind!r}; choose one of {', '.join(TASK_KINDS)}")


def instances_of(kind: str, text: str | None) -> list[str]:
    """Parse ``--instances`` (comma-separated; ``all`` or nothing: the family's default set)."""
    if kind == "lcbench" and (text is None or text == "all"):
        from hyperrace.benchmarks._lcbench import LCBench

        return [str(i) for i in LCBench.instances()]
    if kind == "torch" and (text is None or text == "all"):
        from hyperrace.benchmarks._torch_task import TORCH_TASKS

        return list(TORCH_TASKS)
    if kind == "torch" and text == "all-loss":
        from hyperrace.benchmarks._torch_task import LOSS_SUFFIX, TORCH_TASKS

        return [name + LOSS_SUFFIX for name in TORCH_TASKS]
    if text is None or text == "all":
        return ["0", "1", "2"]
    names = [part.strip() for part in text.split(",") if part.strip()]
    if not names:
        raise ConfigurationError(f"--instances {text!r} names no instance")
    return names
