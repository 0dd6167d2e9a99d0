"""Search spaces: the hyperparameters to tune and the training-budget (fidelity) axis.

Example::

    from hyperrace.space import Categorical, Fidelity, Float, Int, Space

    space = Space(
        lr=Float(1e-5, 1e-1, log=True),
        depth=Int(2, 8),
        optimizer=Categorical(["adam", "sgd"]),
        momentum=Float(0.0, 0.99).when(optimizer="sgd"),  # active only with "sgd"
        epochs=Fidelity(1, 50, unit="epochs"),
    )
    config = space.sample(rng)  # {"lr": 0.0031, "depth": 5, "optimizer": "adam"}
"""

from hyperrace.space._base import Conditional, Dimension
from hyperrace.space._categorical import Categorical
from hyperrace.space._conditions import Range, When
from hyperrace.space._dimensions import Fidelity, Float, Int
from hyperrace.space._dimensions import dimension_from_dict as dimension_from_dict
from hyperrace.space._space import INACTIVE_UNIT, Space

__all__ = [
    "INACTIVE_UNIT",
    "Categorical",
    "Conditional",
    "Dimension",
    "Fidelity",
    "Float",
    "Int",
    "Range",
    "Space",
    "When",
]
