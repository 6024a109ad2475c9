"""The SQLite store: connections, first-time set-up, migrations and queries.

Every connection gets a busy timeout, foreign keys and (once, at set-up) WAL.
Writers use BEGIN IMMEDIATE so a read-then-write transaction waits for the lock
instead of failing at once. Each write to `reminders` appends a `changes` row so
the daemon can ask what changed since the revision it last saw.
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event, func, select
from sqlalchemy import exc as sa_exc

from reminders import tables as t
from reminders.errors import StoreBusy, StoreError
from reminders.schema import Reminder, Run

HEAD_REVISION = "0001"
BUSY_TIMEOUT_MS = 10_000
_OPTION_KEYS = (
    "agentId",
    "sessionKey",
    "sessionTarget",
    "wakeMode",
    "failureAlert",
    "catchUpMs",
)


def sqlite_url(path: Path) -> str:
    return f"sqlite:///{path}"


def _sqlite_path(url: str) -> Path | None:
    prefix = "sqlite:///"
    if url.startswith(prefix) and url[len(prefix) :] not in ("", ":memory:"):
        return Path(url[len(prefix) :])
    return None


def make_engine(url: str) -> Engine:
    """An engine whose SQLite connections are set up the way this store needs."""
    engine = create_engine(url)
    if engine.dialect.name != "sqlite":
        return engine

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: sqlite3.Connection, _record: object) -> None:
        dbapi_conn.isolation_level = None  # we emit BEGIN ourselves
        cursor = dbapi_conn.cursor()
        cursor.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        mode = conn.get_execution_options().get("sqlite_begin", "DEFERRED")
        conn.exec_driver_sql(f"BEGIN {mode}")

    return engine


@contextlib.contextmanager
def translate_db_errors(path: str) -> Iterator[None]:
    """Turn SQLite failures into errors that say what to do."""
    try:
        yield
    except sa_exc.OperationalError as exc:
        text = str(exc.orig)
        if "locked" in text or "busy" in text:
            raise StoreBusy(
                f"The database {path} stayed locked for "
                f"{BUSY_TIMEOUT_MS // 1000} s. Try again; if it persists, look for "
                "a stuck process with `reminders status`."
            ) from None
        if "readonly" in text or "read-only" in text:
            raise StoreError(
                f"The database {path} is read-only. Make it and its folder writable "
                "by this user, or set REMINDERS_HOME to a writable folder."
            ) from None
        if "disk" in text and "full" in text:
            raise StoreError(
                f"The disk holding {path} is full. Free some space and try again; "
                "nothing was changed."
            ) from None
        if "unable to open" in text:
            raise StoreError(
                f"Cannot open the database {path}. Check that its folder exists and "
                "is writable, or set REMINDERS_HOME."
            ) from None
        raise StoreError(f"Database error on {path}: {text}") from None
    except sa_exc.DatabaseError as exc:
        raise StoreError(
            f"The database {path} is damaged or not a reminders database "
            f"({exc.orig}). Restore a backup (see `reminders db backup`) or move the "
            "file away to start afresh."
        ) from None


@dataclass(frozen=True)
class Change:
    revision: int
    reminder_id: str
    op: str


def reminder_to_row(reminder: Reminder) -> dict[str, Any]:
    data = reminder.to_json()
    return {
        "id": reminder.id,
        "name": reminder.name,
        "description": reminder.description,
        "enabled": reminder.enabled,
        "delete_after_run": reminder.deleteAfterRun,
        "created_at_ms": reminder.createdAtMs,
        "updated_at_ms": reminder.updatedAtMs,
        "schedule": data["schedule"],
        "payload": data["payload"],
        "delivery": data.get("delivery"),
        "state": data.get("state", {}),
        "options": {key: data[key] for key in _OPTION_KEYS if key in data},
        "next_run_at_ms": reminder.state.nextRunAtMs if reminder.enabled else None,
    }


def row_to_reminder(row: Any) -> Reminder:
    data: dict[str, Any] = {
        "id": row.id,
        "name": row.name,
        "description": row.description,
        "enabled": row.enabled,
        "deleteAfterRun": row.delete_after_run,
        "createdAtMs": row.created_at_ms,
        "updatedAtMs": row.updated_at_ms,
        "schedule": row.schedule,
        "payload": row.payload,
        "delivery": row.delivery,
        "state": row.state,
        **row.options,
    }
    return Reminder.model_validate(data)


def row_to_run(row: Any) -> Run:
    return Run(
        id=row.id,
        reminderId=row.reminder_id,
        reminderName=row.reminder_name,
        scheduledForMs=row.scheduled_for_ms,
        startedAtMs=row.started_at_ms,
        finishedAtMs=row.finished_at_ms,
        status=row.status,
        trigger=row.trigger,
        messageIds=list(row.message_ids or []),
        errorClass=row.error_class,
        errorText=row.error_text,
        attempts=row.attempts,
        note=row.note,
    )


class Store:
    """Reminders, runs and daemon metadata in one database."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.path = _sqlite_path(url)
        self.label = str(self.path) if self.path else url
        self.engine = make_engine(url)

    # -- transactions -------------------------------------------------------

    @contextlib.contextmanager
    def read(self) -> Iterator[Connection]:
        with translate_db_errors(self.label), self.engine.connect() as conn:
            with conn.begin():
                yield conn

    @contextlib.contextmanager
    def write(self) -> Iterator[Connection]:
        """One write transaction, taken with BEGIN IMMEDIATE on SQLite."""
        with translate_db_errors(self.label), self.engine.connect() as conn:
            conn = conn.execution_options(sqlite_begin="IMMEDIATE")
            with conn.begin():
                yield conn

    def close(self) -> None:
        self.engine.dispose()

    # -- reminders ----------------------------------------------------------

    @staticmethod
    def _record_change(conn: Connection, reminder_id: str, op: str, now_ms: int) -> int:
        result = conn.execute(
            t.changes.insert().values(reminder_id=reminder_id, op=op, at_ms=now_ms)
        )
        revision = result.inserted_primary_key
        assert revision is not None
        return int(revision[0])

    def save(self, conn: Connection, reminder: Reminder, now_ms: int) -> None:
        """Insert or replace one reminder inside the caller's write transaction."""
        row = reminder_to_row(reminder)
        row["revision"] = self._record_change(conn, reminder.id, "upsert", now_ms)
        exists = conn.execute(
            select(t.reminders.c.id).where(t.reminders.c.id == reminder.id)
        ).first()
        if exists:
            conn.execute(
                t.reminders.update().where(t.reminders.c.id == reminder.id).values(row)
            )
        else:
            conn.execute(t.reminders.insert().values(row))

    def delete(self, conn: Connection, reminder_id: str, now_ms: int) -> None:
        conn.execute(t.reminders.delete().where(t.reminders.c.id == reminder_id))
        self._record_change(conn, reminder_id, "delete", now_ms)

    def get(self, conn: Connection, reminder_id: str) -> Reminder | None:
        row = conn.execute(
            select(t.reminders).where(t.reminders.c.id == reminder_id)
        ).first()
        return row_to_reminder(row) if row else None

    def find(self, conn: Connection, ref: str) -> list[Reminder]:
        """Reminders matching an id, a unique id prefix (8+ chars) or an exact name."""
        by_id = self.get(conn, ref)
        if by_id:
            return [by_id]
        rows = list(conn.execute(select(t.reminders).where(t.reminders.c.name == ref)))
        if not rows and len(ref) >= 8:
            rows = list(
                conn.execute(
                    select(t.reminders).where(
                        t.reminders.c.id.startswith(ref, autoescape=True)
                    )
                )
            )
        return [row_to_reminder(row) for row in rows]

    def all(self, conn: Connection, *, include_disabled: bool = True) -> list[Reminder]:
        query = select(t.reminders).order_by(
            t.reminders.c.next_run_at_ms.is_(None),
            t.reminders.c.next_run_at_ms,
            t.reminders.c.created_at_ms,
        )
        if not include_disabled:
            query = query.where(t.reminders.c.enabled.is_(True))
        return [row_to_reminder(row) for row in conn.execute(query)]

    def get_many(self, conn: Connection, ids: Sequence[str]) -> dict[str, Reminder]:
        found: dict[str, Reminder] = {}
        for start in range(0, len(ids), 500):
            chunk = list(ids[start : start + 500])
            for row in conn.execute(
                select(t.reminders).where(t.reminders.c.id.in_(chunk))
            ):
                found[row.id] = row_to_reminder(row)
        return found

    def counts(self, conn: Connection) -> dict[str, int]:
        rows = conn.execute(
            select(t.reminders.c.enabled, func.count()).group_by(t.reminders.c.enabled)
        )
        by_flag = {bool(enabled): int(count) for enabled, count in rows}
        return {"enabled": by_flag.get(True, 0), "disabled": by_flag.get(False, 0)}

    def next_due_at(self, conn: Connection) -> int | None:
        value = conn.execute(
            select(func.min(t.reminders.c.next_run_at_ms)).where(
                t.reminders.c.enabled.is_(True)
            )
        ).scalar()
        return int(value) if value is not None else None

    # -- changes ------------------------------------------------------------

    def last_revision(self, conn: Connection) -> int:
        value = conn.execute(select(func.max(t.changes.c.revision))).scalar()
        return int(value or 0)

    def changes_since(self, conn: Connection, revision: int) -> list[Change]:
        rows = conn.execute(
            select(t.changes)
            .where(t.changes.c.revision > revision)
            .order_by(t.changes.c.revision)
        )
        return [Change(row.revision, row.reminder_id, row.op) for row in rows]

    def prune_changes(self, conn: Connection, before_ms: int) -> None:
        conn.execute(t.changes.delete().where(t.changes.c.at_ms < before_ms))

    # -- runs ---------------------------------------------------------------

    def insert_run(
        self,
        conn: Connection,
        *,
        reminder_id: str,
        scheduled_for_ms: int,
        status: str,
        trigger: str = "schedule",
        reminder_name: str | None = None,
        started_at_ms: int | None = None,
        finished_at_ms: int | None = None,
        message_ids: Sequence[int] = (),
        error_class: str | None = None,
        error_text: str | None = None,
        attempts: int = 0,
        note: str | None = None,
    ) -> int | None:
        """Record a run; None when this reminder already has a run for that slot."""
        taken = conn.execute(
            select(t.runs.c.id).where(
                t.runs.c.reminder_id == reminder_id,
                t.runs.c.scheduled_for_ms == scheduled_for_ms,
            )
        ).first()
        if taken:
            return None
        result = conn.execute(
            t.runs.insert().values(
                reminder_id=reminder_id,
                reminder_name=reminder_name,
                scheduled_for_ms=scheduled_for_ms,
                started_at_ms=started_at_ms,
                finished_at_ms=finished_at_ms,
                status=status,
                trigger=trigger,
                message_ids=list(message_ids),
                error_class=error_class,
                error_text=error_text,
                attempts=attempts,
                note=note,
            )
        )
        key = result.inserted_primary_key
        assert key is not None
        return int(key[0])

    def update_run(self, conn: Connection, run_id: int, **values: Any) -> None:
        conn.execute(t.runs.update().where(t.runs.c.id == run_id).values(**values))

    def get_run(self, conn: Connection, run_id: int) -> Run | None:
        row = conn.execute(select(t.runs).where(t.runs.c.id == run_id)).first()
        return row_to_run(row) if row else None

    def runs_with_status(self, conn: Connection, status: str) -> list[Run]:
        query = select(t.runs).where(t.runs.c.status == status).order_by(t.runs.c.id)
        return [row_to_run(row) for row in conn.execute(query)]

    def count_runs_since(self, conn: Connection, since_ms: int) -> dict[str, int]:
        rows = conn.execute(
            select(t.runs.c.status, func.count())
            .where(t.runs.c.scheduled_for_ms >= since_ms)
            .group_by(t.runs.c.status)
        )
        return {str(status): int(count) for status, count in rows}

    def runs(
        self, conn: Connection, reminder_id: str | None = None, limit: int = 50
    ) -> list[Run]:
        query = select(t.runs).order_by(
            t.runs.c.scheduled_for_ms.desc(), t.runs.c.id.desc()
        )
        if reminder_id:
            query = query.where(t.runs.c.reminder_id == reminder_id)
        return [row_to_run(row) for row in conn.execute(query.limit(limit))]

    # -- meta ---------------------------------------------------------------

    def get_meta(self, conn: Connection, key: str) -> str | None:
        value = conn.execute(select(t.meta.c.value).where(t.meta.c.key == key)).scalar()
        return str(value) if value is not None else None

    def set_meta(self, conn: Connection, key: str, value: str) -> None:
        updated = conn.execute(
            t.meta.update().where(t.meta.c.key == key).values(value=value)
        )
        if not updated.rowcount:
            conn.execute(t.meta.insert().values(key=key, value=value))

    # -- schema -------------------------------------------------------------

    def schema_revision(self) -> str | None:
        """The Alembic revision the database is at; None for a new database."""
        with translate_db_errors(self.label), self.engine.connect() as conn:
            try:
                return conn.exec_driver_sql(
                    "SELECT version_num FROM alembic_version"
                ).scalar()
            except sa_exc.OperationalError as exc:
                if "no such table" in str(exc.orig):
                    return None
                raise
