"""Schema version 3: the devices of a trial's run.

``hr_trials.devices`` is a JSON list of the devices the trial's latest run was given
(``"cuda:3"``, ``"cpu"``), or NULL when none were assigned (every row of an older database).

Revision ID: 0003_devices
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003_devices"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("hr_trials") as batch:
        batch.add_column(sa.Column("devices", sa.Text, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("hr_trials") as batch:
        batch.drop_column("devices")
