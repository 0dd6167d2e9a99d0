"""Schema version 1: studies, trials, observations, decisions.

Revision ID: 0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "hr_studies",
        sa.Column("study_id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("name", sa.String(512), nullable=False, unique=True),
        sa.Column("direction", sa.String(16), nullable=False),
        sa.Column("space", sa.Text, nullable=False),
        sa.Column("optimizer", sa.Text, nullable=False),
        sa.Column("seed", sa.String(32), nullable=False),
        sa.Column("created", sa.Float, nullable=False),
        sa.Column("elapsed_seconds", sa.Float, nullable=False),
        sa.Column("attrs", sa.Text, nullable=False),
    )
    op.create_table(
        "hr_trials",
        sa.Column("trial_id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column(
            "study_id",
            sa.Integer,
            sa.ForeignKey("hr_studies.study_id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("number", sa.Integer, nullable=False),
        sa.Column("config", sa.Text, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("reason", sa.String(32), nullable=False),
        sa.Column("message", sa.Text, nullable=False),
        sa.Column("target", sa.Float, nullable=False),
        sa.Column("checkpoint_fidelity", sa.Float, nullable=True),
        sa.Column("work", sa.Float, nullable=False),
        sa.Column("lost_count", sa.Integer, nullable=False),
        sa.Column("created", sa.Float, nullable=False),
        sa.Column("updated", sa.Float, nullable=False),
        sa.Column("heartbeat", sa.Float, nullable=True),
        sa.UniqueConstraint("study_id", "number", name="uq_hr_trials_study_number"),
    )
    op.create_index("ix_hr_trials_study_status", "hr_trials", ["study_id", "status"])
    op.create_table(
        "hr_observations",
        sa.Column("observation_id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column(
            "trial_id",
            sa.Integer,
            sa.ForeignKey("hr_trials.trial_id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("fidelity", sa.Float, nullable=False),
        sa.Column("value", sa.Float, nullable=False),
        sa.Column("wall_seconds", sa.Float, nullable=False),
        sa.Column("cpu_seconds", sa.Float, nullable=False),
        sa.Column("time", sa.Float, nullable=False),
        sa.UniqueConstraint("trial_id", "fidelity", name="uq_hr_observations_trial_fidelity"),
    )
    op.create_table(
        "hr_decisions",
        sa.Column("decision_id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column(
            "study_id",
            sa.Integer,
            sa.ForeignKey("hr_studies.study_id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("idx", sa.Integer, nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column(
            "trial_id",
            sa.Integer,
            sa.ForeignKey("hr_trials.trial_id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("start", sa.Float, nullable=False),
        sa.Column("stop", sa.Float, nullable=False),
        sa.Column("optimizer", sa.String(64), nullable=False),
        sa.Column("info", sa.Text, nullable=False),
        sa.Column("time", sa.Float, nullable=False),
        sa.UniqueConstraint("study_id", "idx", name="uq_hr_decisions_study_idx"),
    )


def downgrade() -> None:
    op.drop_table("hr_decisions")
    op.drop_table("hr_observations")
    op.drop_index("ix_hr_trials_study_status", table_name="hr_trials")
    op.drop_table("hr_trials")
    op.drop_table("hr_studies")
