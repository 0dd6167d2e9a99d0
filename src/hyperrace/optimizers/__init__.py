"""Optimizers: the registry, the protocol, the decisions, and one module per algorithm."""

from hyperrace.optimizers._asha import ASHA
from hyperrace.optimizers._base import Decision, Done, Optimizer, Resume, Start, Wait
from hyperrace.optimizers._bohb import BOHB
from hyperrace.optimizers._dehb import DEHB
from hyperrace.optimizers._gp import GPEI
from hyperrace.optimizers._grid import GridSearch
from hyperrace.optimizers._hyperband import Hyperband, SuccessiveHalving
from hyperrace.optimizers._race import DPL, DyHPO, Race
from hyperrace.optimizers._random import RandomSearch
from hyperrace.optimizers._rbf import RBFDycors
from hyperrace.optimizers._registry import (
    available,
    make_optimizer,
    optimizer_class,
    register,
    spec_of,
)
from hyperrace.optimizers._staged import Staged
from hyperrace.optimizers._topk import OneEpochTopK
from hyperrace.optimizers._tpe import TPE

__all__ = [
    "ASHA",
    "BOHB",
    "DEHB",
    "DPL",
    "GPEI",
    "TPE",
    "Decision",
    "Done",
    "DyHPO",
    "GridSearch",
    "Hyperband",
    "OneEpochTopK",
    "Optimizer",
    "RBFDycors",
    "Race",
    "RandomSearch",
    "Resume",
    "Staged",
    "Start",
    "SuccessiveHalving",
    "Wait",
    "available",
    "make_optimizer",
    "optimizer_class",
    "register",
    "spec_of",
]
