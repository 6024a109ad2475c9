"""PostgreSQL: which URLs work, a server that is down, migrations, the lease and
its fencing, and change pick-up by LISTEN/NOTIFY."""

from __future__ import annotations

import os
import socket
import sys
import threading
from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from reminders.lease import Lease, LeaseLost, cluster_state
from reminders.migrate import alembic_config, open_store
from reminders.pg_changes import ChangeListener
from reminders.store import HEAD_REVISION, Store
from reminders.tables import metadata
from tests.conftest import Cli, wait_until

pytestmark = pytest.mark.engines("postgresql")


@pytest.fixture
def store(engine: str) -> Store:
    opened = open_store(engine)
    yield opened
    opened.close()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# -- URLs --------------------------------------------------------------------------


@pytest.mark.engines("sqlite")
@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("mysql://u@h/db", "not supported"),
        ("postgresql+psycopg2://u@h/db", "psycopg 3 only"),
        ("sqlite://", "names no SQLite file"),
    ],
)
def test_other_engines_are_refused_with_the_two_that_work(
    run: Cli, monkeypatch: pytest.MonkeyPatch, url: str, says: str
) -> None:
    """Only SQLite and PostgreSQL through psycopg: anything else is a config error."""
    monkeypatch.setenv("REMINDERS_DATABASE_URL", url)
    result = run("list", code=78)
    assert says in result.stderr and len(result.stderr.strip().splitlines()) == 1


@pytest.mark.engines("sqlite")
def test_a_postgresql_url_without_the_extra_names_it(
    run: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without psycopg installed, one line says which extra to install (exit 78)."""
    monkeypatch.setenv("REMINDERS_DATABASE_URL", "postgresql://u@localhost/db")
    monkeypatch.setitem(sys.modules, "psycopg", None)  # import psycopg fails
    result = run("list", code=78)
    assert result.stderr.strip().splitlines() == [
        "Error: database.url is a PostgreSQL URL but PostgreSQL support is not "
        "installed: pip install 'reminders[postgres]'"
    ]


@pytest.mark.engines("sqlite")
@pytest.mark.parametrize(
    "command_",
    [["list"], ["add", "--at", "1h", "--message", "x", "--to", "1"], ["status"]],
)
def test_a_down_server_is_temporary_and_names_the_host_only(
    run: Cli, monkeypatch: pytest.MonkeyPatch, command_: list[str]
) -> None:
    """Nothing listening: exit 75, the host and port named, the password never."""
    port = _free_port()
    monkeypatch.setenv(
        "REMINDERS_DATABASE_URL",
        f"postgresql+psycopg://alice:s3cr%40t@127.0.0.1:{port}/db",
    )
    result = run(*command_, code=75)
    assert f"127.0.0.1:{port}" in result.stderr
    assert "s3cr" not in result.stderr + result.stdout
    assert "Traceback" not in result.stderr


@pytest.mark.engines("sqlite")
@pytest.mark.parametrize(
    ("credentials", "database", "said"),
    [
        ("postgres", "reminders_no_such_db", "does not exist on 127.0.0.1:5432"),
        ("no_such_role:s3cr%40t", "postgres", "refused the login"),
    ],
)
def test_a_wrong_database_or_login_is_configuration_not_a_down_server(
    run: Cli,
    monkeypatch: pytest.MonkeyPatch,
    credentials: str,
    database: str,
    said: str,
    pg_database: str,  # the server answers (else this skips)
) -> None:
    """A server that answers but refuses the URL's database or user: exit 78 (no
    retry can fix it), one line naming the fix, the password never."""
    monkeypatch.setenv(
        "REMINDERS_DATABASE_URL",
        f"postgresql+psycopg://{credentials}@127.0.0.1:5432/{database}",
    )
    result = run("list", code=78)
    assert said in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert "s3cr" not in result.stderr + result.stdout


@pytest.mark.parametrize(
    ("words", "code"),
    [
        ('failed: FATAL:  database "x" does not exist', 78),
        ('failed: FATAL:  role "bob" does not exist', 78),
        ("failed: fe_sendauth: no password supplied", 78),
        ('failed: FATAL:  password authentication failed for user "bob"', 78),
        ("one: Connection refused\ntwo: FATAL:  Ident authentication failed", 78),
        ("failed: FATAL:  no pg_hba.conf entry for host", 78),
        ("failed: Connection refused", 75),
        ("failed: FATAL:  the database system is starting up", 75),
    ],
)
def test_a_refused_connection_is_told_apart_by_its_words(words: str, code: int) -> None:
    """A refused connection has no SQLSTATE: a login or database no retry can fix
    is configuration (78, the daemon stays stopped), anything else is temporary."""
    import psycopg

    from reminders import pg

    error = pg.translate(
        psycopg.OperationalError(f"connection to server at host {words}"),
        "postgresql+psycopg://bob:s3cret@db.example:5432/x",
    )
    assert error.exit_code == code
    assert "s3cret" not in str(error)


# -- migrations ----------------------------------------------------------------------


def test_migrations_build_the_schema_the_tables_describe(store: Store) -> None:
    """One migration history for both engines; on PostgreSQL it matches the models."""
    assert store.schema_revision() == HEAD_REVISION
    with store.engine.connect() as conn:
        context = MigrationContext.configure(
            conn,
            opts={
                "include_name": lambda name, type_, parent: name != "apscheduler_jobs"
            },
        )
        assert compare_metadata(context, metadata) == []


def test_downgrade_and_upgrade_round_trip(store: Store) -> None:
    config = alembic_config(store)
    command.downgrade(config, "base")
    assert store.schema_revision() is None
    command.upgrade(config, "head")
    assert store.schema_revision() == HEAD_REVISION


def test_processes_creating_the_schema_at_once_all_succeed(engine: str) -> None:
    """First-time set-up is serialised on the server: racing openers all succeed."""
    errors: list[BaseException] = []

    def opener() -> None:
        try:
            open_store(engine).close()
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=opener) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []


def test_cli_commands_work_on_postgresql(run: Cli) -> None:
    """The same commands, the same answers: add, list, edit, runs, export, upgrade."""
    added = run.json(
        "add", "--name", "pg", "--every", "1h", "--message", "hi", "--to", "5"
    )
    assert [r["id"] for r in run.json("list")] == [added["id"]]
    run("edit", "pg", "--message", "changed")
    assert run.json("show", "pg")["payload"]["message"] == "changed"
    assert run.json("runs") == []
    assert "at schema" in run("db", "upgrade").stdout
    result = run("db", "backup", code=78)
    assert "pg_dump" in result.stderr


# -- the lease and the fenced claim ------------------------------------------------------


def _claim(store: Store, fence: tuple[str, int], slot: int) -> int | None:
    with store.write() as db:
        return db.insert_run(
            reminder_id="r", scheduled_for_ms=slot, status="sending", fence=fence
        )


def test_lease_epoch_grows_on_takeover_only(store: Store) -> None:
    """Renewals keep the epoch; a standby gets nothing while the lease is held."""
    a, b = Lease(store, "a", 60_000), Lease(store, "b", 60_000)
    assert a.attempt(False)[0] == 1
    assert a.attempt(True)[0] == 1
    epoch, remaining = b.attempt(False)
    assert epoch is None and 0 < remaining <= 60_000
    a.release()
    assert b.attempt(False)[0] == 2


def test_a_stale_epoch_cannot_claim_a_run(store: Store) -> None:
    """The claim succeeds only for the current epoch; a slot is claimed once."""
    a, b = Lease(store, "a", 60_000), Lease(store, "b", 60_000)
    epoch_a = a.attempt(False)[0]
    assert epoch_a is not None
    assert _claim(store, ("a", epoch_a), 1000) is not None
    assert _claim(store, ("a", epoch_a), 1000) is None  # the slot has its run
    with store.write() as db:  # a's lease runs out while it is paused
        db.run("UPDATE lease SET expires_at_ms = 0")
    epoch_b = b.attempt(False)[0]
    assert epoch_b == epoch_a + 1
    with pytest.raises(LeaseLost):
        _claim(store, ("a", epoch_a), 2000)
    assert _claim(store, ("b", epoch_b), 2000) is not None
    with store.read() as db:
        assert db.value("SELECT count(*) FROM runs") == 2


def test_status_and_doctor_show_the_leader_and_standbys(run: Cli, store: Store) -> None:
    """Every daemon seen recently: host, pid, role, heartbeat, and the lease epoch."""
    Lease(store, "host-a:1:x", 60_000).attempt(False)
    Lease(store, "host-b:2:y", 60_000).attempt(False)
    state = run.json("status")
    assert state["daemon"] == "running" and state["pid"] == os.getpid()
    assert state["lease"]["holder"] == "host-a:1:x" and state["lease"]["epoch"] == 1
    roles = sorted(d["role"] for d in state["daemons"])
    assert roles == ["leader", "standby"]
    text = run("status").stdout
    assert "lease:      epoch 1, held by host-a:1:x" in text
    checks = {c["check"]: c for c in run.json("doctor", code=69)}
    assert checks["daemon"]["ok"] and "1 standby" in checks["daemon"]["detail"]


def test_no_fresh_lease_means_no_running_daemon(run: Cli, store: Store) -> None:
    Lease(store, "gone:1:x", 60_000).attempt(False)
    with store.write() as db:
        db.run("UPDATE lease SET expires_at_ms = 0")
    state = run.json("status", code=69)
    assert state["daemon"] == "no leader" and state["daemons"][0]["role"] == "standby"
    assert cluster_state(store)["lease"]["fresh"] is False


# -- change pick-up ---------------------------------------------------------------------


@pytest.mark.slow
def test_a_cli_write_is_announced_and_a_lost_connection_forces_a_reread(
    run: Cli, store: Store
) -> None:
    """NOTIFY wakes the listener; after its backend is killed it reconnects and
    asks for a full re-read, so a notification lost meanwhile loses nothing."""
    woken = threading.Event()
    listener = ChangeListener(store.url, woken.set)
    listener.start()
    try:
        wait_until(woken.is_set)
        assert listener.take() is True
        woken.clear()
        assert listener.take() is False
        run("add", "--at", "1h", "--message", "x", "--to", "1")
        wait_until(woken.is_set)
        assert listener.take() is True
        woken.clear()
        with store.write() as db:
            killed = db.value(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                "WHERE query LIKE 'LISTEN%' AND datname = current_database()"
            )
        assert killed >= 1
        wait_until(woken.is_set)
        assert listener.take() is True
    finally:
        listener.stop()


def test_revisions_are_seen_in_order_by_a_reader(
    store: Store, run: Cli, home: Path
) -> None:
    """Writers number their changes under a lock, so "after N" never skips one."""
    for n in range(3):
        run("add", "--name", f"n{n}", "--at", "1h", "--message", "x", "--to", "1")
    with store.read() as db:
        revisions = [c.revision for c in db.changes_since(0)]
    assert revisions == sorted(revisions) and len(revisions) == 3
