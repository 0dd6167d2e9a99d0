"""The schema is made by Alembic migrations; saved databases stay readable."""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

import hyperrace as hr
from hyperrace.storage._schema import SCHEMA_VERSION, metadata
from hyperrace.storage._sql import SQLStorage

SAVED_V1 = Path(__file__).parent / "data" / "study_v1.db"


def test_migrations_build_exactly_the_schema_the_code_uses(shared_url: str) -> None:
    storage = SQLStorage(shared_url)
    engine = sa.create_engine(storage.url)
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), metadata)
        version = conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalar()
    engine.dispose()
    storage.close()
    assert diff == []
    assert version == SCHEMA_VERSION


def test_a_saved_version_1_database_is_refused_then_upgraded_read_and_continued(
    tmp_path: Path,
) -> None:
    db = tmp_path / "saved.db"
    shutil.copy(SAVED_V1, db)
    with pytest.raises(hr.StorageError, match=r"older schema version '0001'.*hyperrace upgrade"):
        SQLStorage(f"sqlite:///{db}")
    SQLStorage(f"sqlite:///{db}", upgrade=True).close()
    study = hr.Study("saved", storage=f"sqlite:///{db}")
    trials = study.trials
    assert len(trials) == 3
    assert [t.status for t in trials] == [
        hr.TrialStatus.COMPLETED,
        hr.TrialStatus.COMPLETED,
        hr.TrialStatus.PAUSED,
    ]
    assert [o.fidelity for o in trials[0].curve] == [1.0, 2.0, 3.0]
    assert trials[0].config == {"lr": 0.01, "opt": "adam"}
    assert trials[0].curve[2].value == 0.25
    assert trials[0].user_attrs == {}  # migration 0003: trials of older databases have none
    # migration 0006: the saved reports are numbered 1, 2, ... in the order of their times
    old = sorted((o.time, o.seq) for t in trials for o in t.curve)
    assert [seq for _, seq in old] == list(range(1, 8))
    assert study.history(decisions=True).decisions[0].key == ""  # migration 0005: no keys
    assert study.enqueue({"lr": 0.02}) == 0
    job = study.ask()
    assert isinstance(job, hr.Job)
    assert job.config["lr"] == 0.02  # the queue comes first
    study.report(job.trial_id, fidelity=1, value=0.5)
    study.tell(job)
    assert len(study.trials) == 4
    assert study.trials[3].curve[0].seq > 7  # a new report comes after the saved ones
    assert study.history(decisions=True).decisions[-1].key != ""
    # the upgraded rows start at version 0; the next change is read incrementally
    before = study.history()
    assert before.version > 0
    after = study.history()
    assert after is before  # nothing changed since


def test_unknown_schema_version_is_a_clear_error(tmp_path: Path) -> None:
    db = tmp_path / "future.db"
    shutil.copy(SAVED_V1, db)
    with sqlite3.connect(db) as conn:
        conn.execute("UPDATE alembic_version SET version_num = '9999'")
    with pytest.raises(
        hr.StorageError,
        match=r"schema version '9999', written by a newer hyperrace.*upgrade hyperrace",
    ):
        SQLStorage(f"sqlite:///{db}")


def test_bad_urls_name_the_fix(tmp_path: Path) -> None:
    with pytest.raises(hr.ConfigurationError, match="names no file"):
        SQLStorage("sqlite://")
    with pytest.raises(hr.ConfigurationError, match="not valid"):
        SQLStorage("not a url://x")
