"""openai_usage_daily: batch and service_tier in the natural key

Completions usage is now fetched grouped by ``batch`` and ``service_tier`` as well (the "batch
share" of the model mix). ``''`` stands for "not grouped" (SQL unique constraints treat NULLs as
distinct, see the models), which is what every existing row is.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-29 21:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

_OLD = ("day", "endpoint", "project_id", "api_key_id", "model")


def upgrade() -> None:
    with op.batch_alter_table("openai_usage_daily", schema=None) as batch_op:
        batch_op.add_column(sa.Column("batch", sa.String(length=5), nullable=False, server_default=""))
        batch_op.add_column(
            sa.Column("service_tier", sa.String(length=40), nullable=False, server_default="")
        )
        batch_op.drop_constraint("uq_openai_usage_daily", type_="unique")
        batch_op.create_unique_constraint("uq_openai_usage_daily", [*_OLD, "batch", "service_tier"])


def downgrade() -> None:
    op.execute(sa.text("DELETE FROM openai_usage_daily WHERE batch <> '' OR service_tier <> ''"))
    with op.batch_alter_table("openai_usage_daily", schema=None) as batch_op:
        batch_op.drop_constraint("uq_openai_usage_daily", type_="unique")
        batch_op.create_unique_constraint("uq_openai_usage_daily", list(_OLD))
        batch_op.drop_column("service_tier")
        batch_op.drop_column("batch")
