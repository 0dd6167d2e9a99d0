"""Schema version 4: the devices of a trial's run.

``hr_trials.devices`` is a JSON list of the devices the trial's latest run was given
(``"cuda:3"``, ``"cpu"``), or NULL when none were assigned (every row of an older database).

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("hr_trials") as batch:
        batch.add_column(sa.Column("devices", sa.Text, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("hr_trials") as batch:
        batch.drop_column("devices")
