"""poll_run.key_level_costs: whether OpenAI grouped a costs poll by API key, stored as a flag

Until now the flag lived only in the run's human-readable ``detail`` sentence (which said
"key-level money attribution unavailable" when OpenAI refused the grouping); existing OpenAI
costs runs are backfilled from that sentence.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-29 20:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("poll_run", schema=None) as batch_op:
        batch_op.add_column(sa.Column("key_level_costs", sa.Boolean(), nullable=True))
    op.execute(
        sa.text(
            "UPDATE poll_run SET key_level_costs = (detail NOT LIKE '%unavailable%') "
            "WHERE provider = 'openai' AND endpoint = 'costs' AND status = 'ok' AND detail IS NOT NULL"
        )
    )


def downgrade() -> None:
    with op.batch_alter_table("poll_run", schema=None) as batch_op:
        batch_op.drop_column("key_level_costs")
