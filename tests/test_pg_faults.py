"""Several daemons on one PostgreSQL database, with faults: the leader SIGKILLed,
paused past its lease, its connections terminated, the server restarted.

Each daemon has its own data folder and its own fake Bot API, so every message
is known by the daemon that sent it. Each reminder goes to a chat of its own, so
sends are counted per (chat, slot).
"""

from __future__ import annotations

import contextlib
import os
import random
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from reminders.lease import cluster_state
from reminders.migrate import open_store
from reminders.schema import Reminder, ms_to_iso
from reminders.store import Store
from tests.conftest import (
    DaemonProcess,
    pg_admin,
    pg_schema_url,
    subprocess_env,
    wait_until,
)
from tests.fake_bot_api import TOKEN, FakeBotApi

pytestmark = [pytest.mark.slow, pytest.mark.faults]

LEASE_S = 3.0
PG_BIN = Path("/usr/lib/postgresql/15/bin")


class Fleet:
    """N daemons on one database, each with its own home and fake Telegram."""

    def __init__(self, url: str, root: Path, procs: list[Any], size: int) -> None:
        self.url = url
        self.procs = procs
        self.stack = contextlib.ExitStack()
        self.apis = [self.stack.enter_context(FakeBotApi()) for _ in range(size)]
        self.homes = []
        for index, api in enumerate(self.apis):
            home = root / f"daemon{index}"
            home.mkdir()
            (home / "config.toml").write_text(
                f'[telegram]\nbot_token = "{TOKEN}"\napi_base_url = "{api.base_url}"\n'
                "read_timeout = 2\nconnect_timeout = 2\n"
                f'[daemon]\npoll_interval = "0.5s"\nlease = "{LEASE_S}s"\n'
                f'[delivery]\ndeadline = "5s"\n[database]\nurl = "{url}"\n'
            )
            self.homes.append(home)
        self.daemons: list[DaemonProcess | None] = [None] * size
        self.store = open_store(url)

    def close(self) -> None:
        self.store.close()
        self.stack.close()

    def start(self, index: int) -> DaemonProcess:
        env = subprocess_env(self.homes[index], REMINDERS_GENERAL_TIMEZONE="UTC")
        env.pop("REMINDERS_DATABASE_URL", None)
        daemon = DaemonProcess(self.homes[index], env, self.procs)
        daemon.wait_for("standing by")
        self.daemons[index] = daemon
        return daemon

    def leader(self, timeout: float = 30) -> int:
        """The index of the daemon holding a fresh lease."""

        def find() -> int | None:
            try:
                state = cluster_state(self.store)
            except Exception:
                return None
            for d in state["daemons"]:
                if d["role"] == "leader":
                    for index, daemon in enumerate(self.daemons):
                        if (
                            daemon
                            and daemon.proc.pid == d["pid"]
                            and daemon.proc.poll() is None
                        ):
                            return index + 1
            return None

        return wait_until(find, timeout=timeout) - 1

    def add_due(
        self, count: int, first_ms: int, spacing_ms: int, start: int = 0
    ) -> None:
        """Reminders `due {start}` on, the first at first_ms, spacing_ms apart."""
        now = int(time.time() * 1000)
        with self.store.write() as db:
            for i in range(start, start + count):
                due = first_ms + (i - start) * spacing_ms
                db.save(
                    Reminder.model_validate(
                        {
                            "id": f"due-{i:04d}",
                            "name": f"due {i}",
                            "createdAtMs": now,
                            "updatedAtMs": now,
                            "schedule": {"kind": "at", "at": ms_to_iso(due)},
                            "payload": {"kind": "systemEvent", "text": f"due {i}"},
                            "delivery": {"to": str(10_000 + i)},
                            "state": {"nextRunAtMs": due},
                        }
                    ),
                    now,
                )

    def cut_off(self, killed: int) -> set[str]:
        """Right after daemon `killed` was killed: the reminders whose message
        reached its fake API while their run is still `sending` with no message id
        written down. Only these may be sent again. The runs are read at once,
        before a standby can take over; the messages once the dead daemon's fake
        API (which no other daemon uses) has read what was on the wire."""
        with self.store.read() as db:
            runs = db.runs_with_status("sending")
        self.apis[killed].settle()
        arrived = set(self.apis[killed].texts())
        return {r.reminderName for r in runs if not r.messageIds} & arrived

    def sends(self) -> Counter[str]:
        return Counter(m.params["text"] for api in self.apis for m in api.messages())

    def all_delivered(self, count: int) -> bool:
        sends = self.sends()
        return all(sends[f"due {i}"] >= 1 for i in range(count))

    def wait_delivered(self, count: int, timeout: float) -> None:
        """Until every one of `count` reminders arrived; else say which did not."""
        try:
            wait_until(lambda: self.all_delivered(count), timeout=timeout, interval=0.5)
        except AssertionError:
            sends = self.sends()
            missing = [i for i in range(count) if not sends[f"due {i}"]]
            with self.store.read() as db:
                failures = db.rows(
                    "SELECT error_class, error_text FROM runs WHERE status = 'failed' "
                    "LIMIT 3"
                )
            raise AssertionError(
                (
                    f"{len(missing)} not delivered",
                    missing[:5],
                    self._status_counts(),
                    failures,
                )
            ) from None

    def check_runs(self, count: int) -> None:
        """Every reminder's run ended sent, none left `sending`, no traceback logged."""
        wait_until(lambda: self._status_counts().get("sending", 0) == 0, timeout=30)
        assert self._status_counts() == {"sent": count}
        for daemon in self.daemons:
            if daemon is not None:
                assert "Traceback" not in daemon.log, daemon.log

    def _status_counts(self) -> dict[str, int]:
        with self.store.read() as db:
            rows = db.rows("SELECT status, count(*) AS n FROM runs GROUP BY status")
        return {row["status"]: int(row["n"]) for row in rows}


@pytest.fixture
def fleet_on(tmp_path: Path, stopper: list[Any]) -> Iterator[Any]:
    fleets: list[Fleet] = []

    def make(url: str, size: int) -> Fleet:
        fleet = Fleet(url, tmp_path, stopper, size)
        fleets.append(fleet)
        return fleet

    yield make
    for proc in stopper:
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(proc.pid, signal.SIGCONT)
    for fleet in fleets:
        fleet.close()


@pytest.fixture
def shared_url(pg_database: str) -> str:
    return pg_schema_url(pg_database)


def _ms(seconds: float) -> int:
    return int((time.time() + seconds) * 1000)


def test_sigkill_the_leader_while_reminders_fall_due(
    fleet_on: Any, shared_url: str
) -> None:
    """Three daemons; 200 reminders fall due, 40 at once and then ten a second.
    The leader is SIGKILLed three times: in the middle of the burst of 40, then
    at random moments. Every one arrives, and the only messages sent twice are
    ones a kill cut off mid-send (Telegram keeps no idempotency key, so a send
    that may have arrived is sent again, once per kill that cut it off)."""
    fleet = fleet_on(shared_url, 3)
    for index in range(3):
        fleet.start(index)
    count, burst, kills = 200, 40, 0
    fleet.add_due(burst, _ms(3), 0)
    fleet.add_due(count - burst, _ms(4), 100, start=burst)
    rng = random.Random(13)
    cut_off: Counter[str] = Counter()  # how often a kill cut each message off
    for kill in range(3):
        if kill == 0:  # once the burst is on its way
            wait_until(lambda: len(fleet.sends()) >= 10, timeout=30, interval=0.005)
        else:
            time.sleep(rng.uniform(2, 4))
        leader = fleet.leader()
        daemon = fleet.daemons[leader]
        assert daemon is not None
        daemon.signal(signal.SIGKILL)
        daemon.wait()
        kills += 1
        cut_off.update(fleet.cut_off(leader))
        fleet.start(leader)  # back as a standby
    fleet.wait_delivered(count, timeout=90)
    time.sleep(2)
    sends = fleet.sends()
    extra = {text: n - 1 for text, n in sends.items() if n - 1 > cut_off[text]}
    assert not extra, (extra, kills)  # a copy only for each kill that cut it off
    fleet.check_runs(count)


def _waiting_on_locks(store: Store, pid: int) -> int:
    """How many of the process's connections wait for a lock on the server."""
    with store.read() as db:
        return int(
            db.value(
                "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                "AND application_name LIKE :name",
                {"name": f"reminders:%:{pid}"},
            )
        )


def test_a_leader_paused_mid_claim_cannot_claim_after_the_takeover(
    fleet_on: Any, shared_url: str
) -> None:
    """The leader is SIGSTOPped while its claims of due runs are on their way to
    the server (held up there by a lock this test takes on `runs`), for longer
    than the lease. The standby takes over; then the claims reach the table and
    the server refuses them, because the lease moved to a new epoch. After SIGCONT
    the old leader sends nothing, and the new one delivers every reminder once."""
    fleet = fleet_on(shared_url, 2)
    fleet.start(0)
    fleet.start(1)
    old = fleet.leader()
    new = 1 - old
    daemon = fleet.daemons[old]
    assert daemon is not None
    count = 20
    locker = Store(fleet.store.url)
    try:
        with locker.write() as db:
            db.run("LOCK TABLE runs IN SHARE ROW EXCLUSIVE MODE")  # claims wait
            fleet.add_due(count, _ms(1), 50)
            wait_until(lambda: _waiting_on_locks(fleet.store, daemon.proc.pid) > 0)
            daemon.signal(signal.SIGSTOP)
            stopped = time.monotonic()
            wait_until(lambda: fleet.leader() == new, timeout=LEASE_S * 4)
        # The lock is gone: the stopped leader's claims run on the server now.
        time.sleep(LEASE_S)
    finally:
        locker.close()
    daemon.signal(signal.SIGCONT)
    daemon.wait_for("run not claimed", timeout=10)  # the server refused its claims
    daemon.wait_for("stopped firing")
    fleet.wait_delivered(count, timeout=60)
    time.sleep(1)
    assert [m for m in fleet.apis[old].messages() if m.monotonic >= stopped] == []
    assert max(fleet.sends().values()) == 1
    assert daemon.proc.poll() is None
    fleet.check_runs(count)


def test_a_leader_paused_inside_its_claim_does_not_block_the_takeover(
    fleet_on: Any, shared_url: str
) -> None:
    """The leader is SIGSTOPped in the middle of a claim's transaction (held there
    by a row lock this test takes on the reminder), so its session keeps the lease
    row and the change lock. The server ends that session once it sat idle too
    long, and the standby takes over while the old leader is still stopped."""
    fleet = fleet_on(shared_url, 2)
    fleet.start(0)
    fleet.start(1)
    old = fleet.leader()
    new = 1 - old
    daemon = fleet.daemons[old]
    assert daemon is not None
    fleet.add_due(1, _ms(2), 0)
    locker = Store(fleet.store.url)
    try:
        with locker.write() as db:  # the claim's save of the reminder waits
            db.value("SELECT id FROM reminders WHERE id = 'due-0000' FOR UPDATE")
            wait_until(lambda: _waiting_on_locks(fleet.store, daemon.proc.pid) > 0)
            daemon.signal(signal.SIGSTOP)
            stopped = time.monotonic()
        # The save goes through; the transaction then waits, idle, for a COMMIT.
        wait_until(lambda: fleet.leader() == new, timeout=30)
        assert daemon.proc.poll() is None  # still stopped when the standby took over
        fleet.wait_delivered(1, timeout=30)
    finally:
        locker.close()
        daemon.signal(signal.SIGCONT)
    daemon.wait_for("stopped firing")
    time.sleep(1)
    assert [m for m in fleet.apis[old].messages() if m.monotonic >= stopped] == []
    assert fleet.sends() == {"due 0": 1}
    fleet.check_runs(1)


def test_terminated_connections_lose_nothing(fleet_on: Any, shared_url: str) -> None:
    """pg_terminate_backend on every connection of the leader, four times while
    reminders fall due: all arrive once, the daemons keep running."""
    fleet = fleet_on(shared_url, 2)
    fleet.start(0)
    fleet.start(1)
    count = 40
    fleet.add_due(count, _ms(2), 400)
    for _ in range(4):
        time.sleep(2.5)
        leader = fleet.leader()
        pid = fleet.daemons[leader].proc.pid  # type: ignore[union-attr]
        with fleet.store.write() as db:
            db.value(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                "WHERE application_name LIKE :name",
                {"name": f"reminders:%:{pid}"},
            )
    fleet.wait_delivered(count, timeout=60)
    time.sleep(2)
    assert sum(n - 1 for n in fleet.sends().values()) <= 4
    assert all(d is not None and d.proc.poll() is None for d in fleet.daemons)
    fleet.check_runs(count)


# -- a private server, to restart ---------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _as_postgres(*args: str) -> None:
    subprocess.run(
        ["runuser", "-u", "postgres", "--", *args],
        check=True,
        capture_output=True,
        timeout=60,
    )


@pytest.fixture
def private_pg() -> Iterator[tuple[str, Path, str]]:
    """A throwaway PostgreSQL cluster on a free port, run as the postgres user."""
    if not (PG_BIN / "initdb").exists() or shutil.which("runuser") is None:
        pytest.skip(f"no PostgreSQL binaries in {PG_BIN} (or no runuser)")
    if os.geteuid() != 0:
        pytest.skip("starting a private PostgreSQL cluster needs root (runuser)")
    data = Path(tempfile.mkdtemp(prefix="reminders-pg-"))
    shutil.chown(data, "postgres", "postgres")
    port = _free_port()
    options = f"-p {port} -k {data} -c listen_addresses=127.0.0.1"
    _as_postgres(
        str(PG_BIN / "initdb"), "-D", str(data / "db"), "-A", "trust", "-U", "postgres"
    )
    _as_postgres(
        str(PG_BIN / "pg_ctl"),
        "-D",
        str(data / "db"),
        "-o",
        options,
        "-l",
        str(data / "log"),
        "-w",
        "start",
    )
    server = f"postgresql://postgres@127.0.0.1:{port}"
    try:
        pg_admin("CREATE DATABASE reminders", server=server)
        yield server, data, options
    finally:
        subprocess.run(
            [
                "runuser",
                "-u",
                "postgres",
                "--",
                str(PG_BIN / "pg_ctl"),
                "-D",
                str(data / "db"),
                "-m",
                "immediate",
                "-w",
                "stop",
            ],
            capture_output=True,
            timeout=60,
            check=False,
        )
        shutil.rmtree(data, ignore_errors=True)


def test_a_postgresql_restart_mid_run(
    fleet_on: Any, private_pg: tuple[str, Path, str], home: Path
) -> None:
    """The server restarts while reminders fall due: the daemons wait it out with
    backoff, a CLI command meanwhile exits 75 naming the host, nothing is lost."""
    server, data, options = private_pg
    url = f"postgresql+psycopg://{server.removeprefix('postgresql://')}/reminders"
    fleet = fleet_on(url, 2)
    fleet.start(0)
    fleet.start(1)
    count = 30
    fleet.add_due(count, _ms(2), 500)
    time.sleep(4)
    pg_ctl = str(PG_BIN / "pg_ctl")
    _as_postgres(pg_ctl, "-D", str(data / "db"), "-m", "fast", "-w", "stop")
    env = subprocess_env(home, REMINDERS_DATABASE_URL=url)
    down = subprocess.run(
        [str(Path(os.sys.executable)), "-m", "reminders", "list"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert down.returncode == 75, down.stderr
    assert f"127.0.0.1:{server.rsplit(':', 1)[1]}" in down.stderr
    time.sleep(4)
    _as_postgres(
        pg_ctl,
        "-D",
        str(data / "db"),
        "-o",
        options,
        "-l",
        str(data / "log"),
        "-w",
        "start",
    )
    fleet.store.engine.dispose()
    fleet.wait_delivered(count, timeout=90)
    time.sleep(2)
    assert sum(n - 1 for n in fleet.sends().values()) <= 2
    assert all(d is not None and d.proc.poll() is None for d in fleet.daemons)
    fleet.check_runs(count)
    logs = "\n".join(d.log for d in fleet.daemons if d is not None)
    assert "stopped firing" in logs and "took the lease" in logs


WRITER = """
import sys
from reminders.cli import cli
base, count = int(sys.argv[1]), int(sys.argv[2])
for i in range(count):
    try:
        cli.main(["add", "--at", f"{5 + i % 30}s", "--system-event", f"w {base + i}",
                  "--to", str(base + i)], prog_name="reminders", standalone_mode=False)
    except SystemExit as exc:
        if exc.code:
            raise
"""


@pytest.mark.timeout(400)
def test_four_cli_writers_while_the_leader_fails_over(
    fleet_on: Any, shared_url: str
) -> None:
    """Four processes add 500 reminders each while the leader is SIGKILLed: no
    write fails, and all 2,000 are stored and delivered."""
    fleet = fleet_on(shared_url, 2)
    fleet.start(0)
    fleet.start(1)
    env = subprocess_env(fleet.homes[0], REMINDERS_GENERAL_TIMEZONE="UTC")
    env.pop("REMINDERS_DATABASE_URL", None)
    writers = [
        subprocess.Popen(
            [os.sys.executable, "-c", WRITER, str(20_000 + n * 1000), "500"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        for n in range(4)
    ]
    fleet.procs.extend(writers)
    time.sleep(5)
    leader = fleet.leader()
    fleet.daemons[leader].signal(signal.SIGKILL)  # type: ignore[union-attr]
    fleet.daemons[leader].wait()  # type: ignore[union-attr]
    cut_off = fleet.cut_off(leader)
    fleet.start(leader)
    errors = [writer.communicate(timeout=300)[1] for writer in writers]
    assert [writer.returncode for writer in writers] == [0, 0, 0, 0], errors
    wanted = {f"w {20_000 + n * 1000 + i}" for n in range(4) for i in range(500)}
    try:
        wait_until(lambda: wanted <= set(fleet.sends()), timeout=200, interval=1)
    except AssertionError:
        missing = sorted(wanted - set(fleet.sends()))
        logs = [d.log[-3000:] for d in fleet.daemons if d is not None]
        raise AssertionError(
            (len(missing), missing[:5], fleet._status_counts(), logs)
        ) from None
    time.sleep(2)
    extra = {text: n - 1 for text, n in fleet.sends().items() if n > 1}
    assert set(extra) <= cut_off and max(extra.values(), default=0) <= 1, extra
    fleet.check_runs(2000)
