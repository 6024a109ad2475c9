"""Helpers the benchmarks share: a populated home, a daemon process, statistics."""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time
import uuid
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from reminders.db import sqlite_url  # noqa: E402
from reminders.migrate import open_store  # noqa: E402
from reminders.schema import Reminder  # noqa: E402
from reminders.store import Store  # noqa: E402
from tests.fake_bot_api import TOKEN, FakeBotApi  # noqa: E402


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def write_config(
    home: Path, api: FakeBotApi, poll: str = "1s", url: str = "", extra: str = ""
) -> None:
    home.mkdir(parents=True, exist_ok=True)
    (home / "config.toml").write_text(
        f'[general]\ntimezone = "UTC"\n[telegram]\nbot_token = "{TOKEN}"\n'
        f'api_base_url = "{api.base_url}"\n[daemon]\npoll_interval = "{poll}"\n'
        + extra
        + (f'[database]\nurl = "{url}"\n' if url else "")
    )


def store_url(home: Path, url: str = "") -> str:
    return url or sqlite_url(home / "reminders.db")


def reminder(
    name: str, schedule: dict, chat: int, created: int, next_ms: int | None
) -> Reminder:
    return Reminder.model_validate(
        {
            "id": str(uuid.uuid4()),
            "name": name,
            "createdAtMs": created,
            "updatedAtMs": created,
            "schedule": schedule,
            "payload": {"kind": "systemEvent", "text": name},
            "delivery": {"mode": "announce", "channel": "telegram", "to": str(chat)},
            "deleteAfterRun": True if schedule["kind"] == "at" else None,
            "state": {"nextRunAtMs": next_ms},
        }
    )


def populate_idle(home: Path, count: int, url: str = "") -> None:
    """`count` daily cron reminders that do not fire during a benchmark."""
    store = open_store(store_url(home, url))
    created = now_ms()
    items = []
    for i in range(count):
        hour, minute = divmod(i % 1440, 60)
        slot = _next_daily(created, hour, minute)
        if slot - created < 15 * 60_000:  # keep clear of the measurement window
            slot += 86_400_000
        schedule = {
            "kind": "cron",
            "expr": f"{minute} {hour} * * *",
            "tz": "UTC",
            "staggerMs": 0,
        }
        items.append(reminder(f"idle {i}", schedule, 1000 + i, created, slot))
    if store.postgres:
        _copy_reminders(store, items, created)
    else:
        with store.write() as tx:
            for item in items:
                tx.save(item, created)
    store.close()


def _copy_reminders(store: Store, items: list[Reminder], created: int) -> None:
    """PostgreSQL: the rows in one COPY, sharing one change (a daemon started
    afterwards reads them all anyway); a save each would take minutes at 100k."""
    import psycopg

    from reminders import pg
    from reminders.rows import reminder_to_row

    columns = [
        "id", "name", "description", "enabled", "delete_after_run", "created_at_ms",
        "updated_at_ms", "schedule", "payload", "delivery", "state", "options",
        "next_run_at_ms", "revision",
    ]  # fmt: skip
    with store.write() as db:
        revision = db.value(
            "INSERT INTO changes (reminder_id, op, at_ms) "
            "VALUES ('', 'upsert', :at) RETURNING revision",
            {"at": created},
        )
    with psycopg.connect(pg.conninfo(store.url)) as conn, conn.cursor() as cursor:
        sql = f"COPY reminders ({', '.join(columns)}) FROM STDIN"
        with cursor.copy(sql) as copy:  # type: ignore[arg-type]
            for item in items:
                row = {**reminder_to_row(item), "revision": revision}
                copy.write_row([row[name] for name in columns])


def _next_daily(after: int, hour: int, minute: int) -> int:
    day = after - after % 86_400_000
    slot = day + (hour * 60 + minute) * 60_000
    return slot if slot > after else slot + 86_400_000


def add_one_shots(
    home: Path,
    times: list[int],
    chat_base: int = 500_000,
    chats: int | None = None,
    url: str = "",
) -> None:
    """One-shots due at `times`; reminder i goes to chat chat_base + i (mod chats)."""
    from reminders.schema import ms_to_iso

    store = open_store(store_url(home, url))
    created = now_ms()
    with store.write() as conn:
        for i, at in enumerate(times):
            chat = chat_base + (i % chats if chats else i)
            item = reminder(
                f"due {i}", {"kind": "at", "at": ms_to_iso(at)}, chat, created, at
            )
            conn.save(item, created)
    store.close()


class PgDatabase:
    """A database made for one benchmark run on the local server, dropped after."""

    server = "postgresql://postgres@127.0.0.1:5432"

    def __enter__(self) -> str:
        import psycopg

        self.name = f"reminders_bench_{os.getpid()}_{uuid.uuid4().hex[:6]}"
        with psycopg.connect(f"{self.server}/postgres", autocommit=True) as conn:
            conn.execute(f"CREATE DATABASE {self.name}")  # type: ignore[arg-type]
        host = self.server.removeprefix("postgresql://")
        return f"postgresql+psycopg://{host}/{self.name}"

    def __exit__(self, *exc: object) -> None:
        import psycopg

        with psycopg.connect(f"{self.server}/postgres", autocommit=True) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {self.name} WITH (FORCE)")  # type: ignore[arg-type]


class Daemon:
    def __init__(self, home: Path) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("REMINDERS_")}
        env["REMINDERS_HOME"] = str(home)
        self.started = time.monotonic()
        self.log = home / "daemon.log"
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "reminders", "daemon"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=self.log.open("w"),
        )

    def wait_ready(self, timeout: float = 300) -> float:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if "daemon ready" in self.log.read_text():
                return time.monotonic() - self.started
            if self.proc.poll() is not None:
                raise RuntimeError(self.log.read_text())
            time.sleep(0.02)
        raise TimeoutError("daemon not ready")

    def rss_mb(self) -> float:
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
        return float("nan")

    def cpu_s(self) -> float:
        fields = (
            Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        )
        ticks = os.sysconf("SC_CLK_TCK")
        return (int(fields[11]) + int(fields[12])) / ticks

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def measure_lateness(
    home: Path, api: FakeBotApi, due: int, url: str = ""
) -> list[float]:
    """Add `due` one-shots spread over ~`due`/10 s from 3 s on, wait for them, and
    return each delivered one's lateness in ms (arrival at the fake Bot API)."""
    start = now_ms() + 3000
    times = [start + i * 97 for i in range(due)]
    add_one_shots(home, times, url=url)
    deadline = time.monotonic() + 30 + due / 5
    while len(api.messages()) < due and time.monotonic() < deadline:
        time.sleep(0.1)
    arrivals = {int(r.params["chat_id"]): r.wall for r in api.messages()}
    return [
        arrivals[500_000 + i] * 1000 - at
        for i, at in enumerate(times)
        if 500_000 + i in arrivals
    ]


def arrival_ms(api: FakeBotApi, text: str, written_s: float) -> float | None:
    """Milliseconds from `written_s` (wall clock) until the fake Bot API received
    `text`; None when it did not arrive within 10 s."""
    deadline = time.monotonic() + 10
    while text not in api.texts() and time.monotonic() < deadline:
        time.sleep(0.005)
    arrived = [r.wall for r in api.messages() if r.params["text"] == text]
    return (arrived[0] - written_s) * 1000 if arrived else None


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[index]


def summary(values: list[float]) -> str:
    if not values:
        return "n/a"
    return (
        f"median {statistics.median(values):.1f}  p99 {pct(values, 99):.1f}  "
        f"min {min(values):.1f}  max {max(values):.1f}  (n={len(values)})"
    )
