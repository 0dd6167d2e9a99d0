"""Optimizers: the registry, the protocol, the decisions, and one module per algorithm."""

from hyperrace.optimizers._base import Decision, Done, Optimizer, Resume, Start, Wait
from hyperrace.optimizers._grid import GridSearch
from hyperrace.optimizers._random import RandomSearch
from hyperrace.optimizers._registry import (
    available,
    make_optimizer,
    optimizer_class,
    register,
    spec_of,
)

__all__ = [
    "Decision",
    "Done",
    "GridSearch",
    "Optimizer",
    "RandomSearch",
    "Resume",
    "Start",
    "Wait",
    "available",
    "make_optimizer",
    "optimizer_class",
    "register",
    "spec_of",
]
