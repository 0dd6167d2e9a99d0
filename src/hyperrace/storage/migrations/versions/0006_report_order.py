"""Schema version 6: a total order of each study's reports.

``hr_observations.seq`` is the study's change counter (``hr_studies.version``) in the
transaction that committed the report: it grows with every report of the study and no two of
its reports share one, so that every reader orders the reports the same way, in the order they
were committed, whatever the clocks of the workers said. The reports of an older database are
numbered 1, 2, ... per study by (time, trial number, fidelity), and the study's counter is
advanced past them, so that new reports come after the old ones.

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("hr_observations") as batch:
        batch.add_column(sa.Column("seq", sa.Integer, nullable=False, server_default="0"))
    # numbered in a table of their own first (UPDATE ... FROM needs SQLite 3.33; this works
    # wherever window functions do, SQLite 3.25 on)
    op.execute(
        """
        CREATE TEMPORARY TABLE hr_numbered AS
        SELECT o.observation_id AS id,
               ROW_NUMBER() OVER (
                   PARTITION BY t.study_id ORDER BY o.time, t.number, o.fidelity
               ) AS n
        FROM hr_observations o JOIN hr_trials t ON t.trial_id = o.trial_id
        """
    )
    op.execute("CREATE INDEX ix_hr_numbered_id ON hr_numbered (id)")
    op.execute(
        "UPDATE hr_observations SET seq = "
        "(SELECT n FROM hr_numbered WHERE hr_numbered.id = hr_observations.observation_id)"
    )
    op.execute("DROP TABLE hr_numbered")
    op.execute(
        """
        UPDATE hr_studies SET version = version + (
            SELECT COUNT(*) FROM hr_observations o JOIN hr_trials t ON t.trial_id = o.trial_id
            WHERE t.study_id = hr_studies.study_id
        )
        """
    )


def downgrade() -> None:
    with op.batch_alter_table("hr_observations") as batch:
        batch.drop_column("seq")
