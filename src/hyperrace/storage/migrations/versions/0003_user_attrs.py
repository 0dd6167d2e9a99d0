"""Schema version 3: user attributes of trials, and the queue of configurations to start first.

``hr_trials.user_attrs`` is a JSON object (``{}`` for the rows of an older database).
``hr_enqueued`` holds the configurations ``Study.enqueue`` put in a study's queue, numbered per
study (``idx``); the start decision that takes one sets its ``trial_id``.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("hr_trials") as batch:
        batch.add_column(sa.Column("user_attrs", sa.Text, nullable=False, server_default="{}"))
    op.create_table(
        "hr_enqueued",
        sa.Column("enqueued_id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column(
            "study_id",
            sa.Integer,
            sa.ForeignKey("hr_studies.study_id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("idx", sa.Integer, nullable=False),
        sa.Column("config", sa.Text, nullable=False),
        sa.Column("user_attrs", sa.Text, nullable=False),
        sa.Column("created", sa.Float, nullable=False),
        sa.Column(
            "trial_id",
            sa.Integer,
            sa.ForeignKey("hr_trials.trial_id", ondelete="CASCADE"),
            nullable=True,
        ),
        sa.UniqueConstraint("study_id", "idx", name="uq_hr_enqueued_study_idx"),
    )


def downgrade() -> None:
    op.drop_table("hr_enqueued")
    with op.batch_alter_table("hr_trials") as batch:
        batch.drop_column("user_attrs")
