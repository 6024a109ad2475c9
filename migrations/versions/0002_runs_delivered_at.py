"""runs.delivered_at_ms: when Telegram accepted the first message of a run

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-28 08:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("runs", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("delivered_at_ms", sa.BigInteger(), nullable=True)
        )


def downgrade() -> None:
    with op.batch_alter_table("runs", schema=None) as batch_op:
        batch_op.drop_column("delivered_at_ms")
