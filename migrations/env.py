"""Alembic environment: runs on the connection the store hands over, or on a URL."""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine

from reminders.tables import APSCHEDULER_TABLE, metadata

config = context.config


def include_name(name: str | None, type_: str, parent_names: object) -> bool:
    """Leave APScheduler's job store out of autogenerate."""
    return not (type_ == "table" and name == APSCHEDULER_TABLE)


def run(connection: object) -> None:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        render_as_batch=True,
        include_name=include_name,
    )
    with context.begin_transaction():
        context.run_migrations()


connection = config.attributes.get("connection")
if connection is None:
    engine = create_engine(config.get_main_option("sqlalchemy.url") or "")
    try:
        with engine.connect() as conn:
            run(conn)
            conn.commit()
    finally:
        engine.dispose()
else:
    run(connection)
