"""The database schema as SQLAlchemy tables; Alembic migrations are generated from it."""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_name)s",
        "uq": "uq_%(table_name)s_%(column_0_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

# APScheduler's job store lives in the same file but is a cache the daemon rebuilds:
# migrations never touch it.
APSCHEDULER_TABLE = "apscheduler_jobs"

reminders = Table(
    "reminders",
    metadata,
    Column("id", String(191), primary_key=True),
    Column("name", Text, nullable=False),
    Column("description", Text),
    Column("enabled", Boolean, nullable=False),
    Column("delete_after_run", Boolean),
    Column("created_at_ms", BigInteger, nullable=False),
    Column("updated_at_ms", BigInteger, nullable=False),
    Column("schedule", JSON, nullable=False),
    Column("payload", JSON, nullable=False),
    Column("delivery", JSON),
    Column("state", JSON, nullable=False),
    # OpenClaw fields kept but inert (agentId, sessionTarget, ...) and our own options.
    Column("options", JSON, nullable=False),
    Column("next_run_at_ms", BigInteger),
    # The `changes` revision of the last write to this row.
    Column("revision", BigInteger, nullable=False),
    Index("ix_reminders_name", "name"),
    Index("ix_reminders_next_run_at_ms", "next_run_at_ms"),
)

# One row per write to `reminders`, so a reader can ask "what changed since N"
# at a cost that does not grow with the number of reminders. Deletions stay visible.
changes = Table(
    "changes",
    metadata,
    Column("revision", Integer, primary_key=True, autoincrement=True),
    Column("reminder_id", String(191), nullable=False),
    Column("op", String(16), nullable=False),
    Column("at_ms", BigInteger, nullable=False),
)

runs = Table(
    "runs",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("reminder_id", String(191), nullable=False),
    Column("reminder_name", Text),
    Column("scheduled_for_ms", BigInteger, nullable=False),
    Column("started_at_ms", BigInteger),
    Column("finished_at_ms", BigInteger),
    # When Telegram accepted the run's first message (lateness at delivery).
    Column("delivered_at_ms", BigInteger),
    Column("status", String(16), nullable=False),
    Column("trigger", String(16), nullable=False),
    Column("message_ids", JSON, nullable=False),
    Column("error_class", Text),
    Column("error_text", Text),
    Column("attempts", Integer, nullable=False),
    Column("note", Text),
    # What the user did with the message in the chat: "done", "snoozed until ...".
    Column("response", Text),
    Column("response_at_ms", BigInteger),
    UniqueConstraint("reminder_id", "scheduled_for_ms", name="uq_runs_reminder_slot"),
    Index("ix_runs_status", "status"),
    Index("ix_runs_finished_at_ms", "finished_at_ms"),
)

meta = Table(
    "meta",
    metadata,
    Column("key", String(64), primary_key=True),
    Column("value", Text, nullable=False),
)

# Leadership among daemons sharing one PostgreSQL database (unused on SQLite): one
# row per lease, taken and renewed on the database's clock. `epoch` grows on every
# takeover and fences the claim of a run.
lease = Table(
    "lease",
    metadata,
    Column("name", String(32), primary_key=True),
    Column("holder", String(191)),
    Column("epoch", BigInteger, nullable=False),
    Column("expires_at_ms", BigInteger, nullable=False),
)

# Every daemon seen on the database: what `status` and `doctor` report.
daemons = Table(
    "daemons",
    metadata,
    Column("id", String(191), primary_key=True),
    Column("host", Text, nullable=False),
    Column("pid", Integer, nullable=False),
    Column("role", String(16), nullable=False),
    Column("epoch", BigInteger),
    Column("started_at_ms", BigInteger, nullable=False),
    Column("heartbeat_at_ms", BigInteger, nullable=False),
)

# A delivered message carrying Done/Snooze buttons, one per run. It keeps what a
# follow-up needs (text and target) after a one-shot reminder itself is gone. The
# first message of a nag chain (root_run_id == run_id) holds the chain's nag state.
chat_prompts = Table(
    "chat_prompts",
    metadata,
    Column("run_id", Integer, primary_key=True, autoincrement=False),
    Column("root_run_id", Integer, nullable=False),
    Column("reminder_id", String(191), nullable=False),
    Column("reminder_name", Text),
    Column("chat_id", String(64), nullable=False),
    Column("thread_id", Integer),
    Column("message_id", BigInteger, nullable=False),
    Column("text", Text, nullable=False),
    Column("parse_mode", String(16)),
    Column("created_at_ms", BigInteger, nullable=False),
    Column("nag_every_ms", BigInteger),
    Column("nags_left", Integer),
    Column("next_nag_at_ms", BigInteger),
    Column("answered_at_ms", BigInteger),
    Index("ix_chat_prompts_chat_id", "chat_id", "message_id"),
    Index("ix_chat_prompts_next_nag_at_ms", "next_nag_at_ms"),
)
