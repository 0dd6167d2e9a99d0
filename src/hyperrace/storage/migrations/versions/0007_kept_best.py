"""Schema version 7: each study keeps its best values, so that listing studies is one query.

``hr_studies.top_fidelity`` is the highest fidelity reported by a trial of the study that has
not failed; ``best_last`` the best value reported there (``History.best_value("last")``) and
``best_curve`` the best value anywhere on the curve of such a trial
(``History.best_value("curve")``); all NULL while there is none. The transactions that change
them keep them; here they are computed for the studies of an older database.

Revision ID: 0007
Revises: 0006
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

_HEALTHY = (
    "FROM hr_observations o JOIN hr_trials t ON t.trial_id = o.trial_id "
    "WHERE t.study_id = :sid AND t.status <> 'failed'"
)


def upgrade() -> None:
    with op.batch_alter_table("hr_studies") as batch:
        batch.add_column(sa.Column("top_fidelity", sa.Float, nullable=True))
        batch.add_column(sa.Column("best_last", sa.Float, nullable=True))
        batch.add_column(sa.Column("best_curve", sa.Float, nullable=True))
    conn = op.get_bind()
    for sid, direction in conn.execute(sa.text("SELECT study_id, direction FROM hr_studies")):
        best = "MIN" if direction == "minimize" else "MAX"
        top, curve = conn.execute(
            sa.text(f"SELECT MAX(o.fidelity), {best}(o.value) {_HEALTHY}"), {"sid": sid}
        ).one()
        last = conn.execute(
            sa.text(f"SELECT {best}(o.value) {_HEALTHY} AND o.fidelity = :top"),
            {"sid": sid, "top": top},
        ).scalar()
        conn.execute(
            sa.text(
                "UPDATE hr_studies SET top_fidelity = :top, best_last = :last, "
                "best_curve = :curve WHERE study_id = :sid"
            ),
            {"sid": sid, "top": top, "last": last, "curve": curve},
        )


def downgrade() -> None:
    with op.batch_alter_table("hr_studies") as batch:
        batch.drop_column("best_curve")
        batch.drop_column("best_last")
        batch.drop_column("top_fidelity")
