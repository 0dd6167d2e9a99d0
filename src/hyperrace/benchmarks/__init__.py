"""Ready-made tuning tasks: real training runs small enough for a laptop, and synthetic curves.

:data:`FUNCTIONS` holds standard test functions (Branin, Hartmann-6, Ackley-10, Levy-10) for
full-fidelity optimizers. :class:`SyntheticCurves` is a family of synthetic learning-curve tasks
with a known optimum, for tests and for comparing optimizers in seconds. :class:`LCBench` is the
LCBench benchmark (34 datasets, 52 epochs) through the YAHPO Gym surrogate (``bench`` extra, data
from ``slds-lmu/yahpo_data``). :func:`best_known` estimates a task's best final loss, the
reference point of normalised regret, and caches it.

:func:`train_digits_cnn` (a small CNN on the digit images) and :func:`train_breast_cancer` (an MLP
on scikit-learn's breast-cancer data), with :func:`digits_cnn_space` and
:func:`breast_cancer_space`, are two more real training tasks like the digits one below.
:class:`TorchTask` makes any of the three a benchmark task (``hyperrace benchmark --task torch``),
trained for real as the optimizers ask.

:func:`train_digits` trains a small PyTorch MLP on scikit-learn's bundled handwritten digits (no
download) and reports the validation error after every epoch; :func:`digits_space` is its search
space. Both need the ``torch`` extra, imported only when they are called::

    import hyperrace as hr
    from hyperrace.benchmarks import digits_space, train_digits

    study = hr.Study("digits", digits_space(), optimizer="random")
    study.optimize(train_digits, budget=hr.Budget(epochs=150), workers=2)
"""

from hyperrace.benchmarks._digits import digits_space, train_digits
from hyperrace.benchmarks._functions import FUNCTIONS, TestFunction
from hyperrace.benchmarks._lcbench import LCBench
from hyperrace.benchmarks._reference import best_known, reference_range
from hyperrace.benchmarks._synthetic import SyntheticCurves
from hyperrace.benchmarks._task import Step, Task, task_objective
from hyperrace.benchmarks._torch_task import TorchTask
from hyperrace.benchmarks._torch_tasks import (
    breast_cancer_space,
    digits_cnn_space,
    train_breast_cancer,
    train_digits_cnn,
)

__all__ = [
    "FUNCTIONS",
    "LCBench",
    "Step",
    "SyntheticCurves",
    "Task",
    "TestFunction",
    "TorchTask",
    "best_known",
    "breast_cancer_space",
    "digits_cnn_space",
    "digits_space",
    "reference_range",
    "task_objective",
    "train_breast_cancer",
    "train_digits",
    "train_digits_cnn",
]
