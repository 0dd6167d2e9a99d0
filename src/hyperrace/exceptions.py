"""The one exception hierarchy of hyperrace.

Every error that hyperrace raises on purpose derives from :class:`HyperraceError`; the ones about
bad input also derive from :class:`ValueError` so that generic handlers keep working::

    HyperraceError(Exception)
     ├── SpaceError(ValueError)            a space, dimension or config that does not fit
     ├── ConfigurationError(ValueError)    a bad argument: budget, optimizer parameter, storage URL
     │    └── UnknownOptimizerError        an optimizer name that is not registered
     ├── StudyNotFoundError(LookupError)   no study of that name in the storage
     ├── StudyMismatchError(ValueError)    loading a study with another space or direction
     ├── TrialStateError                   an illegal trial transition (report to a finished trial)
 ├── ObjectiveFailingError             optimize stopped: the objective failed every time lately
     ├── StorageError                      the database failed or has an unknown schema version
     ├── UntrustedCheckpointError          loading a checkpoint would run code: opt in to trust it
     └── MissingDependencyError(ImportError) an optional extra is not installed

Messages say what was wrong, with the value, and what to do instead.
"""

from __future__ import annotations

__all__ = [
    "ConfigurationError",
    "HyperraceError",
    "MissingDependencyError",
    "ObjectiveFailingError",
    "SpaceError",
    "StorageError",
    "StudyMismatchError",
    "StudyNotFoundError",
    "TrialStateError",
    "UnknownOptimizerError",
    "UntrustedCheckpointError",
]


class HyperraceError(Exception):
    """Base class of every error hyperrace raises on purpose."""


class SpaceError(HyperraceError, ValueError):
    """A space or dimension definition is invalid, or a config does not fit the space."""


class ConfigurationError(HyperraceError, ValueError):
    """An argument is invalid: a budget, an optimizer parameter, a storage URL, a worker count."""


class UnknownOptimizerError(ConfigurationError):
    """An optimizer name that is not in the registry; the message lists the registered ones."""


class StudyNotFoundError(HyperraceError, LookupError):
    """No study of that name exists in the storage; the message lists the studies that do."""


class StudyMismatchError(HyperraceError, ValueError):
    """A study was loaded with a space or direction different from the one it was created with."""


class TrialStateError(HyperraceError):
    """An operation the trial's status does not allow (for example a report to a failed trial)."""


class ObjectiveFailingError(HyperraceError):
    """``optimize`` stopped because the objective failed on many trials in a row (a bug in the
    objective, not a bad configuration); the message shows the last failure."""


class StorageError(HyperraceError):
    """The storage failed, or holds a schema this version of hyperrace cannot use."""


class UntrustedCheckpointError(HyperraceError):
    """A checkpoint file holds objects that loading would have to call code to rebuild (a pickle
    of arbitrary classes); the message names the file and how to opt in to loading it."""


class MissingDependencyError(HyperraceError, ImportError):
    """An optional extra is needed; the message names the ``pip install`` command that fixes it."""
