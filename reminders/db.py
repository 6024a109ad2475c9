"""The database connection: one open transaction (`Db`), SQLite connections set up
alike, and database failures turned into errors that say what to do.

On SQLite (the default) it talks to the standard library's sqlite3 directly, and on
PostgreSQL (the only other engine, see `reminders.pg`) to psycopg directly, with the
same statements, so a CLI command never pays for importing SQLAlchemy (Alembic and
APScheduler's job store use it). Every SQLite connection gets the same PRAGMAs
(WAL is switched on once, at set-up).
"""

from __future__ import annotations

import contextlib
import sqlite3
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from reminders.errors import ReminderError, StoreBusy, StoreError, StoreUnwritable

if TYPE_CHECKING:
    from sqlalchemy import Engine

BUSY_TIMEOUT_MS = 10_000
CACHE_KIB = 512  # per connection; the daemon keeps a few open for its life


def pragmas() -> tuple[str, ...]:
    """What every SQLite connection, ours and SQLAlchemy's, is set up with."""
    return (
        f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}",
        "PRAGMA foreign_keys=ON",
        "PRAGMA synchronous=NORMAL",
        f"PRAGMA cache_size=-{CACHE_KIB}",
    )


def sqlite_url(path: Path) -> str:
    return f"sqlite:///{path}"


def sqlite_path(url: str) -> Path | None:
    prefix = "sqlite:///"
    if url.startswith(prefix) and url[len(prefix) :] not in ("", ":memory:"):
        return Path(url[len(prefix) :])
    return None


def connect_sqlite(path: Path | str) -> sqlite3.Connection:
    """A connection set up the way this store needs; we issue BEGIN ourselves."""
    conn = sqlite3.connect(
        path,
        timeout=BUSY_TIMEOUT_MS / 1000,
        isolation_level=None,
        check_same_thread=False,
    )
    for pragma in pragmas():
        conn.execute(pragma)
    return conn


def make_engine(url: str) -> Engine:
    """A SQLAlchemy engine for Alembic and APScheduler's job store, set up alike."""
    from sqlalchemy import create_engine, event

    if sqlite_path(url) is None:
        from reminders import pg

        return pg.make_engine(url)
    engine = create_engine(url)

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: sqlite3.Connection, _record: object) -> None:
        dbapi_conn.isolation_level = None  # we emit BEGIN ourselves
        cursor = dbapi_conn.cursor()
        for pragma in pragmas():
            cursor.execute(pragma)
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        mode = conn.get_execution_options().get("sqlite_begin", "DEFERRED")
        conn.exec_driver_sql(f"BEGIN {mode}")

    return engine


def _sqlalchemy_error(exc: BaseException) -> BaseException | None:
    """The driver error behind a SQLAlchemy error, when SQLAlchemy is in use."""
    if "sqlalchemy" not in sys.modules:
        return None
    from sqlalchemy import exc as sa_exc

    if isinstance(exc, sa_exc.DBAPIError):
        return exc.orig or exc
    return None


@contextlib.contextmanager
def translate_db_errors(path: str, url: str = "") -> Iterator[None]:
    """Turn database failures into errors that say what to do."""
    try:
        yield
    except ReminderError:
        raise
    except Exception as exc:
        error = db_error(path, exc, url)
        if error is None:
            raise
        raise error from None


def db_error(path: str, exc: BaseException, url: str = "") -> ReminderError | None:
    """Our error for a database failure; None when `exc` is not one. `url` is
    given for PostgreSQL, whose errors name its host, never its password."""
    orig = _sqlalchemy_error(exc) or exc
    if url and not isinstance(orig, sqlite3.Error):
        from reminders import pg

        if pg.is_driver_error(orig):
            return pg.translate(orig, url)
    if isinstance(orig, sqlite3.OperationalError):
        return _operational(path, str(orig))
    if isinstance(orig, sqlite3.DatabaseError):
        return StoreError(
            f"The database {path} is damaged or not a reminders database "
            f"({orig}). Restore a backup (see `reminders db backup`) or move the "
            "file away to start afresh."
        )
    if orig is not exc:
        return StoreError(f"Database error on {path}: {orig}")
    return None


def _operational(path: str, text: str) -> ReminderError:
    if "locked" in text or "busy" in text:
        return StoreBusy(
            f"The database {path} stayed locked for {BUSY_TIMEOUT_MS // 1000} s. Try "
            "again; if it persists, look for a stuck process with `reminders status`."
        )
    if "readonly" in text or "read-only" in text:
        return StoreUnwritable(
            f"The database {path} is read-only. Make it and its folder writable "
            "by this user, or set REMINDERS_HOME to a writable folder."
        )
    if "disk" in text and "full" in text:
        return StoreUnwritable(
            f"The disk holding {path} is full. Free some space and try again; "
            "nothing was changed."
        )
    if "disk I/O error" in text:
        return StoreUnwritable(
            f"Writing the database {path} failed (disk I/O error): its filesystem "
            "may be read-only or failing. Check it (`dmesg`), then try again."
        )
    if "unable to open" in text:
        return StoreError(
            f"Cannot open the database {path}. Check that its folder exists and is "
            "writable, or set REMINDERS_HOME."
        )
    return StoreError(f"Database error on {path}: {text}")


class Db:
    """One open transaction: run SQL with :named parameters, get rows as dicts."""

    def __init__(self, raw: Any, sqlite: bool) -> None:
        self._raw = raw
        self._sqlite = sqlite

    @property
    def postgres(self) -> bool:
        return not self._sqlite

    def rows(
        self, sql: str, params: dict[str, Any] | None = None
    ) -> list[dict[str, Any]]:
        if self._sqlite:
            cursor = self._raw.execute(sql, params or {})
            names = [column[0] for column in cursor.description or ()]
            return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
        from reminders.pg import pyformat

        cursor = self._raw.execute(pyformat(sql), params or None)
        return cursor.fetchall() if cursor.description else []

    def one(
        self, sql: str, params: dict[str, Any] | None = None
    ) -> dict[str, Any] | None:
        found = self.rows(sql, params)
        return found[0] if found else None

    def value(self, sql: str, params: dict[str, Any] | None = None) -> Any:
        row = self.one(sql, params)
        return next(iter(row.values())) if row else None

    def run(self, sql: str, params: dict[str, Any] | None = None) -> int:
        """Execute a write; returns the number of rows it touched."""
        if self._sqlite:
            return int(self._raw.execute(sql, params or {}).rowcount)
        from reminders.pg import pyformat

        return int(self._raw.execute(pyformat(sql), params or None).rowcount)


def pg_label(url: str) -> str:
    from reminders import pg

    return pg.label(url)
