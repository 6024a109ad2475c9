"""The database: migrations, set-up, backups and damaged files."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory

from reminders.db import sqlite_url
from reminders.migrate import alembic_config, open_store
from reminders.store import HEAD_REVISION, Store
from reminders.tables import metadata
from tests.conftest import Cli, db_rows


def test_head_constant_matches_the_migration_scripts(tmp_path: Path) -> None:
    """The fast schema check compares against the real Alembic head."""
    store = Store(sqlite_url(tmp_path / "x.db"))
    script = ScriptDirectory.from_config(alembic_config(store))
    assert script.get_current_head() == HEAD_REVISION


def test_upgrade_creates_a_schema_matching_the_tables(tmp_path: Path) -> None:
    """After `upgrade head` the models and the migrations agree (alembic check)."""
    store = open_store(sqlite_url(tmp_path / "x.db"))
    with store.engine.connect() as conn:
        context = MigrationContext.configure(
            conn,
            opts={
                "include_name": lambda name, type_, parent: name != "apscheduler_jobs"
            },
        )
        assert compare_metadata(context, metadata) == []
    with sqlite3.connect(tmp_path / "x.db") as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_downgrade_and_upgrade_round_trip(tmp_path: Path) -> None:
    """The first migration can be undone and redone."""
    store = open_store(sqlite_url(tmp_path / "x.db"))
    config = alembic_config(store)
    command.downgrade(config, "base")
    assert store.schema_revision() is None
    command.upgrade(config, "head")
    assert store.schema_revision() == HEAD_REVISION


def test_two_processes_creating_the_database_at_once(tmp_path: Path) -> None:
    """First-time set-up is serialised: racing openers both succeed."""
    url = sqlite_url(tmp_path / "race.db")
    errors: list[BaseException] = []

    def opener() -> None:
        try:
            open_store(url).close()
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=opener) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert Store(url).schema_revision() == HEAD_REVISION


def test_a_database_from_a_newer_version_is_refused(run: Cli, home: Path) -> None:
    """An unknown, newer schema revision stops with a clear error and is not touched."""
    run("list")
    with sqlite3.connect(home / "reminders.db") as conn:
        conn.execute("UPDATE alembic_version SET version_num = '9999'")
    before = (home / "reminders.db").read_bytes()
    result = run("list", code=78)
    assert "newer version of reminders" in result.stderr
    assert (home / "reminders.db").read_bytes() == before


def test_a_damaged_database_is_refused_not_replaced(run: Cli, home: Path) -> None:
    """A file that is not SQLite gives a clear error and stays as it was."""
    (home / "reminders.db").write_bytes(b"this is not a database" * 100)
    result = run("list", code=78)
    assert "damaged" in result.stderr and "Traceback" not in result.stderr
    assert (home / "reminders.db").read_bytes() == b"this is not a database" * 100


def test_backup_is_a_consistent_copy(run: Cli, home: Path) -> None:
    """`db backup` writes a copy that holds the same reminders."""
    run("add", "--every", "1h", "--message", "m", "--to", "1")
    result = run("db", "backup", str(home / "copy.db"))
    assert "Backed up" in result.stdout
    with sqlite3.connect(home / "copy.db") as conn:
        assert conn.execute("SELECT count(*) FROM reminders").fetchone()[0] == 1
    assert db_rows(home)


def test_an_upgrade_backs_the_old_file_up_first(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """When the schema is behind, a VACUUM INTO copy is written before migrating."""
    from reminders import migrate

    path = tmp_path / "old.db"
    store = open_store(sqlite_url(path))
    with store.write() as db:
        db.run("INSERT INTO meta (key, value) VALUES ('marker', 'before')")
    monkeypatch.setattr(migrate, "HEAD_REVISION", "9999")
    monkeypatch.setattr(
        migrate, "known_revisions", lambda store: {HEAD_REVISION, "9999"}
    )
    migrated: list[str] = []
    monkeypatch.setattr(
        migrate, "_run_upgrade", lambda store: migrated.append(store.label)
    )
    backup = migrate.upgrade(store)
    assert backup is not None and migrated == [str(path)]
    with sqlite3.connect(backup) as conn:
        assert conn.execute(
            "SELECT value FROM meta WHERE key = 'marker'"
        ).fetchone() == ("before",)


def test_a_0001_database_gains_delivered_at_and_keeps_its_runs(
    run: Cli, home: Path
) -> None:
    """A database from before runs.delivered_at_ms upgrades on first use, after a
    backup; its runs stay, with no delivery time."""
    store = Store(sqlite_url(home / "reminders.db"))
    command.upgrade(alembic_config(store), "0001")
    with sqlite3.connect(home / "reminders.db") as conn:
        conn.execute(
            "INSERT INTO runs (reminder_id, scheduled_for_ms, started_at_ms, status, "
            "trigger, message_ids, attempts) VALUES ('r1', 1000, 3000, 'sent', "
            "'schedule', '[5]', 1)"
        )
    [old] = run.json("runs")
    assert old["status"] == "sent" and "deliveredAtMs" not in old
    assert "2.000s" in run("runs").stdout  # lateness at the send's start
    assert (home / f"reminders.db.before-{HEAD_REVISION}.bak").exists()
    with sqlite3.connect(home / "reminders.db") as conn:
        columns = [row[1] for row in conn.execute("PRAGMA table_info(runs)")]
    assert "delivered_at_ms" in columns


def test_sqlalchemy_transactions_on_sqlite_are_all_or_nothing(tmp_path: Path) -> None:
    """Alembic and APScheduler's job store reach SQLite through SQLAlchemy, with the
    driver's own transactions off: the engine must emit BEGIN (IMMEDIATE when
    asked) itself, or every statement commits alone (a half-done migration, and a
    job-store rebuild that syncs the disk once per row)."""
    from reminders.db import make_engine

    engine = make_engine(sqlite_url(tmp_path / "t.db"))
    with engine.begin() as connection:
        connection.exec_driver_sql("CREATE TABLE t (x INTEGER)")

    def half_way() -> None:
        with engine.begin() as connection:
            connection.exec_driver_sql("INSERT INTO t VALUES (1)")
            raise RuntimeError("half-way")

    with pytest.raises(RuntimeError):
        half_way()
    immediate = engine.execution_options(sqlite_begin="IMMEDIATE")
    with immediate.begin() as connection:
        connection.exec_driver_sql("INSERT INTO t VALUES (2)")
        other = sqlite3.connect(tmp_path / "t.db", timeout=0)
        with pytest.raises(sqlite3.OperationalError, match="locked"):
            other.execute("BEGIN IMMEDIATE")  # the write lock is taken at BEGIN
        other.close()
    with engine.connect() as connection:
        rows = connection.exec_driver_sql("SELECT x FROM t").fetchall()
    engine.dispose()
    assert rows == [(2,)]
