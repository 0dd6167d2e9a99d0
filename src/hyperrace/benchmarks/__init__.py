"""Ready-made tuning tasks: real training runs small enough for a laptop, and synthetic curves.

:data:`FUNCTIONS` holds standard test functions (Branin, Hartmann-6, Ackley-10, Levy-10) for
full-fidelity optimizers. :class:`SyntheticCurves` is a family of synthetic learning-curve tasks
with a known optimum, for tests and for comparing optimizers in seconds.

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
from hyperrace.benchmarks._synthetic import SyntheticCurves
from hyperrace.benchmarks._task import Step, Task, task_objective

__all__ = [
    "FUNCTIONS",
    "Step",
    "SyntheticCurves",
    "Task",
    "TestFunction",
    "digits_space",
    "task_objective",
    "train_digits",
]
