"""Schema version 5: decision keys, so that applying a decision is idempotent.

``hr_decisions.decision_key`` is the key the client wrote the decision with, unique within the
study: a retry of a decision whose commit went through (its answer lost with a dropped
connection) finds it by key and gets the run it started, instead of deciding again. Decisions of
an older database have none (NULL).

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("hr_decisions") as batch:
        batch.add_column(sa.Column("decision_key", sa.String(64), nullable=True))
    op.create_index(
        "ix_hr_decisions_study_key", "hr_decisions", ["study_id", "decision_key"], unique=True
    )


def downgrade() -> None:
    op.drop_index("ix_hr_decisions_study_key", table_name="hr_decisions")
    with op.batch_alter_table("hr_decisions") as batch:
        batch.drop_column("decision_key")
