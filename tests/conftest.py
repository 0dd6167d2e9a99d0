"""Shared fixtures: storages of every backend, the real PostgreSQL server included.

PostgreSQL tests use a fresh database on 127.0.0.1:5432 (``HYPERRACE_TEST_PG``, default
``postgresql+psycopg://postgres@127.0.0.1:5432``). Where the server is unreachable they skip,
except under ``CI=true``, where they fail: the suite must run on the real server there.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

# the storage conformance suite ships in the package: its assertions say what they compared
pytest.register_assert_rewrite("hyperrace.testing.storage")

PG_BASE = os.environ.get("HYPERRACE_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432")


def _pg_admin() -> object:
    import psycopg

    dsn = PG_BASE.replace("postgresql+psycopg://", "postgresql://") + "/postgres"
    return psycopg.connect(dsn, autocommit=True, connect_timeout=5)


@pytest.fixture(scope="session")
def pg_server() -> str:
    """The base URL of a reachable PostgreSQL server (skips, or fails under CI, if none)."""
    try:
        conn = _pg_admin()
    except Exception as exc:
        if os.environ.get("CI") == "true":
            pytest.fail(f"PostgreSQL at {PG_BASE} is required under CI=true: {exc}")
        pytest.skip(f"PostgreSQL at {PG_BASE} is unreachable: {exc}")
    conn.close()  # type: ignore[attr-defined]
    return PG_BASE


@pytest.fixture
def pg_url(pg_server: str) -> Iterator[str]:
    """A URL of a fresh, empty PostgreSQL database, dropped after the test."""
    name = f"hr_test_{uuid.uuid4().hex[:12]}"
    conn = _pg_admin()
    conn.execute(f'CREATE DATABASE "{name}"')  # type: ignore[attr-defined]
    try:
        yield f"{pg_server}/{name}"
    finally:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')  # type: ignore[attr-defined]
        conn.close()  # type: ignore[attr-defined]


@pytest.fixture(params=["memory", "sqlite", "postgresql"])
def storage_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh storage URL of each backend."""
    if request.param == "memory":
        return "memory://"
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'study.db'}"
    return str(request.getfixturevalue("pg_url"))


@pytest.fixture(params=["sqlite", "postgresql"])
def shared_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh storage URL that several processes can open."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'study.db'}"
    return str(request.getfixturevalue("pg_url"))
