"""The SQL schema. Changes to it are Alembic migrations under ``migrations/versions``.

Values are stored as they are: floats as double precision, configs and attributes as JSON text
(Python's ``repr`` of a float round-trips exactly). A NaN or infinite metric is never stored.
"""

from __future__ import annotations

from sqlalchemy import (
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)

__all__ = [
    "SCHEMA_VERSION",
    "decisions",
    "enqueued",
    "metadata",
    "observations",
    "studies",
    "trials",
]

#: The Alembic revision this code reads and writes.
SCHEMA_VERSION = "0008"

metadata = MetaData()

studies = Table(
    "hr_studies",
    metadata,
    Column("study_id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(512), nullable=False, unique=True),
    Column("direction", String(16), nullable=False),
    Column("space", Text, nullable=False),
    Column("optimizer", Text, nullable=False),
    Column("seed", String(32), nullable=False),
    Column("created", Float, nullable=False),
    Column("elapsed_seconds", Float, nullable=False, default=0.0),
    Column("attrs", Text, nullable=False, default="{}"),
    # counts the changes of the study's trials (migration 0002): snapshots are read incrementally
    Column("version", Integer, nullable=False, default=0, server_default="0"),
    # the best values as History.best_value gives them, kept by the transactions that change
    # them (migration 0007): the highest fidelity reported by a trial that has not failed, the
    # best value there ("last"), and the best value of any such trial's curve ("curve")
    Column("top_fidelity", Float, nullable=True),
    Column("best_last", Float, nullable=True),
    Column("best_curve", Float, nullable=True),
)

trials = Table(
    "hr_trials",
    metadata,
    Column("trial_id", Integer, primary_key=True, autoincrement=True),
    Column(
        "study_id", Integer, ForeignKey("hr_studies.study_id", ondelete="CASCADE"), nullable=False
    ),
    Column("number", Integer, nullable=False),
    Column("config", Text, nullable=False),
    Column("status", String(16), nullable=False),
    Column("reason", String(32), nullable=False),
    Column("message", Text, nullable=False, default=""),
    Column("target", Float, nullable=False),
    Column("checkpoint_fidelity", Float, nullable=True),
    Column("work", Float, nullable=False, default=0.0),
    Column("lost_count", Integer, nullable=False, default=0),
    Column("created", Float, nullable=False),
    Column("updated", Float, nullable=False),
    Column("heartbeat", Float, nullable=True),
    # the study's version at the trial's last change (heartbeats are not changes)
    Column("version", Integer, nullable=False, default=0, server_default="0"),
    # the index of the decision that started the current run (stale runs are refused)
    Column("run", Integer, nullable=True),
    # what the user attached to the trial, a JSON object (migration 0003)
    Column("user_attrs", Text, nullable=False, default="{}", server_default="{}"),
    # the devices of the latest run that was given some, a JSON list (migration 0004)
    Column("devices", Text, nullable=True),
    UniqueConstraint("study_id", "number", name="uq_hr_trials_study_number"),
    Index("ix_hr_trials_study_status", "study_id", "status"),
    Index("ix_hr_trials_study_version", "study_id", "version"),
)

observations = Table(
    "hr_observations",
    metadata,
    Column("observation_id", Integer, primary_key=True, autoincrement=True),
    Column(
        "trial_id", Integer, ForeignKey("hr_trials.trial_id", ondelete="CASCADE"), nullable=False
    ),
    Column("fidelity", Float, nullable=False),
    Column("value", Float, nullable=False),
    Column("wall_seconds", Float, nullable=False),
    Column("cpu_seconds", Float, nullable=False),
    Column("time", Float, nullable=False),
    # the study's version when the report was committed (migration 0006): orders its reports
    Column("seq", Integer, nullable=False, default=0, server_default="0"),
    UniqueConstraint("trial_id", "fidelity", name="uq_hr_observations_trial_fidelity"),
)

decisions = Table(
    "hr_decisions",
    metadata,
    Column("decision_id", Integer, primary_key=True, autoincrement=True),
    Column(
        "study_id", Integer, ForeignKey("hr_studies.study_id", ondelete="CASCADE"), nullable=False
    ),
    Column("idx", Integer, nullable=False),
    Column("kind", String(16), nullable=False),
    Column(
        "trial_id", Integer, ForeignKey("hr_trials.trial_id", ondelete="CASCADE"), nullable=False
    ),
    Column("start", Float, nullable=False),
    Column("stop", Float, nullable=False),
    Column("optimizer", String(64), nullable=False),
    Column("info", Text, nullable=False),
    Column("time", Float, nullable=False),
    # the key the client wrote it with (migration 0005; NULL in older rows): a retry after a
    # lost answer finds the decision by key instead of writing another
    Column("decision_key", String(64), nullable=True),
    UniqueConstraint("study_id", "idx", name="uq_hr_decisions_study_idx"),
    Index("ix_hr_decisions_study_key", "study_id", "decision_key", unique=True),
)

# configurations to start first, in order (migration 0003): an entry is taken by the start
# decision that names it, in the decision's transaction (trial_id set)
enqueued = Table(
    "hr_enqueued",
    metadata,
    Column("enqueued_id", Integer, primary_key=True, autoincrement=True),
    Column(
        "study_id", Integer, ForeignKey("hr_studies.study_id", ondelete="CASCADE"), nullable=False
    ),
    Column("idx", Integer, nullable=False),
    Column("config", Text, nullable=False),
    Column("user_attrs", Text, nullable=False),
    Column("created", Float, nullable=False),
    Column(
        "trial_id", Integer, ForeignKey("hr_trials.trial_id", ondelete="CASCADE"), nullable=True
    ),
    UniqueConstraint("study_id", "idx", name="uq_hr_enqueued_study_idx"),
)
