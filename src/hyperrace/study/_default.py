"""The optimizer of a new study that names none: the one place that decides it.

- A space with a :class:`~hyperrace.Fidelity` races its learning curves: :data:`RACING`.
- A space without one trains every configuration fully, so a model-based full-fidelity
  optimizer picks them: :data:`FULL_FIDELITY`, GP-EI, which measures better than TPE on all four
  test functions of ``benchmarks/fullfidelity.py`` at 50 and at 200 evaluations (BENCHMARKS.md,
  "Full-fidelity model-based optimizers"). It needs BoTorch (the ``bo`` extra); without it
  :data:`FULL_FIDELITY_WITHOUT_BO`, TPE, which needs nothing beyond numpy.

Random search is never the default. The choice is stored with the study when it is created, so
a study keeps its optimizer wherever it is loaded, whatever is installed there.
"""

from __future__ import annotations

import importlib.util
import logging

from hyperrace.space import Space

__all__ = ["FULL_FIDELITY", "FULL_FIDELITY_WITHOUT_BO", "RACING", "default_optimizer"]

logger = logging.getLogger("hyperrace")

#: The default for a space with a fidelity (the race optimizer takes this place once it wins its
#: benchmark: change this one line).
RACING = "asha"
#: The default for a space without a fidelity, where BoTorch is installed.
FULL_FIDELITY = "gp_ei"
#: The default for a space without a fidelity, where BoTorch is not installed.
FULL_FIDELITY_WITHOUT_BO = "tpe"


def _has_botorch() -> bool:
    try:
        return importlib.util.find_spec("botorch") is not None
    except (ImportError, ValueError):
        return False


def default_optimizer(space: Space) -> str:
    """The registered name of the optimizer a new study over ``space`` gets when none is named.

    Examples:
        >>> import hyperrace as hr
        >>> default_optimizer(hr.Space(lr=hr.Float(1e-4, 1e-1, log=True), epochs=hr.Fidelity(1, 9)))
        'asha'
        >>> default_optimizer(hr.Space(x=hr.Float(0.0, 1.0))) in ("gp_ei", "tpe")
        True
    """
    if space.fidelity is not None:
        return RACING
    if _has_botorch():
        return FULL_FIDELITY
    logger.info(
        "a space without a fidelity gets %s when BoTorch is installed (pip install "
        "'hyperrace[bo]'); without it, %s",
        FULL_FIDELITY,
        FULL_FIDELITY_WITHOUT_BO,
    )
    return FULL_FIDELITY_WITHOUT_BO
