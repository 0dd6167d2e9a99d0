"""Storage: the single source of truth. In-memory, or SQL (SQLite by default, PostgreSQL).

:func:`open_storage` turns a URL into a storage: ``memory://``, ``sqlite:///path.db`` (or a bare
path), ``postgresql+psycopg://user@host:5432/db``.
"""

from __future__ import annotations

from hyperrace.storage._base import (
    DecisionConflict,
    NewDecision,
    Reported,
    Storage,
    StudyInfo,
    StudySummary,
)
from hyperrace.storage._memory import InMemoryStorage

__all__ = [
    "DEFAULT_URL",
    "DecisionConflict",
    "InMemoryStorage",
    "NewDecision",
    "Reported",
    "Storage",
    "StudyInfo",
    "StudySummary",
    "open_storage",
]

#: The storage a study uses when none is given: a SQLite file in the working directory.
DEFAULT_URL = "sqlite:///hyperrace.db"


def open_storage(storage: str | Storage | None = None) -> Storage:
    """The storage for ``storage``: an object is returned as is, a URL opened, ``None`` gives
    :data:`DEFAULT_URL`."""
    if storage is None:
        storage = DEFAULT_URL
    if not isinstance(storage, str):
        return storage
    if storage in ("memory://", ":memory:"):
        return InMemoryStorage()
    from hyperrace.storage._sql import SQLStorage

    return SQLStorage(storage)
