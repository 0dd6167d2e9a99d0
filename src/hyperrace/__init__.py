"""hyperrace: hyperparameter tuning that races learning curves.

Train many configurations a little, read their learning curves, and keep deciding which one
deserves the next slice of budget::

    import hyperrace as hr

    space = hr.Space(lr=hr.Float(1e-4, 1e-1, log=True), epochs=hr.Fidelity(1, 20))
    study = hr.Study("my-study", space)
    study.optimize(train, budget=hr.Budget(epochs=200))
    print(study.best)
"""

from hyperrace.exceptions import (
    ConfigurationError,
    HyperraceError,
    MissingDependencyError,
    ObjectiveFailingError,
    SpaceError,
    StorageError,
    StudyMismatchError,
    StudyNotFoundError,
    TrialStateError,
    UnknownOptimizerError,
    UntrustedCheckpointError,
)
from hyperrace.history import History
from hyperrace.optimizers import Done, Resume, Start, Wait
from hyperrace.space import Categorical, Fidelity, Float, Int, Range, Space
from hyperrace.study import Budget, Job, Study
from hyperrace.trial import Observation, Trial, TrialRecord, TrialStatus

__version__ = "0.1.0"

__all__ = [
    "Budget",
    "Categorical",
    "ConfigurationError",
    "Done",
    "Fidelity",
    "Float",
    "History",
    "HyperraceError",
    "Int",
    "Job",
    "MissingDependencyError",
    "ObjectiveFailingError",
    "Observation",
    "Range",
    "Resume",
    "Space",
    "SpaceError",
    "Start",
    "StorageError",
    "Study",
    "StudyMismatchError",
    "StudyNotFoundError",
    "Trial",
    "TrialRecord",
    "TrialStateError",
    "TrialStatus",
    "UnknownOptimizerError",
    "UntrustedCheckpointError",
    "Wait",
    "__version__",
]
