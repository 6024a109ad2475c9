"""The disk, the file and the process around the daemon: a full disk, a database
that refuses writes, a database file deleted or replaced under a running daemon, a
symlinked path, file modes, and the exit codes a service manager acts on."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import stat
import subprocess
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from filelock import FileLock

from reminders.db import sqlite_url
from reminders.migrate import open_store
from reminders.service import ServiceSpec, render_systemd
from tests.conftest import Cli, Setup, reminders_cmd, wait_until
from tests.fake_bot_api import TOKEN, FakeBotApi, slow
from tests.test_faults import add_one_shots, final_runs

pytestmark = pytest.mark.faults

PAUSED = "Firing paused"
RESUMED = "firing resumed"


# -- helpers -------------------------------------------------------------------


@pytest.fixture
def small_fs(tmp_path: Path) -> Iterator[Path]:
    """A 4 MiB tmpfs, where the machine lets the tests mount one."""
    mount = tmp_path / "small"
    mount.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(mount)],
        capture_output=True,
        check=False,
    )
    if done.returncode != 0:
        pytest.skip("cannot mount a small tmpfs here (needs root)")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def fill(path: Path) -> None:
    """Write until the filesystem holding `path` is full."""
    with path.open("wb") as handle, contextlib.suppress(OSError):
        while True:
            handle.write(b"x" * 65536)
            handle.flush()


@contextlib.contextmanager
def writes_fail_in(pid: int) -> Iterator[None]:
    """Every pwrite64 of the process fails with EROFS, as on a filesystem remounted
    read-only: SQLite writes its database and WAL with pwrite64, logs go by write."""
    if shutil.which("strace") is None:
        pytest.skip("strace is not installed")
    tracer = subprocess.Popen(
        [
            *("strace", "-q", "-f", "-p", str(pid), "-o", os.devnull),
            *("-e", "trace=pwrite64", "-e", "inject=pwrite64:error=EROFS"),
        ],
        stderr=subprocess.DEVNULL,
    )
    try:
        if not _wait_traced(pid, tracer):
            pytest.skip("strace cannot attach to a process here")
        yield
    finally:
        tracer.terminate()
        tracer.wait(timeout=10)


def _wait_traced(pid: int, tracer: subprocess.Popen[bytes]) -> bool:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and tracer.poll() is None:
        tasks = list(Path(f"/proc/{pid}/task").iterdir())
        if all(_tracer_of(task) for task in tasks):
            return True
        time.sleep(0.05)
    return False


def _tracer_of(task: Path) -> int:
    for line in (task / "status").read_text().splitlines():
        if line.startswith("TracerPid:"):
            return int(line.split()[1])
    return 0


def on(home: Path, api: FakeBotApi, procs: list[Any], **config: str) -> Setup:
    """A Setup whose home is `home`, with config lines replaced as given."""
    home.mkdir(exist_ok=True)
    setup = Setup(home, api, procs)
    path = home / "config.toml"
    text = path.read_text()
    for old, new in config.items():
        text = text.replace(old, new)
    path.write_text(text)
    return setup


def systemd_restarts(unit: str, code: int) -> bool:
    """What systemd does with this exit code under the unit's Restart= settings."""
    keys = dict(line.split("=", 1) for line in unit.splitlines() if "=" in line)
    assert keys["Restart"] == "on-failure"
    prevented = {int(c) for c in keys.get("RestartPreventExitStatus", "").split()}
    return code != 0 and code not in prevented


# -- a full disk and a database that refuses writes ------------------------------


@pytest.mark.slow
@pytest.mark.timeout(180)
def test_full_disk_pauses_firing_and_resumes(
    small_fs: Path, telegram: FakeBotApi, stopper: list[Any]
) -> None:
    """On a full disk the daemon keeps running, logs the pause once however long it
    lasts, sends nothing it cannot record, and delivers everything once freed."""
    setup = on(small_fs / "home", telegram, stopper)
    daemon = setup.start()
    start = int(time.time() * 1000)
    texts = add_one_shots(setup.home, [start + 3000 + i * 500 for i in range(8)], 500)
    filler = small_fs / "filler"
    fill(filler)
    daemon.wait_for(PAUSED, timeout=30)
    time.sleep(8)  # four retry periods
    assert daemon.proc.poll() is None, daemon.log
    assert sum(PAUSED in line for line in daemon.lines) == 1
    filler.unlink()
    daemon.wait_for(RESUMED, timeout=30)
    wait_until(lambda: set(texts) <= set(telegram.texts()), timeout=60)
    wait_until(
        lambda: all(s != "sending" for _, s in final_runs(setup.home)), timeout=30
    )
    daemon.signal(signal.SIGTERM)
    assert daemon.wait() == 0
    assert "Traceback" not in daemon.log
    assert Counter(telegram.texts()) == Counter(texts)  # each once
    assert Counter(s for _, s in final_runs(setup.home)) == {"sent": len(texts)}


@pytest.mark.slow
@pytest.mark.timeout(180)
def test_read_only_database_keeps_a_sent_outcome_and_sends_nothing_unrecorded(
    setup: Setup, home: Path
) -> None:
    """Writes failing mid-send (a read-only filesystem): the sent message is kept in
    memory and recorded, never resent; a reminder due meanwhile waits, unclaimed and
    unsent, and goes out once the database takes writes again."""
    config = home / "config.toml"
    config.write_text(
        config.read_text()
        .replace("read_timeout = 2", "read_timeout = 20")
        .replace('deadline = "5s"', 'deadline = "60s"')
    )
    setup.api.fail_next(slow(4))
    daemon = setup.start()
    held = setup.cli_json("add", "--at", "1s", "--message", "held", "--to", "7")
    wait_until(setup.api.calls, timeout=10)  # stored, its answer is 4 s away
    with writes_fail_in(daemon.proc.pid):
        daemon.wait_for(PAUSED, timeout=20)
        during = setup.cli_json("add", "--at", "1s", "--message", "due", "--to", "8")
        time.sleep(5)
        assert setup.api.texts() == ["held"]
        assert [r["status"] for r in setup.runs(held["id"])] == ["sending"]
        assert setup.runs(during["id"]) == []
        assert daemon.proc.poll() is None
    daemon.wait_for(RESUMED, timeout=30)
    [run] = wait_until(
        lambda: [r for r in setup.runs(held["id"]) if r["status"] == "sent"],
        timeout=30,
    )
    assert run["messageIds"] == [1]
    wait_until(lambda: "due" in setup.api.texts(), timeout=30)
    daemon.signal(signal.SIGTERM)
    assert daemon.wait() == 0
    assert sorted(setup.api.texts()) == ["due", "held"]
    assert sum(PAUSED in line for line in daemon.lines) == 1
    assert "Traceback" not in daemon.log


@pytest.mark.slow
def test_exit_codes_match_the_unit_restart_policy(setup: Setup, home: Path) -> None:
    """A database that cannot be written at start exits 75, which the unit restarts,
    before resending a run a crash left `sending`; a bad config exits 78, which the
    unit does not restart. Both say why in one line."""
    added = setup.cli_json("add", "--every", "1h", "--message", "m", "--to", "1")
    store = open_store(sqlite_url(home / "reminders.db"))
    with store.write() as conn:
        conn.insert_run(reminder_id=added["id"], scheduled_for_ms=1, status="sending")
    store.close()
    unit = render_systemd(ServiceSpec(executable="/bin/reminders", data_dir=str(home)))
    db = home / "reminders.db"
    if os.geteuid() == 0:
        subprocess.run(["chattr", "+i", str(db)], check=True)
    else:
        db.chmod(0o400)
    try:
        unwritable = reminders_cmd(home, "daemon", env=setup.env, timeout=60)
    finally:
        if os.geteuid() == 0:
            subprocess.run(["chattr", "-i", str(db)], check=True)
        db.chmod(0o600)
    assert unwritable.returncode == 75, unwritable.stderr
    assert "read-only" in unwritable.stderr and "Traceback" not in unwritable.stderr
    assert setup.api.calls() == []
    assert systemd_restarts(unit, unwritable.returncode)
    (home / "config.toml").write_text("[daemon]\npoll_interval = 'often'\n")
    bad = reminders_cmd(home, "daemon", env=setup.env, timeout=60)
    assert bad.returncode == 78 and len(bad.stderr.strip().splitlines()) == 1
    assert not systemd_restarts(unit, bad.returncode)


# -- the database file deleted or replaced under the daemon ------------------------


@pytest.mark.slow
@pytest.mark.parametrize("how", ["deleted", "replaced"])
def test_database_deleted_or_replaced_stops_the_daemon(
    setup: Setup, home: Path, tmp_path: Path, how: str
) -> None:
    """The daemon notices within a heartbeat, fires nothing more from the old file,
    says why, and exits 78 (a restart would not fix it)."""
    setup.cli(
        "add", "--name", "tick", "--every", "1s", "--message", "tick", "--to", "1"
    )
    daemon = setup.start()
    wait_until(lambda: len(setup.api.texts()) >= 2, timeout=15)
    db = home / "reminders.db"
    if how == "replaced":
        fresh = tmp_path / "fresh.db"
        open_store(sqlite_url(fresh)).close()
        os.replace(fresh, db)
    else:
        db.unlink()
    gone_at = len(setup.api.texts())
    assert daemon.wait(timeout=15) == 78
    assert f"was {how}" in daemon.log and "Traceback" not in daemon.log
    assert len(setup.api.texts()) <= gone_at + 1  # at most the one in flight


@pytest.mark.slow
def test_cli_refuses_a_fresh_database_while_a_daemon_holds_the_lock(
    run: Cli, home: Path
) -> None:
    """With the database gone but a daemon's lock held, a command creates nothing
    and says, in one line, how to get out of it."""
    db = home / "reminders.db"
    lock = FileLock(str(db) + ".daemon.lock", timeout=0)  # as a daemon takes it
    with lock:
        result = run("list", code=78)
    assert not db.exists()
    [line] = result.stderr.strip().splitlines()
    assert "daemon still runs" in line and "Put the file back" in line
    run("list")  # no daemon: a fresh database, as before
    assert db.exists()


@pytest.mark.slow
def test_a_symlinked_database_path_cannot_start_a_second_daemon(
    setup: Setup, tmp_path: Path
) -> None:
    """The lock is taken on the resolved path: a second daemon reaching the same file
    through a symlink refuses to start."""
    setup.start()
    other = tmp_path / "other"
    other.mkdir()
    link = other / "link.db"
    link.symlink_to(setup.home / "reminders.db")
    env = {
        **setup.env,
        "REMINDERS_HOME": str(other),
        "REMINDERS_DATABASE_URL": sqlite_url(link),
        "REMINDERS_TELEGRAM_BOT_TOKEN": TOKEN,
    }
    second = reminders_cmd(other, "daemon", env=env, timeout=30)
    assert second.returncode == 75, second.stderr
    assert "already runs" in second.stderr


# -- modes of the files we create ---------------------------------------------------


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_database_wal_backups_and_locks_are_private(
    run: Cli, home: Path, tmp_path: Path
) -> None:
    """Everything holding reminders or guarding them is created 0600."""
    run("add", "--every", "1h", "--message", "m", "--to", "1")
    run("status", code=69)  # takes and releases the daemon lock
    run("db", "backup", str(tmp_path / "copy.db"))
    store = open_store(sqlite_url(home / "reminders.db"))
    with store.write() as db:  # an open writer keeps the WAL and SHM files
        db.set_meta("probe", "1")
        files = [
            home / name
            for name in (
                "reminders.db",
                "reminders.db-wal",
                "reminders.db-shm",
                "reminders.db.init.lock",
                "reminders.db.daemon.lock",
            )
        ] + [tmp_path / "copy.db"]
        modes = {path.name: _mode(path) for path in files}
    store.close()
    assert modes == {path.name: 0o600 for path in files}


def test_a_readable_config_holding_the_token_is_flagged(run: Cli, home: Path) -> None:
    """Every command warns in one line and doctor fails, until the file is 0600."""
    config = home / "config.toml"
    config.write_text(f'[telegram]\nbot_token = "{TOKEN}"\n')
    config.chmod(0o644)
    listed = run("list")
    [warning] = listed.stderr.strip().splitlines()
    assert "other users can read it" in warning and f"chmod 600 {config}" in warning
    assert TOKEN not in listed.stderr
    doctor = run("doctor", code=69)
    assert any(
        line.startswith("FAIL") and "secrets" in line
        for line in doctor.stdout.splitlines()
    )
    config.chmod(0o600)
    assert run("list").stderr == ""
    doctor = run("doctor", code=69)  # other checks fail here (no daemon)
    assert any(
        line.startswith("ok") and "secrets" in line
        for line in doctor.stdout.splitlines()
    )
