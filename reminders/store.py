"""The store: where the reminders live, and the transactions that reach them.

`Store` owns the connections (one per thread, SQLite or PostgreSQL) and hands out
transactions; what a transaction can do is in `reminders.transaction`. Writers take
BEGIN IMMEDIATE on SQLite, so a read-then-write transaction waits for the lock
instead of failing at once.
"""

from __future__ import annotations

import contextlib
import sqlite3
import threading
from collections.abc import Iterator
from functools import cached_property
from typing import TYPE_CHECKING, Any

from reminders.db import (
    connect_sqlite,
    make_engine,
    pg_label,
    sqlite_path,
    translate_db_errors,
)
from reminders.errors import StoreError
from reminders.transaction import Transaction

if TYPE_CHECKING:
    from sqlalchemy import Engine

HEAD_REVISION = "0004"


class Store:
    """Reminders, runs and daemon metadata in one database."""

    def __init__(self, url: str) -> None:
        self.path = sqlite_path(url)
        self.postgres = self.path is None
        if self.postgres:
            from reminders import pg

            url = pg.check_url(url)
        self.url = url
        self.label = str(self.path) if self.path else pg_label(url)
        self._local = threading.local()

    @cached_property
    def engine(self) -> Engine:
        """A SQLAlchemy engine, for Alembic, APScheduler's job store and PostgreSQL."""
        return make_engine(self.url)

    # -- transactions -------------------------------------------------------

    def _connection(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            assert self.path is not None
            conn = connect_sqlite(self.path)
            self._local.conn = conn
            self._all_conns.append(conn)
        return conn

    @cached_property
    def _all_conns(self) -> list[Any]:
        return []

    @contextlib.contextmanager
    def _transaction(self, mode: str) -> Iterator[Transaction]:
        with translate_db_errors(self.label, self.url if self.postgres else ""):
            if self.path is None:
                from reminders import pg

                with pg.transaction(self._local, self.url, self._all_conns) as raw:
                    yield Transaction(raw, sqlite=False)
                return
            conn = self._connection()
            conn.execute(f"BEGIN {mode}")
            try:
                yield Transaction(conn, sqlite=True)
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")

    def read(self) -> contextlib.AbstractContextManager[Transaction]:
        """One read transaction: `with store.read() as tx: tx.get(rid)`."""
        return self._transaction("DEFERRED")

    def write(self) -> contextlib.AbstractContextManager[Transaction]:
        """One write transaction, taken with BEGIN IMMEDIATE on SQLite:
        `with store.write() as tx: tx.save(reminder, now)`."""
        return self._transaction("IMMEDIATE")

    def close(self) -> None:
        for conn in self._all_conns:
            conn.close()
        self._all_conns.clear()
        self._local = threading.local()
        if "engine" in self.__dict__:
            self.engine.dispose()

    # -- schema -------------------------------------------------------------

    def schema_revision(self) -> str | None:
        """The Alembic revision the database is at; None for a new database."""
        try:
            with self.read() as db:
                if self.path is not None:
                    exists = db.value(
                        "SELECT count(*) FROM sqlite_master WHERE name = 'alembic_version'"
                    )
                else:
                    exists = db.value("SELECT to_regclass('alembic_version')")
                if not exists:
                    return None
                value = db.value("SELECT version_num FROM alembic_version")
        except StoreError:
            if self.path is None:
                return None  # no alembic_version table yet on a server database
            raise
        return str(value) if value is not None else None
