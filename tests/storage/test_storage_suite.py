"""The storage conformance suite (:mod:`hyperrace.testing.storage`), run against memory, a SQLite
file and the real PostgreSQL."""

from __future__ import annotations

import pytest

from hyperrace.exceptions import ConfigurationError
from hyperrace.storage import NewDecision, open_storage
from hyperrace.testing.storage import CHECKS, LOST_ANSWER_CHECKS


@pytest.mark.parametrize("check", sorted(CHECKS))
def test_storage_conformance(storage_url: str, check: str) -> None:
    storage = open_storage(storage_url)
    try:
        CHECKS[check](storage)
    finally:
        storage.close()


@pytest.mark.parametrize("check", sorted(LOST_ANSWER_CHECKS))
def test_a_lost_commit_answer(shared_url: str, check: str) -> None:
    storage = open_storage(shared_url)
    try:
        LOST_ANSWER_CHECKS[check](storage)
    finally:
        storage.close()


@pytest.mark.parametrize("key", ["", "k" * 65, 7])
def test_a_bad_decision_key_names_the_value_and_the_fix(key: object) -> None:
    with pytest.raises(ConfigurationError, match=rf"decision key {key!r} .*1 to 64.*leave key"):
        NewDecision("start", 1.0, config={"x": 0.5}, key=key)  # type: ignore[arg-type]
