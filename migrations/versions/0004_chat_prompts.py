"""chat buttons: chat_prompts, and the user's response on runs

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-28 08:10:00
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
        "chat_prompts",
        sa.Column("run_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("root_run_id", sa.Integer(), nullable=False),
        sa.Column("reminder_id", sa.String(length=191), nullable=False),
        sa.Column("reminder_name", sa.Text(), nullable=True),
        sa.Column("chat_id", sa.String(length=64), nullable=False),
        sa.Column("thread_id", sa.Integer(), nullable=True),
        sa.Column("message_id", sa.BigInteger(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("parse_mode", sa.String(length=16), nullable=True),
        sa.Column("created_at_ms", sa.BigInteger(), nullable=False),
        sa.Column("nag_every_ms", sa.BigInteger(), nullable=True),
        sa.Column("nags_left", sa.Integer(), nullable=True),
        sa.Column("next_nag_at_ms", sa.BigInteger(), nullable=True),
        sa.Column("answered_at_ms", sa.BigInteger(), nullable=True),
        sa.PrimaryKeyConstraint("run_id", name=op.f("pk_chat_prompts")),
    )
    with op.batch_alter_table("chat_prompts", schema=None) as batch_op:
        batch_op.create_index(
            "ix_chat_prompts_chat_id", ["chat_id", "message_id"], unique=False
        )
        batch_op.create_index(
            "ix_chat_prompts_next_nag_at_ms", ["next_nag_at_ms"], unique=False
        )
    with op.batch_alter_table("runs", schema=None) as batch_op:
        batch_op.add_column(sa.Column("response", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("response_at_ms", sa.BigInteger(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("runs", schema=None) as batch_op:
        batch_op.drop_column("response_at_ms")
        batch_op.drop_column("response")
    with op.batch_alter_table("chat_prompts", schema=None) as batch_op:
        batch_op.drop_index("ix_chat_prompts_next_nag_at_ms")
        batch_op.drop_index("ix_chat_prompts_chat_id")
    op.drop_table("chat_prompts")
