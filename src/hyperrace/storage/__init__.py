"""Storage: the single source of truth. In-memory, or SQL (SQLite by default, PostgreSQL).

:func:`open_storage` turns a URL into a storage: ``memory://``, ``sqlite:///path.db`` (or a bare
path), ``postgresql+psycopg://user@host:5432/db``. :func:`mask_url` is how a URL is shown: with
its password replaced by ``***``.
"""

from __future__ import annotations

from pathlib import Path

from hyperrace.exceptions import ConfigurationError
from hyperrace.storage._base import (
    DecisionConflict,
    NewDecision,
    Reported,
    Storage,
    StudyInfo,
    StudySummary,
)
from hyperrace.storage._memory import InMemoryStorage
from hyperrace.storage._urls import hide_password, mask_url

__all__ = [
    "DEFAULT_URL",
    "MEMORY_NAMES",
    "SQLITE_SUFFIXES",
    "DecisionConflict",
    "InMemoryStorage",
    "NewDecision",
    "Reported",
    "Storage",
    "StudyInfo",
    "StudySummary",
    "hide_password",
    "mask_url",
    "open_storage",
]

#: The storage a study uses when none is given: a SQLite file in the working directory.
DEFAULT_URL = "sqlite:///hyperrace.db"
#: The names of the in-memory storage (it lives as long as the process).
MEMORY_NAMES = ("memory://", "memory", ":memory:")
#: The suffixes that make a bare word (no ``://``) a SQLite file name.
SQLITE_SUFFIXES = (".db", ".sqlite", ".sqlite3", ".db3")


def _check_bare_path(storage: str) -> None:
    """A bare word is a SQLite file only when it looks like one: a ``.db``-like suffix, or an
    existing file. Anything else is most likely a mistyped URL, not a file to create."""
    path = Path(storage).expanduser()
    if path.suffix.lower() in SQLITE_SUFFIXES or path.is_file():
        return
    raise ConfigurationError(
        f"storage={mask_url(storage)!r} is neither a storage URL nor a SQLite file name; use "
        f"'sqlite:///{storage}.db' (or a bare '{storage}.db') for a SQLite file, 'memory://' "
        "for a study that lives in this process only, or 'postgresql+psycopg://user@host/db'"
    )


def open_storage(storage: str | Storage | None = None) -> Storage:
    """The storage for ``storage``: an object is returned as is, a URL opened, ``None`` gives
    :data:`DEFAULT_URL`.

    ``"memory://"`` (also ``"memory"``) is a new in-memory storage. A bare word without
    ``://`` is a SQLite file only with a ``.db``-like suffix (``.db``, ``.sqlite``, ``.sqlite3``,
    ``.db3``) or when the file exists; otherwise :class:`~hyperrace.ConfigurationError` says
    which URL to write.
    """
    if storage is None:
        storage = DEFAULT_URL
    if not isinstance(storage, str):
        return storage
    if storage in MEMORY_NAMES:
        return InMemoryStorage()
    if "://" not in storage:
        _check_bare_path(storage)
    from hyperrace.storage._sql import SQLStorage

    return SQLStorage(storage)
