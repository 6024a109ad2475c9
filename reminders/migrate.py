"""First-time set-up and schema upgrades, serialised across processes by a file lock.

The fast path (schema already at head) reads one row and imports nothing heavy;
Alembic is loaded only when an upgrade is due.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import TYPE_CHECKING

from reminders.db import connect_sqlite, translate_db_errors
from reminders.errors import StoreError
from reminders.files import create_private, daemon_lock_path, lock_held, private_lock
from reminders.store import HEAD_REVISION, Store

if TYPE_CHECKING:
    from alembic.config import Config


def migrations_dir() -> Path:
    """The Alembic scripts: inside the installed package, or beside it in a checkout."""
    from importlib import resources

    packaged = resources.files("reminders") / "migrations"
    if packaged.is_dir():
        return Path(str(packaged))
    return Path(__file__).resolve().parent.parent / "migrations"


def alembic_config(store: Store) -> Config:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(migrations_dir()))
    # ConfigParser reads % as interpolation (a URL may hold %-escapes).
    config.set_main_option("sqlalchemy.url", store.url.replace("%", "%%"))
    return config


def known_revisions(store: Store) -> set[str]:
    from alembic.script import ScriptDirectory

    script = ScriptDirectory.from_config(alembic_config(store))
    return {rev.revision for rev in script.walk_revisions()}


def open_store(url: str) -> Store:
    """Open the database, creating or upgrading it first when its schema is behind."""
    store = Store(url)
    if store.path is not None:
        try:
            store.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreError(
                f"Cannot create the data folder {store.path.parent} ({exc.strerror}). "
                "Set REMINDERS_HOME to a writable folder."
            ) from None
        if not store.path.exists():
            _refuse_under_daemon(store.path)
            create_private(store.path)
    if store.schema_revision() == HEAD_REVISION:
        return store
    upgrade(store)
    return store


def _refuse_under_daemon(path: Path) -> None:
    """A daemon still running on a database that is gone means it was deleted or
    moved under it: a fresh empty one would hide that, so none is made."""
    if lock_held(daemon_lock_path(path), wait=1.0):
        raise StoreError(
            f"The database {path} is missing but a reminders daemon still runs on "
            "it (it was deleted or moved). Put the file back, or stop the daemon "
            "(`systemctl --user stop reminders`) to start with an empty one."
        )


def upgrade(store: Store) -> str | None:
    """Bring the schema to head; returns the backup path when one was written."""
    lock_path = f"{store.path}.init.lock" if store.path else None
    with private_lock(lock_path) if lock_path else _nullcontext():
        current = store.schema_revision()
        if current == HEAD_REVISION:
            return None
        if current is not None and current not in known_revisions(store):
            raise StoreError(
                f"The database {store.label} was written by a newer version of "
                f"reminders (schema {current}). Upgrade reminders, or restore a backup."
            )
        if store.path is not None:
            _enable_wal(store.path)
        backup = None
        if current is not None and store.path is not None:
            backup = store.path.with_name(
                f"{store.path.name}.before-{HEAD_REVISION}.bak"
            )
            write_backup(store, backup)
        _run_upgrade(store)
        return str(backup) if backup else None


def _run_upgrade(store: Store) -> None:
    from alembic import command

    config = alembic_config(store)
    url = store.url if store.postgres else ""
    with translate_db_errors(store.label, url), store.engine.connect() as conn:
        conn = conn.execution_options(sqlite_begin="IMMEDIATE")
        with conn.begin():
            if store.postgres:  # one upgrade at a time; the others then find head
                from sqlalchemy import text

                from reminders.pg import MIGRATION_LOCK

                conn.execute(
                    text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK}
                )
            config.attributes["connection"] = conn
            command.upgrade(config, "head")


def _enable_wal(path: Path) -> None:
    try:
        conn = sqlite3.connect(path, timeout=10, isolation_level=None)
        try:
            conn.execute("PRAGMA journal_mode=WAL")
        finally:
            conn.close()
    except sqlite3.DatabaseError as exc:
        raise StoreError(
            f"The database {path} is damaged or not a reminders database ({exc}). "
            "Restore a backup or move the file away to start afresh."
        ) from None


def write_backup(store: Store, dest: Path) -> Path:
    """A consistent copy of the live database, safe while others read and write."""
    if store.path is None:
        raise StoreError(
            "Backups are made of SQLite files only; use your server's tools."
        )
    if dest.exists():
        dest.unlink()
    create_private(dest)  # VACUUM INTO fills an empty file, keeping its mode
    with translate_db_errors(store.label):
        conn = connect_sqlite(store.path)  # VACUUM cannot run inside a transaction
        try:
            conn.execute("VACUUM INTO ?", (str(dest),))
        finally:
            conn.close()
    return dest


class _nullcontext:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *args: object) -> None:
        return None
