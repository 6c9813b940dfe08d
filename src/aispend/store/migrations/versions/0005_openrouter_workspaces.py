"""OpenRouter workspaces: a workspace table and the workspace of each key

``/keys`` lists one workspace at a time, so the poller now lists ``/workspaces`` and every
workspace's keys; each key remembers where it was found. Existing keys keep ``NULL`` (the default
workspace, the only one listed before) until the next poll fills it.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-29 21:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "openrouter_workspace",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("slug", sa.String(length=100), nullable=True),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("openrouter_key", schema=None) as batch_op:
        batch_op.add_column(sa.Column("workspace_id", sa.String(length=64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("openrouter_key", schema=None) as batch_op:
        batch_op.drop_column("workspace_id")
    op.drop_table("openrouter_workspace")
