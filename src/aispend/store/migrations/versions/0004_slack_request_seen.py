"""slack_request_seen: fingerprints of Slack requests whose side effect was done (replay guard)

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-29 20:35:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "slack_request_seen",
        sa.Column("fingerprint", sa.String(length=64), nullable=False),
        sa.Column("seen_at", sa.DateTime(), nullable=False),
        sa.Column("expires_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("fingerprint"),
    )
    with op.batch_alter_table("slack_request_seen", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_slack_request_seen_expires_at"), ["expires_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("slack_request_seen", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_slack_request_seen_expires_at"))
    op.drop_table("slack_request_seen")
