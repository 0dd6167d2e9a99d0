"""Storages for the fault tests: a SQLite file, and a fresh PostgreSQL database that survives a
restart of the server (it is created and dropped through connections of its own).

The harness is ``faultkit.py`` in this folder (pytest puts the folder on the path)."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

if not sys.platform.startswith("linux"):
    collect_ignore_glob = ["test_*.py"]  # the harness finds processes through /proc


@pytest.fixture(params=["sqlite", "postgresql"])
def fault_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh storage URL that several processes can open, on each backend."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'study.db'}"
        return
    from faultkit import postgres_database

    with postgres_database(str(request.getfixturevalue("pg_server"))) as url:
        yield url
