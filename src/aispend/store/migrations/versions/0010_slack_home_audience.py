"""slack_home_audience: users who opened the App Home tab (republished after each poll)

Kept per process before, so only the replica a user happened to reach could republish their
Home, and a restart forgot everyone.

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-29 21:40:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "slack_home_audience",
        sa.Column("user_id", sa.String(length=32), nullable=False),
        sa.Column("seen_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("user_id"),
    )
    with op.batch_alter_table("slack_home_audience", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_slack_home_audience_seen_at"), ["seen_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("slack_home_audience", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_slack_home_audience_seen_at"))
    op.drop_table("slack_home_audience")
