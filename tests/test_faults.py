"""The fault suite: crashes, concurrent writers, a flaky Telegram, damaged storage,
and fuzzed input. Run it alone with `python -m pytest -m faults`; each case is
bounded in time."""

from __future__ import annotations

import contextlib
import os
import random
import resource
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reminders.db import sqlite_url
from reminders.migrate import open_store
from reminders.schema import Reminder, ms_to_iso
from tests.conftest import Cli, Setup, db_rows, reminders_cmd, wait_until
from tests.fake_bot_api import FakeBotApi

pytestmark = pytest.mark.faults


def add_one_shots(home: Path, times: list[int], chat_base: int) -> list[str]:
    """Store one-shots directly (fast); reminder i goes to chat chat_base + i."""
    store = open_store(sqlite_url(home / "reminders.db"))
    now = int(time.time() * 1000)
    texts = []
    with store.write() as db:
        for i, at in enumerate(times):
            text = f"fault {chat_base + i}"
            texts.append(text)
            db.save(
                Reminder.model_validate(
                    {
                        "id": f"f-{chat_base + i}",
                        "name": text,
                        "createdAtMs": now,
                        "updatedAtMs": now,
                        "deleteAfterRun": True,
                        "schedule": {"kind": "at", "at": ms_to_iso(at)},
                        "payload": {"kind": "systemEvent", "text": text},
                        "delivery": {"to": str(chat_base + i)},
                        "state": {"nextRunAtMs": at},
                    }
                ),
                now,
            )
    store.close()
    return texts


def final_runs(home: Path) -> list[tuple[str, str]]:
    with sqlite3.connect(home / "reminders.db") as conn:
        return conn.execute("SELECT reminder_id, status FROM runs").fetchall()


def cut_off_sends(home: Path, api: FakeBotApi) -> set[str]:
    """Right after a kill: the reminders whose message arrived while their run is
    still `sending` with no message id written down. Only these may be sent
    again."""
    api.settle()  # what the dead daemon had on the wire reaches the fake API
    arrived = set(api.texts())
    with contextlib.closing(sqlite3.connect(home / "reminders.db")) as conn:
        rows = conn.execute(
            "SELECT reminder_name FROM runs WHERE status = 'sending' "
            "AND message_ids = '[]'"
        ).fetchall()
    return {name for (name,) in rows} & arrived


@pytest.mark.timeout(400)
def test_sigkill_at_random_moments_loses_nothing(setup: Setup, home: Path) -> None:
    """20+ SIGKILLs while 200 reminders fall due over two minutes: all delivered,
    every run ends with a final status, and a message is sent again only once for
    each kill that cut it off mid-send (Telegram keeps no idempotency key)."""
    rng = random.Random(7)
    start = int(time.time() * 1000) + 5000
    texts = add_one_shots(
        home, sorted(start + rng.randrange(120_000) for _ in range(200)), 10_000
    )
    kills = 0
    cut_off: Counter[str] = Counter()  # how often a kill cut each message off
    daemon = setup.start()
    deadline = time.monotonic() + 130
    while time.monotonic() < deadline or kills < 20:
        time.sleep(rng.uniform(1.0, 4.0))
        daemon.signal(signal.SIGKILL)
        daemon.wait()
        kills += 1
        cut_off.update(cut_off_sends(home, setup.api))
        daemon = setup.start()
    wait_until(lambda: set(texts) <= set(setup.api.texts()), timeout=120, interval=0.5)
    wait_until(
        lambda: all(status != "sending" for _, status in final_runs(home)), timeout=30
    )
    counts = Counter(setup.api.texts())
    extra = {text: n - 1 for text, n in counts.items() if n - 1 > cut_off[text]}
    assert kills >= 20
    assert not extra, (extra, kills)  # a copy only for each kill that cut it off
    statuses = Counter(status for _, status in final_runs(home))
    assert set(statuses) <= {"sent"}, statuses
    assert statuses["sent"] == 200


WRITER = """
import sys
from reminders.cli import cli
base = int(sys.argv[1])
for i in range(500):
    try:
        cli.main(["add", "--at", f"{5 + i % 40}s", "--system-event", f"w {base + i}",
                  "--to", str(base + i)], prog_name="reminders", standalone_mode=False)
    except SystemExit as exc:
        if exc.code:
            raise
"""


@pytest.mark.timeout(300)
def test_four_cli_writers_while_the_daemon_delivers(setup: Setup, home: Path) -> None:
    """Four processes add 500 reminders each beside a running daemon: no 'database is
    locked' reaches anyone, and all 2,000 are stored and delivered."""
    setup.start()
    writers = [
        subprocess.Popen(
            [sys.executable, "-c", WRITER, str(20_000 + n * 1000)],
            env=setup.env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        for n in range(4)
    ]
    setup.procs.extend(writers)
    errors = [writer.communicate(timeout=240)[1] for writer in writers]
    assert [writer.returncode for writer in writers] == [0, 0, 0, 0], errors
    assert not any("locked" in error for error in errors)
    wanted = {f"w {20_000 + n * 1000 + i}" for n in range(4) for i in range(500)}
    wait_until(lambda: wanted <= set(setup.api.texts()), timeout=150, interval=1)
    assert len(final_runs(home)) == 2000


@pytest.mark.timeout(240)
def test_flaky_telegram_loses_nothing_and_fakes_nothing(
    setup: Setup, home: Path
) -> None:
    """Random 429s, 502s, slow replies and dropped connections for the whole run:
    every reminder arrives and no run is marked sent without message ids."""
    setup.api.chaos(0.3, seed=3)
    config = home / "config.toml"
    config.write_text(config.read_text().replace('deadline = "5s"', 'deadline = "90s"'))
    start = int(time.time() * 1000) + 3000
    texts = add_one_shots(home, [start + i * 100 for i in range(60)], 30_000)
    setup.start()
    wait_until(lambda: set(texts) <= set(setup.api.texts()), timeout=180, interval=0.5)
    wait_until(
        lambda: all(status != "sending" for _, status in final_runs(home)), timeout=60
    )
    with sqlite3.connect(home / "reminders.db") as conn:
        rows = conn.execute("SELECT status, message_ids FROM runs").fetchall()
    assert {status for status, _ in rows} == {"sent"}
    assert all(ids not in ("[]", None) for _, ids in rows)


def test_truncated_database_is_refused_and_kept(run: Cli, home: Path) -> None:
    """A truncated file gives a clear error naming the fix and is not overwritten."""
    for n in range(30):
        run("add", "--every", "1h", "--message", f"keep {n}" * 50, "--to", "1")
    path = home / "reminders.db"
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    result = run("list", code=78)
    assert "damaged" in result.stderr and "backup" in result.stderr
    assert path.read_bytes() == data[: len(data) // 2]


def test_backup_and_documented_restore(run: Cli, home: Path, tmp_path: Path) -> None:
    """`db backup`, then the README's restore (copy it back) brings every reminder back."""
    run("add", "--name", "precious", "--every", "1d", "--message", "m", "--to", "1")
    backup = tmp_path / "backup.db"
    run("db", "backup", str(backup))
    (home / "reminders.db").write_bytes(b"garbage" * 1000)
    for suffix in ("-wal", "-shm"):
        (home / f"reminders.db{suffix}").unlink(missing_ok=True)
    run("list", code=78)
    shutil.copy(backup, home / "reminders.db")
    assert [r["name"] for r in run.json("list")] == ["precious"]


def _limit_file_size(limit: int) -> Any:
    def apply() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    return apply


@pytest.mark.slow
def test_full_disk_is_a_clear_error_and_keeps_data(home: Path) -> None:
    """Writes past a size limit fail with a message, and what was stored survives."""
    env = {**os.environ, "REMINDERS_HOME": str(home)}
    assert (
        reminders_cmd(
            home,
            "add",
            "--name",
            "first",
            "--every",
            "1h",
            "--message",
            "m",
            "--to",
            "1",
            env=env,
        ).returncode
        == 0
    )
    limit = (home / "reminders.db").stat().st_size + 64 * 1024
    failures = []
    for n in range(60):
        result = subprocess.run(
            [
                sys.executable,
                "-m",
                "reminders",
                "add",
                "--every",
                "1h",
                "--to",
                "1",
                "--message",
                f"{n} " + "x" * 20_000,
            ],
            env=env,
            capture_output=True,
            text=True,
            preexec_fn=_limit_file_size(limit),
            check=False,
            timeout=60,
        )
        if result.returncode:
            failures.append(result)
            break
    assert failures, "the size limit never bit"
    assert failures[0].returncode in (75, 78)
    assert "Traceback" not in failures[0].stderr
    assert failures[0].stderr.startswith("Error: ")
    with sqlite3.connect(home / "reminders.db") as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    listed = reminders_cmd(home, "list", "--json", env=env)
    assert listed.returncode == 0 and '"first"' in listed.stdout


def _make_read_only(paths: list[Path], on: bool) -> None:
    """chmod for ordinary users; root ignores modes, so it uses the immutable flag."""
    if os.geteuid() == 0:
        if shutil.which("chattr") is None:
            pytest.skip("running as root without chattr")
        for path in paths:
            subprocess.run(["chattr", "+i" if on else "-i", str(path)], check=True)
        return
    for path in paths:
        path.chmod((0o555 if path.is_dir() else 0o444) if on else 0o755)


def test_read_only_data_dir(run: Cli, home: Path) -> None:
    """A read-only data folder gives a clear error naming the fix, and loses nothing."""
    run("add", "--name", "kept", "--every", "1h", "--message", "m", "--to", "1")
    paths = [*home.iterdir(), home]
    _make_read_only(paths, True)
    try:
        result = run("add", "--every", "1h", "--message", "m", "--to", "1", code=None)
    finally:
        _make_read_only(paths, False)
    assert result.exit_code == 78, result.stderr
    assert "read-only" in result.stderr or "writable" in result.stderr
    assert [r["name"] for r in run.json("list")] == ["kept"]


FLAG_VALUES = st.one_of(
    st.text(max_size=20),
    st.sampled_from(
        [
            "20m",
            "0",
            "-1",
            "1h30m",
            "2020-01-01T00:00:00Z",
            "*/0 * * * *",
            "0 9 * * 1-5",
            "Europe/Berlin",
            "Nowhere/Zone",
            "@chan",
            "-100:topic:0",
            "",
            " ",
            "tomorrow 25:00",
            "99999999999999999999",
            "https://example.com/h",
            "http://[::1",
            "ftp://example.com/",
        ]
    ),
)
FLAGS = [
    "--at",
    "--every",
    "--cron",
    "--tz",
    "--to",
    "--thread-id",
    "--message",
    "--system-event",
    "--stagger",
    "--catch-up",
    "--name",
    "--channel",
    "--webhook",
]


@settings(
    max_examples=120,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    st.lists(st.tuples(st.sampled_from(FLAGS), FLAG_VALUES), max_size=6), st.booleans()
)
def test_fuzzed_flags_give_our_errors_and_change_nothing(
    run: Cli, home: Path, flags: list[tuple[str, str]], edit: bool
) -> None:
    """Random add/edit flags: success, or one of our exit codes with the store unchanged."""
    if not db_rows(home):
        run("add", "--name", "anchor", "--every", "1h", "--message", "m", "--to", "1")
    args = ["edit", "anchor"] if edit else ["add"]
    for flag, value in flags:
        args += [flag, value]
    before = db_rows(home)
    runtime_result = run(*args, code=None)
    assert runtime_result.exit_code in (0, 2, 64, 65, 66), (args, runtime_result.stderr)
    if runtime_result.exit_code:
        assert db_rows(home) == before
        assert "Traceback" not in runtime_result.stderr
