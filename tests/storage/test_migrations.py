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
from hyperrace.trial import Observation

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
    # migration 0007: the best value is computed for the saved study
    assert [s.best_value for s in study.storage.list_studies()] == [study.history().best_value()]
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


def _downgrade(url: str, revision: str) -> None:
    """Migrate the database at ``url`` down to ``revision`` (as an older hyperrace left it)."""
    from alembic import command
    from alembic.config import Config

    import hyperrace.storage

    cfg = Config()
    folder = Path(hyperrace.storage.__file__).parent / "migrations"
    cfg.set_main_option("script_location", str(folder))
    engine = sa.create_engine(SQLStorage(url).url)
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, revision)
    engine.dispose()


def test_upgrading_from_version_4_numbers_the_reports_and_keeps_the_best(shared_url: str) -> None:
    """Migrations 0005 to 0007 on a database with data, on every SQL backend: old decisions
    have no key, old reports are numbered by time (here not the order they were written in),
    and the studies' best values are computed."""
    space = hr.Space(x=hr.Float(0.0, 1.0), epochs=hr.Fidelity(1, 4))
    for name, direction in (("a", "minimize"), ("b", "maximize")):
        study = hr.Study(name, space, storage=shared_url, direction=direction, optimizer="random")
        jobs = [study.ask() for _ in range(3)]
        for k, job in enumerate(jobs):
            assert isinstance(job, hr.Job)
            for f in range(1, int(job.stop) + 1):
                study.storage.report(
                    job.trial_id, Observation(float(f), 0.1 * k + 1 / f, time=100.0 * (3 - k) + f)
                )
            study.tell(job)
        study.storage.close()
    _downgrade(shared_url, "0004")
    with pytest.raises(hr.StorageError, match="older schema version '0004'"):
        SQLStorage(shared_url)
    SQLStorage(shared_url, upgrade=True).close()
    storage = SQLStorage(shared_url)
    try:
        for summary in storage.list_studies():
            study = hr.Study(summary.name, storage=storage)
            h = study.history(decisions=True)
            assert all(d.key == "" for d in h.decisions)
            assert summary.best_value == h.best_value() is not None
            points = sorted(
                (o.time, t.number, o.fidelity, o.seq) for t in h.trials for o in t.curve
            )
            assert [p[3] for p in points] == list(range(1, len(points) + 1))
            assert h.version >= len(points)
            job = study.ask()
            assert isinstance(job, hr.Job)
            study.report(job.trial_id, fidelity=1, value=0.5)
            assert study.history().trial(job.trial_id).curve[0].seq > len(points)
            assert study.history(decisions=True).decisions[-1].key != ""
    finally:
        storage.close()
