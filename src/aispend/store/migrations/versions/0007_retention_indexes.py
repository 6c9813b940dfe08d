"""retention: indexes that lead with the time column, for pruning snapshots and poll runs by age

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-29 21:20:00
"""

from __future__ import annotations

from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_openrouter_key_snapshot_taken_at", "openrouter_key_snapshot", ["taken_at"])
    op.create_index("ix_poll_run_started_at", "poll_run", ["started_at"])


def downgrade() -> None:
    op.drop_index("ix_poll_run_started_at", table_name="poll_run")
    op.drop_index("ix_openrouter_key_snapshot_taken_at", table_name="openrouter_key_snapshot")
