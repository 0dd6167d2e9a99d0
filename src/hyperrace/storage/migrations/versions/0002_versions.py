"""Schema version 2: change counters, so that a snapshot is read incrementally, and the run
of each trial.

``hr_studies.version`` counts the changes of a study's trials; each trial row keeps the value of
the counter at its last change (``hr_trials.version``). A reader that saw version ``v`` reads only
the trials whose version is above ``v``. Rows of an older database start at 0, which a first
(full) read covers. ``hr_trials.run`` is the index of the decision that started the trial's
current run: reports and ends from another (stale) run are refused.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("hr_studies") as batch:
        batch.add_column(sa.Column("version", sa.Integer, nullable=False, server_default="0"))
    with op.batch_alter_table("hr_trials") as batch:
        batch.add_column(sa.Column("version", sa.Integer, nullable=False, server_default="0"))
        batch.add_column(sa.Column("run", sa.Integer, nullable=True))
    op.create_index("ix_hr_trials_study_version", "hr_trials", ["study_id", "version"])


def downgrade() -> None:
    op.drop_index("ix_hr_trials_study_version", table_name="hr_trials")
    with op.batch_alter_table("hr_trials") as batch:
        batch.drop_column("run")
        batch.drop_column("version")
    with op.batch_alter_table("hr_studies") as batch:
        batch.drop_column("version")
